//! Administrative operations the command line (and the demo) performs directly on the
//! database: setting up communities and accounts before anyone can sign in. Each runs in
//! one transaction and is audited like the same change made over HTTP.

use anyhow::{Context, anyhow, bail};
use chrono::Utc;
use linli_domain::auth::{NewPassword, Role, Username};
use linli_domain::{AccountId, CommunityId, GridId};
use linli_store::audit::{self, AuditEvent};
use linli_store::auth::{self as accounts, AccountRow, NewAccount};
use linli_store::tenancy::{self, NewCommunity};
use linli_store::{Db, Exec, StoreError, registry};
use linli_web::auth::login::revoke_everywhere;
use linli_web::auth::password;

/// The levels above a new community and the community itself, by code and name.
pub struct CommunitySpec<'a> {
    pub district: (&'a str, &'a str),
    pub subdistrict: (&'a str, &'a str),
    pub community: (&'a str, &'a str),
    /// Grids as (code, name).
    pub grids: Vec<(String, String)>,
}

fn cli_event(
    community: Option<CommunityId>,
    action: &str,
    object_type: &str,
    object_id: Option<String>,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        community,
        actor: None,
        actor_ip: None,
        request_id: None,
        action: action.to_owned(),
        object_type: object_type.to_owned(),
        object_id,
        outcome: "success".to_owned(),
        detail,
    }
}

/// Creates the community (and its district and subdistrict if new) with its grids, or
/// returns the existing one with that code, adding any missing grids.
pub async fn ensure_community(db: &Db, spec: &CommunitySpec<'_>) -> anyhow::Result<CommunityId> {
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    let community = match tenancy::community_by_code(&mut ex, spec.community.0).await? {
        Some(existing) => existing.community(),
        None => {
            let district =
                tenancy::ensure_district(&mut ex, spec.district.0, spec.district.1, now).await?;
            let subdistrict = tenancy::ensure_subdistrict(
                &mut ex,
                district,
                spec.subdistrict.0,
                spec.subdistrict.1,
                now,
            )
            .await?;
            let new = NewCommunity {
                subdistrict,
                code: spec.community.0,
                name: spec.community.1,
                time_zone: "Asia/Shanghai",
            };
            let id = tenancy::create_community(&mut ex, &new, now).await?;
            let detail = serde_json::json!({ "via": "cli", "code": spec.community.0 });
            let event = cli_event(
                Some(id),
                "community_created",
                "community",
                Some(id.to_string()),
                detail,
            );
            audit::append(&mut ex, &event, now).await?;
            id
        }
    };
    for (code, name) in &spec.grids {
        if registry::find_grid_by_code(&mut ex, community, code)
            .await?
            .is_none()
        {
            let grid = registry::create_grid(&mut ex, community, code, name, now).await?;
            let detail = serde_json::json!({ "via": "cli", "code": code });
            let event = cli_event(
                Some(community),
                "grid_created",
                "grid",
                Some(grid.to_string()),
                detail,
            );
            audit::append(&mut ex, &event, now).await?;
        }
    }
    tx.commit().await?;
    Ok(community)
}

/// Where a new account's role applies.
pub enum RoleScope {
    /// A community role; grid codes for a grid worker.
    Community { code: String, grids: Vec<String> },
    /// District administrator over the district with this code.
    District { code: String },
}

async fn resolve_grids(
    ex: &mut Exec<'_>,
    community: CommunityId,
    codes: &[String],
) -> anyhow::Result<Vec<GridId>> {
    let mut grids = Vec::new();
    for code in codes {
        let grid = registry::find_grid_by_code(ex, community, code)
            .await?
            .ok_or_else(|| anyhow!("community has no grid with code {code:?}"))?;
        grids.push(GridId(grid.id));
    }
    Ok(grids)
}

/// Creates an account with one role. The password must pass the policy.
pub async fn add_user(
    db: &Db,
    username: &Username,
    display_name: &str,
    password: &NewPassword,
    role: Role,
    scope: &RoleScope,
) -> anyhow::Result<AccountId> {
    let display_name = display_name.trim();
    if display_name.is_empty() || display_name.chars().count() > 64 {
        bail!("display name must be 1 to 64 characters");
    }
    let hash = password::hash_now(password)?;
    let now = Utc::now();
    let id = AccountId::new();
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    let (home, grants_community, district) = match scope {
        RoleScope::Community { code, grids } => {
            if role.is_district_wide() {
                bail!("district_admin is granted over a district: use --district");
            }
            let ctx = tenancy::community_by_code(&mut ex, code)
                .await?
                .ok_or_else(|| {
                    anyhow!(
                        "no community with code {code:?} (create it with `linli community add`)"
                    )
                })?;
            if role.is_grid_scoped() == grids.is_empty() {
                bail!("a grid worker needs --grid (one or more), and only grid workers take grids");
            }
            let grid_ids = resolve_grids(&mut ex, ctx.community(), grids).await?;
            (
                Some(ctx.community()),
                Some((ctx.community(), grid_ids)),
                None,
            )
        }
        RoleScope::District { code } => {
            if !role.is_district_wide() {
                bail!(
                    "only district_admin is granted over a district: use --community for other roles"
                );
            }
            (None, None, Some(district_by_code(&mut ex, code).await?))
        }
    };
    let new = NewAccount {
        id,
        username: username.as_str(),
        display_name,
        password_hash: &hash,
        locale: "zh-CN",
        home_community: home,
    };
    match accounts::insert_account(&mut ex, &new, now).await {
        Err(StoreError::Conflict(_)) => bail!("username {username} is already taken"),
        other => other?,
    }
    if let Some((community, grids)) = grants_community {
        accounts::grant_role(&mut ex, community, id, role, &grids, now).await?;
    }
    if let Some(district) = district {
        accounts::grant_district_admin(&mut ex, district, id, now).await?;
    }
    let detail =
        serde_json::json!({ "via": "cli", "username": username.as_str(), "role": role.as_str() });
    audit::append(
        &mut ex,
        &cli_event(
            home,
            "account_created",
            "account",
            Some(id.to_string()),
            detail,
        ),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

async fn district_by_code(
    ex: &mut Exec<'_>,
    code: &str,
) -> anyhow::Result<linli_domain::DistrictId> {
    tenancy::district_by_code(ex, code)
        .await?
        .ok_or_else(|| anyhow!("no district with code {code:?}"))
}

pub async fn find_user(db: &Db, username: &Username) -> anyhow::Result<AccountRow> {
    let mut conn = db.acquire().await?;
    accounts::find_account_by_username(&mut conn.exec(), username.as_str())
        .await?
        .ok_or_else(|| anyhow!("no account named {username}"))
}

/// Sets a new password and ends every session and token of the account.
pub async fn set_password(
    db: &Db,
    username: &Username,
    password: &NewPassword,
) -> anyhow::Result<u64> {
    let account = find_user(db, username).await?;
    let hash = password::hash_now(password)?;
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    accounts::set_password_hash(&mut ex, account.account_id(), &hash, now).await?;
    let home = account.home_community_id.map(CommunityId);
    let event = cli_event(
        home,
        "password_reset",
        "account",
        Some(account.id.to_string()),
        serde_json::json!({ "via": "cli" }),
    );
    audit::append(&mut ex, &event, now).await?;
    let revoked = revoke_everywhere(&mut ex, &account, None, "password_reset", now).await?;
    tx.commit().await.context("saving the new password")?;
    Ok(revoked)
}

/// Disables an account and ends every session and token it has.
pub async fn disable_user(db: &Db, username: &Username) -> anyhow::Result<u64> {
    let account = find_user(db, username).await?;
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    accounts::set_disabled(&mut ex, account.account_id(), Some(now)).await?;
    let home = account.home_community_id.map(CommunityId);
    let event = cli_event(
        home,
        "account_disabled",
        "account",
        Some(account.id.to_string()),
        serde_json::json!({ "via": "cli" }),
    );
    audit::append(&mut ex, &event, now).await?;
    let revoked = revoke_everywhere(&mut ex, &account, None, "account_disabled", now).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Makes a second factor mandatory (or optional again) for a community's staff.
pub async fn set_totp_required(db: &Db, code: &str, required: bool) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    let ctx = tenancy::community_by_code(&mut ex, code)
        .await?
        .ok_or_else(|| anyhow!("no community with code {code:?}"))?;
    tenancy::set_totp_required(&mut ex, ctx.community(), required).await?;
    let detail = serde_json::json!({ "via": "cli", "required": required });
    let event = cli_event(
        Some(ctx.community()),
        "totp_requirement_changed",
        "community",
        Some(ctx.community_id.to_string()),
        detail,
    );
    audit::append(&mut ex, &event, now).await?;
    tx.commit().await?;
    Ok(())
}

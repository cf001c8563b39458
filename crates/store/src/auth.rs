//! Accounts and the roles granted to them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use linli_domain::auth::{Grant, GrantScope, Role};
use linli_domain::{AccountId, CommunityId, DistrictId, GridId};
use sea_query::{Cond, Expr, ExprTrait, OnConflict, Order, Query};
use uuid::Uuid;

use crate::schema::{Accounts, Communities, DistrictAdmins, RoleGrantGrids, RoleGrants};
use crate::{Exec, Result, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: Uuid,
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
    pub locale: String,
    pub home_community_id: Option<Uuid>,
    pub totp_secret_enc: Option<Vec<u8>>,
    pub totp_enabled: bool,
    pub totp_last_step: Option<i64>,
    pub disabled_at: Option<DateTime<Utc>>,
    pub password_changed_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl AccountRow {
    pub fn account_id(&self) -> AccountId {
        AccountId(self.id)
    }

    pub fn is_disabled(&self) -> bool {
        self.disabled_at.is_some()
    }
}

pub struct NewAccount<'a> {
    pub id: AccountId,
    pub username: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub locale: &'a str,
    pub home_community: Option<CommunityId>,
}

/// Inserts an account. A taken username fails with `StoreError::Conflict`.
pub async fn insert_account(
    ex: &mut Exec<'_>,
    new: &NewAccount<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(Accounts::Table)
        .columns([
            Accounts::Id,
            Accounts::Username,
            Accounts::DisplayName,
            Accounts::PasswordHash,
            Accounts::Locale,
            Accounts::HomeCommunityId,
            Accounts::TotpEnabled,
            Accounts::PasswordChangedAt,
            Accounts::CreatedAt,
        ])
        .values_panic([
            new.id.0.into(),
            new.username.into(),
            new.display_name.into(),
            new.password_hash.into(),
            new.locale.into(),
            new.home_community.map(|c| c.0).into(),
            false.into(),
            now.into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

fn account_columns() -> sea_query::SelectStatement {
    Query::select()
        .columns([
            Accounts::Id,
            Accounts::Username,
            Accounts::DisplayName,
            Accounts::PasswordHash,
            Accounts::Locale,
            Accounts::HomeCommunityId,
            Accounts::TotpSecretEnc,
            Accounts::TotpEnabled,
            Accounts::TotpLastStep,
            Accounts::DisabledAt,
            Accounts::PasswordChangedAt,
            Accounts::CreatedAt,
        ])
        .from(Accounts::Table)
        .to_owned()
}

pub async fn find_account(ex: &mut Exec<'_>, id: AccountId) -> Result<Option<AccountRow>> {
    let q = account_columns()
        .and_where(Expr::col(Accounts::Id).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn find_account_by_username(
    ex: &mut Exec<'_>,
    username: &str,
) -> Result<Option<AccountRow>> {
    let q = account_columns()
        .and_where(Expr::col(Accounts::Username).eq(username))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Every account, in username order (for `linli user list`).
pub async fn list_accounts(ex: &mut Exec<'_>) -> Result<Vec<AccountRow>> {
    let q = account_columns()
        .order_by(Accounts::Username, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Accounts holding at least one role in the community, in username order.
pub async fn list_accounts_in_community(
    ex: &mut Exec<'_>,
    community: CommunityId,
) -> Result<Vec<AccountRow>> {
    let members = Query::select()
        .column(RoleGrants::AccountId)
        .from(RoleGrants::Table)
        .and_where(Expr::col(RoleGrants::CommunityId).eq(community.0))
        .to_owned();
    let q = account_columns()
        .and_where(Expr::col(Accounts::Id).in_subquery(members))
        .order_by(Accounts::Username, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

async fn update_account(
    ex: &mut Exec<'_>,
    id: AccountId,
    values: Vec<(Accounts, sea_query::Value)>,
) -> Result<bool> {
    let mut q = Query::update();
    q.table(Accounts::Table);
    for (col, value) in values {
        q.value(col, value);
    }
    q.and_where(Expr::col(Accounts::Id).eq(id.0));
    Ok(ex.execute(&q).await? == 1)
}

pub async fn set_password_hash(
    ex: &mut Exec<'_>,
    id: AccountId,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<bool> {
    update_account(
        ex,
        id,
        vec![
            (Accounts::PasswordHash, hash.into()),
            (Accounts::PasswordChangedAt, now.into()),
        ],
    )
    .await
}

pub async fn set_locale(ex: &mut Exec<'_>, id: AccountId, locale: &str) -> Result<bool> {
    update_account(ex, id, vec![(Accounts::Locale, locale.into())]).await
}

pub async fn set_disabled(
    ex: &mut Exec<'_>,
    id: AccountId,
    at: Option<DateTime<Utc>>,
) -> Result<bool> {
    update_account(ex, id, vec![(Accounts::DisabledAt, at.into())]).await
}

/// Stores a sealed TOTP secret: pending (`enabled = false`) until the first code confirms it.
pub async fn set_totp(
    ex: &mut Exec<'_>,
    id: AccountId,
    sealed_secret: Option<Vec<u8>>,
    enabled: bool,
) -> Result<bool> {
    update_account(
        ex,
        id,
        vec![
            (Accounts::TotpSecretEnc, sealed_secret.into()),
            (Accounts::TotpEnabled, enabled.into()),
            (Accounts::TotpLastStep, Option::<i64>::None.into()),
        ],
    )
    .await
}

/// Records the time step of an accepted code, refusing a step already used: a code
/// replayed within its 30 seconds is rejected even across server processes.
pub async fn claim_totp_step(ex: &mut Exec<'_>, id: AccountId, step: i64) -> Result<bool> {
    let q = Query::update()
        .table(Accounts::Table)
        .value(Accounts::TotpLastStep, step)
        .and_where(Expr::col(Accounts::Id).eq(id.0))
        .cond_where(
            Cond::any()
                .add(Expr::col(Accounts::TotpLastStep).is_null())
                .add(Expr::col(Accounts::TotpLastStep).lt(step)),
        )
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

/// One row of a grants query: a community role (with one of its grids) and/or a district.
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct GrantRow {
    pub grant_community_id: Option<Uuid>,
    pub grant_role: Option<String>,
    pub grant_grid_id: Option<Uuid>,
    pub grant_totp_required: Option<bool>,
    pub grant_district_id: Option<Uuid>,
}

/// An account's roles, and whether one of its communities requires a second factor of it.
#[derive(Debug, Clone, Default)]
pub struct AccountGrants {
    pub grants: Vec<Grant>,
    /// True when the account holds a staff role in a community that made TOTP mandatory.
    pub totp_required: bool,
}

/// Folds joined grant rows (one per role and grid, crossed with district grants) into grants.
pub fn assemble_grants(rows: impl IntoIterator<Item = GrantRow>) -> Result<AccountGrants> {
    let mut totp_required = false;
    let mut by_role: BTreeMap<(Uuid, Role), Vec<GridId>> = BTreeMap::new();
    let mut districts: Vec<Uuid> = Vec::new();
    for row in rows {
        if let (Some(community), Some(role)) = (row.grant_community_id, row.grant_role.as_deref()) {
            let role = Role::parse(role).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            totp_required |= row.grant_totp_required.unwrap_or(false) && role.is_staff();
            let grids = by_role.entry((community, role)).or_default();
            if let Some(grid) = row.grant_grid_id.map(GridId)
                && !grids.contains(&grid)
            {
                grids.push(grid);
            }
        }
        if let Some(district) = row.grant_district_id
            && !districts.contains(&district)
        {
            districts.push(district);
        }
    }
    let mut grants: Vec<Grant> = by_role
        .into_iter()
        .map(|((community, role), mut grid_ids)| {
            grid_ids.sort();
            Grant {
                role,
                scope: if role.is_grid_scoped() {
                    GrantScope::Grids {
                        community_id: CommunityId(community),
                        grid_ids,
                    }
                } else {
                    GrantScope::Community {
                        community_id: CommunityId(community),
                    }
                },
            }
        })
        .collect();
    grants.extend(districts.into_iter().map(|d| Grant {
        role: Role::DistrictAdmin,
        scope: GrantScope::District {
            district_id: DistrictId(d),
        },
    }));
    Ok(AccountGrants {
        grants,
        totp_required,
    })
}

/// Joins an account's role grants, their grids, their communities' TOTP rule and its
/// district grants onto a query whose rows carry the account id in `account_col`.
pub(crate) fn join_grants(
    q: &mut sea_query::SelectStatement,
    account_col: (
        impl sea_query::IntoIden + Copy,
        impl sea_query::IntoIden + Copy,
    ),
) {
    q.expr_as(
        Expr::col((RoleGrants::Table, RoleGrants::CommunityId)),
        "grant_community_id",
    )
    .expr_as(
        Expr::col((RoleGrants::Table, RoleGrants::Role)),
        "grant_role",
    )
    .expr_as(
        Expr::col((RoleGrantGrids::Table, RoleGrantGrids::GridId)),
        "grant_grid_id",
    )
    .expr_as(
        Expr::col((Communities::Table, Communities::TotpRequired)),
        "grant_totp_required",
    )
    .expr_as(
        Expr::col((DistrictAdmins::Table, DistrictAdmins::DistrictId)),
        "grant_district_id",
    )
    .left_join(
        RoleGrants::Table,
        Expr::col((RoleGrants::Table, RoleGrants::AccountId)).equals(account_col),
    )
    .left_join(
        Communities::Table,
        Expr::col((Communities::Table, Communities::Id))
            .equals((RoleGrants::Table, RoleGrants::CommunityId)),
    )
    .left_join(
        RoleGrantGrids::Table,
        Cond::all()
            .add(
                Expr::col((RoleGrantGrids::Table, RoleGrantGrids::CommunityId))
                    .equals((RoleGrants::Table, RoleGrants::CommunityId)),
            )
            .add(
                Expr::col((RoleGrantGrids::Table, RoleGrantGrids::AccountId))
                    .equals((RoleGrants::Table, RoleGrants::AccountId)),
            )
            .add(
                Expr::col((RoleGrantGrids::Table, RoleGrantGrids::Role))
                    .equals((RoleGrants::Table, RoleGrants::Role)),
            ),
    )
    .left_join(
        DistrictAdmins::Table,
        Expr::col((DistrictAdmins::Table, DistrictAdmins::AccountId)).equals(account_col),
    );
}

/// Every role the account holds, with its scope, in one query.
pub async fn grants_of(ex: &mut Exec<'_>, account: AccountId) -> Result<AccountGrants> {
    let mut q = Query::select();
    q.from(Accounts::Table)
        .and_where(Expr::col((Accounts::Table, Accounts::Id)).eq(account.0));
    join_grants(&mut q, (Accounts::Table, Accounts::Id));
    let rows: Vec<GrantRow> = ex.fetch_all(&q).await?;
    assemble_grants(rows)
}

/// Grants a community role (with its grids for a grid worker). Granting a role the account
/// already holds replaces its grids.
pub async fn grant_role(
    ex: &mut Exec<'_>,
    community: CommunityId,
    account: AccountId,
    role: Role,
    grids: &[GridId],
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(RoleGrants::Table)
        .columns([
            RoleGrants::CommunityId,
            RoleGrants::AccountId,
            RoleGrants::Role,
            RoleGrants::GrantedAt,
        ])
        .values_panic([
            community.0.into(),
            account.0.into(),
            role.as_str().into(),
            now.into(),
        ])
        .on_conflict(
            OnConflict::columns([
                RoleGrants::CommunityId,
                RoleGrants::AccountId,
                RoleGrants::Role,
            ])
            .do_nothing()
            .to_owned(),
        )
        .to_owned();
    ex.execute(&q).await?;
    let clear = Query::delete()
        .from_table(RoleGrantGrids::Table)
        .and_where(Expr::col(RoleGrantGrids::CommunityId).eq(community.0))
        .and_where(Expr::col(RoleGrantGrids::AccountId).eq(account.0))
        .and_where(Expr::col(RoleGrantGrids::Role).eq(role.as_str()))
        .to_owned();
    ex.execute(&clear).await?;
    for grid in grids {
        let q = Query::insert()
            .into_table(RoleGrantGrids::Table)
            .columns([
                RoleGrantGrids::CommunityId,
                RoleGrantGrids::AccountId,
                RoleGrantGrids::Role,
                RoleGrantGrids::GridId,
            ])
            .values_panic([
                community.0.into(),
                account.0.into(),
                role.as_str().into(),
                grid.0.into(),
            ])
            .to_owned();
        ex.execute(&q).await?;
    }
    Ok(())
}

/// Withdraws a community role. Returns whether the account held it.
pub async fn revoke_role(
    ex: &mut Exec<'_>,
    community: CommunityId,
    account: AccountId,
    role: Role,
) -> Result<bool> {
    let grids = Query::delete()
        .from_table(RoleGrantGrids::Table)
        .and_where(Expr::col(RoleGrantGrids::CommunityId).eq(community.0))
        .and_where(Expr::col(RoleGrantGrids::AccountId).eq(account.0))
        .and_where(Expr::col(RoleGrantGrids::Role).eq(role.as_str()))
        .to_owned();
    ex.execute(&grids).await?;
    let q = Query::delete()
        .from_table(RoleGrants::Table)
        .and_where(Expr::col(RoleGrants::CommunityId).eq(community.0))
        .and_where(Expr::col(RoleGrants::AccountId).eq(account.0))
        .and_where(Expr::col(RoleGrants::Role).eq(role.as_str()))
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

pub async fn grant_district_admin(
    ex: &mut Exec<'_>,
    district: DistrictId,
    account: AccountId,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(DistrictAdmins::Table)
        .columns([
            DistrictAdmins::DistrictId,
            DistrictAdmins::AccountId,
            DistrictAdmins::GrantedAt,
        ])
        .values_panic([district.0.into(), account.0.into(), now.into()])
        .on_conflict(
            OnConflict::columns([DistrictAdmins::DistrictId, DistrictAdmins::AccountId])
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

/// Enabled accounts holding one of `roles` in the community (who to tell about a step
/// that waits for them).
pub async fn accounts_with_roles(
    ex: &mut Exec<'_>,
    community: CommunityId,
    roles: &[&str],
) -> Result<Vec<AccountId>> {
    let holders = Query::select()
        .column(RoleGrants::AccountId)
        .from(RoleGrants::Table)
        .and_where(Expr::col(RoleGrants::CommunityId).eq(community.0))
        .and_where(Expr::col(RoleGrants::Role).is_in(roles.iter().copied()))
        .to_owned();
    let q = Query::select()
        .column(Accounts::Id)
        .from(Accounts::Table)
        .and_where(Expr::col(Accounts::Id).in_subquery(holders))
        .and_where(Expr::col(Accounts::DisabledAt).is_null())
        .order_by(Accounts::Id, Order::Asc)
        .to_owned();
    let rows: Vec<(Uuid,)> = ex.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(id,)| AccountId(id)).collect())
}

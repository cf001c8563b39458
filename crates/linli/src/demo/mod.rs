//! The demo community: a district, subdistrict and community modelled on Xinhe (新和社区,
//! 坪山街道, 坪山区) with its four grids and one account per role, each with a freshly
//! generated password. Running it again keeps the data and issues new passwords.
//!
//! Later modules add places, people, matters and points here: each gets a `seed_*`
//! function called from [`generate`], so the demo grows with the product.

pub mod directory;
pub mod matters;
pub mod mediation;
mod names;
pub mod points;
pub mod registry;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::Utc;
use linli_domain::auth::{GridFilter, NewPassword, Role, Username};
use linli_domain::{AccountId, CommunityId, GridId};
use linli_store::Db;
use linli_web::crypto::{DataKey, random_bytes, write_private_file};

use crate::admin::{self, CommunitySpec, RoleScope};

pub const DISTRICT: (&str, &str) = ("440310", "坪山区");
pub const SUBDISTRICT: (&str, &str) = ("440310001", "坪山街道");
pub const COMMUNITY: (&str, &str) = ("xinhe", "新和社区");
pub const GRIDS: [(&str, &str); 4] = [
    ("XH-01", "新和第一网格"),
    ("XH-02", "新和第二网格"),
    ("XH-03", "新和第三网格"),
    ("XH-04", "新和第四网格"),
];

/// One demo account per role: (role, username, display name).
pub const ACCOUNTS: [(Role, &str, &str); 11] = [
    (Role::Resident, "demo-resident", "王秀兰"),
    (Role::BuildingHead, "demo-building-head", "李建国"),
    (Role::Volunteer, "demo-volunteer", "陈晓燕"),
    (Role::PartyMember, "demo-party-member", "张卫东"),
    (Role::GridWorker, "demo-grid-worker", "刘芳"),
    (Role::CommunityStaff, "demo-staff", "黄志强"),
    (Role::OperationOfficer, "demo-officer", "周明"),
    (Role::Partner, "demo-partner", "吴丽"),
    (Role::CommunityAdmin, "demo-admin", "林海"),
    (Role::DistrictAdmin, "demo-district-admin", "郑伟"),
    (Role::Auditor, "demo-auditor", "何静"),
];

#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub role: Role,
    pub username: String,
    pub password: String,
}

/// A readable random password: three groups of four from 31 unambiguous characters
/// (about 59 bits), e.g. `k7qm-x2hp-9tdr`.
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut chars = Vec::with_capacity(12);
    while chars.len() < 12 {
        for byte in random_bytes::<32>() {
            // Rejection sampling keeps every character equally likely.
            if usize::from(byte) < 256 - 256 % ALPHABET.len() && chars.len() < 12 {
                chars.push(ALPHABET[usize::from(byte) % ALPHABET.len()] as char);
            }
        }
    }
    chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}

/// Creates (or refreshes) the demo: the Xinhe community and, for load tests, `extra`
/// more communities of the same size in the same district. Returns the logins.
pub async fn generate(db: &Db, key: &DataKey, communities: u32) -> anyhow::Result<Vec<DemoLogin>> {
    let xinhe = ensure_demo_community(db, COMMUNITY.0, COMMUNITY.1).await?;
    let logins = seed_accounts(db).await?;
    let links = resident_links(db).await?;
    seed_registry(db, key, xinhe, 0, &links).await?;
    matters::draw_grids(db, xinhe, 0).await?;
    let started = Instant::now();
    let staff = admin::find_user(db, &Username::parse("demo-staff")?)
        .await?
        .id;
    let (made, steps) = matters::seed_history(db, xinhe, 0, Some(staff), Utc::now()).await?;
    if made > 0 {
        println!(
            "Demo matters {}: {} matters, {} timeline entries in {:.1} s",
            xinhe,
            made,
            steps,
            started.elapsed().as_secs_f64()
        );
    }
    let mediators = demo_mediators(db).await?;
    let cases =
        mediation::seed_cases(db, key, xinhe, &mediators, AccountId(staff), Utc::now()).await?;
    if cases > 0 {
        println!("Demo mediation {xinhe}: {cases} cases");
    }
    let started = Instant::now();
    let partner = admin::find_user(db, &Username::parse("demo-partner")?)
        .await?
        .id;
    let resident = admin::find_user(db, &Username::parse("demo-resident")?)
        .await?
        .id;
    let demo_resident = {
        let mut conn = db.acquire().await?;
        linli_store::registry::residents::find_resident_by_account(
            &mut conn.exec(),
            xinhe,
            AccountId(resident),
        )
        .await?
        .map(|r| linli_domain::ResidentId(r.id))
    };
    let (offers, transfers) = points::seed_points(
        db,
        key,
        xinhe,
        AccountId(staff),
        AccountId(partner),
        demo_resident,
        Utc::now(),
    )
    .await?;
    if offers > 0 {
        println!(
            "Demo points {xinhe}: {offers} offers, {transfers} transfers in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    for index in 1..communities.max(1) {
        let code = format!("{}-{:02}", COMMUNITY.0, index + 1);
        let name = format!("新和{}社区", index + 1);
        let community = ensure_demo_community(db, &code, &name).await?;
        seed_registry(db, key, community, index, &[]).await?;
        matters::draw_grids(db, community, index).await?;
    }
    db.analyze().await?;
    Ok(logins)
}

/// The demo's mediators: the operation officer (a retired lawyer in the story) and the
/// community staff member.
async fn demo_mediators(db: &Db) -> anyhow::Result<Vec<(AccountId, String)>> {
    let mut out = Vec::new();
    for name in ["demo-officer", "demo-staff"] {
        let account = admin::find_user(db, &Username::parse(name)?).await?;
        out.push((AccountId(account.id), account.display_name));
    }
    Ok(out)
}

async fn ensure_demo_community(db: &Db, code: &str, name: &str) -> anyhow::Result<CommunityId> {
    let spec = CommunitySpec {
        district: DISTRICT,
        subdistrict: SUBDISTRICT,
        community: (code, name),
        grids: GRIDS
            .iter()
            .map(|(c, n)| (c.to_string(), n.to_string()))
            .collect(),
    };
    admin::ensure_community(db, &spec).await
}

/// The resident-side demo accounts get a resident record in the first grid.
async fn resident_links(db: &Db) -> anyhow::Result<Vec<registry::AccountLink>> {
    let mut links = Vec::new();
    for (role, username, name) in ACCOUNTS {
        if matches!(
            role,
            Role::Resident | Role::BuildingHead | Role::Volunteer | Role::PartyMember
        ) {
            let account = admin::find_user(db, &Username::parse(username)?).await?;
            links.push(registry::AccountLink {
                account: AccountId(account.id),
                name,
                male: matches!(role, Role::BuildingHead | Role::PartyMember),
            });
        }
    }
    Ok(links)
}

/// Generates the registry of one community unless it already has one.
async fn seed_registry(
    db: &Db,
    key: &DataKey,
    community: CommunityId,
    index: u32,
    links: &[registry::AccountLink],
) -> anyhow::Result<()> {
    if registry::has_registry(db, community).await? {
        return Ok(());
    }
    let grids: Vec<GridId> = {
        let mut conn = db.acquire().await?;
        linli_store::registry::list_grids(&mut conn.exec(), community, &GridFilter::All)
            .await?
            .into_iter()
            .map(|g| GridId(g.id))
            .collect()
    };
    let started = Instant::now();
    let now = Utc::now();
    let today = linli_web::pages::local_today("Asia/Shanghai");
    let directory = directory::DirectoryLinks {
        grid_worker: if index == 0 {
            let user = Username::parse("demo-grid-worker")?;
            Some(AccountId(admin::find_user(db, &user).await?.id))
        } else {
            None
        },
    };
    let made = registry::seed(
        db, key, community, index, &grids, links, &directory, today, now,
    )
    .await?;
    println!(
        "Demo registry {}: {} buildings, {} households, {} residents in {:.1} s",
        community,
        made.buildings,
        made.households,
        made.residents,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn seed_accounts(db: &Db) -> anyhow::Result<Vec<DemoLogin>> {
    let mut logins = Vec::new();
    for (role, username, display_name) in ACCOUNTS {
        let username = Username::parse(username)?;
        let password = generate_password();
        let policy_checked = NewPassword::parse(&password, &username)?;
        let exists = admin::find_user(db, &username).await.is_ok();
        if exists {
            admin::set_password(db, &username, &policy_checked).await?;
        } else {
            let scope = match role {
                Role::DistrictAdmin => RoleScope::District {
                    code: DISTRICT.0.to_owned(),
                },
                Role::GridWorker => RoleScope::Community {
                    code: COMMUNITY.0.to_owned(),
                    grids: vec![GRIDS[0].0.to_owned()],
                },
                _ => RoleScope::Community {
                    code: COMMUNITY.0.to_owned(),
                    grids: Vec::new(),
                },
            };
            admin::add_user(db, &username, display_name, &policy_checked, role, &scope).await?;
        }
        logins.push(DemoLogin {
            role,
            username: username.as_str().to_owned(),
            password,
        });
    }
    Ok(logins)
}

/// Writes `demo-logins.txt` (mode 0600) in `dir`: one `role username password` per line.
pub fn write_logins(dir: &Path, logins: &[DemoLogin]) -> anyhow::Result<PathBuf> {
    let path = dir.join("demo-logins.txt");
    let text: String = logins
        .iter()
        .map(|l| format!("{} {} {}\n", l.role.as_str(), l.username, l.password))
        .collect();
    write_private_file(&path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The logins as a table for the terminal.
pub fn print_logins(logins: &[DemoLogin], file: &Path) {
    println!("Demo logins (also in {}):", file.display());
    println!("  {:<20} {:<22} password", "role", "username");
    for l in logins {
        println!(
            "  {:<20} {:<22} {}",
            l.role.as_str(),
            l.username,
            l.password
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_pass_the_policy_and_differ() {
        let user = Username::parse("demo-admin").unwrap();
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.len(), 14);
        assert_ne!(a, b);
        assert!(NewPassword::parse(&a, &user).is_ok());
    }
}

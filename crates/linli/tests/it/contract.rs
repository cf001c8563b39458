//! The store contract: every scenario runs on SQLite and on PostgreSQL and must behave
//! the same.

use chrono::{Duration, Utc};
use linli_domain::auth::throttle::{ThrottlePolicy, ThrottleState};
use linli_domain::auth::{GrantScope, Role};
use linli_domain::{AccountId, CommunityId};
use linli_store::audit::{self, AuditEvent};
use linli_store::{Db, StoreError, auth as accounts, check, sessions, tenancy, throttle};

use crate::support::{TestDb, add_account, seed_world};

fn event(community: Option<CommunityId>, action: &str) -> AuditEvent {
    AuditEvent {
        community,
        actor: None,
        actor_ip: Some("127.0.0.1".into()),
        request_id: Some("req".into()),
        action: action.into(),
        object_type: "test".into(),
        object_id: None,
        outcome: "success".into(),
        detail: serde_json::json!({ "n": action }),
    }
}

#[tokio::test]
async fn accounts_and_grants_round_trip() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let mut conn = t.db.acquire().await.unwrap();
        let mut ex = conn.exec();
        let found = accounts::find_account_by_username(&mut ex, "u-grid-worker")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.home_community_id, Some(world.a.id.0), "{}", t.engine);
        let grants = accounts::grants_of(&mut ex, found.account_id())
            .await
            .unwrap();
        assert_eq!(grants.grants.len(), 1);
        assert_eq!(grants.grants[0].role, Role::GridWorker);
        assert_eq!(
            grants.grants[0].scope,
            GrantScope::Grids {
                community_id: world.a.id,
                grid_ids: vec![world.a.grids[0]]
            }
        );
        assert!(!grants.totp_required);
        drop(conn);

        let dup = add_account_result(&t.db, "u-grid-worker").await;
        assert!(
            matches!(dup, Err(StoreError::Conflict(_))),
            "{}: duplicate username must conflict",
            t.engine
        );

        let mut conn = t.db.acquire().await.unwrap();
        let mut ex = conn.exec();
        assert!(
            accounts::revoke_role(&mut ex, world.a.id, found.account_id(), Role::GridWorker)
                .await
                .unwrap()
        );
        assert!(
            accounts::grants_of(&mut ex, found.account_id())
                .await
                .unwrap()
                .grants
                .is_empty()
        );
        assert!(
            !accounts::revoke_role(&mut ex, world.a.id, found.account_id(), Role::GridWorker)
                .await
                .unwrap()
        );

        tenancy::set_totp_required(&mut ex, world.a.id, true)
            .await
            .unwrap();
        let staff = accounts::find_account_by_username(&mut ex, "u-community-staff")
            .await
            .unwrap()
            .unwrap();
        assert!(
            accounts::grants_of(&mut ex, staff.account_id())
                .await
                .unwrap()
                .totp_required
        );
        let resident = accounts::find_account_by_username(&mut ex, "u-resident")
            .await
            .unwrap()
            .unwrap();
        assert!(
            !accounts::grants_of(&mut ex, resident.account_id())
                .await
                .unwrap()
                .totp_required
        );
    }
}

async fn add_account_result(db: &Db, username: &str) -> Result<(), StoreError> {
    let mut conn = db.acquire().await?;
    let new = accounts::NewAccount {
        id: AccountId::new(),
        username,
        display_name: username,
        password_hash: "x",
        locale: "zh-CN",
        home_community: None,
    };
    accounts::insert_account(&mut conn.exec(), &new, Utc::now()).await
}

#[tokio::test]
async fn sessions_are_found_by_hash_and_revoked() {
    for t in TestDb::all().await {
        let account = add_account(&t.db, "s-user", None).await;
        let now = Utc::now();
        let mut conn = t.db.acquire().await.unwrap();
        let mut ex = conn.exec();
        for (hash, kind) in [(vec![1u8; 32], "browser"), (vec![2u8; 32], "api")] {
            let new = sessions::NewSession {
                token_hash: &hash,
                account,
                kind,
                csrf_token: "c",
                expires_at: now + Duration::hours(1),
            };
            sessions::insert_session(&mut ex, &new, now).await.unwrap();
        }
        let found = sessions::find_session(&mut ex, &[1u8; 32])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.username, "s-user", "{}", t.engine);
        assert_eq!(found.kind, "browser");
        assert!(found.revoked_at.is_none());
        assert!(
            sessions::find_session(&mut ex, &[9u8; 32])
                .await
                .unwrap()
                .is_none()
        );

        assert!(
            sessions::revoke_session(&mut ex, &[1u8; 32], now)
                .await
                .unwrap()
        );
        assert!(
            !sessions::revoke_session(&mut ex, &[1u8; 32], now)
                .await
                .unwrap(),
            "second revoke is a no-op"
        );
        assert_eq!(
            sessions::revoke_all_sessions(&mut ex, account, now)
                .await
                .unwrap(),
            1,
            "{}",
            t.engine
        );
        assert!(
            sessions::find_session(&mut ex, &[2u8; 32])
                .await
                .unwrap()
                .unwrap()
                .revoked_at
                .is_some()
        );
    }
}

#[tokio::test]
async fn throttle_counters_round_trip() {
    for t in TestDb::all().await {
        let mut conn = t.db.acquire().await.unwrap();
        let mut ex = conn.exec();
        assert_eq!(throttle::load(&mut ex, "account:x").await.unwrap(), None);
        let now = Utc::now();
        let state = ThrottlePolicy::ACCOUNT.after_failure(None, now);
        throttle::save(&mut ex, "account:x", &state).await.unwrap();
        let loaded: ThrottleState = throttle::load(&mut ex, "account:x").await.unwrap().unwrap();
        assert_eq!(loaded.failures, 1, "{}", t.engine);
        assert_eq!(
            loaded.window_started_at.timestamp_micros(),
            now.timestamp_micros()
        );
        let locked = ThrottleState {
            failures: 0,
            window_started_at: now,
            locked_until: Some(now + Duration::minutes(15)),
        };
        throttle::save(&mut ex, "account:x", &locked).await.unwrap();
        assert!(
            throttle::load(&mut ex, "account:x")
                .await
                .unwrap()
                .unwrap()
                .locked_until
                .is_some()
        );
        throttle::clear(&mut ex, "account:x").await.unwrap();
        assert_eq!(throttle::load(&mut ex, "account:x").await.unwrap(), None);
    }
}

#[tokio::test]
async fn audit_chains_verify_and_reveal_tampering() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let now = Utc::now();
        for i in 0..5 {
            audit::record(&t.db, &event(Some(world.a.id), &format!("a{i}")), now)
                .await
                .unwrap();
            audit::record(&t.db, &event(Some(world.b.id), &format!("b{i}")), now)
                .await
                .unwrap();
        }
        audit::record(&t.db, &event(None, "platform"), now)
            .await
            .unwrap();
        let report = check::run(&t.db).await.unwrap();
        assert!(report.is_ok(), "{}: {:?}", t.engine, report);
        assert_eq!(report.audit_entries_checked, 11);

        // The log refuses edits outright...
        let edit = raw(
            &t.db,
            "UPDATE audit_log SET action = 'forged' WHERE seq = 2",
        )
        .await;
        assert!(edit.is_err(), "{}: audit_log must reject UPDATE", t.engine);
        let delete = raw(&t.db, "DELETE FROM audit_log WHERE seq = 2").await;
        assert!(
            delete.is_err(),
            "{}: audit_log must reject DELETE",
            t.engine
        );

        // ...and if someone with database access removes that guard, the chain still tells.
        match &t.db {
            Db::Sqlite(..) => raw(&t.db, "DROP TRIGGER audit_log_no_update")
                .await
                .unwrap(),
            Db::Postgres(..) => raw(
                &t.db,
                "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update_or_delete",
            )
            .await
            .unwrap(),
        }
        raw(
            &t.db,
            "UPDATE audit_log SET action = 'forged' WHERE seq = 2",
        )
        .await
        .unwrap();
        let report = check::run(&t.db).await.unwrap();
        assert!(!report.is_ok(), "{}: tampering must be detected", t.engine);
        assert!(
            report
                .audit_breaks
                .iter()
                .any(|b| b.seq == 2 && b.problem.contains("altered")),
            "{:?}",
            report.audit_breaks
        );
    }
}

async fn raw(db: &Db, sql: &'static str) -> Result<(), sqlx::Error> {
    match db {
        Db::Sqlite(pool, _) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Db::Postgres(pool, _) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
}

#[tokio::test]
async fn concurrent_audit_appends_keep_one_unbroken_chain() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let mut tasks = Vec::new();
        for i in 0..24 {
            let db = t.db.clone();
            let community = world.a.id;
            tasks.push(tokio::spawn(async move {
                audit::record(&db, &event(Some(community), &format!("c{i}")), Utc::now()).await
            }));
        }
        let mut seqs: Vec<i64> = Vec::new();
        for task in tasks {
            seqs.push(task.await.unwrap().unwrap());
        }
        seqs.sort();
        assert_eq!(
            seqs,
            (1..=24).collect::<Vec<_>>(),
            "{}: every append gets its own place",
            t.engine
        );
        assert!(check::run(&t.db).await.unwrap().is_ok(), "{}", t.engine);
    }
}

#[tokio::test]
async fn tenancy_lookups_and_idempotent_setup() {
    for t in TestDb::all().await {
        let now = Utc::now();
        let mut conn = t.db.acquire().await.unwrap();
        let mut ex = conn.exec();
        let d = tenancy::ensure_district(&mut ex, "440310", "坪山区", now)
            .await
            .unwrap();
        assert_eq!(
            tenancy::ensure_district(&mut ex, "440310", "坪山区", now)
                .await
                .unwrap(),
            d,
            "{}",
            t.engine
        );
        let s = tenancy::ensure_subdistrict(&mut ex, d, "440310001", "坪山街道", now)
            .await
            .unwrap();
        let new = tenancy::NewCommunity {
            subdistrict: s,
            code: "xinhe",
            name: "新和社区",
            time_zone: "Asia/Shanghai",
        };
        let c = tenancy::create_community(&mut ex, &new, now).await.unwrap();
        assert!(matches!(
            tenancy::create_community(&mut ex, &new, now).await,
            Err(StoreError::Conflict(_))
        ));
        let ctx = tenancy::community_by_code(&mut ex, "xinhe")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ctx.community(), c);
        assert_eq!(ctx.district(), d);
        assert_eq!(ctx.district_name, "坪山区");
        assert_eq!(
            tenancy::district_by_code(&mut ex, "440310").await.unwrap(),
            Some(d)
        );
        assert!(
            tenancy::community_context(&mut ex, CommunityId::new())
                .await
                .unwrap()
                .is_none()
        );
    }
}

#[tokio::test]
async fn audit_chain_heads_cannot_be_removed_or_rewound() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        audit::record(&t.db, &event(Some(world.a.id), "one"), Utc::now())
            .await
            .unwrap();
        audit::record(&t.db, &event(Some(world.a.id), "two"), Utc::now())
            .await
            .unwrap();
        assert!(
            raw(&t.db, "DELETE FROM audit_chain_heads").await.is_err(),
            "{}: heads cannot be deleted",
            t.engine
        );
        assert!(
            raw(&t.db, "UPDATE audit_chain_heads SET seq = 1")
                .await
                .is_err(),
            "{}: heads cannot be rewound",
            t.engine
        );
        if let Db::Postgres(..) = &t.db {
            assert!(
                raw(&t.db, "TRUNCATE audit_log").await.is_err(),
                "the log cannot be truncated"
            );
        }
        assert!(check::run(&t.db).await.unwrap().is_ok());
    }
}

#[tokio::test]
async fn check_reports_unvalidated_constraints_on_postgres() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    assert!(check::run(&t.db).await.unwrap().is_ok());
    raw(
        &t.db,
        "ALTER TABLE grids ADD CONSTRAINT grids_code_present CHECK (length(code) > 0) NOT VALID",
    )
    .await
    .unwrap();
    let report = check::run(&t.db).await.unwrap();
    assert!(
        report
            .database_problems
            .iter()
            .any(|p| p.contains("grids_code_present") && p.contains("not validated")),
        "{:?}",
        report.database_problems
    );
}

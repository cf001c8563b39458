//! Failed sign-in counters, kept in the database so every server process sees the same
//! counts. The rule that reads them lives in `linli_domain::auth::throttle`.

use chrono::{DateTime, Utc};
use linli_domain::auth::throttle::ThrottleState;
use sea_query::{Expr, ExprTrait, LockType, OnConflict, Query};

use crate::schema::LoginThrottle;
use crate::{Exec, Result};

#[derive(sqlx::FromRow)]
struct Row {
    failures: i32,
    window_started_at: DateTime<Utc>,
    locked_until: Option<DateTime<Utc>>,
}

/// Reads a counter, locking its row on PostgreSQL so concurrent failures add up.
pub async fn load(ex: &mut Exec<'_>, key: &str) -> Result<Option<ThrottleState>> {
    let q = Query::select()
        .columns([
            LoginThrottle::Failures,
            LoginThrottle::WindowStartedAt,
            LoginThrottle::LockedUntil,
        ])
        .from(LoginThrottle::Table)
        .and_where(Expr::col(LoginThrottle::ThrottleKey).eq(key))
        .lock(LockType::Update)
        .to_owned();
    let row: Option<Row> = ex.fetch_optional(&q).await?;
    Ok(row.map(|r| ThrottleState {
        failures: u32::try_from(r.failures).unwrap_or(0),
        window_started_at: r.window_started_at,
        locked_until: r.locked_until,
    }))
}

/// An insert of the counter row for `key`; callers choose what a conflict does.
fn insert_counter(key: &str, state: &ThrottleState) -> sea_query::InsertStatement {
    let failures = i32::try_from(state.failures).unwrap_or(i32::MAX);
    Query::insert()
        .into_table(LoginThrottle::Table)
        .columns([
            LoginThrottle::ThrottleKey,
            LoginThrottle::Failures,
            LoginThrottle::WindowStartedAt,
            LoginThrottle::LockedUntil,
        ])
        .values_panic([
            key.into(),
            failures.into(),
            state.window_started_at.into(),
            state.locked_until.into(),
        ])
        .to_owned()
}

pub async fn save(ex: &mut Exec<'_>, key: &str, state: &ThrottleState) -> Result<()> {
    let q = insert_counter(key, state)
        .on_conflict(
            OnConflict::column(LoginThrottle::ThrottleKey)
                .update_columns([
                    LoginThrottle::Failures,
                    LoginThrottle::WindowStartedAt,
                    LoginThrottle::LockedUntil,
                ])
                .to_owned(),
        )
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

pub async fn clear(ex: &mut Exec<'_>, key: &str) -> Result<()> {
    let q = Query::delete()
        .from_table(LoginThrottle::Table)
        .and_where(Expr::col(LoginThrottle::ThrottleKey).eq(key))
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

/// Reads a counter inside a write transaction, creating it first if missing so that on
/// PostgreSQL the row lock really holds (`FOR UPDATE` on a missing row locks nothing) and
/// concurrent attempts on one key take turns.
pub async fn lock(
    ex: &mut Exec<'_>,
    key: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<ThrottleState> {
    let fresh = ThrottleState {
        failures: 0,
        window_started_at: now,
        locked_until: None,
    };
    let seed = insert_counter(key, &fresh)
        .on_conflict(
            OnConflict::column(LoginThrottle::ThrottleKey)
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    ex.execute(&seed).await?;
    Ok(load(ex, key).await?.unwrap_or(fresh))
}

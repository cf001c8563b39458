//! Server-side sessions (browser cookies) and API tokens. Only a SHA-256 of each secret
//! is stored, so a copy of the database does not let anyone sign in.

use chrono::{DateTime, Utc};
use linli_domain::AccountId;
use sea_query::{Expr, ExprTrait, Query};
use uuid::Uuid;

use crate::auth::{AccountGrants, GrantRow, assemble_grants, join_grants};
use crate::schema::{Accounts, Sessions};
use crate::{Db, Exec, Result, lite};

pub struct NewSession<'a> {
    pub token_hash: &'a [u8],
    pub account: AccountId,
    pub kind: &'a str,
    pub csrf_token: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_session(
    ex: &mut Exec<'_>,
    new: &NewSession<'_>,
    now: DateTime<Utc>,
) -> Result<()> {
    let q = Query::insert()
        .into_table(Sessions::Table)
        .columns([
            Sessions::TokenHash,
            Sessions::AccountId,
            Sessions::Kind,
            Sessions::CsrfToken,
            Sessions::CreatedAt,
            Sessions::LastSeenAt,
            Sessions::ExpiresAt,
        ])
        .values_panic([
            new.token_hash.to_vec().into(),
            new.account.0.into(),
            new.kind.into(),
            new.csrf_token.into(),
            now.into(),
            now.into(),
            new.expires_at.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

/// A session together with the account facts every request needs, read in one query.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    pub account_id: Uuid,
    pub kind: String,
    pub csrf_token: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub username: String,
    pub display_name: String,
    pub locale: String,
    pub home_community_id: Option<Uuid>,
    pub totp_enabled: bool,
    pub disabled_at: Option<DateTime<Utc>>,
}

fn session_query(token_hash: &[u8]) -> sea_query::SelectStatement {
    Query::select()
        .column((Sessions::Table, Sessions::AccountId))
        .column((Sessions::Table, Sessions::Kind))
        .column((Sessions::Table, Sessions::CsrfToken))
        .column((Sessions::Table, Sessions::CreatedAt))
        .column((Sessions::Table, Sessions::LastSeenAt))
        .column((Sessions::Table, Sessions::ExpiresAt))
        .column((Sessions::Table, Sessions::RevokedAt))
        .column((Accounts::Table, Accounts::Username))
        .column((Accounts::Table, Accounts::DisplayName))
        .column((Accounts::Table, Accounts::Locale))
        .column((Accounts::Table, Accounts::HomeCommunityId))
        .column((Accounts::Table, Accounts::TotpEnabled))
        .column((Accounts::Table, Accounts::DisabledAt))
        .from(Sessions::Table)
        .inner_join(
            Accounts::Table,
            Expr::col((Accounts::Table, Accounts::Id))
                .equals((Sessions::Table, Sessions::AccountId)),
        )
        .and_where(Expr::col((Sessions::Table, Sessions::TokenHash)).eq(token_hash.to_vec()))
        .to_owned()
}

pub async fn find_session(ex: &mut Exec<'_>, token_hash: &[u8]) -> Result<Option<SessionRow>> {
    ex.fetch_optional(&session_query(token_hash)).await
}

#[derive(sqlx::FromRow)]
struct SessionWithGrantRow {
    #[sqlx(flatten)]
    session: SessionRow,
    #[sqlx(flatten)]
    grant: GrantRow,
}

/// The session, its account and the account's grants in a single query: this runs on
/// every authenticated request, so it is one round trip, not three.
pub async fn find_session_with_grants(
    ex: &mut Exec<'_>,
    token_hash: &[u8],
) -> Result<Option<(SessionRow, AccountGrants)>> {
    let mut q = session_query(token_hash);
    join_grants(&mut q, (Sessions::Table, Sessions::AccountId));
    let rows: Vec<SessionWithGrantRow> = ex.fetch_all(&q).await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let session = first.session.clone();
    let grants = assemble_grants(rows.into_iter().map(|r| r.grant))?;
    Ok(Some((session, grants)))
}

/// Slides an idle session's expiry forward. Called at most once a minute per session so
/// reads stay reads.
///
/// A write of its own, never part of a request's transaction. On SQLite it joins the
/// direct lane's next group commit, one statement on the writer thread, instead of a
/// sqlx transaction holding the write slot across its awaits (pool, `BEGIN`, `UPDATE`,
/// `COMMIT`). Such a transaction once held it for 261 ms under load; the cause was the
/// automatic checkpoint in its commit, since turned off (`Db::connect`).
pub async fn touch_session(
    db: &Db,
    token_hash: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let q = Query::update()
        .table(Sessions::Table)
        .value(Sessions::LastSeenAt, now)
        .value(Sessions::ExpiresAt, expires_at)
        .and_where(Expr::col(Sessions::TokenHash).eq(token_hash.to_vec()))
        .and_where(Expr::col(Sessions::RevokedAt).is_null())
        .to_owned();
    if let Some(lite) = db.lite() {
        let touch = lite::Built::new(&q);
        return lite
            .write(move |conn| touch.execute(conn).map(|_| ()))
            .await;
    }
    db.acquire().await?.exec().execute(&q).await?;
    Ok(())
}

pub async fn revoke_session(
    ex: &mut Exec<'_>,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = Query::update()
        .table(Sessions::Table)
        .value(Sessions::RevokedAt, now)
        .and_where(Expr::col(Sessions::TokenHash).eq(token_hash.to_vec()))
        .and_where(Expr::col(Sessions::RevokedAt).is_null())
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

/// Ends every live session and token of an account. Returns how many were live.
pub async fn revoke_all_sessions(
    ex: &mut Exec<'_>,
    account: AccountId,
    now: DateTime<Utc>,
) -> Result<u64> {
    let q = Query::update()
        .table(Sessions::Table)
        .value(Sessions::RevokedAt, now)
        .and_where(Expr::col(Sessions::AccountId).eq(account.0))
        .and_where(Expr::col(Sessions::RevokedAt).is_null())
        .to_owned();
    ex.execute(&q).await
}

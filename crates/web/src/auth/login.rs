//! Signing in and out, shared by the API and the web pages.
//!
//! Every outcome is audited. An unknown name, a wrong password and a disabled account all
//! get the same answer in about the same time, and failures are counted per account name
//! and per client address so guessing is throttled across every server process.

use chrono::{DateTime, Utc};
use linli_domain::AccountId;
use linli_domain::auth::Username;
use linli_domain::auth::throttle::ThrottlePolicy;
use linli_store::audit::{self, AuditEvent};
use linli_store::auth::{self as accounts, AccountRow};
use linli_store::{Exec, sessions, throttle};

use crate::auth::password;
use crate::auth::principal::SessionKind;
use crate::auth::tokens::{new_csrf_token, new_token, token_hash};
use crate::auth::totp;
use crate::context;
use crate::error::ApiError;
use crate::state::AppState;

/// A freshly issued session or token. The secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
    pub account_id: AccountId,
    pub locale: String,
}

pub enum LoginOutcome {
    SignedIn(IssuedSession),
    /// Browser flow only: the password was right and a code must follow. The pending
    /// token lives five minutes and can do nothing but finish signing in.
    NeedsTotp {
        pending_token: String,
    },
}

pub struct Credentials<'a> {
    pub username: &'a Username,
    pub password: &'a str,
    pub totp: Option<&'a str>,
}

fn account_key(username: &Username) -> String {
    format!("account:{username}")
}

fn address_key(ip: &str) -> String {
    format!("address:{ip}")
}

fn event(
    action: &str,
    account: Option<&AccountRow>,
    outcome: &str,
    detail: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        community: account
            .and_then(|a| a.home_community_id)
            .map(linli_domain::CommunityId),
        actor: account.map(|a| a.id),
        actor_ip: context::client_ip(),
        request_id: context::request_id(),
        action: action.to_owned(),
        object_type: "account".to_owned(),
        object_id: account.map(|a| a.id.to_string()),
        outcome: outcome.to_owned(),
        detail,
    }
}

/// The throttle keys an attempt counts against: the account name, and the client address
/// when there is one.
fn throttle_keys(username: &Username) -> Vec<(String, ThrottlePolicy)> {
    let mut keys = vec![(account_key(username), ThrottlePolicy::ACCOUNT)];
    if let Some(ip) = context::client_ip() {
        keys.push((address_key(&ip), ThrottlePolicy::ADDRESS));
    }
    keys
}

/// Counts one attempt against the name and the address *before* the password is checked,
/// in one transaction with the counters locked, so parallel guesses cannot slip past the
/// limit while an earlier one is still hashing. A success gives the attempt back
/// ([`forgive_attempt`]). Refused (and audited) when either key is locked out.
pub(crate) async fn claim_attempt(
    state: &AppState,
    username: &Username,
    account: Option<&AccountRow>,
) -> Result<(), ApiError> {
    let now = Utc::now();
    let keys = throttle_keys(username);
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    let mut counters = Vec::with_capacity(keys.len());
    for (key, policy) in &keys {
        let counter = throttle::lock(&mut ex, key, now).await?;
        if let Some(until) = policy.locked_until(Some(&counter), now) {
            drop(tx);
            let detail = serde_json::json!({ "username": username.as_str() });
            audit::record(
                &state.db,
                &event("login_throttled", account, "denied", detail),
                now,
            )
            .await?;
            return Err(ApiError::LoginThrottled {
                retry_after: (until - now).to_std().unwrap_or_default(),
            });
        }
        counters.push(counter);
    }
    for ((key, policy), counter) in keys.iter().zip(&counters) {
        throttle::save(&mut ex, key, &policy.after_failure(Some(counter), now)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// After a successful sign-in: the account's counter starts again, and the address gets
/// its attempt back (an office full of people signing in is not an attack).
pub(crate) async fn forgive_attempt(ex: &mut Exec<'_>, username: &str) -> Result<(), ApiError> {
    throttle::clear(ex, &format!("account:{username}")).await?;
    if let Some(ip) = context::client_ip() {
        let key = address_key(&ip);
        if let Some(mut counter) = throttle::load(ex, &key).await?
            && counter.failures > 0
        {
            counter.failures -= 1;
            throttle::save(ex, &key, &counter).await?;
        }
    }
    Ok(())
}

/// Audits a failed attempt (already counted by [`claim_attempt`]).
pub(crate) async fn record_failure(
    state: &AppState,
    username: &Username,
    account: Option<&AccountRow>,
    reason: &str,
) -> Result<(), ApiError> {
    let detail = serde_json::json!({ "username": username.as_str(), "reason": reason });
    audit::record(
        &state.db,
        &event("login_failed", account, "failure", detail),
        Utc::now(),
    )
    .await?;
    Ok(())
}

/// Checks a code against the account's enrolled secret and claims its time step.
async fn verify_totp(state: &AppState, account: &AccountRow, code: &str) -> Result<bool, ApiError> {
    let Some(sealed) = account.totp_secret_enc.as_deref() else {
        return Ok(false);
    };
    let secret = totp::open_secret(&state.data_key, account.id, sealed).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "TOTP secret does not open with this data key"
        ))
    })?;
    let Some(step) = totp::matching_step(&secret, code) else {
        return Ok(false);
    };
    let mut conn = state.db.acquire().await?;
    let claimed =
        accounts::claim_totp_step(&mut conn.exec(), account.account_id(), step as i64).await?;
    Ok(claimed)
}

/// Creates a session of `kind` and audits the sign-in, in one transaction.
pub async fn issue_session(
    state: &AppState,
    account: &AccountRow,
    kind: SessionKind,
) -> Result<IssuedSession, ApiError> {
    let now = Utc::now();
    let token = new_token();
    let csrf_token = new_csrf_token();
    let expires_at = now + kind.idle_timeout();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    sessions::insert_session(
        &mut ex,
        &sessions::NewSession {
            token_hash: &token_hash(&token),
            account: account.account_id(),
            kind: kind.as_str(),
            csrf_token: &csrf_token,
            expires_at,
        },
        now,
    )
    .await?;
    if kind != SessionKind::PendingTotp {
        let detail =
            serde_json::json!({ "session": kind.as_str(), "second_factor": account.totp_enabled });
        audit::append(
            &mut ex,
            &event("login_succeeded", Some(account), "success", detail),
            now,
        )
        .await?;
        forgive_attempt(&mut ex, &account.username).await?;
    }
    tx.commit().await?;
    Ok(IssuedSession {
        token,
        csrf_token,
        expires_at,
        account_id: account.account_id(),
        locale: account.locale.clone(),
    })
}

/// Signs in with a name and password (and a code, once enrolled).
pub async fn sign_in(
    state: &AppState,
    credentials: Credentials<'_>,
    kind: SessionKind,
) -> Result<LoginOutcome, ApiError> {
    let username = credentials.username;
    let account = {
        let mut conn = state.db.acquire().await?;
        accounts::find_account_by_username(&mut conn.exec(), username.as_str()).await?
    };
    claim_attempt(state, username, account.as_ref()).await?;
    let password_ok = password::verify(
        credentials.password,
        account.as_ref().map(|a| a.password_hash.as_str()),
    )
    .await?;
    let account = match account {
        Some(account) if password_ok && !account.is_disabled() => account,
        other => {
            let reason = match &other {
                None => "unknown_user",
                Some(a) if a.is_disabled() => "disabled",
                Some(_) => "wrong_password",
            };
            record_failure(state, username, other.as_ref(), reason).await?;
            return Err(ApiError::InvalidCredentials);
        }
    };
    if account.totp_enabled {
        match credentials.totp {
            None if kind == SessionKind::Browser => {
                let pending = issue_session(state, &account, SessionKind::PendingTotp).await?;
                return Ok(LoginOutcome::NeedsTotp {
                    pending_token: pending.token,
                });
            }
            None => return Err(ApiError::TotpRequired),
            Some(code) => {
                if !verify_totp(state, &account, code).await? {
                    record_failure(state, username, Some(&account), "wrong_totp").await?;
                    return Err(ApiError::InvalidTotp);
                }
            }
        }
    }
    Ok(LoginOutcome::SignedIn(
        issue_session(state, &account, kind).await?,
    ))
}

/// Browser flow, second step: trade a pending token and a code for a real session.
pub async fn complete_totp(
    state: &AppState,
    pending_token: &str,
    code: &str,
) -> Result<IssuedSession, ApiError> {
    let hash = token_hash(pending_token);
    let now = Utc::now();
    let account = {
        let mut conn = state.db.acquire().await?;
        let mut ex = conn.exec();
        let row = sessions::find_session(&mut ex, &hash)
            .await?
            .ok_or(ApiError::SessionExpired)?;
        if row.kind != SessionKind::PendingTotp.as_str()
            || row.revoked_at.is_some()
            || now >= row.expires_at
        {
            return Err(ApiError::SessionExpired);
        }
        accounts::find_account(&mut ex, AccountId(row.account_id))
            .await?
            .ok_or(ApiError::SessionExpired)?
    };
    let username = Username::parse(&account.username)?;
    claim_attempt(state, &username, Some(&account)).await?;
    if account.is_disabled() {
        return Err(ApiError::SessionExpired);
    }
    if !verify_totp(state, &account, code).await? {
        record_failure(state, &username, Some(&account), "wrong_totp").await?;
        return Err(ApiError::InvalidTotp);
    }
    // Trade the pending token in exactly once, even if the form is sent twice at once.
    let traded = {
        let mut conn = state.db.acquire().await?;
        sessions::revoke_session(&mut conn.exec(), &hash, now).await?
    };
    if !traded {
        return Err(ApiError::SessionExpired);
    }
    issue_session(state, &account, SessionKind::Browser).await
}

/// Ends one session or token, auditing it.
pub async fn sign_out(
    state: &AppState,
    account: AccountId,
    token_hash: &[u8],
) -> Result<(), ApiError> {
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    let home = accounts::find_account(&mut ex, account).await?;
    if sessions::revoke_session(&mut ex, token_hash, now).await? {
        audit::append(
            &mut ex,
            &event(
                "session_revoked",
                home.as_ref(),
                "success",
                serde_json::json!({ "reason": "logout" }),
            ),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    state.sessions.forget(token_hash);
    Ok(())
}

/// Ends every session and token of an account (password change, role change, disable),
/// auditing it in the caller's transaction.
pub async fn revoke_everywhere(
    ex: &mut Exec<'_>,
    account: &AccountRow,
    actor: Option<AccountId>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, ApiError> {
    let revoked = sessions::revoke_all_sessions(ex, account.account_id(), now).await?;
    let mut ev = event(
        "sessions_revoked",
        Some(account),
        "success",
        serde_json::json!({ "reason": reason, "count": revoked }),
    );
    ev.actor = actor.map(|a| a.0).or(Some(account.id));
    audit::append(ex, &ev, now).await?;
    Ok(revoked)
}

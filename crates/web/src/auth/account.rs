//! What a signed-in account does to itself: language, password, second factor. Shared by
//! the API and the pages so both behave the same.

use chrono::Utc;
use linli_domain::auth::{NewPassword, Username};
use linli_domain::locale::Locale;
use linli_store::audit::{self, AuditEvent};
use linli_store::auth as accounts;

use crate::auth::login::revoke_everywhere;
use crate::auth::{Principal, password, totp};
use crate::context;
use crate::error::ApiError;
use crate::state::AppState;

fn self_event(principal: &Principal, action: &str, detail: serde_json::Value) -> AuditEvent {
    AuditEvent {
        community: principal.home_community,
        actor: Some(principal.account_id.0),
        actor_ip: context::client_ip(),
        request_id: context::request_id(),
        action: action.to_owned(),
        object_type: "account".to_owned(),
        object_id: Some(principal.account_id.to_string()),
        outcome: "success".to_owned(),
        detail,
    }
}

pub async fn set_locale(
    state: &AppState,
    principal: &Principal,
    locale: Locale,
) -> Result<(), ApiError> {
    let mut conn = state.db.acquire().await?;
    accounts::set_locale(&mut conn.exec(), principal.account_id, locale.as_str()).await?;
    state.sessions.forget_account(principal.account_id.0);
    Ok(())
}

/// Changes the password after checking the current one, and ends every session and token
/// (this one included): whoever might have known the old password is signed out.
pub async fn change_password(
    state: &AppState,
    principal: &Principal,
    current: &str,
    new: &str,
) -> Result<(), ApiError> {
    let account = {
        let mut conn = state.db.acquire().await?;
        accounts::find_account(&mut conn.exec(), principal.account_id)
            .await?
            .ok_or(ApiError::SessionExpired)?
    };
    // Whoever holds a stolen session must not get unlimited guesses at the password.
    let username = Username::parse(&account.username)?;
    crate::auth::login::claim_attempt(state, &username, Some(&account)).await?;
    if current.chars().count() > NewPassword::MAX_LEN
        || !password::verify(current, Some(&account.password_hash)).await?
    {
        crate::auth::login::record_failure(
            state,
            &username,
            Some(&account),
            "wrong_current_password",
        )
        .await?;
        return Err(ApiError::InvalidField {
            field: "current_password",
            message: "the current password is wrong".to_owned(),
        });
    }
    let new = NewPassword::parse(new, &username).map_err(|e| ApiError::InvalidField {
        field: "new_password",
        message: e.to_string(),
    })?;
    let hash = password::hash(&new).await?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    accounts::set_password_hash(&mut ex, principal.account_id, &hash, now).await?;
    audit::append(
        &mut ex,
        &self_event(principal, "password_changed", serde_json::json!({})),
        now,
    )
    .await?;
    revoke_everywhere(
        &mut ex,
        &account,
        Some(principal.account_id),
        "password_changed",
        now,
    )
    .await?;
    crate::auth::login::forgive_attempt(&mut ex, &account.username).await?;
    tx.commit().await?;
    state.sessions.forget_account(principal.account_id.0);
    Ok(())
}

/// A second factor waiting for its first code.
pub struct PendingEnrolment {
    pub secret_base32: String,
    pub otpauth_url: String,
}

/// Starts (or restarts) enrolment: a new secret is stored sealed, not yet enabled.
pub async fn start_totp_enrolment(
    state: &AppState,
    principal: &Principal,
) -> Result<PendingEnrolment, ApiError> {
    if principal.totp_enabled {
        return Err(ApiError::Conflict {
            code: "totp_already_enrolled",
            message: "a second factor is already enrolled".to_owned(),
        });
    }
    let secret = totp::new_secret();
    let sealed = state
        .data_key
        .seal(&totp::sealing_purpose(principal.account_id.0), &secret);
    let mut conn = state.db.acquire().await?;
    accounts::set_totp(&mut conn.exec(), principal.account_id, Some(sealed), false).await?;
    Ok(PendingEnrolment {
        secret_base32: totp::secret_for_display(&secret),
        otpauth_url: totp::provisioning_url(&secret, &principal.username)
            .ok_or_else(|| ApiError::internal(anyhow::anyhow!("cannot build otpauth URL")))?,
    })
}

/// Enables the pending second factor once the app shows a matching code.
pub async fn confirm_totp_enrolment(
    state: &AppState,
    principal: &Principal,
    code: &str,
) -> Result<(), ApiError> {
    let account = {
        let mut conn = state.db.acquire().await?;
        accounts::find_account(&mut conn.exec(), principal.account_id)
            .await?
            .ok_or(ApiError::SessionExpired)?
    };
    if account.totp_enabled {
        return Err(ApiError::Conflict {
            code: "totp_already_enrolled",
            message: "a second factor is already enrolled".to_owned(),
        });
    }
    let sealed = account
        .totp_secret_enc
        .as_deref()
        .ok_or(ApiError::Conflict {
            code: "totp_not_started",
            message: "start enrolment first".to_owned(),
        })?;
    let secret = totp::open_secret(&state.data_key, account.id, sealed).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "TOTP secret does not open with this data key"
        ))
    })?;
    let step = totp::matching_step(&secret, code).ok_or(ApiError::InvalidTotp)?;
    let now = Utc::now();
    let mut tx = state.db.begin().await?;
    let mut ex = tx.exec();
    accounts::set_totp(&mut ex, principal.account_id, Some(sealed.to_vec()), true).await?;
    accounts::claim_totp_step(&mut ex, principal.account_id, step as i64).await?;
    audit::append(
        &mut ex,
        &self_event(principal, "totp_enrolled", serde_json::json!({})),
        now,
    )
    .await?;
    tx.commit().await?;
    state.sessions.forget_account(principal.account_id.0);
    Ok(())
}

//! argon2id password hashing, run off the async threads because it is deliberately slow.

use std::sync::LazyLock;

use tokio::sync::Semaphore;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use linli_domain::auth::NewPassword;

use crate::error::ApiError;

/// A hash of a random password, verified against when the username is unknown so that an
/// unknown name costs the same time as a wrong password.
static DECOY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random = hex::encode(crate::crypto::random_bytes::<16>());
    hash_blocking(&random).expect("hashing a random password succeeds")
});

/// argon2id with the default parameters takes 19 MiB and tens of milliseconds per hash.
/// Running more at once than there are cores only adds memory, so a flood of sign-ins
/// queues here instead of growing one blocking thread (and 19 MiB) per request.
static HASHING_SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    Semaphore::new(cores.max(2))
});

/// Runs a hashing job on the blocking pool once a slot is free.
async fn with_hashing_slot<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    let _slot = HASHING_SLOTS.acquire().await.map_err(ApiError::internal)?;
    tokio::task::spawn_blocking(job)
        .await
        .map_err(ApiError::internal)
}

fn hash_blocking(password: &str) -> Result<String, argon2::password_hash::Error> {
    Ok(Argon2::default()
        .hash_password(password.as_bytes())?
        .to_string())
}

fn verify_blocking(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Hashes a password that passed the policy (argon2id, default OWASP parameters, random salt).
pub async fn hash(password: &NewPassword) -> Result<String, ApiError> {
    let password = password.expose().to_owned();
    with_hashing_slot(move || hash_blocking(&password))
        .await?
        .map_err(|e| ApiError::internal(anyhow::anyhow!("password hashing failed: {e}")))
}

/// Same as [`hash`] for callers outside a runtime (the command line).
pub fn hash_now(password: &NewPassword) -> anyhow::Result<String> {
    hash_blocking(password.expose()).map_err(|e| anyhow::anyhow!("password hashing failed: {e}"))
}

/// Checks a password against a stored hash, or against the decoy when there is none.
pub async fn verify(password: &str, hash: Option<&str>) -> Result<bool, ApiError> {
    let password = password.to_owned();
    let known = hash.is_some();
    let hash = hash
        .map(str::to_owned)
        .unwrap_or_else(|| DECOY_HASH.clone());
    let ok = with_hashing_slot(move || verify_blocking(&password, &hash)).await?;
    Ok(ok && known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli_domain::auth::Username;

    #[test]
    fn hashes_are_argon2id_and_verify() {
        let user = Username::parse("wangwu").unwrap();
        let pw = NewPassword::parse("邻里守望相助", &user).unwrap_err();
        assert!(matches!(
            pw,
            linli_domain::auth::AuthRuleError::PasswordTooShort { .. }
        ));
        let pw = NewPassword::parse("邻里守望相助一家亲", &user).unwrap();
        let hash = hash_now(&pw).unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_blocking("邻里守望相助一家亲", &hash));
        assert!(!verify_blocking("邻里守望相助一家", &hash));
    }
}

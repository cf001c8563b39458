//! Session and API token secrets. The client holds the secret; the database holds only
//! its SHA-256, which is enough to find the session and useless for signing in.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::crypto::random_bytes;

/// Prefix of every Linli secret, so secret scanners and people recognise a leaked one.
pub const TOKEN_PREFIX: &str = "lnl_";

/// A fresh 256-bit secret, printable.
pub fn new_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// A fresh CSRF token (not a credential on its own).
pub fn new_csrf_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<24>())
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Compares two secrets in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

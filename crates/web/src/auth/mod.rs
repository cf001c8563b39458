//! Signing in and out, sessions and tokens, second factors, and the authorization gate.

pub mod account;
pub mod csrf;
pub mod login;
pub mod password;
pub mod principal;
pub mod session_cache;
pub mod tokens;
pub mod totp;

pub use principal::{Deny, Principal};

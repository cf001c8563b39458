//! Linli's storage layer.
//!
//! One code path for two engines: every query is a sea-query statement rendered at run time
//! for SQLite (the embedded default) or PostgreSQL (scale-out). Hand-written SQL appears
//! only where the engines truly differ, next to its twin. Each module mirrors a domain
//! module and exposes plain async functions over an [`Exec`], so the same function runs
//! inside or outside a transaction.

pub mod audit;
pub mod auth;
pub mod check;
pub mod db;
pub mod engagement;
pub mod error;
pub mod jobs;
pub mod lite;
pub mod matters;
pub mod mediation;
pub mod outbox;
pub mod page;
mod pg_lane;
pub mod points;
pub mod registry;
mod run;
mod schema;
pub mod sessions;
pub mod tenancy;
pub mod throttle;
pub mod volunteering;

pub use db::{Conn, Db, Engine, Exec, Tx};
pub use error::StoreError;
pub use page::{PageOf, PageRequest};

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

use thiserror::Error;

/// What the engine reported, kept for logs (sqlx's or, on the direct SQLite lane,
/// rusqlite's error).
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// Storage failures, sorted by what the caller can do about them.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached right now (down, restarting, pool exhausted, locked).
    /// Callers answer 503 with `Retry-After`; the pool reconnects by itself.
    #[error("the database is unavailable")]
    Unavailable(#[source] Cause),
    /// A unique key already holds this value.
    #[error("a record with the same key already exists")]
    Conflict(#[source] Cause),
    /// A row refers to something that does not exist.
    #[error("a referenced record does not exist")]
    ForeignKey(#[source] Cause),
    #[error("database error")]
    Database(#[source] Cause),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data that our own code could not have written (a corrupt or tampered row).
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("unsupported database URL (use sqlite://… or postgres://…)")]
    UnsupportedUrl,
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &error {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                StoreError::Unavailable(Box::new(error))
            }
            E::Database(db) => {
                if db.is_unique_violation() {
                    return StoreError::Conflict(Box::new(error));
                }
                if db.is_foreign_key_violation() {
                    return StoreError::ForeignKey(Box::new(error));
                }
                let code = db.code().unwrap_or_default();
                // SQLite reports extended codes (e.g. 517 = BUSY_SNAPSHOT): the primary code
                // is the low byte.
                let is_sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
                let sqlite_primary = code
                    .parse::<i32>()
                    .ok()
                    .filter(|_| is_sqlite)
                    .map(|c| c & 0xff);
                if code.starts_with("08")
                    || code.starts_with("57P")
                    || matches!(sqlite_primary, Some(5 | 6))
                {
                    StoreError::Unavailable(Box::new(error))
                } else {
                    StoreError::Database(Box::new(error))
                }
            }
            _ => StoreError::Database(Box::new(error)),
        }
    }
}

impl StoreError {
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

//! One way to write a transaction's statements for both write paths: sqlx (PostgreSQL, and
//! SQLite outside the hot paths) and the direct SQLite lane's group-commit writer.
//!
//! Why: the ledger's rules — chain, balances, idempotency — must be written once. A
//! function generic over [`Run`] is async; on sqlx it awaits the engine, and on the lane
//! ([`LiteRun`]) every statement completes synchronously, so the whole future finishes on
//! its first poll inside the writer thread ([`finish_now`]).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rusqlite::Connection;
use rusqlite::types::FromSql;
use sea_query::{QueryStatementWriter, SelectStatement};
use sea_query_sqlx::SqlxBinder;

use crate::db::Record;
use crate::{Exec, Result, StoreError};

/// A row type the lane can decode the way sqlx does (see [`crate::lite::decode`]).
pub(crate) trait FromLite: Sized {
    fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

impl<A: FromSql> FromLite for (A,) {
    fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?,))
    }
}

impl<A: FromSql, B: FromSql> FromLite for (A, B) {
    fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?))
    }
}

impl<A: FromSql, B: FromSql, C: FromSql> FromLite for (A, B, C) {
    fn from_lite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    }
}

/// Rows both write paths decode.
pub(crate) trait RunRow: Record + FromLite {}
impl<T: Record + FromLite> RunRow for T {}

/// Somewhere a write transaction's statements run.
pub(crate) trait Run {
    /// Runs a statement and returns the number of rows it touched.
    async fn execute<S>(&mut self, stmt: &S) -> Result<u64>
    where
        S: SqlxBinder + QueryStatementWriter;

    async fn fetch_optional<T: RunRow>(&mut self, stmt: &SelectStatement) -> Result<Option<T>>;

    async fn fetch_all<T: RunRow>(&mut self, stmt: &SelectStatement) -> Result<Vec<T>>;

    /// Runs a write with a `RETURNING` clause and decodes the row it returns, if it
    /// touched one: a value read back in the same statement that changed it.
    async fn returning<T, S>(&mut self, stmt: &S) -> Result<Option<T>>
    where
        T: RunRow,
        S: SqlxBinder + QueryStatementWriter;

    async fn fetch_one<T: RunRow>(&mut self, stmt: &SelectStatement) -> Result<T> {
        self.fetch_optional(stmt)
            .await?
            .ok_or_else(|| StoreError::Database(Box::new(sqlx::Error::RowNotFound)))
    }
}

impl Run for Exec<'_> {
    async fn execute<S>(&mut self, stmt: &S) -> Result<u64>
    where
        S: SqlxBinder + QueryStatementWriter,
    {
        Exec::execute(self, stmt).await
    }

    async fn fetch_optional<T: RunRow>(&mut self, stmt: &SelectStatement) -> Result<Option<T>> {
        Exec::fetch_optional(self, stmt).await
    }

    async fn fetch_all<T: RunRow>(&mut self, stmt: &SelectStatement) -> Result<Vec<T>> {
        Exec::fetch_all(self, stmt).await
    }

    async fn returning<T, S>(&mut self, stmt: &S) -> Result<Option<T>>
    where
        T: RunRow,
        S: SqlxBinder + QueryStatementWriter,
    {
        Exec::fetch_optional(self, stmt).await
    }
}

/// The lane writer's connection, inside its group-commit transaction.
pub(crate) struct LiteRun<'c>(pub &'c Connection);

impl Run for LiteRun<'_> {
    async fn execute<S>(&mut self, stmt: &S) -> Result<u64>
    where
        S: SqlxBinder + QueryStatementWriter,
    {
        crate::lite::execute(self.0, stmt)
    }

    async fn fetch_optional<T: RunRow>(&mut self, stmt: &SelectStatement) -> Result<Option<T>> {
        Ok(crate::lite::fetch_all(self.0, stmt, T::from_lite)?
            .into_iter()
            .next())
    }

    async fn fetch_all<T: RunRow>(&mut self, stmt: &SelectStatement) -> Result<Vec<T>> {
        crate::lite::fetch_all(self.0, stmt, T::from_lite)
    }

    async fn returning<T, S>(&mut self, stmt: &S) -> Result<Option<T>>
    where
        T: RunRow,
        S: SqlxBinder + QueryStatementWriter,
    {
        Ok(crate::lite::fetch_all(self.0, stmt, T::from_lite)?
            .into_iter()
            .next())
    }
}

/// Drives a future built on [`LiteRun`] to its end on this thread. Such a future never
/// waits, so one poll finishes it; anything else is a programming error (an await on
/// something other than the lane), which the lane's writer turns into a failed write.
pub(crate) fn finish_now<T>(work: impl Future<Output = Result<T>>) -> Result<T> {
    let mut work = pin!(work);
    match work.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(outcome) => outcome,
        Poll::Pending => panic!("a write on the SQLite lane awaited something else"),
    }
}

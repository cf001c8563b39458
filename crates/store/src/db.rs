//! The connection to one of the two engines, and the handful of query primitives every
//! repository function uses.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};
use sea_query_sqlx::SqlxBinder;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{
    AssertSqlSafe, FromRow, PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool,
};

use crate::lite::Lite;
use crate::matters::pg_reports::ReportBatch;
use crate::points::lite_ledger::LiteLedger;
use crate::points::pg_ledger::LedgerBatch;
use crate::{Result, StoreError};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a pooled connection before it is told to come back later.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// sqlx connections to a SQLite database (each runs on its own thread).
const SQLITE_POOL: u32 = 8;
/// How long SQLite waits on a competing writer before reporting "busy".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A pool on one engine. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(SqlitePool, SqliteLane),
    Postgres(PgPool, PgLane),
}

/// What a PostgreSQL database adds to its sqlx pool: the group commits of new matters and
/// of ledger requests.
#[derive(Debug, Clone)]
pub struct PgLane {
    reports: ReportBatch,
    ledger: LedgerBatch,
}

/// Serialises this process's SQLite write transactions in a fair queue. SQLite admits one
/// writer at a time anyway; without this, writers that find the database locked retry on
/// SQLite's busy handler, which sleeps in growing steps (up to 100 ms), so under load a
/// write waits far longer than the writes ahead of it take.
#[derive(Debug, Clone, Default)]
pub struct WriteLock(Arc<tokio::sync::Mutex<()>>);

impl WriteLock {
    /// Waits for this process's SQLite writer slot from a plain thread (the group-commit
    /// writer of [`Lite`]).
    pub(crate) fn blocking_place(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.0.blocking_lock()
    }
}

/// What a SQLite database adds to its sqlx pool: the writer queue both paths share, and
/// the direct lane for the hot paths.
#[derive(Debug, Clone)]
pub struct SqliteLane {
    lock: WriteLock,
    lite: Lite,
    ledger: LiteLedger,
}

/// Rows that decode on both engines (derive `sqlx::FromRow`).
pub trait Record:
    for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}
impl<T> Record for T where
    T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin
{
}

impl Db {
    /// Opens a pool for `sqlite://path` (created if missing) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Db> {
        if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| StoreError::UnsupportedUrl)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Ledger entries and votes must survive power loss (DESIGN §3).
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                // Refreshes the planner's statistics when they are stale (SQLite's advice
                // for long-lived connections); without them a search by phone would walk
                // the whole community in id order instead of using the phone index.
                .pragma("optimize", "0x10002")
                // Checkpoints are the direct lane's checkpoint thread's alone (see
                // `lite::run_checkpoints`). SQLite's automatic one runs inside the COMMIT
                // that finds the WAL past 1,000 pages, which under a write load is every
                // sqlx commit: it copied the whole backlog there, holding this process's
                // write slot for 210–260 ms while every write queued behind it (the job
                // queue's claim, once a minute, measured).
                .pragma("wal_autocheckpoint", "0");
            // One connection first, alone: on a new file it switches the journal to WAL,
            // which needs the file to itself; eight opening at once could find it locked.
            use sqlx::Connection as _;
            SqliteConnection::connect_with(&options)
                .await?
                .close()
                .await?;
            // Every connection opens at start-up and stays: opening one runs `PRAGMA
            // optimize`, which may write statistics, and under a steady write load it then
            // waited seconds for a turn at the write lock (seen in the submit benchmark).
            let pool = SqlitePoolOptions::new()
                .max_connections(SQLITE_POOL)
                .min_connections(SQLITE_POOL)
                .idle_timeout(None)
                .max_lifetime(None)
                // A connection to a local file does not go stale; testing it would cost a
                // round trip to its worker thread on every acquire.
                .test_before_acquire(false)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await?;
            let lock = WriteLock::default();
            let lite = Lite::open(options.get_filename(), lock.clone())?;
            let ledger = LiteLedger::new(lite.clone());
            Ok(Db::Sqlite(pool, SqliteLane { lock, lite, ledger }))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options =
                PgConnectOptions::from_str(url).map_err(|_| StoreError::UnsupportedUrl)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect_with(options.clone())
                .await?;
            let reports = ReportBatch::start(options.clone());
            let ledger = LedgerBatch::start(options);
            Ok(Db::Postgres(pool, PgLane { reports, ledger }))
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// PostgreSQL's group commit of new matters; `None` on SQLite.
    pub(crate) fn pg_reports(&self) -> Option<&ReportBatch> {
        match self {
            Db::Postgres(_, lane) => Some(&lane.reports),
            Db::Sqlite(..) => None,
        }
    }

    /// PostgreSQL's group commit of ledger requests; `None` on SQLite.
    pub(crate) fn pg_ledger(&self) -> Option<&LedgerBatch> {
        match self {
            Db::Postgres(_, lane) => Some(&lane.ledger),
            Db::Sqlite(..) => None,
        }
    }

    /// SQLite's queue of ledger requests; `None` on PostgreSQL.
    pub(crate) fn lite_ledger(&self) -> Option<&LiteLedger> {
        match self {
            Db::Sqlite(_, lane) => Some(&lane.ledger),
            Db::Postgres(..) => None,
        }
    }

    /// SQLite: how many ledger batches failed as a whole and had their requests run again
    /// one by one. Rare by design (a request the database refuses); a count that grows
    /// with ordinary requests means the in-memory planning disagrees with the schema, which
    /// the retry hides from every answer. `None` on PostgreSQL.
    pub fn ledger_batches_run_again(&self) -> Option<u64> {
        self.lite_ledger().map(LiteLedger::batches_run_again)
    }

    /// The direct SQLite lane (see [`crate::lite`]); `None` on PostgreSQL.
    pub fn lite(&self) -> Option<&Lite> {
        match self {
            Db::Sqlite(_, lane) => Some(&lane.lite),
            Db::Postgres(..) => None,
        }
    }

    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(..) => Engine::Sqlite,
            Db::Postgres(..) => Engine::Postgres,
        }
    }

    /// Applies every pending migration for this engine.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite(pool, _) => SQLITE_MIGRATIONS.run(pool).await?,
            Db::Postgres(pool, _) => POSTGRES_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    pub async fn acquire(&self) -> Result<Conn> {
        Ok(match self {
            Db::Sqlite(pool, _) => Conn::Sqlite(pool.acquire().await?),
            Db::Postgres(pool, _) => Conn::Postgres(pool.acquire().await?),
        })
    }

    /// Starts a write transaction. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so two writers queue instead of failing half-way.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(pool, lane) => {
                let place = lane.lock.0.clone().lock_owned().await;
                Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?, Some(place))
            }
            Db::Postgres(pool, _) => Tx::Postgres(pool.begin().await?),
        })
    }

    /// Starts a read-only transaction that sees one consistent snapshot (for `linli check`
    /// on a live database, so appends made meanwhile cannot look like breaks).
    pub async fn begin_snapshot(&self) -> Result<Tx> {
        Ok(match self {
            Db::Sqlite(pool, _) => Tx::Sqlite(pool.begin_with("BEGIN").await?, None),
            Db::Postgres(pool, _) => Tx::Postgres(
                pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await?,
            ),
        })
    }

    /// Refreshes the query planner's statistics after a bulk load (the demo, a large
    /// import), so the indexes made for selective lookups are used at once.
    pub async fn analyze(&self) -> Result<()> {
        let mut conn = self.acquire().await?;
        // Full statistics: sampled ones (analysis_limit) misjudge indexes that lead with
        // community_id and pick the wrong plan.
        conn.exec().execute_raw("ANALYZE").await?;
        Ok(())
    }

    /// Refreshes the planner's statistics of a few tables in the middle of a bulk load on
    /// PostgreSQL, where `autovacuum` may be off and cannot see a load's rows before they
    /// commit anyway. Without it, statements planned while the tables were empty keep
    /// plans made for empty tables: nested loops over whole tables that cost seconds once
    /// the load has filled them. SQLite plans from its indexes alone and needs nothing.
    /// `analyze` is an `ANALYZE table, …` statement written in the code.
    pub async fn analyze_tables(&self, analyze: &'static str) -> Result<()> {
        if self.lite().is_some() {
            return Ok(());
        }
        let mut conn = self.acquire().await?;
        conn.exec().execute_raw(analyze).await?;
        Ok(())
    }

    /// A cheap round trip, used by `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        let mut conn = self.acquire().await?;
        conn.exec().execute_raw("SELECT 1").await?;
        Ok(())
    }

    /// The SQLite settings in force, printed at start-up so an operator can see them.
    pub async fn sqlite_pragmas(&self) -> Result<Vec<(String, String)>> {
        let Db::Sqlite(pool, _) = self else {
            return Ok(Vec::new());
        };
        let mut conn = pool.acquire().await?;
        let (journal_mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
            .fetch_one(&mut *conn)
            .await?;
        let (synchronous,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&mut *conn)
            .await?;
        let (foreign_keys,): (i64,) = sqlx::query_as("PRAGMA foreign_keys")
            .fetch_one(&mut *conn)
            .await?;
        let (busy_timeout,): (i64,) = sqlx::query_as("PRAGMA busy_timeout")
            .fetch_one(&mut *conn)
            .await?;
        let synchronous = match synchronous {
            0 => "OFF",
            1 => "NORMAL",
            2 => "FULL",
            3 => "EXTRA",
            _ => "?",
        };
        let out = vec![
            ("journal_mode".to_owned(), journal_mode),
            ("synchronous".to_owned(), synchronous.to_owned()),
            ("foreign_keys".to_owned(), (foreign_keys == 1).to_string()),
            ("busy_timeout".to_owned(), format!("{busy_timeout} ms")),
        ];
        Ok(out)
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(pool, lane) => {
                lane.lite.close();
                pool.close().await
            }
            Db::Postgres(pool, _) => pool.close().await,
        }
    }
}

/// One pooled connection.
pub enum Conn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl Conn {
    pub fn exec(&mut self) -> Exec<'_> {
        match self {
            Conn::Sqlite(c) => Exec::Sqlite(c),
            Conn::Postgres(c) => Exec::Postgres(c),
        }
    }
}

/// An open transaction: commit it, or drop it to roll back. A SQLite write transaction
/// holds its place in the write queue until it ends (fields drop in order: the
/// transaction, then the queue place).
pub enum Tx {
    Sqlite(
        sqlx::Transaction<'static, Sqlite>,
        Option<tokio::sync::OwnedMutexGuard<()>>,
    ),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

impl Tx {
    pub fn exec(&mut self) -> Exec<'_> {
        match self {
            Tx::Sqlite(t, _) => Exec::Sqlite(t),
            Tx::Postgres(t) => Exec::Postgres(t),
        }
    }

    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t, _) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Somewhere to run statements: a pooled connection or a transaction.
pub enum Exec<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl Exec<'_> {
    pub fn engine(&self) -> Engine {
        match self {
            Exec::Sqlite(_) => Engine::Sqlite,
            Exec::Postgres(_) => Engine::Postgres,
        }
    }

    pub async fn fetch_optional<T: Record, S: SqlxBinder>(
        &mut self,
        stmt: &S,
    ) -> Result<Option<T>> {
        Ok(match self {
            Exec::Sqlite(c) => {
                let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values)
                    .fetch_optional(&mut **c)
                    .await?
            }
            Exec::Postgres(c) => {
                let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values)
                    .fetch_optional(&mut **c)
                    .await?
            }
        })
    }

    pub async fn fetch_one<T: Record, S: SqlxBinder>(&mut self, stmt: &S) -> Result<T> {
        self.fetch_optional(stmt)
            .await?
            .ok_or_else(|| StoreError::Database(Box::new(sqlx::Error::RowNotFound)))
    }

    pub async fn fetch_all<T: Record, S: SqlxBinder>(&mut self, stmt: &S) -> Result<Vec<T>> {
        Ok(match self {
            Exec::Sqlite(c) => {
                let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values)
                    .fetch_all(&mut **c)
                    .await?
            }
            Exec::Postgres(c) => {
                let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                sqlx::query_as_with::<_, T, _>(AssertSqlSafe(sql), values)
                    .fetch_all(&mut **c)
                    .await?
            }
        })
    }

    /// Runs a statement and returns the number of rows it touched.
    pub async fn execute<S: SqlxBinder>(&mut self, stmt: &S) -> Result<u64> {
        Ok(match self {
            Exec::Sqlite(c) => {
                let (sql, values) = stmt.build_sqlx(SqliteQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .execute(&mut **c)
                    .await?
                    .rows_affected()
            }
            Exec::Postgres(c) => {
                let (sql, values) = stmt.build_sqlx(PostgresQueryBuilder);
                sqlx::query_with(AssertSqlSafe(sql), values)
                    .execute(&mut **c)
                    .await?
                    .rows_affected()
            }
        })
    }

    /// Runs a constant statement that takes no parameters (and so cannot carry input).
    pub async fn execute_raw(&mut self, sql: &'static str) -> Result<u64> {
        Ok(match self {
            Exec::Sqlite(c) => sqlx::query(sql).execute(&mut **c).await?.rows_affected(),
            Exec::Postgres(c) => sqlx::query(sql).execute(&mut **c).await?.rows_affected(),
        })
    }

    /// Runs a constant query on whichever engine this is, decoding rows into `T`.
    pub async fn fetch_all_raw<T: Record>(
        &mut self,
        sqlite: &'static str,
        postgres: &'static str,
    ) -> Result<Vec<T>> {
        Ok(match self {
            Exec::Sqlite(c) => sqlx::query_as::<_, T>(sqlite).fetch_all(&mut **c).await?,
            Exec::Postgres(c) => sqlx::query_as::<_, T>(postgres).fetch_all(&mut **c).await?,
        })
    }
}

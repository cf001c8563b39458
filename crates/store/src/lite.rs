//! A second, direct way into SQLite for the paths that carry the load: submitting a matter,
//! listing and searching matters (and, later, ledger writes).
//!
//! Why it exists: sqlx runs each SQLite connection on its own worker thread and hands every
//! statement and every result row across a channel, so a 50-row page costs dozens of thread
//! wake-ups; and each write transaction pays its own `fsync` (`synchronous=FULL`, about
//! 0.7 ms here), which caps a one-writer database near 1,400 commits a second. This module
//! talks to the same database file through rusqlite (the same bundled SQLite library sqlx
//! links), and:
//!
//! - reads on a small pool of connections, right on the calling task's thread, rows
//!   decoded in place (no thread hand-off at all);
//! - writes through one writer thread that *group-commits*: every write waiting when a
//!   transaction starts joins it, and one `COMMIT` — one `fsync` — makes the whole batch
//!   durable before anyone is answered. Durability is unchanged: nobody hears "done"
//!   before the commit. A failing write fails alone: the batch is rolled back and run
//!   again with each write in its own savepoint (savepoints are not the normal path: each
//!   one makes FTS5 flush its pending index to disk, a third of the writer's time).
//!
//! The writer takes the same [`WriteLock`] as sqlx's write transactions, so the two paths
//! queue for SQLite's single writer slot instead of failing on "database is locked".
//! Statements are still built with sea-query and bound as parameters; values are encoded
//! exactly as sqlx encodes them (UUIDs as 16-byte blobs, times as RFC 3339 text), so rows
//! written here read back through sqlx and the other way round.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::types::{Value as LiteValue, ValueRef};
use rusqlite::{Connection, OpenFlags, Row};
use sea_query::{SqliteQueryBuilder, Value};
use uuid::Uuid;

use crate::db::WriteLock;
use crate::{Result, StoreError};

/// Readers open at most; each is used by one read at a time.
const READERS: usize = 4;
/// Writes joined into one transaction at most (bounds the time a batch holds the lock).
const MAX_BATCH: usize = 512;
/// Prepared statements kept per connection (the hot paths use a handful of shapes).
const STATEMENT_CACHE: usize = 64;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The direct SQLite lane of one database. Cheap to clone.
#[derive(Clone)]
pub struct Lite(Arc<Inner>);

struct Inner {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    read_permits: tokio::sync::Semaphore,
    writes: Mutex<Option<mpsc::Sender<Box<dyn WriteJob>>>>,
    /// Dropped to stop the checkpoint thread.
    stop_checkpoints: Mutex<Option<mpsc::Sender<()>>>,
}

impl std::fmt::Debug for Lite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lite").field("path", &self.0.path).finish()
    }
}

impl Lite {
    /// Opens the lane on a database file sqlx has already created and migrated, and starts
    /// its writer thread.
    pub(crate) fn open(path: &Path, lock: WriteLock) -> Result<Lite> {
        Lite::open_with(path, lock, WAL_RESTART_AT)
    }

    /// [`Lite::open`] with the WAL size past which the checkpoint thread starts it over.
    fn open_with(path: &Path, lock: WriteLock, wal_limit: u64) -> Result<Lite> {
        let writer = open_connection(path, false)?;
        // Checkpoints run on their own thread (below), not inside a commit of the writer,
        // where each one stalled every write waiting behind it.
        writer.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        let checkpointer = open_connection(path, false)?;
        let (sender, jobs) = mpsc::channel::<Box<dyn WriteJob>>();
        let (stop, stopped) = mpsc::channel::<()>();
        let checkpoint_lock = lock.clone();
        let db_file = path.to_owned();
        spawn("linli-sqlite-writer", move || {
            run_writer(writer, jobs, lock)
        })?;
        spawn("linli-sqlite-checkpoint", move || {
            run_checkpoints(checkpointer, &db_file, checkpoint_lock, wal_limit, stopped)
        })?;
        Ok(Lite(Arc::new(Inner {
            path: path.to_owned(),
            readers: Mutex::new(Vec::new()),
            read_permits: tokio::sync::Semaphore::new(READERS),
            writes: Mutex::new(Some(sender)),
            stop_checkpoints: Mutex::new(Some(stop)),
        })))
    }

    /// Runs a read on a pooled reader connection, on the calling thread. A read in WAL mode
    /// never waits for the writer, so this blocks the async thread only for the read's own
    /// CPU time, which on this path (a page of a list, a search) is well under a
    /// millisecond to a few; handing it to the blocking pool instead measured 11 % fewer
    /// list pages a second (3,052 against 3,432). Do not send long scans through here.
    pub async fn read<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.0.read_permits.acquire().await.map_err(|_| closed())?;
        let inner = self.0.clone();
        let conn = match inner.readers().pop() {
            Some(conn) => conn,
            None => open_connection(&inner.path, true)?,
        };
        let outcome = work(&conn);
        inner.readers().push(conn);
        outcome
    }

    /// Runs a long read (a whole-table check) on a pooled reader connection, on the
    /// blocking pool so it does not hold up the async threads. `work` opens and ends its
    /// own read transaction if it needs one consistent snapshot.
    pub async fn read_long<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let conn = match inner.readers().pop() {
                Some(conn) => conn,
                None => open_connection(&inner.path, true)?,
            };
            let outcome = work(&conn);
            inner.readers().push(conn);
            outcome
        })
        .await
        .map_err(|_| closed())?
    }

    /// Runs a write in the next group commit and answers once it is durable. If it fails,
    /// its changes are undone and the others in the batch are unaffected. `work` may run
    /// twice (see [`commit_batch`]); only the run that commits counts, so keep it short
    /// and free of anything but SQL.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        F: Fn(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.write_then(work, move |outcome| {
            // The caller may have gone (request cancelled): the write stands regardless.
            let _ = reply.send(outcome);
        });
        answer.await.map_err(|_| closed())?
    }

    /// Like [`Lite::write`], but hands the outcome to `done` on the writer thread once the
    /// batch has committed (or failed), instead of to an awaiting task: for a write that
    /// answers many waiting requests at once (the ledger queue). `done` is called exactly
    /// once, with an error if the lane is closed; keep it to handing the outcome on.
    pub(crate) fn write_then<T, F, D>(&self, work: F, done: D)
    where
        F: Fn(&Connection) -> Result<T> + Send + 'static,
        T: Send + 'static,
        D: FnOnce(Result<T>) + Send + 'static,
    {
        let job = Box::new(Pending {
            work,
            outcome: None,
            done,
        });
        let writes = self.0.writes.lock().unwrap_or_else(|p| p.into_inner());
        let Some(writes) = writes.as_ref() else {
            return (job.done)(Err(closed()));
        };
        if let Err(mpsc::SendError(job)) = writes.send(job) {
            job.finish(Some("the database is closing"));
        }
    }

    /// Stops the writer once the writes already queued are done.
    pub(crate) fn close(&self) {
        self.0
            .writes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let checkpoints = &self.0.stop_checkpoints;
        checkpoints.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.0.readers().clear();
    }
}

impl Inner {
    fn readers(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.readers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn closed() -> StoreError {
    StoreError::Unavailable("the database is closing".into())
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // The same settings as the sqlx pool (`Db::connect`): WAL, durable commits, keys.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    if read_only {
        // A larger page cache than SQLite's 2 MiB default (64 MiB each, at most READERS
        // of them): list pages then rarely copy pages out of the OS cache. (Memory-mapping
        // the file measured no faster and turns an I/O error into SIGBUS.)
        conn.execute_batch("PRAGMA query_only = ON; PRAGMA cache_size = -65536;")?;
        // The query planner stability guarantee: a statement keeps its plan whatever is
        // bound to it. Without it, STAT4 makes SQLite re-plan a cached statement each
        // time a value is bound against an indexed column (every list request: about a
        // tenth of a list page's time, measured). The lane's statements have one good
        // plan each; the registry's searches, which do need value-dependent plans, run on
        // sqlx's connections.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
    }
    Ok(conn)
}

/// One queued write: runs inside the batch's transaction, then hears whether the batch
/// committed.
trait WriteJob: Send {
    /// Runs the write; `false` if it failed (its outcome is kept either way).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Runs the write in a savepoint of its own, undone if it fails.
    fn run_alone(&mut self, conn: &Connection);
    fn finish(self: Box<Self>, commit_failure: Option<&str>);
}

struct Pending<T, F, D> {
    work: F,
    outcome: Option<Result<T>>,
    done: D,
}

impl<T, F, D> WriteJob for Pending<T, F, D>
where
    F: Fn(&Connection) -> Result<T> + Send,
    T: Send,
    D: FnOnce(Result<T>) + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let outcome = guarded(|| (self.work)(conn));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn run_alone(&mut self, conn: &Connection) {
        self.outcome = Some(in_savepoint(conn, |conn| guarded(|| (self.work)(conn))));
    }

    fn finish(self: Box<Self>, commit_failure: Option<&str>) {
        let answer = match (commit_failure, self.outcome) {
            (Some(failure), _) => Err(StoreError::Unavailable(failure.to_owned().into())),
            (None, Some(outcome)) => outcome,
            (None, None) => Err(StoreError::Unavailable("the write did not run".into())),
        };
        (self.done)(answer);
    }
}

/// A write's outcome, with a panic turned into an error (the writer thread lives on).
fn guarded<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(outcome) => outcome,
        Err(_) => Err(StoreError::Corrupt("a write panicked".to_owned())),
    }
}

pub(crate) fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let outcome = work(conn);
    if outcome.is_err() {
        conn.prepare_cached("ROLLBACK TO job")?.execute([])?;
    }
    conn.prepare_cached("RELEASE job")?.execute([])?;
    outcome
}

/// The writer thread: takes every write waiting, runs them in one transaction, commits
/// once, answers them all. While a batch commits, the next one gathers.
fn run_writer(conn: Connection, jobs: mpsc::Receiver<Box<dyn WriteJob>>, lock: WriteLock) {
    while let Ok(first) = jobs.recv() {
        let waiting = std::time::Instant::now();
        let place = lock.blocking_place();
        let waited = waiting.elapsed();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let started = std::time::Instant::now();
        let outcome = commit_batch(&conn, &mut batch);
        // Where a write's time goes, for `LINLI_LOG=info,linli_store::lite=debug`: the
        // batch (its jobs and its commit) against what the requests waited in all, and
        // how long the writer waited for the write slot a sqlx transaction held.
        tracing::debug!(
            jobs = batch.len(),
            lock_wait_us = waited.as_micros() as u64,
            batch_us = started.elapsed().as_micros() as u64,
            commit_us = outcome
                .as_ref()
                .map_or(0, |commit| commit.as_micros() as u64),
            "write batch"
        );
        let failure = outcome.err();
        drop(place);
        let failure = failure.map(|e| e.to_string());
        for job in batch {
            job.finish(failure.as_deref());
        }
    }
}

/// How often the checkpoint thread copies committed pages from the WAL into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The WAL size past which the checkpoint thread holds the writer back to start it over.
/// Each restart holds every write for a moment (1–4 ms, measured); at 64 MB restarts
/// came every half second under a saturating award load and doubled the awards' p99
/// (an earlier design), so the limit is set where they come every few seconds at most,
/// and the file, reused from its start, stays near 600 MB (measured) instead of growing
/// by gigabytes a minute.
const WAL_RESTART_AT: u64 = 512 << 20;
/// Ticks without a write after which a WAL file grown past the limit is cut back (2 s):
/// a load that merely dips keeps the file, whose reuse costs less than new file space.
const IDLE_TICKS_BEFORE_CUT: u32 = 8;
/// Bytes a WAL frame adds to its page.
const WAL_FRAME_HEADER: u64 = 24;
/// Copy-and-sync rounds run ahead of a restart's hold: each leaves less for the hold,
/// about what was written during the round before.
const CATCH_UP_ROUNDS: usize = 2;

/// How a restart waits for readers still on older frames: in steps of 200 µs, 50 ms in
/// all, then it gives up (the writer is held meanwhile; the next tick tries again).
/// SQLite's own busy handler sleeps 1, 2, 5, 10 ms…, far longer than a read lasts here.
fn wait_for_readers(attempt: i32) -> bool {
    const STEP: Duration = Duration::from_micros(200);
    const STEPS: i32 = 250;
    std::thread::sleep(STEP);
    attempt < STEPS
}

/// Copies the WAL into the database file every [`CHECKPOINT_EVERY`] (PASSIVE: never waits
/// for, nor blocks, readers or the writer), so the WAL stays small without any commit
/// paying for it. sqlx's connections have SQLite's automatic checkpoints turned off too
/// (`Db::connect`): each one ran inside a commit and held the write slot meanwhile.
///
/// SQLite starts the WAL over only when a write begins with every frame already copied.
/// Under a write load that never pauses that never happens (the writer appends while the
/// copy runs), and the file grew while the load lasted: 2.5 GB in 20 s of awards,
/// measured. So once the WAL passes `wal_limit`, this thread takes the writer's slot (the
/// lock the writer and sqlx's write transactions share), copies what is left and starts
/// the WAL over (RESTART), then lets the writes go on at its start.
fn run_checkpoints(
    conn: Connection,
    db_file: &Path,
    lock: WriteLock,
    wal_limit: u64,
    stop: mpsc::Receiver<()>,
) {
    let frame_bytes = match conn.query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0)) {
        Ok(page) => page.max(512) as u64 + WAL_FRAME_HEADER,
        Err(_) => 4096 + WAL_FRAME_HEADER,
    };
    // The WAL's length when this thread last started it over: SQLite resets the count at
    // the next write, so until then the same length means there is nothing to restart.
    let mut restarted_at = None;
    // The WAL's length a tick ago (the same length now means nothing was written since),
    // and for how many ticks it has stayed so.
    let mut frames_before = None;
    let mut idle_ticks = 0u32;
    let wal_file = wal_file_of(db_file);
    let database = std::fs::File::open(db_file).ok();
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        let frames = match checkpoint(&conn, "PASSIVE") {
            Ok(frames) => frames,
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                continue;
            }
        };
        if let Some(file) = &database {
            start_writeback(file);
        }
        idle_ticks = match frames_before.replace(frames) == Some(frames) {
            true => idle_ticks.saturating_add(1),
            false => 0,
        };
        if frames.saturating_mul(frame_bytes) > wal_limit && restarted_at != Some(frames) {
            restarted_at = start_wal_over(&conn, db_file, &lock, WalRestart::Reuse);
        } else if idle_ticks >= IDLE_TICKS_BEFORE_CUT
            && std::fs::metadata(&wal_file).is_ok_and(|m| m.len() > wal_limit)
        {
            // The file keeps the size a burst gave it; once the writes have paused, give
            // the space back (the cut, a truncation of a large file, then holds no write).
            start_wal_over(&conn, db_file, &lock, WalRestart::Truncate);
        }
    }
}

/// Asks the kernel to start writing out the pages a checkpoint just copied into the
/// database file, without waiting for it.
///
/// Why: the kernel otherwise keeps them in memory until a restart's catch-up `fsync`
/// (every 2–3 s under a continuous submit load), which then wrote a few hundred megabytes
/// at once, and the writer's commit that happened to `fsync` the WAL meanwhile waited
/// 25–52 ms behind it, holding every request of its batch (docs/benchmarks.md). Started
/// after each checkpoint, the writes go out in small steps.
#[cfg(target_os = "linux")]
fn start_writeback(file: &std::fs::File) {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the call's duration; the call reads no memory.
    let done =
        unsafe { libc::sync_file_range(file.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE) };
    if done != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "could not start the database file's writeback");
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &std::fs::File) {}

/// The WAL file SQLite keeps beside a database.
fn wal_file_of(db_file: &Path) -> PathBuf {
    let mut wal = db_file.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

/// How the WAL is started over: from its start in the same file, or with the file cut
/// to nothing.
#[derive(Debug, Clone, Copy)]
enum WalRestart {
    Reuse,
    Truncate,
}

/// Runs a checkpoint; returns how many frames the WAL holds.
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<u64> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        row.get::<_, i64>(1)
    })
    .map(|frames| frames.max(0) as u64)
}

/// Holds the writer's slot while the WAL is copied to its end and started over (`how`);
/// returns how many frames the WAL held if it was started over. The hold lasts as long
/// as that copy and the database file's `fsync`, so both are made small first, without
/// holding anything: rounds of a copy and an `fsync` of the file. (Under load a copy
/// never reaches the WAL's end, and SQLite syncs the database only when one does; so
/// the restart's own `fsync` had every page copied since the last restart to write out:
/// 31–42 ms a hold, measured.)
fn start_wal_over(
    conn: &Connection,
    db_file: &Path,
    lock: &WriteLock,
    how: WalRestart,
) -> Option<u64> {
    for _ in 0..CATCH_UP_ROUNDS {
        if let Err(e) = checkpoint(conn, "PASSIVE") {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
        }
        // Any descriptor of the file flushes all its pages, whoever wrote them.
        if let Err(e) = std::fs::File::open(db_file).and_then(|file| file.sync_data()) {
            tracing::warn!(error = %e, "could not sync the database file");
        }
    }
    let waiting = std::time::Instant::now();
    let place = lock.blocking_place();
    let holding = std::time::Instant::now();
    let _ = conn.busy_handler(Some(wait_for_readers));
    let mode = match how {
        WalRestart::Reuse => "RESTART",
        WalRestart::Truncate => "TRUNCATE",
    };
    let outcome = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        Ok((
            row.get::<_, i64>(0)? == 0,
            row.get::<_, i64>(1)?.max(0) as u64,
        ))
    });
    let _ = conn.busy_timeout(BUSY_TIMEOUT);
    drop(place);
    match outcome {
        Ok((restarted, frames)) => {
            tracing::debug!(
                ?how,
                frames,
                restarted,
                slot_wait_us = (holding - waiting).as_micros() as u64,
                held_us = holding.elapsed().as_micros() as u64,
                "WAL restart"
            );
            restarted.then_some(frames)
        }
        Err(e) => {
            tracing::warn!(error = %e, "WAL restart failed; retrying");
            None
        }
    }
}

fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> Result<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
        .map(|_| ())
        .map_err(|e| StoreError::Unavailable(Box::new(e)))
}

/// Runs a batch in one transaction and commits it. Normally every write succeeds and
/// that is all. If one fails, nothing of the batch stays: it is rolled back and run again
/// with each write in its own savepoint, so the failed write is undone alone (a write's
/// failure can depend on the writes before it, e.g. two taking the same number, and
/// the second run decides in the same order). Returns how long the commit itself took.
fn commit_batch(conn: &Connection, batch: &mut [Box<dyn WriteJob>]) -> rusqlite::Result<Duration> {
    conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
    let all_ran = batch.iter_mut().all(|job| job.run(conn));
    if !all_ran {
        conn.prepare_cached("ROLLBACK")?.execute([])?;
        conn.prepare_cached("BEGIN IMMEDIATE")?.execute([])?;
        for job in batch.iter_mut() {
            job.run_alone(conn);
        }
    }
    merge_search_index_step(conn);
    let committing = std::time::Instant::now();
    if let Err(e) = conn.prepare_cached("COMMIT")?.execute([]) {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(e);
    }
    Ok(committing.elapsed())
}

/// Leaf pages of the matters' full-text index each batch merges before it commits.
///
/// FTS5's own merging ("automerge", turned off by migration 0012) comes in lumps: every 64
/// leaf pages written, 64 pages per level of the index, all inside the commit that crossed
/// the line. On a report load that was one group commit in forty, each stalling every
/// waiting report for 20–60 ms (submit p99 22–34 ms, against 15 ms with no index at all).
/// A few pages in every batch does the same merging evenly. FTS5 merges only a level
/// holding 4 segments or more, so a batch with nothing to merge pays one read of the
/// index's structure record; if merging falls behind, FTS5's crisis merge (16 segments on
/// one level) still bounds what a search reads.
const SEARCH_MERGE_PAGES: u32 = 32;

fn merge_search_index_step(conn: &Connection) {
    let step = conn
        .prepare_cached("INSERT INTO matter_search (matter_search, rank) VALUES ('merge', ?)")
        .and_then(|mut merge| merge.execute([SEARCH_MERGE_PAGES]));
    // A failed step undoes only itself: the batch commits, and the next batch merges.
    if let Err(e) = step {
        tracing::warn!(error = %e, "merging the matters' search index failed");
    }
}

/// A sea-query statement's SQL and its parameters as SQLite values, encoded as sqlx
/// encodes them.
pub(crate) fn build<S: sea_query::QueryStatementWriter>(stmt: &S) -> (String, Vec<LiteValue>) {
    let (sql, values) = stmt.build(SqliteQueryBuilder);
    (sql, values.into_iter().map(lite_value).collect())
}

fn lite_value(value: Value) -> LiteValue {
    use LiteValue as L;
    match value {
        Value::Bool(v) => v.map_or(L::Null, |b| L::Integer(i64::from(b))),
        Value::TinyInt(v) => v.map_or(L::Null, |n| L::Integer(n.into())),
        Value::SmallInt(v) => v.map_or(L::Null, |n| L::Integer(n.into())),
        Value::Int(v) => v.map_or(L::Null, |n| L::Integer(n.into())),
        Value::BigInt(v) => v.map_or(L::Null, L::Integer),
        Value::TinyUnsigned(v) => v.map_or(L::Null, |n| L::Integer(n.into())),
        Value::SmallUnsigned(v) => v.map_or(L::Null, |n| L::Integer(n.into())),
        Value::Unsigned(v) => v.map_or(L::Null, |n| L::Integer(n.into())),
        Value::BigUnsigned(v) => v.map_or(L::Null, |n| L::Integer(n as i64)),
        Value::Float(v) => v.map_or(L::Null, |n| L::Real(n.into())),
        Value::Double(v) => v.map_or(L::Null, L::Real),
        Value::String(v) => v.map_or(L::Null, L::Text),
        Value::Char(v) => v.map_or(L::Null, |c| L::Text(c.to_string())),
        Value::Bytes(v) => v.map_or(L::Null, L::Blob),
        Value::Uuid(v) => v.map_or(L::Null, |u| L::Blob(u.as_bytes().to_vec())),
        Value::Json(v) => v.map_or(L::Null, |j| L::Text(j.to_string())),
        Value::ChronoDateTimeUtc(v) => v.map_or(L::Null, |t| L::Text(time_text(&t))),
        Value::ChronoDate(v) => v.map_or(L::Null, |d| L::Text(d.format("%F").to_string())),
        other => unreachable!("no statement of Linli's binds {other:?}"),
    }
}

/// A time as sqlx writes it to SQLite.
pub(crate) fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A statement rendered to SQL and bound values ahead of time, on the caller's task, so
/// that the single writer thread only prepares (from its cache) and runs it. Rendering
/// and building the values (for a matter, its full-text terms) were a fifth of the
/// writer's time per report.
pub(crate) struct Built {
    sql: String,
    values: Vec<LiteValue>,
}

impl Built {
    pub(crate) fn new<S: sea_query::QueryStatementWriter>(stmt: &S) -> Built {
        let (sql, values) = build(stmt);
        Built { sql, values }
    }

    /// Runs the statement and returns the number of rows it changed.
    pub(crate) fn execute(&self, conn: &Connection) -> Result<u64> {
        let n = conn
            .prepare_cached(&self.sql)?
            .execute(rusqlite::params_from_iter(self.values.iter()))?;
        Ok(n as u64)
    }
}

/// Runs a statement and returns the number of rows it changed.
pub(crate) fn execute<S: sea_query::QueryStatementWriter>(
    conn: &Connection,
    stmt: &S,
) -> Result<u64> {
    Built::new(stmt).execute(conn)
}

/// Runs a query and decodes every row with `decode`.
pub(crate) fn fetch_all<S, T>(
    conn: &Connection,
    stmt: &S,
    decode: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>>
where
    S: sea_query::QueryStatementWriter,
{
    let (sql, values) = build(stmt);
    let mut prepared = conn.prepare_cached(&sql)?;
    let rows = prepared.query_map(rusqlite::params_from_iter(values), decode)?;
    Ok(rows.collect::<rusqlite::Result<Vec<T>>>()?)
}

/// Runs a query and hands its rows to `visit` one at a time until it answers `false`:
/// SQLite computes the rows as they are asked for, so stopping early saves the rest.
pub(crate) fn visit_rows<S: sea_query::QueryStatementWriter>(
    conn: &Connection,
    stmt: &S,
    mut visit: impl FnMut(&Row<'_>) -> Result<bool>,
) -> Result<()> {
    let (sql, values) = build(stmt);
    let mut prepared = conn.prepare_cached(&sql)?;
    let mut rows = prepared.query(rusqlite::params_from_iter(values))?;
    while let Some(row) = rows.next()? {
        if !visit(row)? {
            break;
        }
    }
    Ok(())
}

/// A `SELECT count(…)`'s single number.
pub(crate) fn count<S: sea_query::QueryStatementWriter>(
    conn: &Connection,
    stmt: &S,
) -> Result<u64> {
    let n: i64 = fetch_all(conn, stmt, |row| row.get(0))?
        .into_iter()
        .next()
        .unwrap_or(0);
    Ok(n as u64)
}

/// Column decoders matching sqlx's encodings.
pub(crate) mod decode {
    use super::*;
    use rusqlite::types::FromSqlError;

    fn bad(idx: usize, what: &str) -> rusqlite::Error {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("column {idx} is not {what}").into(),
        )
    }

    pub fn uuid(row: &Row<'_>, idx: usize) -> rusqlite::Result<Uuid> {
        opt_uuid(row, idx)?.ok_or(rusqlite::Error::InvalidColumnType(
            idx,
            "uuid".to_owned(),
            rusqlite::types::Type::Null,
        ))
    }

    pub fn opt_uuid(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<Uuid>> {
        match row.get_ref(idx)? {
            ValueRef::Null => Ok(None),
            ValueRef::Blob(b) => Uuid::from_slice(b)
                .map(Some)
                .map_err(|_| bad(idx, "a uuid")),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|s| Uuid::parse_str(s).ok())
                .map(Some)
                .ok_or_else(|| bad(idx, "a uuid")),
            _ => Err(bad(idx, "a uuid")),
        }
    }

    pub fn time(row: &Row<'_>, idx: usize) -> rusqlite::Result<DateTime<Utc>> {
        opt_time(row, idx)?.ok_or(rusqlite::Error::InvalidColumnType(
            idx,
            "time".to_owned(),
            rusqlite::types::Type::Null,
        ))
    }

    pub fn opt_time(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
        match row.get_ref(idx)? {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => {
                let s = std::str::from_utf8(t).map_err(|_| bad(idx, "a time"))?;
                parse_time(s).map(Some).ok_or_else(|| bad(idx, "a time"))
            }
            ValueRef::Integer(secs) => DateTime::from_timestamp(secs, 0)
                .map(Some)
                .ok_or_else(|| bad(idx, "a time")),
            _ => Err(rusqlite::Error::FromSqlConversionFailure(
                idx,
                rusqlite::types::Type::Real,
                Box::new(FromSqlError::InvalidType),
            )),
        }
    }

    /// The text forms sqlx reads back: RFC 3339 (what it writes) or SQLite's own
    /// `YYYY-MM-DD HH:MM:SS[.fff]` (what `CURRENT_TIMESTAMP` writes), taken as UTC.
    pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
        if let Some(t) = parse_utc_as_written(s.as_bytes()) {
            return Some(t);
        }
        if let Ok(t) = DateTime::parse_from_rfc3339(s) {
            return Some(t.with_timezone(&Utc));
        }
        chrono::NaiveDateTime::parse_from_str(s, "%F %T%.f")
            .ok()
            .map(|t| t.and_utc())
    }
}

/// The exact form sqlx writes a UTC time in, `YYYY-MM-DDTHH:MM:SS[.f…]+00:00`, read
/// without chrono's general parser (a list page decodes hundreds of times; the general
/// parser was a twentieth of its time). Anything else is `None`, for the general parser.
fn parse_utc_as_written(b: &[u8]) -> Option<DateTime<Utc>> {
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b.get(range)?.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let at = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let (mut nanos, mut end) = (0u32, 19);
    if at(19, b'.') {
        let digits = b[20..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&digits) {
            return None;
        }
        nanos = num(20..20 + digits)? * 10u32.pow(9 - digits as u32);
        end = 20 + digits;
    }
    if &b[end..] != b"+00:00" {
        return None;
    }
    chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?
        .and_hms_nano_opt(num(11..13)?, num(14..16)?, num(17..19)?, nanos)
        .map(|t| t.and_utc())
}

impl From<rusqlite::Error> for StoreError {
    fn from(error: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match error.sqlite_error_code() {
            Some(C::ConstraintViolation) => {
                let extended = error.sqlite_error().map(|e| e.extended_code);
                match extended {
                    Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                        StoreError::ForeignKey(Box::new(error))
                    }
                    Some(
                        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
                    ) => StoreError::Conflict(Box::new(error)),
                    _ => StoreError::Database(Box::new(error)),
                }
            }
            Some(C::DatabaseBusy | C::DatabaseLocked | C::CannotOpen | C::DiskFull) => {
                StoreError::Unavailable(Box::new(error))
            }
            _ => StoreError::Database(Box::new(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under writes that never pause, the WAL is started over once it passes the limit,
    /// instead of growing for as long as the load lasts.
    #[test]
    fn the_wal_starts_over_under_a_load_that_never_pauses() {
        const LIMIT: u64 = 4 << 20;
        let dir = std::env::temp_dir().join(format!(
            "linli-wal-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wal.db");
        let setup = Connection::open(&path).unwrap();
        setup
            .execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x BLOB NOT NULL);")
            .unwrap();
        drop(setup);
        let lite = Lite::open_with(&path, WriteLock::default(), LIMIT).unwrap();
        let wal = dir.join("wal.db-wal");
        let until = std::time::Instant::now() + Duration::from_secs(3);

        // Eight writers with a write always in flight keep the writer thread busy, and a
        // reader keeps reading, as requests do.
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let lite = lite.clone();
                std::thread::spawn(move || {
                    let mut written = 0u64;
                    while std::time::Instant::now() < until {
                        let (reply, answer) = mpsc::channel();
                        lite.write_then(
                            |conn| {
                                conn.execute("INSERT INTO t (x) VALUES (zeroblob(8192))", [])?;
                                Ok(())
                            },
                            move |outcome| {
                                let _ = reply.send(outcome);
                            },
                        );
                        answer.recv().unwrap().unwrap();
                        written += 8192;
                    }
                    written
                })
            })
            .collect();
        let reader = {
            let path = path.clone();
            std::thread::spawn(move || {
                let conn = open_connection(&path, true).unwrap();
                while std::time::Instant::now() < until {
                    conn.query_row("SELECT max(rowid) FROM t", [], |r| {
                        r.get::<_, Option<i64>>(0)
                    })
                    .unwrap();
                }
            })
        };
        let mut largest_wal = 0;
        while std::time::Instant::now() < until {
            largest_wal = largest_wal.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
            std::thread::sleep(Duration::from_millis(5));
        }
        let written: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
        reader.join().unwrap();
        // Once the writes pause, the file is cut back.
        let pause = std::time::Instant::now() + Duration::from_secs(8);
        let wal_after_pause = loop {
            let size = std::fs::metadata(&wal).map_or(0, |m| m.len());
            if size <= LIMIT || std::time::Instant::now() > pause {
                break size;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        lite.close();
        let rows: i64 = Connection::open(&path)
            .unwrap()
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(
            rows as u64 * 8192,
            written,
            "every acknowledged write is stored"
        );
        assert!(
            written > 8 * LIMIT,
            "the load wrote {written} bytes, too little to test a {LIMIT}-byte limit"
        );
        assert!(
            largest_wal < written / 2,
            "the WAL grew to {largest_wal} bytes for {written} bytes written"
        );
        assert!(
            wal_after_pause <= LIMIT,
            "the WAL file kept {wal_after_pause} bytes after the writes paused"
        );
    }

    #[test]
    fn times_read_back_in_every_form_sqlx_accepts() {
        let t = DateTime::parse_from_rfc3339("2026-11-30T12:03:04.5+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(decode_text(&time_text(&t)), Some(t));
        assert_eq!(decode_text("2026-11-30 12:03:04.5"), Some(t));
        assert_eq!(decode_text("30 Nov 2026"), None);
    }

    #[test]
    fn the_fast_time_reader_agrees_with_chrono_on_what_sqlx_writes() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for i in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let secs = (seed % 8_000_000_000) as i64 - 1_000_000_000;
            // Whole seconds, milliseconds, microseconds and nanoseconds in turn.
            let nanos = match i % 4 {
                0 => 0,
                1 => (seed >> 40) as u32 % 1_000 * 1_000_000,
                2 => (seed >> 40) as u32 % 1_000_000 * 1_000,
                _ => (seed >> 34) as u32 % 1_000_000_000,
            };
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            let text = time_text(&t);
            assert_eq!(parse_utc_as_written(text.as_bytes()), Some(t), "{text}");
        }
        // Other forms are left to chrono, which reads them right.
        for other in [
            "2026-11-30T20:03:04.5+08:00",
            "2026-11-30T12:03:04Z",
            "2026-11-30T12:03:04.+00:00",
            "2026-11-30T12:03:04.1234567890+00:00",
            "2026-13-30T12:03:04+00:00",
            "2026-11-30T12:03:04+00:00 ",
        ] {
            assert_eq!(parse_utc_as_written(other.as_bytes()), None, "{other}");
            assert_eq!(
                decode::parse_time(other),
                DateTime::parse_from_rfc3339(other)
                    .ok()
                    .map(|t| t.with_timezone(&Utc)),
                "{other}"
            );
        }
    }

    fn decode_text(s: &str) -> Option<DateTime<Utc>> {
        let conn = Connection::open_in_memory().unwrap();
        conn.query_row("SELECT ?1", [s], |row| decode::opt_time(row, 0))
            .ok()
            .flatten()
    }
}

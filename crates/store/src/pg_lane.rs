//! A PostgreSQL group-commit lane on a thread of its own.
//!
//! Why: a lane runs its batches strictly one after another, a dozen statements each, and
//! every statement is a round trip. As a task on the server's runtime, the lane was woken
//! for each answer only after the worker threads had worked through the HTTP tasks queued
//! before it. Under load that wait was longer than PostgreSQL's own work: sampled
//! mid-benchmark, the ledger lane's backend sat idle waiting for the next statement about
//! half of the time, with a third of the machine's CPU unused (see docs/benchmarks.md).
//! On its own thread, with a runtime and connections of its own, the lane is woken by the
//! kernel as soon as PostgreSQL answers.

use std::future::Future;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use crate::{Result, StoreError};

/// How long a lane waits for its connection (while PostgreSQL is unreachable) before the
/// batch's requests are answered with an error.
const LANE_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Starts `run` on a new thread named `name`, with a connection of its own opened on
/// first use. The thread ends when `run` returns.
pub(crate) fn spawn<F, Fut>(name: &str, options: PgConnectOptions, run: F)
where
    F: FnOnce(LaneConnection) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!(error = %e, "could not start a PostgreSQL lane's runtime");
                    return;
                }
            };
            runtime.block_on(run(LaneConnection {
                options,
                open: None,
            }));
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, lane = name, "could not start a PostgreSQL lane");
    }
}

/// A lane's one connection: its batches run one at a time, and a failed batch's
/// requests are retried one by one after the batch is rolled back. Opened on first use,
/// and again after a failure that left it unusable.
///
/// Why not a pool of one: sqlx's pool tests every connection handed back to it with a
/// round trip (a `ping`, in a task of its own) and the next `acquire` waits for that
/// test. A lane hands its connection back after every batch, so a batch of reports (one
/// statement) cost two round trips, and starting a ledger batch (the acquire and `BEGIN`)
/// took 789 µs on average over a redemption run, against 128 µs for the statement after
/// it.
pub(crate) struct LaneConnection {
    options: PgConnectOptions,
    open: Option<PgConnection>,
}

impl LaneConnection {
    /// The connection, opened first if there is none.
    pub(crate) async fn get(&mut self) -> Result<&mut PgConnection> {
        let conn = match self.open.take() {
            Some(conn) => conn,
            None => tokio::time::timeout(
                LANE_CONNECT_TIMEOUT,
                PgConnection::connect_with(&self.options),
            )
            .await
            .map_err(|_| StoreError::Unavailable("PostgreSQL did not answer in time".into()))??,
        };
        Ok(self.open.insert(conn))
    }

    /// After a failure: keeps the connection only if it still answers, so that the next
    /// use opens a new one instead of failing on a dead socket. (A transaction the failure
    /// left open is rolled back by the next statement sent: sqlx queues the `ROLLBACK`
    /// when the transaction is dropped.)
    pub(crate) async fn recover(&mut self) {
        if let Some(conn) = self.open.as_mut()
            && conn.ping().await.is_err()
        {
            self.open = None;
        }
    }
}

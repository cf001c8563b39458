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

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Connections a lane keeps: its batches run one at a time, and a failed batch's requests
/// are retried one by one after the batch is rolled back.
const LANE_CONNECTIONS: u32 = 1;
/// How long a lane waits for its connection (while PostgreSQL is unreachable) before the
/// batch's requests are answered with an error.
const LANE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Starts `run` on a new thread named `name`, with a pool of its own that connects on
/// first use. The thread ends when `run` returns.
pub(crate) fn spawn<F, Fut>(name: &str, options: PgConnectOptions, run: F)
where
    F: FnOnce(PgPool) -> Fut + Send + 'static,
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
            runtime.block_on(async move {
                let pool = PgPoolOptions::new()
                    .max_connections(LANE_CONNECTIONS)
                    .acquire_timeout(LANE_ACQUIRE_TIMEOUT)
                    // The lane's connection is in use all the time it is not idle: a
                    // broken one fails its batch, which is then retried on a fresh one.
                    .test_before_acquire(false)
                    .connect_lazy_with(options);
                run(pool.clone()).await;
                pool.close().await;
            });
        });
    if let Err(e) = spawned {
        // Without the thread the queue's receiver is dropped, and every request sent to
        // the lane is answered "the database is closing".
        tracing::error!(error = %e, lane = name, "could not start a PostgreSQL lane");
    }
}

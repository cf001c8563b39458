//! `linli check`: the database's own integrity checks plus our chains.

use std::time::{Duration, Instant};

use crate::audit::{self, ChainBreak};
use crate::points::check::{self as ledger, LedgerReport};
use crate::{Db, Engine, Result};

#[derive(Debug, Default)]
pub struct CheckReport {
    /// Problems the engine itself reports (SQLite `quick_check` or `integrity_check`, and
    /// `foreign_key_check`).
    pub database_problems: Vec<String>,
    pub audit_entries_checked: u64,
    pub audit_breaks: Vec<ChainBreak>,
    pub ledger: LedgerReport,
    /// How long each part took, in order.
    pub timings: Vec<(&'static str, Duration)>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.database_problems.is_empty()
            && self.audit_breaks.is_empty()
            && self.ledger.problems.is_empty()
    }
}

/// How much of the engine's own checking a check runs beside the chains and the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineChecks {
    /// None: the hash chains and the ledger alone.
    Skip,
    /// SQLite's `quick_check`: every page of the file is read and every b-tree's structure,
    /// record format and NOT NULL / CHECK constraint verified, in time linear in the file.
    /// With the foreign-key check. The default of `linli check`.
    Quick,
    /// SQLite's `integrity_check`: `quick_check` plus whether every index holds exactly its
    /// table's rows and UNIQUE holds, which costs O(N log N) — about four times as long
    /// (4.4 s against 1.2 s on a 711 MB file; docs/benchmarks.md).
    Thorough,
}

/// Every check: the engine's quick one, the audit chains and the points ledger.
pub async fn run(db: &Db) -> Result<CheckReport> {
    run_with(db, EngineChecks::Quick).await
}

/// The checks, with as much of the engine's own checking as `engine` asks for. On
/// PostgreSQL, which keeps its own pages consistent, both levels look for the same thing:
/// constraints never validated and indexes left invalid.
pub async fn run_with(db: &Db, engine: EngineChecks) -> Result<CheckReport> {
    let mut report = CheckReport::default();
    let mut tx = db.begin_snapshot().await?;
    let mut ex = tx.exec();
    let started = Instant::now();
    let engine_checks = engine != EngineChecks::Skip;
    if engine_checks && ex.engine() == Engine::Sqlite {
        let pragma = match engine {
            EngineChecks::Thorough => "PRAGMA integrity_check",
            _ => "PRAGMA quick_check",
        };
        let rows: Vec<(String,)> = ex.fetch_all_raw(pragma, "SELECT 'ok'").await?;
        report
            .database_problems
            .extend(rows.into_iter().map(|(r,)| r).filter(|r| r != "ok"));
        let fk: Vec<(String, i64)> = ex
            .fetch_all_raw(
                "SELECT \"table\", rowid FROM pragma_foreign_key_check",
                "SELECT '', 0 WHERE false",
            )
            .await?;
        report.database_problems.extend(
            fk.into_iter()
                .map(|(t, row)| format!("table {t} row {row}: dangling foreign key")),
        );
    }
    if engine_checks && ex.engine() == Engine::Postgres {
        // PostgreSQL keeps its own pages consistent; what can be wrong is a constraint
        // added NOT VALID and never validated, or an index left invalid by a failed build.
        let rows: Vec<(String,)> = ex
            .fetch_all_raw(
                "SELECT 'none' WHERE false",
                "SELECT 'constraint ' || conrelid::regclass::text || '.' || conname || ' is not validated' \
                 FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
                 WHERE n.nspname = current_schema() AND NOT c.convalidated \
                 UNION ALL \
                 SELECT 'index ' || i.indexrelid::regclass::text || ' is invalid' \
                 FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE n.nspname = current_schema() AND NOT i.indisvalid",
            )
            .await?;
        report
            .database_problems
            .extend(rows.into_iter().map(|(r,)| r));
    }
    if engine_checks {
        report.timings.push(("database", started.elapsed()));
    }
    let started = Instant::now();
    let (checked, breaks) = audit::verify_chains(&mut ex).await?;
    report.timings.push(("audit chains", started.elapsed()));
    report.audit_entries_checked = checked;
    report.audit_breaks = breaks;
    let started = Instant::now();
    report.ledger = ledger::verify(db, &mut ex).await?;
    report.timings.push(("points ledger", started.elapsed()));
    tx.commit().await?;
    Ok(report)
}

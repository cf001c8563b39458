//! What this machine can do on PostgreSQL with nothing of Linli in between: the two hot
//! paths of the matters benchmark (issue 4) as bare axum handlers over one sqlx pool.
//!
//! `scripts/bench` measures Linli; this measures the floor under it, so a PostgreSQL
//! figure can be read against what the same cores give a handler that does one statement
//! and nothing else (no sessions, roles, audit, timeline, search index or JSON problems).
//! Run it with `scripts/pg-ceiling`, which builds it, fills its table and drives it with
//! `wrk` exactly as `scripts/bench` drives Linli.
//!
//! Usage: `pg_ceiling DATABASE_URL LISTEN_ADDR [ROWS]`. It creates (and on start empties)
//! the table `ceiling_matters` in that database and fills it with ROWS rows (default
//! 100,000) shaped like matters: a community, four grids, a status, a title and a
//! description.
//!
//! - `POST /matters` inserts one row (the submit's single-statement floor);
//! - `GET /matters` reads the 50 newest rows of one grid in three statuses, 15 columns as
//!   in Linli's list summary, and answers them as JSON (the list's floor).

use std::net::SocketAddr;

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, postgres::PgPoolOptions};
use uuid::Uuid;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Linli's own PostgreSQL pool size (`store::db`), so both hold the server to the same
/// number of backends.
const POOL: u32 = 16;
const COMMUNITY: Uuid = Uuid::from_u128(0x01a2_45d6_5e48_7073_ae98_4676_0ac4_dcc1);
const GRIDS: [Uuid; 4] = [
    Uuid::from_u128(1),
    Uuid::from_u128(2),
    Uuid::from_u128(3),
    Uuid::from_u128(4),
];
const STATUSES: [&str; 6] = [
    "closed",
    "closed",
    "closed",
    "in_progress",
    "dispatched",
    "pending_verification",
];
const LISTED: [&str; 3] = ["in_progress", "dispatched", "pending_verification"];

#[derive(Serialize, sqlx::FromRow)]
struct Summary {
    id: Uuid,
    number: String,
    title: String,
    category_id: Uuid,
    grid_id: Uuid,
    status: String,
    class: Option<String>,
    handler_kind: Option<String>,
    due_at: Option<DateTime<Utc>>,
    supervise_level: String,
    rating: Option<i32>,
    version: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: pg_ceiling DATABASE_URL LISTEN_ADDR [ROWS]";
    let url = args.next().ok_or_else(|| anyhow::anyhow!(usage))?;
    let listen: SocketAddr = args.next().ok_or_else(|| anyhow::anyhow!(usage))?.parse()?;
    let rows: i64 = args.next().map_or(Ok(100_000), |r| r.parse())?;
    let pool = PgPoolOptions::new()
        .max_connections(POOL)
        .min_connections(POOL)
        .connect(&url)
        .await?;
    prepare_table(&pool, rows).await?;
    let app = Router::new()
        .route("/matters", get(latest).post(insert))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    println!("pg_ceiling: {rows} rows, listening on http://{listen}");
    axum::serve(listener, app).await?;
    Ok(())
}

/// A fresh table with `rows` rows and the indexes Linli's list and submit touch (primary
/// key, unique number, grid-status-id), analysed so the planner sees its real shape.
async fn prepare_table(pool: &PgPool, rows: i64) -> anyhow::Result<()> {
    for statement in [
        "DROP TABLE IF EXISTS ceiling_matters",
        "CREATE TABLE ceiling_matters (
            community_id uuid NOT NULL, id uuid NOT NULL, number text NOT NULL,
            category_id uuid NOT NULL, grid_id uuid, title text NOT NULL,
            description text NOT NULL, status text NOT NULL, class text,
            handler_kind text, due_at timestamptz, supervise_level text NOT NULL,
            rating integer, version bigint NOT NULL, created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL, closed_at timestamptz,
            PRIMARY KEY (community_id, id), UNIQUE (community_id, number))",
        "CREATE INDEX ceiling_matters_by_grid ON ceiling_matters (community_id, grid_id, status, id)",
    ] {
        sqlx::query(statement).execute(pool).await?;
    }
    // Ids in time order, as Linli's UUIDv7 ids are; grids and statuses spread evenly.
    sqlx::query(
        "INSERT INTO ceiling_matters
         SELECT $1, uuid_in(overlay(overlay(md5(g::text) placing lpad(to_hex(g), 12, '0') from 1)
                    placing '7' from 13)::cstring),
                'H' || g, $1, ($2::uuid[])[1 + g % 4], '楼道灯坏了 ' || g,
                '三楼楼道的灯坏了一周，晚上上下楼看不见，老人容易摔倒。', ($3::text[])[1 + g % 6],
                'minor', 'grid_worker', now(), 'none', NULL, 1, now(), now(), NULL
         FROM generate_series(1, $4) AS g",
    )
    .bind(COMMUNITY)
    .bind(&GRIDS[..])
    .bind(&STATUSES[..])
    .bind(rows)
    .execute(pool)
    .await?;
    sqlx::query("ANALYZE ceiling_matters").execute(pool).await?;
    Ok(())
}

async fn latest(State(pool): State<PgPool>) -> Result<Json<Vec<Summary>>, StatusCode> {
    sqlx::query_as::<_, Summary>(
        "SELECT id, number, title, category_id, grid_id, status, class, handler_kind, due_at,
                supervise_level, rating, version, created_at, updated_at, closed_at
         FROM ceiling_matters
         WHERE community_id = $1 AND grid_id = $2 AND status = ANY($3)
         ORDER BY id DESC LIMIT 50",
    )
    .bind(COMMUNITY)
    .bind(GRIDS[0])
    .bind(&LISTED[..])
    .fetch_all(&pool)
    .await
    .map(Json)
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

async fn insert(State(pool): State<PgPool>) -> Result<(StatusCode, Json<Uuid>), StatusCode> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO ceiling_matters (community_id, id, number, category_id, grid_id, title,
            description, status, supervise_level, version, created_at, updated_at)
         VALUES ($1, $2, $3, $1, $4, '垃圾桶满了', '楼下垃圾桶满了两天没人清运，天热有味道。',
            'reported', 'none', 1, now(), now())",
    )
    .bind(COMMUNITY)
    .bind(id)
    .bind(id.simple().to_string())
    .bind(GRIDS[0])
    .execute(&pool)
    .await
    .map(|_| (StatusCode::CREATED, Json(id)))
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)
}

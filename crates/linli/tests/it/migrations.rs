//! Both engines' migrations must end with the same tables and columns. Full-text search
//! is the one place they differ by design (DESIGN §3): SQLite keeps FTS5 tables
//! (`resident_search`, `matter_search` and their shadow tables), PostgreSQL GIN indexes
//! on expressions over the same text columns.

use std::collections::BTreeSet;

use linli_store::Db;

use crate::support::TestDb;

async fn columns(db: &Db) -> BTreeSet<(String, String)> {
    let rows: Vec<(String, String)> = match db {
        Db::Sqlite(pool, _) => sqlx::query_as(
            "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name NOT LIKE '_sqlx%' \
             AND m.name NOT LIKE 'resident_search%' AND m.name NOT LIKE 'matter_search%'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
        Db::Postgres(pool, _) => sqlx::query_as(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
        )
        .fetch_all(pool)
        .await
        .unwrap(),
    };
    rows.into_iter().collect()
}

#[tokio::test]
async fn sqlite_and_postgres_have_the_same_tables_and_columns() {
    let sqlite = TestDb::sqlite().await;
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let lite = columns(&sqlite.db).await;
    let post = columns(&pg.db).await;
    assert!(
        lite.len() > 40,
        "expected the foundation schema, got {lite:?}"
    );
    let only_sqlite: Vec<_> = lite.difference(&post).collect();
    let only_postgres: Vec<_> = post.difference(&lite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only in SQLite: {only_sqlite:?}; only in PostgreSQL: {only_postgres:?}"
    );
}

#[tokio::test]
async fn every_tenant_table_leads_its_primary_key_with_community_id() {
    let t = TestDb::sqlite().await;
    let Db::Sqlite(pool, _) = &t.db else {
        unreachable!()
    };
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND p.name = 'community_id'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(tables.len() >= 4);
    for (table,) in tables {
        let first_pk: (String,) =
            sqlx::query_as("SELECT name FROM pragma_table_info(?) WHERE pk = 1")
                .bind(&table)
                .fetch_one(pool)
                .await
                .unwrap();
        assert_eq!(
            first_pk.0, "community_id",
            "{table} must lead its primary key with community_id"
        );
    }
}

//! Migrations on both backends: fresh, idempotent, per alias, listing,
//! checksums, parity of the two sets, the pgvector back-fill.

use crate::support::db::TestDb;
use mnemo::db::migrate::{self, MigrateError, MigrateParams, migrations_for};
use mnemo::db::{Alias, Backend, introspect};
use mnemo::memory::{EmbedScope, MemoryKind};

async fn fresh_then_idempotent(backend: &str) {
    let t = TestDb::empty(backend).await;
    let params = MigrateParams::default();
    let applied = migrate::migrate(&t.db, &Alias::ALL, &params, None)
        .await
        .unwrap();
    let expected: usize = Alias::ALL
        .iter()
        .map(|&a| migrations_for(t.db.backend(), a).unwrap().len())
        .sum();
    assert_eq!(applied.len(), expected);
    let status = migrate::status(&t.db, &[Alias::AiMemory]).await.unwrap();
    assert!(status[0].pending.is_empty(), "{:?}", status[0].pending);

    let again = migrate::migrate(&t.db, &Alias::ALL, &params, None)
        .await
        .unwrap();
    assert!(again.is_empty(), "second run applied {again:?}");
}

async fn one_alias_at_a_time(backend: &str) {
    let t = TestDb::empty(backend).await;
    let params = MigrateParams::default();
    let applied = migrate::migrate(&t.db, &[Alias::Subscriptions], &params, None)
        .await
        .unwrap();
    assert!(!applied.is_empty());
    assert!(applied.iter().all(|(a, _)| *a == Alias::Subscriptions));

    let status = migrate::status(&t.db, &Alias::ALL).await.unwrap();
    for s in &status {
        if s.alias == Alias::Subscriptions {
            assert!(s.pending.is_empty());
            assert_eq!(s.applied.len(), applied.len());
        } else {
            assert!(s.applied.is_empty(), "{} has applied migrations", s.alias);
            assert!(!s.pending.is_empty());
        }
    }
}

async fn target_stops_after_the_named_migration(backend: &str) {
    let t = TestDb::empty(backend).await;
    let params = MigrateParams::default();
    let applied = migrate::migrate(&t.db, &[Alias::AiMemory], &params, Some("0001_initial"))
        .await
        .unwrap();
    assert_eq!(applied, vec![(Alias::AiMemory, "0001_initial".to_string())]);
    let err = migrate::migrate(&t.db, &[Alias::AiMemory], &params, Some("9999_nope"))
        .await
        .unwrap_err();
    assert!(matches!(err, MigrateError::UnknownTarget { .. }), "{err}");
}

async fn changed_applied_migration_is_an_error(backend: &str) {
    let t = TestDb::migrated(backend).await;
    mnemo::with_pool!(t.db.pool(Alias::Default), |p| {
        sqlx::query("UPDATE mnemo_migrations SET checksum = 'tampered' WHERE alias = 'default' AND name = '0001_initial'")
            .execute(p)
            .await
            .unwrap();
    });
    let err = migrate::migrate(&t.db, &Alias::ALL, &MigrateParams::default(), None)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(
        err,
        MigrateError::ChecksumMismatch {
            alias: Alias::Default,
            ..
        }
    ));
    assert!(message.contains("default/0001_initial"), "{message}");
    assert!(migrate::status(&t.db, &[Alias::Default]).await.is_err());
}

async fn bad_vault_address_is_refused_before_anything_is_applied(backend: &str) {
    let t = TestDb::empty(backend).await;
    let params = MigrateParams {
        vault_address: "r'; DROP TABLE x; --".into(),
        ..MigrateParams::default()
    };
    let err = migrate::migrate(&t.db, &Alias::ALL, &params, None)
        .await
        .unwrap_err();
    assert!(matches!(err, MigrateError::BadVaultAddress(_)));
    let status = migrate::status(&t.db, &Alias::ALL).await.unwrap();
    assert!(status.iter().all(|s| s.applied.is_empty()));
}

on_both_backends!(
    fresh_then_idempotent,
    one_alias_at_a_time,
    target_stops_after_the_named_migration,
    changed_applied_migration_is_an_error,
    bad_vault_address_is_refused_before_anything_is_applied,
);

#[test]
fn both_backends_have_the_same_migration_names() {
    for alias in Alias::ALL {
        let names = |b| {
            migrations_for(b, alias)
                .unwrap()
                .into_iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Backend::Sqlite), names(Backend::Postgres), "{alias}");
        assert!(!names(Backend::Sqlite).is_empty(), "{alias} has migrations");
    }
}

#[test]
fn every_drop_is_marked_destructive() {
    for backend in [Backend::Sqlite, Backend::Postgres] {
        for alias in Alias::ALL {
            for m in migrations_for(backend, alias).unwrap() {
                let upper = m.sql.to_uppercase();
                let drops = upper.contains("DROP TABLE") || upper.contains("DROP COLUMN");
                assert!(
                    !drops || m.destructive,
                    "{alias}/{} drops something without a `-- destructive:` line",
                    m.name
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_produce_the_same_tables_and_columns() {
    let sqlite = TestDb::migrated("sqlite").await;
    let postgres = TestDb::migrated("postgres").await;
    for alias in Alias::ALL {
        let mut lite = introspect::schema(&sqlite.db, alias).await.unwrap();
        let mut pg = introspect::schema(&postgres.db, alias).await.unwrap();
        if alias == Alias::AiMemory {
            // The pgvector column is the one intended difference: SQLite searches blobs in memory.
            // So are the sign bits of Postgres' compact first pass.
            for columns in lite.values_mut() {
                if columns.iter().any(|c| c == "embedding") {
                    columns.push("embedding_vector".into());
                    columns.push("embedding_signs".into());
                    columns.sort();
                }
            }
            // So is the keyword index: FTS5 tables (and their shadow tables) on
            // SQLite, a tsvector column with a GIN index on Postgres.
            let fts = lite.keys().filter(|t| t.contains("_fts")).count();
            assert_eq!(fts, 3 * 5, "one FTS5 table and four shadow tables per kind");
            lite.retain(|table, _| !table.contains("_fts"));
            for columns in pg.values_mut() {
                columns.retain(|c| c != "keyword_tsv");
            }
        }
        assert!(!pg.is_empty(), "{alias} has tables");
        assert_eq!(lite, pg, "{alias}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_step_back_fills_vectors_from_blobs() {
    let t = TestDb::empty("postgres").await;
    let params = MigrateParams {
        embedding_dim: 4,
        ..MigrateParams::default()
    };
    migrate::migrate(&t.db, &[Alias::AiMemory], &params, Some("0001_initial"))
        .await
        .unwrap();
    let values = [0.5f32, -0.25, 1.0e-3, -3.0];
    let blob: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    let mnemo::db::Pool::Postgres(pool) = t.db.pool(Alias::AiMemory) else {
        unreachable!()
    };
    sqlx::query("INSERT INTO ai_memory_npcmemory (npc_id, created_at, embedding, embedding_model) VALUES (1, now(), $1, 'legacy')")
        .bind(&blob)
        .execute(pool)
        .await
        .unwrap();
    migrate::migrate(&t.db, &[Alias::AiMemory], &params, None)
        .await
        .unwrap();
    let (v,): (pgvector::Vector,) =
        sqlx::query_as("SELECT embedding_vector FROM ai_memory_npcmemory")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(v.to_vec(), values.to_vec());
}

/// Vectors are stored inline (STORAGE PLAIN), not in TOAST: exact scans read
/// one heap tuple per row instead of chasing chunks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_vectors_are_stored_inline() {
    let t = TestDb::migrated("postgres").await;
    let mnemo::db::Pool::Postgres(pool) = t.db.pool(Alias::AiMemory) else {
        unreachable!()
    };
    for table in [
        "ai_memory_npcmemory",
        "ai_memory_combatmemory",
        "ai_memory_lorememory",
    ] {
        let (storage,): (i8,) = sqlx::query_as(
            "SELECT attstorage FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'embedding_vector'",
        )
        .bind(table)
        .fetch_one(pool)
        .await
        .unwrap();
        assert_eq!(storage as u8, b'p', "{table}");
    }
}

/// The pending-embedding worker's poll and the /metrics counts read the
/// partial indexes of pending and failed rows, not the whole table (vectors
/// included). The queries name their index (`INDEXED BY`), so SQLite refuses
/// them outright, whatever its planner's mood, if an index stops fitting its
/// query: this runs the store's own queries over a populated table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_rows_are_found_through_their_index() {
    let t = TestDb::migrated("sqlite").await;
    let mnemo::db::Pool::Sqlite(pool) = t.db.pool(Alias::AiMemory) else {
        unreachable!()
    };
    for (table, columns, values) in [
        (
            "ai_memory_npcmemory",
            "npc_id, summary, created_at, embedding_model",
            "n, 's' || n, '2026-01-01T00:00:00Z', CASE WHEN n > 1997 THEN NULL ELSE 'm' END",
        ),
        (
            "ai_memory_combatmemory",
            "mob_type, outcome, summary, created_at, embedding_model",
            "'wolf', 'win', 's' || n, '2026-01-01T00:00:00Z', CASE WHEN n > 1997 THEN NULL ELSE 'm' END",
        ),
        (
            "ai_memory_lorememory",
            "title, content, scope_level, created_at, updated_at, embedding_model",
            "'t' || n, 'c' || n, 'local', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', CASE WHEN n > 1997 THEN NULL ELSE 'm' END",
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < 2000)
             INSERT INTO {table} ({columns}) SELECT {values} FROM seq"
        )))
        .execute(pool)
        .await
        .unwrap();
    }
    let store = mnemo::memory::MemoryStore::open_unchecked(
        t.db.clone(),
        std::sync::Arc::new(mnemo::embed::CachedEmbedder::new(
            std::sync::Arc::new(mnemo::embed::HashEmbedder::new(1536)),
            0,
        )),
        mnemo::memory::MemorySettings::default(),
    )
    .await
    .unwrap();
    for kind in MemoryKind::ALL {
        let count = |scope| store.count_to_embed(kind, scope);
        assert_eq!(count(EmbedScope::Pending).await.unwrap(), 3, "{kind:?}");
        assert_eq!(count(EmbedScope::Failed).await.unwrap(), 0, "{kind:?}");
        let failed = store.failed_embeddings(kind, 0, 10).await.unwrap();
        assert!(failed.is_empty());
        let done = store
            .embed_missing(kind, 10, EmbedScope::Pending)
            .await
            .unwrap();
        assert_eq!(done.rows, 3, "{kind:?}");
    }
}

/// Rows stored as blobs before the pgvector step, by a provider of another
/// dimension than the configured one: the step is refused before it starts,
/// saying what to do, and runs once migrated with the blobs' dimension.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pgvector_step_refuses_blobs_of_another_dimension() {
    let t = TestDb::empty("postgres").await;
    let at = |embedding_dim| MigrateParams {
        embedding_dim,
        ..MigrateParams::default()
    };
    migrate::migrate(&t.db, &[Alias::AiMemory], &at(4), Some("0001_initial"))
        .await
        .unwrap();
    let blob: Vec<u8> = [0.5f32, -0.25, 1.0, 2.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let mnemo::db::Pool::Postgres(pool) = t.db.pool(Alias::AiMemory) else {
        unreachable!()
    };
    sqlx::query("INSERT INTO ai_memory_lorememory (title, content, scope_level, created_at, updated_at, embedding, embedding_model) VALUES ('t', 'c', 'local', now(), now(), $1, 'legacy')")
        .bind(&blob)
        .execute(pool)
        .await
        .unwrap();

    let err = migrate::migrate(&t.db, &[Alias::AiMemory], &at(8), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MigrateError::EmbeddingDimension {
                table: "ai_memory_lorememory",
                expected: 8,
                found: 4,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("mnemo reembed"), "{err}");
    let status = migrate::status(&t.db, &[Alias::AiMemory]).await.unwrap();
    assert_eq!(
        status[0].pending.first().map(String::as_str),
        Some("0002_pgvector")
    );

    let applied = migrate::migrate(&t.db, &[Alias::AiMemory], &at(4), None)
        .await
        .unwrap();
    assert_eq!(
        applied.first(),
        Some(&(Alias::AiMemory, "0002_pgvector".to_owned()))
    );
    let status = migrate::status(&t.db, &[Alias::AiMemory]).await.unwrap();
    assert!(status[0].pending.is_empty(), "{:?}", status[0].pending);
}

/// `/readyz` reads the migration status on every probe: a read, no DDL, so it
/// works for a role that may not create anything (it created the history
/// table "if not exists" before, which Postgres checks privileges for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reads_run_no_ddl() {
    let t = TestDb::migrated("postgres").await;
    let mnemo::config::DatabaseTarget::Postgres { url } = &t.target else {
        unreachable!("a Postgres database")
    };
    let role = format!("mnemo_reader_{:08x}", rand::random::<u32>());
    let mnemo::db::Pool::Postgres(pool) = t.db.pool(Alias::Default) else {
        unreachable!()
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE {role} LOGIN; GRANT SELECT ON mnemo_migrations TO {role};"
    )))
    .execute(pool)
    .await
    .unwrap();
    let mut as_reader = url::Url::parse(url).unwrap();
    as_reader.set_username(&role).unwrap();
    let reader = mnemo::db::Db::open(&mnemo::config::DatabaseTarget::Postgres {
        url: as_reader.to_string(),
    })
    .await
    .unwrap();
    let pending = migrate::pending(&reader).await;
    assert_eq!(pending.map_err(|e| e.to_string()), Ok(Vec::new()));
    reader.close().await;
}

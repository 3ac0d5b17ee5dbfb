//! The Postgres HNSW indexes (`mnemo index`): dropped before a bulk import,
//! built after it with the migration's definition, replaced when a build was
//! interrupted, with progress while the build runs. SQLite mode has none.

use std::process::Output;
use std::time::Duration;

use crate::support::db::TestDb;
use mnemo::db::{Alias, Pool};
use mnemo::memory::Npc;
use mnemo::memory::{IndexState, MemoryError, MemoryKind, NewNpcMemory, NpcSearch, pg_index};

fn pg_pool(t: &TestDb) -> &sqlx::PgPool {
    let Pool::Postgres(pool) = t.db.pool(Alias::AiMemory) else {
        panic!("a Postgres database")
    };
    pool
}

/// The state of the NPC store's index.
async fn npc_index(t: &TestDb) -> IndexState {
    pg_index::index_state(&t.db, MemoryKind::Npc)
        .await
        .expect("index state")
}

/// Columns of the NPC table with planner statistics (made by ANALYZE).
async fn column_statistics(t: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_stats WHERE tablename = 'ai_memory_npcmemory'")
        .fetch_one(pg_pool(t))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_then_build_restores_the_migrated_index() {
    let t = TestDb::migrated("postgres").await;
    let migrated = crate::support::reembed::pg_index_definition(&t.db, MemoryKind::Npc)
        .await
        .expect("the migration made the index");
    let store = crate::support::db::memory_store(&t.db).await;
    assert_eq!(npc_index(&t).await, IndexState::Ready);

    let before = pg_index::drop_index(&t.db, MemoryKind::Npc).await.unwrap();
    assert_eq!(before, IndexState::Ready);
    assert_eq!(npc_index(&t).await, IndexState::Missing);
    assert_eq!(
        pg_index::drop_index(&t.db, MemoryKind::Npc).await.unwrap(),
        IndexState::Missing,
        "dropping twice is not an error"
    );
    // The other stores keep theirs.
    assert_eq!(
        pg_index::index_state(&t.db, MemoryKind::Lore)
            .await
            .unwrap(),
        IndexState::Ready
    );

    // Rows stored meanwhile are searchable without the index...
    for (i, text) in ["the blacksmith by the north gate", "bread at the market"]
        .iter()
        .enumerate()
    {
        store
            .store::<Npc>(NewNpcMemory {
                npc_id: 1,
                speaker_id: i as i64,
                user_message: (*text).into(),
                ..NewNpcMemory::default()
            })
            .await
            .unwrap();
    }
    let search: NpcSearch = serde_json::from_value(serde_json::json!({
        "npc_id": 1,
        "query": "where is the blacksmith",
    }))
    .unwrap();
    let hits = store.search_npc(&search).await.unwrap();
    assert_eq!(hits.len(), 2);
    assert!(hits[0].memory.user_message.contains("blacksmith"));

    // ...and in the index once it is built: the migration's definition, with
    // the statistics the planner needs to choose it.
    assert_eq!(
        column_statistics(&t).await,
        0,
        "nothing analysed the table yet"
    );
    assert!(
        pg_index::build_index(&t.db, MemoryKind::Npc, Some("64MB"), |_| {})
            .await
            .unwrap()
    );
    assert!(
        column_statistics(&t).await > 0,
        "the build analysed the table"
    );
    assert_eq!(
        crate::support::reembed::pg_index_definition(&t.db, MemoryKind::Npc).await,
        Some(migrated)
    );
    assert!(
        !pg_index::build_index(&t.db, MemoryKind::Npc, None, |_| {})
            .await
            .unwrap(),
        "a ready index is left alone"
    );
    assert_eq!(store.search_npc(&search).await.unwrap().len(), 2);
}

/// An interrupted concurrent build leaves an invalid index; the next build
/// replaces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_index_is_replaced() {
    let t = TestDb::migrated("postgres").await;
    sqlx::query(
        "UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass('npcmemory_embedding_hnsw')",
    )
    .execute(pg_pool(&t))
    .await
    .expect("mark the index invalid (the test cluster runs as a superuser)");
    assert_eq!(npc_index(&t).await, IndexState::Invalid);
    assert!(
        pg_index::build_index(&t.db, MemoryKind::Npc, None, |_| {})
            .await
            .unwrap()
    );
    assert_eq!(npc_index(&t).await, IndexState::Ready);
}

/// A build reports its phase while it runs: here it waits for a writer's
/// transaction to end, as a concurrent build does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_reports_progress() {
    let t = TestDb::migrated("postgres").await;
    pg_index::drop_index(&t.db, MemoryKind::Npc).await.unwrap();
    let mut writer = pg_pool(&t).begin().await.unwrap();
    sqlx::query("LOCK TABLE ai_memory_npcmemory IN ROW EXCLUSIVE MODE")
        .execute(&mut *writer)
        .await
        .unwrap();
    let (progress_tx, mut progress) = tokio::sync::mpsc::unbounded_channel();
    let db = t.db.clone();
    let build = tokio::spawn(async move {
        pg_index::build_index(&db, MemoryKind::Npc, None, move |p| {
            let _ = progress_tx.send(p);
        })
        .await
    });
    let first = tokio::time::timeout(Duration::from_secs(60), progress.recv())
        .await
        .expect("progress within a minute")
        .expect("a progress report");
    assert!(first.phase.contains("waiting"), "{first:?}");
    writer.commit().await.unwrap();
    assert!(build.await.unwrap().unwrap());
    assert_eq!(npc_index(&t).await, IndexState::Ready);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_memory_setting_is_refused_by_name() {
    let t = TestDb::migrated("postgres").await;
    pg_index::drop_index(&t.db, MemoryKind::Npc).await.unwrap();
    let err = pg_index::build_index(&t.db, MemoryKind::Npc, Some("lots"), |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            MemoryError::Invalid {
                field: "maintenance_work_mem",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(npc_index(&t).await, IndexState::Missing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_mode_has_no_index_to_manage() {
    let t = TestDb::migrated("sqlite").await;
    let err = pg_index::drop_index(&t.db, MemoryKind::Npc)
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            MemoryError::Invalid {
                field: "backend",
                ..
            }
        ),
        "{err}"
    );
}

fn mnemo(t: &TestDb, args: &[&str]) -> (Output, String) {
    let out = t.mnemo(args).output().expect("run mnemo");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_command() {
    let t = TestDb::migrated("postgres").await;
    let (out, text) = mnemo(&t, &["index", "status"]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("npc: npcmemory_embedding_hnsw ready"),
        "{text}"
    );

    let (out, text) = mnemo(&t, &["index", "drop"]);
    assert!(!out.status.success(), "--kind is required: {text}");
    let (out, text) = mnemo(&t, &["index", "drop", "--kind", "npc"]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("npc: npcmemory_embedding_hnsw dropped"),
        "{text}"
    );
    let (_, text) = mnemo(&t, &["index", "status"]);
    assert!(
        text.contains("npc: npcmemory_embedding_hnsw missing"),
        "{text}"
    );
    assert!(
        text.contains("lore: lorememory_embedding_hnsw ready"),
        "{text}"
    );

    let (out, text) = mnemo(&t, &["index", "build", "--maintenance-work-mem", "lots"]);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("maintenance_work_mem"), "{text}");
    let (out, text) = mnemo(&t, &["index", "build", "--maintenance-work-mem", "128MB"]);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("npc: npcmemory_embedding_hnsw built in"),
        "{text}"
    );
    assert!(
        text.contains("lore: lorememory_embedding_hnsw was already ready"),
        "{text}"
    );

    let sqlite = TestDb::migrated("sqlite").await;
    let (out, text) = mnemo(&sqlite, &["index", "status"]);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("SQLite mode"), "{text}");
}

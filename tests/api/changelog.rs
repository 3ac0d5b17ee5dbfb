//! SQLite mode's change log: pruned once every live reader has replayed it,
//! a reader away longer than its time to live reloads what it missed, and a
//! store that only writes never loads the in-memory index.

use std::sync::Arc;

use mnemo::db::{Alias, Db};
use mnemo::embed::{CachedEmbedder, HashEmbedder};
use mnemo::memory::{MemorySettings, MemoryStore, NewNpcMemory, NpcSearch};

use crate::support::db::{TestDb, memory_store, second_process};
use mnemo::memory::Npc;

fn line(i: usize) -> NewNpcMemory {
    NewNpcMemory {
        npc_id: 8,
        summary: Some(format!("rumour {i}: the ferry sank near the {i} stones")),
        ..NewNpcMemory::default()
    }
}

async fn store_lines(store: &MemoryStore, lines: std::ops::Range<usize>) {
    let batch = lines.map(line).collect();
    store.store_batch::<Npc>(batch).await.expect("stored");
}

async fn finds(store: &MemoryStore, i: usize) -> bool {
    let search = NpcSearch {
        npc_id: 8,
        query: line(i).summary,
        top_k: 1,
        ..NpcSearch::default()
    };
    let hits = store.search_npc(&search).await.expect("search");
    hits.first()
        .is_some_and(|h| h.memory.summary == line(i).summary.unwrap())
}

async fn log_rows(db: &Db) -> i64 {
    let mnemo::db::Pool::Sqlite(pool) = db.pool(Alias::AiMemory) else {
        unreachable!("SQLite")
    };
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ai_memory_changelog")
        .fetch_one(pool)
        .await
        .unwrap();
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_is_pruned_once_every_live_reader_has_replayed_it() {
    let t = TestDb::migrated("sqlite").await;
    let a = memory_store(&t.db).await;
    let b = second_process(&t).await;
    store_lines(&a, 0..20).await;
    assert_eq!(log_rows(&t.db).await, 20);

    assert_eq!(a.prune_changelog().await.unwrap(), 0, "b has not read them");
    assert_eq!(log_rows(&t.db).await, 20);
    assert_eq!(b.prune_changelog().await.unwrap(), 20, "now both have");
    assert_eq!(log_rows(&t.db).await, 0);

    // Nothing is lost for either: both see what came before and after.
    store_lines(&b, 20..21).await;
    for i in [3, 20] {
        assert!(finds(&a, i).await && finds(&b, i).await, "line {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_away_too_long_reloads_what_was_pruned() {
    let t = TestDb::migrated("sqlite").await;
    let a = memory_store(&t.db).await;
    let b = second_process(&t).await;
    store_lines(&a, 0..10).await;
    // b has not been seen for longer than a reader is trusted to be alive.
    let mnemo::db::Pool::Sqlite(pool) = t.db.pool(Alias::AiMemory) else {
        unreachable!("SQLite")
    };
    sqlx::query("UPDATE ai_memory_changelog_reader SET seen_at = '2000-01-01T00:00:00Z'")
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(a.prune_changelog().await.unwrap(), 10, "only a is alive");
    assert_eq!(log_rows(&t.db).await, 0);
    for i in 0..10 {
        assert!(finds(&b, i).await, "b reloaded line {i} from the tables");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_only_writes_never_loads_the_index() {
    let t = TestDb::migrated("sqlite").await;
    store_lines(&memory_store(&t.db).await, 0..5).await;
    let embedder = CachedEmbedder::new(Arc::new(HashEmbedder::new(1536)), 10);
    let writer =
        MemoryStore::open_lazily(t.db.clone(), Arc::new(embedder), MemorySettings::default())
            .await
            .expect("open");
    store_lines(&writer, 5..10).await;
    let index = writer.index().expect("SQLite keeps an index");
    assert!(!index.is_loaded(), "writes alone load nothing");
    assert!(finds(&writer, 2).await && finds(&writer, 7).await);
    assert!(index.is_loaded(), "the first search loads it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_has_no_log_to_prune() {
    let t = TestDb::migrated("postgres").await;
    let store = memory_store(&t.db).await;
    store_lines(&store, 0..3).await;
    assert_eq!(store.prune_changelog().await.unwrap(), 0);
}

//! How SQLite mode uses its database files: writers queue on an in-process
//! gate instead of SQLite's sleeping busy handler; reads go through a memory map.

mod common;

use std::time::Duration;

use common::{TestDb, memory_store};
use mnemo::db::Alias;
use mnemo::memory::NewNpcMemory;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_queue_on_the_gate_of_their_database() {
    let t = TestDb::migrated("sqlite").await;
    let held =
        t.db.write_gate(Alias::AiMemory)
            .await
            .expect("SQLite has a gate");
    let same = tokio::time::timeout(Duration::from_millis(100), t.db.write_gate(Alias::AiMemory));
    assert!(
        same.await.is_err(),
        "a second writer waits while the gate is held"
    );
    let other = tokio::time::timeout(Duration::from_millis(100), t.db.write_gate(Alias::Default));
    assert!(
        other.await.is_ok(),
        "other databases have gates of their own"
    );
    drop(held);
    let after = tokio::time::timeout(Duration::from_secs(5), t.db.write_gate(Alias::AiMemory));
    assert!(after.await.is_ok(), "released gates let the next writer in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_has_no_gate() {
    let t = TestDb::migrated("postgres").await;
    assert!(t.db.write_gate(Alias::AiMemory).await.is_none());
}

/// Many concurrent batch stores all land, each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sqlite_batches_all_land() {
    let t = TestDb::migrated("sqlite").await;
    let store = std::sync::Arc::new(memory_store(&t.db).await);
    let writers: Vec<_> = (0..16)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let batch = (0..20)
                    .map(|i| NewNpcMemory {
                        npc_id: 1,
                        user_message: format!("writer {w} line {i}"),
                        ..NewNpcMemory::default()
                    })
                    .collect();
                store.store_npc_batch(batch).await.map(|s| s.len())
            })
        })
        .collect();
    let mut stored = 0;
    for w in writers {
        stored += w.await.expect("writer task").expect("batch stored");
    }
    assert_eq!(stored, 16 * 20);
    let recent = store.recent_npc(1, 100, None, None).await.unwrap();
    assert_eq!(recent.len(), 100);
}

/// SQLite connections read through a memory map (see `SQLITE_MMAP_BYTES`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_connections_read_through_a_memory_map() {
    let t = TestDb::migrated("sqlite").await;
    let mnemo::db::Pool::Sqlite(pool) = t.db.pool(Alias::AiMemory) else {
        unreachable!()
    };
    let (bytes,): (i64,) = sqlx::query_as("PRAGMA mmap_size")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(bytes as u64, mnemo::db::SQLITE_MMAP_BYTES);
}

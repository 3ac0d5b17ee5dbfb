//! How the service uses its database files: SQLite writers in one process take
//! turns instead of meeting SQLite's sleeping busy handler; SQLite reads go
//! through a memory map.

use std::time::Duration;

use crate::support::db::{TestDb, memory_store};
use mnemo::db::{Alias, BackendPool as _};
use mnemo::memory::NewNpcMemory;
use mnemo::memory::Npc;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

/// A pool on `file` whose writers give up after 50 ms in SQLite's busy handler.
async fn impatient_pool(file: &std::path::Path) -> SqlitePool {
    let options = SqliteConnectOptions::new()
        .filename(file)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_millis(50));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .expect("open");
    sqlx::query("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
        .execute(&pool)
        .await
        .expect("create");
    pool
}

async fn insert(pool: &SqlitePool, v: i64) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin_write().await?;
    sqlx::query("INSERT INTO t (v) VALUES ($1)")
        .bind(v)
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// In-process writers wait for their turn however long the current writer
/// takes, instead of failing after SQLite's busy timeout; pools on one file
/// share the turn, other files have their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_writers_in_one_process_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.sqlite3");
    let pool = impatient_pool(&file).await;
    let second_pool = impatient_pool(&file).await;
    let other_file = impatient_pool(&dir.path().join("b.sqlite3")).await;

    let mut held = pool.begin_write().await.unwrap();
    sqlx::query("INSERT INTO t (v) VALUES (1)")
        .execute(&mut *held)
        .await
        .unwrap();
    let same_pool = tokio::spawn({
        let pool = pool.clone();
        async move { insert(&pool, 2).await }
    });
    let same_file = tokio::spawn(async move { insert(&second_pool, 3).await });
    tokio::time::timeout(Duration::from_secs(5), insert(&other_file, 9))
        .await
        .expect("another file is not held up")
        .expect("another file's write");
    // Well past the 50 ms busy timeout: writers that went to SQLite's lock
    // would have failed with "database is locked" by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!same_pool.is_finished(), "a writer on the same pool waits");
    assert!(!same_file.is_finished(), "a writer on the same file waits");
    held.commit().await.unwrap();
    same_pool
        .await
        .unwrap()
        .expect("the same pool's write lands");
    same_file
        .await
        .unwrap()
        .expect("the same file's write lands");
    let (rows,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM t")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 3);
}

/// A write transaction dropped without commit rolls back and lets the next
/// writer in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_write_transaction_lets_the_next_writer_in() {
    let dir = tempfile::tempdir().unwrap();
    let pool = impatient_pool(&dir.path().join("a.sqlite3")).await;
    let mut abandoned = pool.begin_write().await.unwrap();
    sqlx::query("INSERT INTO t (v) VALUES (1)")
        .execute(&mut *abandoned)
        .await
        .unwrap();
    drop(abandoned);
    tokio::time::timeout(Duration::from_secs(5), insert(&pool, 2))
        .await
        .expect("the next writer gets its turn")
        .expect("the next write lands");
    let values: Vec<(i64,)> = sqlx::query_as("SELECT v FROM t")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(values, vec![(2,)]);
}

/// Postgres writers do not queue in the process: row locks do that work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writers_do_not_queue_in_the_process() {
    let t = TestDb::migrated("postgres").await;
    let mnemo::db::Pool::Postgres(pool) = t.db.pool(Alias::AiMemory) else {
        unreachable!()
    };
    let first = pool.begin_write().await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(5), pool.begin_write())
        .await
        .expect("a second transaction begins while the first is open")
        .unwrap();
    second.commit().await.unwrap();
    first.commit().await.unwrap();
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
                store.store_batch::<Npc>(batch).await.map(|s| s.len())
            })
        })
        .collect();
    let mut stored = 0;
    for w in writers {
        stored += w.await.expect("writer task").expect("batch stored");
    }
    assert_eq!(stored, 16 * 20);
    let recent = store
        .recent_npc(1, 100, None, None, mnemo::memory::Clock::now())
        .await
        .unwrap();
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

/// Accounts, payments and balances sync every commit (a power cut must not
/// drop an acknowledged payment or token); memories, many small writes, sync
/// at checkpoints (WAL `NORMAL`: a crash of the process loses nothing).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_and_accounts_sync_every_commit_memories_at_checkpoints() {
    let t = TestDb::migrated("sqlite").await;
    for (alias, want) in [
        (Alias::Default, 2),
        (Alias::Xrpl, 2),
        (Alias::Subscriptions, 2),
        (Alias::AiMemory, 1),
    ] {
        let mnemo::db::Pool::Sqlite(pool) = t.db.pool(alias) else {
            unreachable!("a SQLite database")
        };
        let (level,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(level, want, "{alias}: 2 is FULL, 1 NORMAL");
    }
}

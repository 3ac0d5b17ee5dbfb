//! Postgres: the memory tables' planner statistics are refreshed once a table
//! grew by enough (`Db::refresh_statistics`, run every second by `mnemo
//! serve`), instead of waiting up to a minute for autovacuum while a bulk load
//! is planned on none.

use std::time::{Duration, Instant};

use crate::support::db::TestDb;
use mnemo::db::{Alias, Pool, STALE_AFTER_ROWS};
use mnemo::memory::{MemoryKind, NewNpcMemory, Npc};

const NPC_TABLE: &str = "ai_memory_npcmemory";

fn pg_pool(t: &TestDb) -> &sqlx::PgPool {
    let Pool::Postgres(pool) = t.db.pool(Alias::AiMemory) else {
        panic!("a Postgres database")
    };
    pool
}

/// Store `n` distinct NPC memories, numbered from `from`.
async fn store(store: &mnemo::memory::MemoryStore, from: usize, n: usize) {
    for chunk in (from..from + n).collect::<Vec<_>>().chunks(100) {
        let batch = chunk
            .iter()
            .map(|i| NewNpcMemory {
                npc_id: 1,
                speaker_id: 2,
                user_message: format!("the bell rang {i} times at the old mill"),
                ..NewNpcMemory::default()
            })
            .collect();
        store.store_batch::<Npc>(batch).await.unwrap();
    }
}

/// Wait until the cumulative statistics show `rows` changes since the last
/// analysis (backends report theirs within seconds, not at commit).
async fn await_changes(t: &TestDb, rows: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let changed: i64 = sqlx::query_scalar(
            "SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = $1",
        )
        .bind(NPC_TABLE)
        .fetch_one(pg_pool(t))
        .await
        .unwrap();
        if changed >= rows {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "only {changed} of {rows} changes reported after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A fresh Postgres database whose NPC table autovacuum leaves alone (visiting
/// meanwhile, it would analyse the table itself after 50 changes and reset the
/// counts these tests read), and a store on it.
async fn without_autovacuum() -> (TestDb, mnemo::memory::MemoryStore) {
    let t = TestDb::migrated("postgres").await;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE {NPC_TABLE} SET (autovacuum_enabled = false)"
    )))
    .execute(pg_pool(&t))
    .await
    .unwrap();
    let memories = crate::support::db::memory_store(&t.db).await;
    (t, memories)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_is_analysed_once_it_grew_enough_and_not_before() {
    let (t, memories) = without_autovacuum().await;
    let tables = MemoryKind::ALL.map(MemoryKind::table);
    let planned_rows = || async {
        let (rows, columns): (f32, i64) = sqlx::query_as(
            "SELECT c.reltuples, (SELECT count(*) FROM pg_stats s WHERE s.tablename = c.relname)
               FROM pg_class c WHERE c.relname = $1",
        )
        .bind(NPC_TABLE)
        .fetch_one(pg_pool(&t))
        .await
        .unwrap();
        (rows, columns)
    };

    let below = STALE_AFTER_ROWS as usize / 2;
    store(&memories, 0, below).await;
    await_changes(&t, below as i64).await;
    assert!(t.db.refresh_statistics(&tables).await.unwrap().is_empty());
    assert_eq!(planned_rows().await, (-1.0, 0), "never analysed");

    store(&memories, below, STALE_AFTER_ROWS as usize).await;
    let total = below + STALE_AFTER_ROWS as usize;
    await_changes(&t, total as i64).await;
    assert_eq!(
        t.db.refresh_statistics(&tables).await.unwrap(),
        vec![NPC_TABLE.to_owned()]
    );
    let (rows, columns) = planned_rows().await;
    assert_eq!(rows, total as f32);
    assert!(columns > 0, "column statistics made");

    assert!(
        t.db.refresh_statistics(&tables).await.unwrap().is_empty(),
        "fresh statistics are left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_another_session_holds_is_left_for_later_not_waited_for() {
    // `CREATE INDEX CONCURRENTLY` holds this lock while it waits for older
    // transactions to end: a refresh waiting for it would deadlock with it.
    let (t, memories) = without_autovacuum().await;
    let tables = MemoryKind::ALL.map(MemoryKind::table);
    let rows = STALE_AFTER_ROWS as usize + 100;
    store(&memories, 0, rows).await;
    await_changes(&t, rows as i64).await;

    let mut holder = pg_pool(&t).begin().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "LOCK TABLE {NPC_TABLE} IN SHARE UPDATE EXCLUSIVE MODE"
    )))
    .execute(&mut *holder)
    .await
    .unwrap();
    let refreshed = tokio::time::timeout(Duration::from_secs(60), t.db.refresh_statistics(&tables))
        .await
        .expect("the refresh does not wait for the table lock")
        .unwrap();
    assert!(refreshed.is_empty(), "the held table is skipped");

    holder.rollback().await.unwrap();
    assert_eq!(
        t.db.refresh_statistics(&tables).await.unwrap(),
        vec![NPC_TABLE.to_owned()],
        "and analysed once free"
    );
}

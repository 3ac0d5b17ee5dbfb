//! SQLite mode's record cache answers searches from memory, and is never
//! staler than the in-memory index: a row another process changed or deleted,
//! or one that expired, is read as it is now.

use std::time::Duration;

use mnemo::memory::{MemoryError, MemoryStore, NewNpcMemory, Npc, NpcMemory, NpcSearch};

use crate::support::db::{TestDb, memory_store, second_process};

const NPC: i64 = 12;

fn rumour() -> NewNpcMemory {
    NewNpcMemory {
        npc_id: NPC,
        summary: Some("the miller hides silver under the third stair".into()),
        ..NewNpcMemory::default()
    }
}

async fn top(store: &MemoryStore) -> NpcMemory {
    let search = NpcSearch {
        npc_id: NPC,
        query: rumour().summary,
        top_k: 1,
        ..NpcSearch::default()
    };
    let hits = store.search_npc(&search).await.expect("search");
    hits.into_iter().next().expect("a hit").memory
}

fn cache_hits(store: &MemoryStore) -> u64 {
    store.index().expect("SQLite mode").records().hits()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_another_process_changed_is_answered_as_it_is_now() {
    let t = TestDb::migrated("sqlite").await;
    let a = memory_store(&t.db).await;
    let b = second_process(&t).await;
    a.store::<Npc>(rumour()).await.unwrap();
    assert_eq!(top(&a).await.repeat_count, 1);
    let before = cache_hits(&a);
    assert_eq!(top(&a).await.repeat_count, 1);
    assert_eq!(
        cache_hits(&a),
        before + 1,
        "the second answer came from the cache"
    );

    // The same memory again, through the other process: a repeat, not a row.
    b.store::<Npc>(rumour()).await.unwrap();
    assert_eq!(top(&a).await.repeat_count, 2);
    assert_eq!(top(&b).await.repeat_count, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_deleted_or_expired_since_it_was_cached_is_not_found() {
    let t = TestDb::migrated("sqlite").await;
    let a = memory_store(&t.db).await;
    let b = second_process(&t).await;
    let kept = a.store::<Npc>(rumour()).await.unwrap().memory;
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(400)).to_rfc3339();
    let fleeting = NewNpcMemory {
        summary: Some("a stranger asked the way to the mill".into()),
        expires_at: Some(soon),
        ..rumour()
    };
    let fleeting = a.store::<Npc>(fleeting).await.unwrap().memory;
    top(&a).await;
    for id in [kept.id, fleeting.id] {
        a.get::<Npc>(id).await.expect("found");
        a.get::<Npc>(id).await.expect("found again, from the cache");
    }

    b.delete::<Npc>(kept.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    for id in [fleeting.id, kept.id] {
        assert!(
            matches!(a.get::<Npc>(id).await, Err(MemoryError::NotFound(_))),
            "memory {id}"
        );
    }
}

//! Switching the embedding provider on existing data across dimensions
//! (1536 → 384 → 1536) with `MemoryStore::reembed`, the path of `mnemo
//! reembed`, on both backends: a refused start before, a resized Postgres
//! column, searches that never mix dimensions, migrations that still run
//! cleanly after, and runs interrupted at each step.

use std::sync::Arc;

use crate::support::db::TestDb;
use crate::support::reembed::{self as rc, NPC};
use mnemo::db::migrate::{self, MigrateParams};
use mnemo::db::{Alias, Backend};
use mnemo::embed::{Embedder, HashEmbedder};
use mnemo::memory::{EmbedScope, EmbeddedBatch, MemoryKind, MemoryStore, ReembedEvent, hnsw_index};

fn big() -> Arc<dyn Embedder> {
    Arc::new(HashEmbedder::new(1536))
}

/// `mnemo reembed` on one kind in batches of 2: rows embedded and the events.
async fn reembed(store: &MemoryStore, kind: MemoryKind) -> (usize, Vec<ReembedEvent>) {
    let mut events = Vec::new();
    let done = store
        .reembed(kind, 2, EmbedScope::NotCurrent, |e| {
            // Where a batch ended depends on the ids; the counts are what is compared.
            events.push(match e {
                ReembedEvent::Batch(b) => ReembedEvent::Batch(EmbeddedBatch { last_id: 0, ..b }),
                other => other,
            })
        })
        .await
        .expect("re-embed");
    assert_eq!((done.failed, done.changed), (0, 0));
    (done.rows, events)
}

/// The events of a full run over `rows` rows: on Postgres, a resize when the
/// column had another dimension, and the index built at the end.
fn expected_events(
    backend: Backend,
    kind: MemoryKind,
    rows: usize,
    resized: Option<(usize, usize)>,
) -> Vec<ReembedEvent> {
    let mut events = Vec::new();
    if let (Backend::Postgres, Some((from, to))) = (backend, resized) {
        events.push(ReembedEvent::ColumnResized { from, to });
    }
    events.push(ReembedEvent::ToEmbed(rows as u64));
    let mut left = rows;
    while left > 0 {
        events.push(ReembedEvent::Batch(EmbeddedBatch {
            rows: left.min(2),
            ..EmbeddedBatch::default()
        }));
        left -= left.min(2);
    }
    if backend == Backend::Postgres && resized.is_some() {
        events.push(ReembedEvent::BuildingIndex(hnsw_index(kind)));
        events.push(ReembedEvent::IndexBuilt(hnsw_index(kind)));
    }
    events
}

/// Switch every kind from `from` to `to`: refused before, re-embedded, then a
/// second `mnemo migrate` with the new provider applies nothing and fails
/// nothing, the store opens, every search is right, every vector has the new
/// dimension, and a second run has nothing to do.
async fn switch(t: &TestDb, from: &Arc<dyn Embedder>, to: &Arc<dyn Embedder>) {
    let (old, new) = (from.dimension(), to.dimension());
    let err = match rc::open(&t.db, to.clone()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened {old}-d data with a {new}-d provider"),
    };
    assert!(err.contains("mnemo reembed --kind npc"), "{err}");
    assert!(err.contains(&format!("({new} dimensions)")), "{err}");

    let store = rc::open_unchecked(&t.db, to.clone()).await;
    for kind in MemoryKind::ALL {
        let (n, events) = reembed(&store, kind).await;
        assert_eq!(n, rc::rows(kind), "{}", kind.name());
        let resized = Some((old, new)).filter(|_| old != new);
        assert_eq!(
            events,
            expected_events(t.db.backend(), kind, n, resized),
            "{}",
            kind.name()
        );
    }

    let params = MigrateParams {
        embedding_dim: new,
        ..MigrateParams::default()
    };
    let applied = migrate::migrate(&t.db, &Alias::ALL, &params, None)
        .await
        .expect("migrate again with the new provider");
    assert!(applied.is_empty(), "{applied:?}");
    assert!(migrate::pending(&t.db).await.expect("status").is_empty());

    let store = rc::open(&t.db, to.clone())
        .await
        .expect("the store opens after re-embedding");
    rc::assert_searches(&store).await;
    for kind in MemoryKind::ALL {
        rc::assert_dimension(&t.db, kind, new).await;
        let (n, events) = reembed(&store, kind).await;
        assert_eq!((n, events), (0, vec![ReembedEvent::ToEmbed(0)]));
    }
}

/// 1536 → `small` → 1536 on data stored with the 1536-d hash provider.
async fn there_and_back(backend: &str, small: Arc<dyn Embedder>) {
    let t = TestDb::migrated(backend).await;
    let big = big();
    let store = rc::open(&t.db, big.clone()).await.expect("open");
    rc::fill(&store).await;
    rc::assert_searches(&store).await;
    switch(&t, &big, &small).await;
    switch(&t, &small, &big).await;
}

/// The default build's variant: the hash provider at 384 keeps its model name,
/// so only the dimension tells its vectors apart.
async fn hash_1536_to_384_and_back(backend: &str) {
    there_and_back(backend, Arc::new(HashEmbedder::new(384))).await;
}

/// A run stopped between batches: the re-embedded rows are searchable with the
/// new provider, the others are left out (never compared across dimensions),
/// both providers are refused at start, and the next run finishes the job.
async fn stopped_between_batches(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let (big, small): (Arc<dyn Embedder>, Arc<dyn Embedder>) =
        (big(), Arc::new(HashEmbedder::new(384)));
    rc::fill(&rc::open(&t.db, big.clone()).await.expect("open")).await;
    if t.db.backend() == Backend::Postgres {
        rc::pg_resize_only(&t.db, MemoryKind::Npc, 384).await;
    }
    let first = rc::open_unchecked(&t.db, small.clone()).await;
    assert_eq!(
        first
            .embed_missing(MemoryKind::Npc, 2, EmbedScope::NotCurrent)
            .await
            .ok()
            .map(|b| b.rows),
        Some(2)
    );

    // A fresh open loads only the rows of its own dimension (SQLite keeps
    // them in memory), whichever side of the switch it is on.
    let fresh = rc::open_unchecked(&t.db, small.clone()).await;
    let hits = rc::npc_hits(&fresh, NPC[4]).await;
    let mut found: Vec<String> = hits.into_iter().map(|(s, _)| s).collect();
    found.sort();
    let mut done = vec![NPC[0].to_owned(), NPC[1].to_owned()];
    done.sort();
    assert_eq!(found, done);
    // On Postgres the old provider cannot even query: its column is resized.
    let old = if t.db.backend() == Backend::Sqlite {
        let old = rc::open_unchecked(&t.db, big.clone()).await;
        assert_eq!(rc::npc_hits(&old, NPC[4]).await.len(), 3);
        Some(old)
    } else {
        None
    };
    for provider in [&small, &big] {
        let err = rc::open(&t.db, provider.clone()).await.err();
        assert!(
            err.as_ref()
                .is_some_and(|e| e.to_string().contains("mnemo reembed --kind npc")),
            "{err:?}"
        );
    }

    let (n, _) = reembed(&fresh, MemoryKind::Npc).await;
    assert_eq!(n, 3);
    assert_eq!(rc::npc_hits(&fresh, NPC[4]).await.len(), NPC.len());
    rc::assert_dimension(&t.db, MemoryKind::Npc, 384).await;
    if let Some(old) = old {
        // An index loaded before the switch learns of the rewritten rows from
        // the change log and drops them rather than mixing dimensions.
        assert!(rc::npc_hits(&old, NPC[4]).await.is_empty());
    }
}

/// A batch resumes after the id it is given: rows at or below it are left for
/// another run, and the batch says where the next one starts.
async fn batches_resume_after_the_last_id(backend: &str) {
    let t = TestDb::migrated(backend).await;
    rc::fill(&rc::open(&t.db, big()).await.expect("open")).await;
    if t.db.backend() == Backend::Postgres {
        rc::pg_resize_only(&t.db, MemoryKind::Npc, 384).await;
    }
    let store = rc::open_unchecked(&t.db, Arc::new(HashEmbedder::new(384))).await;
    let ids: Vec<i64> = mnemo::with_pool!(t.db.pool(Alias::AiMemory), |p| {
        sqlx::query_scalar("SELECT id FROM ai_memory_npcmemory ORDER BY id")
            .fetch_all(p)
            .await
            .expect("ids")
    });
    assert_eq!(ids.len(), NPC.len());

    let first = store
        .embed_missing_after(MemoryKind::Npc, 1, EmbedScope::NotCurrent, ids[2])
        .await
        .expect("a batch")
        .expect("rows above the id");
    assert_eq!(
        first,
        EmbeddedBatch {
            rows: 1,
            last_id: ids[3],
            ..EmbeddedBatch::default()
        }
    );
    let second = store
        .embed_missing_after(MemoryKind::Npc, 10, EmbedScope::NotCurrent, first.last_id)
        .await
        .expect("a batch")
        .expect("rows above the id");
    assert_eq!(
        second,
        EmbeddedBatch {
            rows: 1,
            last_id: ids[4],
            ..EmbeddedBatch::default()
        }
    );
    let none = store
        .embed_missing_after(MemoryKind::Npc, 10, EmbedScope::NotCurrent, second.last_id)
        .await
        .expect("no batch");
    assert_eq!(none, None);
    assert_eq!(
        store
            .count_to_embed(MemoryKind::Npc, EmbedScope::NotCurrent)
            .await
            .expect("count"),
        3,
        "the rows up to the first id are still to do"
    );
}

on_both_backends!(
    hash_1536_to_384_and_back,
    stopped_between_batches,
    batches_resume_after_the_last_id
);

/// A run stopped right after resizing the column: the rows keep the old model's
/// name with no vector, so the start is refused (they would be missing from
/// every search), they are excluded from searches meanwhile, and the next run
/// re-embeds them without resizing again and builds the missing HNSW index.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_after_the_resize() {
    let t = TestDb::migrated("postgres").await;
    let small: Arc<dyn Embedder> = Arc::new(HashEmbedder::new(384));
    rc::fill(&rc::open(&t.db, big()).await.expect("open")).await;
    rc::pg_resize_only(&t.db, MemoryKind::Npc, 384).await;

    let err = match rc::open(&t.db, small.clone()).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("opened a store whose vectors were cleared"),
    };
    assert!(err.contains("vectors cleared"), "{err}");
    assert!(err.contains("mnemo reembed --kind npc"), "{err}");

    let store = rc::open_unchecked(&t.db, small.clone()).await;
    assert!(rc::npc_hits(&store, NPC[0]).await.is_empty());
    let (n, events) = reembed(&store, MemoryKind::Npc).await;
    assert_eq!(n, NPC.len());
    let mut expected = expected_events(
        Backend::Postgres,
        MemoryKind::Npc,
        NPC.len(),
        Some((1536, 384)),
    );
    expected.remove(0);
    assert_eq!(events, expected, "no second resize; the index is built");
    rc::assert_dimension(&t.db, MemoryKind::Npc, 384).await;
    assert_eq!(rc::npc_hits(&store, NPC[0]).await[0].0, NPC[0]);
}

/// A run stopped while building the index (every row already re-embedded):
/// the next run only builds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_before_the_index() {
    let t = TestDb::migrated("postgres").await;
    let store = rc::open(&t.db, big()).await.expect("open");
    rc::fill(&store).await;
    let mnemo::db::Pool::Postgres(pool) = t.db.pool(Alias::AiMemory) else {
        unreachable!()
    };
    sqlx::query("DROP INDEX lorememory_embedding_hnsw")
        .execute(pool)
        .await
        .expect("drop the index");
    let (n, events) = reembed(&store, MemoryKind::Lore).await;
    assert_eq!(n, 0);
    assert_eq!(
        events,
        vec![
            ReembedEvent::ToEmbed(0),
            ReembedEvent::BuildingIndex("lorememory_embedding_hnsw"),
            ReembedEvent::IndexBuilt("lorememory_embedding_hnsw"),
        ]
    );
    rc::assert_dimension(&t.db, MemoryKind::Lore, 1536).await;
}

/// `--pending` never resizes a column: that would clear every vector, which only
/// a full run repairs. It says which command to run instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_pending_only_refuses_to_resize() {
    let t = TestDb::migrated("postgres").await;
    rc::fill(&rc::open(&t.db, big()).await.expect("open")).await;
    let store = rc::open_unchecked(&t.db, Arc::new(HashEmbedder::new(384))).await;
    let err = store
        .reembed(MemoryKind::Npc, 2, EmbedScope::Pending, |_| {})
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("vector(1536) columns"), "{err}");
    assert!(err.contains("mnemo reembed --kind npc"), "{err}");
    assert_eq!(rc::pg_column_dimension(&t.db, MemoryKind::Npc).await, 1536);
}

/// The real 384-d model: the switch also changes the model name.
#[cfg(feature = "minilm")]
mod minilm {
    use std::sync::Arc;

    use mnemo::embed::Embedder;

    fn model() -> Arc<dyn Embedder> {
        crate::support::minilm::model()
    }

    async fn hash_1536_to_minilm_and_back(backend: &str) {
        super::there_and_back(backend, model()).await;
    }

    on_both_backends!(hash_1536_to_minilm_and_back);
}

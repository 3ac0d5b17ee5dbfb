//! Rows stored without a vector: a poisoned row is marked failed and holds back
//! nothing, provider trouble fails no row, a vector is written only for the
//! text it was made from, and failed rows are listed, counted and re-tried.

use std::sync::Arc;

use mnemo::db::Alias;
use mnemo::memory::{
    EmbedScope, EmbeddingState, LoreSearch, MemoryError, MemoryKind, MemoryStore, NewLoreMemory,
    NewNpcMemory, NpcSearch,
};
use reqwest::Method;
use serde_json::json;

use crate::support::db::{TestDb, memory_store_with};
use crate::support::embedders::{Mode, Scripted};
use crate::support::http::{Service, test_settings};
use mnemo::memory::Npc;

const NPC: i64 = 11;

fn memory(text: &str) -> NewNpcMemory {
    NewNpcMemory {
        npc_id: NPC,
        summary: Some(text.to_owned()),
        ..NewNpcMemory::default()
    }
}

/// Store `texts` while the provider is down: every row pending.
async fn store_pending(store: &MemoryStore, provider: &Scripted, texts: &[&str]) -> Vec<i64> {
    provider.set(Mode::Down);
    let stored = store
        .store_batch::<Npc>(texts.iter().map(|t| memory(t)).collect())
        .await
        .expect("stored pending");
    assert!(
        stored
            .iter()
            .all(|s| s.embedding_state == EmbeddingState::Pending)
    );
    stored.iter().map(|s| s.memory.id).collect()
}

/// The ids a search for `text` finds among NPC's memories.
async fn found(store: &MemoryStore, text: &str) -> Vec<i64> {
    let search = NpcSearch {
        npc_id: NPC,
        query: Some(text.to_owned()),
        top_k: 20,
        ..NpcSearch::default()
    };
    let hits = store.search_npc(&search).await.expect("search");
    hits.into_iter().map(|h| h.memory.id).collect()
}

const TEXTS: [&str; 6] = [
    "the miller owes the baker three silver",
    "wolves were seen near the old mill",
    "a POISON text the provider refuses",
    "the ferryman charges double after dark",
    "the abbey bells rang at midnight",
    "the smith is forging a blade for the duke",
];

async fn a_refused_row_is_marked_failed_and_the_rest_of_its_batch_embedded(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let provider = Scripted::new(Mode::Up);
    let store = memory_store_with(&t.db, provider.clone()).await;
    let ids = store_pending(&store, &provider, &TEXTS).await;

    provider.set(Mode::Refuse("POISON".into()));
    let done = store
        .embed_missing(MemoryKind::Npc, 64, EmbedScope::Pending)
        .await
        .expect("the batch is done despite the refused row");
    assert_eq!((done.rows, done.failed, done.changed), (5, 1, 0));
    let refused = NpcSearch {
        npc_id: NPC,
        query: Some(TEXTS[2].into()),
        top_k: 5,
        ..NpcSearch::default()
    };
    let err = store
        .search_npc(&refused)
        .await
        .expect_err("the query is refused too");
    assert!(
        matches!(&err, MemoryError::Invalid { field: "query", .. }),
        "a refused query is the caller's to fix, not a 503: {err}"
    );
    provider.set(Mode::Up);
    for (i, text) in TEXTS.iter().enumerate() {
        let hits = found(&store, text).await;
        assert_eq!(hits.contains(&ids[i]), i != 2, "{text}: {hits:?}");
    }
    let failed = store
        .failed_embeddings(MemoryKind::Npc, 0, 50)
        .await
        .expect("failed rows");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, ids[2]);
    assert_eq!(failed[0].text, TEXTS[2]);
    assert!(
        failed[0].error.as_deref().unwrap_or("").contains("POISON"),
        "{failed:?}"
    );
    assert_eq!(
        store
            .count_to_embed(MemoryKind::Npc, EmbedScope::Pending)
            .await
            .unwrap(),
        0
    );
}

async fn a_failed_row_is_left_to_reembed_failed(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let provider = Scripted::new(Mode::Up);
    let store = memory_store_with(&t.db, provider.clone()).await;
    let ids = store_pending(&store, &provider, &TEXTS[1..3]).await;
    provider.set(Mode::Refuse("POISON".into()));
    store
        .embed_missing(MemoryKind::Npc, 64, EmbedScope::Pending)
        .await
        .expect("embedded");

    // The worker's next polls do not send the refused text again.
    let calls = provider.calls();
    for _ in 0..3 {
        let done = store
            .embed_missing(MemoryKind::Npc, 64, EmbedScope::Pending)
            .await
            .expect("nothing to do");
        assert_eq!(done.last_id, 0, "no pending row left");
    }
    assert_eq!(provider.calls(), calls);

    // Once the provider takes it (a model with a longer limit), --failed retries it.
    provider.set(Mode::Up);
    let done = store
        .reembed(MemoryKind::Npc, 64, EmbedScope::Failed, |_| {})
        .await
        .expect("re-embed failed rows");
    assert_eq!((done.rows, done.failed), (1, 0));
    assert!(found(&store, TEXTS[2]).await.contains(&ids[1]));
    let failed = store.failed_embeddings(MemoryKind::Npc, 0, 50).await;
    assert!(failed.expect("failed rows").is_empty());
}

async fn provider_trouble_fails_no_row(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let provider = Scripted::new(Mode::Up);
    let store = memory_store_with(&t.db, provider.clone()).await;
    store_pending(&store, &provider, &TEXTS[..3]).await;

    let err = store
        .embed_missing(MemoryKind::Npc, 64, EmbedScope::Pending)
        .await
        .expect_err("the provider is down");
    assert!(matches!(err, MemoryError::EmbeddingUnavailable(_)), "{err}");
    let count = |scope| store.count_to_embed(MemoryKind::Npc, scope);
    assert_eq!(count(EmbedScope::Pending).await.unwrap(), 3);
    assert_eq!(count(EmbedScope::Failed).await.unwrap(), 0);
    let errors: Vec<Option<String>> = mnemo::with_pool!(t.db.pool(Alias::AiMemory), |p| {
        sqlx::query_scalar("SELECT embedding_error FROM ai_memory_npcmemory ORDER BY id")
            .fetch_all(p)
            .await
            .unwrap()
    });
    assert_eq!(errors.len(), 3);
    for e in errors {
        assert!(
            e.as_deref().unwrap_or("").contains("scripted outage"),
            "{e:?}"
        );
    }
}

fn lore(content: &str) -> NewLoreMemory {
    NewLoreMemory {
        source: "towers.yaml".into(),
        title: "The North Tower".into(),
        content: content.into(),
        scope_level: "local".into(),
        ..NewLoreMemory::default()
    }
}

async fn a_text_changed_while_being_embedded_keeps_its_new_vector(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let provider = Scripted::new(Mode::Down);
    let store = Arc::new(memory_store_with(&t.db, provider.clone()).await);
    let old = "the old bridge over the grey river fell in the floods";
    let new = "the north tower was rebuilt in black stone by the guild";
    store.upsert_lore(lore(old)).await.expect("stored pending");

    // The worker reads the old text and is held inside the provider call.
    provider.set(Mode::Up);
    provider.hold_next();
    let worker = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .embed_missing(MemoryKind::Lore, 64, EmbedScope::Pending)
                .await
        })
    };
    provider.entered().await;
    let (updated, _) = store.upsert_lore(lore(new)).await.expect("updated");
    assert!(
        updated.memory.embedding_model.is_some(),
        "embedded on the request path"
    );
    provider.release();
    let done = worker.await.unwrap().expect("the worker's batch");
    assert_eq!((done.rows, done.changed), (0, 1));

    let hits = store
        .search_lore(&LoreSearch {
            query: Some(new.into()),
            top_k: 1,
            ..LoreSearch::default()
        })
        .await
        .expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].memory.content, new);
    // The hash provider gives a text its own vector: 1.0 means the new text's vector.
    assert!(
        hits[0].similarity.unwrap() > 0.999,
        "{:?}",
        hits[0].similarity
    );
}

async fn failed_rows_are_listed_and_counted_over_http(backend: &str) {
    let provider = Scripted::new(Mode::Up);
    let s = Service::start_with_embedder(backend, test_settings(), provider.clone()).await;
    let store = s.state.memory.get().unwrap().clone();
    let ids = store_pending(&store, &provider, &TEXTS[2..4]).await;
    provider.set(Mode::Refuse("POISON".into()));
    store
        .embed_missing(MemoryKind::Npc, 64, EmbedScope::Pending)
        .await
        .expect("embedded");

    let (status, body) = s
        .as_admin(Method::GET, "/v1/memories/failed?kind=npc", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(body["items"][0]["id"], json!(ids[0]));
    assert_eq!(body["next_after"], json!(null));
    for (query, field) in [
        ("", "kind"),
        ("?kind=dragons", "kind"),
        ("?kind=npc&limit=x", "limit"),
    ] {
        let (status, body) = s
            .as_admin(Method::GET, &format!("/v1/memories/failed{query}"), None)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}: {body}");
    }
    let metrics = s
        .call(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("mnemo_failed_embeddings{kind=\"npc\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mnemo_pending_embeddings{kind=\"npc\"} 0"),
        "{metrics}"
    );
}

on_both_backends!(
    a_refused_row_is_marked_failed_and_the_rest_of_its_batch_embedded,
    a_failed_row_is_left_to_reembed_failed,
    provider_trouble_fails_no_row,
    a_text_changed_while_being_embedded_keeps_its_new_vector,
    failed_rows_are_listed_and_counted_over_http,
);

//! Searches say when they ran short: `exhausted` is true exactly when fewer
//! rows than `top_k` in the searched scope passed the filters, and `returned`
//! is then that number; on both backends, with exact ranking and through the
//! HNSW index, in every mode.

use mnemo::memory::{MemoryKind, MemorySettings};
use mnemo::vector::HnswSettings;
use serde_json::json;

use super::{items, post, service, store};
use crate::support::http::Service;

/// NPC 1: 3 memories from speaker 1 and 57 from speaker 2, all about the harvest.
async fn sixty_memories(s: &Service) {
    let batch: Vec<serde_json::Value> = (0..60)
        .map(|i| {
            let speaker = if i < 3 { 1 } else { 2 };
            super::memory(1, speaker, &format!("note {i} about the harvest"))
        })
        .collect();
    let (status, body) = post(s, "/v1/memories/npc/batch", json!({"memories": batch})).await;
    assert_eq!(status, 201, "{body}");
}

/// (returned, exhausted) of a search.
async fn account(s: &Service, body: serde_json::Value) -> (usize, bool) {
    let (status, found) = post(s, "/v1/memories/npc/search", body.clone()).await;
    assert_eq!(status, 200, "{found}");
    let returned = found["returned"].as_u64().unwrap() as usize;
    assert_eq!(returned, items(&found).len());
    assert_eq!(found["requested"], body["top_k"]);
    (returned, found["exhausted"].as_bool().unwrap())
}

async fn check_the_account(s: &Service) {
    for mode in ["vector", "keyword", "hybrid"] {
        let search = |top_k: usize, speaker: Option<i64>| json!({"npc_id": 1, "query": "harvest", "mode": mode, "top_k": top_k, "speaker_id": speaker});
        assert_eq!(
            account(s, search(5, Some(1))).await,
            (3, true),
            "{mode}: 3 of 5 exist"
        );
        assert_eq!(
            account(s, search(3, Some(1))).await,
            (3, false),
            "{mode}: exactly 3"
        );
        assert_eq!(
            account(s, search(10, None)).await,
            (10, false),
            "{mode}: 60 exist"
        );
        assert_eq!(
            account(s, search(100, None)).await,
            (60, true),
            "{mode}: 60 of 100"
        );
        let nobody = json!({"npc_id": 2, "query": "harvest", "mode": mode, "top_k": 5});
        assert_eq!(
            account(s, nobody).await,
            (0, true),
            "{mode}: an NPC without memories"
        );
    }
    let picky = json!({"npc_id": 1, "query": "harvest", "top_k": 10, "min_similarity": 0.999});
    let (returned, exhausted) = account(s, picky).await;
    assert!(returned < 10);
    assert!(
        !exhausted,
        "60 exist: fewer came back because of min_similarity alone"
    );
}

async fn exhausted_with_exact_ranking(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    sixty_memories(&s).await;
    check_the_account(&s).await;
    assert_eq!(store(&s).searches().index(), 0, "every search was exact");
    s.stop().await;
}

async fn exhausted_through_the_hnsw_index(backend: &str) {
    let settings = MemorySettings {
        hnsw: HnswSettings {
            threshold: 20,
            // Filtered searches walk the graph too, however few rows match.
            filter_exact_fraction: 0.0,
            filter_exact_per_ef: 0,
            ..HnswSettings::default()
        },
        ..MemorySettings::default()
    };
    let (s, _) = service(backend, settings).await;
    sixty_memories(&s).await;
    if let Some(index) = store(&s).index() {
        // SQLite mode builds the index in the background; searches install it.
        let probe = json!({"npc_id": 1, "query": "harvest"});
        for _ in 0..600 {
            if index.indexed_partitions(MemoryKind::Npc) == 1 {
                break;
            }
            post(&s, "/v1/memories/npc/search", probe.clone()).await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            index.indexed_partitions(MemoryKind::Npc),
            1,
            "the index was installed"
        );
    }
    let before = store(&s).searches().index();
    check_the_account(&s).await;
    assert!(
        store(&s).searches().index() > before,
        "searches went through the index"
    );
    s.stop().await;
}

on_both_backends!(
    exhausted_with_exact_ranking,
    exhausted_through_the_hnsw_index
);

//! Per-NPC budgets: over budget, the memories with the lowest retention go
//! (never the newest `keep_newest`), on the write or by housekeeping; every
//! memory that goes is in the forgotten log with its reason.

use std::time::Duration;

use mnemo::memory::MemorySettings;
use reqwest::Method;
use serde_json::json;

use super::{get, ids, items, let_one_second_pass, memory, post, put, remember, service, store};
use crate::support::http::assert_error;

/// An NPC memory with this importance.
fn rated(npc: i64, summary: &str, importance: f64) -> serde_json::Value {
    let mut m = memory(npc, 1, summary);
    m["importance"] = json!(importance);
    m
}

async fn an_npc_over_its_budget_forgets_what_it_values_least(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let (status, policy) = put(
        &s,
        "/v1/npcs/5/memory-policy",
        json!({"max_memories": 3, "keep_newest": 1, "half_life_hours": 1000}),
    )
    .await;
    assert_eq!(status, 200, "{policy}");
    assert_eq!(policy["budget"], 3);
    let quest = remember(&s, rated(5, "the lost crown lies under the mill", 0.9)).await;
    let weather = remember(&s, rated(5, "nice weather today", 0.1)).await;
    let rumour = remember(&s, rated(5, "the miller owes the smith money", 0.6)).await;
    // Over budget: the newest (kept by keep_newest) stays, the least valued goes.
    let greeting = remember(&s, rated(5, "good morning", 0.05)).await;
    let (_, listed) = get(&s, "/v1/memories/npc?npc_id=5").await;
    assert_eq!(ids(&listed), vec![quest, rumour, greeting]);
    let farewell = remember(&s, rated(5, "farewell, traveller", 0.5)).await;
    let (_, listed) = get(&s, "/v1/memories/npc?npc_id=5").await;
    assert_eq!(ids(&listed), vec![quest, rumour, farewell]);

    let (_, forgotten) = get(&s, "/v1/npcs/5/forgotten").await;
    let gone: Vec<(i64, &str)> = items(&forgotten)
        .iter()
        .map(|e| (e["id"].as_i64().unwrap(), e["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(gone, vec![(weather, "budget"), (greeting, "budget")]);
    assert_eq!(items(&forgotten)[0]["summary"], "nice weather today");
    let metrics = s.call(Method::GET, "/metrics", None, None).await;
    let metrics = metrics.text().await.unwrap();
    assert!(
        metrics.contains("mnemo_memories_forgotten_total{reason=\"budget\"} 2"),
        "{metrics}"
    );
    s.stop().await;
}

async fn the_default_budget_holds_npcs_without_a_policy_and_zero_is_unlimited(backend: &str) {
    let settings = MemorySettings {
        npc_budget: Some(2),
        ..MemorySettings::default()
    };
    let (s, _) = service(backend, settings).await;
    let (_, view) = get(&s, "/v1/npcs/1/memory-policy").await;
    assert_eq!(view["budget"], 2, "{view}");
    assert_eq!(view["max_memories"], serde_json::Value::Null);
    assert_eq!(view["effective_half_life_hours"], 168.0);
    let (status, _) = put(&s, "/v1/npcs/2/memory-policy", json!({"max_memories": 0})).await;
    assert_eq!(status, 200);
    for i in 0..3 {
        remember(&s, memory(1, 1, &format!("npc one, memory {i}"))).await;
        remember(&s, memory(2, 1, &format!("npc two, memory {i}"))).await;
    }
    let (_, one) = get(&s, "/v1/memories/npc?npc_id=1").await;
    let (_, two) = get(&s, "/v1/memories/npc?npc_id=2").await;
    assert_eq!(items(&one).len(), 2, "the default budget");
    assert_eq!(items(&two).len(), 3, "0: unlimited");
    s.stop().await;
}

async fn a_large_excess_is_left_to_housekeeping(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    put(&s, "/v1/npcs/9/memory-policy", json!({"max_memories": 5})).await;
    let batch: Vec<serde_json::Value> = (0..40)
        .map(|i| rated(9, &format!("memory number {i}"), f64::from(i) / 100.0))
        .collect();
    let (status, stored) = post(&s, "/v1/memories/npc/batch", json!({"memories": batch})).await;
    assert_eq!(status, 201, "{stored}");
    let (_, listed) = get(&s, "/v1/memories/npc?npc_id=9").await;
    assert_eq!(
        items(&listed).len(),
        40,
        "35 over: the store does not wait for it"
    );

    let upkeep = store(&s).housekeeping().await.expect("housekeeping");

    assert_eq!(upkeep.evicted, 35);
    let (_, listed) = get(&s, "/v1/memories/npc?npc_id=9").await;
    let kept: Vec<f64> = items(&listed)
        .iter()
        .map(|m| m["importance"].as_f64().unwrap())
        .collect();
    assert_eq!(
        kept,
        vec![0.35, 0.36, 0.37, 0.38, 0.39],
        "the most important stay"
    );
    s.stop().await;
}

async fn concurrent_stores_leave_an_npc_exactly_at_its_budget(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    put(&s, "/v1/npcs/4/memory-policy", json!({"max_memories": 5})).await;
    let stores = (0..12).map(|i| {
        let s = &s;
        async move { remember(s, memory(4, i, &format!("chatter {i}"))).await }
    });
    futures_util::future::join_all(stores).await;
    let (_, listed) = get(&s, "/v1/memories/npc?npc_id=4").await;
    assert_eq!(items(&listed).len(), 5);
    let (_, forgotten) = get(&s, "/v1/npcs/4/forgotten").await;
    assert_eq!(items(&forgotten).len(), 7, "every eviction is in the log");
    s.stop().await;
}

async fn policy_input_is_checked(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    for (body, field) in [
        (json!({"max_memories": -1}), "max_memories"),
        (json!({"half_life_hours": 0}), "half_life_hours"),
        (json!({"keep_newest": -2}), "keep_newest"),
        (json!({"max_memories": 3, "keep_newest": 4}), "keep_newest"),
        (json!({"budget": 3}), "budget"),
    ] {
        assert_error(
            &put(&s, "/v1/npcs/1/memory-policy", body).await,
            400,
            "invalid",
            Some(field),
        );
    }
    let body = json!({"max_memories": 10, "half_life_hours": 24, "keep_newest": 2});
    let (_, first) = put(&s, "/v1/npcs/1/memory-policy", body.clone()).await;
    let (_, again) = put(&s, "/v1/npcs/1/memory-policy", body).await;
    assert_eq!(first["budget"], 10);
    assert_eq!(again["keep_newest"], 2);
    let (_, read) = get(&s, "/v1/npcs/1/memory-policy").await;
    assert_eq!(read["effective_half_life_hours"], 24.0);
    assert_error(
        &get(&s, "/v1/npcs/x/memory-policy").await,
        400,
        "invalid",
        Some("npc_id"),
    );
    s.stop().await;
}

async fn api_deletes_are_in_the_forgotten_log_until_it_is_pruned(backend: &str) {
    let settings = MemorySettings {
        forgotten_retention: Duration::from_secs(1),
        ..MemorySettings::default()
    };
    let (s, _) = service(backend, settings).await;
    let one = remember(&s, memory(6, 1, "first")).await;
    let two = remember(&s, memory(6, 2, "second")).await;
    let three = remember(&s, memory(6, 2, "third")).await;
    let (status, _) = s
        .as_admin(Method::DELETE, &format!("/v1/memories/npc/{one}"), None)
        .await;
    assert_eq!(status, 204);
    let (_, deleted) = s
        .as_admin(Method::DELETE, "/v1/speakers/2/memories", None)
        .await;
    assert_eq!(deleted["deleted"], 2);
    let (_, page) = get(&s, "/v1/npcs/6/forgotten?limit=2").await;
    assert_eq!(ids(&page), vec![one, two]);
    assert!(items(&page).iter().all(|e| e["reason"] == "deleted"));
    let after = page["next_after"].as_i64().expect("a second page");
    let (_, rest) = get(&s, &format!("/v1/npcs/6/forgotten?after={after}")).await;
    assert_eq!(ids(&rest), vec![three]);

    let_one_second_pass().await;
    let upkeep = store(&s).housekeeping().await.expect("housekeeping");

    assert_eq!(upkeep.forgotten_pruned, 3);
    let (_, pruned) = get(&s, "/v1/npcs/6/forgotten").await;
    assert!(items(&pruned).is_empty());
    s.stop().await;
}

on_both_backends!(
    an_npc_over_its_budget_forgets_what_it_values_least,
    the_default_budget_holds_npcs_without_a_policy_and_zero_is_unlimited,
    a_large_excess_is_left_to_housekeeping,
    concurrent_stores_leave_an_npc_exactly_at_its_budget,
    policy_input_is_checked,
    api_deletes_are_in_the_forgotten_log_until_it_is_pruned,
);

//! Memories that expire leave every read at once and are purged later, each
//! purge recorded in the forgotten log and counted in `/metrics`.

use mnemo::memory::MemorySettings;
use reqwest::Method;
use serde_json::json;

use super::{get, ids, items, let_one_second_pass, memory, post, put, remember, service, store};
use crate::support::http::assert_error;

async fn an_expired_memory_leaves_every_read_at_once(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let kept = remember(&s, memory(1, 7, "the bridge is out, take the ford")).await;
    let mut fleeting = memory(1, 7, "the bridge toll is two coppers today");
    fleeting["ttl_seconds"] = json!(1);
    let gone = remember(&s, fleeting).await;
    let search =
        |mode: &str| json!({"npc_id": 1, "query": "bridge toll", "mode": mode, "top_k": 10});
    let (_, before) = post(&s, "/v1/memories/npc/search", search("vector")).await;
    assert_eq!(
        ids(&before).len(),
        2,
        "both found before the expiry: {before}"
    );

    let_one_second_pass().await;

    assert_error(
        &get(&s, &format!("/v1/memories/npc/{gone}")).await,
        404,
        "not_found",
        None,
    );
    let (_, listed) = get(&s, "/v1/memories/npc?npc_id=1").await;
    assert_eq!(ids(&listed), vec![kept], "list");
    for mode in ["vector", "keyword", "hybrid"] {
        let (status, found) = post(&s, "/v1/memories/npc/search", search(mode)).await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(ids(&found), vec![kept], "{mode} search");
        assert_eq!(
            found["exhausted"], true,
            "an expired memory is not in the scope"
        );
    }
    let (_, recent) = get(&s, "/v1/memories/npc/recent?npc_id=1").await;
    assert_eq!(ids(&recent), vec![kept], "recent");
    let (_, last) = get(
        &s,
        "/v1/memories/npc/last-interaction?npc_id=1&speaker_id=7",
    )
    .await;
    let (_, kept_row) = get(&s, &format!("/v1/memories/npc/{kept}")).await;
    assert_eq!(
        last["last_interaction"]["created_at"], kept_row["created_at"],
        "the last interaction is the memory still remembered"
    );
    let (_, context) = post(
        &s,
        "/v1/npcs/1/context",
        json!({"speaker_id": 7, "message": "what does the bridge toll cost?"}),
    )
    .await;
    let context_ids = |key: &str| -> Vec<i64> {
        context[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_i64().unwrap())
            .collect()
    };
    assert_eq!(context_ids("recent"), vec![kept], "context recent");
    assert_eq!(context_ids("memories"), vec![kept], "context memories");
    s.stop().await;
}

async fn expired_memories_of_every_kind_are_purged_into_the_forgotten_log(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let mut npc = memory(3, 1, "small talk about the weather");
    npc["ttl_seconds"] = json!(1);
    let npc_id = remember(&s, npc).await;
    let (status, _) = post(
        &s,
        "/v1/memories/combat",
        json!({"mob_type": "wolf", "outcome": "win", "summary": "a short fight", "ttl_seconds": 1}),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = put(
        &s,
        "/v1/memories/lore",
        json!({"title": "Festival", "content": "The lantern festival is tonight.", "scope_level": "local", "ttl_seconds": 1}),
    )
    .await;
    assert_eq!(status, 201);
    remember(&s, memory(3, 1, "a lasting memory")).await;

    let_one_second_pass().await;
    let upkeep = store(&s).housekeeping().await.expect("housekeeping");

    assert_eq!(upkeep.expired, 3, "one memory of each kind");
    let (_, forgotten) = get(&s, "/v1/npcs/3/forgotten").await;
    let entries = items(&forgotten);
    assert_eq!(entries.len(), 1, "{forgotten}");
    assert_eq!(entries[0]["id"], npc_id);
    assert_eq!(entries[0]["reason"], "expired");
    assert_eq!(entries[0]["summary"], "small talk about the weather");
    let (_, combat) = get(&s, "/v1/memories/combat?mob_type=wolf").await;
    assert!(items(&combat).is_empty());
    let res = s.call(Method::GET, "/metrics", None, None).await;
    let metrics = res.text().await.unwrap();
    assert!(
        metrics.contains("mnemo_memories_forgotten_total{reason=\"expired\"} 3"),
        "{metrics}"
    );
    assert_eq!(
        store(&s).housekeeping().await.unwrap().expired,
        0,
        "nothing is purged twice"
    );
    s.stop().await;
}

async fn expiry_and_game_time_inputs_are_checked(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let with = |field: &str, value: serde_json::Value| {
        let mut m = memory(1, 1, "hello");
        m[field] = value;
        m
    };
    let mut both = with("ttl_seconds", json!(60));
    both["expires_at"] = json!("2999-01-01T00:00:00Z");
    for (body, field) in [
        (both, "ttl_seconds"),
        (with("ttl_seconds", json!(0)), "ttl_seconds"),
        (with("ttl_seconds", json!(400_000_000)), "ttl_seconds"),
        (
            with("expires_at", json!("2001-01-01T00:00:00Z")),
            "expires_at",
        ),
        (with("expires_at", json!("next tuesday")), "expires_at"),
        (with("game_time", json!("the third age")), "game_time"),
    ] {
        assert_error(
            &post(&s, "/v1/memories/npc", body).await,
            400,
            "invalid",
            Some(field),
        );
    }
    assert_error(
        &post(
            &s,
            "/v1/memories/combat",
            json!({"mob_type": "wolf", "outcome": "win", "summary": "x", "ttl_seconds": -5}),
        )
        .await,
        400,
        "invalid",
        Some("ttl_seconds"),
    );
    assert_error(
        &put(
            &s,
            "/v1/memories/lore",
            json!({"title": "t", "content": "c", "scope_level": "local", "expires_at": "yesterday"}),
        )
        .await,
        400,
        "invalid",
        Some("expires_at"),
    );
    let (_, listed) = get(&s, "/v1/memories/npc").await;
    assert!(items(&listed).is_empty(), "nothing half-written");
    s.stop().await;
}

on_both_backends!(
    an_expired_memory_leaves_every_read_at_once,
    expired_memories_of_every_kind_are_purged_into_the_forgotten_log,
    expiry_and_game_time_inputs_are_checked,
);

//! No duplicate memories: the same NPC, speaker and text (case and whitespace
//! aside) within the window grows the first memory instead of adding a row,
//! also within one batch and under concurrent identical stores.

use chrono::{DateTime, Utc};
use mnemo::db::{Alias, Args};
use mnemo::memory::MemorySettings;
use serde_json::json;

use super::{get, ids, items, memory, post, remember, service};
use crate::support::http::Service;

async fn a_repeated_memory_grows_the_first_one(backend: &str) {
    let (s, provider) = service(backend, MemorySettings::default()).await;
    let (status, first) = post(&s, "/v1/memories/npc", memory(1, 7, "Well met, stranger.")).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["deduplicated"], false);
    assert_eq!(first["repeat_count"], 1);
    let calls = provider.calls();

    let (status, again) = post(
        &s,
        "/v1/memories/npc",
        memory(1, 7, "  well MET,\n stranger. "),
    )
    .await;

    assert_eq!(status, 200, "{again}");
    assert_eq!(again["deduplicated"], true);
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["repeat_count"], 2);
    assert_eq!(
        again["summary"], "Well met, stranger.",
        "the first memory is kept"
    );
    let seen = |v: &serde_json::Value| v.as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert!(seen(&again["last_seen_at"]) > seen(&first["last_seen_at"]));
    assert_eq!(again["created_at"], first["created_at"]);
    assert_eq!(provider.calls(), calls, "a repeat costs no embedding");
    for (other, what) in [
        (memory(1, 8, "Well met, stranger."), "another speaker"),
        (memory(2, 7, "Well met, stranger."), "another NPC"),
        (memory(1, 7, "Well met, stranger!"), "another text"),
    ] {
        let (status, stored) = post(&s, "/v1/memories/npc", other).await;
        assert_eq!(
            (status, &stored["deduplicated"]),
            (201, &json!(false)),
            "{what}"
        );
    }
    let (_, listed) = get(&s, "/v1/memories/npc?npc_id=1&speaker_id=7").await;
    assert_eq!(items(&listed).len(), 2);
    let encounter = json!({"mob_type": "wolf", "outcome": "win", "summary": "same fight"});
    for _ in 0..2 {
        let (status, _) = post(&s, "/v1/memories/combat", encounter.clone()).await;
        assert_eq!(status, 201, "combat records are not deduplicated");
    }
    s.stop().await;
}

/// Move a memory's creation time back by `minutes`.
async fn age(s: &Service, id: i64, minutes: i64) {
    let pool = s.t.db.pool(Alias::AiMemory);
    let mut args = Args::new();
    let sql = format!(
        "UPDATE ai_memory_npcmemory SET created_at = {} WHERE id = {}",
        args.push(mnemo::db::now_micros() - chrono::Duration::minutes(minutes)),
        args.push(id)
    );
    pool.execute(&sql, args).await.unwrap();
}

async fn only_within_the_window_and_not_when_it_is_off(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let old = remember(&s, memory(1, 1, "the well is dry")).await;
    age(&s, old, 11).await;
    let (status, _) = post(&s, "/v1/memories/npc", memory(1, 1, "the well is dry")).await;
    assert_eq!(
        status, 201,
        "stored 11 minutes ago: outside the 10-minute window"
    );
    s.stop().await;

    let off = MemorySettings {
        dedup_window: std::time::Duration::ZERO,
        ..MemorySettings::default()
    };
    let (s, _) = service(backend, off).await;
    for _ in 0..2 {
        let (status, _) = post(&s, "/v1/memories/npc", memory(1, 1, "the well is dry")).await;
        assert_eq!(status, 201, "window 0: off");
    }
    s.stop().await;
}

async fn a_repeat_keeps_the_later_expiry(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let mut fleeting = memory(1, 1, "see you at dawn");
    fleeting["ttl_seconds"] = json!(60);
    let (_, first) = post(&s, "/v1/memories/npc", fleeting.clone()).await;
    assert!(first["expires_at"].is_string());
    fleeting["ttl_seconds"] = json!(3600);
    let (_, longer) = post(&s, "/v1/memories/npc", fleeting).await;
    assert!(longer["expires_at"].as_str() > first["expires_at"].as_str());
    let (_, forever) = post(&s, "/v1/memories/npc", memory(1, 1, "see you at dawn")).await;
    assert_eq!(forever["repeat_count"], 3);
    assert_eq!(
        forever["expires_at"],
        serde_json::Value::Null,
        "said without expiry: kept"
    );
    s.stop().await;
}

async fn a_batch_is_deduplicated_within_itself(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let batch = json!({"memories": [
        memory(1, 1, "buy my wares"),
        memory(1, 1, "Buy my  wares"),
        memory(1, 1, "fine wares"),
    ]});
    let (status, stored) = post(&s, "/v1/memories/npc/batch", batch).await;
    assert_eq!(status, 201, "{stored}");
    let stored = items(&stored);
    assert_eq!(stored[1]["deduplicated"], true);
    assert_eq!(stored[1]["id"], stored[0]["id"]);
    assert_eq!(stored[1]["repeat_count"], 2);
    let (_, listed) = get(&s, "/v1/memories/npc?npc_id=1").await;
    assert_eq!(items(&listed).len(), 2);
    s.stop().await;
}

async fn identical_stores_at_once_make_one_row(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let stores = (0..16).map(|_| {
        let s = &s;
        async move { post(s, "/v1/memories/npc", memory(3, 3, "Hail, friend!")).await }
    });
    let answers = futures_util::future::join_all(stores).await;
    let created = answers.iter().filter(|(status, _)| *status == 201).count();
    let repeated = answers.iter().filter(|(status, _)| *status == 200).count();
    assert_eq!((created, repeated), (1, 15), "{answers:?}");
    let (_, listed) = get(&s, "/v1/memories/npc?npc_id=3").await;
    assert_eq!(ids(&listed).len(), 1);
    assert_eq!(items(&listed)[0]["repeat_count"], 16);
    s.stop().await;
}

on_both_backends!(
    a_repeated_memory_grows_the_first_one,
    only_within_the_window_and_not_when_it_is_off,
    a_repeat_keeps_the_later_expiry,
    a_batch_is_deduplicated_within_itself,
    identical_stores_at_once_make_one_row,
);

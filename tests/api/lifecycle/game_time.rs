//! Game time beside wall time: with `game_now`, memories that carry a
//! `game_time` are aged on the game clock (their `time_ago` and recency).

use mnemo::memory::MemorySettings;
use serde_json::json;

use super::{get, ids, items, post, remember, service};
use crate::support::http::assert_error;

const THEN: &str = "1200-03-01T08:00:00Z";
const THREE_DAYS_LATER: &str = "1200-03-04T08:00:00Z";

fn at_game_time(npc: i64, summary: &str, game_time: &str) -> serde_json::Value {
    let mut m = super::memory(npc, 1, summary);
    m["game_time"] = json!(game_time);
    m
}

async fn memories_age_on_the_game_clock_when_the_game_gives_one(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    let plain = remember(&s, super::memory(1, 1, "a traveller asked about the road")).await;
    let dated = remember(
        &s,
        at_game_time(1, "a traveller asked about the harvest", THEN),
    )
    .await;
    let ages = |body: &serde_json::Value, key: &str| -> Vec<(i64, String)> {
        body[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["id"].as_i64().unwrap(),
                    m["time_ago"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let search = |game_now: Option<&str>| json!({"npc_id": 1, "query": "traveller asked", "top_k": 5, "game_now": game_now});

    let (_, on_wall) = post(&s, "/v1/memories/npc/search", search(None)).await;
    let (_, on_game) = post(
        &s,
        "/v1/memories/npc/search",
        search(Some(THREE_DAYS_LATER)),
    )
    .await;

    let mut wall = ages(&on_wall, "items");
    wall.sort();
    assert_eq!(
        wall,
        vec![
            (plain, "a few minutes ago".into()),
            (dated, "a few minutes ago".into())
        ]
    );
    let mut game = ages(&on_game, "items");
    game.sort();
    assert_eq!(
        game,
        vec![
            (plain, "a few minutes ago".into()),
            (dated, "a few days ago".into())
        ],
        "only the memory with a game time is aged on the game clock"
    );
    let found = items(&on_game).iter().find(|m| m["id"] == dated).unwrap();
    assert_eq!(found["game_time"], THEN, "results carry the game time");

    let (_, recent) = get(
        &s,
        &format!("/v1/memories/npc/recent?npc_id=1&game_now={THREE_DAYS_LATER}"),
    )
    .await;
    assert_eq!(
        ages(&recent, "items"),
        vec![
            (plain, "a few minutes ago".into()),
            (dated, "a few days ago".into())
        ]
    );
    let (_, last) = get(
        &s,
        &format!(
            "/v1/memories/npc/last-interaction?npc_id=1&speaker_id=1&game_now={THREE_DAYS_LATER}"
        ),
    )
    .await;
    assert_eq!(
        last["last_interaction"]["time_ago"], "a few days ago",
        "{last}"
    );
    assert_eq!(last["last_interaction"]["game_time"], THEN);
    let (_, context) = post(
        &s,
        "/v1/npcs/1/context",
        json!({"speaker_id": 1, "message": "the harvest?", "game_now": THREE_DAYS_LATER}),
    )
    .await;
    assert_eq!(context["last_interaction"]["time_ago"], "a few days ago");
    assert!(
        ages(&context, "memories").contains(&(dated, "a few days ago".into())),
        "{context}"
    );
    s.stop().await;
}

async fn recency_decay_runs_on_the_game_clock(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    // Stored first on the wall clock, but the newer of the two in the game.
    let recent_in_game = remember(
        &s,
        at_game_time(1, "the dragon woke", "1200-03-03T08:00:00Z"),
    )
    .await;
    let old_in_game = remember(
        &s,
        at_game_time(1, "the dragon slept", "1200-01-01T08:00:00Z"),
    )
    .await;
    let search = |game_now: Option<&str>| {
        json!({
            "npc_id": 1, "query": "dragon", "top_k": 2, "game_now": game_now,
            "weights": {"similarity": 0, "recency": 1, "half_life_hours": 24},
        })
    };
    let (_, on_wall) = post(&s, "/v1/memories/npc/search", search(None)).await;
    let (_, on_game) = post(
        &s,
        "/v1/memories/npc/search",
        search(Some(THREE_DAYS_LATER)),
    )
    .await;
    assert_eq!(
        ids(&on_wall),
        vec![old_in_game, recent_in_game],
        "newest on the wall clock"
    );
    assert_eq!(
        ids(&on_game),
        vec![recent_in_game, old_in_game],
        "newest on the game clock"
    );
    s.stop().await;
}

async fn a_bad_game_clock_is_refused_naming_it(backend: &str) {
    let (s, _) = service(backend, MemorySettings::default()).await;
    assert_error(
        &post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": 1, "query": "x", "game_now": "midsummer"}),
        )
        .await,
        400,
        "invalid",
        Some("game_now"),
    );
    assert_error(
        &get(&s, "/v1/memories/npc/recent?npc_id=1&game_now=dusk").await,
        400,
        "invalid",
        Some("game_now"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/lore/search",
            json!({"query": "x", "game_now": "1200"}),
        )
        .await,
        400,
        "invalid",
        Some("game_now"),
    );
    s.stop().await;
}

on_both_backends!(
    memories_age_on_the_game_clock_when_the_game_gives_one,
    recency_decay_runs_on_the_game_clock,
    a_bad_game_clock_is_refused_naming_it,
);

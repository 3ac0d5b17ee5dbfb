//! Memory routes over real HTTP, on both backends: every route's success and
//! error paths, vectors on the wire, pending embeddings and the worker, the
//! one-embedding context, lore upserts and imports, scopes, readiness, metrics,
//! and a graceful shutdown that loses no acknowledged write.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::support::db::{TestDb, random_vector};
use crate::support::http::{Service, assert_error, status_json, test_settings};
use crate::support::serve::ServeProcess;
use mnemo::embed::mock::{MockOpenAi, MockReply};
use mnemo::embed::{OpenAiEmbedder, OpenAiSettings};
use mnemo::http::{AppState, STARTUP};
use mnemo::memory::encode_b64_vector;
use reqwest::Method;
use serde_json::{Value, json};

fn said(npc_id: i64, speaker_id: i64, user: &str, reply: &str) -> Value {
    json!({
        "npc_id": npc_id,
        "speaker_id": speaker_id,
        "speaker_name": format!("Player{speaker_id}"),
        "npc_name": format!("Npc{npc_id}"),
        "user_message": user,
        "assistant_message": reply,
    })
}

async fn post(s: &Service, path: &str, body: Value) -> (u16, Value) {
    s.as_admin(Method::POST, path, Some(body)).await
}

async fn get(s: &Service, path: &str) -> (u16, Value) {
    s.as_admin(Method::GET, path, None).await
}

/// A background worker that looks for pending rows every 50 ms.
fn fast_worker() -> mnemo::memory::WorkerSettings {
    mnemo::memory::WorkerSettings {
        idle: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        ..mnemo::memory::WorkerSettings::default()
    }
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("items")
}

/// An OpenAI provider pointed at the mock, with the hash model's name and
/// dimension so rows look alike, and a short deadline.
fn openai_at(mock: &MockOpenAi) -> Arc<OpenAiEmbedder> {
    Arc::new(
        OpenAiEmbedder::new(OpenAiSettings {
            api_key: "test".into(),
            base_url: Some(mock.base_url()),
            model: "mnemo-hash-v1".into(),
            deadline: Duration::from_millis(300),
            ..OpenAiSettings::default()
        })
        .expect("openai provider"),
    )
}

async fn npc_store_get_list_delete(backend: &str) {
    let s = Service::start(backend, test_settings()).await;

    let res = s
        .call(
            Method::POST,
            "/v1/memories/npc",
            Some(&s.admin),
            Some(said(1, 7, "is the bridge out?", "take the ford")),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, first) = status_json(res).await;
    let id = first["id"].as_i64().unwrap();
    assert_eq!(location, format!("/v1/memories/npc/{id}"));
    assert_eq!(first["embedding_state"], "ready");
    assert_eq!(
        first["summary"],
        "Player7 said: \"is the bridge out?\" | Npc1 replied: \"take the ford\""
    );
    assert!(
        first.get("embedding").is_none(),
        "responses carry no vectors"
    );

    let (status, got) = get(&s, &location).await;
    assert_eq!(status, 200);
    assert_eq!(got["id"], id);
    assert_eq!(got["embedding_model"], "mnemo-hash-v1");
    assert_error(
        &get(&s, "/v1/memories/npc/999999").await,
        404,
        "not_found",
        None,
    );
    assert_error(
        &get(&s, "/v1/memories/npc/abc").await,
        400,
        "invalid",
        Some("id"),
    );

    // Batch: one transaction; empty and unknown fields refused.
    let batch: Vec<Value> = (0..4)
        .map(|i| said(1, 8 + i % 2, &format!("question {i}"), "answer"))
        .collect();
    let (status, stored) = post(&s, "/v1/memories/npc/batch", json!({"memories": batch})).await;
    assert_eq!(status, 201, "{stored}");
    assert_eq!(items(&stored).len(), 4);
    assert_error(
        &post(&s, "/v1/memories/npc/batch", json!({"memories": []})).await,
        400,
        "invalid",
        Some("memories"),
    );
    let too_many: Vec<Value> = (0..257).map(|_| said(1, 1, "a", "b")).collect();
    assert_error(
        &post(&s, "/v1/memories/npc/batch", json!({"memories": too_many})).await,
        400,
        "invalid",
        Some("memories"),
    );
    let mut unknown = said(1, 7, "a", "b");
    unknown["mood"] = json!("grim");
    assert_error(
        &post(&s, "/v1/memories/npc", unknown).await,
        400,
        "invalid",
        Some("mood"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/npc",
            json!({"npc_id": 1, "summary": "\u{0}hidden"}),
        )
        .await,
        400,
        "invalid",
        Some("summary"),
    );
    assert_error(
        &post(&s, "/v1/memories/npc", json!({"npc_id": 1})).await,
        400,
        "invalid",
        Some("summary"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/npc",
            json!({"npc_id": 1, "summary": "x", "importance": 2}),
        )
        .await,
        400,
        "invalid",
        Some("importance"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/npc",
            json!({"npc_id": 1, "summary": "x", "speaker_name": "n".repeat(81)}),
        )
        .await,
        400,
        "invalid",
        Some("speaker_name"),
    );

    // List with filters and the cursor.
    let (status, page1) = get(&s, "/v1/memories/npc?npc_id=1&limit=3").await;
    assert_eq!(status, 200, "{page1}");
    assert_eq!(items(&page1).len(), 3);
    let after = page1["next_after"].as_i64().expect("more pages");
    let (_, page2) = get(
        &s,
        &format!("/v1/memories/npc?npc_id=1&limit=3&after={after}"),
    )
    .await;
    assert_eq!(items(&page2).len(), 2);
    assert_eq!(page2["next_after"], Value::Null);
    let (_, by_speaker) = get(&s, "/v1/memories/npc?speaker_id=8").await;
    assert_eq!(items(&by_speaker).len(), 2);
    assert_error(
        &get(&s, "/v1/memories/npc?limit=0").await,
        400,
        "invalid",
        Some("limit"),
    );
    assert_error(
        &get(&s, "/v1/memories/npc?npc=1").await,
        400,
        "invalid",
        Some("npc"),
    );

    // Recent (oldest first) and last interaction (null when they never talked).
    let (status, recent) = get(&s, "/v1/memories/npc/recent?npc_id=1&limit=2").await;
    assert_eq!(status, 200, "{recent}");
    let recent = items(&recent);
    assert_eq!(recent.len(), 2);
    assert!(recent[0]["id"].as_i64() < recent[1]["id"].as_i64());
    assert_error(
        &get(&s, "/v1/memories/npc/recent").await,
        400,
        "invalid",
        Some("npc_id"),
    );
    assert_error(
        &get(&s, "/v1/memories/npc/recent?npc_id=1&limit=101").await,
        400,
        "invalid",
        Some("limit"),
    );
    let (status, last) = get(
        &s,
        "/v1/memories/npc/last-interaction?npc_id=1&speaker_id=7",
    )
    .await;
    assert_eq!(status, 200);
    assert!(last["last_interaction"]["time_ago"].is_string(), "{last}");
    let (status, never) = get(
        &s,
        "/v1/memories/npc/last-interaction?npc_id=1&speaker_id=999",
    )
    .await;
    assert_eq!((status, &never["last_interaction"]), (200, &Value::Null));
    assert_error(
        &get(&s, "/v1/memories/npc/last-interaction?npc_id=1").await,
        400,
        "invalid",
        Some("speaker_id"),
    );

    // Deletes: one, a speaker everywhere, an NPC.
    let (status, _) = s.as_admin(Method::DELETE, &location, None).await;
    assert_eq!(status, 204);
    assert_error(
        &s.as_admin(Method::DELETE, &location, None).await,
        404,
        "not_found",
        None,
    );
    let (status, gone) = s
        .as_admin(Method::DELETE, "/v1/speakers/8/memories", None)
        .await;
    assert_eq!((status, gone), (200, json!({"deleted": 2})));
    assert_error(
        &s.as_admin(Method::DELETE, "/v1/memories/npc", None).await,
        400,
        "invalid",
        Some("npc_id"),
    );
    let (status, gone) = s
        .as_admin(Method::DELETE, "/v1/memories/npc?npc_id=1", None)
        .await;
    assert_eq!((status, gone), (200, json!({"deleted": 2})));
    let (_, empty) = get(&s, "/v1/memories/npc").await;
    assert!(items(&empty).is_empty());
    s.stop().await;
}

async fn npc_search_and_vectors_on_the_wire(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    for (i, (user, reply)) in [
        ("where is the blacksmith", "by the river"),
        ("any work for me", "the mill needs hands"),
        ("tell me about dragons", "they sleep in the north"),
    ]
    .into_iter()
    .enumerate()
    {
        let (status, _) = post(&s, "/v1/memories/npc", said(3, 10 + i as i64, user, reply)).await;
        assert_eq!(status, 201);
    }
    let (status, found) = post(
        &s,
        "/v1/memories/npc/search",
        json!({"npc_id": 3, "query": "dragons in the north", "top_k": 2}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    let found = items(&found);
    assert_eq!(found.len(), 2);
    assert_eq!(found[0]["user_message"], "tell me about dragons");
    assert!(found[0]["similarity"].as_f64() >= found[1]["similarity"].as_f64());
    assert!(found[0]["time_ago"].is_string());

    // Limits and bad input, each naming the field.
    assert_error(
        &post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": 3, "query": "x", "top_k": 101}),
        )
        .await,
        400,
        "invalid",
        Some("top_k"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": 3, "query": "  "}),
        )
        .await,
        400,
        "invalid",
        Some("query"),
    );
    assert_error(
        &post(&s, "/v1/memories/npc/search", json!({"npc_id": 3})).await,
        400,
        "invalid",
        Some("query"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": 3, "embedding": [0.5, 0.5]}),
        )
        .await,
        400,
        "invalid",
        Some("embedding"),
    );
    let mut overflow = vec![json!(0.1); 1536];
    overflow[5] = json!(1e39); // not a finite f32
    assert_error(
        &post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": 3, "embedding": overflow}),
        )
        .await,
        400,
        "invalid",
        Some("embedding"),
    );
    let mut nan = random_vector(1, 1536);
    nan[9] = f32::NAN;
    assert_error(
        &post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": 3, "embedding_b64": encode_b64_vector(&nan)}),
        )
        .await,
        400,
        "invalid",
        Some("embedding_b64"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": 3, "embedding_b64": "not base64!"}),
        )
        .await,
        400,
        "invalid",
        Some("embedding_b64"),
    );
    let v = random_vector(2, 1536);
    assert_error(
        &post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": 3, "embedding": v, "embedding_b64": encode_b64_vector(&v)}),
        )
        .await,
        400,
        "invalid",
        Some("embedding_b64"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/npc",
            json!({"npc_id": 3, "summary": "x", "embedding": [1.0, 2.0]}),
        )
        .await,
        400,
        "invalid",
        Some("embedding"),
    );

    // Caller vectors: stored as numbers or as base64, searched either way,
    // the same results.
    let target = random_vector(42, 1536);
    let (status, by_numbers) = post(
        &s,
        "/v1/memories/npc",
        json!({"npc_id": 4, "summary": "numbers", "embedding": target}),
    )
    .await;
    assert_eq!(status, 201, "{by_numbers}");
    let (status, _) = post(
        &s,
        "/v1/memories/npc",
        json!({"npc_id": 4, "summary": "base64", "embedding_b64": encode_b64_vector(&random_vector(43, 1536))}),
    )
    .await;
    assert_eq!(status, 201);
    let (_, numbers) = post(
        &s,
        "/v1/memories/npc/search",
        json!({"npc_id": 4, "embedding": target, "top_k": 2}),
    )
    .await;
    let (_, base64) = post(
        &s,
        "/v1/memories/npc/search",
        json!({"npc_id": 4, "embedding_b64": encode_b64_vector(&target), "top_k": 2}),
    )
    .await;
    assert_eq!(numbers, base64);
    assert_eq!(items(&numbers)[0]["id"], by_numbers["id"]);
    assert!((items(&numbers)[0]["similarity"].as_f64().unwrap() - 1.0).abs() < 1e-5);
    s.stop().await;
}

async fn combat_routes(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let fight = |name: &str, outcome: &str, summary: &str| {
        json!({
            "mob_type": "goblin", "mob_name": name, "outcome": outcome,
            "party_composition": ["warrior", "mage"], "hp_remaining_pct": 20.0,
            "summary": summary,
        })
    };
    let res = s
        .call(
            Method::POST,
            "/v1/memories/combat",
            Some(&s.admin),
            Some(fight("Grik", "fled", "burnt by a mage with fire")),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, grik) = status_json(res).await;
    assert_eq!(grik["party_size"], 2);
    assert_eq!(grik["embedding_state"], "ready");
    let (status, _) = post(
        &s,
        "/v1/memories/combat",
        fight("Snag", "win", "a lone warrior fell to arrows"),
    )
    .await;
    assert_eq!(status, 201);
    assert_error(
        &post(&s, "/v1/memories/combat", fight("Grik", "victory", "x")).await,
        400,
        "invalid",
        Some("outcome"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/combat",
            json!({"mob_type": "goblin", "outcome": "win"}),
        )
        .await,
        400,
        "invalid",
        Some("summary"),
    );

    let (status, found) = post(
        &s,
        "/v1/memories/combat/search",
        json!({"mob_type": "goblin", "query": "a mage with fire", "top_k": 1}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(items(&found)[0]["mob_name"], "Grik");
    let (_, only_wins) = post(
        &s,
        "/v1/memories/combat/search",
        json!({"mob_type": "goblin", "query": "a mage with fire", "outcome": "win"}),
    )
    .await;
    assert_eq!(items(&only_wins).len(), 1);
    assert_eq!(items(&only_wins)[0]["mob_name"], "Snag");
    assert_error(
        &post(
            &s,
            "/v1/memories/combat/search",
            json!({"mob_type": "goblin", "query": "x", "scope": "per_instance"}),
        )
        .await,
        400,
        "invalid",
        Some("mob_name"),
    );
    assert_error(
        &post(
            &s,
            "/v1/memories/combat/search",
            json!({"mob_type": "goblin", "query": "x", "top_k": 101}),
        )
        .await,
        400,
        "invalid",
        Some("top_k"),
    );

    let (_, all) = get(&s, "/v1/memories/combat?mob_type=goblin&limit=1").await;
    assert_eq!(items(&all).len(), 1);
    assert!(all["next_after"].is_i64());
    let (_, snag) = get(&s, "/v1/memories/combat?mob_name=Snag").await;
    assert_eq!(items(&snag).len(), 1);
    let (status, got) = get(&s, &location).await;
    assert_eq!((status, &got["mob_name"]), (200, &json!("Grik")));
    let (status, _) = s.as_admin(Method::DELETE, &location, None).await;
    assert_eq!(status, 204);
    assert_error(&get(&s, &location).await, 404, "not_found", None);
    s.stop().await;
}

async fn lore_routes_and_import(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let entry = json!({
        "source": "world.yaml", "title": "The Old Bridge", "scope_level": "regional",
        "scope_tags": ["riverlands"], "content": "The bridge over the Grey River fell in the floods.",
    });
    let res = s
        .call(
            Method::PUT,
            "/v1/memories/lore",
            Some(&s.admin),
            Some(entry.clone()),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, created) = status_json(res).await;
    assert_eq!(created["outcome"], "created");
    let (status, same) = s
        .as_admin(Method::PUT, "/v1/memories/lore", Some(entry.clone()))
        .await;
    assert_eq!((status, &same["outcome"]), (200, &json!("unchanged")));
    let mut changed = entry.clone();
    changed["content"] = json!("The bridge was rebuilt in stone.");
    let (status, updated) = s
        .as_admin(Method::PUT, "/v1/memories/lore", Some(changed))
        .await;
    assert_eq!((status, &updated["outcome"]), (200, &json!("updated")));
    assert_eq!(updated["id"], created["id"]);
    let mut bad = entry.clone();
    bad["scope_level"] = json!("planetary");
    assert_error(
        &s.as_admin(Method::PUT, "/v1/memories/lore", Some(bad))
            .await,
        400,
        "invalid",
        Some("scope_level"),
    );

    // The access rule: riverlands lore is not for a northern NPC.
    let (status, found) = post(
        &s,
        "/v1/memories/lore/search",
        json!({"query": "bridge in stone", "npc_tags": ["riverlands"]}),
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(items(&found).len(), 1);
    let (_, none) = post(
        &s,
        "/v1/memories/lore/search",
        json!({"query": "bridge in stone", "npc_tags": ["north"]}),
    )
    .await;
    assert!(items(&none).is_empty());
    assert_error(
        &post(
            &s,
            "/v1/memories/lore/search",
            json!({"query": "x", "top_k": 101}),
        )
        .await,
        400,
        "invalid",
        Some("top_k"),
    );

    // Import: the YAML format, dry run first, then for real with prune.
    let yaml = "source: world.yaml\nentries:\n  - title: The Old Bridge\n    scope_level: regional\n    scope_tags: [riverlands]\n    content: The bridge was rebuilt in stone.\n  - title: The Mill\n    scope_level: local\n    content: The mill grinds barley.\n  - title: Broken\n    scope_level: cosmic\n    content: x\n";
    let (_, other) = s
        .as_admin(
            Method::PUT,
            "/v1/memories/lore",
            Some(json!({"source": "world.yaml", "title": "Gone Tower", "scope_level": "local", "content": "A tower."})),
        )
        .await;
    let import = |query: &'static str, content_type: &'static str, body: String| {
        let req = s
            .client
            .post(s.url(&format!("/v1/memories/lore/import{query}")))
            .bearer_auth(&s.admin)
            .header("content-type", content_type)
            .body(body);
        async move { status_json(req.send().await.unwrap()).await }
    };
    let (status, dry) = import("?prune=true&dry_run=true", "application/yaml", yaml.into()).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        (
            &dry["created"],
            &dry["updated"],
            &dry["unchanged"],
            &dry["failed"]
        ),
        (&json!(1), &json!(0), &json!(1), &json!(1))
    );
    assert_eq!(dry["pruned"], json!(["Gone Tower"]));
    assert_eq!(dry["failures"][0]["field"], "scope_level");
    let (status, _) = get(&s, &format!("/v1/memories/lore/{}", other["id"])).await;
    assert_eq!(status, 200, "a dry run deletes nothing");
    let (_, listed) = get(&s, "/v1/memories/lore?source=world.yaml").await;
    assert_eq!(items(&listed).len(), 2, "a dry run creates nothing");

    let (status, done) = import("?prune=true", "text/yaml", yaml.into()).await;
    assert_eq!(status, 200, "{done}");
    assert_eq!((&done["created"], &done["failed"]), (&json!(1), &json!(1)));
    assert_eq!(done["pruned"], json!(["Gone Tower"]));
    let (status, _) = get(&s, &format!("/v1/memories/lore/{}", other["id"])).await;
    assert_eq!(status, 404);
    // The JSON twin, again: nothing changes.
    let twin = json!({"source": "world.yaml", "entries": [
        {"title": "The Old Bridge", "scope_level": "regional", "scope_tags": ["riverlands"], "content": "The bridge was rebuilt in stone."},
        {"title": "The Mill", "scope_level": "local", "content": "The mill grinds barley."},
    ]});
    let (status, again) = import("", "application/json", twin.to_string()).await;
    assert_eq!((status, &again["unchanged"]), (200, &json!(2)), "{again}");
    assert_error(
        &import("", "text/plain", yaml.into()).await,
        415,
        "unsupported_media_type",
        None,
    );
    assert_error(
        &import("", "application/yaml", "source: [unclosed".into()).await,
        400,
        "invalid",
        Some("body"),
    );
    assert_error(
        &import("", "application/yaml", "entries: []\n".into()).await,
        400,
        "invalid",
        Some("source"),
    );
    assert_error(
        &import("?prune=maybe", "application/yaml", yaml.into()).await,
        400,
        "invalid",
        Some("prune"),
    );

    let (_, page) = get(&s, "/v1/memories/lore?limit=1").await;
    assert_eq!(items(&page).len(), 1);
    let (status, _) = s.as_admin(Method::DELETE, &location, None).await;
    assert_eq!(status, 204);
    assert_error(&get(&s, &location).await, 404, "not_found", None);
    s.stop().await;
}

async fn context_makes_exactly_one_embedding_call(backend: &str) {
    let mock = MockOpenAi::start(1536).unwrap();
    let s = Service::start_with_embedder(backend, test_settings(), openai_at(&mock)).await;
    let (status, _) = post(
        &s,
        "/v1/memories/npc",
        said(5, 7, "have you seen the dragon", "it flew over the mill"),
    )
    .await;
    assert_eq!(status, 201);
    let (status, _) = s
        .as_admin(
            Method::PUT,
            "/v1/memories/lore",
            Some(json!({"title": "Dragons", "scope_level": "continental", "content": "A dragon sleeps in the north."})),
        )
        .await;
    assert_eq!(status, 201);
    let before = mock.requests();
    let (status, ctx) = post(
        &s,
        "/v1/npcs/5/context",
        json!({"speaker_id": 7, "message": "where did the dragon go", "lore_tags": [], "npc_name": "Npc5"}),
    )
    .await;
    assert_eq!(status, 200, "{ctx}");
    assert_eq!(
        mock.requests() - before,
        1,
        "one embedding call per context"
    );
    assert_eq!(ctx["degraded"], false);
    assert_eq!(ctx["recent"].as_array().unwrap().len(), 1);
    assert_eq!(ctx["memories"].as_array().unwrap().len(), 1);
    assert_eq!(ctx["lore"][0]["title"], "Dragons");
    assert!(ctx["last_interaction"]["time_ago"].is_string());
    assert_error(
        &post(
            &s,
            "/v1/npcs/5/context",
            json!({"speaker_id": 7, "message": ""}),
        )
        .await,
        400,
        "invalid",
        Some("message"),
    );
    assert_error(
        &post(&s, "/v1/npcs/5/context", json!({"message": "hi"})).await,
        400,
        "invalid",
        Some("speaker_id"),
    );
    assert_error(
        &post(
            &s,
            "/v1/npcs/x/context",
            json!({"speaker_id": 7, "message": "hi"}),
        )
        .await,
        400,
        "invalid",
        Some("npc_id"),
    );
    s.stop().await;
}

async fn provider_down_is_202_then_the_worker_embeds(backend: &str) {
    let mock = MockOpenAi::start(1536).unwrap();
    mock.set_fallback(MockReply::status(500));
    let s = Service::start_with_embedder(backend, test_settings(), openai_at(&mock)).await;
    let res = s
        .call(
            Method::POST,
            "/v1/memories/npc",
            Some(&s.admin),
            Some(said(6, 7, "the river is rising", "then we move the grain")),
        )
        .await;
    assert_eq!(res.status(), 202);
    assert!(res.headers().contains_key("location"));
    let (_, pending) = status_json(res).await;
    assert_eq!(pending["embedding_state"], "pending");
    assert!(pending["embedding_error"].is_string());
    assert_eq!(pending["embedding_model"], Value::Null);
    let id = pending["id"].as_i64().unwrap();

    // A search query cannot be embedded: 503 with Retry-After, never a silent fallback.
    let res = s
        .call(
            Method::POST,
            "/v1/memories/npc/search",
            Some(&s.admin),
            Some(json!({"npc_id": 6, "query": "river"})),
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(&status_json(res).await, 503, "embedding_unavailable", None);
    // The context degrades instead (recent memories still come back).
    let (status, ctx) = post(
        &s,
        "/v1/npcs/6/context",
        json!({"speaker_id": 7, "message": "is the river high"}),
    )
    .await;
    assert_eq!((status, &ctx["degraded"]), (200, &json!(true)), "{ctx}");
    assert_eq!(ctx["recent"][0]["id"], id);
    let (_, metrics) = {
        let res = s.call(Method::GET, "/metrics", None, None).await;
        (res.status(), res.text().await.unwrap())
    };
    assert!(
        metrics.contains("mnemo_pending_embeddings{kind=\"npc\"} 1"),
        "{metrics}"
    );

    // The provider recovers; the background worker embeds the row.
    mock.set_fallback(MockReply::Embeddings);
    let store = s.state.memory.get().unwrap().clone();
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = mnemo::memory::spawn_pending_worker(store, fast_worker(), stop_rx);
    let mut embedded = false;
    for _ in 0..100 {
        let (_, got) = get(&s, &format!("/v1/memories/npc/{id}")).await;
        if got["embedding_model"] == "mnemo-hash-v1" {
            embedded = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(true).unwrap();
    worker.await.unwrap();
    assert!(embedded, "the worker embedded the pending memory");
    let (status, found) = post(
        &s,
        "/v1/memories/npc/search",
        json!({"npc_id": 6, "query": "the river is rising"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(items(&found)[0]["id"], id);
    s.stop().await;
}

async fn scopes(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let reader = s.token("reader", "memory:read").await;
    let writer = s.token("writer", "memory:write").await;
    let store = s.url("/v1/memories/npc");
    let search = s.url("/v1/memories/npc/search");
    let send = |url: &str, token: Option<&str>, body: Value| {
        let mut req = s.client.post(url).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move { status_json(req.send().await.unwrap()).await }
    };
    assert_error(
        &send(&store, Some(&reader), said(1, 2, "a", "b")).await,
        403,
        "forbidden",
        None,
    );
    assert_eq!(
        send(&store, Some(&writer), said(1, 2, "a", "b")).await.0,
        201
    );
    let query = json!({"npc_id": 1, "query": "a"});
    assert_eq!(send(&search, Some(&reader), query.clone()).await.0, 200);
    assert_error(
        &send(&search, Some(&writer), query.clone()).await,
        403,
        "forbidden",
        None,
    );
    assert_error(&send(&search, None, query).await, 401, "unauthorized", None);
    let lore = s
        .call(
            Method::PUT,
            "/v1/memories/lore",
            Some(&reader),
            Some(json!({"title": "t", "scope_level": "local", "content": "c"})),
        )
        .await;
    assert_error(&status_json(lore).await, 403, "forbidden", None);
    let forget = s
        .call(
            Method::DELETE,
            "/v1/speakers/2/memories",
            Some(&reader),
            None,
        )
        .await;
    assert_error(&status_json(forget).await, 403, "forbidden", None);
    s.stop().await;
}

async fn readiness_waits_for_the_memory_index(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let state = AppState::new(t.db.clone());
    state.readiness.hold("memory index");
    state.readiness.release(STARTUP);
    let s = Service::start_with(t, state.clone(), test_settings()).await;
    let got = status_json(s.call(Method::GET, "/readyz", None, None).await).await;
    assert_error(&got, 503, "not_ready", None);
    let res = s
        .call(
            Method::POST,
            "/v1/memories/npc/search",
            Some(&s.admin),
            Some(json!({"npc_id": 1, "query": "a"})),
        )
        .await;
    assert!(res.headers().contains_key("retry-after"));
    assert_error(&status_json(res).await, 503, "not_ready", None);

    let store = crate::support::db::memory_store(&s.t.db).await;
    state.memory.set(Arc::new(store));
    state.readiness.release("memory index");
    let (status, _) = status_json(s.call(Method::GET, "/readyz", None, None).await).await;
    assert_eq!(status, 200);
    let (status, _) = post(
        &s,
        "/v1/memories/npc/search",
        json!({"npc_id": 1, "query": "a"}),
    )
    .await;
    assert_eq!(status, 200);
    s.stop().await;
}

async fn metrics_show_search_latency_cache_and_partitions(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    post(&s, "/v1/memories/npc", said(1, 2, "hello", "hi")).await;
    for _ in 0..2 {
        let (status, _) = post(
            &s,
            "/v1/memories/npc/search",
            json!({"npc_id": 1, "query": "hello"}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let text = s
        .call(Method::GET, "/metrics", None, None)
        .await
        .text()
        .await
        .unwrap();
    let line =
        format!("mnemo_search_duration_seconds_count{{backend=\"{backend}\",kind=\"npc\"}} 2");
    assert!(text.contains(&line), "{text}");
    assert!(
        text.contains("mnemo_embedding_cache_hits_total 1"),
        "{text}"
    );
    assert!(text.contains("mnemo_embedding_cache_misses_total 1"));
    assert!(text.contains("mnemo_pending_embeddings{kind=\"npc\"} 0"));
    assert!(
        text.contains("mnemo_searches_total{strategy=\"exact\"} 2"),
        "{text}"
    );
    assert!(text.contains("mnemo_searches_total{strategy=\"hnsw\"} 0"));
    if backend == "sqlite" {
        assert!(
            text.contains("mnemo_partition_rows{kind=\"npc\"} 1"),
            "{text}"
        );
        assert!(text.contains("mnemo_partitions{kind=\"npc\"} 1"));
        assert!(text.contains("mnemo_hnsw_partitions{kind=\"npc\"} 0"));
    }
    s.stop().await;
}

/// The NPC AI layer's example client runs against the service (when python3 is here).
async fn example_client_runs(backend: &str) {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: skipping the example client");
        return;
    }
    let s = Service::start(backend, test_settings()).await;
    let token = s.token("npc-ai", "memory:read,memory:write").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/client.py");
    // The example imports the client package; run it from the checkout's source.
    let package = concat!(env!("CARGO_MANIFEST_DIR"), "/clients/python");
    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .env("PYTHONPATH", package)
            .env("MNEMO_URL", base)
            .env("MNEMO_TOKEN", token)
            .output()
            .expect("run python3")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("stored memory"), "{stdout}");
    assert!(stdout.contains("context:"), "{stdout}");
    s.stop().await;
}

/// With the default body limit a full batch (256 memories) carrying its own
/// 1536-d vectors fits, as JSON numbers printed at f64 width (as Python and
/// JavaScript clients print them) and as base64.
async fn a_full_batch_with_its_vectors_fits_the_default_body_limit(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let memory = |i: u64, b64: bool| {
        let v = random_vector(i, 1536);
        let mut m = said(3, 4, &format!("line {i}"), "aye");
        if b64 {
            m["embedding_b64"] = json!(encode_b64_vector(&v));
        } else {
            let wide: Vec<f64> = v.iter().map(|x| f64::from(*x)).collect();
            m["embedding"] = json!(wide);
        }
        m
    };
    for b64 in [false, true] {
        let batch: Vec<Value> = (0..256).map(|i| memory(i, b64)).collect();
        let body = json!({ "memories": batch });
        let (status, reply) = post(&s, "/v1/memories/npc/batch", body).await;
        assert_eq!(status, 201, "b64={b64}: {}", reply["error"]);
        assert_eq!(items(&reply).len(), 256);
    }
    s.stop().await;
}

/// Every kind stored by POST has its batch route: one call, one transaction,
/// all or nothing.
async fn combat_batches_store_all_or_nothing(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let fight = |outcome: &str, summary: &str| json!({"mob_type": "wolf", "outcome": outcome, "summary": summary});
    let batch = json!({"memories": [fight("win", "the pack ran down a lone hunter"),
                                    fight("loss", "torches drove the pack off")]});
    let (status, body) = post(&s, "/v1/memories/combat/batch", batch).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(items(&body).len(), 2);
    assert_eq!(items(&body)[1]["outcome"], "loss");
    let bad = json!({"memories": [fight("win", "a third fight"), fight("victory", "x")]});
    assert_error(
        &post(&s, "/v1/memories/combat/batch", bad).await,
        400,
        "invalid",
        Some("outcome"),
    );
    let (_, listed) = get(&s, "/v1/memories/combat?mob_type=wolf").await;
    assert_eq!(
        items(&listed).len(),
        2,
        "nothing of the refused batch: {listed}"
    );
    s.stop().await;
}

on_both_backends!(
    combat_batches_store_all_or_nothing,
    a_full_batch_with_its_vectors_fits_the_default_body_limit,
    npc_store_get_list_delete,
    npc_search_and_vectors_on_the_wire,
    combat_routes,
    lore_routes_and_import,
    context_makes_exactly_one_embedding_call,
    provider_down_is_202_then_the_worker_embeds,
    scopes,
    readiness_waits_for_the_memory_index,
    metrics_show_search_latency_cache_and_partitions,
    example_client_runs,
);

/// `mnemo serve` as a process: writes fired while SIGTERM arrives are either
/// refused or committed; every acknowledged one is there after a restart.
#[test]
fn graceful_shutdown_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mnemo = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_mnemo"))
            .args(args)
            .env_remove("DATABASE_URL")
            .env("MNEMO_DATA_DIR", &data)
            .env("MNEMO_LOG", "warn")
            .output()
            .expect("run mnemo")
    };
    assert!(mnemo(&["migrate"]).status.success());
    let out = mnemo(&[
        "token",
        "create",
        "--name",
        "t",
        "--scopes",
        "memory:read,memory:write",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();

    let start = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnemo"));
        cmd.args(["serve", "--bind", "127.0.0.1:0"])
            .env_remove("DATABASE_URL")
            .env("MNEMO_DATA_DIR", &data)
            .env("MNEMO_RATE_LIMIT_PER_SECOND", "0")
            .env("MNEMO_SHUTDOWN_TIMEOUT_SECONDS", "10")
            .stdout(Stdio::null());
        let server = ServeProcess::start(cmd);
        let addr = server.addr.clone();
        (server, addr)
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (mut child, addr) = start();
    let acknowledged: Vec<i64> = runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let client = client.clone();
            let url = format!("http://{addr}/v1/memories/npc");
            let token = token.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(i * 2)).await;
                let res = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&said(1, i as i64, &format!("message {i}"), "reply"))
                    .send()
                    .await
                    .ok()?;
                if res.status().as_u16() != 201 && res.status().as_u16() != 202 {
                    return None;
                }
                let body: Value = res.json().await.ok()?;
                body["id"].as_i64()
            }));
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        child.send_sigterm();
        let mut ids = Vec::new();
        for t in tasks {
            if let Some(id) = t.await.unwrap() {
                ids.push(id);
            }
        }
        ids
    });
    let status = child.wait();
    assert!(status.success(), "graceful exit, got {status}");
    assert!(
        !acknowledged.is_empty(),
        "some writes were acknowledged before SIGTERM"
    );

    // Restart and count: every acknowledged write is there.
    let (child, addr) = start();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut found = std::collections::BTreeSet::new();
        let mut after = 0;
        loop {
            let page: Value = client
                .get(format!(
                    "http://{addr}/v1/memories/npc?limit=500&after={after}"
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for m in page["items"].as_array().unwrap() {
                found.insert(m["id"].as_i64().unwrap());
            }
            match page["next_after"].as_i64() {
                Some(a) => after = a,
                None => break,
            }
        }
        let lost: Vec<_> = acknowledged
            .iter()
            .filter(|id| !found.contains(id))
            .collect();
        assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    });
    drop(child);
}

//! An embedding provider outage: up, then 503 to every call, then hanging,
//! then refusing connections, then up again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemo::embed::mock::{MockOpenAi, MockReply};
use mnemo::embed::{
    BreakerSettings, Budget, CachedEmbedder, GuardSettings, OpenAiEmbedder, OpenAiSettings,
};
use mnemo::http::{AppState, STARTUP};
use mnemo::memory::{MemorySettings, MemoryStore, WorkerSettings, spawn_pending_worker};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::db::TestDb;
use crate::support::http::{Service, status_json, test_settings};

/// What one request an NPC waits for may spend on the provider here.
const BUDGET: Duration = Duration::from_millis(400);

/// How much longer than the budget an answer may take on a busy test machine.
/// The failure this guards against took 30 s (the request timeout).
const SLACK: Duration = Duration::from_secs(3);

/// The openai provider on the mock, patient in the background (its own retries
/// with a 1 s timeout per attempt), with a short request budget and `breaker`.
fn provider(mock: &MockOpenAi, breaker: BreakerSettings) -> CachedEmbedder {
    let openai = OpenAiEmbedder::new(OpenAiSettings {
        api_key: "sk-test".into(),
        base_url: Some(mock.base_url()),
        request_timeout: Duration::from_secs(1),
        deadline: Duration::from_secs(3),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        ..OpenAiSettings::default()
    })
    .expect("provider");
    CachedEmbedder::new(Arc::new(openai), 100).with_guard(GuardSettings {
        request: Budget {
            deadline: BUDGET,
            attempts: 2,
        },
        breaker,
    })
}

/// The service on a fresh database with `embedder`.
async fn serve(backend: &str, embedder: CachedEmbedder) -> (Service, Arc<MemoryStore>) {
    let t = TestDb::migrated(backend).await;
    let store = MemoryStore::open(t.db.clone(), Arc::new(embedder), MemorySettings::default())
        .await
        .expect("store");
    let store = Arc::new(store);
    let state = AppState::with_memory(t.db.clone(), store.clone());
    state.readiness.release(STARTUP);
    (Service::start_with(t, state, test_settings()).await, store)
}

fn fast_worker() -> WorkerSettings {
    WorkerSettings {
        idle: Duration::from_millis(50),
        max_backoff: Duration::from_millis(300),
        ..WorkerSettings::default()
    }
}

/// No breaker: every request meets the fault itself.
const NO_BREAKER: BreakerSettings = BreakerSettings {
    failures: 0,
    cooldown: Duration::from_secs(1),
};

fn memory(i: usize) -> Value {
    json!({
        "npc_id": 5,
        "speaker_id": 9,
        "summary": format!("entry {i}: the keeper counted {i} lanterns at the harbour gate"),
    })
}

/// Send `body`, returning status, JSON and how long the answer took.
async fn timed(s: &Service, method: Method, path: &str, body: Value) -> (u16, Value, Duration) {
    let started = Instant::now();
    let res = s.call(method, path, Some(&s.admin), Some(body)).await;
    let retry_after = res.headers().contains_key("retry-after");
    let (status, json) = status_json(res).await;
    if status == 503 {
        assert!(retry_after, "a 503 says when to retry: {json}");
    }
    (status, json, started.elapsed())
}

/// Store one memory during the outage: 202 pending, within the budget.
async fn store_pending(s: &Service, i: usize, ids: &mut Vec<i64>) {
    let (status, body, took) = timed(s, Method::POST, "/v1/memories/npc", memory(i)).await;
    assert_eq!(status, 202, "memory {i}: {body}");
    assert_eq!(body["embedding_state"], "pending");
    assert!(took < BUDGET + SLACK, "memory {i} took {took:?}");
    ids.push(body["id"].as_i64().expect("id"));
}

/// A search during the outage: 503 `embedding_unavailable` at once.
async fn search_fails_fast(s: &Service) {
    let body = json!({"npc_id": 5, "query": "lanterns at the gate"});
    let (status, json, took) = timed(s, Method::POST, "/v1/memories/npc/search", body).await;
    assert_eq!(status, 503, "{json}");
    assert_eq!(json["error"]["code"], "embedding_unavailable");
    assert!(took < BUDGET + SLACK, "search took {took:?}");
}

async fn breaker_state(s: &Service) -> String {
    let metrics = s.call(Method::GET, "/metrics", None, None).await;
    let text = metrics.text().await.expect("metrics");
    text.lines()
        .find(|l| l.starts_with("mnemo_embedding_breaker_state "))
        .unwrap_or_default()
        .to_owned()
}

/// Each fault on its own (no breaker to spare the requests): every store is
/// 202 within the budget, searches are 503 within it, the context degrades,
/// readiness holds; once the provider is back every memory becomes
/// searchable without a restart.
async fn provider_outage_costs_at_most_a_budget_and_loses_nothing(backend: &str) {
    let mock = MockOpenAi::start(1536).expect("mock");
    let (s, store) = serve(backend, provider(&mock, NO_BREAKER)).await;
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = spawn_pending_worker(store, fast_worker(), stop_rx);

    let mut ids = Vec::new();
    for i in 0..2 {
        let (status, body, _) = timed(&s, Method::POST, "/v1/memories/npc", memory(i)).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_i64().unwrap());
    }

    // 503 to every call.
    mock.set_fallback(MockReply::status(503));
    for i in 2..5 {
        store_pending(&s, i, &mut ids).await;
    }
    search_fails_fast(&s).await;
    let (status, ready) = s.as_admin(Method::GET, "/readyz", None).await;
    assert_eq!(status, 200, "the service still stores: {ready}");
    let context = json!({"speaker_id": 9, "message": "any news of the lanterns?"});
    let (status, ctx, took) = timed(&s, Method::POST, "/v1/npcs/5/context", context).await;
    assert_eq!((status, &ctx["degraded"]), (200, &json!(true)), "{ctx}");
    assert!(took < BUDGET + SLACK, "context took {took:?}");

    // Hanging.
    mock.set_fallback(MockReply::Delay(Duration::from_secs(30)));
    for i in 5..7 {
        store_pending(&s, i, &mut ids).await;
    }
    search_fails_fast(&s).await;
    let batch = json!({"memories": [memory(7), memory(8)]});
    let (status, body, took) = timed(&s, Method::POST, "/v1/memories/npc/batch", batch).await;
    assert_eq!(status, 202, "{body}");
    assert!(took < BUDGET + SLACK, "batch took {took:?}");
    for item in body["items"].as_array().unwrap() {
        ids.push(item["id"].as_i64().unwrap());
    }
    let lore = json!({"source": "harbour.yaml", "title": "The Lantern Gate", "scope_level": "local",
                      "content": "Eleven lanterns hang at the harbour gate."});
    let (status, body, took) = timed(&s, Method::PUT, "/v1/memories/lore", lore).await;
    assert_eq!(
        (status, &body["outcome"]),
        (202, &json!("created")),
        "{body}"
    );
    assert!(took < BUDGET + SLACK, "lore took {took:?}");

    // Refusing connections.
    mock.refuse_connections().await;
    for i in 9..11 {
        store_pending(&s, i, &mut ids).await;
    }
    search_fails_fast(&s).await;

    // Back up: every memory becomes searchable, without a restart.
    mock.set_fallback(MockReply::Embeddings);
    mock.accept_connections().expect("listen again");
    let deadline = Instant::now() + Duration::from_secs(60);
    for (i, id) in ids.iter().enumerate() {
        let query = json!({"npc_id": 5, "query": memory(i)["summary"], "top_k": 3});
        loop {
            let (status, body, _) =
                timed(&s, Method::POST, "/v1/memories/npc/search", query.clone()).await;
            let found = status == 200
                && body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|m| m["id"] == *id);
            if found {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "memory {i} ({id}) never became searchable: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let lore = json!({"query": "lanterns at the harbour gate", "top_k": 1});
    let (status, body, _) = timed(&s, Method::POST, "/v1/memories/lore/search", lore).await;
    let title = &body["items"][0]["title"];
    assert_eq!((status, title), (200, &json!("The Lantern Gate")), "{body}");
    stop.send(true).unwrap();
    worker.await.unwrap();
    s.stop().await;
}

/// After three failures in a row, requests stop calling the provider (it sees
/// no more calls however many stores arrive), `/metrics` says the breaker is
/// open, readiness holds, and the background worker's first success closes it.
async fn an_open_breaker_spares_the_provider_until_it_is_back(backend: &str) {
    let mock = MockOpenAi::start(1536).expect("mock");
    let breaker = BreakerSettings {
        failures: 3,
        cooldown: Duration::from_secs(3600),
    };
    let (s, store) = serve(backend, provider(&mock, breaker)).await;
    mock.set_fallback(MockReply::status(503));
    let mut ids = Vec::new();
    for i in 0..3 {
        store_pending(&s, i, &mut ids).await;
    }
    let calls = mock.requests();
    assert!(
        (3..=6).contains(&calls),
        "three requests, two attempts at most: {calls}"
    );
    for i in 3..23 {
        store_pending(&s, i, &mut ids).await;
    }
    search_fails_fast(&s).await;
    assert_eq!(mock.requests(), calls, "no call while the breaker is open");
    assert_eq!(breaker_state(&s).await, "mnemo_embedding_breaker_state 1");
    let (status, ready) = s.as_admin(Method::GET, "/readyz", None).await;
    assert_eq!(status, 200, "{ready}");

    mock.set_fallback(MockReply::Embeddings);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let worker = spawn_pending_worker(store, fast_worker(), stop_rx);
    let deadline = Instant::now() + Duration::from_secs(60);
    while breaker_state(&s).await != "mnemo_embedding_breaker_state 0" {
        assert!(Instant::now() < deadline, "the breaker never closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body, _) = timed(&s, Method::POST, "/v1/memories/npc", memory(99)).await;
    assert_eq!(status, 201, "requests call the provider again: {body}");
    stop.send(true).unwrap();
    worker.await.unwrap();
    s.stop().await;
}

on_both_backends!(
    provider_outage_costs_at_most_a_budget_and_loses_nothing,
    an_open_breaker_spares_the_provider_until_it_is_back,
);

//! Memory that behaves like memory, over HTTP on both backends: expiry
//! ([`expiry`]), budgets and the forgotten log ([`budget`]), repeats
//! ([`dedup`]), game time ([`game_time`]), keyword and hybrid search
//! ([`modes`]), and searches that say when they ran short ([`exhausted`]).

mod budget;
mod dedup;
mod exhausted;
mod expiry;
mod game_time;
mod modes;

use std::sync::Arc;
use std::time::Duration;

use mnemo::embed::Embedder;
use mnemo::http::{AppState, STARTUP};
use mnemo::memory::{MemorySettings, MemoryStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::db::TestDb;
use crate::support::embedders::{Mode, Scripted};
use crate::support::http::{Service, test_settings};

/// The service on `backend` with these memory settings and the offline hash
/// provider (through a provider the test can take down).
async fn service(backend: &str, settings: MemorySettings) -> (Service, Arc<Scripted>) {
    let provider = Scripted::new(Mode::Up);
    let s = service_with(backend, settings, provider.clone()).await;
    (s, provider)
}

async fn service_with(
    backend: &str,
    settings: MemorySettings,
    embedder: Arc<dyn Embedder>,
) -> Service {
    let t = TestDb::migrated(backend).await;
    let cached = Arc::new(mnemo::embed::CachedEmbedder::new(embedder, 0));
    let store = MemoryStore::open(t.db.clone(), cached, settings)
        .await
        .expect("open memory store");
    let state = AppState::with_memory(t.db.clone(), Arc::new(store));
    state.readiness.release(STARTUP);
    Service::start_with(t, state, test_settings()).await
}

/// The memory store behind the service.
fn store(s: &Service) -> Arc<MemoryStore> {
    s.state.memory.get().expect("memory store").clone()
}

async fn post(s: &Service, path: &str, body: Value) -> (u16, Value) {
    s.as_admin(Method::POST, path, Some(body)).await
}

async fn put(s: &Service, path: &str, body: Value) -> (u16, Value) {
    s.as_admin(Method::PUT, path, Some(body)).await
}

async fn get(s: &Service, path: &str) -> (u16, Value) {
    s.as_admin(Method::GET, path, None).await
}

/// An NPC memory from `speaker` to NPC `npc` with this summary.
fn memory(npc: i64, speaker: i64, summary: &str) -> Value {
    json!({"npc_id": npc, "speaker_id": speaker, "speaker_name": format!("P{speaker}"), "summary": summary})
}

/// Store one NPC memory (any success), returning its id.
async fn remember(s: &Service, body: Value) -> i64 {
    let (status, stored) = post(s, "/v1/memories/npc", body).await;
    assert!((200..300).contains(&status), "{status} {stored}");
    stored["id"].as_i64().expect("id")
}

fn items(body: &Value) -> &Vec<Value> {
    body["items"].as_array().expect("items")
}

fn ids(body: &Value) -> Vec<i64> {
    items(body)
        .iter()
        .map(|m| m["id"].as_i64().unwrap())
        .collect()
}

/// Wait out a `ttl_seconds: 1`.
async fn let_one_second_pass() {
    tokio::time::sleep(Duration::from_millis(1_200)).await;
}

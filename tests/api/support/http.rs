//! The real service on a random port against a per-test database, and a client.

use std::collections::BTreeSet;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use mnemo::accounts::tokens::{self, Scope};
use mnemo::http::{self, AppState, HttpSettings, STARTUP};
use reqwest::{Method, Response};
use serde_json::Value;

use crate::support::db::TestDb;

/// Settings for tests: one worker, no rate limit, no token cache (a revoke is
/// seen at once), a free port.
pub fn test_settings() -> HttpSettings {
    HttpSettings {
        bind: "127.0.0.1:0".into(),
        workers: Some(1),
        rate_per_second: 0.0,
        auth_cache_ttl: Duration::ZERO,
        shutdown_timeout: Duration::from_secs(1),
        ..HttpSettings::default()
    }
}

pub struct Service {
    pub base: String,
    pub handle: ServerHandle,
    pub state: AppState,
    /// An `admin` token.
    pub admin: String,
    pub client: reqwest::Client,
    pub t: TestDb,
}

impl Service {
    /// A migrated database, an admin token, readiness released, the server started.
    /// The memory stores use the offline hash provider (1536-d).
    pub async fn start(backend: &str, settings: HttpSettings) -> Self {
        let t = TestDb::migrated(backend).await;
        let store = crate::support::db::memory_store(&t.db).await;
        let state = AppState::with_memory(t.db.clone(), std::sync::Arc::new(store));
        state.readiness.release(STARTUP);
        Self::start_with(t, state, settings).await
    }

    /// As [`start`](Self::start), with the memory stores on `embedder`.
    pub async fn start_with_embedder(
        backend: &str,
        settings: HttpSettings,
        embedder: std::sync::Arc<dyn mnemo::embed::Embedder>,
    ) -> Self {
        let t = TestDb::migrated(backend).await;
        let store = crate::support::db::memory_store_with(&t.db, embedder).await;
        let state = AppState::with_memory(t.db.clone(), std::sync::Arc::new(store));
        state.readiness.release(STARTUP);
        Self::start_with(t, state, settings).await
    }

    /// Serve `state` (whatever its readiness) over `t`.
    pub async fn start_with(t: TestDb, state: AppState, settings: HttpSettings) -> Self {
        let admin = if tokens::any_active(&t.db).await.unwrap_or(false)
            || mnemo::db::migrate::pending(&t.db)
                .await
                .map(|p| !p.is_empty())
                .unwrap_or(true)
        {
            String::new()
        } else {
            tokens::create_token(&t.db, "test-admin", &BTreeSet::from([Scope::Admin]))
                .await
                .expect("admin token")
                .1
        };
        let (addr, handle) = http::spawn(state.clone(), settings)
            .await
            .expect("spawn server");
        Self {
            base: format!("http://{addr}"),
            handle,
            state,
            admin,
            client: reqwest::Client::new(),
            t,
        }
    }

    /// A new token with these scopes (`"memory:read,memory:write"`).
    pub async fn token(&self, name: &str, scopes: &str) -> String {
        let scopes = tokens::parse_scopes(scopes).expect("scopes");
        tokens::create_token(&self.t.db, name, &scopes)
            .await
            .expect("create token")
            .1
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Send a request with an optional bearer token and optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("send request")
    }

    /// As admin; returns status and JSON body (`Null` when empty).
    pub async fn as_admin(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let res = self.call(method, path, Some(&self.admin), body).await;
        status_json(res).await
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// Create an account as admin; its id.
pub async fn create_account(s: &Service, username: &str) -> i64 {
    let (status, body) = s
        .as_admin(
            Method::POST,
            "/v1/accounts",
            Some(serde_json::json!({"username": username})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().expect("id")
}

/// Status and JSON body of a response (`Null` for an empty body).
pub async fn status_json(res: Response) -> (u16, Value) {
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, json)
}

/// Assert an error body: status, code and (when given) field.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, code: &str, field: Option<&str>) {
    let (s, body) = got;
    assert_eq!(*s, status, "status of {body}");
    assert_eq!(body["error"]["code"], code, "code of {body}");
    assert!(body["error"]["message"].is_string(), "message of {body}");
    match field {
        Some(f) => assert_eq!(body["error"]["field"], f, "field of {body}"),
        None => assert!(body["error"]["field"].is_null(), "field of {body}"),
    }
}

//! Test support: a scripted, request-counting OpenAI-compatible embeddings server on
//! `127.0.0.1`, so tests of any layer can use the `openai` provider without a network and
//! assert how many provider calls were made.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mnemo::embed::mock::{MockOpenAi, MockReply};
//! let mock = MockOpenAi::start(16)?;          // inside a tokio runtime
//! mock.push(MockReply::status(429));          // first request: rate limited
//! // ... point OpenAiSettings { base_url: Some(mock.base_url()), dimension: 16, .. } at it
//! assert_eq!(mock.requests(), 0);
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

use super::HashEmbedder;

/// What the mock answers to one request.
#[derive(Debug, Clone)]
pub enum MockReply {
    /// 200 with one vector per input: the [`HashEmbedder`] vector of the text at the mock's
    /// dimension, scaled by 3 (so clients must normalise), listed in reverse order with the
    /// right `index` fields (so clients must order by `index`).
    Embeddings,
    /// This status with this body, and a `retry-after` header (seconds) if given.
    Error {
        /// HTTP status code.
        status: u16,
        /// Response body, sent as `application/json` whatever it holds.
        body: String,
        /// Value of the `retry-after` header in seconds.
        retry_after: Option<u64>,
    },
    /// 200 with this body as is (e.g. malformed JSON).
    Body(String),
    /// 200 with vectors of this length instead of the mock's dimension.
    WrongDimension(usize),
    /// 200 with one embedding fewer than inputs.
    MissingOne,
    /// Wait this long, then answer as [`MockReply::Embeddings`] (for timeouts).
    Delay(Duration),
}

impl MockReply {
    /// An OpenAI-style JSON error with this status and no `retry-after`.
    pub fn status(status: u16) -> Self {
        MockReply::Error {
            status,
            body: json!({"error": {"message": format!("mock error {status}"), "type": "mock_error", "param": null, "code": null}}).to_string(),
            retry_after: None,
        }
    }
}

/// One request as the mock saw it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The JSON body (`Value::Null` if it was not JSON).
    pub body: Value,
    /// Number of inputs in the body.
    pub inputs: usize,
}

struct State {
    dimension: usize,
    script: Mutex<VecDeque<MockReply>>,
    fallback: Mutex<MockReply>,
    requests: AtomicUsize,
    log: Mutex<Vec<RecordedRequest>>,
}

/// Locks ignoring poison: a panicking test thread must not cascade into every other assert.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running mock server; stops when dropped.
pub struct MockOpenAi {
    addr: SocketAddr,
    state: Arc<State>,
    /// `None` while connections are refused.
    handle: Mutex<Option<ServerHandle>>,
}

impl MockOpenAi {
    /// Starts a server on a random `127.0.0.1` port answering `POST /v1/embeddings` with
    /// `dimension`-long vectors. Must be called inside a tokio runtime. Replies come from the
    /// script ([`MockOpenAi::push`]) first, then from the fallback (by default
    /// [`MockReply::Embeddings`]).
    pub fn start(dimension: usize) -> std::io::Result<Self> {
        let state = Arc::new(State {
            dimension,
            script: Mutex::new(VecDeque::new()),
            fallback: Mutex::new(MockReply::Embeddings),
            requests: AtomicUsize::new(0),
            log: Mutex::new(Vec::new()),
        });
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let handle = serve(listener, state.clone())?;
        Ok(MockOpenAi {
            addr,
            state,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// Stop listening: connections to the mock are refused (a provider host that is down)
    /// until [`accept_connections`](Self::accept_connections).
    pub async fn refuse_connections(&self) {
        let handle = lock(&self.handle).take();
        if let Some(handle) = handle {
            handle.stop(false).await;
        }
    }

    /// Listen again on the same address after [`refuse_connections`](Self::refuse_connections).
    pub fn accept_connections(&self) -> std::io::Result<()> {
        let mut handle = lock(&self.handle);
        if handle.is_none() {
            // std sets SO_REUSEADDR on Unix, so the port is free again at once.
            *handle = Some(serve(TcpListener::bind(self.addr)?, self.state.clone())?);
        }
        Ok(())
    }

    /// The base URL to configure: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues a reply for the next request not yet answered from the script.
    pub fn push(&self, reply: MockReply) {
        lock(&self.state.script).push_back(reply);
    }

    /// Sets the reply used once the script is empty.
    pub fn set_fallback(&self, reply: MockReply) {
        *lock(&self.state.fallback) = reply;
    }

    /// How many requests arrived at `/v1/embeddings` (including failed and timed-out ones).
    pub fn requests(&self) -> usize {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Every request so far, in arrival order.
    pub fn recorded(&self) -> Vec<RecordedRequest> {
        lock(&self.state.log).clone()
    }

    /// Input count of every request so far, in arrival order.
    pub fn batch_sizes(&self) -> Vec<usize> {
        lock(&self.state.log).iter().map(|r| r.inputs).collect()
    }
}

impl Drop for MockOpenAi {
    fn drop(&mut self) {
        // `stop` sends the command when called; the returned future only waits for it.
        if let Some(handle) = lock(&self.handle).take() {
            drop(handle.stop(false));
        }
    }
}

/// Serve the mock's routes on `listener` in the background.
fn serve(listener: TcpListener, state: Arc<State>) -> std::io::Result<ServerHandle> {
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(64 << 20))
            .route("/v1/embeddings", web::post().to(embeddings))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(handle)
}

async fn embeddings(
    request: HttpRequest,
    body: web::Bytes,
    state: web::Data<State>,
) -> HttpResponse {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let inputs: Vec<String> = match &body["input"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect(),
        _ => Vec::new(),
    };
    lock(&state.log).push(RecordedRequest {
        authorization: request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body,
        inputs: inputs.len(),
    });
    let reply = lock(&state.script)
        .pop_front()
        .unwrap_or_else(|| lock(&state.fallback).clone());
    match reply {
        MockReply::Embeddings => vectors(&inputs, state.dimension, inputs.len()),
        MockReply::Error {
            status,
            body,
            retry_after,
        } => {
            let code = actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = HttpResponse::build(code);
            if let Some(seconds) = retry_after {
                response.insert_header(("retry-after", seconds.to_string()));
            }
            response.content_type("application/json").body(body)
        }
        MockReply::Body(body) => HttpResponse::Ok()
            .content_type("application/json")
            .body(body),
        MockReply::WrongDimension(dimension) => vectors(&inputs, dimension, inputs.len()),
        MockReply::MissingOne => vectors(&inputs, state.dimension, inputs.len().saturating_sub(1)),
        MockReply::Delay(wait) => {
            tokio::time::sleep(wait).await;
            vectors(&inputs, state.dimension, inputs.len())
        }
    }
}

/// An OpenAI embeddings response for the first `count` inputs (see [`MockReply::Embeddings`]).
fn vectors(inputs: &[String], dimension: usize, count: usize) -> HttpResponse {
    // HashEmbedder needs a dimension above 0; a 0-long "vector" is simply empty.
    let hash = (dimension > 0).then(|| HashEmbedder::new(dimension));
    let data: Vec<Value> = inputs
        .iter()
        .take(count)
        .enumerate()
        .rev()
        .map(|(index, text)| {
            let vector: Vec<f32> = hash
                .as_ref()
                .and_then(|h| h.embed_text(text).ok())
                .unwrap_or_else(|| vec![1.0; dimension])
                .into_iter()
                .map(|x| 3.0 * x)
                .collect();
            json!({"object": "embedding", "index": index, "embedding": vector})
        })
        .collect();
    HttpResponse::Ok().json(json!({
        "object": "list",
        "data": data,
        "model": "mock-embedding",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }))
}

//! The actix-web service: route table, shared state, middleware, server lifecycle.
//!
//! Layout:
//! - [`error`]: `ApiError`, the one error body, and every domain error's status;
//! - [`auth`]: bearer tokens and scopes; [`limits`]: per-token rate limiting;
//! - [`metrics`]: Prometheus registry and the request counters;
//! - [`request_id`]: `x-request-id` and the per-request tracing span;
//! - [`settings`]: `HttpSettings` (limits, timeouts) from the environment;
//! - route families, each an endpoint table: [`ops`] (health, readiness, metrics,
//!   the spec), [`admin`] (accounts, characters, subscriptions) and [`economy`].
//!
//! Every route is declared once, as data ([`Endpoint`]): the table registers the
//! handlers, decides who may call them, and is what the contract test compares
//! with `openapi.yaml`. A new route family is a module with
//! `pub fn endpoints() -> Vec<Endpoint>` plus one line in [`routes`].

pub mod admin;
pub mod auth;
pub mod economy;
pub mod error;
pub mod limits;
pub mod memory;
pub mod metrics;
pub mod ops;
pub mod params;
pub mod request_id;
pub mod settings;

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use actix_web::body::BoxBody;
use actix_web::dev::{Server, ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::{Next, from_fn};
use actix_web::{
    App, HttpMessage as _, HttpRequest, HttpResponse, HttpServer, ResponseError as _, Route, web,
};

pub use auth::{Access, Principal};
pub use error::ApiError;
pub use metrics::Metrics;
pub use settings::HttpSettings;

use crate::db::Db;
use crate::memory::MemoryStore;

/// What every handler can reach: the databases and the memory stores. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    /// The memory stores, once open. `mnemo serve` answers `/readyz` (503) while
    /// the SQLite partitions load, so the store arrives after the server starts;
    /// memory routes answer 503 `not_ready` until then.
    pub memory: MemorySlot,
    /// `/readyz` answers 200 only once nothing is held here.
    pub readiness: Readiness,
    /// Prometheus registry served at `/metrics`; other modules register into it.
    pub metrics: Metrics,
}

impl AppState {
    /// State for a service that is still starting: readiness holds [`STARTUP`]
    /// until the caller releases it.
    pub fn new(db: Db) -> Self {
        let memory = MemorySlot::default();
        let metrics = Metrics::new();
        metrics.watch_memory(memory.clone());
        Self {
            db,
            memory,
            readiness: Readiness::holding(STARTUP),
            metrics,
        }
    }

    /// State with the memory stores already open (tests, embedders).
    pub fn with_memory(db: Db, store: Arc<MemoryStore>) -> Self {
        let state = Self::new(db);
        state.memory.set(store);
        state
    }
}

/// Where the memory stores go once open: set once, then read by every request.
#[derive(Clone, Default)]
pub struct MemorySlot(Arc<OnceLock<Arc<MemoryStore>>>);

impl MemorySlot {
    /// Install the store; false when one was already installed (it is kept).
    pub fn set(&self, store: Arc<MemoryStore>) -> bool {
        self.0.set(store).is_ok()
    }

    pub fn get(&self) -> Option<&Arc<MemoryStore>> {
        self.0.get()
    }
}

/// The readiness hold `AppState::new` starts with; `mnemo serve` releases it
/// once its own startup work is done.
pub const STARTUP: &str = "startup";

/// Named reasons the service is not ready yet (`startup`, later `memory index`).
/// Any component can `hold` one while it loads and `release` it when done.
#[derive(Clone, Default)]
pub struct Readiness {
    waiting: Arc<Mutex<BTreeSet<String>>>,
}

impl Readiness {
    pub fn holding(what: &str) -> Self {
        let r = Self::default();
        r.hold(what);
        r
    }

    pub fn hold(&self, what: &str) {
        self.lock().insert(what.to_owned());
    }

    pub fn release(&self, what: &str) {
        self.lock().remove(what);
    }

    /// What readiness still waits for, sorted; empty when ready.
    pub fn waiting_for(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }

    pub fn is_ready(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // A panic while holding this lock cannot leave the set inconsistent.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One route: method, path pattern (actix syntax, identical to the OpenAPI
/// path), who may call it, and how to build its handler.
pub struct Endpoint {
    pub method: Method,
    pub path: String,
    pub access: Access,
    /// Builds the route: `|| web::route().to(handler)`. A factory because actix
    /// builds one `App` per worker thread.
    pub handler: fn() -> Route,
}

impl Endpoint {
    pub fn new(
        method: Method,
        path: impl Into<String>,
        access: Access,
        handler: fn() -> Route,
    ) -> Self {
        Self {
            method,
            path: path.into(),
            access,
            handler,
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({:?})", self.method, self.path, self.access)
    }
}

/// Every route the service serves, all families together.
pub fn routes() -> Vec<Endpoint> {
    let mut all = ops::endpoints();
    all.extend(memory::endpoints());
    all.extend(admin::endpoints());
    all.extend(economy::endpoints());
    all
}

/// Register every route of [`routes`] on `cfg`.
///
/// Routes sharing a path become one resource, so a wrong method gets 405 with an
/// `Allow` header rather than 404. Paths with fewer `{parameters}` are registered
/// first, so a literal segment (`/v1/memories/search`) wins over a parameter
/// (`/v1/memories/{id}`) whatever order the tables list them in.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut groups: Vec<(String, Vec<Endpoint>)> = Vec::new();
    for e in routes() {
        match groups.iter_mut().find(|(path, _)| *path == e.path) {
            Some((_, list)) => list.push(e),
            None => groups.push((e.path.clone(), vec![e])),
        }
    }
    groups.sort_by_key(|(path, _)| path.matches('{').count());
    for (path, endpoints) in groups {
        let allow = endpoints
            .iter()
            .map(|e| e.method.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut resource = web::resource(path);
        for e in endpoints {
            let access = e.access;
            resource = resource.route(
                (e.handler)()
                    .method(e.method.clone())
                    .wrap(from_fn(move |req, next| gate(access, req, next))),
            );
        }
        resource = resource.default_service(web::to(move || {
            let allow = allow.clone();
            async move {
                ApiError::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    format!("this path accepts {allow}"),
                )
                .with_header(header::ALLOW, allow)
                .error_response()
            }
        }));
        cfg.service(resource);
    }
}

/// Runtime pieces of the HTTP layer shared by every worker.
pub struct HttpContext {
    pub settings: HttpSettings,
    pub auth: auth::Authenticator,
    pub limiter: limits::RateLimiter,
}

impl HttpContext {
    pub fn new(state: &AppState, settings: HttpSettings) -> Self {
        Self {
            auth: auth::Authenticator::new(state.db.clone(), settings.auth_cache_ttl),
            limiter: limits::RateLimiter::new(settings.rate_per_second, settings.rate_burst),
            settings,
        }
    }
}

/// Per-route middleware, run after routing: authentication and scope, the
/// per-token rate limit, then the handler under the request timeout.
async fn gate(
    access: Access,
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(ctx) = req.app_data::<web::Data<HttpContext>>().cloned() else {
        return Ok(req.error_response(ApiError::internal(&"HttpContext missing from app data")));
    };
    // Cloned only after routing: actix mutates the request while routing.
    let http_req = req.request().clone();
    match admit(&ctx, access, &http_req).await {
        Ok(Some(principal)) => {
            req.extensions_mut().insert(principal);
        }
        Ok(None) => {}
        Err(e) => return Ok(req.error_response(e)),
    }
    let limit = ctx.settings.request_timeout;
    match tokio::time::timeout(limit, next.call(req)).await {
        Ok(res) => res,
        // The handler's future is dropped: an open transaction rolls back, but a
        // statement already handed to the database may still complete, so the
        // spec tells clients a timed-out write may or may not have happened.
        Err(_) => Ok(ServiceResponse::new(
            http_req,
            ApiError::timeout(limit).error_response(),
        )),
    }
}

async fn admit(
    ctx: &HttpContext,
    access: Access,
    req: &HttpRequest,
) -> Result<Option<Principal>, ApiError> {
    let token = match access {
        Access::Open => return Ok(None),
        Access::Metrics if !ctx.settings.metrics_token_required => return Ok(None),
        Access::Metrics => ctx.auth.authenticate(req).await?,
        Access::Scope(scope) => ctx.auth.authorize(req, scope).await?,
    };
    ctx.limiter
        .check(token.id)
        .map_err(ApiError::rate_limited)?;
    Ok(Some(Principal {
        token_id: token.id,
        token_name: token.name,
    }))
}

async fn route_not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "route_not_found",
        format!("no route {} {}", req.method(), req.path()),
    ))
}

/// Build and bind the server. `handle_signals`: stop gracefully on SIGINT/SIGTERM
/// (what `mnemo serve` wants); embedders and tests stop it through its handle.
pub fn start(
    state: AppState,
    settings: HttpSettings,
    handle_signals: bool,
) -> std::io::Result<(Vec<SocketAddr>, Server)> {
    let bind = settings.bind.clone();
    let workers = settings.workers;
    // Whole seconds, rounded up: actix counts shutdown time in seconds.
    let shutdown_secs = settings.shutdown_timeout.as_secs_f64().ceil() as u64;
    let limit = settings.json_limit;
    let backend = state.db.describe();
    let ctx = web::Data::new(HttpContext::new(&state, settings));
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(ctx.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(limit)
                    .error_handler(move |err, req| error::json_error(err, req, limit).into()),
            )
            .app_data(web::PayloadConfig::new(limit))
            .app_data(
                web::QueryConfig::default()
                    .error_handler(|err, req| error::query_error(err, req).into()),
            )
            .app_data(
                web::PathConfig::default()
                    .error_handler(|err, req| error::path_error(err, req).into()),
            )
            .configure(configure)
            .default_service(web::to(route_not_found))
            .wrap(from_fn(metrics::middleware))
            .wrap(from_fn(request_id::middleware))
    })
    .shutdown_timeout(shutdown_secs);
    if let Some(n) = workers {
        server = server.workers(n);
    }
    if !handle_signals {
        server = server.disable_signals();
    }
    let server = server.bind(&bind)?;
    let addrs = server.addrs();
    let listen: Vec<String> = addrs.iter().map(ToString::to_string).collect();
    tracing::info!(backend = %backend, listen = %listen.join(", "), "mnemo listening");
    Ok((addrs, server.run()))
}

/// Start the service on `settings.bind` in the background (no signal handling)
/// and return the address it listens on and a handle to stop it.
pub async fn spawn(
    state: AppState,
    settings: HttpSettings,
) -> std::io::Result<(SocketAddr, ServerHandle)> {
    let (addrs, server) = start(state, settings, false)?;
    let addr = addrs
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("the server bound no address"))?;
    let handle = server.handle();
    tokio::spawn(server);
    Ok((addr, handle))
}

//! Operations routes: liveness, readiness, metrics, the API description.

use std::time::Duration;

use actix_web::http::{Method, StatusCode};
use actix_web::{HttpResponse, web};

use super::auth::Access;
use super::error::ApiError;
use super::{AppState, Endpoint};
use crate::db::migrate::{self, MigrateError};

/// The committed API description, served as is.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");

/// How long `/readyz` waits for the databases before calling them unavailable;
/// probes usually time out after a few seconds themselves.
const READY_DB_TIMEOUT: Duration = Duration::from_secs(3);

pub fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::GET, "/healthz", Access::Open, || {
            web::route().to(healthz)
        }),
        Endpoint::new(Method::GET, "/readyz", Access::Open, || {
            web::route().to(readyz)
        }),
        Endpoint::new(Method::GET, "/metrics", Access::Metrics, || {
            web::route().to(metrics)
        }),
        Endpoint::new(Method::GET, "/openapi.yaml", Access::Open, || {
            web::route().to(openapi)
        }),
    ]
}

/// Liveness: the process answers. Touches nothing else, so a slow database
/// never gets a healthy process restarted.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Readiness: startup work done, every database answers, no migration pending.
async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let waiting = state.readiness.waiting_for();
    if !waiting.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            format!("still starting: waiting for {}", waiting.join(", ")),
        ));
    }
    // `pending` reads the migration history of every alias, so it also proves
    // that each database answers.
    let pending = match tokio::time::timeout(READY_DB_TIMEOUT, migrate::pending(&state.db)).await {
        Err(_) => return Err(ApiError::database_unavailable()),
        Ok(Err(MigrateError::History { source, .. })) => {
            tracing::warn!(error = %source, "readiness: database check failed");
            return Err(ApiError::database_unavailable());
        }
        Ok(Err(other)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not_ready",
                other.to_string(),
            ));
        }
        Ok(Ok(pending)) => pending,
    };
    if !pending.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "migrations_pending",
            format!(
                "{} pending migration(s): {}",
                pending.len(),
                pending.join(", ")
            ),
        ));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready"})))
}

async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    // Pending counts are a query: refreshed here, so the gauge is current at
    // every scrape; a slow database leaves the previous values.
    if let Some(store) = state.memory.get() {
        match tokio::time::timeout(READY_DB_TIMEOUT, store.embedding_backlog()).await {
            Ok(Ok(counts)) => state.metrics.set_backlog(&counts),
            Ok(Err(e)) => tracing::warn!(error = %e, "metrics: pending counts unavailable"),
            Err(_) => tracing::warn!("metrics: pending counts timed out"),
        }
    }
    let text = state.metrics.render().map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(text))
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/yaml")
        .body(OPENAPI_YAML)
}

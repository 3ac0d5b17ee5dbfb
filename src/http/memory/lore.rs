//! What only lore has: the upsert by (source, title) and the import of whole
//! lore files.

use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};

use super::WRITE;
use crate::http::params::bool_param;
use crate::http::{ApiError, AppState, Endpoint, HttpContext};
use crate::memory::{
    EmbeddingState, ImportOptions, LoreFile, LoreMemory, NewLoreMemory, UpsertOutcome,
};

pub(super) fn endpoints() -> Vec<Endpoint> {
    vec![
        Endpoint::new(Method::PUT, "/v1/memories/lore", WRITE, || {
            web::route().to(upsert)
        }),
        Endpoint::new(Method::POST, "/v1/memories/lore/import", WRITE, || {
            web::route().to(import)
        }),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    prune: Option<String>,
    dry_run: Option<String>,
}

/// The entry and what the upsert did.
#[derive(Serialize)]
struct Upserted {
    #[serde(flatten)]
    memory: LoreMemory,
    outcome: UpsertOutcome,
    embedding_state: EmbeddingState,
}

/// 201 when created, 200 when updated or unchanged, 202 when created or updated but
/// its embedding is pending (stored; the background worker embeds it); `outcome` says which.
async fn upsert(
    state: web::Data<AppState>,
    body: web::Json<NewLoreMemory>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let (stored, outcome) = store.upsert_lore(body.into_inner()).await?;
    let mut res = match (outcome, stored.embedding_state) {
        (UpsertOutcome::Unchanged, _) => HttpResponse::Ok(),
        (_, EmbeddingState::Pending) => HttpResponse::Accepted(),
        (UpsertOutcome::Created, EmbeddingState::Ready) => HttpResponse::Created(),
        (UpsertOutcome::Updated, EmbeddingState::Ready) => HttpResponse::Ok(),
    };
    let location = format!("/v1/memories/lore/{}", stored.memory.id);
    Ok(res
        .insert_header((header::LOCATION, location))
        .json(Upserted {
            memory: stored.memory,
            outcome,
            embedding_state: stored.embedding_state,
        }))
}

/// The body's format, from its `Content-Type`.
enum Format {
    Yaml,
    Json,
}

fn format_of(req: &HttpRequest) -> Result<Format, ApiError> {
    let essence = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match essence.as_str() {
        "application/yaml" | "text/yaml" | "application/x-yaml" | "text/x-yaml" => Ok(Format::Yaml),
        "application/json" => Ok(Format::Json),
        _ => Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "a lore file must be sent as application/yaml, text/yaml or application/json",
        )),
    }
}

/// Read the whole body, refusing more than `limit` bytes with 413.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "bad_request",
                format!("the request body could not be read: {e}"),
            )
        })?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::payload_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Import a lore file (YAML, or its JSON twin): every entry upserted by
/// (source, title); `prune=true` deletes the source's entries the file no
/// longer lists; `dry_run=true` reports without writing.
async fn import(
    state: web::Data<AppState>,
    ctx: web::Data<HttpContext>,
    req: HttpRequest,
    query: web::Query<ImportQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let options = ImportOptions {
        prune: bool_param("prune", query.prune.as_deref())?,
        dry_run: bool_param("dry_run", query.dry_run.as_deref())?,
    };
    let format = format_of(&req)?;
    let limit = ctx.settings.json_limit;
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > limit
    {
        return Err(ApiError::payload_too_large(limit));
    }
    let body = read_body(payload, limit).await?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::invalid("body", "the body is not UTF-8 text"))?;
    let store = super::store(&state)?;
    let file = match format {
        Format::Yaml => LoreFile::from_yaml(text)?,
        Format::Json => LoreFile::from_json(text)?,
    };
    let report = store.import_lore(&file, options, |_| {}).await?;
    Ok(HttpResponse::Ok().json(report))
}

//! Memory routes (scopes `memory:read` / `memory:write`; `admin` implies both):
//! every kind's own routes written once ([`kind`]), what is NPC dialogue's alone
//! ([`npc`]: recent memories, last interaction, forgetting; [`lifecycle`]: an
//! NPC's memory policy and forgotten log) and lore's alone ([`lore`]: upsert,
//! import), and the composed context before an NPC replies.
//!
//! Handlers are thin: parse, call one domain function of
//! [`MemoryStore`](crate::memory::MemoryStore), map the result. Request bodies
//! are the domain's own request types (unknown fields refused). Vectors may
//! arrive as `embedding` (JSON numbers) or `embedding_b64` (base64 of
//! little-endian f32); responses never carry vectors.

mod kind;
mod lifecycle;
mod lore;
mod npc;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::auth::Access;
use super::error::ApiError;
use super::params::after_and_limit;
use super::{AppState, Endpoint};
use crate::accounts::tokens::Scope;
use crate::memory::{
    Combat, ContextRequest, EmbeddingState, Lore, MemoryKind, MemoryStore, Npc, Record, SearchMode,
    Stored,
};

pub use kind::MAX_BATCH;

const READ: Access = Access::Scope(Scope::MemoryRead);
const WRITE: Access = Access::Scope(Scope::MemoryWrite);

/// Seconds to wait before retrying while the memory index still loads.
const LOADING_RETRY_AFTER_SECS: u64 = 1;

pub fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    let mut all = kind::endpoints::<Npc>(kind::Writes::Post);
    all.extend(kind::endpoints::<Combat>(kind::Writes::Post));
    all.extend(kind::endpoints::<Lore>(kind::Writes::Own));
    all.extend(npc::endpoints());
    all.extend(lore::endpoints());
    all.extend(lifecycle::endpoints());
    all.push(Endpoint::new(
        M::POST,
        "/v1/npcs/{npc_id}/context",
        READ,
        || web::route().to(context),
    ));
    all.push(Endpoint::new(M::GET, "/v1/memories/failed", READ, || {
        web::route().to(failed)
    }));
    all
}

/// The memory stores, or 503 `not_ready` while `mnemo serve` still loads them.
fn store(state: &AppState) -> Result<Arc<MemoryStore>, ApiError> {
    state.memory.get().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "the memory index is still loading; retry shortly",
        )
        .with_header(header::RETRY_AFTER, LOADING_RETRY_AFTER_SECS.to_string())
    })
}

/// Run a search and record its duration in `mnemo_search_duration_seconds`.
async fn timed<T>(
    state: &AppState,
    store: &MemoryStore,
    kind: &str,
    search: impl Future<Output = T>,
) -> T {
    let started = Instant::now();
    let out = search.await;
    state.metrics.observe_search(
        kind,
        store.backend().name(),
        started.elapsed().as_secs_f64(),
    );
    out
}

/// `{"items": [...]}`.
#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

/// One page of a listing by id; `next_after` is `null` on the last page.
#[derive(Serialize)]
struct Page<T> {
    items: Vec<T>,
    next_after: Option<i64>,
}

fn page<T>(items: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Page<T> {
    let next_after = if items.len() as i64 == limit {
        items.last().map(id)
    } else {
        None
    };
    Page { items, next_after }
}

/// `{"deleted": n}`.
#[derive(Serialize)]
struct Deleted {
    deleted: u64,
}

/// 201 with `Location` when the memory is searchable, 202 when its embedding
/// is pending (the background worker embeds it later), 200 when it repeated a
/// memory stored within the dedup window (`deduplicated`: no row was added).
fn stored<T: Record>(kind: &str, s: Stored<T>) -> HttpResponse {
    let mut res = match (s.deduplicated, s.embedding_state) {
        (true, _) => HttpResponse::Ok(),
        (false, EmbeddingState::Ready) => HttpResponse::Created(),
        (false, EmbeddingState::Pending) => HttpResponse::Accepted(),
    };
    let location = format!("/v1/memories/{kind}/{}", s.memory.id());
    res.insert_header((header::LOCATION, location)).json(s)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FailedQuery {
    kind: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// Memories whose text the provider refused to embed (marked failed; `mnemo
/// reembed --failed` tries them again), one kind at a time, by id.
async fn failed(
    state: web::Data<AppState>,
    query: web::Query<FailedQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let kind = query
        .kind
        .as_deref()
        .ok_or_else(|| ApiError::invalid("kind", "kind is required (npc, combat or lore)"))?;
    let kind = MemoryKind::parse(kind)
        .ok_or_else(|| ApiError::invalid("kind", "kind must be npc, combat or lore"))?;
    let (after, limit) = after_and_limit(query.after.as_deref(), query.limit.as_deref())?;
    let items = store.failed_embeddings(kind, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |f| f.id)))
}

/// Body of `POST /v1/npcs/{npc_id}/context`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContextBody {
    speaker_id: i64,
    message: String,
    #[serde(default)]
    lore_tags: Vec<String>,
    #[serde(default)]
    npc_name: Option<String>,
    #[serde(default)]
    speaker_name: Option<String>,
    #[serde(default)]
    mode: SearchMode,
    #[serde(default)]
    game_now: Option<String>,
}

/// Everything the prompt needs before the NPC replies, with one embedding call.
async fn context(
    state: web::Data<AppState>,
    npc_id: web::Path<i64>,
    body: web::Json<ContextBody>,
) -> Result<HttpResponse, ApiError> {
    let store = store(&state)?;
    let b = body.into_inner();
    let request = ContextRequest {
        npc_id: npc_id.into_inner(),
        speaker_id: b.speaker_id,
        message: b.message,
        lore_tags: b.lore_tags,
        npc_name: b.npc_name,
        speaker_name: b.speaker_name,
        mode: b.mode,
        game_now: b.game_now,
    };
    let context = timed(&state, &store, "context", store.context(&request)).await?;
    Ok(HttpResponse::Ok().json(context))
}

//! `/v1/memories/npc…` and `/v1/speakers/{speaker_id}/memories`.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{Deleted, Items, page, required_int, stored, timed};
use crate::http::admin::{after_and_limit, int_param};
use crate::http::{ApiError, AppState};
use crate::memory::{EmbeddingState, LastInteraction, NewNpcMemory, NpcSearch, Stored};

/// Most memories one `POST /v1/memories/npc/batch` accepts (one provider
/// call and one transaction; larger loads go in several requests).
pub const MAX_BATCH: usize = 256;

/// Memories `GET /v1/memories/npc/recent` returns when `limit` is not given.
pub const DEFAULT_RECENT: i64 = 10;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BatchBody {
    memories: Vec<NewNpcMemory>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    npc_id: Option<String>,
    speaker_id: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecentQuery {
    npc_id: Option<String>,
    limit: Option<String>,
    speaker_id: Option<String>,
    npc_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PairQuery {
    npc_id: Option<String>,
    speaker_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForgetQuery {
    npc_id: Option<String>,
}

#[derive(Serialize)]
struct LastOut {
    npc_id: i64,
    speaker_id: i64,
    /// `null` when they never talked.
    last_interaction: Option<LastInteraction>,
}

pub(super) async fn store(
    state: web::Data<AppState>,
    body: web::Json<NewNpcMemory>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let s = store.store_npc(body.into_inner()).await?;
    Ok(stored(format!("/v1/memories/npc/{}", s.memory.id), s))
}

/// 201 when every memory is searchable, 202 when any embedding is pending.
pub(super) async fn store_batch(
    state: web::Data<AppState>,
    body: web::Json<BatchBody>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let memories = body.into_inner().memories;
    if memories.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "memories",
            format!("at most {MAX_BATCH} memories per batch"),
        ));
    }
    let items: Vec<Stored<_>> = store.store_npc_batch(memories).await?;
    let mut res = if items
        .iter()
        .all(|s| s.embedding_state == EmbeddingState::Ready)
    {
        HttpResponse::Created()
    } else {
        HttpResponse::Accepted()
    };
    Ok(res.json(Items { items }))
}

pub(super) async fn search(
    state: web::Data<AppState>,
    body: web::Json<NpcSearch>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let items = timed(&state, &store, "npc", store.search_npc(&body)).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

pub(super) async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let (after, limit) = after_and_limit(query.after.as_deref(), query.limit.as_deref())?;
    let npc_id = int_param("npc_id", query.npc_id.as_deref())?;
    let speaker_id = int_param("speaker_id", query.speaker_id.as_deref())?;
    let items = store.list_npc(npc_id, speaker_id, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |m| m.id)))
}

pub(super) async fn recent(
    state: web::Data<AppState>,
    query: web::Query<RecentQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let npc_id = required_int("npc_id", query.npc_id.as_deref())?;
    let limit = int_param("limit", query.limit.as_deref())?.unwrap_or(DEFAULT_RECENT);
    let speaker_id = int_param("speaker_id", query.speaker_id.as_deref())?;
    let items = store
        .recent_npc(npc_id, limit, speaker_id, query.npc_name.as_deref())
        .await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

/// Always 200: `last_interaction` is `null` when the two never talked (not an
/// error: "have we met?" is an ordinary question).
pub(super) async fn last_interaction(
    state: web::Data<AppState>,
    query: web::Query<PairQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let npc_id = required_int("npc_id", query.npc_id.as_deref())?;
    let speaker_id = required_int("speaker_id", query.speaker_id.as_deref())?;
    let last = store.last_interaction(npc_id, speaker_id).await?;
    Ok(HttpResponse::Ok().json(LastOut {
        npc_id,
        speaker_id,
        last_interaction: last,
    }))
}

pub(super) async fn get(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    Ok(HttpResponse::Ok().json(store.get_npc(*id).await?))
}

pub(super) async fn delete(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    store.delete_npc(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Forget everything one NPC remembers (`npc_id` is required: this route
/// never deletes every memory).
pub(super) async fn forget_npc(
    state: web::Data<AppState>,
    query: web::Query<ForgetQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let npc_id = required_int("npc_id", query.npc_id.as_deref())?;
    let deleted = store.forget_npc(npc_id).await?;
    Ok(HttpResponse::Ok().json(Deleted { deleted }))
}

/// Forget a player in every NPC's memory.
pub(super) async fn forget_speaker(
    state: web::Data<AppState>,
    speaker_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let deleted = store.forget_speaker(*speaker_id).await?;
    Ok(HttpResponse::Ok().json(Deleted { deleted }))
}

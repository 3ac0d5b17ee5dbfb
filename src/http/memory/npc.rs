//! What only NPC dialogue has: the newest memories, the last interaction,
//! forgetting an NPC or a speaker.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{Deleted, Items, READ, WRITE};
use crate::http::params::{int_param, required_int};
use crate::http::{ApiError, AppState, Endpoint};
use crate::memory::{Clock, LastInteraction};

/// Memories `GET /v1/memories/npc/recent` returns when `limit` is not given.
pub const DEFAULT_RECENT: i64 = 10;

pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/v1/memories/npc/recent", READ, || {
            web::route().to(recent)
        }),
        Endpoint::new(M::GET, "/v1/memories/npc/last-interaction", READ, || {
            web::route().to(last_interaction)
        }),
        Endpoint::new(M::DELETE, "/v1/memories/npc", WRITE, || {
            web::route().to(forget_npc)
        }),
        Endpoint::new(
            M::DELETE,
            "/v1/speakers/{speaker_id}/memories",
            WRITE,
            || web::route().to(forget_speaker),
        ),
    ]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecentQuery {
    npc_id: Option<String>,
    limit: Option<String>,
    speaker_id: Option<String>,
    npc_name: Option<String>,
    game_now: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairQuery {
    npc_id: Option<String>,
    speaker_id: Option<String>,
    game_now: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgetQuery {
    npc_id: Option<String>,
}

#[derive(Serialize)]
struct LastOut {
    npc_id: i64,
    speaker_id: i64,
    /// `null` when they never talked.
    last_interaction: Option<LastInteraction>,
}

async fn recent(
    state: web::Data<AppState>,
    query: web::Query<RecentQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let npc_id = required_int("npc_id", query.npc_id.as_deref())?;
    let limit = int_param("limit", query.limit.as_deref())?.unwrap_or(DEFAULT_RECENT);
    let speaker_id = int_param("speaker_id", query.speaker_id.as_deref())?;
    let clock = Clock::parse(query.game_now.as_deref())?;
    let items = store
        .recent_npc(npc_id, limit, speaker_id, query.npc_name.as_deref(), clock)
        .await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

/// Always 200: `last_interaction` is `null` when the two never talked (not an
/// error: "have we met?" is an ordinary question).
async fn last_interaction(
    state: web::Data<AppState>,
    query: web::Query<PairQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let npc_id = required_int("npc_id", query.npc_id.as_deref())?;
    let speaker_id = required_int("speaker_id", query.speaker_id.as_deref())?;
    let clock = Clock::parse(query.game_now.as_deref())?;
    let last = store.last_interaction(npc_id, speaker_id, clock).await?;
    Ok(HttpResponse::Ok().json(LastOut {
        npc_id,
        speaker_id,
        last_interaction: last,
    }))
}

/// Forget everything one NPC remembers (`npc_id` is required: this route
/// never deletes every memory).
async fn forget_npc(
    state: web::Data<AppState>,
    query: web::Query<ForgetQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let npc_id = required_int("npc_id", query.npc_id.as_deref())?;
    let deleted = store.forget_npc(npc_id).await?;
    Ok(HttpResponse::Ok().json(Deleted { deleted }))
}

/// Forget a player in every NPC's memory.
async fn forget_speaker(
    state: web::Data<AppState>,
    speaker_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let deleted = store.forget_speaker(*speaker_id).await?;
    Ok(HttpResponse::Ok().json(Deleted { deleted }))
}

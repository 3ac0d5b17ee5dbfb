//! An NPC's memory lifecycle: its memory policy (budget, recency half-life,
//! the newest memories never evicted) and the log of what it forgot and why.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{READ, WRITE, page};
use crate::http::params::after_and_limit;
use crate::http::{ApiError, AppState, Endpoint};
use crate::memory::NewMemoryPolicy;

pub(super) fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::GET, "/v1/npcs/{npc_id}/memory-policy", READ, || {
            web::route().to(get_policy)
        }),
        Endpoint::new(M::PUT, "/v1/npcs/{npc_id}/memory-policy", WRITE, || {
            web::route().to(put_policy)
        }),
        Endpoint::new(M::GET, "/v1/npcs/{npc_id}/forgotten", READ, || {
            web::route().to(forgotten)
        }),
    ]
}

/// The NPC's policy with the service default applied (an NPC without one of
/// its own gets the defaults).
async fn get_policy(
    state: web::Data<AppState>,
    npc_id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    Ok(HttpResponse::Ok().json(store.memory_policy(*npc_id).await?))
}

/// Replace the NPC's policy; safe to repeat.
async fn put_policy(
    state: web::Data<AppState>,
    npc_id: web::Path<i64>,
    body: web::Json<NewMemoryPolicy>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let view = store.set_memory_policy(*npc_id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgottenQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// What the NPC forgot, oldest entry first.
async fn forgotten(
    state: web::Data<AppState>,
    npc_id: web::Path<i64>,
    query: web::Query<ForgottenQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let (after, limit) = after_and_limit(query.after.as_deref(), query.limit.as_deref())?;
    let items = store.forgotten(*npc_id, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |f| f.seq)))
}

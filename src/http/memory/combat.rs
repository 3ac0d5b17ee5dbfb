//! `/v1/memories/combat…`.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::{Items, page, stored, timed};
use crate::http::admin::after_and_limit;
use crate::http::{ApiError, AppState};
use crate::memory::{CombatSearch, NewCombatMemory};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ListQuery {
    mob_type: Option<String>,
    mob_name: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

pub(super) async fn store(
    state: web::Data<AppState>,
    body: web::Json<NewCombatMemory>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let s = store.store_combat(body.into_inner()).await?;
    Ok(stored(format!("/v1/memories/combat/{}", s.memory.id), s))
}

pub(super) async fn search(
    state: web::Data<AppState>,
    body: web::Json<CombatSearch>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let items = timed(&state, &store, "combat", store.search_combat(&body)).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

pub(super) async fn list(
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let (after, limit) = after_and_limit(query.after.as_deref(), query.limit.as_deref())?;
    let items = store
        .list_combat(
            query.mob_type.as_deref(),
            query.mob_name.as_deref(),
            after,
            limit,
        )
        .await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |m| m.id)))
}

pub(super) async fn get(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    Ok(HttpResponse::Ok().json(store.get_combat(*id).await?))
}

pub(super) async fn delete(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    store.delete_combat(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}

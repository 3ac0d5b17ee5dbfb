//! The routes every memory kind has, written once over [`Kind`]: list, get,
//! delete, search, and (for kinds stored by `POST`) store and batch store, at
//! `/v1/memories/{kind}…`.

use std::collections::HashMap;

use actix_web::http::Method;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{Items, READ, WRITE, page, stored, timed};
use crate::http::params::{after_and_limit, int_param};
use crate::http::{ApiError, AppState, Endpoint};
use crate::memory::{Cond, Filter, Kind, ListBy, Record};

/// Most memories one batch store accepts (one provider call and one
/// transaction; larger loads go in several requests).
pub const MAX_BATCH: usize = 256;

/// How a kind's records are written over HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Writes {
    /// `POST /v1/memories/{kind}` and `…/batch`.
    Post,
    /// By the kind's own routes (lore is upserted with `PUT`).
    Own,
}

/// The routes of kind `K`.
pub(super) fn endpoints<K: Kind>(writes: Writes) -> Vec<Endpoint> {
    use Method as M;
    let base = format!("/v1/memories/{}", K::SPEC.name);
    let mut all = vec![
        Endpoint::new(M::GET, base.clone(), READ, || web::route().to(list::<K>)),
        Endpoint::new(M::POST, format!("{base}/search"), READ, || {
            web::route().to(search::<K>)
        }),
        Endpoint::new(M::GET, format!("{base}/{{id}}"), READ, || {
            web::route().to(get::<K>)
        }),
        Endpoint::new(M::DELETE, format!("{base}/{{id}}"), WRITE, || {
            web::route().to(delete::<K>)
        }),
    ];
    if writes == Writes::Post {
        all.push(Endpoint::new(M::POST, base.clone(), WRITE, || {
            web::route().to(store::<K>)
        }));
        all.push(Endpoint::new(
            M::POST,
            format!("{base}/batch"),
            WRITE,
            || web::route().to(store_batch::<K>),
        ));
    }
    all
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, bound = "T: DeserializeOwned")]
struct BatchBody<T> {
    memories: Vec<T>,
}

/// 201 with `Location` when searchable, 202 when the embedding is pending.
async fn store<K: Kind>(
    state: web::Data<AppState>,
    body: web::Json<K::New>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let s = store.store::<K>(body.into_inner()).await?;
    Ok(stored(K::SPEC.name, s))
}

/// 201 when every memory is searchable, 202 when any embedding is pending
/// (memories that repeated one stored within the dedup window say
/// `deduplicated`, as searchable as the memory they repeated).
async fn store_batch<K: Kind>(
    state: web::Data<AppState>,
    body: web::Json<BatchBody<K::New>>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let memories = body.into_inner().memories;
    if memories.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "memories",
            format!("at most {MAX_BATCH} memories per batch"),
        ));
    }
    let items = store.store_batch::<K>(memories).await?;
    let all_ready = items.iter().all(|s| s.memory.is_embedded());
    let mut res = if all_ready {
        HttpResponse::Created()
    } else {
        HttpResponse::Accepted()
    };
    Ok(res.json(Items { items }))
}

async fn search<K: Kind>(
    state: web::Data<AppState>,
    body: web::Json<K::Search>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let results = timed(&state, &store, K::SPEC.name, K::search(&store, &body)).await?;
    Ok(HttpResponse::Ok().json(results))
}

/// Records by id, narrowed by the kind's list columns (`?npc_id=3`).
async fn list<K: Kind>(
    state: web::Data<AppState>,
    query: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    let mut query = query.into_inner();
    let (after, limit) = after_and_limit(
        query.remove("after").as_deref(),
        query.remove("limit").as_deref(),
    )?;
    let mut filter = Filter::all();
    for by in K::LIST_BY {
        let (column, cond) = match *by {
            ListBy::Int(c) => (
                c,
                int_param(c, query.get(c).map(String::as_str))?.map(|v| Cond::Eq(c, v.into())),
            ),
            ListBy::Text(c) => (c, query.get(c).map(|v| Cond::Eq(c, v.as_str().into()))),
        };
        query.remove(column);
        filter = filter.and_some(cond);
    }
    if let Some(unknown) = query.keys().min() {
        return Err(ApiError::invalid(
            unknown.clone(),
            format!("unknown query parameter {unknown:?}"),
        ));
    }
    let items = store.list::<K>(&filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, Record::id)))
}

async fn get<K: Kind>(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    Ok(HttpResponse::Ok().json(store.get::<K>(*id).await?))
}

async fn delete<K: Kind>(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let store = super::store(&state)?;
    store.delete::<K>(*id).await?;
    Ok(HttpResponse::NoContent().finish())
}

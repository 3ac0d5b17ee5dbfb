//! The catalogue: currency types (by code) and NFT item types (filtered by
//! typeclass and name prefix), seeded by the migrations.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use crate::accounts::page;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::after_and_limit;
use crate::xrpl::{self, ItemTypeFilter, ItemTypeRef};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/economy/currencies`.
pub(super) async fn currencies(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (after, limit) = after_and_limit(query.after.as_deref(), query.limit.as_deref())?;
    let items = xrpl::currency_types_page(&state.db, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |c| c.id)))
}

/// `GET /v1/economy/currencies/{currency_code}`.
pub(super) async fn currency(
    state: web::Data<AppState>,
    code: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let currency = xrpl::currency_type(&state.db, &code)
        .await?
        .ok_or_else(|| ApiError::not_found("currency").with_field("currency_code"))?;
    Ok(HttpResponse::Ok().json(currency))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ItemTypeQuery {
    typeclass: Option<String>,
    name_prefix: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/economy/item-types`.
pub(super) async fn item_types(
    state: web::Data<AppState>,
    query: web::Query<ItemTypeQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (after, limit) = after_and_limit(q.after.as_deref(), q.limit.as_deref())?;
    let filter = ItemTypeFilter {
        typeclass: q.typeclass,
        name_prefix: q.name_prefix,
    };
    let items = xrpl::nft_item_types_filtered(&state.db, &filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |t| t.id)))
}

/// `GET /v1/economy/item-types/{id}`.
pub(super) async fn item_type(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let item_type = xrpl::nft_item_type(&state.db, ItemTypeRef::Id(*id))
        .await?
        .ok_or_else(|| ApiError::not_found("item type").with_field("id"))?;
    Ok(HttpResponse::Ok().json(item_type))
}

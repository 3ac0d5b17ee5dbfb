//! The transfer logs: fungible moves and NFT moves, by wallet (either side),
//! currency or token, and time range (`since <= timestamp < until`).

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::time_param;
use crate::accounts::page;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::after_and_limit;
use crate::xrpl::{self, LogFilter};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FungibleLogQuery {
    wallet_address: Option<String>,
    currency_code: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/economy/logs/fungible`.
pub(super) async fn fungible(
    state: web::Data<AppState>,
    query: web::Query<FungibleLogQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (after, limit) = after_and_limit(q.after.as_deref(), q.limit.as_deref())?;
    let filter = LogFilter {
        wallet_address: q.wallet_address,
        currency_code: q.currency_code,
        nftoken_id: None,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
    };
    let items = xrpl::fungible_logs(&state.db, &filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |l| l.id)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NftLogQuery {
    wallet_address: Option<String>,
    nftoken_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/economy/logs/nft`.
pub(super) async fn nft(
    state: web::Data<AppState>,
    query: web::Query<NftLogQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (after, limit) = after_and_limit(q.after.as_deref(), q.limit.as_deref())?;
    let filter = LogFilter {
        wallet_address: q.wallet_address,
        currency_code: None,
        nftoken_id: q.nftoken_id,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
    };
    let items = xrpl::nft_logs(&state.db, &filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |l| l.id)))
}

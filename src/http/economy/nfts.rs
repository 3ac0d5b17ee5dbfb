//! NFTs: listing and reading tokens, giving a blank token of the pool an item
//! type (assign, or assign and spawn), moves between locations, and metadata
//! merges.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::location_param;
use super::once::{created, ok, once};
use crate::accounts::page;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::{after_and_limit, int_param};
use crate::xrpl::{self, ItemTypeRef, NftFilter, NftLocation, NftTransfer};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NftQuery {
    owner: Option<String>,
    location: Option<String>,
    character_key: Option<String>,
    item_type_id: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/economy/nfts`.
pub(super) async fn list(
    state: web::Data<AppState>,
    query: web::Query<NftQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (after, limit) = after_and_limit(q.after.as_deref(), q.limit.as_deref())?;
    let filter = NftFilter {
        owner: q.owner,
        location: location_param(q.location.as_deref())?,
        character_key: q.character_key,
        item_type_id: int_param("item_type_id", q.item_type_id.as_deref())?,
    };
    let items = xrpl::list_nfts(&state.db, &filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |n| n.id)))
}

/// `GET /v1/economy/nfts/{nftoken_id}`.
pub(super) async fn get(
    state: web::Data<AppState>,
    nftoken_id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let nft = xrpl::get_nft(&state.db, &nftoken_id)
        .await?
        .ok_or_else(|| ApiError::not_found("NFT").with_field("nftoken_id"))?;
    Ok(HttpResponse::Ok().json(nft))
}

/// Body of assign and spawn: the item type by id or by name (exactly one),
/// and metadata merged over the type's defaults (`null` deletes a key).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BlankBody {
    #[serde(default)]
    item_type_id: Option<i64>,
    #[serde(default)]
    item_type_name: Option<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
}

impl BlankBody {
    fn item_type(&self) -> Result<ItemTypeRef<'_>, ApiError> {
        match (self.item_type_id, self.item_type_name.as_deref()) {
            (Some(id), None) => Ok(ItemTypeRef::Id(id)),
            (None, Some(name)) => Ok(ItemTypeRef::Name(name)),
            _ => Err(ApiError::invalid(
                "item_type_id",
                "give exactly one of item_type_id and item_type_name",
            )),
        }
    }
}

/// Assign (and, with `spawn`, spawn) a blank token, once per `Idempotency-Key`.
async fn blank(
    state: &AppState,
    req: &HttpRequest,
    body: &BlankBody,
    spawn: bool,
) -> Result<HttpResponse, ApiError> {
    let item_type = body.item_type()?;
    once(state, req, body, created, async |tx| {
        if spawn {
            xrpl::spawn_blank_in(tx, item_type, &body.metadata).await
        } else {
            xrpl::assign_blank_in(tx, item_type, &body.metadata).await
        }
    })
    .await
}

/// `POST /v1/economy/nfts/assign`: the token stays in the vault's RESERVE.
pub(super) async fn assign(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<BlankBody>,
) -> Result<HttpResponse, ApiError> {
    blank(&state, &req, &body, false).await
}

/// `POST /v1/economy/nfts/spawn`: assign, then RESERVE -> SPAWNED.
pub(super) async fn spawn(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<BlankBody>,
) -> Result<HttpResponse, ApiError> {
    blank(&state, &req, &body, true).await
}

/// Body of a move: where the token must be (and with whom), where it goes.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MoveBody {
    from: String,
    #[serde(default)]
    from_wallet: Option<String>,
    #[serde(default)]
    from_character_key: Option<String>,
    to: String,
    #[serde(default)]
    to_wallet: Option<String>,
    #[serde(default)]
    to_character_key: Option<String>,
    transfer_type: String,
}

fn nft_location(field: &str, value: &str) -> Result<NftLocation, ApiError> {
    value
        .parse()
        .map_err(|_| ApiError::invalid(field, format!("unknown location {value:?}")))
}

/// `POST /v1/economy/nfts/{nftoken_id}/transfers`.
pub(super) async fn transfer(
    state: web::Data<AppState>,
    req: HttpRequest,
    nftoken_id: web::Path<String>,
    body: web::Json<MoveBody>,
) -> Result<HttpResponse, ApiError> {
    let b = &*body;
    let t = NftTransfer {
        nftoken_id: nftoken_id.into_inner(),
        from: nft_location("from", &b.from)?,
        from_wallet: b.from_wallet.clone(),
        from_character_key: b.from_character_key.clone(),
        to: nft_location("to", &b.to)?,
        to_wallet: b.to_wallet.clone(),
        to_character_key: b.to_character_key.clone(),
        transfer_type: b.transfer_type.clone(),
    };
    once(&state, &req, b, created, async |tx| {
        xrpl::transfer_nft_in(tx, &t).await
    })
    .await
}

/// Body of a metadata merge.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MetadataBody {
    metadata: Map<String, Value>,
}

/// `PATCH /v1/economy/nfts/{nftoken_id}/metadata`: last write wins per key.
pub(super) async fn merge_metadata(
    state: web::Data<AppState>,
    req: HttpRequest,
    nftoken_id: web::Path<String>,
    body: web::Json<MetadataBody>,
) -> Result<HttpResponse, ApiError> {
    once(&state, &req, &*body, ok, async |tx| {
        xrpl::merge_metadata_in(tx, &nftoken_id, &body.metadata).await
    })
    .await
}

//! Chain moves: fungible and NFT deposits from and withdrawals to the XRPL,
//! each carrying its transaction hash (any spelling of 64 hex characters; a
//! replay in any spelling is `409 tx_hash_replayed`), and the transaction
//! log by hash.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::Amount;
use super::once::{created, once};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::xrpl::{self, ChainMove, NftChainMove};

/// Body of a fungible deposit or withdrawal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MoveBody {
    currency_code: String,
    wallet_address: String,
    amount: Amount,
    vault_address: String,
    tx_hash: String,
}

impl MoveBody {
    fn chain_move(&self) -> Result<ChainMove, ApiError> {
        Ok(ChainMove {
            currency_code: self.currency_code.clone(),
            wallet_address: self.wallet_address.clone(),
            amount: self.amount.text()?,
            vault_address: self.vault_address.clone(),
            tx_hash: self.tx_hash.clone(),
        })
    }
}

/// A fungible chain move, once per `Idempotency-Key`.
async fn fungible_move(
    state: &AppState,
    req: &HttpRequest,
    body: &MoveBody,
    deposit: bool,
) -> Result<HttpResponse, ApiError> {
    let m = body.chain_move()?;
    once(state, req, body, created, async |tx| {
        if deposit {
            xrpl::deposit_from_chain_in(tx, &m).await
        } else {
            xrpl::withdraw_to_chain_in(tx, &m).await
        }
    })
    .await
}

/// `POST /v1/economy/chain/deposits`: vault RESERVE -> player ACCOUNT.
pub(super) async fn deposit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<MoveBody>,
) -> Result<HttpResponse, ApiError> {
    fungible_move(&state, &req, &body, true).await
}

/// `POST /v1/economy/chain/withdrawals`: player ACCOUNT -> vault RESERVE.
pub(super) async fn withdraw(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<MoveBody>,
) -> Result<HttpResponse, ApiError> {
    fungible_move(&state, &req, &body, false).await
}

/// Body of an NFT deposit (the wire form of [`NftChainMove`]).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NftDepositBody {
    nftoken_id: String,
    wallet_address: String,
    vault_address: String,
    tx_hash: String,
}

/// `POST /v1/economy/chain/nft-deposits`: ONCHAIN -> the depositor's ACCOUNT.
pub(super) async fn deposit_nft(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<NftDepositBody>,
) -> Result<HttpResponse, ApiError> {
    let m = NftChainMove {
        nftoken_id: body.nftoken_id.clone(),
        wallet_address: body.wallet_address.clone(),
        vault_address: body.vault_address.clone(),
        tx_hash: body.tx_hash.clone(),
    };
    once(&state, &req, &*body, created, async |tx| {
        xrpl::deposit_nft_from_chain_in(tx, &m).await
    })
    .await
}

/// Body of an NFT withdrawal.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NftWithdrawalBody {
    nftoken_id: String,
    tx_hash: String,
}

/// `POST /v1/economy/chain/nft-withdrawals`: ACCOUNT -> ONCHAIN.
pub(super) async fn withdraw_nft(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<NftWithdrawalBody>,
) -> Result<HttpResponse, ApiError> {
    once(&state, &req, &*body, created, async |tx| {
        xrpl::withdraw_nft_to_chain_in(tx, &body.nftoken_id, &body.tx_hash).await
    })
    .await
}

/// `GET /v1/economy/chain/transactions/{tx_hash}`, in any spelling.
pub(super) async fn transaction(
    state: web::Data<AppState>,
    tx_hash: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let found = xrpl::transaction(&state.db, &tx_hash)
        .await?
        .ok_or_else(|| ApiError::not_found("transaction").with_field("tx_hash"))?;
    Ok(HttpResponse::Ok().json(found))
}

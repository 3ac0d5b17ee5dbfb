//! Fungible balances: listing them, credits, debits and transfers between
//! holders (a wallet at a location, and for CHARACTER the character).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::once::{created, once};
use super::{Amount, location_param};
use crate::accounts::page;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::after_and_limit;
use crate::xrpl::{self, BalanceChange, BalanceFilter, FungibleLocation, FungibleTransfer, Holder};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BalanceQuery {
    wallet_address: Option<String>,
    location: Option<String>,
    character_key: Option<String>,
    currency_code: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/economy/balances`: rows matching every filter given, by id.
pub(super) async fn balances(
    state: web::Data<AppState>,
    query: web::Query<BalanceQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (after, limit) = after_and_limit(q.after.as_deref(), q.limit.as_deref())?;
    let filter = BalanceFilter {
        wallet_address: q.wallet_address,
        location: location_param(q.location.as_deref())?,
        character_key: q.character_key,
        currency_code: q.currency_code,
    };
    let items = xrpl::balances(&state.db, &filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |b| b.id)))
}

/// A holder as a transfer names it (`from`, `to`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct HolderBody {
    wallet_address: String,
    location: String,
    #[serde(default)]
    character_key: Option<String>,
}

/// A holder from its parts; a bad location names `field`.
fn holder(
    field: &'static str,
    wallet_address: &str,
    location: &str,
    character_key: Option<&str>,
) -> Result<Holder, ApiError> {
    let location: FungibleLocation = location
        .parse()
        .map_err(|_| ApiError::invalid(field, format!("unknown location {location:?}")))?;
    Ok(Holder {
        wallet_address: wallet_address.to_owned(),
        location,
        character_key: character_key.map(str::to_owned),
    })
}

/// Body of a credit or a debit: one holder, given as top-level fields.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangeBody {
    currency_code: String,
    wallet_address: String,
    location: String,
    #[serde(default)]
    character_key: Option<String>,
    amount: Amount,
    /// What the log calls it; `credit` / `debit` when absent.
    #[serde(default)]
    transfer_type: Option<String>,
}

impl ChangeBody {
    fn change(&self, default_type: &str) -> Result<BalanceChange, ApiError> {
        Ok(BalanceChange {
            currency_code: self.currency_code.clone(),
            holder: holder(
                "location",
                &self.wallet_address,
                &self.location,
                self.character_key.as_deref(),
            )?,
            amount: self.amount.text()?,
            transfer_type: self
                .transfer_type
                .clone()
                .unwrap_or_else(|| default_type.to_owned()),
        })
    }
}

/// A credit or a debit, once per `Idempotency-Key`.
async fn balance_change(
    state: &AppState,
    req: &HttpRequest,
    body: &ChangeBody,
    credit: bool,
) -> Result<HttpResponse, ApiError> {
    let change = body.change(if credit { "credit" } else { "debit" })?;
    once(state, req, body, created, async |tx| {
        if credit {
            xrpl::credit_in(tx, &change).await
        } else {
            xrpl::debit_in(tx, &change).await
        }
    })
    .await
}

/// `POST /v1/economy/credits`.
pub(super) async fn credit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ChangeBody>,
) -> Result<HttpResponse, ApiError> {
    balance_change(&state, &req, &body, true).await
}

/// `POST /v1/economy/debits`: `409 insufficient_balance` past the balance.
pub(super) async fn debit(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<ChangeBody>,
) -> Result<HttpResponse, ApiError> {
    balance_change(&state, &req, &body, false).await
}

/// Body of a transfer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TransferBody {
    currency_code: String,
    from: HolderBody,
    to: HolderBody,
    amount: Amount,
    transfer_type: String,
}

/// `POST /v1/economy/transfers`: `409 insufficient_balance` naming `from`
/// past the sender's balance.
pub(super) async fn transfer(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    let b = &*body;
    let t = FungibleTransfer {
        currency_code: b.currency_code.clone(),
        from: holder(
            "from.location",
            &b.from.wallet_address,
            &b.from.location,
            b.from.character_key.as_deref(),
        )?,
        to: holder(
            "to.location",
            &b.to.wallet_address,
            &b.to.location,
            b.to.character_key.as_deref(),
        )?,
        amount: b.amount.text()?,
        transfer_type: b.transfer_type.clone(),
    };
    once(&state, &req, b, created, async |tx| {
        xrpl::transfer_in(tx, &t).await
    })
    .await
}

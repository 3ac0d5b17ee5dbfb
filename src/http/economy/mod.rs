//! Economy routes under `/v1/economy` (scopes `economy:read` / `economy:write`;
//! `admin` implies both): the catalogue ([`catalog`]), fungible balances,
//! credits, debits and transfers ([`fungible`]), NFTs ([`nfts`]), chain
//! deposits and withdrawals ([`chain`]), the transfer logs ([`logs`]), and
//! telemetry: snapshots and play sessions ([`telemetry`]).
//!
//! Handlers are thin: parse, call one function of [`crate::xrpl`], map the
//! result. Every write goes through [`once`], which honours an
//! `Idempotency-Key`. Listings are pages in id order (`after`, `limit`,
//! `next_after`).

mod catalog;
mod chain;
mod fungible;
mod logs;
mod nfts;
mod once;
mod telemetry;

use std::str::FromStr;

use actix_web::http::Method;
use actix_web::web;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Endpoint;
use super::auth::Access;
use super::error::ApiError;
use crate::accounts::tokens::Scope;
use crate::xrpl::XrplError;

pub use once::{IDEMPOTENCY_KEY, REPLAYED};

const READ: Access = Access::Scope(Scope::EconomyRead);
const WRITE: Access = Access::Scope(Scope::EconomyWrite);

pub fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        // catalogue
        Endpoint::new(M::GET, "/v1/economy/currencies", READ, || {
            web::route().to(catalog::currencies)
        }),
        Endpoint::new(
            M::GET,
            "/v1/economy/currencies/{currency_code}",
            READ,
            || web::route().to(catalog::currency),
        ),
        Endpoint::new(M::GET, "/v1/economy/item-types", READ, || {
            web::route().to(catalog::item_types)
        }),
        Endpoint::new(M::GET, "/v1/economy/item-types/{id}", READ, || {
            web::route().to(catalog::item_type)
        }),
        // fungible
        Endpoint::new(M::GET, "/v1/economy/balances", READ, || {
            web::route().to(fungible::balances)
        }),
        Endpoint::new(M::POST, "/v1/economy/credits", WRITE, || {
            web::route().to(fungible::credit)
        }),
        Endpoint::new(M::POST, "/v1/economy/debits", WRITE, || {
            web::route().to(fungible::debit)
        }),
        Endpoint::new(M::POST, "/v1/economy/transfers", WRITE, || {
            web::route().to(fungible::transfer)
        }),
        // NFTs
        Endpoint::new(M::GET, "/v1/economy/nfts", READ, || {
            web::route().to(nfts::list)
        }),
        Endpoint::new(M::GET, "/v1/economy/nfts/{nftoken_id}", READ, || {
            web::route().to(nfts::get)
        }),
        Endpoint::new(M::POST, "/v1/economy/nfts/assign", WRITE, || {
            web::route().to(nfts::assign)
        }),
        Endpoint::new(M::POST, "/v1/economy/nfts/spawn", WRITE, || {
            web::route().to(nfts::spawn)
        }),
        Endpoint::new(
            M::POST,
            "/v1/economy/nfts/{nftoken_id}/transfers",
            WRITE,
            || web::route().to(nfts::transfer),
        ),
        Endpoint::new(
            M::PATCH,
            "/v1/economy/nfts/{nftoken_id}/metadata",
            WRITE,
            || web::route().to(nfts::merge_metadata),
        ),
        // chain
        Endpoint::new(M::POST, "/v1/economy/chain/deposits", WRITE, || {
            web::route().to(chain::deposit)
        }),
        Endpoint::new(M::POST, "/v1/economy/chain/withdrawals", WRITE, || {
            web::route().to(chain::withdraw)
        }),
        Endpoint::new(M::POST, "/v1/economy/chain/nft-deposits", WRITE, || {
            web::route().to(chain::deposit_nft)
        }),
        Endpoint::new(M::POST, "/v1/economy/chain/nft-withdrawals", WRITE, || {
            web::route().to(chain::withdraw_nft)
        }),
        Endpoint::new(
            M::GET,
            "/v1/economy/chain/transactions/{tx_hash}",
            READ,
            || web::route().to(chain::transaction),
        ),
        // logs
        Endpoint::new(M::GET, "/v1/economy/logs/fungible", READ, || {
            web::route().to(logs::fungible)
        }),
        Endpoint::new(M::GET, "/v1/economy/logs/nft", READ, || {
            web::route().to(logs::nft)
        }),
        // telemetry
        Endpoint::new(M::POST, "/v1/economy/snapshots", WRITE, || {
            web::route().to(telemetry::take_snapshot)
        }),
        Endpoint::new(M::GET, "/v1/economy/snapshots", READ, || {
            web::route().to(telemetry::snapshots)
        }),
        Endpoint::new(M::GET, "/v1/economy/snapshots/resources", READ, || {
            web::route().to(telemetry::resources)
        }),
        Endpoint::new(M::POST, "/v1/economy/sessions", WRITE, || {
            web::route().to(telemetry::start_session)
        }),
        Endpoint::new(M::GET, "/v1/economy/sessions", READ, || {
            web::route().to(telemetry::sessions)
        }),
        Endpoint::new(M::POST, "/v1/economy/sessions/end", WRITE, || {
            web::route().to(telemetry::end_session)
        }),
        Endpoint::new(M::POST, "/v1/economy/sessions/end-all", WRITE, || {
            web::route().to(telemetry::end_all_sessions)
        }),
    ]
}

/// A time query parameter: RFC 3339 (`2026-01-01T12:00:00Z`).
fn time_param(field: &str, value: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::invalid(
                        field,
                        format!("{field} must be an RFC 3339 time such as 2026-01-01T12:00:00Z"),
                    )
                })
        })
        .transpose()
}

/// A location query parameter (`ACCOUNT`, `CHARACTER`, ...).
fn location_param<L: FromStr<Err = XrplError>>(value: Option<&str>) -> Result<Option<L>, ApiError> {
    Ok(value.map(L::from_str).transpose()?)
}

/// A boolean query parameter (`true`/`false`), absent when not given.
fn bool_param(field: &str, value: Option<&str>) -> Result<Option<bool>, ApiError> {
    match value.map(str::trim) {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(ApiError::invalid(
            field,
            format!("{field} must be true or false"),
        )),
    }
}

/// An amount as a body carries it: it must be a decimal string. A JSON
/// number is refused naming the field, since a binary float cannot carry six
/// exact decimal places (and `1e5` would slip in); the domain then checks the
/// string itself. Kept as the JSON value so the fingerprint sees the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
struct Amount(Value);

impl Amount {
    fn text(&self) -> Result<String, ApiError> {
        match &self.0 {
            Value::String(s) => Ok(s.clone()),
            _ => Err(ApiError::invalid(
                "amount",
                "must be a decimal string such as \"12.5\" (at most 6 decimal places), not a JSON number",
            )),
        }
    }
}

//! Admin routes (scope `admin`): accounts, characters, subscriptions.
//!
//! Handlers parse, call the domain, and map the result; request bodies are
//! declared here (unknown fields refused, so a typo is a 400 rather than a
//! silently ignored field) and converted to the domain's types.

use actix_web::http::{Method, header};
use actix_web::{HttpResponse, web};
use chrono::Utc;
use serde::{Deserialize, Deserializer, Serialize};

use super::auth::Access;
use super::error::ApiError;
use super::params::{after_and_limit, int_param};
use super::{AppState, Endpoint};
use crate::accounts::tokens::Scope;
use crate::accounts::{self, AccountUpdate, NewAccount};
use crate::db::now_micros;
use crate::subscriptions::{self, NewPayment, SubscriptionStatus};

const ADMIN: Access = Access::Scope(Scope::Admin);

pub fn endpoints() -> Vec<Endpoint> {
    use Method as M;
    vec![
        Endpoint::new(M::POST, "/v1/accounts", ADMIN, || {
            web::route().to(create_account)
        }),
        Endpoint::new(M::GET, "/v1/accounts", ADMIN, || {
            web::route().to(list_accounts)
        }),
        Endpoint::new(M::GET, "/v1/accounts/{id}", ADMIN, || {
            web::route().to(get_account)
        }),
        Endpoint::new(M::PATCH, "/v1/accounts/{id}", ADMIN, || {
            web::route().to(update_account)
        }),
        Endpoint::new(M::DELETE, "/v1/accounts/{id}", ADMIN, || {
            web::route().to(delete_account)
        }),
        Endpoint::new(M::POST, "/v1/accounts/{id}/characters", ADMIN, || {
            web::route().to(create_character)
        }),
        Endpoint::new(M::GET, "/v1/characters", ADMIN, || {
            web::route().to(list_characters)
        }),
        Endpoint::new(M::GET, "/v1/characters/{id}", ADMIN, || {
            web::route().to(get_character)
        }),
        Endpoint::new(M::PATCH, "/v1/characters/{id}", ADMIN, || {
            web::route().to(rename_character)
        }),
        Endpoint::new(M::DELETE, "/v1/characters/{id}", ADMIN, || {
            web::route().to(delete_character)
        }),
        Endpoint::new(M::GET, "/v1/subscriptions/plans", ADMIN, || {
            web::route().to(list_plans)
        }),
        Endpoint::new(M::POST, "/v1/subscriptions/payments", ADMIN, || {
            web::route().to(record_payment)
        }),
        Endpoint::new(M::GET, "/v1/accounts/{id}/subscription", ADMIN, || {
            web::route().to(subscription_status)
        }),
        Endpoint::new(
            M::POST,
            "/v1/accounts/{id}/subscription/trial",
            ADMIN,
            || web::route().to(grant_trial),
        ),
        Endpoint::new(M::GET, "/v1/accounts/{id}/payments", ADMIN, || {
            web::route().to(list_payments)
        }),
    ]
}

// ---- query strings -------------------------------------------------------

/// Pagination, as text (see [`params`](super::params)).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PageQuery {
    after: Option<String>,
    limit: Option<String>,
}

/// Pagination plus the optional account filter of `GET /v1/characters`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CharacterQuery {
    after: Option<String>,
    limit: Option<String>,
    account_id: Option<String>,
}

// ---- bodies --------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    wallet_address: Option<String>,
    #[serde(default)]
    is_superuser: bool,
}

/// PATCH body: absent fields keep their value; `"wallet_address": null` clears
/// it. `null` for any other field is refused rather than read as "absent", so a
/// client that means to clear something learns that it cannot.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountPatch {
    #[serde(default, deserialize_with = "not_null")]
    username: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    email: Option<String>,
    #[serde(default, deserialize_with = "present")]
    wallet_address: Option<Option<String>>,
    #[serde(default, deserialize_with = "not_null")]
    is_superuser: Option<bool>,
    #[serde(default, deserialize_with = "not_null")]
    is_active: Option<bool>,
}

/// A field that may be absent (via `default`) but not `null`.
fn not_null<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Distinguish "absent" (outer `None`, via `default`) from `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CharacterBody {
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentBody {
    account_id: i64,
    /// The wallet the payment came from.
    wallet_address: String,
    plan_key: String,
    /// Decimal, at most two places: `"5.00"` (preferred, exact) or `5`.
    #[serde(deserialize_with = "decimal_text")]
    amount: String,
    currency_code: String,
    tx_hash: String,
}

/// Accept a decimal as a JSON string or number; the domain parses and checks it.
fn decimal_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Decimal {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Decimal::deserialize(d)? {
        Decimal::Text(s) => s,
        Decimal::Number(n) => n.to_string(),
    })
}

/// Length bounds the domain leaves to the columns (Postgres would refuse the
/// value with a 500-worthy error, SQLite would store it): checked here so both
/// backends answer the same 400.
fn check_len(field: &str, value: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let n = value.chars().count();
    if n < min || n > max {
        return Err(ApiError::invalid(
            field,
            format!("must be {min} to {max} characters"),
        ));
    }
    Ok(())
}

/// Longest email (RFC 5321 path limit, the column width).
pub const MAX_EMAIL: usize = 254;
/// Longest wallet address (column width; XRPL classic addresses have 25 to 35).
pub const MAX_WALLET: usize = 64;
/// Longest currency code (column width; XRPL hex codes have 40).
pub const MAX_CURRENCY: usize = 40;

impl AccountBody {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("email", &self.email, 0, MAX_EMAIL)?;
        if let Some(w) = &self.wallet_address {
            check_len("wallet_address", w, 1, MAX_WALLET)?;
        }
        Ok(())
    }
}

impl AccountPatch {
    fn validate(&self) -> Result<(), ApiError> {
        if let Some(e) = &self.email {
            check_len("email", e, 0, MAX_EMAIL)?;
        }
        if let Some(Some(w)) = &self.wallet_address {
            check_len("wallet_address", w, 1, MAX_WALLET)?;
        }
        Ok(())
    }
}

impl PaymentBody {
    fn validate(&self) -> Result<(), ApiError> {
        check_len("wallet_address", &self.wallet_address, 1, MAX_WALLET)?;
        check_len("currency_code", &self.currency_code, 1, MAX_CURRENCY)
    }
}

#[derive(Serialize)]
struct Items<T> {
    items: Vec<T>,
}

#[derive(Serialize)]
struct StatusOut {
    account_id: i64,
    #[serde(flatten)]
    status: SubscriptionStatus,
}

// ---- accounts ------------------------------------------------------------

async fn create_account(
    state: web::Data<AppState>,
    body: web::Json<AccountBody>,
) -> Result<HttpResponse, ApiError> {
    body.validate()?;
    let b = body.into_inner();
    let new = NewAccount {
        username: b.username,
        email: b.email,
        wallet_address: b.wallet_address,
        is_superuser: b.is_superuser,
    };
    let account = accounts::create_account(&state.db, &new).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/accounts/{}", account.id)))
        .json(account))
}

async fn list_accounts(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (after, limit) = after_and_limit(query.after.as_deref(), query.limit.as_deref())?;
    let page = accounts::list_accounts(&state.db, after, limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn get_account(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts::get_account(&state.db, *id).await?;
    Ok(HttpResponse::Ok().json(account))
}

async fn update_account(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<AccountPatch>,
) -> Result<HttpResponse, ApiError> {
    body.validate()?;
    let b = body.into_inner();
    let update = AccountUpdate {
        username: b.username,
        email: b.email,
        wallet_address: b.wallet_address,
        is_superuser: b.is_superuser,
        is_active: b.is_active,
    };
    let account = accounts::update_account(&state.db, *id, &update).await?;
    Ok(HttpResponse::Ok().json(account))
}

async fn delete_account(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    accounts::delete_account(&state.db, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- characters ----------------------------------------------------------

async fn create_character(
    state: web::Data<AppState>,
    account_id: web::Path<i64>,
    body: web::Json<CharacterBody>,
) -> Result<HttpResponse, ApiError> {
    let character = accounts::create_character(&state.db, *account_id, &body.key).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/v1/characters/{}", character.id)))
        .json(character))
}

async fn list_characters(
    state: web::Data<AppState>,
    query: web::Query<CharacterQuery>,
) -> Result<HttpResponse, ApiError> {
    let (after, limit) = after_and_limit(query.after.as_deref(), query.limit.as_deref())?;
    let account_id = int_param("account_id", query.account_id.as_deref())?;
    let page = accounts::list_characters(&state.db, account_id, after, limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn get_character(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let character = accounts::get_character(&state.db, *id).await?;
    Ok(HttpResponse::Ok().json(character))
}

async fn rename_character(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<CharacterBody>,
) -> Result<HttpResponse, ApiError> {
    let character = accounts::rename_character(&state.db, *id, &body.key).await?;
    Ok(HttpResponse::Ok().json(character))
}

async fn delete_character(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    accounts::delete_character(&state.db, *id).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---- subscriptions -------------------------------------------------------

async fn list_plans(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let items = subscriptions::active_plans(&state.db).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

/// Record a payment for an existing account. The account is looked up first
/// (accounts and payments live in different databases, so nothing else would
/// stop a payment for an account that does not exist) and its username is
/// recorded with the payment.
async fn record_payment(
    state: web::Data<AppState>,
    body: web::Json<PaymentBody>,
) -> Result<HttpResponse, ApiError> {
    body.validate()?;
    let b = body.into_inner();
    let account = accounts::get_account(&state.db, b.account_id).await?;
    let payment = NewPayment {
        account_id: account.id,
        account_name: account.username,
        wallet_address: b.wallet_address,
        plan_key: b.plan_key,
        amount: b.amount,
        currency_code: b.currency_code,
        tx_hash: b.tx_hash,
    };
    let recorded = subscriptions::record_payment(&state.db, &payment, now_micros()).await?;
    Ok(HttpResponse::Created().json(recorded))
}

async fn subscription_status(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts::get_account(&state.db, *id).await?;
    let status = subscriptions::status(&state.db, account.id, Utc::now()).await?;
    Ok(HttpResponse::Ok().json(StatusOut {
        account_id: account.id,
        status,
    }))
}

async fn grant_trial(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts::get_account(&state.db, *id).await?;
    let now = now_micros();
    let expires_at = subscriptions::grant_trial(&state.db, account.id, now).await?;
    Ok(HttpResponse::Created().json(StatusOut {
        account_id: account.id,
        status: SubscriptionStatus::at(Some(expires_at), true, now),
    }))
}

async fn list_payments(
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let account = accounts::get_account(&state.db, *id).await?;
    let items = subscriptions::payments(&state.db, account.id).await?;
    Ok(HttpResponse::Ok().json(Items { items }))
}

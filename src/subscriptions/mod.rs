//! Subscriptions: plans, payments and each account's expiry.
//!
//! The expiry lives in the subscriptions database beside the payments, so that a
//! payment and the extension it buys commit in one transaction on either backend.
//! A replayed `tx_hash` is refused by the unique index inside that transaction,
//! so a replay can never extend anything (the original extended first and only
//! logged the duplicate).

pub mod import;
mod status;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::db::{Alias, Db, is_unique_violation};
use crate::decimal;
use crate::with_pool;

pub use status::{SubscriptionStatus, TRIAL_HOURS, WARNING_HOURS};

const PRICE_PRECISION: u32 = 10;
const PRICE_SCALE: u32 = 2;

/// A subscription plan.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Plan {
    pub key: String,
    pub display_name: String,
    pub duration_days: i32,
    /// Decimal text with two places, e.g. `5.00`.
    pub price: String,
    pub is_active: bool,
    pub sort_order: i32,
}

/// A payment to record.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub account_id: i64,
    pub account_name: String,
    pub wallet_address: String,
    pub plan_key: String,
    /// Decimal text, at most two places.
    pub amount: String,
    pub currency_code: String,
    pub tx_hash: String,
}

/// A recorded payment.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Payment {
    pub id: i64,
    pub account_id: i64,
    pub account_name: String,
    pub wallet_address: String,
    pub plan_key: String,
    pub amount: String,
    pub currency_code: String,
    pub tx_hash: String,
    pub old_expiry: Option<DateTime<Utc>>,
    pub new_expiry: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    #[error("transaction {tx_hash} was already used for a payment")]
    Replayed { tx_hash: String },
    #[error("no active plan {0:?}")]
    UnknownPlan(String),
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("the 48-hour trial was already granted to account {0}")]
    TrialAlreadyUsed(i64),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<decimal::DecimalError> for SubscriptionError {
    fn from(e: decimal::DecimalError) -> Self {
        SubscriptionError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

/// Make sure the account's subscription row exists and lock it for the rest of
/// the transaction (`FOR UPDATE` on Postgres; SQLite's write lock is already
/// held by `BEGIN IMMEDIATE`). Evaluates to the current expiry. A macro because
/// the body is compiled once per backend inside `with_pool!`.
macro_rules! lock_expiry {
    ($p:ident, $tx:ident, $account_id:expr, $now:expr) => {{
        sqlx::query(
            "INSERT INTO subscriptions_accountsubscription (account_id, updated_at) VALUES ($1, $2)
             ON CONFLICT (account_id) DO NOTHING",
        )
        .bind($account_id)
        .bind($now)
        .execute(&mut *$tx)
        .await?;
        let (expiry,): (Option<DateTime<Utc>>,) = sqlx::query_as($p.pick(
            "SELECT expires_at FROM subscriptions_accountsubscription WHERE account_id = $1",
            "SELECT expires_at FROM subscriptions_accountsubscription WHERE account_id = $1 FOR UPDATE",
        ))
        .bind($account_id)
        .fetch_one(&mut *$tx)
        .await?;
        expiry
    }};
}

const PLAN_COLUMNS: &str =
    "key, display_name, duration_days, CAST(price AS TEXT) AS price, is_active, sort_order";

/// Active plans in display order.
pub async fn active_plans(db: &Db) -> Result<Vec<Plan>, SubscriptionError> {
    let plans = with_pool!(db.pool(Alias::Subscriptions), |p| {
        sqlx::query_as::<_, Plan>(sqlx::AssertSqlSafe(format!(
            "SELECT {PLAN_COLUMNS} FROM subscriptions_subscriptionplan WHERE is_active ORDER BY sort_order, key"
        )))
        .fetch_all(p)
        .await?
    });
    Ok(plans)
}

/// The new expiry a payment or trial buys: from the current expiry while it is
/// still in the future, else from now.
pub fn extend(current: Option<DateTime<Utc>>, now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    match current {
        Some(expiry) if expiry > now => expiry + by,
        _ => now + by,
    }
}

fn validate(payment: &NewPayment) -> Result<String, SubscriptionError> {
    let tx = payment.tx_hash.trim();
    if tx.is_empty() || tx.len() > 64 {
        return Err(SubscriptionError::Invalid {
            field: "tx_hash",
            message: "must be 1 to 64 characters".into(),
        });
    }
    if payment.account_id <= 0 {
        return Err(SubscriptionError::Invalid {
            field: "account_id",
            message: "must be a positive account id".into(),
        });
    }
    let amount = decimal::parse("amount", &payment.amount, PRICE_PRECISION, PRICE_SCALE)?;
    if amount.is_sign_negative() {
        return Err(SubscriptionError::Invalid {
            field: "amount",
            message: "must not be negative".into(),
        });
    }
    Ok(decimal::to_text(amount, PRICE_SCALE))
}

/// Record a payment and extend the account's subscription, atomically: either
/// the payment row, the history and the new expiry are all written, or nothing is.
pub async fn record_payment(
    db: &Db,
    payment: &NewPayment,
    now: DateTime<Utc>,
) -> Result<Payment, SubscriptionError> {
    let amount = validate(payment)?;
    let result = with_pool!(db.pool(Alias::Subscriptions), |p| {
        let mut tx = p.begin_write().await?;
        let duration_days: Option<(i32,)> = sqlx::query_as(
            "SELECT duration_days FROM subscriptions_subscriptionplan WHERE key = $1 AND is_active",
        )
        .bind(&payment.plan_key)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((days,)) = duration_days else {
            return Err(SubscriptionError::UnknownPlan(payment.plan_key.clone()));
        };
        let seen: Option<(i64,)> =
            sqlx::query_as("SELECT id FROM subscriptions_subscriptionpayment WHERE tx_hash = $1")
                .bind(&payment.tx_hash)
                .fetch_optional(&mut *tx)
                .await?;
        if seen.is_some() {
            return Err(SubscriptionError::Replayed {
                tx_hash: payment.tx_hash.clone(),
            });
        }
        let old_expiry = lock_expiry!(p, tx, payment.account_id, now);
        let new_expiry = extend(old_expiry, now, Duration::days(i64::from(days)));
        let inserted = sqlx::query_as::<_, Payment>(p.pick(
            "INSERT INTO subscriptions_subscriptionpayment
               (account_id, account_name, wallet_address, plan_key, amount, currency_code, tx_hash, old_expiry, new_expiry, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             RETURNING id, account_id, account_name, wallet_address, plan_key, CAST(amount AS TEXT) AS amount,
                       currency_code, tx_hash, old_expiry, new_expiry, created_at",
            "INSERT INTO subscriptions_subscriptionpayment
               (account_id, account_name, wallet_address, plan_key, amount, currency_code, tx_hash, old_expiry, new_expiry, created_at)
             VALUES ($1, $2, $3, $4, CAST($5 AS NUMERIC), $6, $7, $8, $9, $10)
             RETURNING id, account_id, account_name, wallet_address, plan_key, CAST(amount AS TEXT) AS amount,
                       currency_code, tx_hash, old_expiry, new_expiry, created_at",
        ))
        .bind(payment.account_id)
        .bind(&payment.account_name)
        .bind(&payment.wallet_address)
        .bind(&payment.plan_key)
        .bind(&amount)
        .bind(&payment.currency_code)
        .bind(&payment.tx_hash)
        .bind(old_expiry)
        .bind(new_expiry)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let inserted = match inserted {
            Ok(row) => row,
            // A concurrent payment with the same hash committed first.
            Err(e) if is_unique_violation(&e) => {
                return Err(SubscriptionError::Replayed {
                    tx_hash: payment.tx_hash.clone(),
                });
            }
            Err(e) => return Err(e.into()),
        };
        sqlx::query(
            "UPDATE subscriptions_accountsubscription SET expires_at = $1, updated_at = $2 WHERE account_id = $3",
        )
        .bind(new_expiry)
        .bind(now)
        .bind(payment.account_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        inserted
    });
    Ok(result)
}

/// Grant the one-time 48-hour trial. Refused when the account already had it.
pub async fn grant_trial(
    db: &Db,
    account_id: i64,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, SubscriptionError> {
    let expiry = with_pool!(db.pool(Alias::Subscriptions), |p| {
        let mut tx = p.begin_write().await?;
        let current = lock_expiry!(p, tx, account_id, now);
        let new_expiry = extend(current, now, Duration::hours(TRIAL_HOURS));
        let updated = sqlx::query(
            "UPDATE subscriptions_accountsubscription SET expires_at = $1, trial_granted_at = $2, updated_at = $2
             WHERE account_id = $3 AND trial_granted_at IS NULL",
        )
        .bind(new_expiry)
        .bind(now)
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(SubscriptionError::TrialAlreadyUsed(account_id));
        }
        tx.commit().await?;
        new_expiry
    });
    Ok(expiry)
}

/// Whether the account is subscribed at `now`, until when, and whether to warn.
pub async fn status(
    db: &Db,
    account_id: i64,
    now: DateTime<Utc>,
) -> Result<SubscriptionStatus, SubscriptionError> {
    type ExpiryAndTrial = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let row: Option<ExpiryAndTrial> = with_pool!(db.pool(Alias::Subscriptions), |p| {
        sqlx::query_as(
                "SELECT expires_at, trial_granted_at FROM subscriptions_accountsubscription WHERE account_id = $1",
            )
            .bind(account_id)
            .fetch_optional(p)
            .await?
    });
    let (expires_at, trial) = row.unwrap_or((None, None));
    Ok(SubscriptionStatus::at(expires_at, trial.is_some(), now))
}

/// Payments of an account, newest first.
pub async fn payments(db: &Db, account_id: i64) -> Result<Vec<Payment>, SubscriptionError> {
    let rows = with_pool!(db.pool(Alias::Subscriptions), |p| {
        sqlx::query_as::<_, Payment>(
            "SELECT id, account_id, account_name, wallet_address, plan_key, CAST(amount AS TEXT) AS amount,
                    currency_code, tx_hash, old_expiry, new_expiry, created_at
             FROM subscriptions_subscriptionpayment WHERE account_id = $1 ORDER BY created_at DESC, id DESC",
        )
        .bind(account_id)
        .fetch_all(p)
        .await?
    });
    Ok(rows)
}

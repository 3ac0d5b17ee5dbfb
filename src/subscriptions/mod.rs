//! Subscriptions: plans, payments and each account's expiry.
//!
//! The expiry lives in the subscriptions database beside the payments, so that a
//! payment and the extension it buys commit in one transaction on either backend.
//! A replayed `tx_hash` is refused by the unique index inside that transaction,
//! so a replay can never extend anything (the original extended first and only
//! logged the duplicate). Hashes are stored in their canonical spelling
//! ([`TxHash`]), so a replay in another letter case is the same value to that
//! index. A payment must pay the plan's price in the plan's currency, as the
//! original's on-chain check demanded before it extended anything.

pub mod import;
mod status;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::db::{Alias, Args, Db, Tx, is_unique_violation};
use crate::decimal;
use crate::tx_hash::{TxHash, TxHashError};

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
    /// The currency the price is paid in (the seeded plan: `RLUSD`, as the original).
    pub currency_code: String,
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
    /// Decimal text, at most two places; must equal the plan's price.
    pub amount: String,
    /// Must be the plan's currency.
    pub currency_code: String,
    /// Any spelling of a 64-hex XRPL hash; stored upper case.
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

impl From<TxHashError> for SubscriptionError {
    fn from(e: TxHashError) -> Self {
        SubscriptionError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<decimal::DecimalError> for SubscriptionError {
    fn from(e: decimal::DecimalError) -> Self {
        SubscriptionError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

/// Inside a write transaction: make sure the account's subscription row
/// exists and lock it until the commit (see
/// [`Dialect::for_update`](crate::db::Dialect::for_update)). Returns the
/// current expiry.
async fn lock_expiry(
    tx: &mut Tx,
    account_id: i64,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    let mut args = Args::new();
    args.push(account_id);
    args.push(now);
    tx.execute(
        "INSERT INTO subscriptions_accountsubscription (account_id, updated_at) VALUES ($1, $2)
         ON CONFLICT (account_id) DO NOTHING",
        args,
    )
    .await?;
    let mut args = Args::new();
    let sql = format!(
        "SELECT expires_at FROM subscriptions_accountsubscription WHERE account_id = {}{}",
        args.push(account_id),
        tx.dialect().for_update()
    );
    let (expiry,): (Option<DateTime<Utc>>,) = tx.fetch_one(&sql, args).await?;
    Ok(expiry)
}

const PLAN_COLUMNS: &str = "key, display_name, duration_days, CAST(price AS TEXT) AS price, currency_code, is_active, sort_order";

/// The columns of a [`Payment`].
const PAYMENT_COLUMNS: &str =
    "id, account_id, account_name, wallet_address, plan_key, CAST(amount AS TEXT) AS amount,
     currency_code, tx_hash, old_expiry, new_expiry, created_at";

/// Active plans in display order.
pub async fn active_plans(db: &Db) -> Result<Vec<Plan>, SubscriptionError> {
    let sql = format!(
        "SELECT {PLAN_COLUMNS} FROM subscriptions_subscriptionplan WHERE is_active ORDER BY sort_order, key"
    );
    Ok(db
        .pool(Alias::Subscriptions)
        .fetch_all(&sql, Args::new())
        .await?)
}

/// The new expiry a payment or trial buys: from the current expiry while it is
/// still in the future, else from now.
pub fn extend(current: Option<DateTime<Utc>>, now: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    match current {
        Some(expiry) if expiry > now => expiry + by,
        _ => now + by,
    }
}

/// A payment's values in the form they are stored and compared.
struct CheckedPayment {
    tx_hash: TxHash,
    amount: rust_decimal::Decimal,
}

fn validate(payment: &NewPayment) -> Result<CheckedPayment, SubscriptionError> {
    let tx_hash = TxHash::parse("tx_hash", &payment.tx_hash)?;
    if payment.account_id <= 0 {
        return Err(SubscriptionError::Invalid {
            field: "account_id",
            message: "must be a positive account id".into(),
        });
    }
    let amount = decimal::parse("amount", &payment.amount, PRICE_PRECISION, PRICE_SCALE)?;
    Ok(CheckedPayment { tx_hash, amount })
}

/// Refuse a payment that does not pay `plan` exactly: the amount must be its
/// price (`0.00` for a `5.00` plan bought nothing) and the currency its currency
/// (XRPL currency codes are case-sensitive, so compared as written).
fn check_pays_plan(
    payment: &NewPayment,
    amount: rust_decimal::Decimal,
    plan: &PlanTerms,
) -> Result<(), SubscriptionError> {
    let price = decimal::parse("price", &plan.price, PRICE_PRECISION, PRICE_SCALE)?;
    if amount != price {
        return Err(SubscriptionError::Invalid {
            field: "amount",
            message: format!(
                "the {} plan costs {} {}, not {}",
                payment.plan_key,
                decimal::to_text(price, PRICE_SCALE),
                plan.currency_code,
                decimal::to_text(amount, PRICE_SCALE)
            ),
        });
    }
    if payment.currency_code != plan.currency_code {
        return Err(SubscriptionError::Invalid {
            field: "currency_code",
            message: format!(
                "the {} plan is paid in {}, not {:?}",
                payment.plan_key, plan.currency_code, payment.currency_code
            ),
        });
    }
    Ok(())
}

/// What a payment is checked against.
#[derive(sqlx::FromRow)]
struct PlanTerms {
    duration_days: i32,
    price: String,
    currency_code: String,
}

/// Record a payment and extend the account's subscription, atomically: either
/// the payment row, the history and the new expiry are all written, or nothing is.
pub async fn record_payment(
    db: &Db,
    payment: &NewPayment,
    now: DateTime<Utc>,
) -> Result<Payment, SubscriptionError> {
    let CheckedPayment { tx_hash, amount } = validate(payment)?;
    let amount_text = decimal::to_text(amount, PRICE_SCALE);
    let mut tx = db.pool(Alias::Subscriptions).begin().await?;
    let mut args = Args::new();
    args.push(payment.plan_key.as_str());
    let plan: Option<PlanTerms> = tx
        .fetch_optional(
            "SELECT duration_days, CAST(price AS TEXT) AS price, currency_code
             FROM subscriptions_subscriptionplan WHERE key = $1 AND is_active",
            args,
        )
        .await?;
    let Some(plan) = plan else {
        return Err(SubscriptionError::UnknownPlan(payment.plan_key.clone()));
    };
    check_pays_plan(payment, amount, &plan)?;
    let replayed = || SubscriptionError::Replayed {
        tx_hash: tx_hash.to_string(),
    };
    let mut args = Args::new();
    args.push(tx_hash.as_str());
    let seen: Option<(i64,)> = tx
        .fetch_optional(
            "SELECT id FROM subscriptions_subscriptionpayment WHERE tx_hash = $1",
            args,
        )
        .await?;
    if seen.is_some() {
        return Err(replayed());
    }
    let old_expiry = lock_expiry(&mut tx, payment.account_id, now).await?;
    let new_expiry = extend(
        old_expiry,
        now,
        Duration::days(i64::from(plan.duration_days)),
    );
    let mut args = Args::new();
    let sql = format!(
        "INSERT INTO subscriptions_subscriptionpayment
           (account_id, account_name, wallet_address, plan_key, amount, currency_code, tx_hash, old_expiry, new_expiry, created_at)
         VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})
         RETURNING {PAYMENT_COLUMNS}",
        args.push(payment.account_id),
        args.push(payment.account_name.as_str()),
        args.push(payment.wallet_address.as_str()),
        args.push(payment.plan_key.as_str()),
        tx.dialect().numeric(&args.push(amount_text)),
        args.push(payment.currency_code.as_str()),
        args.push(tx_hash.as_str()),
        args.push(old_expiry),
        args.push(new_expiry),
        args.push(now)
    );
    let inserted: Payment = match tx.fetch_one(&sql, args).await {
        Ok(row) => row,
        // A concurrent payment with the same hash committed first.
        Err(e) if is_unique_violation(&e) => return Err(replayed()),
        Err(e) => return Err(e.into()),
    };
    let mut args = Args::new();
    args.push(new_expiry);
    args.push(now);
    args.push(payment.account_id);
    tx.execute(
        "UPDATE subscriptions_accountsubscription SET expires_at = $1, updated_at = $2 WHERE account_id = $3",
        args,
    )
    .await?;
    tx.commit().await?;
    Ok(inserted)
}

/// Grant the one-time 48-hour trial. Refused when the account already had it.
pub async fn grant_trial(
    db: &Db,
    account_id: i64,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, SubscriptionError> {
    let mut tx = db.pool(Alias::Subscriptions).begin().await?;
    let current = lock_expiry(&mut tx, account_id, now).await?;
    let new_expiry = extend(current, now, Duration::hours(TRIAL_HOURS));
    let mut args = Args::new();
    args.push(new_expiry);
    args.push(now);
    args.push(account_id);
    let updated = tx
        .execute(
            "UPDATE subscriptions_accountsubscription SET expires_at = $1, trial_granted_at = $2, updated_at = $2
             WHERE account_id = $3 AND trial_granted_at IS NULL",
            args,
        )
        .await?;
    if updated == 0 {
        return Err(SubscriptionError::TrialAlreadyUsed(account_id));
    }
    tx.commit().await?;
    Ok(new_expiry)
}

/// Whether the account is subscribed at `now`, until when, and whether to warn.
pub async fn status(
    db: &Db,
    account_id: i64,
    now: DateTime<Utc>,
) -> Result<SubscriptionStatus, SubscriptionError> {
    type ExpiryAndTrial = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let mut args = Args::new();
    args.push(account_id);
    let row: Option<ExpiryAndTrial> = db
        .pool(Alias::Subscriptions)
        .fetch_optional(
            "SELECT expires_at, trial_granted_at FROM subscriptions_accountsubscription WHERE account_id = $1",
            args,
        )
        .await?;
    let (expires_at, trial) = row.unwrap_or((None, None));
    Ok(SubscriptionStatus::at(expires_at, trial.is_some(), now))
}

/// Payments of an account, newest first.
pub async fn payments(db: &Db, account_id: i64) -> Result<Vec<Payment>, SubscriptionError> {
    let mut args = Args::new();
    args.push(account_id);
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM subscriptions_subscriptionpayment
         WHERE account_id = $1 ORDER BY created_at DESC, id DESC"
    );
    Ok(db.pool(Alias::Subscriptions).fetch_all(&sql, args).await?)
}

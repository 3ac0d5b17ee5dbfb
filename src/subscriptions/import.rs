//! The original game's subscriptions as `mnemo import original` copies them:
//! its plans (matched on `key`: the original's price and duration win over
//! mnemo's seed) and its payments, keyed by `tx_hash` in canonical form, so a
//! replay the original let in (the same hash again in another case) is a
//! duplicate: reported, not written. Trials were payment rows in the original
//! (`plan_key` `trial`, `tx_hash` `trial:<wallet>`); they stay payment rows and
//! also mark the account's trial as granted.
//!
//! A payment's `account_id` becomes the id the account has here: through the
//! accounts' import when that account still exists under the payment's
//! `account_name`, else by that name (ids from before a world rebuild name
//! accounts that no longer exist; names are what stay).
//!
//! The expiry of each account whose payments came in is then recomputed from
//! the payments kept, in time order, each extending from the current expiry
//! while it runs (else from its own time) by the span it bought: a replay's
//! extra time is not carried over, though the original granted it.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use super::extend;
use crate::db::bulk::{NaturalKey, OnExisting};
use crate::db::columns::{ColType::*, Column as C, CopySpec};
use crate::db::{Alias, Args, Db, SqlValue};
use crate::tx_hash::TxHash;

/// The original's trial payments: their plan key and the marker in their `tx_hash`.
const TRIAL_PLAN: &str = "trial";
const TRIAL_PREFIX: &str = "trial:";

pub const PLANS: CopySpec = CopySpec {
    source: "subscriptions_subscriptionplan",
    target: "subscriptions_subscriptionplan",
    alias: Alias::Subscriptions,
    columns: &[
        C::same("key", Text),
        C::same("display_name", Text),
        C::same("duration_days", Int),
        C::same("price", Decimal(2)),
        C::same("is_active", Bool),
        C::same("sort_order", Int),
    ],
    key: Some(NaturalKey {
        columns: &["key"],
        on_existing: OnExisting::Update,
    }),
    keep_ids: false,
};

pub const PAYMENTS: CopySpec = CopySpec {
    source: "subscriptions_subscriptionpayment",
    target: "subscriptions_subscriptionpayment",
    alias: Alias::Subscriptions,
    columns: &[
        C::same("account_id", Int),
        C::same("account_name", Text),
        C::same("wallet_address", Text),
        C::same("plan_key", Text),
        C::same("amount", Decimal(2)),
        C::same("currency_code", Text),
        C::same("tx_hash", Text),
        C::same("old_expiry", Time),
        C::same("new_expiry", Time),
        C::same("created_at", Time),
    ],
    key: Some(NaturalKey {
        columns: &["tx_hash"],
        on_existing: OnExisting::Skip,
    }),
    keep_ids: false,
};

/// The accounts payments may name: the original's id -> (username, id here),
/// and username -> id here.
#[derive(Debug, Default, Clone)]
pub struct AccountIds {
    pub by_original: HashMap<i64, (String, i64)>,
    pub by_name: HashMap<String, i64>,
}

impl AccountIds {
    /// The id here of the account a payment names.
    fn resolve(&self, original_id: i64, name: &str) -> Option<i64> {
        match self.by_original.get(&original_id) {
            Some((username, id)) if username == name => Some(*id),
            _ => self.by_name.get(name).copied(),
        }
    }
}

/// Bring a payment row into the form mnemo stores: its hash canonical (or a
/// trial marker kept as it is) and its account id the one the account has
/// here. `accounts` is `None` when the source has no accounts to map to: ids
/// are kept then.
pub fn prepare_payment(
    values: &mut [SqlValue],
    accounts: Option<&AccountIds>,
) -> Result<(), String> {
    let hash_at = PAYMENTS.index_of("tx_hash");
    let SqlValue::Text(Some(raw)) = &values[hash_at] else {
        return Err("tx_hash: missing".into());
    };
    let hash = match TxHash::parse("tx_hash", raw) {
        Ok(hash) => hash.as_str().to_owned(),
        Err(_) if raw.starts_with(TRIAL_PREFIX) => raw.clone(),
        Err(_) => {
            return Err(format!(
                "tx_hash: {raw:?} is neither an XRPL transaction hash nor a trial marker"
            ));
        }
    };
    values[hash_at] = SqlValue::Text(Some(hash));
    let Some(accounts) = accounts else {
        return Ok(());
    };
    let (SqlValue::Int(Some(original)), SqlValue::Text(Some(name))) = (
        &values[PAYMENTS.index_of("account_id")],
        &values[PAYMENTS.index_of("account_name")],
    ) else {
        return Err("account_id: missing".into());
    };
    let id = accounts.resolve(*original, name).ok_or_else(|| {
        format!("account_id: no account {original} named {name:?}, nor any account of that name")
    })?;
    values[PAYMENTS.index_of("account_id")] = SqlValue::Int(Some(id));
    Ok(())
}

/// An account's expiry as the payments kept give it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub account_id: i64,
    pub expires_at: DateTime<Utc>,
    pub trial_granted_at: Option<DateTime<Utc>>,
}

type PaymentTimes = (
    i64,
    String,
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    DateTime<Utc>,
);

/// An account's expiry and trial time as stored here.
type Current = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Recompute and store the expiry of each of `accounts` from its payments
/// here (see the module doc); an expiry already later here is kept, a trial
/// already granted keeps its time. Returns the expiries computed.
pub async fn settle_expiries(db: &Db, accounts: &[i64]) -> Result<Vec<Expiry>, sqlx::Error> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let pool = db.pool(Alias::Subscriptions);
    let mut args = Args::new();
    let sql = format!(
        "SELECT account_id, plan_key, created_at, old_expiry, new_expiry
         FROM subscriptions_subscriptionpayment WHERE {} ORDER BY account_id, created_at, id",
        pool.dialect()
            .in_list("account_id", &args.push(SqlValue::Ints(accounts.to_vec())))
    );
    let payments: Vec<PaymentTimes> = pool.fetch_all(&sql, args).await?;
    let mut expiries: BTreeMap<i64, Expiry> = BTreeMap::new();
    for (account_id, plan, at, old, new) in payments {
        // The span the payment bought, as the original computed it: from the
        // expiry it extended while that still ran, else from its own time.
        let span = new - old.filter(|o| *o > at).unwrap_or(at);
        let e = expiries.entry(account_id).or_insert(Expiry {
            account_id,
            expires_at: at,
            trial_granted_at: None,
        });
        e.expires_at = extend(Some(e.expires_at), at, span);
        if plan == TRIAL_PLAN {
            e.trial_granted_at = Some(e.trial_granted_at.map_or(at, |t| t.min(at)));
        }
    }
    let now = crate::db::now_micros();
    let mut tx = pool.begin().await?;
    for e in expiries.values() {
        let mut args = Args::new();
        let current = format!(
            "SELECT expires_at, trial_granted_at FROM subscriptions_accountsubscription WHERE account_id = {}",
            args.push(e.account_id)
        );
        let existing: Option<Current> = tx.fetch_optional(&current, args).await?;
        let (expires_at, trial) = match existing {
            Some((old, trial)) => (
                old.map_or(e.expires_at, |o| o.max(e.expires_at)),
                trial.or(e.trial_granted_at),
            ),
            None => (e.expires_at, e.trial_granted_at),
        };
        let mut args = Args::new();
        let sql = format!(
            "INSERT INTO subscriptions_accountsubscription (account_id, expires_at, trial_granted_at, updated_at)
             VALUES ({}, {}, {}, {})
             ON CONFLICT (account_id) DO UPDATE SET expires_at = excluded.expires_at,
                 trial_granted_at = excluded.trial_granted_at, updated_at = excluded.updated_at",
            args.push(e.account_id),
            args.push(expires_at),
            args.push(trial),
            args.push(now)
        );
        tx.execute(&sql, args).await?;
    }
    tx.commit().await?;
    Ok(expiries.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(account_id: i64, name: &str, hash: &str) -> Vec<SqlValue> {
        let mut values = vec![SqlValue::Text(None); PAYMENTS.columns.len()];
        values[PAYMENTS.index_of("account_id")] = SqlValue::Int(Some(account_id));
        values[PAYMENTS.index_of("account_name")] = SqlValue::Text(Some(name.into()));
        values[PAYMENTS.index_of("tx_hash")] = SqlValue::Text(Some(hash.into()));
        values
    }

    #[test]
    fn a_payment_from_before_a_rebuild_finds_its_account_by_name() {
        let accounts = AccountIds {
            by_original: HashMap::from([
                (82, ("Alanro".to_owned(), 82)),
                (7, ("Ulel".to_owned(), 7)),
            ]),
            by_name: HashMap::from([("Alanro".to_owned(), 82), ("Ulel".to_owned(), 7)]),
        };
        let hash = "ab".repeat(32);
        let mut values = payment(582, "Alanro", &hash);
        prepare_payment(&mut values, Some(&accounts)).unwrap();
        assert_eq!(values[0], SqlValue::Int(Some(82)));
        assert_eq!(values[6], SqlValue::Text(Some(hash.to_uppercase())));
        // An id that exists but names someone else is not trusted.
        let mut values = payment(7, "Alanro", &hash);
        prepare_payment(&mut values, Some(&accounts)).unwrap();
        assert_eq!(values[0], SqlValue::Int(Some(82)));
        let mut unknown = payment(900, "Nobody", &hash);
        let err = prepare_payment(&mut unknown, Some(&accounts)).unwrap_err();
        assert!(err.starts_with("account_id"), "{err}");
    }

    #[test]
    fn trial_markers_stay_and_other_non_hashes_are_refused() {
        let mut trial = payment(1, "A", "trial:rDUiteYwvT1f3R2S5bWgEAgESw66Y3TtiX");
        prepare_payment(&mut trial, None).unwrap();
        assert_eq!(
            trial[6],
            SqlValue::Text(Some("trial:rDUiteYwvT1f3R2S5bWgEAgESw66Y3TtiX".into()))
        );
        let mut bad = payment(1, "A", "paid-by-cheque");
        assert!(
            prepare_payment(&mut bad, None)
                .unwrap_err()
                .starts_with("tx_hash")
        );
    }
}

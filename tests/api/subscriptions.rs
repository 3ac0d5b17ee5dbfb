//! Subscriptions on both backends: plans, extension rules, the trial, and replay protection.

use std::sync::Arc;

use crate::support::db::TestDb;
use chrono::{Duration, Utc};
use mnemo::db::now_micros;
use mnemo::subscriptions::{self, NewPayment, SubscriptionError};

fn payment(account_id: i64, tx: &str) -> NewPayment {
    NewPayment {
        account_id,
        account_name: format!("player{account_id}"),
        wallet_address: "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".into(),
        plan_key: "monthly".into(),
        amount: "5".into(),
        currency_code: "XRP".into(),
        tx_hash: tx.into(),
    }
}

async fn monthly_plan_is_seeded(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let plans = subscriptions::active_plans(&t.db).await.unwrap();
    assert_eq!(plans.len(), 1);
    let p = &plans[0];
    assert_eq!(
        (p.key.as_str(), p.display_name.as_str()),
        ("monthly", "Monthly")
    );
    assert_eq!(
        (p.duration_days, p.price.as_str(), p.is_active),
        (30, "5.00", true)
    );
}

async fn first_payment_extends_from_now_then_from_expiry(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let now = now_micros();
    let first = subscriptions::record_payment(&t.db, &payment(7, "tx-1"), now)
        .await
        .unwrap();
    assert_eq!(first.old_expiry, None);
    assert_eq!(first.new_expiry, now + Duration::days(30));
    assert_eq!(first.amount, "5.00");

    // Still active: the next payment stacks on the current expiry.
    let later = now + Duration::days(10);
    let second = subscriptions::record_payment(&t.db, &payment(7, "tx-2"), later)
        .await
        .unwrap();
    assert_eq!(second.old_expiry, Some(first.new_expiry));
    assert_eq!(second.new_expiry, first.new_expiry + Duration::days(30));

    // Lapsed: extension starts from now.
    let much_later = second.new_expiry + Duration::days(3);
    let third = subscriptions::record_payment(&t.db, &payment(7, "tx-3"), much_later)
        .await
        .unwrap();
    assert_eq!(third.new_expiry, much_later + Duration::days(30));

    let status = subscriptions::status(&t.db, 7, much_later).await.unwrap();
    assert!(status.subscribed);
    assert_eq!(status.expires_at, Some(third.new_expiry));
    assert_eq!(subscriptions::payments(&t.db, 7).await.unwrap().len(), 3);
}

async fn replayed_tx_hash_is_refused_and_extends_nothing(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let now = now_micros();
    let first = subscriptions::record_payment(&t.db, &payment(1, "dup"), now)
        .await
        .unwrap();
    // The same hash, even for another account, is a replay.
    for account in [1, 2] {
        let err = subscriptions::record_payment(&t.db, &payment(account, "dup"), now)
            .await
            .unwrap_err();
        assert!(matches!(err, SubscriptionError::Replayed { .. }), "{err}");
    }
    let status = subscriptions::status(&t.db, 1, now).await.unwrap();
    assert_eq!(status.expires_at, Some(first.new_expiry));
    assert!(
        !subscriptions::status(&t.db, 2, now)
            .await
            .unwrap()
            .subscribed
    );
}

async fn concurrent_replays_succeed_exactly_once(backend: &str) {
    let t = Arc::new(TestDb::migrated(backend).await);
    let now = now_micros();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            subscriptions::record_payment(&t.db, &payment(42, "race"), now).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(SubscriptionError::Replayed { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(ok, 1);
    let status = subscriptions::status(&t.db, 42, now).await.unwrap();
    assert_eq!(
        status.expires_at,
        Some(now + Duration::days(30)),
        "extended exactly once"
    );
    assert_eq!(subscriptions::payments(&t.db, 42).await.unwrap().len(), 1);
}

async fn bad_payments_are_refused_with_the_field(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let now = Utc::now();
    let mut p = payment(1, "");
    let err = subscriptions::record_payment(&t.db, &p, now)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SubscriptionError::Invalid {
            field: "tx_hash",
            ..
        }
    ));
    p.tx_hash = "ok".into();
    p.amount = "5.001".into();
    let err = subscriptions::record_payment(&t.db, &p, now)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        SubscriptionError::Invalid {
            field: "amount",
            ..
        }
    ));
    p.amount = "5".into();
    p.plan_key = "yearly".into();
    let err = subscriptions::record_payment(&t.db, &p, now)
        .await
        .unwrap_err();
    assert!(matches!(err, SubscriptionError::UnknownPlan(_)));
    assert!(subscriptions::payments(&t.db, 1).await.unwrap().is_empty());
}

async fn trial_is_granted_once(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let now = now_micros();
    let expiry = subscriptions::grant_trial(&t.db, 5, now).await.unwrap();
    assert_eq!(expiry, now + Duration::hours(48));
    let status = subscriptions::status(&t.db, 5, now + Duration::hours(1))
        .await
        .unwrap();
    assert!(status.subscribed && status.trial_used && status.expiring_soon);
    assert_eq!(status.hours_remaining, 47);
    let err = subscriptions::grant_trial(&t.db, 5, now + Duration::days(5))
        .await
        .unwrap_err();
    assert!(matches!(err, SubscriptionError::TrialAlreadyUsed(5)));
    // A payment during the trial stacks on it.
    let paid = subscriptions::record_payment(&t.db, &payment(5, "after-trial"), now)
        .await
        .unwrap();
    assert_eq!(paid.new_expiry, expiry + Duration::days(30));
}

on_both_backends!(
    monthly_plan_is_seeded,
    first_payment_extends_from_now_then_from_expiry,
    replayed_tx_hash_is_refused_and_extends_nothing,
    concurrent_replays_succeed_exactly_once,
    bad_payments_are_refused_with_the_field,
    trial_is_granted_once,
);

//! Subscriptions on both backends: plans, extension rules, the trial, and
//! replay protection (every spelling of a hash is one hash; a payment must pay
//! the plan's price in the plan's currency), in the domain and over HTTP.

use std::sync::Arc;

use crate::support::db::TestDb;
use crate::support::economy::{spellings, tx_hash};
use crate::support::http::{Service, assert_error, create_account, status_json, test_settings};
use chrono::{Duration, Utc};
use mnemo::db::migrate::{self, MigrateParams};
use mnemo::db::{Alias, now_micros};
use mnemo::subscriptions::{self, NewPayment, SubscriptionError};
use mnemo::with_pool;
use reqwest::Method;
use serde_json::{Value, json};

/// A payment for the seeded monthly plan (5.00 RLUSD) with the hash made from `tx`.
fn payment(account_id: i64, tx: &str) -> NewPayment {
    NewPayment {
        account_id,
        account_name: format!("player{account_id}"),
        wallet_address: "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh".into(),
        plan_key: "monthly".into(),
        amount: "5".into(),
        currency_code: "RLUSD".into(),
        tx_hash: tx_hash(tx),
    }
}

fn with_hash(account_id: i64, hash: &str) -> NewPayment {
    NewPayment {
        tx_hash: hash.into(),
        ..payment(account_id, "unused")
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
    assert_eq!(p.currency_code, "RLUSD");
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
    assert_eq!(
        first.tx_hash,
        tx_hash("tx-1").to_uppercase(),
        "stored canonical"
    );

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
    // The same hash in any spelling, even for another account, is a replay.
    for (i, spelling) in spellings(&tx_hash("dup"), 8).into_iter().enumerate() {
        let account = 1 + (i as i64 % 2);
        let err = subscriptions::record_payment(&t.db, &with_hash(account, &spelling), now)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SubscriptionError::Replayed { tx_hash: h } if *h == tx_hash("dup").to_uppercase()),
            "{spelling:?}: {err}"
        );
    }
    let status = subscriptions::status(&t.db, 1, now).await.unwrap();
    assert_eq!(status.expires_at, Some(first.new_expiry));
    assert!(
        !subscriptions::status(&t.db, 2, now)
            .await
            .unwrap()
            .subscribed
    );
    assert_eq!(subscriptions::payments(&t.db, 1).await.unwrap().len(), 1);
}

async fn concurrent_replays_succeed_exactly_once(backend: &str) {
    let t = Arc::new(TestDb::migrated(backend).await);
    let now = now_micros();
    let mut tasks = Vec::new();
    for spelling in spellings(&tx_hash("race"), 20) {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            subscriptions::record_payment(&t.db, &with_hash(42, &spelling), now).await
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
    let hash = tx_hash("good");
    let altered = |change: fn(&mut NewPayment)| {
        let mut p = payment(1, "good");
        change(&mut p);
        p
    };
    let cases: Vec<(&str, NewPayment)> = vec![
        ("tx_hash", with_hash(1, "")),
        ("tx_hash", with_hash(1, "ok")),
        ("tx_hash", with_hash(1, &hash[..63])),
        ("tx_hash", with_hash(1, &format!("{hash}a"))),
        ("tx_hash", with_hash(1, &format!("{}z", &hash[..63]))),
        ("amount", altered(|p| p.amount = "5.001".into())),
        ("amount", altered(|p| p.amount = "0.00".into())),
        ("amount", altered(|p| p.amount = "4.99".into())),
        ("amount", altered(|p| p.amount = "-5".into())),
        ("currency_code", altered(|p| p.currency_code = "XRP".into())),
        (
            "currency_code",
            altered(|p| p.currency_code = "rlusd".into()),
        ),
        ("account_id", altered(|p| p.account_id = 0)),
    ];
    for (field, bad) in cases {
        let err = subscriptions::record_payment(&t.db, &bad, now)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SubscriptionError::Invalid { field: f, .. } if *f == field),
            "{field}: {err}"
        );
    }
    let err = subscriptions::record_payment(
        &t.db,
        &NewPayment {
            plan_key: "yearly".into(),
            ..payment(1, "good")
        },
        now,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, SubscriptionError::UnknownPlan(_)));
    assert!(subscriptions::payments(&t.db, 1).await.unwrap().is_empty());
    // "5" and "5.00" are the price.
    subscriptions::record_payment(&t.db, &payment(1, "good"), now)
        .await
        .unwrap();
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

/// Rows written before hashes were canonical: the migration gives each
/// spelling group one canonical row, so later replays in any case are refused.
async fn migration_canonicalises_stored_hashes(backend: &str) {
    let t = TestDb::migrated_until(backend, Alias::Subscriptions, "0002_seed_monthly_plan").await;
    let params = MigrateParams::default();
    let (a, b, c) = (tx_hash("a"), tx_hash("b"), tx_hash("c"));
    let mixed_b = &spellings(&b, 3)[2];
    // a: lower then upper (a replay let in); b: lower then mixed; c: lower only.
    for hash in [
        a.clone(),
        a.to_uppercase(),
        b.clone(),
        mixed_b.clone(),
        c.clone(),
    ] {
        with_pool!(t.db.pool(Alias::Subscriptions), |p| {
            sqlx::query(
                "INSERT INTO subscriptions_subscriptionpayment
                   (account_id, account_name, wallet_address, plan_key, amount, currency_code, tx_hash, new_expiry, created_at)
                 VALUES (1, 'old', 'rOld', 'monthly', '5.00', 'RLUSD', $1, '2026-01-01T00:00:00+00:00', '2025-12-01T00:00:00+00:00')",
            )
            .bind(&hash)
            .execute(p)
            .await
            .unwrap();
        });
    }
    migrate::migrate(&t.db, &Alias::ALL, &params, None)
        .await
        .unwrap();
    let stored: Vec<String> = subscriptions::payments(&t.db, 1)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.tx_hash)
        .collect();
    let mut stored_sorted = stored.clone();
    stored_sorted.sort();
    let mut expected = vec![
        a.clone(),
        a.to_uppercase(),
        b.to_uppercase(),
        mixed_b.clone(),
        c.to_uppercase(),
    ];
    expected.sort();
    assert_eq!(stored_sorted, expected);
    for hash in [&a, &b, &c] {
        for spelling in spellings(hash, 4) {
            let err = subscriptions::record_payment(&t.db, &with_hash(2, &spelling), now_micros())
                .await
                .unwrap_err();
            assert!(matches!(err, SubscriptionError::Replayed { .. }), "{err}");
        }
    }
}

fn payment_body(account_id: i64, hash: &str) -> Value {
    json!({
        "account_id": account_id,
        "wallet_address": "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh",
        "plan_key": "monthly",
        "amount": "5.00",
        "currency_code": "RLUSD",
        "tx_hash": hash,
    })
}

async fn every_spelling_of_a_used_hash_is_409_over_http(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let a = create_account(&s, "alice").await;
    let hash = tx_hash("paid");
    let (status, paid) = s
        .as_admin(
            Method::POST,
            "/v1/subscriptions/payments",
            Some(payment_body(a, &hash)),
        )
        .await;
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["tx_hash"], hash.to_uppercase());
    for spelling in spellings(&hash, 8) {
        let replay = s
            .as_admin(
                Method::POST,
                "/v1/subscriptions/payments",
                Some(payment_body(a, &spelling)),
            )
            .await;
        assert_error(&replay, 409, "tx_hash_replayed", Some("tx_hash"));
    }
    let (_, list) = s
        .as_admin(Method::GET, &format!("/v1/accounts/{a}/payments"), None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    s.stop().await;
}

async fn twenty_spellings_at_once_record_one_payment_over_http(backend: &str) {
    let s = Arc::new(Service::start(backend, test_settings()).await);
    let a = create_account(&s, "alice").await;
    let hash = tx_hash("burst");
    let mut tasks = Vec::new();
    for spelling in spellings(&hash, 20) {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let res = s
                .call(
                    Method::POST,
                    "/v1/subscriptions/payments",
                    Some(&s.admin),
                    Some(payment_body(a, &spelling)),
                )
                .await;
            status_json(res).await
        }));
    }
    let mut created = 0;
    for task in tasks {
        let got = task.await.unwrap();
        if got.0 == 201 {
            created += 1;
        } else {
            assert_error(&got, 409, "tx_hash_replayed", Some("tx_hash"));
        }
    }
    assert_eq!(created, 1);
    let (_, status) = s
        .as_admin(Method::GET, &format!("/v1/accounts/{a}/subscription"), None)
        .await;
    let (_, list) = s
        .as_admin(Method::GET, &format!("/v1/accounts/{a}/payments"), None)
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(
        status["expires_at"], items[0]["new_expiry"],
        "extended once"
    );
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

async fn malformed_hash_wrong_amount_and_currency_are_400_over_http(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let a = create_account(&s, "alice").await;
    let good = tx_hash("fine");
    for (patch, field) in [
        (json!({"tx_hash": "ok"}), "tx_hash"),
        (json!({"tx_hash": ""}), "tx_hash"),
        (json!({"tx_hash": format!("{}", &good[..63])}), "tx_hash"),
        (json!({"tx_hash": format!("0x{}", &good[..62])}), "tx_hash"),
        (json!({"amount": "0.00"}), "amount"),
        (json!({"amount": "50.00"}), "amount"),
        (json!({"amount": 4.99}), "amount"),
        (json!({"currency_code": "XRP"}), "currency_code"),
        (json!({"currency_code": "FCMGold"}), "currency_code"),
    ] {
        let mut body = payment_body(a, &good);
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        let got = s
            .as_admin(Method::POST, "/v1/subscriptions/payments", Some(body))
            .await;
        assert_error(&got, 400, "invalid", Some(field));
    }
    let (_, list) = s
        .as_admin(Method::GET, &format!("/v1/accounts/{a}/payments"), None)
        .await;
    assert_eq!(list["items"], json!([]), "nothing recorded");
    s.stop().await;
}

on_both_backends!(
    migration_canonicalises_stored_hashes,
    every_spelling_of_a_used_hash_is_409_over_http,
    twenty_spellings_at_once_record_one_payment_over_http,
    malformed_hash_wrong_amount_and_currency_are_400_over_http,
    monthly_plan_is_seeded,
    first_payment_extends_from_now_then_from_expiry,
    replayed_tx_hash_is_refused_and_extends_nothing,
    concurrent_replays_succeed_exactly_once,
    bad_payments_are_refused_with_the_field,
    trial_is_granted_once,
);

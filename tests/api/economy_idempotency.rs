//! `Idempotency-Key` on the economy writes, over real HTTP on both backends:
//! a retry returns the first answer (status and body) and applies nothing,
//! also when the retries arrive at once; a key reused for another request is
//! refused; keys belong to their token and expire after 24 hours.

use std::sync::Arc;

use crate::support::economy::{Reply, at_once, balance_of, change, get, holder, send, tx_hash};
use crate::support::http::{Service, assert_error, test_settings};
use mnemo::db::migrate::DEFAULT_VAULT_ADDRESS;
use mnemo::db::{Alias, now_micros};
use mnemo::with_pool;
use mnemo::xrpl;
use reqwest::Method;
use serde_json::{Value, json};

const PLAYER: &str = "rPlayerWallet";
const OTHER: &str = "rOtherWallet";

async fn keyed(s: &Service, path: &str, key: &str, body: Value) -> Reply {
    send(s, Method::POST, path, &s.admin, Some(key), Some(body)).await
}

async fn log_rows(s: &Service, wallet: &str) -> usize {
    let got = get(
        s,
        &format!("/v1/economy/logs/fungible?wallet_address={wallet}&limit=500"),
    )
    .await;
    got.body["items"].as_array().unwrap().len()
}

/// One write per route family, each sent twice with one key: the second
/// answer is the first, replayed.
async fn every_write_route_replays_its_first_answer(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let spawned = keyed(
        &s,
        "/v1/economy/nfts/spawn",
        "spawn-1",
        json!({"item_type_name": "Training Dagger"}),
    )
    .await;
    let token = spawned.body["nftoken_id"].as_str().unwrap().to_owned();
    let writes: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/v1/economy/credits".into(),
            change("FCMGold", PLAYER, "ACCOUNT", None, "50"),
        ),
        (
            Method::POST,
            "/v1/economy/debits".into(),
            change("FCMGold", PLAYER, "ACCOUNT", None, "1"),
        ),
        (
            Method::POST,
            "/v1/economy/transfers".into(),
            json!({"currency_code": "FCMGold", "from": holder(PLAYER, "ACCOUNT", None),
                   "to": holder(OTHER, "ACCOUNT", None), "amount": "2", "transfer_type": "trade"}),
        ),
        (
            Method::POST,
            "/v1/economy/nfts/assign".into(),
            json!({"item_type_name": "Training Dagger"}),
        ),
        (
            Method::POST,
            format!("/v1/economy/nfts/{token}/transfers"),
            json!({"from": "SPAWNED", "to": "CHARACTER", "to_wallet": PLAYER,
                   "to_character_key": "hero", "transfer_type": "pickup"}),
        ),
        (
            Method::PATCH,
            format!("/v1/economy/nfts/{token}/metadata"),
            json!({"metadata": {"polished": true}}),
        ),
        (
            Method::POST,
            "/v1/economy/chain/deposits".into(),
            json!({"currency_code": "FCMGold", "wallet_address": PLAYER, "amount": "3",
                   "vault_address": DEFAULT_VAULT_ADDRESS, "tx_hash": tx_hash("keyed deposit")}),
        ),
        (
            Method::POST,
            "/v1/economy/chain/withdrawals".into(),
            json!({"currency_code": "FCMGold", "wallet_address": PLAYER, "amount": "3",
                   "vault_address": DEFAULT_VAULT_ADDRESS, "tx_hash": tx_hash("keyed withdrawal")}),
        ),
        (
            Method::POST,
            "/v1/economy/sessions".into(),
            json!({"account_id": 1, "character_key": "hero"}),
        ),
        (
            Method::POST,
            "/v1/economy/sessions/end".into(),
            json!({"account_id": 1, "character_key": "hero"}),
        ),
        (
            Method::POST,
            "/v1/economy/sessions/end-all".into(),
            Value::Null,
        ),
        (Method::POST, "/v1/economy/snapshots".into(), Value::Null),
    ];
    for (i, (method, path, body)) in writes.into_iter().enumerate() {
        let key = format!("write-{i}");
        let body = (!body.is_null()).then_some(body);
        let first = send(
            &s,
            method.clone(),
            &path,
            &s.admin,
            Some(&key),
            body.clone(),
        )
        .await;
        assert!([200, 201].contains(&first.status), "{path}: {}", first.body);
        assert!(!first.replayed);
        let again = send(&s, method, &path, &s.admin, Some(&key), body).await;
        assert!(again.replayed, "{path}");
        assert_eq!(again.pair(), first.pair(), "{path}");
    }
    let replayed_spawn = keyed(
        &s,
        "/v1/economy/nfts/spawn",
        "spawn-1",
        json!({"item_type_name": "Training Dagger"}),
    )
    .await;
    assert_eq!(replayed_spawn.body, spawned.body);
    assert_eq!(
        balance_of(&s, "FCMGold", PLAYER, "ACCOUNT", None).await,
        "47.000000",
        "50 credited, 1 debited, 2 traded, 3 in, 3 out: each once"
    );
    s.stop().await;
}

async fn a_key_reused_for_another_request_is_409(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let body = change("FCMGold", PLAYER, "ACCOUNT", None, "10");
    let first = keyed(&s, "/v1/economy/credits", "k1", body.clone()).await;
    assert_eq!(first.status, 201);
    let mut other_amount = body.clone();
    other_amount["amount"] = json!("11");
    for (path, other) in [
        ("/v1/economy/credits", other_amount),
        ("/v1/economy/debits", body.clone()),
    ] {
        let got = keyed(&s, path, "k1", other).await;
        assert_error(
            &got.pair(),
            409,
            "idempotency_key_reused",
            Some("Idempotency-Key"),
        );
    }
    // Key order and whitespace do not make another request.
    let reordered: Value = serde_json::from_str(
        r#"{ "amount": "10", "location": "ACCOUNT",
             "wallet_address": "rPlayerWallet", "currency_code": "FCMGold" }"#,
    )
    .unwrap();
    let same = keyed(&s, "/v1/economy/credits", "k1", reordered).await;
    assert!(same.replayed);
    assert_eq!(same.pair(), first.pair());
    assert_eq!(
        balance_of(&s, "FCMGold", PLAYER, "ACCOUNT", None).await,
        "10.000000"
    );
    for bad in [
        "x".repeat(256),
        "has space".to_owned(),
        "tab\there".to_owned(),
    ] {
        let got = keyed(&s, "/v1/economy/credits", &bad, body.clone()).await;
        assert_error(&got.pair(), 400, "invalid", Some("Idempotency-Key"));
    }
    s.stop().await;
}

async fn keys_belong_to_their_token(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let game = s.token("game", "economy:read,economy:write").await;
    let body = change("FCMGold", PLAYER, "ACCOUNT", None, "4");
    for token in [&s.admin, &game, &game] {
        let got = send(
            &s,
            Method::POST,
            "/v1/economy/credits",
            token,
            Some("shared"),
            Some(body.clone()),
        )
        .await;
        assert_eq!(got.status, 201);
    }
    assert_eq!(
        balance_of(&s, "FCMGold", PLAYER, "ACCOUNT", None).await,
        "8.000000",
        "once per token"
    );
    s.stop().await;
}

/// 20 copies of one keyed request at once: one applies, all get its answer.
async fn concurrent_retries_apply_once(backend: &str) {
    let s = Arc::new(Service::start(backend, test_settings()).await);
    let credit = change("FCMGold", PLAYER, "ACCOUNT", None, "100");
    assert_eq!(
        keyed(&s, "/v1/economy/credits", "fund", credit)
            .await
            .status,
        201
    );
    let transfer = json!({"currency_code": "FCMGold", "from": holder(PLAYER, "ACCOUNT", None),
                          "to": holder(OTHER, "ACCOUNT", None), "amount": "7.5",
                          "transfer_type": "trade"});
    let answers = at_once(&s, 20, "/v1/economy/transfers", Some("retry-me"), transfer).await;
    let fresh: Vec<&Reply> = answers.iter().filter(|a| !a.replayed).collect();
    assert_eq!(fresh.len(), 1, "{answers:?}");
    assert_eq!(fresh[0].status, 201);
    assert!(answers.iter().all(|a| a.pair() == fresh[0].pair()));
    assert_eq!(
        balance_of(&s, "FCMGold", PLAYER, "ACCOUNT", None).await,
        "92.500000"
    );
    assert_eq!(
        balance_of(&s, "FCMGold", OTHER, "ACCOUNT", None).await,
        "7.500000"
    );
    assert_eq!(log_rows(&s, OTHER).await, 1);
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

/// A refusal is an answer too: retried at once, or after the balance was
/// topped up, the key still answers with the first refusal.
async fn a_refusal_is_kept_and_replayed(backend: &str) {
    let s = Arc::new(Service::start(backend, test_settings()).await);
    let debit = change("FCMGold", PLAYER, "ACCOUNT", None, "5");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let s = s.clone();
        let body = debit.clone();
        tasks.push(tokio::spawn(async move {
            keyed(&s, "/v1/economy/debits", "broke", body).await
        }));
    }
    for task in tasks {
        let got = task.await.unwrap();
        assert_error(
            &got.pair(),
            409,
            "insufficient_balance",
            Some("wallet_address"),
        );
    }
    let top_up = change("FCMGold", PLAYER, "ACCOUNT", None, "50");
    assert_eq!(
        keyed(&s, "/v1/economy/credits", "top-up", top_up)
            .await
            .status,
        201
    );
    let later = keyed(&s, "/v1/economy/debits", "broke", debit.clone()).await;
    assert!(later.replayed);
    assert_error(
        &later.pair(),
        409,
        "insufficient_balance",
        Some("wallet_address"),
    );
    assert_eq!(
        balance_of(&s, "FCMGold", PLAYER, "ACCOUNT", None).await,
        "50.000000"
    );
    let fresh_key = keyed(&s, "/v1/economy/debits", "solvent", debit).await;
    assert_eq!(fresh_key.status, 201);
    if let Ok(s) = Arc::try_unwrap(s) {
        s.stop().await;
    }
}

/// After 24 hours a key is forgotten: a retry then applies again, and the
/// hourly purge deletes it.
async fn keys_expire_after_a_day(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let body = change("FCMGold", PLAYER, "ACCOUNT", None, "1");
    assert_eq!(
        keyed(&s, "/v1/economy/credits", "old", body.clone())
            .await
            .status,
        201
    );
    let day_ago = now_micros() - chrono::Duration::hours(25);
    with_pool!(s.t.db.pool(Alias::Xrpl), |p| {
        sqlx::query("UPDATE xrpl_idempotencykey SET created_at = $1")
            .bind(day_ago)
            .execute(p)
            .await
            .unwrap();
    });
    let again = keyed(&s, "/v1/economy/credits", "old", body).await;
    assert!(!again.replayed);
    assert_eq!(
        balance_of(&s, "FCMGold", PLAYER, "ACCOUNT", None).await,
        "2.000000"
    );
    with_pool!(s.t.db.pool(Alias::Xrpl), |p| {
        sqlx::query("UPDATE xrpl_idempotencykey SET created_at = $1")
            .bind(day_ago)
            .execute(p)
            .await
            .unwrap();
    });
    assert_eq!(
        xrpl::purge_idempotency_keys(&s.t.db, now_micros())
            .await
            .unwrap(),
        1
    );
    s.stop().await;
}

on_both_backends!(
    every_write_route_replays_its_first_answer,
    a_key_reused_for_another_request_is_409,
    keys_belong_to_their_token,
    concurrent_retries_apply_once,
    a_refusal_is_kept_and_replayed,
    keys_expire_after_a_day,
);

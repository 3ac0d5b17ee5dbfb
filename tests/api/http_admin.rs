//! Admin routes over real HTTP, on both backends: every route's success path and
//! its error paths.

use crate::support::economy::tx_hash;
use crate::support::http::{Service, assert_error, create_account, status_json, test_settings};
use mnemo::http::HttpSettings;
use reqwest::Method;
use serde_json::{Value, json};

async fn accounts(backend: &str) {
    let s = Service::start(backend, test_settings()).await;

    let res = s
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&s.admin),
            Some(
                json!({"username": "alice", "email": "a@example.org", "wallet_address": "rAlice"}),
            ),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, alice) = status_json(res).await;
    let id = alice["id"].as_i64().unwrap();
    assert_eq!(location, format!("/v1/accounts/{id}"));
    assert_eq!(alice["username"], "alice");
    assert_eq!(alice["is_active"], true);

    // Validation and conflicts, each naming the field.
    let dup = s
        .as_admin(
            Method::POST,
            "/v1/accounts",
            Some(json!({"username": "alice"})),
        )
        .await;
    assert_error(&dup, 409, "duplicate", Some("username"));
    let missing = s
        .as_admin(Method::POST, "/v1/accounts", Some(json!({"email": "x@y"})))
        .await;
    assert_error(&missing, 400, "invalid", Some("username"));
    let blank = s
        .as_admin(
            Method::POST,
            "/v1/accounts",
            Some(json!({"username": "  "})),
        )
        .await;
    assert_error(&blank, 400, "invalid", Some("username"));
    let nul = s
        .as_admin(
            Method::POST,
            "/v1/accounts",
            Some(json!({"username": "\u{0}bob"})),
        )
        .await;
    assert_error(&nul, 400, "invalid", Some("username"));
    let unknown = s
        .as_admin(
            Method::POST,
            "/v1/accounts",
            Some(json!({"username": "bob", "wallet": "rBob"})),
        )
        .await;
    assert_error(&unknown, 400, "invalid", Some("wallet"));
    let long_wallet = s
        .as_admin(
            Method::POST,
            "/v1/accounts",
            Some(json!({"username": "bob", "wallet_address": "r".repeat(65)})),
        )
        .await;
    assert_error(&long_wallet, 400, "invalid", Some("wallet_address"));
    let malformed = s
        .client
        .post(s.url("/v1/accounts"))
        .bearer_auth(&s.admin)
        .header("content-type", "application/json")
        .body("{\"username\": ")
        .send()
        .await
        .unwrap();
    assert_error(&status_json(malformed).await, 400, "malformed_json", None);
    let not_json = s
        .client
        .post(s.url("/v1/accounts"))
        .bearer_auth(&s.admin)
        .header("content-type", "text/plain")
        .body("username=alice")
        .send()
        .await
        .unwrap();
    assert_error(
        &status_json(not_json).await,
        415,
        "unsupported_media_type",
        None,
    );

    // Get, 404, bad id.
    let (status, got) = s
        .as_admin(Method::GET, &format!("/v1/accounts/{id}"), None)
        .await;
    assert_eq!((status, &got), (200, &alice));
    let missing = s.as_admin(Method::GET, "/v1/accounts/999999", None).await;
    assert_error(&missing, 404, "not_found", None);
    let bad_id = s.as_admin(Method::GET, "/v1/accounts/abc", None).await;
    assert_error(&bad_id, 400, "invalid", Some("id"));

    // Pagination by after + limit.
    for i in 0..4 {
        create_account(&s, &format!("user{i}")).await;
    }
    let (status, first) = s.as_admin(Method::GET, "/v1/accounts?limit=3", None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["items"].as_array().unwrap().len(), 3);
    let after = first["next_after"].as_i64().expect("more pages");
    let (_, second) = s
        .as_admin(
            Method::GET,
            &format!("/v1/accounts?after={after}&limit=3"),
            None,
        )
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    assert_eq!(second["next_after"], Value::Null);
    let (_, all) = s.as_admin(Method::GET, "/v1/accounts", None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 5, "default page");
    assert_error(
        &s.as_admin(Method::GET, "/v1/accounts?limit=0", None).await,
        400,
        "invalid",
        Some("limit"),
    );
    assert_error(
        &s.as_admin(Method::GET, "/v1/accounts?limit=many", None)
            .await,
        400,
        "invalid",
        Some("limit"),
    );
    assert_error(
        &s.as_admin(Method::GET, "/v1/accounts?after=x", None).await,
        400,
        "invalid",
        Some("after"),
    );
    assert_error(
        &s.as_admin(Method::GET, "/v1/accounts?page=2", None).await,
        400,
        "invalid",
        Some("page"),
    );

    // Patch: absent fields kept, null clears the wallet, duplicate refused.
    let (status, patched) = s
        .as_admin(
            Method::PATCH,
            &format!("/v1/accounts/{id}"),
            Some(json!({"wallet_address": null, "is_superuser": true})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["wallet_address"], Value::Null);
    assert_eq!(patched["is_superuser"], true);
    assert_eq!(patched["email"], "a@example.org");
    assert_error(
        &s.as_admin(
            Method::PATCH,
            &format!("/v1/accounts/{id}"),
            Some(json!({"username": "user0"})),
        )
        .await,
        409,
        "duplicate",
        Some("username"),
    );
    assert_error(
        &s.as_admin(
            Method::PATCH,
            "/v1/accounts/999999",
            Some(json!({"email": "x@y"})),
        )
        .await,
        404,
        "not_found",
        None,
    );
    assert_error(
        &s.as_admin(
            Method::PATCH,
            &format!("/v1/accounts/{id}"),
            Some(json!({"is_active": "yes"})),
        )
        .await,
        400,
        "invalid",
        None,
    );
    assert_error(
        &s.as_admin(
            Method::PATCH,
            &format!("/v1/accounts/{id}"),
            Some(json!({"username": null})),
        )
        .await,
        400,
        "invalid",
        None,
    );

    // Delete, then it is gone.
    let (status, body) = s
        .as_admin(Method::DELETE, &format!("/v1/accounts/{id}"), None)
        .await;
    assert_eq!((status, body), (204, Value::Null));
    assert_error(
        &s.as_admin(Method::DELETE, &format!("/v1/accounts/{id}"), None)
            .await,
        404,
        "not_found",
        None,
    );
    s.stop().await;
}

async fn characters(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let a = create_account(&s, "alice").await;
    let b = create_account(&s, "bob").await;

    let res = s
        .call(
            Method::POST,
            &format!("/v1/accounts/{a}/characters"),
            Some(&s.admin),
            Some(json!({"key": "Aldric"})),
        )
        .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let (_, aldric) = status_json(res).await;
    let cid = aldric["id"].as_i64().unwrap();
    assert_eq!(location, format!("/v1/characters/{cid}"));
    assert_eq!(aldric["account_id"], a);
    let (status, _) = s
        .as_admin(
            Method::POST,
            &format!("/v1/accounts/{b}/characters"),
            Some(json!({"key": "Brenna"})),
        )
        .await;
    assert_eq!(status, 201);

    assert_error(
        &s.as_admin(
            Method::POST,
            &format!("/v1/accounts/{b}/characters"),
            Some(json!({"key": "Aldric"})),
        )
        .await,
        409,
        "duplicate",
        Some("key"),
    );
    assert_error(
        &s.as_admin(
            Method::POST,
            &format!("/v1/accounts/{a}/characters"),
            Some(json!({"key": ""})),
        )
        .await,
        400,
        "invalid",
        Some("key"),
    );
    assert_error(
        &s.as_admin(
            Method::POST,
            &format!("/v1/accounts/{a}/characters"),
            Some(json!({})),
        )
        .await,
        400,
        "invalid",
        Some("key"),
    );
    assert_error(
        &s.as_admin(
            Method::POST,
            "/v1/accounts/999999/characters",
            Some(json!({"key": "Ghost"})),
        )
        .await,
        404,
        "not_found",
        None,
    );

    let (status, all) = s.as_admin(Method::GET, "/v1/characters", None).await;
    assert_eq!(status, 200);
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
    let (_, of_a) = s
        .as_admin(Method::GET, &format!("/v1/characters?account_id={a}"), None)
        .await;
    assert_eq!(of_a["items"].as_array().unwrap().len(), 1);
    assert_eq!(of_a["items"][0]["key"], "Aldric");
    let (_, page) = s
        .as_admin(Method::GET, "/v1/characters?limit=1", None)
        .await;
    assert_eq!(page["next_after"], cid);
    assert_error(
        &s.as_admin(Method::GET, "/v1/characters?account_id=alice", None)
            .await,
        400,
        "invalid",
        Some("account_id"),
    );

    let (status, got) = s
        .as_admin(Method::GET, &format!("/v1/characters/{cid}"), None)
        .await;
    assert_eq!((status, &got), (200, &aldric));
    assert_error(
        &s.as_admin(Method::GET, "/v1/characters/999999", None).await,
        404,
        "not_found",
        None,
    );

    let (status, renamed) = s
        .as_admin(
            Method::PATCH,
            &format!("/v1/characters/{cid}"),
            Some(json!({"key": "Aldric the Bold"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(renamed["key"], "Aldric the Bold");
    assert_error(
        &s.as_admin(
            Method::PATCH,
            &format!("/v1/characters/{cid}"),
            Some(json!({"key": "Brenna"})),
        )
        .await,
        409,
        "duplicate",
        Some("key"),
    );
    assert_error(
        &s.as_admin(
            Method::PATCH,
            "/v1/characters/999999",
            Some(json!({"key": "Nobody"})),
        )
        .await,
        404,
        "not_found",
        None,
    );

    let (status, _) = s
        .as_admin(Method::DELETE, &format!("/v1/characters/{cid}"), None)
        .await;
    assert_eq!(status, 204);
    assert_error(
        &s.as_admin(Method::DELETE, &format!("/v1/characters/{cid}"), None)
            .await,
        404,
        "not_found",
        None,
    );
    s.stop().await;
}

fn payment(account_id: i64, tx: &str) -> Value {
    json!({
        "account_id": account_id,
        "wallet_address": "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh",
        "plan_key": "monthly",
        "amount": "5.00",
        "currency_code": "RLUSD",
        "tx_hash": tx_hash(tx),
    })
}

async fn subscriptions(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let a = create_account(&s, "alice").await;
    let b = create_account(&s, "bob").await;

    let (status, plans) = s
        .as_admin(Method::GET, "/v1/subscriptions/plans", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        plans["items"],
        json!([{"key": "monthly", "display_name": "Monthly", "duration_days": 30,
                "price": "5.00", "currency_code": "RLUSD", "is_active": true, "sort_order": 0}])
    );

    let (status, body) = s
        .as_admin(Method::GET, &format!("/v1/accounts/{a}/subscription"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["subscribed"], false);
    assert_eq!(body["account_id"], a);

    let (status, paid) = s
        .as_admin(
            Method::POST,
            "/v1/subscriptions/payments",
            Some(payment(a, "tx-1")),
        )
        .await;
    assert_eq!(status, 201, "{paid}");
    assert_eq!(paid["account_name"], "alice");
    assert_eq!(paid["amount"], "5.00");
    assert_eq!(paid["old_expiry"], Value::Null);

    // The same transaction again: refused, whoever sends it.
    let replay = s
        .as_admin(
            Method::POST,
            "/v1/subscriptions/payments",
            Some(payment(b, "tx-1")),
        )
        .await;
    assert_error(&replay, 409, "tx_hash_replayed", Some("tx_hash"));

    // A numeric amount is accepted too.
    let mut numeric = payment(a, "tx-2");
    numeric["amount"] = json!(5);
    let (status, second) = s
        .as_admin(Method::POST, "/v1/subscriptions/payments", Some(numeric))
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["old_expiry"], paid["new_expiry"]);

    let mut bad = payment(a, "tx-3");
    bad["plan_key"] = json!("lifetime");
    assert_error(
        &s.as_admin(Method::POST, "/v1/subscriptions/payments", Some(bad))
            .await,
        400,
        "unknown_plan",
        Some("plan_key"),
    );
    let mut bad = payment(a, "tx-3");
    bad["amount"] = json!("5.001");
    assert_error(
        &s.as_admin(Method::POST, "/v1/subscriptions/payments", Some(bad))
            .await,
        400,
        "invalid",
        Some("amount"),
    );
    let mut bad = payment(a, "tx-3");
    bad["tx_hash"] = json!("x".repeat(65));
    assert_error(
        &s.as_admin(Method::POST, "/v1/subscriptions/payments", Some(bad))
            .await,
        400,
        "invalid",
        Some("tx_hash"),
    );
    let mut bad = payment(a, "tx-3");
    bad.as_object_mut().unwrap().remove("currency_code");
    assert_error(
        &s.as_admin(Method::POST, "/v1/subscriptions/payments", Some(bad))
            .await,
        400,
        "invalid",
        Some("currency_code"),
    );
    assert_error(
        &s.as_admin(
            Method::POST,
            "/v1/subscriptions/payments",
            Some(payment(999_999, "tx-4")),
        )
        .await,
        404,
        "not_found",
        None,
    );

    let (status, status_body) = s
        .as_admin(Method::GET, &format!("/v1/accounts/{a}/subscription"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(status_body["subscribed"], true);
    assert_eq!(status_body["expires_at"], second["new_expiry"]);
    assert_eq!(status_body["trial_used"], false);

    let (status, list) = s
        .as_admin(Method::GET, &format!("/v1/accounts/{a}/payments"), None)
        .await;
    assert_eq!(status, 200);
    let txs: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["tx_hash"].as_str().unwrap())
        .collect();
    assert_eq!(
        txs,
        [tx_hash("tx-2"), tx_hash("tx-1")].map(|h| h.to_uppercase()),
        "newest first"
    );
    let (_, none) = s
        .as_admin(Method::GET, &format!("/v1/accounts/{b}/payments"), None)
        .await;
    assert_eq!(none["items"], json!([]));

    let (status, trial) = s
        .as_admin(
            Method::POST,
            &format!("/v1/accounts/{b}/subscription/trial"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{trial}");
    assert_eq!(trial["subscribed"], true);
    assert_eq!(trial["trial_used"], true);
    assert_eq!(trial["hours_remaining"], 48);
    assert_error(
        &s.as_admin(
            Method::POST,
            &format!("/v1/accounts/{b}/subscription/trial"),
            None,
        )
        .await,
        409,
        "trial_already_used",
        None,
    );

    for path in [
        "/v1/accounts/999999/subscription",
        "/v1/accounts/999999/payments",
    ] {
        assert_error(
            &s.as_admin(Method::GET, path, None).await,
            404,
            "not_found",
            None,
        );
    }
    assert_error(
        &s.as_admin(Method::POST, "/v1/accounts/999999/subscription/trial", None)
            .await,
        404,
        "not_found",
        None,
    );
    s.stop().await;
}

async fn limits_and_unknown_routes(backend: &str) {
    let settings = HttpSettings {
        json_limit: 1024,
        ..test_settings()
    };
    let s = Service::start(backend, settings).await;
    let big = json!({"username": "x".repeat(4096)});
    let res = s.as_admin(Method::POST, "/v1/accounts", Some(big)).await;
    assert_error(&res, 413, "payload_too_large", None);
    // Just under the limit is fine (and then a validation matter).
    let (status, _) = s
        .as_admin(
            Method::POST,
            "/v1/accounts",
            Some(json!({"username": "y".repeat(900)})),
        )
        .await;
    assert_eq!(status, 400, "too long a username, not too large a body");

    assert_error(
        &s.as_admin(Method::GET, "/v1/nothing-here", None).await,
        404,
        "route_not_found",
        None,
    );
    let res = s
        .call(Method::PUT, "/v1/accounts/1", Some(&s.admin), None)
        .await;
    let allow = res.headers()["allow"].to_str().unwrap().to_owned();
    assert_error(&status_json(res).await, 405, "method_not_allowed", None);
    assert_eq!(allow, "GET, PATCH, DELETE");
    s.stop().await;
}

on_both_backends!(
    accounts,
    characters,
    subscriptions,
    limits_and_unknown_routes
);

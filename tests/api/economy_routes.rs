//! The economy routes over real HTTP, on both backends: NFTs, chain moves
//! (replays in every spelling), the transfer logs with cursors and time
//! ranges, snapshots and play sessions.

use crate::support::economy::{Reply, change, get, post, send, spellings, tx_hash};
use crate::support::http::{Service, assert_error, test_settings};
use mnemo::db::migrate::DEFAULT_VAULT_ADDRESS;
use reqwest::Method;
use serde_json::{Value, json};

const VAULT: &str = DEFAULT_VAULT_ADDRESS;
const PLAYER: &str = "rPlayerWallet";

async fn spawn_dagger(s: &Service) -> Value {
    let spawned = post(
        s,
        "/v1/economy/nfts/spawn",
        json!({"item_type_name": "Training Dagger", "metadata": {"durability": 10}}),
    )
    .await;
    assert_eq!(spawned.status, 201, "{}", spawned.body);
    spawned.body
}

async fn nft_move(s: &Service, id: &str, body: Value) -> Reply {
    post(s, &format!("/v1/economy/nfts/{id}/transfers"), body).await
}

async fn nfts_spawn_move_merge_and_list(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let dagger = spawn_dagger(&s).await;
    let id = dagger["nftoken_id"].as_str().unwrap().to_owned();
    assert_eq!(dagger["location"], "SPAWNED");
    assert_eq!(dagger["owner_in_game"], VAULT);
    assert_eq!(dagger["metadata"]["durability"], 10);
    let type_id = dagger["item_type_id"].as_i64().unwrap();
    let assigned = post(
        &s,
        "/v1/economy/nfts/assign",
        json!({"item_type_id": type_id}),
    )
    .await;
    assert_eq!(assigned.status, 201, "{}", assigned.body);
    assert_eq!(assigned.body["location"], "RESERVE");

    let picked = nft_move(
        &s,
        &id,
        json!({"from": "SPAWNED", "to": "CHARACTER", "to_wallet": PLAYER,
               "to_character_key": "hero", "transfer_type": "pickup"}),
    )
    .await;
    assert_eq!(picked.status, 201, "{}", picked.body);
    assert_eq!(picked.body["nft"]["character_key"], "hero");
    assert!(picked.body["transfer_log_id"].is_i64());

    let merged = send(
        &s,
        Method::PATCH,
        &format!("/v1/economy/nfts/{id}/metadata"),
        &s.admin,
        None,
        Some(json!({"metadata": {"durability": null, "owner_note": "mine"}})),
    )
    .await;
    assert_eq!(merged.status, 200, "{}", merged.body);
    assert_eq!(merged.body["metadata"], json!({"owner_note": "mine"}));

    let got = get(&s, &format!("/v1/economy/nfts/{id}")).await;
    assert_eq!(got.body, merged.body);
    let mine = get(
        &s,
        &format!("/v1/economy/nfts?owner={PLAYER}&location=CHARACTER"),
    )
    .await;
    assert_eq!(mine.body["items"], json!([merged.body]));
    let typed = get(&s, &format!("/v1/economy/nfts?item_type_id={type_id}")).await;
    assert_eq!(typed.body["items"].as_array().unwrap().len(), 2);
    let page = get(&s, "/v1/economy/nfts?location=RESERVE&limit=50").await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 50);
    assert!(page.body["next_after"].is_i64());
    let log = get(&s, &format!("/v1/economy/logs/nft?nftoken_id={id}")).await;
    let rows = log.body["items"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            &rows[0]["from_wallet"],
            &rows[0]["to_wallet"],
            &rows[0]["transfer_type"]
        ),
        (&json!(VAULT), &json!(PLAYER), &json!("pickup"))
    );
    s.stop().await;
}

async fn nft_refusals_name_the_field(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let dagger = spawn_dagger(&s).await;
    let id = dagger["nftoken_id"].as_str().unwrap();
    assert_error(
        &get(&s, "/v1/economy/nfts/no-such-token").await.pair(),
        404,
        "not_found",
        Some("nftoken_id"),
    );
    assert_error(
        &post(
            &s,
            "/v1/economy/nfts/spawn",
            json!({"item_type_name": "Excalibur"}),
        )
        .await
        .pair(),
        404,
        "not_found",
        Some("item_type_name"),
    );
    assert_error(
        &post(
            &s,
            "/v1/economy/nfts/spawn",
            json!({"item_type_id": 999999}),
        )
        .await
        .pair(),
        404,
        "not_found",
        Some("item_type_id"),
    );
    for body in [
        json!({}),
        json!({"item_type_id": 1, "item_type_name": "Training Dagger"}),
    ] {
        assert_error(
            &post(&s, "/v1/economy/nfts/assign", body).await.pair(),
            400,
            "invalid",
            Some("item_type_id"),
        );
    }
    let wrong_state = nft_move(
        &s,
        id,
        json!({"from": "ACCOUNT", "to": "CHARACTER", "to_wallet": PLAYER,
               "to_character_key": "hero", "transfer_type": "unbank"}),
    )
    .await;
    assert_error(&wrong_state.pair(), 409, "nft_state_conflict", Some("from"));
    let wrong_holder = nft_move(
        &s,
        id,
        json!({"from": "SPAWNED", "from_wallet": PLAYER, "to": "CHARACTER",
               "to_wallet": PLAYER, "to_character_key": "hero", "transfer_type": "pickup"}),
    )
    .await;
    assert_error(
        &wrong_holder.pair(),
        409,
        "nft_state_conflict",
        Some("from_wallet"),
    );
    let no_such_move = nft_move(
        &s,
        id,
        json!({"from": "SPAWNED", "to": "AUCTION", "transfer_type": "list"}),
    )
    .await;
    assert_error(&no_such_move.pair(), 400, "invalid", Some("to"));
    let bad_location = nft_move(
        &s,
        id,
        json!({"from": "GROUND", "to": "CHARACTER", "transfer_type": "x"}),
    )
    .await;
    assert_error(&bad_location.pair(), 400, "invalid", Some("from"));
    let unknown = nft_move(
        &s,
        "no-such-token",
        json!({"from": "SPAWNED", "to": "RESERVE", "to_wallet": VAULT, "transfer_type": "despawn"}),
    )
    .await;
    assert_error(&unknown.pair(), 404, "not_found", Some("nftoken_id"));
    assert_eq!(
        get(&s, &format!("/v1/economy/nfts/{id}")).await.body["location"],
        "SPAWNED",
        "nothing moved"
    );
    s.stop().await;
}

fn deposit_body(amount: &str, hash: &str) -> Value {
    json!({
        "currency_code": "FCMGold",
        "wallet_address": PLAYER,
        "amount": amount,
        "vault_address": VAULT,
        "tx_hash": hash,
    })
}

async fn chain_moves_refuse_replays_in_every_spelling(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let hash = tx_hash("deposit");
    let deposited = post(&s, "/v1/economy/chain/deposits", deposit_body("25", &hash)).await;
    assert_eq!(deposited.status, 201, "{}", deposited.body);
    assert_eq!(deposited.body["account_balance"], "25.000000");
    assert_eq!(
        deposited.body["transaction"]["tx_hash"],
        hash.to_uppercase()
    );
    for spelling in spellings(&hash, 8) {
        for path in [
            "/v1/economy/chain/deposits",
            "/v1/economy/chain/withdrawals",
        ] {
            let replay = post(&s, path, deposit_body("1", &spelling)).await;
            assert_error(&replay.pair(), 409, "tx_hash_replayed", Some("tx_hash"));
        }
        let found = get(
            &s,
            &format!("/v1/economy/chain/transactions/{}", spelling.trim()),
        )
        .await;
        assert_eq!(found.status, 200);
        assert_eq!(found.body, deposited.body["transaction"]);
    }
    let withdrawn = post(
        &s,
        "/v1/economy/chain/withdrawals",
        deposit_body("5", &tx_hash("withdrawal")),
    )
    .await;
    assert_eq!(withdrawn.status, 201, "{}", withdrawn.body);
    assert_eq!(withdrawn.body["account_balance"], "20.000000");
    assert_eq!(withdrawn.body["transaction"]["tx_type"], "export");
    let overdraft = post(
        &s,
        "/v1/economy/chain/withdrawals",
        deposit_body("21", &tx_hash("too much")),
    )
    .await;
    assert_error(
        &overdraft.pair(),
        409,
        "insufficient_balance",
        Some("wallet_address"),
    );
    for bad in ["ok", "", &hash[..63], &format!("{}g", &hash[..63])] {
        let got = post(&s, "/v1/economy/chain/deposits", deposit_body("1", bad)).await;
        assert_error(&got.pair(), 400, "invalid", Some("tx_hash"));
    }
    assert_error(
        &get(&s, "/v1/economy/chain/transactions/ok").await.pair(),
        400,
        "invalid",
        Some("tx_hash"),
    );
    assert_error(
        &get(
            &s,
            &format!("/v1/economy/chain/transactions/{}", tx_hash("unseen")),
        )
        .await
        .pair(),
        404,
        "not_found",
        Some("tx_hash"),
    );
    s.stop().await;
}

async fn nft_chain_moves_withdraw_and_deposit(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let dagger = spawn_dagger(&s).await;
    let id = dagger["nftoken_id"].as_str().unwrap();
    for (from, to, extra) in [
        (
            "SPAWNED",
            "CHARACTER",
            json!({"to_wallet": PLAYER, "to_character_key": "hero"}),
        ),
        ("CHARACTER", "ACCOUNT", json!({"to_wallet": PLAYER})),
    ] {
        let mut body = json!({"from": from, "to": to, "transfer_type": "move"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        assert_eq!(nft_move(&s, id, body).await.status, 201);
    }
    let out_hash = tx_hash("nft out");
    let withdrawn = post(
        &s,
        "/v1/economy/chain/nft-withdrawals",
        json!({"nftoken_id": id, "tx_hash": out_hash}),
    )
    .await;
    assert_eq!(withdrawn.status, 201, "{}", withdrawn.body);
    assert_eq!(withdrawn.body["nft"]["location"], "ONCHAIN");
    assert_eq!(withdrawn.body["transaction"]["tx_type"], "nft_export");
    let back = json!({"nftoken_id": id, "wallet_address": PLAYER, "vault_address": VAULT,
                      "tx_hash": out_hash.to_uppercase()});
    let replay = post(&s, "/v1/economy/chain/nft-deposits", back.clone()).await;
    assert_error(&replay.pair(), 409, "tx_hash_replayed", Some("tx_hash"));
    let mut fresh = back;
    fresh["tx_hash"] = json!(tx_hash("nft in"));
    let deposited = post(&s, "/v1/economy/chain/nft-deposits", fresh).await;
    assert_eq!(deposited.status, 201, "{}", deposited.body);
    assert_eq!(deposited.body["nft"]["location"], "ACCOUNT");
    assert_eq!(deposited.body["nft"]["owner_in_game"], PLAYER);
    s.stop().await;
}

async fn logs_page_by_cursor_and_time_range(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    for i in 1..=5 {
        let got = post(
            &s,
            "/v1/economy/credits",
            change("FCMGold", PLAYER, "ACCOUNT", None, &i.to_string()),
        )
        .await;
        assert_eq!(got.status, 201);
    }
    let mut amounts = Vec::new();
    let mut path = format!("/v1/economy/logs/fungible?wallet_address={PLAYER}&limit=2");
    loop {
        let page = get(&s, &path).await;
        let items = page.body["items"].as_array().unwrap();
        amounts.extend(
            items
                .iter()
                .map(|r| r["amount"].as_str().unwrap().to_owned()),
        );
        let Some(next) = page.body["next_after"].as_i64() else {
            break;
        };
        path = format!("/v1/economy/logs/fungible?wallet_address={PLAYER}&limit=2&after={next}");
    }
    let expected: Vec<String> = (1..=5).map(|i| format!("{i}.000000")).collect();
    assert_eq!(amounts, expected);

    let all = get(
        &s,
        &format!("/v1/economy/logs/fungible?wallet_address={PLAYER}"),
    )
    .await;
    let items = all.body["items"].as_array().unwrap().clone();
    let third = items[2]["timestamp"].as_str().unwrap();
    let fourth = items[3]["timestamp"].as_str().unwrap();
    let since = get(
        &s,
        &format!(
            "/v1/economy/logs/fungible?wallet_address={PLAYER}&since={}",
            urlencode(third)
        ),
    )
    .await;
    assert_eq!(
        since.body["items"].as_array().unwrap().len(),
        3,
        "since is inclusive"
    );
    let until = get(
        &s,
        &format!(
            "/v1/economy/logs/fungible?wallet_address={PLAYER}&until={}",
            urlencode(fourth)
        ),
    )
    .await;
    assert_eq!(
        until.body["items"].as_array().unwrap().len(),
        3,
        "until is exclusive"
    );
    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-13-01T00:00:00Z", "until"),
        (
            "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z",
            "until",
        ),
    ] {
        let got = get(&s, &format!("/v1/economy/logs/fungible?{query}")).await;
        assert_error(&got.pair(), 400, "invalid", Some(field));
    }
    s.stop().await;
}

fn urlencode(time: &str) -> String {
    time.replace('+', "%2B").replace(':', "%3A")
}

async fn snapshots_are_taken_once_per_hour_and_listed(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let first = post(&s, "/v1/economy/snapshots", json!(null)).await;
    assert_eq!(first.status, 201, "{}", first.body);
    assert_eq!(first.body["created"], true);
    assert_eq!(first.body["resource_snapshots"], 136);
    let second = post(&s, "/v1/economy/snapshots", json!(null)).await;
    // Unless the hour turned between the two calls, the first is returned.
    if second.body["economy"]["hour"] == first.body["economy"]["hour"] {
        assert_eq!(second.status, 200);
        assert_eq!(second.body["created"], false);
        assert_eq!(second.body["economy"], first.body["economy"]);
    }
    let listed = get(&s, "/v1/economy/snapshots").await;
    assert_eq!(listed.body["items"][0], first.body["economy"]);
    let hour = first.body["economy"]["hour"].as_str().unwrap();
    let none_before = get(
        &s,
        &format!("/v1/economy/snapshots?until={}", urlencode(hour)),
    )
    .await;
    assert_eq!(none_before.body["items"], json!([]));
    let gold = get(&s, "/v1/economy/snapshots/resources?currency_code=FCMGold").await;
    let rows = gold.body["items"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert_eq!(rows[0]["in_reserve"], "500000.000000");
    assert_eq!(rows[0]["amm_buy_price"], Value::Null);
    s.stop().await;
}

async fn sessions_start_end_and_list(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let ann = json!({"account_id": 7, "character_key": "Ann"});
    let started = post(&s, "/v1/economy/sessions", ann.clone()).await;
    assert_eq!(started.status, 201, "{}", started.body);
    assert_eq!(started.body["ended_at"], Value::Null);
    post(
        &s,
        "/v1/economy/sessions",
        json!({"account_id": 8, "character_key": "Bo"}),
    )
    .await;
    let open = get(&s, "/v1/economy/sessions?open=true").await;
    assert_eq!(open.body["items"].as_array().unwrap().len(), 2);

    let ended = post(&s, "/v1/economy/sessions/end", ann.clone()).await;
    assert_eq!(ended.status, 200, "{}", ended.body);
    assert_eq!(ended.body["id"], started.body["id"]);
    assert!(ended.body["ended_at"].is_string());
    let again = post(&s, "/v1/economy/sessions/end", ann).await;
    assert_error(&again.pair(), 404, "not_found", Some("character_key"));

    let all = post(&s, "/v1/economy/sessions/end-all", json!(null)).await;
    assert_eq!((all.status, &all.body), (200, &json!({"ended": 1})));
    let open = get(&s, "/v1/economy/sessions?open=true").await;
    assert_eq!(open.body["items"], json!([]));
    let of_seven = get(&s, "/v1/economy/sessions?account_id=7").await;
    assert_eq!(of_seven.body["items"].as_array().unwrap().len(), 1);
    for (body, field) in [
        (json!({"account_id": 0, "character_key": "x"}), "account_id"),
        (
            json!({"account_id": 3_000_000_000_i64, "character_key": "x"}),
            "account_id",
        ),
        (
            json!({"account_id": 1, "character_key": ""}),
            "character_key",
        ),
        (
            json!({"account_id": 1, "character_key": "k".repeat(81)}),
            "character_key",
        ),
    ] {
        let got = post(&s, "/v1/economy/sessions", body).await;
        assert_error(&got.pair(), 400, "invalid", Some(field));
    }
    assert_error(
        &get(&s, "/v1/economy/sessions?open=maybe").await.pair(),
        400,
        "invalid",
        Some("open"),
    );
    s.stop().await;
}

/// The walk-through in `examples/economy.py` runs against the service.
async fn example_walkthrough_runs(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let token = s.token("game", "economy:read,economy:write").await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/economy.py");
    let base = s.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(script)
            .env("MNEMO_URL", base)
            .env("MNEMO_TOKEN", token)
            .output()
            .expect("run python3 (scripts/test needs it too)")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("credited Aldric: balance 100.000000"),
        "{stdout}"
    );
    assert!(
        stdout.contains("transferred 30: Aldric 70.000000, Brenna 30.000000"),
        "{stdout}"
    );
    assert!(stdout.contains(": bank 5.000000"), "{stdout}");
    assert!(
        stdout.contains("replay refused: POST /v1/economy/chain/withdrawals: 409 tx_hash_replayed"),
        "{stdout}"
    );
    let log_lines = stdout.lines().filter(|l| l.starts_with("log: ")).count();
    assert_eq!(
        log_lines, 2,
        "the trade in and the withdrawal out: {stdout}"
    );
    s.stop().await;
}

on_both_backends!(
    example_walkthrough_runs,
    nfts_spawn_move_merge_and_list,
    nft_refusals_name_the_field,
    chain_moves_refuse_replays_in_every_spelling,
    nft_chain_moves_withdraw_and_deposit,
    logs_page_by_cursor_and_time_range,
    snapshots_are_taken_once_per_hour_and_listed,
    sessions_start_end_and_list,
);

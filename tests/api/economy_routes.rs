//! The economy routes over real HTTP, on both backends: fungible chain moves
//! (replays in every spelling), the transfer logs with cursors and time
//! ranges, snapshots, play sessions, and the walk-through example. NFTs are
//! in `economy_nfts`.

use crate::support::economy::{change, get, post, spellings, tx_hash};
use crate::support::http::{Service, assert_error, test_settings};
use mnemo::db::migrate::DEFAULT_VAULT_ADDRESS;
use serde_json::{Value, json};

const VAULT: &str = DEFAULT_VAULT_ADDRESS;
const PLAYER: &str = "rPlayerWallet";

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
    chain_moves_refuse_replays_in_every_spelling,
    logs_page_by_cursor_and_time_range,
    snapshots_are_taken_once_per_hour_and_listed,
    sessions_start_end_and_list,
);

//! NFTs over real HTTP, on both backends: spawning and assigning blank
//! tokens, moves between locations, metadata merges, listings, the errors
//! naming fields, and NFT chain moves.

use crate::support::economy::{Reply, get, post, send, tx_hash};
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

on_both_backends!(
    nfts_spawn_move_merge_and_list,
    nft_refusals_name_the_field,
    nft_chain_moves_withdraw_and_deposit,
);

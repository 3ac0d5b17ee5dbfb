//! The economy routes over real HTTP, on both backends: the catalogue,
//! balances, credits, debits and transfers, and the errors naming fields.
//! NFTs, chain moves, logs and telemetry are in `economy_routes`; scopes,
//! idempotency and conservation in their own modules.

use crate::support::economy::{balance_of, change, get, holder, post};
use crate::support::http::{Service, assert_error, test_settings};
use serde_json::{Value, json};

const PLAYER: &str = "rPlayerWallet";
const OTHER: &str = "rOtherWallet";

async fn currencies_page_and_look_up_by_code(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let mut codes = Vec::new();
    let mut after = 0;
    loop {
        let page = get(
            &s,
            &format!("/v1/economy/currencies?limit=50&after={after}"),
        )
        .await;
        assert_eq!(page.status, 200, "{}", page.body);
        let items = page.body["items"].as_array().unwrap();
        codes.extend(
            items
                .iter()
                .map(|c| c["currency_code"].as_str().unwrap().to_owned()),
        );
        match page.body["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(codes.len(), 136);
    assert_eq!(codes[0], "FCMGold");

    let gold = get(&s, "/v1/economy/currencies/FCMGold").await;
    assert_eq!(gold.status, 200);
    assert_eq!(gold.body["is_gold"], true);
    assert_eq!(gold.body["weight_per_unit_kg"], "0.010");
    let missing = get(&s, "/v1/economy/currencies/FCMNothing").await;
    assert_error(&missing.pair(), 404, "not_found", Some("currency_code"));
    for bad in ["limit=0", "limit=501", "limit=x", "after=y", "colour=red"] {
        let got = get(&s, &format!("/v1/economy/currencies?{bad}")).await;
        assert_eq!(got.status, 400, "{bad}: {}", got.body);
    }
    s.stop().await;
}

async fn item_types_filter_by_typeclass_and_name_prefix(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let scrolls = get(
        &s,
        "/v1/economy/item-types?name_prefix=Scroll%20of&limit=500",
    )
    .await;
    assert_eq!(scrolls.status, 200);
    let items = scrolls.body["items"].as_array().unwrap();
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|i| i["name"].as_str().unwrap().starts_with("Scroll of"))
    );
    let dagger_class = "typeclasses.items.weapons.dagger_nft_item.DaggerNFTItem";
    let daggers = get(
        &s,
        &format!("/v1/economy/item-types?typeclass={dagger_class}&limit=500"),
    )
    .await;
    let daggers = daggers.body["items"].as_array().unwrap().clone();
    assert!(daggers.iter().any(|i| i["name"] == "Training Dagger"));
    assert!(daggers.iter().all(|i| i["typeclass"] == dagger_class));
    let both = get(
        &s,
        &format!("/v1/economy/item-types?typeclass={dagger_class}&name_prefix=Training"),
    )
    .await;
    assert_eq!(both.body["items"].as_array().unwrap().len(), 1);

    let id = daggers[0]["id"].as_i64().unwrap();
    let one = get(&s, &format!("/v1/economy/item-types/{id}")).await;
    assert_eq!((one.status, &one.body), (200, &daggers[0]));
    assert_error(
        &get(&s, "/v1/economy/item-types/999999").await.pair(),
        404,
        "not_found",
        Some("id"),
    );
    assert_error(
        &get(&s, "/v1/economy/item-types/abc").await.pair(),
        400,
        "invalid",
        Some("id"),
    );
    s.stop().await;
}

async fn credit_debit_and_transfer_move_balances_and_log(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let credited = post(
        &s,
        "/v1/economy/credits",
        change("FCMGold", PLAYER, "CHARACTER", Some("hero"), "100"),
    )
    .await;
    assert_eq!(credited.status, 201, "{}", credited.body);
    assert_eq!(credited.body["balance"], "100.000000");
    assert_eq!(credited.body["amount"], "100.000000");
    assert_eq!(credited.body["character_key"], "hero");

    let mut fee = change("FCMGold", PLAYER, "CHARACTER", Some("hero"), "0.25");
    fee["transfer_type"] = json!("fee");
    let debited = post(&s, "/v1/economy/debits", fee).await;
    assert_eq!(debited.status, 201, "{}", debited.body);
    assert_eq!(debited.body["balance"], "99.750000");

    let moved = post(
        &s,
        "/v1/economy/transfers",
        json!({
            "currency_code": "FCMGold",
            "from": holder(PLAYER, "CHARACTER", Some("hero")),
            "to": holder(OTHER, "ACCOUNT", None),
            "amount": "9.75",
            "transfer_type": "trade",
        }),
    )
    .await;
    assert_eq!(moved.status, 201, "{}", moved.body);
    assert_eq!(
        (&moved.body["from_balance"], &moved.body["to_balance"]),
        (&json!("90.000000"), &json!("9.750000"))
    );
    assert!(moved.body["transfer_log_id"].is_i64());

    // Bank: same wallet, other location; not logged, as in the original.
    let banked = post(
        &s,
        "/v1/economy/transfers",
        json!({
            "currency_code": "FCMGold",
            "from": holder(PLAYER, "CHARACTER", Some("hero")),
            "to": holder(PLAYER, "ACCOUNT", None),
            "amount": "90",
            "transfer_type": "bank",
        }),
    )
    .await;
    assert_eq!(banked.status, 201, "{}", banked.body);
    assert_eq!(banked.body["transfer_log_id"], Value::Null);

    assert_eq!(
        balance_of(&s, "FCMGold", PLAYER, "CHARACTER", Some("hero")).await,
        "0.000000"
    );
    assert_eq!(
        balance_of(&s, "FCMGold", PLAYER, "ACCOUNT", None).await,
        "90.000000"
    );
    let by_location = get(&s, "/v1/economy/balances?location=ACCOUNT").await;
    assert_eq!(by_location.body["items"].as_array().unwrap().len(), 2);
    let by_character = get(&s, "/v1/economy/balances?character_key=hero").await;
    assert_eq!(
        by_character.body["items"],
        json!([]),
        "emptied rows are deleted"
    );

    let log = get(
        &s,
        &format!("/v1/economy/logs/fungible?wallet_address={PLAYER}"),
    )
    .await;
    let rows: Vec<(String, String, String, String)> = log.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let f = |k: &str| r[k].as_str().unwrap().to_owned();
            (
                f("from_wallet"),
                f("to_wallet"),
                f("amount"),
                f("transfer_type"),
            )
        })
        .collect();
    let row = |a: &str, b: &str, c: &str, d: &str| (a.into(), b.into(), c.into(), d.into());
    assert_eq!(
        rows,
        vec![
            row("MINT", PLAYER, "100.000000", "credit"),
            row(PLAYER, "BURN", "0.250000", "fee"),
            row(PLAYER, OTHER, "9.750000", "trade"),
        ]
    );
    s.stop().await;
}

async fn overdraft_is_409_naming_the_holder_and_changes_nothing(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    post(
        &s,
        "/v1/economy/credits",
        change("FCMWheat", PLAYER, "ACCOUNT", None, "5"),
    )
    .await;
    let debit = post(
        &s,
        "/v1/economy/debits",
        change("FCMWheat", PLAYER, "ACCOUNT", None, "5.000001"),
    )
    .await;
    assert_error(
        &debit.pair(),
        409,
        "insufficient_balance",
        Some("wallet_address"),
    );
    let message = debit.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(PLAYER) && message.contains("ACCOUNT"),
        "{message}"
    );
    let transfer = post(
        &s,
        "/v1/economy/transfers",
        json!({
            "currency_code": "FCMWheat",
            "from": holder(PLAYER, "ACCOUNT", None),
            "to": holder(OTHER, "ACCOUNT", None),
            "amount": "6",
            "transfer_type": "trade",
        }),
    )
    .await;
    assert_error(&transfer.pair(), 409, "insufficient_balance", Some("from"));
    assert_eq!(
        balance_of(&s, "FCMWheat", PLAYER, "ACCOUNT", None).await,
        "5.000000"
    );
    assert_eq!(
        balance_of(&s, "FCMWheat", OTHER, "ACCOUNT", None).await,
        "0.000000"
    );
    let log = get(
        &s,
        "/v1/economy/logs/fungible?currency_code=FCMWheat&limit=500",
    )
    .await;
    assert_eq!(
        log.body["items"].as_array().unwrap().len(),
        2,
        "the genesis row and the credit only"
    );
    s.stop().await;
}

async fn bad_amounts_are_400_naming_amount(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let amounts = [
        json!("0"),
        json!("0.000000"),
        json!("-1"),
        json!("+1"),
        json!("NaN"),
        json!("inf"),
        json!("1e5"),
        json!("1E-2"),
        json!("1.0000001"),
        json!("0.0000001"),
        json!(""),
        json!(" 1"),
        json!("1,5"),
        json!("1_000"),
        json!("0x10"),
        json!("1."),
        json!(".5"),
        json!("99999999999999999999999999999999"),
        json!("1000000000000000"),
        json!(5),
        json!(2.5),
        json!(null),
        json!(["1"]),
    ];
    for amount in amounts {
        let mut body = change("FCMGold", PLAYER, "ACCOUNT", None, "1");
        body["amount"] = amount.clone();
        for path in ["/v1/economy/credits", "/v1/economy/debits"] {
            let got = post(&s, path, body.clone()).await;
            assert_error(&got.pair(), 400, "invalid", Some("amount"));
        }
        let got = post(
            &s,
            "/v1/economy/transfers",
            json!({
                "currency_code": "FCMGold",
                "from": holder(PLAYER, "ACCOUNT", None),
                "to": holder(OTHER, "ACCOUNT", None),
                "amount": amount,
                "transfer_type": "trade",
            }),
        )
        .await;
        assert_error(&got.pair(), 400, "invalid", Some("amount"));
    }
    let log = get(
        &s,
        &format!("/v1/economy/logs/fungible?wallet_address={PLAYER}"),
    )
    .await;
    assert_eq!(log.body["items"], json!([]), "nothing was written");
    s.stop().await;
}

async fn bad_holders_and_unknown_currencies_name_the_field(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let unknown = post(
        &s,
        "/v1/economy/credits",
        change("FCMNothing", PLAYER, "ACCOUNT", None, "1"),
    )
    .await;
    assert_error(&unknown.pair(), 404, "not_found", Some("currency_code"));
    assert!(
        unknown.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("FCMNothing")
    );
    for (body, status, field) in [
        (
            change("FCMGold", PLAYER, "POCKET", None, "1"),
            400,
            "location",
        ),
        (
            change("FCMGold", PLAYER, "CHARACTER", None, "1"),
            400,
            "character_key",
        ),
        (
            change("FCMGold", PLAYER, "ACCOUNT", Some("hero"), "1"),
            400,
            "character_key",
        ),
        (
            change("FCMGold", "MINT", "ACCOUNT", None, "1"),
            400,
            "wallet_address",
        ),
        (
            change("FCMGold", "", "ACCOUNT", None, "1"),
            400,
            "wallet_address",
        ),
        (
            change("FCMGold", &"r".repeat(51), "ACCOUNT", None, "1"),
            400,
            "wallet_address",
        ),
        (
            change("", PLAYER, "ACCOUNT", None, "1"),
            400,
            "currency_code",
        ),
    ] {
        let got = post(&s, "/v1/economy/credits", body).await;
        assert_error(&got.pair(), status, "invalid", Some(field));
    }
    let mut unknown_field = change("FCMGold", PLAYER, "ACCOUNT", None, "1");
    unknown_field["colour"] = json!("red");
    assert_error(
        &post(&s, "/v1/economy/credits", unknown_field).await.pair(),
        400,
        "invalid",
        Some("colour"),
    );
    let same_holder = post(
        &s,
        "/v1/economy/transfers",
        json!({
            "currency_code": "FCMGold",
            "from": holder(PLAYER, "ACCOUNT", None),
            "to": holder(PLAYER, "ACCOUNT", None),
            "amount": "1",
            "transfer_type": "trade",
        }),
    )
    .await;
    assert_error(&same_holder.pair(), 400, "invalid", Some("to"));
    let bad_to = post(
        &s,
        "/v1/economy/transfers",
        json!({
            "currency_code": "FCMGold",
            "from": holder(PLAYER, "ACCOUNT", None),
            "to": holder(OTHER, "VAULT", None),
            "amount": "1",
            "transfer_type": "trade",
        }),
    )
    .await;
    assert_error(&bad_to.pair(), 400, "invalid", Some("to.location"));
    s.stop().await;
}

on_both_backends!(
    currencies_page_and_look_up_by_code,
    item_types_filter_by_typeclass_and_name_prefix,
    credit_debit_and_transfer_move_balances_and_log,
    overdraft_is_409_naming_the_holder_and_changes_nothing,
    bad_amounts_are_400_naming_amount,
    bad_holders_and_unknown_currencies_name_the_field,
);

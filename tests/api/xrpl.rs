//! The XRPL mirror on both backends: the seed, the schema's constraints,
//! fungible balances and transfers, chain deposits and withdrawals, the NFT
//! pool and moves, economy snapshots.

use std::sync::Arc;

use crate::support::db::TestDb;
use crate::support::economy::{spellings, tx_hash};
use chrono::Duration;
use chrono::DurationRound;
use mnemo::db::migrate::{self, DEFAULT_VAULT_ADDRESS, MigrateParams};
use mnemo::db::now_micros;
use mnemo::db::{Alias, Db};
use mnemo::with_pool;
use mnemo::xrpl::{
    self, ChainMove, FungibleLocation, FungibleTransfer, Holder, ItemTypeRef, NftFilter,
    NftLocation, NftTransfer, SessionKey, SnapshotFilter, XrplError,
};
use serde_json::{Map, Value, json};

const VAULT: &str = DEFAULT_VAULT_ADDRESS;
const PLAYER: &str = "rPlayerWallet";
const OTHER: &str = "rOtherWallet";

/// Run one statement as written; the error text when the database refuses it.
async fn exec(db: &Db, sql: &'static str) -> Result<u64, String> {
    with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query(sql)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            .map_err(|e| e.to_string())
    })
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    with_pool!(db.pool(Alias::Xrpl), |p| {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(p).await.unwrap();
        n
    })
}

type LogRow = (String, String, String, String, String);

/// The fungible log after the seed (its `genesis` rows), credits and debits
/// (from `MINT`, to `BURN`): the transfers between holders.
async fn fungible_logs(db: &Db) -> Vec<LogRow> {
    with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as(
            "SELECT currency_code, from_wallet, to_wallet, CAST(amount AS TEXT), transfer_type
             FROM xrpl_fungibletransferlog
             WHERE from_wallet <> 'MINT' AND to_wallet <> 'BURN' ORDER BY id",
        )
        .fetch_all(p)
        .await
        .unwrap()
    })
}

type NftLogRow = (String, String, String, String);

async fn nft_logs(db: &Db) -> Vec<NftLogRow> {
    with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as(
            "SELECT nftoken_id, from_wallet, to_wallet, transfer_type FROM xrpl_nfttransferlog ORDER BY id",
        )
        .fetch_all(p)
        .await
        .unwrap()
    })
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

fn account(wallet: &str) -> Holder {
    Holder::new(wallet, FungibleLocation::Account)
}

fn nfts_of(owner: &str, location: Option<NftLocation>) -> NftFilter {
    NftFilter {
        owner: Some(owner.into()),
        location,
        ..NftFilter::default()
    }
}

fn reserve() -> Holder {
    Holder::new(VAULT, FungibleLocation::Reserve)
}

// ---------------------------------------------------------------- 1. seed

async fn seed_matches_the_original(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;

    let currencies = xrpl::currency_types(db).await.unwrap();
    assert_eq!(currencies.len(), 136);
    let gold = xrpl::currency_type(db, "FCMGold").await.unwrap().unwrap();
    assert_eq!(gold.id, 1);
    assert_eq!(gold.currency_code, "FCMGold");
    assert_eq!(gold.resource_id, None);
    assert_eq!(gold.name, "Gold");
    assert_eq!(gold.unit, "coins");
    assert_eq!(gold.description, "The primary currency of the realm.");
    assert_eq!(gold.weight_per_unit_kg, "0.010");
    assert!(gold.is_gold);
    assert_eq!(currencies[0], gold);
    let silk = xrpl::currency_type(db, "FCMSilk").await.unwrap().unwrap();
    assert_eq!(silk.resource_id, Some(48));
    assert_eq!((silk.name.as_str(), silk.unit.as_str()), ("Silk", "bolts"));
    assert_eq!(
        silk.description,
        "Reeled and woven from cocoons at the loom. Prized by tailors for fine garments."
    );
    assert_eq!(silk.weight_per_unit_kg, "0.100");
    assert!(!silk.is_gold);
    assert_eq!(
        currencies
            .iter()
            .filter(|c| c.resource_id.is_some())
            .count(),
        48
    );
    assert_eq!(currencies.iter().filter(|c| c.is_gold).count(), 1);
    assert!(
        xrpl::currency_type(db, "FCMNothing")
            .await
            .unwrap()
            .is_none()
    );

    // Item types, read page by page through the id cursor.
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = xrpl::nft_item_types(db, after, 100).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 100);
        after = page.last().map(|i| i.id);
        all.extend(page);
    }
    assert_eq!(all.len(), 391);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    assert!(matches!(
        xrpl::nft_item_types(db, None, 0).await,
        Err(XrplError::Invalid { field: "limit", .. })
    ));

    let dagger = xrpl::nft_item_type(db, ItemTypeRef::Name("Training Dagger"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        dagger.typeclass,
        "typeclasses.items.weapons.dagger_nft_item.DaggerNFTItem"
    );
    assert_eq!(dagger.prototype_key.as_deref(), Some("training_dagger"));
    assert_eq!(
        dagger.description,
        "A blunt wooden dagger used for practice. Light and fast, but harmless."
    );
    assert_eq!(dagger.default_metadata, json!({}));
    assert_eq!(dagger.tracking_token.as_deref(), Some("PTrainDagger"));
    assert_eq!(all[0], dagger);
    let by_id = xrpl::nft_item_type(db, ItemTypeRef::Id(dagger.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_id, dagger);

    let potion = xrpl::nft_item_type(db, ItemTypeRef::Name("Weak Potion of the Bull"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        potion.typeclass,
        "typeclasses.items.consumables.potion_nft_item.PotionNFTItem"
    );
    assert_eq!(potion.prototype_key.as_deref(), Some("weak_the_bull"));
    assert_eq!(
        potion.description,
        "A thick, earthy potion that smells of mushrooms and raw power."
    );
    assert_eq!(
        potion.default_metadata,
        json!({
            "potion_mastery_tier": 2,
            "potion_effects": [{"type": "stat_bonus", "stat": "strength", "value": 2}],
            "duration": 120,
            "named_effect_key": "potion_strength"
        })
    );
    assert_eq!(potion.tracking_token.as_deref(), Some("PPotWeakBull"));

    let scroll = xrpl::nft_item_type(db, ItemTypeRef::Name("Scroll of Light"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        scroll.typeclass,
        "typeclasses.items.consumables.spell_scroll_nft_item.SpellScrollNFTItem"
    );
    assert_eq!(scroll.prototype_key.as_deref(), Some("light_spell_scroll"));
    assert_eq!(
        scroll.description,
        "A crisp scroll whose inked runes glow with a steady, soft radiance. Shadows ease back wherever you carry it."
    );
    assert_eq!(scroll.default_metadata, json!({}));
    assert_eq!(scroll.tracking_token, None);
    assert!(
        xrpl::nft_item_type(db, ItemTypeRef::Name("Excalibur"))
            .await
            .unwrap()
            .is_none()
    );

    // The blank pool.
    let blanks = xrpl::list_nfts(db, &nfts_of(VAULT, Some(NftLocation::Reserve)), 0, 500)
        .await
        .unwrap();
    assert_eq!(blanks.len(), 200);
    assert!(
        blanks
            .iter()
            .all(|n| n.item_type_id.is_none() && n.metadata == json!({}))
    );
    let one = xrpl::get_nft(db, "1").await.unwrap().unwrap();
    assert_eq!(one.nftoken_id, "1");
    assert_eq!(one.uri_id, Some(1));
    assert_eq!(one.taxon, 0);
    assert_eq!(one.owner_in_game.as_deref(), Some(VAULT));
    assert_eq!(one.location, "RESERVE");
    assert_eq!(one.character_key, None);
    assert_eq!((one.item_type_id, one.item_type_name), (None, None));
    assert_eq!(one.metadata, json!({}));
    assert!(xrpl::get_nft(db, "201").await.unwrap().is_none());

    // The vault's reserve.
    let reserves = xrpl::balances_by_location(db, FungibleLocation::Reserve)
        .await
        .unwrap();
    assert_eq!(reserves.len(), 136);
    assert!(
        reserves
            .iter()
            .all(|b| b.wallet_address == VAULT && b.character_key.is_none())
    );
    assert_eq!(
        xrpl::balances_by_wallet(db, VAULT).await.unwrap().len(),
        136
    );
    for (code, expected) in [
        ("FCMGold", "500000.000000"),
        ("PGold", "500000.000000"),
        ("FCMSilk", "100000.000000"),
    ] {
        assert_eq!(
            xrpl::balance(db, code, &reserve()).await.unwrap(),
            expected,
            "{code}"
        );
    }
}

async fn seed_uses_the_configured_vault(backend: &str) {
    let t = TestDb::empty(backend).await;
    let vault = "rHb9CJAWyB4rj91VRWn96DkukG4bwdtyTh";
    let params = MigrateParams {
        vault_address: vault.to_owned(),
        ..MigrateParams::default()
    };
    migrate::migrate(&t.db, &Alias::ALL, &params, None)
        .await
        .unwrap();
    let balances = xrpl::balances_by_wallet(&t.db, vault).await.unwrap();
    assert_eq!(balances.len(), 136);
    assert!(balances.iter().all(|b| b.location == "RESERVE"));
    assert!(
        xrpl::balances_by_wallet(&t.db, VAULT)
            .await
            .unwrap()
            .is_empty()
    );
    let pool = xrpl::list_nfts(&t.db, &nfts_of(vault, Some(NftLocation::Reserve)), 0, 500)
        .await
        .unwrap();
    assert_eq!(pool.len(), 200);
}

// --------------------------------------------------------- 2. constraints

/// `good` must pass, `bad` must be refused by the database itself.
async fn refused(db: &Db, good: &'static str, bad: &[&'static str]) {
    exec(db, good)
        .await
        .unwrap_or_else(|e| panic!("control statement failed: {good}: {e}"));
    for sql in bad {
        assert!(exec(db, sql).await.is_err(), "accepted: {sql}");
    }
}

async fn constraints_refuse_bad_rows(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;

    // Fungible state: location, character key iff CHARACTER, balance > 0, uniqueness.
    refused(
        db,
        "INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rA', 'ACCOUNT', NULL, '1.000000')",
        &[
            "INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rB', 'BANK', NULL, '1.000000')",
            "INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rB', 'ACCOUNT', 'hero', '1.000000')",
            "INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rB', 'CHARACTER', NULL, '1.000000')",
            "INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rB', 'ACCOUNT', NULL, '0.000000')",
            "INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rB', 'ACCOUNT', NULL, '-1.000000')",
            // (currency, wallet, location) is unique outside CHARACTER.
            "INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rA', 'ACCOUNT', NULL, '2.000000')",
        ],
    )
    .await;
    // In CHARACTER, unique per character key; two characters of a wallet are fine.
    refused(
        db,
        "INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rA', 'CHARACTER', 'hero', '1.000000')",
        &["INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rA', 'CHARACTER', 'hero', '5.000000')"],
    )
    .await;
    exec(db, "INSERT INTO xrpl_fungiblegamestate (currency_code, wallet_address, location, character_key, balance) VALUES ('FCMGold', 'rA', 'CHARACTER', 'sidekick', '1.000000')")
        .await
        .unwrap();

    // NFT state: owner iff not ONCHAIN, character key iff CHARACTER, location.
    refused(
        db,
        "INSERT INTO xrpl_nftgamestate (nftoken_id, taxon, owner_in_game, location, character_key) VALUES ('x1', 0, 'rA', 'CHARACTER', 'hero')",
        &[
            "INSERT INTO xrpl_nftgamestate (nftoken_id, taxon, owner_in_game, location, character_key) VALUES ('x2', 0, 'rA', 'ONCHAIN', NULL)",
            "INSERT INTO xrpl_nftgamestate (nftoken_id, taxon, owner_in_game, location, character_key) VALUES ('x2', 0, NULL, 'ACCOUNT', NULL)",
            "INSERT INTO xrpl_nftgamestate (nftoken_id, taxon, owner_in_game, location, character_key) VALUES ('x2', 0, 'rA', 'CHARACTER', NULL)",
            "INSERT INTO xrpl_nftgamestate (nftoken_id, taxon, owner_in_game, location, character_key) VALUES ('x2', 0, 'rA', 'ACCOUNT', 'hero')",
            "INSERT INTO xrpl_nftgamestate (nftoken_id, taxon, owner_in_game, location, character_key) VALUES ('x2', 0, 'rA', 'LOST', NULL)",
            "INSERT INTO xrpl_nftgamestate (nftoken_id, taxon, owner_in_game, location, character_key) VALUES ('x1', 0, 'rA', 'ACCOUNT', NULL)",
        ],
    )
    .await;
    exec(db, "INSERT INTO xrpl_nftgamestate (nftoken_id, taxon, owner_in_game, location, character_key) VALUES ('x3', 0, NULL, 'ONCHAIN', NULL)")
        .await
        .unwrap();

    // Transfer logs: amount > 0, from != to.
    refused(
        db,
        "INSERT INTO xrpl_fungibletransferlog (currency_code, from_wallet, to_wallet, amount, transfer_type) VALUES ('FCMGold', 'rA', 'rB', '1.000000', 'trade')",
        &[
            "INSERT INTO xrpl_fungibletransferlog (currency_code, from_wallet, to_wallet, amount, transfer_type) VALUES ('FCMGold', 'rA', 'rB', '0.000000', 'trade')",
            "INSERT INTO xrpl_fungibletransferlog (currency_code, from_wallet, to_wallet, amount, transfer_type) VALUES ('FCMGold', 'rA', 'rB', '-3.000000', 'trade')",
            "INSERT INTO xrpl_fungibletransferlog (currency_code, from_wallet, to_wallet, amount, transfer_type) VALUES ('FCMGold', 'rA', 'rA', '1.000000', 'trade')",
        ],
    )
    .await;
    refused(
        db,
        "INSERT INTO xrpl_nfttransferlog (nftoken_id, from_wallet, to_wallet, transfer_type) VALUES ('1', 'rA', 'rB', 'trade')",
        &["INSERT INTO xrpl_nfttransferlog (nftoken_id, from_wallet, to_wallet, transfer_type) VALUES ('1', 'rA', 'rA', 'trade')"],
    )
    .await;

    // Chain transactions: unique hash, known status.
    refused(
        db,
        "INSERT INTO xrpl_xrpltransactionlog (tx_hash, tx_type, wallet_address, status) VALUES ('H1', 'import', 'rA', 'confirmed')",
        &[
            "INSERT INTO xrpl_xrpltransactionlog (tx_hash, tx_type, wallet_address, status) VALUES ('H1', 'export', 'rB', 'pending')",
            "INSERT INTO xrpl_xrpltransactionlog (tx_hash, tx_type, wallet_address, status) VALUES ('H2', 'import', 'rA', 'done')",
        ],
    )
    .await;

    // Economy snapshots: one per hour.
    refused(
        db,
        "INSERT INTO xrpl_economysnapshot (hour) VALUES ('2024-01-01T05:00:00+00:00')",
        &["INSERT INTO xrpl_economysnapshot (hour) VALUES ('2024-01-01T05:00:00+00:00')"],
    )
    .await;
}

// ------------------------------------------------------------ 3. fungible

async fn credit_debit_and_zero_delete(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    let me = account(PLAYER);
    assert_eq!(
        xrpl::credit(db, "FCMGold", &me, "10").await.unwrap(),
        "10.000000"
    );
    assert_eq!(
        xrpl::credit(db, "FCMGold", &me, "2.5").await.unwrap(),
        "12.500000"
    );
    let rows = xrpl::balances_by_wallet(db, PLAYER).await.unwrap();
    assert_eq!(rows.len(), 1, "a credit adds to the existing row");
    assert_eq!(rows[0].balance, "12.500000");
    assert_eq!(rows[0].location, "ACCOUNT");

    assert_eq!(
        xrpl::debit(db, "FCMGold", &me, "2.5").await.unwrap(),
        "10.000000"
    );
    match xrpl::debit(db, "FCMGold", &me, "10.000001").await {
        Err(XrplError::InsufficientFunds {
            currency_code,
            available,
            requested,
            holder,
            field,
        }) => {
            assert_eq!(currency_code, "FCMGold");
            assert_eq!(
                (holder.as_str(), field),
                ("rPlayerWallet ACCOUNT", "wallet_address")
            );
            assert_eq!(available, "10.000000");
            assert_eq!(requested, "10.000001");
        }
        other => panic!("expected an overdraft refusal, got {other:?}"),
    }
    assert_eq!(
        xrpl::balance(db, "FCMGold", &me).await.unwrap(),
        "10.000000"
    );
    assert_eq!(
        xrpl::debit(db, "FCMGold", &me, "10").await.unwrap(),
        "0.000000"
    );
    assert!(
        xrpl::balances_by_wallet(db, PLAYER)
            .await
            .unwrap()
            .is_empty(),
        "a row at zero is deleted"
    );
    match xrpl::debit(db, "FCMGold", &me, "1").await {
        Err(XrplError::InsufficientFunds { available, .. }) => assert_eq!(available, "0.000000"),
        other => panic!("expected an overdraft refusal, got {other:?}"),
    }

    // Character purses are per character key.
    let hero = Holder::character(PLAYER, "hero");
    let sidekick = Holder::character(PLAYER, "sidekick");
    xrpl::credit(db, "FCMSilk", &hero, "3").await.unwrap();
    xrpl::credit(db, "FCMSilk", &sidekick, "4").await.unwrap();
    let carried = xrpl::balances_by_character(db, "hero").await.unwrap();
    assert_eq!(carried.len(), 1);
    assert_eq!(
        (
            carried[0].character_key.as_deref(),
            carried[0].balance.as_str()
        ),
        (Some("hero"), "3.000000")
    );
    assert_eq!(xrpl::balances_by_wallet(db, PLAYER).await.unwrap().len(), 2);
    assert_eq!(
        xrpl::balances_by_location(db, FungibleLocation::Character)
            .await
            .unwrap()
            .len(),
        2
    );

    // Invalid input is refused before anything is written, naming the field.
    for bad in ["0", "-1", "1.0000001", "ten", ""] {
        assert!(
            matches!(
                xrpl::credit(db, "FCMGold", &me, bad).await,
                Err(XrplError::Invalid {
                    field: "amount",
                    ..
                })
            ),
            "{bad:?}"
        );
    }
    let keyed_account = Holder {
        character_key: Some("hero".into()),
        ..account(PLAYER)
    };
    let keyless_character = Holder {
        character_key: None,
        ..hero.clone()
    };
    for holder in [keyed_account, keyless_character] {
        assert!(matches!(
            xrpl::credit(db, "FCMGold", &holder, "1").await,
            Err(XrplError::Invalid {
                field: "character_key",
                ..
            })
        ));
    }
    assert!(matches!(
        xrpl::credit(db, "FCMNothing", &me, "1").await,
        Err(XrplError::UnknownCurrency(_))
    ));
    assert!(
        xrpl::balances_by_wallet(db, PLAYER)
            .await
            .unwrap()
            .iter()
            .all(|b| b.currency_code == "FCMSilk")
    );
}

async fn transfers_log_between_wallets_and_roll_back(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    let hero = Holder::character(PLAYER, "hero");

    // Vault RESERVE -> a character: logged.
    let r = xrpl::transfer(
        db,
        &FungibleTransfer {
            currency_code: "FCMGold".into(),
            from: reserve(),
            to: hero.clone(),
            amount: "100".into(),
            transfer_type: "craft_output".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(r.from_balance, "499900.000000");
    assert_eq!(r.to_balance, "100.000000");
    assert!(r.transfer_log_id.is_some());
    assert_eq!(
        fungible_logs(db).await,
        vec![(
            "FCMGold".to_owned(),
            VAULT.to_owned(),
            PLAYER.to_owned(),
            "100.000000".to_owned(),
            "craft_output".to_owned()
        )]
    );

    // Vault-internal (RESERVE -> SPAWNED) and bank (CHARACTER -> ACCOUNT of
    // the same wallet): not logged, as in the original.
    let r = xrpl::transfer(
        db,
        &FungibleTransfer {
            currency_code: "FCMGold".into(),
            from: reserve(),
            to: Holder::new(VAULT, FungibleLocation::Spawned),
            amount: "50".into(),
            transfer_type: "spawn".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(r.transfer_log_id, None);
    let r = xrpl::transfer(
        db,
        &FungibleTransfer {
            currency_code: "FCMGold".into(),
            from: hero.clone(),
            to: account(PLAYER),
            amount: "40".into(),
            transfer_type: "bank".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (r.from_balance.as_str(), r.to_balance.as_str()),
        ("60.000000", "40.000000")
    );
    assert_eq!(r.transfer_log_id, None);
    assert_eq!(fungible_logs(db).await.len(), 1);

    // An overdraft writes nothing: not the receiver's new row (credited
    // first here, as "rAAA" sorts before the sender), not the log.
    let overdraft = FungibleTransfer {
        currency_code: "FCMGold".into(),
        from: hero.clone(),
        to: Holder::character("rAAAReceiver", "friend"),
        amount: "60.000001".into(),
        transfer_type: "trade".into(),
    };
    assert!(matches!(
        xrpl::transfer(db, &overdraft).await,
        Err(XrplError::InsufficientFunds { .. })
    ));
    assert!(
        xrpl::balances_by_wallet(db, "rAAAReceiver")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        xrpl::balance(db, "FCMGold", &hero).await.unwrap(),
        "60.000000"
    );
    assert_eq!(fungible_logs(db).await.len(), 1);

    // The whole purse moves: the sender's row is deleted.
    let r = xrpl::transfer(
        db,
        &FungibleTransfer {
            amount: "60".into(),
            ..overdraft.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(r.from_balance, "0.000000");
    assert!(
        xrpl::balances_by_character(db, "hero")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(fungible_logs(db).await.len(), 2);

    // The same holder on both sides is refused.
    assert!(matches!(
        xrpl::transfer(
            db,
            &FungibleTransfer {
                from: account(PLAYER),
                to: account(PLAYER),
                amount: "1".into(),
                ..overdraft.clone()
            }
        )
        .await,
        Err(XrplError::Invalid { field: "to", .. })
    ));
}

async fn concurrent_debits_never_overdraw(backend: &str) {
    let t = Arc::new(TestDb::migrated(backend).await);
    xrpl::credit(&t.db, "FCMGold", &account(PLAYER), "100")
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            xrpl::debit(&t.db, "FCMGold", &account(PLAYER), "15").await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(XrplError::InsufficientFunds { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(ok, 6);
    assert_eq!(
        xrpl::balance(&t.db, "FCMGold", &account(PLAYER))
            .await
            .unwrap(),
        "10.000000"
    );
}

async fn opposite_transfers_do_not_deadlock(backend: &str) {
    let t = Arc::new(TestDb::migrated(backend).await);
    for w in [PLAYER, OTHER] {
        xrpl::credit(&t.db, "FCMGold", &account(w), "100")
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        let t = t.clone();
        let (from, to) = if i % 2 == 0 {
            (PLAYER, OTHER)
        } else {
            (OTHER, PLAYER)
        };
        tasks.push(tokio::spawn(async move {
            xrpl::transfer(
                &t.db,
                &FungibleTransfer {
                    currency_code: "FCMGold".into(),
                    from: account(from),
                    to: account(to),
                    amount: "1".into(),
                    transfer_type: "trade".into(),
                },
            )
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    for w in [PLAYER, OTHER] {
        assert_eq!(
            xrpl::balance(&t.db, "FCMGold", &account(w)).await.unwrap(),
            "100.000000"
        );
    }
    assert_eq!(fungible_logs(&t.db).await.len(), 20);
}

// --------------------------------------------------------------- 4. chain

/// The canonical (upper-case) spelling of the hash made from `label`.
fn canonical(label: &str) -> String {
    tx_hash(label).to_uppercase()
}

/// A move of FCMGold between PLAYER's ACCOUNT and the vault, with the hash made
/// from `label` in lower case.
fn chain_move(amount: &str, label: &str) -> ChainMove {
    ChainMove {
        currency_code: "FCMGold".into(),
        wallet_address: PLAYER.into(),
        amount: amount.into(),
        vault_address: VAULT.into(),
        tx_hash: tx_hash(label),
    }
}

async fn chain_moves_refuse_a_confirmed_tx_hash(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;

    let d = xrpl::deposit_from_chain(db, &chain_move("250", "TXD1"))
        .await
        .unwrap();
    assert_eq!(d.account_balance, "250.000000");
    assert_eq!(d.reserve_balance, "499750.000000");
    assert_eq!(d.transaction.tx_hash, canonical("TXD1"));
    assert_eq!(d.transaction.tx_type, "import");
    assert_eq!(d.transaction.status, "confirmed");
    assert_eq!(d.transaction.amount.as_deref(), Some("250.000000"));
    assert_eq!(d.transaction.currency_code.as_deref(), Some("FCMGold"));
    assert_eq!(d.transaction.wallet_address, PLAYER);
    assert_eq!(
        fungible_logs(db).await,
        vec![(
            "FCMGold".to_owned(),
            VAULT.to_owned(),
            PLAYER.to_owned(),
            "250.000000".to_owned(),
            "deposit_from_chain".to_owned()
        )]
    );

    // The same hash again, as a deposit or as a withdrawal: refused, nothing moves.
    for result in [
        xrpl::deposit_from_chain(db, &chain_move("250", "TXD1")).await,
        xrpl::withdraw_to_chain(db, &chain_move("10", "TXD1")).await,
    ] {
        assert!(
            matches!(&result, Err(XrplError::AlreadyProcessed { tx_hash }) if *tx_hash == canonical("TXD1")),
            "{result:?}"
        );
    }
    assert_eq!(
        xrpl::balance(db, "FCMGold", &account(PLAYER))
            .await
            .unwrap(),
        "250.000000"
    );
    assert_eq!(
        xrpl::balance(db, "FCMGold", &reserve()).await.unwrap(),
        "499750.000000"
    );
    assert_eq!(fungible_logs(db).await.len(), 1);
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM xrpl_xrpltransactionlog").await,
        1
    );

    let w = xrpl::withdraw_to_chain(db, &chain_move("100", "TXW1"))
        .await
        .unwrap();
    assert_eq!(w.account_balance, "150.000000");
    assert_eq!(w.reserve_balance, "499850.000000");
    assert_eq!(w.transaction.tx_type, "export");
    assert!(matches!(
        xrpl::withdraw_to_chain(db, &chain_move("100", "TXW1")).await,
        Err(XrplError::AlreadyProcessed { .. })
    ));
    assert_eq!(
        xrpl::balance(db, "FCMGold", &account(PLAYER))
            .await
            .unwrap(),
        "150.000000"
    );

    // A failed move records no transaction.
    assert!(matches!(
        xrpl::withdraw_to_chain(db, &chain_move("1000", "TXW2")).await,
        Err(XrplError::InsufficientFunds { .. })
    ));
    assert!(
        xrpl::transaction(db, &tx_hash("TXW2"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(fungible_logs(db).await.len(), 2);

    // A pending row of the hash is completed, then the hash is spent.
    with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query("INSERT INTO xrpl_xrpltransactionlog (tx_hash, tx_type, wallet_address, status) VALUES ($1, 'import', 'rPlayerWallet', 'pending')")
            .bind(canonical("TXP"))
            .execute(p)
            .await
            .unwrap();
    });
    let pending_id = xrpl::transaction(db, &tx_hash("TXP"))
        .await
        .unwrap()
        .unwrap()
        .id;
    let p = xrpl::deposit_from_chain(db, &chain_move("5", "TXP"))
        .await
        .unwrap();
    assert_eq!(p.transaction.id, pending_id);
    assert_eq!(p.transaction.status, "confirmed");
    assert_eq!(p.account_balance, "155.000000");
    assert!(matches!(
        xrpl::deposit_from_chain(db, &chain_move("5", "TXP")).await,
        Err(XrplError::AlreadyProcessed { .. })
    ));
    assert!(matches!(
        xrpl::deposit_from_chain(
            db,
            &ChainMove {
                wallet_address: VAULT.into(),
                ..chain_move("5", "TXV")
            }
        )
        .await,
        Err(XrplError::Invalid {
            field: "wallet_address",
            ..
        })
    ));
}

async fn concurrent_replays_of_a_deposit_move_once(backend: &str) {
    let t = Arc::new(TestDb::migrated(backend).await);
    let mut tasks = Vec::new();
    for spelling in spellings(&tx_hash("RACE"), 20) {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            let m = ChainMove {
                tx_hash: spelling,
                ..chain_move("7", "RACE")
            };
            xrpl::deposit_from_chain(&t.db, &m).await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(XrplError::AlreadyProcessed { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(ok, 1);
    assert_eq!(
        xrpl::balance(&t.db, "FCMGold", &account(PLAYER))
            .await
            .unwrap(),
        "7.000000"
    );
    assert_eq!(fungible_logs(&t.db).await.len(), 1);
}

async fn chain_replays_in_any_spelling_are_refused(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    xrpl::credit(db, "FCMGold", &account(PLAYER), "100")
        .await
        .unwrap();
    xrpl::deposit_from_chain(db, &chain_move("1", "SPELL"))
        .await
        .unwrap();
    for spelling in spellings(&tx_hash("SPELL"), 8) {
        let m = ChainMove {
            tx_hash: spelling.clone(),
            ..chain_move("1", "SPELL")
        };
        for result in [
            xrpl::deposit_from_chain(db, &m).await,
            xrpl::withdraw_to_chain(db, &m).await,
        ] {
            assert!(
                matches!(&result, Err(XrplError::AlreadyProcessed { tx_hash }) if *tx_hash == canonical("SPELL")),
                "{spelling:?}: {result:?}"
            );
        }
        let found = xrpl::transaction(db, &spelling).await.unwrap().unwrap();
        assert_eq!(found.tx_hash, canonical("SPELL"));
    }
    assert_eq!(
        xrpl::balance(db, "FCMGold", &account(PLAYER))
            .await
            .unwrap(),
        "101.000000"
    );
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM xrpl_xrpltransactionlog").await,
        1
    );
}

async fn malformed_chain_hashes_are_refused_naming_tx_hash(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    let good = tx_hash("good");
    for bad in [
        "",
        "ok",
        &good[..63],
        &format!("{good}0"),
        &format!("{}z", &good[..63]),
    ] {
        let m = ChainMove {
            tx_hash: bad.into(),
            ..chain_move("1", "unused")
        };
        for result in [
            xrpl::deposit_from_chain(db, &m).await.map(drop),
            xrpl::withdraw_to_chain(db, &m).await.map(drop),
            xrpl::deposit_nft_from_chain(db, "1", PLAYER, VAULT, bad)
                .await
                .map(drop),
            xrpl::withdraw_nft_to_chain(db, "1", bad).await.map(drop),
            xrpl::transaction(db, bad).await.map(drop),
        ] {
            assert!(
                matches!(
                    result,
                    Err(XrplError::Invalid {
                        field: "tx_hash",
                        ..
                    })
                ),
                "{bad:?}: {result:?}"
            );
        }
    }
    assert_eq!(
        count(db, "SELECT COUNT(*) FROM xrpl_xrpltransactionlog").await,
        0
    );
}

/// Rows written before hashes were canonical: the migration gives each
/// spelling group one canonical row, which later replays in any case meet.
async fn migration_canonicalises_chain_hashes(backend: &str) {
    let t = TestDb::migrated_until(backend, Alias::Xrpl, "0005_seed_vault_reserve").await;
    let params = MigrateParams::default();
    let (a, b) = (tx_hash("old-a"), tx_hash("old-b"));
    let mixed_b = spellings(&b, 3)[2].clone();
    for hash in [a.clone(), a.to_uppercase(), b.clone(), mixed_b.clone()] {
        with_pool!(t.db.pool(Alias::Xrpl), |p| {
            sqlx::query(
                "INSERT INTO xrpl_xrpltransactionlog (tx_hash, tx_type, wallet_address, status)
                 VALUES ($1, 'import', 'rPlayerWallet', 'confirmed')",
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
    let mut stored: Vec<String> = with_pool!(t.db.pool(Alias::Xrpl), |p| {
        sqlx::query_scalar("SELECT tx_hash FROM xrpl_xrpltransactionlog")
            .fetch_all(p)
            .await
            .unwrap()
    });
    stored.sort();
    let mut expected = vec![a.clone(), a.to_uppercase(), b.to_uppercase(), mixed_b];
    expected.sort();
    assert_eq!(stored, expected);
    for hash in [&a, &b] {
        for spelling in spellings(hash, 4) {
            let m = ChainMove {
                tx_hash: spelling,
                ..chain_move("1", "unused")
            };
            assert!(matches!(
                xrpl::deposit_from_chain(&t.db, &m).await,
                Err(XrplError::AlreadyProcessed { .. })
            ));
        }
    }
}

// ----------------------------------------------------------------- 5. NFT

async fn spawn_takes_blanks_in_numeric_order(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    let dagger = ItemTypeRef::Name("Training Dagger");
    let mut ids = Vec::new();
    for _ in 0..10 {
        let n = xrpl::spawn_blank(db, dagger, &Map::new()).await.unwrap();
        assert_eq!(n.location, "SPAWNED");
        assert_eq!(n.owner_in_game.as_deref(), Some(VAULT));
        assert_eq!(n.item_type_name.as_deref(), Some("Training Dagger"));
        ids.push(n.nftoken_id);
    }
    let expected: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
    assert_eq!(ids, expected);

    // Assigning keeps the token in RESERVE, and it is no longer blank.
    let assigned = xrpl::assign_blank(db, dagger, &Map::new()).await.unwrap();
    assert_eq!(
        (assigned.nftoken_id.as_str(), assigned.location.as_str()),
        ("11", "RESERVE")
    );
    assert!(assigned.item_type_id.is_some());
    let next = xrpl::spawn_blank(db, dagger, &Map::new()).await.unwrap();
    assert_eq!(next.nftoken_id, "12");
    // Spawning is vault-internal: no transfer log.
    assert!(nft_logs(db).await.is_empty());
}

async fn pool_of_nine_and_ten_gives_nine_first(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    exec(
        db,
        "UPDATE xrpl_nftgamestate SET location = 'SPAWNED' WHERE nftoken_id NOT IN ('9', '10')",
    )
    .await
    .unwrap();
    let dagger = ItemTypeRef::Name("Training Dagger");
    assert!(matches!(
        xrpl::spawn_blank(db, ItemTypeRef::Name("Excalibur"), &Map::new()).await,
        Err(XrplError::UnknownItemType { .. })
    ));
    let first = xrpl::spawn_blank(db, dagger, &Map::new()).await.unwrap();
    let second = xrpl::spawn_blank(db, dagger, &Map::new()).await.unwrap();
    assert_eq!(
        (first.nftoken_id.as_str(), second.nftoken_id.as_str()),
        ("9", "10")
    );
    assert!(matches!(
        xrpl::spawn_blank(db, dagger, &Map::new()).await,
        Err(XrplError::NoBlankTokens)
    ));
}

async fn metadata_merges_and_null_deletes(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    let potion = xrpl::spawn_blank(
        db,
        ItemTypeRef::Name("Weak Potion of the Bull"),
        &obj(json!({"duration": 60, "charges": 3, "named_effect_key": null})),
    )
    .await
    .unwrap();
    assert_eq!(
        potion.metadata,
        json!({
            "potion_mastery_tier": 2,
            "potion_effects": [{"type": "stat_bonus", "stat": "strength", "value": 2}],
            "duration": 60,
            "charges": 3
        })
    );
    let merged = xrpl::merge_metadata(
        db,
        &potion.nftoken_id,
        &obj(json!({"charges": null, "durability": 5, "absent": null})),
    )
    .await
    .unwrap();
    let expected = json!({
        "potion_mastery_tier": 2,
        "potion_effects": [{"type": "stat_bonus", "stat": "strength", "value": 2}],
        "duration": 60,
        "durability": 5
    });
    assert_eq!(merged.metadata, expected);
    let read = xrpl::get_nft(db, &potion.nftoken_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.metadata, expected);
    assert!(matches!(
        xrpl::merge_metadata(db, "no-such-token", &obj(json!({"a": 1}))).await,
        Err(XrplError::NftNotFound(_))
    ));
}

fn nft_move(from: NftLocation, to: NftLocation) -> NftTransfer {
    NftTransfer {
        nftoken_id: "1".into(),
        from,
        from_wallet: None,
        from_character_key: None,
        to,
        to_wallet: None,
        to_character_key: None,
        transfer_type: "test".into(),
    }
}

async fn nft_moves_follow_the_state_rules(backend: &str) {
    use NftLocation::*;
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    let token = xrpl::spawn_blank(db, ItemTypeRef::Name("Training Dagger"), &Map::new())
        .await
        .unwrap();
    assert_eq!(token.nftoken_id, "1");

    // Pickup: CHARACTER needs a character key (and an owner).
    let pickup = NftTransfer {
        to_wallet: Some(PLAYER.into()),
        to_character_key: Some("hero".into()),
        transfer_type: "pickup".into(),
        ..nft_move(Spawned, Character)
    };
    let no_key = NftTransfer {
        to_character_key: None,
        ..pickup.clone()
    };
    assert!(matches!(
        xrpl::transfer_nft(db, &no_key).await,
        Err(XrplError::Invalid {
            field: "to_character_key",
            ..
        })
    ));
    let r = xrpl::transfer_nft(db, &pickup).await.unwrap();
    assert_eq!(r.nft.location, "CHARACTER");
    assert_eq!(r.nft.owner_in_game.as_deref(), Some(PLAYER));
    assert_eq!(r.nft.character_key.as_deref(), Some("hero"));
    assert!(r.transfer_log_id.is_some());
    assert_eq!(
        nft_logs(db).await,
        vec![(
            "1".to_owned(),
            VAULT.to_owned(),
            PLAYER.to_owned(),
            "pickup".to_owned()
        )]
    );

    // The token must be where the move starts, held by whom it names.
    assert!(matches!(
        xrpl::transfer_nft(db, &pickup).await,
        Err(XrplError::NftWrongState { .. })
    ));
    let stolen = NftTransfer {
        from_wallet: Some(OTHER.into()),
        to_wallet: Some(OTHER.into()),
        to_character_key: Some("thief".into()),
        ..nft_move(Character, Character)
    };
    assert!(matches!(
        xrpl::transfer_nft(db, &stolen).await,
        Err(XrplError::NftWrongHolder { .. })
    ));
    // Moves the original has no service for, and chain moves outside chain::.
    for (from, to) in [(Spawned, Account), (Reserve, Auction), (Account, Onchain)] {
        assert!(matches!(
            xrpl::transfer_nft(
                db,
                &NftTransfer {
                    to_wallet: Some(PLAYER.into()),
                    ..nft_move(from, to)
                }
            )
            .await,
            Err(XrplError::InvalidTransition { .. })
        ));
    }

    // Bank: no character key outside CHARACTER; same owner, so no log.
    let bank = NftTransfer {
        to_wallet: Some(PLAYER.into()),
        transfer_type: "bank".into(),
        ..nft_move(Character, Account)
    };
    assert!(matches!(
        xrpl::transfer_nft(
            db,
            &NftTransfer {
                to_character_key: Some("hero".into()),
                ..bank.clone()
            }
        )
        .await,
        Err(XrplError::Invalid {
            field: "to_character_key",
            ..
        })
    ));
    let r = xrpl::transfer_nft(db, &bank).await.unwrap();
    assert_eq!(
        (r.nft.location.as_str(), r.nft.character_key),
        ("ACCOUNT", None)
    );
    assert_eq!(r.transfer_log_id, None);
    assert_eq!(nft_logs(db).await.len(), 1);

    // Withdraw to chain: ONCHAIN clears the owner; the hash is spent.
    let w = xrpl::withdraw_nft_to_chain(db, "1", &tx_hash("TXN1"))
        .await
        .unwrap();
    assert_eq!(
        (w.nft.location.as_str(), w.nft.owner_in_game.as_deref()),
        ("ONCHAIN", None)
    );
    assert_eq!(w.transaction.tx_type, "nft_export");
    assert_eq!(w.transaction.wallet_address, PLAYER);
    assert_eq!(w.transaction.nftoken_id.as_deref(), Some("1"));
    assert_eq!(
        nft_logs(db).await.last().unwrap(),
        &(
            "1".to_owned(),
            PLAYER.to_owned(),
            "ONCHAIN".to_owned(),
            "withdraw_to_chain".to_owned()
        )
    );
    assert!(matches!(
        xrpl::withdraw_nft_to_chain(db, "1", &tx_hash("TXN1-again")).await,
        Err(XrplError::NftWrongState { .. })
    ));
    assert!(matches!(
        xrpl::deposit_nft_from_chain(db, "1", OTHER, VAULT, &tx_hash("TXN1").to_uppercase()).await,
        Err(XrplError::AlreadyProcessed { .. })
    ));
    assert_eq!(
        xrpl::get_nft(db, "1").await.unwrap().unwrap().location,
        "ONCHAIN"
    );

    // Deposit from chain: into the depositor's ACCOUNT.
    let d = xrpl::deposit_nft_from_chain(db, "1", OTHER, VAULT, &tx_hash("TXN2"))
        .await
        .unwrap();
    assert_eq!(
        (d.nft.location.as_str(), d.nft.owner_in_game.as_deref()),
        ("ACCOUNT", Some(OTHER))
    );
    assert_eq!(d.transaction.tx_type, "nft_import");
    assert!(matches!(
        xrpl::deposit_nft_from_chain(db, "1", OTHER, VAULT, &tx_hash("TXN2")).await,
        Err(XrplError::AlreadyProcessed { .. })
    ));

    // Auction: the seller stays the owner until a winner takes it.
    let unbank = NftTransfer {
        to_wallet: Some(OTHER.into()),
        to_character_key: Some("seller".into()),
        ..nft_move(Account, Character)
    };
    assert_eq!(
        xrpl::transfer_nft(db, &unbank)
            .await
            .unwrap()
            .transfer_log_id,
        None
    );
    let listed = xrpl::transfer_nft(db, &nft_move(Character, Auction))
        .await
        .unwrap();
    assert_eq!(listed.nft.owner_in_game.as_deref(), Some(OTHER));
    assert_eq!(listed.nft.character_key, None);
    assert_eq!(listed.transfer_log_id, None);
    let won = xrpl::transfer_nft(
        db,
        &NftTransfer {
            to_wallet: Some(PLAYER.into()),
            to_character_key: Some("hero".into()),
            transfer_type: "auction_complete".into(),
            ..nft_move(Auction, Character)
        },
    )
    .await
    .unwrap();
    assert!(won.transfer_log_id.is_some());

    // Back to RESERVE: the token loses its identity and is blank again.
    let craft_input = NftTransfer {
        from_wallet: Some(PLAYER.into()),
        from_character_key: Some("hero".into()),
        to_wallet: Some(VAULT.into()),
        transfer_type: "craft_input".into(),
        ..nft_move(Character, Reserve)
    };
    let r = xrpl::transfer_nft(db, &craft_input).await.unwrap();
    assert_eq!(r.nft.location, "RESERVE");
    assert_eq!(r.nft.owner_in_game.as_deref(), Some(VAULT));
    assert_eq!((r.nft.item_type_id, r.nft.metadata), (None, json!({})));
    let again = xrpl::spawn_blank(db, ItemTypeRef::Name("Training Shortsword"), &Map::new())
        .await
        .unwrap();
    assert_eq!(again.nftoken_id, "1");

    let mine = xrpl::list_nfts(db, &nfts_of(VAULT, Some(Spawned)), 0, 500)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1);
    assert!(
        xrpl::list_nfts(db, &nfts_of(PLAYER, None), 0, 500)
            .await
            .unwrap()
            .is_empty()
    );
}

// ----------------------------------------------------------- 6. snapshots

async fn session(db: &Db, account_id: i64, key: &str, end: bool) {
    let k = SessionKey {
        account_id,
        character_key: key.into(),
    };
    xrpl::write(db, async |tx| {
        xrpl::start_session_in(tx, &k).await?;
        if end {
            xrpl::end_session_in(tx, &k).await?;
        }
        Ok(())
    })
    .await
    .unwrap();
}

async fn snapshot_measures_the_economy_once_per_hour(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let db = &t.db;
    session(db, 1, "ann", false).await;
    session(db, 2, "bob", false).await;
    session(db, 3, "cid", true).await;
    xrpl::credit(db, "FCMGold", &account(PLAYER), "100")
        .await
        .unwrap();
    let pickup = FungibleTransfer {
        currency_code: "FCMGold".into(),
        from: reserve(),
        to: Holder::character(OTHER, "hero"),
        amount: "10.5".into(),
        transfer_type: "pickup".into(),
    };
    xrpl::transfer(db, &pickup).await.unwrap();
    xrpl::deposit_from_chain(db, &chain_move("1", "SNAP"))
        .await
        .unwrap();
    xrpl::spawn_blank(db, ItemTypeRef::Name("Training Dagger"), &Map::new())
        .await
        .unwrap();

    let now = now_micros();
    let first = xrpl::take_snapshot(db, now).await.unwrap();
    assert!(first.created);
    let e = &first.economy.figures;
    let hour = first.economy.hour;
    assert_eq!(hour, now.duration_trunc(Duration::hours(1)).unwrap());
    assert_eq!((e.players_online, e.unique_players_1h), (2, 3));
    assert_eq!(e.gold_circulation, "111.500000", "ACCOUNT + CHARACTER");
    assert_eq!(e.gold_reserve, "499988.500000");
    assert_eq!(e.gold_spawned_1h, "10.500000", "pickups in the window");
    assert_eq!((e.imports_1h, e.exports_1h, e.amm_trades_1h), (1, 0, 0));
    assert_eq!(first.resource_snapshots, 136);

    let gold = xrpl::resource_snapshots(
        db,
        &SnapshotFilter {
            currency_code: Some("FCMGold".into()),
            ..SnapshotFilter::default()
        },
        0,
        10,
    )
    .await
    .unwrap();
    assert_eq!(gold.len(), 1);
    let g = &gold[0].figures;
    assert_eq!(
        (g.in_account.as_str(), g.in_character.as_str()),
        ("101.000000", "10.500000")
    );
    assert_eq!(
        (g.produced_1h.as_str(), g.imported_1h.as_str()),
        ("10.500000", "1.000000")
    );
    assert_eq!(gold[0].amm_buy_price, None);
    let dagger = xrpl::resource_snapshots(
        db,
        &SnapshotFilter {
            currency_code: Some("PTrainDagger".into()),
            ..SnapshotFilter::default()
        },
        0,
        10,
    )
    .await
    .unwrap();
    assert_eq!(
        dagger[0].figures.in_spawned, "1.000000",
        "a proxy token counts NFTs"
    );

    // Later in the same hour: the first snapshot, unchanged.
    session(db, 4, "dee", false).await;
    let again = xrpl::take_snapshot(db, hour + Duration::minutes(59))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.economy, first.economy);
    let next = xrpl::take_snapshot(db, hour + Duration::hours(1))
        .await
        .unwrap();
    assert!(next.created);
    assert_eq!(next.economy.figures.players_online, 3);

    let in_range = |since, until| SnapshotFilter {
        currency_code: None,
        since,
        until,
    };
    let all = xrpl::economy_snapshots(db, &in_range(None, None), 0, 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    let second_only = xrpl::economy_snapshots(
        db,
        &in_range(Some(hour + Duration::minutes(1)), None),
        0,
        10,
    )
    .await
    .unwrap();
    assert_eq!(second_only, vec![next.economy.clone()]);
    let first_only =
        xrpl::economy_snapshots(db, &in_range(None, Some(hour + Duration::hours(1))), 0, 10)
            .await
            .unwrap();
    assert_eq!(first_only, vec![first.economy.clone()]);
    assert!(matches!(
        xrpl::economy_snapshots(
            db,
            &in_range(Some(hour), Some(hour - Duration::hours(1))),
            0,
            10
        )
        .await,
        Err(XrplError::Invalid { field: "until", .. })
    ));
}

async fn concurrent_snapshots_of_an_hour_record_one(backend: &str) {
    let t = Arc::new(TestDb::migrated(backend).await);
    let now = now_micros();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            xrpl::take_snapshot(&t.db, now).await
        }));
    }
    let mut created = 0;
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        let s = task.await.unwrap().unwrap();
        created += usize::from(s.created);
        ids.insert(s.economy.id);
        assert_eq!(s.resource_snapshots, 136);
    }
    assert_eq!((created, ids.len()), (1, 1));
    assert_eq!(
        count(&t.db, "SELECT COUNT(*) FROM xrpl_resourcesnapshot").await,
        136
    );
}

on_both_backends!(
    chain_replays_in_any_spelling_are_refused,
    malformed_chain_hashes_are_refused_naming_tx_hash,
    migration_canonicalises_chain_hashes,
    seed_matches_the_original,
    seed_uses_the_configured_vault,
    constraints_refuse_bad_rows,
    credit_debit_and_zero_delete,
    transfers_log_between_wallets_and_roll_back,
    concurrent_debits_never_overdraw,
    opposite_transfers_do_not_deadlock,
    chain_moves_refuse_a_confirmed_tx_hash,
    concurrent_replays_of_a_deposit_move_once,
    spawn_takes_blanks_in_numeric_order,
    pool_of_nine_and_ten_gives_nine_first,
    metadata_merges_and_null_deletes,
    nft_moves_follow_the_state_rules,
    snapshot_measures_the_economy_once_per_hour,
    concurrent_snapshots_of_an_hour_record_one,
);

//! The original game's economy as `mnemo import original` copies it: every
//! `xrpl_*` table of its `blockchain/xrpl` app (mnemo's tables mirror them,
//! column for column), with the natural key each table is matched on.
//!
//! - Seeded catalogues and state (currency types, NFT item types, the vault's
//!   RESERVE balances, the blank NFT pool) exist here already: a row with the
//!   same key takes the original's values, its current state.
//! - Snapshots and enchantment slots are matched on their unique keys too.
//! - The chain transaction log is keyed by `tx_hash` in its one canonical
//!   form (64 hex digits, upper case): a hash the original stored twice in two
//!   spellings is a duplicate, reported and not written again.
//! - Logs, sessions, listings and reconciliation failures have no key: each
//!   row is new, and the import's origin table keeps them from coming twice.

use rust_decimal::Decimal;

use super::fungible::log_fungible_transfer;
use super::{BURN, MINT, XrplError, amount_text, audit, stored_decimal};
use crate::db::bulk::{NaturalKey, OnExisting};
use crate::db::columns::{ColType::*, Column as C, CopySpec};
use crate::db::{Alias, Args, Db, SqlValue, now_micros};
use crate::tx_hash::TxHash;

/// The transfer type of the entries that open the imported books.
pub const OPENING_BALANCE: &str = "original_import";

const fn update(columns: &'static [&'static str]) -> Option<NaturalKey> {
    Some(NaturalKey {
        columns,
        on_existing: OnExisting::Update,
    })
}

const fn spec(table: &'static str, columns: &'static [C], key: Option<NaturalKey>) -> CopySpec {
    CopySpec {
        source: table,
        target: table,
        alias: Alias::Xrpl,
        columns,
        key,
        keep_ids: false,
    }
}

/// The economy's tables in the order they are copied (NFT state after the
/// item types it refers to).
pub const TABLES: [CopySpec; 14] = [
    spec(
        "xrpl_currencytype",
        &[
            C::same("currency_code", Text),
            C::same("resource_id", Int),
            C::same("name", Text),
            C::same("unit", Text),
            C::same("description", Text),
            C::same("weight_per_unit_kg", Decimal(3)),
            C::same("is_gold", Bool),
        ],
        update(&["currency_code"]),
    ),
    spec(
        "xrpl_nftitemtype",
        &[
            C::same("name", Text),
            C::same("typeclass", Text),
            C::same("prototype_key", Text),
            C::same("description", Text),
            C::same("default_metadata", Json),
            C::same("tracking_token", Text),
        ],
        update(&["name"]),
    ),
    spec(
        "xrpl_fungiblegamestate",
        &[
            C::same("currency_code", Text),
            C::same("wallet_address", Text),
            C::same("location", Text),
            C::same("character_key", Text),
            C::same("balance", Decimal(6)),
            C::same("created_at", Time),
            C::same("updated_at", Time),
        ],
        // Both partial unique indexes at once: character_key is NULL exactly
        // when the location is not CHARACTER, and is compared NULL-safely.
        update(&[
            "currency_code",
            "wallet_address",
            "location",
            "character_key",
        ]),
    ),
    spec(
        "xrpl_nftgamestate",
        &[
            C::same("nftoken_id", Text),
            C::same("uri_id", Int),
            C::same("taxon", Int),
            C::same("owner_in_game", Text),
            C::same("location", Text),
            C::same("character_key", Text),
            C::same("item_type_id", Ref("xrpl_nftitemtype")),
            C::same("metadata", Json),
            C::same("created_at", Time),
            C::same("updated_at", Time),
        ],
        update(&["nftoken_id"]),
    ),
    spec(
        "xrpl_fungibletransferlog",
        &[
            C::same("currency_code", Text),
            C::same("from_wallet", Text),
            C::same("to_wallet", Text),
            C::same("amount", Decimal(6)),
            C::same("transfer_type", Text),
            C::same("timestamp", Time),
        ],
        None,
    ),
    spec(
        "xrpl_nfttransferlog",
        &[
            C::same("nftoken_id", Text),
            C::same("from_wallet", Text),
            C::same("to_wallet", Text),
            C::same("transfer_type", Text),
            C::same("timestamp", Time),
        ],
        None,
    ),
    spec(
        "xrpl_xrpltransactionlog",
        &[
            C::same("tx_hash", Text),
            C::same("tx_type", Text),
            C::same("currency_code", Text),
            C::same("nftoken_id", Text),
            C::same("amount", Decimal(6)),
            C::same("wallet_address", Text),
            C::same("status", Text),
            C::same("ledger_index", Int),
            C::same("created_at", Time),
            C::same("updated_at", Time),
        ],
        Some(NaturalKey {
            columns: &["tx_hash"],
            on_existing: OnExisting::Skip,
        }),
    ),
    spec(
        "xrpl_playersession",
        &[
            C::same("account_id", Ref("accounts_accountdb")),
            C::same("character_key", Text),
            C::same("started_at", Time),
            C::same("ended_at", Time),
        ],
        None,
    ),
    spec(
        "xrpl_economysnapshot",
        &[
            C::same("hour", Time),
            C::same("players_online", Int),
            C::same("unique_players_1h", Int),
            C::same("unique_players_24h", Int),
            C::same("unique_players_7d", Int),
            C::same("gold_circulation", Decimal(6)),
            C::same("gold_reserve", Decimal(6)),
            C::same("gold_sinks_1h", Decimal(6)),
            C::same("gold_spawned_1h", Decimal(6)),
            C::same("amm_trades_1h", Int),
            C::same("amm_volume_gold_1h", Decimal(6)),
            C::same("imports_1h", Int),
            C::same("exports_1h", Int),
            C::same("created_at", Time),
        ],
        update(&["hour"]),
    ),
    spec(
        "xrpl_resourcesnapshot",
        &[
            C::same("hour", Time),
            C::same("currency_code", Text),
            C::same("in_character", Decimal(6)),
            C::same("in_account", Decimal(6)),
            C::same("in_spawned", Decimal(6)),
            C::same("in_reserve", Decimal(6)),
            C::same("in_sink", Decimal(6)),
            C::same("produced_1h", Decimal(6)),
            C::same("consumed_1h", Decimal(6)),
            C::same("traded_1h", Decimal(6)),
            C::same("exported_1h", Decimal(6)),
            C::same("imported_1h", Decimal(6)),
            C::same("amm_buy_price", Decimal(6)),
            C::same("amm_sell_price", Decimal(6)),
            C::same("spawn_budget", Int),
            C::same("spawn_quest_debt", Int),
            C::same("spawn_placed", Int),
            C::same("spawn_dropped", Int),
            C::same("created_at", Time),
        ],
        update(&["hour", "currency_code"]),
    ),
    spec(
        "xrpl_saturationsnapshot",
        &[
            C::same("hour", Time),
            C::same("item_key", Text),
            C::same("category", Text),
            C::same("active_players_7d", Int),
            C::same("eligible_players", Int),
            C::same("known_by", Int),
            C::same("unlearned_copies", Int),
            C::same("in_circulation", Int),
            C::same("saturation", Float),
            C::same("spawn_budget", Int),
            C::same("spawn_quest_debt", Int),
            C::same("spawn_placed", Int),
            C::same("spawn_dropped", Int),
        ],
        update(&["hour", "item_key", "category"]),
    ),
    spec(
        "xrpl_bulletinlisting",
        &[
            C::same("account_id", Ref("accounts_accountdb")),
            C::same("character_name", Text),
            C::same("listing_type", Text),
            C::same("message", Text),
            C::same("created_at", Time),
            C::same("expires_at", Time),
        ],
        None,
    ),
    spec(
        "xrpl_enchantmentslot",
        &[
            C::same("output_table", Text),
            C::same("mastery_level", Int),
            C::same("slot_number", Int),
            C::same("current_outcome", Json),
            C::same("rolled_at", Time),
        ],
        update(&["output_table", "mastery_level"]),
    ),
    spec(
        "xrpl_reconciliationfailure",
        &[
            C::same("operation", Text),
            C::same("wallet_address", Text),
            C::same("character_key", Text),
            C::same("currency_code", Text),
            C::same("amount", Decimal(6)),
            C::same("tx_hash", Text),
            C::same("error", Text),
            C::same("resolved", Bool),
            C::same("resolved_note", Text),
            C::same("created_at", Time),
            C::same("updated_at", Time),
        ],
        None,
    ),
];

/// Bring a row of one of [`TABLES`] into the form mnemo stores: transaction
/// hashes canonical. The chain log refuses anything but a hash (it is the
/// log's identity); a reconciliation failure keeps a note that is not one.
pub fn canonicalize(spec: &CopySpec, values: &mut [SqlValue]) -> Result<(), String> {
    if !spec.columns.iter().any(|c| c.target == "tx_hash") {
        return Ok(());
    }
    let at = spec.index_of("tx_hash");
    let required = spec.target == "xrpl_xrpltransactionlog";
    if let SqlValue::Text(Some(raw)) = &values[at] {
        match TxHash::parse("tx_hash", raw) {
            Ok(hash) => values[at] = SqlValue::Text(Some(hash.as_str().to_owned())),
            Err(e) if required => return Err(format!("{e}, not {raw:?}")),
            Err(_) => {}
        }
    }
    Ok(())
}

/// Open the imported books: the original logged no credits from `MINT` nor
/// debits to `BURN`, so after its balances are in, each currency's holders
/// hold other than the log's minted minus burned. One entry per such
/// currency, between `MINT` (or `BURN`) and `vault`, logs the difference as
/// minted (or burned), so the economy's conservation audit holds from here
/// on. Computed from the books as they stand: a second run adds nothing.
/// Returns (currency, amount logged, positive when minted).
pub async fn open_books(db: &Db, vault: &str) -> Result<Vec<(String, String)>, XrplError> {
    let books = audit(db).await?;
    let pool = db.pool(Alias::Xrpl);
    let mut tx = pool.begin().await?;
    let now = now_micros();
    let mut opened = Vec::new();
    for c in books.currencies.iter().filter(|c| !c.balanced) {
        let expected = stored_decimal(&c.minted)? - stored_decimal(&c.burned)?;
        let difference = stored_decimal(&c.held)? - expected;
        let (from, to) = if difference > Decimal::ZERO {
            (MINT, vault)
        } else {
            (vault, BURN)
        };
        let amount = difference.abs();
        log_fungible_transfer(
            &mut tx,
            &c.currency_code,
            from,
            to,
            amount,
            OPENING_BALANCE,
            now,
        )
        .await?;
        opened.push((c.currency_code.clone(), amount_text(difference)));
    }
    tx.commit().await?;
    Ok(opened)
}

/// The wallets holding RESERVE balances here: the vault the xrpl seed
/// migration was given (normally one).
pub async fn reserve_wallets(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    let rows: Vec<(String,)> = db
        .pool(Alias::Xrpl)
        .fetch_all(
            "SELECT DISTINCT wallet_address FROM xrpl_fungiblegamestate WHERE location = 'RESERVE' ORDER BY 1",
            Args::new(),
        )
        .await?;
    Ok(rows.into_iter().map(|(w,)| w).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "1bc9b8b5390d3310254b6f4645841ef75405700ef84416cfeb6aef4df84e0983";

    #[test]
    fn the_chain_log_refuses_what_is_not_a_hash_and_other_tables_keep_it() {
        let log = &TABLES[6];
        assert_eq!(log.target, "xrpl_xrpltransactionlog");
        let at = log.index_of("tx_hash");
        let mut values = vec![SqlValue::Text(None); log.columns.len()];
        values[at] = SqlValue::Text(Some(HASH.into()));
        canonicalize(log, &mut values).unwrap();
        assert_eq!(values[at], SqlValue::Text(Some(HASH.to_uppercase())));
        values[at] = SqlValue::Text(Some("not-a-hash".into()));
        assert!(
            canonicalize(log, &mut values)
                .unwrap_err()
                .starts_with("tx_hash")
        );

        let failures = &TABLES[13];
        let at = failures.index_of("tx_hash");
        let mut values = vec![SqlValue::Text(None); failures.columns.len()];
        values[at] = SqlValue::Text(Some("see ticket 12".into()));
        canonicalize(failures, &mut values).unwrap();
        assert_eq!(values[at], SqlValue::Text(Some("see ticket 12".into())));
    }
}

//! What the hourly snapshot measures, as the original's
//! `TelemetryService.take_snapshot`: players online and active over the last
//! hour, day and week (from play sessions); gold in circulation (CHARACTER +
//! ACCOUNT), in the reserve and in the sink; per currency the amount at each
//! location and what the transfer log shows produced, consumed, traded,
//! exported and imported from an hour before the bucket until the snapshot
//! is taken. A proxy token (a currency an NFT item type is priced in) counts
//! the NFTs of its item type instead of balances. AMM prices come from the
//! chain, which mnemo does not reach, so they are left empty.
//!
//! Sums are exact: rows are read as decimal text and added in Rust, because
//! SQLite would add its decimal text as floating point.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use super::snapshots::{EconomyFigures, ResourceFigures};
use super::{XrplError, amount_text, stored_decimal};
use crate::db::{Args, Tx};

/// Transfer types the original counts as production, consumption and trade.
const PRODUCED: [&str; 2] = ["craft_output", "pickup"];
const CONSUMED: [&str; 2] = ["craft_input", "sink"];
const TRADED: [&str; 2] = ["amm_buy", "amm_sell"];
const NFT_PRODUCED: [&str; 3] = ["craft_output", "pickup", "nft_amm_swap"];
const NFT_CONSUMED: [&str; 3] = ["craft_input", "sink", "nft_amm_swap"];
const NFT_TRADED: [&str; 3] = ["nft_amm_buy", "nft_amm_sell", "nft_amm_swap"];

/// The rows a snapshot is computed from, read in the snapshot's transaction.
pub(crate) struct Raw {
    pub players_online: i64,
    /// Distinct accounts with a session overlapping the last hour, day, week.
    pub unique_players: [i64; 3],
    /// Every currency code in catalogue order, and whether it is gold.
    pub currencies: Vec<(String, bool)>,
    /// (currency, location, balance text) of every balance row.
    pub balances: Vec<(String, String, String)>,
    /// (currency, transfer type, amount text) of the log rows in the window.
    pub window_logs: Vec<(String, String, String)>,
    /// (tracking token, location, NFTs) for item types priced by a proxy token.
    pub nft_counts: Vec<(String, String, i64)>,
}

/// Inside a transaction: read the [`Raw`] rows of the snapshot of `hour`
/// taken at `now`.
pub(crate) async fn read_raw(
    tx: &mut Tx,
    hour: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Raw, XrplError> {
    let (players_online,): (i64,) = tx
        .fetch_one(
            "SELECT COUNT(DISTINCT account_id) FROM xrpl_playersession WHERE ended_at IS NULL",
            Args::new(),
        )
        .await?;
    let mut unique_players = [0i64; 3];
    let windows = [Duration::hours(1), Duration::hours(24), Duration::days(7)];
    for (slot, window) in unique_players.iter_mut().zip(windows) {
        let mut args = Args::new();
        args.push(hour - window);
        args.push(now);
        let (n,): (i64,) = tx
            .fetch_one(
                "SELECT COUNT(DISTINCT account_id) FROM xrpl_playersession
                 WHERE (ended_at IS NULL OR ended_at >= $1) AND started_at <= $2",
                args,
            )
            .await?;
        *slot = n;
    }
    let currencies = tx
        .fetch_all(
            "SELECT currency_code, is_gold FROM xrpl_currencytype ORDER BY id",
            Args::new(),
        )
        .await?;
    let balances = tx
        .fetch_all(
            "SELECT currency_code, location, CAST(balance AS TEXT) FROM xrpl_fungiblegamestate",
            Args::new(),
        )
        .await?;
    let mut args = Args::new();
    args.push(hour - Duration::hours(1));
    args.push(now);
    let window_logs = tx
        .fetch_all(
            "SELECT currency_code, transfer_type, CAST(amount AS TEXT) FROM xrpl_fungibletransferlog
             WHERE timestamp >= $1 AND timestamp < $2",
            args,
        )
        .await?;
    let nft_counts = tx
        .fetch_all(
            "SELECT t.tracking_token, n.location, COUNT(*)
             FROM xrpl_nftgamestate n JOIN xrpl_nftitemtype t ON t.id = n.item_type_id
             WHERE t.tracking_token IS NOT NULL
             GROUP BY t.tracking_token, n.location",
            Args::new(),
        )
        .await?;
    Ok(Raw {
        players_online,
        unique_players,
        currencies,
        balances,
        window_logs,
        nft_counts,
    })
}

/// Sums keyed by (currency, location or transfer type).
#[derive(Default)]
struct Sums<'a>(HashMap<(&'a str, &'a str), Decimal>);

impl<'a> Sums<'a> {
    fn add(&mut self, code: &'a str, key: &'a str, text: &str) -> Result<(), XrplError> {
        let slot = self.0.entry((code, key)).or_default();
        *slot = slot
            .checked_add(stored_decimal(text)?)
            .ok_or_else(|| XrplError::Corrupt(format!("the {code} total overflows")))?;
        Ok(())
    }

    fn of(&self, code: &str, keys: &[&str]) -> Decimal {
        keys.iter()
            .filter_map(|k| self.0.get(&(code, *k)))
            .fold(Decimal::ZERO, |a, b| a.saturating_add(*b))
    }
}

/// A count as the 32-bit columns store it; beyond their range, their maximum.
fn count32(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Compute the figures of a snapshot from what [`read_raw`] read: the
/// economy's, and each currency's in catalogue order.
pub(crate) fn measure(
    raw: &Raw,
) -> Result<(EconomyFigures, Vec<(String, ResourceFigures)>), XrplError> {
    let mut held = Sums::default();
    for (code, location, text) in &raw.balances {
        held.add(code, location, text)?;
    }
    let mut moved = Sums::default();
    let mut moves: HashMap<&str, i64> = HashMap::new();
    for (code, kind, text) in &raw.window_logs {
        moved.add(code, kind, text)?;
        *moves.entry(kind.as_str()).or_default() += 1;
    }
    let mut nfts: HashMap<&str, HashMap<&str, i64>> = HashMap::new();
    for (token, location, n) in &raw.nft_counts {
        nfts.entry(token.as_str())
            .or_default()
            .insert(location.as_str(), *n);
    }
    let gold = raw
        .currencies
        .iter()
        .find(|(_, is_gold)| *is_gold)
        .map_or("", |(code, _)| code.as_str());
    let count_of = |kinds: &[&str]| count32(kinds.iter().filter_map(|k| moves.get(k)).sum());
    let economy = EconomyFigures {
        players_online: count32(raw.players_online),
        unique_players_1h: count32(raw.unique_players[0]),
        unique_players_24h: count32(raw.unique_players[1]),
        unique_players_7d: count32(raw.unique_players[2]),
        gold_circulation: amount_text(held.of(gold, &["CHARACTER", "ACCOUNT"])),
        gold_reserve: amount_text(held.of(gold, &["RESERVE"])),
        gold_sinks_1h: amount_text(held.of(gold, &["SINK"])),
        gold_spawned_1h: amount_text(moved.of(gold, &["pickup"])),
        amm_trades_1h: count_of(&TRADED),
        amm_volume_gold_1h: amount_text(moved.of(gold, &TRADED)),
        imports_1h: count_of(&["deposit_from_chain"]),
        exports_1h: count_of(&["withdraw_to_chain"]),
    };
    let resources = raw
        .currencies
        .iter()
        .map(|(code, _)| {
            let figures = match nfts.get(code.as_str()) {
                Some(counts) => {
                    let at =
                        |location| amount_text(Decimal::from(*counts.get(location).unwrap_or(&0)));
                    ResourceFigures {
                        in_character: at("CHARACTER"),
                        in_account: at("ACCOUNT"),
                        in_spawned: at("SPAWNED"),
                        in_reserve: at("RESERVE"),
                        in_sink: amount_text(Decimal::ZERO),
                        produced_1h: amount_text(moved.of(code, &NFT_PRODUCED)),
                        consumed_1h: amount_text(moved.of(code, &NFT_CONSUMED)),
                        traded_1h: amount_text(moved.of(code, &NFT_TRADED)),
                        exported_1h: amount_text(Decimal::ZERO),
                        imported_1h: amount_text(Decimal::ZERO),
                    }
                }
                None => ResourceFigures {
                    in_character: amount_text(held.of(code, &["CHARACTER"])),
                    in_account: amount_text(held.of(code, &["ACCOUNT"])),
                    in_spawned: amount_text(held.of(code, &["SPAWNED"])),
                    in_reserve: amount_text(held.of(code, &["RESERVE"])),
                    in_sink: amount_text(held.of(code, &["SINK"])),
                    produced_1h: amount_text(moved.of(code, &PRODUCED)),
                    consumed_1h: amount_text(moved.of(code, &CONSUMED)),
                    traded_1h: amount_text(moved.of(code, &TRADED)),
                    exported_1h: amount_text(moved.of(code, &["withdraw_to_chain"])),
                    imported_1h: amount_text(moved.of(code, &["deposit_from_chain"])),
                },
            };
            (code.clone(), figures)
        })
        .collect();
    Ok((economy, resources))
}

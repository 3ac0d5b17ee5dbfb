//! The XRPL mirror: currency and NFT catalogues, in-game fungible balances,
//! NFT state, chain deposits and withdrawals, economy snapshots.
//!
//! Rules kept from FullCircleMUD's `blockchain/xrpl/services/{fungible,nft}.py`:
//! every balance change runs in one transaction; a debit locks its row and
//! deletes it at zero (the `balance > 0` constraint); a credit upserts; a chain
//! deposit or withdrawal refuses a `tx_hash` already confirmed; every move
//! between two different wallets writes a transfer log row, moves inside one
//! wallet (the vault's RESERVE <-> SPAWNED, a player's bank/unbank) do not.
//!
//! Done better than the original: the blank NFT pool is taken in numeric token
//! order (the original ordered the ids as text, so '10' came before '9'), a
//! transfer locks its two rows in a fixed order (no deadlock between opposite
//! transfers), a replayed `tx_hash` racing the first is refused by the unique
//! index inside the same transaction, hashes are compared in one spelling,
//! credits and debits are logged (so [`audit`] can prove every unit held is
//! accounted for), and a write can carry an idempotency key recorded in its
//! own transaction ([`write_once`]).
//!
//! Layout: [`tx`] (the transaction every write runs in), [`holder`],
//! [`fungible`] (credit, debit, transfer), [`balances`] (reads), [`chain`],
//! [`chain_nft`],
//! [`nft`], [`nft_blanks`], [`catalog`], [`logs`], [`snapshots`], [`sessions`], [`audit`],
//! [`idempotency`].

mod audit;
mod balances;
mod catalog;
mod chain;
mod chain_nft;
mod error;
mod fungible;
mod holder;
mod idempotency;
pub mod import;
mod logs;
mod measure;
mod nft;
mod nft_blanks;
mod sessions;
mod snapshots;
mod tx;

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::db::{Alias, Args, Db, FromBothRows};
use crate::decimal;

pub use audit::{AuditReport, CurrencyAudit, audit};
pub use balances::{
    Balance, BalanceFilter, balance, balances, balances_by_character, balances_by_location,
    balances_by_wallet,
};
pub use catalog::{
    CurrencyType, ItemTypeFilter, ItemTypeRef, NftItemType, currency_type, currency_types,
    currency_types_page, nft_item_type, nft_item_types, nft_item_types_filtered,
};
pub use chain::{
    ChainMove, ChainReceipt, TransactionLog, deposit_from_chain, deposit_from_chain_in,
    transaction, withdraw_to_chain, withdraw_to_chain_in,
};
pub use chain_nft::{
    NftChainMove, NftChainReceipt, deposit_nft_from_chain, deposit_nft_from_chain_in,
    withdraw_nft_to_chain, withdraw_nft_to_chain_in,
};
pub use error::XrplError;
pub use fungible::{
    BalanceChange, ChangeReceipt, FungibleTransfer, TransferReceipt, credit, credit_in, debit,
    debit_in, transfer, transfer_in,
};
pub use holder::{BURN, Holder, MINT, ONCHAIN};
pub use idempotency::{
    IdempotencyKey, KEY_RETENTION_HOURS, Once, StoredResponse, purge_idempotency_keys, write_once,
};
pub use logs::{FungibleLog, LogFilter, NftLog, fungible_logs, nft_logs};
pub use nft::{
    NftFilter, NftReceipt, NftState, NftTransfer, get_nft, list_nfts, transfer_nft, transfer_nft_in,
};
pub use nft_blanks::{
    assign_blank, assign_blank_in, merge_metadata, merge_metadata_in, spawn_blank, spawn_blank_in,
};
pub use sessions::{
    PlayerSession, SessionFilter, SessionKey, end_open_sessions_in, end_session_in,
    player_sessions, start_session_in,
};
pub use snapshots::{
    EconomyFigures, EconomySnapshot, ResourceFigures, ResourceSnapshot, SnapshotFilter, Snapshots,
    economy_snapshots, resource_snapshots, take_snapshot, take_snapshot_in,
};
pub use tx::write;

/// Balances and amounts: NUMERIC(36,6).
pub(crate) const AMOUNT_PRECISION: u32 = 36;
pub(crate) const AMOUNT_SCALE: u32 = 6;

/// Where a fungible balance sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum FungibleLocation {
    /// The vault's stock, not in the game world.
    Reserve,
    /// The vault's currency placed in the world (mobs, chests, rooms).
    Spawned,
    /// A player's bank.
    Account,
    /// Carried by one character (`character_key` set).
    Character,
    /// Consumed (fees, crafting, dust).
    Sink,
}

impl FungibleLocation {
    pub const ALL: [FungibleLocation; 5] = [
        FungibleLocation::Reserve,
        FungibleLocation::Spawned,
        FungibleLocation::Account,
        FungibleLocation::Character,
        FungibleLocation::Sink,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FungibleLocation::Reserve => "RESERVE",
            FungibleLocation::Spawned => "SPAWNED",
            FungibleLocation::Account => "ACCOUNT",
            FungibleLocation::Character => "CHARACTER",
            FungibleLocation::Sink => "SINK",
        }
    }
}

impl fmt::Display for FungibleLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FungibleLocation {
    type Err = XrplError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| XrplError::invalid("location", format!("unknown location {s:?}")))
    }
}

/// Where an NFT sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum NftLocation {
    /// In the vault, blank or typed, not in the world.
    Reserve,
    /// In the game world, owned by the vault.
    Spawned,
    /// Listed at auction; the seller stays the owner.
    Auction,
    /// In a player's bank.
    Account,
    /// Carried by one character (`character_key` set).
    Character,
    /// Withdrawn to the player's XRPL wallet: no in-game owner.
    Onchain,
}

impl NftLocation {
    pub const ALL: [NftLocation; 6] = [
        NftLocation::Reserve,
        NftLocation::Spawned,
        NftLocation::Auction,
        NftLocation::Account,
        NftLocation::Character,
        NftLocation::Onchain,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NftLocation::Reserve => "RESERVE",
            NftLocation::Spawned => "SPAWNED",
            NftLocation::Auction => "AUCTION",
            NftLocation::Account => "ACCOUNT",
            NftLocation::Character => "CHARACTER",
            NftLocation::Onchain => "ONCHAIN",
        }
    }
}

impl fmt::Display for NftLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for NftLocation {
    type Err = XrplError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| XrplError::invalid("location", format!("unknown location {s:?}")))
    }
}

/// Most rows a listing returns per page.
pub const PAGE_MAX: i64 = 500;

pub(crate) fn check_page(limit: i64) -> Result<(), XrplError> {
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(XrplError::invalid(
            "limit",
            format!("must be between 1 and {PAGE_MAX}"),
        ));
    }
    Ok(())
}

/// A time range `since <= t < until` must not end before it starts.
pub(crate) fn check_range(
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
) -> Result<(), XrplError> {
    match (since, until) {
        (Some(since), Some(until)) if since > until => {
            Err(XrplError::invalid("until", "must not be before since"))
        }
        _ => Ok(()),
    }
}

/// A page of a listing in id order over a time range. `sql` takes `$1` the
/// id cursor, then one parameter per optional text filter in `filters`
/// (`NULL` matches all), then `since`, `until` and the limit.
pub(crate) async fn ranged_page<T: FromBothRows>(
    db: &Db,
    sql: &str,
    filters: &[Option<&str>],
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    after: i64,
    limit: i64,
) -> Result<Vec<T>, XrplError> {
    check_page(limit)?;
    check_range(since, until)?;
    let mut args = Args::new();
    args.push(after);
    for filter in filters {
        args.push(filter.map(str::to_owned));
    }
    args.push(since);
    args.push(until);
    args.push(limit);
    Ok(db.pool(Alias::Xrpl).fetch_all(sql, args).await?)
}

/// Whether `raw` is written as plain digits with an optional fraction
/// (`12`, `12.5`): no sign, exponent, `NaN`, separators or spaces, which a
/// decimal parser would otherwise accept or misread.
fn plain_decimal(raw: &str) -> bool {
    let (int, frac) = raw.split_once('.').unwrap_or((raw, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Most digits before the point of one amount (below 10^15). Balances and
/// sums are added exactly in 96-bit decimals: at six places a total can reach
/// 7.9 × 10^22, so about 79 million amounts of the largest size still sum
/// exactly (the seeded reserves are 5 × 10^5).
pub const AMOUNT_INTEGER_DIGITS: usize = 15;

fn parse_plain(field: &'static str, raw: &str) -> Result<Decimal, XrplError> {
    if !plain_decimal(raw) {
        return Err(XrplError::invalid(
            field,
            format!(
                "{raw:?} is not a plain decimal such as \"12.5\" (no sign, exponent or spaces)"
            ),
        ));
    }
    let integer = raw.split('.').next().unwrap_or(raw).trim_start_matches('0');
    if integer.len() > AMOUNT_INTEGER_DIGITS {
        return Err(XrplError::invalid(
            field,
            format!("{raw} is too large: amounts are below 10^{AMOUNT_INTEGER_DIGITS}"),
        ));
    }
    Ok(decimal::parse(field, raw, AMOUNT_PRECISION, AMOUNT_SCALE)?)
}

/// Parse a positive amount with at most six decimals.
pub(crate) fn parse_amount(field: &'static str, raw: &str) -> Result<Decimal, XrplError> {
    let value = parse_plain(field, raw)?;
    if value <= Decimal::ZERO {
        return Err(XrplError::invalid(
            field,
            format!("{raw} must be greater than 0"),
        ));
    }
    Ok(value)
}

/// The canonical text of an amount (six decimals).
pub(crate) fn amount_text(value: Decimal) -> String {
    decimal::to_text(value, AMOUNT_SCALE)
}

/// A decimal read back from the database (`CAST(col AS TEXT)`).
pub(crate) fn stored_decimal(text: &str) -> Result<Decimal, XrplError> {
    text.parse()
        .map_err(|_| XrplError::Corrupt(format!("decimal {text:?}")))
}

/// A required short text: not blank, at most `max` characters, no NUL
/// (Postgres text cannot hold one and SQLite's `length()` stops at it).
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), XrplError> {
    if value.trim().is_empty() {
        return Err(XrplError::invalid(field, "must not be empty"));
    }
    if value.contains('\0') {
        return Err(XrplError::invalid(field, "must not contain NUL characters"));
    }
    if value.chars().count() > max {
        return Err(XrplError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    Ok(())
}

/// Lengths of the columns the services write.
pub(crate) const WALLET_MAX: usize = 50;
pub(crate) const CURRENCY_MAX: usize = 40;
pub(crate) const CHARACTER_KEY_MAX: usize = 255;
pub(crate) const NFTOKEN_MAX: usize = 64;
pub(crate) const TRANSFER_TYPE_MAX: usize = 30;

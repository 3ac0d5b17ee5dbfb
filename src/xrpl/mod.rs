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
//! transfers), and a replayed `tx_hash` racing the first is refused by the
//! unique index inside the same transaction.

mod catalog;
mod chain;
mod error;
mod fungible;
pub mod import;
mod nft;
mod snapshots;

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::decimal;

pub use catalog::{
    CurrencyType, ItemTypeRef, NftItemType, currency_type, currency_types, nft_item_type,
    nft_item_types,
};
pub use chain::{
    ChainMove, ChainReceipt, NftChainReceipt, TransactionLog, deposit_from_chain,
    deposit_nft_from_chain, transaction, withdraw_nft_to_chain, withdraw_to_chain,
};
pub use error::XrplError;
pub use fungible::{
    Balance, FungibleTransfer, Holder, TransferReceipt, balance, balances_by_character,
    balances_by_location, balances_by_wallet, credit, debit, transfer,
};
pub use nft::{
    NftReceipt, NftState, NftTransfer, assign_blank, get_nft, list_nfts, merge_metadata,
    spawn_blank, transfer_nft,
};
pub use snapshots::{
    EconomySnapshot, NewEconomySnapshot, economy_snapshots, record_economy_snapshot,
};

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

/// Parse a positive amount with at most six decimals.
pub(crate) fn parse_amount(field: &'static str, raw: &str) -> Result<Decimal, XrplError> {
    let value = decimal::parse(field, raw, AMOUNT_PRECISION, AMOUNT_SCALE)?;
    if value <= Decimal::ZERO {
        return Err(XrplError::invalid(
            field,
            format!("{raw} must be greater than 0"),
        ));
    }
    Ok(value)
}

/// Parse a non-negative total with at most six decimals.
pub(crate) fn parse_total(field: &'static str, raw: &str) -> Result<Decimal, XrplError> {
    let value = decimal::parse(field, raw, AMOUNT_PRECISION, AMOUNT_SCALE)?;
    if value.is_sign_negative() && !value.is_zero() {
        return Err(XrplError::invalid(
            field,
            format!("{raw} must not be negative"),
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

/// A required short text: not blank, at most `max` characters.
pub(crate) fn check_text(field: &'static str, value: &str, max: usize) -> Result<(), XrplError> {
    if value.trim().is_empty() {
        return Err(XrplError::invalid(field, "must not be empty"));
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
pub(crate) const TX_HASH_MAX: usize = 64;
pub(crate) const TRANSFER_TYPE_MAX: usize = 30;

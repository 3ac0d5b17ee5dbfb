//! Who holds a fungible balance, and the wallet names the logs reserve for
//! the outside world.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{CHARACTER_KEY_MAX, FungibleLocation, WALLET_MAX, XrplError, check_text};

/// The log's name for the outside of the in-game books: a credit is a
/// transfer from `MINT`, a debit a transfer to `BURN`, and an NFT withdrawn to
/// the chain goes to `ONCHAIN` (the original's own name). No holder may use
/// them, so a log row with one of them always means what it says.
pub const MINT: &str = "MINT";
pub const BURN: &str = "BURN";
pub const ONCHAIN: &str = "ONCHAIN";
const RESERVED_WALLETS: [&str; 3] = [MINT, BURN, ONCHAIN];

/// A wallet address a caller gave: not blank, at most 50 characters (the
/// column), and none of the log's reserved names.
pub(crate) fn check_wallet(field: &'static str, wallet: &str) -> Result<(), XrplError> {
    check_text(field, wallet, WALLET_MAX)?;
    if RESERVED_WALLETS.contains(&wallet) {
        return Err(XrplError::invalid(
            field,
            format!("{wallet:?} is reserved for the transfer log"),
        ));
    }
    Ok(())
}

/// Who holds a balance: a wallet at a location, and for CHARACTER the character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Holder {
    pub wallet_address: String,
    pub location: FungibleLocation,
    /// Set exactly when `location` is CHARACTER.
    pub character_key: Option<String>,
}

impl Holder {
    /// A holder at a location other than CHARACTER.
    pub fn new(wallet_address: impl Into<String>, location: FungibleLocation) -> Self {
        Self {
            wallet_address: wallet_address.into(),
            location,
            character_key: None,
        }
    }

    /// A character's purse.
    pub fn character(wallet_address: impl Into<String>, character_key: impl Into<String>) -> Self {
        Self {
            wallet_address: wallet_address.into(),
            location: FungibleLocation::Character,
            character_key: Some(character_key.into()),
        }
    }

    /// The character key as matched in SQL (`COALESCE(character_key, '')`).
    pub(crate) fn key_or_empty(&self) -> &str {
        self.character_key.as_deref().unwrap_or("")
    }

    pub(crate) fn check(&self, fields: HolderFields) -> Result<(), XrplError> {
        check_wallet(fields.wallet, &self.wallet_address)?;
        match (&self.location, &self.character_key) {
            (FungibleLocation::Character, Some(key)) => {
                check_text(fields.character_key, key, CHARACTER_KEY_MAX)
            }
            (FungibleLocation::Character, None) => Err(XrplError::invalid(
                fields.character_key,
                "a CHARACTER balance needs a character key",
            )),
            (_, Some(_)) => Err(XrplError::invalid(
                fields.character_key,
                format!(
                    "only CHARACTER balances have a character key, not {}",
                    self.location
                ),
            )),
            (_, None) => Ok(()),
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.wallet_address, self.location)?;
        match &self.character_key {
            Some(key) => write!(f, " {key:?}"),
            None => Ok(()),
        }
    }
}

/// Field names a holder's errors report: the holder itself (an overdraft
/// names it), its wallet and its character key.
#[derive(Clone, Copy)]
pub(crate) struct HolderFields {
    pub holder: &'static str,
    pub wallet: &'static str,
    pub character_key: &'static str,
}

/// A holder given as top-level fields (credit, debit).
pub(crate) const HOLDER: HolderFields = HolderFields {
    holder: "wallet_address",
    wallet: "wallet_address",
    character_key: "character_key",
};
pub(crate) const FROM: HolderFields = HolderFields {
    holder: "from",
    wallet: "from.wallet_address",
    character_key: "from.character_key",
};
pub(crate) const TO: HolderFields = HolderFields {
    holder: "to",
    wallet: "to.wallet_address",
    character_key: "to.character_key",
};

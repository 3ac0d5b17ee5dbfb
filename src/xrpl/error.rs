//! The one error type of the xrpl repository.

use crate::decimal::DecimalError;
use crate::tx_hash::TxHashError;

/// Why an xrpl operation was refused or failed. Refusals leave the database
/// unchanged: every write runs in one transaction that rolls back on error.
#[derive(Debug, thiserror::Error)]
pub enum XrplError {
    /// A caller-supplied value is not valid; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("unknown currency {0:?}")]
    UnknownCurrency(String),
    /// `field` is how the caller named it: `item_type_id` or `item_type_name`.
    #[error("unknown NFT item type {name}")]
    UnknownItemType { field: &'static str, name: String },
    /// A debit larger than the balance (a missing row has balance 0); `field`
    /// names the holder in the request.
    #[error(
        "insufficient {currency_code} held by {holder}: available {available}, requested {requested}"
    )]
    InsufficientFunds {
        currency_code: String,
        holder: String,
        field: &'static str,
        available: String,
        requested: String,
    },
    /// The chain transaction was already processed (a confirmed log row exists).
    #[error("transaction {tx_hash} was already processed")]
    AlreadyProcessed { tx_hash: String },
    #[error("no NFT {0:?}")]
    NftNotFound(String),
    /// The token is not in the location the move starts from.
    #[error("NFT {nftoken_id} is in {actual}, not {expected}")]
    NftWrongState {
        nftoken_id: String,
        expected: String,
        actual: String,
    },
    /// The token is not held by the wallet (or character) the move names in `field`.
    #[error("NFT {nftoken_id} is not held by {holder}")]
    NftWrongHolder {
        nftoken_id: String,
        holder: String,
        field: &'static str,
    },
    /// No such move exists between the two locations.
    #[error("an NFT cannot move from {from} to {to}{reason}")]
    InvalidTransition {
        from: String,
        to: String,
        reason: &'static str,
    },
    #[error("no blank NFT tokens left in the reserve pool")]
    NoBlankTokens,
    #[error("no open session of account {account_id} as {character_key:?}")]
    NoOpenSession {
        account_id: i64,
        character_key: String,
    },
    /// The idempotency key was first used with another request.
    #[error(
        "idempotency key {key:?} was already used for a different request; use a new key for a new request"
    )]
    IdempotencyKeyReused { key: String },
    /// A stored value that cannot be read back (e.g. a decimal out of range).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
    #[error("cannot encode the response: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl From<DecimalError> for XrplError {
    fn from(e: DecimalError) -> Self {
        XrplError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl From<TxHashError> for XrplError {
    fn from(e: TxHashError) -> Self {
        XrplError::Invalid {
            field: e.field,
            message: e.message,
        }
    }
}

impl XrplError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        XrplError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// Whether this is the caller's request being refused (a definite answer
    /// that repeats when the request is repeated) rather than the service
    /// failing (which a retry may get past). Refusals are the answers an
    /// idempotency key keeps; failures are never kept.
    pub fn is_refusal(&self) -> bool {
        !matches!(
            self,
            XrplError::Corrupt(_) | XrplError::Encode(_) | XrplError::Database(_)
        )
    }
}

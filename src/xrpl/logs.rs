//! The transfer logs, read: fungible moves (`xrpl_fungibletransferlog`) and
//! NFT moves (`xrpl_nfttransferlog`), filtered by wallet (either side),
//! currency or token and a time range, in id order with an id cursor.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{XrplError, ranged_page};
use crate::db::Db;

/// One fungible log row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct FungibleLog {
    pub id: i64,
    pub currency_code: String,
    /// `MINT` for a credit.
    pub from_wallet: String,
    /// `BURN` for a debit.
    pub to_wallet: String,
    /// Decimal text with six places.
    pub amount: String,
    pub transfer_type: String,
    pub timestamp: DateTime<Utc>,
}

/// One NFT log row.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct NftLog {
    pub id: i64,
    pub nftoken_id: String,
    pub from_wallet: String,
    /// `ONCHAIN` for a withdrawal to the chain.
    pub to_wallet: String,
    pub transfer_type: String,
    pub timestamp: DateTime<Utc>,
}

/// Which log rows to read; `None` matches everything. The time range is
/// half-open: `since <= timestamp < until`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// Rows with this wallet on either side.
    pub wallet_address: Option<String>,
    /// Fungible log only.
    pub currency_code: Option<String>,
    /// NFT log only.
    pub nftoken_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// A page of fungible log rows matching `filter`: ids above `after`, at most `limit`.
pub async fn fungible_logs(
    db: &Db,
    filter: &LogFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<FungibleLog>, XrplError> {
    ranged_page(
        db,
        "SELECT id, currency_code, from_wallet, to_wallet, CAST(amount AS TEXT) AS amount,
                transfer_type, timestamp
         FROM xrpl_fungibletransferlog
         WHERE id > $1
           AND ($2 IS NULL OR from_wallet = $2 OR to_wallet = $2)
           AND ($3 IS NULL OR currency_code = $3)
           AND ($4 IS NULL OR timestamp >= $4)
           AND ($5 IS NULL OR timestamp < $5)
         ORDER BY id LIMIT $6",
        &[
            filter.wallet_address.as_deref(),
            filter.currency_code.as_deref(),
        ],
        filter.since,
        filter.until,
        after,
        limit,
    )
    .await
}

/// A page of NFT log rows matching `filter`: ids above `after`, at most `limit`.
pub async fn nft_logs(
    db: &Db,
    filter: &LogFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<NftLog>, XrplError> {
    ranged_page(
        db,
        "SELECT id, nftoken_id, from_wallet, to_wallet, transfer_type, timestamp
         FROM xrpl_nfttransferlog
         WHERE id > $1
           AND ($2 IS NULL OR from_wallet = $2 OR to_wallet = $2)
           AND ($3 IS NULL OR nftoken_id = $3)
           AND ($4 IS NULL OR timestamp >= $4)
           AND ($5 IS NULL OR timestamp < $5)
         ORDER BY id LIMIT $6",
        &[
            filter.wallet_address.as_deref(),
            filter.nftoken_id.as_deref(),
        ],
        filter.since,
        filter.until,
        after,
        limit,
    )
    .await
}

//! Read-only catalogues seeded by the migrations: currency types and NFT item types.

use serde::Serialize;
use serde_json::Value;

use super::XrplError;
use crate::db::{Alias, Db};
use crate::with_pool;

/// An XRPL issued currency: gold, a resource, or a proxy token for NFT pricing.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct CurrencyType {
    pub id: i64,
    pub currency_code: String,
    pub resource_id: Option<i32>,
    pub name: String,
    pub unit: String,
    pub description: String,
    /// Decimal text with three places, e.g. `0.010`.
    pub weight_per_unit_kg: String,
    pub is_gold: bool,
}

/// An NFT item template.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct NftItemType {
    pub id: i64,
    pub name: String,
    pub typeclass: String,
    pub prototype_key: Option<String>,
    pub description: String,
    /// Metadata a token of this type starts with.
    #[sqlx(json)]
    pub default_metadata: Value,
    /// The proxy currency that prices this item type, if any.
    pub tracking_token: Option<String>,
}

/// How a caller names an item type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemTypeRef<'a> {
    Id(i64),
    Name(&'a str),
}

impl std::fmt::Display for ItemTypeRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ItemTypeRef::Id(id) => write!(f, "#{id}"),
            ItemTypeRef::Name(name) => write!(f, "{name:?}"),
        }
    }
}

const CURRENCY_SELECT: &str = "SELECT id, currency_code, resource_id, name, unit, description,
        CAST(weight_per_unit_kg AS TEXT) AS weight_per_unit_kg, is_gold
     FROM xrpl_currencytype";

pub(crate) const ITEM_TYPE_SELECT: &str =
    "SELECT id, name, typeclass, prototype_key, description, default_metadata, tracking_token
     FROM xrpl_nftitemtype";

/// Every currency type, by id (seed order).
pub async fn currency_types(db: &Db) -> Result<Vec<CurrencyType>, XrplError> {
    let rows = with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as::<_, CurrencyType>(sqlx::AssertSqlSafe(format!(
            "{CURRENCY_SELECT} ORDER BY id"
        )))
        .fetch_all(p)
        .await?
    });
    Ok(rows)
}

/// The currency type with this code.
pub async fn currency_type(db: &Db, code: &str) -> Result<Option<CurrencyType>, XrplError> {
    let row = with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as::<_, CurrencyType>(sqlx::AssertSqlSafe(format!(
            "{CURRENCY_SELECT} WHERE currency_code = $1"
        )))
        .bind(code)
        .fetch_optional(p)
        .await?
    });
    Ok(row)
}

/// Most this many item types per page.
pub const ITEM_TYPE_PAGE_MAX: i64 = 500;

/// A page of item types by id: those with an id above `after_id` (all when
/// `None`), at most `limit`. Pass the last id of a page to get the next.
pub async fn nft_item_types(
    db: &Db,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<NftItemType>, XrplError> {
    if !(1..=ITEM_TYPE_PAGE_MAX).contains(&limit) {
        return Err(XrplError::invalid(
            "limit",
            format!("must be between 1 and {ITEM_TYPE_PAGE_MAX}"),
        ));
    }
    let rows = with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as::<_, NftItemType>(sqlx::AssertSqlSafe(format!(
            "{ITEM_TYPE_SELECT} WHERE id > $1 ORDER BY id LIMIT $2"
        )))
        .bind(after_id.unwrap_or(0))
        .bind(limit)
        .fetch_all(p)
        .await?
    });
    Ok(rows)
}

/// The item type with this id or name.
pub async fn nft_item_type(
    db: &Db,
    item_type: ItemTypeRef<'_>,
) -> Result<Option<NftItemType>, XrplError> {
    let row = with_pool!(db.pool(Alias::Xrpl), |p| {
        let query = match item_type {
            ItemTypeRef::Id(id) => sqlx::query_as::<_, NftItemType>(sqlx::AssertSqlSafe(format!(
                "{ITEM_TYPE_SELECT} WHERE id = $1"
            )))
            .bind(id),
            ItemTypeRef::Name(name) => sqlx::query_as::<_, NftItemType>(sqlx::AssertSqlSafe(
                format!("{ITEM_TYPE_SELECT} WHERE name = $1"),
            ))
            .bind(name),
        };
        query.fetch_optional(p).await?
    });
    Ok(row)
}

//! Read-only catalogues seeded by the migrations: currency types and NFT item types.

use serde::Serialize;
use serde_json::Value;

use super::{XrplError, check_page};
use crate::db::{Alias, Args, Db};

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

impl ItemTypeRef<'_> {
    /// The request field that names an item type this way.
    pub fn field(&self) -> &'static str {
        match self {
            ItemTypeRef::Id(_) => "item_type_id",
            ItemTypeRef::Name(_) => "item_type_name",
        }
    }

    /// The `WHERE` condition on `xrpl_nftitemtype` that finds this item type,
    /// its value bound in `args`.
    pub(crate) fn condition(&self, args: &mut Args) -> String {
        match *self {
            ItemTypeRef::Id(id) => format!("id = {}", args.push(id)),
            ItemTypeRef::Name(name) => format!("name = {}", args.push(name)),
        }
    }
}

/// Which item types to list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemTypeFilter {
    /// The exact typeclass, e.g. `typeclasses.items.weapons.dagger_nft_item.DaggerNFTItem`.
    pub typeclass: Option<String>,
    /// A prefix of the name, compared case-sensitively (`Scroll of`).
    pub name_prefix: Option<String>,
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
    let sql = format!("{CURRENCY_SELECT} ORDER BY id");
    Ok(db.pool(Alias::Xrpl).fetch_all(&sql, Args::new()).await?)
}

/// The currency type with this code.
pub async fn currency_type(db: &Db, code: &str) -> Result<Option<CurrencyType>, XrplError> {
    let mut args = Args::new();
    args.push(code);
    let sql = format!("{CURRENCY_SELECT} WHERE currency_code = $1");
    Ok(db.pool(Alias::Xrpl).fetch_optional(&sql, args).await?)
}

/// A page of currency types by id: ids above `after`, at most `limit`.
pub async fn currency_types_page(
    db: &Db,
    after: i64,
    limit: i64,
) -> Result<Vec<CurrencyType>, XrplError> {
    check_page(limit)?;
    let mut args = Args::new();
    args.push(after);
    args.push(limit);
    let sql = format!("{CURRENCY_SELECT} WHERE id > $1 ORDER BY id LIMIT $2");
    Ok(db.pool(Alias::Xrpl).fetch_all(&sql, args).await?)
}

/// A page of item types by id: those with an id above `after_id` (all when
/// `None`), at most `limit`. Pass the last id of a page to get the next.
pub async fn nft_item_types(
    db: &Db,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<NftItemType>, XrplError> {
    nft_item_types_filtered(db, &ItemTypeFilter::default(), after_id.unwrap_or(0), limit).await
}

/// A page of the item types matching `filter`, by id: ids above `after`, at most `limit`.
pub async fn nft_item_types_filtered(
    db: &Db,
    filter: &ItemTypeFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<NftItemType>, XrplError> {
    check_page(limit)?;
    let mut args = Args::new();
    args.push(after);
    args.push(filter.typeclass.clone());
    args.push(filter.name_prefix.clone());
    args.push(limit);
    let sql = format!(
        "{ITEM_TYPE_SELECT} WHERE id > $1
           AND ($2 IS NULL OR typeclass = $2)
           AND ($3 IS NULL OR substr(name, 1, length($3)) = $3)
         ORDER BY id LIMIT $4"
    );
    Ok(db.pool(Alias::Xrpl).fetch_all(&sql, args).await?)
}

/// The item type with this id or name.
pub async fn nft_item_type(
    db: &Db,
    item_type: ItemTypeRef<'_>,
) -> Result<Option<NftItemType>, XrplError> {
    let mut args = Args::new();
    let sql = format!(
        "{ITEM_TYPE_SELECT} WHERE {}",
        item_type.condition(&mut args)
    );
    Ok(db.pool(Alias::Xrpl).fetch_optional(&sql, args).await?)
}

//! The blank NFT pool and token metadata: giving the next blank token an
//! item type (and spawning it), and merging into a token's metadata.

use serde_json::{Map, Value};

use super::nft::{lock_nft, read_nft};
use super::tx::write;
use super::{ItemTypeRef, NFTOKEN_MAX, NftLocation, NftState, XrplError, check_text};
use crate::db::{Args, Db, Tx, now_micros};

/// Apply `patch` to `base`: a `null` value deletes the key, any other value
/// replaces it.
fn merge(base: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            base.remove(key);
        } else {
            base.insert(key.clone(), value.clone());
        }
    }
}

fn as_object(value: Value, what: &str) -> Result<Map<String, Value>, XrplError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(XrplError::Corrupt(format!(
            "{what} is not a JSON object: {other}"
        ))),
    }
}

/// Give the first blank token of the pool (RESERVE, no item type, lowest
/// numeric token id) an item type and metadata: the type's default metadata
/// with `metadata` merged over it (`null` deletes a key). The token stays in
/// RESERVE, as the original's `assign_item_type`.
pub async fn assign_blank_in(
    tx: &mut Tx,
    item_type: ItemTypeRef<'_>,
    metadata: &Map<String, Value>,
) -> Result<NftState, XrplError> {
    take_blank(tx, item_type, metadata, NftLocation::Reserve).await
}

/// [`assign_blank_in`] and the spawn (RESERVE -> SPAWNED, still owned by the
/// vault, not logged) in one step.
pub async fn spawn_blank_in(
    tx: &mut Tx,
    item_type: ItemTypeRef<'_>,
    metadata: &Map<String, Value>,
) -> Result<NftState, XrplError> {
    take_blank(tx, item_type, metadata, NftLocation::Spawned).await
}

/// [`assign_blank_in`] in a transaction of its own.
pub async fn assign_blank(
    db: &Db,
    item_type: ItemTypeRef<'_>,
    metadata: &Map<String, Value>,
) -> Result<NftState, XrplError> {
    write(db, async |tx| {
        assign_blank_in(tx, item_type, metadata).await
    })
    .await
}

/// [`spawn_blank_in`] in a transaction of its own.
pub async fn spawn_blank(
    db: &Db,
    item_type: ItemTypeRef<'_>,
    metadata: &Map<String, Value>,
) -> Result<NftState, XrplError> {
    write(db, async |tx| spawn_blank_in(tx, item_type, metadata).await).await
}

type ItemTypeRow = (i64, sqlx::types::Json<Value>);

async fn take_blank(
    tx: &mut Tx,
    item_type: ItemTypeRef<'_>,
    metadata: &Map<String, Value>,
    location: NftLocation,
) -> Result<NftState, XrplError> {
    let now = now_micros();
    let mut args = Args::new();
    let sql = format!(
        "SELECT id, default_metadata FROM xrpl_nftitemtype WHERE {}",
        item_type.condition(&mut args)
    );
    let found: Option<ItemTypeRow> = tx.fetch_optional(&sql, args).await?;
    let Some((type_id, defaults)) = found else {
        return Err(XrplError::UnknownItemType {
            field: item_type.field(),
            name: item_type.to_string(),
        });
    };
    let mut merged = as_object(defaults.0, "default_metadata")?;
    merge(&mut merged, metadata);
    // Numeric order of the pool's ids: shorter digit strings first, then
    // text order, which for decimal ids without leading zeros is numeric
    // ('9' < '10') and, unlike a cast, never fails on a real 64-hex id.
    let pool_head = tx.dialect().pick(
                "SELECT id FROM xrpl_nftgamestate WHERE location = 'RESERVE' AND item_type_id IS NULL
                 ORDER BY length(nftoken_id), nftoken_id LIMIT 1",
                "SELECT id FROM xrpl_nftgamestate WHERE location = 'RESERVE' AND item_type_id IS NULL
                 ORDER BY length(nftoken_id), nftoken_id COLLATE \"C\" LIMIT 1 FOR UPDATE SKIP LOCKED",
    );
    let blank: Option<(i64,)> = tx.fetch_optional(pool_head, Args::new()).await?;
    let Some((id,)) = blank else {
        return Err(XrplError::NoBlankTokens);
    };
    let mut args = Args::new();
    args.push(type_id);
    args.push(Value::Object(merged));
    args.push(location.as_str());
    args.push(now);
    args.push(id);
    tx.execute(
        "UPDATE xrpl_nftgamestate SET item_type_id = $1, metadata = $2, location = $3, updated_at = $4
         WHERE id = $5",
        args,
    )
    .await?;
    read_nft(tx, id).await
}

/// Merge `patch` into the token's metadata (last write wins; a `null` value
/// deletes the key), under the row lock. Returns the token.
pub async fn merge_metadata_in(
    tx: &mut Tx,
    nftoken_id: &str,
    patch: &Map<String, Value>,
) -> Result<NftState, XrplError> {
    check_text("nftoken_id", nftoken_id, NFTOKEN_MAX)?;
    let now = now_micros();
    let locked = lock_nft(tx, nftoken_id).await?;
    if !patch.is_empty() {
        let mut merged = as_object(locked.metadata, "metadata")?;
        merge(&mut merged, patch);
        let mut args = Args::new();
        args.push(Value::Object(merged));
        args.push(now);
        args.push(locked.id);
        tx.execute(
            "UPDATE xrpl_nftgamestate SET metadata = $1, updated_at = $2 WHERE id = $3",
            args,
        )
        .await?;
    }
    read_nft(tx, locked.id).await
}

/// [`merge_metadata_in`] in a transaction of its own.
pub async fn merge_metadata(
    db: &Db,
    nftoken_id: &str,
    patch: &Map<String, Value>,
) -> Result<NftState, XrplError> {
    write(db, async |tx| {
        merge_metadata_in(tx, nftoken_id, patch).await
    })
    .await
}

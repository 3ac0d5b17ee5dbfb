//! NFT state (`xrpl_nftgamestate`): moves between locations with the
//! original's state rules and transfer log, and reads. The blank pool and
//! metadata merges are in [`nft_blanks`](super::nft_blanks).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::holder::check_wallet;
use super::tx::write;
use super::{
    CHARACTER_KEY_MAX, NFTOKEN_MAX, NftLocation, ONCHAIN, TRANSFER_TYPE_MAX, XrplError, check_page,
    check_text,
};
use crate::db::{Alias, Args, Db, Tx, now_micros};

/// One NFT as the game sees it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct NftState {
    pub id: i64,
    pub nftoken_id: String,
    pub uri_id: Option<i32>,
    pub taxon: i32,
    /// The holding wallet; `None` exactly when ONCHAIN.
    pub owner_in_game: Option<String>,
    pub location: String,
    /// Set exactly when CHARACTER.
    pub character_key: Option<String>,
    /// `None` for a blank token.
    pub item_type_id: Option<i64>,
    pub item_type_name: Option<String>,
    #[sqlx(json)]
    pub metadata: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Which tokens to list; `None` matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NftFilter {
    pub owner: Option<String>,
    pub location: Option<NftLocation>,
    pub character_key: Option<String>,
    pub item_type_id: Option<i64>,
}

/// A move of one token between locations (chain moves excepted: see
/// [`deposit_nft_from_chain`](super::deposit_nft_from_chain) and
/// [`withdraw_nft_to_chain`](super::withdraw_nft_to_chain)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftTransfer {
    pub nftoken_id: String,
    /// Where the token must be now.
    pub from: NftLocation,
    /// When set, the token must be owned by this wallet.
    pub from_wallet: Option<String>,
    /// When set, the token must be carried by this character.
    pub from_character_key: Option<String>,
    pub to: NftLocation,
    /// The new owner: required for every destination but AUCTION, where the
    /// seller stays the owner. For RESERVE and SPAWNED it is the vault.
    pub to_wallet: Option<String>,
    /// Required exactly when `to` is CHARACTER.
    pub to_character_key: Option<String>,
    /// What the log calls this move, e.g. `pickup`, `trade`, `craft_input`.
    pub transfer_type: String,
}

/// What a move left behind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NftReceipt {
    pub nft: NftState,
    /// The `xrpl_nfttransferlog` row, absent when the owner did not change.
    pub transfer_log_id: Option<i64>,
}

/// Which locations a token may move between, as the original's services do:
/// spawn/despawn, pickup/drop, bank/unbank, trade, craft input/output,
/// auction list/cancel/complete, reserve <-> account.
pub(crate) fn allowed(from: NftLocation, to: NftLocation) -> bool {
    use NftLocation::*;
    matches!(
        (from, to),
        (Reserve, Spawned)
            | (Reserve, Character)
            | (Reserve, Account)
            | (Spawned, Reserve)
            | (Spawned, Character)
            | (Character, Spawned)
            | (Character, Account)
            | (Character, Character)
            | (Character, Reserve)
            | (Character, Auction)
            | (Account, Character)
            | (Account, Reserve)
            | (Auction, Character)
    )
}

/// Every column of an [`NftState`]; append a `WHERE` on `n`.
pub(crate) const NFT_SELECT: &str =
    "SELECT n.id, n.nftoken_id, n.uri_id, n.taxon, n.owner_in_game, n.location, n.character_key,
            n.item_type_id, t.name AS item_type_name, n.metadata, n.created_at, n.updated_at
     FROM xrpl_nftgamestate n LEFT JOIN xrpl_nftitemtype t ON t.id = n.item_type_id";

/// The columns a move needs, read under the row lock.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LockedNft {
    pub id: i64,
    pub location: String,
    pub owner_in_game: Option<String>,
    pub character_key: Option<String>,
    #[sqlx(json)]
    pub metadata: Value,
}

/// Inside a write transaction: lock the token's row until the commit (see
/// [`Dialect::for_update`](crate::db::Dialect::for_update));
/// [`XrplError::NftNotFound`] when there is none.
pub(crate) async fn lock_nft(tx: &mut Tx, nftoken_id: &str) -> Result<LockedNft, XrplError> {
    let mut args = Args::new();
    let sql = format!(
        "SELECT id, location, owner_in_game, character_key, metadata
         FROM xrpl_nftgamestate WHERE nftoken_id = {}{}",
        args.push(nftoken_id),
        tx.dialect().for_update()
    );
    tx.fetch_optional(&sql, args)
        .await?
        .ok_or_else(|| XrplError::NftNotFound(nftoken_id.to_owned()))
}

/// The full [`NftState`] of the row with this id.
pub(crate) async fn read_nft(tx: &mut Tx, id: i64) -> Result<NftState, XrplError> {
    let mut args = Args::new();
    args.push(id);
    let sql = format!("{NFT_SELECT} WHERE n.id = $1");
    Ok(tx.fetch_one(&sql, args).await?)
}

/// Inside a transaction: write one `xrpl_nfttransferlog` row. Returns its id.
pub(crate) async fn log_nft_transfer(
    tx: &mut Tx,
    nftoken_id: &str,
    from: &str,
    to: &str,
    kind: &str,
    now: DateTime<Utc>,
) -> Result<i64, XrplError> {
    let mut args = Args::new();
    args.push(nftoken_id);
    args.push(from);
    args.push(to);
    args.push(kind);
    args.push(now);
    let (id,): (i64,) = tx
        .fetch_one(
            "INSERT INTO xrpl_nfttransferlog (nftoken_id, from_wallet, to_wallet, transfer_type, timestamp)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            args,
        )
        .await?;
    Ok(id)
}

fn check_transfer(t: &NftTransfer) -> Result<(), XrplError> {
    check_text("nftoken_id", &t.nftoken_id, NFTOKEN_MAX)?;
    check_text("transfer_type", &t.transfer_type, TRANSFER_TYPE_MAX)?;
    if t.from == NftLocation::Onchain || t.to == NftLocation::Onchain {
        return Err(XrplError::InvalidTransition {
            from: t.from.to_string(),
            to: t.to.to_string(),
            reason: " here: chain moves are deposit_nft_from_chain and withdraw_nft_to_chain",
        });
    }
    if !allowed(t.from, t.to) {
        return Err(XrplError::InvalidTransition {
            from: t.from.to_string(),
            to: t.to.to_string(),
            reason: "",
        });
    }
    if let Some(w) = &t.from_wallet {
        check_wallet("from_wallet", w)?;
    }
    match (&t.from, &t.from_character_key) {
        (NftLocation::Character, Some(k)) => {
            check_text("from_character_key", k, CHARACTER_KEY_MAX)?
        }
        (_, Some(_)) => {
            return Err(XrplError::invalid(
                "from_character_key",
                "only a CHARACTER holds a token by character key",
            ));
        }
        (_, None) => {}
    }
    match (&t.to, &t.to_wallet) {
        (NftLocation::Auction, Some(_)) => {
            return Err(XrplError::invalid(
                "to_wallet",
                "a token at AUCTION stays owned by its seller",
            ));
        }
        (NftLocation::Auction, None) => {}
        (_, Some(w)) => check_wallet("to_wallet", w)?,
        (to, None) => {
            return Err(XrplError::invalid(
                "to_wallet",
                format!("a token in {to} needs an owner wallet"),
            ));
        }
    }
    match (&t.to, &t.to_character_key) {
        (NftLocation::Character, Some(k)) => check_text("to_character_key", k, CHARACTER_KEY_MAX),
        (NftLocation::Character, None) => Err(XrplError::invalid(
            "to_character_key",
            "a token in CHARACTER needs a character key",
        )),
        (to, Some(_)) => Err(XrplError::invalid(
            "to_character_key",
            format!("only CHARACTER has a character key, not {to}"),
        )),
        (_, None) => Ok(()),
    }
}

/// Move a token between locations, under its row lock: the token must be in
/// `from` (and with the given holder, when named); CHARACTER takes a
/// character key and every other location clears it; a token entering
/// RESERVE loses its identity (item type and metadata), as the original's
/// despawn, craft_input and account_to_reserve do; a change of owner writes
/// the transfer log row.
pub async fn transfer_nft_in(tx: &mut Tx, t: &NftTransfer) -> Result<NftReceipt, XrplError> {
    check_transfer(t)?;
    let now = now_micros();
    let locked = lock_nft(tx, &t.nftoken_id).await?;
    if locked.location != t.from.as_str() {
        return Err(XrplError::NftWrongState {
            nftoken_id: t.nftoken_id.clone(),
            expected: t.from.to_string(),
            actual: locked.location,
        });
    }
    if let Some(w) = &t.from_wallet
        && locked.owner_in_game.as_deref() != Some(w.as_str())
    {
        return Err(XrplError::NftWrongHolder {
            nftoken_id: t.nftoken_id.clone(),
            holder: w.clone(),
            field: "from_wallet",
        });
    }
    if let Some(k) = &t.from_character_key
        && locked.character_key.as_deref() != Some(k.as_str())
    {
        return Err(XrplError::NftWrongHolder {
            nftoken_id: t.nftoken_id.clone(),
            holder: format!("character {k}"),
            field: "from_character_key",
        });
    }
    let old_owner = locked.owner_in_game.clone();
    let new_owner = t.to_wallet.clone().or_else(|| old_owner.clone());
    if t.from == t.to && new_owner == old_owner && t.to_character_key == locked.character_key {
        return Err(XrplError::invalid("to", "the token is already there"));
    }
    let sql = if t.to == NftLocation::Reserve {
        "UPDATE xrpl_nftgamestate SET location = $1, owner_in_game = $2, character_key = $3, updated_at = $4,
                item_type_id = NULL, metadata = '{}'
         WHERE id = $5"
    } else {
        "UPDATE xrpl_nftgamestate SET location = $1, owner_in_game = $2, character_key = $3, updated_at = $4
         WHERE id = $5"
    };
    let mut args = Args::new();
    args.push(t.to.as_str());
    args.push(new_owner.clone());
    args.push(t.to_character_key.clone());
    args.push(now);
    args.push(locked.id);
    tx.execute(sql, args).await?;
    let transfer_log_id = if new_owner != old_owner {
        let from = old_owner.as_deref().unwrap_or(ONCHAIN);
        let to = new_owner.as_deref().unwrap_or(ONCHAIN);
        Some(log_nft_transfer(tx, &t.nftoken_id, from, to, &t.transfer_type, now).await?)
    } else {
        None
    };
    let nft = read_nft(tx, locked.id).await?;
    Ok(NftReceipt {
        nft,
        transfer_log_id,
    })
}

/// [`transfer_nft_in`] in a transaction of its own.
pub async fn transfer_nft(db: &Db, t: &NftTransfer) -> Result<NftReceipt, XrplError> {
    write(db, async |tx| transfer_nft_in(tx, t).await).await
}

/// The token with this id.
pub async fn get_nft(db: &Db, nftoken_id: &str) -> Result<Option<NftState>, XrplError> {
    let mut args = Args::new();
    args.push(nftoken_id);
    let sql = format!("{NFT_SELECT} WHERE n.nftoken_id = $1");
    Ok(db.pool(Alias::Xrpl).fetch_optional(&sql, args).await?)
}

/// A page of tokens matching `filter`, by id: ids above `after`, at most `limit`.
pub async fn list_nfts(
    db: &Db,
    filter: &NftFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<NftState>, XrplError> {
    check_page(limit)?;
    let mut args = Args::new();
    args.push(after);
    args.push(filter.owner.clone());
    args.push(filter.location.map(|l| l.as_str().to_owned()));
    args.push(filter.character_key.clone());
    args.push(filter.item_type_id);
    args.push(limit);
    let sql = format!(
        "{NFT_SELECT}
         WHERE n.id > $1
           AND ($2 IS NULL OR n.owner_in_game = $2)
           AND ($3 IS NULL OR n.location = $3)
           AND ($4 IS NULL OR n.character_key = $4)
           AND ($5 IS NULL OR n.item_type_id = $5)
         ORDER BY n.id LIMIT $6"
    );
    Ok(db.pool(Alias::Xrpl).fetch_all(&sql, args).await?)
}

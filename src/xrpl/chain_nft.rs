//! NFT chain moves: a token deposited from the chain into a player's
//! ACCOUNT, or withdrawn from an ACCOUNT to the chain, with its transfer log
//! row and the confirmed transaction log row in one transaction; a `tx_hash`
//! already confirmed, in any spelling, is refused and nothing moves.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::chain::{Confirmed, TransactionLog, claim_tx, confirm_tx};
use super::holder::check_wallet;
use super::nft::{LockedNft, lock_nft, log_nft_transfer, read_nft};
use super::tx::write;
use super::{NFTOKEN_MAX, NftLocation, NftState, ONCHAIN, XrplError, check_text};
use crate::db::{Args, Db, Tx, now_micros};
use crate::tx_hash::TxHash;

/// An NFT deposit from the chain (`wallet_address` and `vault_address` set)
/// or withdrawal to it (only `nftoken_id` and `tx_hash`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NftChainMove {
    pub nftoken_id: String,
    /// The depositing player's wallet: the token lands in its ACCOUNT.
    pub wallet_address: String,
    /// The vault, which the transfer log records as the sender.
    pub vault_address: String,
    pub tx_hash: String,
}

/// What an NFT chain move left behind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NftChainReceipt {
    pub transaction: TransactionLog,
    pub transfer_log_id: i64,
    pub nft: NftState,
}

/// A player deposited an NFT on chain: the token must be ONCHAIN; it moves to
/// the player's ACCOUNT, with a `deposit_from_chain` transfer (from the vault)
/// and a confirmed `nft_import` transaction.
pub async fn deposit_nft_from_chain_in(
    tx: &mut Tx,
    m: &NftChainMove,
) -> Result<NftChainReceipt, XrplError> {
    let (nftoken_id, wallet_address, vault_address) =
        (&*m.nftoken_id, &*m.wallet_address, &*m.vault_address);
    check_text("nftoken_id", nftoken_id, NFTOKEN_MAX)?;
    check_wallet("wallet_address", wallet_address)?;
    check_wallet("vault_address", vault_address)?;
    let tx_hash = TxHash::parse("tx_hash", &m.tx_hash)?;
    let tx_hash = tx_hash.as_str();
    if wallet_address == vault_address {
        return Err(XrplError::invalid(
            "wallet_address",
            "must differ from the vault address",
        ));
    }
    let now = now_micros();
    let confirmed = Confirmed {
        tx_hash,
        tx_type: "nft_import",
        currency_code: None,
        nftoken_id: Some(nftoken_id),
        amount: None,
        wallet_address,
    };
    let (existing, locked) = claim_token(tx, tx_hash, nftoken_id, NftLocation::Onchain).await?;
    let landing = Landing {
        nftoken_id,
        location: NftLocation::Account,
        owner: Some(wallet_address),
        log_from: vault_address,
        log_to: wallet_address,
        transfer_type: "deposit_from_chain",
    };
    land(tx, existing, locked.id, &landing, &confirmed, now).await
}

/// A player withdraws an NFT to their XRPL wallet: the token must be in an
/// ACCOUNT; it moves ONCHAIN with no in-game owner, with a
/// `withdraw_to_chain` transfer (to `ONCHAIN`) and a confirmed `nft_export`
/// transaction in the former owner's name.
pub async fn withdraw_nft_to_chain_in(
    tx: &mut Tx,
    nftoken_id: &str,
    tx_hash: &str,
) -> Result<NftChainReceipt, XrplError> {
    check_text("nftoken_id", nftoken_id, NFTOKEN_MAX)?;
    let tx_hash = TxHash::parse("tx_hash", tx_hash)?;
    let tx_hash = tx_hash.as_str();
    let now = now_micros();
    let (existing, locked) = claim_token(tx, tx_hash, nftoken_id, NftLocation::Account).await?;
    let Some(owner) = locked.owner_in_game else {
        return Err(XrplError::Corrupt(format!(
            "NFT {nftoken_id} is in ACCOUNT without an owner"
        )));
    };
    let confirmed = Confirmed {
        tx_hash,
        tx_type: "nft_export",
        currency_code: None,
        nftoken_id: Some(nftoken_id),
        amount: None,
        wallet_address: &owner,
    };
    let landing = Landing {
        nftoken_id,
        location: NftLocation::Onchain,
        owner: None,
        log_from: &owner,
        log_to: ONCHAIN,
        transfer_type: "withdraw_to_chain",
    };
    land(tx, existing, locked.id, &landing, &confirmed, now).await
}

/// Inside a write transaction: claim `tx_hash` (see [`claim_tx`]) and lock
/// the token, which must be in `from`. Returns the earlier row of the hash,
/// if any, and the locked token.
async fn claim_token(
    tx: &mut Tx,
    tx_hash: &str,
    nftoken_id: &str,
    from: NftLocation,
) -> Result<(Option<i64>, LockedNft), XrplError> {
    let existing = claim_tx(tx, tx_hash).await?;
    let locked = lock_nft(tx, nftoken_id).await?;
    if locked.location != from.as_str() {
        return Err(XrplError::NftWrongState {
            nftoken_id: nftoken_id.to_owned(),
            expected: from.to_string(),
            actual: locked.location,
        });
    }
    Ok((existing, locked))
}

/// Where a chain move puts a token, and how its transfer log row reads.
struct Landing<'a> {
    nftoken_id: &'a str,
    location: NftLocation,
    /// `None` on the chain: no in-game owner.
    owner: Option<&'a str>,
    log_from: &'a str,
    log_to: &'a str,
    transfer_type: &'static str,
}

/// Inside the transaction that claimed the hash and locked the token (row
/// id `token`): move it as `landing` says, log the transfer, confirm the
/// transaction, and read the token back.
async fn land(
    tx: &mut Tx,
    existing: Option<i64>,
    token: i64,
    landing: &Landing<'_>,
    confirmed: &Confirmed<'_>,
    now: DateTime<Utc>,
) -> Result<NftChainReceipt, XrplError> {
    let mut args = Args::new();
    args.push(landing.location.as_str());
    args.push(landing.owner.map(str::to_owned));
    args.push(now);
    args.push(token);
    tx.execute(
        "UPDATE xrpl_nftgamestate SET location = $1, owner_in_game = $2, updated_at = $3 WHERE id = $4",
        args,
    )
    .await?;
    let Landing {
        nftoken_id,
        log_from,
        log_to,
        transfer_type,
        ..
    } = *landing;
    let transfer_log_id =
        log_nft_transfer(tx, nftoken_id, log_from, log_to, transfer_type, now).await?;
    let transaction = confirm_tx(tx, existing, confirmed, now).await?;
    let nft = read_nft(tx, token).await?;
    Ok(NftChainReceipt {
        transaction,
        transfer_log_id,
        nft,
    })
}

/// [`deposit_nft_from_chain_in`] in a transaction of its own.
pub async fn deposit_nft_from_chain(
    db: &Db,
    nftoken_id: &str,
    wallet_address: &str,
    vault_address: &str,
    tx_hash: &str,
) -> Result<NftChainReceipt, XrplError> {
    let m = NftChainMove {
        nftoken_id: nftoken_id.to_owned(),
        wallet_address: wallet_address.to_owned(),
        vault_address: vault_address.to_owned(),
        tx_hash: tx_hash.to_owned(),
    };
    write(db, async |tx| deposit_nft_from_chain_in(tx, &m).await).await
}

/// [`withdraw_nft_to_chain_in`] in a transaction of its own.
pub async fn withdraw_nft_to_chain(
    db: &Db,
    nftoken_id: &str,
    tx_hash: &str,
) -> Result<NftChainReceipt, XrplError> {
    write(db, async |tx| {
        withdraw_nft_to_chain_in(tx, nftoken_id, tx_hash).await
    })
    .await
}

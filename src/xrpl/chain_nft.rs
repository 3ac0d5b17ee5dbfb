//! NFT chain moves: a token deposited from the chain into a player's
//! ACCOUNT, or withdrawn from an ACCOUNT to the chain, with its transfer log
//! row and the confirmed transaction log row in one transaction; a `tx_hash`
//! already confirmed, in any spelling, is refused and nothing moves.

use serde::{Deserialize, Serialize};

use super::chain::{Confirmed, TransactionLog, claim_tx, confirm_tx, tx_columns};
use super::holder::check_wallet;
use super::nft::{lock_nft, log_nft_transfer, read_nft};
use super::tx::{XrplTx, with_tx, write};
use super::{NFTOKEN_MAX, NftLocation, NftState, ONCHAIN, XrplError, check_text};
use crate::db::{Db, is_unique_violation, now_micros};
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
    tx: &mut XrplTx,
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
    let receipt = with_tx!(tx, |p, conn| {
        let existing = claim_tx!(p, conn, tx_hash);
        let locked = lock_nft!(p, conn, nftoken_id);
        if locked.location != NftLocation::Onchain.as_str() {
            return Err(XrplError::NftWrongState {
                nftoken_id: nftoken_id.to_owned(),
                expected: NftLocation::Onchain.to_string(),
                actual: locked.location,
            });
        }
        sqlx::query(
            "UPDATE xrpl_nftgamestate SET location = 'ACCOUNT', owner_in_game = $1, updated_at = $2 WHERE id = $3",
        )
        .bind(wallet_address)
        .bind(now)
        .bind(locked.id)
        .execute(&mut *conn)
        .await?;
        let transfer_log_id = log_nft_transfer!(
            conn,
            nftoken_id,
            vault_address,
            wallet_address,
            "deposit_from_chain",
            now
        );
        let transaction = confirm_tx!(p, conn, existing, &confirmed, now);
        let nft = read_nft!(conn, locked.id);
        NftChainReceipt {
            transaction,
            transfer_log_id,
            nft,
        }
    });
    Ok(receipt)
}

/// A player withdraws an NFT to their XRPL wallet: the token must be in an
/// ACCOUNT; it moves ONCHAIN with no in-game owner, with a
/// `withdraw_to_chain` transfer (to `ONCHAIN`) and a confirmed `nft_export`
/// transaction in the former owner's name.
pub async fn withdraw_nft_to_chain_in(
    tx: &mut XrplTx,
    nftoken_id: &str,
    tx_hash: &str,
) -> Result<NftChainReceipt, XrplError> {
    check_text("nftoken_id", nftoken_id, NFTOKEN_MAX)?;
    let tx_hash = TxHash::parse("tx_hash", tx_hash)?;
    let tx_hash = tx_hash.as_str();
    let now = now_micros();
    let receipt = with_tx!(tx, |p, conn| {
        let existing = claim_tx!(p, conn, tx_hash);
        let locked = lock_nft!(p, conn, nftoken_id);
        if locked.location != NftLocation::Account.as_str() {
            return Err(XrplError::NftWrongState {
                nftoken_id: nftoken_id.to_owned(),
                expected: NftLocation::Account.to_string(),
                actual: locked.location,
            });
        }
        let Some(owner) = locked.owner_in_game.clone() else {
            return Err(XrplError::Corrupt(format!(
                "NFT {nftoken_id} is in ACCOUNT without an owner"
            )));
        };
        sqlx::query(
            "UPDATE xrpl_nftgamestate SET location = 'ONCHAIN', owner_in_game = NULL, updated_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(locked.id)
        .execute(&mut *conn)
        .await?;
        let transfer_log_id = log_nft_transfer!(
            conn,
            nftoken_id,
            owner.as_str(),
            ONCHAIN,
            "withdraw_to_chain",
            now
        );
        let confirmed = Confirmed {
            tx_hash,
            tx_type: "nft_export",
            currency_code: None,
            nftoken_id: Some(nftoken_id),
            amount: None,
            wallet_address: &owner,
        };
        let transaction = confirm_tx!(p, conn, existing, &confirmed, now);
        let nft = read_nft!(conn, locked.id);
        NftChainReceipt {
            transaction,
            transfer_log_id,
            nft,
        }
    });
    Ok(receipt)
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

//! The transaction every economy write runs in.
//!
//! Every economy write is an `*_in` function over an open [`Tx`] on the xrpl
//! database, so that callers can put more than one thing in the same
//! transaction: the public functions run one operation in a transaction of
//! its own ([`write`]), and the idempotency layer runs an operation together
//! with the record of its key and response ([`write_once`](super::write_once)),
//! so a retried request can never apply twice or lose its answer.
//!
//! The statements are ordinary functions over `&mut Tx` with [`Args`](crate::db::Args);
//! where the backends' SQL differs, [`Dialect`](crate::db::Dialect) says how
//! (`for_update`, `numeric`, `pick`).

use super::XrplError;
use crate::db::{Alias, Db, Tx};

/// Begin a write transaction on the xrpl database (on SQLite it holds this
/// process's turn to write to the file).
pub(crate) async fn begin(db: &Db) -> Result<Tx, sqlx::Error> {
    db.pool(Alias::Xrpl).begin().await
}

/// Run `op` in a write transaction of its own: committed when it succeeds,
/// rolled back (nothing written) when it fails.
pub async fn write<T>(
    db: &Db,
    op: impl AsyncFnOnce(&mut Tx) -> Result<T, XrplError>,
) -> Result<T, XrplError> {
    let mut tx = begin(db).await?;
    let out = op(&mut tx).await?;
    tx.commit().await?;
    Ok(out)
}

//! Idempotency keys (`xrpl_idempotencykey`): a write retried with the same key
//! is answered with the first answer instead of being applied again.
//!
//! The key's row, the operation and the answer commit in one transaction,
//! which is what makes this exact: there is no moment at which the operation
//! is applied but its answer not yet recorded (a crash then would let a retry
//! apply it twice), or the answer recorded for an operation that rolled back.
//!
//! 1. The key is claimed first: its row is inserted (`ON CONFLICT DO
//!    NOTHING`). A concurrent request with the same key waits there, on the
//!    unique index (Postgres) or on the write gate (SQLite), until the first
//!    commits; it then finds the row and returns its answer, or, when the
//!    first rolled back, claims the key itself.
//! 2. The operation runs after a savepoint. A refusal (an overdraft, a
//!    replayed hash, a 4xx) rolls back to it, so the refusal is kept as the
//!    answer and nothing else; a failure (the database) rolls everything
//!    back, key included, and is never kept: a retry may get past it.
//! 3. The answer (status and body) is written on the key's row, and all commits.
//!
//! A key belongs to the token that used it and is kept for
//! [`KEY_RETENTION_HOURS`]; after that it is forgotten and may be reused. The
//! same key with a different request (another body, path or method, told
//! apart by a fingerprint the caller computes) is refused.

use chrono::{DateTime, Duration, Utc};

use super::XrplError;
use super::tx::begin;
use crate::db::{Alias, Args, Db, Tx, now_micros};

/// How long a key is kept: a game server's retries end within minutes, and
/// the common promise of payment APIs (Stripe's) is 24 hours.
pub const KEY_RETENTION_HOURS: i64 = 24;
/// Longest key accepted (the column): room for a UUID with a prefix.
pub const KEY_MAX: usize = 255;
/// How an error names the key.
pub const KEY_FIELD: &str = "Idempotency-Key";

/// A key as a request presented it, with what identifies the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    owner: i64,
    key: String,
    fingerprint: String,
}

impl IdempotencyKey {
    /// `owner` is the API token's id; `fingerprint` identifies the request
    /// (method, path and body), so reusing a key for another request is caught.
    /// A key is 1 to 255 visible ASCII characters.
    pub fn new(owner: i64, key: &str, fingerprint: String) -> Result<Self, XrplError> {
        let visible = key.bytes().all(|b| b.is_ascii_graphic());
        if key.is_empty() || key.len() > KEY_MAX || !visible {
            return Err(XrplError::invalid(
                KEY_FIELD,
                format!("must be 1 to {KEY_MAX} visible ASCII characters (a UUID is ideal)"),
            ));
        }
        Ok(Self {
            owner,
            key: key.to_owned(),
            fingerprint,
        })
    }
}

/// An answer as kept: its HTTP status and JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// How a write was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Once {
    /// The operation ran now (applied, or refused with nothing changed).
    Fresh(StoredResponse),
    /// The key was used before for this very request: its first answer.
    Replayed(StoredResponse),
}

type KeyRow = (String, Option<i32>, Option<String>);

/// The savepoint an operation runs after, so that a refusal rolls back to
/// it and keeps the claimed key. Operations never nest: one name is enough.
const OPERATION: &str = "economy_operation";

impl IdempotencyKey {
    /// `$1` the owner, `$2` the key: how the key's row is found.
    fn args(&self) -> Args {
        let mut args = Args::new();
        args.push(self.owner);
        args.push(self.key.as_str());
        args
    }
}

/// Claim the key inside `tx`: `None` when it is ours to use now, the first
/// answer when the same request already ran.
async fn claim(tx: &mut Tx, key: &IdempotencyKey) -> Result<Option<StoredResponse>, XrplError> {
    let now = now_micros();
    let mut args = key.args();
    args.push(now - Duration::hours(KEY_RETENTION_HOURS));
    tx.execute(
        "DELETE FROM xrpl_idempotencykey
         WHERE token_id = $1 AND idempotency_key = $2 AND created_at < $3",
        args,
    )
    .await?;
    let mut args = key.args();
    args.push(key.fingerprint.as_str());
    args.push(now);
    let claimed = tx
        .execute(
            "INSERT INTO xrpl_idempotencykey (token_id, idempotency_key, fingerprint, created_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            args,
        )
        .await?
        == 1;
    let row: Option<KeyRow> = if claimed {
        None
    } else {
        tx.fetch_optional(
            "SELECT fingerprint, response_status, response_body FROM xrpl_idempotencykey
             WHERE token_id = $1 AND idempotency_key = $2",
            key.args(),
        )
        .await?
    };
    match row {
        None => Ok(None),
        Some((fingerprint, _, _)) if fingerprint != key.fingerprint => {
            Err(XrplError::IdempotencyKeyReused {
                key: key.key.clone(),
            })
        }
        Some((_, Some(status), Some(body))) => Ok(Some(StoredResponse {
            status: u16::try_from(status)
                .map_err(|_| XrplError::Corrupt(format!("stored status {status}")))?,
            body,
        })),
        // Rows are written with their answer in the transaction that claims
        // them, so a committed row without one was not written by mnemo.
        Some(_) => Err(XrplError::Corrupt(format!(
            "idempotency key {:?} has no stored answer",
            key.key
        ))),
    }
}

async fn keep(tx: &mut Tx, key: &IdempotencyKey, answer: &StoredResponse) -> Result<(), XrplError> {
    let mut args = key.args();
    args.push(i32::from(answer.status));
    args.push(answer.body.as_str());
    tx.execute(
        "UPDATE xrpl_idempotencykey SET response_status = $3, response_body = $4
         WHERE token_id = $1 AND idempotency_key = $2",
        args,
    )
    .await?;
    Ok(())
}

/// Run `op` at most once per key and answer with `render`: in one
/// transaction, claim the key (or return its first answer), run the
/// operation, keep its answer. `render` turns the outcome into the answer;
/// it sees refusals too (they are answers), never failures (returned as
/// `Err`, nothing kept). Without a key the operation simply runs.
pub async fn write_once<T>(
    db: &Db,
    key: Option<&IdempotencyKey>,
    op: impl AsyncFnOnce(&mut Tx) -> Result<T, XrplError>,
    render: impl FnOnce(Result<T, XrplError>) -> Result<StoredResponse, serde_json::Error>,
) -> Result<Once, XrplError> {
    let mut tx = begin(db).await?;
    if let Some(key) = key {
        if let Some(first) = claim(&mut tx, key).await? {
            return Ok(Once::Replayed(first));
        }
        tx.savepoint(OPERATION).await?;
    }
    let outcome = match op(&mut tx).await {
        Err(e) if !e.is_refusal() => return Err(e),
        outcome => outcome,
    };
    if key.is_some() {
        if outcome.is_ok() {
            tx.release_savepoint(OPERATION).await?;
        } else {
            tx.rollback_to_savepoint(OPERATION).await?;
        }
    }
    let refused = outcome.is_err();
    let answer = render(outcome)?;
    match key {
        Some(key) => keep(&mut tx, key, &answer).await?,
        // A refusal without a key has nothing to keep: let it roll back.
        None if refused => return Ok(Once::Fresh(answer)),
        None => {}
    }
    tx.commit().await?;
    Ok(Once::Fresh(answer))
}

/// Forget keys older than [`KEY_RETENTION_HOURS`] at `now`. Returns how many.
pub async fn purge_idempotency_keys(db: &Db, now: DateTime<Utc>) -> Result<u64, XrplError> {
    let expired = now - Duration::hours(KEY_RETENTION_HOURS);
    let mut args = Args::new();
    args.push(expired);
    Ok(db
        .pool(Alias::Xrpl)
        .execute(
            "DELETE FROM xrpl_idempotencykey WHERE created_at < $1",
            args,
        )
        .await?)
}

//! Memories that expire, and the game world's clock on a memory.
//!
//! Any stored memory may carry `expires_at` (RFC 3339) or `ttl_seconds`, on the
//! wall clock (the service has no game clock of its own). From that instant it
//! is left out of every read at once: the reads add [`unexpired`] to their
//! conditions, which pgvector and the SQL reads evaluate in the database and
//! the in-memory engine against the expiry time it keeps per row. The
//! housekeeping job then deletes expired rows ([`MemoryStore::purge_expired`]),
//! recording each in the forgotten log with the reason `expired`.
//!
//! `game_time` is the game world's time when the memory was made; searches
//! given `game_now` measure a memory's age on that clock (`search::Clock`).

use chrono::{DateTime, Utc};

use super::error::MemoryError;
use super::filter::{Cond, Filter};
use super::forgotten::Reason;
use super::kind::MemoryKind;
use super::store::MemoryStore;
use crate::db::{Alias, Args, SqlValue, now_micros};

/// Longest `ttl_seconds` accepted: ten years.
pub const MAX_TTL_SECONDS: i64 = 10 * 365 * 24 * 3600;

/// Rows one purge transaction deletes at most: a busy world's backlog is
/// worked off in short write transactions that never hold SQLite's write lock
/// for long (about 10 ms for 500 rows with their change-log and forgotten-log
/// entries).
pub const PURGE_BATCH: i64 = 500;

/// An RFC 3339 time given as text, its error naming `field`.
pub(crate) fn parse_time(
    field: &'static str,
    value: Option<&str>,
) -> Result<Option<DateTime<Utc>>, MemoryError> {
    value
        .map(|v| {
            DateTime::parse_from_rfc3339(v.trim())
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| MemoryError::invalid(field, format!("must be an RFC 3339 time ({e})")))
        })
        .transpose()
}

/// What every kind's input carries beside its own fields: when it expires and
/// the game's clock. Checked once, turned into the row's values.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Lifecycle<'a> {
    pub expires_at: Option<&'a str>,
    pub ttl_seconds: Option<i64>,
    pub game_time: Option<&'a str>,
}

impl Lifecycle<'_> {
    /// `expires_at` and `game_time` as column values; `now` is the write's time.
    pub fn values(&self, now: DateTime<Utc>) -> Result<Vec<(&'static str, SqlValue)>, MemoryError> {
        let expires_at = match (parse_time("expires_at", self.expires_at)?, self.ttl_seconds) {
            (Some(_), Some(_)) => {
                return Err(MemoryError::invalid(
                    "ttl_seconds",
                    "give expires_at or ttl_seconds, not both",
                ));
            }
            (Some(at), None) if at <= now => {
                return Err(MemoryError::invalid("expires_at", "must be in the future"));
            }
            (Some(at), None) => Some(at),
            (None, Some(ttl)) if !(1..=MAX_TTL_SECONDS).contains(&ttl) => {
                return Err(MemoryError::invalid(
                    "ttl_seconds",
                    format!("must be between 1 and {MAX_TTL_SECONDS}"),
                ));
            }
            (None, Some(ttl)) => Some(now + chrono::Duration::seconds(ttl)),
            (None, None) => None,
        };
        let game_time = parse_time("game_time", self.game_time)?;
        Ok(vec![
            ("expires_at", expires_at.into()),
            ("game_time", game_time.into()),
        ])
    }
}

/// The condition every read adds: not expired at `now`.
pub(crate) fn unexpired(now: DateTime<Utc>) -> Cond {
    Cond::Unexpired(now.into())
}

/// `filter` with the expiry condition at the current time.
pub(crate) fn live(filter: &Filter) -> Filter {
    filter.clone().and(unexpired(now_micros()))
}

impl MemoryStore {
    /// Delete the rows of every kind that expired, each recorded in the
    /// forgotten log with the reason `expired`, in transactions of at most
    /// [`PURGE_BATCH`] rows. Returns how many went.
    pub async fn purge_expired(&self) -> Result<u64, MemoryError> {
        let mut total = 0;
        for kind in MemoryKind::ALL {
            loop {
                let pool = self.db.pool(Alias::AiMemory);
                let mut args = Args::new();
                let now = args.push(now_micros());
                let sql = format!(
                    "id IN (SELECT id FROM {} WHERE expires_at IS NOT NULL AND expires_at <= {now}
                     ORDER BY expires_at LIMIT {PURGE_BATCH})",
                    kind.table()
                );
                let mut tx = pool.begin().await?;
                let gone = self
                    .forget_rows(&mut tx, kind, &sql, args, Reason::Expired)
                    .await?;
                tx.commit().await?;
                self.forgets.add(Reason::Expired, gone);
                total += gone as u64;
                if gone < PURGE_BATCH as usize {
                    break;
                }
            }
        }
        if total > 0 {
            self.engine.sync().await?;
        }
        Ok(total)
    }
}

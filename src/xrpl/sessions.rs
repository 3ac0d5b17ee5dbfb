//! Play sessions (`xrpl_playersession`), kept as the original's telemetry
//! keeps them: a session starts when a character is puppeted, the newest open
//! session of that account and character ends when it is unpuppeted, and at
//! server boot every session still open is ended (the server crashed; when
//! they really ended is unknown). The hourly snapshot counts them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::tx::{XrplTx, with_tx};
use super::{XrplError, check_page, check_range, check_text};
use crate::db::{Alias, Db, now_micros};
use crate::with_pool;

/// Longest character key a session records (the column).
pub const SESSION_CHARACTER_KEY_MAX: usize = 80;

/// One play session.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PlayerSession {
    pub id: i64,
    pub account_id: i32,
    pub character_key: String,
    pub started_at: DateTime<Utc>,
    /// `None` while the session is open.
    pub ended_at: Option<DateTime<Utc>>,
}

/// Who is playing: the game's account id and the puppeted character.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionKey {
    pub account_id: i64,
    pub character_key: String,
}

/// Which sessions to list; `None` matches everything. `open` selects open
/// (`true`) or ended (`false`) sessions; the time range applies to `started_at`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    pub account_id: Option<i64>,
    pub open: Option<bool>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl SessionKey {
    /// The account id as stored (the column is a 32-bit integer, as the original's).
    fn check(&self) -> Result<i32, XrplError> {
        check_text(
            "character_key",
            &self.character_key,
            SESSION_CHARACTER_KEY_MAX,
        )?;
        i32::try_from(self.account_id)
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| {
                XrplError::invalid("account_id", format!("must be between 1 and {}", i32::MAX))
            })
    }
}

const COLUMNS: &str = "id, account_id, character_key, started_at, ended_at";

/// Record the start of a session now.
pub async fn start_session_in(
    tx: &mut XrplTx,
    key: &SessionKey,
) -> Result<PlayerSession, XrplError> {
    let account_id = key.check()?;
    let session = with_tx!(tx, |p, conn| {
        sqlx::query_as::<_, PlayerSession>(sqlx::AssertSqlSafe(format!(
            "INSERT INTO xrpl_playersession (account_id, character_key, started_at)
             VALUES ($1, $2, $3) RETURNING {COLUMNS}"
        )))
        .bind(account_id)
        .bind(&key.character_key)
        .bind(now_micros())
        .fetch_one(&mut *conn)
        .await?
    });
    Ok(session)
}

/// End the newest open session of this account and character now;
/// [`XrplError::NoOpenSession`] when it has none.
pub async fn end_session_in(tx: &mut XrplTx, key: &SessionKey) -> Result<PlayerSession, XrplError> {
    let account_id = key.check()?;
    let ended = with_tx!(tx, |p, conn| {
        sqlx::query_as::<_, PlayerSession>(sqlx::AssertSqlSafe(format!(
            "UPDATE xrpl_playersession SET ended_at = $1
             WHERE id = (SELECT id FROM xrpl_playersession
                         WHERE account_id = $2 AND character_key = $3 AND ended_at IS NULL
                         ORDER BY started_at DESC, id DESC LIMIT 1)
               AND ended_at IS NULL
             RETURNING {COLUMNS}"
        )))
        .bind(now_micros())
        .bind(account_id)
        .bind(&key.character_key)
        .fetch_optional(&mut *conn)
        .await?
    });
    ended.ok_or_else(|| XrplError::NoOpenSession {
        account_id: key.account_id,
        character_key: key.character_key.clone(),
    })
}

/// End every open session now (crash recovery at server boot). Returns how many.
pub async fn end_open_sessions_in(tx: &mut XrplTx) -> Result<u64, XrplError> {
    let ended = with_tx!(tx, |p, conn| {
        sqlx::query("UPDATE xrpl_playersession SET ended_at = $1 WHERE ended_at IS NULL")
            .bind(now_micros())
            .execute(&mut *conn)
            .await?
            .rows_affected()
    });
    Ok(ended)
}

/// A page of sessions matching `filter`, by id: ids above `after`, at most `limit`.
pub async fn player_sessions(
    db: &Db,
    filter: &SessionFilter,
    after: i64,
    limit: i64,
) -> Result<Vec<PlayerSession>, XrplError> {
    check_page(limit)?;
    check_range(filter.since, filter.until)?;
    let rows = with_pool!(db.pool(Alias::Xrpl), |p| {
        sqlx::query_as::<_, PlayerSession>(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM xrpl_playersession
             WHERE id > $1
               AND ($2 IS NULL OR account_id = $2)
               AND ($3 IS NULL OR (ended_at IS NULL) = $3)
               AND ($4 IS NULL OR started_at >= $4)
               AND ($5 IS NULL OR started_at < $5)
             ORDER BY id LIMIT $6"
        )))
        .bind(after)
        .bind(filter.account_id)
        .bind(filter.open)
        .bind(filter.since)
        .bind(filter.until)
        .bind(limit)
        .fetch_all(p)
        .await?
    });
    Ok(rows)
}

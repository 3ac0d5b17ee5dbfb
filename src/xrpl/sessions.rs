//! Play sessions (`xrpl_playersession`), kept as the original's telemetry
//! keeps them: a session starts when a character is puppeted, the newest open
//! session of that account and character ends when it is unpuppeted, and at
//! server boot every session still open is ended (the server crashed; when
//! they really ended is unknown). The hourly snapshot counts them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{XrplError, check_page, check_range, check_text};
use crate::db::{Alias, Args, Db, Tx, now_micros};

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
pub async fn start_session_in(tx: &mut Tx, key: &SessionKey) -> Result<PlayerSession, XrplError> {
    let account_id = key.check()?;
    let mut args = Args::new();
    args.push(account_id);
    args.push(key.character_key.as_str());
    args.push(now_micros());
    let sql = format!(
        "INSERT INTO xrpl_playersession (account_id, character_key, started_at)
         VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    );
    Ok(tx.fetch_one(&sql, args).await?)
}

/// End the newest open session of this account and character now;
/// [`XrplError::NoOpenSession`] when it has none.
pub async fn end_session_in(tx: &mut Tx, key: &SessionKey) -> Result<PlayerSession, XrplError> {
    let account_id = key.check()?;
    let mut args = Args::new();
    args.push(now_micros());
    args.push(account_id);
    args.push(key.character_key.as_str());
    let sql = format!(
        "UPDATE xrpl_playersession SET ended_at = $1
         WHERE id = (SELECT id FROM xrpl_playersession
                     WHERE account_id = $2 AND character_key = $3 AND ended_at IS NULL
                     ORDER BY started_at DESC, id DESC LIMIT 1)
           AND ended_at IS NULL
         RETURNING {COLUMNS}"
    );
    let ended: Option<PlayerSession> = tx.fetch_optional(&sql, args).await?;
    ended.ok_or_else(|| XrplError::NoOpenSession {
        account_id: key.account_id,
        character_key: key.character_key.clone(),
    })
}

/// End every open session now (crash recovery at server boot). Returns how many.
pub async fn end_open_sessions_in(tx: &mut Tx) -> Result<u64, XrplError> {
    let mut args = Args::new();
    args.push(now_micros());
    Ok(tx
        .execute(
            "UPDATE xrpl_playersession SET ended_at = $1 WHERE ended_at IS NULL",
            args,
        )
        .await?)
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
    // A condition rather than a bound value: the values carry no typed
    // boolean null, and `open` picks one of three fixed texts anyway.
    let open = match filter.open {
        None => "",
        Some(true) => "AND ended_at IS NULL",
        Some(false) => "AND ended_at IS NOT NULL",
    };
    let mut args = Args::new();
    args.push(after);
    args.push(filter.account_id);
    args.push(filter.since);
    args.push(filter.until);
    args.push(limit);
    let sql = format!(
        "SELECT {COLUMNS} FROM xrpl_playersession
         WHERE id > $1
           AND ($2 IS NULL OR account_id = $2)
           AND ($3 IS NULL OR started_at >= $3)
           AND ($4 IS NULL OR started_at < $4)
           {open}
         ORDER BY id LIMIT $5"
    );
    Ok(db.pool(Alias::Xrpl).fetch_all(&sql, args).await?)
}

//! No duplicate memories. A memory of a kind with [`KindSpec::dedup_by`]
//! columns (NPC dialogue: the NPC and the speaker) whose text, after
//! normalising case and whitespace, equals one stored with the same values of
//! those columns within the dedup window (`MNEMO_DEDUP_WINDOW_SECONDS`, counted
//! from the first one's `created_at`) adds no row: the first one's
//! `repeat_count` grows, its `last_seen_at` moves and its expiry becomes the
//! later of the two.
//!
//! The identity is a hash (`dedup_key`) of those column values and the
//! normalised text, indexed with `created_at`. The check runs inside the write
//! transaction, one statement for all the keys of a batch (a row repeating an
//! earlier row of its batch repeats that one), under a lock that serialises
//! writers of the same key: SQLite's write transactions are serialised already
//! (the write gate, then `BEGIN IMMEDIATE`); Postgres takes a
//! transaction-scoped advisory lock per key, so two identical stores at once
//! make one row. Before embedding, a lock-free look finds the obvious repeats
//! so they cost no provider call.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::error::MemoryError;
use super::kind::{KindSpec, MemoryKind, NewRow, Record};
use super::store::MemoryStore;
use crate::db::{Alias, Args, Backend, SqlValue, Tx};

/// Lowercased, with every run of whitespace made one space, trimmed.
pub fn normalise(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A column value as it goes into the key.
fn key_part(value: &SqlValue) -> String {
    match value {
        SqlValue::Int(Some(v)) => v.to_string(),
        SqlValue::Int32(Some(v)) => v.to_string(),
        SqlValue::Text(Some(v)) => v.clone(),
        other => format!("{other:?}"),
    }
}

/// The dedup key of a new row of `spec`: 32 hex digits (128 bits) of the
/// SHA-256 of its identifying column values and normalised text. `None` for
/// kinds never deduplicated.
pub(crate) fn key(spec: &KindSpec, row: &NewRow) -> Option<String> {
    if spec.dedup_by.is_empty() {
        return None;
    }
    let mut hash = Sha256::new();
    for column in spec.dedup_by {
        let value = row.values.iter().find(|(c, _)| c == column).map(|(_, v)| v);
        hash.update(value.map(key_part).unwrap_or_default().as_bytes());
        hash.update([0x1f]);
    }
    hash.update(normalise(&row.text).as_bytes());
    Some(hex::encode(&hash.finalize()[..16]))
}

/// The advisory lock number of a key (its first 64 bits).
fn lock_id(key: &str) -> i64 {
    u64::from_str_radix(&key[..16.min(key.len())], 16).unwrap_or(0) as i64
}

impl MemoryStore {
    /// The dedup key of each row (all `None` when the window is 0 or the kind
    /// is never deduplicated).
    pub(crate) fn dedup_keys(&self, spec: &KindSpec, rows: &[NewRow]) -> Vec<Option<String>> {
        if self.settings.dedup_window.is_zero() {
            return vec![None; rows.len()];
        }
        rows.iter().map(|r| key(spec, r)).collect()
    }

    /// The oldest time a memory may have been stored at to be repeated at `now`.
    fn window_start(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let window =
            chrono::Duration::from_std(self.settings.dedup_window).unwrap_or(chrono::Duration::MAX);
        now.checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Which rows repeat an earlier row of the batch or a stored memory, seen
    /// without a lock: only to spare them an embedding (the write checks again).
    pub(crate) async fn known_repeats(
        &self,
        kind: MemoryKind,
        keys: &[Option<String>],
    ) -> Result<Vec<bool>, MemoryError> {
        let Some((sql, args)) = self.repeats_query(kind, keys, crate::db::now_micros()) else {
            return Ok(vec![false; keys.len()]);
        };
        let stored: Vec<(String, i64)> =
            self.db.pool(Alias::AiMemory).fetch_all(&sql, args).await?;
        let mut seen: HashSet<&str> = stored.iter().map(|(k, _)| k.as_str()).collect();
        Ok(keys
            .iter()
            .map(|key| key.as_deref().is_some_and(|k| !seen.insert(k)))
            .collect())
    }

    /// The unexpired memories stored with any of `keys` within the window at
    /// `now`: (key, id), oldest first, in one statement. `None` without keys.
    fn repeats_query(
        &self,
        kind: MemoryKind,
        keys: &[Option<String>],
        now: DateTime<Utc>,
    ) -> Option<(String, Args)> {
        let mut distinct: Vec<&str> = keys.iter().flatten().map(String::as_str).collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.is_empty() {
            return None;
        }
        let mut args = Args::new();
        let list: Vec<String> = distinct.into_iter().map(|k| args.push(k)).collect();
        let sql = format!(
            "SELECT dedup_key, id FROM {} WHERE dedup_key IN ({}) AND created_at >= {}
               AND (expires_at IS NULL OR expires_at > {})
             ORDER BY created_at, id",
            kind.table(),
            list.join(", "),
            args.push(self.window_start(now)),
            args.push(now)
        );
        Some((sql, args))
    }

    /// Inside `tx` (holding the keys' locks): the memory each key would repeat
    /// at `now`, the newest when several.
    pub(crate) async fn repeatable(
        &self,
        tx: &mut Tx,
        kind: MemoryKind,
        keys: &[Option<String>],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, i64>, MemoryError> {
        let Some((sql, args)) = self.repeats_query(kind, keys, now) else {
            return Ok(HashMap::new());
        };
        let found: Vec<(String, i64)> = tx.fetch_all(&sql, args).await?;
        Ok(found.into_iter().collect())
    }

    /// Postgres: serialise the writers of these keys until `tx` ends (SQLite's
    /// write transactions are serialised already). Locks are taken in key
    /// order, so two batches sharing keys cannot deadlock.
    pub(crate) async fn lock_keys(
        &self,
        tx: &mut Tx,
        keys: &[Option<String>],
    ) -> Result<(), MemoryError> {
        if tx.dialect().0 != Backend::Postgres {
            return Ok(());
        }
        let mut ids: Vec<i64> = keys.iter().flatten().map(|k| lock_id(k)).collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(());
        }
        // One round trip for a whole batch's keys (a statement per key cost a
        // 100-row batch 100 round trips); the rows are sorted before the locks
        // are taken, so the order holds.
        let mut args = Args::new();
        let sql = format!(
            "SELECT pg_advisory_xact_lock(k) FROM
               (SELECT k FROM unnest(CAST({} AS BIGINT[])) AS k ORDER BY k OFFSET 0) AS keys",
            args.push(SqlValue::Ints(ids))
        );
        tx.execute(&sql, args).await?;
        Ok(())
    }

    /// Inside `tx`: make memory `id` a repeat at `now` (its count up,
    /// `last_seen_at` now, its expiry the later of its own and `expires_at`,
    /// none winning).
    pub(crate) async fn repeat<R: Record>(
        &self,
        tx: &mut Tx,
        kind: MemoryKind,
        id: i64,
        now: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
    ) -> Result<R, MemoryError> {
        let later = tx.dialect().pick("MAX", "GREATEST");
        let mut args = Args::new();
        let at = args.push(expires_at);
        let sql = format!(
            "UPDATE {} SET repeat_count = repeat_count + 1, last_seen_at = {},
               expires_at = CASE WHEN expires_at IS NULL OR {at} IS NULL THEN NULL
                                 ELSE {later}(expires_at, {at}) END
             WHERE id = {} RETURNING {}",
            kind.table(),
            args.push(now),
            args.push(id),
            kind.spec().columns
        );
        Ok(tx.fetch_one(&sql, args).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{Kind, Npc};

    fn row(npc: i64, speaker: i64, text: &str) -> NewRow {
        NewRow {
            values: vec![("npc_id", npc.into()), ("speaker_id", speaker.into())],
            text: text.into(),
            ..NewRow::default()
        }
    }

    #[test]
    fn case_and_whitespace_do_not_make_a_new_memory() {
        assert_eq!(
            normalise("  Hello,\tTHERE \n friend "),
            "hello, there friend"
        );
        let k = |r| key(&Npc::SPEC, &r).unwrap();
        assert_eq!(k(row(1, 2, "Well met")), k(row(1, 2, " well   MET")));
        assert_ne!(
            k(row(1, 2, "Well met")),
            k(row(1, 3, "Well met")),
            "speaker"
        );
        assert_ne!(k(row(1, 2, "Well met")), k(row(2, 2, "Well met")), "npc");
        assert_ne!(k(row(1, 2, "Well met")), k(row(1, 2, "Well met!")), "text");
        assert_eq!(k(row(1, 2, "x")).len(), 32);
    }
}

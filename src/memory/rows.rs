//! The operations every kind shares, written once over [`Kind`]: store and
//! batch store (one provider call, one transaction, the rows answered from the
//! INSERT itself, repeats deduplicated, budgets held), get, list by id, delete
//! one or by filter (recorded in the forgotten log). Reads leave expired rows
//! out. Every write logs its rows in the change log within its transaction
//! (SQLite mode: that is how other processes' in-memory indexes learn of it)
//! and then brings this process's engine up to date.

use std::collections::HashMap;

use super::error::MemoryError;
use super::expiry::{live, unexpired};
use super::filter::Filter;
use super::forgotten::Reason;
use super::kind::{Kind, KindSpec, MemoryKind, NewRow, Record};
use super::model::Stored;
use super::store::{MemoryStore, WriteVectors};
use crate::db::{Alias, Args, Backend, SqlValue, Tx, now_micros};

/// Page sizes of the list operations: 1 to 500.
pub(crate) fn check_page_limit(limit: i64) -> Result<(), MemoryError> {
    if !(1..=500).contains(&limit) {
        return Err(MemoryError::invalid("limit", "must be between 1 and 500"));
    }
    Ok(())
}

/// Append to the change log inside the write transaction (SQLite only: it is
/// how other processes' in-memory indexes learn about the write).
pub(crate) async fn log_change(
    tx: &mut Tx,
    kind: MemoryKind,
    id: i64,
    op: &'static str,
) -> Result<(), sqlx::Error> {
    log_changes(tx, kind, &[id], op).await
}

/// [`log_change`] for many rows, in statements of up to 1,000 rows.
pub(crate) async fn log_changes(
    tx: &mut Tx,
    kind: MemoryKind,
    ids: &[i64],
    op: &'static str,
) -> Result<(), sqlx::Error> {
    if tx.dialect().0 != Backend::Sqlite {
        return Ok(());
    }
    for chunk in ids.chunks(1000) {
        let mut args = Args::new();
        let (kind, op) = (args.push(kind.name()), args.push(op));
        let rows: Vec<String> = chunk
            .iter()
            .map(|&id| format!("({kind}, {}, {op})", args.push(id)))
            .collect();
        let sql = format!(
            "INSERT INTO ai_memory_changelog (kind, row_id, op) VALUES {}",
            rows.join(", ")
        );
        tx.execute(&sql, args).await?;
    }
    Ok(())
}

impl MemoryStore {
    /// Store one memory. Committed even when the embedding provider fails
    /// (then pending, and the background worker embeds it later).
    pub async fn store<K: Kind>(&self, new: K::New) -> Result<Stored<K::Record>, MemoryError> {
        let row = K::prepare(self, new)?;
        let stored = self.insert::<K>(vec![row], None).await?;
        stored
            .into_iter()
            .next()
            .ok_or(MemoryError::NotFound(K::SPEC.noun))
    }

    /// Store many: one provider call, one transaction, all or nothing.
    pub async fn store_batch<K: Kind>(
        &self,
        batch: Vec<K::New>,
    ) -> Result<Vec<Stored<K::Record>>, MemoryError> {
        if batch.is_empty() {
            return Err(MemoryError::invalid("memories", "must not be empty"));
        }
        let rows = batch
            .into_iter()
            .map(|m| K::prepare(self, m))
            .collect::<Result<Vec<_>, _>>()?;
        self.insert::<K>(rows, None).await
    }

    /// Write `rows` with their vectors (the caller's, else one provider call on
    /// the request path; pending when it fails) in one transaction. With
    /// `upsert_on`, a row whose values in those columns exist already updates
    /// it instead (its `created_at` kept). A row repeating a memory within the
    /// dedup window (`dedup`) updates that memory instead of adding a row; the
    /// NPCs written to are then held to their budgets (`budget`). The records
    /// come back from the statements themselves: reading them again after the
    /// commit could find one already deleted by a concurrent forget.
    pub(crate) async fn insert<K: Kind>(
        &self,
        rows: Vec<NewRow>,
        upsert_on: Option<&[&str]>,
    ) -> Result<Vec<Stored<K::Record>>, MemoryError> {
        let keys = self.dedup_keys(&K::SPEC, &rows);
        let given = rows
            .iter()
            .map(|r| self.caller_vector(&r.embedding, &r.embedding_b64))
            .collect::<Result<Vec<_>, _>>()?;
        let vectors = self
            .vectors_except_repeats(K::ID, &rows, &keys, given)
            .await?;
        let npcs = owners(&K::SPEC, &rows);
        let pool = self.db.pool(Alias::AiMemory);
        let now = now_micros();
        let mut tx = pool.begin().await?;
        self.lock_keys(&mut tx, &keys).await?;
        for &npc in &npcs {
            self.lock_npc(&mut tx, K::ID, npc).await?;
        }
        let mut repeatable = self.repeatable(&mut tx, K::ID, &keys, now).await?;
        let mut stored = Vec::with_capacity(rows.len());
        for ((row, vector), key) in rows.into_iter().zip(vectors.vectors).zip(keys) {
            if let Some(&id) = key.as_ref().and_then(|k| repeatable.get(k)) {
                let expires_at = row.values.iter().find_map(|(c, v)| match (*c, v) {
                    ("expires_at", SqlValue::Time(t)) => Some(*t),
                    _ => None,
                });
                let record: K::Record = self
                    .repeat(&mut tx, K::ID, id, now, expires_at.flatten())
                    .await?;
                log_change(&mut tx, K::ID, record.id(), "upsert").await?;
                stored.push(Stored::repeat(record));
                continue;
            }
            let model = vector.as_ref().map(|_| self.model().to_owned());
            let error = vector.is_none().then(|| vectors.error.clone()).flatten();
            let mut columns: Vec<&str> = row.values.iter().map(|(c, _)| *c).collect();
            let mut args = Args::new();
            let mut params: Vec<String> =
                row.values.into_iter().map(|(_, v)| args.push(v)).collect();
            let mut extra = vec![("created_at", SqlValue::Time(Some(now)))];
            extra.extend(tx.dialect().vector_values(vector));
            extra.extend([
                ("embedding_model", SqlValue::Text(model)),
                ("embedding_error", SqlValue::Text(error.clone())),
            ]);
            if let Some(key) = &key {
                extra.push(("dedup_key", SqlValue::Text(Some(key.clone()))));
            }
            for (column, value) in extra {
                columns.push(column);
                params.push(args.push(value));
            }
            let on_conflict = match upsert_on {
                None => String::new(),
                Some(key) => {
                    let updates: Vec<String> = columns
                        .iter()
                        .filter(|c| !key.contains(c) && **c != "created_at")
                        .map(|c| format!("{c} = excluded.{c}"))
                        .chain(["embedding_failed_at = NULL".to_owned()])
                        .collect();
                    format!(
                        " ON CONFLICT ({}) DO UPDATE SET {}",
                        key.join(", "),
                        updates.join(", ")
                    )
                }
            };
            let sql = format!(
                "INSERT INTO {} ({}) VALUES ({}){on_conflict} RETURNING {}",
                K::SPEC.table,
                columns.join(", "),
                params.join(", "),
                K::SPEC.columns
            );
            let record: K::Record = tx.fetch_one(&sql, args).await?;
            log_change(&mut tx, K::ID, record.id(), "upsert").await?;
            if let Some(key) = key {
                // A later row of this batch with the same key repeats this one.
                repeatable.insert(key, record.id());
            }
            stored.push(Stored::of(record, error));
        }
        let evicted = self.evict_inline(&mut tx, K::ID, &npcs).await?;
        tx.commit().await?;
        self.forgets.add(Reason::Budget, evicted);
        self.engine.sync().await?;
        Ok(stored)
    }

    /// Vectors for the rows that are not obvious repeats (a repeat keeps its
    /// memory's vector, so it costs no provider call).
    async fn vectors_except_repeats(
        &self,
        kind: MemoryKind,
        rows: &[NewRow],
        keys: &[Option<String>],
        given: Vec<Option<Vec<f32>>>,
    ) -> Result<WriteVectors, MemoryError> {
        let repeats = self.known_repeats(kind, keys).await?;
        let (mut texts, mut wanted) = (Vec::new(), Vec::new());
        let mut slots = Vec::new();
        for (i, (row, vector)) in rows.iter().zip(given).enumerate() {
            if !repeats[i] {
                texts.push(row.text.clone());
                wanted.push(vector);
                slots.push(i);
            }
        }
        let made = self.vectors_for_write(&texts, wanted).await?;
        let mut vectors = vec![None; rows.len()];
        for (slot, v) in slots.into_iter().zip(made.vectors) {
            vectors[slot] = v;
        }
        Ok(WriteVectors {
            vectors,
            error: made.error,
        })
    }

    pub async fn get<K: Kind>(&self, id: i64) -> Result<K::Record, MemoryError> {
        self.fetch::<K::Record>(K::ID, &[id])
            .await?
            .remove(&id)
            .ok_or(MemoryError::NotFound(K::SPEC.noun))
    }

    /// Unexpired records of `kind` with the given ids (any order; missing and
    /// expired ids are skipped): from the record cache where it has them (SQLite
    /// mode), else from the database.
    pub(crate) async fn fetch<R: Record>(
        &self,
        kind: MemoryKind,
        ids: &[i64],
    ) -> Result<HashMap<i64, R>, MemoryError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        // Caught up here, not only by a vector ranking: a keyword ranking
        // does not sync the index, and its hits must not read stale records.
        let Some(cache) = self.engine.fresh_records().await? else {
            return self.read_records(kind, ids).await;
        };
        let read_at = cache.generation();
        let (mut found, missing) = cache.get::<R>(kind, ids, chrono::Utc::now());
        if !missing.is_empty() {
            let read = self.read_records::<R>(kind, &missing).await?;
            cache.insert(kind, &read, read_at);
            found.extend(read);
        }
        Ok(found)
    }

    /// [`fetch`](Self::fetch) from the database.
    async fn read_records<R: Record>(
        &self,
        kind: MemoryKind,
        ids: &[i64],
    ) -> Result<HashMap<i64, R>, MemoryError> {
        let pool = self.db.pool(Alias::AiMemory);
        let mut args = Args::new();
        let ids_param = args.push(SqlValue::Ints(ids.to_vec()));
        let live = Filter::all().and(unexpired(now_micros()));
        let sql = format!(
            "SELECT {} FROM {} WHERE {} AND {}",
            kind.spec().columns,
            kind.table(),
            pool.dialect().in_list("id", &ids_param),
            live.sql(pool.dialect(), &mut args)
        );
        let rows: Vec<R> = pool.fetch_all(&sql, args).await?;
        Ok(rows.into_iter().map(|r| (r.id(), r)).collect())
    }

    /// Unexpired records with id greater than `after` passing `filter`, by id.
    pub async fn list<K: Kind>(
        &self,
        filter: &Filter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<K::Record>, MemoryError> {
        check_page_limit(limit)?;
        let pool = self.db.pool(Alias::AiMemory);
        let mut args = Args::new();
        let after = args.push(after);
        let passes = live(filter).sql(pool.dialect(), &mut args);
        let sql = format!(
            "SELECT {} FROM {} WHERE id > {after} AND {passes} ORDER BY id LIMIT {}",
            K::SPEC.columns,
            K::SPEC.table,
            args.push(limit)
        );
        Ok(pool.fetch_all(&sql, args).await?)
    }

    /// How many rows of `kind` pass `filter`.
    pub async fn count(&self, kind: MemoryKind, filter: &Filter) -> Result<u64, MemoryError> {
        let pool = self.db.pool(Alias::AiMemory);
        let mut args = Args::new();
        let passes = filter.sql(pool.dialect(), &mut args);
        let sql = format!("SELECT COUNT(*) FROM {} WHERE {passes}", kind.table());
        let (n,): (i64,) = pool.fetch_one(&sql, args).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Delete one record.
    pub async fn delete<K: Kind>(&self, id: i64) -> Result<(), MemoryError> {
        let filter = Filter::all().and(super::filter::Cond::Eq("id", id.into()));
        match self.delete_where(K::ID, &filter).await? {
            0 => Err(MemoryError::NotFound(K::SPEC.noun)),
            _ => Ok(()),
        }
    }

    /// Delete the rows of `kind` passing `filter`, each recorded in the
    /// forgotten log (reason `deleted`) and the change log in the same
    /// transaction. Returns how many went.
    pub(crate) async fn delete_where(
        &self,
        kind: MemoryKind,
        filter: &Filter,
    ) -> Result<u64, MemoryError> {
        let pool = self.db.pool(Alias::AiMemory);
        let mut args = Args::new();
        let passes = filter.sql(pool.dialect(), &mut args);
        let mut tx = pool.begin().await?;
        let gone = self
            .forget_rows(&mut tx, kind, &passes, args, Reason::Deleted)
            .await?;
        tx.commit().await?;
        self.forgets.add(Reason::Deleted, gone);
        self.engine.sync().await?;
        Ok(gone as u64)
    }
}

/// The distinct NPCs `rows` of `spec` belong to, in order (empty for kinds no
/// NPC owns).
fn owners(spec: &KindSpec, rows: &[NewRow]) -> Vec<i64> {
    let Some(column) = spec.npc_column else {
        return Vec::new();
    };
    let mut npcs: Vec<i64> = rows
        .iter()
        .filter_map(|r| {
            r.values.iter().find_map(|(c, v)| match v {
                SqlValue::Int(Some(id)) if *c == column => Some(*id),
                _ => None,
            })
        })
        .collect();
    npcs.sort_unstable();
    npcs.dedup();
    npcs
}

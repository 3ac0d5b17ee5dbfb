//! SQLite mode keeps every partition's vectors in memory (NPC memories by
//! `npc_id`, combat by `mob_type`, lore as one partition), so no search reads
//! a blob from disk. Every committed write appends to `ai_memory_changelog` in
//! its own transaction; before each search the index replays what it has not
//! seen yet, so a write by another process (the CLI importer beside a running
//! server) is visible to the next search, with no timer involved. When nothing
//! was committed since the last replay (the WAL-index header says so, see
//! [`WalWatch`]) the search asks the database nothing at all.
//!
//! The index loads on first use ([`MemoryIndex::ensure_loaded`]; `mnemo serve`
//! loads it before it reports ready), so commands that only write never pay for
//! it. It loads one partition's worth of room at a time and reads rows in pages,
//! so start-up memory stays near the steady size instead of holding every blob,
//! its decoded copy and a doubling arena at once.
//!
//! The change log is pruned ([`MemoryIndex::prune_changelog`]): each serving
//! process records how far it has read, rows every live reader has replayed
//! are deleted, and a reader that was away longer than [`READER_TTL`] finds
//! `ai_memory_changelog_pruned` past its position and reloads from the tables.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use sqlx::{Row, SqlitePool, sqlite::SqliteRow};

use crate::db::{BackendPool as _, WalStamp, WalWatch};

use super::error::MemoryError;
use super::filter::{MetaRow, MetaValue};
use super::kind::{KeyColumn, MemoryKind, MetaType};
use super::record_cache::RecordCache;
use super::search_counts::SearchCounts;
use crate::vector::{Hit, HnswSettings, IndexedPartition, Maintenance, Strategy, decode_blob};

/// Which partition a row lives in: its kind and the value of the kind's
/// partition column (lore, without one, is a single partition).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub kind: MemoryKind,
    pub value: KeyValue,
}

/// The value of a partition column.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyValue {
    Whole,
    Int(i64),
    Text(Arc<str>),
}

impl PartitionKey {
    /// The key of a row of `kind` whose partition column reads `value` as text.
    fn from_column(kind: MemoryKind, value: Option<String>) -> Self {
        let value = match (kind.spec().partition, value) {
            (None, _) => KeyValue::Whole,
            (Some(KeyColumn::Int(_)), v) => {
                KeyValue::Int(v.and_then(|v| v.parse().ok()).unwrap_or_default())
            }
            (Some(KeyColumn::Text(_)), v) => KeyValue::Text(v.unwrap_or_default().into()),
        };
        PartitionKey { kind, value }
    }
}

#[derive(Default)]
struct State {
    partitions: HashMap<PartitionKey, IndexedPartition<MetaRow>>,
    located: HashMap<(MemoryKind, i64), PartitionKey>,
    last_seq: i64,
    /// Partitions with an HNSW build running in the background, to install when done.
    building: Vec<PartitionKey>,
}

/// A reader that has not recorded its position for this long is taken for
/// gone: the change log is pruned past it, and if it comes back it reloads.
pub const READER_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// One row of a change-log read: the prune mark, then a change (seq, kind,
/// row id) when there is one.
type LogRow = (i64, Option<i64>, Option<String>, Option<i64>);

/// Rows read per query while loading: a page of 1536-d blobs is 12 MB.
const LOAD_PAGE: i64 = 2000;

/// The in-memory vectors of the SQLite backend.
pub struct MemoryIndex {
    dim: usize,
    model: String,
    hnsw: HnswSettings,
    state: RwLock<State>,
    /// Whether `state` has been loaded from the tables yet.
    loaded: std::sync::atomic::AtomicBool,
    refreshing: tokio::sync::Mutex<()>,
    /// The database's WAL index, watched so that a search skips the change-log
    /// query when nothing was committed since the last catch-up.
    wal: std::sync::OnceLock<WalWatch>,
    /// The WAL-index header as of the start of the last complete catch-up.
    caught_up_at: std::sync::Mutex<Option<WalStamp>>,
    /// Records searches read lately, forgotten as their rows change.
    records: RecordCache,
    searches: SearchCounts,
    /// This process's name in `ai_memory_changelog_reader`.
    reader: String,
}

struct LoadedRow {
    id: i64,
    key: PartitionKey,
    created_at: i64,
    meta: MetaRow,
    vector: Option<Vec<f32>>,
}

/// What the index reads of a row: id, partition value (as text), the kind's
/// filterable columns, creation and expiry times, vector and model.
fn row_select(kind: MemoryKind) -> String {
    let spec = kind.spec();
    let key = spec.partition.map_or("NULL", KeyColumn::name);
    let meta: Vec<&str> = spec.meta.iter().map(|m| m.name).collect();
    format!(
        "SELECT id, CAST({key} AS TEXT) AS partition_key, {}{}created_at, expires_at, embedding, embedding_model FROM {}",
        meta.join(", "),
        if meta.is_empty() { "" } else { ", " },
        spec.table
    )
}

impl MemoryIndex {
    /// An index not loaded yet: it loads on first use. It caches up to
    /// `cached_records` records for searches (see [`RecordCache`]).
    pub fn new(dim: usize, model: &str, hnsw: HnswSettings, cached_records: usize) -> Arc<Self> {
        Arc::new(Self {
            dim,
            model: model.to_owned(),
            hnsw,
            state: RwLock::new(State::default()),
            loaded: false.into(),
            refreshing: tokio::sync::Mutex::new(()),
            wal: std::sync::OnceLock::new(),
            caught_up_at: std::sync::Mutex::new(None),
            records: RecordCache::new(cached_records),
            searches: SearchCounts::default(),
            reader: format!("{:016x}", rand::random::<u64>()),
        })
    }

    /// Load every embedded row of the current model and dimension (logging
    /// progress), unless loaded already, then catch up with the change log.
    pub async fn ensure_loaded(&self, pool: &SqlitePool) -> Result<(), MemoryError> {
        if !self.is_loaded() {
            let _one_at_a_time = self.refreshing.lock().await;
            if !self.is_loaded() {
                self.reload(pool).await?;
            }
        }
        self.refresh(pool).await
    }

    /// The records cache, once it can be trusted: loaded, and caught up with
    /// every commit so far. `None` before the first load (whose catch-up would
    /// forget changed rows) and when the cache is off.
    pub async fn fresh_records(
        &self,
        pool: &SqlitePool,
    ) -> Result<Option<&RecordCache>, MemoryError> {
        if !self.is_loaded() || !self.records.is_on() {
            return Ok(None);
        }
        self.refresh(pool).await?;
        Ok(Some(&self.records))
    }

    /// The records cache, for metrics.
    pub fn records(&self) -> &RecordCache {
        &self.records
    }

    /// Whether the rows have been loaded.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(std::sync::atomic::Ordering::Acquire)
    }

    /// (Re)build the whole state from the tables. The caller holds `refreshing`.
    async fn reload(&self, pool: &SqlitePool) -> Result<(), MemoryError> {
        // Take the change-log position first: changes racing with the load are
        // replayed afterwards, and replaying an upsert twice is harmless.
        // Never behind the prune mark: a log pruned empty has no MAX(seq).
        let (last_seq,): (i64,) = sqlx::query_as(
            "SELECT MAX(COALESCE((SELECT MAX(seq) FROM ai_memory_changelog), 0),
                        (SELECT through FROM ai_memory_changelog_pruned WHERE id = 1))",
        )
        .fetch_one(pool)
        .await?;
        // Record the position before pruning anyone may see this reader missing.
        self.record_position(pool, last_seq).await?;
        // Read every blob once through one connection that does not memory-map
        // the file: through the map, each page read stays resident in this
        // process (once per connection that read it), and a 100,000 x 1536 load
        // peaked at 2.8 GB resident for 0.8 GB of vectors.
        let mut conn = pool.acquire().await?;
        sqlx::query("PRAGMA mmap_size = 0")
            .execute(&mut *conn)
            .await?;
        let mut state = State::default();
        let mut loaded = Ok(());
        for kind in MemoryKind::ALL {
            loaded = self.load_kind(&mut conn, kind, &mut state).await;
            if loaded.is_err() {
                break;
            }
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "PRAGMA mmap_size = {}",
            crate::db::SQLITE_MMAP_BYTES
        )))
        .execute(&mut *conn)
        .await?;
        loaded?;
        state.last_seq = last_seq;
        let keys: Vec<PartitionKey> = state.partitions.keys().cloned().collect();
        maintain(&mut state, keys);
        *self.write() = state;
        self.records.clear();
        self.loaded
            .store(true, std::sync::atomic::Ordering::Release);
        Ok(())
    }

    /// Load one kind's rows into `state`: room for each partition first, then the
    /// rows page by page, each decoded straight into its partition.
    async fn load_kind(
        &self,
        conn: &mut sqlx::SqliteConnection,
        kind: MemoryKind,
        state: &mut State,
    ) -> Result<(), MemoryError> {
        // Only vectors of this model *and* dimension: after a provider switch
        // the rows not yet re-embedded stay out (see `decode`).
        let embedded = format!(
            "embedding IS NOT NULL AND embedding_model = $1 AND length(embedding) = {}",
            self.dim * 4
        );
        let (table, key) = (
            kind.table(),
            kind.spec().partition.map_or("NULL", KeyColumn::name),
        );
        let sizes: Vec<(Option<String>, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT CAST({key} AS TEXT), COUNT(*) FROM {table} WHERE {embedded} GROUP BY {key}"
        )))
        .bind(&self.model)
        .fetch_all(&mut *conn)
        .await?;
        for (key, rows) in sizes {
            let mut part = crate::vector::Partition::new(self.dim);
            part.reserve(usize::try_from(rows).unwrap_or(0));
            state.partitions.insert(
                PartitionKey::from_column(kind, key),
                IndexedPartition::from_partition(part, self.hnsw.clone()),
            );
        }
        let page = format!(
            "{} WHERE {embedded} AND id > $2 ORDER BY id LIMIT {LOAD_PAGE}",
            row_select(kind)
        );
        let (mut after, mut count) = (0i64, 0usize);
        loop {
            let rows = sqlx::query(sqlx::AssertSqlSafe(page.clone()))
                .bind(&self.model)
                .bind(after)
                .fetch_all(&mut *conn)
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("id")?;
            count += rows.len();
            for r in &rows {
                let row = self.decode(kind, r)?;
                apply_upsert(state, kind, row, self.dim, &self.hnsw);
            }
        }
        tracing::info!(
            kind = kind.name(),
            rows = count,
            partitions = state.partitions.keys().filter(|k| k.kind == kind).count(),
            "loaded memory vectors"
        );
        Ok(())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        // A panic while holding the lock cannot leave a partition half-updated
        // in a way later searches would misread (each upsert is one call), so
        // recovering from poisoning is safe.
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn decode(&self, kind: MemoryKind, r: &SqliteRow) -> Result<LoadedRow, MemoryError> {
        let id: i64 = r.try_get("id")?;
        let created_at: DateTime<Utc> = r.try_get("created_at")?;
        let blob: Option<Vec<u8>> = r.try_get("embedding")?;
        let model: Option<String> = r.try_get("embedding_model")?;
        // A blob of another length belongs to another embedding space, not to a
        // corrupt row: the same model name can come at several dimensions (the
        // hash provider, OpenAI's `dimensions`), and a re-embedding run by another
        // process writes the new dimension while this index still has the old one.
        // Such rows are left out, like rows of another model.
        let vector = match (blob, model) {
            (Some(bytes), Some(m)) if m == self.model && bytes.len() == self.dim * 4 => {
                Some(decode_blob(&bytes, self.dim).map_err(|source| {
                    MemoryError::CorruptVector {
                        kind: kind.name(),
                        id,
                        source,
                    }
                })?)
            }
            _ => None,
        };
        let key = PartitionKey::from_column(kind, r.try_get("partition_key")?);
        let values = kind
            .spec()
            .meta
            .iter()
            .map(|m| {
                Ok(match m.ty {
                    MetaType::Int => MetaValue::Int(r.try_get(m.name)?),
                    MetaType::Text => MetaValue::Text(r.try_get::<String, _>(m.name)?.into()),
                    MetaType::Tags => {
                        let tags: sqlx::types::Json<Vec<String>> = r.try_get(m.name)?;
                        MetaValue::Tags(tags.0.into())
                    }
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let expires_at: Option<DateTime<Utc>> = r.try_get("expires_at")?;
        let meta = MetaRow {
            created_at: created_at.timestamp_micros(),
            expires_at: expires_at.map_or(i64::MAX, |t| t.timestamp_micros()),
            values: values.into(),
        };
        Ok(LoadedRow {
            id,
            key,
            created_at: meta.created_at,
            meta,
            vector,
        })
    }

    /// Replay the change log since the last position. Free when nothing was
    /// committed since the last catch-up (the WAL-index header is unchanged, see
    /// [`WalWatch`]); otherwise one indexed query, then only the changed rows.
    /// A no-op before the first load (which reads the tables as they are).
    pub async fn refresh(&self, pool: &SqlitePool) -> Result<(), MemoryError> {
        if !self.is_loaded() {
            return Ok(());
        }
        self.install_finished_builds();
        // Read before the catch-up: whatever it shows committed, the catch-up sees.
        let stamp = self
            .wal
            .get_or_init(|| WalWatch::for_database(pool.connect_options().get_filename()))
            .stamp();
        if stamp.is_some() && *self.lock_caught_up() == stamp {
            return Ok(());
        }
        let _one_at_a_time = self.refreshing.lock().await;
        self.catch_up(pool).await?;
        *self.lock_caught_up() = stamp;
        Ok(())
    }

    fn lock_caught_up(&self) -> std::sync::MutexGuard<'_, Option<WalStamp>> {
        self.caught_up_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Replay the change log until nothing is left. The caller holds `refreshing`.
    async fn catch_up(&self, pool: &SqlitePool) -> Result<(), MemoryError> {
        loop {
            let since = self.read().last_seq;
            // One query, changes or not: the prune mark (always one row) with the
            // changes after `since` joined on.
            let log: Vec<LogRow> = sqlx::query_as(
                "SELECT p.through, c.seq, c.kind, c.row_id FROM ai_memory_changelog_pruned p
                 LEFT JOIN ai_memory_changelog c ON c.seq > $1 WHERE p.id = 1 ORDER BY c.seq LIMIT 5000",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            let pruned = log.first().map_or(0, |row| row.0);
            if pruned > since {
                // Changes this index never read were pruned: read the tables instead.
                tracing::info!(
                    pruned,
                    read = since,
                    "change log pruned past this index; reloading the memory vectors"
                );
                self.reload(pool).await?;
                continue;
            }
            let changes: Vec<(i64, String, i64)> = log
                .into_iter()
                .filter_map(|(_, seq, kind, id)| Some((seq?, kind?, id?)))
                .collect();
            let Some(&(last, _, _)) = changes.last() else {
                return Ok(());
            };
            // Re-read each changed row's current state: a missing row was deleted.
            let mut by_kind: HashMap<MemoryKind, Vec<i64>> = HashMap::new();
            for (_, kind, id) in &changes {
                if let Some(kind) = MemoryKind::parse(kind) {
                    by_kind.entry(kind).or_default().push(*id);
                }
            }
            let mut current = Vec::new();
            for (kind, mut ids) in by_kind {
                ids.sort_unstable();
                ids.dedup();
                let sql = format!(
                    "{} WHERE id IN (SELECT value FROM json_each($1))",
                    row_select(kind)
                );
                let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(serde_json::to_string(&ids).unwrap_or_default())
                    .fetch_all(pool)
                    .await?;
                let mut found = HashMap::new();
                for r in &rows {
                    let row = self.decode(kind, r)?;
                    found.insert(row.id, row);
                }
                for id in ids {
                    current.push((kind, id, found.remove(&id)));
                }
            }
            self.records
                .forget(current.iter().map(|(kind, id, _)| (*kind, *id)));
            let mut state = self.write();
            let mut touched = Vec::new();
            for (kind, id, row) in current {
                match row {
                    Some(row) if row.vector.is_some() => {
                        touched.push(row.key.clone());
                        apply_upsert(&mut state, kind, row, self.dim, &self.hnsw)
                    }
                    _ => apply_remove(&mut state, kind, id),
                }
            }
            touched.sort_by_key(|k| format!("{k:?}"));
            touched.dedup();
            maintain(&mut state, touched);
            state.last_seq = last;
        }
    }

    /// Record this process's position in the change log as of now.
    async fn record_position(&self, pool: &SqlitePool, seq: i64) -> Result<(), MemoryError> {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO ai_memory_changelog_reader (reader, seq, seen_at) VALUES ($1, $2, $3)
             ON CONFLICT (reader) DO UPDATE SET seq = excluded.seq, seen_at = excluded.seen_at",
        )
        .bind(&self.reader)
        .bind(seq)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Catch up, record this reader's position, and delete the change-log rows
    /// every live reader (one seen within [`READER_TTL`]) has replayed. Run
    /// periodically by `mnemo serve`. Returns the rows deleted.
    pub async fn prune_changelog(&self, pool: &SqlitePool) -> Result<u64, MemoryError> {
        self.refresh(pool).await?;
        if self.is_loaded() {
            let position = self.read().last_seq;
            self.record_position(pool, position).await?;
        }
        let live_since = Utc::now() - chrono::Duration::from_std(READER_TTL).unwrap_or_default();
        let mut tx = pool.begin_write().await?;
        // Without a live reader nothing needs the log: prune it all (a reader
        // that comes back finds `through` past its position and reloads).
        let (through,): (Option<i64>,) = sqlx::query_as(
            "SELECT COALESCE((SELECT MIN(seq) FROM ai_memory_changelog_reader WHERE seen_at >= $1),
                             (SELECT MAX(seq) FROM ai_memory_changelog))",
        )
        .bind(live_since)
        .fetch_one(&mut *tx)
        .await?;
        let Some(through) = through else {
            return Ok(0);
        };
        let deleted = sqlx::query("DELETE FROM ai_memory_changelog WHERE seq <= $1")
            .bind(through)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        sqlx::query(
            "UPDATE ai_memory_changelog_pruned SET through = $1 WHERE id = 1 AND through < $1",
        )
        .bind(through)
        .execute(&mut *tx)
        .await?;
        // Readers gone for a day are forgotten.
        sqlx::query("DELETE FROM ai_memory_changelog_reader WHERE seen_at < $1")
            .bind(Utc::now() - chrono::Duration::days(1))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(deleted)
    }

    /// Swap in HNSW indexes whose background build finished.
    fn install_finished_builds(&self) {
        if self.read().building.is_empty() {
            return;
        }
        let mut state = self.write();
        let keys = std::mem::take(&mut state.building);
        maintain(&mut state, keys);
    }

    /// Top-k in one partition: exact below the HNSW threshold (or while the first
    /// index builds), HNSW above it; selective filters are scanned exactly.
    pub fn search(
        &self,
        key: &PartitionKey,
        query: &[f32],
        k: usize,
        filter: impl Fn(i64, &MetaRow) -> bool,
    ) -> Vec<Hit> {
        let state = self.read();
        match state.partitions.get(key) {
            Some(p) if p.dim() == query.len() => {
                let outcome = p.search_filtered(query, k, None, filter);
                self.searches
                    .record(!matches!(outcome.strategy, Strategy::Hnsw));
                outcome.hits
            }
            _ => Vec::new(),
        }
    }

    /// Searches by strategy since the index was loaded.
    pub fn searches(&self) -> &SearchCounts {
        &self.searches
    }

    /// Whether the partition holds any searchable row.
    pub fn has_partition(&self, key: &PartitionKey) -> bool {
        self.read().partitions.contains_key(key)
    }

    /// Partitions of `kind` currently answered through an HNSW index.
    pub fn indexed_partitions(&self, kind: MemoryKind) -> usize {
        self.read()
            .partitions
            .iter()
            .filter(|(k, p)| k.kind == kind && p.has_index())
            .count()
    }

    /// Rows and partitions per kind, for metrics.
    pub fn sizes(&self) -> Vec<(MemoryKind, usize, usize)> {
        let state = self.read();
        MemoryKind::ALL
            .into_iter()
            .map(|kind| {
                let parts: Vec<_> = state
                    .partitions
                    .iter()
                    .filter(|(k, _)| k.kind == kind)
                    .collect();
                (kind, parts.iter().map(|(_, p)| p.len()).sum(), parts.len())
            })
            .collect()
    }
}

fn apply_upsert(
    state: &mut State,
    kind: MemoryKind,
    row: LoadedRow,
    dim: usize,
    hnsw: &HnswSettings,
) {
    let Some(vector) = row.vector else {
        apply_remove(state, kind, row.id);
        return;
    };
    if let Some(old) = state.located.get(&(kind, row.id))
        && *old != row.key
    {
        apply_remove(state, kind, row.id);
    }
    state
        .partitions
        .entry(row.key.clone())
        .or_insert_with(|| IndexedPartition::new(dim, hnsw.clone()))
        .upsert(row.id, row.created_at, row.meta, &vector);
    state.located.insert((kind, row.id), row.key);
}

fn apply_remove(state: &mut State, kind: MemoryKind, id: i64) {
    if let Some(key) = state.located.remove(&(kind, id))
        && let Some(p) = state.partitions.get_mut(&key)
    {
        p.remove(id);
        if p.is_empty() {
            state.partitions.remove(&key);
        }
    }
}

/// Start, install or drop HNSW indexes of the given partitions as their size
/// and dead share require; builds run on their own threads, so this never blocks.
fn maintain(state: &mut State, keys: Vec<PartitionKey>) {
    for key in keys {
        let Some(p) = state.partitions.get_mut(&key) else {
            continue;
        };
        match p.maintain() {
            Maintenance::BuildStarted => {
                tracing::info!(partition = ?key, rows = p.len(), "building HNSW index in the background");
            }
            Maintenance::Installed(report) => {
                tracing::info!(partition = ?key, ?report, "HNSW index installed");
            }
            Maintenance::BuildFailed => {
                tracing::error!(partition = ?key, "HNSW build failed; searches stay exact");
            }
            Maintenance::Idle | Maintenance::IndexDropped => {}
        }
        if p.build_in_progress() && !state.building.contains(&key) {
            state.building.push(key);
        }
    }
}

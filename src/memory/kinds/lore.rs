//! LoreMemory: world knowledge, upserted by (source, title), searched under the
//! access rule: an entry without tags is for everyone; otherwise every one of its
//! tags must be among the NPC's tags. The rule filters BEFORE ranking on both
//! engines, so nearer inadmissible entries can never starve the result.
//! Beyond the shared operations: the upsert with its outcomes, pruning a
//! source, and the import of lore files (`lore_import`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use crate::db::{Alias, Args, SqlValue, now_micros};
use crate::memory::engine::Scope;
use crate::memory::error::MemoryError;
use crate::memory::expiry::Lifecycle;
use crate::memory::filter::{Cond, Filter};
use crate::memory::kind::{Kind, KindSpec, ListBy, MemoryKind, MetaColumn, NewRow, Record};
use crate::memory::model::{Stored, UpsertOutcome};
use crate::memory::modes::{Embedded, Query, SearchMode};
use crate::memory::search::{Clock, SearchResults, Shape};
use crate::memory::store::MemoryStore;

pub struct Lore;

/// Scope levels of lore entries.
pub const SCOPE_LEVELS: [&str; 4] = ["continental", "regional", "local", "faction"];

/// A stored lore entry.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct LoreMemory {
    pub id: i64,
    pub title: String,
    pub content: String,
    pub scope_level: String,
    pub scope_tags: Json<Vec<String>>,
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub embedding_model: Option<String>,
    /// When it is forgotten; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// The game world's clock when it was written.
    pub game_time: Option<DateTime<Utc>>,
}

/// A lore entry to upsert by (source, title).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewLoreMemory {
    pub title: String,
    pub content: String,
    pub scope_level: String,
    #[serde(default)]
    pub scope_tags: Vec<String>,
    #[serde(default)]
    pub source: String,
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The same vector as base64 of little-endian f32 (not with `embedding`).
    #[serde(default)]
    pub embedding_b64: Option<String>,
    /// When to forget it (RFC 3339, wall clock); not with `ttl_seconds`.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Forget it this many seconds after writing it.
    #[serde(default)]
    pub ttl_seconds: Option<i64>,
    /// The game world's clock now (RFC 3339).
    #[serde(default)]
    pub game_time: Option<String>,
}

impl Record for LoreMemory {
    fn id(&self) -> i64 {
        self.id
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }
    fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }
    fn is_embedded(&self) -> bool {
        self.embedding_model.is_some()
    }
    fn game_time(&self) -> Option<DateTime<Utc>> {
        self.game_time
    }
}

impl Kind for Lore {
    const ID: MemoryKind = MemoryKind::Lore;
    const SPEC: KindSpec = KindSpec {
        name: "lore",
        table: "ai_memory_lorememory",
        text_column: "content",
        columns: "id, title, content, scope_level, scope_tags, source, created_at, updated_at, embedding_model, expires_at, game_time",
        partition: None,
        meta: &[MetaColumn::tags("scope_tags")],
        hnsw_index: "lorememory_embedding_hnsw",
        unique: &UPSERT_KEY,
        noun: "lore entry",
        npc_column: None,
        dedup_by: &[],
    };
    const LIST_BY: &'static [ListBy] = &[ListBy::Text("source")];
    type Record = LoreMemory;
    type Search = LoreSearch;
    type New = NewLoreMemory;

    fn prepare(store: &MemoryStore, m: NewLoreMemory) -> Result<NewRow, MemoryError> {
        let (tags, lifecycle) = check_new_lore(store, &m)?;
        Ok(NewRow {
            values: vec![
                ("source", m.source.into()),
                ("title", m.title.into()),
                ("content", m.content.clone().into()),
                ("scope_level", m.scope_level.into()),
                ("scope_tags", serde_json::json!(tags).into()),
                ("updated_at", now_micros().into()),
            ]
            .into_iter()
            .chain(lifecycle)
            .collect(),
            text: m.content,
            embedding: m.embedding,
            embedding_b64: m.embedding_b64,
        })
    }

    fn search(
        store: &MemoryStore,
        search: &LoreSearch,
    ) -> impl Future<Output = Result<SearchResults<LoreMemory>, MemoryError>> + Send {
        store.search_lore(search)
    }
}

/// The columns an upsert matches on.
const UPSERT_KEY: [&str; 2] = ["source", "title"];

/// A lore search for an NPC with the given tags.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoreSearch {
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub embedding: Option<Vec<f32>>,
    /// The query vector as base64 of little-endian f32 (not with `embedding`).
    #[serde(default)]
    pub embedding_b64: Option<String>,
    /// The NPC's tags (zone, district, factions).
    #[serde(default)]
    pub npc_tags: Vec<String>,
    #[serde(default = "default_top_k")]
    pub top_k: usize,
    #[serde(default)]
    pub mode: SearchMode,
    /// The game world's clock now (RFC 3339), for `time_ago`.
    #[serde(default)]
    pub game_now: Option<String>,
}

fn default_top_k() -> usize {
    3
}

/// True when an NPC with `npc_tags` may read an entry tagged `entry_tags`.
pub fn admissible(entry_tags: &[String], npc_tags: &[String]) -> bool {
    entry_tags.iter().all(|t| npc_tags.contains(t))
}

/// Tags trimmed, without blanks and duplicates, sorted: how they are stored and compared.
pub fn normalized_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = tags
        .iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// A lore entry's expiry and game time, as column values.
type LifecycleValues = Vec<(&'static str, SqlValue)>;

/// Validate a lore entry; returns its normalised tags and lifecycle values.
fn check_new_lore(
    store: &MemoryStore,
    m: &NewLoreMemory,
) -> Result<(Vec<String>, LifecycleValues), MemoryError> {
    store.check_text("title", &m.title, true)?;
    store.check_text("content", &m.content, true)?;
    if m.title.chars().count() > 200 {
        return Err(MemoryError::invalid("title", "at most 200 characters"));
    }
    if m.source.chars().count() > 200 {
        return Err(MemoryError::invalid("source", "at most 200 characters"));
    }
    if !SCOPE_LEVELS.contains(&m.scope_level.as_str()) {
        return Err(MemoryError::invalid(
            "scope_level",
            "must be one of continental, regional, local, faction",
        ));
    }
    let lifecycle = Lifecycle {
        expires_at: m.expires_at.as_deref(),
        ttl_seconds: m.ttl_seconds,
        game_time: m.game_time.as_deref(),
    }
    .values(now_micros())?;
    Ok((normalized_tags(&m.scope_tags), lifecycle))
}

/// Whether `m` would leave the stored entry `old` as it is: the same text,
/// level, tags, expiry and game time (a `ttl_seconds` always moves the expiry).
fn unchanged(
    old: &LoreMemory,
    m: &NewLoreMemory,
    tags: &[String],
    lifecycle: &LifecycleValues,
) -> bool {
    let same_time = |column: &str, value: Option<DateTime<Utc>>| {
        lifecycle
            .iter()
            .any(|(c, v)| *c == column && *v == SqlValue::Time(value))
    };
    old.content == m.content
        && old.scope_level == m.scope_level
        && normalized_tags(&old.scope_tags.0) == tags
        && same_time("expires_at", old.expires_at)
        && same_time("game_time", old.game_time)
}

impl MemoryStore {
    /// Create or update the entry (source, title). Unchanged content, level and
    /// tags make no embedding call. When the new content cannot be embedded now
    /// (the provider is down), the entry is written anyway, pending: its old
    /// vector, which no longer matches its text, is dropped, and the background
    /// worker embeds the new text. Nothing the caller sent is lost.
    pub async fn upsert_lore(
        &self,
        m: NewLoreMemory,
    ) -> Result<(Stored<LoreMemory>, UpsertOutcome), MemoryError> {
        let (tags, lifecycle) = check_new_lore(self, &m)?;
        let existing = self.lore_by_title(&m.source, &m.title).await?;
        let given = m.embedding.is_some() || m.embedding_b64.is_some();
        if let Some(old) = &existing
            && unchanged(old, &m, &tags, &lifecycle)
            && !given
        {
            let kept = Stored::of(old.clone(), None);
            return Ok((kept, UpsertOutcome::Unchanged));
        }
        let row = Lore::prepare(self, m)?;
        let stored = self.insert::<Lore>(vec![row], Some(&UPSERT_KEY)).await?;
        let outcome = match existing {
            Some(_) => UpsertOutcome::Updated,
            None => UpsertOutcome::Created,
        };
        let stored = stored
            .into_iter()
            .next()
            .ok_or(MemoryError::NotFound("lore entry"))?;
        Ok((stored, outcome))
    }

    /// What [`upsert_lore`](Self::upsert_lore) would do with `m`, without
    /// writing or embedding anything (for dry runs). Invalid input is an error,
    /// as it would be for the upsert.
    pub async fn preview_lore(&self, m: &NewLoreMemory) -> Result<UpsertOutcome, MemoryError> {
        let (tags, lifecycle) = check_new_lore(self, m)?;
        self.caller_vector(&m.embedding, &m.embedding_b64)?;
        let given = m.embedding.is_some() || m.embedding_b64.is_some();
        Ok(match self.lore_by_title(&m.source, &m.title).await? {
            None => UpsertOutcome::Created,
            Some(old) if unchanged(&old, m, &tags, &lifecycle) && !given => {
                UpsertOutcome::Unchanged
            }
            Some(_) => UpsertOutcome::Updated,
        })
    }

    async fn lore_by_title(
        &self,
        source: &str,
        title: &str,
    ) -> Result<Option<LoreMemory>, MemoryError> {
        let mut args = Args::new();
        let sql = format!(
            "SELECT {} FROM ai_memory_lorememory WHERE source = {} AND title = {}",
            Lore::SPEC.columns,
            args.push(source),
            args.push(title)
        );
        Ok(self
            .db
            .pool(Alias::AiMemory)
            .fetch_optional(&sql, args)
            .await?)
    }

    /// Titles stored for `source`.
    pub async fn lore_titles(&self, source: &str) -> Result<Vec<(i64, String)>, MemoryError> {
        let mut args = Args::new();
        let sql = format!(
            "SELECT id, title FROM ai_memory_lorememory WHERE source = {} ORDER BY title",
            args.push(source)
        );
        Ok(self.db.pool(Alias::AiMemory).fetch_all(&sql, args).await?)
    }

    /// Delete the entries of `source` whose title is not in `keep`. Returns the deleted titles.
    pub async fn prune_lore(
        &self,
        source: &str,
        keep: &[String],
    ) -> Result<Vec<String>, MemoryError> {
        let mut gone = Vec::new();
        for (id, title) in self.lore_titles(source).await? {
            if !keep.contains(&title) {
                self.delete_where(
                    MemoryKind::Lore,
                    &Filter::all().and(Cond::Eq("id", id.into())),
                )
                .await?;
                gone.push(title);
            }
        }
        Ok(gone)
    }

    /// Lore readable by an NPC with `npc_tags`, best first in the request's mode.
    pub async fn search_lore(
        &self,
        s: &LoreSearch,
    ) -> Result<SearchResults<LoreMemory>, MemoryError> {
        let query = Query {
            text: s.query.as_deref(),
            embedding: &s.embedding,
            embedding_b64: &s.embedding_b64,
            mode: s.mode,
            top_k: s.top_k,
        };
        self.check_query(&query, None, None)?;
        let clock = Clock::parse(s.game_now.as_deref())?;
        let q = self.embed_query_for(&query).await?;
        self.search_lore_embedded(s, &q, clock).await
    }

    pub(crate) async fn search_lore_embedded(
        &self,
        s: &LoreSearch,
        q: &Embedded,
        clock: Clock,
    ) -> Result<SearchResults<LoreMemory>, MemoryError> {
        let filter =
            Filter::all().and(Cond::TagsWithin("scope_tags", normalized_tags(&s.npc_tags)));
        let text = s.query.as_deref();
        let found = self
            .find::<LoreMemory>(
                MemoryKind::Lore,
                &Scope::Whole,
                &filter,
                s.mode,
                text,
                q,
                s.top_k,
                s.top_k,
            )
            .await?;
        let shape = Shape {
            top_k: s.top_k,
            min_similarity: None,
            weights: None,
            clock,
        };
        self.answer(MemoryKind::Lore, found, shape).await
    }
}

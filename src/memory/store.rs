//! The memory store: the three kinds over one database, one embedder and one
//! search engine ([`Engine`]: in memory in SQLite mode, pgvector in Postgres
//! mode). Writes embed first (one provider call per request), then commit the
//! rows and their change-log entries in one transaction (`rows`).

use std::sync::Arc;

use crate::db::{Backend, Db};
use crate::embed::{CachedEmbedder, EmbedError, Embedder};
use crate::vector::{decode_blob, normalize};

use super::engine::Engine;
use super::error::MemoryError;
use super::forgotten::ForgetCounts;
use super::index::MemoryIndex;
use super::provider_check::check_models;
use super::search_counts::SearchCounts;

/// Tunables of the memory stores.
#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// pgvector `hnsw.ef_search` for searches answered by the HNSW index.
    pub ef_search: usize,
    /// Largest `top_k` a search accepts.
    pub max_top_k: usize,
    /// Longest text (in characters) accepted for any memory field.
    pub max_text_chars: usize,
    /// The in-memory HNSW layer of SQLite mode (threshold, m, ef).
    pub hnsw: crate::vector::HnswSettings,
    /// Postgres: candidates per result the sign-bit first pass of an exact
    /// search keeps for exact re-scoring; off ranks the whole scope by exact
    /// cosine (the default here; `mnemo serve` turns it on).
    pub pg_binary_rescore: crate::vector::BitRescore,
    /// A memory repeating one stored this recently adds no row
    /// (`MNEMO_DEDUP_WINDOW_SECONDS`); zero turns deduplication off.
    pub dedup_window: std::time::Duration,
    /// The budget of an NPC without a policy of its own
    /// (`MNEMO_NPC_MEMORY_BUDGET`); `None`: unlimited.
    pub npc_budget: Option<u64>,
    /// How long the forgotten log keeps an entry (`MNEMO_FORGOTTEN_RETENTION_HOURS`).
    pub forgotten_retention: std::time::Duration,
    /// SQLite mode: records kept in memory for searches
    /// (`MNEMO_RECORD_CACHE_SIZE`); 0 reads every one from the database.
    pub record_cache: usize,
}

impl Default for MemorySettings {
    fn default() -> Self {
        Self {
            ef_search: 100,
            max_top_k: 100,
            max_text_chars: 16_000,
            hnsw: crate::vector::HnswSettings::default(),
            pg_binary_rescore: crate::vector::BitRescore::Off,
            dedup_window: DEFAULT_DEDUP_WINDOW,
            npc_budget: None,
            forgotten_retention: DEFAULT_FORGOTTEN_RETENTION,
            record_cache: DEFAULT_RECORD_CACHE,
        }
    }
}

/// Default record cache: 10,000 records, a few megabytes, the hits of the
/// last thousand searches at least.
pub const DEFAULT_RECORD_CACHE: usize = 10_000;

/// Default dedup window: ten minutes, a conversation's span; a player saying
/// the same thing later is remembered again.
pub const DEFAULT_DEDUP_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

/// Default retention of the forgotten log: 30 days.
pub const DEFAULT_FORGOTTEN_RETENTION: std::time::Duration =
    std::time::Duration::from_secs(30 * 24 * 3600);

/// The three memory stores over one database and one embedder.
pub struct MemoryStore {
    pub(crate) db: Db,
    pub(crate) embedder: Arc<CachedEmbedder>,
    pub(crate) engine: Engine,
    pub(crate) settings: MemorySettings,
    pub(crate) forgets: ForgetCounts,
}

/// Vectors for rows about to be written, and why some are missing.
pub(crate) struct WriteVectors {
    pub vectors: Vec<Option<Vec<f32>>>,
    pub error: Option<String>,
}

impl MemoryStore {
    /// Open the stores: refuse data written with another embedding model or
    /// dimension, then (SQLite) load every partition into memory.
    pub async fn open(
        db: Db,
        embedder: Arc<CachedEmbedder>,
        settings: MemorySettings,
    ) -> Result<Self, MemoryError> {
        let store = Self::open_lazily(db, embedder, settings).await?;
        store.load_index().await?;
        Ok(store)
    }

    /// Open the stores with the model check, leaving the in-memory index
    /// (SQLite) to load on the first search: for commands that only write
    /// (`mnemo lore import`, `mnemo demo load`), which then never pay for it.
    pub async fn open_lazily(
        db: Db,
        embedder: Arc<CachedEmbedder>,
        settings: MemorySettings,
    ) -> Result<Self, MemoryError> {
        check_models(&db, embedder.model(), embedder.dimension()).await?;
        Self::open_unchecked(db, embedder, settings).await
    }

    /// Open without the model check (and lazily): for `mnemo reembed`, whose job
    /// is to fix it.
    pub async fn open_unchecked(
        db: Db,
        embedder: Arc<CachedEmbedder>,
        settings: MemorySettings,
    ) -> Result<Self, MemoryError> {
        let engine = Engine::open(
            &db,
            embedder.dimension(),
            embedder.model(),
            &settings.hnsw,
            settings.record_cache,
        );
        Ok(Self {
            db,
            embedder,
            engine,
            settings,
            forgets: ForgetCounts::default(),
        })
    }

    /// Load the in-memory index now (SQLite; a no-op on Postgres or when loaded).
    pub async fn load_index(&self) -> Result<(), MemoryError> {
        self.engine.load().await
    }

    /// Delete the change-log rows every serving process has replayed (SQLite;
    /// a no-op on Postgres, which has no change log). Returns the rows deleted.
    pub async fn prune_changelog(&self) -> Result<u64, MemoryError> {
        self.engine.prune_changelog().await
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn embedder(&self) -> &CachedEmbedder {
        &self.embedder
    }

    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    pub fn model(&self) -> &str {
        self.embedder.model()
    }

    pub fn dimension(&self) -> usize {
        self.embedder.dimension()
    }

    /// Searches by strategy (exact scan or HNSW index) since the store opened.
    pub fn searches(&self) -> &SearchCounts {
        self.engine.searches()
    }

    /// The in-memory index (SQLite mode only), for metrics.
    pub fn index(&self) -> Option<&MemoryIndex> {
        self.engine.index()
    }

    pub fn settings(&self) -> &MemorySettings {
        &self.settings
    }

    /// The caller's own vector, from either wire form: `embedding` (numbers) or
    /// `embedding_b64` (base64 of little-endian f32, as OpenAI's
    /// `encoding_format: base64`). Giving both is refused. The vector is checked
    /// (dimension, finite, not zero) and normalised, errors naming the field used.
    pub(crate) fn caller_vector(
        &self,
        embedding: &Option<Vec<f32>>,
        embedding_b64: &Option<String>,
    ) -> Result<Option<Vec<f32>>, MemoryError> {
        let dim = self.dimension();
        match (embedding, embedding_b64) {
            (Some(_), Some(_)) => Err(MemoryError::invalid(
                "embedding_b64",
                "give embedding or embedding_b64, not both",
            )),
            (Some(v), None) => {
                let mut v = v.clone();
                normalize(&mut v, dim).map_err(|e| MemoryError::bad_vector("embedding", e))?;
                Ok(Some(v))
            }
            (None, Some(text)) => {
                let mut v = decode_b64_vector(text, dim)
                    .map_err(|e| MemoryError::invalid("embedding_b64", e))?;
                normalize(&mut v, dim).map_err(|e| MemoryError::bad_vector("embedding_b64", e))?;
                Ok(Some(v))
            }
            (None, None) => Ok(None),
        }
    }

    pub(crate) fn check_top_k(&self, top_k: usize) -> Result<usize, MemoryError> {
        if top_k == 0 || top_k > self.settings.max_top_k {
            return Err(MemoryError::invalid(
                "top_k",
                format!("must be between 1 and {}", self.settings.max_top_k),
            ));
        }
        Ok(top_k)
    }

    pub(crate) fn check_text(
        &self,
        field: &'static str,
        text: &str,
        required: bool,
    ) -> Result<(), MemoryError> {
        if required && text.trim().is_empty() {
            return Err(MemoryError::invalid(field, "must not be empty"));
        }
        if text.contains('\0') {
            // Postgres text cannot hold NUL; refused on both backends alike.
            return Err(MemoryError::invalid(
                field,
                "must not contain NUL characters",
            ));
        }
        if text.chars().count() > self.settings.max_text_chars {
            return Err(MemoryError::invalid(
                field,
                format!("longer than {} characters", self.settings.max_text_chars),
            ));
        }
        Ok(())
    }

    /// A short name (speaker, NPC, mob): at most `max` characters, the column width.
    pub(crate) fn check_name(
        &self,
        field: &'static str,
        text: &str,
        max: usize,
    ) -> Result<(), MemoryError> {
        self.check_text(field, text, false)?;
        if text.chars().count() > max {
            return Err(MemoryError::invalid(
                field,
                format!("longer than {max} characters"),
            ));
        }
        Ok(())
    }

    /// Vectors for `texts`: the caller's own (validated and normalised) where
    /// given, else one provider call for the rest, on the request path (its short
    /// budget, or nothing at all while the breaker is open). A provider failure is
    /// not an error here: those rows are stored pending, and `error` says why.
    pub(crate) async fn vectors_for_write(
        &self,
        texts: &[String],
        given: Vec<Option<Vec<f32>>>,
    ) -> Result<WriteVectors, MemoryError> {
        let dim = self.dimension();
        let mut vectors = Vec::with_capacity(texts.len());
        let mut missing = Vec::new();
        for (i, v) in given.into_iter().enumerate() {
            match v {
                Some(mut v) => {
                    normalize(&mut v, dim).map_err(|e| MemoryError::bad_vector("embedding", e))?;
                    vectors.push(Some(v));
                }
                None => {
                    missing.push(i);
                    vectors.push(None);
                }
            }
        }
        let mut error = None;
        if !missing.is_empty() {
            let inputs: Vec<String> = missing.iter().map(|&i| texts[i].clone()).collect();
            match self.embedder.embed_now(&inputs).await {
                Ok(embedded) => {
                    for (slot, mut v) in missing.into_iter().zip(embedded) {
                        normalize(&mut v, dim).map_err(|e| {
                            MemoryError::EmbeddingUnavailable(EmbedError::Permanent(format!(
                                "the provider returned an unusable vector: {e}"
                            )))
                        })?;
                        vectors[slot] = Some(v);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, rows = inputs.len(), "embedding failed; storing rows as pending");
                    error = Some(e.to_string());
                }
            }
        }
        Ok(WriteVectors { vectors, error })
    }

    /// The query vector: the caller's own (in either wire form), or the cached
    /// embedding of `query`.
    pub(crate) async fn query_vector(
        &self,
        query: Option<&str>,
        embedding: &Option<Vec<f32>>,
        embedding_b64: &Option<String>,
    ) -> Result<Vec<f32>, MemoryError> {
        let given = self.caller_vector(embedding, embedding_b64)?;
        match (query, given) {
            (_, Some(mut v)) => {
                normalize(&mut v, self.dimension())
                    .map_err(|e| MemoryError::bad_vector("embedding", e))?;
                Ok(v)
            }
            (Some(text), None) => {
                self.check_text("query", text, true)?;
                let v = self.embedder.embed_query(text).await.map_err(|e| {
                    if e.is_rejected() {
                        // The provider will refuse this text every time: the caller's to fix.
                        MemoryError::invalid("query", e.to_string())
                    } else {
                        MemoryError::EmbeddingUnavailable(e)
                    }
                })?;
                Ok(v.to_vec())
            }
            (None, None) => Err(MemoryError::invalid(
                "query",
                "give a query text or an embedding",
            )),
        }
    }
}

/// Decode `embedding_b64`: standard base64 (padding optional) of `dim`
/// little-endian f32 values.
pub fn decode_b64_vector(text: &str, dim: usize) -> Result<Vec<f32>, String> {
    use base64::Engine as _;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const STANDARD_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let bytes = STANDARD_ANY_PAD
        .decode(text.trim())
        .map_err(|e| format!("not valid base64: {e}"))?;
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "{} bytes is not a whole number of little-endian f32 values",
            bytes.len()
        ));
    }
    decode_blob(&bytes, dim).map_err(|e| match e {
        crate::vector::VectorError::BadBlobLength { got, .. } => {
            crate::vector::VectorError::WrongDimension {
                expected: dim,
                got: got / 4,
            }
            .to_string()
        }
        other => other.to_string(),
    })
}

/// Encode a vector as `embedding_b64` expects it (for clients and tests).
pub fn encode_b64_vector(v: &[f32]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crate::vector::encode_blob(v))
}

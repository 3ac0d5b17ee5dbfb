//! What every kind's operations answer with: a stored record and its
//! embedding state, a scored search result, an upsert's outcome.

use serde::Serialize;

use super::kind::Record;

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertOutcome {
    Created,
    Updated,
    Unchanged,
}

/// Whether a stored row is searchable yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingState {
    /// Embedded and searchable.
    Ready,
    /// Stored; the embedding provider failed and the background worker will retry.
    Pending,
}

/// What a store did with one memory.
#[derive(Debug, Clone, Serialize)]
pub struct Stored<T> {
    #[serde(flatten)]
    pub memory: T,
    pub embedding_state: EmbeddingState,
    /// Why the embedding is pending, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_error: Option<String>,
    /// True when the memory repeated one stored within the dedup window: no
    /// row was added, `memory` is that one (its `repeat_count` grown).
    pub deduplicated: bool,
}

impl<T: Record> Stored<T> {
    /// A stored record: ready when it has its embedding, else pending for `error`.
    pub fn of(memory: T, error: Option<String>) -> Self {
        let pending = !memory.is_embedded();
        Stored {
            memory,
            embedding_state: if pending {
                EmbeddingState::Pending
            } else {
                EmbeddingState::Ready
            },
            embedding_error: if pending { error } else { None },
            deduplicated: false,
        }
    }

    /// An existing memory a store repeated.
    pub fn repeat(memory: T) -> Self {
        Stored {
            deduplicated: true,
            ..Self::of(memory, None)
        }
    }
}

/// One search result: the record, its cosine similarity to the query (`None`
/// when only keyword search found it), its score and the original's wording
/// of its age.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored<T> {
    #[serde(flatten)]
    pub memory: T,
    pub similarity: Option<f32>,
    /// By mode: the similarity, or the blended score when weights were given
    /// (vector); BM25 (keyword); the reciprocal rank fusion score (hybrid).
    pub score: f32,
    pub time_ago: String,
}

/// A memory with the original's wording of its age (recent memories).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Aged<T> {
    #[serde(flatten)]
    pub memory: T,
    pub time_ago: String,
}

/// The memory itself.
impl<T> std::ops::Deref for Aged<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.memory
    }
}

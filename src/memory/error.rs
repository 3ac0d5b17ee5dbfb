//! Errors of the memory stores. The HTTP layer maps each variant to a status.

use crate::embed::EmbedError;
use crate::vector::VectorError;

#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The caller's input is wrong; `field` names what.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A search query could not be embedded (the provider is down or refused it).
    #[error("the embedding provider is unavailable: {0}")]
    EmbeddingUnavailable(EmbedError),
    /// A stored blob could not be decoded.
    #[error("{kind} memory {id}: {source}")]
    CorruptVector {
        kind: &'static str,
        id: i64,
        source: VectorError,
    },
    /// The data was written with another embedding model or dimension.
    #[error(
        "{kind} memories were embedded with {stored}, but the configured provider is {configured}; \
         re-embed them with `mnemo reembed --kind {kind}` or configure the provider they were written with"
    )]
    ModelMismatch {
        kind: &'static str,
        stored: String,
        configured: String,
    },
    /// A filter names a column its kind does not keep in memory: a bug in the
    /// kind's file, not the caller's input.
    #[error("{kind} memories cannot be filtered on {column} in memory")]
    Unfilterable { kind: &'static str, column: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

impl MemoryError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        MemoryError::Invalid {
            field,
            message: message.into(),
        }
    }

    /// A bad caller-supplied vector, reported against `field`.
    pub(crate) fn bad_vector(field: &'static str, err: VectorError) -> Self {
        MemoryError::invalid(field, err.to_string())
    }
}

//! The one error type of the embedding layer.

/// Why an embedding could not be made.
///
/// The split matters to callers: a [`EmbedError::Transient`] failure may succeed if the
/// same request is sent again later (the HTTP layer answers 503 and the client may retry),
/// a [`EmbedError::Permanent`] one will fail the same way every time until the input or
/// the configuration changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    /// The provider could not be reached or refused for now: HTTP 408, 429 (rate limit),
    /// 5xx, timeouts and connection errors, after the retry budget was spent.
    #[error("embedding provider unavailable: {0}")]
    Transient(String),
    /// Retrying cannot help: another 4xx (bad key, unknown model, input too long), a
    /// malformed response, a response with the wrong count or dimension, a missing key,
    /// an empty input text, an unknown provider name.
    #[error("embedding failed: {0}")]
    Permanent(String),
}

impl EmbedError {
    /// True when the same request may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        matches!(self, EmbedError::Transient(_))
    }

    /// The message without the variant's prefix.
    pub fn message(&self) -> &str {
        match self {
            EmbedError::Transient(message) | EmbedError::Permanent(message) => message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_and_permanent_are_told_apart() {
        assert!(EmbedError::Transient("429".into()).is_transient());
        assert!(!EmbedError::Permanent("400".into()).is_transient());
        assert_eq!(EmbedError::Permanent("bad key".into()).message(), "bad key");
    }
}

//! The one error type of the embedding layer.

use std::time::Duration;

/// Why an embedding could not be made.
///
/// The split matters to callers: a [`EmbedError::Transient`] failure may succeed if the
/// same request is sent again later (the HTTP layer answers 503 and the client may retry);
/// a [`EmbedError::Rejected`] input will be refused every time, whatever else happens (the
/// background worker marks such a row `failed` instead of retrying it in a loop); a
/// [`EmbedError::Permanent`] failure will repeat for every input until the configuration
/// changes (a bad key, an unknown model), so rows wait for the operator rather than being
/// marked failed one by one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmbedError {
    /// The provider could not be reached or refused for now: HTTP 408, 429 (rate limit),
    /// 5xx, timeouts and connection errors, after the retry budget was spent.
    #[error("embedding provider unavailable: {0}")]
    Transient(String),
    /// The provider failed too often in a row: calls are not even tried until the
    /// cool-down ends (`retry_after` from now).
    #[error(
        "embedding provider unavailable: it failed {failures} times in a row; calls resume in {} s",
        retry_after.as_secs_f64().ceil()
    )]
    CircuitOpen {
        failures: u32,
        retry_after: Duration,
    },
    /// The provider refused this input and would refuse it again: HTTP 400, 413 or 422
    /// (e.g. a text over the model's token limit), or an empty text.
    #[error("embedding refused: {0}")]
    Rejected(String),
    /// Retrying cannot help until the configuration changes: another 4xx (bad key, unknown
    /// model, exhausted quota), a malformed response, a response with the wrong count or
    /// dimension, a missing key, an unknown provider name.
    #[error("embedding failed: {0}")]
    Permanent(String),
}

impl EmbedError {
    /// True when the same request may succeed if tried again later.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            EmbedError::Transient(_) | EmbedError::CircuitOpen { .. }
        )
    }

    /// True when this input can never be embedded by this provider.
    pub fn is_rejected(&self) -> bool {
        matches!(self, EmbedError::Rejected(_))
    }

    /// How long a caller should wait before trying again, when the error says.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            EmbedError::CircuitOpen { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// The message without the variant's prefix.
    pub fn message(&self) -> String {
        match self {
            EmbedError::Transient(message)
            | EmbedError::Rejected(message)
            | EmbedError::Permanent(message) => message.clone(),
            open @ EmbedError::CircuitOpen { .. } => open.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_rejected_and_permanent_are_told_apart() {
        assert!(EmbedError::Transient("429".into()).is_transient());
        assert!(!EmbedError::Permanent("401".into()).is_transient());
        assert!(EmbedError::Rejected("too long".into()).is_rejected());
        assert!(!EmbedError::Permanent("401".into()).is_rejected());
        assert_eq!(EmbedError::Permanent("bad key".into()).message(), "bad key");
    }

    #[test]
    fn an_open_circuit_is_transient_and_says_when_to_retry() {
        let open = EmbedError::CircuitOpen {
            failures: 5,
            retry_after: Duration::from_millis(2500),
        };
        assert!(open.is_transient());
        assert_eq!(open.retry_after(), Some(Duration::from_millis(2500)));
        assert!(open.to_string().contains("resume in 3 s"), "{open}");
    }
}

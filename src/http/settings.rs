//! Settings of the HTTP layer: limits, timeouts, workers. `cli::settings` reads
//! them from the environment; tests build them directly.

use std::time::Duration;

/// Every HTTP knob (read from the environment by `cli::settings`), with the
/// documented defaults in [`Default`].
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSettings {
    /// Address to listen on (`host:port`; port 0 picks a free one).
    pub bind: String,
    /// Worker threads; `None` lets actix use one per CPU.
    pub workers: Option<usize>,
    /// Largest accepted request body, JSON or otherwise (413 above).
    pub json_limit: usize,
    /// Longest a request may take once its headers are read (503 `request_timeout` after).
    pub request_timeout: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests may finish before workers are stopped.
    pub shutdown_timeout: Duration,
    /// Sustained requests per second per token (token bucket refill rate); 0 disables limiting.
    pub rate_per_second: f64,
    /// Bucket size: requests a token may make at once after being idle.
    pub rate_burst: u32,
    /// How long a verified token is trusted without asking the database again.
    /// A revoke takes effect within this bound.
    pub auth_cache_ttl: Duration,
    /// Require a valid token (any scope) for `/metrics`.
    pub metrics_token_required: bool,
}

/// The default body limit: a full batch (256 memories) that carries its own
/// vectors must fit. A 1536-d vector as JSON numbers is at most 1536 × 27 bytes
/// (`-0.012345678901234567, ` as Python and JavaScript print an f32 widened to
/// f64) = 41 KB, 10.6 MB for 256; as `embedding_b64` it is 8 KB, 2.1 MB for
/// 256. 16 MiB leaves 5.5 MB of text beside numbers, about 21 KB per memory.
pub const DEFAULT_BODY_LIMIT: usize = 16 * 1024 * 1024;

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            workers: None,
            json_limit: DEFAULT_BODY_LIMIT,
            request_timeout: Duration::from_secs(30),
            shutdown_timeout: Duration::from_secs(30),
            // Off: the service's main client is one game server with one token for all
            // its NPCs, and any per-token rate it could be given is one it can reach.
            rate_per_second: 0.0,
            rate_burst: 100,
            auth_cache_ttl: Duration::from_secs(5),
            metrics_token_required: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_nothing_throttles_the_game_server_and_a_full_batch_fits() {
        let s = HttpSettings::default();
        assert_eq!(s.rate_per_second, 0.0);
        // 256 memories, each a 1536-d vector as JSON numbers at 27 bytes a number.
        assert!(s.json_limit > 256 * 1536 * 27);
    }
}

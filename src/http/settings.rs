//! Settings of the HTTP layer: limits, timeouts, workers. Read from the environment
//! by `mnemo serve`; tests build them directly.

use std::time::Duration;

/// Every HTTP knob, with the documented defaults in [`Default`].
///
/// | variable | default | field |
/// |---|---|---|
/// | `MNEMO_BIND` (`--bind`) | `127.0.0.1:8080` | `bind` |
/// | `MNEMO_HTTP_WORKERS` | number of CPUs | `workers` |
/// | `MNEMO_JSON_LIMIT_BYTES` | 16777216 (16 MiB) | `json_limit` |
/// | `MNEMO_REQUEST_TIMEOUT_SECONDS` | 30 | `request_timeout` |
/// | `MNEMO_SHUTDOWN_TIMEOUT_SECONDS` | 30 | `shutdown_timeout` |
/// | `MNEMO_RATE_LIMIT_PER_SECOND` | 0 (off) | `rate_per_second` |
/// | `MNEMO_RATE_LIMIT_BURST` | 100 | `rate_burst` |
/// | `MNEMO_AUTH_CACHE_SECONDS` | 5 (0 disables) | `auth_cache_ttl` |
/// | `MNEMO_METRICS_TOKEN_REQUIRED` | false | `metrics_token_required` |
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

impl HttpSettings {
    /// Defaults overridden by the `MNEMO_*` variables above (except `MNEMO_BIND`,
    /// which the command line reads). A malformed value is an error naming the variable.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`from_env`](Self::from_env), with the variables from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let mut s = Self::default();
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = get("MNEMO_HTTP_WORKERS") {
            let n: usize = parse("MNEMO_HTTP_WORKERS", &v)?;
            if n == 0 {
                return Err("MNEMO_HTTP_WORKERS must be at least 1".into());
            }
            s.workers = Some(n);
        }
        if let Some(v) = get("MNEMO_JSON_LIMIT_BYTES") {
            s.json_limit = parse("MNEMO_JSON_LIMIT_BYTES", &v)?;
        }
        if let Some(v) = get("MNEMO_REQUEST_TIMEOUT_SECONDS") {
            s.request_timeout = seconds("MNEMO_REQUEST_TIMEOUT_SECONDS", &v)?;
        }
        if let Some(v) = get("MNEMO_SHUTDOWN_TIMEOUT_SECONDS") {
            s.shutdown_timeout = seconds("MNEMO_SHUTDOWN_TIMEOUT_SECONDS", &v)?;
        }
        if let Some(v) = get("MNEMO_RATE_LIMIT_PER_SECOND") {
            let rate: f64 = parse("MNEMO_RATE_LIMIT_PER_SECOND", &v)?;
            if !rate.is_finite() || rate < 0.0 {
                return Err("MNEMO_RATE_LIMIT_PER_SECOND must be a number >= 0".into());
            }
            s.rate_per_second = rate;
        }
        if let Some(v) = get("MNEMO_RATE_LIMIT_BURST") {
            s.rate_burst = parse("MNEMO_RATE_LIMIT_BURST", &v)?;
            if s.rate_burst == 0 {
                return Err("MNEMO_RATE_LIMIT_BURST must be at least 1".into());
            }
        }
        if let Some(v) = get("MNEMO_AUTH_CACHE_SECONDS") {
            s.auth_cache_ttl = seconds("MNEMO_AUTH_CACHE_SECONDS", &v)?;
        }
        if let Some(v) = get("MNEMO_METRICS_TOKEN_REQUIRED") {
            s.metrics_token_required = match v.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => {
                    return Err(format!(
                        "MNEMO_METRICS_TOKEN_REQUIRED must be true or false, got {v:?}"
                    ));
                }
            };
        }
        Ok(s)
    }
}

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("{name} must be a non-negative number, got {value:?}"))
}

fn seconds(name: &str, value: &str) -> Result<Duration, String> {
    let secs: f64 = parse(name, value)?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("{name} must be a number of seconds >= 0, got {value:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let none = HttpSettings::from_lookup(|_| None).unwrap();
        assert_eq!(none, HttpSettings::default());
        let s = HttpSettings::from_lookup(|k| match k {
            "MNEMO_JSON_LIMIT_BYTES" => Some("2048".into()),
            "MNEMO_RATE_LIMIT_PER_SECOND" => Some("0".into()),
            "MNEMO_AUTH_CACHE_SECONDS" => Some("0.5".into()),
            "MNEMO_METRICS_TOKEN_REQUIRED" => Some("true".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(s.json_limit, 2048);
        assert_eq!(s.rate_per_second, 0.0);
        assert_eq!(s.auth_cache_ttl, Duration::from_millis(500));
        assert!(s.metrics_token_required);
    }

    #[test]
    fn by_default_nothing_throttles_the_game_server_and_a_full_batch_fits() {
        let s = HttpSettings::default();
        assert_eq!(s.rate_per_second, 0.0);
        // 256 memories, each a 1536-d vector as JSON numbers at 27 bytes a number.
        assert!(s.json_limit > 256 * 1536 * 27);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            ("MNEMO_JSON_LIMIT_BYTES", "lots"),
            ("MNEMO_REQUEST_TIMEOUT_SECONDS", "-1"),
            ("MNEMO_METRICS_TOKEN_REQUIRED", "maybe"),
            ("MNEMO_HTTP_WORKERS", "0"),
        ] {
            let err =
                HttpSettings::from_lookup(|name| (name == k).then(|| v.to_string())).unwrap_err();
            assert!(err.contains(k), "{err}");
        }
    }
}

//! Every setting of mnemo in one value, read once: each environment variable
//! is named here once ([`vars`]), parsed here once ([`Settings::from_lookup`]),
//! and a bad value is an error naming it. A command-line flag is the same
//! variable from a source read first (`Cli::settings`). A test holds
//! [`vars::ALL`] and the README's tables together.
//!
//! The value is put together here, above every layer, and each layer gets its
//! part: the databases their [`DbSettings`], the embedder its [`EmbedSettings`]
//! and guard, the stores their [`MemorySettings`], the server its [`HttpSettings`].

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::config::{DatabaseTarget, UnsupportedDatabaseUrl};
use crate::db::DbSettings;
use crate::db::migrate::DEFAULT_VAULT_ADDRESS;
use crate::embed::{
    BreakerSettings, Budget, EmbedSettings, GuardSettings, MINILM_MODEL, OpenAiSettings,
};
use crate::http::HttpSettings;
use crate::memory::MemorySettings;
use crate::vector::BitRescore;

/// The environment variables, each named once.
pub mod vars {
    pub const DATABASE_URL: &str = "DATABASE_URL";
    pub const MNEMO_DATA_DIR: &str = "MNEMO_DATA_DIR";
    pub const MNEMO_DB_ACQUIRE_TIMEOUT_MS: &str = "MNEMO_DB_ACQUIRE_TIMEOUT_MS";
    pub const MNEMO_DB_STATEMENT_TIMEOUT_MS: &str = "MNEMO_DB_STATEMENT_TIMEOUT_MS";
    pub const MNEMO_XRPL_VAULT_ADDRESS: &str = "MNEMO_XRPL_VAULT_ADDRESS";
    pub const MNEMO_EMBEDDING_PROVIDER: &str = "MNEMO_EMBEDDING_PROVIDER";
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
    pub const MNEMO_MODEL_DIR: &str = "MNEMO_MODEL_DIR";
    pub const MNEMO_QUERY_CACHE_SIZE: &str = "MNEMO_QUERY_CACHE_SIZE";
    pub const MNEMO_EMBED_REQUEST_BUDGET_MS: &str = "MNEMO_EMBED_REQUEST_BUDGET_MS";
    pub const MNEMO_EMBED_BREAKER_FAILURES: &str = "MNEMO_EMBED_BREAKER_FAILURES";
    pub const MNEMO_EMBED_BREAKER_COOLDOWN_MS: &str = "MNEMO_EMBED_BREAKER_COOLDOWN_MS";
    pub const MNEMO_HNSW_THRESHOLD: &str = "MNEMO_HNSW_THRESHOLD";
    pub const MNEMO_EF_SEARCH: &str = "MNEMO_EF_SEARCH";
    pub const MNEMO_INT8_RESCORE: &str = "MNEMO_INT8_RESCORE";
    pub const MNEMO_BINARY_RESCORE: &str = "MNEMO_BINARY_RESCORE";
    pub const MNEMO_HNSW_BUILDS: &str = "MNEMO_HNSW_BUILDS";
    pub const MNEMO_PG_BINARY_RESCORE: &str = "MNEMO_PG_BINARY_RESCORE";
    pub const MNEMO_DEDUP_WINDOW_SECONDS: &str = "MNEMO_DEDUP_WINDOW_SECONDS";
    pub const MNEMO_NPC_MEMORY_BUDGET: &str = "MNEMO_NPC_MEMORY_BUDGET";
    pub const MNEMO_FORGOTTEN_RETENTION_HOURS: &str = "MNEMO_FORGOTTEN_RETENTION_HOURS";
    pub const MNEMO_RECORD_CACHE_SIZE: &str = "MNEMO_RECORD_CACHE_SIZE";
    pub const MNEMO_BIND: &str = "MNEMO_BIND";
    pub const MNEMO_HTTP_WORKERS: &str = "MNEMO_HTTP_WORKERS";
    pub const MNEMO_JSON_LIMIT_BYTES: &str = "MNEMO_JSON_LIMIT_BYTES";
    pub const MNEMO_REQUEST_TIMEOUT_SECONDS: &str = "MNEMO_REQUEST_TIMEOUT_SECONDS";
    pub const MNEMO_SHUTDOWN_TIMEOUT_SECONDS: &str = "MNEMO_SHUTDOWN_TIMEOUT_SECONDS";
    pub const MNEMO_RATE_LIMIT_PER_SECOND: &str = "MNEMO_RATE_LIMIT_PER_SECOND";
    pub const MNEMO_RATE_LIMIT_BURST: &str = "MNEMO_RATE_LIMIT_BURST";
    pub const MNEMO_AUTH_CACHE_SECONDS: &str = "MNEMO_AUTH_CACHE_SECONDS";
    pub const MNEMO_METRICS_TOKEN_REQUIRED: &str = "MNEMO_METRICS_TOKEN_REQUIRED";
    /// Read by the logger as it starts (`tracing`'s filter syntax).
    pub const MNEMO_LOG: &str = "MNEMO_LOG";

    /// Every variable the service reads.
    pub const ALL: &[&str] = &[
        DATABASE_URL,
        MNEMO_DATA_DIR,
        MNEMO_DB_ACQUIRE_TIMEOUT_MS,
        MNEMO_DB_STATEMENT_TIMEOUT_MS,
        MNEMO_XRPL_VAULT_ADDRESS,
        MNEMO_EMBEDDING_PROVIDER,
        OPENAI_API_KEY,
        OPENAI_BASE_URL,
        MNEMO_MODEL_DIR,
        MNEMO_QUERY_CACHE_SIZE,
        MNEMO_EMBED_REQUEST_BUDGET_MS,
        MNEMO_EMBED_BREAKER_FAILURES,
        MNEMO_EMBED_BREAKER_COOLDOWN_MS,
        MNEMO_HNSW_THRESHOLD,
        MNEMO_EF_SEARCH,
        MNEMO_INT8_RESCORE,
        MNEMO_BINARY_RESCORE,
        MNEMO_HNSW_BUILDS,
        MNEMO_PG_BINARY_RESCORE,
        MNEMO_DEDUP_WINDOW_SECONDS,
        MNEMO_NPC_MEMORY_BUDGET,
        MNEMO_FORGOTTEN_RETENTION_HOURS,
        MNEMO_RECORD_CACHE_SIZE,
        MNEMO_BIND,
        MNEMO_HTTP_WORKERS,
        MNEMO_JSON_LIMIT_BYTES,
        MNEMO_REQUEST_TIMEOUT_SECONDS,
        MNEMO_SHUTDOWN_TIMEOUT_SECONDS,
        MNEMO_RATE_LIMIT_PER_SECOND,
        MNEMO_RATE_LIMIT_BURST,
        MNEMO_AUTH_CACHE_SECONDS,
        MNEMO_METRICS_TOKEN_REQUIRED,
        MNEMO_LOG,
    ];

    /// Variables of the tools around the service (the test scripts, the bench,
    /// the Python client), which the README's tables list too.
    pub const TOOLING: &[&str] = &[
        "TEST_DATABASE_URL",
        "MNEMO_BIN",
        "MNEMO_PY_VENV",
        "MNEMO_URL",
        "MNEMO_TOKEN",
        "MNEMO_TIMEOUT",
    ];
}

/// A variable with a value mnemo cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

impl From<UnsupportedDatabaseUrl> for SettingsError {
    fn from(e: UnsupportedDatabaseUrl) -> Self {
        SettingsError(e.to_string())
    }
}

/// The embedding provider to build and how the request path treats it.
#[derive(Debug, Clone)]
pub struct EmbeddingSettings {
    /// `hash`, `openai` or `minilm`.
    pub provider: String,
    pub provider_settings: EmbedSettings,
    /// Entries in the LRU cache of query embeddings (0: off).
    pub query_cache: usize,
    pub guard: GuardSettings,
}

/// Everything mnemo is told from outside.
#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseTarget,
    /// Pool settings; `statement_timeout` applies to `mnemo serve` only.
    pub pool: DbSettings,
    /// The vault wallet owning the seeded RESERVE balances (read at migrate time).
    pub vault_address: String,
    pub embedding: EmbeddingSettings,
    pub memory: MemorySettings,
    pub http: HttpSettings,
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// From `lookup` (the environment, or a test's table). An empty value
    /// counts as unset, as shells often export `VAR=`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        use vars::*;
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let data_dir = get(MNEMO_DATA_DIR).unwrap_or_else(|| "./data".into());
        let database =
            DatabaseTarget::from_env_values(get(DATABASE_URL).as_deref(), data_dir.into())?;
        let statement_timeout = millis(&get, MNEMO_DB_STATEMENT_TIMEOUT_MS, 15_000)?;
        let pool = DbSettings {
            acquire_timeout: positive(
                millis(&get, MNEMO_DB_ACQUIRE_TIMEOUT_MS, 2_000)?,
                MNEMO_DB_ACQUIRE_TIMEOUT_MS,
            )?,
            statement_timeout: (!statement_timeout.is_zero()).then_some(statement_timeout),
            ..DbSettings::default()
        };
        let embedding = EmbeddingSettings {
            provider: get(MNEMO_EMBEDDING_PROVIDER).unwrap_or_else(|| "hash".into()),
            provider_settings: EmbedSettings {
                openai: OpenAiSettings {
                    api_key: get(OPENAI_API_KEY).unwrap_or_default(),
                    base_url: get(OPENAI_BASE_URL),
                    ..OpenAiSettings::default()
                },
                model_dir: get(MNEMO_MODEL_DIR)
                    .map(PathBuf::from)
                    .or_else(|| default_model_dir(&lookup)),
                ..EmbedSettings::default()
            },
            query_cache: number(&get, MNEMO_QUERY_CACHE_SIZE, 10_000)?,
            guard: GuardSettings {
                request: Budget {
                    deadline: positive(
                        millis(&get, MNEMO_EMBED_REQUEST_BUDGET_MS, 2_000)?,
                        MNEMO_EMBED_REQUEST_BUDGET_MS,
                    )?,
                    attempts: Budget::REQUEST.attempts,
                },
                breaker: BreakerSettings {
                    failures: number(&get, MNEMO_EMBED_BREAKER_FAILURES, 5)?,
                    cooldown: millis(&get, MNEMO_EMBED_BREAKER_COOLDOWN_MS, 10_000)?,
                },
            },
        };
        let defaults = MemorySettings::default();
        let ef_search = number(&get, MNEMO_EF_SEARCH, ef_search(&database))?;
        let memory = MemorySettings {
            ef_search,
            hnsw: crate::vector::HnswSettings {
                threshold: number(&get, MNEMO_HNSW_THRESHOLD, hnsw_threshold(&database))?.max(1),
                ef_search,
                // Off by default: after the sign-bit pass it changed no result and
                // saved no time (`loadgen scan`: 0.269 vs 0.259 ms at 1536-d, 0.345
                // vs 0.354 at 384-d), and its copy costs a quarter of the vectors'
                // memory. Alone (bits off) it kept recall@10 at 1.000 on the
                // real-text set, scanning 2.5x (384-d) and 4.5x (1536-d) faster.
                int8_rescore: number(&get, MNEMO_INT8_RESCORE, 0)?,
                // The sign-bit pass, with as many candidates as the code's length
                // needs (`vector::auto_factor`: 8 at 1536-d, 32 at 384-d): recall@10
                // 0.9995 and 0.9986 on the real-text set, scans 21x and 3x faster
                // than f32 (`loadgen scan`).
                binary_rescore: number(&get, MNEMO_BINARY_RESCORE, BitRescore::Auto)?,
                // Each build already uses every core: more at once only slows each.
                build_pool: crate::vector::BuildPool::new(positive_count(
                    number(&get, MNEMO_HNSW_BUILDS, 1)?,
                    MNEMO_HNSW_BUILDS,
                )?),
                ..defaults.hnsw.clone()
            },
            // The same codes and the same default factor as SQLite mode's pass.
            pg_binary_rescore: number(&get, MNEMO_PG_BINARY_RESCORE, BitRescore::Auto)?,
            dedup_window: Duration::from_secs(number(
                &get,
                MNEMO_DEDUP_WINDOW_SECONDS,
                defaults.dedup_window.as_secs(),
            )?),
            npc_budget: match get(MNEMO_NPC_MEMORY_BUDGET) {
                // A budget of 0 would forget every memory as it is stored.
                Some(v) => Some(positive_count(
                    parse(MNEMO_NPC_MEMORY_BUDGET, &v)?,
                    MNEMO_NPC_MEMORY_BUDGET,
                )? as u64),
                None => defaults.npc_budget,
            },
            forgotten_retention: Duration::from_secs(
                positive_count(
                    number(
                        &get,
                        MNEMO_FORGOTTEN_RETENTION_HOURS,
                        (defaults.forgotten_retention.as_secs() / 3600) as usize,
                    )?,
                    MNEMO_FORGOTTEN_RETENTION_HOURS,
                )?
                .saturating_mul(3600) as u64,
            ),
            record_cache: number(&get, MNEMO_RECORD_CACHE_SIZE, defaults.record_cache)?,
            ..defaults
        };
        let mut http = HttpSettings {
            bind: get(MNEMO_BIND).unwrap_or_else(|| HttpSettings::default().bind),
            ..HttpSettings::default()
        };
        if let Some(v) = get(MNEMO_HTTP_WORKERS) {
            let n: usize = parse(MNEMO_HTTP_WORKERS, &v)?;
            http.workers = Some(positive_count(n, MNEMO_HTTP_WORKERS)?);
        }
        http.json_limit = number(&get, MNEMO_JSON_LIMIT_BYTES, http.json_limit)?;
        http.request_timeout = seconds(&get, MNEMO_REQUEST_TIMEOUT_SECONDS, http.request_timeout)?;
        http.shutdown_timeout =
            seconds(&get, MNEMO_SHUTDOWN_TIMEOUT_SECONDS, http.shutdown_timeout)?;
        let rate: f64 = number(&get, MNEMO_RATE_LIMIT_PER_SECOND, http.rate_per_second)?;
        if !rate.is_finite() || rate < 0.0 {
            return Err(SettingsError(format!(
                "{MNEMO_RATE_LIMIT_PER_SECOND} must be a number >= 0"
            )));
        }
        http.rate_per_second = rate;
        http.rate_burst = number(&get, MNEMO_RATE_LIMIT_BURST, http.rate_burst)?;
        if http.rate_burst == 0 {
            return Err(SettingsError(format!(
                "{MNEMO_RATE_LIMIT_BURST} must be at least 1"
            )));
        }
        http.auth_cache_ttl = seconds(&get, MNEMO_AUTH_CACHE_SECONDS, http.auth_cache_ttl)?;
        if let Some(v) = get(MNEMO_METRICS_TOKEN_REQUIRED) {
            http.metrics_token_required = boolean(MNEMO_METRICS_TOKEN_REQUIRED, &v)?;
        }
        Ok(Self {
            database,
            pool,
            vault_address: get(MNEMO_XRPL_VAULT_ADDRESS)
                .unwrap_or_else(|| DEFAULT_VAULT_ADDRESS.into()),
            embedding,
            memory,
            http,
        })
    }

    /// The pool settings of a command (no statement timeout: commands build
    /// indexes and rewrite whole tables) or of `mnemo serve`.
    pub fn pool_for(&self, serving: bool) -> DbSettings {
        DbSettings {
            statement_timeout: self.pool.statement_timeout.filter(|_| serving),
            ..self.pool
        }
    }
}

/// `${XDG_CACHE_HOME:-$HOME/.cache}/mnemo/all-MiniLM-L6-v2`; `None` when neither is set.
fn default_model_dir(lookup: &impl Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let non_empty = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let cache = non_empty("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(cache.join("mnemo").join(MINILM_MODEL))
}

fn parse<T: FromStr>(name: &str, value: &str) -> Result<T, SettingsError> {
    value.trim().parse().map_err(|_| {
        SettingsError(format!(
            "{name} must be a non-negative number, got {value:?}"
        ))
    })
}

/// Where a partition starts being searched through HNSW by default: where the
/// backend's exact scan (sign bits, then f32) stops being the faster and the
/// more accurate.
///
/// In process a row costs the bit pass about 9 ns. On the real-text set (one
/// 24,000-row partition, 1536-d, over HTTP, `loadgen run`) the scan answered at
/// p50 0.58 ms, 1,633 QPS (3,148 at concurrency 8) with recall@10 0.998, where
/// HNSW (ef 100) answered at 2.94 ms, 340 QPS (734) with 0.991; in process
/// (`loadgen scan`) 0.26 ms at recall 0.9995 against HNSW's 0.43 ms at 0.982.
/// At 100,000 rows the scan is still near a millisecond.
///
/// Postgres visits each row through its executor, about 0.35 µs a row: 24,000
/// rows would take 8 ms there, against 2.7 ms through pgvector's HNSW.
fn hnsw_threshold(database: &DatabaseTarget) -> usize {
    match database {
        DatabaseTarget::Sqlite { .. } => 100_000,
        DatabaseTarget::Postgres { .. } => 20_000,
    }
}

/// The HNSW search's candidate list by default: recall@10 at least 0.99 on
/// the real-text set where the backend answers it through HNSW.
///
/// Postgres: the real-text set as one 24,000-row NPC in a table that also holds
/// the npc set (124,000 rows under one HNSW index, searches filtered to the
/// NPC), over HTTP (`loadgen run`, 8 s each): ef 150 gave recall@10 0.989 at
/// p50 3.6 ms and 497 QPS at concurrency 8; ef 200 gave 0.991 at 4.5 ms and
/// 399 QPS; ef 250 gave 0.992 at 5.2 ms and 330 QPS. SQLite mode scans such a
/// partition (recall 0.998) and keeps its HNSW for partitions of 100,000 rows
/// and more, where each step of the candidate list costs more than a scan
/// would save.
fn ef_search(database: &DatabaseTarget) -> usize {
    match database {
        DatabaseTarget::Sqlite { .. } => 100,
        DatabaseTarget::Postgres { .. } => 200,
    }
}

fn number<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T, SettingsError> {
    get(name).map_or(Ok(default), |v| parse(name, &v))
}

fn millis(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<Duration, SettingsError> {
    number(get, name, default).map(Duration::from_millis)
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: Duration,
) -> Result<Duration, SettingsError> {
    let Some(v) = get(name) else {
        return Ok(default);
    };
    let secs: f64 = parse(name, &v)?;
    Duration::try_from_secs_f64(secs).map_err(|_| {
        SettingsError(format!(
            "{name} must be a number of seconds >= 0, got {v:?}"
        ))
    })
}

fn positive(d: Duration, name: &str) -> Result<Duration, SettingsError> {
    if d.is_zero() {
        return Err(SettingsError(format!("{name} must be above 0")));
    }
    Ok(d)
}

fn positive_count(n: usize, name: &str) -> Result<usize, SettingsError> {
    if n == 0 {
        return Err(SettingsError(format!("{name} must be at least 1")));
    }
    Ok(n)
}

fn boolean(name: &str, value: &str) -> Result<bool, SettingsError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(SettingsError(format!(
            "{name} must be true or false, got {value:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn defaults_need_nothing_but_a_home() {
        let s = with(&[("HOME", "/home/npc")]).unwrap();
        assert_eq!(
            s.database,
            DatabaseTarget::Sqlite {
                data_dir: "./data".into()
            }
        );
        assert_eq!(s.embedding.provider, "hash");
        assert_eq!(s.embedding.guard, GuardSettings::default());
        assert_eq!(s.http, HttpSettings::default());
        assert_eq!(s.memory.hnsw.int8_rescore, 0);
        assert_eq!(s.memory.hnsw.binary_rescore, BitRescore::Auto);
        assert_eq!(s.memory.pg_binary_rescore, BitRescore::Auto);
        assert_eq!(s.memory.hnsw.build_pool.limit(), 1);
        assert_eq!(s.memory.dedup_window, Duration::from_secs(600));
        assert_eq!(s.memory.npc_budget, None);
        assert_eq!(
            s.memory.forgotten_retention,
            Duration::from_secs(720 * 3600)
        );
        assert_eq!(s.pool_for(false).statement_timeout, None);
        assert_eq!(
            s.pool_for(true).statement_timeout,
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            s.embedding.provider_settings.model_dir,
            Some(PathBuf::from("/home/npc/.cache/mnemo/all-MiniLM-L6-v2"))
        );
    }

    #[test]
    fn hnsw_defaults_are_per_backend_and_the_settings_override_both() {
        let threshold = |vars: &[(&str, &str)]| with(vars).unwrap().memory.hnsw.threshold;
        let pg = (vars::DATABASE_URL, "postgres://u@h/db");
        assert_eq!(threshold(&[("HOME", "/h")]), 100_000);
        assert_eq!(threshold(&[("HOME", "/h"), pg]), 20_000);
        let ef = |vars: &[(&str, &str)]| {
            let memory = with(vars).unwrap().memory;
            assert_eq!(memory.ef_search, memory.hnsw.ef_search);
            memory.ef_search
        };
        assert_eq!(ef(&[("HOME", "/h")]), 100);
        assert_eq!(ef(&[("HOME", "/h"), pg]), 200);
        assert_eq!(ef(&[("HOME", "/h"), pg, (vars::MNEMO_EF_SEARCH, "64")]), 64);
        let set = (vars::MNEMO_HNSW_THRESHOLD, "5000");
        assert_eq!(threshold(&[("HOME", "/h"), set]), 5_000);
        assert_eq!(threshold(&[("HOME", "/h"), pg, set]), 5_000);
    }

    #[test]
    fn values_are_read_and_empty_counts_as_unset() {
        let s = with(&[
            ("HOME", "/h"),
            (vars::MNEMO_JSON_LIMIT_BYTES, "2048"),
            (vars::MNEMO_RATE_LIMIT_PER_SECOND, "0"),
            (vars::MNEMO_AUTH_CACHE_SECONDS, "0.5"),
            (vars::MNEMO_METRICS_TOKEN_REQUIRED, "true"),
            (vars::MNEMO_EMBED_REQUEST_BUDGET_MS, "750"),
            (vars::MNEMO_DB_STATEMENT_TIMEOUT_MS, "0"),
            (vars::DATABASE_URL, "  "),
            (vars::MNEMO_INT8_RESCORE, "4"),
            (vars::MNEMO_BINARY_RESCORE, "0"),
            (vars::MNEMO_PG_BINARY_RESCORE, "16"),
            (vars::MNEMO_HNSW_BUILDS, "2"),
            (vars::MNEMO_DEDUP_WINDOW_SECONDS, "0"),
            (vars::MNEMO_NPC_MEMORY_BUDGET, "200"),
            (vars::MNEMO_FORGOTTEN_RETENTION_HOURS, "2"),
            (vars::MNEMO_RECORD_CACHE_SIZE, "0"),
        ])
        .unwrap();
        assert_eq!(s.http.json_limit, 2048);
        assert_eq!(s.http.auth_cache_ttl, Duration::from_millis(500));
        assert!(s.http.metrics_token_required);
        assert_eq!(
            s.embedding.guard.request.deadline,
            Duration::from_millis(750)
        );
        assert_eq!(s.pool_for(true).statement_timeout, None);
        assert!(matches!(s.database, DatabaseTarget::Sqlite { .. }));
        assert_eq!(s.memory.hnsw.int8_rescore, 4);
        assert_eq!(s.memory.hnsw.binary_rescore, BitRescore::Off);
        assert_eq!(s.memory.pg_binary_rescore, BitRescore::Times(16));
        assert_eq!(s.memory.hnsw.build_pool.limit(), 2);
        assert!(s.memory.dedup_window.is_zero());
        assert_eq!(s.memory.npc_budget, Some(200));
        assert_eq!(s.memory.forgotten_retention, Duration::from_secs(7200));
        assert_eq!(s.memory.record_cache, 0);
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (k, v) in [
            (vars::MNEMO_JSON_LIMIT_BYTES, "lots"),
            (vars::MNEMO_REQUEST_TIMEOUT_SECONDS, "-1"),
            (vars::MNEMO_METRICS_TOKEN_REQUIRED, "maybe"),
            (vars::MNEMO_HTTP_WORKERS, "0"),
            (vars::MNEMO_EMBED_REQUEST_BUDGET_MS, "0"),
            (vars::MNEMO_DB_ACQUIRE_TIMEOUT_MS, "soon"),
            // A budget of 0 would forget everything.
            (vars::MNEMO_NPC_MEMORY_BUDGET, "0"),
            (vars::MNEMO_FORGOTTEN_RETENTION_HOURS, "0"),
            (vars::DATABASE_URL, "mysql://x"),
        ] {
            let err = with(&[("HOME", "/h"), (k, v)]).unwrap_err();
            assert!(err.0.contains(k), "{k}: {err}");
        }
    }
}

//! Embedding provider settings shared by the commands that embed.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use std::time::Duration;

use crate::embed::{
    self, BreakerSettings, Budget, CachedEmbedder, EmbedSettings, GuardSettings, OpenAiSettings,
};

#[derive(Debug, Clone, Args)]
pub struct EmbeddingArgs {
    /// Embedding provider: `hash` (offline, lexical: matches words, not meaning), `openai`, or
    /// `minilm` (local all-MiniLM-L6-v2, needs a build with `--features minilm` and
    /// `mnemo model fetch`).
    #[arg(
        long,
        env = "MNEMO_EMBEDDING_PROVIDER",
        default_value = "hash",
        global = true
    )]
    pub embedding_provider: String,
    /// OpenAI API key (provider `openai`).
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true, global = true)]
    pub openai_api_key: Option<String>,
    /// Base URL of an OpenAI-compatible server.
    #[arg(long, env = "OPENAI_BASE_URL", global = true)]
    pub openai_base_url: Option<String>,
    /// Entries in the LRU cache of query embeddings (0 turns it off).
    #[arg(
        long,
        env = "MNEMO_QUERY_CACHE_SIZE",
        default_value_t = 10_000,
        global = true
    )]
    pub query_cache_size: usize,
    /// Longest a request an NPC waits for may spend on the provider (ms; one retry at
    /// most): past it a store is committed pending (202) and a search answers 503.
    #[arg(
        long,
        env = "MNEMO_EMBED_REQUEST_BUDGET_MS",
        default_value_t = 2000,
        global = true
    )]
    pub embed_request_budget_ms: u64,
    /// Consecutive provider failures after which requests stop calling it for a
    /// cool-down (0: never).
    #[arg(
        long,
        env = "MNEMO_EMBED_BREAKER_FAILURES",
        default_value_t = 5,
        global = true
    )]
    pub embed_breaker_failures: u32,
    /// How long (ms) requests leave a failing provider alone before one probe call.
    #[arg(
        long,
        env = "MNEMO_EMBED_BREAKER_COOLDOWN_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub embed_breaker_cooldown_ms: u64,
    /// Directory of the local model files (provider `minilm`); default
    /// `${XDG_CACHE_HOME:-$HOME/.cache}/mnemo/all-MiniLM-L6-v2`.
    #[arg(long, env = "MNEMO_MODEL_DIR", global = true)]
    pub model_dir: Option<PathBuf>,
}

impl EmbeddingArgs {
    /// The provider settings from these flags.
    pub fn settings(&self) -> EmbedSettings {
        EmbedSettings {
            openai: OpenAiSettings {
                api_key: self.openai_api_key.clone().unwrap_or_default(),
                base_url: self.openai_base_url.clone(),
                ..OpenAiSettings::default()
            },
            model_dir: self.model_dir.clone(),
            ..EmbedSettings::default()
        }
    }

    /// The configured provider's vector length, known without building it.
    pub fn dimension(&self) -> Option<usize> {
        embed::dimension_of(&self.embedding_provider, &self.settings())
    }

    /// The request path's budget and breaker.
    pub fn guard(&self) -> Result<GuardSettings, embed::EmbedError> {
        if self.embed_request_budget_ms == 0 {
            return Err(embed::EmbedError::Permanent(
                "MNEMO_EMBED_REQUEST_BUDGET_MS must be above 0".into(),
            ));
        }
        Ok(GuardSettings {
            request: Budget {
                deadline: Duration::from_millis(self.embed_request_budget_ms),
                attempts: Budget::REQUEST.attempts,
            },
            breaker: BreakerSettings {
                failures: self.embed_breaker_failures,
                cooldown: Duration::from_millis(self.embed_breaker_cooldown_ms),
            },
        })
    }

    /// The configured provider behind the query cache, the request budget and the breaker.
    pub fn build(&self) -> Result<Arc<CachedEmbedder>, embed::EmbedError> {
        let guard = self.guard()?;
        let provider = embed::build(&self.embedding_provider, &self.settings())?;
        Ok(Arc::new(
            CachedEmbedder::new(provider, self.query_cache_size).with_guard(guard),
        ))
    }
}

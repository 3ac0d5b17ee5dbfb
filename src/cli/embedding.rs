//! Embedding provider settings shared by the commands that embed.

use std::sync::Arc;

use clap::Args;

use crate::embed::{self, CachedEmbedder, EmbedSettings, OpenAiSettings};

#[derive(Debug, Clone, Args)]
pub struct EmbeddingArgs {
    /// Embedding provider: `hash` (offline, lexical: matches words, not meaning) or `openai`.
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
}

impl EmbeddingArgs {
    /// The configured provider behind the query cache.
    pub fn build(&self) -> Result<Arc<CachedEmbedder>, embed::EmbedError> {
        let settings = EmbedSettings {
            openai: OpenAiSettings {
                api_key: self.openai_api_key.clone().unwrap_or_default(),
                base_url: self.openai_base_url.clone(),
                ..OpenAiSettings::default()
            },
            ..EmbedSettings::default()
        };
        let provider = embed::build(&self.embedding_provider, &settings)?;
        Ok(Arc::new(CachedEmbedder::new(
            provider,
            self.query_cache_size,
        )))
    }
}

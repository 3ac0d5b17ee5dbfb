//! Embedding providers: the `Embedder` trait, the offline hash provider, OpenAI, and the query cache.
//!
//! * [`HashEmbedder`] (`"hash"`, the default): offline, deterministic, lexical. It matches
//!   words, not meaning.
//! * [`OpenAiEmbedder`] (`"openai"`): OpenAI's embeddings endpoint (or any compatible server),
//!   batched, with deadline-bounded retries.
//! * `MiniLmEmbedder` (`"minilm"`, cargo feature `minilm`): all-MiniLM-L6-v2 (384-d) run
//!   in-process on the CPU from a local model directory (see [`minilm`]). Matches meaning.
//! * [`CachedEmbedder`]: an LRU of query embeddings in front of any of them.
//!
//! Every provider returns L2-normalised vectors, so cosine similarity is a dot product.

mod breaker;
mod cache;
mod error;
mod hash;
pub mod minilm;
#[cfg(any(test, feature = "test-support"))]
pub mod mock;
mod openai;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use breaker::{Breaker, BreakerSettings, BreakerState};
pub use cache::{CachedEmbedder, GuardSettings};
pub use error::EmbedError;
pub use hash::{HASH_MODEL, HashEmbedder, is_stopword};
#[cfg(feature = "minilm")]
pub use minilm::MiniLmEmbedder;
pub use minilm::{MINILM_DIMENSION, MINILM_MODEL};
pub use openai::{OPENAI_DEFAULT_BASE_URL, OpenAiEmbedder, OpenAiSettings};

/// Dimension of `text-embedding-3-small`, and the default of every provider so that the
/// offline provider's vectors fit the same columns.
pub const DEFAULT_DIMENSION: usize = 1536;

/// Turns texts into vectors.
///
/// Object safe: the service holds an `Arc<dyn Embedder>`. `embed` returns a boxed future
/// rather than being an `async fn` because `async fn` in traits cannot be called through
/// `dyn`.
pub trait Embedder: Send + Sync {
    /// The model name recorded with every stored vector, e.g. `"text-embedding-3-small"` or
    /// `"mnemo-hash-v1"`. Vectors of different models are never compared.
    fn model(&self) -> &str;

    /// Length of every vector this embedder returns.
    fn dimension(&self) -> usize;

    /// One vector per input, in input order, each L2-normalised and `dimension()` long.
    ///
    /// An empty slice yields an empty result without contacting any provider. An empty or
    /// whitespace-only text is refused with [`EmbedError::Rejected`].
    fn embed<'a>(&'a self, texts: &'a [String])
    -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>>;

    /// [`embed`](Self::embed) within `budget`: a provider that retries makes at most
    /// `budget.attempts` attempts and starts none past `budget.deadline`. The default is
    /// `embed` itself, for providers that never retry (the caller still bounds the time).
    fn embed_within<'a>(
        &'a self,
        texts: &'a [String],
        budget: Budget,
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        let _ = budget;
        self.embed(texts)
    }
}

/// How long one embedding call may take and how many attempts it may make. A request an
/// NPC is waiting for gets a short one ([`Budget::REQUEST`]); the background worker and
/// `mnemo reembed` use the provider's own, long retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// No attempt starts, and none runs, past this long after the call began.
    pub deadline: Duration,
    /// Attempts in all (1 = no retry).
    pub attempts: u32,
}

impl Budget {
    /// The request path's default: two seconds and one retry at most. An NPC's reply is
    /// waiting; a write that cannot be embedded in time is stored pending instead, and a
    /// search answers 503 at once rather than after the provider's 60 s retry budget.
    pub const REQUEST: Budget = Budget {
        deadline: Duration::from_secs(2),
        attempts: 2,
    };
}

impl Default for Budget {
    fn default() -> Self {
        Budget::REQUEST
    }
}

/// Everything [`build`] needs to make any provider. The caller fills it from its own
/// configuration (env, CLI); the library itself never reads the environment.
#[derive(Clone, Debug)]
pub struct EmbedSettings {
    /// Dimension of the `hash` provider (default 1536).
    pub hash_dimension: usize,
    /// Settings of the `openai` provider; `api_key` is `OPENAI_API_KEY`, `base_url` is
    /// `OPENAI_BASE_URL`.
    pub openai: OpenAiSettings,
    /// Directory of the `minilm` model files (`MNEMO_MODEL_DIR`, else the user's cache
    /// directory, as the settings resolve it); `None`: none could be resolved.
    pub model_dir: Option<PathBuf>,
}

impl Default for EmbedSettings {
    fn default() -> Self {
        EmbedSettings {
            hash_dimension: DEFAULT_DIMENSION,
            openai: OpenAiSettings::default(),
            model_dir: None,
        }
    }
}

/// Makes the provider named `provider`: `"hash"`, `"openai"` or `"minilm"` (ASCII case
/// ignored).
///
/// Errors are [`EmbedError::Permanent`]: an unknown name, a zero hash dimension, invalid
/// OpenAI settings (missing key, bad base URL, zero batch size or dimension), a missing or
/// unreadable model directory, or `"minilm"` in a build without the `minilm` feature.
pub fn build(provider: &str, settings: &EmbedSettings) -> Result<Arc<dyn Embedder>, EmbedError> {
    match provider.trim().to_ascii_lowercase().as_str() {
        "hash" => {
            if settings.hash_dimension == 0 {
                return Err(EmbedError::Permanent(
                    "the hash embedder needs a dimension above 0".into(),
                ));
            }
            Ok(Arc::new(HashEmbedder::new(settings.hash_dimension)))
        }
        "openai" => Ok(Arc::new(OpenAiEmbedder::new(settings.openai.clone())?)),
        "minilm" => build_minilm(settings),
        other => Err(EmbedError::Permanent(format!(
            "unknown embedding provider {other:?}: expected \"hash\", \"openai\" or \"minilm\""
        ))),
    }
}

#[cfg(feature = "minilm")]
fn build_minilm(settings: &EmbedSettings) -> Result<Arc<dyn Embedder>, EmbedError> {
    let dir = minilm::resolve_model_dir(settings.model_dir.as_deref())?;
    Ok(Arc::new(MiniLmEmbedder::load(&dir)?))
}

#[cfg(not(feature = "minilm"))]
fn build_minilm(_settings: &EmbedSettings) -> Result<Arc<dyn Embedder>, EmbedError> {
    Err(EmbedError::Permanent(
        "this mnemo was built without the local model: rebuild with `cargo build --features minilm` \
         to use the \"minilm\" provider"
            .into(),
    ))
}

/// The vector length the provider named `provider` would return, without building it (no
/// model is loaded, no key is checked). `None` for an unknown name.
///
/// `mnemo migrate` sizes the Postgres vector columns with it.
pub fn dimension_of(provider: &str, settings: &EmbedSettings) -> Option<usize> {
    match provider.trim().to_ascii_lowercase().as_str() {
        "hash" => Some(settings.hash_dimension),
        "openai" => Some(settings.openai.dimension),
        "minilm" => Some(MINILM_DIMENSION),
        _ => None,
    }
}

/// Scales `vector` to unit length in place.
///
/// Refuses vectors that cannot be normalised (a NaN or infinite value, or all zeros): the
/// vector store would reject them anyway, and a provider that sends them is broken.
pub(crate) fn normalise(vector: &mut [f32]) -> Result<(), String> {
    if vector.iter().any(|x| !x.is_finite()) {
        return Err("vector holds a NaN or infinite value".into());
    }
    // Accumulate in f64: 1536 squares summed in f32 lose digits, and the result must not
    // depend on summation tricks.
    let norm = vector
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err("vector has zero length".into());
    }
    for x in vector.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
    Ok(())
}

/// Refuses empty or whitespace-only inputs, naming the first one.
pub(crate) fn check_not_blank(texts: &[String]) -> Result<(), EmbedError> {
    match texts.iter().position(|t| t.trim().is_empty()) {
        Some(i) => Err(EmbedError::Rejected(format!(
            "input {i} is empty or whitespace only"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_knows_both_providers_and_refuses_others() {
        let hash = build("hash", &EmbedSettings::default()).expect("hash builds");
        assert_eq!(hash.model(), "mnemo-hash-v1");
        assert_eq!(hash.dimension(), 1536);
        assert_eq!(
            build(" HASH ", &EmbedSettings::default()).map(|e| e.dimension()),
            Ok(1536)
        );

        let err = build("word2vec", &EmbedSettings::default()).err();
        assert!(matches!(err, Some(EmbedError::Permanent(m)) if m.contains("word2vec")));

        let zero = EmbedSettings {
            hash_dimension: 0,
            ..EmbedSettings::default()
        };
        assert!(build("hash", &zero).is_err());
    }

    #[test]
    fn dimension_of_needs_no_model_and_no_key() {
        let settings = EmbedSettings::default();
        assert_eq!(dimension_of("hash", &settings), Some(1536));
        assert_eq!(dimension_of("OpenAI", &settings), Some(1536));
        assert_eq!(dimension_of("minilm", &settings), Some(384));
        assert_eq!(dimension_of("word2vec", &settings), None);
    }

    #[cfg(not(feature = "minilm"))]
    #[test]
    fn minilm_without_the_feature_says_how_to_get_it() {
        let err = build("minilm", &EmbedSettings::default()).err();
        assert!(matches!(err, Some(EmbedError::Permanent(m)) if m.contains("--features minilm")));
    }

    #[cfg(feature = "minilm")]
    #[test]
    fn minilm_without_a_model_says_what_to_run() {
        let settings = EmbedSettings {
            model_dir: Some(std::env::temp_dir().join("mnemo-no-model-here")),
            ..EmbedSettings::default()
        };
        let err = build("minilm", &settings).err();
        assert!(matches!(err, Some(EmbedError::Permanent(m)) if m.contains("mnemo model fetch")));
    }

    #[test]
    fn openai_without_a_key_is_a_permanent_error_naming_the_variable() {
        let err = build("openai", &EmbedSettings::default()).err();
        assert!(matches!(err, Some(EmbedError::Permanent(m)) if m.contains("OPENAI_API_KEY")));
    }

    #[test]
    fn openai_with_a_key_builds_without_network() {
        let mut settings = EmbedSettings::default();
        settings.openai.api_key = "sk-test".into();
        let openai = build("openai", &settings).expect("builds");
        assert_eq!(openai.model(), "text-embedding-3-small");
        assert_eq!(openai.dimension(), 1536);
    }

    #[test]
    fn normalise_makes_unit_vectors_and_refuses_degenerate_ones() {
        let mut v = vec![3.0, 4.0];
        normalise(&mut v).expect("normalises");
        assert_eq!(v, vec![0.6, 0.8]);
        assert!(normalise(&mut [0.0, 0.0]).is_err());
        assert!(normalise(&mut [f32::NAN, 1.0]).is_err());
        assert!(normalise(&mut [f32::INFINITY, 1.0]).is_err());
    }

    #[test]
    fn blank_inputs_are_named() {
        let texts = vec!["a".to_string(), " \t\n".to_string()];
        assert_eq!(
            check_not_blank(&texts),
            Err(EmbedError::Rejected(
                "input 1 is empty or whitespace only".into()
            ))
        );
    }
}

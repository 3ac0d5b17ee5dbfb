//! An LRU cache of query embeddings.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::BoxFuture;
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::{EmbedError, Embedder};

/// Cache key: SHA-256 of (model, text). A fixed 32 bytes instead of the text itself keeps the
/// memory per entry bounded whatever the query length; a collision is not a practical risk.
type Key = [u8; 32];

/// LRU cache of query embeddings keyed by (model, text), wrapping an `Arc<dyn Embedder>`.
///
/// Searches repeat (the same NPC asks the same thing every tick), and a remote provider call
/// costs tens of milliseconds and money, so [`CachedEmbedder::embed_query`] answers repeated
/// texts from memory. [`Embedder::embed`] passes straight through: bulk writes rarely repeat
/// and would only push useful queries out.
///
/// Texts are cached exactly as given (no trimming or case folding). Errors are not cached.
/// Two concurrent misses for the same text both call the provider (no request coalescing).
/// Capacity 0 disables caching: every query is a miss and goes to the provider.
pub struct CachedEmbedder {
    inner: Arc<dyn Embedder>,
    /// `None` when the capacity is 0. A std mutex is enough: it is held only for a lookup or
    /// an insert, never across an `.await`.
    entries: Option<Mutex<LruCache<Key, Arc<[f32]>>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CachedEmbedder {
    /// Caches up to `capacity` query vectors of `inner` (0 disables the cache).
    pub fn new(inner: Arc<dyn Embedder>, capacity: usize) -> Self {
        CachedEmbedder {
            inner,
            entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The vector of one query text, from the cache or (on a miss) from the provider.
    pub async fn embed_query(&self, text: &str) -> Result<Arc<[f32]>, EmbedError> {
        let key = cache_key(self.inner.model(), text);
        if let Some(entries) = &self.entries
            && let Some(vector) = lock(entries).get(&key)
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(vector.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let mut vectors = self.inner.embed(&[text.to_string()]).await?;
        let vector: Arc<[f32]> = match (vectors.pop(), vectors.is_empty()) {
            (Some(v), true) if v.len() == self.inner.dimension() => v.into(),
            _ => {
                return Err(EmbedError::Permanent(format!(
                    "embedder {} did not return exactly one {}-long vector for one query",
                    self.inner.model(),
                    self.inner.dimension()
                )));
            }
        };
        if let Some(entries) = &self.entries {
            lock(entries).put(key, vector.clone());
        }
        Ok(vector)
    }

    /// Queries answered from the cache so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Queries that went to the provider so far (including failed ones).
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Vectors currently cached.
    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| lock(e).len())
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Most vectors kept (0: caching disabled).
    pub fn capacity(&self) -> usize {
        self.entries.as_ref().map_or(0, |e| lock(e).cap().get())
    }

    /// The wrapped embedder.
    pub fn inner(&self) -> &Arc<dyn Embedder> {
        &self.inner
    }
}

impl Embedder for CachedEmbedder {
    fn model(&self) -> &str {
        self.inner.model()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    /// Passes through to the wrapped embedder without touching the cache.
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        self.inner.embed(texts)
    }
}

/// Locks ignoring poison: the cache holds no invariant a panic elsewhere could break.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// SHA-256 over the model's length, the model and the text: the length prefix keeps
/// ("ab", "c") and ("a", "bc") apart.
fn cache_key(model: &str, text: &str) -> Key {
    let mut hasher = Sha256::new();
    hasher.update((model.len() as u64).to_le_bytes());
    hasher.update(model.as_bytes());
    hasher.update(text.as_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;
    use crate::embed::mock::MockOpenAi;
    use crate::embed::{HashEmbedder, OpenAiEmbedder, OpenAiSettings};

    /// A hash embedder that counts its calls.
    struct Counting {
        hash: HashEmbedder,
        calls: AtomicUsize,
    }

    impl Embedder for Counting {
        fn model(&self) -> &str {
            self.hash.model()
        }
        fn dimension(&self) -> usize {
            self.hash.dimension()
        }
        fn embed<'a>(
            &'a self,
            texts: &'a [String],
        ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            self.hash.embed(texts)
        }
    }

    fn counting() -> Arc<Counting> {
        Arc::new(Counting {
            hash: HashEmbedder::new(32),
            calls: AtomicUsize::new(0),
        })
    }

    #[tokio::test]
    async fn second_identical_query_is_a_hit_without_a_provider_call() {
        let mock = MockOpenAi::start(16).expect("mock starts");
        let openai = OpenAiEmbedder::new(OpenAiSettings {
            api_key: "sk-test".into(),
            base_url: Some(mock.base_url()),
            dimension: 16,
            deadline: Duration::from_secs(5),
            ..OpenAiSettings::default()
        })
        .expect("builds");
        let cache = CachedEmbedder::new(Arc::new(openai), 8);

        let first = cache
            .embed_query("where is the blacksmith?")
            .await
            .expect("first");
        assert_eq!((cache.hits(), cache.misses(), mock.requests()), (0, 1, 1));
        let second = cache
            .embed_query("where is the blacksmith?")
            .await
            .expect("second");
        assert_eq!((cache.hits(), cache.misses(), mock.requests()), (1, 1, 1));
        assert_eq!(first, second);
        assert_eq!(first.len(), 16);
    }

    #[tokio::test]
    async fn least_recently_used_entry_is_evicted_at_capacity() {
        let inner = counting();
        let cache = CachedEmbedder::new(inner.clone(), 2);
        for text in ["a", "b", "a", "c"] {
            cache.embed_query(text).await.expect("embeds");
        }
        // "a" was used after "b", so "c" pushed "b" out.
        assert_eq!((cache.hits(), cache.misses(), cache.len()), (1, 3, 2));
        assert_eq!(inner.calls.load(Ordering::SeqCst), 3);

        cache.embed_query("a").await.expect("a");
        cache.embed_query("c").await.expect("c");
        assert_eq!((cache.hits(), cache.misses()), (3, 3));
        cache.embed_query("b").await.expect("b");
        assert_eq!((cache.hits(), cache.misses()), (3, 4));
        assert_eq!(inner.calls.load(Ordering::SeqCst), 4);
        assert_eq!(cache.capacity(), 2);
    }

    #[tokio::test]
    async fn bulk_embed_passes_through_and_capacity_zero_disables() {
        let inner = counting();
        let cache = CachedEmbedder::new(inner.clone(), 0);
        cache.embed_query("a").await.expect("a");
        cache.embed_query("a").await.expect("a");
        assert_eq!((cache.hits(), cache.misses(), cache.len()), (0, 2, 0));

        let texts = vec!["x".to_string(), "y".to_string()];
        let cached = CachedEmbedder::new(inner.clone(), 4);
        let out = cached.embed(&texts).await.expect("bulk");
        assert_eq!(out.len(), 2);
        assert!(cached.is_empty());
        assert_eq!((cached.hits(), cached.misses()), (0, 0));
        assert_eq!(cached.model(), "mnemo-hash-v1");
        assert_eq!(cached.inner().dimension(), 32);
    }

    #[tokio::test]
    async fn errors_are_not_cached() {
        let cache = CachedEmbedder::new(counting(), 4);
        assert!(cache.embed_query("  ").await.is_err());
        assert!(cache.embed_query("  ").await.is_err());
        assert_eq!((cache.hits(), cache.misses(), cache.len()), (0, 2, 0));
    }

    #[test]
    fn key_depends_on_model_and_text_boundaries() {
        assert_ne!(cache_key("m1", "t"), cache_key("m2", "t"));
        assert_ne!(cache_key("ab", "c"), cache_key("a", "bc"));
        assert_eq!(cache_key("m", "t"), cache_key("m", "t"));
    }
}

//! The provider as the stores use it: an LRU cache of query embeddings, the short budget
//! of the request path and the circuit breaker ([`super::breaker`]).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use futures_util::future::BoxFuture;
use lru::LruCache;
use sha2::{Digest, Sha256};

use super::{Breaker, BreakerSettings, Budget, EmbedError, Embedder};

/// How the request path treats the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GuardSettings {
    /// What one request-path call may spend (`MNEMO_EMBED_REQUEST_BUDGET_MS`).
    pub request: Budget,
    /// When the breaker opens (`MNEMO_EMBED_BREAKER_FAILURES`, `MNEMO_EMBED_BREAKER_COOLDOWN_MS`).
    pub breaker: BreakerSettings,
}

/// Cache key: SHA-256 of (model, text). A fixed 32 bytes instead of the text itself keeps the
/// memory per entry bounded whatever the query length; a collision is not a practical risk.
type Key = [u8; 32];

/// LRU cache of query embeddings keyed by (model, text), wrapping an `Arc<dyn Embedder>`,
/// with the request path's budget and circuit breaker.
///
/// Searches repeat (the same NPC asks the same thing every tick), and a remote provider call
/// costs tens of milliseconds and money, so [`CachedEmbedder::embed_query`] answers repeated
/// texts from memory. Texts are cached exactly as given (no trimming or case folding). Errors
/// are not cached. Two concurrent misses for the same text both call the provider (no request
/// coalescing). Capacity 0 disables caching: every query is a miss and goes to the provider.
///
/// Two ways to the provider:
/// * the request path ([`embed_query`](Self::embed_query), [`embed_now`](Self::embed_now)),
///   for requests an NPC waits for: the breaker first, then at most the request budget
///   (two seconds, one retry by default), whatever the provider's own retry policy;
/// * [`Embedder::embed`], for the background worker and `mnemo reembed`: the provider's own
///   long retry policy, the cache left alone (bulk writes rarely repeat and would only push
///   useful queries out).
///
/// Both count their outcome in the breaker, so the worker's first success after an outage
/// closes it.
pub struct CachedEmbedder {
    inner: Arc<dyn Embedder>,
    /// `None` when the capacity is 0. A std mutex is enough: it is held only for a lookup or
    /// an insert, never across an `.await`.
    entries: Option<Mutex<LruCache<Key, Arc<[f32]>>>>,
    hits: AtomicU64,
    misses: AtomicU64,
    request: Budget,
    breaker: Breaker,
}

impl CachedEmbedder {
    /// Caches up to `capacity` query vectors of `inner` (0 disables the cache), with the
    /// default request budget and breaker.
    pub fn new(inner: Arc<dyn Embedder>, capacity: usize) -> Self {
        CachedEmbedder {
            inner,
            entries: NonZeroUsize::new(capacity).map(|c| Mutex::new(LruCache::new(c))),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            request: Budget::REQUEST,
            breaker: Breaker::new(BreakerSettings::default()),
        }
    }

    /// The same with another request budget and breaker.
    pub fn with_guard(self, guard: GuardSettings) -> Self {
        CachedEmbedder {
            request: guard.request,
            breaker: Breaker::new(guard.breaker),
            ..self
        }
    }

    /// Vectors for `texts` on the request path: refused at once while the breaker is open,
    /// else the provider within the request budget. One vector per text, in order.
    pub async fn embed_now(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.breaker.admit()?;
        let budget = self.request;
        let outcome =
            match tokio::time::timeout(budget.deadline, self.inner.embed_within(texts, budget))
                .await
            {
                Ok(outcome) => outcome,
                Err(_) => Err(EmbedError::Transient(format!(
                    "no answer within the request budget of {} ms",
                    budget.deadline.as_millis()
                ))),
            };
        self.breaker.record(&outcome);
        outcome
    }

    /// The circuit breaker, for metrics.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The request path's budget.
    pub fn request_budget(&self) -> Budget {
        self.request
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
        let mut vectors = self.embed_now(&[text.to_string()]).await?;
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

    /// The background path: the wrapped embedder's own retry policy, the cache left alone,
    /// the outcome counted by the breaker.
    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(async move {
            let outcome = self.inner.embed(texts).await;
            self.breaker.record(&outcome);
            outcome
        })
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

    /// A provider that fails (503-like) while `down` is set, else embeds as the hash does.
    struct Flaky {
        hash: HashEmbedder,
        down: std::sync::atomic::AtomicBool,
        calls: AtomicUsize,
    }

    impl Embedder for Flaky {
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
            if self.down.load(Ordering::SeqCst) {
                return Box::pin(async { Err(EmbedError::Transient("503".into())) });
            }
            self.hash.embed(texts)
        }
    }

    #[tokio::test]
    async fn the_request_path_stops_calling_a_failing_provider_until_it_recovers() {
        let flaky = Arc::new(Flaky {
            hash: HashEmbedder::new(32),
            down: true.into(),
            calls: AtomicUsize::new(0),
        });
        let cache = CachedEmbedder::new(flaky.clone(), 0).with_guard(GuardSettings {
            request: Budget::REQUEST,
            breaker: BreakerSettings {
                failures: 3,
                cooldown: Duration::from_secs(3600),
            },
        });
        let texts = vec!["the gate".to_string()];
        for _ in 0..10 {
            assert!(cache.embed_now(&texts).await.unwrap_err().is_transient());
        }
        assert_eq!(
            flaky.calls.load(Ordering::SeqCst),
            3,
            "open after three failures"
        );
        let open = cache.embed_query("the gate").await.unwrap_err();
        assert!(open.retry_after().is_some(), "{open:?}");

        // The background path still tries, and its success closes the breaker.
        flaky.down.store(false, Ordering::SeqCst);
        cache.embed(&texts).await.expect("the provider is back");
        assert_eq!(cache.breaker().state(), crate::embed::BreakerState::Closed);
        assert_eq!(cache.embed_now(&texts).await.expect("closed").len(), 1);
    }

    #[tokio::test]
    async fn the_request_path_gives_a_hanging_provider_its_budget_and_no_more() {
        let mock = MockOpenAi::start(16).expect("mock starts");
        mock.set_fallback(crate::embed::mock::MockReply::Delay(Duration::from_secs(
            60,
        )));
        let openai = OpenAiEmbedder::new(OpenAiSettings {
            api_key: "sk-test".into(),
            base_url: Some(mock.base_url()),
            dimension: 16,
            ..OpenAiSettings::default()
        })
        .expect("builds");
        let cache = CachedEmbedder::new(Arc::new(openai), 8).with_guard(GuardSettings {
            request: Budget {
                deadline: Duration::from_millis(200),
                attempts: 2,
            },
            ..GuardSettings::default()
        });
        let started = std::time::Instant::now();
        let err = cache.embed_query("anyone there?").await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        // The provider hangs for 60 s (and retries for 60 s more); 200 ms is the budget.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn key_depends_on_model_and_text_boundaries() {
        assert_ne!(cache_key("m1", "t"), cache_key("m2", "t"));
        assert_ne!(cache_key("ab", "c"), cache_key("a", "bc"));
        assert_eq!(cache_key("m", "t"), cache_key("m", "t"));
    }
}

//! Per-token rate limiting: a token bucket per API token id.
//!
//! A dozen lines of arithmetic under one mutex; `governor` would do the same
//! with more machinery (keyed state store, clock abstraction) than this needs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Token buckets keyed by API token id.
pub struct RateLimiter {
    /// Refill rate, requests per second. 0 disables limiting.
    rate: f64,
    /// Bucket capacity.
    burst: f64,
    buckets: Mutex<HashMap<i64, Bucket>>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub fn new(rate_per_second: f64, burst: u32) -> Self {
        Self {
            rate: rate_per_second,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request from `key`'s bucket. `Err(seconds)` when empty: how long
    /// until the next request would be allowed, rounded up (at least 1, as
    /// `Retry-After` counts whole seconds).
    pub fn check(&self, key: i64) -> Result<(), u64> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: i64, now: Instant) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.burst,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.rate;
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn burst_then_refill_per_key() {
        let limiter = RateLimiter::new(2.0, 3);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at(1, t0).is_ok());
        }
        assert_eq!(limiter.check_at(1, t0), Err(1));
        // Another token has its own bucket.
        assert!(limiter.check_at(2, t0).is_ok());
        // Half a second at 2/s refills one request.
        assert!(limiter.check_at(1, t0 + Duration::from_millis(500)).is_ok());
        assert!(
            limiter
                .check_at(1, t0 + Duration::from_millis(500))
                .is_err()
        );
        // Never more than the burst, however long idle.
        let later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert!(limiter.check_at(1, later).is_ok());
        }
        assert!(limiter.check_at(1, later).is_err());
    }

    #[test]
    fn zero_rate_disables() {
        let limiter = RateLimiter::new(0.0, 1);
        for _ in 0..1000 {
            assert!(limiter.check(1).is_ok());
        }
    }
}

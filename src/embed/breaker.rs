//! A circuit breaker in front of the embedding provider.
//!
//! During an outage every request would otherwise spend its whole budget (two seconds)
//! finding out again that the provider is down. After `failures` consecutive failures the
//! breaker opens: request-path calls fail at once (the store commits rows as pending, a
//! search answers 503) for `cooldown`. Then one call is let through as a probe (half-open):
//! its success closes the breaker, its failure opens it for another cool-down. Any
//! successful call closes it, so the background worker's first success after an outage
//! (it keeps trying with its own back-off) ends the fast failures without waiting.
//!
//! Only provider trouble counts: a rejected input (a text over the token limit) says
//! nothing about the provider's health and neither opens nor closes the breaker.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::EmbedError;

/// When the breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive provider failures that open the breaker (0 turns it off).
    pub failures: u32,
    /// How long it stays open before one probe call is let through.
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    /// Five failures in a row: one or two failed calls are a blip worth retrying, five are an
    /// outage. Ten seconds of cool-down: during an outage one request in ten seconds pays the
    /// budget to probe, every other one costs microseconds.
    fn default() -> Self {
        Self {
            failures: 5,
            cooldown: Duration::from_secs(10),
        }
    }
}

/// What `/metrics` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls go to the provider.
    Closed,
    /// Calls fail at once until the cool-down ends.
    Open,
    /// The cool-down ended; one probe call is on its way.
    HalfOpen,
}

impl BreakerState {
    /// The gauge value: 0 closed, 1 open, 2 half-open.
    pub fn gauge(self) -> i64 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    consecutive: u32,
    open_until: Option<Instant>,
    /// When the probe in flight was let through. A probe whose caller went away (a dropped
    /// request) never reports back, so one older than a cool-down no longer blocks the next.
    probing: Option<Instant>,
}

impl Inner {
    fn probe_in_flight(&self, now: Instant, cooldown: Duration) -> bool {
        self.probing.is_some_and(|started| now < started + cooldown)
    }
}

/// The breaker itself; shared by every caller of one provider.
#[derive(Debug, Default)]
pub struct Breaker {
    settings: BreakerSettings,
    inner: Mutex<Inner>,
    opened: AtomicU64,
    recovered: tokio::sync::Notify,
}

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Self {
        Self {
            settings,
            ..Self::default()
        }
    }

    /// May a request-path call go to the provider now? `Err` is the error to answer with
    /// instead (an open circuit and when it ends).
    pub fn admit(&self) -> Result<(), EmbedError> {
        self.admit_at(Instant::now())
    }

    fn admit_at(&self, now: Instant) -> Result<(), EmbedError> {
        let mut inner = self.lock();
        let Some(until) = inner.open_until else {
            return Ok(());
        };
        if now < until || inner.probe_in_flight(now, self.settings.cooldown) {
            // While a probe is out, later callers wait for its verdict one cool-down at most.
            let retry_after = until
                .saturating_duration_since(now)
                .max(Duration::from_secs(1));
            return Err(EmbedError::CircuitOpen {
                failures: inner.consecutive,
                retry_after,
            });
        }
        inner.probing = Some(now);
        Ok(())
    }

    /// Count the outcome of any call to the provider (request path or background).
    pub fn record<T>(&self, outcome: &Result<T, EmbedError>) {
        self.record_at(outcome, Instant::now())
    }

    fn record_at<T>(&self, outcome: &Result<T, EmbedError>, now: Instant) {
        let failed = match outcome {
            Ok(_) => false,
            Err(e) if e.is_rejected() => {
                // Says nothing about the provider; a probe that met one is simply over.
                self.lock().probing = None;
                return;
            }
            Err(EmbedError::CircuitOpen { .. }) => return,
            Err(_) => true,
        };
        let mut inner = self.lock();
        if !failed {
            let was_open = inner.open_until.is_some();
            *inner = Inner::default();
            drop(inner);
            if was_open {
                tracing::info!("embedding provider answering again");
                self.recovered.notify_waiters();
            }
            return;
        }
        inner.consecutive = inner.consecutive.saturating_add(1);
        let reopen = inner.probing.is_some()
            || (self.settings.failures > 0 && inner.consecutive >= self.settings.failures);
        inner.probing = None;
        if reopen {
            if inner.open_until.is_none() {
                self.opened.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    failures = inner.consecutive,
                    cooldown_ms = self.settings.cooldown.as_millis() as u64,
                    "embedding provider failing: requests store pending rows without calling it"
                );
            }
            inner.open_until = Some(now + self.settings.cooldown);
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state_at(Instant::now())
    }

    fn state_at(&self, now: Instant) -> BreakerState {
        let inner = self.lock();
        match inner.open_until {
            None => BreakerState::Closed,
            Some(_) if inner.probe_in_flight(now, self.settings.cooldown) => BreakerState::HalfOpen,
            Some(until) if now >= until => BreakerState::HalfOpen,
            Some(_) => BreakerState::Open,
        }
    }

    /// Completes the next time a success closes the open breaker: the background
    /// worker waits on it beside its back-off, so rows stored during an outage are
    /// embedded as soon as any call finds the provider back.
    pub async fn recovered(&self) {
        self.recovered.notified().await
    }

    /// How many times the breaker opened (from closed) since the process started.
    pub fn opened_total(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every update leaves `Inner` consistent, so a poisoned lock is safe to use.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down() -> Result<(), EmbedError> {
        Err(EmbedError::Transient("503".into()))
    }

    fn breaker(failures: u32, cooldown_ms: u64) -> Breaker {
        Breaker::new(BreakerSettings {
            failures,
            cooldown: Duration::from_millis(cooldown_ms),
        })
    }

    #[test]
    fn opens_after_consecutive_failures_only() {
        let b = breaker(3, 60_000);
        b.record(&down());
        b.record(&down());
        b.record(&Ok(()));
        b.record(&down());
        b.record(&down());
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit().is_ok());
        b.record(&down());
        assert_eq!(b.state(), BreakerState::Open);
        let refused = b.admit().expect_err("open");
        assert!(refused.is_transient());
        assert!(refused.retry_after().is_some());
        assert_eq!(b.opened_total(), 1);
    }

    #[test]
    fn rejected_inputs_do_not_count() {
        let b = breaker(2, 60_000);
        for _ in 0..10 {
            b.record::<()>(&Err(EmbedError::Rejected("too long".into())));
        }
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn after_the_cooldown_one_probe_goes_and_its_verdict_counts() {
        let b = breaker(1, 10_000);
        let t0 = Instant::now();
        let later = |s| t0 + Duration::from_secs(s);
        b.record_at(&down(), t0);
        assert!(b.admit_at(later(9)).is_err());
        assert_eq!(b.state_at(later(11)), BreakerState::HalfOpen);
        assert!(b.admit_at(later(11)).is_ok(), "the probe");
        assert!(b.admit_at(later(12)).is_err(), "only one probe at a time");
        b.record_at(&down(), later(13));
        assert_eq!(
            b.state_at(later(14)),
            BreakerState::Open,
            "a failed probe reopens"
        );
        assert!(b.admit_at(later(22)).is_err(), "for a whole cool-down");
        assert!(b.admit_at(later(24)).is_ok());
        b.record_at(&Ok(()), later(24));
        assert_eq!(b.state_at(later(24)), BreakerState::Closed);
        assert!(b.admit_at(later(24)).is_ok());
        assert_eq!(
            b.opened_total(),
            1,
            "reopening from half-open is the same outage"
        );
    }

    #[test]
    fn a_probe_that_never_reports_back_does_not_block_forever() {
        let b = breaker(1, 10_000);
        let t0 = Instant::now();
        let later = |s| t0 + Duration::from_secs(s);
        b.record_at(&down(), t0);
        assert!(
            b.admit_at(later(11)).is_ok(),
            "a probe whose caller is dropped"
        );
        assert!(b.admit_at(later(15)).is_err());
        assert!(
            b.admit_at(later(22)).is_ok(),
            "the next probe, a cool-down later"
        );
    }

    #[test]
    fn a_background_success_closes_an_open_breaker() {
        let b = breaker(1, 60_000);
        b.record(&down());
        assert_eq!(b.state(), BreakerState::Open);
        b.record(&Ok(()));
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn zero_failures_turns_it_off() {
        let b = breaker(0, 60_000);
        for _ in 0..100 {
            b.record(&down());
        }
        assert!(b.admit().is_ok());
    }
}

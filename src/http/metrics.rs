//! Prometheus metrics. One [`Metrics`] per service instance, holding a
//! `prometheus::Registry` that other modules register their own collectors into
//! (search latency, embedding calls), so `/metrics` shows them all.
//!
//! The `prometheus` crate was chosen over `metrics` + `metrics-exporter-prometheus`
//! because its registry is an ordinary value: no process-global recorder, so two
//! servers in one process (the test suite starts dozens) each count their own
//! requests, and domain code can register collectors without touching actix.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder as _, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry,
};

use super::{AppState, MemorySlot};
use crate::memory::{MemoryKind, Reason};

/// Label used for requests that matched no route, so that scanners probing random
/// paths cannot blow up the number of series.
pub const UNMATCHED: &str = "unmatched";

/// The registry and the HTTP collectors. Cheap to clone (everything inside is shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    /// `mnemo_search_duration_seconds{kind,backend}`: time of the search call in the domain.
    search: HistogramVec,
    /// `mnemo_pending_embeddings{kind}`: rows waiting for an embedding, refreshed at scrape.
    pending: IntGaugeVec,
    /// `mnemo_failed_embeddings{kind}`: rows the provider refused, refreshed at scrape.
    failed: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "mnemo_http_requests_total",
                "HTTP requests by matched route pattern, method and status",
            ),
            &["route", "method", "status"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "mnemo_http_request_duration_seconds",
                "HTTP request latency by matched route pattern",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
            &["route"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let search = HistogramVec::new(
            HistogramOpts::new(
                "mnemo_search_duration_seconds",
                "Memory search latency (embedding the query included) by memory kind and backend",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["kind", "backend"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let pending = IntGaugeVec::new(
            Opts::new(
                "mnemo_pending_embeddings",
                "Stored memories whose embedding is still pending, by kind (read at scrape)",
            ),
            &["kind"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        let failed = IntGaugeVec::new(
            Opts::new(
                "mnemo_failed_embeddings",
                "Stored memories whose text the provider refused to embed (marked failed; `mnemo reembed --failed` retries them), by kind (read at scrape)",
            ),
            &["kind"],
        )
        .unwrap_or_else(|e| unreachable!("static metric definition: {e}"));
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(search.clone()),
            Box::new(pending.clone()),
            Box::new(failed.clone()),
        ] {
            // Registering into a fresh registry only fails on duplicate names,
            // which two distinct static names cannot be.
            registry
                .register(collector)
                .unwrap_or_else(|e| unreachable!("fresh registry: {e}"));
        }
        Self {
            registry,
            requests,
            duration,
            search,
            pending,
            failed,
        }
    }

    /// Export the embedding cache counters and (SQLite) partition sizes of
    /// whatever store `slot` holds, read at each scrape.
    pub fn watch_memory(&self, slot: MemorySlot) {
        // Only fails on a duplicate registration, i.e. a second call: harmless.
        let _ = self.registry.register(Box::new(MemoryCollector::new(slot)));
    }

    /// Record one search's duration (`kind`: npc, combat, lore or context).
    pub fn observe_search(&self, kind: &str, backend: &str, seconds: f64) {
        self.search
            .with_label_values(&[kind, backend])
            .observe(seconds);
    }

    /// Set `mnemo_pending_embeddings` and `mnemo_failed_embeddings` from fresh
    /// (kind, pending, failed) counts.
    pub fn set_backlog(&self, counts: &[(MemoryKind, u64, u64)]) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for (kind, pending, failed) in counts {
            self.pending
                .with_label_values(&[kind.name()])
                .set(gauge(*pending));
            self.failed
                .with_label_values(&[kind.name()])
                .set(gauge(*failed));
        }
    }

    /// The registry other modules add their collectors to.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Everything registered, in the Prometheus text format.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[route, method, &status.to_string()])
            .inc();
        self.duration.with_label_values(&[route]).observe(seconds);
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Count every request and time it, labelled by the route pattern it matched
/// (`/v1/accounts/{id}`, not `/v1/accounts/42`).
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // Only standard methods become label values; anything else is "OTHER", so
    // made-up methods cannot create new series.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    };
    let started = Instant::now();
    let res = next.call(req).await?;
    if let Some(state) = state {
        let route = res.request().match_pattern();
        state.metrics.observe(
            route.as_deref().unwrap_or(UNMATCHED),
            method,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}

/// Reads the memory store's own counters at scrape time: the query cache's
/// hits and misses and the searches by strategy (counters), and the in-memory
/// partitions' rows and count (gauges, SQLite mode only).
struct MemoryCollector {
    slot: MemorySlot,
    hits: IntCounter,
    misses: IntCounter,
    searches: IntCounterVec,
    rows: IntGaugeVec,
    partitions: IntGaugeVec,
    indexed: IntGaugeVec,
    breaker: IntGauge,
    breaker_opened: IntCounter,
    forgotten: IntCounterVec,
    record_hits: IntCounter,
    record_misses: IntCounter,
}

impl MemoryCollector {
    fn new(slot: MemorySlot) -> Self {
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).unwrap_or_else(|e| unreachable!("static metric: {e}"))
        };
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["kind"])
                .unwrap_or_else(|e| unreachable!("static metric: {e}"))
        };
        Self {
            slot,
            hits: counter(
                "mnemo_embedding_cache_hits_total",
                "Query embeddings answered from the cache",
            ),
            misses: counter(
                "mnemo_embedding_cache_misses_total",
                "Query embeddings that needed a provider call",
            ),
            searches: IntCounterVec::new(
                Opts::new(
                    "mnemo_searches_total",
                    "Vector searches by strategy: an exact scan or an HNSW index",
                ),
                &["strategy"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            rows: gauge(
                "mnemo_partition_rows",
                "Vectors held in memory by kind (SQLite mode)",
            ),
            partitions: gauge(
                "mnemo_partitions",
                "In-memory partitions by kind (SQLite mode)",
            ),
            indexed: gauge(
                "mnemo_hnsw_partitions",
                "In-memory partitions answered through an HNSW index, by kind (SQLite mode)",
            ),
            breaker: IntGauge::new(
                "mnemo_embedding_breaker_state",
                "Embedding provider circuit breaker: 0 closed (calls go through), 1 open (requests store pending rows and searches answer 503 without calling it), 2 half-open (one probe call out)",
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            breaker_opened: counter(
                "mnemo_embedding_breaker_opened_total",
                "Times the embedding provider circuit breaker opened",
            ),
            forgotten: IntCounterVec::new(
                Opts::new(
                    "mnemo_memories_forgotten_total",
                    "Memories this process forgot, by reason: expired (purged after their expiry), budget (evicted over an NPC's budget), deleted (through the API)",
                ),
                &["reason"],
            )
            .unwrap_or_else(|e| unreachable!("static metric: {e}")),
            record_hits: counter(
                "mnemo_record_cache_hits_total",
                "Search answers' records read from the record cache (SQLite mode)",
            ),
            record_misses: counter(
                "mnemo_record_cache_misses_total",
                "Search answers' records read from the database (SQLite mode)",
            ),
        }
    }
}

impl Collector for MemoryCollector {
    fn desc(&self) -> Vec<&Desc> {
        let mut d = self.hits.desc();
        d.extend(self.misses.desc());
        d.extend(self.searches.desc());
        d.extend(self.rows.desc());
        d.extend(self.partitions.desc());
        d.extend(self.indexed.desc());
        d.extend(self.breaker.desc());
        d.extend(self.breaker_opened.desc());
        d.extend(self.forgotten.desc());
        d.extend(self.record_hits.desc());
        d.extend(self.record_misses.desc());
        d
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(store) = self.slot.get() else {
            return Vec::new();
        };
        let cache = store.embedder();
        // Counters only go up; the cache's totals are monotonic, so setting the
        // exported counter to the current total keeps that promise.
        self.hits.reset();
        self.hits.inc_by(cache.hits());
        self.misses.reset();
        self.misses.inc_by(cache.misses());
        let counts = store.searches();
        for (strategy, total) in [("exact", counts.exact()), ("hnsw", counts.index())] {
            let counter = self.searches.with_label_values(&[strategy]);
            counter.reset();
            counter.inc_by(total);
        }
        self.breaker.set(cache.breaker().state().gauge());
        self.breaker_opened.reset();
        self.breaker_opened.inc_by(cache.breaker().opened_total());
        for reason in Reason::ALL {
            let counter = self.forgotten.with_label_values(&[reason.name()]);
            counter.reset();
            counter.inc_by(store.forget_counts().get(reason));
        }
        let mut out = self.hits.collect();
        out.extend(self.misses.collect());
        out.extend(self.breaker.collect());
        out.extend(self.breaker_opened.collect());
        out.extend(self.searches.collect());
        out.extend(self.forgotten.collect());
        if let Some(index) = store.index() {
            for (kind, rows, parts) in index.sizes() {
                self.rows.with_label_values(&[kind.name()]).set(rows as i64);
                self.partitions
                    .with_label_values(&[kind.name()])
                    .set(parts as i64);
                self.indexed
                    .with_label_values(&[kind.name()])
                    .set(index.indexed_partitions(kind) as i64);
            }
            out.extend(self.rows.collect());
            out.extend(self.partitions.collect());
            out.extend(self.indexed.collect());
            let records = index.records();
            self.record_hits.reset();
            self.record_hits.inc_by(records.hits());
            self.record_misses.reset();
            self.record_misses.inc_by(records.misses());
            out.extend(self.record_hits.collect());
            out.extend(self.record_misses.collect());
        }
        out
    }
}

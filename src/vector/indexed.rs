//! A partition with an optional HNSW index: exact below a size threshold, approximate
//! above it, with background (re)builds and a filter plan that never starves.

use std::collections::HashSet;
use std::thread::JoinHandle;

use super::graph::{BuildReport, Graph, GraphParams};
use super::kernel::dot;
use super::partition::Partition;
use super::topk::{Hit, TopK};

/// Tuning of the approximate layer. See each field for the reasoning behind its default.
#[derive(Debug, Clone, PartialEq)]
pub struct HnswSettings {
    /// Rows at which a partition gets an HNSW index; below it every search is an exact scan.
    ///
    /// Default 20,000. An exact scan is bound by memory bandwidth: a 1536-d row is
    /// 6 KiB, and this machine kind reads ≈ 27 GB/s on one core, so 20k rows
    /// (123 MB) scan in ≈ 4.5 ms unloaded, 5k rows (in L3) in 0.5–0.9 ms. Measured
    /// with `benches/vector.rs` on a busy 2-core box: exact 1.2 ms at 5k, 9.6 ms at 20k,
    /// 52 ms at 100k; HNSW search 1.9 ms at 20k and 3.9 ms at 100k. So the graph only
    /// pays off from about 10k rows, and below 20k the scan is still fast enough while
    /// using no extra memory (the index costs ≈ 1.5× the raw vectors again) and being
    /// *exact*, which keeps results identical to the Postgres backend's exact plan.
    /// Lower dimensions scan faster: at 384-d the same latency allows about 4× more rows.
    pub threshold: usize,
    /// Links per node and layer (layer 0 keeps 2m). Default 16, the usual value for
    /// embeddings (and the one used for pgvector's index in the migrations).
    pub m: usize,
    /// Candidate list size while inserting. Default 64 (pgvector's default too).
    pub ef_construction: usize,
    /// Candidate list size while searching, raised to k when smaller; can be overridden
    /// per search. Default 64 (pgvector's default is 40). Measured recall@10 against the
    /// exact scan: 0.996 at 100k × 1536 in 1,000 Gaussian clusters (0.991 at ef 32); on
    /// a deliberately hard set (20k × 1536 in 10 clusters of isotropic noise) 0.92, and
    /// 0.95 at ef 128. Raise it per search where recall matters more than latency.
    pub ef_search: usize,
    /// Share of dead (removed or replaced) nodes above which the index is rebuilt.
    ///
    /// Default 0.2. hnsw_rs cannot delete, so dead nodes stay in the graph: searches
    /// still walk through them (they keep the graph connected) but they fill no result
    /// slot, so at a dead share d a search does about 1/(1-d) of the work for the same
    /// answer (1.25× at 0.2) and memory holds d/(1-d) useless vectors. A rebuild costs
    /// a full build, so it is amortised over 0.2·n writes.
    pub max_dead_fraction: f64,
    /// Filter plan: if at most `filter_exact_fraction` of the rows match a filter, they
    /// are scanned exactly instead of searched through the graph. Default 0.02.
    ///
    /// A graph search with a filter must walk past the rows the filter rejects: to
    /// collect ef matches at selectivity s it visits about ef/s nodes (hnsw_rs keeps
    /// expanding until it has ef matches), e.g. 3,200 nodes at s = 2 % and ef = 64, more
    /// than the ≈ 2,000 rows an exact scan of the matches costs at 100k rows. Below
    /// this share the exact plan is both cheaper and exact, and cannot starve.
    pub filter_exact_fraction: f64,
    /// Filter plan: if at most `filter_exact_per_ef × ef` rows match, scan them exactly.
    /// Default 32, i.e. 2,048 rows at ef 64: ≈ 0.3 ms at 1536-d, about the cost of one
    /// graph search, so small match sets never pay for a graph walk.
    pub filter_exact_per_ef: usize,
    /// Exact scans use an int8 first pass re-scoring the best `int8_rescore × k`
    /// rows in f32 when non-zero; 0 scans f32 only. 0 here, so the library's
    /// exact scans are exact; `mnemo serve` turns it on (`MNEMO_INT8_RESCORE`,
    /// default 4) because recall@10 stayed 1.000 on the real-text recall data set
    /// (see benches/results). The int8 copy costs a quarter of the arena again.
    pub int8_rescore: usize,
    /// Threads a build may use. Default: all available cores (a build is rare and the
    /// sooner it finishes the sooner searches leave the exact scan).
    pub build_threads: usize,
}

impl Default for HnswSettings {
    fn default() -> Self {
        HnswSettings {
            threshold: 20_000,
            m: 16,
            ef_construction: 64,
            ef_search: 64,
            max_dead_fraction: 0.2,
            filter_exact_fraction: 0.02,
            filter_exact_per_ef: 32,
            int8_rescore: 0,
            build_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

impl HnswSettings {
    fn graph_params(&self) -> GraphParams {
        GraphParams {
            m: self.m,
            ef_construction: self.ef_construction,
            ef_search: self.ef_search,
            threads: self.build_threads,
        }
    }
}

/// How a search was answered (for metrics and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// Exact scan of the partition: below the threshold, or no index yet (e.g. while
    /// the first build runs).
    Exact,
    /// HNSW search (re-ranked by exact scores).
    Hnsw,
    /// The filter matched few rows ([`HnswSettings::filter_exact_fraction`],
    /// [`HnswSettings::filter_exact_per_ef`]), so they were scanned exactly.
    FilteredExact {
        /// Rows that passed the filter.
        matching: usize,
    },
    /// The graph returned fewer than k hits although k rows qualify (unreachable or
    /// filtered-out neighbourhoods), so the search was redone as an exact scan.
    ExactFallback,
}

/// The hits of a search and how they were found.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    /// Best first: score desc, then created_at desc, then id desc.
    pub hits: Vec<Hit>,
    /// The plan that produced them.
    pub strategy: Strategy,
}

/// A snapshot of a partition's vectors to build an index from, off the caller's thread.
///
/// Obtained from [`IndexedPartition::start_build`]; [`BuildJob::run`] is blocking CPU
/// work (run it in `std::thread::spawn` or tokio's `spawn_blocking`), and its result goes
/// back through [`IndexedPartition::install`].
pub struct BuildJob {
    epoch: u64,
    dim: usize,
    ids: Vec<i64>,
    vectors: Vec<f32>,
    params: GraphParams,
}

impl BuildJob {
    /// Rows in the snapshot.
    pub fn rows(&self) -> usize {
        self.ids.len()
    }

    /// Build the graph (parallel insert, self-retrieval check and repair).
    pub fn run(self) -> BuiltIndex {
        let (graph, report) = Graph::build(&self.params, &self.ids, &self.vectors, self.dim);
        BuiltIndex {
            epoch: self.epoch,
            graph,
            report,
        }
    }
}

/// A finished index waiting to be installed with [`IndexedPartition::install`].
pub struct BuiltIndex {
    epoch: u64,
    graph: Graph,
    report: BuildReport,
}

impl BuiltIndex {
    /// What the build did.
    pub fn report(&self) -> &BuildReport {
        &self.report
    }
}

/// What [`IndexedPartition::maintain`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Maintenance {
    /// Nothing to do (or a build is still running).
    Idle,
    /// A background build thread was started.
    BuildStarted,
    /// A finished build was swapped in.
    Installed(BuildReport),
    /// The background build panicked; its state was cleared so a later call retries.
    BuildFailed,
    /// The partition shrank below half the threshold and the index was dropped.
    IndexDropped,
}

/// The build in flight: which ids changed since its snapshot, so they can be replayed
/// into the new graph before it is swapped in.
struct PendingBuild {
    epoch: u64,
    touched: HashSet<i64>,
    thread: Option<JoinHandle<BuiltIndex>>,
}

/// A [`Partition`] plus an optional HNSW index over it.
///
/// The partition is always complete and authoritative; the index is an accelerator kept
/// in step with it: upserts are inserted into the live graph, removals mark nodes dead.
/// Searches use the index only when one is installed and the partition has at least
/// [`HnswSettings::threshold`] rows; otherwise they scan exactly, so a partition whose
/// first index is still being built keeps answering (exactly, just slower).
///
/// Mutations take `&mut self`, searches `&self`: share it behind an `RwLock`.
pub struct IndexedPartition<M> {
    part: Partition<M>,
    settings: HnswSettings,
    graph: Option<Graph>,
    pending: Option<PendingBuild>,
    next_epoch: u64,
}

impl<M: Clone + Send + Sync + 'static> IndexedPartition<M> {
    /// An empty partition of `dim`-component vectors.
    pub fn new(dim: usize, settings: HnswSettings) -> Self {
        Self::from_partition(Partition::new(dim), settings)
    }

    /// Wrap an already loaded partition (no index yet: call [`Self::maintain`] or
    /// [`Self::build_now`]).
    pub fn from_partition(mut part: Partition<M>, settings: HnswSettings) -> Self {
        if settings.int8_rescore > 0 {
            part.enable_int8();
        }
        IndexedPartition {
            part,
            settings,
            graph: None,
            pending: None,
            next_epoch: 0,
        }
    }

    /// The rows.
    pub fn partition(&self) -> &Partition<M> {
        &self.part
    }

    /// The settings in force.
    pub fn settings(&self) -> &HnswSettings {
        &self.settings
    }

    /// Components per vector.
    pub fn dim(&self) -> usize {
        self.part.dim()
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.part.len()
    }

    /// `true` when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.part.is_empty()
    }

    /// `true` when an index is installed (it is used only at or above the threshold).
    pub fn has_index(&self) -> bool {
        self.graph.is_some()
    }

    /// `true` between [`Self::start_build`] and [`Self::install`] / [`Self::cancel_build`].
    pub fn build_in_progress(&self) -> bool {
        self.pending.is_some()
    }

    /// Share of dead nodes in the installed index (0 without one).
    pub fn dead_fraction(&self) -> f64 {
        self.graph.as_ref().map_or(0.0, Graph::dead_fraction)
    }

    /// Nodes in the installed index, dead ones included (0 without one).
    pub fn index_nodes(&self) -> usize {
        self.graph.as_ref().map_or(0, Graph::nodes)
    }

    /// Rows the installed index scores exactly on every search because its graph does
    /// not lead to them (see [`BuildReport::orphans`]; 0 without an index).
    pub fn index_orphans(&self) -> usize {
        self.graph.as_ref().map_or(0, Graph::orphans)
    }

    /// `true` when an index should be (re)built now: at or above the threshold, no
    /// build in flight, and either no index or more than `max_dead_fraction` dead nodes.
    pub fn needs_build(&self) -> bool {
        self.part.len() >= self.settings.threshold
            && self.pending.is_none()
            && self
                .graph
                .as_ref()
                .is_none_or(|g| g.dead_fraction() > self.settings.max_dead_fraction)
    }

    /// Insert or replace a row (vector already normalised); see [`Partition::upsert`].
    ///
    /// With an index installed the vector is inserted into the graph too (replacing a
    /// vector adds a node and marks the old one dead), a sub-millisecond cost on the
    /// write path. A metadata-only change (same vector) leaves the graph alone.
    pub fn upsert(&mut self, id: i64, created_at: i64, meta: M, vector: &[f32]) {
        let unchanged = self.part.get_vector(id) == Some(vector);
        self.part.upsert(id, created_at, meta, vector);
        if unchanged {
            return;
        }
        if let Some(graph) = &mut self.graph {
            graph.insert(id, vector);
        }
        if let Some(pending) = &mut self.pending {
            pending.touched.insert(id);
        }
    }

    /// Remove a row; returns whether it existed. Its graph node is marked dead.
    pub fn remove(&mut self, id: i64) -> bool {
        if !self.part.remove(id) {
            return false;
        }
        if let Some(graph) = &mut self.graph {
            graph.remove(id);
        }
        if let Some(pending) = &mut self.pending {
            pending.touched.insert(id);
        }
        true
    }

    /// Snapshot the rows for a build and start tracking changes made meanwhile.
    ///
    /// Copies the arena (`len × dim` floats) under `&mut self`: a memcpy at several GB/s,
    /// after which the caller's lock can be released for the long part. Supersedes any
    /// build in flight: only the result of the latest job is accepted by `install`.
    pub fn start_build(&mut self) -> BuildJob {
        let epoch = self.next_epoch;
        self.next_epoch += 1;
        self.pending = Some(PendingBuild {
            epoch,
            touched: HashSet::new(),
            thread: None,
        });
        BuildJob {
            epoch,
            dim: self.part.dim(),
            ids: self.part.ids().to_vec(),
            vectors: self.part.arena().to_vec(),
            params: self.settings.graph_params(),
        }
    }

    /// Swap in a finished index. Returns `false` (and discards it) when the job was
    /// superseded by a later [`Self::start_build`] or cancelled.
    ///
    /// Rows upserted or removed since the snapshot are replayed into the new graph
    /// first, so it matches the partition exactly when it goes live. The old graph is
    /// dropped on a separate thread: freeing a large graph (an `Arc` and a lock per
    /// point) takes a while and should not hold the caller's write lock.
    pub fn install(&mut self, built: BuiltIndex) -> bool {
        let current = self
            .pending
            .as_ref()
            .is_some_and(|p| p.epoch == built.epoch);
        if !current {
            drop_in_background(built);
            return false;
        }
        let pending = self.pending.take().expect("checked above");
        let mut graph = built.graph;
        for id in pending.touched {
            match self.part.get_vector(id) {
                Some(vector) => {
                    graph.insert(id, vector);
                }
                None => {
                    graph.remove(id);
                }
            }
        }
        if let Some(old) = self.graph.replace(graph) {
            drop_in_background(old);
        }
        true
    }

    /// Forget the build in flight (its result will be refused by `install`). Needed only
    /// if a [`BuildJob`] is abandoned, since `needs_build` is false while one is pending.
    pub fn cancel_build(&mut self) {
        self.pending = None;
    }

    /// Build the index on the caller's thread and install it, e.g. at start-up before
    /// serving (rebuilding from the stored vectors is simpler than hnsw_rs's
    /// dump/reload, whose loaded index borrows from its loader).
    pub fn build_now(&mut self) -> BuildReport {
        let built = self.start_build().run();
        let report = built.report.clone();
        self.install(built);
        report
    }

    /// Housekeeping to call after writes (cheap when there is nothing to do):
    /// installs a finished background build, starts one on a `std::thread` when
    /// [`Self::needs_build`], and drops the index of a partition that shrank below half
    /// the threshold (hysteresis, so a partition hovering at the threshold does not
    /// rebuild over and over).
    pub fn maintain(&mut self) -> Maintenance {
        if let Some(pending) = &mut self.pending
            && pending.thread.as_ref().is_some_and(JoinHandle::is_finished)
        {
            let handle = pending.thread.take().expect("checked above");
            return match handle.join() {
                Ok(built) => {
                    let report = built.report.clone();
                    if self.install(built) {
                        Maintenance::Installed(report)
                    } else {
                        Maintenance::Idle
                    }
                }
                Err(_) => {
                    self.pending = None;
                    Maintenance::BuildFailed
                }
            };
        }
        if self.needs_build() {
            let job = self.start_build();
            let spawned = std::thread::Builder::new()
                .name("mnemo-hnsw-build".into())
                .spawn(move || job.run());
            return match spawned {
                Ok(handle) => {
                    if let Some(pending) = &mut self.pending {
                        pending.thread = Some(handle);
                    }
                    Maintenance::BuildStarted
                }
                Err(_) => {
                    self.pending = None;
                    Maintenance::BuildFailed
                }
            };
        }
        if self.graph.is_some() && self.part.len() < self.settings.threshold / 2 {
            if let Some(old) = self.graph.take() {
                drop_in_background(old);
            }
            return Maintenance::IndexDropped;
        }
        Maintenance::Idle
    }

    /// Block until the background build started by [`Self::maintain`] finishes, and
    /// install it. Returns `None` when no such build was running or it was superseded.
    pub fn wait_for_build(&mut self) -> Option<BuildReport> {
        let handle = self.pending.as_mut()?.thread.take()?;
        match handle.join() {
            Ok(built) => {
                let report = built.report.clone();
                self.install(built).then_some(report)
            }
            Err(_) => {
                self.pending = None;
                None
            }
        }
    }

    /// Top-k over all rows. `ef_search` overrides [`HnswSettings::ef_search`] for this
    /// search (raised to k when smaller).
    ///
    /// # Panics
    /// If `query.len() != self.dim()`.
    pub fn search(&self, query: &[f32], k: usize, ef_search: Option<usize>) -> SearchOutcome {
        self.search_inner(query, k, ef_search, None::<fn(i64, &M) -> bool>)
    }

    /// Top-k over the rows `filter` accepts.
    ///
    /// The filter is first counted over all rows (cheap next to distances). If few rows
    /// match (at most `filter_exact_fraction` of the rows, or at most
    /// `filter_exact_per_ef × ef`), they are scanned exactly; otherwise the graph is
    /// searched with the filter applied during the walk. If the graph still returns
    /// fewer than `min(k, matching)` hits, the search is redone exactly, so a
    /// selective filter returns k results whenever k rows match.
    ///
    /// # Panics
    /// If `query.len() != self.dim()`.
    pub fn search_filtered(
        &self,
        query: &[f32],
        k: usize,
        ef_search: Option<usize>,
        filter: impl Fn(i64, &M) -> bool,
    ) -> SearchOutcome {
        self.search_inner(query, k, ef_search, Some(filter))
    }

    fn search_inner<F: Fn(i64, &M) -> bool>(
        &self,
        query: &[f32],
        k: usize,
        ef_search: Option<usize>,
        filter: Option<F>,
    ) -> SearchOutcome {
        let rescore = self.settings.int8_rescore;
        let exact = |strategy| SearchOutcome {
            hits: match (&filter, rescore) {
                (Some(f), 0) => self.part.search_exact(query, k, f),
                (None, 0) => self.part.search_exact(query, k, |_, _| true),
                (Some(f), r) => self.part.search_int8(query, k, r, f),
                (None, r) => self.part.search_int8(query, k, r, |_, _| true),
            },
            strategy,
        };
        let graph = match &self.graph {
            Some(g) if self.part.len() >= self.settings.threshold && k > 0 => g,
            _ => return exact(Strategy::Exact),
        };
        assert_eq!(
            query.len(),
            self.part.dim(),
            "search: query has {} components, partition dimension is {}",
            query.len(),
            self.part.dim()
        );
        let ef = ef_search.unwrap_or(self.settings.ef_search).max(k);

        let (candidates, qualifying) = match &filter {
            None => (graph.search(query, ef, None), self.part.len()),
            Some(f) => {
                let matching = self.part.count_matching(f);
                let by_fraction = self.settings.filter_exact_fraction * self.part.len() as f64;
                let by_ef = self.settings.filter_exact_per_ef.saturating_mul(ef);
                if matching as f64 <= by_fraction || matching <= by_ef {
                    return exact(Strategy::FilteredExact { matching });
                }
                let keep = |id: i64| {
                    self.part
                        .slot_of(id)
                        .is_some_and(|slot| f(id, self.part.meta_at(slot)))
                };
                (graph.search(query, ef, Some(&keep)), matching)
            }
        };

        // Re-rank by exact scores from the arena: the graph's distances are clamped
        // `1 - dot` in f32, and exact scores give the same tie-breaking as the scan.
        let mut top = TopK::new(k);
        for id in candidates {
            if let Some(slot) = self.part.slot_of(id) {
                top.push(self.part.hit_at(slot, dot(query, self.part.row(slot))));
            }
        }
        if top.len() < k.min(qualifying) {
            return exact(Strategy::ExactFallback);
        }
        SearchOutcome {
            hits: top.into_sorted_vec(),
            strategy: Strategy::Hnsw,
        }
    }
}

/// Drop a large value on a short-lived thread so the caller (holding a lock) does not
/// wait for it. If the thread cannot be spawned, the value is dropped here instead.
fn drop_in_background<T: Send + 'static>(value: T) {
    let _ = std::thread::Builder::new()
        .name("mnemo-hnsw-drop".into())
        .spawn(move || drop(value));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::testdata::{Clusters, recall};
    use std::cell::Cell;
    use std::sync::OnceLock;
    use std::time::Instant;

    /// Meta of a row: `id % 100`, so `meta == c` keeps exactly 1 % of the rows.
    type Meta = u32;

    const BIG_ROWS: usize = 12_000;

    fn settings(threshold: usize) -> HnswSettings {
        HnswSettings {
            threshold,
            build_threads: 2,
            ..HnswSettings::default()
        }
    }

    fn filled(
        n: usize,
        dim: usize,
        threshold: usize,
        seed: u64,
    ) -> (IndexedPartition<Meta>, Clusters) {
        let mut data = Clusters::new(50, dim, seed);
        let mut p = IndexedPartition::new(dim, settings(threshold));
        for id in 0..n as i64 {
            p.upsert(id, id * 10, (id % 100) as Meta, &data.point());
        }
        (p, data)
    }

    /// The large shared data set: 12k × 128 in 60 Gaussian clusters (~200 rows each),
    /// indexed once for all read-only tests (a build is the slow part of a debug run:
    /// the hnsw_rs code is monomorphised in this crate, at opt-level 0).
    struct Big {
        part: IndexedPartition<Meta>,
        queries: Vec<Vec<f32>>,
        report: BuildReport,
    }

    fn big() -> &'static Big {
        static BIG: OnceLock<Big> = OnceLock::new();
        BIG.get_or_init(|| {
            let mut data = Clusters::new(60, 128, 42);
            let mut part = IndexedPartition::new(128, settings(10_000));
            for id in 0..BIG_ROWS as i64 {
                part.upsert(id, id, (id % 100) as Meta, &data.point());
            }
            let t = Instant::now();
            let report = part.build_now();
            eprintln!("built {BIG_ROWS} x 128 in {:?}: {report:?}", t.elapsed());
            let queries = (0..200).map(|_| data.point()).collect();
            Big {
                part,
                queries,
                report,
            }
        })
    }

    fn ids(hits: &[Hit]) -> Vec<i64> {
        hits.iter().map(|h| h.id).collect()
    }

    #[test]
    fn recall_at_10_against_exact_on_clustered_data() {
        let big = big();
        let mut total = 0.0;
        for q in &big.queries {
            let got = big.part.search(q, 10, None);
            assert_eq!(got.strategy, Strategy::Hnsw);
            assert_eq!(got.hits.len(), 10);
            let truth = big.part.partition().search_exact(q, 10, |_, _| true);
            total += recall(&got.hits, &truth);
        }
        let recall = total / big.queries.len() as f64;
        eprintln!("recall@10 = {recall:.4}");
        assert!(recall >= 0.95, "recall@10 {recall:.4} < 0.95");
    }

    #[test]
    fn build_makes_every_point_findable_by_its_own_vector() {
        let big = big();
        assert_eq!(big.report.rows, BIG_ROWS);
        let graph = big.part.graph.as_ref().unwrap();
        assert_eq!(graph.orphans(), big.report.orphans);
        assert!(big.report.orphans < 100, "{:?}", big.report);
        // Every orphan (the points the graph cannot lead to) and a sample of the rest.
        let part = big.part.partition();
        let orphans: Vec<i64> = graph.orphan_ids().collect();
        for &id in orphans.iter().chain(part.ids().iter().step_by(7)) {
            let v = part.get_vector(id).unwrap();
            let got = big.part.search(v, 10, None);
            assert!(
                ids(&got.hits).contains(&id),
                "row {id} not found by its own vector"
            );
        }
    }

    #[test]
    fn one_percent_filter_still_returns_k() {
        let big = big();
        for q in big.queries.iter().take(20) {
            let got = big.part.search_filtered(q, 10, None, |_, m| *m == 7);
            assert_eq!(
                got.strategy,
                Strategy::FilteredExact {
                    matching: BIG_ROWS / 100
                }
            );
            assert_eq!(got.hits.len(), 10);
            assert!(got.hits.iter().all(|h| h.id % 100 == 7));
            let truth = big.part.partition().search_exact(q, 10, |_, m| *m == 7);
            assert_eq!(got.hits, truth);
        }
    }

    #[test]
    fn broad_filter_searches_the_graph_and_returns_only_matches() {
        let big = big();
        let mut total = 0.0;
        for q in big.queries.iter().take(50) {
            let got = big.part.search_filtered(q, 10, None, |_, m| *m < 50);
            assert_eq!(got.strategy, Strategy::Hnsw);
            assert_eq!(got.hits.len(), 10);
            assert!(got.hits.iter().all(|h| h.id % 100 < 50));
            let truth = big.part.partition().search_exact(q, 10, |_, m| *m < 50);
            total += recall(&got.hits, &truth);
        }
        assert!(total / 50.0 >= 0.95, "filtered recall {}", total / 50.0);
    }

    #[test]
    fn graph_coming_up_short_falls_back_to_exact() {
        // A filter that accepts every row while matches are counted, then nothing: the
        // graph walk finds no hit although every row "qualifies", so the plan must redo
        // the search exactly instead of returning fewer than k.
        let big = big();
        let calls = Cell::new(0usize);
        let got = big.part.search_filtered(&big.queries[0], 10, None, |_, _| {
            calls.set(calls.get() + 1);
            calls.get() <= BIG_ROWS
        });
        assert_eq!(got.strategy, Strategy::ExactFallback);
    }

    #[test]
    fn ef_override_below_k_still_returns_k() {
        let big = big();
        let got = big.part.search(&big.queries[1], 50, Some(1));
        assert_eq!(got.strategy, Strategy::Hnsw);
        assert_eq!(got.hits.len(), 50);
        let wide = big.part.search(&big.queries[1], 10, Some(400));
        let truth = big
            .part
            .partition()
            .search_exact(&big.queries[1], 10, |_, _| true);
        assert!(recall(&wide.hits, &truth) >= 0.9);
    }

    #[test]
    fn removed_ids_are_never_returned() {
        let (mut p, _) = filled(2000, 32, 1000, 1);
        p.build_now();
        let removed: Vec<i64> = (0..2000).step_by(10).collect();
        let vectors: Vec<Vec<f32>> = removed
            .iter()
            .map(|&id| p.partition().get_vector(id).unwrap().to_vec())
            .collect();
        for &id in &removed {
            assert!(p.remove(id));
        }
        assert!(p.dead_fraction() > 0.09);
        for v in &vectors {
            let got = p.search(v, 10, None);
            assert_eq!(got.strategy, Strategy::Hnsw);
            assert_eq!(got.hits.len(), 10);
            assert!(
                got.hits.iter().all(|h| h.id % 10 != 0),
                "removed id returned"
            );
        }
    }

    #[test]
    fn rows_upserted_after_build_are_found() {
        let (mut p, mut data) = filled(2000, 32, 1000, 2);
        p.build_now();
        let nodes = p.index_nodes();
        let fresh: Vec<(i64, Vec<f32>)> = (0..200).map(|i| (100_000 + i, data.point())).collect();
        for (id, v) in &fresh {
            p.upsert(*id, 0, 0, v);
        }
        assert_eq!(p.index_nodes(), nodes + 200, "inserted into the live graph");
        for (id, v) in &fresh {
            let got = p.search(v, 1, None);
            assert_eq!((got.strategy, got.hits[0].id), (Strategy::Hnsw, *id));
        }
        // Replacing a vector: found at its new place, with its new score, once.
        let old = p.partition().get_vector(5).unwrap().to_vec();
        let new = data.point();
        p.upsert(5, 99, 5, &new);
        let got = p.search(&new, 10, None);
        assert_eq!(got.hits[0].id, 5);
        assert!((got.hits[0].score - 1.0).abs() < 1e-5);
        let at_old = p.search(&old, 50, None);
        let fives: Vec<&Hit> = at_old.hits.iter().filter(|h| h.id == 5).collect();
        assert!(fives.len() <= 1, "an id must not appear twice");
        if let Some(h) = fives.first() {
            assert!(
                (h.score - dot(&old, &new)).abs() < 1e-5,
                "old vector still scored"
            );
        }
        // Metadata-only update does not add a node.
        let nodes = p.index_nodes();
        p.upsert(5, 100, 6, &new);
        assert_eq!(p.index_nodes(), nodes);
    }

    #[test]
    fn changes_made_during_a_build_are_replayed_on_install() {
        let (mut p, mut data) = filled(1500, 32, 1000, 3);
        let job = p.start_build();
        assert!(p.build_in_progress() && !p.needs_build());
        // While the build runs the partition keeps changing and searching (exactly).
        let removed: Vec<(i64, Vec<f32>)> = (0..100)
            .map(|id| (id, p.partition().get_vector(id).unwrap().to_vec()))
            .collect();
        for (id, _) in &removed {
            p.remove(*id);
        }
        let fresh: Vec<(i64, Vec<f32>)> = (0..100).map(|i| (50_000 + i, data.point())).collect();
        for (id, v) in &fresh {
            p.upsert(*id, 0, 0, v);
        }
        let moved = data.point();
        p.upsert(500, 0, 0, &moved);
        assert_eq!(p.search(&moved, 1, None).strategy, Strategy::Exact);

        assert!(p.install(job.run()));
        assert!(!p.build_in_progress());
        for (id, v) in &removed {
            let got = p.search(v, 10, None);
            assert_eq!(got.strategy, Strategy::Hnsw);
            assert!(!ids(&got.hits).contains(id));
        }
        for (id, v) in &fresh {
            assert_eq!(p.search(v, 1, None).hits[0].id, *id);
        }
        let got = p.search(&moved, 1, None).hits[0];
        assert_eq!(got.id, 500);
        assert!((got.score - 1.0).abs() < 1e-5);
    }

    #[test]
    fn superseded_build_is_refused() {
        let (mut p, _) = filled(1200, 16, 1000, 4);
        let first = p.start_build();
        let second = p.start_build();
        assert!(!p.install(first.run()));
        assert!(!p.has_index());
        assert!(p.install(second.run()));
        assert!(p.has_index());
    }

    #[test]
    fn first_build_runs_in_background_while_searches_stay_exact() {
        let (mut p, mut data) = filled(1200, 16, 1000, 5);
        assert!(p.needs_build());
        assert_eq!(p.maintain(), Maintenance::BuildStarted);
        assert!(!p.needs_build(), "one build at a time");
        let q = data.point();
        assert_eq!(p.search(&q, 5, None).strategy, Strategy::Exact);
        let report = p.wait_for_build().expect("build installed");
        assert_eq!(report.rows, 1200);
        assert_eq!(p.search(&q, 5, None).strategy, Strategy::Hnsw);
        assert_eq!(p.maintain(), Maintenance::Idle);
    }

    #[test]
    fn dead_share_over_the_limit_triggers_a_rebuild() {
        let (mut p, mut data) = filled(1500, 16, 1000, 6);
        p.build_now();
        // Repaired nodes count as dead too: start from the graph's own share.
        let nodes = p.index_nodes() as f64;
        let already_dead = p.dead_fraction() * nodes;
        // 20 % dead is still tolerated...
        let allowed = (0.2 * nodes - already_dead).floor() as i64;
        for id in 0..allowed {
            p.remove(id);
        }
        assert!(p.dead_fraction() <= 0.2);
        assert!(!p.needs_build());
        // ...a little more is not.
        p.remove(allowed);
        p.remove(allowed + 1);
        assert!(p.needs_build());
        assert_eq!(p.maintain(), Maintenance::BuildStarted);
        // The old index keeps serving during the rebuild, dead nodes filtered.
        let q = data.point();
        let during = p.search(&q, 10, None);
        assert_eq!(during.strategy, Strategy::Hnsw);
        assert!(during.hits.iter().all(|h| h.id > allowed + 1));
        p.wait_for_build().expect("rebuild installed");
        assert_eq!(p.dead_fraction(), 0.0);
        assert_eq!(p.index_nodes(), p.len());
    }

    #[test]
    fn below_threshold_searches_scan_and_a_shrunk_index_is_dropped() {
        let (mut p, mut data) = filled(1100, 16, 1000, 7);
        p.build_now();
        let q = data.point();
        assert_eq!(p.search(&q, 5, None).strategy, Strategy::Hnsw);
        for id in 0..150 {
            p.remove(id);
        }
        assert_eq!(p.search(&q, 5, None).strategy, Strategy::Exact);
        assert_eq!(
            p.maintain(),
            Maintenance::Idle,
            "hysteresis: keep it above half"
        );
        for id in 150..650 {
            p.remove(id);
        }
        assert_eq!(p.maintain(), Maintenance::IndexDropped);
        assert!(!p.has_index());
    }

    #[test]
    fn shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        fn assert_send<T: Send>() {}
        assert_send_sync::<IndexedPartition<Meta>>();
        assert_send::<BuildJob>();
        assert_send::<BuiltIndex>();
    }
}

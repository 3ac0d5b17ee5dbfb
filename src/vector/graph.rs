//! A thin layer over `hnsw_rs`: node bookkeeping (row ids, dead marks), a distance over
//! simsimd, and a parallel build that repairs the points a parallel insert loses.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hnsw_rs::prelude::{Distance, FilterT, Hnsw};

use super::flat::FlatGraph;
use super::kernel::dot;

/// `1 - cos` over pre-normalised vectors, computed with simsimd.
///
/// Not `hnsw_rs`'s own `DistDot`: its scalar path asserts `1 - dot >= 0`, and for a
/// normalised vector against itself rounding can give `dot = 1 + ε`, which would panic
/// in a search for a stored vector. hnsw_rs's search also asserts non-negative
/// distances, so the clamp at zero is needed, not cosmetic. simsimd also brings the
/// AVX-512 kernel without turning on hnsw_rs's `simdeez_f` feature.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct DotDistance;

impl Distance<f32> for DotDistance {
    #[inline]
    fn eval(&self, va: &[f32], vb: &[f32]) -> f32 {
        (1.0 - dot(va, vb)).max(0.0)
    }
}

/// Layers an HNSW graph may use; hnsw_rs caps it at 16. With m = 16 the chance of a
/// point above layer 15 is 16^-16, so the cap never binds.
const MAX_LAYERS: usize = 16;

/// How many neighbours the self-retrieval check asks for: a point counts as reachable
/// if a search for its own vector ranks it in the top 10, the depth callers use.
const SELF_CHECK_K: usize = 10;

/// Layer vectors hnsw_rs allocates in every point, used or not (its `NB_LAYER_MAX`).
const HNSW_RS_LAYERS_PER_POINT: usize = 16;

/// Graph construction parameters (a subset of `HnswSettings`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct GraphParams {
    pub m: usize,
    pub ef_construction: usize,
    pub ef_search: usize,
    pub threads: usize,
}

/// What a build did, for logs and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildReport {
    /// Rows in the snapshot the graph was built from.
    pub rows: usize,
    /// Time the build waited for its turn in the build pool before it began (zero
    /// for a build run directly).
    pub waited: Duration,
    /// Wall time of the build including the self-retrieval check and repair.
    pub elapsed: Duration,
    /// Points a search for their own vector did not find after the insert; each was
    /// marked dead and inserted again (sequentially).
    pub repaired: usize,
    /// Points still not found by their own vector after the repair. They have no
    /// in-links left (every neighbour pruned them for closer points; seen with one
    /// thread as often as with two, so it is the graph, not a race): every graph search
    /// scores them exactly, so no row is invisible to the approximate path.
    pub orphans: usize,
}

/// An HNSW graph whose data ids are *node numbers*, not row ids.
///
/// hnsw_rs 0.3 cannot delete or update a point, so replacing a row's vector means
/// inserting a new node and marking the old one dead. With row ids as data ids both
/// nodes would carry the same id and no filter could tell them apart; node numbers keep
/// them distinct and `node_ids` maps back to the row.
pub(crate) struct Graph {
    hnsw: Hnsw<'static, f32, DotDistance>,
    /// Links per node and layer (layer 0 keeps 2m), for the memory estimate.
    m: usize,
    /// Components per vector (0 until the first insert).
    dim: usize,
    /// Every node's vector, node-major: what [`FlatGraph`] searches read (hnsw_rs's own
    /// copies are scattered, one allocation per point).
    vectors: Vec<f32>,
    /// The flat copy of the links that unfiltered searches walk; `None` until built.
    flat: Option<FlatGraph>,
    node_ids: Vec<i64>,
    dead: Vec<bool>,
    dead_count: usize,
    live: HashMap<i64, usize>,
    /// Rows whose live node a search for their own vector does not find; scored exactly
    /// by every search (a handful: ~0.05 % of rows on clustered data).
    orphans: HashSet<i64>,
    /// `ef` of the self-retrieval check (the default search `ef`).
    check_ef: usize,
}

impl Graph {
    fn empty(params: &GraphParams, capacity: usize) -> Self {
        Graph {
            hnsw: Hnsw::new(
                params.m,
                capacity.max(1),
                MAX_LAYERS,
                params.ef_construction,
                DotDistance,
            ),
            m: params.m,
            dim: 0,
            vectors: Vec::new(),
            flat: None,
            node_ids: Vec::with_capacity(capacity),
            dead: Vec::with_capacity(capacity),
            dead_count: 0,
            live: HashMap::with_capacity(capacity),
            orphans: HashSet::new(),
            check_ef: params.ef_search.max(SELF_CHECK_K),
        }
    }

    /// Build a graph over `ids` and their rows in `arena` (row-major, `dim` wide).
    ///
    /// Inserts in parallel on `params.threads` threads, then checks that every point is
    /// found by a search for its own vector: hnsw_rs's parallel insert can leave ~1–2 %
    /// of points unreachable under contention (hnsw_rs issue #32). Lost points are
    /// marked dead and inserted again, sequentially; those a search still does not
    /// find become orphans, which every search scores exactly.
    pub(crate) fn build(
        params: &GraphParams,
        ids: &[i64],
        arena: &[f32],
        dim: usize,
    ) -> (Graph, BuildReport) {
        let start = Instant::now();
        let n = ids.len();
        debug_assert_eq!(arena.len(), n * dim);
        let row = |node: usize| &arena[node * dim..(node + 1) * dim];
        let mut graph = Graph::empty(params, n + n / 8);
        graph.dim = dim;
        graph.vectors.reserve(arena.len() + arena.len() / 8);
        graph.vectors.extend_from_slice(arena);
        graph.node_ids.extend_from_slice(ids);
        graph.dead.resize(n, false);
        graph
            .live
            .extend(ids.iter().enumerate().map(|(node, &id)| (id, node)));

        // The first points shape the upper layers and the entry point; inserting them
        // one by one avoids the races that are worst while the graph is tiny.
        let seq = n.min(1000);
        for node in 0..seq {
            graph.hnsw.insert_slice((row(node), node));
        }
        let hnsw = &graph.hnsw;
        parallel_for(seq..n, params.threads, |node| {
            hnsw.insert_slice((row(node), node))
        });

        let all: Vec<(usize, &[f32])> = (0..n).map(|node| (node, row(node))).collect();
        let lost = graph.unreachable(params.threads, &all);
        drop(all);
        // `insert` checks the new node again and records it as an orphan if it is
        // still not found.
        for &node in &lost {
            graph.insert(graph.node_ids[node], row(node));
        }
        graph.flat = FlatGraph::freeze(&graph.hnsw, graph.nodes());
        let report = BuildReport {
            rows: n,
            waited: Duration::ZERO,
            elapsed: start.elapsed(),
            repaired: lost.len(),
            orphans: graph.orphans.len(),
        };
        (graph, report)
    }

    /// Nodes among `(node, its vector)` that a search for their own vector does not return.
    fn unreachable(&self, threads: usize, nodes: &[(usize, &[f32])]) -> Vec<usize> {
        let lost = std::sync::Mutex::new(Vec::new());
        parallel_for(0..nodes.len(), threads, |i| {
            let (node, vector) = nodes[i];
            if !self.finds_itself(node, vector) {
                // A poisoned lock only means another check panicked; the list is still valid.
                lost.lock().unwrap_or_else(|e| e.into_inner()).push(node);
            }
        });
        let mut lost = lost.into_inner().unwrap_or_else(|e| e.into_inner());
        lost.sort_unstable();
        lost
    }

    /// `true` when a search for `vector` returns `node` in its top [`SELF_CHECK_K`].
    fn finds_itself(&self, node: usize, vector: &[f32]) -> bool {
        self.hnsw
            .search(vector, SELF_CHECK_K, self.check_ef)
            .iter()
            .any(|n| n.d_id == node)
    }

    /// Insert (or replace) the vector of row `id`; returns the new node number.
    ///
    /// The new node is checked for self-retrieval (one search, about half the cost of
    /// the insert itself) and recorded as an orphan if it is not found.
    pub(crate) fn insert(&mut self, id: i64, vector: &[f32]) -> usize {
        let node = self.node_ids.len();
        self.dim = vector.len();
        self.vectors.extend_from_slice(vector);
        self.node_ids.push(id);
        self.dead.push(false);
        if let Some(old) = self.live.insert(id, node) {
            self.kill(old);
        }
        self.hnsw.insert_slice((vector, node));
        // Nodes newer than the flat copy are scored exactly by every search: take a
        // new copy once they are 1/64 of it (a copy reads every node's links, so its
        // cost is spread over that many inserts).
        if let Some(flat) = &self.flat
            && self.nodes() - flat.nodes() > (flat.nodes() / 64).max(64)
        {
            self.flat = FlatGraph::freeze(&self.hnsw, self.nodes());
        }
        if self.finds_itself(node, vector) {
            self.orphans.remove(&id);
        } else {
            self.orphans.insert(id);
        }
        node
    }

    /// Mark the live node of row `id` dead; returns whether there was one.
    pub(crate) fn remove(&mut self, id: i64) -> bool {
        match self.live.remove(&id) {
            Some(node) => {
                self.kill(node);
                self.orphans.remove(&id);
                true
            }
            None => false,
        }
    }

    fn kill(&mut self, node: usize) {
        if !self.dead[node] {
            self.dead[node] = true;
            self.dead_count += 1;
        }
    }

    /// Nodes in the graph, dead ones included.
    pub(crate) fn nodes(&self) -> usize {
        self.node_ids.len()
    }

    /// Share of nodes that are dead (cost without benefit in every search).
    pub(crate) fn dead_fraction(&self) -> f64 {
        if self.node_ids.is_empty() {
            0.0
        } else {
            self.dead_count as f64 / self.node_ids.len() as f64
        }
    }

    /// Up to `ef` row ids nearest to `query`, best first, skipping dead nodes and rows
    /// `keep` rejects; then every orphan `keep` accepts (unranked: the caller scores all
    /// candidates exactly).
    ///
    /// Without `keep`, the flat copy of the links is walked ([`FlatGraph`]), nodes
    /// inserted since it was taken are added as candidates, and dead nodes are
    /// dropped from the answer rather than filtered during the walk: hnsw_rs's
    /// filtered walk gives up the early stop of the unfiltered one and expands every
    /// queued candidate, and nearly every graph has dead nodes (a build's repairs
    /// leave some: 34 of 24,000 on the recall set), so filtering them in the walk made
    /// every search pay for it (on the recall set, 24,000 × 384, at ef 128: 3.2 ms for
    /// recall@10 0.994, against 0.54 ms for 0.988 unfiltered, which reaches 0.99 at a
    /// higher ef for well under half the time). The answer is widened by the dead
    /// share instead, so about `ef` live nodes remain.
    ///
    /// With `keep`, hnsw_rs's filtered walk runs, asked for `ef` neighbours (not k): it
    /// applies the filter to the list it returns only partially (the entry point can
    /// slip through), so the result is filtered again here and the caller re-ranks
    /// and truncates to k.
    pub(crate) fn search(
        &self,
        query: &[f32],
        ef: usize,
        keep: Option<&dyn Fn(i64) -> bool>,
    ) -> Vec<i64> {
        let accept = |node: usize| !self.dead[node] && keep.is_none_or(|f| f(self.node_ids[node]));
        let filter = |node: &usize| accept(*node);
        let nodes: Vec<usize> = match (keep, &self.flat) {
            (None, Some(flat)) => {
                let live = 1.0 - self.dead_fraction();
                let wide = ((ef as f64 / live.max(0.5)).ceil() as usize).max(ef);
                let found = flat.search(query, wide, &self.vectors);
                let newer = flat.nodes()..self.nodes();
                found.into_iter().map(|n| n as usize).chain(newer).collect()
            }
            _ => self
                .hnsw
                .search_filter(query, ef, ef, keep.map(|_| &filter as &dyn FilterT))
                .iter()
                .map(|n| n.d_id)
                .collect(),
        };
        let mut ids: Vec<i64> = nodes
            .into_iter()
            .filter(|&node| accept(node))
            .map(|node| self.node_ids[node])
            // An orphan may still be reached from a far entry; it is added below once.
            .filter(|id| !self.orphans.contains(id))
            .collect();
        ids.extend(
            self.orphans
                .iter()
                .filter(|id| keep.is_none_or(|f| f(**id))),
        );
        ids
    }

    /// Estimated resident bytes of the graph, dead nodes included: an upper bound that
    /// counts every layer-0 neighbour list as full (2m links; the upper layers add
    /// m links on 1/(m−1) of a level per node on average, about one link).
    ///
    /// hnsw_rs keeps, per point, its own copy of the vector (`4 × dim`), an `Arc`'d
    /// point (~72 bytes), an `Arc<RwLock>` of 16 layer `Vec`s (~430 bytes), and per link
    /// an `Arc` pointer plus an `Arc`'d (point, distance) pair (~40 bytes); this layer
    /// adds a row id, a dead flag and an id-to-node map entry (~40 bytes).
    pub(crate) fn resident_bytes(&self) -> usize {
        const POINT: usize = 72;
        const LINK: usize = 40;
        const OURS: usize = 40;
        let layers = 48 + HNSW_RS_LAYERS_PER_POINT * 24;
        let links = 2 * self.m + 1;
        self.nodes() * (4 * self.dim + POINT + layers + links * LINK + OURS)
            + self.vectors.capacity() * 4
            + self.flat.as_ref().map_or(0, FlatGraph::bytes)
    }

    /// Rows scored exactly by every search because the graph does not lead to them.
    pub(crate) fn orphans(&self) -> usize {
        self.orphans.len()
    }

    /// Nodes inserted since the flat copy was taken (all of them without one).
    #[cfg(test)]
    pub(crate) fn unfrozen_nodes(&self) -> usize {
        self.nodes() - self.flat.as_ref().map_or(0, FlatGraph::nodes)
    }

    #[cfg(test)]
    pub(crate) fn orphan_ids(&self) -> impl Iterator<Item = i64> + '_ {
        self.orphans.iter().copied()
    }
}

/// Run `f` for every index in `range` on `threads` scoped threads.
///
/// Plain std threads instead of hnsw_rs's rayon-based `parallel_insert`: the number of
/// threads a background build may take from a 2-core server is a setting, and rayon's
/// global pool would take all cores.
fn parallel_for(range: std::ops::Range<usize>, threads: usize, f: impl Fn(usize) + Sync) {
    // Work is handed out in small batches from a shared counter so threads that hit
    // slow inserts do not leave the others idle at the end.
    const BATCH: usize = 64;
    let next = AtomicUsize::new(range.start);
    let work = || {
        loop {
            let begin = next.fetch_add(BATCH, Ordering::Relaxed);
            if begin >= range.end {
                break;
            }
            for i in begin..(begin + BATCH).min(range.end) {
                f(i);
            }
        }
    };
    let threads = threads.max(1);
    if threads == 1 || range.len() <= BATCH {
        work();
        return;
    }
    std::thread::scope(|s| {
        for _ in 1..threads {
            s.spawn(work);
        }
        work();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vector::testdata::Clusters;

    #[test]
    fn self_distance_is_never_negative() {
        // Find normalised vectors whose rounded self dot product exceeds 1: a plain
        // `1 - dot` would be negative for them and trip hnsw_rs's assertions.
        let mut data = Clusters::new(4, 1536, 9);
        let mut over_one = 0;
        for _ in 0..200 {
            let v = data.point();
            if dot(&v, &v) > 1.0 {
                over_one += 1;
                assert_eq!(DotDistance.eval(&v, &v), 0.0);
            }
            assert!(DotDistance.eval(&v, &v) >= 0.0);
        }
        assert!(over_one > 0, "test data never exercised the clamp");
    }

    #[test]
    fn parallel_for_visits_every_index_once() {
        let seen: Vec<AtomicUsize> = (0..1000).map(|_| AtomicUsize::new(0)).collect();
        parallel_for(3..1000, 2, |i| {
            seen[i].fetch_add(1, Ordering::Relaxed);
        });
        for (i, s) in seen.iter().enumerate() {
            assert_eq!(s.load(Ordering::Relaxed), usize::from(i >= 3), "index {i}");
        }
    }
}

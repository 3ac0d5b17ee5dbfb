//! A frozen, flat copy of an hnsw_rs graph's links, searched without hnsw_rs's
//! per-search costs.
//!
//! hnsw_rs reaches each neighbour through three dependent heap pointers (an `Arc`'d
//! link to an `Arc`'d point to its own `Vec` of floats), takes a lock per expanded
//! node, and allocates two `Arc`s per candidate and a hash map of visited points per
//! search. Profiled on the recall set (24,000 × 384, ef 128, `perf record` of
//! `loadgen scan`), 46 % of a search's samples sat in the dot kernel (stalled on
//! those scattered vectors) and 41 % in hnsw_rs's walk itself, 4.7× slower than
//! hnswlib at recall@10 0.99. Here the links are `u32` node numbers in one array
//! (layer 0, fixed stride) and a map for the few upper-layer nodes, the vectors are
//! read from the graph's node-ordered arena, and visited marks are epoch-stamped
//! arrays reused across searches. Nodes inserted after the copy was taken are not in
//! it; the graph scores them exactly and takes a new copy once they are many.
//!
//! Measured in CPU time per search (`loadgen scan`, same binary, back to back) on
//! the recall set at 384-d: hnsw_rs's walk 0.88 ms for recall@10 0.990 (ef 160),
//! this one 0.39 ms, 0.30 ms with the prefetch; at 1536-d 1.8 ms against 1.0 ms for
//! 0.990 (the prefetch made no difference there that the noise let us see). hnswlib needs 0.14–0.19 ms (384-d) and 0.59 ms (1536-d) for 0.991 at its
//! ef 128: the graph hnsw_rs builds needs a larger ef for the same recall (ef 160–200
//! here), and each distance is a call through simsimd's dispatch, not inlined.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::sync::Mutex;

use hnsw_rs::prelude::Hnsw;

use super::graph::DotDistance;
use super::kernel::dot;

/// Hint the CPU to start loading the cache line at the start of `data`.
#[inline]
fn prefetch(data: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` needs SSE, part of every x86_64 CPU (the target's
    // baseline). PREFETCHT0 is a hint: it never faults, whatever the address, and
    // has no effect a program can observe besides timing; the pointer is taken from
    // a live slice anyway, so it is in bounds.
    unsafe {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(data.as_ptr().cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// A distance with a total order (`f32::total_cmp`), for the heaps.
#[derive(Clone, Copy, PartialEq)]
struct Dist(f32);

impl Eq for Dist {}
impl PartialOrd for Dist {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Dist {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Visited marks: a node is visited in this search when its mark equals `epoch`, so
/// starting a search is one increment, not a clear of the whole array.
#[derive(Default)]
struct Visited {
    epoch: u32,
    marks: Vec<u32>,
}

impl Visited {
    fn start(&mut self, nodes: usize) {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 || self.marks.len() < nodes {
            self.marks.clear();
            self.marks.resize(nodes, 0);
            self.epoch = 1;
        }
    }

    /// Marks `node`; `true` when it was not marked yet.
    fn insert(&mut self, node: u32) -> bool {
        let mark = &mut self.marks[node as usize];
        let fresh = *mark != self.epoch;
        *mark = self.epoch;
        fresh
    }
}

/// The links of the first `nodes` nodes of a graph, frozen when it was taken.
pub(crate) struct FlatGraph {
    nodes: usize,
    /// Layer-0 links: `stride` `u32`s per node, the first one the count.
    stride: usize,
    links0: Vec<u32>,
    /// Links of layers 1 and up (index 0 is layer 1), for the nodes that have them
    /// (1 in m−1 on average).
    upper: HashMap<u32, Vec<Vec<u32>>>,
    entry: u32,
    top: usize,
    /// One set of marks per search running at once, reused.
    visited: Mutex<Vec<Visited>>,
}

impl FlatGraph {
    /// Copy the links of every node of `hnsw` (whose data ids are node numbers below
    /// `nodes`). `None` for an empty graph.
    pub(crate) fn freeze(hnsw: &Hnsw<'static, f32, DotDistance>, nodes: usize) -> Option<Self> {
        let points = hnsw.get_point_indexation();
        let top = usize::from(points.get_max_level_observed());
        // The entry point is the first point that reached the top layer: the first
        // one stored there.
        let entry = points.get_layer_iterator(top).next()?.get_origin_id() as u32;
        let mut hoods = Vec::with_capacity(nodes);
        for point in points {
            let level = usize::from(point.get_point_id().0);
            let lists: Vec<Vec<u32>> = point
                .get_neighborhood_id()
                .into_iter()
                .take(level + 1)
                .map(|layer| layer.into_iter().map(|n| n.d_id as u32).collect())
                .collect();
            hoods.push((point.get_origin_id(), lists));
        }
        let widest = hoods
            .iter()
            .filter_map(|(_, lists)| lists.first().map(Vec::len))
            .max()
            .unwrap_or(0);
        let stride = widest + 1;
        let mut links0 = vec![0u32; nodes * stride];
        let mut upper = HashMap::new();
        for (node, mut lists) in hoods {
            if let Some(layer0) = lists.first() {
                let row = &mut links0[node * stride..(node + 1) * stride];
                row[0] = layer0.len() as u32;
                row[1..=layer0.len()].copy_from_slice(layer0);
            }
            if lists.len() > 1 {
                lists.remove(0);
                upper.insert(node as u32, lists);
            }
        }
        Some(FlatGraph {
            nodes,
            stride,
            links0,
            upper,
            entry,
            top,
            visited: Mutex::new(Vec::new()),
        })
    }

    /// Nodes the copy holds (the graph's nodes when it was taken).
    pub(crate) fn nodes(&self) -> usize {
        self.nodes
    }

    /// Bytes of the copy's links.
    pub(crate) fn bytes(&self) -> usize {
        let upper: usize = self
            .upper
            .values()
            .map(|lists| lists.iter().map(|l| 24 + 4 * l.len()).sum::<usize>() + 40)
            .sum();
        self.links0.capacity() * 4 + upper
    }

    /// The `ef` nodes nearest to `query` (by `1 − dot`, nearest first) that the walk
    /// finds, dead ones included (the caller drops them). `vectors` holds node `i`'s
    /// vector at `i × dim`. The classic HNSW search: greedy descent through the upper
    /// layers, then a best-first walk of layer 0 keeping `ef` results, stopping when
    /// the nearest unexpanded candidate is farther than the farthest result.
    pub(crate) fn search(&self, query: &[f32], ef: usize, vectors: &[f32]) -> Vec<u32> {
        let dim = query.len();
        let dist = |node: u32| {
            let at = node as usize * dim;
            Dist(1.0 - dot(query, &vectors[at..at + dim]))
        };
        let mut here = self.entry;
        let mut near = dist(here);
        for layer in (1..=self.top).rev() {
            let mut moved = true;
            while moved {
                moved = false;
                let links = self.upper.get(&here).and_then(|lists| lists.get(layer - 1));
                for &next in links.into_iter().flatten() {
                    let d = dist(next);
                    if d < near {
                        (here, near) = (next, d);
                        moved = true;
                    }
                }
            }
        }

        let mut visited = self.take_visited();
        visited.start(self.nodes);
        visited.insert(here);
        let mut candidates = BinaryHeap::with_capacity(ef * 2);
        let mut results: BinaryHeap<(Dist, u32)> = BinaryHeap::with_capacity(ef + 1);
        candidates.push(Reverse((near, here)));
        results.push((near, here));
        while let Some(Reverse((d, node))) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|(worst, _)| d > *worst) {
                break;
            }
            let row = &self.links0[node as usize * self.stride..(node as usize + 1) * self.stride];
            let links = &row[1..=row[0] as usize];
            // Ask for every neighbour's vector before scoring the first, so the
            // memory fetches overlap instead of each distance waiting for its own.
            for &next in links {
                prefetch(&vectors[next as usize * dim..]);
            }
            for &next in links {
                if !visited.insert(next) {
                    continue;
                }
                let d = dist(next);
                if results.len() < ef || results.peek().is_some_and(|(worst, _)| d < *worst) {
                    candidates.push(Reverse((d, next)));
                    results.push((d, next));
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        self.give_back(visited);
        results
            .into_sorted_vec()
            .into_iter()
            .map(|(_, n)| n)
            .collect()
    }

    fn take_visited(&self) -> Visited {
        let mut pool = self.visited.lock().unwrap_or_else(|e| e.into_inner());
        pool.pop().unwrap_or_default()
    }

    fn give_back(&self, visited: Visited) {
        // Poisoning cannot leave the pool inconsistent: it is a list of buffers.
        let mut pool = self.visited.lock().unwrap_or_else(|e| e.into_inner());
        pool.push(visited);
    }
}

#[cfg(test)]
mod tests {
    use crate::vector::graph::{Graph, GraphParams};
    use crate::vector::testdata::{Clusters, recall};
    use crate::vector::{Hit, Partition};

    #[test]
    fn inserted_nodes_are_searched_and_then_copied_into_the_flat_links() {
        let params = GraphParams {
            m: 16,
            ef_construction: 64,
            ef_search: 64,
            threads: 2,
        };
        let mut data = Clusters::new(20, 32, 19);
        let rows: Vec<Vec<f32>> = (0..3_000).map(|_| data.point()).collect();
        let ids: Vec<i64> = (0..3_000).collect();
        let (mut graph, _) = Graph::build(&params, &ids, &rows.concat(), 32);
        assert_eq!(graph.unfrozen_nodes(), 0, "the build takes the copy");
        let fresh: Vec<Vec<f32>> = (0..60).map(|_| data.point()).collect();
        for (i, v) in fresh.iter().enumerate() {
            graph.insert(10_000 + i as i64, v);
        }
        assert_eq!(
            graph.unfrozen_nodes(),
            60,
            "below the 64 that trigger a new copy"
        );
        for (i, v) in fresh.iter().enumerate() {
            assert!(graph.search(v, 10, None).contains(&(10_000 + i as i64)));
        }
        for i in 60..70 {
            graph.insert(10_000 + i, &data.point());
        }
        assert_eq!(
            graph.unfrozen_nodes(),
            5,
            "a new copy was taken at the 65th"
        );
        // The walk over the copy still agrees with the exact ranking.
        let mut exact: Partition<()> = Partition::new(32);
        for (id, v) in ids.iter().zip(&rows) {
            exact.upsert(*id, 0, (), v);
        }
        let mut total = 0.0;
        for _ in 0..50 {
            let q = data.point();
            let truth = exact.search_exact(&q, 10, |id, _| id < 3_000);
            let found: Vec<Hit> = graph
                .search(&q, 64, None)
                .into_iter()
                .filter_map(|id| {
                    exact.get_vector(id).map(|v| Hit {
                        id,
                        score: crate::vector::dot(&q, v),
                        created_at: 0,
                    })
                })
                .collect();
            total += recall(&found, &truth);
        }
        assert!(total / 50.0 >= 0.95, "recall {}", total / 50.0);
    }
}

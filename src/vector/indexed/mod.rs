//! A partition with an optional HNSW index: exact below a size threshold, approximate
//! above it, with a filter plan that never starves. Its tuning is in `settings.rs`,
//! its background (re)builds in `build.rs` and the pool they queue in in `pool.rs`.

mod build;
#[cfg(test)]
mod build_tests;
mod pool;
mod settings;
#[cfg(test)]
mod tests;

use super::graph::Graph;
use super::kernel::dot;
use super::partition::{Partition, ResidentBytes};
use super::topk::{Hit, TopK};

pub use build::{BuildJob, BuiltIndex, Maintenance};
pub use pool::BuildPool;
pub use settings::HnswSettings;

use build::PendingBuild;

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
        part.enable_plan(settings.scan_plan(part.dim()));
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

    /// Resident bytes by part: the partition's columns and compact copies, and an
    /// estimate of the HNSW graph (see [`ResidentBytes`]).
    pub fn resident_bytes(&self) -> ResidentBytes {
        ResidentBytes {
            graph: self.graph.as_ref().map_or(0, Graph::resident_bytes),
            ..self.part.resident_bytes()
        }
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
        let plan = self.settings.scan_plan(self.part.dim());
        let exact = |strategy| SearchOutcome {
            hits: match &filter {
                Some(f) => self.part.search_planned(query, k, plan, f),
                None => self.part.search_planned(query, k, plan, |_, _| true),
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

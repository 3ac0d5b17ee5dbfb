//! The tuning of a partition's search: when it gets an HNSW index, the index's
//! parameters, the filter plan, the first passes of an exact scan, and the pool its
//! builds queue in. Each field's doc gives the measurement behind its default.

use super::pool::BuildPool;
use crate::vector::graph::GraphParams;
use crate::vector::partition::ScanPlan;
use crate::vector::sign_bits::BitRescore;

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
    /// Exact scans use an int8 pass keeping the best `int8_rescore × k` rows (of the
    /// bit pass's candidates when `binary_rescore` is on, else of all rows) for f32
    /// when non-zero; 0 skips it. 0 here, so the library's exact scans are exact;
    /// `mnemo serve` sets it (`MNEMO_INT8_RESCORE`). The int8 copy costs a quarter of
    /// the arena again.
    pub int8_rescore: usize,
    /// Exact scans start with a sign-bit pass (Hamming distance between the codes
    /// of `vector::sign_bits`) keeping the best `binary_rescore × k` rows for the
    /// int8 pass or f32 unless off. Off here; `mnemo serve` sets it
    /// (`MNEMO_BINARY_RESCORE`, by default [`BitRescore::Auto`]). The bit copy
    /// costs a twenty-fourth of the arena at 1536-d.
    pub binary_rescore: BitRescore,
    /// Threads a build may use. Default: all available cores (a build is rare and the
    /// sooner it finishes the sooner searches leave the exact scan).
    pub build_threads: usize,
    /// Where background builds ([`IndexedPartition::maintain`](super::IndexedPartition::maintain))
    /// queue. Default: [`BuildPool::global`], one build at a time for the process,
    /// since each build already uses `build_threads` cores.
    pub build_pool: BuildPool,
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
            binary_rescore: BitRescore::Off,
            build_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            build_pool: BuildPool::global(),
        }
    }
}

impl HnswSettings {
    /// The first passes of an exact scan of `dim`-dimensional vectors.
    pub fn scan_plan(&self, dim: usize) -> ScanPlan {
        ScanPlan {
            binary: self.binary_rescore.factor(dim),
            int8: self.int8_rescore,
        }
    }

    pub(super) fn graph_params(&self) -> GraphParams {
        GraphParams {
            m: self.m,
            ef_construction: self.ef_construction,
            ef_search: self.ef_search,
            threads: self.build_threads,
        }
    }
}

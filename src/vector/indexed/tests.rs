//! Tests of the search plans of an indexed partition: recall through the graph,
//! filters, fallbacks, and the live graph under upserts and removals.

use super::*;
use crate::vector::testdata::{Clusters, recall};
use std::cell::Cell;
use std::sync::OnceLock;
use std::time::Instant;

use crate::vector::graph::BuildReport;

/// Meta of a row: `id % 100`, so `meta == c` keeps exactly 1 % of the rows.
pub(super) type Meta = u32;

const BIG_ROWS: usize = 12_000;

pub(super) fn settings(threshold: usize) -> HnswSettings {
    HnswSettings {
        threshold,
        build_threads: 2,
        ..HnswSettings::default()
    }
}

pub(super) fn filled(
    n: usize,
    dim: usize,
    threshold: usize,
    seed: u64,
) -> (IndexedPartition<Meta>, Clusters) {
    filled_with(settings(threshold), n, dim, seed)
}

/// `n` clustered rows, `meta = id % 100`, created at `id × 10`.
pub(super) fn filled_with(
    settings: HnswSettings,
    n: usize,
    dim: usize,
    seed: u64,
) -> (IndexedPartition<Meta>, Clusters) {
    let mut data = Clusters::new(50, dim, seed);
    let mut p = IndexedPartition::new(dim, settings);
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

pub(super) fn ids(hits: &[Hit]) -> Vec<i64> {
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
fn shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<IndexedPartition<Meta>>();
    assert_send::<BuildJob>();
    assert_send::<BuiltIndex>();
}

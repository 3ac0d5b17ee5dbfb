//! Tests of the first passes: recall against the exact scan on clustered data,
//! exact scores and tie order among the candidates, filters, and the compact copies
//! kept in step with the arena through upserts and removals.

use super::{Partition, ScanPlan};
use crate::vector::Hit;
use crate::vector::sign_bits::sign_bits;
use crate::vector::testdata::{Clusters, recall};
use rand::{Rng, SeedableRng};

const INT8: ScanPlan = ScanPlan { binary: 0, int8: 4 };
const BINARY: ScanPlan = ScanPlan {
    binary: 10,
    int8: 0,
};
const BINARY_INT8: ScanPlan = ScanPlan {
    binary: 10,
    int8: 4,
};

/// 5,000 rows in 50 clusters (`meta = id % 4`), every compact copy kept, then
/// churned: later upserts, replacements and removals move rows between slots.
fn churned(dim: usize, seed: u64) -> (Partition<u8>, Clusters) {
    let mut data = Clusters::new(50, dim, seed);
    let mut p: Partition<u8> = Partition::new(dim);
    for id in 0..5_000 {
        p.upsert(id, id, (id % 4) as u8, &data.point());
    }
    p.enable_plan(BINARY_INT8);
    for id in 5_000..5_500 {
        p.upsert(id, id, (id % 4) as u8, &data.point());
    }
    for id in (0..5_000).step_by(7) {
        p.remove(id);
    }
    p.upsert(10, 10, 2, &data.point());
    (p, data)
}

/// Mean recall@10 of `plan` against the exact scan over 50 queries, checking on the
/// way that shared hits carry the exact scan's score and every hit passes the filter.
fn mean_recall(p: &Partition<u8>, data: &mut Clusters, plan: ScanPlan) -> f64 {
    let mut total = 0.0;
    for _ in 0..50 {
        let q = data.point();
        let exact = p.search_exact(&q, 10, |_, m| *m != 3);
        let fast = p.search_planned(&q, 10, plan, |_, m| *m != 3);
        assert_eq!(fast.len(), 10);
        total += recall(&fast, &exact);
        for h in &fast {
            if let Some(e) = exact.iter().find(|e| e.id == h.id) {
                assert_eq!(h.score, e.score, "candidates are re-scored in f32");
            }
            assert_ne!(p.get_meta(h.id), Some(&3), "filtered-out row {}", h.id);
        }
    }
    total / 50.0
}

#[test]
fn every_first_pass_keeps_recall_and_exact_scores_on_clustered_data() {
    // int8 at 384-d; the sign bits at 1536-d, where 1 bit per dimension resolves
    // clustered neighbours (at 384-d a cut of 10 × k is too tight: see ScanPlan).
    for (plan, dim, seed) in [(INT8, 384, 11), (BINARY, 1536, 12), (BINARY_INT8, 1536, 13)] {
        let (p, mut data) = churned(dim, seed);
        let mean = mean_recall(&p, &mut data, plan);
        assert!(mean >= 0.99, "recall@10 of {plan:?} at {dim}-d = {mean}");
    }
}

#[test]
fn without_compact_copies_every_plan_is_the_exact_scan() {
    let mut data = Clusters::new(5, 64, 3);
    let mut p: Partition<()> = Partition::new(64);
    for id in 0..200 {
        p.upsert(id, id, (), &data.point());
    }
    let q = data.point();
    let exact = p.search_exact(&q, 5, |_, _| true);
    for plan in [INT8, BINARY, BINARY_INT8] {
        assert_eq!(
            p.search_planned(&q, 5, plan, |_, _| true),
            exact,
            "{plan:?}"
        );
    }
}

#[test]
fn a_filter_matching_fewer_rows_than_the_cut_gives_the_exact_answer() {
    let (p, mut data) = churned(256, 14);
    for _ in 0..10 {
        let q = data.point();
        // id % 97 == 5 keeps about 50 rows: fewer than binary × k = 100.
        let filter = |id: i64, _: &u8| id % 97 == 5;
        let exact = p.search_exact(&q, 10, filter);
        assert_eq!(p.search_planned(&q, 10, BINARY, filter), exact);
        assert_eq!(p.search_planned(&q, 10, BINARY_INT8, filter), exact);
        // Fewer matches than k: all of them, nothing else.
        let few = p.search_planned(&q, 10, BINARY, |id, _| id < 4);
        assert_eq!(few.len(), 3, "ids 1..4 remain (0 was removed)");
        assert_eq!(few, p.search_exact(&q, 10, |id, _| id < 4));
    }
}

#[test]
fn sparse_vectors_rank_by_their_rotated_bits() {
    // Twelve non-zero components out of 512, as lexical hashing gives: their raw
    // signs set about 1 % of the bits, so every row looked alike; the rotation's
    // bits rank them well enough to keep recall with the exact scan.
    let mut rng = rand::rngs::StdRng::seed_from_u64(18);
    let mut sparse = || {
        let mut v = vec![0.0f32; 512];
        for _ in 0..12 {
            v[rng.random_range(0..512)] = rng.random_range(-1.0f32..1.0);
        }
        crate::vector::normalize(&mut v, 512).map(|()| v).ok()
    };
    let mut p: Partition<()> = Partition::new(512);
    p.enable_plan(BINARY);
    let mut id = 0;
    while p.len() < 3_000 {
        if let Some(v) = sparse() {
            p.upsert(id, id, (), &v);
            id += 1;
        }
    }
    let (mut found, mut wanted) = (0, 0);
    for _ in 0..50 {
        let Some(q) = sparse() else { continue };
        let exact: Vec<i64> = p
            .search_exact(&q, 10, |_, _| true)
            .iter()
            .map(|h| h.id)
            .collect();
        let planned = p.search_planned(&q, 10, BINARY, |_, _| true);
        found += planned.iter().filter(|h| exact.contains(&h.id)).count();
        wanted += exact.len();
    }
    let recall = found as f64 / wanted as f64;
    assert!(recall >= 0.95, "recall@10 {recall}");
}

#[test]
fn ties_are_cut_and_ordered_as_the_exact_scan_orders_them() {
    // 300 rows share one vector (equal codes, equal f32 scores) with creation times
    // in a different order from their ids; a cut of binary × k = 20 among them must
    // keep the exact scan's first rows: newest first, then the higher id.
    let mut data = Clusters::new(3, 128, 15);
    let shared = data.point();
    let mut p: Partition<()> = Partition::new(128);
    p.enable_plan(BINARY_INT8);
    for id in 0..300 {
        p.upsert(id, (id * 7919) % 50, (), &shared);
    }
    for id in 300..1_000 {
        p.upsert(id, id, (), &data.point());
    }
    let exact = p.search_exact(&shared, 10, |_, _| true);
    let ids = |hits: &[Hit]| hits.iter().map(|h| h.id).collect::<Vec<_>>();
    for plan in [
        INT8,
        ScanPlan { binary: 2, int8: 0 },
        ScanPlan { binary: 2, int8: 1 },
    ] {
        assert_eq!(
            ids(&p.search_planned(&shared, 10, plan, |_, _| true)),
            ids(&exact),
            "{plan:?}"
        );
    }
}

#[test]
fn counting_keeps_the_rows_the_heap_keeps() {
    // Distances of few values (many ties), creation times repeating out of id
    // order: for every cut, counting must choose the very rows the heap chooses.
    let mut rng = rand::rngs::StdRng::seed_from_u64(21);
    let mut p: Partition<()> = Partition::new(4);
    for id in 0..2_000 {
        p.upsert(id, rng.random_range(0..40), (), &[1.0, 0.0, 0.0, 0.0]);
    }
    let distances: Vec<u32> = (0..2_000).map(|_| rng.random_range(0..12)).collect();
    let distance = |slot: usize| distances[slot];
    for keep in [1, 7, 80, 333, 1_999, 2_000, 2_500] {
        let slots = || (0..2_000).filter(|slot| slot % 5 != 0);
        let mut by_heap = p.keep_best(slots(), keep, |slot| -(distance(slot) as f32));
        let mut by_count = p.keep_nearest(slots(), keep, 11, distance);
        by_heap.sort_unstable();
        by_count.sort_unstable();
        assert_eq!(by_count, by_heap, "keep {keep}");
    }
}

#[test]
fn upserts_and_removals_keep_the_bit_rows_in_step_with_the_arena() {
    let (mut p, mut data) = churned(100, 16);
    // Replace a row in place, remove the last slot and a middle one.
    p.upsert(20, 20, 0, &data.point());
    let last = *p.ids().last().unwrap();
    p.remove(last);
    p.remove(22);
    let bits = p.bits.as_ref().unwrap();
    let int8 = p.int8.as_ref().unwrap();
    assert_eq!(bits.rows(), p.len());
    assert_eq!(int8.rows(), p.len());
    for slot in 0..p.len() {
        assert_eq!(bits.row(slot), sign_bits(p.row(slot)), "slot {slot}");
    }
    // Every row is still the first candidate of a search for its own vector.
    for &id in p.ids().iter().step_by(50) {
        let v = p.get_vector(id).unwrap().to_vec();
        let bits_only = ScanPlan { binary: 1, int8: 0 };
        assert_eq!(p.search_planned(&v, 1, bits_only, |_, _| true)[0].id, id);
    }
}

#[test]
fn resident_bytes_count_each_compact_copy() {
    let mut data = Clusters::new(2, 1536, 17);
    let mut p: Partition<u32> = Partition::new(1536);
    p.reserve(100);
    for id in 0..100 {
        p.upsert(id, id, 0, &data.point());
    }
    let plain = p.resident_bytes();
    assert_eq!(plain.vectors, 100 * 1536 * 4);
    assert_eq!((plain.int8, plain.binary, plain.graph), (0, 0, 0));
    // ids, times, meta: 8 + 8 + 4 bytes a row, plus the id map.
    assert!(plain.rows >= 100 * 20, "{plain:?}");
    p.enable_plan(BINARY_INT8);
    let both = p.resident_bytes();
    assert_eq!(
        both.binary,
        100 * 2048 / 8,
        "a bit per coordinate padded to 2048"
    );
    assert_eq!(both.int8, 100 * (1536 + 4));
    assert_eq!(both.total(), plain.total() + both.binary + both.int8);
}

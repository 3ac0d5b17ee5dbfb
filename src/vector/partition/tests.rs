//! Tests of the exact scan: ranking against an f64 brute force, ties, filters, and the
//! dense arena under upserts and removals.

use super::*;
use crate::vector::normalize;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A random unit vector (uniform components, normalised).
fn random_unit(rng: &mut StdRng, dim: usize) -> Vec<f32> {
    let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    normalize(&mut v, dim).unwrap();
    v
}

/// Brute-force reference: every score in f64, full sort with the documented order.
fn reference_top_k(rows: &[(i64, i64, Vec<f32>)], query: &[f32], k: usize) -> Vec<i64> {
    let mut scored: Vec<(f64, i64, i64)> = rows
        .iter()
        .map(|(id, created_at, v)| {
            let s: f64 = v
                .iter()
                .zip(query)
                .map(|(a, b)| f64::from(*a) * f64::from(*b))
                .sum();
            (s, *created_at, *id)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    scored.iter().take(k).map(|r| r.2).collect()
}

fn assert_dense(p: &Partition<u32>) {
    assert_eq!(p.vectors.len(), p.len() * p.dim());
    assert_eq!(p.created_at.len(), p.len());
    assert_eq!(p.meta.len(), p.len());
    assert_eq!(p.slots.len(), p.len());
    for (slot, id) in p.ids.iter().enumerate() {
        assert_eq!(p.slots[id], slot, "slot map out of sync for id {id}");
    }
}

#[test]
fn exact_top_k_matches_f64_brute_force() {
    let mut rng = StdRng::seed_from_u64(7);
    let dim = 96;
    let rows: Vec<(i64, i64, Vec<f32>)> = (0..3000)
        .map(|i| {
            (
                i * 3 + 1,
                rng.random_range(0..1_000_000),
                random_unit(&mut rng, dim),
            )
        })
        .collect();
    let mut p = Partition::new(dim);
    for (id, created_at, v) in &rows {
        p.upsert(*id, *created_at, 0u32, v);
    }
    for k in [1, 10, 100] {
        for _ in 0..10 {
            let q = random_unit(&mut rng, dim);
            let got: Vec<i64> = p
                .search_exact(&q, k, |_, _| true)
                .iter()
                .map(|h| h.id)
                .collect();
            assert_eq!(got, reference_top_k(&rows, &q, k), "k = {k}");
        }
    }
    // k larger than the partition returns every row.
    let q = random_unit(&mut rng, dim);
    assert_eq!(p.search_exact(&q, 10_000, |_, _| true).len(), 3000);
}

#[test]
fn hits_carry_score_and_created_at() {
    let mut p = Partition::new(2);
    p.upsert(1, 111, (), &[1.0, 0.0]);
    p.upsert(2, 222, (), &[0.0, 1.0]);
    let hits = p.search_exact(&[0.6, 0.8], 2, |_, _| true);
    assert_eq!(hits[0].id, 2);
    assert_eq!(hits[0].created_at, 222);
    assert!((hits[0].score - 0.8).abs() < 1e-6);
    assert!((hits[1].score - 0.6).abs() < 1e-6);
}

#[test]
fn equal_scores_rank_newer_first_then_higher_id() {
    let mut p = Partition::new(3);
    let v = [0.0f32, 1.0, 0.0];
    // Same vector, so exactly equal scores.
    p.upsert(10, 500, (), &v);
    p.upsert(11, 900, (), &v);
    p.upsert(12, 500, (), &v);
    p.upsert(9, 100, (), &v);
    p.upsert(13, 900, (), &[1.0, 0.0, 0.0]); // newest, but lower score
    let ids: Vec<i64> = p
        .search_exact(&v, 4, |_, _| true)
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(ids, [11, 12, 10, 9]);
}

#[test]
fn filter_is_applied_during_scan() {
    let mut rng = StdRng::seed_from_u64(11);
    let dim = 32;
    let mut p = Partition::new(dim);
    for id in 0..1000i64 {
        p.upsert(id, id, (id % 10) as u32, &random_unit(&mut rng, dim));
    }
    let q = random_unit(&mut rng, dim);
    let hits = p.search_exact(&q, 20, |_, m| *m == 3);
    assert_eq!(hits.len(), 20, "k honoured when enough rows match");
    assert!(hits.iter().all(|h| h.id % 10 == 3));
    // Equal to the best 20 of the matching rows scored without a filter.
    let all = p.search_exact(&q, 1000, |_, _| true);
    let expected: Vec<i64> = all
        .iter()
        .filter(|h| h.id % 10 == 3)
        .take(20)
        .map(|h| h.id)
        .collect();
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), expected);
    // Fewer matches than k: all of them, nothing else.
    assert_eq!(p.search_exact(&q, 20, |id, _| id < 5).len(), 5);
    // Rows failing the filter are never scored: the filter sees every row once.
    let calls = std::cell::Cell::new(0);
    p.search_exact(&q, 5, |_, _| {
        calls.set(calls.get() + 1);
        false
    });
    assert_eq!(calls.get(), 1000);
}

#[test]
fn upsert_replaces_vector_meta_and_time() {
    let mut p = Partition::new(2);
    p.upsert(1, 10, 1u32, &[1.0, 0.0]);
    p.upsert(2, 20, 2u32, &[0.0, 1.0]);
    p.upsert(1, 30, 7u32, &[0.0, 1.0]);
    assert_eq!(p.len(), 2);
    assert_dense(&p);
    assert_eq!(p.get_meta(1), Some(&7));
    assert_eq!(p.get_created_at(1), Some(30));
    let hits = p.search_exact(&[0.0, 1.0], 2, |_, _| true);
    assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 2]);
    assert!(
        (hits[0].score - 1.0).abs() < 1e-6,
        "old vector must be gone"
    );
}

#[test]
fn remove_keeps_the_rest_searchable_and_dense() {
    let mut rng = StdRng::seed_from_u64(3);
    let dim = 16;
    let mut p = Partition::new(dim);
    let vectors: Vec<Vec<f32>> = (0..50).map(|_| random_unit(&mut rng, dim)).collect();
    for (id, v) in vectors.iter().enumerate() {
        p.upsert(id as i64, 0, id as u32, v);
    }
    assert!(p.remove(0)); // first slot: the last row moves into it
    assert!(p.remove(49)); // now the last slot
    assert!(p.remove(20));
    assert!(!p.remove(20), "second removal reports absence");
    assert_eq!(p.len(), 47);
    assert_dense(&p);
    for (id, v) in vectors.iter().enumerate() {
        let id = id as i64;
        let removed = [0, 49, 20].contains(&id);
        assert_eq!(p.contains(id), !removed);
        if !removed {
            assert_eq!(
                p.get_vector(id),
                Some(v.as_slice()),
                "row {id} moved intact"
            );
            assert_eq!(p.get_meta(id), Some(&(id as u32)));
            let top = p.search_exact(v, 1, |_, _| true);
            assert_eq!(top[0].id, id, "row {id} must find itself");
        }
    }
    let all = p.search_exact(&vectors[5], 100, |_, _| true);
    assert_eq!(all.len(), 47);
    assert!(all.iter().all(|h| ![0, 49, 20].contains(&h.id)));
    // Removing everything leaves an empty, usable partition.
    for id in 0..50 {
        p.remove(id);
    }
    assert!(p.is_empty());
    assert_dense(&p);
    assert!(p.search_exact(&vectors[0], 3, |_, _| true).is_empty());
}

#[test]
#[should_panic(expected = "partition dimension is 4")]
fn upsert_with_wrong_length_panics() {
    let mut p = Partition::new(4);
    p.upsert(1, 0, (), &[1.0, 0.0]);
}

//! One in-memory partition scanned exactly: a contiguous arena of normalised vectors.

use std::collections::HashMap;

use super::kernel::dot;
use super::quantized::{Int8Codes, dot_i8, quantize_into};
use super::topk::{Hit, TopK};
use super::validate::is_unit;

/// One in-memory partition (e.g. all memories of one NPC). Generic over per-row metadata
/// `M` used by filters.
///
/// Rows live in parallel columns indexed by *slot*: one `Vec<f32>` of `len * dim`
/// floats (not a `Vec` per vector: one allocation, sequential memory, so a scan runs
/// at memory bandwidth and the prefetcher can see it), plus ids, creation times and
/// metadata. Removal swap-removes to keep every column dense; `slots` maps id to slot.
pub struct Partition<M> {
    dim: usize,
    vectors: Vec<f32>,
    ids: Vec<i64>,
    created_at: Vec<i64>,
    meta: Vec<M>,
    slots: HashMap<i64, usize>,
    /// Optional int8 copy for the quantised first pass ([`Partition::enable_int8`]).
    int8: Option<Int8Codes>,
}

impl<M: Clone + Send + Sync + 'static> Partition<M> {
    /// An empty partition for vectors of `dim` components.
    ///
    /// # Panics
    /// If `dim` is zero (no vector could be valid).
    pub fn new(dim: usize) -> Self {
        assert!(dim > 0, "a partition needs a non-zero dimension");
        Partition {
            dim,
            vectors: Vec::new(),
            ids: Vec::new(),
            created_at: Vec::new(),
            meta: Vec::new(),
            slots: HashMap::new(),
            int8: None,
        }
    }

    /// Keep an int8 copy of every row (a quarter of the f32 arena's memory) so
    /// [`search_int8`](Self::search_int8) can scan 4× fewer bytes.
    pub fn enable_int8(&mut self) {
        if self.int8.is_some() {
            return;
        }
        let mut codes = Int8Codes::default();
        for row in self.vectors.chunks_exact(self.dim) {
            codes.push(row);
        }
        self.int8 = Some(codes);
    }

    /// Whether the int8 copy is kept.
    pub fn has_int8(&self) -> bool {
        self.int8.is_some()
    }

    /// Components per vector.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// `true` when the partition holds no rows.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Reserve room for `rows` more rows, e.g. before loading a partition from disk, so
    /// the arena is allocated once instead of doubling (and briefly holding 1.5x) as it grows.
    pub fn reserve(&mut self, rows: usize) {
        self.vectors.reserve(rows * self.dim);
        self.ids.reserve(rows);
        self.created_at.reserve(rows);
        self.meta.reserve(rows);
        self.slots.reserve(rows);
    }

    /// Insert or replace by id. The vector must already be normalised (debug_assert it).
    ///
    /// # Panics
    /// If `vector.len() != self.dim()`: a wrong length would shift every later row of
    /// the arena, so it is checked in release builds too. Validate with
    /// [`normalize`](super::normalize) first.
    pub fn upsert(&mut self, id: i64, created_at: i64, meta: M, vector: &[f32]) {
        assert_eq!(
            vector.len(),
            self.dim,
            "upsert: vector has {} components, partition dimension is {}",
            vector.len(),
            self.dim
        );
        debug_assert!(is_unit(vector), "upsert: vector {id} is not normalised");
        match self.slots.get(&id) {
            Some(&slot) => {
                self.vectors[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(vector);
                if let Some(int8) = &mut self.int8 {
                    int8.replace(slot, vector);
                }
                self.created_at[slot] = created_at;
                self.meta[slot] = meta;
            }
            None => {
                self.slots.insert(id, self.ids.len());
                self.vectors.extend_from_slice(vector);
                if let Some(int8) = &mut self.int8 {
                    int8.push(vector);
                }
                self.ids.push(id);
                self.created_at.push(created_at);
                self.meta.push(meta);
            }
        }
    }

    /// Remove a row; returns whether it existed.
    ///
    /// The last row is moved into the freed slot (swap-remove), so the arena never has
    /// holes and a scan never has to skip tombstones.
    pub fn remove(&mut self, id: i64) -> bool {
        let Some(slot) = self.slots.remove(&id) else {
            return false;
        };
        let last = self.ids.len() - 1;
        let d = self.dim;
        if slot != last {
            self.vectors.copy_within(last * d..(last + 1) * d, slot * d);
            self.slots.insert(self.ids[last], slot);
        }
        self.vectors.truncate(last * d);
        if let Some(int8) = &mut self.int8 {
            int8.swap_remove(slot, d);
        }
        self.ids.swap_remove(slot);
        self.created_at.swap_remove(slot);
        self.meta.swap_remove(slot);
        true
    }

    /// `true` when a row with this id exists.
    pub fn contains(&self, id: i64) -> bool {
        self.slots.contains_key(&id)
    }

    /// The metadata of a row.
    pub fn get_meta(&self, id: i64) -> Option<&M> {
        self.slots.get(&id).map(|&slot| &self.meta[slot])
    }

    /// The creation time (unix micros) of a row.
    pub fn get_created_at(&self, id: i64) -> Option<i64> {
        self.slots.get(&id).map(|&slot| self.created_at[slot])
    }

    /// The stored (normalised) vector of a row.
    pub fn get_vector(&self, id: i64) -> Option<&[f32]> {
        self.slots.get(&id).map(|&slot| self.row(slot))
    }

    /// All row ids, in slot order (which changes on removal).
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// Exact top-k by dot product, filter applied DURING the scan (rows failing it are never scored),
    /// bounded heap of size k; order: score desc, then created_at desc (newer first), then id desc.
    ///
    /// # Panics
    /// If `query.len() != self.dim()`.
    pub fn search_exact(
        &self,
        query: &[f32],
        k: usize,
        filter: impl Fn(i64, &M) -> bool,
    ) -> Vec<Hit> {
        self.check_query(query);
        if k == 0 {
            return Vec::new();
        }
        let mut top = TopK::new(k);
        // Zipped iterators instead of indexing: no bounds checks in the hot loop.
        let rows = self
            .vectors
            .chunks_exact(self.dim)
            .zip(&self.ids)
            .zip(&self.created_at)
            .zip(&self.meta);
        for (((vector, &id), &created_at), meta) in rows {
            if filter(id, meta) {
                top.push(Hit {
                    id,
                    score: dot(query, vector),
                    created_at,
                });
            }
        }
        top.into_sorted_vec()
    }

    /// Top-k with an int8 first pass: the best `rescore × k` rows by int8 score
    /// are re-scored exactly in f32 and ranked like [`search_exact`](Self::search_exact).
    /// Falls back to the exact scan when the int8 copy is not kept.
    pub fn search_int8(
        &self,
        query: &[f32],
        k: usize,
        rescore: usize,
        filter: impl Fn(i64, &M) -> bool,
    ) -> Vec<Hit> {
        self.check_query(query);
        let Some(int8) = &self.int8 else {
            return self.search_exact(query, k, filter);
        };
        if k == 0 {
            return Vec::new();
        }
        let mut q = Vec::with_capacity(self.dim);
        // The query's own scale multiplies every score equally: ranking ignores it.
        quantize_into(query, &mut q);
        let mut first = TopK::new(k.saturating_mul(rescore.max(1)));
        for slot in 0..self.ids.len() {
            if filter(self.ids[slot], &self.meta[slot]) {
                let approx = int8.scales[slot] * dot_i8(int8.row(slot, self.dim), &q);
                // `id` carries the slot through the first pass.
                first.push(Hit {
                    id: slot as i64,
                    score: approx,
                    created_at: self.created_at[slot],
                });
            }
        }
        let mut top = TopK::new(k);
        for candidate in first.into_sorted_vec() {
            let slot = candidate.id as usize;
            top.push(self.hit_at(slot, dot(query, self.row(slot))));
        }
        top.into_sorted_vec()
    }

    /// Number of rows that pass `filter`.
    ///
    /// Evaluating a filter is a few nanoseconds against ~100 ns for a 1536-d distance,
    /// so counting matches over the whole partition is a cheap way to choose a plan.
    pub(crate) fn count_matching(&self, filter: impl Fn(i64, &M) -> bool) -> usize {
        self.ids
            .iter()
            .zip(&self.meta)
            .filter(|(id, meta)| filter(**id, meta))
            .count()
    }

    pub(crate) fn slot_of(&self, id: i64) -> Option<usize> {
        self.slots.get(&id).copied()
    }

    pub(crate) fn row(&self, slot: usize) -> &[f32] {
        &self.vectors[slot * self.dim..(slot + 1) * self.dim]
    }

    pub(crate) fn meta_at(&self, slot: usize) -> &M {
        &self.meta[slot]
    }

    pub(crate) fn hit_at(&self, slot: usize, score: f32) -> Hit {
        Hit {
            id: self.ids[slot],
            score,
            created_at: self.created_at[slot],
        }
    }

    /// The whole arena, row-major in slot order (for index builds).
    pub(crate) fn arena(&self) -> &[f32] {
        &self.vectors
    }

    fn check_query(&self, query: &[f32]) {
        assert_eq!(
            query.len(),
            self.dim,
            "search: query has {} components, partition dimension is {}",
            query.len(),
            self.dim
        );
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::vector::normalize;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// A random unit vector (uniform components, normalised).
    pub(crate) fn random_unit(rng: &mut StdRng, dim: usize) -> Vec<f32> {
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
}

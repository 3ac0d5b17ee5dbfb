//! The first passes of an exact scan: rank every row by a compact copy (sign bits,
//! int8 codes), keep the best few times k, and score only those in f32.
//!
//! A 5,000 × 1536 partition is 30.7 MB of f32, 7.7 MB of int8 and 1.3 MB of bits,
//! and a scan is bound by the bytes it reads: the bit pass reads 24× less than f32.
//! The final scores and order are exact f32 among the candidates; a row can only be
//! missed if a compact pass ranked it below its cut, so the cut (`ScanPlan`) is
//! chosen from measured recall.

use super::Partition;
use crate::vector::kernel::dot;
use crate::vector::quantized::quantize_into;
use crate::vector::sign_bits::sign_bits;
use crate::vector::topk::{Hit, Ranked, TopK};

/// How an exact scan narrows the rows down before scoring them in f32: each stage
/// that is on keeps its best `factor × k` rows for the next one.
///
/// `ScanPlan::default()` is the plain f32 scan. A stage whose compact copy is not
/// kept (see [`Partition::enable_plan`]) is skipped, never an error.
///
/// Sign bits resolve neighbours better the longer the code: on the real-text recall
/// set (24,000 descriptions, minilm, `loadgen scan`) recall@10 of the bit pass at 4,
/// 8, 16 and 32 × k was 0.949, 0.983, 0.995 and 0.999 at 384-d (512-bit codes), and
/// 0.997, 0.9995, 0.9999 and 1.000 at 1536-d (2048 bits); on the npc set (the hash
/// provider's sparse vectors) 0.992 at 4 × k and 0.996, the exact scan's own, from
/// 8 × k. The bits are those of a fixed random rotation (see `vector::sign_bits`), so
/// sparse vectors rank by them as well as dense ones. An int8 pass after the bit
/// pass changed no result there and saved no time; alone, at 4 × k, it lost nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScanPlan {
    /// Sign-bit pass: every row that passes the filter is ranked by the Hamming
    /// distance between its sign bits and the query's, and the best `binary × k`
    /// go on; 0 skips the pass.
    pub binary: usize,
    /// int8 pass: the rows left (every matching row when there was no bit pass) are
    /// ranked by their int8 dot product and the best `int8 × k` go on; 0 skips it.
    pub int8: usize,
}

/// A row's rank in a first pass: its approximate score, then the exact scan's tie
/// order (newer first, then the higher id), so rows whose codes tie are cut in the
/// order the exact scan would rank them.
#[derive(Clone, Copy)]
struct Candidate {
    approx: Hit,
    slot: usize,
}

impl Ranked for Candidate {
    #[inline]
    fn rank_cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.approx.rank_cmp(&other.approx)
    }
}

impl<M: Clone + Send + Sync + 'static> Partition<M> {
    /// Top-k following `plan`: the compact passes choose the candidates, f32 scores
    /// them, and the result is ranked like [`search_exact`](Self::search_exact)
    /// (score desc, then created_at desc, then id desc), with exact f32 scores.
    ///
    /// Cost: one pass over the bits (`code_bytes(dim)` a row) or the int8 codes (`dim`
    /// bytes a row), a heap of `factor × k` candidates (O(log) per push, most rows
    /// rejected after one comparison), then `int8 × k` int8 rows and `factor × k`
    /// f32 rows read at random.
    ///
    /// # Panics
    /// If `query.len() != self.dim()`.
    pub fn search_planned(
        &self,
        query: &[f32],
        k: usize,
        plan: ScanPlan,
        filter: impl Fn(i64, &M) -> bool,
    ) -> Vec<Hit> {
        self.check_query(query);
        if k == 0 {
            return Vec::new();
        }
        let mut candidates: Option<Vec<usize>> = None;
        if plan.binary > 0
            && let Some(bits) = &self.bits
        {
            let q = sign_bits(query);
            let keep = k.saturating_mul(plan.binary);
            let distance = |slot| bits.distance(slot, &q);
            candidates =
                Some(self.keep_nearest(self.matching(&filter), keep, q.len() * 8, distance));
        }
        if plan.int8 > 0
            && let Some(int8) = &self.int8
        {
            let keep = k.saturating_mul(plan.int8);
            let mut q = Vec::with_capacity(self.dim);
            // The query's own scale multiplies every score equally: ranking ignores it.
            quantize_into(query, &mut q);
            let score = |slot| int8.score(slot, &q);
            candidates = match candidates {
                // The bit pass already kept few enough: scoring them again changes nothing.
                Some(slots) if slots.len() <= keep => Some(slots),
                Some(slots) => Some(self.keep_best(slots.into_iter(), keep, score)),
                None => Some(self.keep_best(self.matching(&filter), keep, score)),
            };
        }
        let Some(slots) = candidates else {
            return self.search_exact(query, k, filter);
        };
        let mut top = TopK::new(k);
        for slot in slots {
            top.push(self.hit_at(slot, dot(query, self.row(slot))));
        }
        top.into_sorted_vec()
    }

    /// Top-k with an int8 first pass re-scoring the best `rescore × k` rows in f32.
    /// Falls back to the exact scan when the int8 copy is not kept.
    pub fn search_int8(
        &self,
        query: &[f32],
        k: usize,
        rescore: usize,
        filter: impl Fn(i64, &M) -> bool,
    ) -> Vec<Hit> {
        let plan = ScanPlan {
            binary: 0,
            int8: rescore,
        };
        self.search_planned(query, k, plan, filter)
    }

    /// Slots of the rows `filter` accepts, in slot order.
    fn matching<'a>(
        &'a self,
        filter: &'a impl Fn(i64, &M) -> bool,
    ) -> impl Iterator<Item = usize> + 'a {
        (0..self.ids.len()).filter(move |&slot| filter(self.ids[slot], &self.meta[slot]))
    }

    /// The `keep` of `slots` at the smallest `distance` (an integer up to
    /// `max_distance`), ties in the exact scan's order: the rows [`keep_best`]
    /// would keep with minus the distance as the score, chosen by counting instead
    /// of with a heap. Hamming distances take few values, so many rows tie the
    /// heap's worst, and in slot order (oldest first) each tie ranks better than
    /// the worst and costs a push and a sift: half the time of the bit pass on
    /// the npc set. Counting costs two passes over one integer per row.
    ///
    /// [`keep_best`]: Self::keep_best
    pub(super) fn keep_nearest(
        &self,
        slots: impl Iterator<Item = usize>,
        keep: usize,
        max_distance: usize,
        distance: impl Fn(usize) -> u32,
    ) -> Vec<usize> {
        let measured: Vec<(u32, usize)> = slots.map(|slot| (distance(slot), slot)).collect();
        if measured.len() <= keep {
            return measured.into_iter().map(|(_, slot)| slot).collect();
        }
        let mut count = vec![0usize; max_distance + 1];
        for &(d, _) in &measured {
            count[d as usize] += 1;
        }
        // The cut: the smallest distance by which `keep` rows are reached.
        let (mut cut, mut nearer) = (0, 0);
        while nearer + count[cut] < keep {
            nearer += count[cut];
            cut += 1;
        }
        let mut kept = Vec::with_capacity(keep);
        let mut at_cut = Vec::with_capacity(count[cut]);
        for &(d, slot) in &measured {
            match (d as usize).cmp(&cut) {
                std::cmp::Ordering::Less => kept.push(slot),
                std::cmp::Ordering::Equal => at_cut.push(slot),
                std::cmp::Ordering::Greater => {}
            }
        }
        // Rows at the cut score alike: the exact scan's tie order picks among them.
        let room = keep - nearer;
        if at_cut.len() > room {
            let order = |a: &usize, b: &usize| self.hit_at(*a, 0.0).rank_cmp(&self.hit_at(*b, 0.0));
            at_cut.select_nth_unstable_by(room - 1, order);
            at_cut.truncate(room);
        }
        kept.extend(at_cut);
        kept
    }

    /// The `keep` best of `slots` by `score`, ties in the exact scan's order.
    pub(super) fn keep_best(
        &self,
        slots: impl Iterator<Item = usize>,
        keep: usize,
        score: impl Fn(usize) -> f32,
    ) -> Vec<usize> {
        let mut best = TopK::new(keep);
        for slot in slots {
            best.push(Candidate {
                approx: self.hit_at(slot, score(slot)),
                slot,
            });
        }
        best.into_sorted_vec().into_iter().map(|c| c.slot).collect()
    }
}

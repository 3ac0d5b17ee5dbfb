//! Search hits and the bounded top-k heap that ranks them.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The row id (the memory's id).
    pub id: i64,
    /// Cosine similarity, i.e. dot product of normalised vectors, in `[-1, 1]`.
    pub score: f32,
    /// Creation time in unix microseconds; breaks score ties (newer first).
    pub created_at: i64,
}

impl Hit {
    /// Ranking order: `Less` when `self` ranks before (is better than) `other`.
    ///
    /// Score descending, then `created_at` descending (newer memories first), then id
    /// descending. The total order makes results deterministic, which matters because
    /// the SQLite and Postgres backends must return the same list for the same data.
    /// `-0.0` and `0.0` compare equal (adding `0.0` folds the sign) so a zero score's
    /// sign never decides the order.
    #[inline]
    pub fn rank_cmp(&self, other: &Hit) -> Ordering {
        (other.score + 0.0)
            .total_cmp(&(self.score + 0.0))
            .then(other.created_at.cmp(&self.created_at))
            .then(other.id.cmp(&self.id))
    }
}

/// Something a [`TopK`] can rank: a total order, `Less` meaning "ranks before".
pub trait Ranked {
    /// `Less` when `self` ranks before (is better than) `other`.
    fn rank_cmp(&self, other: &Self) -> Ordering;
}

impl Ranked for Hit {
    #[inline]
    fn rank_cmp(&self, other: &Self) -> Ordering {
        Hit::rank_cmp(self, other)
    }
}

/// Heap entry whose `Ord` puts the *worst* item at the top of std's max-heap, so the
/// entry to evict is always `peek()`.
struct Worst<T>(T);

impl<T: Ranked> PartialEq for Worst<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T: Ranked> Eq for Worst<T> {}
impl<T: Ranked> PartialOrd for Worst<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T: Ranked> Ord for Worst<T> {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // Greater == ranks later == worse.
        self.0.rank_cmp(&other.0)
    }
}

/// Keeps the best `k` hits (or other [`Ranked`] items) seen so far in O(log k) per
/// push and O(k) memory.
///
/// A full sort of all scores would be O(n log n) and allocate per row; with k ≤ 100
/// against partitions of thousands of rows almost every push is rejected after one
/// comparison against the current worst.
pub struct TopK<T = Hit> {
    k: usize,
    heap: BinaryHeap<Worst<T>>,
}

impl<T: Ranked> TopK<T> {
    /// An empty heap that will keep at most `k` hits.
    pub fn new(k: usize) -> Self {
        // Cap the up-front allocation: k comes from callers and may exceed the row count.
        TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1024)),
        }
    }

    /// The `k` this heap was made with.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of hits currently held (at most `k`).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// `true` when no hit is held.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Offer a hit; it is kept if it ranks among the best `k` seen so far.
    #[inline]
    pub fn push(&mut self, hit: T) {
        if self.heap.len() < self.k {
            self.heap.push(Worst(hit));
        } else if self
            .heap
            .peek()
            .is_some_and(|worst| hit.rank_cmp(&worst.0) == Ordering::Less)
            && let Some(mut worst) = self.heap.peek_mut()
        {
            // Most pushes are rejected by the `peek` above, a plain read; a replacement
            // through PeekMut sifts down once on drop: cheaper than pop + push.
            *worst = Worst(hit);
        }
    }

    /// The kept hits, best first.
    pub fn into_sorted_vec(self) -> Vec<T> {
        // `into_sorted_vec` is ascending by `Ord`, and `Ord` ascends from best to worst.
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|w| w.0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(id: i64, score: f32, created_at: i64) -> Hit {
        Hit {
            id,
            score,
            created_at,
        }
    }

    #[test]
    fn keeps_best_k_in_rank_order() {
        let mut top = TopK::new(3);
        for (i, s) in [0.1f32, 0.9, 0.5, 0.7, 0.3, 0.8].into_iter().enumerate() {
            top.push(hit(i as i64, s, 0));
        }
        let ids: Vec<i64> = top.into_sorted_vec().iter().map(|h| h.id).collect();
        assert_eq!(ids, [1, 5, 3]);
    }

    #[test]
    fn ties_break_by_newer_then_higher_id() {
        let mut top = TopK::new(4);
        top.push(hit(1, 0.5, 100));
        top.push(hit(2, 0.5, 300));
        top.push(hit(3, 0.5, 100));
        top.push(hit(4, 0.5, 200));
        top.push(hit(5, 0.5, 50)); // equal score but oldest: must be the one evicted
        let got: Vec<i64> = top.into_sorted_vec().iter().map(|h| h.id).collect();
        assert_eq!(got, [2, 4, 3, 1]);
    }

    #[test]
    fn signed_zero_scores_tie() {
        assert_eq!(
            hit(1, -0.0, 5).rank_cmp(&hit(1, 0.0, 5)),
            Ordering::Equal,
            "-0.0 and 0.0 must rank equal"
        );
    }

    #[test]
    fn zero_k_keeps_nothing() {
        let mut top = TopK::new(0);
        top.push(hit(1, 1.0, 0));
        assert!(top.is_empty());
        assert!(top.into_sorted_vec().is_empty());
    }
}

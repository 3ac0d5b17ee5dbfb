//! One in-memory partition scanned exactly: a contiguous arena of normalised vectors,
//! with optional compact copies (int8 codes, sign bits) for the first passes of a scan
//! (`first_pass.rs`).

mod first_pass;
#[cfg(test)]
mod first_pass_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use super::kernel::dot;
use super::quantized::{BinaryCodes, CompactCopy, Int8Codes};
use super::topk::{Hit, TopK};
use super::validate::is_unit;

pub use first_pass::ScanPlan;

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
    /// Optional sign-bit copy for the binary first pass ([`Partition::enable_binary`]).
    bits: Option<BinaryCodes>,
}

/// Bytes a partition keeps resident, by part (allocated capacity, so what the
/// allocator holds, not only what is in use).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResidentBytes {
    /// The f32 arena: `4 × dim` per row.
    pub vectors: usize,
    /// The int8 codes and their per-row scales: `dim + 4` per row.
    pub int8: usize,
    /// The sign bits: `dim / 8` per row.
    pub binary: usize,
    /// Ids, creation times, filter metadata and the id-to-slot map.
    pub rows: usize,
    /// The HNSW index, estimated from its node and link counts (0 without one).
    pub graph: usize,
}

impl ResidentBytes {
    /// All parts together.
    pub fn total(&self) -> usize {
        self.vectors + self.int8 + self.binary + self.rows + self.graph
    }
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
            bits: None,
        }
    }

    /// Keep an int8 copy of every row (a quarter of the f32 arena's memory) so the
    /// int8 pass of [`search_planned`](Self::search_planned) can scan 4× fewer bytes.
    pub fn enable_int8(&mut self) {
        if self.int8.is_none() {
            self.int8 = Some(self.encoded());
        }
    }

    /// Whether the int8 copy is kept.
    pub fn has_int8(&self) -> bool {
        self.int8.is_some()
    }

    /// Keep a sign-bit copy of every row (a thirty-second of the f32 arena's memory)
    /// so the bit pass of [`search_planned`](Self::search_planned) can scan 32× fewer
    /// bytes.
    pub fn enable_binary(&mut self) {
        if self.bits.is_none() {
            self.bits = Some(self.encoded());
        }
    }

    /// A compact copy of every row, in slot order.
    fn encoded<C: CompactCopy>(&self) -> C {
        let mut copy = C::new(self.dim);
        copy.reserve(self.len());
        for row in self.vectors.chunks_exact(self.dim) {
            copy.push(row);
        }
        copy
    }

    /// The compact copies kept, to apply a change of the arena to each.
    fn copies(&mut self) -> impl Iterator<Item = &mut dyn CompactCopy> {
        let int8 = self.int8.iter_mut().map(|c| c as &mut dyn CompactCopy);
        int8.chain(self.bits.iter_mut().map(|c| c as &mut dyn CompactCopy))
    }

    /// Whether the sign-bit copy is kept.
    pub fn has_binary(&self) -> bool {
        self.bits.is_some()
    }

    /// Keep the compact copies `plan` reads (see [`ScanPlan`]).
    pub fn enable_plan(&mut self, plan: ScanPlan) {
        if plan.binary > 0 {
            self.enable_binary();
        }
        if plan.int8 > 0 {
            self.enable_int8();
        }
    }

    /// Resident bytes by part (the graph part is 0: see
    /// [`IndexedPartition::resident_bytes`](super::IndexedPartition::resident_bytes)).
    pub fn resident_bytes(&self) -> ResidentBytes {
        // hashbrown keeps one control byte per bucket beside the (key, value) pair and
        // at least 1/8 of the buckets free, so `capacity` understates its buckets.
        let slot_map = self.slots.capacity() * 8 / 7 * (size_of::<(i64, usize)>() + 1);
        ResidentBytes {
            vectors: self.vectors.capacity() * size_of::<f32>(),
            int8: self.int8.as_ref().map_or(0, CompactCopy::bytes),
            binary: self.bits.as_ref().map_or(0, CompactCopy::bytes),
            rows: self.ids.capacity() * size_of::<i64>()
                + self.created_at.capacity() * size_of::<i64>()
                + self.meta.capacity() * size_of::<M>()
                + slot_map,
            graph: 0,
        }
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
        for copy in self.copies() {
            copy.reserve(rows);
        }
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
                for copy in self.copies() {
                    copy.replace(slot, vector);
                }
                self.created_at[slot] = created_at;
                self.meta[slot] = meta;
            }
            None => {
                self.slots.insert(id, self.ids.len());
                self.vectors.extend_from_slice(vector);
                for copy in self.copies() {
                    copy.push(vector);
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
        for copy in self.copies() {
            copy.swap_remove(slot);
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

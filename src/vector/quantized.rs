//! Compact copies of a partition's rows for the first passes of a scan: int8 codes
//! (a quarter of the f32 arena's bytes) and sign bits (a thirty-second). A first pass
//! ranks every row by its compact copy and keeps the best `rescore × k` candidates,
//! which the next pass (and finally f32) scores again, so only a row a compact pass
//! ranked below its cut can be missed (recall is measured, not assumed).

use simsimd::{BinarySimilarity, SpatialSimilarity};

/// Fixed-width rows of codes, slot-aligned with the f32 arena: pushed, replaced and
/// swap-removed exactly as the arena's rows are, so slot `s` always encodes row `s`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeRows<T> {
    width: usize,
    data: Vec<T>,
}

impl<T: Copy> CodeRows<T> {
    fn new(width: usize) -> Self {
        CodeRows {
            width,
            data: Vec::new(),
        }
    }

    fn reserve(&mut self, rows: usize) {
        self.data.reserve(rows * self.width);
    }

    fn push(&mut self, row: &[T]) {
        debug_assert_eq!(row.len(), self.width);
        self.data.extend_from_slice(row);
    }

    fn replace(&mut self, slot: usize, row: &[T]) {
        self.data[slot * self.width..(slot + 1) * self.width].copy_from_slice(row);
    }

    fn swap_remove(&mut self, slot: usize) {
        let w = self.width;
        let last = self.data.len() / w - 1;
        if slot != last {
            self.data.copy_within(last * w..(last + 1) * w, slot * w);
        }
        self.data.truncate(last * w);
    }

    pub(crate) fn row(&self, slot: usize) -> &[T] {
        &self.data[slot * self.width..(slot + 1) * self.width]
    }

    fn rows(&self) -> usize {
        self.data.len().checked_div(self.width).unwrap_or(0)
    }

    fn bytes(&self) -> usize {
        self.data.capacity() * size_of::<T>()
    }
}

/// A compact copy of a partition's rows, kept slot-aligned with the f32 arena: the
/// partition calls the same operation on every copy it keeps.
pub(crate) trait CompactCopy {
    /// An empty copy for rows of `dim` components.
    fn new(dim: usize) -> Self
    where
        Self: Sized;
    fn reserve(&mut self, rows: usize);
    fn push(&mut self, v: &[f32]);
    fn replace(&mut self, slot: usize, v: &[f32]);
    /// Swap-remove `slot`, mirroring the f32 arena.
    fn swap_remove(&mut self, slot: usize);
    /// Allocated bytes.
    fn bytes(&self) -> usize;
}

/// Symmetric per-row quantisation: `v[i] ≈ scale · code[i]`, `code ∈ [-127, 127]`.
pub(crate) fn quantize_into(v: &[f32], codes: &mut Vec<i8>) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    codes.extend(
        v.iter()
            .map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8),
    );
    scale
}

/// Dot product of two int8 code rows (simsimd's VNNI kernel where available).
#[inline]
pub(crate) fn dot_i8(a: &[i8], b: &[i8]) -> f32 {
    match i8::dot(a, b) {
        Some(d) => d as f32,
        None => a
            .iter()
            .zip(b)
            .map(|(x, y)| i32::from(*x) * i32::from(*y))
            .sum::<i32>() as f32,
    }
}

/// The int8 copy of a partition's arena, slot-aligned with it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Int8Codes {
    codes: CodeRows<i8>,
    scales: Vec<f32>,
}

impl Int8Codes {
    fn encode(v: &[f32]) -> (Vec<i8>, f32) {
        let mut codes = Vec::with_capacity(v.len());
        let scale = quantize_into(v, &mut codes);
        (codes, scale)
    }

    /// The int8 estimate of `dot(row, query)` up to the query's own scale (which
    /// multiplies every row's score equally, so ranking ignores it).
    #[inline]
    pub fn score(&self, slot: usize, query: &[i8]) -> f32 {
        self.scales[slot] * dot_i8(self.codes.row(slot), query)
    }

    #[cfg(test)]
    pub fn rows(&self) -> usize {
        self.codes.rows()
    }
}

impl CompactCopy for Int8Codes {
    fn new(dim: usize) -> Self {
        Int8Codes {
            codes: CodeRows::new(dim),
            scales: Vec::new(),
        }
    }

    fn reserve(&mut self, rows: usize) {
        self.codes.reserve(rows);
        self.scales.reserve(rows);
    }

    fn push(&mut self, v: &[f32]) {
        let (codes, scale) = Self::encode(v);
        self.codes.push(&codes);
        self.scales.push(scale);
    }

    fn replace(&mut self, slot: usize, v: &[f32]) {
        let (codes, scale) = Self::encode(v);
        self.codes.replace(slot, &codes);
        self.scales[slot] = scale;
    }

    fn swap_remove(&mut self, slot: usize) {
        self.codes.swap_remove(slot);
        self.scales.swap_remove(slot);
    }

    fn bytes(&self) -> usize {
        self.codes.bytes() + self.scales.capacity() * size_of::<f32>()
    }
}

/// One bit per component, set where the component is positive, packed eight to a
/// byte (padding bits stay 0 in every row and the query, so they never differ).
pub(crate) fn sign_bits(v: &[f32]) -> Vec<u8> {
    v.chunks(8)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0u8, |byte, (i, x)| byte | (u8::from(*x > 0.0) << i))
        })
        .collect()
}

/// Bits that differ between two sign rows (simsimd's popcount kernel: AVX-512
/// VPOPCNTQ on this machine kind, 64 bytes per instruction).
#[inline]
pub(crate) fn hamming(a: &[u8], b: &[u8]) -> u32 {
    match u8::hamming(a, b) {
        Some(d) => d as u32,
        None => a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum(),
    }
}

/// The sign-bit copy of a partition's arena, slot-aligned with it.
///
/// For unit vectors the share of differing sign bits estimates the angle between
/// them (for random hyperplanes E[hamming] / bits = θ / π, the SimHash argument), so
/// ranking by Hamming distance ranks by cosine, coarsely: distances are integers up
/// to `dim` with a spread of about √dim, which is why the best `rescore × k` rows are
/// scored again.
#[derive(Debug, Clone, Default)]
pub(crate) struct BinaryCodes {
    bits: CodeRows<u8>,
    /// Bits set over all rows, to tell whether the copy carries information.
    ones: u64,
    /// Components per row (bits in use per row).
    dim: usize,
}

/// Bits set in a row of sign bits.
fn ones(row: &[u8]) -> u64 {
    row.iter().map(|b| u64::from(b.count_ones())).sum()
}

/// `true` when between a quarter and three quarters of `set` out of `total` bits are
/// set. Dense embeddings set about half of their sign bits (0.50 ± 0.05 per row on
/// the recall set, at 384-d and 1536-d); sparse vectors set few: the offline hash
/// provider's are 98 % zeros and set 1 % of their bits, and on them a bit pass kept
/// recall@10 at 0.27 even with 32 × k candidates (the npc set, `loadgen scan`).
pub(crate) fn balanced(set: u64, total: u64) -> bool {
    total > 0 && (total..=3 * total).contains(&(4 * set))
}

/// Whether a vector's sign bits (`x > 0`, as [`sign_bits`] and pgvector's
/// `binary_quantize` set them) are balanced enough to rank by (see [`balanced`]).
pub fn sign_bits_informative(v: &[f32]) -> bool {
    let set = v.iter().filter(|x| **x > 0.0).count();
    balanced(set as u64, v.len() as u64)
}

impl BinaryCodes {
    /// Whether the rows' sign bits are balanced enough to rank by (see [`balanced`]).
    pub fn informative(&self) -> bool {
        balanced(self.ones, (self.bits.rows() * self.dim) as u64)
    }

    /// Whether a query's sign bits are balanced enough to rank by.
    pub fn informative_query(&self, query: &[u8]) -> bool {
        balanced(ones(query), self.dim as u64)
    }

    #[inline]
    pub fn distance(&self, slot: usize, query: &[u8]) -> u32 {
        hamming(self.bits.row(slot), query)
    }

    #[cfg(test)]
    pub fn rows(&self) -> usize {
        self.bits.rows()
    }

    #[cfg(test)]
    pub fn row(&self, slot: usize) -> &[u8] {
        self.bits.row(slot)
    }
}

impl CompactCopy for BinaryCodes {
    fn new(dim: usize) -> Self {
        BinaryCodes {
            bits: CodeRows::new(dim.div_ceil(8)),
            ones: 0,
            dim,
        }
    }

    fn reserve(&mut self, rows: usize) {
        self.bits.reserve(rows);
    }

    fn push(&mut self, v: &[f32]) {
        let row = sign_bits(v);
        self.ones += ones(&row);
        self.bits.push(&row);
    }

    fn replace(&mut self, slot: usize, v: &[f32]) {
        let row = sign_bits(v);
        self.ones = self.ones - ones(self.bits.row(slot)) + ones(&row);
        self.bits.replace(slot, &row);
    }

    fn swap_remove(&mut self, slot: usize) {
        self.ones -= ones(self.bits.row(slot));
        self.bits.swap_remove(slot);
    }

    fn bytes(&self) -> usize {
        self.bits.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_bits_pack_positive_components_low_bit_first() {
        let v = [0.5, -0.1, 0.0, 0.2, -0.3, 0.1, 0.1, -0.9, 0.4, -0.2];
        assert_eq!(sign_bits(&v), [0b0110_1001, 0b0000_0001]);
    }

    #[test]
    fn hamming_counts_differing_bits_in_every_lane() {
        // 1536 bits (3 AVX-512 words) plus a 40-bit tail the vector kernel masks.
        for len in [5usize, 192, 197] {
            let a: Vec<u8> = (0..len).map(|i| (i * 37 % 251) as u8).collect();
            let b: Vec<u8> = (0..len).map(|i| (i * 91 % 241) as u8).collect();
            let reference: u32 = a.iter().zip(&b).map(|(x, y)| (x ^ y).count_ones()).sum();
            assert_eq!(hamming(&a, &b), reference, "len {len}");
            assert_eq!(hamming(&a, &a), 0);
        }
    }

    #[test]
    fn set_bits_are_counted_through_every_change() {
        let mut codes = BinaryCodes::new(8);
        codes.push(&[1.0, -1.0, 1.0, -1.0, 1.0, -1.0, 1.0, -1.0]);
        codes.push(&[1.0; 8]);
        assert!(codes.informative(), "12 of 16 bits set");
        codes.replace(1, &[-1.0; 8]);
        assert!(codes.informative(), "4 of 16");
        codes.swap_remove(0);
        assert!(!codes.informative(), "0 of 8");
        assert!(!balanced(0, 0));
        assert!(balanced(1, 4) && balanced(3, 4) && !balanced(1, 5) && !balanced(4, 5));
    }

    #[test]
    fn sign_bits_inform_only_dense_vectors() {
        assert!(sign_bits_informative(&[0.5, -0.5, 0.1, -0.2]));
        assert!(!sign_bits_informative(&[0.5, 0.0, 0.0, 0.0, 0.0]), "sparse");
        assert!(
            !sign_bits_informative(&[0.5, 0.1, 0.2, 0.3, 0.4]),
            "one sign"
        );
    }

    #[test]
    fn code_rows_swap_remove_moves_the_last_row() {
        let mut codes = BinaryCodes::new(16);
        for x in [1.0f32, -1.0, 0.5] {
            codes.push(&[x; 16]);
        }
        codes.swap_remove(0);
        assert_eq!(codes.rows(), 2);
        assert_eq!(codes.row(0), sign_bits(&[0.5; 16]).as_slice());
        assert_eq!(codes.row(1), sign_bits(&[-1.0; 16]).as_slice());
    }
}

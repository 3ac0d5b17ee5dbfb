//! Compact copies of a partition's rows for the first passes of a scan: int8 codes
//! (a quarter of the f32 arena's bytes) and sign bits (a twenty-fourth at 1536-d). A first pass
//! ranks every row by its compact copy and keeps the best `rescore × k` candidates,
//! which the next pass (and finally f32) scores again, so only a row a compact pass
//! ranked below its cut can be missed (recall is measured, not assumed).

use simsimd::SpatialSimilarity;

use super::sign_bits::{code_bytes, hamming, sign_bits};

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

    #[cfg(test)]
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

/// The sign-bit copy of a partition's arena, slot-aligned with it: each row's
/// code under the fixed rotation of [`sign_bits`](super::sign_bits), whose
/// Hamming distances rank rows by angle, coarsely (integers up to the code's
/// bits with a spread of about their square root), which is why the best
/// `rescore × k` rows are scored again.
#[derive(Debug, Clone, Default)]
pub(crate) struct BinaryCodes {
    bits: CodeRows<u8>,
}

impl BinaryCodes {
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
            bits: CodeRows::new(code_bytes(dim)),
        }
    }

    fn reserve(&mut self, rows: usize) {
        self.bits.reserve(rows);
    }

    fn push(&mut self, v: &[f32]) {
        self.bits.push(&sign_bits(v));
    }

    fn replace(&mut self, slot: usize, v: &[f32]) {
        self.bits.replace(slot, &sign_bits(v));
    }

    fn swap_remove(&mut self, slot: usize) {
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

//! The similarity kernel: dot product over `f32` slices.

use simsimd::SpatialSimilarity;

/// Dot product of two equally long `f32` slices using simsimd's runtime-dispatched
/// SIMD kernels (AVX-512 on this machine kind).
///
/// Vectors are L2-normalised once at write, so this is the cosine similarity.
/// simsimd returns `None` only when the lengths differ; we then fall back to a
/// plain loop over the common prefix rather than panic inside a search, and a
/// `debug_assert` flags the caller's bug in tests.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len(), "dot: length mismatch");
    match f32::dot(a, b) {
        Some(d) => d as f32,
        None => dot_scalar(a, b),
    }
}

/// Plain loop, accumulated in `f64` so that it is also usable as a reference.
pub(crate) fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum::<f64>() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_dot_matches_scalar_reference() {
        // Lengths that are not multiples of any SIMD width exercise the tails.
        for len in [1usize, 3, 16, 17, 127, 1536] {
            let a: Vec<f32> = (0..len)
                .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
                .collect();
            let b: Vec<f32> = (0..len)
                .map(|i| ((i * 5 % 11) as f32 - 5.0) / 3.0)
                .collect();
            let simd = dot(&a, &b);
            let reference = dot_scalar(&a, &b);
            assert!(
                (simd - reference).abs() <= 1e-4 * reference.abs().max(1.0),
                "len {len}: {simd} vs {reference}"
            );
        }
    }
}

//! Validation and L2 normalisation of incoming vectors.

use super::error::VectorError;

/// Check dimension, finiteness, non-zero norm; L2-normalise in place (norm computed in f64).
///
/// Checks run in that order and the first failure is returned, so a caller sees the
/// most basic problem first (a wrong dimension makes position-based messages moot).
/// On error the vector is left untouched.
///
/// The norm is accumulated in `f64` because `f32` squares of 1536 components lose
/// digits (and could overflow for components near `f32::MAX`); the division is done in
/// `f64` too, so the stored result is the correctly rounded unit vector.
pub fn normalize(v: &mut [f32], dim: usize) -> Result<(), VectorError> {
    if v.len() != dim {
        return Err(VectorError::WrongDimension {
            expected: dim,
            got: v.len(),
        });
    }
    if let Some(index) = v.iter().position(|x| !x.is_finite()) {
        return Err(VectorError::NonFinite { index });
    }
    let norm = v
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    // Finite inputs give a finite sum of squares in f64, so `norm` is finite here;
    // exactly zero only when every component is (+/-) zero.
    if norm == 0.0 {
        return Err(VectorError::ZeroNorm);
    }
    for x in v.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
    Ok(())
}

/// `true` when `v` has unit L2 norm within `f32` rounding slack.
///
/// Used by `debug_assert!`s on the write path: the arena and the HNSW graph assume
/// cosine == dot, which only holds for normalised vectors.
pub(crate) fn is_unit(v: &[f32]) -> bool {
    let norm_sq: f64 = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum();
    (norm_sq - 1.0).abs() < 1e-4
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f64 {
        v.iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn normalises_to_unit_norm_and_keeps_direction() {
        let mut v = vec![3.0f32, 4.0, 0.0, -12.0];
        normalize(&mut v, 4).unwrap();
        assert!((norm(&v) - 1.0).abs() < 1e-6, "norm {}", norm(&v));
        assert_eq!(v, [3.0 / 13.0, 4.0 / 13.0, 0.0, -12.0 / 13.0]);
    }

    #[test]
    fn normalises_extreme_magnitudes() {
        // f32 squares of these would overflow / underflow; the f64 path must not.
        let mut big = vec![f32::MAX / 2.0; 1536];
        normalize(&mut big, 1536).unwrap();
        assert!((norm(&big) - 1.0).abs() < 1e-5);
        let mut tiny = vec![1e-30f32; 8];
        normalize(&mut tiny, 8).unwrap();
        assert!((norm(&tiny) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rejects_wrong_dimension_naming_both_numbers() {
        let mut v = vec![1.0f32; 3];
        let err = normalize(&mut v, 4).unwrap_err();
        assert_eq!(
            err,
            VectorError::WrongDimension {
                expected: 4,
                got: 3
            }
        );
        let msg = err.to_string();
        assert!(msg.contains('4') && msg.contains('3'), "{msg}");
        assert_eq!(v, [1.0; 3], "input must be untouched on error");
    }

    #[test]
    fn rejects_nan_and_infinity_at_their_index() {
        for (bad, index) in [(f32::NAN, 2), (f32::INFINITY, 0), (f32::NEG_INFINITY, 3)] {
            let mut v = vec![1.0f32; 4];
            v[index] = bad;
            let err = normalize(&mut v, 4).unwrap_err();
            assert_eq!(err, VectorError::NonFinite { index }, "value {bad}");
            assert!(err.to_string().contains(&index.to_string()));
        }
    }

    #[test]
    fn rejects_zero_vector() {
        let mut v = vec![0.0f32, -0.0, 0.0];
        assert_eq!(normalize(&mut v, 3), Err(VectorError::ZeroNorm));
    }

    #[test]
    fn is_unit_detects_unnormalised() {
        assert!(is_unit(&[0.6, 0.8]));
        assert!(!is_unit(&[0.6, 0.9]));
    }
}

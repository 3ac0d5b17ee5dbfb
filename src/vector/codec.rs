//! Storage codec: a vector as a little-endian `f32` blob of exactly `dim * 4` bytes.
//!
//! Little-endian is fixed (not native) so database files move between machines.

use super::error::VectorError;

/// Little-endian f32 blob, exactly dim*4 bytes.
pub fn encode_blob(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 4);
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Decode a blob written by [`encode_blob`].
///
/// Validates on read (the design asks for it: a blob can be truncated, written by a
/// different model's dimension, or corrupted): the length must be exactly `dim * 4`
/// ([`VectorError::BadBlobLength`]) and every value finite ([`VectorError::NonFinite`]).
/// The norm is not checked here; vectors are normalised before they are written.
pub fn decode_blob(bytes: &[u8], dim: usize) -> Result<Vec<f32>, VectorError> {
    let expected = dim * 4;
    if bytes.len() != expected {
        return Err(VectorError::BadBlobLength {
            expected,
            got: bytes.len(),
        });
    }
    let mut out = Vec::with_capacity(dim);
    for (index, chunk) in bytes.chunks_exact(4).enumerate() {
        // `chunks_exact(4)` yields 4-byte slices, so the conversion cannot fail.
        let x = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        if !x.is_finite() {
            return Err(VectorError::NonFinite { index });
        }
        out.push(x);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_bit_exact() {
        let v = vec![
            0.0f32,
            -0.0,
            1.0,
            -1.5,
            f32::MIN_POSITIVE,
            1e-45,
            f32::MAX,
            0.1,
        ];
        let blob = encode_blob(&v);
        assert_eq!(blob.len(), v.len() * 4);
        let back = decode_blob(&blob, v.len()).unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&v));
    }

    #[test]
    fn layout_is_little_endian() {
        assert_eq!(encode_blob(&[1.0]), [0x00, 0x00, 0x80, 0x3f]);
    }

    #[test]
    fn wrong_length_names_both_numbers() {
        let blob = encode_blob(&[1.0, 2.0, 3.0]);
        let err = decode_blob(&blob[..11], 3).unwrap_err();
        assert_eq!(
            err,
            VectorError::BadBlobLength {
                expected: 12,
                got: 11
            }
        );
        let msg = err.to_string();
        assert!(msg.contains("12") && msg.contains("11"), "{msg}");
        // A blob of another dimension is refused too, not silently reinterpreted.
        assert!(matches!(
            decode_blob(&blob, 4),
            Err(VectorError::BadBlobLength {
                expected: 16,
                got: 12
            })
        ));
    }

    #[test]
    fn non_finite_value_in_blob_is_refused() {
        let blob = encode_blob(&[1.0, f32::NAN, 3.0]);
        assert_eq!(
            decode_blob(&blob, 3),
            Err(VectorError::NonFinite { index: 1 })
        );
    }
}

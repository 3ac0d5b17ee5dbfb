//! Sign bits of a vector under one fixed random rotation: the compact code both
//! backends' first passes rank by (SQLite mode in process, Postgres mode in the
//! `embedding_signs` column with pgvector's Hamming distance).
//!
//! For two unit vectors at angle θ, the signs of their projections on a random
//! hyperplane differ with probability θ / π (the SimHash argument), so the
//! share of differing bits estimates the angle whatever the vectors look like.
//! The signs of the raw components are those projections only when the
//! components behave like random ones, as dense embeddings' do. The offline
//! hash provider's vectors are 98 % zeros: their raw signs were nearly all 0,
//! and ranking by them kept recall@10 at 0.10 with 4 × k candidates on the
//! bench's npc set. Rotated first, the same rows kept 1.00 (and the real-text
//! set 0.996 at 1536-d, 0.958 at 384-d, where raw signs gave 0.996 and 0.934).
//!
//! The rotation is a randomized Hadamard transform: flip each component's
//! sign by a fixed pseudo-random pattern, zero-pad to the next power of two
//! and apply the fast Walsh–Hadamard transform, O(n log n) (about 10 µs at
//! 1536-d, against a dense random matrix's 2.4 million multiplications). It is
//! orthogonal, so every angle is kept, and it spreads a sparse vector's few
//! components over every coordinate. A code has one bit per padded coordinate:
//! 2048 bits (256 bytes) at 1536-d, 512 at 384-d. The pattern is part of the
//! stored format: changing it makes every stored code wrong.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use simsimd::BinarySimilarity;

/// How many times k candidates a sign-bit pass keeps for exact scoring.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BitRescore {
    /// No sign-bit pass.
    #[default]
    Off,
    /// [`auto_factor`] of the vectors' dimension.
    Auto,
    /// This many times k (at least 1).
    Times(usize),
}

impl BitRescore {
    /// The factor for `dim`-dimensional vectors; 0 when off.
    pub fn factor(self, dim: usize) -> usize {
        match self {
            BitRescore::Off => 0,
            BitRescore::Auto => auto_factor(dim),
            BitRescore::Times(n) => n,
        }
    }
}

/// `auto`, or a number of times k (`0`: off).
impl FromStr for BitRescore {
    type Err = std::num::ParseIntError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("auto") {
            return Ok(BitRescore::Auto);
        }
        Ok(match s.trim().parse()? {
            0 => BitRescore::Off,
            n => BitRescore::Times(n),
        })
    }
}

impl fmt::Display for BitRescore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BitRescore::Off => f.write_str("0"),
            BitRescore::Auto => f.write_str("auto"),
            BitRescore::Times(n) => write!(f, "{n}"),
        }
    }
}

/// The candidates a sign-bit pass keeps by default: 16,384 / the code's bits
/// times k, i.e. 8 at 1536-d (2048 bits), 32 at 384-d (512 bits), within 4..=64.
/// Shorter codes resolve neighbours more coarsely. Measured recall@10 of the
/// bit pass then f32 (`loadgen scan`): at 1536-d 0.9995 on the real-text set
/// and 0.9954 on the npc set (where the exact scan's own ties give 0.996), at
/// 384-d 0.9986 (16 × k: 0.9949, 8 × k: 0.983).
pub fn auto_factor(dim: usize) -> usize {
    (16_384 / (code_bytes(dim) * 8)).clamp(4, 64)
}

/// The bytes of one code of a `dim`-dimensional vector.
pub fn code_bytes(dim: usize) -> usize {
    dim.next_power_of_two().div_ceil(8)
}

/// The code of `v`: bit `i` (bit `i % 8` of byte `i / 8`) is set where the
/// rotated vector's coordinate `i` is positive. Equal-length inputs give
/// equal-length codes.
pub fn sign_bits(v: &[f32]) -> Vec<u8> {
    let pattern = pattern();
    let mut x = vec![0.0f32; v.len().next_power_of_two()];
    for (i, (out, value)) in x.iter_mut().zip(v).enumerate() {
        *out = value * pattern.get(i).copied().unwrap_or_else(|| flip(i));
    }
    walsh_hadamard(&mut x);
    x.chunks(8)
        .map(|chunk| {
            chunk
                .iter()
                .enumerate()
                .fold(0u8, |byte, (i, c)| byte | (u8::from(*c > 0.0) << i))
        })
        .collect()
}

/// Bits that differ between two codes (simsimd's popcount kernel: AVX-512
/// VPOPCNTQ on this machine kind, 64 bytes per instruction).
#[inline]
pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
    match u8::hamming(a, b) {
        Some(d) => d as u32,
        None => a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum(),
    }
}

/// The fixed ±1 pattern's first 65,536 signs, computed once: more than any
/// provider's dimension (pgvector stores at most 16,000); [`flip`] goes on.
fn pattern() -> &'static [f32] {
    static PATTERN: OnceLock<Vec<f32>> = OnceLock::new();
    PATTERN.get_or_init(|| (0..1 << 16).map(flip).collect())
}

/// Sign `i` of the pattern: the low bit of splitmix64's output for `i`.
fn flip(i: usize) -> f32 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    if (z ^ (z >> 31)) & 1 == 1 { -1.0 } else { 1.0 }
}

/// The unnormalised fast Walsh–Hadamard transform of `x` in place (`x.len()`
/// a power of two). The scale does not change a sign, so none is applied.
fn walsh_hadamard(x: &mut [f32]) {
    let n = x.len();
    let mut half = 1;
    while half < n {
        for block in x.chunks_exact_mut(2 * half) {
            let (a, b) = block.split_at_mut(half);
            for (u, v) in a.iter_mut().zip(b.iter_mut()) {
                let (s, d) = (*u + *v, *u - *v);
                *u = s;
                *v = d;
            }
        }
        half *= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_transform_is_orthogonal_up_to_its_scale() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        let a: Vec<f32> = (0..64).map(|_| rng.random_range(-1.0..1.0)).collect();
        let b: Vec<f32> = (0..64).map(|_| rng.random_range(-1.0..1.0)).collect();
        let (mut ha, mut hb) = (a.clone(), b.clone());
        walsh_hadamard(&mut ha);
        walsh_hadamard(&mut hb);
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        // H Hᵀ = n I: every inner product is scaled by n.
        assert!((dot(&ha, &hb) - 64.0 * dot(&a, &b)).abs() < 1e-2);
        assert!((dot(&ha, &ha) - 64.0 * dot(&a, &a)).abs() < 1e-2);
    }

    #[test]
    fn codes_have_a_bit_per_padded_coordinate_and_are_deterministic() {
        let v: Vec<f32> = (0..1536)
            .map(|i| ((i * 7 % 13) as f32 - 6.0) / 7.0)
            .collect();
        assert_eq!(sign_bits(&v).len(), 256);
        assert_eq!(code_bytes(1536), 256);
        assert_eq!(code_bytes(384), 64);
        assert_eq!(sign_bits(&v), sign_bits(&v));
        assert_eq!(sign_bits(&v[..384]).len(), 64);
    }

    #[test]
    fn sparse_vectors_get_balanced_codes_whose_distance_tracks_the_angle() {
        // One-hot vectors: their raw signs set one bit of 1536 (or none), so
        // every pair was nearly equal by Hamming distance; rotated, each sets
        // about half, orthogonal pairs differ in about half, and a vector
        // sharing most of its mass with another differs in few.
        let one_hot = |i: usize| {
            let mut v = vec![0.0f32; 1536];
            v[i] = 1.0;
            v
        };
        let (a, b) = (sign_bits(&one_hot(3)), sign_bits(&one_hot(900)));
        let ones = |c: &[u8]| c.iter().map(|x| x.count_ones()).sum::<u32>();
        assert!((768..=1280).contains(&ones(&a)), "{} of 2048 set", ones(&a));
        assert!((768..=1280).contains(&hamming(&a, &b)), "orthogonal");
        let mut near = one_hot(3);
        near[900] = 0.1;
        let close = hamming(&a, &sign_bits(&near));
        assert!(close < 2048 / 8, "{close} bits differ at about 6°");
    }

    #[test]
    fn the_default_factor_follows_the_code_length() {
        assert_eq!(auto_factor(1536), 8);
        assert_eq!(auto_factor(384), 32);
        assert_eq!(auto_factor(768), 16);
        assert_eq!(auto_factor(16), 64);
        assert_eq!(auto_factor(8192), 4);
        assert_eq!("auto".parse::<BitRescore>().unwrap().factor(1536), 8);
        assert_eq!("0".parse::<BitRescore>().unwrap(), BitRescore::Off);
        assert_eq!("12".parse::<BitRescore>().unwrap().factor(1536), 12);
        assert!("-1".parse::<BitRescore>().is_err());
        assert_eq!(BitRescore::Auto.to_string(), "auto");
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
}

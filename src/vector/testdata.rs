//! Synthetic data for the tests: unit vectors in Gaussian clusters, like embeddings of
//! related texts, and a recall helper.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::normalize;

/// One standard normal sample (Box–Muller; rand 0.9 has no normal distribution).
pub(crate) fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]: ln(0) must not happen
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

/// Deterministic clustered unit vectors.
pub(crate) struct Clusters {
    centers: Vec<Vec<f32>>,
    spread: f32,
    rng: StdRng,
}

impl Clusters {
    /// `count` random centres in `dim` dimensions; points scatter around them with a
    /// noise of about `0.8` times the centre's length, so clusters overlap a little and
    /// neighbours are not trivially separable.
    pub(crate) fn new(count: usize, dim: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let centers = (0..count)
            .map(|_| {
                let mut c: Vec<f32> = (0..dim).map(|_| gaussian(&mut rng)).collect();
                normalize(&mut c, dim).unwrap();
                c
            })
            .collect();
        Clusters {
            centers,
            spread: 0.8 / (dim as f32).sqrt(),
            rng,
        }
    }

    /// A fresh normalised point from a random cluster.
    pub(crate) fn point(&mut self) -> Vec<f32> {
        let c = self.rng.random_range(0..self.centers.len());
        let dim = self.centers[c].len();
        let mut v: Vec<f32> = self.centers[c]
            .iter()
            .map(|x| x + self.spread * gaussian(&mut self.rng))
            .collect();
        normalize(&mut v, dim).unwrap();
        v
    }
}

/// Share of `truth`'s ids that `got` contains.
pub(crate) fn recall(got: &[super::Hit], truth: &[super::Hit]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let found = truth
        .iter()
        .filter(|t| got.iter().any(|g| g.id == t.id))
        .count();
    found as f64 / truth.len() as f64
}

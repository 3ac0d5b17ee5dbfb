//! Data sets on disk and the deterministic generator behind them.
//!
//! A data set directory holds `base.f32` (rows, little-endian f32), `base.json`
//! (dimension, partitions, provider), `queries.f32`, `queries.json` (each
//! query's partition and text, and its exact top 100 rows by float64 brute
//! force) and `texts.json` (the text of each row). `load` adds `ids.json`.

use std::path::Path;

use serde_json::{Value, json};

const WORDS: &[&str] = &[
    "dragon", "bridge", "mine", "gold", "sword", "tavern", "king", "wolf", "river", "tower",
    "bread", "forge", "ghost", "harvest", "storm", "ship", "map", "thief", "guard", "temple",
    "wine", "ore", "spider", "ruins", "festival", "debt", "letter", "horse", "shield", "potion",
    "moon", "crypt", "merchant", "priest", "orc", "troll", "ice", "fire", "plague", "treasure",
    "smith", "crown",
];

/// Ground truth depth: recall@10 needs 10, the rest lets a reader check deeper.
const TRUTH_DEPTH: usize = 100;

/// Deterministic pseudo-random generator (splitmix64): the data set must be the
/// same on every machine and run.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn word(&mut self) -> &'static str {
        WORDS[(self.next() % WORDS.len() as u64) as usize]
    }

    /// A standard normal sample (Box–Muller from two uniforms in (0, 1]).
    pub fn normal(&mut self) -> f32 {
        let u1 = ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
}

pub fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words).map(|_| rng.word()).collect::<Vec<_>>().join(" ")
}

pub fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    v.iter().map(|x| (*x as f64 / n) as f32).collect()
}

fn write_f32(path: &Path, rows: &[Vec<f32>]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(rows.len() * rows.first().map_or(0, Vec::len) * 4);
    for r in rows {
        for v in r {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes)
}

pub fn read_f32(path: &Path, dim: usize) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    bytes
        .chunks_exact(dim * 4)
        .map(|row| {
            row.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()
        })
        .collect()
}

pub fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// A data set in memory: base rows grouped in partitions (one per NPC) and
/// held-out queries with their partition.
pub struct Dataset {
    /// (npc_id, user_message, assistant_message) per base row.
    pub texts: Vec<(usize, String, String)>,
    pub base: Vec<Vec<f32>>,
    /// (npc_id, first row, rows), contiguous.
    pub partitions: Vec<(usize, usize, usize)>,
    /// (npc_id, text, vector).
    pub queries: Vec<(usize, String, Vec<f32>)>,
    pub provider: String,
    pub note: String,
}

impl Dataset {
    /// Exact top rows of each query within its partition, by float64 dot
    /// product (rows are unit vectors), ties to the higher row; the queries are
    /// split over the machine's cores.
    fn ground_truth(&self) -> Vec<Vec<usize>> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = self.queries.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            let workers: Vec<_> = self
                .queries
                .chunks(per_thread)
                .map(|chunk| {
                    scope.spawn(move || chunk.iter().map(|q| self.truth_of(q)).collect::<Vec<_>>())
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("ground truth worker"))
                .collect::<Vec<Vec<usize>>>()
        })
    }

    fn truth_of(&self, (npc, _, q): &(usize, String, Vec<f32>)) -> Vec<usize> {
        let &(_, start, count) = self
            .partitions
            .iter()
            .find(|p| p.0 == *npc)
            .expect("query partition exists");
        let mut scored: Vec<(f64, usize)> = (start..start + count)
            .map(|row| {
                let s: f64 = self.base[row]
                    .iter()
                    .zip(q)
                    .map(|(a, b)| *a as f64 * *b as f64)
                    .sum();
                (s, row)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        scored
            .into_iter()
            .take(TRUTH_DEPTH)
            .map(|(_, row)| row)
            .collect()
    }

    pub fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("create data dir");
        let dim = self.base.first().map_or(0, Vec::len);
        let truth = self.ground_truth();
        let qvecs: Vec<Vec<f32>> = self.queries.iter().map(|q| q.2.clone()).collect();
        write_f32(&dir.join("base.f32"), &self.base).expect("write base");
        write_f32(&dir.join("queries.f32"), &qvecs).expect("write queries");
        let partitions: Vec<Value> = self
            .partitions
            .iter()
            .map(|(npc, start, count)| json!({"npc_id": npc, "start": start, "count": count}))
            .collect();
        let meta = json!({"n": self.base.len(), "dim": dim, "partitions": partitions, "provider": self.provider, "note": self.note});
        std::fs::write(dir.join("base.json"), meta.to_string()).expect("write base.json");
        let q = json!({
            "q": self.queries.len(),
            "partition": self.queries.iter().map(|q| q.0).collect::<Vec<_>>(),
            "texts": self.queries.iter().map(|q| &q.1).collect::<Vec<_>>(),
            "truth_rows": truth,
        });
        std::fs::write(dir.join("queries.json"), q.to_string()).expect("write queries.json");
        let t = json!({"texts": self.texts.iter().map(|(n, u, r)| json!([n, u, r])).collect::<Vec<_>>()});
        std::fs::write(dir.join("texts.json"), t.to_string()).expect("write texts.json");
        println!(
            "{}",
            json!({"dir": dir, "prepared": self.base.len(), "queries": self.queries.len(), "dim": dim, "provider": self.provider})
        );
    }
}

//! Data sets on disk and the deterministic generator behind them.
//!
//! A data set directory holds `base.f32` (rows, little-endian f32), `base.json`
//! (dimension, partitions, provider), `queries.f32`, `queries.json` (each
//! query's partition and text, and its exact top 100 rows by float64 brute
//! force) and `texts.jsonl` (`[npc_id, user, assistant]` of each row, one a
//! line). `load` adds `ids.json`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

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
    pub fn write(&self, dir: &Path) {
        let dim = self.base.first().map_or(0, Vec::len);
        let mut writer = Writer::create(dir, dim, self.queries.clone());
        for &(npc, start, count) in &self.partitions {
            let rows = start..start + count;
            writer.partition(npc, &self.texts[rows.clone()], &self.base[rows]);
        }
        writer.finish(&self.provider, &self.note);
    }
}

/// Writes a data set one partition at a time, so that a million rows
/// (1,000,000 × 1536 f32 is 6 GB) never sit in memory together: rows go
/// straight to `base.f32` and `texts.jsonl`, and each query's ground truth is
/// computed while its partition is at hand.
pub struct Writer {
    dir: PathBuf,
    dim: usize,
    base: BufWriter<File>,
    texts: BufWriter<File>,
    rows: usize,
    /// (npc_id, first row, rows).
    partitions: Vec<(usize, usize, usize)>,
    /// (npc_id, text, vector).
    queries: Vec<(usize, String, Vec<f32>)>,
    truth: Vec<Vec<usize>>,
}

impl Writer {
    pub fn create(dir: &Path, dim: usize, queries: Vec<(usize, String, Vec<f32>)>) -> Self {
        std::fs::create_dir_all(dir).expect("create data dir");
        let open = |name: &str| {
            BufWriter::new(
                File::create(dir.join(name)).unwrap_or_else(|e| panic!("create {name}: {e}")),
            )
        };
        Self {
            dir: dir.to_path_buf(),
            dim,
            base: open("base.f32"),
            texts: open("texts.jsonl"),
            rows: 0,
            partitions: Vec::new(),
            truth: vec![Vec::new(); queries.len()],
            queries,
        }
    }

    /// Append one partition's rows: (npc_id, user_message, assistant_message)
    /// and the vector of each.
    pub fn partition(
        &mut self,
        npc: usize,
        texts: &[(usize, String, String)],
        vectors: &[Vec<f32>],
    ) {
        assert_eq!(texts.len(), vectors.len(), "one text per vector");
        for v in vectors {
            assert_eq!(v.len(), self.dim, "vector dimension");
            for x in v {
                self.base.write_all(&x.to_le_bytes()).expect("write base");
            }
        }
        for (n, u, r) in texts {
            writeln!(self.texts, "{}", json!([n, u, r])).expect("write texts");
        }
        let start = self.rows;
        let mine: Vec<usize> = (0..self.queries.len())
            .filter(|&q| self.queries[q].0 == npc)
            .collect();
        for (q, rows) in mine.iter().zip(truth_of(&self.queries, &mine, vectors)) {
            self.truth[*q] = rows.into_iter().map(|r| start + r).collect();
        }
        self.partitions.push((npc, start, vectors.len()));
        self.rows += vectors.len();
    }

    pub fn finish(mut self, provider: &str, note: &str) {
        self.base.flush().expect("write base");
        self.texts.flush().expect("write texts");
        let partitions: Vec<Value> = self
            .partitions
            .iter()
            .map(|(npc, start, count)| json!({"npc_id": npc, "start": start, "count": count}))
            .collect();
        let meta = json!({"n": self.rows, "dim": self.dim, "partitions": partitions, "provider": provider, "note": note});
        std::fs::write(self.dir.join("base.json"), meta.to_string()).expect("write base.json");
        let qvecs: Vec<Vec<f32>> = self.queries.iter().map(|q| q.2.clone()).collect();
        write_f32(&self.dir.join("queries.f32"), &qvecs).expect("write queries");
        let q = json!({
            "q": self.queries.len(),
            "partition": self.queries.iter().map(|q| q.0).collect::<Vec<_>>(),
            "texts": self.queries.iter().map(|q| &q.1).collect::<Vec<_>>(),
            "truth_rows": self.truth,
        });
        std::fs::write(self.dir.join("queries.json"), q.to_string()).expect("write queries.json");
        println!(
            "{}",
            json!({"dir": self.dir, "prepared": self.rows, "queries": self.queries.len(), "dim": self.dim, "provider": provider})
        );
    }
}

/// Exact top rows (of `rows`, numbered from 0) of the queries `which`, by
/// float64 dot product (rows are unit vectors), ties to the higher row; the
/// queries are split over the machine's cores.
fn truth_of(
    queries: &[(usize, String, Vec<f32>)],
    which: &[usize],
    rows: &[Vec<f32>],
) -> Vec<Vec<usize>> {
    let one = |q: &[f32]| {
        let mut scored: Vec<(f64, usize)> = rows
            .iter()
            .enumerate()
            .map(|(row, v)| {
                let s: f64 = v.iter().zip(q).map(|(a, b)| *a as f64 * *b as f64).sum();
                (s, row)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        scored
            .into_iter()
            .take(TRUTH_DEPTH)
            .map(|(_, row)| row)
            .collect::<Vec<usize>>()
    };
    par_map(which, |&q| one(&queries[q].2))
}

/// `f` of every item, in order, the items split over the machine's cores.
pub fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let f = &f;
    std::thread::scope(|scope| {
        let workers: Vec<_> = items
            .chunks(items.len().div_ceil(threads).max(1))
            .map(|chunk| scope.spawn(move || chunk.iter().map(f).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker thread"))
            .collect()
    })
}

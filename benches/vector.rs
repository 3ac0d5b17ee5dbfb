//! Micro-benchmarks of the vector core (criterion).
//!
//! ```text
//! cargo bench --bench vector                       # everything (HNSW: 100k x 1536)
//! cargo bench --bench vector -- 'scan'             # exact scans only
//! MNEMO_BENCH_HNSW_N=20000 cargo bench --bench vector -- 'hnsw'
//! ```
//!
//! Groups: `scan` (exact top-10 over 5,000 and 50,000 x 1536), `scan_first_pass`
//! (the int8, sign-bit and bits-then-int8 first passes on the same rows), `hnsw` (search on
//! `MNEMO_BENCH_HNSW_N` x 1536 clustered rows, default 100,000, next to the exact scan
//! of the same rows; build time and recall@10 against the exact scan go to stderr),
//! `codec` (blob encode/decode, normalise) and `topk` (the bounded heap alone).
//!
//! Data sets are generated lazily inside the benchmark closures so that a filter
//! (e.g. `'scan'`) does not pay for building a 100k-row index it will not measure.
//! This machine is shared and noisy: compare ratios within one run, not absolute times
//! across runs.

use std::hint::black_box;
use std::time::Instant;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use mnemo::vector::{
    Hit, HnswSettings, IndexedPartition, Partition, ScanPlan, TopK, decode_blob, encode_blob,
    normalize,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const DIM: usize = 1536;

/// Unit vectors in Gaussian clusters (noise ≈ 0.8 × the centre's length), like
/// embeddings of related texts.
struct Clusters {
    centers: Vec<Vec<f32>>,
    spread: f32,
    rng: StdRng,
}

impl Clusters {
    fn new(count: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let centers = (0..count)
            .map(|_| unit((0..DIM).map(|_| gaussian(&mut rng)).collect()))
            .collect();
        Clusters {
            centers,
            spread: 0.8 / (DIM as f32).sqrt(),
            rng,
        }
    }

    fn point(&mut self) -> Vec<f32> {
        let c = self.rng.random_range(0..self.centers.len());
        let spread = self.spread;
        let v = (0..DIM)
            .map(|i| self.centers[c][i] + spread * gaussian(&mut self.rng))
            .collect();
        unit(v)
    }
}

fn gaussian(rng: &mut StdRng) -> f32 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    normalize(&mut v, DIM).expect("generated vectors are valid");
    v
}

/// Resident and peak memory of this process from `/proc/self/status` (Linux), to
/// measure what the index costs next to the raw vectors.
fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or_else(|| "?".to_string(), |kb| format!("{} MiB", kb / 1024))
    };
    format!("rss {} (peak {})", field("VmRSS:"), field("VmHWM:"))
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn filled_partition(rows: usize, seed: u64) -> (Partition<u32>, Clusters) {
    let mut data = Clusters::new((rows / 100).max(1), seed);
    let mut part = Partition::new(DIM);
    part.reserve(rows);
    for id in 0..rows as i64 {
        part.upsert(id, id, (id % 100) as u32, &data.point());
    }
    (part, data)
}

/// Mean share of the exact scan's top 10 that `search` finds, over `queries`.
fn recall_at_10(
    part: &Partition<u32>,
    queries: &[Vec<f32>],
    search: impl Fn(&[f32]) -> Vec<Hit>,
) -> f64 {
    let found: usize = queries
        .iter()
        .map(|q| {
            let got = search(q);
            let truth = part.search_exact(q, 10, |_, _| true);
            truth
                .iter()
                .filter(|t| got.iter().any(|g| g.id == t.id))
                .count()
        })
        .sum();
    found as f64 / (10 * queries.len()) as f64
}

fn scan(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan");
    group.sample_size(20);
    for rows in [5_000usize, 50_000] {
        // Bytes read per scan, so criterion reports GB/s to compare with the memory
        // bandwidth (≈ 27 GB/s on one core here).
        group.throughput(Throughput::Bytes((rows * DIM * 4) as u64));
        let mut fixture = None;
        group.bench_function(
            BenchmarkId::new("exact_top10", format!("{rows}x{DIM}")),
            |b| {
                let (part, data) = fixture.get_or_insert_with(|| filled_partition(rows, 1));
                let query = data.point();
                b.iter(|| black_box(part.search_exact(black_box(&query), 10, |_, _| true)))
            },
        );
    }
    group.finish();
}

/// The first passes against the exact f32 scan on the same partition: int8
/// (rescore 4·k in f32), sign bits (rescore 10·k) and bits then int8; time here,
/// recall@10 against the exact scan printed.
fn first_pass(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan_first_pass");
    group.sample_size(20);
    let plans = [
        ("int8_rescore4", ScanPlan { binary: 0, int8: 4 }),
        (
            "binary_rescore10",
            ScanPlan {
                binary: 10,
                int8: 0,
            },
        ),
        (
            "binary10_int8_rescore4",
            ScanPlan {
                binary: 10,
                int8: 4,
            },
        ),
    ];
    for rows in [5_000usize, 50_000] {
        let (mut part, mut data) = filled_partition(rows, 1);
        part.enable_int8();
        part.enable_binary();
        let queries: Vec<Vec<f32>> = (0..100).map(|_| data.point()).collect();
        for (name, plan) in plans {
            let recall = recall_at_10(&part, &queries, |q| {
                part.search_planned(q, 10, plan, |_, _| true)
            });
            eprintln!("{name} {rows}x{DIM}: recall@10 vs exact = {recall:.4}");
            let query = queries[0].clone();
            group.bench_function(BenchmarkId::new(name, format!("{rows}x{DIM}")), |b| {
                b.iter(|| black_box(part.search_planned(black_box(&query), 10, plan, |_, _| true)))
            });
        }
    }
    group.finish();
}

struct HnswFixture {
    index: IndexedPartition<u32>,
    queries: Vec<Vec<f32>>,
}

fn hnsw_fixture() -> HnswFixture {
    let rows = env_usize("MNEMO_BENCH_HNSW_N", 100_000);
    let clusters = env_usize("MNEMO_BENCH_HNSW_CLUSTERS", (rows / 100).max(1));
    let t = Instant::now();
    let mut data = Clusters::new(clusters, 2);
    let mut part = Partition::new(DIM);
    part.reserve(rows);
    for id in 0..rows as i64 {
        part.upsert(id, id, (id % 100) as u32, &data.point());
    }
    eprintln!(
        "hnsw fixture: {rows} x {DIM} in {clusters} clusters generated in {:.1?}; raw vectors {} MiB; {}",
        t.elapsed(),
        rows * DIM * 4 / (1024 * 1024),
        memory()
    );
    let settings = HnswSettings {
        // Index whatever size was asked for, even below the production threshold.
        threshold: 1,
        ..HnswSettings::default()
    };
    let mut index = IndexedPartition::from_partition(part, settings);
    let report = index.build_now();
    eprintln!(
        "hnsw build: {:.1?} on {} threads (m {}, ef_construction {}): {report:?}; {}; resident estimate {:?}",
        report.elapsed,
        index.settings().build_threads,
        index.settings().m,
        index.settings().ef_construction,
        memory(),
        index.resident_bytes()
    );
    let queries: Vec<Vec<f32>> = (0..200).map(|_| data.point()).collect();
    for ef in [32usize, 64, 128] {
        let recall = recall_at_10(index.partition(), &queries, |q| {
            index.search(q, 10, Some(ef)).hits
        });
        eprintln!(
            "hnsw recall@10 vs exact (ef {ef}, {} queries): {recall:.4}",
            queries.len()
        );
    }
    HnswFixture { index, queries }
}

fn hnsw(c: &mut Criterion) {
    let mut group = c.benchmark_group("hnsw");
    group.sample_size(30);
    let mut fixture: Option<HnswFixture> = None;
    let mut next = 0usize;
    group.bench_function("search_top10_ef64", |b| {
        let fx = fixture.get_or_insert_with(hnsw_fixture);
        b.iter(|| {
            next = (next + 1) % fx.queries.len();
            black_box(fx.index.search(&fx.queries[next], 10, None))
        })
    });
    group.bench_function("search_top10_ef64_filter50pct", |b| {
        let fx = fixture.get_or_insert_with(hnsw_fixture);
        b.iter(|| {
            next = (next + 1) % fx.queries.len();
            black_box(
                fx.index
                    .search_filtered(&fx.queries[next], 10, None, |_, m| *m < 50),
            )
        })
    });
    group.bench_function("exact_top10_same_rows", |b| {
        let fx = fixture.get_or_insert_with(hnsw_fixture);
        b.iter(|| {
            next = (next + 1) % fx.queries.len();
            black_box(
                fx.index
                    .partition()
                    .search_exact(&fx.queries[next], 10, |_, _| true),
            )
        })
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    let mut data = Clusters::new(4, 3);
    let v = data.point();
    let blob = encode_blob(&v);
    group.throughput(Throughput::Bytes(blob.len() as u64));
    group.bench_function("encode_1536", |b| {
        b.iter(|| black_box(encode_blob(black_box(&v))))
    });
    group.bench_function("decode_1536", |b| {
        b.iter(|| black_box(decode_blob(black_box(&blob), DIM)))
    });
    let raw: Vec<f32> = v.iter().map(|x| x * 3.7).collect();
    group.bench_function("normalize_1536", |b| {
        b.iter(|| {
            let mut x = raw.clone();
            normalize(black_box(&mut x), DIM).unwrap();
            black_box(x)
        })
    });
    group.finish();
}

fn topk(c: &mut Criterion) {
    let mut group = c.benchmark_group("topk");
    let mut rng = StdRng::seed_from_u64(4);
    let hits: Vec<Hit> = (0..50_000)
        .map(|id| Hit {
            id,
            score: rng.random_range(-1.0..1.0),
            created_at: rng.random_range(0..1_000_000),
        })
        .collect();
    group.throughput(Throughput::Elements(hits.len() as u64));
    for k in [10usize, 100] {
        group.bench_function(BenchmarkId::new("push_50000", format!("k{k}")), |b| {
            b.iter(|| {
                let mut top = TopK::new(k);
                for h in &hits {
                    top.push(*h);
                }
                black_box(top.into_sorted_vec())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, scan, first_pass, hnsw, codec, topk);
criterion_main!(benches);

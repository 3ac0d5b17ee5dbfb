//! Load generator and data preparer for the service benchmark (`benches/run`).
//!
//! ```text
//! loadgen prepare --dir D [--npcs 20] [--per-npc 5000] [--queries 200] [--dim 1536]
//! loadgen prepare-text --dir D --texts FILE [--provider minilm] [--queries 1000] [--max N] [--project 1536]
//! loadgen prepare-gaussian --dir D [--n 50000] [--dim 1536] [--queries 1000]
//! loadgen load    --dir D --url U --token T          # stores D's memories over HTTP, maps rows to ids
//! loadgen run     --dir D --url U --token T --workload search|search_text|store|store_batch|context
//!                 --concurrency C --seconds S [--rate R]
//! ```
//! `prepare` writes synthetic NPC dialogue, its vectors (the offline hash
//! provider, so every peer sees the very same vectors) and held-out queries with
//! exact float64 ground truth. `run` is closed-loop at concurrency C, or
//! open-loop at R requests/s (latency measured from the scheduled send time, so
//! a stalled server cannot hide its queueing: no coordinated omission). Results
//! are one JSON object on stdout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use mnemo::embed::HashEmbedder;
use serde_json::{Value, json};

const WORDS: &[&str] = &[
    "dragon", "bridge", "mine", "gold", "sword", "tavern", "king", "wolf", "river", "tower",
    "bread", "forge", "ghost", "harvest", "storm", "ship", "map", "thief", "guard", "temple",
    "wine", "ore", "spider", "ruins", "festival", "debt", "letter", "horse", "shield", "potion",
    "moon", "crypt", "merchant", "priest", "orc", "troll", "ice", "fire", "plague", "treasure",
    "smith", "crown",
];

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn num(args: &[String], name: &str, default: usize) -> usize {
    arg(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic pseudo-random generator (splitmix64): the data set must be the
/// same on every machine and run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn word(&mut self) -> &'static str {
        WORDS[(self.next() % WORDS.len() as u64) as usize]
    }
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    (0..words).map(|_| rng.word()).collect::<Vec<_>>().join(" ")
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

fn read_f32(path: &Path, dim: usize) -> Vec<Vec<f32>> {
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

fn read_json(path: &Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// A data set on disk: base rows grouped in partitions (one per NPC), held-out
/// queries with their partition, and exact float64 ground truth (top 100).
struct Dataset {
    /// (npc_id, user_message, assistant_message) per base row.
    texts: Vec<(usize, String, String)>,
    base: Vec<Vec<f32>>,
    /// (npc_id, first row, rows), contiguous.
    partitions: Vec<(usize, usize, usize)>,
    /// (npc_id, text, vector).
    queries: Vec<(usize, String, Vec<f32>)>,
    provider: String,
    note: String,
}

impl Dataset {
    fn write(&self, dir: &Path) {
        std::fs::create_dir_all(dir).expect("create data dir");
        let dim = self.base.first().map_or(0, Vec::len);
        let truth: Vec<Vec<usize>> = self
            .queries
            .iter()
            .map(|(npc, _, q)| {
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
                scored.into_iter().take(100).map(|(_, row)| row).collect()
            })
            .collect();
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
            json!({"prepared": self.base.len(), "queries": self.queries.len(), "dim": dim, "provider": self.provider})
        );
    }
}

/// Synthetic NPC dialogue embedded with the offline hash provider.
async fn prepare(dir: &Path, args: &[String]) {
    let npcs = num(args, "--npcs", 20);
    let per_npc = num(args, "--per-npc", 5000);
    let queries = num(args, "--queries", 200);
    let dim = num(args, "--dim", 1536);
    let embedder = HashEmbedder::new(dim);
    let mut rng = Rng(7);
    let mut texts = Vec::new();
    let mut partitions = Vec::new();
    for npc in 1..=npcs {
        for _ in 0..per_npc {
            texts.push((npc, sentence(&mut rng, 8), sentence(&mut rng, 8)));
        }
        partitions.push((npc, (npc - 1) * per_npc, per_npc));
    }
    let base = texts
        .iter()
        .map(|(npc, u, r)| {
            embedder
                .embed_text(&format!("Player said: \"{u}\" | Npc{npc} replied: \"{r}\""))
                .expect("embed")
        })
        .collect();
    let queries = (0..queries)
        .map(|i| {
            let text = sentence(&mut rng, 5);
            let v = embedder.embed_text(&text).expect("embed");
            (1 + i % npcs, text, v)
        })
        .collect();
    Dataset {
        texts,
        base,
        partitions,
        queries,
        provider: "hash".into(),
        note: "synthetic NPC dialogue".into(),
    }
    .write(dir);
}

/// A real corpus (one text per line) embedded by a provider, `--queries` lines
/// held out at random; optionally projected to more dimensions by a fixed random
/// orthonormal matrix (distances and therefore neighbours are preserved).
async fn prepare_text(dir: &Path, args: &[String]) {
    let path = arg(args, "--texts").expect("--texts FILE");
    let provider = arg(args, "--provider").unwrap_or_else(|| "minilm".into());
    let max = num(args, "--max", usize::MAX);
    let held_out = num(args, "--queries", 1000);
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let mut lines: Vec<String> = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    lines.truncate(max);
    let embedder = mnemo::embed::build(&provider, &mnemo::embed::EmbedSettings::default())
        .unwrap_or_else(|e| panic!("provider {provider}: {e}"));
    let started = Instant::now();
    let mut vectors = Vec::with_capacity(lines.len());
    for chunk in lines.chunks(256) {
        vectors.extend(
            embedder
                .embed(chunk)
                .await
                .unwrap_or_else(|e| panic!("embed: {e}")),
        );
        eprint!("\rembedded {}/{}", vectors.len(), lines.len());
    }
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "\rembedded {} texts in {seconds:.0} s ({:.0}/s)",
        lines.len(),
        lines.len() as f64 / seconds
    );
    if let Some(to) = arg(args, "--project").and_then(|d| d.parse::<usize>().ok()) {
        let q = orthonormal(vectors[0].len(), to, 1536);
        vectors = vectors.iter().map(|v| project(&q, v, to)).collect();
    }
    // Hold out queries at fixed random positions.
    let mut rng = Rng(99);
    let mut is_query = vec![false; lines.len()];
    let mut picked = 0;
    while picked < held_out.min(lines.len() / 2) {
        let i = (rng.next() % lines.len() as u64) as usize;
        if !is_query[i] {
            is_query[i] = true;
            picked += 1;
        }
    }
    let (mut texts, mut base, mut queries) = (Vec::new(), Vec::new(), Vec::new());
    for ((line, v), q) in lines.into_iter().zip(vectors).zip(is_query) {
        if q {
            queries.push((1, line, v));
        } else {
            texts.push((1, line, String::new()));
            base.push(v);
        }
    }
    let n = base.len();
    let dim = base.first().map_or(0, Vec::len);
    Dataset {
        texts,
        base,
        partitions: vec![(1, 0, n)],
        queries,
        provider: provider.clone(),
        note: format!(
            "{path} embedded with {provider} at {dim} dimensions ({seconds:.0} s to embed)"
        ),
    }
    .write(dir);
}

/// The worst case: isotropic Gaussian vectors (no structure for an index to use).
async fn prepare_gaussian(dir: &Path, args: &[String]) {
    let n = num(args, "--n", 50_000);
    let dim = num(args, "--dim", 1536);
    let queries = num(args, "--queries", 1000);
    let mut rng = Rng(1234);
    let mut gaussian = || unit(&(0..dim).map(|_| normal(&mut rng)).collect::<Vec<_>>());
    let base: Vec<Vec<f32>> = (0..n).map(|_| gaussian()).collect();
    let queries = (0..queries)
        .map(|i| (1, format!("q{i}"), gaussian()))
        .collect();
    let texts = (0..n)
        .map(|i| (1, format!("row {i}"), String::new()))
        .collect();
    Dataset {
        texts,
        base,
        partitions: vec![(1, 0, n)],
        queries,
        provider: "gaussian".into(),
        note: "isotropic Gaussian".into(),
    }
    .write(dir);
}

fn normal(rng: &mut Rng) -> f32 {
    // Box–Muller from two uniforms in (0, 1].
    let u1 = ((rng.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
    let u2 = (rng.next() >> 11) as f64 / (1u64 << 53) as f64;
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

fn unit(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    v.iter().map(|x| (*x as f64 / n) as f32).collect()
}

/// `from` orthonormal columns of length `to` (Gram–Schmidt on Gaussian columns).
fn orthonormal(from: usize, to: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = Rng(seed);
    let mut cols: Vec<Vec<f64>> = Vec::with_capacity(from);
    for _ in 0..from {
        let mut c: Vec<f64> = (0..to).map(|_| normal(&mut rng) as f64).collect();
        for prev in &cols {
            let d: f64 = c.iter().zip(prev).map(|(a, b)| a * b).sum();
            c.iter_mut().zip(prev).for_each(|(a, b)| *a -= d * b);
        }
        let n = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        c.iter_mut().for_each(|x| *x /= n);
        cols.push(c);
    }
    cols
}

fn project(cols: &[Vec<f64>], v: &[f32], to: usize) -> Vec<f32> {
    let mut out = vec![0f64; to];
    for (c, x) in cols.iter().zip(v) {
        out.iter_mut()
            .zip(c)
            .for_each(|(o, ci)| *o += ci * *x as f64);
    }
    out.into_iter().map(|x| x as f32).collect()
}

fn b64(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

struct Client {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Client {
    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        let res = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let value = res.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, value))
    }
}

async fn load(dir: &Path, client: &Client) {
    let meta = read_json(&dir.join("base.json"));
    let dim = meta["dim"].as_u64().expect("dim") as usize;
    let base = read_f32(&dir.join("base.f32"), dim);
    let texts = read_json(&dir.join("texts.json"));
    let texts = texts["texts"].as_array().expect("texts");
    let started = Instant::now();
    let mut ids = Vec::with_capacity(base.len());
    for (chunk_vecs, chunk_texts) in base.chunks(100).zip(texts.chunks(100)) {
        let memories: Vec<Value> = chunk_vecs
            .iter()
            .zip(chunk_texts)
            .map(|(v, t)| {
                json!({"npc_id": t[0], "speaker_id": 1, "speaker_name": "Player", "npc_name": format!("Npc{}", t[0]),
                       "user_message": t[1], "assistant_message": t[2], "embedding_b64": b64(v)})
            })
            .collect();
        let (status, body) = client
            .post("/v1/memories/npc/batch", &json!({"memories": memories}))
            .await
            .expect("batch request");
        assert!(status == 201, "batch store answered {status}: {body}");
        for item in body["items"].as_array().expect("items") {
            ids.push(item["id"].as_i64().expect("id"));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    std::fs::write(dir.join("ids.json"), json!(ids).to_string()).expect("write ids");
    println!(
        "{}",
        json!({"loaded": ids.len(), "seconds": seconds, "rows_per_second": ids.len() as f64 / seconds})
    );
}

struct Workload {
    kind: String,
    queries: Vec<Vec<f32>>,
    partitions: Vec<i64>,
    texts: Vec<String>,
    truth: Vec<Vec<i64>>,
    dim: usize,
}

impl Workload {
    fn request(&self, i: usize) -> (String, Value) {
        let q = i % self.queries.len();
        let npc = self.partitions[q];
        match self.kind.as_str() {
            "search" => (
                "/v1/memories/npc/search".into(),
                json!({"npc_id": npc, "top_k": 10, "embedding_b64": b64(&self.queries[q])}),
            ),
            "search_text" => (
                "/v1/memories/npc/search".into(),
                json!({"npc_id": npc, "top_k": 10, "query": self.texts[q]}),
            ),
            "context" => (
                format!("/v1/npcs/{npc}/context"),
                json!({"speaker_id": 1, "message": self.texts[q]}),
            ),
            "store" => (
                "/v1/memories/npc".into(),
                json!({"npc_id": 1000 + npc, "speaker_id": 2, "user_message": self.texts[q], "assistant_message": "noted"}),
            ),
            "store_batch" => {
                let memories: Vec<Value> = (0..16)
                    .map(|j| json!({"npc_id": 1000 + npc, "speaker_id": 2, "user_message": format!("{} {j}", self.texts[q]), "assistant_message": "noted"}))
                    .collect();
                (
                    "/v1/memories/npc/batch".into(),
                    json!({"memories": memories}),
                )
            }
            other => panic!("unknown workload {other}"),
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

async fn run(dir: &Path, client: Arc<Client>, args: &[String]) {
    let meta = read_json(&dir.join("base.json"));
    let dim = meta["dim"].as_u64().expect("dim") as usize;
    let qmeta = read_json(&dir.join("queries.json"));
    let ids: Vec<i64> =
        serde_json::from_value(read_json(&dir.join("ids.json"))).unwrap_or_default();
    let truth_rows: Vec<Vec<usize>> =
        serde_json::from_value(qmeta["truth_rows"].clone()).expect("truth");
    let workload = Arc::new(Workload {
        kind: arg(args, "--workload").unwrap_or_else(|| "search".into()),
        queries: read_f32(&dir.join("queries.f32"), dim),
        partitions: serde_json::from_value(qmeta["partition"].clone()).expect("partition"),
        texts: serde_json::from_value(qmeta["texts"].clone()).expect("texts"),
        truth: truth_rows
            .iter()
            .map(|rows| {
                rows.iter()
                    .take(10)
                    .filter_map(|r| ids.get(*r).copied())
                    .collect()
            })
            .collect(),
        dim,
    });
    let concurrency = num(args, "--concurrency", 1).max(1);
    let seconds = arg(args, "--seconds")
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(10.0);
    let rate = arg(args, "--rate").and_then(|s| s.parse::<f64>().ok());
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    let workers = if rate.is_some() {
        concurrency.max(64)
    } else {
        concurrency
    };
    for _ in 0..workers {
        let (client, workload, counter) = (client.clone(), workload.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut errors, mut overlap, mut judged) = (0usize, 0usize, 0usize);
            loop {
                let i = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Open loop: request i is due at i / rate, whoever sends it.
                let due = match rate {
                    Some(r) => started + Duration::from_secs_f64(i as f64 / r),
                    None => Instant::now(),
                };
                if due >= deadline {
                    break;
                }
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    tokio::time::sleep(wait).await;
                }
                let (path, body) = workload.request(i);
                match client.post(&path, &body).await {
                    Ok((status, value)) if status < 300 => {
                        latencies.push(due.elapsed().as_secs_f64() * 1000.0);
                        if workload.kind == "search" && !workload.truth.is_empty() {
                            let truth = &workload.truth[i % workload.queries.len()];
                            if !truth.is_empty() {
                                let got: Vec<i64> = value["items"]
                                    .as_array()
                                    .map(|a| a.iter().filter_map(|r| r["id"].as_i64()).collect())
                                    .unwrap_or_default();
                                overlap += got.iter().filter(|id| truth.contains(id)).count();
                                judged += truth.len();
                            }
                        }
                    }
                    _ => errors += 1,
                }
            }
            (latencies, errors, overlap, judged)
        }));
    }
    let mut latencies = Vec::new();
    let (mut errors, mut overlap, mut judged) = (0, 0, 0);
    for t in tasks {
        let (l, e, o, j) = t.await.expect("worker");
        latencies.extend(l);
        errors += e;
        overlap += o;
        judged += j;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let out = json!({
        "workload": workload.kind,
        "dim": workload.dim,
        "concurrency": concurrency,
        "rate": rate,
        "requests": latencies.len(),
        "errors": errors,
        "qps": latencies.len() as f64 / elapsed,
        "p50_ms": percentile(&latencies, 0.50),
        "p99_ms": percentile(&latencies, 0.99),
        "recall_at_10": if judged > 0 { Some(overlap as f64 / judged as f64) } else { None },
    });
    println!("{out}");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(arg(&args, "--dir").unwrap_or_else(|| "bench-data".into()));
    let client = || {
        Arc::new(Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()
                .expect("http client"),
            url: arg(&args, "--url").unwrap_or_else(|| "http://127.0.0.1:8080".into()),
            token: arg(&args, "--token")
                .or_else(|| std::env::var("MNEMO_TOKEN").ok())
                .unwrap_or_default(),
        })
    };
    match args.first().map(String::as_str) {
        Some("prepare") => prepare(&dir, &args).await,
        Some("prepare-text") => prepare_text(&dir, &args).await,
        Some("prepare-gaussian") => prepare_gaussian(&dir, &args).await,
        Some("load") => load(&dir, &client()).await,
        Some("run") => run(&dir, client(), &args).await,
        _ => {
            eprintln!("usage: loadgen prepare|load|run --dir DIR [...] (see the doc comment)");
            std::process::exit(2);
        }
    }
}

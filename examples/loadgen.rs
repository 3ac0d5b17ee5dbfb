//! Load generator and data preparer for the service benchmark (`benches/run`).
//!
//! ```text
//! loadgen prepare --dir D [--npcs 20] [--per-npc 5000] [--queries 200] [--dim 1536]
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

async fn prepare(dir: &Path, args: &[String]) {
    let npcs = num(args, "--npcs", 20);
    let per_npc = num(args, "--per-npc", 5000);
    let queries = num(args, "--queries", 200);
    let dim = num(args, "--dim", 1536);
    std::fs::create_dir_all(dir).expect("create data dir");
    let embedder = HashEmbedder::new(dim);
    let mut rng = Rng(7);
    let mut texts = Vec::new();
    let mut partitions = Vec::new();
    for npc in 1..=npcs {
        for _ in 0..per_npc {
            let user = sentence(&mut rng, 8);
            let reply = sentence(&mut rng, 8);
            texts.push((npc, user, reply));
        }
        partitions.push(json!({"npc_id": npc, "start": (npc - 1) * per_npc, "count": per_npc}));
    }
    let summaries: Vec<String> = texts
        .iter()
        .map(|(npc, u, r)| format!("Player said: \"{u}\" | Npc{npc} replied: \"{r}\""))
        .collect();
    let base: Vec<Vec<f32>> = summaries
        .iter()
        .map(|s| embedder.embed_text(s).expect("embed"))
        .collect();
    let query_texts: Vec<(usize, String)> = (0..queries)
        .map(|i| (1 + i % npcs, sentence(&mut rng, 5)))
        .collect();
    let qvecs: Vec<Vec<f32>> = query_texts
        .iter()
        .map(|(_, t)| embedder.embed_text(t).expect("embed"))
        .collect();
    // Exact ground truth in float64, within each query's partition.
    let truth: Vec<Vec<usize>> = query_texts
        .iter()
        .zip(&qvecs)
        .map(|((npc, _), q)| {
            let start = (npc - 1) * per_npc;
            let mut scored: Vec<(f64, usize)> = (start..start + per_npc)
                .map(|row| {
                    let s: f64 = base[row]
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
    write_f32(&dir.join("base.f32"), &base).expect("write base");
    write_f32(&dir.join("queries.f32"), &qvecs).expect("write queries");
    let meta = json!({"n": base.len(), "dim": dim, "partitions": partitions, "provider": "hash"});
    std::fs::write(dir.join("base.json"), meta.to_string()).expect("write base.json");
    let q = json!({
        "q": queries,
        "partition": query_texts.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        "texts": query_texts.iter().map(|(_, t)| t).collect::<Vec<_>>(),
        "truth_rows": truth,
    });
    std::fs::write(dir.join("queries.json"), q.to_string()).expect("write queries.json");
    let t = json!({"texts": texts.iter().map(|(n, u, r)| json!([n, u, r])).collect::<Vec<_>>()});
    std::fs::write(dir.join("texts.json"), t.to_string()).expect("write texts.json");
    println!(
        "{}",
        json!({"prepared": base.len(), "queries": queries, "dim": dim})
    );
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
    for (chunk_vecs, chunk_texts) in base.chunks(500).zip(texts.chunks(500)) {
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
        Some("load") => load(&dir, &client()).await,
        Some("run") => run(&dir, client(), &args).await,
        _ => {
            eprintln!("usage: loadgen prepare|load|run --dir DIR [...] (see the doc comment)");
            std::process::exit(2);
        }
    }
}

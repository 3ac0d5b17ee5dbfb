//! `load`, `wait-index` and `run`: drive the service over HTTP.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::args::{arg, num};
use crate::dataset::{read_f32, read_json};

fn b64(v: &[f32]) -> String {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub struct Client {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
}

impl Client {
    async fn post(&self, path: &str, body: &Value) -> Result<(u16, Value), String> {
        self.post_keyed(path, body, None).await
    }

    /// POST with an `Idempotency-Key` when given.
    pub async fn post_keyed(
        &self,
        path: &str,
        body: &Value,
        key: Option<&str>,
    ) -> Result<(u16, Value), String> {
        let mut req = self
            .http
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let value = res.json::<Value>().await.unwrap_or(Value::Null);
        Ok((status, value))
    }
}

/// Store the data set's rows through the batch endpoint, `--concurrency`
/// batches in flight (default 4: Postgres spends most of a batch in HNSW
/// inserts on one core), and map rows to the ids the service gave them. Rows
/// are read from disk batch by batch as they are sent, so a million rows cost
/// the load generator only the batches in flight.
pub async fn load(dir: &Path, client: &Client, args: &[String]) {
    let meta = read_json(&dir.join("base.json"));
    let dim = meta["dim"].as_u64().expect("dim") as usize;
    let open = |name: &str| {
        BufReader::new(
            std::fs::File::open(dir.join(name)).unwrap_or_else(|e| panic!("open {name}: {e}")),
        )
    };
    let mut base = open("base.f32");
    let mut texts = open("texts.jsonl").lines();
    let concurrency = num(args, "--concurrency", 4).max(1);
    let started = Instant::now();
    let batches = std::iter::from_fn(move || {
        let mut memories = Vec::with_capacity(100);
        let mut row = vec![0u8; dim * 4];
        for line in texts.by_ref().take(100) {
            let t: Value = serde_json::from_str(&line.expect("read texts")).expect("texts line");
            base.read_exact(&mut row).expect("base.f32 has a row per text");
            let v: Vec<f32> = row
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            memories.push(json!({"npc_id": t[0], "speaker_id": 1, "speaker_name": "Player", "npc_name": format!("Npc{}", t[0]),
                                 "user_message": t[1], "assistant_message": t[2], "embedding_b64": b64(&v)}));
        }
        (!memories.is_empty()).then_some(memories)
    })
    .map(|memories| {
        async move {
            // 503 means "retry later" (e.g. SQLite's write lock was busy past its
            // timeout); nothing of the batch was written, so sending it again is safe.
            let mut retries = 0;
            loop {
                let (status, body) = client
                    .post("/v1/memories/npc/batch", &json!({"memories": &memories}))
                    .await
                    .expect("batch request");
                if status == 503 && retries < 10 {
                    retries += 1;
                    tokio::time::sleep(Duration::from_millis(200 * retries)).await;
                    continue;
                }
                assert!(status == 201, "batch store answered {status}: {body}");
                let ids = body["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|item| item["id"].as_i64().expect("id"))
                    .collect::<Vec<i64>>();
                return (ids, retries);
            }
        }
    });
    // `buffered` keeps the batches' order, so ids line up with rows.
    let done: Vec<(Vec<i64>, u64)> = futures_util::stream::iter(batches)
        .buffered(concurrency)
        .collect()
        .await;
    let retries: u64 = done.iter().map(|(_, r)| r).sum();
    let ids: Vec<i64> = done.into_iter().flat_map(|(ids, _)| ids).collect();
    let seconds = started.elapsed().as_secs_f64();
    std::fs::write(dir.join("ids.json"), json!(ids).to_string()).expect("write ids");
    println!(
        "{}",
        json!({"loaded": ids.len(), "seconds": seconds, "rows_per_second": ids.len() as f64 / seconds, "concurrency": concurrency, "retries_after_503": retries})
    );
}

/// SQLite mode builds a large partition's HNSW index in the background: poll
/// (a search installs a finished build; `/metrics` counts indexed partitions)
/// until `--expect` NPC partitions are indexed, and report how long it took.
pub async fn wait_index(dir: &Path, client: &Client, args: &[String]) {
    let expect = num(args, "--expect", 1);
    let timeout = Duration::from_secs(num(args, "--timeout", 1800) as u64);
    let meta = read_json(&dir.join("base.json"));
    let dim = meta["dim"].as_u64().expect("dim") as usize;
    let npc = meta["partitions"][0]["npc_id"].as_i64().expect("partition");
    let probe = json!({"npc_id": npc, "top_k": 1, "embedding_b64": b64(&read_f32(&dir.join("queries.f32"), dim)[0])});
    let started = Instant::now();
    let mut failures = 0;
    loop {
        // A pooled connection the server closed while this loop slept comes
        // back reset: try again; only a server that stays away stops the wait.
        let metrics = match index_probe(client, &probe).await {
            Ok(metrics) => {
                failures = 0;
                metrics
            }
            Err(e) => {
                failures += 1;
                assert!(failures < 10, "the server stopped answering: {e}");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        let indexed = metrics
            .lines()
            .find_map(|l| l.strip_prefix("mnemo_hnsw_partitions{kind=\"npc\"} "))
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if indexed >= expect {
            break;
        }
        assert!(
            started.elapsed() < timeout,
            "no HNSW index after {timeout:?} ({indexed} of {expect} partitions)"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "{}",
        json!({"index_ready_seconds": started.elapsed().as_secs_f64(), "partitions": expect})
    );
}

/// A top-10 search with the query vector given, as `run --workload search` sends it.
fn search_body(npc: i64, query: &[f32]) -> Value {
    json!({"npc_id": npc, "top_k": 10, "embedding_b64": b64(query)})
}

/// `bodies`: the search workload's request bodies, one JSON document a line
/// in query order, for an external load generator (`benches/wrk/search.lua`).
pub fn bodies(dir: &Path, args: &[String]) {
    let dim = read_json(&dir.join("base.json"))["dim"]
        .as_u64()
        .expect("dim") as usize;
    let partitions: Vec<i64> =
        serde_json::from_value(read_json(&dir.join("queries.json"))["partition"].clone())
            .expect("partition");
    let out = arg(args, "--out").expect("--out FILE");
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&out).unwrap_or_else(|e| panic!("create {out}: {e}")),
    );
    for (q, npc) in read_f32(&dir.join("queries.f32"), dim)
        .iter()
        .zip(partitions)
    {
        writeln!(file, "{}", search_body(npc, q)).expect("write bodies");
    }
    file.flush().expect("write bodies");
}

/// One search (which installs a finished background build) then `/metrics`.
async fn index_probe(client: &Client, probe: &Value) -> Result<String, String> {
    let (status, body) = client.post("/v1/memories/npc/search", probe).await?;
    assert!(status == 200, "search answered {status}: {body}");
    client
        .http
        .get(format!("{}/metrics", client.url))
        .bearer_auth(&client.token)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())
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
                search_body(npc, &self.queries[q]),
            ),
            "search_text" => (
                "/v1/memories/npc/search".into(),
                json!({"npc_id": npc, "top_k": 10, "query": self.texts[q]}),
            ),
            // The same query text, matched by its words, or both lists fused.
            "search_keyword" | "search_hybrid" => (
                "/v1/memories/npc/search".into(),
                json!({"npc_id": npc, "top_k": 10, "query": self.texts[q],
                       "mode": self.kind.trim_start_matches("search_")}),
            ),
            "context" => (
                format!("/v1/npcs/{npc}/context"),
                json!({"speaker_id": 1, "message": self.texts[q]}),
            ),
            "store" => (
                "/v1/memories/npc".into(),
                json!({"npc_id": 1000 + npc, "speaker_id": 2, "user_message": self.texts[q], "assistant_message": "noted"}),
            ),
            // Lifecycle costs: every text new (a dedup look-up that finds
            // nothing), every text said before (a repeat after the first round
            // of queries), and new texts into the loaded NPCs themselves (with
            // MNEMO_NPC_MEMORY_BUDGET at their size, each store evicts one).
            "store_unique" => (
                "/v1/memories/npc".into(),
                json!({"npc_id": 1000 + npc, "speaker_id": 2, "user_message": format!("{} {i}", self.texts[q]), "assistant_message": "noted"}),
            ),
            "store_repeat" => (
                "/v1/memories/npc".into(),
                json!({"npc_id": 1000 + npc, "speaker_id": 3, "user_message": self.texts[q], "assistant_message": "again"}),
            ),
            "store_full" => (
                "/v1/memories/npc".into(),
                json!({"npc_id": npc, "speaker_id": 2, "user_message": format!("{} {i}", self.texts[q]), "assistant_message": "noted", "importance": 0.5}),
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

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx]
}

pub async fn run(dir: &Path, client: Arc<Client>, args: &[String]) {
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

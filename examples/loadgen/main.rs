//! Load generator and data preparer for the service benchmark (`benches/run`).
//!
//! ```text
//! loadgen prepare --dir D [--npcs 20] [--per-npc 5000] [--queries 200] [--dim 1536]
//! loadgen prepare-text --dir D --texts FILE [--provider minilm] [--queries 1000] [--max N]
//!                      [--npc 1] [--project 1536 --project-dir P]
//! loadgen prepare-gaussian --dir D [--n 50000] [--dim 1536] [--queries 1000] [--npc 1]
//! loadgen scan    --dir D [--rescore 4] [--binary 4,8,16,32] [--ef 32,64,100,200] [--passes 1] [--hnsw 0]
//!                                                 # exact, first passes and HNSW in process
//! loadgen load    --dir D --url U --token T [--concurrency 4]
//! loadgen wait-index --dir D --url U --token T [--expect 1]
//! loadgen run     --dir D --url U --token T --workload search|search_text|search_keyword|search_hybrid
//!                 |store|store_unique|store_repeat|store_full|store_batch|context
//!                 --concurrency C --seconds S [--rate R]
//! loadgen economy --url U --token T [--concurrency 1] [--seconds 10] [--wallets 64]
//! loadgen bodies  --dir D --out FILE             # search bodies for wrk (benches/wrk/search.lua)
//! ```
//! `prepare` writes synthetic NPC dialogue, its vectors (the offline hash
//! provider, so every peer sees the very same vectors) and held-out queries with
//! exact float64 ground truth; `prepare-text` does the same for a real corpus
//! and an embedding provider. `run` is closed-loop at concurrency C, or
//! open-loop at R requests/s (latency measured from the scheduled send time, so
//! a stalled server cannot hide its queueing: no coordinated omission). Results
//! are one JSON object per line on stdout. `economy` times transfers between
//! funded wallets, each with an `Idempotency-Key`.

mod args;
mod dataset;
mod economy;
mod http;
mod prepare;
mod scan;

use std::path::PathBuf;
use std::sync::Arc;

use args::arg;
use http::Client;

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
        Some("prepare") => prepare::prepare(&dir, &args).await,
        Some("prepare-text") => prepare::prepare_text(&dir, &args).await,
        Some("prepare-gaussian") => prepare::prepare_gaussian(&dir, &args).await,
        Some("scan") => scan::scan(&dir, &args),
        Some("load") => http::load(&dir, &client(), &args).await,
        Some("wait-index") => http::wait_index(&dir, &client(), &args).await,
        Some("run") => http::run(&dir, client(), &args).await,
        Some("economy") => economy::economy(client(), &args).await,
        Some("bodies") => http::bodies(&dir, &args),
        _ => {
            eprintln!(
                "usage: loadgen prepare|prepare-text|prepare-gaussian|scan|load|wait-index|run|economy|bodies --dir DIR [...] (see the doc comment)"
            );
            std::process::exit(2);
        }
    }
}

//! `economy`: the latency of a transfer. Funds `--wallets` wallets (default
//! 64) with FCMGold, then sends transfers of 0.01 between pairs of them, each
//! with its own `Idempotency-Key` as a game server should, closed loop at
//! `--concurrency` for `--seconds`. Prints one JSON line shaped like `run`'s.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::args::{arg, num};
use crate::http::{Client, percentile};

fn wallet(run: u64, i: usize) -> String {
    format!("rBench{run:x}w{i}")
}

/// Transfer `i`: between two different wallets, every pair in turn.
fn transfer(run: u64, wallets: usize, i: usize) -> Value {
    let from = i % wallets;
    let to = (from + 1 + (i / wallets) % (wallets - 1)) % wallets;
    json!({
        "currency_code": "FCMGold",
        "from": {"wallet_address": wallet(run, from), "location": "ACCOUNT"},
        "to": {"wallet_address": wallet(run, to), "location": "ACCOUNT"},
        "amount": "0.01",
        "transfer_type": "bench",
    })
}

pub async fn economy(client: Arc<Client>, args: &[String]) {
    let wallets = num(args, "--wallets", 64).max(2);
    let concurrency = num(args, "--concurrency", 1).max(1);
    let seconds = arg(args, "--seconds")
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(10.0);
    // A run id keeps wallets and keys apart from earlier runs on the same database.
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    for w in 0..wallets {
        let body = json!({"currency_code": "FCMGold", "wallet_address": wallet(run, w),
                          "location": "ACCOUNT", "amount": "1000000", "transfer_type": "bench_funding"});
        match client.post_keyed("/v1/economy/credits", &body, None).await {
            Ok((201, _)) => {}
            other => panic!("funding wallet {w} failed: {other:?}"),
        }
    }
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let counter = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, counter) = (client.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            while Instant::now() < deadline {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let key = format!("bench-{run:x}-{i}");
                let sent = Instant::now();
                match client
                    .post_keyed(
                        "/v1/economy/transfers",
                        &transfer(run, wallets, i),
                        Some(&key),
                    )
                    .await
                {
                    Ok((201, _)) => latencies.push(sent.elapsed().as_secs_f64() * 1000.0),
                    _ => errors += 1,
                }
            }
            (latencies, errors)
        }));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("worker");
        latencies.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "data": "economy",
            "workload": "transfer",
            "concurrency": concurrency,
            "rate": null,
            "wallets": wallets,
            "requests": latencies.len(),
            "errors": errors,
            "qps": latencies.len() as f64 / elapsed,
            "p50_ms": percentile(&latencies, 0.50),
            "p99_ms": percentile(&latencies, 0.99),
        })
    );
}

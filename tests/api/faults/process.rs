//! Whole `mnemo serve` processes: killed with SIGKILL under concurrent writes,
//! and two of them writing to one SQLite directory at once.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemo::accounts::tokens::{self, Scope};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::support::db::TestDb;
use crate::support::serve::ServeProcess;

/// A `mnemo serve` on `t`'s database (no rate limit, the default hash provider).
fn serve(t: &TestDb) -> ServeProcess {
    let mut cmd = t.mnemo(&["serve", "--bind", "127.0.0.1:0"]);
    cmd.stdout(Stdio::null());
    ServeProcess::start(cmd)
}

async fn token(t: &TestDb) -> String {
    let scopes = [Scope::MemoryRead, Scope::MemoryWrite].into();
    tokens::create_token(&t.db, "fault-test", &scopes)
        .await
        .expect("token")
        .1
}

fn text(writer: usize, n: usize) -> String {
    format!("writer {writer} note {n}: the lighthouse keeper saw {n} ships from harbour {writer}")
}

/// `writers` clients storing memories into `addr` until `until`; returns what
/// was acknowledged (id → text) and every status seen.
async fn write_until(
    addr: &str,
    token: &str,
    writers: usize,
    first_writer: usize,
    until: Instant,
) -> (BTreeMap<i64, String>, Vec<u16>) {
    let acked = Arc::new(Mutex::new(BTreeMap::new()));
    let statuses = Arc::new(Mutex::new(Vec::new()));
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for w in first_writer..first_writer + writers {
        let (client, acked, statuses) = (client.clone(), acked.clone(), statuses.clone());
        let (url, token) = (format!("http://{addr}/v1/memories/npc"), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut n = 0;
            while Instant::now() < until {
                let body = json!({"npc_id": 3, "speaker_id": w, "summary": text(w, n)});
                let sent = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await;
                let Ok(res) = sent else {
                    // The server is gone: a write that got no answer was not acknowledged.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                statuses.lock().await.push(res.status().as_u16());
                if res.status().as_u16() == 201
                    && let Ok(body) = res.json::<Value>().await
                    && let Some(id) = body["id"].as_i64()
                {
                    acked.lock().await.insert(id, text(w, n));
                }
                n += 1;
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let acked = acked.lock().await.clone();
    let statuses = statuses.lock().await.clone();
    (acked, statuses)
}

/// Every acknowledged memory is readable by id and found by its own text.
async fn assert_all_there(addr: &str, token: &str, acked: &BTreeMap<i64, String>) {
    let client = reqwest::Client::new();
    for (id, text) in acked {
        let got = client
            .get(format!("http://{addr}/v1/memories/npc/{id}"))
            .bearer_auth(token)
            .send()
            .await
            .expect("get");
        assert_eq!(got.status(), 200, "acknowledged memory {id} is gone");
        let found: Value = client
            .post(format!("http://{addr}/v1/memories/npc/search"))
            .bearer_auth(token)
            .json(&json!({"npc_id": 3, "query": text, "top_k": 3}))
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
        let ids: Vec<i64> = found["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|m| m["id"].as_i64())
            .collect();
        assert!(
            ids.contains(id),
            "memory {id} not found by its text: {found}"
        );
    }
}

/// SIGKILL in the middle of eight concurrent writers: after a restart every
/// write that was acknowledged is there and searchable.
async fn kill_9_under_concurrent_writes_loses_no_acknowledged_write(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let token = token(&t).await;
    let server = serve(&t);
    let addr = server.addr.clone();
    let writing = tokio::spawn({
        let (addr, token) = (addr.clone(), token.clone());
        async move {
            let until = Instant::now() + Duration::from_millis(2500);
            write_until(&addr, &token, 8, 0, until).await
        }
    });
    tokio::time::sleep(Duration::from_millis(1200)).await;
    tokio::task::spawn_blocking(move || server.kill())
        .await
        .unwrap();
    let (acked, _) = writing.await.unwrap();
    assert!(acked.len() > 8, "writes were acknowledged before the kill");

    let restarted = serve(&t);
    assert_all_there(&restarted.addr, &token, &acked).await;
}

/// Two servers on one SQLite directory, writing at once: no 5xx, and each
/// finds the other's writes on its next search.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_sqlite_directory_write_side_by_side() {
    let t = TestDb::migrated("sqlite").await;
    let token = token(&t).await;
    let (one, two) = (serve(&t), serve(&t));
    let until = Instant::now() + Duration::from_millis(1500);
    let ((acked_one, statuses_one), (acked_two, statuses_two)) = tokio::join!(
        write_until(&one.addr, &token, 3, 0, until),
        write_until(&two.addr, &token, 3, 3, until),
    );
    for status in statuses_one.iter().chain(&statuses_two) {
        assert!(*status < 500, "a {status} while writing side by side");
    }
    assert!(!acked_one.is_empty() && !acked_two.is_empty());
    assert_all_there(&one.addr, &token, &acked_two).await;
    assert_all_there(&two.addr, &token, &acked_one).await;
}

on_both_backends!(kill_9_under_concurrent_writes_loses_no_acknowledged_write);

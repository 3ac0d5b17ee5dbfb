//! Postgres stopped and started again under load: requests fail fast with a
//! retryable 503 (never a 500, never the old ten-second wait), the service
//! recovers by itself, and nothing acknowledged is lost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use mnemo::config::DatabaseTarget;
use mnemo::db::migrate::{self, MigrateParams};
use mnemo::db::{Alias, Db, DbSettings};
use mnemo::http::{AppState, STARTUP};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::support::db::{TestDb, memory_store};
use crate::support::http::{Service, status_json, test_settings};
use crate::support::postgres::OwnPostgres;

/// The pool's wait for a connection here, and what an answer may take beyond it on a
/// busy test machine (the wait was ten seconds per request before).
const ACQUIRE: Duration = Duration::from_millis(500);
const SLACK: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    code: Value,
    took: Duration,
    at: Instant,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_postgres_costs_each_request_its_acquire_timeout_and_recovers() {
    let cluster = OwnPostgres::start();
    let target = DatabaseTarget::Postgres { url: cluster.url() };
    let settings = DbSettings {
        acquire_timeout: ACQUIRE,
        statement_timeout: Some(Duration::from_secs(5)),
        ..DbSettings::default()
    };
    let db = Db::open_with(&target, &settings).await.expect("open");
    migrate::migrate(&db, &Alias::ALL, &MigrateParams::default(), None)
        .await
        .expect("migrate");
    let mnemo::db::Pool::Postgres(pool) = db.pool(Alias::AiMemory) else {
        unreachable!("Postgres")
    };
    let (timeout,): (String,) = sqlx::query_as("SHOW statement_timeout")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(
        timeout, "5s",
        "the service's connections carry the statement timeout"
    );
    let store = Arc::new(memory_store(&db).await);
    let state = AppState::with_memory(db.clone(), store);
    state.readiness.release(STARTUP);
    let t = TestDb::from_parts(db, target);
    let s = Arc::new(Service::start_with(t, state, test_settings()).await);

    let answers = Arc::new(Mutex::new(Vec::<Answer>::new()));
    let acked = Arc::new(Mutex::new(Vec::<i64>::new()));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (s, answers, acked) = (s.clone(), answers.clone(), acked.clone());
        let done = done.clone();
        writers.push(tokio::spawn(async move {
            let mut n = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) {
                let body = json!({"npc_id": 1, "speaker_id": w, "summary": format!("writer {w} line {n}")});
                let started = Instant::now();
                let res = s.call(Method::POST, "/v1/memories/npc", Some(&s.admin), Some(body)).await;
                let (status, body) = status_json(res).await;
                if status == 201 {
                    acked.lock().await.push(body["id"].as_i64().unwrap());
                }
                let took = started.elapsed();
                let code = body["error"]["code"].clone();
                answers.lock().await.push(Answer { status, code, took, at: Instant::now() });
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    cluster.resume();
    let back = Instant::now();
    // The service finds Postgres again by itself (no restart, no operator).
    let recovered = loop {
        let first = answers
            .lock()
            .await
            .iter()
            .find(|a| a.status == 201 && a.at > back)
            .cloned();
        if let Some(a) = first {
            break a.at;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "writes never succeeded again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    eprintln!(
        "writes succeeded again {:?} after Postgres was back",
        recovered - back
    );

    let answers = answers.lock().await.clone();
    let outage: Vec<&Answer> = answers.iter().filter(|a| a.status != 201).collect();
    assert!(!outage.is_empty(), "the outage was seen");
    let mut took: Vec<Duration> = outage.iter().map(|a| a.took).collect();
    took.sort();
    eprintln!(
        "{} answers during the outage: median {:?}, max {:?}",
        took.len(),
        took[took.len() / 2],
        took[took.len() - 1]
    );
    for a in &outage {
        assert_eq!(
            a.status, 503,
            "only retryable answers while Postgres is down: {a:?}"
        );
        assert_eq!(a.code, "database_unavailable", "{a:?}");
        assert!(a.took < ACQUIRE + SLACK, "{a:?}");
    }
    for id in acked.lock().await.iter() {
        let (status, _) = s
            .as_admin(Method::GET, &format!("/v1/memories/npc/{id}"), None)
            .await;
        assert_eq!(status, 200, "acknowledged memory {id} is gone");
    }
}

//! Authentication, scopes, rate limits, readiness, metrics, request ids and the
//! token command line, over real HTTP on both backends.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::db::TestDb;
use crate::support::http::{Service, assert_error, status_json, test_settings};
use crate::support::serve::ServeProcess;
use mnemo::accounts::tokens;
use mnemo::http::{AppState, HttpSettings, STARTUP};
use reqwest::Method;
use serde_json::json;

async fn tokens_and_scopes(backend: &str) {
    let s = Service::start(backend, test_settings()).await;

    // Open routes need nothing.
    let (status, body) = status_json(s.call(Method::GET, "/healthz", None, None).await).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
    let res = s.call(Method::GET, "/openapi.yaml", None, None).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), mnemo::http::ops::OPENAPI_YAML);

    // No token, a malformed header, garbage, a well-formed unknown token: 401.
    let res = s.call(Method::GET, "/v1/accounts", None, None).await;
    assert_eq!(
        res.headers()["www-authenticate"].to_str().unwrap(),
        "Bearer realm=\"mnemo\""
    );
    assert_error(&status_json(res).await, 401, "unauthorized", None);
    let res = s
        .client
        .get(s.url("/v1/accounts"))
        .header("authorization", format!("Basic {}", s.admin))
        .send()
        .await
        .unwrap();
    assert_error(&status_json(res).await, 401, "unauthorized", None);
    for bad in [
        "nonsense",
        "mnemo_AAAA",
        &format!("mnemo_{}", "A".repeat(43)),
    ] {
        let res = s.call(Method::GET, "/v1/accounts", Some(bad), None).await;
        assert!(res.headers().contains_key("www-authenticate"));
        assert_error(&status_json(res).await, 401, "unauthorized", None);
    }

    // Wrong scope: 403; admin implies all.
    let reader = s.token("reader", "memory:read").await;
    let writer = s.token("writer", "memory:write,memory:read").await;
    for token in [&reader, &writer] {
        let got = status_json(s.call(Method::GET, "/v1/accounts", Some(token), None).await).await;
        assert_error(&got, 403, "forbidden", None);
    }
    let (status, _) = s.as_admin(Method::GET, "/v1/accounts", None).await;
    assert_eq!(status, 200);
    // Scheme names are case-insensitive.
    let res = s
        .client
        .get(s.url("/v1/accounts"))
        .header("authorization", format!("bearer {}", s.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Revoked: 401 (this server caches nothing, so at once).
    tokens::revoke_token(&s.t.db, "test-admin").await.unwrap();
    let got = status_json(
        s.call(Method::GET, "/v1/accounts", Some(&s.admin), None)
            .await,
    )
    .await;
    assert_error(&got, 401, "unauthorized", None);
    s.stop().await;
}

async fn revoke_takes_effect_within_the_cache_time(backend: &str) {
    let ttl = Duration::from_millis(800);
    let s = Service::start(
        backend,
        HttpSettings {
            auth_cache_ttl: ttl,
            ..test_settings()
        },
    )
    .await;
    let (status, _) = s.as_admin(Method::GET, "/v1/accounts", None).await;
    assert_eq!(status, 200);
    tokens::revoke_token(&s.t.db, "test-admin").await.unwrap();
    // Still cached: the documented grace period.
    let (status, _) = s.as_admin(Method::GET, "/v1/accounts", None).await;
    assert_eq!(status, 200);
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let got = s.as_admin(Method::GET, "/v1/accounts", None).await;
    assert_error(&got, 401, "unauthorized", None);
    s.stop().await;
}

async fn readiness(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let state = AppState::new(t.db.clone());
    let s = Service::start_with(t, state.clone(), test_settings()).await;

    let got = status_json(s.call(Method::GET, "/readyz", None, None).await).await;
    assert_error(&got, 503, "not_ready", None);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("startup")
    );
    // Liveness does not depend on readiness.
    let (status, _) = status_json(s.call(Method::GET, "/healthz", None, None).await).await;
    assert_eq!(status, 200);

    state.readiness.hold("memory index");
    state.readiness.release(STARTUP);
    let got = status_json(s.call(Method::GET, "/readyz", None, None).await).await;
    assert_error(&got, 503, "not_ready", None);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("memory index")
    );

    state.readiness.release("memory index");
    let (status, body) = status_json(s.call(Method::GET, "/readyz", None, None).await).await;
    assert_eq!((status, body), (200, json!({"status": "ready"})));
    s.stop().await;
}

async fn readiness_reports_pending_migrations(backend: &str) {
    let t = TestDb::empty(backend).await;
    let state = AppState::new(t.db.clone());
    state.readiness.release(STARTUP);
    let s = Service::start_with(t, state, test_settings()).await;
    let got = status_json(s.call(Method::GET, "/readyz", None, None).await).await;
    assert_error(&got, 503, "migrations_pending", None);
    assert!(
        got.1["error"]["message"]
            .as_str()
            .unwrap()
            .contains("default/0001_initial"),
        "{}",
        got.1
    );
    s.stop().await;
}

async fn database_down_is_503_with_retry_after(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    s.t.db.close().await;
    let res = s
        .call(Method::GET, "/v1/accounts", Some(&s.admin), None)
        .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_error(&status_json(res).await, 503, "database_unavailable", None);
    let got = status_json(s.call(Method::GET, "/readyz", None, None).await).await;
    assert_error(&got, 503, "database_unavailable", None);
    s.stop().await;
}

async fn internal_errors_carry_the_request_id(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    // Break the schema under the running service.
    mnemo::with_pool!(s.t.db.pool(mnemo::db::Alias::Default), |p| {
        sqlx::query("DROP TABLE accounts_character")
            .execute(p)
            .await
            .map(drop)
            .unwrap()
    });
    let res = s
        .client
        .get(s.url("/v1/characters"))
        .bearer_auth(&s.admin)
        .header("x-request-id", "trace-abc.1")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-abc.1");
    let got = status_json(res).await;
    assert_error(&got, 500, "internal", None);
    assert_eq!(got.1["error"]["correlation_id"], "trace-abc.1");
    let message = got.1["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("accounts_character"),
        "the cause is logged, not sent: {message}"
    );
    s.stop().await;
}

async fn request_ids(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    let res = s
        .client
        .get(s.url("/healthz"))
        .header("x-request-id", "client-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "client-42");
    let res = s.call(Method::GET, "/v1/accounts", None, None).await;
    let generated = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(generated.len(), 32, "{generated}");
    let res = s
        .client
        .get(s.url("/healthz"))
        .header("x-request-id", "has spaces and \"quotes\"")
        .send()
        .await
        .unwrap();
    let replaced = res.headers()["x-request-id"].to_str().unwrap();
    assert_eq!(replaced.len(), 32, "an unsafe id is replaced: {replaced}");
    s.stop().await;
}

async fn metrics_count_requests_by_route_pattern(backend: &str) {
    let s = Service::start(backend, test_settings()).await;
    // Another module's collector shows up beside the HTTP ones.
    let searches = prometheus::IntCounter::new("mnemo_test_searches_total", "test").unwrap();
    s.state
        .metrics
        .registry()
        .register(Box::new(searches.clone()))
        .unwrap();
    searches.inc_by(7);

    for _ in 0..3 {
        s.call(Method::GET, "/healthz", None, None).await;
    }
    s.as_admin(Method::GET, "/v1/accounts/1", None).await;
    s.as_admin(Method::GET, "/v1/accounts/2", None).await;
    s.as_admin(Method::GET, "/no/such/route", None).await;
    let res = s.call(Method::GET, "/metrics", None, None).await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = res.text().await.unwrap();
    for line in [
        r#"mnemo_http_requests_total{method="GET",route="/healthz",status="200"} 3"#,
        r#"mnemo_http_requests_total{method="GET",route="/v1/accounts/{id}",status="404"} 2"#,
        r#"mnemo_http_requests_total{method="GET",route="unmatched",status="404"} 1"#,
        r#"mnemo_http_request_duration_seconds_count{route="/v1/accounts/{id}"} 2"#,
        r#"mnemo_http_request_duration_seconds_bucket{route="/healthz",le="+Inf"} 3"#,
        "mnemo_test_searches_total 7",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert!(
        !text.contains("/v1/accounts/1\""),
        "raw paths are not labels"
    );
    s.stop().await;
}

async fn metrics_token_can_be_required(backend: &str) {
    let s = Service::start(
        backend,
        HttpSettings {
            metrics_token_required: true,
            ..test_settings()
        },
    )
    .await;
    let got = status_json(s.call(Method::GET, "/metrics", None, None).await).await;
    assert_error(&got, 401, "unauthorized", None);
    let reader = s.token("scraper", "memory:read").await;
    let res = s.call(Method::GET, "/metrics", Some(&reader), None).await;
    assert_eq!(res.status(), 200);
    // Health stays open.
    let res = s.call(Method::GET, "/healthz", None, None).await;
    assert_eq!(res.status(), 200);
    s.stop().await;
}

async fn rate_limit_per_token(backend: &str) {
    let s = Service::start(
        backend,
        HttpSettings {
            rate_per_second: 0.5,
            rate_burst: 2,
            ..test_settings()
        },
    )
    .await;
    for _ in 0..2 {
        let (status, _) = s
            .as_admin(Method::GET, "/v1/subscriptions/plans", None)
            .await;
        assert_eq!(status, 200);
    }
    let res = s
        .call(Method::GET, "/v1/subscriptions/plans", Some(&s.admin), None)
        .await;
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "retry after {retry}");
    assert_error(&status_json(res).await, 429, "rate_limited", None);
    // Another token has its own bucket; open routes are not limited.
    let other = s.token("other-admin", "admin").await;
    let res = s
        .call(Method::GET, "/v1/subscriptions/plans", Some(&other), None)
        .await;
    assert_eq!(res.status(), 200);
    for _ in 0..5 {
        let res = s.call(Method::GET, "/healthz", None, None).await;
        assert_eq!(res.status(), 200);
    }
    s.stop().await;
}

async fn slow_requests_time_out(backend: &str) {
    let s = Service::start(
        backend,
        HttpSettings {
            request_timeout: Duration::from_millis(300),
            ..test_settings()
        },
    )
    .await;
    // Hold a lock that a new account's insert must wait for, far longer than
    // the request timeout.
    let body = Some(json!({"username": "stuck"}));
    let res = match s.t.db.pool(mnemo::db::Alias::Default) {
        mnemo::db::Pool::Sqlite(p) => {
            let mut lock = p.begin_with("BEGIN IMMEDIATE").await.unwrap();
            sqlx::query("SELECT 1").execute(&mut *lock).await.unwrap();
            let res = s
                .call(Method::POST, "/v1/accounts", Some(&s.admin), body)
                .await;
            lock.rollback().await.unwrap();
            res
        }
        mnemo::db::Pool::Postgres(p) => {
            let mut lock = p.begin().await.unwrap();
            sqlx::query("LOCK TABLE accounts_account IN ACCESS EXCLUSIVE MODE")
                .execute(&mut *lock)
                .await
                .unwrap();
            let res = s
                .call(Method::POST, "/v1/accounts", Some(&s.admin), body)
                .await;
            lock.rollback().await.unwrap();
            res
        }
    };
    assert!(res.headers().contains_key("retry-after"));
    assert_error(&status_json(res).await, 503, "request_timeout", None);
    s.stop().await;
}

async fn bootstrap_admin_token(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let (token, secret) = tokens::ensure_bootstrap_admin(&t.db)
        .await
        .unwrap()
        .expect("created on an empty database");
    assert_eq!(token.name, tokens::BOOTSTRAP_NAME);
    assert!(token.allows(tokens::Scope::Admin));
    assert!(
        tokens::ensure_bootstrap_admin(&t.db)
            .await
            .unwrap()
            .is_none()
    );

    // It works over HTTP.
    let state = AppState::new(t.db.clone());
    state.readiness.release(STARTUP);
    let s = Service::start_with(t, state, test_settings()).await;
    let res = s
        .call(Method::GET, "/v1/accounts", Some(&secret), None)
        .await;
    assert_eq!(res.status(), 200);

    // An admin who revoked every token meant it: no new admin appears on restart.
    tokens::revoke_token(&s.t.db, tokens::BOOTSTRAP_NAME)
        .await
        .unwrap();
    let again = tokens::ensure_bootstrap_admin(&s.t.db).await.unwrap();
    assert!(again.is_none(), "minted after a revoke: {again:?}");
    assert!(!tokens::any_active(&s.t.db).await.unwrap());
    s.stop().await;
}

/// `mnemo` with the database of `t`.
fn mnemo(t: &TestDb, args: &[&str]) -> std::process::Output {
    t.mnemo(args).output().expect("run mnemo")
}

fn out(o: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

async fn token_command_line(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let created = mnemo(
        &t,
        &[
            "token",
            "create",
            "--name",
            "game-server",
            "--scopes",
            "memory:read,memory:write",
        ],
    );
    let (stdout, stderr) = out(&created);
    assert!(created.status.success(), "{stdout}{stderr}");
    let secret = stdout.trim().to_owned();
    assert!(tokens::looks_like_token(&secret), "{stdout}");
    assert!(stderr.contains("shown once"), "{stderr}");

    for (args, expect) in [
        (
            vec![
                "token",
                "create",
                "--name",
                "game-server",
                "--scopes",
                "admin",
            ],
            "already exists",
        ),
        (
            vec![
                "token",
                "create",
                "--name",
                "x",
                "--scopes",
                "memory:read,root",
            ],
            "unknown scope",
        ),
        (vec!["token", "revoke", "nobody"], "no token"),
    ] {
        let o = mnemo(&t, &args);
        let (stdout, stderr) = out(&o);
        assert!(!o.status.success(), "{args:?} should fail: {stdout}");
        assert!(stderr.contains(expect), "{args:?}: {stderr}");
    }

    // The printed token works over HTTP with its scopes, until revoked.
    let state = AppState::new(t.db.clone());
    state.readiness.release(STARTUP);
    let s = Service::start_with(t, state, test_settings()).await;
    let got = status_json(
        s.call(Method::GET, "/v1/accounts", Some(&secret), None)
            .await,
    )
    .await;
    assert_error(&got, 403, "forbidden", None);

    let listed = mnemo(&s.t, &["token", "list"]);
    let (stdout, _) = out(&listed);
    assert!(listed.status.success());
    assert!(stdout.contains("game-server"), "{stdout}");
    assert!(stdout.contains("memory:read,memory:write"), "{stdout}");
    assert!(stdout.contains("active"), "{stdout}");
    assert!(!stdout.contains(&secret), "list never shows secrets");

    let revoked = mnemo(&s.t, &["token", "revoke", "game-server"]);
    assert!(revoked.status.success(), "{:?}", out(&revoked));
    let got = status_json(
        s.call(Method::GET, "/v1/accounts", Some(&secret), None)
            .await,
    )
    .await;
    assert_error(&got, 401, "unauthorized", None);
    let (stdout, _) = out(&mnemo(&s.t, &["token", "list"]));
    assert!(stdout.contains("revoked"), "{stdout}");
    s.stop().await;
}

on_both_backends!(
    tokens_and_scopes,
    revoke_takes_effect_within_the_cache_time,
    readiness,
    readiness_reports_pending_migrations,
    database_down_is_503_with_retry_after,
    internal_errors_carry_the_request_id,
    request_ids,
    metrics_count_requests_by_route_pattern,
    metrics_token_can_be_required,
    rate_limit_per_token,
    slow_requests_time_out,
    bootstrap_admin_token,
    token_command_line,
);

/// `mnemo serve` on a fresh SQLite directory: prints a bootstrap admin token
/// once, serves with it, and exits cleanly on SIGTERM.
#[test]
fn serve_bootstraps_an_admin_token_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mnemo"));
    cmd.args(["serve", "--migrate", "--bind", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .env("MNEMO_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::piped());
    let mut server = ServeProcess::start(cmd);
    // The token is printed before the server starts; the pipe holds it.
    let mut stdout = BufReader::new(server.take_stdout().unwrap()).lines();
    let announce = stdout.next().unwrap().unwrap();
    assert!(announce.contains("bootstrap-admin"), "{announce}");
    let secret = stdout.next().unwrap().unwrap();
    assert!(tokens::looks_like_token(&secret), "{secret}");

    let addr = server.addr.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let res = client
            .get(format!("http://{addr}/v1/accounts"))
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = client
            .get(format!("http://{addr}/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    });

    let status = server.stop();
    assert!(status.success(), "graceful exit, got {status}");
}

//! Tests of the OpenAI provider against the in-process mock server.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::*;
use crate::embed::HashEmbedder;
use crate::embed::mock::{MockOpenAi, MockReply};

const DIM: usize = 16;

fn settings(mock: &MockOpenAi) -> OpenAiSettings {
    OpenAiSettings {
        api_key: "sk-test".into(),
        base_url: Some(mock.base_url()),
        dimension: DIM,
        request_timeout: Duration::from_secs(5),
        deadline: Duration::from_secs(5),
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        ..OpenAiSettings::default()
    }
}

fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("memory number {i}")).collect()
}

/// What the mock's vectors are, once normalised: the hash embedder's.
fn expected(texts: &[String]) -> Vec<Vec<f32>> {
    let hash = HashEmbedder::new(DIM);
    texts
        .iter()
        .map(|t| hash.embed_text(t).expect("hash embeds"))
        .collect()
}

fn assert_close(got: &[Vec<f32>], want: &[Vec<f32>]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.len(), w.len());
        for (a, b) in g.iter().zip(w) {
            assert!((a - b).abs() < 1e-6, "{g:?} != {w:?}");
        }
    }
}

#[tokio::test]
async fn embeds_in_input_order_normalised_with_key_model_and_dimensions() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let input = texts(3);
    let out = embedder.embed(&input).await.expect("embeds");
    // The mock lists data in reverse and scaled by 3: equal to the hash vectors means the
    // client ordered by index and normalised.
    assert_close(&out, &expected(&input));
    assert_eq!(mock.requests(), 1);
    let sent = &mock.recorded()[0];
    assert_eq!(sent.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(sent.body["model"], "text-embedding-3-small");
    assert_eq!(sent.body["dimensions"], DIM);
    assert_eq!(sent.body["input"][2], "memory number 2");
}

#[tokio::test]
async fn large_input_is_split_into_batches_and_concatenated_in_order() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    let embedder = OpenAiEmbedder::new(OpenAiSettings {
        max_batch: 4,
        ..settings(&mock)
    })
    .expect("builds");
    let input = texts(10);
    let out = embedder.embed(&input).await.expect("embeds");
    assert_close(&out, &expected(&input));
    assert_eq!(mock.requests(), 3);
    assert_eq!(mock.batch_sizes(), vec![4, 4, 2]);
}

#[tokio::test]
async fn no_inputs_means_no_request_and_blank_input_is_refused_locally() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    assert!(embedder.embed(&[]).await.expect("empty").is_empty());
    let err = embedder
        .embed(&["fine".into(), " ".into()])
        .await
        .expect_err("blank refused");
    assert!(matches!(err, EmbedError::Rejected(m) if m.contains("input 1")));
    assert_eq!(mock.requests(), 0);
}

#[tokio::test]
async fn rate_limit_is_retried_then_succeeds() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.push(MockReply::status(429));
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let input = texts(2);
    let out = embedder.embed(&input).await.expect("embeds after retry");
    assert_close(&out, &expected(&input));
    assert_eq!(mock.requests(), 2);
}

#[tokio::test]
async fn non_json_server_errors_are_still_transient() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.push(MockReply::Error {
        status: 502,
        body: "<html>bad gateway</html>".into(),
        retry_after: None,
    });
    mock.push(MockReply::Error {
        status: 429,
        body: "slow down".into(),
        retry_after: None,
    });
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    embedder
        .embed(&texts(1))
        .await
        .expect("embeds after retries");
    assert_eq!(mock.requests(), 3);
}

#[tokio::test]
async fn server_error_forever_gives_up_transient_within_the_deadline() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.set_fallback(MockReply::status(500));
    let deadline = Duration::from_millis(700);
    let embedder = OpenAiEmbedder::new(OpenAiSettings {
        deadline,
        ..settings(&mock)
    })
    .expect("builds");
    let started = Instant::now();
    let err = embedder.embed(&texts(1)).await.expect_err("gives up");
    let elapsed = started.elapsed();
    assert!(err.is_transient(), "{err}");
    assert!(err.message().contains("HTTP 500"), "{err}");
    assert!(
        elapsed < deadline + Duration::from_millis(100),
        "{elapsed:?}"
    );
    // 20 ms doubling to 200 ms: several attempts fit in 700 ms.
    assert!(mock.requests() >= 3, "{} requests", mock.requests());
}

#[tokio::test]
async fn retry_after_beyond_the_deadline_gives_up_at_once() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.set_fallback(MockReply::Error {
        status: 429,
        body: r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#.into(),
        retry_after: Some(30),
    });
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let started = Instant::now();
    let err = embedder.embed(&texts(1)).await.expect_err("gives up");
    assert!(err.is_transient(), "{err}");
    assert!(err.message().contains("Rate limit reached"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(mock.requests(), 1);
}

#[tokio::test]
async fn malformed_json_is_permanent_and_not_retried() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.set_fallback(MockReply::Body("{\"data\": [".into()));
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let err = embedder.embed(&texts(2)).await.expect_err("fails");
    assert!(!err.is_transient(), "{err}");
    assert!(err.message().contains("malformed response"), "{err}");
    assert_eq!(mock.requests(), 1);
}

#[tokio::test]
async fn wrong_dimension_is_permanent_naming_expected_and_got() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.set_fallback(MockReply::WrongDimension(8));
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let err = embedder.embed(&texts(2)).await.expect_err("fails");
    assert!(!err.is_transient(), "{err}");
    assert!(
        err.message().contains("expected 16, got 8"),
        "message: {err}"
    );
    assert_eq!(mock.requests(), 1);
}

#[tokio::test]
async fn wrong_count_is_permanent() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.set_fallback(MockReply::MissingOne);
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let err = embedder.embed(&texts(3)).await.expect_err("fails");
    assert!(!err.is_transient(), "{err}");
    assert!(
        err.message().contains("expected 3 embeddings, got 2"),
        "{err}"
    );
    assert_eq!(mock.requests(), 1);
}

#[tokio::test]
async fn client_errors_and_exhausted_quota_are_permanent_and_not_retried() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.push(MockReply::Error {
        status: 401,
        body: r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#.into(),
        retry_after: None,
    });
    mock.push(MockReply::Error {
        status: 429,
        body: r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#.into(),
        retry_after: None,
    });
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let err = embedder.embed(&texts(1)).await.expect_err("401");
    assert!(!err.is_transient());
    assert!(err.message().contains("HTTP 401"), "{err}");
    assert!(err.message().contains("Incorrect API key"), "{err}");
    let err = embedder.embed(&texts(1)).await.expect_err("quota");
    assert!(!err.is_transient());
    assert!(err.message().contains("insufficient_quota"), "{err}");
    assert_eq!(mock.requests(), 2);
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.push(MockReply::Delay(Duration::from_secs(3)));
    let embedder = OpenAiEmbedder::new(OpenAiSettings {
        request_timeout: Duration::from_millis(200),
        ..settings(&mock)
    })
    .expect("builds");
    let started = Instant::now();
    embedder
        .embed(&texts(1))
        .await
        .expect("second attempt answers");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(mock.requests(), 2);
}

#[tokio::test]
async fn connection_refused_is_transient_within_the_deadline() {
    // A port that was free a moment ago: nothing listens there.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let deadline = Duration::from_millis(400);
    let embedder = OpenAiEmbedder::new(OpenAiSettings {
        api_key: "sk-test".into(),
        base_url: Some(format!("http://127.0.0.1:{port}/v1/")),
        dimension: DIM,
        deadline,
        initial_backoff: Duration::from_millis(20),
        ..OpenAiSettings::default()
    })
    .expect("builds");
    let started = Instant::now();
    let err = embedder.embed(&texts(1)).await.expect_err("refused");
    assert!(err.is_transient(), "{err}");
    assert!(started.elapsed() < deadline + Duration::from_millis(300));
}

#[test]
fn settings_are_checked_before_any_request() {
    let ok = OpenAiSettings {
        api_key: "sk-test".into(),
        ..OpenAiSettings::default()
    };
    let refused = |s: OpenAiSettings| match OpenAiEmbedder::new(s) {
        Err(EmbedError::Permanent(m)) => m,
        other => panic!("expected a permanent error, got {other:?}"),
    };
    assert!(refused(OpenAiSettings::default()).contains("OPENAI_API_KEY"));
    assert!(
        refused(OpenAiSettings {
            api_key: "sk-\ntest".into(),
            ..ok.clone()
        })
        .contains("header")
    );
    assert!(
        refused(OpenAiSettings {
            base_url: Some("ftp://example.com".into()),
            ..ok.clone()
        })
        .contains("OPENAI_BASE_URL")
    );
    assert!(
        refused(OpenAiSettings {
            base_url: Some("not a url".into()),
            ..ok.clone()
        })
        .contains("OPENAI_BASE_URL")
    );
    assert!(
        refused(OpenAiSettings {
            max_batch: 0,
            ..ok.clone()
        })
        .contains("max_batch")
    );
    let built = OpenAiEmbedder::new(OpenAiSettings {
        base_url: Some("http://localhost:8080/v1/".into()),
        ..ok.clone()
    })
    .expect("builds");
    assert_eq!(
        built.settings().base_url.as_deref(),
        Some("http://localhost:8080/v1")
    );
    assert!(!format!("{built:?}").contains("sk-test"));
    assert!(
        OpenAiEmbedder::new(OpenAiSettings {
            model: "text-embedding-ada-002".into(),
            ..ok
        })
        .is_ok_and(|e| !e.send_dimensions)
    );
}

#[test]
fn batches_respect_count_and_byte_limits() {
    let t = |sizes: &[usize]| -> Vec<String> { sizes.iter().map(|&n| "x".repeat(n)).collect() };
    assert_eq!(plan_batches(&t(&[]), 4, 100), Vec::<Range<usize>>::new());
    assert_eq!(plan_batches(&t(&[1; 10]), 4, 100), vec![0..4, 4..8, 8..10]);
    assert_eq!(plan_batches(&t(&[1; 8]), 4, 100), vec![0..4, 4..8]);
    assert_eq!(
        plan_batches(&t(&[40, 40, 40, 10]), 10, 100),
        vec![0..2, 2..4]
    );
    // A text over the byte limit travels alone.
    assert_eq!(
        plan_batches(&t(&[10, 500, 10]), 10, 100),
        vec![0..1, 1..2, 2..3]
    );
}

#[test]
fn backoff_doubles_up_to_the_cap_with_equal_jitter() {
    let ms = Duration::from_millis;
    let d = |retry, jitter| backoff_delay(retry, ms(250), ms(8000), jitter);
    assert_eq!(d(1, 0.0), ms(125));
    assert_eq!(d(1, 0.999_999), ms(250) - Duration::from_nanos(125));
    assert_eq!(d(2, 0.0), ms(250));
    assert_eq!(d(3, 0.5), ms(750));
    assert_eq!(d(6, 0.0), ms(4000));
    assert_eq!(d(7, 0.0), ms(4000));
    assert_eq!(d(u32::MAX, 1.0), ms(8000));
}

#[test]
fn statuses_are_sorted_into_transient_and_permanent() {
    let status = |code, kind: Option<&str>| HttpStatusError {
        status: code,
        retry_after: None,
        kind: kind.map(str::to_string),
        message: String::new(),
    };
    let transient = |code, kind| {
        matches!(
            classify_status(&status(code, kind)),
            Failure::Transient { .. }
        )
    };
    assert!(transient(429, None));
    assert!(transient(429, Some("requests")));
    assert!(!transient(429, Some("insufficient_quota")));
    assert!(transient(408, None));
    assert!(transient(500, None));
    assert!(transient(503, None));
    for code in [400, 401, 403, 404, 413, 422] {
        assert!(!transient(code, None), "{code}");
    }
    let rejected = |code| matches!(classify_status(&status(code, None)), Failure::Rejected(_));
    for code in [400, 413, 422] {
        assert!(rejected(code), "{code}");
    }
    for code in [401, 403, 404] {
        assert!(!rejected(code), "{code}");
    }
}

#[tokio::test]
async fn a_refused_input_is_rejected_and_not_retried() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.push(MockReply::Error {
        status: 400,
        body: r#"{"error":{"message":"This model's maximum context length is 8192 tokens","type":"invalid_request_error","code":null}}"#.into(),
        retry_after: None,
    });
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let err = embedder.embed(&texts(1)).await.expect_err("400");
    assert!(err.is_rejected(), "{err:?}");
    assert!(err.message().contains("maximum context length"), "{err}");
    assert_eq!(mock.requests(), 1);
}

#[tokio::test]
async fn a_request_budget_caps_the_attempts_however_long_the_deadline() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.set_fallback(MockReply::status(503));
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let budget = Budget {
        deadline: Duration::from_secs(60),
        attempts: 2,
    };
    let err = embedder
        .embed_within(&texts(1), budget)
        .await
        .expect_err("503 forever");
    assert!(err.is_transient(), "{err:?}");
    assert!(err.message().contains("2 attempt(s)"), "{err}");
    assert_eq!(mock.requests(), 2);
}

#[tokio::test]
async fn a_request_budget_cuts_a_hanging_provider_at_its_deadline() {
    let mock = MockOpenAi::start(DIM).expect("mock starts");
    mock.set_fallback(MockReply::Delay(Duration::from_secs(30)));
    let embedder = OpenAiEmbedder::new(settings(&mock)).expect("builds");
    let budget = Budget {
        deadline: Duration::from_millis(300),
        attempts: 2,
    };
    let started = Instant::now();
    let err = embedder
        .embed_within(&texts(1), budget)
        .await
        .expect_err("hangs");
    assert!(err.is_transient(), "{err:?}");
    // The hang is 30 s; anything near the 300 ms budget shows the cut (slack for a busy machine).
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

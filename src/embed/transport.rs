//! The HTTP transport under async-openai's client: sends requests, turns every non-2xx
//! response into a [`HttpStatusError`] that keeps the status code.
//!
//! Why not the client's default transport: it wraps every request in async-openai's own retry
//! layer (3 retries, 100 ms doubling, and any `Retry-After` slept in full), which would run
//! inside our deadline-bounded retries and multiply them; and on a non-2xx response whose body
//! is not OpenAI's JSON error object, async-openai reports only a JSON parse error and the
//! status is lost (a proxy's HTML 429 would look permanent). Installing this service with
//! `Client::with_http_service` removes the inner retries and keeps the status of every failure.

use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use futures_util::future::BoxFuture;
use tower_service::Service;

/// Longest piece of an error body kept in messages and logs.
const BODY_EXCERPT_CHARS: usize = 300;

/// A non-2xx answer from the provider, with what the retry policy needs.
#[derive(Debug, Clone)]
pub(crate) struct HttpStatusError {
    /// HTTP status code.
    pub status: u16,
    /// How long the server asked us to wait (`retry-after-ms` or `retry-after` in seconds).
    pub retry_after: Option<Duration>,
    /// OpenAI's `error.type` or `error.code`, e.g. `insufficient_quota`.
    pub kind: Option<String>,
    /// OpenAI's `error.message`, or the start of the body when it is not OpenAI's JSON.
    pub message: String,
}

impl fmt::Display for HttpStatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}", self.status)?;
        if let Some(kind) = &self.kind {
            write!(f, " ({kind})")?;
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for HttpStatusError {}

/// async-openai's plain reqwest service (no retry layer) plus the status check.
#[derive(Clone, Debug, Default)]
pub(crate) struct StatusTransport {
    inner: ReqwestService,
}

/// The response type of the plain service (a `reqwest::Response`), named through the trait so
/// that this crate need not depend on reqwest directly.
type Response = <ReqwestService as Service<HttpRequestFactory>>::Response;

impl Service<HttpRequestFactory> for StatusTransport {
    type Response = Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, Result<Response, OpenAIError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let sent = self.inner.call(request);
        Box::pin(async move {
            let response = sent.await?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|v| v.is_finite() && *v >= 0.0)
            };
            let retry_after = header("retry-after-ms")
                .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                .or_else(|| header("retry-after").map(Duration::from_secs_f64));
            // The body only explains the failure; if it cannot be read, the status still can.
            let body = response.text().await.unwrap_or_default();
            let (kind, message) = describe_body(&body);
            Err(OpenAIError::Boxed(Box::new(HttpStatusError {
                status: status.as_u16(),
                retry_after,
                kind,
                message,
            })))
        })
    }
}

/// OpenAI's `{"error": {"message", "type", "code"}}`, or an excerpt of whatever else came.
fn describe_body(body: &str) -> (Option<String>, String) {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    let field = |name: &str| {
        error
            .and_then(|e| e.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    match field("message") {
        Some(message) => (field("type").or_else(|| field("code")), message),
        None => (None, excerpt(body)),
    }
}

/// The first [`BODY_EXCERPT_CHARS`] characters of `text`, on one line.
pub(crate) fn excerpt(text: &str) -> String {
    let mut out: String = text
        .trim()
        .chars()
        .take(BODY_EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.trim().chars().count() > BODY_EXCERPT_CHARS {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_error_bodies_give_message_and_kind() {
        let body = r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#;
        assert_eq!(
            describe_body(body),
            (
                Some("insufficient_quota".into()),
                "You exceeded your current quota".into()
            )
        );
        let body = r#"{"error":{"message":"Rate limit reached","type":null,"code":"rate_limit_exceeded"}}"#;
        assert_eq!(
            describe_body(body).0.as_deref(),
            Some("rate_limit_exceeded")
        );
    }

    #[test]
    fn other_bodies_are_excerpted_on_one_line() {
        assert_eq!(
            describe_body("<html>\nBad gateway</html>"),
            (None, "<html> Bad gateway</html>".into())
        );
        let long = "x".repeat(1000);
        assert_eq!(
            describe_body(&long).1.chars().count(),
            BODY_EXCERPT_CHARS + 1
        );
    }
}

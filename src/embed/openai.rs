//! OpenAI embeddings (or any server speaking the same `/embeddings` API): batching, response
//! validation and deadline-bounded retries.

use std::fmt;
use std::ops::Range;
use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::embeddings::{
    CreateEmbeddingRequest, CreateEmbeddingResponse, EmbeddingInput,
};
use futures_util::future::BoxFuture;

use super::transport::{HttpStatusError, StatusTransport, excerpt};
use super::{Budget, DEFAULT_DIMENSION, EmbedError, Embedder, check_not_blank, normalise};

/// OpenAI's API root, used when no base URL is configured.
pub const OPENAI_DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Settings of [`OpenAiEmbedder`]. The caller fills them from its configuration; nothing here
/// reads the environment.
#[derive(Clone)]
pub struct OpenAiSettings {
    /// Secret key (`OPENAI_API_KEY`). Required; never logged or printed by `Debug`.
    pub api_key: String,
    /// API root including the version, e.g. `https://api.openai.com/v1` (`OPENAI_BASE_URL`);
    /// `None` means OpenAI itself. Requests go to `{base_url}/embeddings`.
    pub base_url: Option<String>,
    /// Model name, default `text-embedding-3-small`.
    pub model: String,
    /// Expected vector length, default 1536. Sent as `dimensions` to `text-embedding-3*`
    /// models (which can shorten their vectors); other models must produce it natively.
    pub dimension: usize,
    /// Most inputs per request, default 2048 (OpenAI's limit).
    pub max_batch: usize,
    /// Most UTF-8 bytes of input per request, default 300 000. A byte-level BPE token spans at
    /// least one byte, so this keeps a request under OpenAI's 300 000-token cap whatever the
    /// language; a single larger input is still sent alone (and refused if over 8192 tokens).
    pub max_batch_bytes: usize,
    /// Longest wait for one HTTP request, default 30 s. A timeout is retried.
    pub request_timeout: Duration,
    /// Retry budget of one request (one batch), default 60 s: no attempt starts, and no
    /// attempt runs, past `deadline` after the batch's first attempt began. An `embed` call
    /// over n batches may therefore take up to n × `deadline`.
    pub deadline: Duration,
    /// First retry delay before jitter, default 250 ms; doubles on each retry.
    pub initial_backoff: Duration,
    /// Longest retry delay before jitter, default 8 s.
    pub max_backoff: Duration,
}

impl Default for OpenAiSettings {
    fn default() -> Self {
        OpenAiSettings {
            api_key: String::new(),
            base_url: None,
            model: "text-embedding-3-small".into(),
            dimension: DEFAULT_DIMENSION,
            max_batch: 2048,
            max_batch_bytes: 300_000,
            request_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(60),
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
        }
    }
}

impl fmt::Debug for OpenAiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiSettings")
            .field(
                "api_key",
                &if self.api_key.is_empty() {
                    "<unset>"
                } else {
                    "<redacted>"
                },
            )
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("dimension", &self.dimension)
            .field("max_batch", &self.max_batch)
            .field("max_batch_bytes", &self.max_batch_bytes)
            .field("request_timeout", &self.request_timeout)
            .field("deadline", &self.deadline)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

/// Embeddings from OpenAI's `/embeddings` endpoint through async-openai.
///
/// * Inputs are sent in requests of at most `max_batch` texts and `max_batch_bytes` bytes,
///   one after another (sequential, to stay inside rate limits), and the results are
///   concatenated in input order.
/// * Each request is retried on HTTP 408, 429 and 5xx, timeouts and connection errors, with
///   exponential backoff and jitter, honouring `Retry-After`, until its `deadline` would be
///   passed; then [`EmbedError::Transient`]. [`Embedder::embed_within`] bounds the whole call
///   by a shorter budget instead (deadline and attempts), for requests an NPC waits for.
///   400, 413 and 422 reject the input ([`EmbedError::Rejected`]); a 429 whose error type is
///   `insufficient_quota` (billing, not rate) is permanent, as are other 4xx and malformed
///   responses: no retry.
/// * Each response is checked (one vector per input, each `dimension` long, finite, non-zero),
///   ordered by its `index` field, and each vector L2-normalised.
pub struct OpenAiEmbedder {
    client: Client<OpenAIConfig>,
    settings: OpenAiSettings,
    /// `text-embedding-3*` models accept `dimensions`; older ones reject it.
    send_dimensions: bool,
}

impl fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl OpenAiEmbedder {
    /// Checks the settings and makes the client. No network traffic happens here.
    ///
    /// Errors ([`EmbedError::Permanent`]): empty key (names `OPENAI_API_KEY`), a key that
    /// cannot be sent in an HTTP header, a base URL that is not http(s), an empty model, or a
    /// zero dimension, batch size, timeout or deadline.
    pub fn new(settings: OpenAiSettings) -> Result<Self, EmbedError> {
        let permanent = |m: String| Err(EmbedError::Permanent(m));
        let key = settings.api_key.trim();
        if key.is_empty() {
            return permanent("no OpenAI API key: set OPENAI_API_KEY".into());
        }
        // async-openai turns the key into a header with `unwrap`: refuse what would panic there.
        if !key.bytes().all(|b| b.is_ascii_graphic()) {
            return permanent(
                "the OpenAI API key (OPENAI_API_KEY) holds characters that cannot be sent in an HTTP header".into(),
            );
        }
        let base_url = settings
            .base_url
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or(OPENAI_DEFAULT_BASE_URL)
            // async-openai appends "/embeddings" verbatim.
            .trim_end_matches('/')
            .to_string();
        match url::Url::parse(&base_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            Ok(_) => {
                return permanent(format!(
                    "OpenAI base URL (OPENAI_BASE_URL) {base_url:?} is not an http(s) URL"
                ));
            }
            Err(e) => {
                return permanent(format!(
                    "OpenAI base URL (OPENAI_BASE_URL) {base_url:?} is invalid: {e}"
                ));
            }
        }
        if settings.model.trim().is_empty() {
            return permanent("no OpenAI embedding model named".into());
        }
        for (name, zero) in [
            ("dimension", settings.dimension == 0),
            ("max_batch", settings.max_batch == 0),
            ("max_batch_bytes", settings.max_batch_bytes == 0),
            ("request_timeout", settings.request_timeout.is_zero()),
            ("deadline", settings.deadline.is_zero()),
        ] {
            if zero {
                return permanent(format!("OpenAI setting {name} must be above 0"));
            }
        }
        // Org and project are set empty explicitly: OpenAIConfig::new() would otherwise pick
        // OPENAI_ORG_ID / OPENAI_PROJECT_ID up from the environment behind the caller's back.
        let config = OpenAIConfig::new()
            .with_api_key(key)
            .with_api_base(base_url.clone())
            .with_org_id("")
            .with_project_id("");
        let client = Client::with_config(config).with_http_service(StatusTransport::default());
        let send_dimensions = settings.model.starts_with("text-embedding-3");
        Ok(OpenAiEmbedder {
            client,
            settings: OpenAiSettings {
                base_url: Some(base_url),
                ..settings
            },
            send_dimensions,
        })
    }

    /// The settings in use (the key included; do not print it).
    pub fn settings(&self) -> &OpenAiSettings {
        &self.settings
    }

    /// Every input in requests of at most `max_batch` texts and `max_batch_bytes` bytes, one
    /// after another. `budget`: `None` gives each request the settings' own retry budget
    /// (the background's patience); `Some` bounds the whole call by its deadline and each
    /// request by its attempts (a request an NPC is waiting for).
    async fn embed_all(
        &self,
        texts: &[String],
        budget: Option<Budget>,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        check_not_blank(texts)?;
        let s = &self.settings;
        let call_deadline = budget.map(|b| Instant::now() + b.deadline.min(s.deadline));
        let attempts = budget.map_or(u32::MAX, |b| b.attempts.max(1));
        let mut vectors = Vec::with_capacity(texts.len());
        for range in plan_batches(texts, s.max_batch, s.max_batch_bytes) {
            let give_up_at = call_deadline.unwrap_or_else(|| Instant::now() + s.deadline);
            vectors.extend(
                self.embed_batch(&texts[range], give_up_at, attempts)
                    .await?,
            );
        }
        Ok(vectors)
    }

    /// One request's worth of inputs, retried until it succeeds, fails permanently, makes
    /// `max_attempts` attempts, or `give_up_at` would be passed.
    async fn embed_batch(
        &self,
        batch: &[String],
        give_up_at: Instant,
        max_attempts: u32,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        let s = &self.settings;
        let request = CreateEmbeddingRequest {
            model: s.model.clone(),
            input: EmbeddingInput::StringArray(batch.to_vec()),
            encoding_format: None,
            user: None,
            dimensions: self
                .send_dimensions
                .then(|| u32::try_from(s.dimension).ok())
                .flatten(),
        };
        let started = Instant::now();
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let remaining = give_up_at.saturating_duration_since(Instant::now());
            let limit = s.request_timeout.min(remaining);
            let embeddings = self.client.embeddings();
            let sent = embeddings.create(request.clone());
            let failure = match tokio::time::timeout(limit, sent).await {
                Ok(Ok(response)) => {
                    return validate(response, batch.len(), s.dimension, &s.model)
                        .map_err(EmbedError::Permanent);
                }
                Ok(Err(error)) => classify(error),
                Err(_) => Failure::Transient {
                    reason: format!("no answer within {} ms", limit.as_millis()),
                    retry_after: None,
                },
            };
            let (reason, retry_after) = match failure {
                Failure::Permanent(reason) => {
                    return Err(EmbedError::Permanent(format!(
                        "OpenAI embeddings ({}): {reason}",
                        s.model
                    )));
                }
                Failure::Rejected(reason) => {
                    return Err(EmbedError::Rejected(format!(
                        "OpenAI embeddings ({}): {reason}",
                        s.model
                    )));
                }
                Failure::Transient {
                    reason,
                    retry_after,
                } => (reason, retry_after),
            };
            let backoff = backoff_delay(
                attempts,
                s.initial_backoff,
                s.max_backoff,
                rand::random::<f64>(),
            );
            let delay = backoff.max(retry_after.unwrap_or_default());
            if attempts >= max_attempts || Instant::now() + delay >= give_up_at {
                return Err(EmbedError::Transient(format!(
                    "OpenAI embeddings ({}): {reason}; gave up after {attempts} attempt(s) in {} ms",
                    s.model,
                    started.elapsed().as_millis(),
                )));
            }
            tracing::warn!(
                model = %s.model,
                attempt = attempts,
                delay_ms = delay.as_millis() as u64,
                error = %reason,
                "embedding request failed, retrying"
            );
            tokio::time::sleep(delay).await;
        }
    }
}

impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &str {
        &self.settings.model
    }

    fn dimension(&self) -> usize {
        self.settings.dimension
    }

    fn embed<'a>(
        &'a self,
        texts: &'a [String],
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(self.embed_all(texts, None))
    }

    fn embed_within<'a>(
        &'a self,
        texts: &'a [String],
        budget: Budget,
    ) -> BoxFuture<'a, Result<Vec<Vec<f32>>, EmbedError>> {
        Box::pin(self.embed_all(texts, Some(budget)))
    }
}

/// What one failed attempt means for the next.
#[derive(Debug, PartialEq)]
enum Failure {
    /// Another request fails the same way (a bad key, an unknown model).
    Permanent(String),
    /// This input is refused (too long, malformed); others may pass.
    Rejected(String),
    Transient {
        reason: String,
        retry_after: Option<Duration>,
    },
}

/// Sorts an async-openai error into retry-worthy or not.
fn classify(error: OpenAIError) -> Failure {
    match error {
        OpenAIError::Boxed(boxed) => match boxed.downcast::<HttpStatusError>() {
            Ok(status) => classify_status(&status),
            Err(other) => Failure::Permanent(other.to_string()),
        },
        // Not expected (StatusTransport answers every non-2xx first), but sorted the same way.
        OpenAIError::ApiError(api) => classify_status(&HttpStatusError {
            status: api.status_code.as_u16(),
            retry_after: None,
            kind: api.api_error.r#type.clone().or(api.api_error.code.clone()),
            message: api.api_error.message.clone(),
        }),
        // Building the request failed (bad URL, bad header): sending it again changes nothing.
        OpenAIError::Reqwest(e) if e.is_builder() => {
            Failure::Permanent(format!("cannot build the request: {e}"))
        }
        // Connect, timeout, reset, truncated body: the network, not the request.
        OpenAIError::Reqwest(e) => Failure::Transient {
            reason: format!("transport error: {}", error_chain(&e)),
            retry_after: None,
        },
        OpenAIError::JSONDeserialize(e, body) => {
            Failure::Permanent(format!("malformed response body ({e}): {}", excerpt(&body)))
        }
        other => Failure::Permanent(other.to_string()),
    }
}

fn classify_status(status: &HttpStatusError) -> Failure {
    let quota = status.kind.as_deref() == Some("insufficient_quota");
    let transient =
        (status.status == 429 && !quota) || status.status == 408 || status.status >= 500;
    if transient {
        Failure::Transient {
            reason: status.to_string(),
            retry_after: status.retry_after,
        }
    } else if matches!(status.status, 400 | 413 | 422) {
        Failure::Rejected(status.to_string())
    } else {
        Failure::Permanent(status.to_string())
    }
}

/// `e` and its sources, so "error sending request" says why (connection refused, ...).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Checks a response against the request and returns its vectors in input order, normalised.
fn validate(
    response: CreateEmbeddingResponse,
    expected: usize,
    dimension: usize,
    model: &str,
) -> Result<Vec<Vec<f32>>, String> {
    let context = format!("OpenAI embeddings ({model})");
    if response.data.len() != expected {
        return Err(format!(
            "{context}: expected {expected} embeddings, got {}",
            response.data.len()
        ));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; expected];
    for item in response.data {
        let index = item.index as usize;
        let Some(slot) = slots.get_mut(index) else {
            return Err(format!(
                "{context}: embedding index {index} is out of range for {expected} inputs"
            ));
        };
        if slot.is_some() {
            return Err(format!("{context}: embedding index {index} appears twice"));
        }
        let mut vector = item.embedding;
        if vector.len() != dimension {
            return Err(format!(
                "{context}: embedding {index} has the wrong dimension: expected {dimension}, got {}",
                vector.len()
            ));
        }
        normalise(&mut vector).map_err(|e| format!("{context}: embedding {index}: {e}"))?;
        *slot = Some(vector);
    }
    // Count equal and indices unique and in range: every slot is filled.
    Ok(slots.into_iter().flatten().collect())
}

/// Splits `texts` into consecutive ranges of at most `max_items` texts and `max_bytes` bytes
/// (a text larger than `max_bytes` gets a range of its own).
fn plan_batches(texts: &[String], max_items: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, text) in texts.iter().enumerate() {
        let full = i - start == max_items || (i > start && bytes + text.len() > max_bytes);
        if full {
            batches.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += text.len();
    }
    if start < texts.len() {
        batches.push(start..texts.len());
    }
    batches
}

/// Delay before retry number `retry` (1-based): "equal jitter" exponential backoff. The cap
/// doubles from `initial` up to `max`; the delay is half the cap plus a random share
/// (`jitter` in [0, 1)) of the other half, so clients that failed together spread out while
/// each still waits at least half the cap.
fn backoff_delay(retry: u32, initial: Duration, max: Duration, jitter: f64) -> Duration {
    let doublings = retry.saturating_sub(1).min(30);
    let cap = initial.saturating_mul(1u32 << doublings).min(max);
    let half = cap / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests;

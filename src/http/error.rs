//! One error type for every failed request, rendered as
//! `{"error": {"code", "message", "field"}}` (plus `correlation_id` on 500s).
//!
//! Domain errors map here and nowhere else, so a status code means the same
//! thing on every route.

use std::fmt;

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;

use super::request_id;
use crate::accounts::AccountError;
use crate::memory::MemoryError;
use crate::subscriptions::SubscriptionError;
use crate::xrpl::XrplError;

/// Seconds a client should wait before retrying when the database is unreachable.
pub const DB_RETRY_AFTER_SECS: u64 = 2;

/// Seconds a client should wait before retrying when the embedding provider failed.
pub const EMBEDDING_RETRY_AFTER_SECS: u64 = 5;

/// A failed request: status, stable machine-readable code, human message, and the
/// offending field when one is known.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Set on 500s: the id logged with the cause, repeated to the client.
    pub correlation_id: Option<String>,
    /// Extra response headers (`Retry-After`, `WWW-Authenticate`, `Allow`).
    pub headers: Vec<(HeaderName, String)>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            correlation_id: None,
            headers: Vec::new(),
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// 400 `invalid`: a value failed validation.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid", message).with_field(field)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
            .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"mnemo\"")
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests for this token; retry in {retry_after_secs} s"),
        )
        .with_header(header::RETRY_AFTER, retry_after_secs.to_string())
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn timeout(after: std::time::Duration) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            format!(
                "the request did not complete within {} s",
                after.as_secs_f64()
            ),
        )
        .with_header(header::RETRY_AFTER, "1")
    }

    pub fn database_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "the database is not reachable right now; retry later",
        )
        .with_header(header::RETRY_AFTER, DB_RETRY_AFTER_SECS.to_string())
    }

    /// 500 with a correlation id. The cause is logged with that id and never sent
    /// to the client (it may name tables, hosts or values). The id is the request's
    /// `x-request-id`, so the client, the access log and this line all agree.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        let id = request_id::current().unwrap_or_else(request_id::generate);
        tracing::error!(correlation_id = %id, error = %cause, "internal error");
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error; quote correlation id {id} when reporting it"),
        );
        e.correlation_id = Some(id);
        e
    }

    /// Map a database error: connection trouble is 503 (retryable), anything else 500.
    pub fn from_sqlx(err: &sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = err {
            // Defence in depth: input is validated before it reaches the database,
            // but a value a column still refuses is the caller's fault, not ours.
            match db.code().as_deref() {
                Some("22001") => {
                    return Self::new(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "a value is longer than its column allows",
                    );
                }
                // Postgres refuses NUL in text (22021) and `\u0000` in jsonb (22P05).
                Some("22021" | "22P05") => {
                    return Self::new(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "a value contains a character the database cannot store (NUL)",
                    );
                }
                // A CHECK constraint: Postgres 23514, SQLite SQLITE_CONSTRAINT_CHECK (275).
                Some("23514" | "275") => {
                    return Self::new(
                        StatusCode::BAD_REQUEST,
                        "invalid",
                        "a value is outside its allowed range",
                    );
                }
                _ => {}
            }
        }
        if is_unavailable(err) {
            tracing::warn!(error = %err, "database unavailable");
            Self::database_unavailable()
        } else {
            Self::internal(err)
        }
    }
}

/// Whether a database error means "cannot reach / cannot get a connection now"
/// rather than a bug or bad data.
fn is_unavailable(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // Postgres: connection exceptions (08xxx), shutting down or starting up
            // (57P01-57P03), too many connections (53300).
            Some(code) if code.starts_with("08") => true,
            Some("57P01" | "57P02" | "57P03" | "53300") => true,
            // SQLite: SQLITE_BUSY / SQLITE_LOCKED after the busy timeout, i.e. another
            // process held the write lock too long.
            Some("5" | "6" | "261" | "262" | "517") => true,
            _ => false,
        },
        _ => false,
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut builder = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                builder.insert_header((name.clone(), v));
            }
        }
        builder.json(self.envelope())
    }
}

impl ApiError {
    fn envelope(&self) -> Envelope<'_> {
        Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
                correlation_id: self.correlation_id.as_deref(),
            },
        }
    }

    /// The JSON body this error is sent with (what an idempotency key keeps).
    pub fn body_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.envelope())
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Invalid { field, message } => ApiError::invalid(field, message),
            AccountError::Duplicate { field, .. } => {
                let message = e.to_string();
                ApiError::new(StatusCode::CONFLICT, "duplicate", message).with_field(field)
            }
            AccountError::NotFound(what) => ApiError::not_found(what),
            AccountError::Database(db) => ApiError::from_sqlx(&db),
        }
    }
}

impl From<SubscriptionError> for ApiError {
    fn from(e: SubscriptionError) -> Self {
        let message = e.to_string();
        match e {
            SubscriptionError::Replayed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "tx_hash_replayed", message)
                    .with_field("tx_hash")
            }
            SubscriptionError::UnknownPlan(_) => {
                ApiError::new(StatusCode::BAD_REQUEST, "unknown_plan", message)
                    .with_field("plan_key")
            }
            SubscriptionError::Invalid { field, message } => ApiError::invalid(field, message),
            SubscriptionError::TrialAlreadyUsed(_) => {
                ApiError::new(StatusCode::CONFLICT, "trial_already_used", message)
            }
            SubscriptionError::Database(db) => ApiError::from_sqlx(&db),
        }
    }
}

impl From<XrplError> for ApiError {
    fn from(e: XrplError) -> Self {
        let message = e.to_string();
        let conflict = |code| ApiError::new(StatusCode::CONFLICT, code, message.clone());
        let missing = |field: &str| {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", message.clone()).with_field(field)
        };
        match e {
            XrplError::Invalid { field, message } => ApiError::invalid(field, message),
            XrplError::UnknownCurrency(_) => missing("currency_code"),
            XrplError::UnknownItemType { field, .. } => missing(field),
            XrplError::NftNotFound(_) => missing("nftoken_id"),
            XrplError::NoOpenSession { .. } => missing("character_key"),
            XrplError::InsufficientFunds { field, .. } => {
                conflict("insufficient_balance").with_field(field)
            }
            XrplError::AlreadyProcessed { .. } => {
                conflict("tx_hash_replayed").with_field("tx_hash")
            }
            XrplError::NftWrongState { .. } => conflict("nft_state_conflict").with_field("from"),
            XrplError::NftWrongHolder { field, .. } => {
                conflict("nft_state_conflict").with_field(field)
            }
            XrplError::InvalidTransition { .. } => ApiError::invalid("to", message),
            XrplError::NoBlankTokens => conflict("no_blank_tokens"),
            XrplError::IdempotencyKeyReused { .. } => {
                conflict("idempotency_key_reused").with_field("Idempotency-Key")
            }
            e @ (XrplError::Corrupt(_) | XrplError::Encode(_)) => ApiError::internal(&e),
            XrplError::Database(db) => ApiError::from_sqlx(&db),
        }
    }
}

impl From<MemoryError> for ApiError {
    fn from(e: MemoryError) -> Self {
        match e {
            MemoryError::Invalid { field, message } => ApiError::invalid(field, message),
            MemoryError::NotFound(what) => ApiError::not_found(what),
            MemoryError::EmbeddingUnavailable(cause) => {
                tracing::warn!(error = %cause, "embedding provider unavailable");
                // An open breaker knows when it will let a call through again.
                let retry_after = cause.retry_after().map_or(EMBEDDING_RETRY_AFTER_SECS, |d| {
                    d.as_secs_f64().ceil() as u64
                });
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "embedding_unavailable",
                    format!("the embedding provider is unavailable; retry later ({cause})"),
                )
                .with_header(header::RETRY_AFTER, retry_after.max(1).to_string())
            }
            e @ MemoryError::ModelMismatch { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "model_mismatch",
                e.to_string(),
            ),
            e @ (MemoryError::CorruptVector { .. } | MemoryError::Unfilterable { .. }) => {
                ApiError::internal(&e)
            }
            MemoryError::Database(db) => ApiError::from_sqlx(&db),
        }
    }
}

/// The field serde names in a data error (`missing field `x``, `unknown field `x``,
/// `duplicate field `x``, and `invalid field `x`` from mnemo's own deserializers),
/// if any.
fn serde_field(message: &str) -> Option<String> {
    for prefix in [
        "missing field `",
        "unknown field `",
        "duplicate field `",
        "invalid field `",
    ] {
        if let Some(rest) = message.split(prefix).nth(1) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    None
}

/// Drop serde_json's " at line 1 column 12" suffix: the field says where.
fn trim_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at])
}

/// `JsonConfig::error_handler`: body parse failures as API errors.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest, limit: usize) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { .. } | JsonPayloadError::Overflow { .. } => {
            ApiError::payload_too_large(limit)
        }
        JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::payload_too_large(limit),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON (Content-Type: application/json)",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            let message = e.to_string();
            let mut out = ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid",
                trim_position(&message).to_owned(),
            );
            out.field = serde_field(&message);
            out
        }
        JsonPayloadError::Deserialize(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the request body is not valid JSON: {e}"),
        ),
        other => ApiError::new(StatusCode::BAD_REQUEST, "bad_request", other.to_string()),
    }
}

/// `QueryConfig::error_handler`.
pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> ApiError {
    let message = match &err {
        QueryPayloadError::Deserialize(e) => e.to_string(),
        other => other.to_string(),
    };
    let mut out = ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid",
        format!("bad query string: {message}"),
    );
    out.field = serde_field(&message);
    out
}

/// `PathConfig::error_handler`: every path parameter mnemo has is an id, so name
/// the parameter when the path has exactly one.
pub fn path_error(err: PathError, req: &HttpRequest) -> ApiError {
    let names: Vec<&str> = req.match_info().iter().map(|(name, _)| name).collect();
    let mut out = ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid",
        format!("bad path parameter: {err}"),
    );
    if let [name] = names.as_slice() {
        out.field = Some((*name).to_owned());
        out.message = format!("{name} must be an integer id");
    }
    out
}

/// Every error code the API returns, with its status: the table the spec documents.
pub const ERROR_CODES: &[(u16, &str)] = &[
    (400, "invalid"),
    (400, "malformed_json"),
    (400, "unknown_plan"),
    (400, "bad_request"),
    (401, "unauthorized"),
    (403, "forbidden"),
    (404, "not_found"),
    (404, "route_not_found"),
    (405, "method_not_allowed"),
    (409, "duplicate"),
    (409, "tx_hash_replayed"),
    (409, "trial_already_used"),
    (409, "insufficient_balance"),
    (409, "idempotency_key_reused"),
    (409, "nft_state_conflict"),
    (409, "no_blank_tokens"),
    (413, "payload_too_large"),
    (415, "unsupported_media_type"),
    (429, "rate_limited"),
    (500, "internal"),
    (503, "database_unavailable"),
    (503, "embedding_unavailable"),
    (503, "model_mismatch"),
    (503, "request_timeout"),
    (503, "not_ready"),
    (503, "migrations_pending"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_fields_are_found() {
        assert_eq!(
            serde_field("missing field `username` at line 1 column 2").as_deref(),
            Some("username")
        );
        assert_eq!(
            serde_field("unknown field `foo`, expected `after` or `limit`").as_deref(),
            Some("foo")
        );
        assert_eq!(serde_field("invalid type: string"), None);
        assert_eq!(
            serde_field("invalid field `mode`: must be vector, keyword or hybrid").as_deref(),
            Some("mode")
        );
        assert_eq!(trim_position("x at line 1 column 2"), "x");
    }

    #[test]
    fn pool_timeouts_are_unavailable_and_other_errors_internal() {
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        let e = ApiError::from_sqlx(&sqlx::Error::PoolTimedOut);
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(e.headers.iter().any(|(n, _)| n == header::RETRY_AFTER));
        let e = ApiError::from_sqlx(&sqlx::Error::RowNotFound);
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        let id = e.correlation_id.expect("correlation id");
        assert!(e.message.contains(&id));
    }
}

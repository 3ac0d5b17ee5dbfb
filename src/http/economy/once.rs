//! The one door every economy write goes through: the `Idempotency-Key`
//! header, the request's fingerprint, and the answer sent, kept or replayed
//! (see [`write_once`](crate::xrpl::write_once) for how the key and the write
//! commit together).
//!
//! A replayed answer is the first answer byte for byte, status included, with
//! `Idempotent-Replayed: true`. The fingerprint is the SHA-256 of the method,
//! the path and the canonical JSON of the parsed body, so the same request
//! sent with other whitespace or key order is the same request, and the same
//! key with another request is `409 idempotency_key_reused`.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpMessage as _, HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::super::AppState;
use super::super::auth::Principal;
use super::super::error::ApiError;
use crate::db::Tx;
use crate::xrpl::{self, IdempotencyKey, Once, StoredResponse, XrplError};

/// The request header carrying the key.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";
/// The response header marking a replayed answer.
pub const REPLAYED: &str = "Idempotent-Replayed";

/// A write answered with 201 Created.
pub(super) fn created<T>(_: &T) -> StatusCode {
    StatusCode::CREATED
}

/// A write answered with 200 OK.
pub(super) fn ok<T>(_: &T) -> StatusCode {
    StatusCode::OK
}

/// The request's key, when it sent one, bound to its token and fingerprint.
fn idempotency_key<B: Serialize>(
    req: &HttpRequest,
    body: &B,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = req.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::invalid(IDEMPOTENCY_KEY, "must be visible ASCII characters"))?;
    let owner = req
        .extensions()
        .get::<Principal>()
        .map(|p| p.token_id)
        .ok_or_else(|| ApiError::internal(&"an economy write ran without a principal"))?;
    let mut digest = Sha256::new();
    digest.update(req.method().as_str());
    digest.update(b"\n");
    digest.update(req.path());
    digest.update(b"\n");
    digest.update(serde_json::to_vec(body).map_err(|e| ApiError::internal(&e))?);
    let fingerprint = hex::encode(digest.finalize());
    Ok(Some(IdempotencyKey::new(owner, key, fingerprint)?))
}

/// Run `op` once per `Idempotency-Key` (every time without one) and answer:
/// its value as JSON with `status(&value)`, or its refusal as an API error.
pub(super) async fn once<B, T>(
    state: &AppState,
    req: &HttpRequest,
    body: &B,
    status: fn(&T) -> StatusCode,
    op: impl AsyncFnOnce(&mut Tx) -> Result<T, XrplError>,
) -> Result<HttpResponse, ApiError>
where
    B: Serialize,
    T: Serialize,
{
    let key = idempotency_key(req, body)?;
    let render = |outcome: Result<T, XrplError>| match outcome {
        Ok(value) => Ok(StoredResponse {
            status: status(&value).as_u16(),
            body: serde_json::to_string(&value)?,
        }),
        Err(refusal) => {
            let error = ApiError::from(refusal);
            Ok(StoredResponse {
                status: error.status.as_u16(),
                body: error.body_json()?,
            })
        }
    };
    let answered = xrpl::write_once(&state.db, key.as_ref(), op, render).await?;
    let (answer, replayed) = match answered {
        Once::Fresh(answer) => (answer, false),
        Once::Replayed(answer) => (answer, true),
    };
    let status = StatusCode::from_u16(answer.status).map_err(|e| ApiError::internal(&e))?;
    let mut response = HttpResponse::build(status);
    response.content_type(ContentType::json());
    if replayed {
        response.insert_header((REPLAYED, "true"));
    }
    Ok(response.body(answer.body))
}

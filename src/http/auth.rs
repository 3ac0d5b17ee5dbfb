//! Bearer-token authentication and scope checks.
//!
//! Tokens live hashed in the database ([`crate::accounts::tokens`]). A verified
//! token is cached in memory for `auth_cache_ttl` (default 5 s) so that a busy
//! client does not cost a database round trip per request; the price is that a
//! revoke (`mnemo token revoke`, possibly from another process) takes effect
//! within that bound, not instantly. Unknown tokens are never cached, so a token
//! created a moment ago works at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::header;

use super::error::ApiError;
use crate::accounts::tokens::{self, ApiToken, Scope};
use crate::db::Db;

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (`/healthz`, `/readyz`, `/openapi.yaml`).
    Open,
    /// Open unless `MNEMO_METRICS_TOKEN_REQUIRED=true`, then any valid token.
    Metrics,
    /// A token with this scope (or `admin`).
    Scope(Scope),
}

impl Access {
    /// The scopes the OpenAPI document must list for an endpoint with this access.
    pub fn spec_scopes(self) -> Vec<&'static str> {
        match self {
            Access::Open | Access::Metrics => Vec::new(),
            Access::Scope(s) => vec![s.name()],
        }
    }
}

/// The token a request was made with; handlers can take it as `web::ReqData<Principal>`.
#[derive(Debug, Clone)]
pub struct Principal {
    pub token_id: i64,
    pub token_name: String,
}

/// Verifies bearer tokens, with a short-lived cache of positive answers.
pub struct Authenticator {
    db: Db,
    ttl: Duration,
    /// Keyed by the token's SHA-256, so the process never holds raw tokens longer
    /// than one request.
    cache: Mutex<HashMap<String, (ApiToken, Instant)>>,
}

/// Past this many cached tokens the cache is simply emptied: there are few real
/// tokens, so only a flood of distinct valid tokens could reach it.
const CACHE_CAP: usize = 10_000;

impl Authenticator {
    pub fn new(db: Db, ttl: Duration) -> Self {
        Self {
            db,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The bearer token of a request, or why there is none usable.
    fn bearer(req: &HttpRequest) -> Result<&str, ApiError> {
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing bearer token"))?;
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        match value.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(token.trim()),
            _ => Err(ApiError::unauthorized(
                "the Authorization header must be `Bearer <token>`",
            )),
        }
    }

    /// The active token of `req`: 401 when missing, unknown or revoked.
    pub async fn authenticate(&self, req: &HttpRequest) -> Result<ApiToken, ApiError> {
        let presented = Self::bearer(req)?;
        let key = tokens::hash_token(presented);
        if let Some(token) = self.cached(&key) {
            return Ok(token);
        }
        let token = tokens::verify_token(&self.db, presented)
            .await
            .map_err(ApiError::from)?
            .ok_or_else(|| ApiError::unauthorized("invalid or revoked token"))?;
        self.remember(key, &token);
        Ok(token)
    }

    /// Authenticate and require `scope`: 403 when the token lacks it.
    pub async fn authorize(&self, req: &HttpRequest, scope: Scope) -> Result<ApiToken, ApiError> {
        let token = self.authenticate(req).await?;
        if !token.allows(scope) {
            return Err(ApiError::forbidden(format!(
                "this token lacks the {scope} scope"
            )));
        }
        Ok(token)
    }

    fn cached(&self, key: &str) -> Option<ApiToken> {
        if self.ttl.is_zero() {
            return None;
        }
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(token, _)| token.clone())
    }

    fn remember(&self, key: String, token: &ApiToken) {
        if self.ttl.is_zero() {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(key, (token.clone(), Instant::now()));
    }
}

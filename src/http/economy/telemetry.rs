//! Telemetry: the hourly snapshot (taking it, idempotent per hour; reading
//! economy and per-currency snapshots over a time range) and play sessions
//! (start, end, end every open one at server boot, list).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::once::{created, ok, once};
use super::{bool_param, time_param};
use crate::accounts::page;
use crate::db::now_micros;
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::params::{after_and_limit, int_param};
use crate::xrpl::{self, SessionFilter, SessionKey, SnapshotFilter, Snapshots};

/// 201 for the hour's first snapshot, 200 when it already had one.
fn taken(s: &Snapshots) -> StatusCode {
    if s.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    }
}

/// `POST /v1/economy/snapshots`: the snapshot of the current hour.
pub(super) async fn take_snapshot(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let now = now_micros();
    once(&state, &req, &(), taken, async |tx| {
        xrpl::take_snapshot_in(tx, now).await
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SnapshotQuery {
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/economy/snapshots`: economy snapshots with `since <= hour < until`.
pub(super) async fn snapshots(
    state: web::Data<AppState>,
    query: web::Query<SnapshotQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (after, limit) = after_and_limit(q.after.as_deref(), q.limit.as_deref())?;
    let filter = SnapshotFilter {
        currency_code: None,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
    };
    let items = xrpl::economy_snapshots(&state.db, &filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |s| s.id)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ResourceQuery {
    currency_code: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/economy/snapshots/resources`: per-currency snapshots.
pub(super) async fn resources(
    state: web::Data<AppState>,
    query: web::Query<ResourceQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (after, limit) = after_and_limit(q.after.as_deref(), q.limit.as_deref())?;
    let filter = SnapshotFilter {
        currency_code: q.currency_code,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
    };
    let items = xrpl::resource_snapshots(&state.db, &filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |s| s.id)))
}

/// Body of a session start or end.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SessionBody {
    account_id: i64,
    character_key: String,
}

impl SessionBody {
    fn key(&self) -> SessionKey {
        SessionKey {
            account_id: self.account_id,
            character_key: self.character_key.clone(),
        }
    }
}

/// `POST /v1/economy/sessions`: a character was puppeted.
pub(super) async fn start_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SessionBody>,
) -> Result<HttpResponse, ApiError> {
    let key = body.key();
    once(&state, &req, &*body, created, async |tx| {
        xrpl::start_session_in(tx, &key).await
    })
    .await
}

/// `POST /v1/economy/sessions/end`: the newest open session of the account
/// and character ends; 404 when it has none.
pub(super) async fn end_session(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<SessionBody>,
) -> Result<HttpResponse, ApiError> {
    let key = body.key();
    once(&state, &req, &*body, ok, async |tx| {
        xrpl::end_session_in(tx, &key).await
    })
    .await
}

#[derive(Serialize)]
struct Ended {
    ended: u64,
}

/// `POST /v1/economy/sessions/end-all`: crash recovery at server boot.
pub(super) async fn end_all_sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    once(&state, &req, &(), ok, async |tx| {
        let ended = xrpl::end_open_sessions_in(tx).await?;
        Ok(Ended { ended })
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct SessionQuery {
    account_id: Option<String>,
    open: Option<String>,
    since: Option<String>,
    until: Option<String>,
    after: Option<String>,
    limit: Option<String>,
}

/// `GET /v1/economy/sessions`: by account, open or ended, start time range.
pub(super) async fn sessions(
    state: web::Data<AppState>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let (after, limit) = after_and_limit(q.after.as_deref(), q.limit.as_deref())?;
    let filter = SessionFilter {
        account_id: int_param("account_id", q.account_id.as_deref())?,
        open: bool_param("open", q.open.as_deref())?,
        since: time_param("since", q.since.as_deref())?,
        until: time_param("until", q.until.as_deref())?,
    };
    let items = xrpl::player_sessions(&state.db, &filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(page(items, limit, |s| s.id)))
}

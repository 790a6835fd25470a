//! The JSON API (described in docs/openapi.yaml). Reads go through the
//! client's listing and counting operations, whose cost per request does
//! not grow with the number of jobs; actions through the client's
//! conditional transitions.
//!
//! This file holds the route table, the limits docs/openapi.yaml names and
//! the API's error answers; each resource's handlers and JSON shapes have a
//! file of their own (`jobs.rs`, `bulk.rs`, `queues.rs`, ...), and
//! `input.rs` reads request bodies and bounded numbers.

use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};

use crate::{Admin, ApiError};

pub(crate) mod batches;
mod bulk;
mod input;
pub(crate) mod jobs;
pub(crate) mod keys;
pub(crate) mod logs;
pub(crate) mod queues;
pub(crate) mod recurring;
pub(crate) mod stats;
pub(crate) mod tags;
pub(crate) mod workers;

pub use batches::{BatchJobsQuery, BatchPage, BatchesQuery};
pub use bulk::{BulkBody, BulkResult, Refused};
pub use input::Body;
pub use jobs::{Done, JobPage, JobRow, ListParams, RescheduleBody, Rescheduled};
pub use keys::{KeyJson, KeyQuery};
pub use logs::{LogLineJson, LogsJson};
pub use queues::{MessagesBody, Moved, QueueRow, Resumed};
pub use recurring::{LastStartedJson, RecurringDone, RecurringRow};
pub use stats::{KindMetrics, Point, Stats};

/// Most jobs on one page of a listing.
pub const MAX_PAGE: usize = 200;
/// Most ids in one bulk request.
pub const MAX_BULK_IDS: usize = 100;
/// Most jobs one whole-state bulk request acts on (call again for more).
pub const MAX_BULK_STATE: usize = 1000;
/// Most batches one listing shows.
pub const MAX_BATCHES: usize = 100;
/// Most waiting jobs one answer about a key shows.
pub const MAX_KEY_PAGE: usize = 100;
/// The longest delay a reschedule takes: 100 years, in seconds.
pub const MAX_DELAY_SECONDS: u64 = 100 * 31_557_600;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Every API route: method, path and handler. The router is built from
/// this table, and a test holds it against docs/openapi.yaml.
fn table() -> Vec<(&'static str, &'static str, MethodRouter<Admin>)> {
    vec![
        ("GET", "/api/stats", get(stats::stats)),
        ("GET", "/api/metrics", get(stats::metrics)),
        ("GET", "/api/workers", get(workers::workers)),
        ("GET", "/api/jobs", get(jobs::list)),
        ("POST", "/api/jobs/bulk", post(bulk::bulk)),
        ("GET", "/api/jobs/{id}", get(jobs::job)),
        ("GET", "/api/jobs/{id}/logs", get(logs::logs)),
        ("POST", "/api/jobs/{id}/requeue", post(jobs::requeue)),
        ("POST", "/api/jobs/{id}/delete", post(jobs::delete)),
        ("POST", "/api/jobs/{id}/reschedule", post(jobs::reschedule)),
        ("GET", "/api/recurring", get(recurring::recurring)),
        (
            "POST",
            "/api/recurring/{id}/{action}",
            post(recurring::recurring_action),
        ),
        ("GET", "/api/keys/{key}", get(keys::key)),
        ("GET", "/api/tags/{tag}", get(tags::tag)),
        ("GET", "/api/batches", get(batches::batches)),
        ("GET", "/api/batches/{id}", get(batches::batch)),
        ("GET", "/api/queues", get(queues::queues)),
        ("POST", "/api/queues/{name}/pause", post(queues::pause)),
        ("POST", "/api/queues/{name}/resume", post(queues::resume)),
        (
            "GET",
            "/api/queues/{name}/dead-letters",
            get(queues::dead_letters),
        ),
        ("POST", "/api/queues/{name}/redrive", post(queues::redrive)),
        (
            "POST",
            "/api/queues/{name}/dead-letters/delete",
            post(queues::delete_dead_letters),
        ),
    ]
}

/// The API's routes, as (method, path template).
pub fn route_list() -> Vec<(String, String)> {
    table()
        .into_iter()
        .map(|(m, p, _)| (m.to_owned(), p.to_owned()))
        .collect()
}

pub(crate) fn routes() -> Router<Admin> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (method, path, handler)| {
            let handler = handler
                .route_layer(axum::middleware::from_fn(crate::guard::action_guard))
                .fallback(move |other: Method| async move {
                    ApiError {
                        status: StatusCode::METHOD_NOT_ALLOWED,
                        message: format!("this path does not take {other}; it takes {method}"),
                    }
                });
            router.route(path, handler)
        })
        .layer(axum::middleware::from_fn(json_errors))
}

/// Every error the API answers is `{"error": "..."}`: the ones axum makes
/// itself (a query string or path that does not parse, a body over the
/// size limit) are plain text, rewritten here with their status and
/// headers.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = match text.is_empty() {
        true => status.canonical_reason().unwrap_or("error").to_owned(),
        false => text,
    };
    let json = ApiError { status, message }.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, json.into_body())
}

//! The dashboard: HTML rendered here with maud, which escapes every value
//! it prints (job arguments and error messages are user data), plus a
//! little plain JavaScript for local times, actions and auto-refresh.
//! State-changing actions are POSTs to the JSON API, confirmed first,
//! carrying the session token from the page.
//!
//! This file holds the routes and the answers for errors and unknown
//! paths; `layout.rs` the frame every page shares (style, script, header)
//! and its small pieces; each view has a file of its own.

use axum::Router;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use maud::{Markup, html};

use crate::{Admin, ApiError};

mod batches;
mod job;
mod jobs;
mod keys;
mod layout;
mod metrics;
mod overview;
mod queues;
mod recurring;
mod tags;
mod workers;

use layout::layout;

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/", get(overview::overview))
        .route("/jobs/{state}", get(jobs::state_page))
        .route("/job/{id}", get(job::job_page))
        .route("/search", get(job::search))
        .route("/recurring", get(recurring::recurring_page))
        .route("/queues", get(queues::queues_page))
        .route("/metrics", get(metrics::metrics_page))
        .route("/workers", get(workers::workers_page))
        .route("/queues/{name}", get(queues::queue_page))
        .route("/keys/{key}", get(keys::key_page))
        .route("/tags/{tag}", get(tags::tag_jobs))
        .route("/batches", get(batches::batches_page))
        .route("/batches/{id}", get(batches::batch_page))
}

/// A page for an error: the status and what went wrong, escaped.
fn error_page(admin: &Admin, e: ApiError) -> Response {
    let status = e.status;
    let body = layout(
        admin,
        "Error",
        None,
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.err { (e.message) }
        },
    );
    (status, Html(body.into_string())).into_response()
}

/// Any other path: a JSON 404 under `/api/`, else an error page, both
/// naming the path.
pub(crate) async fn not_found(
    admin: Admin,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
    let path = uri.path();
    let status = axum::http::StatusCode::NOT_FOUND;
    if path.starts_with("/api/") {
        let message =
            format!("no route {method} {path} (the API's routes are in docs/openapi.yaml)");
        ApiError { status, message }.into_response()
    } else {
        let message = format!("no page at {path}");
        error_page(&admin, ApiError { status, message })
    }
}

fn render(admin: &Admin, result: Result<Markup, ApiError>) -> Response {
    match result {
        Ok(m) => Html(m.into_string()).into_response(),
        Err(e) => error_page(admin, e),
    }
}

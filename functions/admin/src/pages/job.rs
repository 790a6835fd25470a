//! A job's page (`/job/{id}`): its fields, limits, arguments, last error
//! and history, with its actions; and the search box that leads to it.

use axum::extract::{Path, Query};
use axum::response::{IntoResponse, Redirect, Response};
use hangar::State as JobState;
use hangar::logs::LogPage;
use maud::{Markup, html};
use serde::Deserialize;

use super::keys::path_segment;
use super::layout::{layout, state_badge, time};
use super::{error_page, render};
use crate::api::jobs::parse_id;
use crate::{Admin, ApiError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JobQuery {
    /// Where the log lines shown start (a page's cursor).
    logs: Option<String>,
}

pub(super) async fn job_page(
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<JobQuery>,
) -> Response {
    let result = async {
        let id = parse_id(&id)?;
        let job = admin
            .client
            .get(&id)
            .await?
            .ok_or(hangar::Error::NotFound { id: id.clone() })?;
        // A job waiting for its time or its parent has no lines yet: no
        // request for them. (One Enqueued may: parked, put back.)
        let waiting = job.attempt == 0
            && matches!(job.state, JobState::Scheduled | JobState::Awaiting);
        let logs = match !waiting || q.logs.is_some() {
            true => Some(crate::api::logs::page(&admin, &job, q.logs.as_deref()).await),
            false => None,
        };
        let args = serde_json::to_string_pretty(&job.args).unwrap_or_default();
        let result = job
            .result
            .as_ref()
            .map(|r| serde_json::to_string_pretty(r).unwrap_or_default());
        let last_failure = job
            .history
            .iter()
            .rev()
            .find(|h| h.data.contains_key("error_message"));
        let writable = !admin.options.read_only;
        let api = format!("/api/jobs/{}", job.id);
        Ok(layout(&admin, job.id.as_str(), None, html! {
            h1 { "Job " (job.id.as_str()) " " (state_badge(job.state.as_str())) }
            @if writable {
                p {
                    button data-post={ (api) "/requeue" } data-confirm="Run this job again now?" { @if job.state == JobState::Scheduled { "Enqueue now" } @else { "Requeue" } }
                    " "
                    button data-post={ (api) "/reschedule" } data-delay="1" { "Reschedule…" }
                    " "
                    button.danger data-post={ (api) "/delete" } data-confirm="Delete this job?" { "Delete" }
                }
            }
            table {
                tr { th { "Kind" } td { (job.kind) } }
                tr { th { "Queue" } td { (job.options.queue) } }
                tr { th { "Attempt" } td { (job.attempt) " of " (job.options.retry.attempts.saturating_add(1)) } }
                tr { th { "Timeout" } td { (job.options.timeout.as_secs()) " s per run" } }
                @if job.state == JobState::Processing || job.progress.is_some() {
                    tr data-live-job=[(job.state == JobState::Processing).then_some(job.id.as_str())] {
                        th { "Progress" }
                        td.progress {
                            progress max="1" value=(job.progress.as_ref().map_or(0.0, |p| p.fraction)) {}
                            " "
                            span.said {
                                @if let Some(p) = &job.progress {
                                    ((p.fraction * 100.0).round()) "% " (p.message)
                                } @else { "not reported" }
                            }
                        }
                    }
                }
                @if !job.tags.is_empty() {
                    tr { th { "Tags" } td.tags {
                        @for t in &job.tags { a.tag href={ "/tags/" (path_segment(t)) } { (t) } " " }
                    } }
                }
                @if let Some(trace) = &job.trace {
                    tr { th { "Trace" } td { code.trace { (trace.as_str()) } " (its runs' spans link to it)" } }
                }
                @if !job.params.is_empty() {
                    tr { th { "Parameters" } td {
                        @for (name, value) in &job.params { code { (name) } " = " (value) br; }
                    } }
                }
                @if let Some(c) = &job.options.concurrency { tr { th { "Concurrency" } td { "at most " (c.limit) " at once, key " a href={ "/keys/" (path_segment(&c.key)) } { code { (c.key) } } } } }
                @if let (Some(key), Some(seq)) = (&job.options.ordered, job.sequence) {
                    tr { th { "Ordered" } td { "number " (seq) " of key " a href={ "/keys/" (path_segment(key)) } { code { (key) } } "; runs after the ones before it" } }
                }
                @if let Some(key) = &job.waiting_for {
                    tr { th { "Waiting" } td { "for a slot of concurrency key " code { (key) } "; woken when a run of the key ends" } }
                }
                @if let Some(r) = &job.options.rate { tr { th { "Rate limit" } td { (r.limit) " starts per " (r.per().as_secs_f64()) " s, key " code { (r.key) } } } }
                @if let Some(key) = job.history.first().and_then(|h| h.data.get("unique")) {
                    tr { th { "Unique" } td { "key " code { (key) } "; a creation with it returns this job while the job holds it" } }
                }
                @if let Some(key) = job.history.first().and_then(|h| h.data.get("debounce")) {
                    tr { th { "Debounced" } td { "key " code { (key) } "; a creation with it before the job starts replaces its arguments and pushes its start" } }
                }
                @if let Some(d) = job.options.start_within { tr { th { "Start within" } td { (d.as_secs()) " s of being enqueued or due, else given up" } } }
                tr { th { "Created" } td { (time(job.created_at)) } }
                tr { th { "Updated" } td { (time(job.updated_at)) } }
                @if let Some(t) = job.run_at { tr { th { "Due" } td { (time(t)) } } }
                @if let Some(t) = job.expires_at { tr { th { "Expires" } td { (time(t)) } } }
                @if let Some(t) = job.parked_at { tr { th { "Parked" } td { "since " (time(t)) " — its queue " a href="/queues" { (job.options.queue) } " is paused; it runs after the resume" } } }
                @if let Some(b) = &job.batch {
                    tr { th { "Batch" } td { a href={ "/batches/" (b.as_str()) } { (b.as_str()) } } }
                }
                @if let Some(p) = &job.parent {
                    @if p.batch {
                        tr { th { "Parent" } td { "batch " a href={ "/batches/" (p.id.as_str()) } { (p.id.as_str()) } } }
                    } @else {
                        tr { th { "Parent" } td { a href={ "/job/" (p.id.as_str()) } { (p.id.as_str()) } } }
                    }
                }
                @if !job.continuations.is_empty() {
                    tr { th { "Continuations" } td {
                        @for c in &job.continuations { a href={ "/job/" (c.id.as_str()) } { (c.id.as_str()) } " " }
                    } }
                }
            }
            h2 { "Arguments" }
            pre { (args) }
            @if let Some(result) = &result {
                h2 { "Result" }
                pre.result { (result) }
            }
            @if let Some(h) = last_failure {
                h2 { "Error" }
                p.err { strong { (h.data.get("error_type").map(String::as_str).unwrap_or("")) } ": " (h.data.get("error_message").map(String::as_str).unwrap_or("")) }
                @if let Some(d) = h.data.get("error_detail") { pre.err { (d) } }
            }
            h2 #logs { "Log lines" }
            (log_lines(&job, logs))
            h2 { "History" }
            ol.timeline {
                @for h in job.history.iter().rev() {
                    li {
                        (state_badge(h.state.as_str())) " " (time(h.at))
                        @if let Some(r) = &h.reason { div { (r) } }
                        @for (k, v) in &h.data {
                            @if k != "error_detail" { div.muted { (k) ": " (v) } }
                        }
                    }
                }
            }
        }))
    }
    .await;
    render(&admin, result)
}

/// The lines the job's runs logged, oldest first, with a link to the
/// next page.
fn log_lines(job: &hangar::JobRecord, logs: Option<Result<LogPage, ApiError>>) -> Markup {
    let page = match logs {
        None => return html! { p.muted.logs { "None yet: the job has not run." } },
        Some(Err(e)) => {
            return html! { p.err.logs { "The log lines could not be read: " (e.message) } };
        }
        Some(Ok(page)) => page,
    };
    html! {
        @if !page.group_found {
            p.muted.logs { "The worker's log group " code { (page.group) } " does not exist yet: no run has logged." }
        } @else if page.lines.is_empty() && page.cursor.is_some() {
            p.muted.logs { "None found yet: the search of " code { (page.group) } " stopped part way through the window." }
        } @else if page.lines.is_empty() {
            p.muted.logs { "No lines in " code { (page.group) } " from " (time(page.from)) " to " (time(page.to)) "." }
        } @else {
            table.logs {
                tr { th { "Time" } th { "Run" } th { "Level" } th { "Line" } }
                @for l in &page.lines {
                    tr {
                        td { (time(l.at)) }
                        td { @if let Some(a) = l.attempt { (a) } }
                        td class={ "level " (l.level) } { (l.level) }
                        td.line {
                            (l.message)
                            @for (k, v) in &l.fields { " " span.field { (k) "=" (v) } }
                        }
                    }
                }
            }
        }
        @if let Some(next) = &page.cursor {
            p { a.more href={ "/job/" (path_segment(job.id.as_str())) "?logs=" (path_segment(next)) "#logs" } { "Later lines…" } }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct SearchParams {
    id: Option<String>,
}

/// The search box: a job's id opens its page; a tag that is no job's id
/// opens the tag's page.
pub(super) async fn search(admin: Admin, Query(p): Query<SearchParams>) -> Response {
    let text = p.id.unwrap_or_default();
    let text = text.trim();
    let tag_page = Redirect::to(&format!("/tags/{}", path_segment(text))).into_response();
    match parse_id(text) {
        Ok(id) => match admin.client.get(&id).await {
            Ok(None) if hangar::job::validate_tag(text).is_ok() => tag_page,
            _ => Redirect::to(&format!("/job/{id}")).into_response(),
        },
        Err(_) if hangar::job::validate_tag(text).is_ok() => tag_page,
        Err(e) => error_page(&admin, e),
    }
}

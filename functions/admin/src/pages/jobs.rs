//! A state's page (`/jobs/{state}`): its jobs, filtered by queue, kind,
//! time and a search of what they carry, a page at a time, with bulk
//! requeue and delete.

use axum::extract::{Path, Query};
use axum::response::Response;
use hangar::{JobRecord, ListQuery};
use maud::{Markup, html};
use serde::Deserialize;

use super::keys::path_segment;
use super::layout::{layout, state_badge, time};
use super::render;
use crate::Admin;
use crate::api::jobs::{ListParams, page, parse_state};

#[derive(Deserialize)]
pub(super) struct StatePageParams {
    queue: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    /// `1`: only the Scheduled jobs that are retries.
    retries: Option<String>,
    cursor: Option<String>,
}

pub(super) async fn state_page(
    admin: Admin,
    Path(state): Path<String>,
    Query(p): Query<StatePageParams>,
) -> Response {
    let result = async {
        let st = parse_state(&state)?;
        let params = ListParams {
            state: Some(state.clone()),
            queue: p.queue.clone(),
            kind: p.kind.clone(),
            since: p.since.clone(),
            until: p.until.clone(),
            q: p.q.clone(),
            retries: Some(p.retries.as_deref() == Some("1")),
            cursor: p.cursor.clone(),
            limit: Some(50),
        };
        let (query, listed, next) = page(&admin, &params).await?;
        let jobs = listed.jobs;
        let lower = st.as_str().to_ascii_lowercase();
        let writable = !admin.options.read_only;
        Ok(layout(&admin, st.as_str(), None, html! {
            @if query.retries {
                h1 { "Retries" }
                p.muted { "Scheduled jobs waiting for another run after a failed one, with their last error." }
            } @else {
                h1 { (st.as_str()) " jobs" }
            }
            form method="get" {
                @if query.retries { input type="hidden" name="retries" value="1"; }
                input type="search" name="q" placeholder="search arguments, parameters, errors" size="32" value=(query.search.clone().unwrap_or_default());
                " "
                input name="queue" placeholder="queue" value=(query.queue.clone().unwrap_or_default());
                " "
                input name="kind" placeholder="kind" value=(query.kind.clone().unwrap_or_default());
                " "
                input name="since" placeholder="since (RFC 3339, UTC)" size="24" value=(query.since.map(|t| t.to_rfc3339()).unwrap_or_default());
                " "
                input name="until" placeholder="until (RFC 3339, UTC)" size="24" value=(query.until.map(|t| t.to_rfc3339()).unwrap_or_default());
                " " button type="submit" { "Filter" }
            }
            @if writable {
                p {
                    button data-post="/api/jobs/bulk" data-selected="1" data-body=r#"{"action":"requeue"}"# data-confirm="Requeue the selected jobs?" { "Requeue selected" }
                    " "
                    button.danger data-post="/api/jobs/bulk" data-selected="1" data-body=r#"{"action":"delete"}"# data-confirm="Delete the selected jobs?" { "Delete selected" }
                    " "
                }
                (bulk_panel(&query, st.as_str()))
            }
            @if let Some(text) = &query.search {
                p.searched {
                    (jobs.len()) " of " (listed.read) " jobs read contain “" (text) "”"
                    @if let Some(to) = listed.searched_to { ", searched to " (time(to)) }
                    @if next.is_some() { "; more to search on the next page" } @else { "; searched them all" }
                }
            }
            (job_table(&jobs))
            @if jobs.is_empty() { p.muted { "No jobs on this page." } }
            @if listed.keys_left_out {
                p.muted { "Jobs wait for more concurrency and ordering keys than this list reads; a key's page lists all of its waiting jobs." }
            }
            @if let Some(next) = next {
                p { a href={ "/jobs/" (lower) "?cursor=" (next) } { @if query.search.is_some() { "Search further →" } @else { "Next page →" } } }
            }
        }))
    }
    .await;
    render(&admin, result)
}

/// Requeue or delete every job the listing's filter matches, past this
/// page: the page's script steps through `POST /api/jobs/bulk` (100 jobs
/// a step, at most 100 a second), draws its progress, can stop, and keeps
/// the cursor so that a reload offers to resume.
fn bulk_panel(query: &ListQuery, state: &str) -> Markup {
    let filter = serde_json::json!({
        "state": state.to_ascii_lowercase(),
        "queue": query.queue,
        "kind": query.kind,
        "since": query.since.map(|t| t.to_rfc3339()),
        "until": query.until.map(|t| t.to_rfc3339()),
        "q": query.search,
        "retries": query.retries,
    });
    let any = query.filtered()
        || query.queue.is_some()
        || query.kind.is_some()
        || query.since.is_some()
        || query.until.is_some();
    let what = if any {
        format!("every {state} job this filter matches")
    } else {
        format!("every {state} job")
    };
    html! {
        div.bulk data-bulk=(filter.to_string()) data-state=(state) {
            button data-bulk-action="requeue" data-confirm={ "Requeue " (what) "?" } { "Requeue all matching" }
            " "
            button.danger data-bulk-action="delete" data-confirm={ "Delete " (what) "?" } { "Delete all matching" }
            " "
            button data-bulk-resume="1" hidden { "Resume" }
            " "
            button data-bulk-stop="1" hidden { "Stop" }
            div.bulk-progress hidden {
                progress max="1" {}
                " " span.said {}
            }
        }
    }
}

fn job_table(jobs: &[JobRecord]) -> Markup {
    html! {
        table {
            tr {
                th { input type="checkbox" data-all="1" aria-label="Select all"; }
                th { "Job" } th { "Kind" } th { "Queue" } th { "State" } th { "Attempt" } th { "Updated" } th { "Last error" }
            }
            @for j in jobs {
                tr {
                    td { input type="checkbox" name="id" value=(j.id.as_str()); }
                    td { a href={ "/job/" (j.id.as_str()) } { (j.id.as_str()) } }
                    td { (j.kind) }
                    td { (j.options.queue) }
                    td {
                        (state_badge(j.state.as_str()))
                        @if let Some(key) = &j.waiting_for {
                            " " span.waiting { "waiting for " a href={ "/keys/" (path_segment(key)) } { code { (key) } } }
                        }
                    }
                    td.num { (j.attempt) }
                    td { (time(j.updated_at)) }
                    td.err { (j.last_error.as_deref().unwrap_or("")) }
                }
            }
        }
    }
}

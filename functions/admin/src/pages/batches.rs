//! The batches' page (`/batches`) and a batch's page (`/batches/{id}`):
//! progress bars, counts, continuations and a page of its jobs.

use axum::extract::{Path, Query};
use axum::response::Response;
use hangar::{BatchRecord, ContinueOn};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{layout, state_badge, time};
use super::render;
use crate::{Admin, api};

/// A batch's progress as a bar: succeeded, failed, deleted and pending
/// shares of its jobs.
fn progress(b: &BatchRecord) -> Markup {
    let pct = |n: u64| n as f64 * 100.0 / b.total.max(1) as f64;
    html! {
        div.bar role="img" aria-label={ (b.succeeded) " succeeded, " (b.failed) " failed, " (b.deleted) " deleted, " (b.pending()) " pending of " (b.total) } {
            span.Succeeded style={ "width:" (pct(b.succeeded)) "%" } {}
            span.Failed style={ "width:" (pct(b.failed)) "%" } {}
            span.Deleted style={ "width:" (pct(b.deleted)) "%" } {}
        }
    }
}

pub(super) async fn batches_page(admin: Admin) -> Response {
    let result = async {
        let list = admin.client.batches(50).await?;
        Ok(layout(&admin, "Batches", Some(5), html! {
            h1 { "Batches" }
            table {
                tr { th { "Batch" } th { "Status" } th { "Progress" } th.num { "Jobs" } th.num { "Pending" } th.num { "Succeeded" } th.num { "Failed" } th.num { "Deleted" } th { "Created" } }
                @for b in &list {
                    tr {
                        td { a href={ "/batches/" (b.id.as_str()) } { (b.id.as_str()) } @if let Some(d) = &b.description { div.muted { (d) } } }
                        td { (b.status.as_str()) }
                        td { (progress(b)) }
                        td.num { (b.total) } td.num { (b.pending()) } td.num { (b.succeeded) } td.num { (b.failed) } td.num { (b.deleted) }
                        td { (time(b.created_at)) }
                    }
                }
            }
            @if list.is_empty() { p.muted { "No batch yet (create one with hangar batch create, the Rust client or a batch request)." } }
        }))
    }
    .await;
    render(&admin, result)
}

/// Which jobs of a batch the page lists.
#[derive(Debug, Deserialize)]
pub(super) struct BatchPageQuery {
    from: Option<u64>,
}

pub(super) async fn batch_page(
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<BatchPageQuery>,
) -> Response {
    let result = async {
        let (b, page) = api::batches::batch_page(&admin, &id, q.from, Some(100)).await?;
        let from = q.from.unwrap_or(1).max(1);
        Ok(layout(&admin, &format!("Batch {}", b.id), Some(5), html! {
            h1 { "Batch " (b.id.as_str()) " " (state_badge(b.status.as_str())) }
            @if let Some(d) = &b.description { p { (d) } }
            (progress(&b))
            table {
                tr { th { "Jobs" } td { (b.total) } }
                tr { th { "Pending" } td { (b.pending()) } }
                tr { th { "Succeeded" } td { (b.succeeded) } }
                tr { th { "Failed" } td { (b.failed) @if b.failed > 0 { span.muted { " — the batch waits until they are requeued or deleted" } } } }
                tr { th { "Deleted" } td { (b.deleted) } }
                tr { th { "Created" } td { (time(b.created_at)) } }
                @if let Some(t) = b.completed_at {
                    tr { th { "Completed" } td { (time(t)) @if b.all_succeeded == Some(true) { " — every job Succeeded" } @else { " — not every job Succeeded" } } }
                }
                @if let Some(t) = b.expires_at { tr { th { "Expires" } td { (time(t)) } } }
                @if !b.continuations.is_empty() {
                    tr { th { "Continuations" } td {
                        @for c in &b.continuations {
                            a href={ "/job/" (c.id.as_str()) } { (c.id.as_str()) }
                            @if c.on == ContinueOn::Succeeded { " (if every job Succeeded)" } @else { " (when every job finished)" }
                            br;
                        }
                    } }
                }
            }
            h2 { "Jobs " (from) " to " ((from + 99).min(b.total)) " of " (b.total) }
            table {
                tr { th { "Job" } th { "Kind" } th { "State" } th { "Attempt" } th { "Updated" } th { "Error" } }
                @for j in &page.jobs {
                    tr {
                        td { a href={ "/job/" (j.id) } { (j.id) } }
                        td { (j.kind) }
                        td { (state_badge(&j.state)) }
                        td.num { (j.attempt) }
                        td { (time(j.updated_at)) }
                        td.err { (j.last_error.as_deref().unwrap_or("")) }
                    }
                }
            }
            p {
                @if from > 1 { a href={ "/batches/" (b.id.as_str()) "?from=" (from.saturating_sub(100).max(1)) } { "← previous" } " " }
                @if let Some(next) = page.next { a href={ "/batches/" (b.id.as_str()) "?from=" (next) } { "next →" } }
            }
        }))
    }
    .await;
    render(&admin, result)
}

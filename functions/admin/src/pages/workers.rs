//! The Workers page (`/workers`): who ran what in the last minutes, from
//! the history of the running jobs and of those finished since.

use axum::extract::Query;
use axum::response::Response;
use maud::html;

use super::layout::{layout, time};
use super::render;
use crate::Admin;
use crate::api::workers::{WorkersParams, collect_workers};

pub(super) async fn workers_page(admin: Admin, Query(p): Query<WorkersParams>) -> Response {
    let result = async {
        let seen = collect_workers(&admin, p.minutes()).await?;
        Ok(layout(&admin, "Workers", Some(10), html! {
            h1 { "Workers" }
            p.muted { "Runs started since " (time(seen.since)) ", read from the history of " (seen.read) " jobs (running, or finished since)."
                @if !seen.complete { " More jobs finished than were read: the counts are of the latest." } }
            table {
                tr { th { "Worker" } th { "Runs" } th { "Succeeded" } th { "Failed" } th { "Lost" } th { "Running now" } th { "Kinds" } th { "Last start" } }
                @for w in &seen.workers {
                    tr {
                        td { code { (w.name) } }
                        td.num { (w.runs) } td.num { (w.succeeded) } td.num { (w.failed) } td.num { (w.lost) }
                        td { @for id in &w.running { a href={ "/job/" (id.as_str()) } { (id.as_str()) } " " } }
                        td { @for (kind, n) in &w.kinds { code { (kind) } " × " (n) br; } }
                        td { @if let Some(t) = w.last_started { (time(t)) } }
                    }
                }
            }
            @if seen.workers.is_empty() { p.muted { "No run started in this time." } }
        }))
    }
    .await;
    render(&admin, result)
}

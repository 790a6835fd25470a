//! The queues' page (`/queues`: depths, pause and resume) and a queue's
//! dead letters (`/queues/{name}`: peeked, redriven or deleted).

use axum::extract::Path;
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::html;

use super::layout::{layout, time};
use super::render;
use crate::Admin;
use crate::api::queues::queue_rows;

pub(super) async fn queues_page(admin: Admin) -> Response {
    let result = async {
        let queues = queue_rows(&admin).await?;
        let writable = !admin.options.read_only;
        Ok(layout(
            &admin,
            "Queues",
            Some(5),
            html! {
                h1 { "Queues" }
                table {
                    tr { th { "Queue" } th { "Status" } th { "Visible" } th { "In flight" } th { "Delayed" } @if writable { th {} } }
                    @for q in &queues {
                        @let name = &q.depth.name;
                        @let dlq = name.ends_with("-dlq");
                        tr {
                            td {
                                @if let Some(source) = name.strip_suffix("-dlq") {
                                    a href={ "/queues/" (source) } { (name) }
                                } @else { (name) }
                            }
                            td {
                                @if dlq { "" }
                                @else if q.paused {
                                    strong { "paused" }
                                    @if let Some(t) = q.paused_at { " since " (time(t)) }
                                } @else { "running" }
                            }
                            td.num { (q.depth.visible) } td.num { (q.depth.in_flight) } td.num { (q.depth.delayed) }
                            @if writable {
                                td {
                                    @if !dlq {
                                        @if q.paused {
                                            button data-post={ "/api/queues/" (name) "/resume" } data-confirm={ "Resume " (name) " and wake its parked jobs?" } { "Resume" }
                                        } @else {
                                            button.danger data-post={ "/api/queues/" (name) "/pause" } data-confirm={ "Pause " (name) "? Its jobs wait until it is resumed." } { "Pause" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                p.muted { "A paused queue starts no job within seconds; jobs that arrive meanwhile are parked (kept, shown as Enqueued) and run after the resume. Enqueuing to it still works." }
            },
        ))
    }
    .await;
    render(&admin, result)
}

pub(super) async fn queue_page(admin: Admin, Path(name): Path<String>) -> Response {
    let result = async {
        let letters = admin.client.queues().peek_dead_letters(&name).await?;
        let writable = !admin.options.read_only;
        let api = format!("/api/queues/{name}");
        Ok(layout(&admin, &format!("{name} dead letters"), None, html! {
            h1 { "Dead-letter queue of " (name) }
            p.muted { "Messages SQS gave up delivering. Shown without consuming them (up to 10)." }
            @if writable && !letters.is_empty() {
                p {
                    button data-post={ (api) "/redrive" } data-selected="1" data-confirm="Move the selected messages back to the queue?" { "Redrive selected" }
                    " "
                    button data-post={ (api) "/redrive" } data-confirm="Move every message back to the queue?" { "Redrive all" }
                    " "
                    button.danger data-post={ (api) "/dead-letters/delete" } data-selected="1" data-confirm="Delete the selected messages?" { "Delete selected" }
                }
            }
            table {
                tr { th { input type="checkbox" data-all="1" aria-label="Select all"; } th { "Message" } th { "Sent" } th { "Receives" } th { "Body" } }
                @for m in &letters {
                    tr {
                        td { input type="checkbox" name="id" value=(m.message_id); }
                        td { code { (m.message_id) } }
                        td { @if let Some(t) = m.sent_at.and_then(DateTime::<Utc>::from_timestamp_millis) { (time(t)) } }
                        td.num { (m.receive_count) }
                        td { pre { (m.body) } }
                    }
                }
            }
            @if letters.is_empty() { p.muted { "Empty." } }
        }))
    }
    .await;
    render(&admin, result)
}

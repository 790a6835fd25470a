//! A concurrency or ordering key's page (`/keys/{key}`): its limit, the
//! runs holding its slots and the jobs waiting; and how other pages link
//! to it.

use axum::extract::{Path, Query};
use axum::response::Response;
use chrono::{DateTime, Utc};
use maud::html;

use super::layout::{layout, time};
use super::render;
use crate::Admin;
use crate::api::keys::{KeyQuery, key_state};

/// A key in a URL path: every byte but letters, digits and `-_.~`
/// percent-encoded (keys may hold `/`, `?`, `#`).
pub(super) fn path_segment(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(super) async fn key_page(
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<KeyQuery>,
) -> Response {
    let result = async {
        let answer = key_state(&admin, &key, &q).await?;
        let k = &answer.state;
        Ok(layout(&admin, &format!("Key {key}"), Some(5), html! {
            h1 { "Key " code { (key) } }
            table {
                tr { th { "Runs at once" } td { "at most " (k.limit) } }
                tr { th { "Running" } td { (k.live.len()) } }
                tr { th { "Waiting" } td { (k.waiting) } }
                @if let Some(next) = k.next { tr { th { "Next to start" } td { "number " (next) } } }
            }
            h2 { "Jobs waiting" }
            @if answer.waiting_jobs.is_empty() {
                p.muted { "None on this page." }
            } @else {
                table {
                    tr { th { "Job" } th { "Kind" } th { "Queue" } th { "Created" } }
                    @for j in &answer.waiting_jobs {
                        tr {
                            td { a href={ "/job/" (j.id) } { (j.id) } }
                            td { (j.kind) }
                            td { (j.queue) }
                            td { (time(j.created_at)) }
                        }
                    }
                }
            }
            @if let Some(next) = &answer.next_cursor {
                p { a href={ "/keys/" (path_segment(&key)) "?cursor=" (next) } { "More waiting jobs →" } }
            }
            @if !k.live.is_empty() || !k.expired.is_empty() {
                h2 { "Runs holding a slot" }
                table {
                    tr { th { "Job" } th { "Lease until" } }
                    @for (h, live) in k.live.iter().map(|h| (h, true)).chain(k.expired.iter().map(|h| (h, false))) {
                        @let (id, lease) = h.rsplit_once('@').unwrap_or((h.as_str(), ""));
                        tr {
                            td { a href={ "/job/" (id) } { (id) } }
                            td {
                                @if let Some(t) = lease.parse::<i64>().ok().and_then(DateTime::<Utc>::from_timestamp_millis) { (time(t)) }
                                @if !live { " (passed: freed at the next take)" }
                            }
                        }
                    }
                }
            }
        }))
    }
    .await;
    render(&admin, result)
}

//! The recurring jobs' page (`/recurring`): each one's schedule, next and
//! last run, and its actions.

use axum::response::Response;
use maud::html;

use super::layout::{layout, state_badge, time};
use super::render;
use crate::Admin;
use crate::api::recurring::{RecurringRow, recurring_rows};

pub(super) async fn recurring_page(admin: Admin) -> Response {
    let result = async {
        let rows: Vec<RecurringRow> = recurring_rows(&admin).await?;
        let writable = !admin.options.read_only;
        Ok(layout(&admin, "Recurring jobs", None, html! {
            h1 { "Recurring jobs" }
            table {
                tr { th { "Id" } th { "Cron" } th { "Zone" } th { "Misfire" } th { "Kind" } th { "Next run" } th { "Last run" } th { "Last error" } th {} }
                @for r in &rows {
                    @let rec = &r.recurring;
                    tr {
                        td { (rec.id) @if !rec.enabled { " " span.muted { "(disabled)" } } }
                        td { code { (rec.cron) } }
                        td { (rec.tz) }
                        td { (rec.misfire) }
                        td { (rec.kind) }
                        td.next { @if let Some(t) = r.next_occurrence { (time(t)) } @else if !rec.enabled { span.muted { "disabled" } } }
                        td.last {
                            @if let Some(l) = &r.last_started {
                                a href={ "/job/" (l.job_id) } { (time(l.occurrence)) }
                                " "
                                @match &l.state {
                                    Some(s) => (state_badge(s)),
                                    None => span.muted { "expired" },
                                }
                            } @else { span.muted { "not yet" } }
                        }
                        td.err { (rec.last_error.as_deref().unwrap_or("")) }
                        td {
                            @if writable {
                                @let base = format!("/api/recurring/{}", rec.id);
                                button data-post={ (base) "/trigger" } data-confirm={ "Run " (rec.id) " now?" } { "Trigger" } " "
                                @if rec.enabled {
                                    button data-post={ (base) "/disable" } data-confirm={ "Disable " (rec.id) "?" } { "Disable" }
                                } @else {
                                    button data-post={ (base) "/enable" } { "Enable" }
                                }
                                " "
                                button.danger data-post={ (base) "/remove" } data-confirm={ "Remove " (rec.id) "?" } { "Remove" }
                            }
                        }
                    }
                }
            }
            @if rows.is_empty() { p.muted { "No recurring jobs." } }
        }))
    }
    .await;
    render(&admin, result)
}

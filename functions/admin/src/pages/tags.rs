//! A tag's page (`/tags/{tag}`): the jobs tagged with it, newest first, in
//! every state or one; reached from a job's tags and the search box.

use axum::extract::{Path, Query};
use axum::response::Response;
use hangar::State as JobState;
use maud::html;

use super::keys::path_segment;
use super::layout::{layout, state_badge, time};
use super::render;
use crate::Admin;
use crate::api::tags::{TagQuery, tag_page};

pub(super) async fn tag_jobs(
    admin: Admin,
    Path(tag): Path<String>,
    Query(q): Query<TagQuery>,
) -> Response {
    let result = async {
        let page = tag_page(&admin, &tag, &q).await?;
        let state = q.state.as_deref().unwrap_or("");
        let here = format!("/tags/{}", path_segment(&tag));
        Ok(layout(&admin, &format!("Tag {tag}"), None, html! {
            h1 { "Tag " code { (tag) } }
            form.filters method="get" action=(here) {
                label { "State "
                    select name="state" {
                        option value="" selected[state.is_empty()] { "Any" }
                        @for s in JobState::ALL {
                            option value=(s.as_str()) selected[s.as_str().eq_ignore_ascii_case(state)] { (s.as_str()) }
                        }
                    }
                }
                " " button type="submit" { "Show" }
            }
            @if page.jobs.is_empty() {
                p.muted { "No job with this tag on this page." }
            } @else {
                table.tagged {
                    tr { th { "Job" } th { "State" } th { "Kind" } th { "Queue" } th { "Created" } th { "Last error" } }
                    @for j in &page.jobs {
                        tr {
                            td { a href={ "/job/" (j.id) } { (j.id) } }
                            td { (state_badge(&j.state)) }
                            td { (j.kind) }
                            td { (j.queue) }
                            td { (time(j.created_at)) }
                            td.err { (j.last_error.as_deref().unwrap_or("")) }
                        }
                    }
                }
            }
            @if let Some(next) = &page.next {
                p { a href={ (here) "?state=" (state) "&cursor=" (next) } { "Older jobs →" } }
            }
        }))
    }
    .await;
    render(&admin, result)
}

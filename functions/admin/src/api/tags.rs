//! `GET /api/tags/{tag}`: the jobs tagged with an exact tag, newest first,
//! in every state or one.

use axum::Json;
use axum::extract::{Path, Query};
use hangar::{ListQuery, State as JobState};
use serde::{Deserialize, Serialize};

use super::input::bounded;
use super::jobs::{JobRow, parse_state};
use super::{ApiResult, MAX_PAGE};
use crate::cursor::Position;
use crate::{Admin, ApiError};

/// `GET /api/tags/{tag}` parameters.
#[derive(Debug, Deserialize, Default)]
pub struct TagQuery {
    /// Only jobs in this state (any case).
    pub state: Option<String>,
    /// Tag pointers read for the page, 1 to 200 (default 50): a page lists
    /// at most this many jobs.
    pub limit: Option<usize>,
    /// Where to go on, from a previous answer's `next`.
    pub cursor: Option<String>,
}

/// A page of a tag's jobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TagPage {
    /// The tag.
    pub tag: String,
    /// The jobs, newest first by creation.
    pub jobs: Vec<JobRow>,
    /// Tag pointers read for this page: jobs gone (or, with `state`, in
    /// another state) are read but not listed.
    pub read: usize,
    /// Pass as `cursor` for the next page; null at the end.
    pub next: Option<String>,
}

pub(super) async fn tag(
    admin: Admin,
    Path(tag): Path<String>,
    Query(q): Query<TagQuery>,
) -> ApiResult<TagPage> {
    Ok(Json(tag_page(&admin, &tag, &q).await?))
}

/// A page of the jobs tagged `tag`; its cursor is signed with the state
/// it lists, and names the tag (the store refuses it for another).
pub(crate) async fn tag_page(admin: &Admin, tag: &str, q: &TagQuery) -> Result<TagPage, ApiError> {
    let size = bounded("limit", q.limit, 50, 1..=MAX_PAGE)?;
    let state = q
        .state
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(parse_state)
        .transpose()?;
    let listing = ListQuery::state(state.unwrap_or(JobState::Enqueued));
    let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => {
            let Position { query, cursor } = admin.cursors.decode(text)?;
            if query != listing {
                return Err(ApiError::bad(
                    "the cursor continues a listing of another state; start the listing again",
                ));
            }
            Some(cursor)
        }
        None => None,
    };
    let page = admin
        .client
        .tagged(tag, state, size, cursor.as_ref())
        .await?;
    let next = page.next.map(|cursor| {
        admin.cursors.encode(&Position {
            query: listing,
            cursor,
        })
    });
    Ok(TagPage {
        tag: tag.to_owned(),
        jobs: page.jobs.iter().map(JobRow::from).collect(),
        read: page.read,
        next,
    })
}

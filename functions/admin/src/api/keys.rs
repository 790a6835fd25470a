//! `GET /api/keys/{key}`: a concurrency or ordering key's slots and the
//! jobs waiting for it.

use axum::Json;
use axum::extract::{Path, Query};
use hangar::job::validate_limit_key;
use hangar::limits::SlotState;
use hangar::{ListQuery, State as JobState};
use serde::{Deserialize, Serialize};

use super::input::bounded;
use super::jobs::JobRow;
use super::{ApiResult, MAX_KEY_PAGE};
use crate::cursor::Position;
use crate::{Admin, ApiError};

/// A concurrency or ordering key: the runs holding its slots (live, and
/// those whose lease passed), the jobs waiting, the limit and, ordered,
/// the number allowed to start.
pub(super) async fn key(
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<KeyQuery>,
) -> ApiResult<KeyJson> {
    Ok(Json(key_state(&admin, &key, &q).await?))
}

/// `GET /api/keys/{key}` parameters: which of its waiting jobs to show.
#[derive(Debug, Deserialize, Default)]
pub struct KeyQuery {
    /// Where to go on, from a previous answer's `next_cursor`.
    pub cursor: Option<String>,
    /// How many waiting jobs (default 50, up to [`MAX_KEY_PAGE`]).
    pub limit: Option<usize>,
}

/// A concurrency or ordering key and a page of the jobs waiting for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyJson {
    /// The key as stored: slots held, the waiting count, the limit.
    #[serde(flatten)]
    pub state: SlotState,
    /// Jobs waiting for a slot, oldest (ordered: lowest number) first.
    pub waiting_jobs: Vec<JobRow>,
    /// Pass as `cursor` for more waiting jobs; null at the end.
    pub next_cursor: Option<String>,
}

pub(crate) async fn key_state(admin: &Admin, key: &str, q: &KeyQuery) -> Result<KeyJson, ApiError> {
    validate_limit_key("key", key)?;
    let size = bounded("limit", q.limit, 50, 1..=MAX_KEY_PAGE)?;
    let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => Some(admin.cursors.decode(text)?.cursor),
        None => None,
    };
    let (state, page) = tokio::try_join!(
        admin.client.concurrency_key(key),
        admin.client.waiting_jobs(key, size, cursor.as_ref()),
    )?;
    let next_cursor = page.next.map(|cursor| {
        admin.cursors.encode(&Position {
            query: ListQuery::state(JobState::Enqueued),
            cursor,
        })
    });
    Ok(KeyJson {
        state,
        waiting_jobs: page.jobs.iter().map(JobRow::from).collect(),
        next_cursor,
    })
}

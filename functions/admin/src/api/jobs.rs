//! `/api/jobs`: listings by state with signed cursors, one job, and the
//! actions on one job (requeue, delete, reschedule).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query};
use chrono::{DateTime, Utc};
use hangar::json::JobJson;
use hangar::{Cursor, JobId, JobRecord, ListQuery, Page, State as JobState, When};
use serde::{Deserialize, Serialize};

use super::input::{Body, bounded, whole};
use super::{ApiResult, MAX_DELAY_SECONDS, MAX_PAGE};
use crate::cursor::Position;
use crate::{Admin, ApiError};

/// A job in a listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub queue: String,
    pub state: String,
    /// Runs so far.
    pub attempt: u32,
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When a Scheduled job is due.
    pub run_at: Option<DateTime<Utc>>,
    /// The last failure message.
    pub last_error: Option<String>,
    /// The concurrency or ordering key whose slot it waits for, while it
    /// waits (it is Enqueued).
    pub waiting_for: Option<String>,
}

impl From<&JobRecord> for JobRow {
    fn from(j: &JobRecord) -> Self {
        JobRow {
            id: j.id.to_string(),
            kind: j.kind.clone(),
            queue: j.options.queue.clone(),
            state: j.state.to_string(),
            attempt: j.attempt,
            created_at: j.created_at,
            updated_at: j.updated_at,
            run_at: j.run_at,
            last_error: j.last_error.clone(),
            waiting_for: j.waiting_for.clone(),
        }
    }
}

/// A page of jobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobPage {
    /// The jobs, newest first (Processing: longest running first).
    pub jobs: Vec<JobRow>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next: Option<String>,
    /// Jobs wait for more keys than a listing reads: those of the keys
    /// left out are listed by `GET /api/keys/{key}` only.
    #[serde(default)]
    pub keys_left_out: bool,
    /// A search (`q`): how many jobs this page read, and how far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub searched: Option<Searched>,
}

/// How far a page of a search looked.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Searched {
    /// Jobs read (at most `hangar::store::MAX_SEARCHED` a page).
    pub read: usize,
    /// The index time of the last job read (when it entered its state; a
    /// Scheduled job's due time); the next page goes on from there.
    pub to: Option<DateTime<Utc>>,
}

impl Searched {
    pub(crate) fn of(query: &ListQuery, page: &Page) -> Option<Searched> {
        query.filtered().then_some(Searched {
            read: page.read,
            to: page.searched_to,
        })
    }
}

/// `GET /api/jobs` parameters.
#[derive(Debug, Deserialize, Default)]
pub struct ListParams {
    /// The state (any case); with a cursor, the state of its listing.
    pub state: Option<String>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only jobs at or before this time (RFC 3339).
    pub until: Option<String>,
    /// Only jobs whose arguments, parameters or last error contain this
    /// text, in any case.
    pub q: Option<String>,
    /// Only retries: Scheduled jobs waiting for another run after a
    /// failed one.
    pub retries: Option<bool>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<usize>,
    /// Where to go on, from a previous page's `next`.
    pub cursor: Option<String>,
}

pub(crate) fn parse_state(s: &str) -> Result<JobState, ApiError> {
    JobState::ALL
        .iter()
        .copied()
        .find(|st| st.as_str().eq_ignore_ascii_case(s))
        .ok_or_else(|| {
            ApiError::bad(format!(
                "unknown state {s:?} (use one of: {})",
                JobState::ALL
                    .iter()
                    .map(|s| s.as_str().to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn parse_time(what: &str, s: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::bad(format!("{what} {s:?} is not an RFC 3339 time")))
}

/// Resolves listing parameters: a cursor carries its own query.
pub(crate) fn list_position(
    admin: &Admin,
    p: &ListParams,
) -> Result<(ListQuery, Option<Cursor>, usize), ApiError> {
    let size = bounded("limit", p.limit, 50, 1..=MAX_PAGE)?;
    let state = p.state.as_deref().map(parse_state).transpose()?;
    if let Some(text) = p.cursor.as_deref().filter(|c| !c.is_empty()) {
        let Position { query, cursor } = admin.cursors.decode(text)?;
        if let Some(state) = state.filter(|s| *s != query.state) {
            return Err(ApiError::bad(format!(
                "the cursor continues the listing of {} jobs, not {state}; start the listing again",
                query.state
            )));
        }
        return Ok((query, Some(cursor), size));
    }
    let state = state.ok_or_else(|| ApiError::bad("state is required"))?;
    let non_empty = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    let query = ListQuery {
        state,
        queue: non_empty(&p.queue),
        kind: non_empty(&p.kind),
        since: non_empty(&p.since)
            .map(|s| parse_time("since", &s))
            .transpose()?,
        until: non_empty(&p.until)
            .map(|s| parse_time("until", &s))
            .transpose()?,
        // The store refuses a text too long for a search (a 400).
        search: non_empty(&p.q.as_ref().map(|q| q.trim().to_owned())),
        retries: p.retries.unwrap_or(false),
    };
    Ok((query, None, size))
}

/// One page of a listing, with the next page's signed cursor.
pub(crate) async fn page(
    admin: &Admin,
    p: &ListParams,
) -> Result<(ListQuery, Page, Option<String>), ApiError> {
    let (query, cursor, size) = list_position(admin, p)?;
    let mut page = admin
        .client
        .list_page(&query, size, cursor.as_ref())
        .await?;
    let next = page.next.take().map(|cursor| {
        admin.cursors.encode(&Position {
            query: query.clone(),
            cursor,
        })
    });
    Ok((query, page, next))
}

pub(super) async fn list(admin: Admin, Query(p): Query<ListParams>) -> ApiResult<JobPage> {
    if p.state.is_none() {
        return Err(ApiError::bad(
            "state is required (with a cursor, the state of its listing)",
        ));
    }
    // The dashboard's filter form sends empty fields for no bound; the API
    // takes a time or nothing.
    for (name, given) in [("since", &p.since), ("until", &p.until)] {
        if given.as_deref() == Some("") {
            return Err(ApiError::bad(format!(
                "{name} is empty; give an RFC 3339 time or leave it out"
            )));
        }
    }
    let (query, page, next) = page(&admin, &p).await?;
    Ok(Json(JobPage {
        jobs: page.jobs.iter().map(JobRow::from).collect(),
        next,
        keys_left_out: page.keys_left_out,
        searched: Searched::of(&query, &page),
    }))
}

pub(crate) fn parse_id(id: &str) -> Result<JobId, ApiError> {
    JobId::parse(id).map_err(ApiError::from)
}

pub(super) async fn job(admin: Admin, Path(id): Path<String>) -> ApiResult<JobJson> {
    let id = parse_id(&id)?;
    match admin.client.get(&id).await? {
        Some(job) => Ok(Json(JobJson::from(&job))),
        None => Err(hangar::Error::NotFound { id }.into()),
    }
}

/// What an action did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Done {
    /// The job.
    pub id: String,
    /// Its state now.
    pub state: String,
}

fn done(job: &JobRecord) -> Json<Done> {
    Json(Done {
        id: job.id.to_string(),
        state: job.state.to_string(),
    })
}

pub(super) async fn requeue(admin: Admin, Path(id): Path<String>) -> ApiResult<Done> {
    Ok(done(&admin.client.requeue(&parse_id(&id)?).await?))
}

pub(super) async fn delete(admin: Admin, Path(id): Path<String>) -> ApiResult<Done> {
    Ok(done(&admin.client.delete(&parse_id(&id)?).await?))
}

/// `POST /api/jobs/{id}/reschedule`: one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RescheduleBody {
    /// Run at this time (RFC 3339).
    pub at: Option<String>,
    /// Run after this many seconds.
    #[serde(default, deserialize_with = "whole")]
    pub delay_seconds: Option<u64>,
}

/// A rescheduled job's new due time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rescheduled {
    /// The job.
    pub id: String,
    /// When it runs.
    pub run_at: DateTime<Utc>,
}

pub(super) async fn reschedule(
    admin: Admin,
    Path(id): Path<String>,
    Body(body): Body<RescheduleBody>,
) -> ApiResult<Rescheduled> {
    let id = parse_id(&id)?;
    let when: When = match (body.at, body.delay_seconds) {
        (Some(at), None) => parse_time("at", &at)?.into(),
        (None, Some(s)) => {
            Duration::from_secs(bounded("delay_seconds", Some(s), 0, 0..=MAX_DELAY_SECONDS)?).into()
        }
        _ => return Err(ApiError::bad("give either at (RFC 3339) or delay_seconds")),
    };
    let run_at = admin.client.reschedule(&id, when).await?;
    Ok(Json(Rescheduled {
        id: id.to_string(),
        run_at,
    }))
}

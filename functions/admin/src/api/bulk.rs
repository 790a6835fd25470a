//! `POST /api/jobs/bulk`: requeue or delete chosen jobs, or, a step at a
//! time, every job a filter lists (state, queue, kind, time, search).

use axum::Json;
use hangar::{BulkAction, JobId};
use serde::{Deserialize, Serialize};

use super::input::{Body, bounded, whole};
use super::jobs::{ListParams, list_position, parse_id};
use super::{ApiResult, MAX_BULK_IDS, MAX_BULK_STATE};
use crate::cursor::Position;
use crate::{Admin, ApiError};

/// `POST /api/jobs/bulk`: an action on chosen jobs, or one step of an
/// action on every job a filter lists.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// `requeue` or `delete`.
    pub action: String,
    /// The jobs (1 to 100), or:
    pub ids: Option<Vec<String>>,
    /// every job in this state that the filter below lists, `limit` (at
    /// most 1000) per request, from `cursor`:
    pub state: Option<String>,
    /// How many at most this request (default 1000).
    #[serde(default, deserialize_with = "whole")]
    pub limit: Option<u64>,
    /// Only this queue.
    pub queue: Option<String>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Only jobs at or after this time (RFC 3339).
    pub since: Option<String>,
    /// Only jobs at or before this time (RFC 3339).
    pub until: Option<String>,
    /// Only jobs whose arguments, parameters or last error contain this.
    pub q: Option<String>,
    /// Only retries (with state scheduled).
    pub retries: Option<bool>,
    /// Where the previous request stopped (its `next`): the filter is the
    /// cursor's.
    pub cursor: Option<String>,
}

/// What a bulk action did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BulkResult {
    /// Jobs acted on.
    pub done: usize,
    /// Jobs refused, with why.
    pub refused: Vec<Refused>,
    /// With `state`: more jobs are left in the listing (call again with
    /// `next`).
    pub more: bool,
    /// With `state`: pass as `cursor` to go on; null at the end.
    #[serde(default)]
    pub next: Option<String>,
    /// With `state`: jobs read (a search reads more than it matches).
    #[serde(default)]
    pub read: usize,
    /// With `state`: the index time of the last job read, how far back
    /// the action got.
    #[serde(default)]
    pub reached: Option<chrono::DateTime<chrono::Utc>>,
}

/// A job a bulk action refused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Refused {
    /// The job.
    pub id: String,
    /// Why.
    pub error: String,
}

pub(super) async fn bulk(admin: Admin, Body(body): Body<BulkBody>) -> ApiResult<BulkResult> {
    let action = BulkAction::parse(&body.action).map_err(|_| {
        ApiError::bad(format!(
            "unknown action {:?} (use requeue or delete)",
            body.action
        ))
    })?;
    let filtered = [&body.queue, &body.kind, &body.since, &body.until, &body.q]
        .iter()
        .any(|f| f.is_some())
        || body.retries == Some(true);
    match body.ids {
        Some(_) if body.state.is_some() || body.cursor.is_some() => Err(ApiError::bad(
            "give either ids or state (or the cursor of a step), not both",
        )),
        Some(_) if body.limit.is_some() || filtered => Err(ApiError::bad(
            "limit and filters go with state; with ids, every id given is acted on",
        )),
        Some(ids) => chosen(&admin, action, &ids).await,
        None if body.state.is_none() && body.cursor.is_none() => {
            Err(ApiError::bad("give either ids or state"))
        }
        None if body.cursor.is_some() && (filtered || body.state.is_some()) => Err(ApiError::bad(
            "a cursor carries its state and filter: give it alone (with action and limit)",
        )),
        None => step(&admin, action, body).await,
    }
}

/// The jobs named by id.
async fn chosen(admin: &Admin, action: BulkAction, ids: &[String]) -> ApiResult<BulkResult> {
    if ids.is_empty() || ids.len() > MAX_BULK_IDS {
        return Err(ApiError::bad(format!(
            "ids: give 1 to {MAX_BULK_IDS} job ids ({} given)",
            ids.len()
        )));
    }
    let ids = ids
        .iter()
        .map(|i| parse_id(i))
        .collect::<Result<Vec<_>, _>>()?;
    let results: Vec<(JobId, hangar::Result<()>)> = match action {
        BulkAction::Requeue => admin.client.requeue_many(&ids, 16, |_, _| {}).await,
        BulkAction::Delete => admin.client.delete_many(&ids, 16).await,
    };
    let mut out = BulkResult {
        done: 0,
        refused: Vec::new(),
        more: false,
        next: None,
        read: 0,
        reached: None,
    };
    for (id, res) in results {
        match res {
            Ok(()) => out.done += 1,
            Err(e) => out.refused.push(Refused {
                id: id.to_string(),
                error: e.to_string(),
            }),
        }
    }
    Ok(Json(out))
}

/// One step of an action on every job a filter lists.
async fn step(admin: &Admin, action: BulkAction, body: BulkBody) -> ApiResult<BulkResult> {
    let limit = bounded(
        "limit",
        body.limit,
        MAX_BULK_STATE as u64,
        1..=MAX_BULK_STATE as u64,
    )? as usize;
    let params = ListParams {
        state: body.state,
        queue: body.queue,
        kind: body.kind,
        since: body.since,
        until: body.until,
        q: body.q,
        retries: body.retries,
        cursor: body.cursor,
        ..ListParams::default()
    };
    let (query, cursor, _) = list_position(admin, &params)?;
    let step = admin
        .client
        .bulk_step(action, &query, cursor.as_ref(), limit)
        .await?;
    let next = step.next.map(|cursor| {
        admin.cursors.encode(&Position {
            query: query.clone(),
            cursor,
        })
    });
    Ok(Json(BulkResult {
        done: step.changed.len(),
        refused: step
            .refused
            .into_iter()
            .map(|(id, error)| Refused {
                id: id.to_string(),
                error,
            })
            .collect(),
        more: next.is_some(),
        next,
        read: step.read,
        reached: step.reached,
    }))
}

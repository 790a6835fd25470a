//! `POST /api/jobs/bulk`: requeue or delete chosen jobs, or every job in a
//! state.

use axum::Json;
use hangar::{JobId, ListQuery};
use serde::{Deserialize, Serialize};

use super::input::{Body, bounded, whole};
use super::jobs::{parse_id, parse_state};
use super::{ApiResult, MAX_BULK_IDS, MAX_BULK_STATE, MAX_PAGE};
use crate::{Admin, ApiError};

/// `POST /api/jobs/bulk`: an action on chosen jobs or on a whole state.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// `requeue` or `delete`.
    pub action: String,
    /// The jobs (1 to 100), or:
    pub ids: Option<Vec<String>>,
    /// every job in this state (up to `limit`, at most 1000, per request).
    pub state: Option<String>,
    /// With `state`: how many at most (default 1000).
    #[serde(default, deserialize_with = "whole")]
    pub limit: Option<u64>,
}

/// What a bulk action did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BulkResult {
    /// Jobs acted on.
    pub done: usize,
    /// Jobs refused, with why.
    pub refused: Vec<Refused>,
    /// With `state`: more jobs are left in it (call again).
    pub more: bool,
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
    let requeue = match body.action.as_str() {
        "requeue" => true,
        "delete" => false,
        other => {
            return Err(ApiError::bad(format!(
                "unknown action {other:?} (use requeue or delete)"
            )));
        }
    };
    let (ids, more) = match (body.ids, body.state) {
        (Some(_), None) if body.limit.is_some() => {
            return Err(ApiError::bad(
                "limit goes with state; with ids, every id given is acted on",
            ));
        }
        (Some(ids), None) => {
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
            (ids, false)
        }
        (None, Some(state)) => {
            let state = parse_state(&state)?;
            let limit = bounded(
                "limit",
                body.limit,
                MAX_BULK_STATE as u64,
                1..=MAX_BULK_STATE as u64,
            )? as usize;
            let query = ListQuery::state(state);
            let mut ids = Vec::new();
            let mut cursor = None;
            let mut more = false;
            loop {
                let page = admin
                    .client
                    .list_page(&query, (limit - ids.len()).min(MAX_PAGE), cursor.as_ref())
                    .await?;
                ids.extend(page.jobs.into_iter().map(|j| j.id));
                match page.next {
                    Some(next) if ids.len() < limit => cursor = Some(next),
                    Some(_) => {
                        more = true;
                        break;
                    }
                    None => break,
                }
            }
            (ids, more)
        }
        _ => return Err(ApiError::bad("give either ids or state")),
    };
    let results: Vec<(JobId, hangar::Result<()>)> = if requeue {
        admin.client.requeue_many(&ids, 16, |_, _| {}).await
    } else {
        admin.client.delete_many(&ids, 16).await
    };
    let mut out = BulkResult {
        done: 0,
        refused: Vec::new(),
        more,
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

//! `GET /api/workers`: who ran what in the last minutes, from the history
//! of the running jobs and of the jobs finished since (see
//! [`hangar::workers`]); nothing is written for it.

use axum::Json;
use axum::extract::Query;
use hangar::workers::WorkersSeen;
use serde::Deserialize;

use super::ApiResult;
use crate::{Admin, ApiError};

/// The longest look back, minutes (the listings read at most
/// [`hangar::workers::MAX_READ`] jobs of a state anyway).
pub const MAX_MINUTES: u32 = 24 * 60;

#[derive(Debug, Deserialize)]
pub(crate) struct WorkersParams {
    /// How far back, minutes (default 15).
    #[serde(default)]
    minutes: Option<u32>,
}

impl WorkersParams {
    pub(crate) fn minutes(&self) -> Option<u32> {
        self.minutes
    }
}

pub(crate) async fn collect_workers(
    admin: &Admin,
    minutes: Option<u32>,
) -> Result<WorkersSeen, ApiError> {
    let minutes = minutes.unwrap_or(15);
    if !(1..=MAX_MINUTES).contains(&minutes) {
        return Err(ApiError::bad(format!(
            "minutes {minutes}: give 1 to {MAX_MINUTES}"
        )));
    }
    let since = admin.client.now() - chrono::TimeDelta::minutes(i64::from(minutes));
    Ok(admin.client.workers(since).await?)
}

pub(super) async fn workers(
    admin: Admin,
    Query(p): Query<WorkersParams>,
) -> ApiResult<WorkersSeen> {
    Ok(Json(collect_workers(&admin, p.minutes).await?))
}

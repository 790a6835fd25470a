//! `/api/batches`: the latest batches, and one batch with a page of its
//! jobs.

use axum::Json;
use axum::extract::{Path, Query};
use hangar::BatchRecord;
use hangar::batch::MAX_BATCH_JOBS;
use hangar::json::{BatchJson, JobJson};
use serde::{Deserialize, Serialize};

use super::input::bounded;
use super::jobs::parse_id;
use super::{ApiResult, MAX_BATCHES, MAX_PAGE};
use crate::{Admin, ApiError};

/// How many batches to list.
#[derive(Debug, Deserialize)]
pub struct BatchesQuery {
    /// At most this many (default 50, up to [`MAX_BATCHES`]).
    pub limit: Option<usize>,
}

pub(super) async fn batches(
    admin: Admin,
    Query(q): Query<BatchesQuery>,
) -> ApiResult<Vec<BatchJson>> {
    let limit = bounded("limit", q.limit, 50, 1..=MAX_BATCHES)?;
    let list = admin.client.batches(limit).await?;
    Ok(Json(list.iter().map(BatchJson::from).collect()))
}

/// Which of a batch's jobs to show.
#[derive(Debug, Deserialize)]
pub struct BatchJobsQuery {
    /// The first job's number (from 1; default 1).
    pub from: Option<u64>,
    /// How many jobs (default 50, up to [`MAX_PAGE`]; 0 for none).
    pub limit: Option<usize>,
}

/// A batch and a page of its jobs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BatchPage {
    /// The batch: its progress and continuations.
    pub batch: BatchJson,
    /// Its jobs numbered `from` onwards (missing or expired ones left out).
    pub jobs: Vec<JobJson>,
    /// The number to ask for next, if there are more.
    pub next: Option<u64>,
}

pub(crate) async fn batch_page(
    admin: &Admin,
    id: &str,
    from: Option<u64>,
    limit: Option<usize>,
) -> Result<(BatchRecord, BatchPage), ApiError> {
    let id = parse_id(id)?;
    let from = bounded("from", from, 1, 1..=MAX_BATCH_JOBS as u64)?;
    let limit = bounded("limit", limit, 50, 0..=MAX_PAGE)?;
    let Some(b) = admin.client.batch(&id).await? else {
        return Err(hangar::Error::BatchNotFound { id }.into());
    };
    let jobs = admin.client.batch_jobs(&b, from, limit).await?;
    let after = from + limit as u64;
    let page = BatchPage {
        batch: BatchJson::from(&b),
        jobs: jobs.iter().map(JobJson::from).collect(),
        next: (limit > 0 && after <= b.total).then_some(after),
    };
    Ok((b, page))
}

pub(super) async fn batch(
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<BatchJobsQuery>,
) -> ApiResult<BatchPage> {
    Ok(Json(batch_page(&admin, &id, q.from, q.limit).await?.1))
}

//! `GET /api/stats` (counts per state, queue depths, finished jobs per
//! minute and hour) and `GET /api/metrics` (per kind, the last 24 hours).

use axum::Json;
use chrono::{DateTime, Utc};
use hangar::json::StatsJson;
use hangar::metrics::Tally;
use serde::{Deserialize, Serialize};

use super::ApiResult;
use crate::{Admin, ApiError};

/// Counts, queue depths, and finished jobs over time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    /// Jobs per state and messages per queue.
    #[serde(flatten)]
    pub stats: StatsJson,
    /// Succeeded and Failed per minute, the last 60 minutes, oldest first.
    pub per_minute: Vec<Point>,
    /// Succeeded and Failed per hour, the last 24 hours, oldest first.
    pub per_hour: Vec<Point>,
}

/// Finished jobs in one minute or hour.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Point {
    /// The minute's or hour's start.
    pub at: DateTime<Utc>,
    /// Jobs that Succeeded.
    pub succeeded: u64,
    /// Jobs that Failed.
    pub failed: u64,
}

pub(crate) async fn collect_stats(admin: &Admin) -> Result<Stats, ApiError> {
    let stats = StatsJson::collect(&admin.client).await?;
    let t = admin.client.throughput().await?;
    let points = |v: &[(DateTime<Utc>, Tally)]| {
        v.iter()
            .map(|(at, t)| Point {
                at: *at,
                succeeded: t.s,
                failed: t.f,
            })
            .collect()
    };
    Ok(Stats {
        stats,
        per_minute: points(&t.minutes),
        per_hour: points(&t.hours),
    })
}

pub(super) async fn stats(admin: Admin) -> ApiResult<Stats> {
    Ok(Json(collect_stats(&admin).await?))
}

/// One kind's metrics over the last 24 hours.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KindMetrics {
    pub kind: String,
    /// Jobs that reached Succeeded or Failed.
    pub jobs: u64,
    /// Runs they took.
    pub runs: u64,
    /// Runs that failed.
    pub failures: u64,
    /// Median duration of the jobs' last runs, ms (a histogram bucket's
    /// upper bound).
    pub p50_ms: Option<u64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<u64>,
}

pub(crate) async fn kind_metrics(admin: &Admin) -> Result<Vec<KindMetrics>, ApiError> {
    Ok(admin
        .client
        .kind_metrics()
        .await?
        .into_iter()
        .map(|(kind, t)| KindMetrics {
            p50_ms: t.quantile_ms(0.5),
            p95_ms: t.quantile_ms(0.95),
            kind,
            jobs: t.jobs,
            runs: t.runs,
            failures: t.failures,
        })
        .collect())
}

pub(super) async fn metrics(admin: Admin) -> ApiResult<Vec<KindMetrics>> {
    Ok(Json(kind_metrics(&admin).await?))
}

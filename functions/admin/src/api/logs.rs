//! `/api/jobs/{id}/logs`: the lines a job's runs logged, read from the
//! worker's CloudWatch Logs group by the job's id and lifetime
//! ([`hangar::logs::RunLogs`]); no DynamoDB request but the job's read.

use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hangar::JobRecord;
use hangar::logs::{LogLine, LogPage};
use serde::{Deserialize, Serialize};

use super::ApiResult;
use super::jobs::parse_id;
use crate::{Admin, ApiError};

/// One line.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogLineJson {
    pub at: DateTime<Utc>,
    /// `INFO`, `WARN`...; empty for a line that is not JSON.
    pub level: String,
    pub message: String,
    /// The line's other fields, as text.
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// The run's attempt (null for Hangar's lines about the job).
    pub attempt: Option<u64>,
    pub target: String,
    pub stream: String,
}

/// A page of a job's lines, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogsJson {
    pub job: String,
    /// The log group read.
    pub group: String,
    /// False when the group does not exist (no run has logged yet).
    pub group_found: bool,
    /// The window read: the job's lifetime, a minute wider each way.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub lines: Vec<LogLineJson>,
    /// Pass as `cursor` for the next page; null at the end.
    pub next: Option<String>,
}

impl From<&LogLine> for LogLineJson {
    fn from(l: &LogLine) -> Self {
        LogLineJson {
            at: l.at,
            level: l.level.clone(),
            message: l.message.clone(),
            fields: (l.fields.iter())
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
            attempt: l.attempt,
            target: l.target.clone(),
            stream: l.stream.clone(),
        }
    }
}

impl LogsJson {
    pub fn new(job: &JobRecord, page: &LogPage) -> Self {
        LogsJson {
            job: job.id.to_string(),
            group: page.group.clone(),
            group_found: page.group_found,
            from: page.from,
            to: page.to,
            lines: page.lines.iter().map(LogLineJson::from).collect(),
            next: page.cursor.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogsQuery {
    pub cursor: Option<String>,
}

/// A page of `job`'s lines, or why none can be read here.
pub(crate) async fn page(
    admin: &Admin,
    job: &JobRecord,
    cursor: Option<&str>,
) -> Result<LogPage, ApiError> {
    let logs = admin.logs.as_ref().ok_or_else(|| ApiError {
        status: StatusCode::NOT_FOUND,
        message: "this admin reads no log group (built without `Admin::with_logs`)".to_owned(),
    })?;
    Ok(logs.read(job, admin.client.clock().now(), cursor).await?)
}

pub(crate) async fn logs(
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<LogsJson> {
    let id = parse_id(&id)?;
    let job = (admin.client.get(&id).await?).ok_or(hangar::Error::NotFound { id })?;
    let page = page(&admin, &job, q.cursor.as_deref()).await?;
    Ok(Json(LogsJson::new(&job, &page)))
}

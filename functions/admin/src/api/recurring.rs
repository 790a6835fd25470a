//! `/api/recurring`: recurring jobs with their last and next runs, and
//! the actions on one (trigger, disable, enable, remove).

use axum::Json;
use axum::extract::Path;
use chrono::{DateTime, Utc};
use hangar::json::RecurringJson;
use hangar::recurring::validate_recurring_id;
use serde::{Deserialize, Serialize};

use super::ApiResult;
use crate::{Admin, ApiError};

/// A recurring job with the state of the job it created last, the last
/// occurrence that came due and the next one.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecurringRow {
    /// The recurring job.
    #[serde(flatten)]
    pub recurring: RecurringJson,
    /// The state of its last job (`last_job_id`, which can be an occurrence
    /// fired ahead), if that job still exists.
    pub last_job_state: Option<String>,
    /// The last occurrence that came due, and its job.
    pub last_started: Option<LastStartedJson>,
    /// The next occurrence after now (None when disabled).
    pub next_occurrence: Option<DateTime<Utc>>,
}

/// The last occurrence of a recurring job that came due.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LastStartedJson {
    /// The occurrence, or the instant of a trigger.
    pub occurrence: DateTime<Utc>,
    /// The job it created.
    pub job_id: String,
    /// That job's state; null once it expired (or the occurrence was
    /// skipped).
    pub state: Option<String>,
}

pub(crate) async fn recurring_rows(admin: &Admin) -> Result<Vec<RecurringRow>, ApiError> {
    Ok(admin
        .client
        .recurring()
        .statuses()
        .await?
        .into_iter()
        .map(|r| RecurringRow {
            recurring: RecurringJson::from(&r.recurring),
            last_job_state: r.last_job_state.map(|s| s.to_string()),
            last_started: r.last_started.map(|l| LastStartedJson {
                occurrence: l.occurrence,
                job_id: l.job_id.to_string(),
                state: l.state.map(|s| s.to_string()),
            }),
            next_occurrence: r.next,
        })
        .collect())
}

pub(super) async fn recurring(admin: Admin) -> ApiResult<Vec<RecurringRow>> {
    Ok(Json(recurring_rows(&admin).await?))
}

/// What a recurring action did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecurringDone {
    /// The recurring job.
    pub id: String,
    pub action: String,
    /// For `trigger`: the job created.
    pub job: Option<String>,
}

pub(super) async fn recurring_action(
    admin: Admin,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<RecurringDone> {
    validate_recurring_id(&id)?;
    let r = admin.client.recurring();
    let mut job = None;
    match action.as_str() {
        "trigger" => job = Some(r.trigger(&id).await?.to_string()),
        "disable" => r.disable(&id).await?,
        "enable" => r.enable(&id).await?,
        "remove" => {
            if !r.remove(&id).await? {
                return Err(hangar::Error::RecurringNotFound { id }.into());
            }
        }
        other => {
            return Err(ApiError::bad(format!(
                "unknown action {other:?} (use trigger, disable, enable or remove)"
            )));
        }
    }
    Ok(Json(RecurringDone { id, action, job }))
}

//! `/api/queues`: the queues with their depths, pause and resume, and each
//! dead-letter queue's messages (peek, redrive, delete).

use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use hangar::QueueControl;
use hangar::queue::{DeadLetter, QueueDepth};
use serde::{Deserialize, Serialize};

use super::input::Body;
use super::{ApiResult, MAX_BULK_IDS};
use crate::{Admin, ApiError};

/// A queue: its messages, and whether it is paused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueRow {
    /// Its messages.
    #[serde(flatten)]
    pub depth: QueueDepth,
    /// Paused (never for a dead-letter queue).
    pub paused: bool,
    /// Since when, if paused.
    pub paused_at: Option<DateTime<Utc>>,
}

pub(crate) async fn queue_rows(admin: &Admin) -> Result<Vec<QueueRow>, ApiError> {
    let depths = admin.client.queue_depths().await?;
    let names: Vec<String> = depths
        .iter()
        .filter(|d| !d.name.ends_with("-dlq"))
        .map(|d| d.name.clone())
        .collect();
    let controls = admin.client.queue_controls(&names).await?;
    Ok(depths
        .into_iter()
        .map(|depth| {
            let control = controls.iter().find(|c| c.name == depth.name && c.paused);
            QueueRow {
                paused: control.is_some(),
                paused_at: control.and_then(|c| c.paused_at),
                depth,
            }
        })
        .collect())
}

pub(super) async fn queues(admin: Admin) -> ApiResult<Vec<QueueRow>> {
    Ok(Json(queue_rows(&admin).await?))
}

/// A queue route's error: a name that is not a queue of the stack is a
/// 404, whether no SQS queue is behind it or it breaks the naming rule (a
/// dead-letter queue's name, `<queue>-dlq`, which the stats list, is not a
/// queue these routes act on); the message says which.
fn queue_error(e: hangar::Error) -> ApiError {
    let missing = matches!(
        &e,
        hangar::Error::Invalid {
            what: "queue" | "queue name",
            ..
        }
    );
    let mut error = ApiError::from(e);
    if missing {
        error.status = StatusCode::NOT_FOUND;
    }
    error
}

pub(super) async fn pause(admin: Admin, Path(name): Path<String>) -> ApiResult<QueueControl> {
    Ok(Json(
        admin.client.pause_queue(&name).await.map_err(queue_error)?,
    ))
}

/// What a resume did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Resumed {
    /// The queue's control as written.
    pub control: QueueControl,
    /// Parked jobs woken.
    pub woken: usize,
}

pub(super) async fn resume(admin: Admin, Path(name): Path<String>) -> ApiResult<Resumed> {
    let (control, woken) = admin
        .client
        .resume_queue(&name)
        .await
        .map_err(queue_error)?;
    Ok(Json(Resumed { control, woken }))
}

pub(super) async fn dead_letters(
    admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Vec<DeadLetter>> {
    Ok(Json(
        admin
            .client
            .queues()
            .peek_dead_letters(&name)
            .await
            .map_err(queue_error)?,
    ))
}

/// `POST /api/queues/{name}/redrive` and `.../dead-letters/delete`.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MessagesBody {
    /// SQS message ids (1 to 100); for a redrive, none means all.
    pub ids: Option<Vec<String>>,
}

/// What a redrive or a delete did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Moved {
    /// Messages moved back to the queue, or deleted.
    pub count: usize,
}

fn message_ids(body: &MessagesBody, required: bool) -> Result<Option<Vec<String>>, ApiError> {
    match &body.ids {
        None if required => Err(ApiError::bad("ids: give 1 to 100 message ids")),
        None => Ok(None),
        Some(ids) if ids.is_empty() || ids.len() > MAX_BULK_IDS => Err(ApiError::bad(format!(
            "ids: give 1 to {MAX_BULK_IDS} message ids ({} given)",
            ids.len()
        ))),
        Some(ids) => Ok(Some(ids.clone())),
    }
}

pub(super) async fn redrive(
    admin: Admin,
    Path(name): Path<String>,
    Body(body): Body<MessagesBody>,
) -> ApiResult<Moved> {
    let ids = message_ids(&body, false)?;
    let count = admin
        .client
        .queues()
        .redrive(&name, ids.as_deref())
        .await
        .map_err(queue_error)?;
    Ok(Json(Moved { count }))
}

pub(super) async fn delete_dead_letters(
    admin: Admin,
    Path(name): Path<String>,
    Body(body): Body<MessagesBody>,
) -> ApiResult<Moved> {
    let ids = message_ids(&body, true)?.unwrap_or_default();
    let count = admin
        .client
        .queues()
        .delete_dead_letters(&name, &ids)
        .await
        .map_err(queue_error)?;
    Ok(Json(Moved { count }))
}

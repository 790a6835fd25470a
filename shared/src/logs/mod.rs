//! A run's log lines, from CloudWatch Logs (feature `logs`): the one owner
//! of CloudWatch Logs requests.
//!
//! In Lambda the worker writes JSON lines ([`crate::run::init_tracing`]),
//! which Lambda sends to the worker function's log group. Every line a run
//! logs through `tracing` is inside its `hangar.run` span, whose `job`
//! field is the job's id, and Hangar's own lines about a job carry it as a
//! field. [`RunLogs::read`] finds them: `FilterLogEvents` on that group,
//! with the job's id as the filter's term, over the time the job lived,
//! keeping the JSON lines whose span or fields name the job. Nothing is
//! written per line: the lines are the function's own output, which Lambda
//! ships anyway.
//!
//! Locally ([`ship`]), a worker's lines are shipped to the same group on
//! the emulator, as Lambda would, so that `hangar dev` reads them the same
//! way.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::job::JobRecord;

pub mod ship;

pub use ship::{LineWriter, Shipper};

/// Most lines on one page.
pub const MAX_LINES: usize = 100;
/// Most `FilterLogEvents` requests one page makes: CloudWatch may answer
/// a request with no events and a token to go on, so a page stops after
/// these and hands back a cursor.
pub const MAX_REQUESTS: usize = 4;
/// How far before the job's creation, and after its last change, lines
/// are looked for: hosts' clocks and CloudWatch's timestamps differ.
pub const MARGIN: Duration = Duration::from_secs(60);

/// The CloudWatch Logs client type.
pub type LogsClient = aws_sdk_cloudwatchlogs::Client;

/// Reads runs' log lines from the worker's log group.
#[derive(Debug, Clone)]
pub struct RunLogs {
    client: LogsClient,
    group: String,
}

/// One line a run (or Hangar, about the job) logged.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    /// When CloudWatch has it (Lambda's timestamp of the line).
    pub at: DateTime<Utc>,
    /// `INFO`, `WARN`...; empty for a line that is not JSON.
    pub level: String,
    /// The message (a line that is not JSON: the whole line).
    pub message: String,
    /// The line's other fields, as text (`job`, `attempt` and the like
    /// from its spans are left out: the page is the job's).
    pub fields: Vec<(String, String)>,
    /// The run's attempt, from its span.
    pub attempt: Option<u64>,
    /// Where it was logged (`tracing`'s target).
    pub target: String,
    /// The log stream (one per Lambda execution environment).
    pub stream: String,
}

/// A page of a job's lines, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct LogPage {
    pub lines: Vec<LogLine>,
    /// Where the next page starts, if the search did not reach the end of
    /// the window.
    pub cursor: Option<String>,
    /// The group searched.
    pub group: String,
    /// The window searched.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// False when the group does not exist (no run has logged yet, or the
    /// group is misnamed: `HANGAR_WORKER_LOG_GROUP`).
    pub group_found: bool,
}

impl RunLogs {
    /// A reader of `group` with a client from an SDK configuration.
    pub fn new(sdk: &aws_config::SdkConfig, group: impl Into<String>) -> Self {
        Self::from_client(LogsClient::new(sdk), group)
    }

    /// A reader of `group` with this client.
    pub fn from_client(client: LogsClient, group: impl Into<String>) -> Self {
        RunLogs {
            client,
            group: group.into(),
        }
    }

    /// A page of `job`'s lines, from the start of the window or from
    /// `cursor` (a page's [`LogPage::cursor`]). At most [`MAX_LINES`]
    /// lines and [`MAX_REQUESTS`] requests.
    pub async fn read(
        &self,
        job: &JobRecord,
        now: DateTime<Utc>,
        cursor: Option<&str>,
    ) -> Result<LogPage> {
        let (from, to, mut token) = match cursor {
            Some(c) => {
                let (from, to, token) = parse_cursor(c)?;
                // A page's cursor keeps the window it was read over, which
                // lies in the job's (the window only grows while it runs).
                // (A job that ended since, or a clock behind the one
                // that made the cursor, ends it sooner: its end is kept
                // within the job's.)
                let (first, last) = window(job, now);
                if from < first || from > last {
                    return Err(Error::invalid(
                        "log cursor",
                        format!("{c:?} is not a cursor of job {}'s lines", job.id),
                    ));
                }
                (from, to.min(last).max(from), Some(token))
            }
            None => {
                let (from, to) = window(job, now);
                (from, to, None)
            }
        };
        let mut page = LogPage {
            lines: Vec::new(),
            cursor: None,
            group: self.group.clone(),
            from,
            to,
            group_found: true,
        };
        let id = job.id.as_str();
        for _ in 0..MAX_REQUESTS {
            let answer = self
                .client
                .filter_log_events()
                .log_group_name(&self.group)
                .filter_pattern(format!("\"{id}\""))
                .start_time(from.timestamp_millis())
                .end_time(to.timestamp_millis())
                .limit((MAX_LINES - page.lines.len()) as i32)
                .set_next_token(token.take())
                .send()
                .await;
            let answer = match answer {
                Ok(a) => a,
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_resource_not_found_exception()) =>
                {
                    page.group_found = false;
                    return Ok(page);
                }
                // A token CloudWatch does not take (not one it gave).
                Err(e)
                    if cursor.is_some()
                        && e.as_service_error()
                            .is_some_and(|s| s.is_invalid_parameter_exception()) =>
                {
                    return Err(Error::invalid(
                        "log cursor",
                        "CloudWatch Logs refused it: not a cursor a page gave".to_owned(),
                    ));
                }
                Err(e) => return Err(Error::aws("CloudWatch Logs", "FilterLogEvents", e)),
            };
            for event in answer.events() {
                let at = Utc
                    .timestamp_millis_opt(event.timestamp().unwrap_or_default())
                    .single()
                    .unwrap_or(from);
                let stream = event.log_stream_name().unwrap_or_default();
                if let Some(line) = parse_line(id, at, stream, event.message().unwrap_or_default())
                {
                    page.lines.push(line);
                }
            }
            token = answer.next_token().map(str::to_owned);
            if token.is_none() || page.lines.len() >= MAX_LINES {
                break;
            }
        }
        page.lines.sort_by_key(|l| l.at);
        page.cursor =
            token.map(|t| format!("{}.{}.{t}", from.timestamp_millis(), to.timestamp_millis()));
        Ok(page)
    }
}

/// The window a job's lines fall in: from its first run (its creation,
/// until it runs: a job scheduled days ahead is not searched over those
/// days) to its last change (now, while it is not final), widened by
/// [`MARGIN`] each way.
pub fn window(job: &JobRecord, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let margin = chrono::Duration::from_std(MARGIN).expect("a minute");
    let first = (job.history.iter())
        .find(|e| e.state == crate::state::State::Processing)
        .map_or(job.created_at, |e| e.at);
    let last = if job.state.is_final() {
        job.history.last().map_or(job.updated_at, |e| e.at)
    } else {
        now
    };
    // In milliseconds, as CloudWatch takes them and a cursor keeps them.
    let ms = |t: DateTime<Utc>| Utc.timestamp_millis_opt(t.timestamp_millis()).unwrap();
    (ms(first - margin), ms(last.max(first) + margin))
}

/// `text` holds `id` as a whole: not as a part of a longer id (`B.1` in
/// `B.10`).
fn holds_id(text: &str, id: &str) -> bool {
    let in_id = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-');
    text.match_indices(id).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + id.len()..].chars().next();
        !before.is_some_and(in_id) && !after.is_some_and(in_id)
    })
}

fn parse_cursor(cursor: &str) -> Result<(DateTime<Utc>, DateTime<Utc>, String)> {
    let bad = || {
        Error::invalid(
            "log cursor",
            format!("{cursor:?} is not a cursor a page gave"),
        )
    };
    let mut parts = cursor.splitn(3, '.');
    let mut time = || {
        parts
            .next()
            .and_then(|p| p.parse::<i64>().ok())
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
    };
    let (from, to) = (time().ok_or_else(bad)?, time().ok_or_else(bad)?);
    match parts.next() {
        Some(token) if !token.is_empty() && from <= to => Ok((from, to, token.to_owned())),
        _ => Err(bad()),
    }
}

/// `message` as one of job `id`'s lines: a JSON line whose span, spans
/// or fields name the job, or a plain line that holds the id (a line
/// written around `tracing`). Other lines that merely hold the id (a
/// continuation's parent, a batch's member) are left out.
pub fn parse_line(id: &str, at: DateTime<Utc>, stream: &str, message: &str) -> Option<LogLine> {
    let text = message.trim_end();
    let plain = || LogLine {
        at,
        level: String::new(),
        message: text.to_owned(),
        fields: Vec::new(),
        attempt: None,
        target: String::new(),
        stream: stream.to_owned(),
    };
    let Ok(Value::Object(line)) = serde_json::from_str::<Value>(text) else {
        return holds_id(text, id).then(plain);
    };
    let names =
        |o: Option<&Value>| o.and_then(|o| o.get("job")).and_then(Value::as_str) == Some(id);
    let spans = line.get("spans").and_then(Value::as_array);
    let run = spans
        .into_iter()
        .flatten()
        .chain(line.get("span"))
        .find(|s| names(Some(s)));
    let fields = line.get("fields").and_then(Value::as_object);
    if run.is_none() && !names(line.get("fields")) {
        return None;
    }
    let text_of = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Some(LogLine {
        at,
        level: line.get("level").map(text_of).unwrap_or_default(),
        message: fields
            .and_then(|f| f.get("message"))
            .map(text_of)
            .unwrap_or_default(),
        fields: fields
            .into_iter()
            .flat_map(Map::iter)
            .filter(|(k, _)| !matches!(k.as_str(), "message" | "job"))
            .map(|(k, v)| (k.clone(), text_of(v)))
            .collect(),
        attempt: run.and_then(|s| s.get("attempt")).and_then(Value::as_u64),
        target: line.get("target").map(text_of).unwrap_or_default(),
        stream: stream.to_owned(),
    })
}

#[cfg(test)]
mod tests;

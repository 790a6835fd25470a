//! The JSON API (described in docs/openapi.yaml). Reads go through the
//! client's listing and counting operations, whose cost per request does
//! not grow with the number of jobs; actions through the client's
//! conditional transitions.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Query, Request};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use hangar::json::{BatchJson, JobJson, RecurringJson, StatsJson};
use hangar::{JobId, JobRecord, ListQuery, State as JobState};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::cursor::Position;
use crate::{Admin, ApiError};

/// Most jobs on one page of a listing.
pub const MAX_PAGE: usize = 200;
/// Most ids in one bulk request.
pub const MAX_BULK_IDS: usize = 100;
/// Most jobs one whole-state bulk request acts on (call again for more).
pub const MAX_BULK_STATE: usize = 1000;
/// Most batches one listing shows.
pub const MAX_BATCHES: usize = 100;
/// Most waiting jobs one answer about a key shows.
pub const MAX_KEY_PAGE: usize = 100;
/// The longest delay a reschedule takes: 100 years, in seconds.
pub const MAX_DELAY_SECONDS: u64 = 100 * 31_557_600;

type ApiResult<T> = Result<Json<T>, ApiError>;

/// Every API route: method, path and handler. The router is built from
/// this table, and a test holds it against docs/openapi.yaml.
fn table() -> Vec<(&'static str, &'static str, MethodRouter<Admin>)> {
    vec![
        ("GET", "/api/stats", get(stats)),
        ("GET", "/api/metrics", get(metrics)),
        ("GET", "/api/jobs", get(list)),
        ("POST", "/api/jobs/bulk", post(bulk)),
        ("GET", "/api/jobs/{id}", get(job)),
        ("POST", "/api/jobs/{id}/requeue", post(requeue)),
        ("POST", "/api/jobs/{id}/delete", post(delete)),
        ("POST", "/api/jobs/{id}/reschedule", post(reschedule)),
        ("GET", "/api/recurring", get(recurring)),
        (
            "POST",
            "/api/recurring/{id}/{action}",
            post(recurring_action),
        ),
        ("GET", "/api/keys/{key}", get(key)),
        ("GET", "/api/batches", get(batches)),
        ("GET", "/api/batches/{id}", get(batch)),
        ("GET", "/api/queues", get(queues)),
        ("POST", "/api/queues/{name}/pause", post(pause)),
        ("POST", "/api/queues/{name}/resume", post(resume)),
        ("GET", "/api/queues/{name}/dead-letters", get(dead_letters)),
        ("POST", "/api/queues/{name}/redrive", post(redrive)),
        (
            "POST",
            "/api/queues/{name}/dead-letters/delete",
            post(delete_dead_letters),
        ),
    ]
}

/// The API's routes, as (method, path template).
pub fn route_list() -> Vec<(String, String)> {
    table()
        .into_iter()
        .map(|(m, p, _)| (m.to_owned(), p.to_owned()))
        .collect()
}

pub(crate) fn routes() -> Router<Admin> {
    table()
        .into_iter()
        .fold(Router::new(), |router, (method, path, handler)| {
            let handler = handler
                .route_layer(axum::middleware::from_fn(crate::guard::action_guard))
                .fallback(move |other: Method| async move {
                    ApiError {
                        status: StatusCode::METHOD_NOT_ALLOWED,
                        message: format!("this path does not take {other}; it takes {method}"),
                    }
                });
            router.route(path, handler)
        })
        .layer(axum::middleware::from_fn(json_errors))
}

/// Every error the API answers is `{"error": "..."}`: the ones axum makes
/// itself (a query string or path that does not parse, a body over the
/// size limit) are plain text, rewritten here with their status and
/// headers.
async fn json_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = match text.is_empty() {
        true => status.canonical_reason().unwrap_or("error").to_owned(),
        false => text,
    };
    let json = ApiError { status, message }.into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, json.into_body())
}

/// A JSON request body: no body at all reads as `{}`; anything else must be
/// a JSON object sent as `application/json`, with no field null (leave a
/// field out instead). Every refusal is a 400 naming what is wrong (a body
/// over axum's size limit stays a 413).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError {
                status: e.status(),
                message: format!("body: {}", e.body_text()),
            })?;
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"{}")
        } else if json {
            bytes
        } else {
            return Err(ApiError::bad(
                "body: send JSON with the header content-type: application/json",
            ));
        };
        let Json(value) = Json::<serde_json::Value>::from_bytes(&bytes)
            .map_err(|e| ApiError::bad(format!("body: {}", e.body_text())))?;
        if let Some((name, _)) = value
            .as_object()
            .and_then(|o| o.iter().find(|(_, v)| v.is_null()))
        {
            return Err(ApiError::bad(format!(
                "body: {name} is null; leave it out instead"
            )));
        }
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| ApiError::bad(format!("body: {e}")))
    }
}

/// A count in a JSON body: an integer, written `5` or `5.0` (JSON Schema's
/// integers include numbers with no fraction).
fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    match (n.as_u64(), n.as_f64()) {
        (Some(u), _) => Ok(Some(u)),
        (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => {
            Ok(Some(f as u64))
        }
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number of 0 or more"
        ))),
    }
}

/// A size or position from a query or body: `default` when not given, else
/// it must lie in `range`.
fn bounded<N>(
    what: &str,
    given: Option<N>,
    default: N,
    range: std::ops::RangeInclusive<N>,
) -> Result<N, ApiError>
where
    N: PartialOrd + std::fmt::Display + Copy,
{
    let n = given.unwrap_or(default);
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::bad(format!(
            "{what} must be {} to {} ({n} given)",
            range.start(),
            range.end()
        )))
    }
}

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
    let points = |v: &[(DateTime<Utc>, hangar::store::metrics::Tally)]| {
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

async fn stats(admin: Admin) -> ApiResult<Stats> {
    Ok(Json(collect_stats(&admin).await?))
}

/// One kind's metrics over the last 24 hours.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KindMetrics {
    /// The kind.
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

async fn metrics(admin: Admin) -> ApiResult<Vec<KindMetrics>> {
    Ok(Json(kind_metrics(&admin).await?))
}

/// A job in a listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JobRow {
    /// Its id.
    pub id: String,
    /// Its kind.
    pub kind: String,
    /// Its queue.
    pub queue: String,
    /// Its state.
    pub state: String,
    /// Runs so far.
    pub attempt: u32,
    /// Created.
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
) -> Result<(ListQuery, Option<hangar::Cursor>, usize), ApiError> {
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
    };
    Ok((query, None, size))
}

/// One page of a listing, with the next page's signed cursor.
pub(crate) async fn page(
    admin: &Admin,
    p: &ListParams,
) -> Result<(ListQuery, hangar::Page, Option<String>), ApiError> {
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

async fn list(admin: Admin, Query(p): Query<ListParams>) -> ApiResult<JobPage> {
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
    let (_, page, next) = page(&admin, &p).await?;
    Ok(Json(JobPage {
        jobs: page.jobs.iter().map(JobRow::from).collect(),
        next,
        keys_left_out: page.keys_left_out,
    }))
}

pub(crate) fn parse_id(id: &str) -> Result<JobId, ApiError> {
    JobId::parse(id).map_err(ApiError::from)
}

async fn job(admin: Admin, Path(id): Path<String>) -> ApiResult<JobJson> {
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

async fn requeue(admin: Admin, Path(id): Path<String>) -> ApiResult<Done> {
    Ok(done(&admin.client.requeue(&parse_id(&id)?).await?))
}

async fn delete(admin: Admin, Path(id): Path<String>) -> ApiResult<Done> {
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

async fn reschedule(
    admin: Admin,
    Path(id): Path<String>,
    Body(body): Body<RescheduleBody>,
) -> ApiResult<Rescheduled> {
    let id = parse_id(&id)?;
    let when: hangar::When = match (body.at, body.delay_seconds) {
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

async fn bulk(admin: Admin, Body(body): Body<BulkBody>) -> ApiResult<BulkResult> {
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

/// A concurrency or ordering key: the runs holding its slots (live, and
/// those whose lease passed), the jobs waiting, the limit and, ordered,
/// the number allowed to start.
async fn key(
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<KeyQuery>,
) -> ApiResult<KeyJson> {
    Ok(Json(key_state(&admin, &key, &q).await?))
}

/// `GET /api/keys/{key}` parameters: which of its waiting jobs to show.
#[derive(Debug, Deserialize, Default)]
pub struct KeyQuery {
    /// Where to go on, from a previous answer's `next_cursor`.
    pub cursor: Option<String>,
    /// How many waiting jobs (default 50, up to [`MAX_KEY_PAGE`]).
    pub limit: Option<usize>,
}

/// A concurrency or ordering key and a page of the jobs waiting for it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct KeyJson {
    /// The key as stored: slots held, the waiting count, the limit.
    #[serde(flatten)]
    pub state: hangar::store::SlotState,
    /// Jobs waiting for a slot, oldest (ordered: lowest number) first.
    pub waiting_jobs: Vec<JobRow>,
    /// Pass as `cursor` for more waiting jobs; null at the end.
    pub next_cursor: Option<String>,
}

pub(crate) async fn key_state(admin: &Admin, key: &str, q: &KeyQuery) -> Result<KeyJson, ApiError> {
    hangar::job::validate_limit_key("key", key)?;
    let size = bounded("limit", q.limit, 50, 1..=MAX_KEY_PAGE)?;
    let cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => Some(admin.cursors.decode(text)?.cursor),
        None => None,
    };
    let (state, page) = tokio::try_join!(
        admin.client.concurrency_key(key),
        admin.client.waiting_jobs(key, size, cursor.as_ref()),
    )?;
    let next_cursor = page.next.map(|cursor| {
        admin.cursors.encode(&Position {
            query: ListQuery::state(JobState::Enqueued),
            cursor,
        })
    });
    Ok(KeyJson {
        state,
        waiting_jobs: page.jobs.iter().map(JobRow::from).collect(),
        next_cursor,
    })
}

/// How many batches to list.
#[derive(Debug, Deserialize)]
pub struct BatchesQuery {
    /// At most this many (default 50, up to [`MAX_BATCHES`]).
    pub limit: Option<usize>,
}

async fn batches(admin: Admin, Query(q): Query<BatchesQuery>) -> ApiResult<Vec<BatchJson>> {
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
) -> Result<(hangar::BatchRecord, BatchPage), ApiError> {
    let id = parse_id(id)?;
    let from = bounded("from", from, 1, 1..=hangar::batch::MAX_BATCH_JOBS as u64)?;
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

async fn batch(
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<BatchJobsQuery>,
) -> ApiResult<BatchPage> {
    Ok(Json(batch_page(&admin, &id, q.from, q.limit).await?.1))
}

async fn recurring(admin: Admin) -> ApiResult<Vec<RecurringRow>> {
    Ok(Json(recurring_rows(&admin).await?))
}

/// What a recurring action did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecurringDone {
    /// The recurring job.
    pub id: String,
    /// The action.
    pub action: String,
    /// For `trigger`: the job created.
    pub job: Option<String>,
}

async fn recurring_action(
    admin: Admin,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult<RecurringDone> {
    hangar::recurring::validate_recurring_id(&id)?;
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

/// A queue: its messages, and whether it is paused.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct QueueRow {
    /// Its messages.
    #[serde(flatten)]
    pub depth: hangar::queue::QueueDepth,
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

async fn queues(admin: Admin) -> ApiResult<Vec<QueueRow>> {
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

async fn pause(admin: Admin, Path(name): Path<String>) -> ApiResult<hangar::QueueControl> {
    Ok(Json(
        admin.client.pause_queue(&name).await.map_err(queue_error)?,
    ))
}

/// What a resume did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Resumed {
    /// The queue's control as written.
    pub control: hangar::QueueControl,
    /// Parked jobs woken.
    pub woken: usize,
}

async fn resume(admin: Admin, Path(name): Path<String>) -> ApiResult<Resumed> {
    let (control, woken) = admin
        .client
        .resume_queue(&name)
        .await
        .map_err(queue_error)?;
    Ok(Json(Resumed { control, woken }))
}

async fn dead_letters(
    admin: Admin,
    Path(name): Path<String>,
) -> ApiResult<Vec<hangar::queue::DeadLetter>> {
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

async fn redrive(
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

async fn delete_dead_letters(
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

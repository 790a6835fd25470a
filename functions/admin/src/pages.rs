//! The dashboard: HTML rendered here with maud, which escapes every value
//! it prints (job arguments and error messages are user data), plus a
//! little plain JavaScript for local times, actions and auto-refresh.
//! State-changing actions are POSTs to the JSON API, confirmed first,
//! carrying the session token from the page.

use axum::Router;
use axum::extract::{Path, Query};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use hangar::json::StatsJson;
use hangar::{JobRecord, State as JobState};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;

use crate::api::jobs::{ListParams, page, parse_id, parse_state};
use crate::api::recurring::{RecurringRow, recurring_rows};
use crate::{Admin, ApiError};

pub(crate) fn routes() -> Router<Admin> {
    Router::new()
        .route("/", get(overview))
        .route("/jobs/{state}", get(state_page))
        .route("/job/{id}", get(job_page))
        .route("/search", get(search))
        .route("/recurring", get(recurring_page))
        .route("/queues", get(queues_page))
        .route("/metrics", get(metrics_page))
        .route("/queues/{name}", get(queue_page))
        .route("/keys/{key}", get(key_page))
        .route("/batches", get(batches_page))
        .route("/batches/{id}", get(batch_page))
}

const CSS: &str = r#"
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:center;flex-wrap:wrap}
header a{color:#cfd6e4;text-decoration:none}header a:hover{color:#fff}
header strong{font-size:1.1em;color:#fff}
header form{margin-left:auto}header input{padding:.3em;border-radius:3px;border:0;width:22em}
main{padding:1em 1.2em;max-width:1200px}
table{border-collapse:collapse;width:100%;background:#fff;margin:.6em 0 1.2em}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e3e6eb;vertical-align:top}
th{background:#eef0f4;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.err{color:#a4262c;white-space:pre-wrap;word-break:break-word}
pre{background:#fff;border:1px solid #e3e6eb;padding:.8em;overflow:auto;white-space:pre-wrap;word-break:break-word}
button{padding:.3em .8em;border:1px solid #8a94a6;border-radius:3px;background:#fff;cursor:pointer}
button.danger{border-color:#a4262c;color:#a4262c}
.state{display:inline-block;padding:0 .5em;border-radius:3px;background:#e3e6eb}
.Succeeded{background:#d7f0dd}.Failed{background:#f6d5d7}.Processing{background:#dbe8fb}.Deleted{background:#eee;color:#666}
ol.timeline{list-style:none;padding:0}ol.timeline li{border-left:3px solid #8a94a6;margin:0 0 .6em .4em;padding:.1em .8em}
.muted{color:#6b7385}
.bar{display:flex;height:.8em;min-width:8em;background:#e3e6eb;border-radius:3px;overflow:hidden}.bar span{display:block}
.bar .Succeeded{background:#3f9c58}.bar .Failed{background:#c4424a}.bar .Deleted{background:#9aa1ad}
"#;

const JS: &str = r#"
const token = document.querySelector('meta[name=hangar-token]').content || 'dashboard';
document.querySelectorAll('time[datetime]').forEach(t => {
  const d = new Date(t.getAttribute('datetime'));
  if (!isNaN(d)) { t.title = d.toISOString() + ' (UTC)'; t.textContent = d.toLocaleString(); }
});
async function post(url, body) {
  const r = await fetch(url, {method: 'POST', headers: {'content-type': 'application/json', 'x-hangar-token': token}, body: JSON.stringify(body || {})});
  const j = await r.json().catch(() => ({}));
  if (!r.ok) { alert(j.error || r.statusText); return null; }
  return j;
}
document.addEventListener('click', async e => {
  const b = e.target.closest('button[data-post]');
  if (!b) return;
  if (b.dataset.confirm && !confirm(b.dataset.confirm)) return;
  let body = b.dataset.body ? JSON.parse(b.dataset.body) : {};
  if (b.dataset.selected) {
    body.ids = [...document.querySelectorAll('input[name=id]:checked')].map(c => c.value);
    if (!body.ids.length) { alert('Select jobs first.'); return; }
  }
  if (b.dataset.delay) {
    const s = prompt('Run again in how many seconds?', '60');
    if (s === null) return;
    body = {delay_seconds: parseInt(s, 10)};
  }
  const j = await post(b.dataset.post, body);
  if (j === null) return;
  if (j.refused && j.refused.length) alert(j.done + ' done, ' + j.refused.length + ' refused:\n' + j.refused.map(r => r.id + ': ' + r.error).join('\n'));
  location.reload();
});
const all = document.querySelector('input[data-all]');
if (all) all.addEventListener('change', () => document.querySelectorAll('input[name=id]').forEach(c => c.checked = all.checked));
const every = document.querySelector('meta[name=refresh]');
if (every) setInterval(() => { if (!document.hidden) location.reload(); }, parseInt(every.content, 10) * 1000);
"#;

fn layout(admin: &Admin, title: &str, refresh: Option<u32>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="hangar-token" content=(admin.options.token.clone().unwrap_or_default());
                @if let Some(s) = refresh { meta name="refresh" content=(s); }
                title { (title) " · Hangar" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    strong { a href="/" { "Hangar" } }
                    @for s in [JobState::Enqueued, JobState::Scheduled, JobState::Processing, JobState::Succeeded, JobState::Failed, JobState::Deleted, JobState::Awaiting] {
                        a href={ "/jobs/" (s.as_str().to_ascii_lowercase()) } { (s.as_str()) }
                    }
                    a href="/recurring" { "Recurring" }
                    a href="/metrics" { "Metrics" }
                    a href="/queues" { "Queues" }
                    a href="/batches" { "Batches" }
                    form action="/search" method="get" {
                        input name="id" placeholder="Job id" aria-label="Job id";
                    }
                }
                main {
                    @if admin.options.read_only { p.muted { "Read-only: actions are off." } }
                    (body)
                }
                script { (PreEscaped(JS)) }
            }
        }
    }
}

fn time(t: DateTime<Utc>) -> Markup {
    let iso = t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    html! { time datetime=(iso) { (iso) } }
}

fn state_badge(s: &str) -> Markup {
    html! { span class={ "state " (s) } { (s) } }
}

/// A page for an error: the status and what went wrong, escaped.
fn error_page(admin: &Admin, e: ApiError) -> Response {
    let status = e.status;
    let body = layout(
        admin,
        "Error",
        None,
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.err { (e.message) }
        },
    );
    (status, Html(body.into_string())).into_response()
}

/// Any other path: a JSON 404 under `/api/`, else an error page, both
/// naming the path.
pub(crate) async fn not_found(
    admin: Admin,
    method: axum::http::Method,
    uri: axum::http::Uri,
) -> Response {
    let path = uri.path();
    let status = axum::http::StatusCode::NOT_FOUND;
    if path.starts_with("/api/") {
        let message =
            format!("no route {method} {path} (the API's routes are in docs/openapi.yaml)");
        ApiError { status, message }.into_response()
    } else {
        let message = format!("no page at {path}");
        error_page(&admin, ApiError { status, message })
    }
}

fn render(admin: &Admin, result: Result<Markup, ApiError>) -> Response {
    match result {
        Ok(m) => Html(m.into_string()).into_response(),
        Err(e) => error_page(admin, e),
    }
}

/// Bars of jobs per state, scaled to the largest.
fn chart(stats: &StatsJson) -> Markup {
    let max = stats.states.values().copied().max().unwrap_or(0).max(1) as f64;
    let states: Vec<(&String, &u64)> = stats.states.iter().collect();
    let (w, h, bar) = (560.0, 160.0, 560.0 / states.len().max(1) as f64);
    html! {
        svg width=(w) height={ (h + 30.0) } viewBox={ "0 0 " (w) " " (h + 30.0) } role="img" aria-label="Jobs per state" {
            @for (i, (name, n)) in states.iter().enumerate() {
                @let bh = (**n as f64 / max * h).max(if **n > 0 { 2.0 } else { 0.0 });
                rect x={ (i as f64 * bar + 6.0) } y={ (h - bh) } width={ (bar - 12.0) } height=(bh) fill="#4a6fa5" {
                    title { (name) ": " (n) }
                }
                text x={ (i as f64 * bar + bar / 2.0) } y={ (h + 18.0) } text-anchor="middle" font-size="11" { (name) }
            }
        }
    }
}

/// Succeeded (green) and Failed (red) stacked per minute or hour.
fn timeline(points: &[crate::api::Point], label: &str) -> Markup {
    let max = points
        .iter()
        .map(|p| p.succeeded + p.failed)
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let (w, h) = (720.0, 120.0);
    let bar = w / points.len().max(1) as f64;
    html! {
        svg width=(w) height={ (h + 4.0) } viewBox={ "0 0 " (w) " " (h + 4.0) } role="img" aria-label=(label) {
            @for (i, p) in points.iter().enumerate() {
                @let hs = p.succeeded as f64 / max * h;
                @let hf = p.failed as f64 / max * h;
                @let x = i as f64 * bar + 1.0;
                rect x=(x) y={ (h - hs - hf) } width={ ((bar - 2.0).max(1.0)) } height=(hs) fill="#3f8f5a" {
                    title { (p.at.format("%H:%M UTC")) ": " (p.succeeded) " succeeded" }
                }
                rect x=(x) y={ (h - hf) } width={ ((bar - 2.0).max(1.0)) } height=(hf) fill="#b3383e" {
                    title { (p.at.format("%H:%M UTC")) ": " (p.failed) " failed" }
                }
            }
        }
    }
}

async fn overview(admin: Admin) -> Response {
    let result = async {
        let full = crate::api::stats::collect_stats(&admin).await?;
        let stats = &full.stats;
        Ok(layout(
            &admin,
            "Overview",
            Some(5),
            html! {
                h1 { "Overview" }
                h2 { "Finished per minute, last hour" }
                (timeline(&full.per_minute, "Succeeded and failed per minute"))
                h2 { "Finished per hour, last 24 hours" }
                (timeline(&full.per_hour, "Succeeded and failed per hour"))
                h2 { "Jobs per state" }
                (chart(stats))
                table {
                    tr { th { "State" } th { "Jobs" } }
                    @for (name, n) in &stats.states {
                        tr {
                            td { a href={ "/jobs/" (name) } { (name) } }
                            td.num { @if stats.estimated.contains(name) { "≈" } (n) }
                        }
                    }
                }
                @if !stats.estimated.is_empty() {
                    p.muted { "≈: estimated (large states; see the architecture notes)." }
                }
                (queue_table(&stats.queues))
            },
        ))
    }
    .await;
    render(&admin, result)
}

fn queue_table(queues: &[hangar::queue::QueueDepth]) -> Markup {
    html! {
        h2 { "Queues" }
        table {
            tr { th { "Queue" } th { "Visible" } th { "In flight" } th { "Delayed" } }
            @for q in queues {
                tr {
                    td {
                        @if let Some(source) = q.name.strip_suffix("-dlq") {
                            a href={ "/queues/" (source) } { (q.name) }
                        } @else { (q.name) }
                    }
                    td.num { (q.visible) } td.num { (q.in_flight) } td.num { (q.delayed) }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct StatePageParams {
    queue: Option<String>,
    kind: Option<String>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
}

async fn state_page(
    admin: Admin,
    Path(state): Path<String>,
    Query(p): Query<StatePageParams>,
) -> Response {
    let result = async {
        let st = parse_state(&state)?;
        let params = ListParams {
            state: Some(state.clone()),
            queue: p.queue.clone(),
            kind: p.kind.clone(),
            since: p.since.clone(),
            until: p.until.clone(),
            cursor: p.cursor.clone(),
            limit: Some(50),
        };
        let (query, listed, next) = page(&admin, &params).await?;
        let jobs = listed.jobs;
        let lower = st.as_str().to_ascii_lowercase();
        let writable = !admin.options.read_only;
        Ok(layout(&admin, st.as_str(), None, html! {
            h1 { (st.as_str()) " jobs" }
            form method="get" {
                input name="queue" placeholder="queue" value=(query.queue.clone().unwrap_or_default());
                " "
                input name="kind" placeholder="kind" value=(query.kind.clone().unwrap_or_default());
                " "
                input name="since" placeholder="since (RFC 3339, UTC)" size="24" value=(query.since.map(|t| t.to_rfc3339()).unwrap_or_default());
                " "
                input name="until" placeholder="until (RFC 3339, UTC)" size="24" value=(query.until.map(|t| t.to_rfc3339()).unwrap_or_default());
                " " button type="submit" { "Filter" }
            }
            @if writable {
                p {
                    button data-post="/api/jobs/bulk" data-selected="1" data-body=r#"{"action":"requeue"}"# data-confirm="Requeue the selected jobs?" { "Requeue selected" }
                    " "
                    button.danger data-post="/api/jobs/bulk" data-selected="1" data-body=r#"{"action":"delete"}"# data-confirm="Delete the selected jobs?" { "Delete selected" }
                    " "
                    button data-post="/api/jobs/bulk" data-body={ r#"{"action":"requeue","state":""# (lower) r#""}"# } data-confirm={ "Requeue every " (st.as_str()) " job (up to 1000)?" } { "Requeue all" }
                    " "
                    button.danger data-post="/api/jobs/bulk" data-body={ r#"{"action":"delete","state":""# (lower) r#""}"# } data-confirm={ "Delete every " (st.as_str()) " job (up to 1000)?" } { "Delete all" }
                }
            }
            (job_table(&jobs))
            @if jobs.is_empty() { p.muted { "No jobs on this page." } }
            @if listed.keys_left_out {
                p.muted { "Jobs wait for more concurrency and ordering keys than this list reads; a key's page lists all of its waiting jobs." }
            }
            @if let Some(next) = next {
                p { a href={ "/jobs/" (lower) "?cursor=" (next) } { "Next page →" } }
            }
        }))
    }
    .await;
    render(&admin, result)
}

fn job_table(jobs: &[JobRecord]) -> Markup {
    html! {
        table {
            tr {
                th { input type="checkbox" data-all="1" aria-label="Select all"; }
                th { "Job" } th { "Kind" } th { "Queue" } th { "State" } th { "Attempt" } th { "Updated" } th { "Last error" }
            }
            @for j in jobs {
                tr {
                    td { input type="checkbox" name="id" value=(j.id.as_str()); }
                    td { a href={ "/job/" (j.id.as_str()) } { (j.id.as_str()) } }
                    td { (j.kind) }
                    td { (j.options.queue) }
                    td {
                        (state_badge(j.state.as_str()))
                        @if let Some(key) = &j.waiting_for {
                            " " span.waiting { "waiting for " a href={ "/keys/" (path_segment(key)) } { code { (key) } } }
                        }
                    }
                    td.num { (j.attempt) }
                    td { (time(j.updated_at)) }
                    td.err { (j.last_error.as_deref().unwrap_or("")) }
                }
            }
        }
    }
}

async fn job_page(admin: Admin, Path(id): Path<String>) -> Response {
    let result = async {
        let id = parse_id(&id)?;
        let job = admin
            .client
            .get(&id)
            .await?
            .ok_or(hangar::Error::NotFound { id: id.clone() })?;
        let args = serde_json::to_string_pretty(&job.args).unwrap_or_default();
        let last_failure = job
            .history
            .iter()
            .rev()
            .find(|h| h.data.contains_key("error_message"));
        let writable = !admin.options.read_only;
        let api = format!("/api/jobs/{}", job.id);
        Ok(layout(&admin, job.id.as_str(), None, html! {
            h1 { "Job " (job.id.as_str()) " " (state_badge(job.state.as_str())) }
            @if writable {
                p {
                    button data-post={ (api) "/requeue" } data-confirm="Run this job again now?" { @if job.state == JobState::Scheduled { "Enqueue now" } @else { "Requeue" } }
                    " "
                    button data-post={ (api) "/reschedule" } data-delay="1" { "Reschedule…" }
                    " "
                    button.danger data-post={ (api) "/delete" } data-confirm="Delete this job?" { "Delete" }
                }
            }
            table {
                tr { th { "Kind" } td { (job.kind) } }
                tr { th { "Queue" } td { (job.options.queue) } }
                tr { th { "Attempt" } td { (job.attempt) " of " (job.options.retry.attempts.saturating_add(1)) } }
                tr { th { "Timeout" } td { (job.options.timeout.as_secs()) " s per run" } }
                @if !job.params.is_empty() {
                    tr { th { "Parameters" } td {
                        @for (name, value) in &job.params { code { (name) } " = " (value) br; }
                    } }
                }
                @if let Some(c) = &job.options.concurrency { tr { th { "Concurrency" } td { "at most " (c.limit) " at once, key " a href={ "/keys/" (path_segment(&c.key)) } { code { (c.key) } } } } }
                @if let (Some(key), Some(seq)) = (&job.options.ordered, job.sequence) {
                    tr { th { "Ordered" } td { "number " (seq) " of key " a href={ "/keys/" (path_segment(key)) } { code { (key) } } "; runs after the ones before it" } }
                }
                @if let Some(key) = &job.waiting_for {
                    tr { th { "Waiting" } td { "for a slot of concurrency key " code { (key) } "; woken when a run of the key ends" } }
                }
                @if let Some(r) = &job.options.rate { tr { th { "Rate limit" } td { (r.limit) " starts per " (r.per().as_secs_f64()) " s, key " code { (r.key) } } } }
                @if let Some(d) = job.options.start_within { tr { th { "Start within" } td { (d.as_secs()) " s of being enqueued or due, else given up" } } }
                tr { th { "Created" } td { (time(job.created_at)) } }
                tr { th { "Updated" } td { (time(job.updated_at)) } }
                @if let Some(t) = job.run_at { tr { th { "Due" } td { (time(t)) } } }
                @if let Some(t) = job.expires_at { tr { th { "Expires" } td { (time(t)) } } }
                @if let Some(t) = job.parked_at { tr { th { "Parked" } td { "since " (time(t)) " — its queue " a href="/queues" { (job.options.queue) } " is paused; it runs after the resume" } } }
                @if let Some(b) = &job.batch {
                    tr { th { "Batch" } td { a href={ "/batches/" (b.as_str()) } { (b.as_str()) } } }
                }
                @if let Some(p) = &job.parent {
                    @if p.batch {
                        tr { th { "Parent" } td { "batch " a href={ "/batches/" (p.id.as_str()) } { (p.id.as_str()) } } }
                    } @else {
                        tr { th { "Parent" } td { a href={ "/job/" (p.id.as_str()) } { (p.id.as_str()) } } }
                    }
                }
                @if !job.continuations.is_empty() {
                    tr { th { "Continuations" } td {
                        @for c in &job.continuations { a href={ "/job/" (c.id.as_str()) } { (c.id.as_str()) } " " }
                    } }
                }
            }
            h2 { "Arguments" }
            pre { (args) }
            @if let Some(h) = last_failure {
                h2 { "Error" }
                p.err { strong { (h.data.get("error_type").map(String::as_str).unwrap_or("")) } ": " (h.data.get("error_message").map(String::as_str).unwrap_or("")) }
                @if let Some(d) = h.data.get("error_detail") { pre.err { (d) } }
            }
            h2 { "History" }
            ol.timeline {
                @for h in job.history.iter().rev() {
                    li {
                        (state_badge(h.state.as_str())) " " (time(h.at))
                        @if let Some(r) = &h.reason { div { (r) } }
                        @for (k, v) in &h.data {
                            @if k != "error_detail" { div.muted { (k) ": " (v) } }
                        }
                    }
                }
            }
        }))
    }
    .await;
    render(&admin, result)
}

#[derive(Deserialize)]
struct SearchParams {
    id: Option<String>,
}

async fn search(admin: Admin, Query(p): Query<SearchParams>) -> Response {
    let id = p.id.unwrap_or_default();
    let id = id.trim();
    match parse_id(id) {
        Ok(id) => Redirect::to(&format!("/job/{id}")).into_response(),
        Err(e) => error_page(&admin, e),
    }
}

async fn recurring_page(admin: Admin) -> Response {
    let result = async {
        let rows: Vec<RecurringRow> = recurring_rows(&admin).await?;
        let writable = !admin.options.read_only;
        Ok(layout(&admin, "Recurring jobs", None, html! {
            h1 { "Recurring jobs" }
            table {
                tr { th { "Id" } th { "Cron" } th { "Zone" } th { "Misfire" } th { "Kind" } th { "Next run" } th { "Last run" } th { "Last error" } th {} }
                @for r in &rows {
                    @let rec = &r.recurring;
                    tr {
                        td { (rec.id) @if !rec.enabled { " " span.muted { "(disabled)" } } }
                        td { code { (rec.cron) } }
                        td { (rec.tz) }
                        td { (rec.misfire) }
                        td { (rec.kind) }
                        td.next { @if let Some(t) = r.next_occurrence { (time(t)) } @else if !rec.enabled { span.muted { "disabled" } } }
                        td.last {
                            @if let Some(l) = &r.last_started {
                                a href={ "/job/" (l.job_id) } { (time(l.occurrence)) }
                                " "
                                @match &l.state {
                                    Some(s) => (state_badge(s)),
                                    None => span.muted { "expired" },
                                }
                            } @else { span.muted { "not yet" } }
                        }
                        td.err { (rec.last_error.as_deref().unwrap_or("")) }
                        td {
                            @if writable {
                                @let base = format!("/api/recurring/{}", rec.id);
                                button data-post={ (base) "/trigger" } data-confirm={ "Run " (rec.id) " now?" } { "Trigger" } " "
                                @if rec.enabled {
                                    button data-post={ (base) "/disable" } data-confirm={ "Disable " (rec.id) "?" } { "Disable" }
                                } @else {
                                    button data-post={ (base) "/enable" } { "Enable" }
                                }
                                " "
                                button.danger data-post={ (base) "/remove" } data-confirm={ "Remove " (rec.id) "?" } { "Remove" }
                            }
                        }
                    }
                }
            }
            @if rows.is_empty() { p.muted { "No recurring jobs." } }
        }))
    }
    .await;
    render(&admin, result)
}

async fn queues_page(admin: Admin) -> Response {
    let result = async {
        let queues = crate::api::queues::queue_rows(&admin).await?;
        let writable = !admin.options.read_only;
        Ok(layout(
            &admin,
            "Queues",
            Some(5),
            html! {
                h1 { "Queues" }
                table {
                    tr { th { "Queue" } th { "Status" } th { "Visible" } th { "In flight" } th { "Delayed" } @if writable { th {} } }
                    @for q in &queues {
                        @let name = &q.depth.name;
                        @let dlq = name.ends_with("-dlq");
                        tr {
                            td {
                                @if let Some(source) = name.strip_suffix("-dlq") {
                                    a href={ "/queues/" (source) } { (name) }
                                } @else { (name) }
                            }
                            td {
                                @if dlq { "" }
                                @else if q.paused {
                                    strong { "paused" }
                                    @if let Some(t) = q.paused_at { " since " (time(t)) }
                                } @else { "running" }
                            }
                            td.num { (q.depth.visible) } td.num { (q.depth.in_flight) } td.num { (q.depth.delayed) }
                            @if writable {
                                td {
                                    @if !dlq {
                                        @if q.paused {
                                            button data-post={ "/api/queues/" (name) "/resume" } data-confirm={ "Resume " (name) " and wake its parked jobs?" } { "Resume" }
                                        } @else {
                                            button.danger data-post={ "/api/queues/" (name) "/pause" } data-confirm={ "Pause " (name) "? Its jobs wait until it is resumed." } { "Pause" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                p.muted { "A paused queue starts no job within seconds; jobs that arrive meanwhile are parked (kept, shown as Enqueued) and run after the resume. Enqueuing to it still works." }
            },
        ))
    }
    .await;
    render(&admin, result)
}

async fn queue_page(admin: Admin, Path(name): Path<String>) -> Response {
    let result = async {
        let letters = admin.client.queues().peek_dead_letters(&name).await?;
        let writable = !admin.options.read_only;
        let api = format!("/api/queues/{name}");
        Ok(layout(&admin, &format!("{name} dead letters"), None, html! {
            h1 { "Dead-letter queue of " (name) }
            p.muted { "Messages SQS gave up delivering. Shown without consuming them (up to 10)." }
            @if writable && !letters.is_empty() {
                p {
                    button data-post={ (api) "/redrive" } data-selected="1" data-confirm="Move the selected messages back to the queue?" { "Redrive selected" }
                    " "
                    button data-post={ (api) "/redrive" } data-confirm="Move every message back to the queue?" { "Redrive all" }
                    " "
                    button.danger data-post={ (api) "/dead-letters/delete" } data-selected="1" data-confirm="Delete the selected messages?" { "Delete selected" }
                }
            }
            table {
                tr { th { input type="checkbox" data-all="1" aria-label="Select all"; } th { "Message" } th { "Sent" } th { "Receives" } th { "Body" } }
                @for m in &letters {
                    tr {
                        td { input type="checkbox" name="id" value=(m.message_id); }
                        td { code { (m.message_id) } }
                        td { @if let Some(t) = m.sent_at.and_then(DateTime::<Utc>::from_timestamp_millis) { (time(t)) } }
                        td.num { (m.receive_count) }
                        td { pre { (m.body) } }
                    }
                }
            }
            @if letters.is_empty() { p.muted { "Empty." } }
        }))
    }
    .await;
    render(&admin, result)
}

/// A key in a URL path: every byte but letters, digits and `-_.~`
/// percent-encoded (keys may hold `/`, `?`, `#`).
fn path_segment(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn key_page(
    admin: Admin,
    Path(key): Path<String>,
    Query(q): Query<crate::api::KeyQuery>,
) -> Response {
    let result = async {
        let answer = crate::api::keys::key_state(&admin, &key, &q).await?;
        let k = &answer.state;
        Ok(layout(&admin, &format!("Key {key}"), Some(5), html! {
            h1 { "Key " code { (key) } }
            table {
                tr { th { "Runs at once" } td { "at most " (k.limit) } }
                tr { th { "Running" } td { (k.live.len()) } }
                tr { th { "Waiting" } td { (k.waiting) } }
                @if let Some(next) = k.next { tr { th { "Next to start" } td { "number " (next) } } }
            }
            h2 { "Jobs waiting" }
            @if answer.waiting_jobs.is_empty() {
                p.muted { "None on this page." }
            } @else {
                table {
                    tr { th { "Job" } th { "Kind" } th { "Queue" } th { "Created" } }
                    @for j in &answer.waiting_jobs {
                        tr {
                            td { a href={ "/job/" (j.id) } { (j.id) } }
                            td { (j.kind) }
                            td { (j.queue) }
                            td { (time(j.created_at)) }
                        }
                    }
                }
            }
            @if let Some(next) = &answer.next_cursor {
                p { a href={ "/keys/" (path_segment(&key)) "?cursor=" (next) } { "More waiting jobs →" } }
            }
            @if !k.live.is_empty() || !k.expired.is_empty() {
                h2 { "Runs holding a slot" }
                table {
                    tr { th { "Job" } th { "Lease until" } }
                    @for (h, live) in k.live.iter().map(|h| (h, true)).chain(k.expired.iter().map(|h| (h, false))) {
                        @let (id, lease) = h.rsplit_once('@').unwrap_or((h.as_str(), ""));
                        tr {
                            td { a href={ "/job/" (id) } { (id) } }
                            td {
                                @if let Some(t) = lease.parse::<i64>().ok().and_then(DateTime::<Utc>::from_timestamp_millis) { (time(t)) }
                                @if !live { " (passed: freed at the next take)" }
                            }
                        }
                    }
                }
            }
        }))
    }
    .await;
    render(&admin, result)
}

/// A batch's progress as a bar: succeeded, failed, deleted and pending
/// shares of its jobs.
fn progress(b: &hangar::BatchRecord) -> Markup {
    let pct = |n: u64| n as f64 * 100.0 / b.total.max(1) as f64;
    html! {
        div.bar role="img" aria-label={ (b.succeeded) " succeeded, " (b.failed) " failed, " (b.deleted) " deleted, " (b.pending()) " pending of " (b.total) } {
            span.Succeeded style={ "width:" (pct(b.succeeded)) "%" } {}
            span.Failed style={ "width:" (pct(b.failed)) "%" } {}
            span.Deleted style={ "width:" (pct(b.deleted)) "%" } {}
        }
    }
}

async fn batches_page(admin: Admin) -> Response {
    let result = async {
        let list = admin.client.batches(50).await?;
        Ok(layout(&admin, "Batches", Some(5), html! {
            h1 { "Batches" }
            table {
                tr { th { "Batch" } th { "Status" } th { "Progress" } th.num { "Jobs" } th.num { "Pending" } th.num { "Succeeded" } th.num { "Failed" } th.num { "Deleted" } th { "Created" } }
                @for b in &list {
                    tr {
                        td { a href={ "/batches/" (b.id.as_str()) } { (b.id.as_str()) } @if let Some(d) = &b.description { div.muted { (d) } } }
                        td { (b.status.as_str()) }
                        td { (progress(b)) }
                        td.num { (b.total) } td.num { (b.pending()) } td.num { (b.succeeded) } td.num { (b.failed) } td.num { (b.deleted) }
                        td { (time(b.created_at)) }
                    }
                }
            }
            @if list.is_empty() { p.muted { "No batch yet (create one with hangar batch create, the Rust client or a batch request)." } }
        }))
    }
    .await;
    render(&admin, result)
}

/// Which jobs of a batch the page lists.
#[derive(Debug, Deserialize)]
struct BatchPageQuery {
    from: Option<u64>,
}

async fn batch_page(
    admin: Admin,
    Path(id): Path<String>,
    Query(q): Query<BatchPageQuery>,
) -> Response {
    let result = async {
        let (b, page) = crate::api::batches::batch_page(&admin, &id, q.from, Some(100)).await?;
        let from = q.from.unwrap_or(1).max(1);
        Ok(layout(&admin, &format!("Batch {}", b.id), Some(5), html! {
            h1 { "Batch " (b.id.as_str()) " " (state_badge(b.status.as_str())) }
            @if let Some(d) = &b.description { p { (d) } }
            (progress(&b))
            table {
                tr { th { "Jobs" } td { (b.total) } }
                tr { th { "Pending" } td { (b.pending()) } }
                tr { th { "Succeeded" } td { (b.succeeded) } }
                tr { th { "Failed" } td { (b.failed) @if b.failed > 0 { span.muted { " — the batch waits until they are requeued or deleted" } } } }
                tr { th { "Deleted" } td { (b.deleted) } }
                tr { th { "Created" } td { (time(b.created_at)) } }
                @if let Some(t) = b.completed_at {
                    tr { th { "Completed" } td { (time(t)) @if b.all_succeeded == Some(true) { " — every job Succeeded" } @else { " — not every job Succeeded" } } }
                }
                @if let Some(t) = b.expires_at { tr { th { "Expires" } td { (time(t)) } } }
                @if !b.continuations.is_empty() {
                    tr { th { "Continuations" } td {
                        @for c in &b.continuations {
                            a href={ "/job/" (c.id.as_str()) } { (c.id.as_str()) }
                            @if c.on == hangar::ContinueOn::Succeeded { " (if every job Succeeded)" } @else { " (when every job finished)" }
                            br;
                        }
                    } }
                }
            }
            h2 { "Jobs " (from) " to " ((from + 99).min(b.total)) " of " (b.total) }
            table {
                tr { th { "Job" } th { "Kind" } th { "State" } th { "Attempt" } th { "Updated" } th { "Error" } }
                @for j in &page.jobs {
                    tr {
                        td { a href={ "/job/" (j.id) } { (j.id) } }
                        td { (j.kind) }
                        td { (state_badge(&j.state)) }
                        td.num { (j.attempt) }
                        td { (time(j.updated_at)) }
                        td.err { (j.last_error.as_deref().unwrap_or("")) }
                    }
                }
            }
            p {
                @if from > 1 { a href={ "/batches/" (b.id.as_str()) "?from=" (from.saturating_sub(100).max(1)) } { "← previous" } " " }
                @if let Some(next) = page.next { a href={ "/batches/" (b.id.as_str()) "?from=" (next) } { "next →" } }
            }
        }))
    }
    .await;
    render(&admin, result)
}

async fn metrics_page(admin: Admin) -> Response {
    let result = async {
        let kinds = crate::api::stats::kind_metrics(&admin).await?;
        let ms = |v: Option<u64>| match v {
            None => "–".to_owned(),
            Some(u64::MAX) => "> 1000 s".to_owned(),
            Some(v) if v >= 1000 => format!("≤ {} s", v / 1000),
            Some(v) => format!("≤ {v} ms"),
        };
        Ok(layout(&admin, "Metrics", None, html! {
            h1 { "Metrics per kind, last 24 hours" }
            table {
                tr { th { "Kind" } th { "Jobs" } th { "Runs" } th { "Failed runs" } th { "p50" } th { "p95" } }
                @for k in &kinds {
                    tr {
                        td { (k.kind) }
                        td.num { (k.jobs) } td.num { (k.runs) } td.num { (k.failures) }
                        td.num { (ms(k.p50_ms)) } td.num { (ms(k.p95_ms)) }
                    }
                }
            }
            @if kinds.is_empty() { p.muted { "No job finished in the last 24 hours (the timer rolls them up each minute)." } }
        }))
    }
    .await;
    render(&admin, result)
}

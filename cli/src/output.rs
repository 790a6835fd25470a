//! What the CLI prints: aligned tables for people, JSON with stable field
//! names for programs (documented in docs/cli.md), errors on stderr.

use std::fmt;
use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use hangar::{BatchRecord, Client, JobRecord, RecurringStatus};
use serde::Serialize;

/// A failed command: the message for stderr and the exit code.
#[derive(Debug)]
pub struct Fail {
    message: String,
    /// 1 for a failed operation, 2 for bad arguments.
    pub code: u8,
}

impl Fail {
    pub fn new(message: impl Into<String>) -> Self {
        Fail {
            message: message.into(),
            code: 1,
        }
    }

    pub fn usage(e: impl fmt::Display) -> Self {
        Fail {
            message: e.to_string(),
            code: 2,
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub struct Out;

impl Out {
    pub fn json<T: Serialize>(value: &T) {
        println!(
            "{}",
            serde_json::to_string_pretty(value).expect("output serializes")
        );
    }
}

/// A job an action changed: with `--json` the job as written (as `hangar job
/// --json` prints it), else the line `text` prints.
pub fn changed(job: &JobRecord, json: bool, text: impl FnOnce()) {
    if json {
        Out::json(&hangar::json::JobJson::from(job));
    } else {
        text();
    }
}

/// `hangar enqueue --count N --json`: the jobs created and the state they
/// were created in.
#[derive(Serialize)]
pub struct Created {
    pub ids: Vec<String>,
    pub state: String,
}

/// `hangar queue resume --json`: the queue's control as written, and how
/// many parked jobs were woken.
#[derive(Serialize)]
pub struct Resumed {
    #[serde(flatten)]
    pub control: hangar::QueueControl,
    pub woken: usize,
}

/// A progress bar on a terminal (of `len` items, or a count without a
/// length); hidden otherwise.
pub fn progress(len: Option<u64>, what: &'static str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let (bar, template) = match len {
        Some(n) => (
            indicatif::ProgressBar::new(n),
            "{msg} {bar:40} {pos}/{len} ({per_sec}, {eta})",
        ),
        None => (
            indicatif::ProgressBar::no_length(),
            "{msg} {spinner} {pos} ({per_sec})",
        ),
    };
    bar.set_style(indicatif::ProgressStyle::with_template(template).expect("valid template"));
    bar.set_message(what);
    bar
}

/// `hangar stats`: the library's [`hangar::json::StatsJson`], printed.
pub struct Stats(pub hangar::json::StatsJson);

impl Stats {
    pub async fn collect(client: &Client) -> hangar::Result<Stats> {
        Ok(Stats(hangar::json::StatsJson::collect(client).await?))
    }

    pub fn json(&self) -> &hangar::json::StatsJson {
        &self.0
    }

    pub fn print(&self) {
        let rows: Vec<Vec<String>> = hangar::State::ALL
            .iter()
            .map(|s| {
                let key = s.as_str().to_ascii_lowercase();
                let n = self.0.states.get(&key).copied().unwrap_or(0);
                let approx = if self.0.estimated.contains(&key) {
                    "≈"
                } else {
                    ""
                };
                vec![s.to_string(), format!("{approx}{n}")]
            })
            .collect();
        table(&["STATE", "JOBS"], &rows);
        println!();
        let rows: Vec<Vec<String>> = self
            .0
            .queues
            .iter()
            .map(|q| {
                vec![
                    q.name.clone(),
                    q.visible.to_string(),
                    q.in_flight.to_string(),
                    q.delayed.to_string(),
                ]
            })
            .collect();
        table(&["QUEUE", "VISIBLE", "IN FLIGHT", "DELAYED"], &rows);
    }
}

/// Prints rows under headers, columns padded to the widest cell.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let last = cells.len().saturating_sub(1);
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == last {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  ", w = *w));
            }
        }
        println!("{}", out.trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

pub fn short_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The first line of `s`, cut to `max` characters with `…`.
fn one_line(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() > max {
        format!("{}…", first.chars().take(max).collect::<String>())
    } else {
        first.to_owned()
    }
}

pub fn print_job(j: &JobRecord) {
    let mut rows = vec![
        ("id", j.id.to_string()),
        ("kind", j.kind.clone()),
        ("queue", j.options.queue.clone()),
        ("state", j.state.to_string()),
        ("attempt", j.attempt.to_string()),
        ("version", j.version.to_string()),
        ("args", j.args.to_string()),
        ("created", short_time(j.created_at)),
        ("updated", short_time(j.updated_at)),
    ];
    if let Some(result) = &j.result {
        rows.push(("result", result.to_string()));
    }
    if let Some(p) = &j.progress {
        rows.push((
            "progress",
            format!(
                "{:.0}% {} ({})",
                p.fraction * 100.0,
                one_line(&p.message, 100),
                short_time(p.at)
            ),
        ));
    }
    if let Some(t) = j.run_at {
        rows.push(("run at", short_time(t)));
    }
    if let Some(t) = j.expires_at {
        rows.push(("expires", short_time(t)));
    }
    rows.push(("timeout", format!("{}s", j.options.timeout.as_secs())));
    for (name, value) in &j.params {
        rows.push(("param", format!("{name} = {}", one_line(value, 100))));
    }
    if !j.tags.is_empty() {
        rows.push(("tags", j.tags.join(" ")));
    }
    if let Some(trace) = &j.trace {
        rows.push(("trace", trace.to_string()));
    }
    if let Some(c) = &j.options.concurrency {
        rows.push(("conc", format!("{} at once (key {})", c.limit, c.key)));
    }
    if let (Some(key), Some(seq)) = (&j.options.ordered, j.sequence) {
        rows.push(("ordered", format!("number {seq} of key {key}")));
    }
    if let Some(key) = &j.waiting_for {
        rows.push(("waiting", format!("for a slot of key {key}")));
    }
    if let Some(r) = &j.options.rate {
        rows.push((
            "rate",
            format!("{} per {}s (key {})", r.limit, r.per().as_secs_f64(), r.key),
        ));
    }
    if let Some(d) = j.options.start_within {
        rows.push(("start in", format!("{}s, else given up", d.as_secs())));
    }
    if let Some(t) = j.parked_at {
        rows.push(("parked", format!("{} (its queue is paused)", short_time(t))));
    }
    if let Some(b) = &j.batch {
        rows.push(("batch", b.to_string()));
    }
    if let Some(p) = &j.parent {
        let after = if p.batch {
            format!("batch {}", p.id)
        } else {
            p.id.to_string()
        };
        rows.push(("after", after));
    }
    if let Some(e) = &j.last_error {
        rows.push(("error", e.clone()));
    }
    for (k, v) in rows {
        println!("{k:<8} {v}");
    }
    println!();
    let rows: Vec<Vec<String>> = j
        .history
        .iter()
        .map(|h| {
            let mut reason = h.reason.clone().unwrap_or_default();
            for key in ["error_type", "message"] {
                if let Some(v) = h.data.get(key) {
                    reason.push_str(&format!(" [{key}: {}]", one_line(v, 100)));
                }
            }
            vec![short_time(h.at), h.state.to_string(), reason]
        })
        .collect();
    table(&["AT", "STATE", "REASON"], &rows);
}

pub fn print_jobs(jobs: &[JobRecord]) {
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.kind.clone(),
                j.options.queue.clone(),
                match &j.waiting_for {
                    Some(key) => format!("{} (waiting for {key})", j.state),
                    None => j.state.to_string(),
                },
                j.attempt.to_string(),
                short_time(j.updated_at),
                j.last_error
                    .as_deref()
                    .map(|e| one_line(e, 60))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "ID", "KIND", "QUEUE", "STATE", "ATTEMPT", "UPDATED", "ERROR",
        ],
        &rows,
    );
}

/// Recurring jobs as a person reads them: the next occurrence after now,
/// and the last that came due with its job's state (not one fired ahead).
pub fn print_recurring(list: &[RecurringStatus]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|st| {
            let r = &st.recurring;
            let last = match &st.last_started {
                Some(l) => format!(
                    "{} {}",
                    short_time(l.occurrence),
                    l.state.map_or("(expired)".to_owned(), |s| s.to_string())
                ),
                None => String::new(),
            };
            vec![
                r.id.clone(),
                r.cron.clone(),
                r.tz.clone(),
                r.kind.clone(),
                if r.enabled { "yes" } else { "no" }.to_owned(),
                st.next.map(short_time).unwrap_or_default(),
                last,
                r.last_error
                    .as_deref()
                    .map(|e| one_line(e, 40))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "CRON",
            "TZ",
            "KIND",
            "ENABLED",
            "NEXT RUN",
            "LAST RUN",
            "LAST ERROR",
        ],
        &rows,
    );
}

pub fn print_batch(b: &BatchRecord) {
    let mut rows = vec![
        ("id", b.id.to_string()),
        ("status", b.status.to_string()),
        (
            "jobs",
            format!(
                "{} total: {} pending, {} succeeded, {} failed, {} deleted",
                b.total,
                b.pending(),
                b.succeeded,
                b.failed,
                b.deleted
            ),
        ),
        ("created", short_time(b.created_at)),
    ];
    if let Some(d) = &b.description {
        rows.insert(1, ("about", one_line(d, 100)));
    }
    if let Some(t) = b.completed_at {
        let how = match b.all_succeeded {
            Some(true) => "every job Succeeded",
            _ => "not every job Succeeded",
        };
        rows.push(("done", format!("{} ({how})", short_time(t))));
    }
    for c in &b.continuations {
        let on = match c.on {
            hangar::ContinueOn::Succeeded => "if every job Succeeded",
            hangar::ContinueOn::AnyFinished => "when every job finished",
        };
        rows.push(("then", format!("{} ({on})", c.id)));
    }
    rows.push(("job ids", format!("{}.1 to {}.{}", b.id, b.id, b.total)));
    for (k, v) in rows {
        println!("{k:<8} {v}");
    }
}

pub fn print_batches(list: &[BatchRecord]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|b| {
            vec![
                b.id.to_string(),
                b.status.to_string(),
                b.total.to_string(),
                b.pending().to_string(),
                b.succeeded.to_string(),
                b.failed.to_string(),
                b.deleted.to_string(),
                short_time(b.created_at),
                b.description
                    .as_deref()
                    .map(|d| one_line(d, 40))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &[
            "ID",
            "STATUS",
            "TOTAL",
            "PENDING",
            "SUCCEEDED",
            "FAILED",
            "DELETED",
            "CREATED",
            "DESCRIPTION",
        ],
        &rows,
    );
}

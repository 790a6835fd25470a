//! What the CLI prints: aligned tables for people, JSON with stable field
//! names for programs (documented in docs/cli.md), errors on stderr.

use std::collections::BTreeMap;
use std::fmt;
use std::io::IsTerminal;

use chrono::{DateTime, Utc};
use hangar::{Client, JobRecord, RecurringJob};
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

/// A progress bar on a terminal; hidden otherwise.
pub fn progress(len: u64, what: &'static str) -> indicatif::ProgressBar {
    if !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} {bar:40} {pos}/{len} ({per_sec}, {eta})")
            .expect("valid template"),
    );
    bar.set_message(what);
    bar
}

/// `hangar job --json` and each element of `hangar jobs --json`.
#[derive(Serialize)]
pub struct JobOut {
    pub id: String,
    pub kind: String,
    pub queue: String,
    pub state: String,
    pub version: u64,
    pub attempt: u32,
    pub args: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub run_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub parent: Option<String>,
    pub continuations: Vec<String>,
    pub last_error: Option<String>,
    pub history: Vec<HistoryOut>,
}

#[derive(Serialize)]
pub struct HistoryOut {
    pub state: String,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
    pub data: BTreeMap<String, String>,
}

impl From<&JobRecord> for JobOut {
    fn from(j: &JobRecord) -> Self {
        JobOut {
            id: j.id.to_string(),
            kind: j.kind.clone(),
            queue: j.options.queue.clone(),
            state: j.state.to_string(),
            version: j.version,
            attempt: j.attempt,
            args: j.args.clone(),
            created_at: j.created_at,
            updated_at: j.updated_at,
            run_at: j.run_at,
            expires_at: j.expires_at,
            parent: j.parent.as_ref().map(|p| p.id.to_string()),
            continuations: j.continuations.iter().map(|c| c.id.to_string()).collect(),
            last_error: j.last_error.clone(),
            history: j
                .history
                .iter()
                .map(|h| HistoryOut {
                    state: h.state.to_string(),
                    at: h.at,
                    reason: h.reason.clone(),
                    data: h.data.clone(),
                })
                .collect(),
        }
    }
}

/// Each element of `hangar recurring list --json`.
#[derive(Serialize)]
pub struct RecurringOut {
    pub id: String,
    pub kind: String,
    pub queue: String,
    pub cron: String,
    pub tz: String,
    pub misfire: String,
    pub enabled: bool,
    pub next_run: Option<DateTime<Utc>>,
    pub last_run: Option<DateTime<Utc>>,
    pub last_job_id: Option<String>,
    pub last_error: Option<String>,
}

impl From<&RecurringJob> for RecurringOut {
    fn from(r: &RecurringJob) -> Self {
        RecurringOut {
            id: r.id.clone(),
            kind: r.kind.clone(),
            queue: r.options.queue.clone(),
            cron: r.cron.clone(),
            tz: r.tz.clone(),
            misfire: format!("{:?}", r.misfire).to_ascii_lowercase(),
            enabled: r.enabled,
            next_run: r.next_run,
            last_run: r.last_run,
            last_job_id: r.last_job_id.as_ref().map(ToString::to_string),
            last_error: r.last_error.clone(),
        }
    }
}

/// `hangar stats --json`.
#[derive(Serialize)]
pub struct Stats {
    /// Jobs per state (lower-case state names).
    pub states: BTreeMap<String, u64>,
    /// States whose count is an estimate (large states; see docs/cli.md).
    pub estimated: Vec<String>,
    /// Messages per SQS queue of the stack, dead-letter queues included.
    pub queues: Vec<hangar::queue::QueueDepth>,
}

impl Stats {
    pub async fn collect(client: &Client) -> hangar::Result<Stats> {
        let mut states = BTreeMap::new();
        let mut estimated = Vec::new();
        for (state, count) in client.counts().await? {
            let key = state.as_str().to_ascii_lowercase();
            if !count.exact {
                estimated.push(key.clone());
            }
            states.insert(key, count.n);
        }
        Ok(Stats {
            states,
            estimated,
            queues: client.queue_depths().await?,
        })
    }

    pub fn print(&self) {
        let rows: Vec<Vec<String>> = hangar::State::ALL
            .iter()
            .map(|s| {
                let key = s.as_str().to_ascii_lowercase();
                let n = self.states.get(&key).copied().unwrap_or(0);
                let approx = if self.estimated.contains(&key) {
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

fn short_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// One line of a possibly long text.
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
    if let Some(t) = j.run_at {
        rows.push(("run at", short_time(t)));
    }
    if let Some(t) = j.expires_at {
        rows.push(("expires", short_time(t)));
    }
    if let Some(p) = &j.parent {
        rows.push(("after", p.id.to_string()));
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
                j.state.to_string(),
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

pub fn print_recurring(list: &[RecurringJob]) {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.cron.clone(),
                r.tz.clone(),
                r.kind.clone(),
                if r.enabled { "yes" } else { "no" }.to_owned(),
                r.next_run.map(short_time).unwrap_or_default(),
                r.last_run.map(short_time).unwrap_or_default(),
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

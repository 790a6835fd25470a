//! Metrics without a server: CloudWatch Embedded Metric Format (EMF) lines
//! on standard output, which CloudWatch Logs turns into metrics as it
//! ingests a Lambda function's log. No AWS call.
//!
//! The worker writes one line per (queue, kind) after each batch it
//! handled: `JobsStarted`, `JobsSucceeded`, `JobsFailed`, `JobsRetried`,
//! `JobsGivenUp` (latency timeout) as counts, and `Duration` (the run) and
//! `QueueLatency` (from enqueued or due to claimed) as millisecond values,
//! under dimensions `[Stack, Queue, Kind]` and `[Stack, Queue]`. The timer
//! writes one line per tick that did something (`HandedOff`, `Resent`,
//! `LeaseExpired`, `Fired`, `Released`, `Unparked`, `TickErrors`) under
//! `[Stack]`. Namespace `Hangar` (`HANGAR_METRICS_NAMESPACE`).
//!
//! On in Lambda, off elsewhere; `HANGAR_METRICS=emf` turns it on outside
//! Lambda, `HANGAR_METRICS=off` off inside.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

/// EMF allows at most 100 values per metric in one line.
const MAX_VALUES: usize = 100;

/// Where EMF lines go.
#[derive(Debug, Clone)]
pub struct Emf {
    namespace: String,
    stack: String,
    enabled: bool,
    /// Lines kept instead of printed (tests).
    captured: Option<Arc<Mutex<Vec<String>>>>,
}

/// What the jobs of one (queue, kind) did in one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobTally {
    /// Runs started (claims).
    pub started: u64,
    /// Runs that succeeded.
    pub succeeded: u64,
    /// Runs that failed for good.
    pub failed: u64,
    /// Runs that failed and were scheduled for a retry.
    pub retried: u64,
    /// Jobs given up unstarted (latency timeout).
    pub given_up: u64,
    /// Run durations, ms.
    pub durations_ms: Vec<f64>,
    /// Time from enqueued (or due) to claimed, ms.
    pub latencies_ms: Vec<f64>,
}

impl Emf {
    /// From the environment (see the module documentation).
    pub fn from_env(stack: &str) -> Self {
        let setting = std::env::var("HANGAR_METRICS").unwrap_or_default();
        let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
        Emf {
            namespace: std::env::var("HANGAR_METRICS_NAMESPACE")
                .unwrap_or_else(|_| "Hangar".to_owned()),
            stack: stack.to_owned(),
            enabled: match setting.as_str() {
                "emf" | "on" => true,
                "off" => false,
                _ => in_lambda,
            },
            captured: None,
        }
    }

    pub fn off() -> Self {
        Emf {
            namespace: "Hangar".to_owned(),
            stack: String::new(),
            enabled: false,
            captured: None,
        }
    }

    /// On, keeping the lines in memory instead of printing them; returns
    /// the store.
    pub fn capture(stack: &str) -> (Self, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let emf = Emf {
            namespace: "Hangar".to_owned(),
            stack: stack.to_owned(),
            enabled: true,
            captured: Some(lines.clone()),
        };
        (emf, lines)
    }

    /// Whether lines are written.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The lines for one batch's jobs, by (queue, kind).
    pub fn job_lines(
        &self,
        tallies: &BTreeMap<(String, String), JobTally>,
        at: DateTime<Utc>,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        for ((queue, kind), t) in tallies {
            let counts = [
                ("JobsStarted", t.started),
                ("JobsSucceeded", t.succeeded),
                ("JobsFailed", t.failed),
                ("JobsRetried", t.retried),
                ("JobsGivenUp", t.given_up),
            ];
            // Values beyond 100 go on further lines (counts on the first).
            let chunks = t
                .durations_ms
                .len()
                .max(t.latencies_ms.len())
                .div_ceil(MAX_VALUES)
                .max(1);
            for i in 0..chunks {
                let mut fields = Map::new();
                fields.insert("Queue".into(), json!(queue));
                fields.insert("Kind".into(), json!(kind));
                let mut metrics = Vec::new();
                if i == 0 {
                    for (name, n) in counts {
                        fields.insert(name.into(), json!(n));
                        metrics.push((name, "Count"));
                    }
                }
                for (name, values) in [
                    ("Duration", &t.durations_ms),
                    ("QueueLatency", &t.latencies_ms),
                ] {
                    let part: Vec<f64> = values
                        .iter()
                        .skip(i * MAX_VALUES)
                        .take(MAX_VALUES)
                        .copied()
                        .collect();
                    if !part.is_empty() {
                        fields.insert(name.into(), json!(part));
                        metrics.push((name, "Milliseconds"));
                    }
                }
                if !metrics.is_empty() {
                    lines.push(self.line(
                        at,
                        &[&["Stack", "Queue", "Kind"], &["Stack", "Queue"]],
                        &metrics,
                        fields,
                    ));
                }
            }
        }
        lines
    }

    /// The line for one timer tick (none when it did nothing).
    pub fn tick_line(&self, counts: &[(&str, u64)], at: DateTime<Utc>) -> Option<String> {
        if counts.iter().all(|(_, n)| *n == 0) {
            return None;
        }
        let mut fields = Map::new();
        let mut metrics = Vec::new();
        for (name, n) in counts {
            fields.insert((*name).into(), json!(n));
            metrics.push((*name, "Count"));
        }
        Some(self.line(at, &[&["Stack"]], &metrics, fields))
    }

    fn line(
        &self,
        at: DateTime<Utc>,
        dimensions: &[&[&str]],
        metrics: &[(&str, &str)],
        mut fields: Map<String, Value>,
    ) -> String {
        fields.insert("Stack".into(), json!(self.stack));
        fields.insert(
            "_aws".into(),
            json!({
                "Timestamp": at.timestamp_millis(),
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": dimensions,
                    "Metrics": metrics
                        .iter()
                        .map(|(name, unit)| json!({"Name": name, "Unit": unit}))
                        .collect::<Vec<_>>(),
                }],
            }),
        );
        Value::Object(fields).to_string()
    }

    /// Writes lines (one per line of standard output), if enabled.
    pub fn write(&self, lines: Vec<String>) {
        if !self.enabled || lines.is_empty() {
            return;
        }
        match &self.captured {
            Some(store) => store.lock().expect("not poisoned").extend(lines),
            None => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                for line in lines {
                    // A closed stdout loses metrics, never a job.
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape CloudWatch expects: `_aws` with a millisecond timestamp
    /// and one directive naming the namespace, dimension sets and metrics;
    /// every dimension and metric a top-level member.
    #[test]
    fn job_lines_follow_the_embedded_metric_format() {
        let (emf, _) = Emf::capture("prod");
        let mut tallies = BTreeMap::new();
        tallies.insert(
            ("emails".to_owned(), "send".to_owned()),
            JobTally {
                started: 3,
                succeeded: 2,
                retried: 1,
                durations_ms: vec![12.0, 30.0, 7.0],
                latencies_ms: vec![100.0, 250.0, 80.0],
                ..Default::default()
            },
        );
        let at = DateTime::from_timestamp_millis(1_795_000_000_000).unwrap();
        let lines = emf.job_lines(&tallies, at);
        assert_eq!(lines.len(), 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_795_000_000_000i64);
        assert_eq!(directive["Namespace"], "Hangar");
        assert_eq!(
            directive["Dimensions"],
            json!([["Stack", "Queue", "Kind"], ["Stack", "Queue"]])
        );
        for set in directive["Dimensions"].as_array().unwrap() {
            for d in set.as_array().unwrap() {
                assert!(v[d.as_str().unwrap()].is_string(), "{d} missing");
            }
        }
        for m in directive["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(!v[name].is_null(), "{name} has no value");
            assert!(
                ["Count", "Milliseconds"].contains(&m["Unit"].as_str().unwrap()),
                "{m}"
            );
        }
        assert_eq!(
            (v["JobsStarted"].clone(), v["JobsRetried"].clone()),
            (json!(3), json!(1))
        );
        assert_eq!(v["Duration"], json!([12.0, 30.0, 7.0]));
        assert_eq!(
            (v["Stack"].clone(), v["Queue"].clone(), v["Kind"].clone()),
            (json!("prod"), json!("emails"), json!("send"))
        );
    }

    #[test]
    fn more_than_100_values_are_split_across_lines() {
        let (emf, _) = Emf::capture("s");
        let mut tallies = BTreeMap::new();
        tallies.insert(
            ("q".to_owned(), "k".to_owned()),
            JobTally {
                started: 250,
                succeeded: 250,
                durations_ms: vec![1.0; 250],
                latencies_ms: vec![2.0; 250],
                ..Default::default()
            },
        );
        let lines = emf.job_lines(&tallies, Utc::now());
        assert_eq!(lines.len(), 3);
        let values: usize = lines
            .iter()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                assert!(v["Duration"].as_array().unwrap().len() <= MAX_VALUES);
                v["Duration"].as_array().unwrap().len()
            })
            .sum();
        assert_eq!(values, 250);
        // The counts once, on the first line.
        let started: u64 = lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).unwrap()["JobsStarted"].as_u64())
            .sum();
        assert_eq!(started, 250);
    }

    #[test]
    fn an_idle_tick_writes_nothing_and_off_writes_nothing() {
        let (emf, lines) = Emf::capture("s");
        assert!(
            emf.tick_line(&[("HandedOff", 0), ("Fired", 0)], Utc::now())
                .is_none()
        );
        let line = emf
            .tick_line(&[("HandedOff", 2), ("Fired", 0)], Utc::now())
            .unwrap();
        emf.write(vec![line]);
        assert_eq!(lines.lock().unwrap().len(), 1);
        let off = Emf::off();
        off.write(vec!["x".into()]);
        assert!(!off.enabled());
    }
}

//! Configuration: resource names, retention, sharding. Read once from the
//! environment in a function's `main`, or built in code.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::job::validate_queue;

/// Where Hangar's resources are and how it treats time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Prefix of every resource name (`hangar` by default).
    pub stack: String,
    /// The DynamoDB table (default `{stack}-jobs`).
    pub table: String,
    /// Queue name → SQS queue URL. A queue missing here is looked up by the
    /// name `{stack}-{queue}` on first use.
    pub queue_urls: BTreeMap<String, String>,
    /// How long Succeeded and Deleted jobs are kept (default 1 day).
    pub retention: Duration,
    /// Partitions of each index key (state and due time); see
    /// docs/architecture.md. Changing it on a live table orphans nothing that
    /// is not re-sharded by its next write, but listing may miss items on
    /// shards above the new value until then.
    pub shards: u32,
    /// How long an Enqueued job may wait before the timer sends its message
    /// again (the safety net for a lost send), and how long past its lease a
    /// Processing job is left before it is re-sent.
    pub grace: Duration,
    /// Queue name → job kind for bodies that are not Hangar messages: on
    /// such a queue any other body (an S3 notification, say) becomes a job
    /// of that kind with the body as its arguments.
    pub queue_kinds: BTreeMap<String, String>,
    /// The worker function's CloudWatch Logs group, where a run's log
    /// lines are read (default: Lambda's group of the function the
    /// templates deploy, `/aws/lambda/{stack}-worker`; see
    /// [`Config::worker_log_group`]).
    pub worker_log_group: Option<String>,
}

/// Default number of index shards.
pub const DEFAULT_SHARDS: u32 = 8;
/// Default retention of final jobs.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// Default repair grace period.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10 * 60);

impl Config {
    /// Defaults for a stack name.
    pub fn new(stack: impl Into<String>) -> Self {
        let stack = stack.into();
        Config {
            table: format!("{stack}-jobs"),
            stack,
            queue_urls: BTreeMap::new(),
            retention: DEFAULT_RETENTION,
            shards: DEFAULT_SHARDS,
            grace: DEFAULT_GRACE,
            queue_kinds: BTreeMap::new(),
            worker_log_group: None,
        }
    }

    /// Reads `HANGAR_STACK`, `HANGAR_TABLE`, `HANGAR_QUEUE_URLS`
    /// (`name=url,name=url`), `HANGAR_QUEUES` (`name,name`) with
    /// `HANGAR_QUEUE_URL_PREFIX` (each URL is the prefix and the name), `HANGAR_QUEUE_KINDS` (`queue=kind,...`),
    /// `HANGAR_RETENTION_SECONDS`, `HANGAR_SHARDS`,
    /// `HANGAR_GRACE_SECONDS` and `HANGAR_WORKER_LOG_GROUP`; unset ones
    /// keep their defaults.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// [`Config::from_env`] over any lookup (testable without touching the
    /// process environment).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut cfg = Config::new(get("HANGAR_STACK").unwrap_or_else(|| "hangar".to_owned()));
        if let Some(t) = get("HANGAR_TABLE") {
            cfg.table = t;
        }
        cfg.worker_log_group = get("HANGAR_WORKER_LOG_GROUP").filter(|g| !g.trim().is_empty());
        let pairs = |var: &'static str, what: &str| -> Result<Vec<(String, String)>> {
            let mut out = Vec::new();
            for pair in get(var)
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
            {
                let (name, value) = pair
                    .split_once('=')
                    .ok_or_else(|| Error::invalid(var, format!("{pair:?} is not name={what}")))?;
                validate_queue(name.trim())?;
                out.push((name.trim().to_owned(), value.trim().to_owned()));
            }
            Ok(out)
        };
        cfg.queue_urls.extend(pairs("HANGAR_QUEUE_URLS", "url")?);
        // A deployed stack names its queues and the URL they share up to
        // the Hangar queue name (`https://sqs.<region>.<domain>/<account>/<stack>-`):
        // every URL known without a lookup.
        if let Some(names) = get("HANGAR_QUEUES") {
            let prefix = get("HANGAR_QUEUE_URL_PREFIX").ok_or_else(|| {
                Error::invalid(
                    "HANGAR_QUEUES",
                    "needs HANGAR_QUEUE_URL_PREFIX, the queues' URL up to the Hangar queue name",
                )
            })?;
            for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                validate_queue(name)?;
                cfg.queue_urls
                    .entry(name.to_owned())
                    .or_insert_with(|| format!("{prefix}{name}"));
            }
        }
        for (queue, kind) in pairs("HANGAR_QUEUE_KINDS", "kind")? {
            crate::job::validate_kind(&kind)?;
            cfg.queue_kinds.insert(queue, kind);
        }
        let secs = |name: &'static str| -> Result<Option<Duration>> {
            get(name)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map(Duration::from_secs)
                        .map_err(|e| Error::invalid(name, format!("{v:?}: {e}")))
                })
                .transpose()
        };
        if let Some(d) = secs("HANGAR_RETENTION_SECONDS")? {
            cfg.retention = d;
        }
        if let Some(d) = secs("HANGAR_GRACE_SECONDS")? {
            cfg.grace = d;
        }
        if let Some(v) = get("HANGAR_SHARDS") {
            cfg.shards = v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .ok_or_else(|| Error::invalid("HANGAR_SHARDS", format!("{v:?} (use 1 to 256)")))?;
        }
        Ok(cfg)
    }

    /// The worker's log group: the one configured, else Lambda's group of
    /// `{stack}-worker`.
    pub fn worker_log_group(&self) -> String {
        self.worker_log_group
            .clone()
            .unwrap_or_else(|| format!("/aws/lambda/{}-worker", self.stack))
    }

    /// The SQS queue name of a Hangar queue.
    pub fn sqs_queue_name(&self, queue: &str) -> String {
        format!("{}-{queue}", self.stack)
    }

    /// The SQS dead-letter queue name of a Hangar queue.
    pub fn sqs_dlq_name(&self, queue: &str) -> String {
        format!("{}-{queue}-dlq", self.stack)
    }
}

/// How Hangar's SDK clients retry: AWS's standard mode (jittered
/// exponential back-off for throttling, 5xx and broken connections) with
/// up to 10 attempts, waits of at most 5 s. Throttling slows a worker down
/// instead of failing the write that carries a job's result; only a
/// request refused 10 times in a row (about 30 s) gives up, and the job's
/// message then comes back for another try. Not the adaptive mode: its
/// client-side rate limiter, fed by a poller's few requests, held receives
/// back for tens of seconds under light throttling (`tests/tests/faults.rs`).
pub fn retry_config() -> aws_config::retry::RetryConfig {
    aws_config::retry::RetryConfig::standard()
        .with_max_attempts(10)
        .with_max_backoff(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults() {
        let cfg = Config::from_lookup(lookup(&[])).unwrap();
        assert_eq!(cfg.stack, "hangar");
        assert_eq!(cfg.table, "hangar-jobs");
        assert_eq!(cfg.retention, DEFAULT_RETENTION);
        assert_eq!(cfg.sqs_queue_name("default"), "hangar-default");
        assert_eq!(cfg.sqs_dlq_name("default"), "hangar-default-dlq");
    }

    #[test]
    fn reads_every_variable() {
        let cfg = Config::from_lookup(lookup(&[
            ("HANGAR_STACK", "prod"),
            ("HANGAR_TABLE", "jobs-table"),
            (
                "HANGAR_QUEUE_URLS",
                "default=http://q/1, critical=http://q/2",
            ),
            ("HANGAR_RETENTION_SECONDS", "60"),
            ("HANGAR_SHARDS", "4"),
            ("HANGAR_GRACE_SECONDS", "30"),
            ("HANGAR_QUEUE_KINDS", "uploads=thumbnail"),
        ]))
        .unwrap();
        assert_eq!(cfg.queue_kinds["uploads"], "thumbnail");
        assert_eq!(cfg.table, "jobs-table");
        assert_eq!(cfg.queue_urls["critical"], "http://q/2");
        assert_eq!(cfg.retention, Duration::from_secs(60));
        assert_eq!(cfg.shards, 4);
        assert_eq!(cfg.grace, Duration::from_secs(30));
    }

    #[test]
    fn queue_names_with_a_url_prefix() {
        let cfg = Config::from_lookup(lookup(&[
            ("HANGAR_QUEUES", "default, emails"),
            (
                "HANGAR_QUEUE_URL_PREFIX",
                "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-",
            ),
            ("HANGAR_QUEUE_URLS", "emails=http://elsewhere/q"),
        ]))
        .unwrap();
        assert_eq!(
            cfg.queue_urls["default"],
            "https://sqs.eu-west-1.amazonaws.com/123456789012/shop-default"
        );
        assert_eq!(
            cfg.queue_urls["emails"], "http://elsewhere/q",
            "an explicit URL wins"
        );
        let err = Config::from_lookup(lookup(&[("HANGAR_QUEUES", "default")])).unwrap_err();
        assert!(err.to_string().contains("HANGAR_QUEUE_URL_PREFIX"), "{err}");
        let err = Config::from_lookup(lookup(&[
            ("HANGAR_QUEUES", "Bad Name"),
            ("HANGAR_QUEUE_URL_PREFIX", "x"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("queue"), "{err}");
    }

    #[test]
    fn bad_values_say_which_variable() {
        for (k, v) in [
            ("HANGAR_SHARDS", "0"),
            ("HANGAR_RETENTION_SECONDS", "1d"),
            ("HANGAR_QUEUE_URLS", "default"),
            ("HANGAR_QUEUE_URLS", "Bad=http://x"),
            ("HANGAR_QUEUE_KINDS", "uploads"),
        ] {
            let err = Config::from_lookup(lookup(&[(k, v)])).unwrap_err();
            let text = err.to_string();
            assert!(
                text.contains(k) || text.contains("queue name"),
                "{k}={v}: {text}"
            );
        }
    }
}

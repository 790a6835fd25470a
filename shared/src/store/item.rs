//! Records to and from items, and where an item sits on the index.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::schema::{Bucket, NEVER_MS, Place, attr, job_key, recurring_key, shard_of};
use crate::clock::{from_millis, to_millis};
use crate::error::{Error, Result};
use crate::job::{
    Continuation, ContinueOn, HistoryEntry, JobId, JobOptions, JobRecord, MAX_HISTORY, Parent,
};
use crate::recurring::RecurringJob;
use crate::retry::RetryPolicy;
use crate::state::State;
use crate::timing::{LOOKAHEAD, RECURRING_LOOKAHEAD, chrono_dur};

pub(crate) type Item = HashMap<String, AttributeValue>;

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub(crate) fn ms(t: DateTime<Utc>) -> AttributeValue {
    n(to_millis(t))
}
pub(crate) fn to_av<T: Serialize>(value: &T) -> AttributeValue {
    serde_dynamo::to_attribute_value(value).expect("plain data serializes")
}

/// History entries as stored: a list of maps (`state`, `at` in RFC 3339,
/// `reason` if any, `data` if any), the form `to_av` gives them, written
/// directly: every state change writes one, so it is on the worker's path.
pub(crate) fn history_av(entries: &[HistoryEntry]) -> AttributeValue {
    AttributeValue::L(entries.iter().map(entry_av).collect())
}

fn entry_av(e: &HistoryEntry) -> AttributeValue {
    let mut m = HashMap::with_capacity(4);
    m.insert("state".to_owned(), s(e.state.as_str()));
    m.insert(
        "at".to_owned(),
        s(e.at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)),
    );
    if let Some(r) = &e.reason {
        m.insert("reason".to_owned(), s(r.as_str()));
    }
    if !e.data.is_empty() {
        let data = e.data.iter().map(|(k, v)| (k.clone(), s(v.as_str())));
        m.insert("data".to_owned(), AttributeValue::M(data.collect()));
    }
    AttributeValue::M(m)
}

/// Reads stored history entries (see [`history_av`]) without copying the
/// attribute value first.
fn history_of(v: &AttributeValue) -> std::result::Result<Vec<HistoryEntry>, String> {
    let list = v.as_l().map_err(|_| "history is not a list".to_owned())?;
    list.iter()
        .map(|e| {
            let m = e
                .as_m()
                .map_err(|_| "a history entry is not a map".to_owned())?;
            let text = |k: &str| m.get(k).and_then(|v| v.as_s().ok());
            let state = text("state")
                .ok_or("a history entry has no state")?
                .parse()
                .map_err(|e: crate::state::UnknownState| e.to_string())?;
            let at = text("at").ok_or("a history entry has no time")?;
            let at = DateTime::parse_from_rfc3339(at)
                .map_err(|e| format!("history time {at:?}: {e}"))?
                .with_timezone(&Utc);
            let data = match m.get("data") {
                None => Default::default(),
                Some(d) => d
                    .as_m()
                    .map_err(|_| "history data is not a map".to_owned())?
                    .iter()
                    .map(|(k, v)| match v.as_s() {
                        Ok(v) => Ok((k.clone(), v.clone())),
                        Err(_) => Err(format!("history data {k} is not a string")),
                    })
                    .collect::<std::result::Result<_, String>>()?,
            };
            Ok(HistoryEntry {
                state,
                at,
                reason: text("reason").cloned(),
                data,
            })
        })
        .collect()
}

pub(crate) fn get_s<'a>(item: &'a Item, key: &str) -> Option<&'a str> {
    item.get(key)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

pub(crate) fn get_n<T: std::str::FromStr>(item: &Item, key: &str) -> Option<T> {
    item.get(key)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

/// The keys (`pk`) of the items a query found.
pub(crate) fn keys_of(items: &[Item]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| get_s(i, attr::PK))
        .map(str::to_owned)
        .collect()
}

/// The instant an item stores for `t` (whole milliseconds).
pub(crate) fn stored(t: DateTime<Utc>) -> DateTime<Utc> {
    from_millis(to_millis(t))
}

pub(crate) fn get_ms(item: &Item, key: &str) -> Option<DateTime<Utc>> {
    get_n::<i64>(item, key).map(from_millis)
}

/// Where a job rests on the index in its current state (see [`Bucket`]).
pub(crate) fn place_of(job: &JobRecord, grace: Duration) -> Place {
    place_for(
        job.state,
        job.run_at.map(|at| (at, job.handed_off)),
        job.lease_until,
        job.continuations.len(),
        job.updated_at,
        grace,
    )
}

/// Where a job rests that entered `state` at `since`: Scheduled with this
/// due time (and whether its wake-up is in SQS), Processing with this lease,
/// with this many continuations.
pub(crate) fn place_for(
    state: State,
    run_at: Option<(DateTime<Utc>, bool)>,
    lease: Option<DateTime<Utc>>,
    conts: usize,
    since: DateTime<Utc>,
    grace: Duration,
) -> Place {
    let grace = chrono_dur(grace);
    match state {
        State::Scheduled => match run_at {
            Some((at, true)) => (Bucket::Active, at + grace),
            Some((at, false)) => (Bucket::Scheduled, at - chrono_dur(LOOKAHEAD)),
            None => (Bucket::Scheduled, since),
        },
        State::Enqueued => (Bucket::Active, since + grace),
        State::Processing => (Bucket::Active, lease.unwrap_or(since) + grace),
        State::Succeeded | State::Deleted if conts > 0 => (Bucket::Active, since + grace),
        state => (Bucket::resting(state), since),
    }
}

/// Sets an item's index keys.
pub(crate) fn put_place(item: &mut Item, id: &str, shards: u32, (bucket, at): Place) {
    item.insert(attr::BUCKET.to_owned(), s(bucket.key(shard_of(id, shards))));
    item.insert(attr::BUCKET_AT.to_owned(), ms(at));
}

/// The full item of a job.
pub(crate) fn job_item(
    job: &JobRecord,
    place: Place,
    shards: u32,
    ttl: Option<AttributeValue>,
) -> Item {
    let mut item = HashMap::from([
        (attr::PK.to_owned(), s(job_key(&job.id))),
        (attr::KIND.to_owned(), s(&job.kind)),
        (attr::ARGS.to_owned(), s(job.args.to_string())),
        (attr::QUEUE.to_owned(), s(&job.options.queue)),
        (attr::STATE.to_owned(), s(job.state.as_str())),
        (attr::VERSION.to_owned(), n(job.version)),
        (attr::ATTEMPT.to_owned(), n(job.attempt)),
        (attr::CREATED.to_owned(), ms(job.created_at)),
        (attr::UPDATED.to_owned(), ms(job.updated_at)),
        (attr::HISTORY.to_owned(), history_av(&job.history)),
        (attr::RETRY.to_owned(), to_av(&job.options.retry)),
        (attr::TIMEOUT.to_owned(), n(job.options.timeout.as_secs())),
    ]);
    put_place(&mut item, job.id.as_str(), shards, place);
    if let Some(at) = job.run_at {
        item.insert(attr::RUN_AT.to_owned(), ms(at));
        if job.handed_off {
            item.insert(attr::HANDED_OFF.to_owned(), AttributeValue::Bool(true));
        }
    }
    if let Some(at) = job.lease_until {
        item.insert(attr::LEASE.to_owned(), ms(at));
    }
    if let Some(v) = job.claimed_version {
        item.insert(attr::CLAIMED_V.to_owned(), n(v));
    }
    if let Some(p) = &job.parent {
        item.insert(attr::PARENT.to_owned(), s(p.id.as_str()));
        item.insert(attr::PARENT_ON.to_owned(), to_av(&p.on));
        if p.batch {
            item.insert(attr::PARENT_BATCH.to_owned(), AttributeValue::Bool(true));
        }
    }
    if !job.continuations.is_empty() {
        item.insert(attr::CONTS.to_owned(), to_av(&job.continuations));
    }
    if let Some(e) = &job.last_error {
        item.insert(attr::LAST_ERROR.to_owned(), s(e));
    }
    if let Some(rate) = &job.options.rate {
        item.insert(attr::RATE.to_owned(), to_av(rate));
    }
    if let Some(c) = &job.options.concurrency {
        item.insert(attr::CONCURRENCY.to_owned(), to_av(c));
    }
    if let Some(key) = &job.options.ordered {
        item.insert(attr::ORDERED.to_owned(), s(key));
    }
    if let Some(seq) = job.sequence {
        item.insert(attr::SEQUENCE.to_owned(), n(seq));
    }
    if let Some(batch) = &job.batch {
        item.insert(attr::BATCH.to_owned(), s(batch.as_str()));
    }
    if !job.params.is_empty() {
        item.insert(attr::PARAMS.to_owned(), to_av(&job.params));
    }
    if !job.tags.is_empty() {
        item.insert(attr::TAGS.to_owned(), to_av(&job.tags));
    }
    if let Some(trace) = &job.trace {
        item.insert(attr::TRACE.to_owned(), s(trace.as_str()));
    }
    if let Some(result) = &job.result {
        item.insert(attr::RESULT.to_owned(), s(result.to_string()));
    }
    if let Some(progress) = &job.progress {
        item.insert(attr::PROGRESS.to_owned(), to_av(progress));
    }
    if let Some(within) = job.options.start_within {
        item.insert(attr::START_WITHIN.to_owned(), n(within.as_secs()));
    }
    if let Some(keep) = job.options.retention {
        item.insert(attr::KEEP.to_owned(), n(keep.as_secs()));
    }
    if let Some(ttl) = ttl {
        item.insert(attr::TTL.to_owned(), ttl);
    }
    item
}

pub(crate) fn is_expired(job: &JobRecord, now: DateTime<Utc>) -> bool {
    job.expires_at.is_some_and(|at| at <= now)
}

/// Reads a job item.
pub(crate) fn parse_job(item: &Item) -> Result<JobRecord> {
    let key = get_s(item, attr::PK).unwrap_or("?").to_owned();
    let corrupt = |message: String| Error::Corrupt {
        key: key.clone(),
        message,
    };
    let id = key
        .strip_prefix("job#")
        .ok_or_else(|| corrupt("key is not job#<id>".into()))
        .and_then(|id| JobId::parse(id).map_err(|e| corrupt(e.to_string())))?;
    let req_s = |k: &str| get_s(item, k).ok_or_else(|| corrupt(format!("missing {k}")));
    let req_ms = |k: &str| get_ms(item, k).ok_or_else(|| corrupt(format!("missing {k}")));
    let state: State = req_s(attr::STATE)?
        .parse()
        .map_err(|e: crate::state::UnknownState| corrupt(e.to_string()))?;
    let args: serde_json::Value = serde_json::from_str(req_s(attr::ARGS)?)
        .map_err(|e| corrupt(format!("args are not JSON: {e}")))?;
    // Straight from the attribute value into the type (no JSON in between).
    fn from_av<T: serde::de::DeserializeOwned>(
        item: &Item,
        k: &str,
        corrupt: &dyn Fn(String) -> Error,
    ) -> Result<Option<T>> {
        item.get(k)
            .map(|v| {
                serde_dynamo::from_attribute_value(v.clone())
                    .map_err(|e| corrupt(format!("{k}: {e}")))
            })
            .transpose()
    }
    let history = match item.get(attr::HISTORY) {
        Some(v) => history_of(v).map_err(corrupt)?,
        None => Vec::new(),
    };
    let retry: RetryPolicy = from_av(item, attr::RETRY, &corrupt)?.unwrap_or_default();
    let conts: Vec<Continuation> = from_av(item, attr::CONTS, &corrupt)?.unwrap_or_default();
    let parent = match get_s(item, attr::PARENT) {
        Some(p) => {
            let on: ContinueOn = from_av(item, attr::PARENT_ON, &corrupt)?.unwrap_or_default();
            Some(Parent {
                id: JobId::parse(p).map_err(|e| corrupt(e.to_string()))?,
                on,
                batch: matches!(
                    item.get(attr::PARENT_BATCH),
                    Some(AttributeValue::Bool(true))
                ),
            })
        }
        None => None,
    };
    Ok(JobRecord {
        id,
        kind: req_s(attr::KIND)?.to_owned(),
        args,
        options: JobOptions {
            queue: req_s(attr::QUEUE)?.to_owned(),
            retry,
            timeout: Duration::from_secs(
                get_n(item, attr::TIMEOUT).unwrap_or(crate::job::DEFAULT_TIMEOUT.as_secs()),
            ),
            retention: get_n(item, attr::KEEP).map(Duration::from_secs),
            start_within: get_n(item, attr::START_WITHIN).map(Duration::from_secs),
            rate: from_av(item, attr::RATE, &corrupt)?,
            concurrency: from_av(item, attr::CONCURRENCY, &corrupt)?,
            ordered: get_s(item, attr::ORDERED).map(str::to_owned),
        },
        state,
        version: get_n(item, attr::VERSION).ok_or_else(|| corrupt("missing v".into()))?,
        attempt: get_n(item, attr::ATTEMPT).unwrap_or(0),
        created_at: req_ms(attr::CREATED)?,
        updated_at: req_ms(attr::UPDATED)?,
        run_at: get_ms(item, attr::RUN_AT),
        handed_off: matches!(item.get(attr::HANDED_OFF), Some(AttributeValue::Bool(true))),
        lease_until: get_ms(item, attr::LEASE),
        claimed_version: get_n(item, attr::CLAIMED_V),
        parent,
        continuations: conts,
        last_error: get_s(item, attr::LAST_ERROR).map(str::to_owned),
        expires_at: get_n::<i64>(item, attr::TTL).and_then(|s| DateTime::from_timestamp(s, 0)),
        parked_at: get_ms(item, attr::PARKED),
        waiting_for: get_s(item, attr::WAITS).map(str::to_owned),
        sequence: get_n(item, attr::SEQUENCE),
        batch: get_s(item, attr::BATCH)
            .map(|b| JobId::parse(b).map_err(|e| corrupt(e.to_string())))
            .transpose()?,
        completes_batch: crate::job::Transient(false),
        params: from_av(item, attr::PARAMS, &corrupt)?.unwrap_or_default(),
        tags: from_av(item, attr::TAGS, &corrupt)?.unwrap_or_default(),
        // A context that no longer reads is dropped, not an error: it only
        // links traces.
        trace: get_s(item, attr::TRACE)
            .and_then(|t| crate::tracecontext::TraceParent::parse(t).ok()),
        result: get_s(item, attr::RESULT)
            .map(|text| serde_json::from_str(text).map_err(|e| corrupt(format!("result: {e}"))))
            .transpose()?,
        progress: from_av(item, attr::PROGRESS, &corrupt)?,
        history,
    })
}

/// Where a recurring job sits on the index: due for its next firing, or
/// never when it is disabled or has no next occurrence.
pub(crate) fn recurring_place(r: &RecurringJob) -> Place {
    let at = match r.next_run {
        Some(t) if r.enabled => t - chrono_dur(RECURRING_LOOKAHEAD),
        _ => from_millis(NEVER_MS),
    };
    (Bucket::Recurring, at)
}

/// The full item of a recurring job.
pub(crate) fn recurring_item(r: &RecurringJob, shards: u32) -> Item {
    let mut item = HashMap::from([
        (attr::PK.to_owned(), s(recurring_key(&r.id))),
        (attr::KIND.to_owned(), s(&r.kind)),
        (attr::ARGS.to_owned(), s(r.args.to_string())),
        (attr::QUEUE.to_owned(), s(&r.options.queue)),
        (attr::RETRY.to_owned(), to_av(&r.options.retry)),
        (attr::TIMEOUT.to_owned(), n(r.options.timeout.as_secs())),
        (attr::CRON.to_owned(), s(&r.cron)),
        (attr::TZ.to_owned(), s(&r.tz)),
        (attr::MISFIRE.to_owned(), s(r.misfire.to_string())),
        (attr::ENABLED.to_owned(), AttributeValue::Bool(r.enabled)),
        (attr::CREATED.to_owned(), ms(r.created_at)),
        (attr::UPDATED.to_owned(), ms(r.updated_at)),
        (attr::VERSION.to_owned(), n(r.version)),
    ]);
    put_place(&mut item, &r.id, shards, recurring_place(r));
    if let Some(t) = r.next_run {
        item.insert(attr::NEXT_RUN.to_owned(), ms(t));
    }
    if let Some(t) = r.last_run {
        item.insert(attr::LAST_RUN.to_owned(), ms(t));
    }
    if let Some(rate) = &r.options.rate {
        item.insert(attr::RATE.to_owned(), to_av(rate));
    }
    if let Some(c) = &r.options.concurrency {
        item.insert(attr::CONCURRENCY.to_owned(), to_av(c));
    }
    if let Some(key) = &r.options.ordered {
        item.insert(attr::ORDERED.to_owned(), s(key));
    }
    if let Some(within) = r.options.start_within {
        item.insert(attr::START_WITHIN.to_owned(), n(within.as_secs()));
    }
    if let Some(keep) = r.options.retention {
        item.insert(attr::KEEP.to_owned(), n(keep.as_secs()));
    }
    if let Some(j) = &r.last_job_id {
        item.insert(attr::LAST_JOB.to_owned(), s(j.as_str()));
    }
    if let Some(e) = &r.last_error {
        item.insert(attr::LAST_ERROR.to_owned(), s(e));
    }
    item
}

/// Reads a recurring job item.
pub(crate) fn parse_recurring(item: &Item) -> Result<RecurringJob> {
    let key = get_s(item, attr::PK).unwrap_or_default().to_owned();
    let corrupt = |m: String| Error::Corrupt {
        key: key.clone(),
        message: m,
    };
    let req_s = |k: &str| {
        get_s(item, k)
            .map(str::to_owned)
            .ok_or_else(|| corrupt(format!("missing {k}")))
    };
    let id = key
        .strip_prefix("recurring#")
        .ok_or_else(|| corrupt("key is not recurring#<id>".into()))?
        .to_owned();
    let retry: RetryPolicy = match item.get(attr::RETRY) {
        Some(v) => serde_dynamo::from_attribute_value(v.clone())
            .map_err(|e| corrupt(format!("retry: {e}")))?,
        None => RetryPolicy::default(),
    };
    Ok(RecurringJob {
        id,
        kind: req_s(attr::KIND)?,
        args: serde_json::from_str(&req_s(attr::ARGS)?)
            .map_err(|e| corrupt(format!("args: {e}")))?,
        options: JobOptions {
            queue: req_s(attr::QUEUE)?,
            retry,
            timeout: Duration::from_secs(
                get_n(item, attr::TIMEOUT).unwrap_or(crate::job::DEFAULT_TIMEOUT.as_secs()),
            ),
            retention: get_n(item, attr::KEEP).map(Duration::from_secs),
            start_within: get_n(item, attr::START_WITHIN).map(Duration::from_secs),
            ordered: get_s(item, attr::ORDERED).map(str::to_owned),
            concurrency: item
                .get(attr::CONCURRENCY)
                .map(|v| serde_dynamo::from_attribute_value(v.clone()))
                .transpose()
                .map_err(|e| corrupt(format!("conc: {e}")))?,
            rate: item
                .get(attr::RATE)
                .map(|v| serde_dynamo::from_attribute_value(v.clone()))
                .transpose()
                .map_err(|e| corrupt(format!("rate: {e}")))?,
        },
        cron: req_s(attr::CRON)?,
        tz: req_s(attr::TZ)?,
        misfire: req_s(attr::MISFIRE)?.parse()?,
        enabled: matches!(item.get(attr::ENABLED), Some(AttributeValue::Bool(true))),
        next_run: get_ms(item, attr::NEXT_RUN),
        last_run: get_ms(item, attr::LAST_RUN),
        last_job_id: get_s(item, attr::LAST_JOB).and_then(|j| JobId::parse(j).ok()),
        last_error: get_s(item, attr::LAST_ERROR).map(str::to_owned),
        created_at: get_ms(item, attr::CREATED).ok_or_else(|| corrupt("missing created".into()))?,
        updated_at: get_ms(item, attr::UPDATED).ok_or_else(|| corrupt("missing updated".into()))?,
        version: get_n(item, attr::VERSION).unwrap_or(1),
    })
}

/// Keeps the first entry (creation) and the newest ones.
pub(crate) fn compact_history(mut history: Vec<HistoryEntry>) -> Vec<HistoryEntry> {
    if history.len() <= MAX_HISTORY {
        return history;
    }
    let dropped = history.len() - MAX_HISTORY;
    let tail = history.split_off(dropped + 1);
    let mut first = history.swap_remove(0);
    first = first.with(
        "history_truncated",
        format!("{dropped} older entries dropped"),
    );
    let mut out = Vec::with_capacity(MAX_HISTORY);
    out.push(first);
    out.extend(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<HistoryEntry> {
        let at = DateTime::parse_from_rfc3339("2026-11-26T19:09:18.515452130Z")
            .unwrap()
            .with_timezone(&Utc);
        vec![
            HistoryEntry::new(State::Enqueued, at, None),
            HistoryEntry::new(State::Processing, at + chrono::Duration::seconds(1), None)
                .with("worker", "w1")
                .with("claim", "00ff"),
            HistoryEntry::new(
                State::Failed,
                at + chrono::Duration::milliseconds(1500),
                Some("disk full".into()),
            )
            .with("error_type", "io"),
        ]
    }

    /// The direct form is the one serde gave (items written before read
    /// the same), and it reads back as written.
    #[test]
    fn history_is_stored_as_serde_stored_it_and_reads_back() {
        let entries = entries();
        assert_eq!(history_av(&entries), to_av(&entries));
        assert_eq!(history_of(&history_av(&entries)).unwrap(), entries);
        assert_eq!(history_of(&to_av(&entries)).unwrap(), entries);
    }

    #[test]
    fn a_broken_history_is_refused_with_a_reason() {
        let mut bad = history_av(&entries());
        if let AttributeValue::L(list) = &mut bad
            && let AttributeValue::M(m) = &mut list[1]
        {
            m.insert("at".into(), s("yesterday"));
        }
        assert!(history_of(&bad).unwrap_err().contains("yesterday"));
        assert!(history_of(&s("x")).unwrap_err().contains("not a list"));
    }
}

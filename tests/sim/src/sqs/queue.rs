//! A queue: its attributes (CreateQueue, SetQueueAttributes,
//! GetQueueAttributes) and its messages, with retention and counts.

use std::collections::{BTreeMap, VecDeque};

use serde_json::{Map, Value, json};

use crate::json::{Json, Object};

use super::message::Message;
use super::timeline::Timeline;
use crate::api::ApiError;

/// How many deleted messages a queue remembers, for the at-least-once
/// duplicates a receive may return (see `Options::duplicate_chance`).
const REMEMBERED_DELETES: usize = 16;

/// A queue's settings, with the defaults of the API reference's
/// CreateQueue `Attributes`.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub delay_s: i64,
    pub max_size: usize,
    pub retention_s: i64,
    pub wait_s: i64,
    pub visibility_s: i64,
    /// `RedrivePolicy`: the dead-letter queue's ARN and `maxReceiveCount`.
    pub redrive: Option<(String, u32)>,
    /// Attributes kept as given and not modelled (`Policy`, KMS and SSE
    /// settings, `RedriveAllowPolicy`).
    pub opaque: BTreeMap<String, String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            delay_s: 0,
            max_size: 1_048_576,
            retention_s: 345_600,
            wait_s: 0,
            visibility_s: 30,
            redrive: None,
            opaque: BTreeMap::new(),
        }
    }
}

/// Attributes stored as given, not modelled.
const OPAQUE: &[&str] = &[
    "Policy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "RedriveAllowPolicy",
];

fn bad_value(name: &str, value: &str) -> ApiError {
    ApiError::client(
        "InvalidAttributeValue",
        format!("Invalid value for the parameter {name}: {value}"),
    )
}

fn int_in(name: &str, value: &str, lo: i64, hi: i64) -> Result<i64, ApiError> {
    value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| (lo..=hi).contains(v))
        .ok_or_else(|| bad_value(name, value))
}

impl Settings {
    /// Applies attributes as CreateQueue and SetQueueAttributes take them,
    /// with the ranges of the API reference (CreateQueue, `Attributes`).
    /// `arn_exists` answers whether a dead-letter target exists.
    pub fn apply(
        &mut self,
        attrs: &Object,
        arn_exists: &dyn Fn(&str) -> bool,
    ) -> Result<(), ApiError> {
        for (name, value) in attrs {
            let value = value.as_str().unwrap_or_default();
            match name.as_str() {
                "DelaySeconds" => self.delay_s = int_in(name, value, 0, 900)?,
                "MaximumMessageSize" => {
                    self.max_size = int_in(name, value, 1024, 1_048_576)? as usize
                }
                "MessageRetentionPeriod" => self.retention_s = int_in(name, value, 60, 1_209_600)?,
                "ReceiveMessageWaitTimeSeconds" => self.wait_s = int_in(name, value, 0, 20)?,
                "VisibilityTimeout" => self.visibility_s = int_in(name, value, 0, 43_200)?,
                "RedrivePolicy" if value.is_empty() => self.redrive = None,
                "RedrivePolicy" => self.redrive = Some(parse_redrive(value, arn_exists)?),
                "FifoQueue"
                | "ContentBasedDeduplication"
                | "DeduplicationScope"
                | "FifoThroughputLimit" => {
                    return Err(ApiError::client(
                        "InvalidAttributeName",
                        format!("{name}: FIFO queues are not modelled"),
                    ));
                }
                n if OPAQUE.contains(&n) => {
                    self.opaque.insert(name.clone(), value.to_owned());
                }
                _ => {
                    return Err(ApiError::client(
                        "InvalidAttributeName",
                        format!("Unknown Attribute {name}."),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The attribute's value as GetQueueAttributes writes it, for the
    /// settings' attributes.
    fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "DelaySeconds" => self.delay_s.to_string(),
            "MaximumMessageSize" => self.max_size.to_string(),
            "MessageRetentionPeriod" => self.retention_s.to_string(),
            "ReceiveMessageWaitTimeSeconds" => self.wait_s.to_string(),
            "VisibilityTimeout" => self.visibility_s.to_string(),
            "RedrivePolicy" => {
                let (arn, max) = self.redrive.as_ref()?;
                json!({"deadLetterTargetArn": arn, "maxReceiveCount": max}).to_string()
            }
            other => self.opaque.get(other)?.clone(),
        })
    }
}

/// `RedrivePolicy` JSON: `deadLetterTargetArn` naming an existing queue and
/// `maxReceiveCount` 1 to 1,000 (a number or a string of one).
fn parse_redrive(text: &str, arn_exists: &dyn Fn(&str) -> bool) -> Result<(String, u32), ApiError> {
    let bad = |why: &str| {
        ApiError::client(
            "InvalidAttributeValue",
            format!("Value {text} for parameter RedrivePolicy is invalid. Reason: {why}."),
        )
    };
    let policy = Json::parse(text.as_bytes()).map_err(|_| bad("Invalid JSON"))?;
    let arn = policy
        .get("deadLetterTargetArn")
        .and_then(Json::as_str)
        .ok_or_else(|| bad("Missing deadLetterTargetArn"))?;
    if !arn_exists(arn) {
        return Err(bad("Dead letter target does not exist"));
    }
    let max = match policy.get("maxReceiveCount") {
        Some(Json::Number(n)) => n.as_u64(),
        Some(Json::String(s)) => s.parse().ok(),
        _ => None,
    }
    .filter(|m| (1..=1000).contains(m))
    .ok_or_else(|| bad("Invalid value for maxReceiveCount"))?;
    Ok((arn.to_owned(), max as u32))
}

/// One queue.
#[derive(Debug, Clone)]
pub struct Queue {
    pub name: String,
    pub url: String,
    pub arn: String,
    pub settings: Settings,
    pub created_ms: i64,
    pub modified_ms: i64,
    /// Messages by the order they arrived.
    messages: BTreeMap<u64, Message>,
    /// The same messages by when they can be received and when sent.
    timeline: Timeline,
    pub next_seq: u64,
    /// Every receipt handle issued and not yet forgotten: the message it
    /// belongs to (gone once the message is deleted or moved).
    pub receipts: BTreeMap<String, u64>,
    /// The latest deletes, newest last, with the seq they had.
    pub deleted: VecDeque<(u64, Message)>,
    pub last_purge_ms: Option<i64>,
    /// How many handles were left after the last time old ones were
    /// forgotten: the next pass waits until there are twice as many, so
    /// a long-lived message (which keeps every later handle) does not
    /// make each call read them all.
    receipts_kept: usize,
}

impl Queue {
    pub fn new(name: &str, settings: Settings, now_ms: i64) -> Self {
        Queue {
            name: name.to_owned(),
            url: format!(
                "https://sqs.{}.amazonaws.com/{}/{name}",
                super::REGION,
                super::ACCOUNT
            ),
            arn: format!("arn:aws:sqs:{}:{}:{name}", super::REGION, super::ACCOUNT),
            settings,
            created_ms: now_ms,
            modified_ms: now_ms,
            messages: BTreeMap::new(),
            timeline: Timeline::default(),
            next_seq: 0,
            receipts: BTreeMap::new(),
            deleted: VecDeque::new(),
            last_purge_ms: None,
            receipts_kept: 0,
        }
    }

    pub fn push(&mut self, message: Message) {
        self.insert(self.next_seq, message);
        self.next_seq += 1;
    }

    /// Puts a message (back) under its seq.
    pub fn insert(&mut self, seq: u64, message: Message) {
        self.timeline.add(seq, &message);
        if let Some(old) = self.messages.insert(seq, message) {
            self.timeline.remove(seq, &old);
        }
    }

    pub fn get(&self, seq: u64) -> Option<&Message> {
        self.messages.get(&seq)
    }

    /// Changes a message, keeping the timeline in step.
    pub fn update<R>(&mut self, seq: u64, change: impl FnOnce(&mut Message) -> R) -> Option<R> {
        let m = self.messages.get_mut(&seq)?;
        self.timeline.remove(seq, m);
        let out = change(m);
        self.timeline.add(seq, m);
        Some(out)
    }

    /// Takes a message out of the queue (deleted, moved or expired).
    pub fn take(&mut self, seq: u64) -> Option<Message> {
        let m = self.messages.remove(&seq)?;
        self.timeline.remove(seq, &m);
        Some(m)
    }

    /// Empties the queue (PurgeQueue).
    pub fn clear(&mut self) {
        self.messages.clear();
        self.timeline.clear();
        self.deleted.clear();
    }

    /// Makes every message visible by `now_ms` ready to be drawn.
    pub fn promote(&mut self, now_ms: i64) {
        let messages = &self.messages;
        self.timeline
            .promote(now_ms, |seq| messages[&seq].received_ms.is_some());
    }

    /// How many messages are visible (after [`Queue::promote`]).
    pub fn ready_len(&self) -> usize {
        self.timeline.ready_len()
    }

    /// The `i`-th of a random order of the visible messages: see
    /// [`Timeline::draw`].
    pub fn draw(&mut self, i: usize, rng: &mut rand::rngs::StdRng) -> u64 {
        self.timeline.draw(i, rng)
    }

    /// The messages in flight at `now_ms` (after [`Queue::promote`]).
    pub fn in_flight(&self, now_ms: i64) -> Vec<u64> {
        self.timeline
            .waiting()
            .filter(|&(_, seq)| self.messages[&seq].in_flight(now_ms))
            .map(|(_, seq)| seq)
            .collect()
    }

    /// Drops messages older than `MessageRetentionPeriod` (API reference,
    /// CreateQueue: "the length of time ... for which Amazon SQS retains a
    /// message"), and receipt handles of messages long gone.
    pub fn expire(&mut self, now_ms: i64) {
        let retention = self.settings.retention_s * 1000;
        if (self.timeline.oldest_sent_ms()).is_some_and(|sent| sent + retention <= now_ms) {
            for seq in self.timeline.sent_before(now_ms - retention + 1) {
                self.take(seq);
            }
        }
        self.deleted.retain(|(_, m)| m.sent_ms + retention > now_ms);
        // Handles of gone messages stay valid for a delete (it succeeds,
        // API reference, DeleteMessage); forget them in bulk once they far
        // outnumber live messages, oldest messages first.
        if self.receipts.len() > (4 * (self.messages.len() + 256)).max(2 * self.receipts_kept) {
            let oldest_live = self
                .messages
                .keys()
                .next()
                .copied()
                .unwrap_or(self.next_seq);
            let oldest_deleted = self
                .deleted
                .iter()
                .map(|(s, _)| *s)
                .min()
                .unwrap_or(u64::MAX);
            let keep_from = oldest_live.min(oldest_deleted);
            self.receipts.retain(|_, seq| *seq >= keep_from);
            self.receipts_kept = self.receipts.len();
        }
    }

    /// Removes a message, remembering it for duplicates.
    pub fn remove(&mut self, seq: u64) -> Option<Message> {
        let m = self.take(seq)?;
        self.deleted.push_back((seq, m.clone()));
        if self.deleted.len() > REMEMBERED_DELETES {
            self.deleted.pop_front();
        }
        Some(m)
    }

    /// (visible, in flight, delayed) now. Exact: AWS's counts are
    /// approximate and may lag ("approximate ... eventually consistent",
    /// API reference, GetQueueAttributes); the model shows no lag.
    pub fn counts(&self, now_ms: i64) -> (usize, usize, usize) {
        let messages = &self.messages;
        self.timeline
            .counts(now_ms, |seq| messages[&seq].received_ms.is_some())
    }

    /// The attributes GetQueueAttributes returns for these names ("All"
    /// for every one); an unknown name is `InvalidAttributeName`.
    pub fn attributes(
        &self,
        names: &[String],
        now_ms: i64,
    ) -> Result<Map<String, Value>, ApiError> {
        const ALL: &[&str] = &[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
            "CreatedTimestamp",
            "LastModifiedTimestamp",
            "QueueArn",
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "RedrivePolicy",
            "Policy",
            "KmsMasterKeyId",
            "KmsDataKeyReusePeriodSeconds",
            "SqsManagedSseEnabled",
            "RedriveAllowPolicy",
        ];
        let all = names.iter().any(|n| n == "All");
        let (visible, in_flight, delayed) = self.counts(now_ms);
        let mut out = Map::new();
        for &name in ALL {
            if !all && !names.iter().any(|n| n == name) {
                continue;
            }
            let value = match name {
                "ApproximateNumberOfMessages" => Some(visible.to_string()),
                "ApproximateNumberOfMessagesNotVisible" => Some(in_flight.to_string()),
                "ApproximateNumberOfMessagesDelayed" => Some(delayed.to_string()),
                // Epoch seconds (API reference, GetQueueAttributes).
                "CreatedTimestamp" => Some((self.created_ms / 1000).to_string()),
                "LastModifiedTimestamp" => Some((self.modified_ms / 1000).to_string()),
                "QueueArn" => Some(self.arn.clone()),
                other => self.settings.get(other),
            };
            if let Some(v) = value {
                out.insert(name.to_owned(), json!(v));
            }
        }
        if let Some(unknown) = names
            .iter()
            .find(|n| *n != "All" && !ALL.contains(&n.as_str()))
        {
            return Err(ApiError::client(
                "InvalidAttributeName",
                format!("Unknown Attribute {unknown}."),
            ));
        }
        Ok(out)
    }

    /// The earliest time after `now_ms` at which this queue changes by
    /// itself: a delay or visibility timeout ends, or a message expires.
    pub fn next_event_ms(&self, now_ms: i64) -> Option<i64> {
        self.timeline
            .next_event_ms(now_ms, self.settings.retention_s * 1000)
    }
}

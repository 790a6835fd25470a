//! SQS standard queues as the SQS API reference and developer guide
//! describe them: at-least-once delivery, visibility timeouts, delays,
//! batch calls, receive counts and redrive to a dead-letter queue,
//! message attributes with their MD5 digests, retention, approximate
//! counts.
//!
//! Requests come as the SDK sends them (AWS JSON 1.0, `X-Amz-Target:
//! AmazonSQS.<Operation>`). Errors carry the shape name as their code
//! (`QueueDoesNotExist`); SQS is "query compatible", and the SDK takes the
//! code from the `x-amzn-query-error` header, which
//! [`query_error_header`] gives.
//!
//! Not modelled: FIFO queues (refused at creation), DeleteQueue, tags,
//! permissions, message move tasks, KMS; long polling returns at once
//! with what is visible (in virtual time nothing arrives during a call;
//! a runtime may wait and call again); approximate counts are exact.

mod admin;
mod digest;
mod message;
mod ops;
mod queue;
#[cfg(test)]
mod tests;
mod timeline;

use std::collections::BTreeMap;

use rand::Rng;
use rand::rngs::StdRng;

use crate::json::Json;

pub use message::Attribute;
use queue::Queue;

use crate::api::{Answer, ApiError};

/// The region and account queue URLs and ARNs name.
pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

/// How the model departs from the happy path, as AWS may.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Chance that a receive also returns a message in flight or deleted
    /// lately, made in flight again under a new receipt handle: "you might
    /// get that message copy again" (developer guide, "At-least-once
    /// delivery").
    pub duplicate_chance: f64,
    /// Chance that a short-polling receive samples a subset of servers and
    /// returns fewer messages than are visible, maybe none (developer
    /// guide, "Amazon SQS short and long polling"). Long polling (a wait
    /// over 0) queries all servers and is never cut short.
    pub empty_receive_chance: f64,
}

/// A message received for Lambda's event source mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    pub md5_of_body: String,
    /// String and Number message attributes' values.
    pub attributes: BTreeMap<String, String>,
    /// Every message attribute, binary ones included.
    pub message_attributes: BTreeMap<String, Attribute>,
    /// `ApproximateReceiveCount`, this receive included.
    pub receive_count: u32,
    pub sent_ms: i64,
    pub first_receive_ms: i64,
}

/// Every queue, by name.
#[derive(Debug, Clone)]
pub struct Sqs {
    options: Options,
    queues: BTreeMap<String, Queue>,
    requests: BTreeMap<String, u64>,
}

impl Sqs {
    pub fn new(options: Options) -> Self {
        Sqs {
            options,
            queues: BTreeMap::new(),
            requests: BTreeMap::new(),
        }
    }

    /// One request: `op` as in `X-Amz-Target` after `AmazonSQS.`, `body`
    /// its JSON.
    pub fn handle(&mut self, op: &str, body: &Json, now_ms: i64, rng: &mut StdRng) -> Answer {
        *self.requests.entry(op.to_owned()).or_default() += 1;
        match op {
            "CreateQueue" => self.create_queue(body, now_ms),
            "GetQueueUrl" => self.get_queue_url(body),
            "GetQueueAttributes" => self.get_queue_attributes(body, now_ms),
            "SetQueueAttributes" => self.set_queue_attributes(body, now_ms),
            "ListQueues" => self.list_queues(body),
            "PurgeQueue" => self.purge_queue(body, now_ms),
            "SendMessage" => self.send_message(body, now_ms, rng),
            "SendMessageBatch" => self.send_message_batch(body, now_ms, rng),
            "ReceiveMessage" => self.receive_message(body, now_ms, rng),
            "DeleteMessage" => self.delete_message(body, now_ms),
            "DeleteMessageBatch" => self.delete_message_batch(body, now_ms),
            "ChangeMessageVisibility" => self.change_visibility(body, now_ms),
            "ChangeMessageVisibilityBatch" => self.change_visibility_batch(body, now_ms),
            _ => Err(ApiError::client(
                "UnsupportedOperation",
                format!("{op} is not modelled"),
            )),
        }
    }

    /// Requests by operation; the event source mapping's receives and
    /// deletes count as `ReceiveMessage` and `DeleteMessage`, as AWS bills
    /// Lambda's polling to the queue's account.
    pub fn requests(&self) -> &BTreeMap<String, u64> {
        &self.requests
    }

    /// A queue's URL by name.
    pub fn queue_url(&self, name: &str) -> Option<String> {
        self.queues.get(name).map(|q| q.url.clone())
    }

    /// A queue's ARN by URL (the event's `eventSourceARN`).
    pub fn queue_arn(&self, url: &str) -> Option<String> {
        self.queues
            .values()
            .find(|q| q.url == url)
            .map(|q| q.arn.clone())
    }

    /// For the event source mapping: up to `max` visible messages of the
    /// queue at `url`, in flight for `visibility_ms`, as a long-polling
    /// ReceiveMessage takes them (receive counts, redrive, duplicates).
    /// Nothing for an unknown queue.
    pub fn receive_for_lambda(
        &mut self,
        url: &str,
        max: usize,
        visibility_ms: i64,
        now_ms: i64,
        rng: &mut StdRng,
    ) -> Vec<Received> {
        let Some(name) = self.name_of(url) else {
            return Vec::new();
        };
        let calls = max.div_ceil(10).max(1) as u64;
        *self.requests.entry("ReceiveMessage".into()).or_default() += calls;
        self.receive(&name, max, visibility_ms, false, now_ms, rng)
            .into_iter()
            .map(|(m, handle)| Received {
                message_id: m.id.clone(),
                receipt_handle: handle,
                md5_of_body: m.md5_of_body(),
                attributes: m
                    .attributes
                    .iter()
                    .filter_map(|(k, a)| Some((k.clone(), a.string.clone()?)))
                    .collect(),
                message_attributes: m.attributes.clone(),
                receive_count: m.receive_count,
                sent_ms: m.sent_ms,
                first_receive_ms: m.first_receive_ms.unwrap_or(now_ms),
                body: m.body,
            })
            .collect()
    }

    /// For the event source mapping: deletes a message by receipt handle;
    /// whether it was deleted (false for a stale handle or a gone message).
    pub fn delete_for_lambda(&mut self, url: &str, receipt_handle: &str) -> bool {
        *self.requests.entry("DeleteMessage".into()).or_default() += 1;
        let Some(name) = self.name_of(url) else {
            return false;
        };
        let queue = self.queues.get_mut(&name).expect("named queue");
        ops::delete(queue, receipt_handle).unwrap_or(false)
    }

    /// Messages of the queue at `url` (visible, in flight, delayed) now.
    pub fn counts(&self, url: &str, now_ms: i64) -> (usize, usize, usize) {
        self.name_of(url)
            .and_then(|name| self.queues.get(&name))
            .map_or((0, 0, 0), |q| q.counts(now_ms))
    }

    /// The earliest time after `now_ms` at which a queue changes by itself:
    /// a delay or a visibility timeout ends, or a message's retention does.
    pub fn next_event_ms(&self, now_ms: i64) -> Option<i64> {
        self.queues
            .values()
            .filter_map(|q| q.next_event_ms(now_ms))
            .min()
    }

    fn name_of(&self, url: &str) -> Option<String> {
        let name = url.rsplit('/').next()?;
        self.queues
            .get(name)
            .filter(|q| q.url == url)
            .map(|q| q.name.clone())
    }

    /// The queue a request's `QueueUrl` names, its expired messages
    /// dropped.
    fn queue_mut(&mut self, body: &Json, now_ms: i64) -> Result<&mut Queue, ApiError> {
        let url = required_str(body, "QueueUrl")?;
        let name = self.name_of(url).ok_or_else(no_queue)?;
        let queue = self.queues.get_mut(&name).expect("named queue");
        queue.expire(now_ms);
        Ok(queue)
    }
}

/// `QueueDoesNotExist` (API reference, common to every queue operation).
fn no_queue() -> ApiError {
    ApiError::client(
        "QueueDoesNotExist",
        "The specified queue does not exist for this wsdl version.",
    )
}

fn required_str<'a>(body: &'a Json, name: &str) -> Result<&'a str, ApiError> {
    body.get(name).and_then(Json::as_str).ok_or_else(|| {
        ApiError::client(
            "MissingParameter",
            format!("The request must contain the parameter {name}."),
        )
    })
}

/// A list of strings in the request (`AttributeNames` and the like).
fn names(body: &Json, field: &str) -> Vec<String> {
    let list = body.get(field).and_then(Json::as_array);
    let strings = list.into_iter().flatten().filter_map(Json::as_str);
    strings.map(str::to_owned).collect()
}

/// 1 to 80 characters of `A-Za-z0-9-_`: a queue name (API reference,
/// CreateQueue) or a batch entry id (e.g. SendMessageBatchRequestEntry).
fn short_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 80
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A UUID-shaped identifier (version 4) from the seeded generator.
fn uuid(rng: &mut StdRng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The `x-amzn-query-error` header value for an error code: the code the
/// SDK matches (`<code>;Sender`). SQS's JSON protocol is query compatible:
/// the SDK (aws-sdk-sqs `protocol_serde`) reads the code from this header,
/// e.g. `AWS.SimpleQueueService.NonExistentQueue` for `QueueDoesNotExist`;
/// the body's `__type` is `com.amazonaws.sqs#<code>`.
pub fn query_error_header(code: &str, status: u16) -> String {
    let query_code = match code {
        "QueueDoesNotExist" => "AWS.SimpleQueueService.NonExistentQueue".to_owned(),
        "QueueNameExists" => "QueueAlreadyExists".to_owned(),
        "BatchEntryIdsNotDistinct"
        | "BatchRequestTooLong"
        | "EmptyBatchRequest"
        | "InvalidBatchEntryId"
        | "MessageNotInflight"
        | "PurgeQueueInProgress"
        | "QueueDeletedRecently"
        | "TooManyEntriesInBatchRequest"
        | "UnsupportedOperation" => format!("AWS.SimpleQueueService.{code}"),
        other => other.to_owned(),
    };
    let fault = if status >= 500 { "Receiver" } else { "Sender" };
    format!("{query_code};{fault}")
}

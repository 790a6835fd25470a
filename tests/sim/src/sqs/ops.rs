//! Message operations: SendMessage(Batch), ReceiveMessage,
//! DeleteMessage(Batch), ChangeMessageVisibility(Batch).

use std::collections::BTreeSet;

use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Map, Value, json};

use crate::json::Json;

use super::message::{Message, md5_of_attributes, message_size, parse_attributes, valid_text};
use super::queue::Queue;
use super::{Sqs, names, required_str, short_name, uuid};
use crate::api::{Answer, ApiError};

/// The most a SendMessageBatch may carry, its entries together (API
/// reference, SendMessageBatch: "The maximum allowed individual message
/// size and the maximum total payload size (the sum of the individual
/// lengths of all of the batched messages) are both 1 MiB (1,048,576
/// bytes)"). A queue's lower `MaximumMessageSize` bounds each message, not
/// the batch.
const MAX_BATCH_BYTES: usize = 1_048_576;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::client("InvalidParameterValue", message)
}

/// An optional integer parameter within a range (API reference ranges).
fn int_param(body: &Json, name: &str, lo: i64, hi: i64) -> Result<Option<i64>, ApiError> {
    match body.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|n| (lo..=hi).contains(n))
            .map(Some)
            .ok_or_else(|| {
                invalid(format!(
                    "Value {v} for parameter {name} is invalid. Reason: must be between {lo} and {hi}."
                ))
            }),
    }
}

/// The entries of a batch request, checked as the API reference's batch
/// operations say: none is `EmptyBatchRequest`, more than 10
/// `TooManyEntriesInBatchRequest`, an `Id` not of 1 to 80 `A-Za-z0-9-_`
/// `InvalidBatchEntryId`, two alike `BatchEntryIdsNotDistinct`.
fn batch_entries(body: &Json) -> Result<&Vec<Json>, ApiError> {
    let entries = body
        .get("Entries")
        .and_then(Json::as_array)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| {
            ApiError::client(
                "EmptyBatchRequest",
                "There should be at least one entry in the request.",
            )
        })?;
    if entries.len() > 10 {
        return Err(ApiError::client(
            "TooManyEntriesInBatchRequest",
            format!(
                "Maximum number of entries per request are 10. You have sent {}.",
                entries.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for e in entries {
        let id = e.get("Id").and_then(Json::as_str).unwrap_or("");
        if !short_name(id) {
            return Err(ApiError::client(
                "InvalidBatchEntryId",
                format!(
                    "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long: {id}"
                ),
            ));
        }
        if !seen.insert(id) {
            return Err(ApiError::client(
                "BatchEntryIdsNotDistinct",
                format!("Id {id} repeated."),
            ));
        }
    }
    Ok(entries)
}

/// A batch answer from per-entry results: `Successful` and `Failed`, each
/// failure with `SenderFault`, `Code` and `Message`.
fn batch_answer(results: Vec<(String, Result<Value, ApiError>)>) -> Value {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    for (id, r) in results {
        match r {
            Ok(mut v) => {
                v["Id"] = json!(id);
                ok.push(v);
            }
            Err(e) => failed.push(json!({
                "Id": id, "SenderFault": e.status < 500, "Code": e.code, "Message": e.message,
            })),
        }
    }
    json!({ "Successful": ok, "Failed": failed })
}

/// Checks one message to send (API reference, SendMessage): a body of 1
/// or more allowed characters, attributes, a size within the queue's
/// `MaximumMessageSize`, `DelaySeconds` 0 to 900 (the queue's when not
/// given); the stored message and the answer's fields.
fn accept(
    queue: &Queue,
    entry: &Json,
    now_ms: i64,
    rng: &mut StdRng,
) -> Result<(Message, Value), ApiError> {
    let body = required_str(entry, "MessageBody")?;
    if body.is_empty() {
        // "The minimum size is one character" (API reference,
        // SendMessage, `MessageBody`); SQS answers an empty body as a
        // missing one.
        return Err(ApiError::client(
            "MissingParameter",
            "The request must contain the parameter MessageBody.",
        ));
    }
    if !valid_text(body) {
        return Err(ApiError::client(
            "InvalidMessageContents",
            "Invalid binary character in message body or attributes.",
        ));
    }
    let attributes = parse_attributes(entry.get("MessageAttributes"))?;
    let size = message_size(body, &attributes);
    if size > queue.settings.max_size {
        return Err(invalid(format!(
            "One or more parameters are invalid. Reason: Message must be shorter than {} bytes.",
            queue.settings.max_size
        )));
    }
    let delay = int_param(entry, "DelaySeconds", 0, 900)?.unwrap_or(queue.settings.delay_s);
    let message = Message {
        id: uuid(rng),
        body: body.to_owned(),
        sent_ms: now_ms,
        visible_at_ms: now_ms + delay * 1000,
        receive_count: 0,
        first_receive_ms: None,
        received_ms: None,
        handle: None,
        attributes,
    };
    let mut answer = Map::new();
    answer.insert("MessageId".into(), json!(message.id));
    answer.insert("MD5OfMessageBody".into(), json!(message.md5_of_body()));
    if !message.attributes.is_empty() {
        let md5 = md5_of_attributes(&message.attributes);
        answer.insert("MD5OfMessageAttributes".into(), json!(md5));
    }
    Ok((message, Value::Object(answer)))
}

/// Makes a message in flight under a new receipt handle: the receive
/// count goes up, its visibility timeout starts (developer guide,
/// "Amazon SQS visibility timeout").
fn deliver(
    queue: &mut Queue,
    seq: u64,
    visibility_ms: i64,
    now_ms: i64,
    rng: &mut StdRng,
) -> (Message, String) {
    let handle = uuid(rng);
    let m = queue
        .update(seq, |m| {
            m.receive_count += 1;
            m.first_receive_ms.get_or_insert(now_ms);
            m.received_ms = Some(now_ms);
            m.visible_at_ms = now_ms + visibility_ms;
            m.handle = Some(handle.clone());
            m.clone()
        })
        .expect("message to deliver");
    queue.receipts.insert(handle.clone(), seq);
    (m, handle)
}

/// DeleteMessage on one queue (API reference, DeleteMessage): an unknown
/// handle is `ReceiptHandleIsInvalid`; the latest handle of a message
/// deletes it, also after its visibility timeout ended; an older handle
/// of a message received again, or one of a message already gone,
/// succeeds without deleting ("if you don't provide the most recently
/// received receipt handle for the message, the request will still
/// succeed, but the message might not be deleted": the model takes the
/// "not deleted" case every time). Whether it deleted.
pub(super) fn delete(queue: &mut Queue, handle: &str) -> Result<bool, ApiError> {
    let seq = *queue
        .receipts
        .get(handle)
        .ok_or_else(|| bad_handle(handle))?;
    let latest = queue
        .get(seq)
        .is_some_and(|m| m.handle.as_deref() == Some(handle));
    Ok(latest && queue.remove(seq).is_some())
}

fn bad_handle(handle: &str) -> ApiError {
    ApiError::client(
        "ReceiptHandleIsInvalid",
        format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
    )
}

/// ChangeMessageVisibility on one queue (API reference,
/// ChangeMessageVisibility): the new timeout (0 to 43,200 s) counts from
/// now, within 12 hours of the receive; a message not in flight, or a
/// handle not of its latest receive, is `MessageNotInflight`; a message
/// gone is `InvalidParameterValue` (as SQS answers it).
fn change_one(
    queue: &mut Queue,
    handle: &str,
    timeout: Option<i64>,
    now_ms: i64,
) -> Result<(), ApiError> {
    let seq = *queue
        .receipts
        .get(handle)
        .ok_or_else(|| bad_handle(handle))?;
    let timeout = timeout.ok_or_else(|| {
        ApiError::client(
            "MissingParameter",
            "The request must contain the parameter VisibilityTimeout.",
        )
    })?;
    if !(0..=43_200).contains(&timeout) {
        return Err(invalid(format!(
            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be between 0 and 43200."
        )));
    }
    let m = queue.get(seq).ok_or_else(|| {
        invalid(format!(
            "Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change."
        ))
    })?;
    if !m.in_flight(now_ms) || m.handle.as_deref() != Some(handle) {
        return Err(ApiError::client(
            "MessageNotInflight",
            "The message referred to isn't in flight.",
        ));
    }
    let received = m.received_ms.unwrap_or(now_ms);
    if now_ms + timeout * 1000 > received + 43_200_000 {
        return Err(invalid(format!(
            "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds]"
        )));
    }
    queue.update(seq, |m| m.visible_at_ms = now_ms + timeout * 1000);
    Ok(())
}

impl Sqs {
    pub(super) fn send_message(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Answer {
        let queue = self.queue_mut(body, now_ms)?;
        let (message, answer) = accept(queue, body, now_ms, rng)?;
        queue.push(message);
        Ok(answer)
    }

    /// API reference, SendMessageBatch: each entry succeeds or fails on
    /// its own (one larger than the queue's `MaximumMessageSize` too); the
    /// sum of the entries' sizes may not exceed [`MAX_BATCH_BYTES`]
    /// (`BatchRequestTooLong`), whatever the queue's maximum.
    pub(super) fn send_message_batch(
        &mut self,
        body: &Json,
        now_ms: i64,
        rng: &mut StdRng,
    ) -> Answer {
        let entries = batch_entries(body)?;
        let queue = self.queue_mut(body, now_ms)?;
        let total: usize = entries
            .iter()
            .map(|e| {
                let b = e.get("MessageBody").and_then(Json::as_str).unwrap_or("");
                let attrs = parse_attributes(e.get("MessageAttributes")).unwrap_or_default();
                message_size(b, &attrs)
            })
            .sum();
        if total > MAX_BATCH_BYTES {
            return Err(ApiError::client(
                "BatchRequestTooLong",
                format!(
                    "Batch requests cannot be longer than {MAX_BATCH_BYTES} bytes. You have sent {total} bytes."
                ),
            ));
        }
        let mut results = Vec::new();
        for e in entries {
            let id = e["Id"].as_str().unwrap_or_default().to_owned();
            let r = accept(queue, e, now_ms, rng).map(|(message, answer)| {
                queue.push(message);
                answer
            });
            results.push((id, r));
        }
        Ok(batch_answer(results))
    }

    /// API reference, ReceiveMessage: `MaxNumberOfMessages` 1 to 10,
    /// `VisibilityTimeout` 0 to 43,200 (the queue's when not given),
    /// `WaitTimeSeconds` 0 to 20 (the queue's when not given; over 0 is
    /// long polling, which returns at once here), system attributes from
    /// `MessageSystemAttributeNames` or the older `AttributeNames`,
    /// message attributes from `MessageAttributeNames`.
    pub(super) fn receive_message(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Answer {
        let max = int_param(body, "MaxNumberOfMessages", 1, 10)?.unwrap_or(1) as usize;
        let visibility = int_param(body, "VisibilityTimeout", 0, 43_200)?;
        let wait = int_param(body, "WaitTimeSeconds", 0, 20)?;
        let mut system = names(body, "MessageSystemAttributeNames");
        system.extend(names(body, "AttributeNames"));
        let wanted = names(body, "MessageAttributeNames");
        let queue = self.queue_mut(body, now_ms)?;
        let visibility_ms = visibility.unwrap_or(queue.settings.visibility_s) * 1000;
        let short_poll = wait.unwrap_or(queue.settings.wait_s) == 0;
        let name = queue.name.clone();
        let messages: Vec<Value> = self
            .receive(&name, max, visibility_ms, short_poll, now_ms, rng)
            .iter()
            .map(|(m, handle)| m.to_json(handle, &system, &wanted))
            .collect();
        if messages.is_empty() {
            return Ok(json!({}));
        }
        Ok(json!({ "Messages": messages }))
    }

    /// One receive on a queue: visible messages in a seeded order (a
    /// standard queue keeps no order: developer guide, "Amazon SQS
    /// standard queues"), fewer when a short poll samples a subset of
    /// servers, and maybe one duplicate; a message whose receive count
    /// reached the redrive policy's `maxReceiveCount` moves to the
    /// dead-letter queue instead ("when the ReceiveCount for a message
    /// exceeds the maxReceiveCount", API reference, CreateQueue), keeping
    /// its id, sent time and receive count.
    pub(super) fn receive(
        &mut self,
        name: &str,
        max: usize,
        visibility_ms: i64,
        short_poll: bool,
        now_ms: i64,
        rng: &mut StdRng,
    ) -> Vec<(Message, String)> {
        let options = self.options.clone();
        let queue = self.queues.get_mut(name).expect("queue to receive from");
        queue.expire(now_ms);
        let redrive = queue.settings.redrive.clone();
        queue.promote(now_ms);
        let mut limit = queue.ready_len();
        if short_poll && limit > 0 && rng.random_bool(options.empty_receive_chance.clamp(0.0, 1.0))
        {
            limit = rng.random_range(0..limit);
        }
        // Drawn in a seeded order, then delivered or moved once the
        // drawing is over (the draw needs the visible ones as they were).
        let mut drawn = Vec::new();
        let mut kept = 0;
        for i in 0..limit {
            if kept >= max {
                break;
            }
            let seq = queue.draw(i, rng);
            let count = queue.get(seq).expect("visible message").receive_count;
            let moves = (redrive.as_ref()).is_some_and(|(_, most)| count >= *most);
            if !moves {
                kept += 1;
            }
            drawn.push((seq, moves));
        }
        let mut out = Vec::new();
        let mut moved = Vec::new();
        for (seq, moves) in drawn {
            if moves {
                moved.push(queue.take(seq).expect("visible message"));
            } else {
                out.push(deliver(queue, seq, visibility_ms, now_ms, rng));
            }
        }
        if out.len() < max
            && rng.random_bool(options.duplicate_chance.clamp(0.0, 1.0))
            && let Some(dup) = duplicate(queue, &out, visibility_ms, now_ms, rng)
        {
            out.push(dup);
        }
        if let Some((arn, _)) = redrive {
            let dlq = self.queues.values_mut().find(|q| q.arn == arn);
            if let Some(dlq) = dlq {
                for mut m in moved {
                    m.visible_at_ms = now_ms;
                    m.received_ms = None;
                    m.handle = None;
                    dlq.push(m);
                }
            }
        }
        out
    }
}

/// At-least-once delivery (developer guide, "At-least-once delivery"): a
/// message in flight, or one deleted lately whose copy on an unavailable
/// server survived, delivered again under a new handle.
fn duplicate(
    queue: &mut Queue,
    taken: &[(Message, String)],
    visibility_ms: i64,
    now_ms: i64,
    rng: &mut StdRng,
) -> Option<(Message, String)> {
    let taken: BTreeSet<&str> = taken.iter().map(|(m, _)| m.id.as_str()).collect();
    let in_flight: Vec<u64> = (queue.in_flight(now_ms).into_iter())
        .filter(|&seq| !taken.contains(queue.get(seq).expect("in flight").id.as_str()))
        .collect();
    let choices = in_flight.len() + queue.deleted.len();
    if choices == 0 {
        return None;
    }
    let pick = rng.random_range(0..choices);
    let seq = match in_flight.get(pick) {
        Some(seq) => *seq,
        None => {
            let (seq, m) = queue.deleted.remove(pick - in_flight.len())?;
            queue.insert(seq, m);
            seq
        }
    };
    Some(deliver(queue, seq, visibility_ms, now_ms, rng))
}

impl Sqs {
    pub(super) fn delete_message(&mut self, body: &Json, now_ms: i64) -> Answer {
        self.by_handle(body, now_ms, false, |q, _, h| delete(q, h).map(drop))
    }

    /// API reference, DeleteMessageBatch: each entry as DeleteMessage.
    pub(super) fn delete_message_batch(&mut self, body: &Json, now_ms: i64) -> Answer {
        self.by_handle(body, now_ms, true, |q, _, h| delete(q, h).map(drop))
    }

    pub(super) fn change_visibility(&mut self, body: &Json, now_ms: i64) -> Answer {
        self.by_handle(body, now_ms, false, |q, e, h| {
            let timeout = e.get("VisibilityTimeout").and_then(Json::as_i64);
            change_one(q, h, timeout, now_ms)
        })
    }

    /// API reference, ChangeMessageVisibilityBatch: each entry as
    /// ChangeMessageVisibility.
    pub(super) fn change_visibility_batch(&mut self, body: &Json, now_ms: i64) -> Answer {
        self.by_handle(body, now_ms, true, |q, e, h| {
            let timeout = e.get("VisibilityTimeout").and_then(Json::as_i64);
            change_one(q, h, timeout, now_ms)
        })
    }

    /// One action on a message by `ReceiptHandle`: for the request itself,
    /// or for each of its `Entries`, answering each apart.
    fn by_handle(
        &mut self,
        body: &Json,
        now_ms: i64,
        batch: bool,
        act: impl Fn(&mut Queue, &Json, &str) -> Result<(), ApiError>,
    ) -> Answer {
        let entries = if batch {
            Some(batch_entries(body)?)
        } else {
            None
        };
        let queue = self.queue_mut(body, now_ms)?;
        let Some(entries) = entries else {
            act(queue, body, required_str(body, "ReceiptHandle")?)?;
            return Ok(json!({}));
        };
        let results = entries
            .iter()
            .map(|e| {
                let id = e["Id"].as_str().unwrap_or_default().to_owned();
                let r = required_str(e, "ReceiptHandle").and_then(|h| act(queue, e, h));
                (id, r.map(|()| json!({})))
            })
            .collect();
        Ok(batch_answer(results))
    }
}

//! The simulation's SQS model against the emulator: one seeded sequence of
//! requests, as Hangar makes them (sends with delays and message
//! attributes, batches with a failing entry, receives with a visibility
//! timeout and `ApproximateReceiveCount`, visibility changes, deletes one
//! by one and in batches, approximate counts, redrive to a dead-letter
//! queue at `maxReceiveCount`), goes to both through the real SDK, and
//! every answer must match.
//!
//! Delays and visibility timeouts run in real time on both sides: the
//! model's clock follows tokio's, which is not paused here, as moto's
//! follows the host's. So each round keeps to a timetable in whole seconds
//! and makes every observation at least half a second from any instant a
//! message changes state. Where the model departs from AWS's happy path on
//! purpose (duplicate deliveries, short polls that return a subset) it is
//! configured off; moto's short poll returns every visible message, as the
//! model's then does. Standard queues keep no order, so receives are
//! compared as sets (sorted by body, every body unique). Where moto and the
//! model differ and AWS's documentation allows the model's answer, the case
//! is left out, with the page that says so.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use hangar_integration_tests::TestEnv;
use hangar_sim::dynamodb::DynamoDb;
use hangar_sim::net::{Faults, Network, sdk_config};
use hangar_sim::sqs::{Options, Sqs};
use hangar_sim::time::VirtualClock;
use hangar_sim::world::World;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

/// The account moto and the model both name in queue ARNs.
const ACCOUNT: &str = "123456789012";

/// A receipt handle neither side issued.
const JUNK_HANDLE: &str = "AQEBjunkjunkjunkjunkjunkjunkjunkjunk";

/// A message to send: a body unique within its round, an optional delay
/// and message attributes.
#[derive(Debug, Clone)]
struct Msg {
    body: String,
    delay: Option<i32>,
    attributes: Vec<(String, MessageAttributeValue)>,
}

/// Which receipt handle a request carries: the latest one a side was given
/// for the message with this body, or one that was never issued.
#[derive(Debug, Clone)]
enum Handle {
    Latest(String),
    Junk,
}

/// A ReceiveMessage: at most `max`, in flight for `visibility` seconds,
/// long polling for `wait` seconds, `ApproximateReceiveCount` when
/// `count`, the message attributes `names` match.
#[derive(Debug, Clone)]
struct Receive {
    queue: &'static str,
    max: i32,
    visibility: Option<i32>,
    wait: Option<i32>,
    count: bool,
    names: Vec<&'static str>,
}

/// One request of the sequence (or, for `ReceiveSplit`, two).
#[derive(Debug, Clone)]
enum Op {
    Create {
        queue: &'static str,
        attributes: Vec<(&'static str, String)>,
    },
    Url {
        queue: &'static str,
    },
    Attributes {
        queue: &'static str,
        names: Vec<&'static str>,
    },
    Send {
        queue: &'static str,
        msg: Msg,
    },
    SendBatch {
        queue: &'static str,
        entries: Vec<(String, Msg)>,
    },
    Receive(Receive),
    /// A receive of fewer than are visible, then one of the rest: which
    /// messages the first takes is the queue's choice, so the two are
    /// compared by their sizes and the union of what they returned.
    ReceiveSplit(Receive, Receive),
    Delete {
        queue: &'static str,
        handle: Handle,
    },
    DeleteBatch {
        queue: &'static str,
        entries: Vec<(String, Handle)>,
    },
    Change {
        queue: &'static str,
        handle: Handle,
        timeout: i32,
    },
    ChangeBatch {
        queue: &'static str,
        entries: Vec<(String, Handle, i32)>,
    },
}

/// One side of the comparison: its client, its queues' URLs by role (the
/// URLs differ between the sides) and the receipt handles it was given, by
/// body, latest last.
struct Side {
    sqs: Client,
    prefix: String,
    urls: BTreeMap<&'static str, String>,
    handles: BTreeMap<String, Vec<String>>,
}

/// The role of a queue no side created.
const MISSING: &str = "missing";

impl Side {
    fn name(&self, queue: &str) -> String {
        format!("{}-{queue}", self.prefix)
    }

    fn url(&self, queue: &str) -> String {
        match self.urls.get(queue) {
            Some(url) => url.clone(),
            None => {
                let main = &self.urls["main"];
                let base = main.rsplit_once('/').expect("a queue URL").0;
                format!("{base}/{}", self.name(queue))
            }
        }
    }

    fn handle(&self, h: &Handle) -> String {
        match h {
            Handle::Latest(body) => self
                .handles
                .get(body)
                .and_then(|hs| hs.last())
                .unwrap_or_else(|| panic!("no receipt handle for {body}"))
                .clone(),
            Handle::Junk => JUNK_HANDLE.to_owned(),
        }
    }
}

/// An error as both sides can be compared: the code the SDK read.
fn code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> String {
    match e.code() {
        Some(code) => format!("error {code}"),
        None => panic!("no answer: {e:?}"),
    }
}

/// Message attributes, sorted by name: name, data type and value (bytes
/// in hex).
fn attrs<'a>(it: impl IntoIterator<Item = (&'a String, &'a MessageAttributeValue)>) -> String {
    let sorted: BTreeMap<&String, String> = it
        .into_iter()
        .map(|(name, v)| {
            let value = match (v.string_value(), v.binary_value()) {
                (Some(s), _) => format!("{s:?}"),
                (None, Some(b)) => b.as_ref().iter().map(|x| format!("{x:02x}")).collect(),
                (None, None) => "-".into(),
            };
            (name, format!("{name} {} {value}", v.data_type()))
        })
        .collect();
    let list: Vec<String> = sorted.into_values().collect();
    format!("[{}]", list.join(", "))
}

/// A received message as both sides can be compared (its id and handle
/// differ): body, body MD5, receive count, attributes and their MD5.
fn received(m: &Message) -> String {
    let count = m
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .map_or("-", String::as_str);
    format!(
        "{:?} md5 {} count {count} attrs {} md5 {}",
        m.body().unwrap_or_default(),
        m.md5_of_body().unwrap_or_default(),
        attrs(m.message_attributes().into_iter().flatten()),
        m.md5_of_message_attributes().unwrap_or("-"),
    )
}

/// A receive on `side`: what came back, normalised and sorted by body;
/// the receipt handles are kept.
async fn receive(side: &mut Side, r: &Receive) -> Result<Vec<String>, String> {
    let mut req = side
        .sqs
        .receive_message()
        .queue_url(side.url(r.queue))
        .max_number_of_messages(r.max)
        .set_visibility_timeout(r.visibility)
        .set_wait_time_seconds(r.wait);
    if r.count {
        req =
            req.message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount);
    }
    for name in &r.names {
        req = req.message_attribute_names(*name);
    }
    let out = req.send().await.map_err(code)?;
    let mut got = Vec::new();
    for m in out.messages() {
        let body = m.body().unwrap_or_default().to_owned();
        let handle = m.receipt_handle().expect("a receipt handle").to_owned();
        side.handles.entry(body).or_default().push(handle);
        got.push(received(m));
    }
    got.sort();
    Ok(got)
}

/// Per-entry failures of a batch, sorted by entry id: id, code, whose
/// fault.
fn failures(failed: &[aws_sdk_sqs::types::BatchResultErrorEntry]) -> Vec<String> {
    let mut out: Vec<String> = failed
        .iter()
        .map(|f| format!("{} {} sender {}", f.id(), f.code(), f.sender_fault()))
        .collect();
    out.sort();
    out
}

/// One request of the sequence, made by `side`; its answer, normalised.
async fn run(side: &mut Side, op: &Op) -> String {
    match op {
        Op::Create { queue, attributes } => {
            let mut req = side.sqs.create_queue().queue_name(side.name(queue));
            for (name, value) in attributes {
                req = req.attributes(QueueAttributeName::from(*name), value);
            }
            match req.send().await {
                Ok(out) => {
                    let url = out.queue_url().expect("a queue URL").to_owned();
                    let named = url.ends_with(&format!("/{}", side.name(queue)));
                    side.urls.insert(queue, url);
                    format!("created (URL ends in its name: {named})")
                }
                Err(e) => code(e),
            }
        }
        Op::Url { queue } => {
            let r = side
                .sqs
                .get_queue_url()
                .queue_name(side.name(queue))
                .send()
                .await;
            match r {
                Ok(out) => format!("found {}", out.queue_url() == Some(&side.url(queue))),
                Err(e) => code(e),
            }
        }
        Op::Attributes { queue, names } => {
            let mut req = side.sqs.get_queue_attributes().queue_url(side.url(queue));
            for name in names {
                req = req.attribute_names(QueueAttributeName::from(*name));
            }
            match req.send().await {
                Ok(out) => {
                    let got: BTreeMap<String, String> = out
                        .attributes()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| {
                            let v = if *k == QueueAttributeName::RedrivePolicy {
                                // The same policy, however it is spaced.
                                let policy: serde_json::Value =
                                    serde_json::from_str(v).expect("a JSON redrive policy");
                                policy.to_string()
                            } else {
                                v.clone()
                            };
                            (k.as_str().to_owned(), v)
                        })
                        .collect();
                    format!("attributes {got:?}")
                }
                Err(e) => code(e),
            }
        }
        Op::Send { queue, msg } => {
            let r = side
                .sqs
                .send_message()
                .queue_url(side.url(queue))
                .message_body(&msg.body)
                .set_delay_seconds(msg.delay)
                .set_message_attributes(Some(msg.attributes.iter().cloned().collect()))
                .send()
                .await;
            match r {
                Ok(out) => format!(
                    "sent id {} md5 {} attrs md5 {}",
                    out.message_id().is_some(),
                    out.md5_of_message_body().unwrap_or("-"),
                    out.md5_of_message_attributes().unwrap_or("-"),
                ),
                Err(e) => code(e),
            }
        }
        Op::SendBatch { queue, entries } => {
            let entries = entries
                .iter()
                .map(|(id, msg)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(id)
                        .message_body(&msg.body)
                        .set_delay_seconds(msg.delay)
                        .set_message_attributes(Some(msg.attributes.iter().cloned().collect()))
                        .build()
                        .expect("an entry")
                })
                .collect();
            let r = side
                .sqs
                .send_message_batch()
                .queue_url(side.url(queue))
                .set_entries(Some(entries))
                .send()
                .await;
            match r {
                Ok(out) => {
                    let mut sent: Vec<String> = out
                        .successful()
                        .iter()
                        .map(|s| {
                            format!(
                                "{} md5 {} attrs md5 {}",
                                s.id(),
                                s.md5_of_message_body(),
                                s.md5_of_message_attributes().unwrap_or("-")
                            )
                        })
                        .collect();
                    sent.sort();
                    format!("sent {sent:?} failed {:?}", failures(out.failed()))
                }
                Err(e) => code(e),
            }
        }
        Op::Receive(r) => match receive(side, r).await {
            Ok(got) => format!("received {}\n{}", got.len(), got.join("\n")),
            Err(e) => e,
        },
        Op::ReceiveSplit(first, rest) => {
            let mut a = match receive(side, first).await {
                Ok(got) => got,
                Err(e) => return e,
            };
            let b = match receive(side, rest).await {
                Ok(got) => got,
                Err(e) => return e,
            };
            let sizes = format!("{} then {}", a.len(), b.len());
            a.extend(b);
            a.sort();
            format!("received {sizes}\n{}", a.join("\n"))
        }
        Op::Delete { queue, handle } => {
            let r = side
                .sqs
                .delete_message()
                .queue_url(side.url(queue))
                .receipt_handle(side.handle(handle))
                .send()
                .await;
            match r {
                Ok(_) => "deleted".into(),
                Err(e) => code(e),
            }
        }
        Op::DeleteBatch { queue, entries } => {
            let entries = entries
                .iter()
                .map(|(id, h)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(id)
                        .receipt_handle(side.handle(h))
                        .build()
                        .expect("an entry")
                })
                .collect();
            let r = side
                .sqs
                .delete_message_batch()
                .queue_url(side.url(queue))
                .set_entries(Some(entries))
                .send()
                .await;
            match r {
                Ok(out) => {
                    let mut ok: Vec<&str> = out.successful().iter().map(|s| s.id()).collect();
                    ok.sort();
                    format!("deleted {ok:?} failed {:?}", failures(out.failed()))
                }
                Err(e) => code(e),
            }
        }
        Op::Change {
            queue,
            handle,
            timeout,
        } => {
            let r = side
                .sqs
                .change_message_visibility()
                .queue_url(side.url(queue))
                .receipt_handle(side.handle(handle))
                .visibility_timeout(*timeout)
                .send()
                .await;
            match r {
                Ok(_) => "changed".into(),
                Err(e) => code(e),
            }
        }
        Op::ChangeBatch { queue, entries } => {
            let entries = entries
                .iter()
                .map(|(id, h, timeout)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(id)
                        .receipt_handle(side.handle(h))
                        .visibility_timeout(*timeout)
                        .build()
                        .expect("an entry")
                })
                .collect();
            let r = side
                .sqs
                .change_message_visibility_batch()
                .queue_url(side.url(queue))
                .set_entries(Some(entries))
                .send()
                .await;
            match r {
                Ok(out) => {
                    let mut ok: Vec<&str> = out.successful().iter().map(|s| s.id()).collect();
                    ok.sort();
                    format!("changed {ok:?} failed {:?}", failures(out.failed()))
                }
                Err(e) => code(e),
            }
        }
    }
}

/// The two sides and the count of requests compared.
struct Diff {
    emulator: Side,
    model: Side,
    compared: usize,
}

impl Diff {
    /// Makes the request on both sides; the answers must match.
    async fn both(&mut self, op: Op) -> String {
        let emulator = run(&mut self.emulator, &op).await;
        let modelled = run(&mut self.model, &op).await;
        assert!(
            modelled == emulator,
            "request {} ({op:?}): the model answered differently\n\
             the model:\n{modelled}\nthe emulator:\n{emulator}",
            self.compared
        );
        self.compared += 1;
        emulator
    }

    /// The three approximate counts of a queue.
    async fn counts(&mut self, queue: &'static str) -> String {
        self.both(Op::Attributes {
            queue,
            names: vec![
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        })
        .await
    }
}

/// A round's timetable: requests run in slots, each slot's state changes
/// (delays, visibility timeouts) land in later slots' gaps.
struct Timetable {
    start: Instant,
}

impl Timetable {
    /// Waits until `ms` after the start.
    async fn at(&self, ms: u64) {
        self.by(ms);
        tokio::time::sleep_until(self.start + Duration::from_millis(ms)).await;
    }

    /// The requests so far ran within `ms` of the start: later
    /// observations stay clear of the instants they set. Otherwise the
    /// host was too slow for a comparison in real time.
    fn by(&self, ms: u64) {
        let elapsed = self.start.elapsed();
        assert!(
            elapsed <= Duration::from_millis(ms),
            "the requests took until {elapsed:?}, past their slot's end at {ms} ms"
        );
    }
}

/// A message body: JSON as Hangar sends, with text beyond ASCII (the
/// MD5s are of UTF-8 bytes).
fn body(rng: &mut StdRng, tag: &str) -> String {
    let words = ["report", "été", "数据", "🚀 launch", "a\tb", "x\"y"];
    format!(
        "{{\"job\":\"{tag}\",\"n\":{},\"note\":{:?}}}",
        rng.random_range(0..1_000_000u32),
        words[rng.random_range(0..words.len())]
    )
}

/// Message attributes, a seeded choice: a custom-typed string, a number,
/// bytes; maybe none.
fn attributes(rng: &mut StdRng) -> Vec<(String, MessageAttributeValue)> {
    let mut out = Vec::new();
    if rng.random_bool(0.6) {
        let kind = ["email", "resize", "été"][rng.random_range(0..3usize)];
        let v = MessageAttributeValue::builder()
            .data_type("String.kind")
            .string_value(kind)
            .build()
            .expect("an attribute");
        out.push(("hangar.kind".to_owned(), v));
    }
    if rng.random_bool(0.6) {
        let n = if rng.random_bool(0.5) {
            rng.random_range(0..100u32).to_string()
        } else {
            format!(
                "{}.{:02}",
                rng.random_range(0..100u32),
                rng.random_range(0..100u32)
            )
        };
        let v = MessageAttributeValue::builder()
            .data_type("Number")
            .string_value(n)
            .build()
            .expect("an attribute");
        out.push(("hangar.attempt".to_owned(), v));
    }
    if rng.random_bool(0.5) {
        let len = rng.random_range(1..12usize);
        let bytes: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let v = MessageAttributeValue::builder()
            .data_type("Binary")
            .binary_value(Blob::new(bytes))
            .build()
            .expect("an attribute");
        out.push(("trace".to_owned(), v));
    }
    out
}

fn msg(rng: &mut StdRng, tag: &str, delay: Option<i32>) -> Msg {
    Msg {
        body: body(rng, tag),
        delay,
        attributes: attributes(rng),
    }
}

/// Requests that change nothing in time: queue creation and description,
/// and the requests both sides refuse.
async fn setup(d: &mut Diff, rng: &mut StdRng) {
    let visibility = rng.random_range(2..=40).to_string();
    d.both(Op::Create {
        queue: "main",
        attributes: vec![("VisibilityTimeout", visibility.clone())],
    })
    .await;
    // The same name again: the same queue with the same attributes, else
    // `QueueAlreadyExists` (API reference, CreateQueue).
    d.both(Op::Create {
        queue: "main",
        attributes: vec![("VisibilityTimeout", visibility)],
    })
    .await;
    d.both(Op::Create {
        queue: "main",
        attributes: vec![("VisibilityTimeout", "41".into())],
    })
    .await;
    d.both(Op::Create {
        queue: "dlq",
        attributes: vec![("MessageRetentionPeriod", "1209600".into())],
    })
    .await;
    let dlq_arn = format!("arn:aws:sqs:us-east-1:{ACCOUNT}:{}", d.model.name("dlq"));
    let policy = format!("{{\"deadLetterTargetArn\":\"{dlq_arn}\",\"maxReceiveCount\":2}}");
    d.both(Op::Create {
        queue: "work",
        attributes: vec![("RedrivePolicy", policy), ("DelaySeconds", "0".into())],
    })
    .await;
    d.both(Op::Create {
        queue: "small",
        attributes: vec![("MaximumMessageSize", "1024".into())],
    })
    .await;
    d.both(Op::Url { queue: "work" }).await;
    d.both(Op::Url { queue: MISSING }).await;
    for queue in ["main", "dlq", "work", "small"] {
        d.both(Op::Attributes {
            queue,
            names: vec![
                "QueueArn",
                "VisibilityTimeout",
                "DelaySeconds",
                "MaximumMessageSize",
                "MessageRetentionPeriod",
                "ReceiveMessageWaitTimeSeconds",
                "RedrivePolicy",
            ],
        })
        .await;
        d.counts(queue).await;
    }
    d.both(Op::Attributes {
        queue: "main",
        names: vec!["ApproximateNumberOfMessages", "NoSuchAttribute"],
    })
    .await;
    d.both(Op::Attributes {
        queue: MISSING,
        names: vec!["QueueArn"],
    })
    .await;
    d.both(Op::Send {
        queue: MISSING,
        msg: msg(rng, "nowhere", None),
    })
    .await;
    // Out of range, then within range on an empty queue.
    let empty = |max, visibility, wait| {
        Op::Receive(Receive {
            queue: "main",
            max,
            visibility,
            wait,
            count: true,
            names: vec![],
        })
    };
    d.both(empty(11, None, None)).await;
    d.both(empty(0, None, None)).await;
    d.both(empty(1, Some(43_201), None)).await;
    d.both(empty(1, None, Some(21))).await;
    d.both(empty(10, Some(5), Some(0))).await;
    let mut bad = msg(rng, "bad", None);
    bad.attributes = vec![(
        "k".to_owned(),
        MessageAttributeValue::builder()
            .data_type("Text")
            .string_value("v")
            .build()
            .expect("an attribute"),
    )];
    d.both(Op::Send {
        queue: "main",
        msg: bad,
    })
    .await;
    // Not compared: an empty body, or one with a character outside the
    // allowed set. The API reference, SendMessage, `MessageBody`: "The
    // minimum size is one character", and "If a message contains
    // characters outside the allowed set, Amazon SQS rejects the message
    // and returns an InvalidMessageContents error"; the model refuses both
    // (an empty body as a missing one, `MissingParameter`), moto sends
    // both.
    let batch = |ids: Vec<String>| Op::SendBatch {
        queue: "main",
        entries: ids
            .into_iter()
            .map(|id| {
                let m = Msg {
                    body: format!("refused {id}"),
                    delay: None,
                    attributes: vec![],
                };
                (id, m)
            })
            .collect(),
    };
    d.both(batch(vec![])).await;
    d.both(batch((0..11).map(|i| format!("e{i}")).collect()))
        .await;
    d.both(batch(vec!["same".into(), "same".into()])).await;
    d.both(batch(vec!["not valid".into()])).await;
    d.both(Op::DeleteBatch {
        queue: "main",
        entries: vec![],
    })
    .await;
    d.both(Op::Delete {
        queue: "main",
        handle: Handle::Junk,
    })
    .await;
    d.both(Op::Change {
        queue: "main",
        handle: Handle::Junk,
        timeout: 5,
    })
    .await;
    d.counts("main").await;
}

/// One round on fresh queues: the timetable below, in seconds from its
/// start. Messages sent with a 2 s delay and received with a 2 s
/// visibility timeout in [0, 1] come back in [2, 3]; a 4 s visibility
/// timeout set in [0.5, 1] ends in [4.5, 5]; 1 s timeouts started in
/// [0.5, 1] and [3.5, 4] end in [1.5, 2] and [4.5, 5]. Observations run
/// in [0.5, 1], [3.5, 4] and from 5.5 on.
async fn round(d: &mut Diff, rng: &mut StdRng) {
    setup(d, rng).await;
    let t = Timetable {
        start: Instant::now(),
    };

    // [0, 0.5]: sends.
    let singles = rng.random_range(2..=3);
    let mut bodies = Vec::new();
    for i in 0..singles {
        let delay = rng.random_bool(0.5).then_some(0);
        let m = msg(rng, &format!("single{i}"), delay);
        bodies.push(m.body.clone());
        d.both(Op::Send {
            queue: "main",
            msg: m,
        })
        .await;
    }
    let late = msg(rng, "late", Some(2));
    let late_body = late.body.clone();
    d.both(Op::Send {
        queue: "main",
        msg: late,
    })
    .await;
    d.both(Op::Send {
        queue: "main",
        msg: msg(rng, "too-late", Some(901)),
    })
    .await;
    // A batch with an entry delayed past 900 s: that entry fails on its
    // own, the others are sent (both sides agree with the API reference,
    // SendMessageBatch: "The result of sending each message is reported
    // individually in the response").
    let mut entries = vec![
        ("now-a".to_owned(), msg(rng, "batch-a", None)),
        ("now-b".to_owned(), msg(rng, "batch-b", Some(0))),
        ("later".to_owned(), msg(rng, "batch-later", Some(2))),
        ("never".to_owned(), msg(rng, "batch-never", Some(1000))),
    ];
    entries.shuffle(rng);
    let mut remaining = vec![late_body.clone()];
    remaining.extend(
        entries
            .iter()
            .filter(|(id, _)| id == "later")
            .map(|(_, m)| m.body.clone()),
    );
    bodies.extend(
        entries
            .iter()
            .filter(|(id, _)| id.starts_with("now"))
            .map(|(_, m)| m.body.clone()),
    );
    let out = d
        .both(Op::SendBatch {
            queue: "main",
            entries,
        })
        .await;
    assert!(
        out.ends_with("failed [\"never InvalidParameterValue sender true\"]"),
        "{out}"
    );
    // Each within the small queue's MaximumMessageSize, together over it:
    // both sent (API reference, SendMessageBatch: the batch's limit is
    // 1 MiB, the sum of its messages). A single message over it is refused.
    // Not compared: a batch entry over the queue's maximum, which the
    // model fails on its own, as the API reference says each result is
    // reported individually, and moto refuses with the whole request.
    d.both(Op::SendBatch {
        queue: "small",
        entries: vec![
            ("a".into(), msg_sized(rng, 600)),
            ("b".into(), msg_sized(rng, 600)),
        ],
    })
    .await;
    d.both(Op::Send {
        queue: "small",
        msg: msg_sized(rng, 1500),
    })
    .await;
    let sent_to_work = rng.random_range(3..=4);
    let work: Vec<(String, Msg)> = (0..sent_to_work)
        .map(|i| (format!("w{i}"), msg(rng, &format!("work{i}"), None)))
        .collect();
    let mut work_bodies: Vec<String> = work.iter().map(|(_, m)| m.body.clone()).collect();
    d.both(Op::SendBatch {
        queue: "work",
        entries: work,
    })
    .await;
    d.counts("main").await;
    d.counts("small").await;
    t.by(500);

    // [0.5, 1]: receives, visibility changes, deletes.
    t.at(500).await;
    let all = |queue, visibility, names: Vec<&'static str>| Receive {
        queue,
        max: 10,
        visibility,
        wait: None,
        count: true,
        names,
    };
    let first = Receive {
        max: rng.random_range(1..bodies.len() as i32),
        ..all("main", Some(2), vec!["All"])
    };
    d.both(Op::ReceiveSplit(first, all("main", Some(2), vec!["All"])))
        .await;
    d.counts("main").await;
    bodies.sort();
    bodies.shuffle(rng);
    let [again, held, deleted, batched, rest @ ..] = &bodies[..] else {
        panic!("at least four messages in flight: {bodies:?}");
    };
    remaining.extend([again.clone(), held.clone()]);
    remaining.extend(rest.iter().cloned());
    d.both(Op::ChangeBatch {
        queue: "main",
        entries: vec![
            ("again".into(), Handle::Latest(again.clone()), 0),
            ("junk".into(), Handle::Junk, 5),
            ("too-long".into(), Handle::Latest(held.clone()), 43_201),
        ],
    })
    .await;
    d.both(Op::Change {
        queue: "main",
        handle: Handle::Latest(held.clone()),
        timeout: 4,
    })
    .await;
    d.both(Op::Change {
        queue: "main",
        handle: Handle::Latest(held.clone()),
        timeout: 43_201,
    })
    .await;
    d.both(Op::Delete {
        queue: "main",
        handle: Handle::Latest(deleted.clone()),
    })
    .await;
    // The same handle again: the message is gone, the delete succeeds
    // (API reference, DeleteMessage).
    d.both(Op::Delete {
        queue: "main",
        handle: Handle::Latest(deleted.clone()),
    })
    .await;
    // Not compared: ChangeMessageVisibility with the handle of a deleted
    // message. The API reference, ChangeMessageVisibility, says a change
    // once the message is no longer in flight "might result in an error"
    // and names none for this case; SQS answers `InvalidParameterValue`
    // ("Value ... for parameter ReceiptHandle is invalid. Reason: Message
    // does not exist or is not available for visibility timeout change."),
    // as the model does; moto answers `ReceiptHandleIsInvalid`.
    d.both(Op::DeleteBatch {
        queue: "main",
        entries: vec![
            ("junk".into(), Handle::Junk),
            ("ok".into(), Handle::Latest(batched.clone())),
        ],
    })
    .await;
    d.counts("main").await;
    d.both(Op::Receive(all("main", Some(2), vec!["hangar.*"])))
        .await;
    d.counts("main").await;
    d.both(Op::Receive(all("work", Some(1), vec!["All"]))).await;
    work_bodies.shuffle(rng);
    let done = work_bodies.pop().expect("a work message");
    d.both(Op::Delete {
        queue: "work",
        handle: Handle::Latest(done),
    })
    .await;
    d.counts("work").await;
    t.by(1000);

    // [3.5, 4]: the delayed messages and those whose timeout ended are
    // visible; the one held for 4 s is not.
    t.at(3500).await;
    d.counts("main").await;
    // Not compared: ChangeMessageVisibility on a message whose visibility
    // timeout ended, with the handle of its latest receive. The API
    // reference, ChangeMessageVisibility, says a change after the timeout
    // "might result in an error" (`MessageNotInflight`: "The specified
    // message isn't in flight"); the model answers that and leaves the
    // message visible, moto hides it again.
    //
    // Not compared either: DeleteMessage with a handle older than the
    // message's latest receive. The API reference, DeleteMessage: "if you
    // don't provide the most recently received receipt handle for the
    // message, the request will still succeed, but the message might not
    // be deleted"; the model does not delete it, moto does.
    d.both(Op::Receive(Receive {
        wait: Some(1),
        ..all("main", Some(1), vec!["trace", "hangar.kind"])
    }))
    .await;
    d.counts("main").await;
    d.both(Op::Receive(all("work", Some(1), vec![]))).await;
    d.counts("work").await;
    t.by(4000);

    // From 5.5: everything visible again; the work messages received twice
    // move to the dead-letter queue on the next receive. (Not compared: a
    // DeleteMessage with a handle a message had in its source queue before
    // it moved, which the model lets succeed without deleting, as for any
    // handle that is not a message's latest, and moto refuses with
    // `ReceiptHandleIsInvalid`; the API reference, DeleteMessage, does not
    // say.)
    t.at(5500).await;
    d.counts("main").await;
    let out = d
        .both(Op::Receive(Receive {
            count: false,
            ..all("main", Some(30), vec![])
        }))
        .await;
    assert!(
        out.starts_with(&format!("received {}\n", remaining.len())),
        "{out}"
    );
    d.counts("main").await;
    d.both(Op::DeleteBatch {
        queue: "main",
        entries: remaining
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("m{i}"), Handle::Latest(b.clone())))
            .collect(),
    })
    .await;
    d.counts("main").await;
    d.both(Op::Receive(all("work", Some(30), vec!["All"])))
        .await;
    d.counts("work").await;
    d.counts("dlq").await;
    let out = d.both(Op::Receive(all("dlq", Some(30), vec!["All"]))).await;
    let redriven: Vec<&str> = out.lines().skip(1).collect();
    assert_eq!(redriven.len(), work_bodies.len(), "{out}");
    assert!(redriven.iter().all(|m| m.contains(" count 3 ")), "{out}");
    d.counts("dlq").await;
    d.both(Op::DeleteBatch {
        queue: "dlq",
        entries: work_bodies
            .iter()
            .enumerate()
            .map(|(i, b)| (format!("w{i}"), Handle::Latest(b.clone())))
            .collect(),
    })
    .await;
    d.counts("dlq").await;
}

/// A message of `size` ASCII bytes and no attributes (moto measures a
/// body in characters, AWS and the model in bytes).
fn msg_sized(rng: &mut StdRng, size: usize) -> Msg {
    let c = ['a', 'b', 'c'][rng.random_range(0..3usize)];
    Msg {
        body: c.to_string().repeat(size),
        delay: None,
        attributes: vec![],
    }
}

#[tokio::test]
async fn the_sqs_model_answers_as_the_emulator_does() {
    let env = TestEnv::new().await;
    let clock = VirtualClock::start(chrono::Utc::now());
    let exact = Options {
        duplicate_chance: 0.0,
        empty_receive_chance: 0.0,
    };
    let world = Arc::new(Mutex::new(World::new(
        1,
        DynamoDb::new(Default::default()),
        Sqs::new(exact),
    )));
    let sdk = sdk_config(Network::new(world, clock, Faults::none()), clock);
    let model = Client::new(&sdk);
    let mut compared = 0;
    for seed in [11u64, 12, 13] {
        let prefix = format!("{}-sqs{seed}", env.config.stack);
        let side = |sqs: Client| Side {
            sqs,
            prefix: prefix.clone(),
            urls: BTreeMap::new(),
            handles: BTreeMap::new(),
        };
        let mut d = Diff {
            emulator: side(env.sqs.clone()),
            model: side(model.clone()),
            compared: 0,
        };
        let mut rng = StdRng::seed_from_u64(seed);
        round(&mut d, &mut rng).await;
        compared += d.compared;
    }
    assert!(compared > 100, "{compared} requests compared");
}

//! Sending, receiving, deleting: delays, visibility, redrive, duplicates,
//! determinism, the event source mapping's calls.

use serde_json::{Value, json};

use super::World;
use crate::sqs::Options;

#[test]
fn send_receive_delete_with_md5s_and_attributes() {
    let mut w = World::new();
    let url = w.create("q", json!({}));
    let sent = w.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "hello", "MessageAttributes": {
            "hangar-kind": {"DataType": "String", "StringValue": "email"},
            "b-bin": {"DataType": "Binary", "BinaryValue": "AAEC"}}}),
    );
    // md5("hello"), and the attribute digest as the developer guide's
    // algorithm gives it (computed independently).
    assert_eq!(sent["MD5OfMessageBody"], "5d41402abc4b2a76b9719d911017c592");
    assert_eq!(
        sent["MD5OfMessageAttributes"],
        "8315a497dbd112d31331f607a78f0ae6"
    );
    let out = w.ok(
        "ReceiveMessage",
        json!({"QueueUrl": url, "MessageAttributeNames": ["All"], "AttributeNames": ["SentTimestamp"]}),
    );
    let m = &out["Messages"][0];
    assert_eq!(m["MessageId"], sent["MessageId"]);
    assert_eq!(m["MD5OfBody"], sent["MD5OfMessageBody"]);
    assert_eq!(m["MD5OfMessageAttributes"], sent["MD5OfMessageAttributes"]);
    assert_eq!(m["MessageAttributes"]["b-bin"]["BinaryValue"], "AAEC");
    assert_eq!(m["Attributes"], json!({"SentTimestamp": w.now.to_string()}));
    let handle = m["ReceiptHandle"].as_str().unwrap().to_owned();
    w.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": handle}),
    );
    assert_eq!(w.counts(&url), (0, 0, 0));
    // Deleting again succeeds; a made-up handle does not.
    w.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": handle}),
    );
    assert_eq!(
        w.code(
            "DeleteMessage",
            json!({"QueueUrl": url, "ReceiptHandle": "nonsense"})
        ),
        "ReceiptHandleIsInvalid"
    );
    // Only the attributes asked for, and their digest.
    w.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "x", "MessageAttributes": {
            "a.one": {"DataType": "Number", "StringValue": "1"},
            "b": {"DataType": "String", "StringValue": "2"}}}),
    );
    let out = w.ok(
        "ReceiveMessage",
        json!({"QueueUrl": url, "MessageAttributeNames": ["a.*"]}),
    );
    let attrs = out["Messages"][0]["MessageAttributes"].as_object().unwrap();
    assert_eq!(attrs.keys().collect::<Vec<_>>(), ["a.one"]);
    let bad = |w: &mut World, attrs: Value| {
        w.code(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": "x", "MessageAttributes": attrs}),
        )
    };
    assert_eq!(
        bad(
            &mut w,
            json!({"AWS.x": {"DataType": "String", "StringValue": "v"}})
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        bad(
            &mut w,
            json!({"n": {"DataType": "Number", "StringValue": "abc"}})
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        bad(
            &mut w,
            json!({"n": {"DataType": "Text", "StringValue": "v"}})
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        w.code(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": "a\u{1}b"})
        ),
        "InvalidMessageContents"
    );
    assert_eq!(
        w.code("SendMessage", json!({"QueueUrl": url, "MessageBody": ""})),
        "MissingParameter"
    );
    let big = "x".repeat(1_048_577);
    assert_eq!(
        w.code("SendMessage", json!({"QueueUrl": url, "MessageBody": big})),
        "InvalidParameterValue"
    );
    assert_eq!(
        w.code(
            "SendMessage",
            json!({"QueueUrl": url, "MessageBody": "x", "DelaySeconds": 901})
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        w.code(
            "SendMessage",
            json!({"QueueUrl": url + "x", "MessageBody": "x"})
        ),
        "QueueDoesNotExist"
    );
}

#[test]
fn delays_hold_messages_back_and_count_as_delayed() {
    let mut w = World::new();
    let url = w.create("q", json!({"DelaySeconds": "5"}));
    w.send(&url, "queue-delay", 0);
    w.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "own-delay", "DelaySeconds": 20}),
    );
    w.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "default"}),
    );
    // "queue-delay" sent with 0 overrides the queue's 5 s.
    assert_eq!(w.counts(&url), (1, 0, 2));
    assert_eq!(w.sqs.next_event_ms(w.now), Some(w.now + 5_000));
    let got = w.receive(&url, Some(100));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "queue-delay");
    w.now += 5_000;
    assert_eq!(w.receive(&url, Some(100))[0].0, "default");
    w.now += 14_999;
    assert!(w.receive(&url, Some(100)).is_empty());
    w.now += 1;
    assert_eq!(w.receive(&url, Some(100))[0].0, "own-delay");
}

#[test]
fn visibility_timeouts_hide_messages_until_they_end_or_change() {
    let mut w = World::new();
    let url = w.create("q", json!({"VisibilityTimeout": "30"}));
    w.send(&url, "m", 0);
    let first = w.receive(&url, None);
    assert_eq!(first[0].2, 1);
    assert_eq!(w.counts(&url), (0, 1, 0));
    assert_eq!(w.sqs.next_event_ms(w.now), Some(w.now + 30_000));
    w.now += 29_999;
    assert!(w.receive(&url, None).is_empty());
    w.now += 1;
    let second = w.receive(&url, None);
    assert_eq!(second[0].2, 2);
    assert_ne!(second[0].1, first[0].1, "a new receipt handle each receive");
    // The old handle succeeds without deleting (documented choice).
    w.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": first[0].1}),
    );
    assert_eq!(w.counts(&url), (0, 1, 0));
    assert_eq!(
        w.code(
            "ChangeMessageVisibility",
            json!({"QueueUrl": url, "ReceiptHandle": first[0].1, "VisibilityTimeout": 0})
        ),
        "MessageNotInflight"
    );
    // Made visible at once, then not in flight any more.
    w.ok(
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": second[0].1, "VisibilityTimeout": 0}),
    );
    assert_eq!(w.counts(&url), (1, 0, 0));
    assert_eq!(
        w.code(
            "ChangeMessageVisibility",
            json!({"QueueUrl": url, "ReceiptHandle": second[0].1, "VisibilityTimeout": 10})
        ),
        "MessageNotInflight"
    );
    let third = w.receive(&url, Some(10));
    w.ok(
        "ChangeMessageVisibility",
        json!({"QueueUrl": url, "ReceiptHandle": third[0].1, "VisibilityTimeout": 600}),
    );
    w.now += 599_000;
    assert!(w.receive(&url, None).is_empty());
    // No more than 12 hours from the receive.
    assert_eq!(
        w.code(
            "ChangeMessageVisibility",
            json!({"QueueUrl": url, "ReceiptHandle": third[0].1, "VisibilityTimeout": 43_000})
        ),
        "InvalidParameterValue"
    );
    // The latest handle deletes, also once the timeout is over.
    w.now += 1_000;
    w.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": third[0].1}),
    );
    assert_eq!(w.counts(&url), (0, 0, 0));
    assert_eq!(w.sqs.next_event_ms(w.now), None);
}

#[test]
fn receives_count_up_and_redrive_moves_after_max_receive_count() {
    let mut w = World::new();
    let dlq = w.create("q-dlq", json!({"MessageRetentionPeriod": "1209600"}));
    let arn = w.sqs.queue_arn(&dlq).unwrap();
    let policy = json!({"deadLetterTargetArn": arn, "maxReceiveCount": 2}).to_string();
    let url = w.create(
        "q",
        json!({"VisibilityTimeout": "0", "RedrivePolicy": policy}),
    );
    let missing = json!({"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:none", "maxReceiveCount": 2});
    assert_eq!(
        w.code(
            "CreateQueue",
            json!({"QueueName": "r", "Attributes": {"RedrivePolicy": missing.to_string()}})
        ),
        "InvalidAttributeValue"
    );
    let id = w.send(&url, "poison", 0);
    assert_eq!(w.receive(&url, None)[0].2, 1);
    assert_eq!(w.receive(&url, None)[0].2, 2);
    // The third receive would exceed 2: moved instead of delivered.
    assert!(w.receive(&url, None).is_empty());
    assert_eq!(w.counts(&url), (0, 0, 0));
    assert_eq!(w.counts(&dlq), (1, 0, 0));
    let out = w.ok(
        "ReceiveMessage",
        json!({"QueueUrl": dlq, "VisibilityTimeout": 0, "MessageSystemAttributeNames": ["All"]}),
    );
    let m = &out["Messages"][0];
    assert_eq!(m["MessageId"], json!(id));
    assert_eq!(m["Attributes"]["ApproximateReceiveCount"], "3");
    assert_eq!(m["Attributes"]["SentTimestamp"], json!(w.now.to_string()));
    let attrs = w.ok(
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": ["RedrivePolicy"]}),
    );
    let back: Value =
        serde_json::from_str(attrs["Attributes"]["RedrivePolicy"].as_str().unwrap()).unwrap();
    assert_eq!(back["maxReceiveCount"], 2);
}

#[test]
fn duplicates_and_short_poll_samples_follow_their_chances() {
    let mut w = World::with(
        Options {
            duplicate_chance: 1.0,
            empty_receive_chance: 0.0,
        },
        1,
    );
    let url = w.create("q", json!({}));
    w.send(&url, "m", 0);
    let first = w.receive(&url, None);
    // In flight, and delivered again anyway.
    let again = w.receive(&url, None);
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].2, 2);
    w.ok(
        "DeleteMessage",
        json!({"QueueUrl": url, "ReceiptHandle": again[0].1}),
    );
    assert_eq!(w.counts(&url), (0, 0, 0));
    // Deleted, and back from a server that missed the delete.
    let ghost = w.receive(&url, None);
    assert_eq!(ghost.len(), 1);
    assert_eq!(ghost[0].0, "m");
    assert_ne!(ghost[0].1, first[0].1);

    let mut w = World::with(
        Options {
            duplicate_chance: 0.0,
            empty_receive_chance: 1.0,
        },
        1,
    );
    let url = w.create("q", json!({}));
    for i in 0..5 {
        w.send(&url, &i.to_string(), 0);
    }
    let sampled = w.receive(&url, None).len();
    assert!(sampled < 5);
    // Long polling asks every server: the rest, all of them.
    let out = w.ok(
        "ReceiveMessage",
        json!({"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1}),
    );
    assert_eq!(out["Messages"].as_array().unwrap().len(), 5 - sampled);
}

#[test]
fn the_same_seed_gives_the_same_answers() {
    let run = |seed: u64| {
        let mut w = World::with(
            Options {
                duplicate_chance: 0.3,
                empty_receive_chance: 0.3,
            },
            seed,
        );
        let url = w.create("q", json!({"VisibilityTimeout": "5"}));
        let mut log = Vec::new();
        for i in 0..40 {
            w.send(&url, &format!("m{i}"), i % 3);
            let got = w.receive(&url, None);
            if let Some((_, handle, _)) = got.first() {
                w.ok(
                    "DeleteMessage",
                    json!({"QueueUrl": url, "ReceiptHandle": handle}),
                );
            }
            log.push(got);
            w.now += 1_000;
        }
        log
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn the_event_source_mapping_receives_and_deletes() {
    let mut w = World::new();
    let url = w.create("q", json!({}));
    w.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "job", "MessageAttributes": {
            "hangar-kind": {"DataType": "String", "StringValue": "email"}}}),
    );
    let got = w
        .sqs
        .receive_for_lambda(&url, 10, 60_000, w.now, &mut w.rng);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "job");
    assert_eq!(got[0].attributes["hangar-kind"], "email");
    assert_eq!(got[0].receive_count, 1);
    assert_eq!(w.counts(&url), (0, 1, 0));
    assert_eq!(w.sqs.next_event_ms(w.now), Some(w.now + 60_000));
    assert!(w.sqs.delete_for_lambda(&url, &got[0].receipt_handle));
    assert!(!w.sqs.delete_for_lambda(&url, &got[0].receipt_handle));
    assert_eq!(w.counts(&url), (0, 0, 0));
    assert!(
        w.sqs
            .receive_for_lambda("https://elsewhere/q", 10, 1, w.now, &mut w.rng)
            .is_empty()
    );
}

#[test]
fn attribute_digests_match_a_published_response() {
    // A ReceiveMessage response published in a public SQS serializer test:
    // attributes Hello=There and General=Kenobi, both String.
    let mut w = World::new();
    let url = w.create("q", json!({}));
    let sent = w.ok(
        "SendMessage",
        json!({"QueueUrl": url, "MessageBody": "{\"foo\": \"bared\"}", "MessageAttributes": {
            "Hello": {"DataType": "String", "StringValue": "There"},
            "General": {"DataType": "String", "StringValue": "Kenobi"}}}),
    );
    assert_eq!(
        sent["MD5OfMessageAttributes"],
        "fca026605781cb4126a1e9044df24232"
    );
    assert_eq!(sent["MD5OfMessageBody"], "13c0c73bbf11056450c43bf3159b3585");
}

//! Queue operations, batches, retention.

use serde_json::{Value, json};

use super::World;
use crate::sqs::query_error_header;

#[test]
fn queues_are_created_found_and_described() {
    let mut w = World::new();
    let url = w.create("app-default", json!({"VisibilityTimeout": "960"}));
    assert_eq!(
        url,
        "https://sqs.us-east-1.amazonaws.com/123456789012/app-default"
    );
    // The same name with the same attributes: the same URL.
    assert_eq!(
        w.create("app-default", json!({"VisibilityTimeout": "960"})),
        url
    );
    assert_eq!(w.create("app-default", json!({})), url);
    assert_eq!(
        w.code(
            "CreateQueue",
            json!({"QueueName": "app-default", "Attributes": {"VisibilityTimeout": "30"}})
        ),
        "QueueNameExists"
    );
    assert_eq!(
        w.code("CreateQueue", json!({"QueueName": "bad name"})),
        "InvalidParameterValue"
    );
    assert_eq!(
        w.code(
            "CreateQueue",
            json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "43201"}})
        ),
        "InvalidAttributeValue"
    );
    assert_eq!(
        w.ok("GetQueueUrl", json!({"QueueName": "app-default"}))["QueueUrl"],
        json!(url)
    );
    assert_eq!(
        w.code("GetQueueUrl", json!({"QueueName": "nope"})),
        "QueueDoesNotExist"
    );
    assert_eq!(
        query_error_header("QueueDoesNotExist", 400),
        "AWS.SimpleQueueService.NonExistentQueue;Sender"
    );
    assert_eq!(
        query_error_header("QueueNameExists", 400),
        "QueueAlreadyExists;Sender"
    );
    let attrs = w.ok(
        "GetQueueAttributes",
        json!({"QueueUrl": url, "AttributeNames": ["QueueArn", "VisibilityTimeout", "MessageRetentionPeriod"]}),
    );
    assert_eq!(
        attrs["Attributes"],
        json!({"QueueArn": "arn:aws:sqs:us-east-1:123456789012:app-default",
               "VisibilityTimeout": "960", "MessageRetentionPeriod": "345600"})
    );
    assert_eq!(
        w.code(
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": ["Nope"]})
        ),
        "InvalidAttributeName"
    );
    w.create("app-other", json!({}));
    w.create("else", json!({}));
    let listed = w.ok("ListQueues", json!({"QueueNamePrefix": "app-"}));
    assert_eq!(listed["QueueUrls"].as_array().unwrap().len(), 2);
    let page = w.ok("ListQueues", json!({"MaxResults": 1}));
    assert_eq!(page["QueueUrls"].as_array().unwrap().len(), 1);
    let token = page["NextToken"].clone();
    let rest = w.ok("ListQueues", json!({"MaxResults": 5, "NextToken": token}));
    assert_eq!(rest["QueueUrls"].as_array().unwrap().len(), 2);
    assert!(rest.get("NextToken").is_none());
}

#[test]
fn batches_fail_entry_by_entry_and_refuse_bad_batches() {
    let mut w = World::new();
    let url = w.create("q", json!({}));
    let out = w.ok(
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "0", "MessageBody": "a"},
            {"Id": "1", "MessageBody": "b", "DelaySeconds": 1000},
            {"Id": "2", "MessageBody": "c", "DelaySeconds": 3}]}),
    );
    assert_eq!(out["Successful"].as_array().unwrap().len(), 2);
    assert_eq!(out["Successful"][1]["Id"], "2");
    assert_eq!(
        out["Successful"][1]["MD5OfMessageBody"],
        "4a8a08f09d37b73795649038408b5f33"
    );
    assert_eq!(
        out["Failed"],
        json!([{"Id": "1", "SenderFault": true, "Code": "InvalidParameterValue",
                "Message": out["Failed"][0]["Message"]}])
    );
    assert_eq!(w.counts(&url), (1, 0, 1));
    let entry = |id: &str| json!({"Id": id, "MessageBody": "x"});
    let send = |w: &mut World, entries: Vec<Value>| {
        w.code(
            "SendMessageBatch",
            json!({"QueueUrl": url, "Entries": entries}),
        )
    };
    assert_eq!(send(&mut w, vec![]), "EmptyBatchRequest");
    assert_eq!(
        send(&mut w, (0..11).map(|i| entry(&i.to_string())).collect()),
        "TooManyEntriesInBatchRequest"
    );
    assert_eq!(
        send(&mut w, vec![entry("a"), entry("a")]),
        "BatchEntryIdsNotDistinct"
    );
    assert_eq!(send(&mut w, vec![entry("a b")]), "InvalidBatchEntryId");
    let half = "x".repeat(600_000);
    let two = vec![
        json!({"Id": "a", "MessageBody": half}),
        json!({"Id": "b", "MessageBody": half}),
    ];
    assert_eq!(send(&mut w, two), "BatchRequestTooLong");

    let got = w.receive(&url, None);
    assert_eq!(got.len(), 1);
    let out = w.ok(
        "DeleteMessageBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "ok", "ReceiptHandle": got[0].1}, {"Id": "bad", "ReceiptHandle": "junk"}]}),
    );
    assert_eq!(out["Successful"], json!([{"Id": "ok"}]));
    assert_eq!(out["Failed"][0]["Code"], "ReceiptHandleIsInvalid");
    w.now += 3_000;
    let got = w.receive(&url, None);
    let out = w.ok(
        "ChangeMessageVisibilityBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "a", "ReceiptHandle": got[0].1, "VisibilityTimeout": 0},
            {"Id": "b", "ReceiptHandle": got[0].1, "VisibilityTimeout": 0}]}),
    );
    assert_eq!(out["Successful"], json!([{"Id": "a"}]));
    assert_eq!(out["Failed"][0]["Code"], "MessageNotInflight");
}

#[test]
fn a_batch_is_bounded_by_1_mib_and_each_entry_by_the_queues_maximum() {
    let mut w = World::new();
    let url = w.create("small", json!({"MaximumMessageSize": "1024"}));
    // Together over the queue's maximum, each within it: both sent.
    let out = w.ok(
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "a", "MessageBody": "a".repeat(600)},
            {"Id": "b", "MessageBody": "b".repeat(600)}]}),
    );
    assert_eq!(out["Successful"].as_array().unwrap().len(), 2);
    assert_eq!(out["Failed"], json!([]));
    // One over the queue's maximum: that entry fails, the other is sent.
    let out = w.ok(
        "SendMessageBatch",
        json!({"QueueUrl": url, "Entries": [
            {"Id": "a", "MessageBody": "a"},
            {"Id": "big", "MessageBody": "b".repeat(1025)}]}),
    );
    assert_eq!(out["Successful"][0]["Id"], "a");
    assert_eq!(out["Failed"][0]["Id"], "big");
    assert_eq!(out["Failed"][0]["Code"], "InvalidParameterValue");
    assert_eq!(w.counts(&url), (3, 0, 0));
}

#[test]
fn retention_and_purge_drop_messages() {
    let mut w = World::new();
    let url = w.create("q", json!({"MessageRetentionPeriod": "60"}));
    w.send(&url, "old", 0);
    assert_eq!(w.sqs.next_event_ms(w.now), Some(w.now + 60_000));
    w.now += 30_000;
    w.send(&url, "new", 0);
    w.now += 30_000;
    assert_eq!(w.counts(&url), (1, 0, 0));
    w.ok("PurgeQueue", json!({"QueueUrl": url}));
    assert_eq!(w.counts(&url), (0, 0, 0));
    assert_eq!(
        w.code("PurgeQueue", json!({"QueueUrl": url})),
        "PurgeQueueInProgress"
    );
    w.now += 60_000;
    w.ok("PurgeQueue", json!({"QueueUrl": url}));
    assert_eq!(w.sqs.requests()["PurgeQueue"], 3);
}

//! Queries: pages, LastEvaluatedKey, Limit with a filter, index
//! projections, index lag, consistency.

use serde_json::{Value, json};

use super::{Db, n, s};
use crate::dynamodb::Options;

fn bucket_query(extra: Value) -> Value {
    let mut q = json!({
        "TableName": "jobs", "IndexName": "by-bucket",
        "KeyConditionExpression": "#b = :b AND #at <= :now",
        "ExpressionAttributeNames": {"#b": "bucket", "#at": "bucket_at"},
        "ExpressionAttributeValues": {":b": s("active#0"), ":now": n(100)}
    });
    for (k, v) in extra.as_object().unwrap() {
        match (q.get_mut(k), v) {
            (Some(Value::Object(a)), Value::Object(b)) => a.extend(b.clone()),
            _ => {
                q[k] = v.clone();
            }
        }
    }
    q
}

fn fill(d: &mut Db) {
    for i in 0..10 {
        d.put(json!({
            "pk": s(&format!("job#{i}")), "bucket": s("active#0"), "bucket_at": n(i * 20),
            "queue": s(if i % 2 == 0 { "even" } else { "odd" }), "kind": s("k"), "args": s("not projected")
        }));
    }
    d.put(json!({"pk": s("job#x"), "bucket": s("active#1"), "bucket_at": n(0)}));
    d.put(json!({"pk": s("job#none")}));
}

fn pks(out: &Value) -> Vec<String> {
    out["Items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["pk"]["S"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn index_query_orders_pages_and_projects() {
    let mut d = Db::exact();
    fill(&mut d);
    let out = d.ok("Query", bucket_query(json!({})));
    assert_eq!(
        pks(&out),
        ["job#0", "job#1", "job#2", "job#3", "job#4", "job#5"]
    );
    assert_eq!(out["Count"], 6);
    assert!(out.get("LastEvaluatedKey").is_none());
    // The index projects kind, queue, created and the keys, not args.
    assert!(out["Items"][0].get("args").is_none());
    assert_eq!(out["Items"][0]["queue"], s("even"));
    // Pages of 4, backwards.
    let out = d.ok(
        "Query",
        bucket_query(json!({"Limit": 4, "ScanIndexForward": false})),
    );
    assert_eq!(pks(&out), ["job#5", "job#4", "job#3", "job#2"]);
    let lek = out["LastEvaluatedKey"].clone();
    assert_eq!(
        lek,
        json!({"pk": s("job#2"), "bucket": s("active#0"), "bucket_at": n(40)})
    );
    let out = d.ok(
        "Query",
        bucket_query(json!({"Limit": 4, "ScanIndexForward": false, "ExclusiveStartKey": lek})),
    );
    assert_eq!(pks(&out), ["job#1", "job#0"]);
    assert!(out.get("LastEvaluatedKey").is_none());
    // Limit counts items before the filter.
    let out = d.ok("Query", bucket_query(json!({
        "Limit": 3, "FilterExpression": "#queue = :queue",
        "ExpressionAttributeNames": {"#queue": "queue"}, "ExpressionAttributeValues": {":queue": s("odd")}
    })));
    assert_eq!(pks(&out), ["job#1"]);
    assert_eq!(
        (out["Count"].clone(), out["ScannedCount"].clone()),
        (json!(1), json!(3))
    );
    assert_eq!(out["LastEvaluatedKey"]["pk"], s("job#2"));
    // Projection and COUNT.
    let out = d.ok(
        "Query",
        bucket_query(json!({
            "ProjectionExpression": "#at, #pk", "Select": "SPECIFIC_ATTRIBUTES",
            "ExpressionAttributeNames": {"#pk": "pk"}
        })),
    );
    assert_eq!(
        out["Items"][0],
        json!({"pk": s("job#0"), "bucket_at": n(0)})
    );
    let out = d.ok("Query", bucket_query(json!({"Select": "COUNT"})));
    assert_eq!(out["Count"], 6);
    assert!(out.get("Items").is_none());
    let mut between = bucket_query(json!({}));
    between["KeyConditionExpression"] = json!("#b = :b AND #at BETWEEN :a AND :z");
    between["ExpressionAttributeValues"] = json!({":b": s("active#0"), ":a": n(20), ":z": n(60)});
    assert_eq!(pks(&d.ok("Query", between)), ["job#1", "job#2", "job#3"]);
}

#[test]
fn query_validation() {
    let mut d = Db::exact();
    fill(&mut d);
    let (code, msg) = d.err("Query", bucket_query(json!({"ConsistentRead": true})));
    assert_eq!(code, "ValidationException");
    assert!(msg.contains("Consistent reads are not supported on global secondary indexes"));
    let (_, msg) = d.err("Query", bucket_query(json!({"Select": "ALL_ATTRIBUTES"})));
    assert!(msg.contains("projection type is not ALL"), "{msg}");
    let mut q = bucket_query(json!({}));
    q["KeyConditionExpression"] = json!("#at <= :now");
    q["ExpressionAttributeNames"] = json!({"#at": "bucket_at"});
    q["ExpressionAttributeValues"] = json!({":now": n(1)});
    assert!(
        d.err("Query", q)
            .1
            .contains("Query condition missed key schema element: bucket")
    );
    let mut q = bucket_query(json!({}));
    q["ExpressionAttributeValues"][":b"] = n(1);
    assert!(
        d.err("Query", q)
            .1
            .contains("Condition parameter type does not match schema type")
    );
    let filter_on_key = bucket_query(json!({"FilterExpression": "#at > :now"}));
    assert!(
        d.err("Query", filter_on_key)
            .1
            .contains("Filter Expression can only contain non-primary key attributes")
    );
    let (_, msg) = d.err("Query", bucket_query(json!({"IndexName": "nope"})));
    assert!(msg.contains("does not have the specified index"));
}

#[test]
fn table_query_and_one_megabyte_pages() {
    let mut d = Db::exact();
    d.ok("CreateTable", json!({
        "TableName": "t", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "p", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "p", "AttributeType": "S"}, {"AttributeName": "r", "AttributeType": "S"}]
    }));
    for i in 0..30 {
        // About 100 units each: one a second stays under the partition's
        // 1,000 write units.
        d.now += 1000;
        d.ok("PutItem", json!({"TableName": "t", "Item": {"p": s("a"), "r": s(&format!("r{i:02}")), "x": s(&"x".repeat(100_000))}}));
    }
    let q = json!({
        "TableName": "t", "KeyConditionExpression": "p = :p AND begins_with(r, :pre)",
        "ExpressionAttributeValues": {":p": s("a"), ":pre": s("r")}
    });
    let out = d.ok("Query", q.clone());
    let first = out["Count"].as_u64().unwrap();
    assert!(first > 9 && first < 12, "about 1 MB: {first}");
    let mut next = q.clone();
    next["ExclusiveStartKey"] = out["LastEvaluatedKey"].clone();
    let out2 = d.ok("Query", next);
    assert_eq!(out2["Items"][0]["r"], s(&format!("r{first:02}")));
}

#[test]
fn index_changes_show_after_a_lag_in_order() {
    let mut d = Db::with(Options {
        gsi_lag_ms: (500, 500),
        stale_read_chance: 0.0,
        ..Options::default()
    });
    d.put(json!({"pk": s("job#1"), "bucket": s("active#0"), "bucket_at": n(5)}));
    assert_eq!(
        d.ok("Query", bucket_query(json!({})))["Count"],
        0,
        "not yet in the index"
    );
    d.now += 499;
    assert_eq!(d.ok("Query", bucket_query(json!({})))["Count"], 0);
    d.now += 1;
    assert_eq!(d.ok("Query", bucket_query(json!({})))["Count"], 1);
    // Moving to another bucket: the old entry stays until the lag passes.
    d.put(json!({"pk": s("job#1"), "bucket": s("succeeded#0"), "bucket_at": n(5)}));
    assert_eq!(d.ok("Query", bucket_query(json!({})))["Count"], 1);
    d.now += 500;
    assert_eq!(d.ok("Query", bucket_query(json!({})))["Count"], 0);
}

#[test]
fn eventually_consistent_reads_may_be_stale() {
    let mut d = Db::with(Options {
        stale_read_chance: 1.0,
        stale_read_ms: 1000,
        ..Options::default()
    });
    d.put(json!({"pk": s("a"), "v": n(1)}));
    d.now += 2000;
    d.put(json!({"pk": s("a"), "v": n(2)}));
    let get = |consistent: bool| json!({"TableName": "jobs", "Key": {"pk": s("a")}, "ConsistentRead": consistent});
    assert_eq!(d.ok("GetItem", get(false))["Item"]["v"], n(1));
    assert_eq!(d.ok("GetItem", get(true))["Item"]["v"], n(2));
    d.now += 1000;
    assert_eq!(d.ok("GetItem", get(false))["Item"]["v"], n(2));
}

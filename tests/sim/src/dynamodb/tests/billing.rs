//! Units billed and partition throttling.

use serde_json::json;

use super::{Db, n, s};

fn all_projected(d: &mut Db) {
    d.ok("CreateTable", json!({
        "TableName": "all", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "gi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}]
    }));
}

/// An item of `bytes` bytes in all (names and values).
fn sized(pk: &str, g: Option<&str>, bytes: usize) -> serde_json::Value {
    let mut item = json!({"pk": s(pk)});
    let mut used = 2 + pk.len();
    if let Some(g) = g {
        item["g"] = s(g);
        used += 1 + g.len();
    }
    item["x"] = s(&"x".repeat(bytes - used - 1));
    item
}

#[test]
fn write_units_per_kilobyte_and_per_index() {
    let mut d = Db::exact();
    all_projected(&mut d);
    // 2.5 KB without an index key: 3 units, none on the index.
    d.ok(
        "PutItem",
        json!({"TableName": "all", "Item": sized("a", None, 2560)}),
    );
    assert_eq!(d.db.billing().table("all").write_units, 3.0);
    assert_eq!(d.db.billing().index("all", "gi").write_units, 0.0);
    // With the index key: 3 more on the index.
    d.ok(
        "PutItem",
        json!({"TableName": "all", "Item": sized("b", Some("g1"), 2560)}),
    );
    assert_eq!(d.db.billing().table("all").write_units, 6.0);
    assert_eq!(d.db.billing().index("all", "gi").write_units, 3.0);
    // Moving the entry to another index key: a delete and a put.
    d.ok(
        "PutItem",
        json!({"TableName": "all", "Item": sized("b", Some("g2"), 2560)}),
    );
    assert_eq!(d.db.billing().index("all", "gi").write_units, 9.0);
    // An update: the larger of the old and new item.
    d.ok(
        "UpdateItem",
        json!({"TableName": "all", "Key": {"pk": s("a")}, "UpdateExpression": "REMOVE x"}),
    );
    assert_eq!(d.db.billing().table("all").write_units, 12.0);
    // A failed condition: the existing item's size.
    d.call("DeleteItem", json!({"TableName": "all", "Key": {"pk": s("b")}, "ConditionExpression": "attribute_not_exists(pk)"})).unwrap_err();
    assert_eq!(d.db.billing().table("all").write_units, 15.0);
    assert_eq!(d.db.billing().requests["PutItem"], 3);
}

#[test]
fn read_units_and_transactions() {
    let mut d = Db::exact();
    d.put(sized("a", None, 5000));
    let before = d.db.billing().table("jobs");
    d.ok(
        "GetItem",
        json!({"TableName": "jobs", "Key": {"pk": s("a")}, "ConsistentRead": true}),
    );
    d.ok(
        "GetItem",
        json!({"TableName": "jobs", "Key": {"pk": s("a")}}),
    );
    d.ok(
        "GetItem",
        json!({"TableName": "jobs", "Key": {"pk": s("missing")}}),
    );
    let after = d.db.billing().table("jobs");
    assert_eq!(after.read_units - before.read_units, 2.0 + 1.0 + 0.5);
    let w = after.write_units;
    d.ok("TransactWriteItems", json!({"TransactItems": [
        {"Put": {"TableName": "jobs", "Item": sized("t1", None, 1500)}},
        {"Update": {"TableName": "jobs", "Key": {"pk": s("t2")}, "UpdateExpression": "SET v = :v", "ExpressionAttributeValues": {":v": n(1)}}}
    ]}));
    assert_eq!(
        d.db.billing().table("jobs").write_units - w,
        2.0 * 2.0 + 2.0 * 1.0
    );
    // A query: the page's total size, rounded up to 4 KB, halved.
    for i in 0..3 {
        d.put(json!({"pk": s(&format!("q{i}")), "bucket": s("b#0"), "bucket_at": n(i), "kind": s(&"k".repeat(2000))}));
    }
    let r = d.db.billing().index("jobs", "by-bucket").read_units;
    d.ok("Query", json!({"TableName": "jobs", "IndexName": "by-bucket", "KeyConditionExpression": "#b = :b",
        "ExpressionAttributeNames": {"#b": "bucket"}, "ExpressionAttributeValues": {":b": s("b#0")}}));
    assert_eq!(
        d.db.billing().index("jobs", "by-bucket").read_units - r,
        1.0
    );
}

#[test]
fn a_hot_partition_key_is_throttled() {
    let mut d = Db::exact();
    let put = json!({"TableName": "jobs", "Item": {"pk": s("hot"), "v": n(1)}});
    for _ in 0..1000 {
        d.ok("PutItem", put.clone());
    }
    let e = d.call("PutItem", put.clone()).unwrap_err();
    assert_eq!(e.code, "ProvisionedThroughputExceededException");
    assert_eq!(
        e.fields["ThrottlingReasons"][0]["reason"],
        "TableWriteKeyRangeThroughputExceeded"
    );
    assert_eq!(d.db.billing().throttled["PutItem"], 1);
    // Another key is fine; the next second too.
    d.put(json!({"pk": s("cold")}));
    d.now += 1000;
    d.ok("PutItem", put);
}

#[test]
fn a_hot_index_partition_throttles_table_writes() {
    let mut d = Db::exact();
    for i in 0..1000 {
        d.put(json!({"pk": s(&format!("job#{i}")), "bucket": s("active#0"), "bucket_at": n(i)}));
    }
    let e = d.call("PutItem", json!({"TableName": "jobs", "Item": {"pk": s("job#x"), "bucket": s("active#0"), "bucket_at": n(1)}})).unwrap_err();
    assert_eq!(
        e.fields["ThrottlingReasons"][0]["reason"],
        "IndexWriteKeyRangeThroughputExceeded"
    );
    assert!(d.get("job#x").is_none());
    // A batch write: throttled items come back unprocessed; when none can
    // be written, the call is throttled.
    let w = |i: i64| json!({"PutRequest": {"Item": {"pk": s(&format!("job#b{i}")), "bucket": s("active#0"), "bucket_at": n(i)}}});
    let e = d
        .call(
            "BatchWriteItem",
            json!({"RequestItems": {"jobs": [w(1), w(2)]}}),
        )
        .unwrap_err();
    assert_eq!(e.code, "ProvisionedThroughputExceededException");
    let out = d.ok(
        "BatchWriteItem",
        json!({"RequestItems": {"jobs": [w(1), {"PutRequest": {"Item": {"pk": s("job#free")}}}]}}),
    );
    assert_eq!(out["UnprocessedItems"]["jobs"].as_array().unwrap().len(), 1);
}

#[test]
fn reads_are_throttled_at_three_thousand_units() {
    let mut d = Db::exact();
    d.put(json!({"pk": s("hot")}));
    let get = json!({"TableName": "jobs", "Key": {"pk": s("hot")}, "ConsistentRead": true});
    for _ in 0..3000 {
        d.ok("GetItem", get.clone());
    }
    let e = d.call("GetItem", get).unwrap_err();
    assert_eq!(
        e.fields["ThrottlingReasons"][0]["reason"],
        "TableReadKeyRangeThroughputExceeded"
    );
    let keys = json!({"RequestItems": {"jobs": {"Keys": [{"pk": s("hot")}, {"pk": s("other")}]}}});
    let out = d.ok("BatchGetItem", keys);
    assert_eq!(
        out["UnprocessedKeys"]["jobs"]["Keys"],
        json!([{"pk": s("hot")}])
    );
}

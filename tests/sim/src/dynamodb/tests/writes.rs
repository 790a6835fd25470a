//! Conditional writes, ReturnValues, validation.

use serde_json::json;

use super::{Db, n, s};

#[test]
fn conditional_put_refuses_and_returns_the_old_item() {
    let mut d = Db::exact();
    let create = |t: i64| {
        json!({
            "TableName": "jobs",
            "Item": {"pk": s("job#1"), "state": s("enqueued"), "ttl": n(t)},
            "ConditionExpression": "attribute_not_exists(#pk) OR #ttl <= :created_s",
            "ExpressionAttributeNames": {"#pk": "pk", "#ttl": "ttl"},
            "ExpressionAttributeValues": {":created_s": n(10)},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD"
        })
    };
    assert_eq!(d.ok("PutItem", create(100)), json!({}));
    let e = d.call("PutItem", create(100)).unwrap_err();
    assert_eq!(e.code, "ConditionalCheckFailedException");
    assert_eq!(e.message, "The conditional request failed");
    assert_eq!(e.fields["Item"]["state"], s("enqueued"));
    // Without ReturnValuesOnConditionCheckFailure: no item.
    let mut body = create(100);
    body.as_object_mut()
        .unwrap()
        .remove("ReturnValuesOnConditionCheckFailure");
    let e = d.call("PutItem", body).unwrap_err();
    assert!(!e.fields.contains_key("Item"));
}

#[test]
fn return_values_of_update_put_delete() {
    let mut d = Db::exact();
    d.put(json!({"pk": s("conc#k"), "seq_last": n(4), "lim": n(1)}));
    let up = |rv: &str| {
        json!({
            "TableName": "jobs", "Key": {"pk": s("conc#k")},
            "UpdateExpression": "ADD #last :count SET #nx = if_not_exists(#nx, :one), #l = :one",
            "ExpressionAttributeNames": {"#last": "seq_last", "#nx": "next", "#l": "lim"},
            "ExpressionAttributeValues": {":count": n(2), ":one": n(1)},
            "ReturnValues": rv
        })
    };
    let out = d.ok("UpdateItem", up("UPDATED_NEW"));
    assert_eq!(
        out["Attributes"],
        json!({"seq_last": n(6), "next": n(1), "lim": n(1)})
    );
    let out = d.ok("UpdateItem", up("UPDATED_OLD"));
    assert_eq!(
        out["Attributes"],
        json!({"seq_last": n(6), "next": n(1), "lim": n(1)})
    );
    let out = d.ok("UpdateItem", up("ALL_NEW"));
    assert_eq!(out["Attributes"]["pk"], s("conc#k"));
    assert_eq!(out["Attributes"]["seq_last"], n(10));
    let out = d.ok("UpdateItem", up("NONE"));
    assert_eq!(out, json!({}));
    let out = d.ok(
        "PutItem",
        json!({"TableName": "jobs", "Item": {"pk": s("conc#k")}, "ReturnValues": "ALL_OLD"}),
    );
    assert_eq!(out["Attributes"]["seq_last"], n(12));
    let (code, _) = d.err(
        "PutItem",
        json!({"TableName": "jobs", "Item": {"pk": s("a")}, "ReturnValues": "ALL_NEW"}),
    );
    assert_eq!(code, "ValidationException");
    let out = d.ok(
        "DeleteItem",
        json!({"TableName": "jobs", "Key": {"pk": s("conc#k")}, "ReturnValues": "ALL_OLD"}),
    );
    assert_eq!(out["Attributes"], json!({"pk": s("conc#k")}));
    assert_eq!(d.get("conc#k"), None);
    // An update of an absent item creates it from its key.
    let out = d.ok("UpdateItem", up("ALL_NEW"));
    assert_eq!(
        out["Attributes"],
        json!({"pk": s("conc#k"), "seq_last": n(2), "next": n(1), "lim": n(1)})
    );
}

#[test]
fn update_conditions_and_failures() {
    let mut d = Db::exact();
    d.put(json!({"pk": s("conc#k"), "holders": {"SS": ["a"]}, "lim": n(1)}));
    let acquire = json!({
        "TableName": "jobs", "Key": {"pk": s("conc#k")},
        "UpdateExpression": "ADD #h :e SET #l = :n",
        "ConditionExpression": "attribute_not_exists(#h) OR size(#h) < :n",
        "ExpressionAttributeNames": {"#h": "holders", "#l": "lim"},
        "ExpressionAttributeValues": {":e": {"SS": ["b"]}, ":n": n(1)},
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD"
    });
    let e = d.call("UpdateItem", acquire.clone()).unwrap_err();
    assert_eq!(e.code, "ConditionalCheckFailedException");
    assert_eq!(e.fields["Item"]["holders"], json!({"SS": ["a"]}));
    d.ok(
        "UpdateItem",
        json!({
            "TableName": "jobs", "Key": {"pk": s("conc#k")},
            "UpdateExpression": "DELETE #h :e",
            "ExpressionAttributeNames": {"#h": "holders"},
            "ExpressionAttributeValues": {":e": {"SS": ["a"]}}
        }),
    );
    d.ok("UpdateItem", acquire);
    assert_eq!(d.get("conc#k").unwrap()["holders"], json!({"SS": ["b"]}));
}

#[test]
fn validation_errors() {
    let mut d = Db::exact();
    let cases = [
        (
            "PutItem",
            json!({"TableName": "jobs", "Item": {"id": s("x")}}),
            "Missing the key pk in the item",
        ),
        (
            "PutItem",
            json!({"TableName": "jobs", "Item": {"pk": n(1)}}),
            "Type mismatch for key pk expected: S actual: N",
        ),
        (
            "PutItem",
            json!({"TableName": "jobs", "Item": {"pk": s("")}}),
            "cannot contain an empty string value",
        ),
        (
            "PutItem",
            json!({"TableName": "jobs", "Item": {"pk": s("a"), "bucket": n(3)}}),
            "Type mismatch for Index Key bucket",
        ),
        (
            "GetItem",
            json!({"TableName": "jobs", "Key": {"pk": n(1)}}),
            "The provided key element does not match the schema",
        ),
        (
            "GetItem",
            json!({"TableName": "jobs", "Key": {"pk": s("a"), "x": s("b")}}),
            "The provided key element does not match the schema",
        ),
        (
            "PutItem",
            json!({"TableName": "jobs", "Item": {"pk": s("a")}, "ConditionExpression": "attribute_exists(#a)", "ExpressionAttributeNames": {"#a": "a", "#b": "b"}}),
            "unused in expressions: keys: {#b}",
        ),
        (
            "PutItem",
            json!({"TableName": "jobs", "Item": {"pk": s("a")}, "ConditionExpression": "attribute_exists(#a)", "ExpressionAttributeNames": {"#a": "a"}, "ExpressionAttributeValues": {":x": n(1)}}),
            "ExpressionAttributeValues unused in expressions: keys: {:x}",
        ),
        (
            "PutItem",
            json!({"TableName": "jobs", "Item": {"pk": s("a")}, "ExpressionAttributeValues": {}}),
            "ExpressionAttributeValues must not be empty",
        ),
        (
            "UpdateItem",
            json!({"TableName": "jobs", "Key": {"pk": s("a")}, "UpdateExpression": "SET #p = :v", "ExpressionAttributeNames": {"#p": "pk"}, "ExpressionAttributeValues": {":v": s("b")}}),
            "Cannot update attribute pk",
        ),
        (
            "UpdateItem",
            json!({"TableName": "jobs", "Key": {"pk": s("a")}, "UpdateExpression": "SET #p = :v", "ExpressionAttributeNames": {"#p": "p"}}),
            "attribute value used in expression is not defined",
        ),
        (
            "PutItem",
            json!({"TableName": "jobs", "Item": {"pk": s("a"), "big": s(&"x".repeat(400 * 1024))}}),
            "Item size has exceeded the maximum allowed size",
        ),
    ];
    for (op, body, want) in cases {
        let (code, msg) = d.err(op, body);
        assert_eq!(code, "ValidationException", "{msg}");
        assert!(msg.contains(want), "{op}: {msg} (wanted {want})");
    }
    d.put(json!({"pk": s("a"), "big": s(&"x".repeat(300 * 1024))}));
    let (_, msg) = d.err("UpdateItem", json!({"TableName": "jobs", "Key": {"pk": s("a")}, "UpdateExpression": "SET #b = :v", "ExpressionAttributeNames": {"#b": "b2"}, "ExpressionAttributeValues": {":v": s(&"y".repeat(200 * 1024))}}));
    assert_eq!(
        msg,
        "Item size to update has exceeded the maximum allowed size"
    );
}

#[test]
fn batch_write_and_get() {
    let mut d = Db::exact();
    let puts: Vec<_> = (0..25)
        .map(|i| json!({"PutRequest": {"Item": {"pk": s(&format!("job#{i}")), "v": n(i)}}}))
        .collect();
    let out = d.ok("BatchWriteItem", json!({"RequestItems": {"jobs": puts}}));
    assert_eq!(out["UnprocessedItems"], json!({}));
    let keys: Vec<_> = (0..30)
        .map(|i| json!({"pk": s(&format!("job#{i}"))}))
        .collect();
    let out = d.ok(
        "BatchGetItem",
        json!({"RequestItems": {"jobs": {"Keys": keys, "ConsistentRead": true}}}),
    );
    assert_eq!(out["Responses"]["jobs"].as_array().unwrap().len(), 25);
    assert_eq!(out["UnprocessedKeys"], json!({}));
    let dup = json!({"RequestItems": {"jobs": {"Keys": [{"pk": s("a")}, {"pk": s("a")}]}}});
    assert!(d.err("BatchGetItem", dup).1.contains("duplicates"));
    let too_many: Vec<_> = (0..26)
        .map(|i| json!({"DeleteRequest": {"Key": {"pk": s(&format!("job#{i}"))}}}))
        .collect();
    assert_eq!(
        d.err(
            "BatchWriteItem",
            json!({"RequestItems": {"jobs": too_many}})
        )
        .0,
        "ValidationException"
    );
}

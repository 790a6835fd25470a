//! TransactWriteItems.

use serde_json::{Value, json};

use super::{Db, n, s};
use crate::dynamodb::Options;

fn continuation(token: &str, max: i64) -> Value {
    json!({
        "ClientRequestToken": token,
        "TransactItems": [
            {"Put": {
                "TableName": "jobs",
                "Item": {"pk": s("job#child"), "state": s("awaiting")},
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": "pk"}
            }},
            {"Update": {
                "TableName": "jobs",
                "Key": {"pk": s("job#parent")},
                "UpdateExpression": "SET #c = list_append(if_not_exists(#c, :empty), :one)",
                "ConditionExpression": "attribute_exists(#pk) AND (attribute_not_exists(#c) OR size(#c) < :max)",
                "ExpressionAttributeNames": {"#c": "conts", "#pk": "pk"},
                "ExpressionAttributeValues": {":empty": {"L": []}, ":one": {"L": [s("child")]}, ":max": n(max)},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD"
            }}
        ]
    })
}

#[test]
fn all_or_nothing_with_reasons() {
    let mut d = Db::exact();
    d.put(json!({"pk": s("job#parent"), "conts": {"L": [s("a")]}}));
    let e = d
        .call("TransactWriteItems", continuation("t1", 1))
        .unwrap_err();
    assert_eq!(e.code, "TransactionCanceledException");
    assert_eq!(
        e.message,
        "Transaction cancelled, please refer cancellation reasons for specific reasons [None, ConditionalCheckFailed]"
    );
    let reasons = e.fields["CancellationReasons"].as_array().unwrap();
    assert_eq!(reasons[0], json!({"Code": "None"}));
    assert_eq!(reasons[1]["Code"], "ConditionalCheckFailed");
    assert_eq!(reasons[1]["Item"]["conts"], json!({"L": [s("a")]}));
    assert_eq!(d.get("job#child"), None, "nothing written");
    d.ok("TransactWriteItems", continuation("t2", 5));
    assert_eq!(d.get("job#child").unwrap()["state"], s("awaiting"));
    assert_eq!(
        d.get("job#parent").unwrap()["conts"],
        json!({"L": [s("a"), s("child")]})
    );
    // The same token and request again: answered, not applied twice.
    d.ok("TransactWriteItems", continuation("t2", 5));
    assert_eq!(
        d.get("job#parent").unwrap()["conts"],
        json!({"L": [s("a"), s("child")]})
    );
    let (code, _) = d.err("TransactWriteItems", continuation("t2", 6));
    assert_eq!(code, "IdempotentParameterMismatchException");
    // Two actions on one item.
    let mut twice = continuation("t3", 5);
    twice["TransactItems"][1]["Update"]["Key"] = json!({"pk": s("job#child")});
    assert!(
        d.err("TransactWriteItems", twice)
            .1
            .contains("multiple operations on one item")
    );
}

#[test]
fn condition_check_and_delete() {
    let mut d = Db::exact();
    d.put(json!({"pk": s("a"), "v": n(1)}));
    d.put(json!({"pk": s("b")}));
    let tx = |v: i64| {
        json!({"TransactItems": [
            {"ConditionCheck": {"TableName": "jobs", "Key": {"pk": s("a")}, "ConditionExpression": "#v = :v", "ExpressionAttributeNames": {"#v": "v"}, "ExpressionAttributeValues": {":v": n(v)}}},
            {"Delete": {"TableName": "jobs", "Key": {"pk": s("b")}}}
        ]})
    };
    assert_eq!(
        d.err("TransactWriteItems", tx(2)).0,
        "TransactionCanceledException"
    );
    assert!(d.get("b").is_some());
    d.ok("TransactWriteItems", tx(1));
    assert!(d.get("b").is_none());
    assert!(d.get("a").is_some());
}

#[test]
fn conflicts_with_a_transaction_in_progress() {
    let mut d = Db::with(Options {
        transaction_ms: (50, 50),
        ..Options::default()
    });
    d.put(json!({"pk": s("job#parent")}));
    d.ok("TransactWriteItems", continuation("t1", 5));
    let e = d
        .call(
            "PutItem",
            json!({"TableName": "jobs", "Item": {"pk": s("job#parent")}}),
        )
        .unwrap_err();
    assert_eq!(e.code, "TransactionConflictException");
    let mut other = continuation("t2", 5);
    other["TransactItems"][0]["Put"]["Item"]["pk"] = s("job#other");
    let e = d.call("TransactWriteItems", other.clone()).unwrap_err();
    assert_eq!(
        e.fields["CancellationReasons"][1]["Code"],
        "TransactionConflict"
    );
    d.now += 50;
    d.put(json!({"pk": s("job#parent"), "conts": {"L": []}}));
    d.ok("TransactWriteItems", other);
}

//! The expression parser and evaluator.

use std::collections::BTreeMap;

use serde_json::json;

use crate::dynamodb::eval::{apply, check, project};
use crate::dynamodb::expr::{Placeholders, parse_condition, parse_projection, parse_update};
use crate::dynamodb::value::{Av, Item, Num, item_from_json, item_size};

fn ph(names: &[(&str, &str)], values: serde_json::Value) -> Placeholders {
    let names = names
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    let values: BTreeMap<String, Av> = item_from_json(&values.into())
        .unwrap()
        .into_iter()
        .collect();
    Placeholders::new(names, values)
}

fn item(v: serde_json::Value) -> Item {
    item_from_json(&v.into()).unwrap()
}

fn holds(text: &str, names: &[(&str, &str)], values: serde_json::Value, on: &Item) -> bool {
    let mut p = ph(names, values);
    let c = parse_condition("ConditionExpression", text, &mut p).unwrap();
    p.check_unused().unwrap();
    check(on, &c).unwrap()
}

#[test]
fn conditions_hangar_sends() {
    let job = item(json!({
        "pk": {"S": "job#1"}, "state": {"S": "processing"}, "v": {"N": "3"},
        "ttl": {"N": "100"}, "lease": {"N": "500"}, "conts": {"L": [{"S": "a"}]},
        "holders": {"SS": ["x", "y"]}
    }));
    let empty = Item::new();
    let names = [("#pk", "pk"), ("#ttl", "ttl")];
    let create = "attribute_not_exists(#pk) OR #ttl <= :created_s";
    assert!(holds(
        create,
        &names,
        json!({":created_s": {"N": "50"}}),
        &empty
    ));
    assert!(!holds(
        create,
        &names,
        json!({":created_s": {"N": "50"}}),
        &job
    ));
    assert!(holds(
        create,
        &names,
        json!({":created_s": {"N": "100"}}),
        &job
    ));
    let live = "attribute_exists(#pk) AND (attribute_not_exists(#ttl) OR #ttl > :now_s)";
    assert!(holds(live, &names, json!({":now_s": {"N": "99"}}), &job));
    assert!(!holds(live, &names, json!({":now_s": {"N": "100"}}), &job));
    assert!(!holds(live, &names, json!({":now_s": {"N": "1"}}), &empty));
    let st = [("#s", "state")];
    let vals = json!({":a": {"S": "succeeded"}, ":b": {"S": "processing"}});
    assert!(holds("#s IN (:a, :b)", &st, vals.clone(), &job));
    assert!(!holds("NOT (#s IN (:a, :b))", &st, vals, &job));
    assert!(holds("#s <> :a", &st, json!({":a": {"S": "done"}}), &job));
    // `<>` with an absent attribute is true; every other comparison false.
    assert!(holds("#s <> :a", &st, json!({":a": {"S": "done"}}), &empty));
    assert!(!holds("#s = :a", &st, json!({":a": {"S": "done"}}), &empty));
    assert!(!holds("#s < :a", &st, json!({":a": {"S": "done"}}), &empty));
    let c = [("#c", "conts")];
    assert!(holds(
        "(attribute_not_exists(#c) OR size(#c) < :max)",
        &c,
        json!({":max": {"N": "2"}}),
        &job
    ));
    assert!(!holds(
        "attribute_not_exists(#c) OR size(#c) < :max",
        &c,
        json!({":max": {"N": "1"}}),
        &job
    ));
    let h = [("#h", "holders")];
    assert!(holds("size(#h) = :n", &h, json!({":n": {"N": "2"}}), &job));
    assert!(holds(
        "contains(#h, :x)",
        &h,
        json!({":x": {"S": "y"}}),
        &job
    ));
    assert!(holds(
        "#l BETWEEN :a AND :b",
        &[("#l", "lease")],
        json!({":a": {"N": "500"}, ":b": {"N": "600"}}),
        &job
    ));
    assert!(!holds(
        "#l BETWEEN :a AND :b",
        &[("#l", "lease")],
        json!({":a": {"N": "501"}, ":b": {"N": "600"}}),
        &job
    ));
    assert!(holds(
        "begins_with(#pk, :p)",
        &[("#pk", "pk")],
        json!({":p": {"S": "job#"}}),
        &job
    ));
    assert!(holds(
        "attribute_type(#v, :t)",
        &[("#v", "v")],
        json!({":t": {"S": "N"}}),
        &job
    ));
    // Precedence: NOT, then AND, then OR.
    assert!(holds(
        "#v = :x OR #v = :y AND #v = :z",
        &[("#v", "v")],
        json!({":x": {"N": "3"}, ":y": {"N": "1"}, ":z": {"N": "2"}}),
        &job
    ));
    assert!(!holds(
        "(#v = :x OR #v = :y) AND #v = :z",
        &[("#v", "v")],
        json!({":x": {"N": "3"}, ":y": {"N": "1"}, ":z": {"N": "2"}}),
        &job
    ));
}

#[test]
fn numbers_compare_by_value() {
    let a = Num::parse("10").unwrap();
    let b = Num::parse("9.5").unwrap();
    assert!(a > b);
    assert!(Num::parse("-10").unwrap() < Num::parse("-9.5").unwrap());
    assert_eq!(Num::parse("1.50").unwrap(), Num::parse("1.5").unwrap());
    assert_eq!(Num::parse("0001e2").unwrap().text(), "100");
    assert_eq!(a.add(&b.negate()).unwrap().text(), "0.5");
    assert_eq!(
        Num::parse("99")
            .unwrap()
            .add(&Num::parse("1").unwrap())
            .unwrap()
            .text(),
        "100"
    );
    assert_eq!(
        Num::parse("-3")
            .unwrap()
            .add(&Num::parse("5").unwrap())
            .unwrap()
            .text(),
        "2"
    );
    assert!(Num::parse("1".repeat(39).as_str()).is_err());
    assert!(Num::parse("abc").is_err());
}

#[test]
fn parse_errors_and_placeholders() {
    let mut p = ph(&[("#a", "a")], json!({":v": {"N": "1"}}));
    let e = parse_condition("ConditionExpression", "#a = ", &mut p).unwrap_err();
    assert!(
        e.starts_with("Invalid ConditionExpression: Syntax error"),
        "{e}"
    );
    let mut p = ph(&[], json!({}));
    let e = parse_condition("ConditionExpression", "#a = :v", &mut p).unwrap_err();
    assert!(
        e.contains("attribute name used in the document path is not defined; attribute name: #a"),
        "{e}"
    );
    let mut p = ph(&[("#a", "a")], json!({}));
    let e = parse_condition("ConditionExpression", "#a = :v", &mut p).unwrap_err();
    assert!(
        e.contains("attribute value used in expression is not defined; attribute value: :v"),
        "{e}"
    );
    let mut p = ph(&[], json!({":v": {"N": "1"}}));
    let e = parse_condition("ConditionExpression", "state = :v", &mut p).unwrap_err();
    assert!(
        e.contains("reserved keyword; reserved keyword: state"),
        "{e}"
    );
    let mut p = ph(
        &[("#a", "a"), ("#b", "b")],
        json!({":v": {"N": "1"}, ":w": {"N": "1"}}),
    );
    parse_condition("ConditionExpression", "#a = :v", &mut p).unwrap();
    assert_eq!(
        p.check_unused().unwrap_err(),
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"
    );
    let mut p = ph(&[("#a", "a")], json!({":v": {"N": "1"}, ":w": {"N": "1"}}));
    parse_condition("ConditionExpression", "#a = :v", &mut p).unwrap();
    assert_eq!(
        p.check_unused().unwrap_err(),
        "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"
    );
    let mut p = ph(&[("#a", "a")], json!({":v": {"N": "1"}}));
    let e = parse_update("SET #a = :v REMOVE #a", &mut p).unwrap_err();
    assert!(e.contains("Two document paths overlap"), "{e}");
    let mut p = ph(&[("#a", "a"), ("#b", "b")], json!({":v": {"N": "1"}}));
    let e = parse_update("SET #a = :v SET #b = :v", &mut p).unwrap_err();
    assert!(e.contains("\"SET\" section can only be used once"), "{e}");
}

fn update(
    text: &str,
    names: &[(&str, &str)],
    values: serde_json::Value,
    on: &Item,
) -> Result<Item, String> {
    let mut p = ph(names, values);
    let u = parse_update(text, &mut p)?;
    p.check_unused()?;
    apply(on, &u)
}

#[test]
fn updates_hangar_sends() {
    let it = item(
        json!({"pk": {"S": "k"}, "v": {"N": "3"}, "h": {"L": [{"S": "a"}]}, "holders": {"SS": ["x"]}}),
    );
    let out = update(
        "SET #v = #v + :one, #h = list_append(#h, :e), #t = if_not_exists(#k, :g) + :now REMOVE #x",
        &[("#v", "v"), ("#h", "h"), ("#t", "ttl"), ("#k", "keep"), ("#x", "lease")],
        json!({":one": {"N": "1"}, ":e": {"L": [{"S": "b"}]}, ":g": {"N": "60"}, ":now": {"N": "1000"}}),
        &it,
    )
    .unwrap();
    assert_eq!(out["v"], Av::N(Num::parse("4").unwrap()));
    assert_eq!(out["h"], Av::L(vec![Av::S("a".into()), Av::S("b".into())]));
    assert_eq!(out["ttl"], Av::N(Num::parse("1060").unwrap()));
    let out = update(
        "ADD #h :e SET #l = :n",
        &[("#h", "holders"), ("#l", "lim")],
        json!({":e": {"SS": ["y", "x"]}, ":n": {"N": "2"}}),
        &it,
    )
    .unwrap();
    assert_eq!(out["holders"], Av::Ss(vec!["x".into(), "y".into()]));
    let out = update(
        "DELETE #h :e",
        &[("#h", "holders")],
        json!({":e": {"SS": ["x"]}}),
        &it,
    )
    .unwrap();
    assert!(!out.contains_key("holders"), "an emptied set is removed");
    let out = update(
        "ADD #c :n",
        &[("#c", "count")],
        json!({":n": {"N": "5"}}),
        &it,
    )
    .unwrap();
    assert_eq!(out["count"], Av::N(Num::parse("5").unwrap()));
    let out = update(
        "SET #c = #c - :n",
        &[("#c", "v")],
        json!({":n": {"N": "5"}}),
        &it,
    )
    .unwrap();
    assert_eq!(out["v"], Av::N(Num::parse("-2").unwrap()));
    let e = update(
        "SET #c = #c + :n",
        &[("#c", "missing")],
        json!({":n": {"N": "5"}}),
        &it,
    )
    .unwrap_err();
    assert!(e.contains("does not exist"), "{e}");
    let e = update(
        "SET #c = #c + :n",
        &[("#c", "pk")],
        json!({":n": {"N": "5"}}),
        &it,
    )
    .unwrap_err();
    assert!(e.contains("incorrect data type"), "{e}");
    let e = update("ADD #c :n", &[("#c", "x")], json!({":n": {"S": "5"}}), &it).unwrap_err();
    assert!(e.contains("operator: ADD, operand type: STRING"), "{e}");
    let out = update(
        "SET #m.#k = :v, #h[5] = :v REMOVE #h[0]",
        &[("#m", "m"), ("#k", "k"), ("#h", "h")],
        json!({":v": {"S": "z"}}),
        &item(json!({"m": {"M": {}}, "h": {"L": [{"S": "a"}]}})),
    )
    .unwrap();
    assert_eq!(
        out["m"],
        Av::M(Item::from([("k".to_owned(), Av::S("z".into()))]))
    );
    assert_eq!(out["h"], Av::L(vec![Av::S("z".into())]));
}

#[test]
fn projections_and_sizes() {
    let it = item(
        json!({"pk": {"S": "k"}, "a": {"N": "1"}, "m": {"M": {"x": {"S": "1"}, "y": {"S": "2"}}}}),
    );
    let mut p = ph(&[("#pk", "pk"), ("#m", "m")], json!({}));
    let paths = parse_projection("#pk, #m.x", &mut p).unwrap();
    let out = project(&it, &paths);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out["m"],
        Av::M(Item::from([("x".to_owned(), Av::S("1".into()))]))
    );
    // Sizes per "DynamoDB item sizes and formats": name + value bytes; a
    // number 1 byte per two significant digits + 1; a map 3 bytes + one per
    // element.
    assert_eq!(item_size(&item(json!({"ab": {"S": "xyz"}}))), 5);
    assert_eq!(item_size(&item(json!({"n": {"N": "12345"}}))), 1 + 3 + 1);
    assert_eq!(
        item_size(&item(json!({"m": {"M": {"k": {"BOOL": true}}}}))),
        1 + 3 + (1 + 1 + 1)
    );
    assert_eq!(item_size(&item(json!({"b": {"B": "AAEC"}}))), 1 + 3);
}

/// Expressions are parsed once per shape (text, names, value aliases): a
/// second request of a shape gets its own values, a placeholder it does
/// not use is still refused, and a value whose text is an alias stays as
/// it is.
#[test]
fn an_expression_parsed_again_takes_its_own_values() {
    let base = item(json!({"pk": {"S": "a"}, "n": {"N": "1"}}));
    let n = |u: &crate::dynamodb::expr::Update| apply(&base, u).unwrap().get("n").cloned();
    for (d, want) in [("5", "6"), ("7", "8")] {
        let mut p = ph(&[("#n", "n")], json!({":d": {"N": d}, ":one": {"N": "1"}}));
        let u = parse_update("SET #n = :d + :one", &mut p).unwrap();
        p.check_unused().unwrap();
        assert_eq!(n(&u), Some(Av::N(Num::parse(want).unwrap())));
    }
    let mut p = ph(
        &[("#n", "n")],
        json!({":d": {"N": "1"}, ":one": {"N": "1"}, ":x": {"N": "1"}}),
    );
    parse_update("SET #n = :d + :one", &mut p).unwrap();
    assert!(p.check_unused().unwrap_err().contains(":x"));
    let mut p = ph(&[("#n", "n")], json!({":d": {"S": ":one"}}));
    let u = parse_update("SET #n = :d", &mut p).unwrap();
    p.check_unused().unwrap();
    assert_eq!(n(&u), Some(Av::S(":one".into())));
}

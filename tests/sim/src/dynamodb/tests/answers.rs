//! Answers are written straight to JSON text: the text must be, byte for
//! byte, what `serde_json` writes for the same answer built as a `Value`
//! (the trace hashes the text).

use serde_json::json;

use super::super::value::{Av, Item, Num, item_to_json, with_item, write_item, write_str};
use super::Db;

fn every_type() -> Item {
    let n = |s: &str| Num::parse(s).expect("a number");
    let nested = Item::from([
        ("z".to_owned(), Av::Null),
        (
            "a".to_owned(),
            Av::L(vec![Av::Bool(false), Av::S(String::new())]),
        ),
    ]);
    Item::from([
        ("s".to_owned(), Av::S("plain".into())),
        (
            "esc".to_owned(),
            Av::S("q\" b\\ \n\r\t\u{8}\u{c}\u{1}\u{1f}\u{7f} é ✓ 🚀".into()),
        ),
        ("n".to_owned(), Av::N(n("-12.50"))),
        ("small".to_owned(), Av::N(n("0.000123"))),
        ("big".to_owned(), Av::N(n("12e5"))),
        ("zero".to_owned(), Av::N(n("-0.0"))),
        ("b".to_owned(), Av::B(vec![0, 1, 2, 250, 255])),
        ("t".to_owned(), Av::Bool(true)),
        ("null".to_owned(), Av::Null),
        ("m".to_owned(), Av::M(nested.clone())),
        ("l".to_owned(), Av::L(vec![Av::M(nested), Av::N(n("7"))])),
        ("ss".to_owned(), Av::Ss(vec!["y".into(), "x\"".into()])),
        ("ns".to_owned(), Av::Ns(vec![n("3"), n("1.5")])),
        ("bs".to_owned(), Av::Bs(vec![vec![1], vec![2, 3]])),
        ("Upper".to_owned(), Av::M(Item::new())),
        ("é".to_owned(), Av::L(Vec::new())),
    ])
}

#[test]
fn items_write_the_text_serde_json_writes() {
    let item = every_type();
    let mut text = String::new();
    write_item(&mut text, &item);
    assert_eq!(text, serde_json::to_string(&item_to_json(&item)).unwrap());
    for (_, v) in &item {
        let mut one = String::new();
        v.write_json(&mut one);
        assert_eq!(one, serde_json::to_string(&v.to_json()).unwrap());
    }
    assert_eq!(
        with_item("Item", &item),
        serde_json::to_string(&json!({ "Item": item_to_json(&item) })).unwrap()
    );
}

#[test]
fn strings_are_escaped_as_serde_json_escapes_them() {
    let all: String = (0u32..0x300).filter_map(char::from_u32).collect();
    for s in [
        all.as_str(),
        "",
        "\"",
        "\\\\",
        "a\u{0}b",
        "\u{2028}\u{2029}",
    ] {
        let mut text = String::new();
        write_str(&mut text, s);
        assert_eq!(text, serde_json::to_string(s).unwrap());
    }
}

#[test]
fn a_query_answer_keeps_its_fields_in_name_order() {
    let mut db = Db::exact();
    for i in 0..3 {
        db.put(json!({"pk": {"S": format!("job#{i}")}, "bucket": {"S": "b"}, "bucket_at": {"N": i.to_string()}, "x\"": {"S": "é\n"}}));
    }
    let body = json!({
        "TableName": "jobs",
        "IndexName": "by-bucket",
        "KeyConditionExpression": "#b = :b",
        "ExpressionAttributeNames": {"#b": "bucket"},
        "ExpressionAttributeValues": {":b": {"S": "b"}},
        "Limit": 2,
    });
    let text = db
        .db
        .handle("Query", &body.into(), db.now, &mut db.rng)
        .expect("the query");
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(text, serde_json::to_string(&value).unwrap());
    assert_eq!(value["Count"], 2);
    assert!(value.get("LastEvaluatedKey").is_some());
}

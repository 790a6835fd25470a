//! Tests of the DynamoDB model: requests as the SDK sends them, answers
//! checked against what DynamoDB's documentation says.

mod answers;
mod billing;
mod expressions;
mod queries;
mod transactions;
mod ttl;
mod writes;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde_json::{Value, json};

use super::{DynamoDb, Options};
use crate::api::Answer;

/// A model with its generator and clock.
pub struct Db {
    pub db: DynamoDb,
    pub rng: StdRng,
    pub now: i64,
}

impl Db {
    /// No lag, no stale reads, no transaction window: answers as a
    /// strongly consistent store would give them.
    pub fn exact() -> Db {
        Db::with(Options {
            gsi_lag_ms: (0, 0),
            stale_read_ms: 0,
            stale_read_chance: 0.0,
            ttl_delay_ms: (0, 0),
            partition_limits: true,
            transaction_ms: (0, 0),
        })
    }

    pub fn with(options: Options) -> Db {
        let mut d = Db {
            db: DynamoDb::new(options),
            rng: StdRng::seed_from_u64(7),
            now: 1_700_000_000_000,
        };
        d.ok("CreateTable", hangar_table("jobs"));
        d
    }

    /// A call; its answer's text read back as JSON.
    pub fn call(&mut self, op: &str, body: Value) -> Answer {
        self.db
            .handle(op, &body.into(), self.now, &mut self.rng)
            .map(|text| serde_json::from_str(&text).expect("the answer is JSON"))
    }

    pub fn ok(&mut self, op: &str, body: Value) -> Value {
        match self.call(op, body) {
            Ok(v) => v,
            Err(e) => panic!("{op} failed: {} {}", e.code, e.message),
        }
    }

    /// The error code and message of a call that must fail.
    pub fn err(&mut self, op: &str, body: Value) -> (String, String) {
        match self.call(op, body) {
            Ok(v) => panic!("{op} succeeded: {v}"),
            Err(e) => (e.code, e.message),
        }
    }

    pub fn put(&mut self, item: Value) {
        self.ok("PutItem", json!({"TableName": "jobs", "Item": item}));
    }

    pub fn get(&mut self, pk: &str) -> Option<Value> {
        let out = self.ok(
            "GetItem",
            json!({"TableName": "jobs", "Key": {"pk": {"S": pk}}, "ConsistentRead": true}),
        );
        out.get("Item").cloned()
    }
}

/// Hangar's table: `pk`, and the `by-bucket` index (`bucket`, `bucket_at`)
/// projecting a few attributes.
pub fn hangar_table(name: &str) -> Value {
    json!({
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "bucket", "AttributeType": "S"},
            {"AttributeName": "bucket_at", "AttributeType": "N"}
        ],
        "GlobalSecondaryIndexes": [{
            "IndexName": "by-bucket",
            "KeySchema": [
                {"AttributeName": "bucket", "KeyType": "HASH"},
                {"AttributeName": "bucket_at", "KeyType": "RANGE"}
            ],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["kind", "queue", "created"]}
        }]
    })
}

/// A query of one `by-bucket` partition.
pub fn bucket_query(bucket: &str) -> Value {
    json!({
        "TableName": "jobs", "IndexName": "by-bucket",
        "KeyConditionExpression": "#b = :b",
        "ExpressionAttributeNames": {"#b": "bucket"},
        "ExpressionAttributeValues": {":b": s(bucket)}
    })
}

pub fn s(x: &str) -> Value {
    json!({ "S": x })
}

pub fn n(x: i64) -> Value {
    json!({ "N": x.to_string() })
}

#[test]
fn same_seed_and_calls_give_the_same_answers() {
    let run = || {
        let mut d = Db::with(Options::default());
        let mut answers = Vec::new();
        for i in 0..60 {
            d.now += 37;
            d.put(json!({"pk": s(&format!("job#{}", i % 7)), "bucket": s(&format!("active#{}", i % 3)), "bucket_at": n(i), "v": n(i)}));
            answers.push(d.call(
                "GetItem",
                json!({"TableName": "jobs", "Key": {"pk": s(&format!("job#{}", (i + 3) % 7))}}),
            ));
            answers.push(d.call("Query", bucket_query("active#1")));
        }
        (format!("{answers:?}"), d.db.billing().clone())
    };
    let (a, ba) = run();
    let (b, bb) = run();
    assert_eq!(a, b);
    assert_eq!(ba, bb);
}

#[test]
fn create_describe_and_errors_on_tables() {
    let mut d = Db::exact();
    let (code, _) = d.err("CreateTable", hangar_table("jobs"));
    assert_eq!(code, "ResourceInUseException");
    let t = d.ok("DescribeTable", json!({"TableName": "jobs"}));
    assert_eq!(t["Table"]["TableStatus"], "ACTIVE");
    assert_eq!(
        t["Table"]["GlobalSecondaryIndexes"][0]["IndexName"],
        "by-bucket"
    );
    assert_eq!(
        t["Table"]["BillingModeSummary"]["BillingMode"],
        "PAY_PER_REQUEST"
    );
    let (code, _) = d.err("DescribeTable", json!({"TableName": "nope"}));
    assert_eq!(code, "ResourceNotFoundException");
    let (code, _) = d.err(
        "GetItem",
        json!({"TableName": "nope", "Key": {"pk": s("a")}}),
    );
    assert_eq!(code, "ResourceNotFoundException");
    d.ok("UpdateTimeToLive", json!({"TableName": "jobs", "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": true}}));
    let (code, msg) = d.err("UpdateTimeToLive", json!({"TableName": "jobs", "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": true}}));
    assert_eq!(
        (code.as_str(), msg.as_str()),
        ("ValidationException", "TimeToLive is already enabled")
    );
    let ttl = d.ok("DescribeTimeToLive", json!({"TableName": "jobs"}));
    assert_eq!(ttl["TimeToLiveDescription"]["TimeToLiveStatus"], "ENABLED");
}

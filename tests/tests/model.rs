//! The simulation's DynamoDB model against the emulator: one seeded
//! sequence of requests, as Hangar writes them (conditional puts, updates
//! with `if_not_exists` and `list_append`, conditional deletes,
//! `ReturnValues` and `ReturnValuesOnConditionCheckFailure`, consistent
//! reads, transactions, index queries a page at a time), goes to both
//! through the real SDK, and every answer must match. Where the model
//! differs on purpose (index lag, stale reads, throttling, TTL) it is
//! configured off here.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::Client as Ddb;
use aws_sdk_dynamodb::types::{
    AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use hangar_integration_tests::TestEnv;
use hangar_sim::dynamodb::{DynamoDb, Options};
use hangar_sim::net::{Faults, Network, sdk_config};
use hangar_sim::sqs::Sqs;
use hangar_sim::time::VirtualClock;
use hangar_sim::world::World;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Item = std::collections::HashMap<String, AttributeValue>;

/// An answer as both sides can be compared: the attributes returned
/// (sorted), or the error's code and the item it carries.
fn norm(item: Option<&Item>) -> String {
    let sorted: BTreeMap<_, _> = item
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), format!("{v:?}")))
        .collect();
    format!("{sorted:?}")
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// One request of the sequence, sent to `ddb`; its answer, normalised.
async fn step(ddb: &Ddb, table: &str, op: u32, key: &str, x: i64) -> String {
    let pk = format!("diff#{key}");
    match op {
        0 => {
            let r = ddb
                .put_item()
                .table_name(table)
                .item("pk", s(&pk))
                .item("v", n(x))
                .item("bucket", s("diff#0"))
                .item("bucket_at", n(x))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match r {
                Ok(_) => "put".into(),
                Err(e) => {
                    let e = e.into_service_error();
                    let item = match &e {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                        _ => None,
                    };
                    format!("{} {}", e.meta().code().unwrap_or("?"), norm(item.as_ref()))
                }
            }
        }
        1 => {
            let r = ddb
                .update_item()
                .table_name(table)
                .key("pk", s(&pk))
                .update_expression(
                    "SET #v = if_not_exists(#v, :zero) + :one, #l = list_append(if_not_exists(#l, :empty), :x) ADD #c :one",
                )
                .condition_expression("attribute_not_exists(#v) OR #v < :max")
                .expression_attribute_names("#v", "v")
                .expression_attribute_names("#l", "log")
                .expression_attribute_names("#c", "count")
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":max", n(x))
                .expression_attribute_values(":empty", AttributeValue::L(vec![]))
                .expression_attribute_values(":x", AttributeValue::L(vec![n(x)]))
                .return_values(if x % 2 == 0 { ReturnValue::AllNew } else { ReturnValue::UpdatedOld })
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            match r {
                Ok(o) => format!("updated {}", norm(o.attributes.as_ref())),
                Err(e) => {
                    let e = e.into_service_error();
                    let item = match &e {
                        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(c) => c.item.clone(),
                        _ => None,
                    };
                    format!("{} {}", e.meta().code().unwrap_or("?"), norm(item.as_ref()))
                }
            }
        }
        2 => {
            let r = ddb
                .delete_item()
                .table_name(table)
                .key("pk", s(&pk))
                .condition_expression("#v >= :x")
                .expression_attribute_names("#v", "v")
                .expression_attribute_values(":x", n(x % 5))
                .return_values(ReturnValue::AllOld)
                .send()
                .await;
            match r {
                Ok(o) => format!("deleted {}", norm(o.attributes.as_ref())),
                Err(e) => e
                    .into_service_error()
                    .meta()
                    .code()
                    .unwrap_or("?")
                    .to_owned(),
            }
        }
        3 => {
            let r = ddb
                .get_item()
                .table_name(table)
                .key("pk", s(&pk))
                .consistent_read(true)
                .send()
                .await
                .expect("a read");
            format!("got {}", norm(r.item.as_ref()))
        }
        4 => {
            let update = |k: &str, cond: &str| {
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(table)
                            .key("pk", s(&format!("diff#{k}")))
                            .update_expression("SET #t = :x")
                            .condition_expression(cond)
                            .expression_attribute_names("#t", "tx")
                            .expression_attribute_values(":x", n(x))
                            .build()
                            .expect("an update"),
                    )
                    .build()
            };
            let other = if key == "a" { "b" } else { "a" };
            let r = ddb
                .transact_write_items()
                .transact_items(update(key, "attribute_exists(pk)"))
                .transact_items(update(other, "attribute_not_exists(tx) OR tx < :x"))
                .send()
                .await;
            match r {
                Ok(_) => "transacted".into(),
                Err(e) => {
                    let e = e.into_service_error();
                    let reasons = match &e {
                        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => c
                            .cancellation_reasons()
                            .iter()
                            .map(|r| r.code().unwrap_or("?").to_owned())
                            .collect::<Vec<_>>(),
                        _ => vec![],
                    };
                    format!("{} {reasons:?}", e.meta().code().unwrap_or("?"))
                }
            }
        }
        _ => {
            // The index, a page of 2 at a time, newest first.
            let mut keys = Vec::new();
            let mut start = None;
            loop {
                let r = ddb
                    .query()
                    .table_name(table)
                    .index_name("by-bucket")
                    .key_condition_expression("#b = :b AND #at <= :x")
                    .expression_attribute_names("#b", "bucket")
                    .expression_attribute_names("#at", "bucket_at")
                    .expression_attribute_values(":b", s("diff#0"))
                    .expression_attribute_values(":x", n(x))
                    .scan_index_forward(false)
                    .limit(2)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .expect("a query");
                keys.extend(r.items().iter().map(|i| format!("{:?}", i.get("pk"))));
                start = r.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
            format!("queried {keys:?}")
        }
    }
}

#[tokio::test]
async fn the_dynamodb_model_answers_as_the_emulator_does() {
    let env = TestEnv::new().await;
    let clock = VirtualClock::start(chrono::Utc::now());
    // The model's differences on purpose are off: index lag, stale reads,
    // partition limits, and the few milliseconds a transaction holds its
    // items (the next request, timed by the wall clock here, could fall
    // inside them).
    let exact = Options {
        gsi_lag_ms: (0, 0),
        stale_read_chance: 0.0,
        partition_limits: false,
        transaction_ms: (0, 0),
        ..Options::default()
    };
    let world = Arc::new(Mutex::new(World::new(
        1,
        DynamoDb::new(exact),
        Sqs::new(Default::default()),
    )));
    let sdk = sdk_config(Network::new(world, clock, Faults::none()), clock);
    let model = Ddb::new(&sdk);
    hangar::store::ensure_table(&model, &env.config.table)
        .await
        .expect("the model's table");
    let mut rng = StdRng::seed_from_u64(24);
    let mut compared = 0;
    for i in 0..300 {
        let op = rng.random_range(0..6u32);
        let key = ["a", "b", "c", "d"][rng.random_range(0..4usize)];
        let x = rng.random_range(0..12i64);
        let emulator = step(&env.ddb, &env.config.table, op, key, x).await;
        let modelled = step(&model, &env.config.table, op, key, x).await;
        assert_eq!(
            modelled, emulator,
            "request {i} (op {op} on {key} with {x}): the model answered differently"
        );
        compared += 1;
    }
    assert_eq!(compared, 300);
}

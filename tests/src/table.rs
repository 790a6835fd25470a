//! The stack's table as a test reads it: its description, its stream, its
//! items, and what the calls made on it cost.

use crate::{Bill, IndexDef, TestEnv, endpoint, run_python};

/// Where metering started (see [`TestEnv::meter_start`]).
pub struct MeterStart {
    records: usize,
    indexes: Vec<IndexDef>,
}

/// Reads every record of a DynamoDB stream: `python - ENDPOINT ARN`. Stops
/// at the first page that brings no record it has not seen (the emulator's
/// iterators are not always careful about where they stand).
const READ_STREAM: &str = r#"
import json, sys, boto3
endpoint, arn = sys.argv[1], sys.argv[2]
s = boto3.client("dynamodbstreams", endpoint_url=endpoint, region_name="us-east-1",
                 aws_access_key_id="test", aws_secret_access_key="test")
out, seen = [], set()
for shard in s.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
    it = s.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"],
                              ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    while it:
        r = s.get_records(ShardIterator=it, Limit=1000)
        fresh = [x for x in r["Records"] if x["dynamodb"]["SequenceNumber"] not in seen]
        if not fresh:
            break
        for x in fresh:
            d = x["dynamodb"]
            seen.add(d["SequenceNumber"])
            out.append((int(d["SequenceNumber"]), {k: d.get(k) for k in ("Keys", "OldImage", "NewImage")}))
        it = r.get("NextShardIterator")
out.sort(key=lambda p: p[0])
print(json.dumps([r for _, r in out]))
"#;

impl TestEnv {
    /// Writes a tag pointer for `tag` naming `job` (which need not exist),
    /// created `age` ago, as a creation cut short after its pointers leaves
    /// one.
    pub async fn put_tag_pointer(&self, tag: &str, job: &str, age: chrono::Duration) {
        use aws_sdk_dynamodb::types::AttributeValue::{N, S};
        let at = (chrono::Utc::now() - age).timestamp_millis().to_string();
        self.ddb
            .put_item()
            .table_name(&self.config.table)
            .item("pk", S(format!("tag#{job}#{tag}")))
            .item("bucket", S(format!("tag#{tag}")))
            .item("bucket_at", N(at.clone()))
            .item("created", N(at))
            .item("kind", S("k".into()))
            .item("queue", S("default".into()))
            .send()
            .await
            .expect("a tag pointer written");
    }

    /// The stack's table as DynamoDB describes it.
    pub async fn describe_table(&self) -> aws_sdk_dynamodb::types::TableDescription {
        self.ddb
            .describe_table()
            .table_name(&self.config.table)
            .send()
            .await
            .expect("describe table")
            .table
            .expect("table")
    }

    /// Every record of the table's stream so far, in DynamoDB's JSON form
    /// (`Keys`, `OldImage`, `NewImage`), read with boto3.
    pub async fn stream_records(&self) -> Vec<serde_json::Value> {
        let arn = self
            .describe_table()
            .await
            .latest_stream_arn()
            .expect("the table has a stream (EnvOptions::stream)")
            .to_owned();
        let out = run_python(READ_STREAM, &[&endpoint(), &arn]);
        serde_json::from_str(&out).expect("stream records as JSON")
    }

    /// Starts metering: what was recorded so far is forgotten.
    pub async fn meter_start(&self) -> MeterStart {
        let desc = self.describe_table().await;
        let indexes = desc
            .global_secondary_indexes()
            .iter()
            .map(|g| IndexDef {
                keys: g
                    .key_schema()
                    .iter()
                    .map(|k| k.attribute_name().to_owned())
                    .collect(),
                projected: g.projection().and_then(|p| match p.projection_type() {
                    Some(aws_sdk_dynamodb::types::ProjectionType::All) => None,
                    _ => Some(p.non_key_attributes().to_vec()),
                }),
            })
            .collect();
        let records = self.stream_records().await.len();
        self.meter.reset();
        MeterStart { records, indexes }
    }

    /// What the calls since `start` cost.
    pub async fn bill(&self, start: &MeterStart) -> Bill {
        let snapshot = self.meter.clone();
        let calls_done = snapshot.snapshot();
        let records = self.stream_records().await;
        calls_done.bill(
            &records[start.records..],
            &["pk".to_owned()],
            &start.indexes,
        )
    }

    /// How many items the stack's table holds (a scan; fine for a test's
    /// few hundred items).
    pub async fn item_count(&self) -> i32 {
        let mut count = 0;
        let mut start = None;
        loop {
            let out = self
                .ddb
                .scan()
                .table_name(&self.config.table)
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            count += out.count();
            start = out.last_evaluated_key;
            if start.is_none() {
                return count;
            }
        }
    }
}

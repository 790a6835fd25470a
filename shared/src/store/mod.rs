//! The DynamoDB store: the one module that sends DynamoDB requests. Every
//! other module (client, worker, timer, recurring jobs, the CLI) calls the
//! operations here, named in the domain's words; a change to the table's
//! layout stays in this folder.
//!
//! Every state change is one conditional `UpdateItem` that also appends the
//! history entry (design invariant 1), and every conditional write goes
//! through the same rules: it never revives an item past its TTL, and it is
//! made again when DynamoDB rejects it because a transaction holds the item.
//!
//! # Layout
//!
//! - [`schema`]: attribute names, the `by-bucket` index and its buckets,
//!   key formats.
//! - `item`: job and recurring records to and from items; where a job
//!   sits on the index.
//! - `expr`: update and condition expressions under construction.
//! - `jobs`: creating and reading jobs; adding a continuation to a job.
//! - `apply`: changing a job (every transition), its lease, its progress,
//!   its place once its continuations are released.
//! - `list`: jobs by state, paged, the jobs waiting for a key among them.
//! - `search`: a listing filtered by what its jobs carry (or to retries),
//!   a bounded number of jobs read a page.
//! - `counts`: jobs per state at a bounded cost.
//! - `due`: what the timer reads (items whose time came) and marks.
//! - [`metrics`]: the timer's roll-up of finished jobs into hour and day
//!   items, for charts and per-kind metrics.
//! - `recurring`: recurring job records and their firings.
//! - `queues`: queue controls (pause, resume) and parked jobs.
//! - `rate`: rate limit windows and their reservations.
//! - `slots`: concurrency and ordering keys: slots, waiting lists, numbers.
//! - `batches`: batch items and the counted writes of their jobs.
//! - `table`: creating the table.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;

use crate::error::Error;
use crate::job::{HistoryEntry, JobRecord};
use crate::state::State;

mod apply;
mod batches;
mod counts;
mod due;
mod expr;
mod item;
mod jobs;
mod keys;
mod list;
pub mod metrics;
mod queues;
mod rate;
mod recurring;
pub mod schema;
mod search;
mod slots;
mod table;
mod tags;

pub use aws_sdk_dynamodb::Client as DynamoDbClient;
pub use counts::{BucketCounts, Count};
pub use due::{Due, DueJob, DueStart, Mark};
pub(crate) use keys::{KeyHolder, debounce_key, unique_key};
pub use list::{Cursor, ListQuery, MAX_WAIT_KEYS, Page};
pub use queues::{Held, Hold, ParkedEntry, QueueControl};
pub use recurring::Fire;
pub use schema::{Bucket, INDEX};
pub use search::{MAX_SEARCH_LEN, MAX_SEARCHED, is_retry, job_matches};
pub use table::ensure_table;
pub use tags::DANGLING_AFTER;

const SERVICE: &str = "DynamoDB";

/// How often [`Store::apply`] writes again when continuations are being added
/// to a job while it is being finished.
const CONDITION_ROUNDS: usize = 4;

/// How often a write DynamoDB rejected because a transaction on the same
/// item was in progress (`TransactionConflict`) is made again. The SDK does
/// not retry these; a transaction takes milliseconds, so a short pause
/// suffices.
const CONFLICT_RETRIES: u32 = 5;

/// Sends a request, and again up to [`CONFLICT_RETRIES`] times while its
/// result is a transaction conflict, pausing 10, 20, 40, 80, 160 ms, each
/// with up to half again at random so that two conflicting writers do not
/// collide again.
async fn send_through_conflicts<R, Fut>(
    send: impl Fn() -> Fut,
    is_conflict: impl Fn(&R) -> bool,
) -> R
where
    Fut: std::future::Future<Output = R>,
{
    let mut round = 0;
    loop {
        // Boxed: an SDK call's future is large, and every future awaiting
        // this one would otherwise hold (and move) a copy of its space.
        let res = Box::pin(send()).await;
        if !is_conflict(&res) || round == CONFLICT_RETRIES {
            return res;
        }
        let base = 10u64 << round;
        let jitter = crate::entropy::up_to(base / 2);
        tokio::time::sleep(Duration::from_millis(base + jitter)).await;
        round += 1;
    }
}

/// Whether a single-item write was rejected because a transaction held the
/// item.
fn is_write_conflict<O, E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    res: &std::result::Result<O, SdkError<E, R>>,
) -> bool {
    matches!(res, Err(SdkError::ServiceError(e)) if e.err().code() == Some("TransactionConflictException"))
}

/// Whether a transaction was cancelled only because another transaction or
/// write on one of its items was in progress (no condition failed).
fn is_transaction_conflict<O, R>(
    res: &std::result::Result<
        O,
        SdkError<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError, R>,
    >,
) -> bool {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    let Err(SdkError::ServiceError(e)) = res else {
        return false;
    };
    match e.err() {
        E::TransactionCanceledException(tc) => {
            let codes: Vec<&str> = tc
                .cancellation_reasons()
                .iter()
                .filter_map(|r| r.code())
                .collect();
            codes.contains(&"TransactionConflict") && !codes.contains(&"ConditionalCheckFailed")
        }
        _ => false,
    }
}

/// A conditional `UpdateItem`'s result: written (its output), or refused by
/// its condition (the item as it was, when the request asked for it with
/// `ReturnValuesOnConditionCheckFailure`); any other failure is an error.
fn condition_outcome<O, R: std::fmt::Debug + Send + Sync + 'static>(
    res: std::result::Result<
        O,
        SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
    >,
) -> crate::error::Result<std::result::Result<O, Option<item::Item>>> {
    use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
    match res {
        Ok(out) => Ok(Ok(out)),
        Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
            match e.into_err() {
                UpdateItemError::ConditionalCheckFailedException(c) => Ok(Err(c.item)),
                _ => Ok(Err(None)),
            }
        }
        Err(e) => Err(Error::aws(SERVICE, "UpdateItem", e)),
    }
}

/// A `PutItem` that must not replace an item: written (Ok), or refused
/// because the key is taken, with the item there when the request asked
/// for it (`ReturnValuesOnConditionCheckFailure`); any other failure is an
/// error.
fn put_outcome<R: std::fmt::Debug + Send + Sync + 'static>(
    res: std::result::Result<
        aws_sdk_dynamodb::operation::put_item::PutItemOutput,
        SdkError<aws_sdk_dynamodb::operation::put_item::PutItemError, R>,
    >,
) -> crate::error::Result<std::result::Result<(), Option<item::Item>>> {
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    match res {
        Ok(_) => Ok(Ok(())),
        Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
            match e.into_err() {
                PutItemError::ConditionalCheckFailedException(c) => Ok(Err(c.item)),
                _ => Ok(Err(None)),
            }
        }
        Err(e) => Err(Error::aws(SERVICE, "PutItem", e)),
    }
}

/// Whether a request failed only because its condition did not hold.
fn is_condition_failed<O, E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(
    res: &std::result::Result<O, SdkError<E, R>>,
) -> bool {
    matches!(res, Err(SdkError::ServiceError(e)) if e.err().code() == Some("ConditionalCheckFailedException"))
}

/// A DynamoDB client from an SDK configuration, retrying as `retry` says.
pub(crate) fn client_for(
    sdk: &aws_config::SdkConfig,
    retry: aws_config::retry::RetryConfig,
) -> DynamoDbClient {
    DynamoDbClient::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .retry_config(retry)
            .build(),
    )
}

/// The job table.
#[derive(Debug, Clone)]
pub struct Store {
    ddb: DynamoDbClient,
    table: String,
    shards: u32,
    retention: Duration,
    /// How long an Enqueued job may wait before the timer re-sends it, and
    /// how long after a job with continuations reached a final state the
    /// timer makes sure they were released.
    grace: Duration,
}

/// What a state change writes besides the state itself.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub to: State,
    pub entries: Vec<HistoryEntry>,
    /// Scheduled: due time and whether the message is already in SQS.
    pub run_at: Option<(chrono::DateTime<chrono::Utc>, bool)>,
    /// Processing: lease deadline and the claiming message's version.
    pub lease: Option<(chrono::DateTime<chrono::Utc>, u64)>,
    /// Leave the job where it is on the index (a claim: Enqueued and
    /// Processing share a bucket, so the claim writes no index entry).
    pub keep_place: bool,
    pub last_error: Option<String>,
    pub attempt: AttemptChange,
    /// The job's parameters, replaced in the same write.
    pub params: Option<crate::job::Params>,
    /// The job's arguments, replaced in the same write (a debounced job:
    /// the latest creation's).
    pub args: Option<serde_json::Value>,
    /// A change to Succeeded: what the run returned (JSON text), or
    /// nothing (a result of an earlier run is removed).
    pub result: Option<String>,
    /// The run's latest progress not yet written. A claim removes the
    /// last run's.
    pub progress: Option<crate::job::Progress>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttemptChange {
    Keep,
    Increment,
    Reset,
}

impl Change {
    pub fn new(to: State, entry: HistoryEntry) -> Self {
        Change {
            to,
            entries: vec![entry],
            run_at: None,
            lease: None,
            keep_place: false,
            last_error: None,
            attempt: AttemptChange::Keep,
            params: None,
            args: None,
            result: None,
            progress: None,
        }
    }
}

/// What a write expects to find.
#[derive(Debug, Clone)]
pub(crate) struct Expect<'a> {
    /// Exact version, if known.
    pub version: Option<u64>,
    /// One of these states.
    pub states: Vec<State>,
    /// A further condition.
    pub extra: Extra,
    /// The job as the writer read it, if it did: lets the write compact
    /// the history instead of appending past [`crate::job::MAX_HISTORY`],
    /// and count a batch job's change on its batch (see [`crate::batch`]).
    pub seen: Option<&'a JobRecord>,
    /// How many continuations the writer saw on the job, if it read the item.
    /// A write to a final state is conditional on this count (see
    /// [`Store::apply`]).
    pub conts: Option<usize>,
}

impl<'a> Expect<'a> {
    pub fn at(job: &'a JobRecord) -> Self {
        Expect {
            version: Some(job.version),
            states: vec![job.state],
            extra: Extra::None,
            seen: Some(job),
            conts: Some(job.continuations.len()),
        }
    }

    /// Any job in one of `states`, at whatever version.
    pub fn in_states(states: &[State]) -> Self {
        Expect {
            version: None,
            states: states.to_vec(),
            extra: Extra::None,
            seen: None,
            conts: None,
        }
    }
}

/// A condition beyond state and version.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Extra {
    None,
    /// Processing, started by message version `claimed_v`, lease over by `now`.
    LeaseExpired {
        claimed_v: u64,
        now: chrono::DateTime<chrono::Utc>,
    },
    /// Scheduled and due by this instant.
    DueBy(chrono::DateTime<chrono::Utc>),
    /// Never run (no claim since it was created or last reset).
    NeverRun,
}

/// Why a conditional write did not happen.
#[derive(Debug)]
pub(crate) enum WriteError {
    /// The condition failed; the item as it was (None if missing).
    Condition(Option<Box<JobRecord>>),
    Other(Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Other(e)
    }
}

impl Store {
    /// A store over a table.
    pub fn new(
        ddb: DynamoDbClient,
        table: impl Into<String>,
        shards: u32,
        retention: Duration,
    ) -> Self {
        Store {
            ddb,
            table: table.into(),
            shards: shards.max(1),
            retention,
            grace: crate::config::DEFAULT_GRACE,
        }
    }

    /// Sets the repair grace period (default [`crate::config::DEFAULT_GRACE`]).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Number of index shards.
    pub fn shards(&self) -> u32 {
        self.shards
    }

    /// A query of the entries of one shard of a bucket whose index time is
    /// at or before `now`, oldest first.
    fn due_query(
        &self,
        bucket: Bucket,
        shard: u32,
        now: chrono::DateTime<chrono::Utc>,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.bucket_query(bucket, shard)
            .key_condition_expression("#b = :b AND #at <= :now")
            .expression_attribute_names("#at", schema::attr::BUCKET_AT)
            .expression_attribute_values(":now", item::ms(now))
    }

    /// A query of one shard of a bucket on the index (`#b = :b`; a caller
    /// narrowing by time sets its own key condition over `#b`).
    fn bucket_query(
        &self,
        bucket: Bucket,
        shard: u32,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.partition_query(bucket.key(shard))
    }

    /// A query of one index partition (`#b = :b`).
    fn partition_query(
        &self,
        partition: String,
    ) -> aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder {
        self.ddb
            .query()
            .table_name(&self.table)
            .index_name(INDEX)
            .key_condition_expression("#b = :b")
            .expression_attribute_names("#b", schema::attr::BUCKET)
            .expression_attribute_values(":b", item::s(partition))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{
        Continuation, ContinueOn, JobId, JobOptions, MAX_CONTINUATIONS, MAX_HISTORY, Parent,
    };
    use crate::retry::RetryPolicy;
    use aws_sdk_dynamodb::types::AttributeValue;
    use chrono::Utc;
    use item::{compact_history, n, to_av};
    use schema::{attr, shard_of};
    use std::collections::HashMap;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("abc", 8), shard_of("abc", 8));
        let mut counts = [0u32; 8];
        for _ in 0..8000 {
            counts[shard_of(JobId::generate().as_str(), 8) as usize] += 1;
        }
        for c in counts {
            assert!((700..1300).contains(&c), "{counts:?}");
        }
        assert_eq!(shard_of("anything", 1), 0);
    }

    /// An item's size by DynamoDB's rules: names and values in UTF-8 bytes,
    /// numbers at their 21-byte maximum, 1 byte per boolean, and 3 bytes plus
    /// 1 per element for lists and maps.
    fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
        fn value(v: &AttributeValue) -> usize {
            match v {
                AttributeValue::S(s) => s.len(),
                AttributeValue::N(_) => 21,
                AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
                AttributeValue::L(l) => 3 + l.iter().map(|v| 1 + value(v)).sum::<usize>(),
                AttributeValue::M(m) => {
                    3 + m.iter().map(|(k, v)| 1 + k.len() + value(v)).sum::<usize>()
                }
                other => panic!("unexpected attribute {other:?}"),
            }
        }
        item.iter().map(|(k, v)| k.len() + value(v)).sum()
    }

    /// The largest job item the bounds allow (longest id, kind, queue and
    /// arguments, a full history of failures at every length limit, the
    /// most continuations with the longest ids, every optional attribute)
    /// fits in DynamoDB's 400 KB with room to spare. Writes that did not
    /// read the item (a claim: Enqueued and Processing) append without
    /// compacting, so the history can hold two entries beyond
    /// [`MAX_HISTORY`] until the next write that read it compacts it.
    #[test]
    fn worst_case_item_fits_in_400_kb() {
        use crate::job::{MAX_ARGS_BYTES, MAX_KIND_LEN, MAX_RETRY_DELAYS};
        let long = |c: char| c.to_string().repeat(100_000);
        let id = |c: char| JobId::parse(c.to_string().repeat(200)).unwrap();
        let now = Utc::now();
        let failure = |i: usize| {
            HistoryEntry::new(State::Scheduled, now, Some(long('r')))
                .with("error_type", long('t'))
                .with("error_message", long('m'))
                .with("error_detail", long('d'))
                .with("duration_ms", long('9'))
                .with("worker", format!("{i}{}", long('w')))
        };
        let mut history = vec![
            failure(0)
                .with("origin", long('o'))
                .with("parent", long('p'))
                .with("history_truncated", long('h')),
        ];
        history.extend((1..MAX_HISTORY + 2).map(failure));
        let args = serde_json::Value::String("a".repeat(MAX_ARGS_BYTES - 2));
        assert_eq!(args.to_string().len(), MAX_ARGS_BYTES);
        let mut job = JobRecord::new(
            id('j'),
            "k".repeat(MAX_KIND_LEN),
            args,
            JobOptions {
                queue: "q".repeat(64),
                retry: RetryPolicy {
                    attempts: u32::MAX,
                    delays_secs: vec![u32::MAX; MAX_RETRY_DELAYS],
                    on_exhausted: crate::retry::OnExhausted::Delete,
                },
                timeout: Duration::from_secs(u64::MAX / 2),
                retention: Some(Duration::from_secs(u64::MAX / 2)),
                start_within: Some(Duration::from_secs(u64::MAX / 2)),
                ordered: Some("o".repeat(crate::job::MAX_KIND_LEN)),
                concurrency: Some(crate::job::ConcurrencyLimit {
                    key: "c".repeat(crate::job::MAX_KIND_LEN),
                    limit: u32::MAX,
                }),
                rate: Some(crate::job::RateLimit {
                    key: "r".repeat(crate::job::MAX_KIND_LEN),
                    limit: u32::MAX,
                    per_ms: u64::MAX,
                }),
            },
            history.remove(0),
        );
        job.history.extend(history);
        job.run_at = Some(now);
        job.handed_off = true;
        job.sequence = Some(u64::MAX);
        job.params = (0..crate::job::MAX_PARAMS)
            .map(|i| {
                (
                    format!("{i:0>width$}", width = crate::job::MAX_PARAM_NAME),
                    "v".repeat(crate::job::MAX_PARAM_VALUE),
                )
            })
            .collect();
        crate::job::validate_params(&job.params).unwrap();
        job.result = Some(serde_json::Value::String(
            "r".repeat(crate::job::MAX_RESULT_BYTES - 2),
        ));
        job.parent = Some(Parent {
            id: id('p'),
            on: ContinueOn::AnyFinished,
            batch: true,
        });
        job.batch = Some(JobId::parse("b".repeat(crate::batch::MAX_BATCH_ID)).unwrap());
        job.last_error = Some(crate::job::truncate(
            &long('e'),
            crate::job::MAX_DATA_VALUE_BYTES,
        ));
        let conts: Vec<Continuation> = (0..MAX_CONTINUATIONS)
            .map(|_| Continuation {
                id: id('c'),
                on: ContinueOn::AnyFinished,
            })
            .collect();
        let ddb = DynamoDbClient::from_conf(
            aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .build(),
        );
        let store = Store::new(ddb, "t", 8, Duration::from_secs(1));
        let mut item = store.item(&job);
        for a in [
            attr::LEASE,
            attr::CLAIMED_V,
            attr::RESENDS,
            attr::TTL,
            attr::PARKED,
        ] {
            item.insert(a.to_owned(), n(u64::MAX));
        }
        item.insert(attr::CONTS.to_owned(), to_av(&conts));
        // Waiting for a slot of the longest concurrency key.
        item.insert(attr::WAITS.to_owned(), item::s("w".repeat(MAX_KIND_LEN)));
        assert_eq!(job.history.len(), MAX_HISTORY + 2);

        let size = item_size(&item);
        let history = item_size(&HashMap::from([(
            attr::HISTORY.to_owned(),
            item[attr::HISTORY].clone(),
        )]));
        println!("worst-case item: {size} bytes, history {history} bytes");
        // DynamoDB's limit is 400 KB (409,600 bytes); keep 10 KB of margin.
        assert!(size < 390 * 1024, "{size} bytes");
    }

    #[test]
    fn history_compaction_keeps_the_first_and_the_newest() {
        let t0 = Utc::now();
        let entries: Vec<_> = (0..MAX_HISTORY + 5)
            .map(|i| HistoryEntry::new(State::Scheduled, t0, Some(format!("e{i}"))))
            .collect();
        let out = compact_history(entries);
        assert_eq!(out.len(), MAX_HISTORY);
        assert_eq!(out[0].reason.as_deref(), Some("e0"));
        assert!(out[0].data["history_truncated"].starts_with("5 older"));
        assert_eq!(out[1].reason.as_deref(), Some("e6"));
        assert_eq!(
            out.last().unwrap().reason.as_deref(),
            Some(&*format!("e{}", MAX_HISTORY + 4))
        );
    }
}

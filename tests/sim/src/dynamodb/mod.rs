//! DynamoDB as its documentation describes it, for the operations Hangar
//! sends: tables with global secondary indexes (on-demand), items written
//! with conditions and update expressions, reads strongly or eventually
//! consistent, queries on the table or an index, batch calls,
//! transactions, TTL, partition throughput limits and the units billed.
//!
//! - [`value`] and [`num`]: attribute values, their order and size.
//! - [`expr`] parses expressions (`memo` once per shape, `placeholders`
//!   a request's names and values), [`eval`] evaluates them.
//! - [`table`]: items, keys, indexes (applied after a lag), TTL sweeps.
//! - [`capacity`]: units billed, partition limits.
//! - `admin` (CreateTable, DescribeTable, TTL), `request` (a request's
//!   common parts, validated), `write` (PutItem, UpdateItem, DeleteItem),
//!   `batch` (BatchGetItem, BatchWriteItem), `txn` (TransactWriteItems),
//!   `read` (GetItem, Query).
//!
//! Deterministic: the only randomness is the generator each request is
//! given, and every map is ordered.

mod admin;
mod batch;
pub mod capacity;
pub mod eval;
pub mod expr;
mod memo;
pub mod num;
mod placeholders;
mod read;
mod request;
mod reserved;
pub mod table;
mod txn;
pub mod value;
mod write;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::json::Json;
use rand::rngs::StdRng;

use crate::api::{ApiError, Reply, reply};
pub use capacity::{Billing, Usage};
use capacity::{Demand, Partitions};
use table::{Lags, Pk, Table};

/// What the model varies, within what AWS documents.
#[derive(Debug, Clone)]
pub struct Options {
    /// Range of the lag after which a write shows in each GSI, ms ("Using
    /// Global Secondary Indexes": "within a fraction of a second, under
    /// normal conditions").
    pub gsi_lag_ms: (i64, i64),
    /// An eventually consistent read may return the version before an
    /// item's last change if the change is younger than this ("Read
    /// consistency": eventually consistent reads "might not reflect the
    /// results of a recently completed write"; consistency "usually within
    /// one second").
    pub stale_read_ms: i64,
    /// The chance such a read returns the older version.
    pub stale_read_chance: f64,
    /// How long after its expiry an expired item is deleted by the TTL
    /// sweep, ms ("Expire data with Time to Live": "typically within a
    /// few days of expiration").
    pub ttl_delay_ms: (i64, i64),
    /// 1,000 WCU and 3,000 RCU per partition key a second, on the table
    /// and each GSI.
    pub partition_limits: bool,
    /// How long a committed transaction keeps its items, ms: a
    /// single-item write to one of them answers
    /// `TransactionConflictException` and another transaction touching one
    /// is cancelled with `TransactionConflict` ("Amazon DynamoDB
    /// Transactions: How it works", section "Transaction conflict handling
    /// in DynamoDB"). The model applies a transaction at once, at the time
    /// of its request; this window stands for the time real transactions
    /// take between prepare and commit, during which another client's write
    /// conflicts. (0, 0) disables conflicts.
    pub transaction_ms: (i64, i64),
}

impl Default for Options {
    fn default() -> Self {
        Options {
            gsi_lag_ms: (0, 1000),
            stale_read_ms: 1000,
            stale_read_chance: 0.1,
            ttl_delay_ms: (3_600_000, 6 * 3_600_000),
            partition_limits: true,
            transaction_ms: (0, 10),
        }
    }
}

/// DynamoDB in memory.
pub struct DynamoDb {
    options: Options,
    tables: BTreeMap<String, Table>,
    billing: Billing,
    partitions: Partitions,
    /// Items held by transactions in progress: until when.
    busy: BTreeMap<(String, Pk), i64>,
    /// The same holds in the order they end, so that ended ones are let go
    /// without reading the ones still held.
    busy_until: BTreeSet<(i64, String, Pk)>,
    /// Idempotency tokens of TransactWriteItems: the request (without its
    /// token) and when it was accepted.
    tokens: BTreeMap<String, (Json, i64)>,
    /// The tokens in the order they were accepted.
    token_order: VecDeque<(i64, String)>,
}

impl DynamoDb {
    pub fn new(options: Options) -> Self {
        DynamoDb {
            options,
            tables: BTreeMap::new(),
            billing: Billing::default(),
            partitions: Partitions::default(),
            busy: BTreeMap::new(),
            busy_until: BTreeSet::new(),
            tokens: BTreeMap::new(),
            token_order: VecDeque::new(),
        }
    }

    /// Units billed so far.
    pub fn billing(&self) -> &Billing {
        &self.billing
    }

    /// The current version of the item whose string partition key is
    /// `hash` (a table without a sort key), as an observer outside AWS
    /// sees it: no request, nothing billed or traced.
    pub fn peek(&self, table: &str, hash: &str) -> Option<&value::Item> {
        let pk = (table::KeyPart::S(hash.to_owned()), None);
        self.tables.get(table)?.get(&pk)
    }

    /// Puts `items` in `table` as a restore would: no request, nothing
    /// billed, every index up to date at once. For a table as large as a
    /// run cannot make in its time.
    pub fn load(&mut self, table: &str, items: impl Iterator<Item = value::Item>, now_ms: i64) {
        let lags = Lags {
            gsi_lag_ms: (0, 0),
            ..self.lags()
        };
        let mut rng = <StdRng as rand::SeedableRng>::seed_from_u64(0);
        let t = self.tables.get_mut(table).expect("the table exists");
        for item in items {
            let pk = match t.key.key_of(&item) {
                Ok(Some(pk)) => pk,
                _ => continue,
            };
            t.commit(pk, Some(item), now_ms, &lags, &mut rng);
        }
    }

    /// [`DynamoDb::peek`] at every item whose string partition key starts
    /// with `prefix`, in key order.
    pub fn peek_prefix<'a>(
        &'a self,
        table: &str,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a value::Item)> + 'a {
        let from = (table::KeyPart::S(prefix.to_owned()), None);
        self.tables
            .get(table)
            .into_iter()
            .flat_map(move |t| t.items_from(from.clone()))
            .map_while(move |(pk, item)| match &pk.0 {
                table::KeyPart::S(s) if s.starts_with(prefix) => Some((s.as_str(), item)),
                _ => None,
            })
    }

    /// One request: `op` is the operation (the part after
    /// `DynamoDB_20120810.` in `X-Amz-Target`), `body` its JSON. The
    /// answer is its JSON text: the reads and writes that return items
    /// write them straight to text, the other operations build a `Value`.
    pub fn handle(&mut self, op: &str, body: &Json, now_ms: i64, rng: &mut StdRng) -> Reply {
        self.advance(now_ms, rng);
        *self.billing.requests.entry(op.to_owned()).or_default() += 1;
        if !body.is_object() {
            return Err(ApiError::client(
                "SerializationException",
                "Start of structure or map found where not expected",
            ));
        }
        let out = match op {
            "CreateTable" => reply(self.create_table(body, now_ms)),
            "DescribeTable" => reply(self.describe_table(body)),
            "DeleteTable" => reply(self.delete_table(body)),
            "ListTables" => reply(Ok(self.list_tables())),
            "UpdateTimeToLive" => reply(self.update_ttl(body, now_ms, rng)),
            "DescribeTimeToLive" => reply(self.describe_ttl(body)),
            "PutItem" => self.put_item(body, now_ms, rng),
            "UpdateItem" => self.update_item(body, now_ms, rng),
            "DeleteItem" => self.delete_item(body, now_ms, rng),
            "GetItem" => self.get_item(body, now_ms, rng),
            "Query" => self.query(body, now_ms, rng),
            "BatchGetItem" => self.batch_get(body, now_ms, rng),
            "BatchWriteItem" => reply(self.batch_write(body, now_ms, rng)),
            "TransactWriteItems" => reply(self.transact_write(body, now_ms, rng)),
            other => Err(ApiError::client(
                "UnknownOperationException",
                format!("The model does not implement {other}"),
            )),
        };
        if let Err(e) = &out
            && e.code == "ProvisionedThroughputExceededException"
        {
            *self.billing.throttled.entry(op.to_owned()).or_default() += 1;
        }
        out
    }

    /// Brings the model to `now_ms`: index changes whose lag has passed
    /// become visible, due TTL sweeps run. [`DynamoDb::handle`] calls it;
    /// a runtime may call it between requests too.
    pub fn advance(&mut self, now_ms: i64, rng: &mut StdRng) {
        let lags = self.lags();
        for t in self.tables.values_mut() {
            t.sweep(now_ms, &lags, rng);
            t.apply_due(now_ms);
        }
        while let Some(first) = self.busy_until.first()
            && first.0 <= now_ms
        {
            let (until, table, pk) = self.busy_until.pop_first().expect("not empty");
            let key = (table, pk);
            if self.busy.get(&key) == Some(&until) {
                self.busy.remove(&key);
            }
        }
        // Idempotency tokens are valid for ten minutes
        // (API_TransactWriteItems.html, ClientRequestToken).
        while let Some((at, _)) = self.token_order.front()
            && now_ms - *at >= 600_000
        {
            let (at, token) = self.token_order.pop_front().expect("not empty");
            if self.tokens.get(&token).is_some_and(|(_, seen)| *seen == at) {
                self.tokens.remove(&token);
            }
        }
    }

    /// Holds an item for a transaction in progress until `until`.
    fn hold(&mut self, table: &str, pk: &Pk, until: i64) {
        self.busy.insert((table.to_owned(), pk.clone()), until);
        self.busy_until
            .insert((until, table.to_owned(), pk.clone()));
    }

    /// Keeps a transaction's idempotency token for ten minutes.
    fn keep_token(&mut self, token: String, fingerprint: Json, now_ms: i64) {
        self.token_order.push_back((now_ms, token.clone()));
        self.tokens.insert(token, (fingerprint, now_ms));
    }

    fn lags(&self) -> Lags {
        Lags {
            gsi_lag_ms: self.options.gsi_lag_ms,
            ttl_delay_ms: self.options.ttl_delay_ms,
            stale_read_ms: self.options.stale_read_ms,
        }
    }

    /// How stale an eventually consistent read may be: (ms, chance).
    pub fn staleness(&self) -> (i64, f64) {
        (self.options.stale_read_ms, self.options.stale_read_chance)
    }

    fn table(&self, name: &str) -> Result<&Table, ApiError> {
        self.tables.get(name).ok_or_else(not_found)
    }

    /// Admits a request's partition demands (when limits are on), or the
    /// throttling error.
    fn admit(&mut self, now_ms: i64, demands: &[Demand]) -> Result<(), ApiError> {
        if !self.options.partition_limits {
            return Ok(());
        }
        let billing = &mut self.billing;
        self.partitions
            .admit(now_ms, demands)
            .map_err(|(reason, d)| {
                let at = match &d.index {
                    Some(i) => format!("{}/{i} {} {reason}", d.table, d.partition),
                    None => format!("{} {} {reason}", d.table, d.partition),
                };
                *billing.throttled_at.entry(at).or_default() += 1;
                let mut resource = self
                    .tables
                    .get(&d.table)
                    .map(|t| t.arn.clone())
                    .unwrap_or_default();
                if let Some(i) = &d.index {
                    resource = format!("{resource}/index/{i}");
                }
                throttled(&reason, &resource)
            })
    }

    /// Whether an item is held by a transaction in progress.
    fn is_busy(&self, table: &str, pk: &Pk, now_ms: i64) -> bool {
        self.busy
            .get(&(table.to_owned(), pk.clone()))
            .is_some_and(|until| *until > now_ms)
    }
}

pub(crate) fn not_found() -> ApiError {
    ApiError::client("ResourceNotFoundException", "Requested resource not found")
}

/// The throttling error ("ThrottlingReason", API_ThrottlingReason.html).
pub(crate) fn throttled(reason: &str, resource: &str) -> ApiError {
    ApiError::client(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
    )
    .with(
        "ThrottlingReasons",
        serde_json::json!([{ "reason": reason, "resource": resource }]),
    )
}

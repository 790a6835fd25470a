//! Units billed and partition throughput limits.
//!
//! Units: "Read/write capacity mode" and "DynamoDB item sizes and formats"
//! (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/capacity-mode.html,
//! .../CapacityUnitCalculations.html): a write request unit is one write of
//! up to 1 KB (a larger item takes one more per KB), a transactional write
//! takes two; a read request unit is one strongly consistent read of up to
//! 4 KB, an eventually consistent read takes half, a transactional read
//! two.
//!
//! Partition limits: "Best practices for designing and using partition
//! keys effectively" and "1- Key range throughput exceeded (hot
//! partitions)" (bp-partition-key-design.html,
//! throttling-key-range-limit-exceeded-mitigation.html): each partition
//! serves at most 3,000 read units and 1,000 write units a second, in both
//! capacity modes, on the table and on each GSI; a throttled request
//! answers `ProvisionedThroughputExceededException` with a
//! `ThrottlingReasons` entry such as `TableWriteKeyRangeThroughputExceeded`
//! ("ThrottlingReason", API_ThrottlingReason.html). The model counts units
//! per partition key value (one key is at most one partition) in
//! one-second windows; it does not model burst capacity or adaptive
//! splitting of a hot key range.

use std::collections::BTreeMap;

/// Units of one table or index.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub read_units: f64,
    pub write_units: f64,
}

/// Everything billed so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Billing {
    /// By table name.
    pub tables: BTreeMap<String, Usage>,
    /// By `<table>/<index>`.
    pub indexes: BTreeMap<String, Usage>,
    /// Requests by operation (throttled and failed ones included).
    pub requests: BTreeMap<String, u64>,
    /// Requests answered with a throttling error, by operation.
    pub throttled: BTreeMap<String, u64>,
    /// The same, by the partition that refused them: `<table>[/<index>]
    /// <partition key> <reason>`.
    pub throttled_at: BTreeMap<String, u64>,
}

impl Billing {
    pub fn table(&self, table: &str) -> Usage {
        self.tables.get(table).cloned().unwrap_or_default()
    }

    pub fn index(&self, table: &str, index: &str) -> Usage {
        self.indexes
            .get(&format!("{table}/{index}"))
            .cloned()
            .unwrap_or_default()
    }

    pub(crate) fn charge(&mut self, table: &str, index: Option<&str>, read: f64, write: f64) {
        let u = match index {
            None => self.tables.entry(table.to_owned()).or_default(),
            Some(i) => self.indexes.entry(format!("{table}/{i}")).or_default(),
        };
        u.read_units += read;
        u.write_units += write;
    }
}

/// Write units for an item of `bytes`: 1 per KB, at least 1.
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Read units for `bytes` read at once: 1 per 4 KB, at least 1; half when
/// eventually consistent.
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

pub const PARTITION_READ_UNITS: f64 = 3000.0;
pub const PARTITION_WRITE_UNITS: f64 = 1000.0;

/// Units one request needs from one partition.
#[derive(Debug, Clone)]
pub struct Demand {
    /// Table name, and the index name for a GSI partition.
    pub table: String,
    pub index: Option<String>,
    /// The partition key value.
    pub partition: String,
    pub read: f64,
    pub write: f64,
}

/// A partition: table, index (None for the table), partition key value.
type PartitionId = (String, Option<String>, String);

/// Units used per partition in the current second.
#[derive(Debug, Default)]
pub struct Partitions {
    used: BTreeMap<PartitionId, (i64, f64, f64)>,
}

impl Partitions {
    /// Admits a request's demands if every partition has room this second
    /// (and records them), or names the first that does not: the
    /// throttling reason and the table and index.
    pub fn admit(&mut self, now_ms: i64, demands: &[Demand]) -> Result<(), (String, Demand)> {
        let second = now_ms.div_euclid(1000);
        if self.used.len() > 50_000 {
            self.used.retain(|_, (s, _, _)| *s == second);
        }
        // Sum per partition first: one request may hit a partition twice.
        let mut want: BTreeMap<PartitionId, (f64, f64, &Demand)> = BTreeMap::new();
        for d in demands {
            let e = want
                .entry((d.table.clone(), d.index.clone(), d.partition.clone()))
                .or_insert((0.0, 0.0, d));
            e.0 += d.read;
            e.1 += d.write;
        }
        for (k, (r, w, d)) in &want {
            let (r0, w0) = match self.used.get(k) {
                Some((s, r0, w0)) if *s == second => (*r0, *w0),
                _ => (0.0, 0.0),
            };
            let what = if d.index.is_some() { "Index" } else { "Table" };
            if *r > 0.0 && r0 + r > PARTITION_READ_UNITS {
                return Err((
                    format!("{what}ReadKeyRangeThroughputExceeded"),
                    (*d).clone(),
                ));
            }
            if *w > 0.0 && w0 + w > PARTITION_WRITE_UNITS {
                return Err((
                    format!("{what}WriteKeyRangeThroughputExceeded"),
                    (*d).clone(),
                ));
            }
        }
        for (k, (r, w, _)) in want {
            let e = self.used.entry(k).or_insert((second, 0.0, 0.0));
            if e.0 != second {
                *e = (second, 0.0, 0.0);
            }
            e.1 += r;
            e.2 += w;
        }
        Ok(())
    }
}

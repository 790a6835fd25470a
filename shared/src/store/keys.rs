//! Key items of unique and debounced jobs (see [`crate::unique`]): one
//! item per key, `pk = "unique#<key>"` or `"debounce#<key>"`, naming the
//! job that holds the key (`job`) and since when (`since`, epoch ms). It
//! is a pointer, not a lock: whether the job still holds the key is read
//! from the job, so nothing has to release it.

use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use chrono::{DateTime, Utc};

use super::item::{get_n, get_s, ms, n, s};
use super::schema::attr;
use super::{Store, is_write_conflict, put_outcome, send_through_conflicts};
use crate::clock::from_millis;
use crate::error::Result;
use crate::job::JobId;

/// The job a key item names, and since when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyHolder {
    pub job: JobId,
    pub since: DateTime<Utc>,
}

impl Store {
    /// Makes the key item `pk` name `job` from `now`, if the key is free
    /// (no item, or one past its `expires`) or, with `replacing`, still
    /// names that job: Ok, or the holder found there (None if the item
    /// could not be read). The item expires at `expires` (DynamoDB's TTL
    /// removes it some time later; until then a read of it treats it as
    /// gone).
    pub(crate) async fn take_key(
        &self,
        pk: String,
        job: &JobId,
        replacing: Option<&JobId>,
        now: DateTime<Utc>,
        expires: DateTime<Utc>,
    ) -> Result<std::result::Result<(), Option<KeyHolder>>> {
        let mut request = self
            .ddb
            .put_item()
            .table_name(&self.table)
            .item(attr::PK, s(pk))
            .item(attr::KEY_JOB, s(job.as_str()))
            .item(attr::KEY_SINCE, ms(now))
            .item(attr::TTL, n(expires.timestamp()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match replacing {
            None => request
                .condition_expression("attribute_not_exists(#pk) OR #ttl < :now")
                .expression_attribute_names("#pk", attr::PK)
                .expression_attribute_names("#ttl", attr::TTL)
                .expression_attribute_values(":now", n(now.timestamp())),
            Some(old) => request
                .condition_expression("#job = :old")
                .expression_attribute_names("#job", attr::KEY_JOB)
                .expression_attribute_values(":old", s(old.as_str())),
        };
        let res = send_through_conflicts(|| request.clone().send(), is_write_conflict).await;
        Ok(put_outcome(res)?.map_err(|old| {
            let old = old?;
            Some(KeyHolder {
                job: JobId::parse(get_s(&old, attr::KEY_JOB)?.to_owned()).ok()?,
                since: from_millis(get_n(&old, attr::KEY_SINCE)?),
            })
        }))
    }
}

/// The key item of a unique job's key.
pub(crate) fn unique_key(key: &str) -> String {
    format!("unique#{key}")
}

/// The key item of a debounced job's key.
pub(crate) fn debounce_key(key: &str) -> String {
    format!("debounce#{key}")
}

//! Tag pointers: for each tag of a job, one small item, `pk =
//! "tag#<job id>#<tag>"`, on the index in the tag's partition
//! (`tag#<tag>`, see [`Bucket::Tagged`]) at the job's creation time, with
//! the job's kind and queue. A job's tags are found with one query of
//! that partition and one `BatchGetItem` of the jobs it names.
//!
//! The pointers are written before the job (one `BatchWriteItem` for all
//! of a creation's tags), so a job is never without them. A pointer can
//! outlive its job (a creation that failed after them, a job deleted by
//! its TTL): a listing leaves out a job that is gone or does not carry the
//! tag, and deletes such a pointer once it is an hour old (a younger one
//! may name a job whose creation is under way). A job without tags
//! writes and reads nothing here.

use std::collections::HashSet;
use std::time::Duration;

use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
use chrono::{DateTime, Utc};

use super::Store;
use super::item::{Item, get_n, get_s, is_expired, ms, s};
use super::jobs::put_request;
use super::list::{Cursor, Page};
use super::schema::{Bucket, attr, job_key};
use crate::error::Result;
use crate::job::{JobRecord, validate_tag};
use crate::state::State;

/// How old a pointer to a missing job must be before a listing deletes it.
pub const DANGLING_AFTER: Duration = Duration::from_secs(3600);

/// The index partition of a tag's pointers.
fn tag_partition(tag: &str) -> String {
    format!("{}#{tag}", Bucket::Tagged.as_str())
}

/// The key of the pointer of `job`'s tag `tag` (job ids hold no `#`).
fn pointer_key(job: &str, tag: &str) -> String {
    format!("{}#{job}#{tag}", Bucket::Tagged.as_str())
}

/// The job key a pointer key names.
fn job_of_pointer(pk: &str) -> Option<String> {
    let rest = pk.strip_prefix("tag#")?;
    let (id, _) = rest.split_once('#')?;
    Some(format!("job#{id}"))
}

impl Store {
    /// Writes the tag pointers of `jobs` (nothing for jobs without tags):
    /// two write units a tag, the item and its index entry.
    pub(crate) async fn write_tags(&self, jobs: &[JobRecord]) -> Result<()> {
        let puts: Vec<WriteRequest> = jobs
            .iter()
            .flat_map(|job| job.tags.iter().map(move |tag| (job, tag)))
            .map(|(job, tag)| {
                put_request(Item::from([
                    (attr::PK.to_owned(), s(pointer_key(job.id.as_str(), tag))),
                    (attr::BUCKET.to_owned(), s(tag_partition(tag))),
                    (attr::BUCKET_AT.to_owned(), ms(job.created_at)),
                    (attr::CREATED.to_owned(), ms(job.created_at)),
                    (attr::KIND.to_owned(), s(&job.kind)),
                    (attr::QUEUE.to_owned(), s(&job.options.queue)),
                ]))
            })
            .collect();
        if puts.is_empty() {
            return Ok(());
        }
        self.batch_write(puts).await
    }

    /// One page of the jobs tagged `tag` (in `state`, if given), newest
    /// first by creation: one query and one `BatchGetItem`. A page reads
    /// `size` pointers and lists those whose job is still there (and in
    /// the state), so it can list fewer; `next` goes on.
    pub async fn tagged_page(
        &self,
        tag: &str,
        state: Option<State>,
        size: usize,
        cursor: Option<&Cursor>,
        now: DateTime<Utc>,
    ) -> Result<Page> {
        validate_tag(tag)?;
        let (pointers, next) = self
            .partition_page(tag_partition(tag), false, size, cursor)
            .await?;
        let pks: Vec<String> = pointers
            .iter()
            .filter_map(|p| get_s(p, attr::PK).and_then(job_of_pointer))
            .collect();
        // The jobs that are there and carry the tag; a pointer to any
        // other is dangling.
        let live: Vec<JobRecord> = (self.jobs_at(&pks).await?.into_iter())
            .filter(|j| j.tags.iter().any(|t| t == tag) && !is_expired(j, now))
            .collect();
        let live_keys: HashSet<String> = live.iter().map(|j| job_key(&j.id)).collect();
        let old_enough = now.timestamp_millis() - DANGLING_AFTER.as_millis() as i64;
        let dangling: Vec<WriteRequest> = pointers
            .iter()
            .filter(|p| get_n::<i64>(p, attr::CREATED).is_some_and(|c| c <= old_enough))
            .filter(|p| {
                get_s(p, attr::PK)
                    .and_then(job_of_pointer)
                    .is_none_or(|k| !live_keys.contains(&k))
            })
            .filter_map(|p| {
                let key = Item::from([(attr::PK.to_owned(), p.get(attr::PK)?.clone())]);
                let delete = DeleteRequest::builder().set_key(Some(key)).build().ok()?;
                Some(WriteRequest::builder().delete_request(delete).build())
            })
            .collect();
        if !dangling.is_empty() {
            // Tidying, not the listing's answer: a failure leaves the
            // pointers for the next listing.
            if let Err(e) = self.batch_write(dangling).await {
                tracing::warn!(error = %e, tag, "tag pointers of gone jobs not deleted");
            }
        }
        let searched_to = pointers
            .last()
            .and_then(|p| get_n::<i64>(p, attr::BUCKET_AT))
            .map(crate::clock::from_millis);
        Ok(Page {
            jobs: live
                .into_iter()
                .filter(|j| state.is_none_or(|s| j.state == s))
                .collect(),
            next,
            queries: 1,
            keys_left_out: false,
            read: pks.len(),
            searched_to,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pointer_names_its_job_whatever_the_tag_holds() {
        let pk = pointer_key("0192-abc", "customer:42/x=y@z");
        assert_eq!(pk, "tag#0192-abc#customer:42/x=y@z");
        assert_eq!(job_of_pointer(&pk).as_deref(), Some("job#0192-abc"));
        assert_eq!(job_of_pointer("job#x"), None);
        assert_eq!(tag_partition("customer:42"), "tag#customer:42");
    }
}

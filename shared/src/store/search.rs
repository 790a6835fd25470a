//! Finding jobs by what they carry: a listing whose jobs are read and kept
//! when their arguments, parameters or last error contain a text, in any
//! case (and, the same way, the Scheduled jobs that are retries). Nothing
//! is written for it and no index holds it: a page reads the listing's
//! jobs in order, at most [`MAX_SEARCHED`] of them, and says how far it
//! got, so a search costs its reads and its cursor goes on.

use chrono::{DateTime, Utc};

use super::Store;
use super::list::{Cursor, Keep, ListQuery, Page};
use crate::error::{Error, Result};
use crate::job::JobRecord;

/// Most jobs one page of a search reads: about half a read unit each.
pub const MAX_SEARCHED: usize = 500;

/// Longest search text, in characters.
pub const MAX_SEARCH_LEN: usize = 200;

/// Whether `job` carries `needle` (already lower case) in its arguments,
/// a parameter (`name=value`) or its last error.
pub fn job_matches(job: &JobRecord, needle: &str) -> bool {
    let has = |text: &str| text.to_lowercase().contains(needle);
    has(&job.args.to_string())
        || job
            .params
            .iter()
            .any(|(name, value)| has(&format!("{name}={value}")))
        || job.last_error.as_deref().is_some_and(has)
}

/// Whether `job` waits for another run after a failed one.
pub fn is_retry(job: &JobRecord) -> bool {
    job.state == crate::state::State::Scheduled && job.attempt > 0 && job.last_error.is_some()
}

/// How many jobs a search's next read asks for when it still needs `need`
/// matches, found `found` in the `searched` jobs it looked at, and last
/// asked for `last`: what the rest would take at the rate matched so far
/// (a fifth more), at least `need`, and never more than twice `last`.
fn next_read(need: usize, searched: usize, found: usize, last: usize) -> usize {
    let at_rate = match found {
        0 => usize::MAX,
        n => need.saturating_mul(searched) / n * 6 / 5,
    };
    at_rate.max(need).min(last.saturating_mul(2))
}

impl Store {
    /// One page of a filtered listing (`query.search`, `query.retries`):
    /// pages of the listing read in turn until `size` jobs match, the
    /// listing ends, or [`MAX_SEARCHED`] jobs were read. The first reads
    /// `size` jobs; each next one as many as the rest would take at the
    /// rate matched so far, up to twice the last (so a rare text costs a
    /// few queries per shard, not one per `size` jobs read). A page ends at
    /// the job that filled it, and its cursor goes on from there, so none
    /// is lost or listed twice.
    pub(super) async fn search_page(
        &self,
        query: &ListQuery,
        size: usize,
        cursor: Option<&Cursor>,
        now: DateTime<Utc>,
    ) -> Result<Page> {
        let needle = match query.search.as_deref().map(str::trim) {
            Some(text) if text.is_empty() || text.chars().count() > MAX_SEARCH_LEN => {
                return Err(Error::invalid(
                    "search",
                    format!("give 1 to {MAX_SEARCH_LEN} characters of text to look for"),
                ));
            }
            text => text.map(str::to_lowercase),
        };
        let matches = |j: &JobRecord| {
            needle.as_deref().is_none_or(|n| job_matches(j, n)) && (!query.retries || is_retry(j))
        };
        let size = size.clamp(1, 1000);
        let mut found = Vec::new();
        let mut cursor = cursor.cloned();
        let (mut read, mut searched, mut queries, mut keys_left_out) = (0, 0, 0, false);
        let mut searched_to = None;
        let mut want = size;
        loop {
            let keep = Keep {
                matches: &matches,
                most: size - found.len(),
            };
            let ask = want.min(MAX_SEARCHED - read).clamp(1, 1000);
            let (page, upto) = self
                .page_keeping(query, ask, cursor.as_ref(), now, Some(keep))
                .await?;
            read += page.read;
            searched += upto;
            queries += page.queries;
            keys_left_out |= page.keys_left_out;
            searched_to = page.searched_to.or(searched_to);
            found.extend(page.jobs);
            cursor = page.next;
            if cursor.is_none() || found.len() >= size || read >= MAX_SEARCHED {
                break;
            }
            want = next_read(size - found.len(), searched, found.len(), ask);
        }
        Ok(Page {
            jobs: found,
            next: cursor,
            queries,
            keys_left_out,
            read: searched,
            searched_to,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::next_read;

    #[test]
    fn a_search_reads_more_while_matches_are_sparse() {
        // None found yet: twice the last read.
        assert_eq!(next_read(50, 50, 0, 50), 100);
        // 1 in 10 matched: the rest at that rate, capped at twice the last.
        assert_eq!(next_read(45, 50, 5, 50), 100);
        assert_eq!(next_read(5, 100, 10, 100), 60);
        // Dense: no less than what is still needed.
        assert_eq!(next_read(10, 20, 20, 20), 12);
        assert_eq!(next_read(10, 10, 10, 10), 12);
        // Still needing more than twice a small last read (a filtered
        // query returned few entries, or the budget was nearly spent): the
        // growth is capped, not a panic.
        assert_eq!(next_read(992, 600, 8, 300), 600);
        assert_eq!(next_read(88, 40, 1, 30), 60);
    }
}

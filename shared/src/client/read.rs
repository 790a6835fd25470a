//! Reading jobs and what they add up to: by id, listings a page at a time,
//! counts per state, throughput, queue depths and keys.

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};
use crate::job::{JobId, JobRecord};
use crate::metrics::{KindTally, Throughput};
use crate::queue::QueueDepth;
use crate::state::State;
use crate::store::{Count, Cursor, ListQuery, Page, QueueControl};

use super::Client;

impl Client {
    /// Reads a job; None if it does not exist or has expired.
    pub async fn get(&self, id: &JobId) -> Result<Option<JobRecord>> {
        self.core.store.get(id, self.core.now()).await
    }

    /// Reads jobs by id (one `BatchGetItem` per 100), in the order given;
    /// missing and expired jobs are left out.
    pub async fn get_many(&self, ids: &[JobId]) -> Result<Vec<JobRecord>> {
        self.core.store.get_many(ids, self.core.now()).await
    }

    /// What a job's last successful run returned (see
    /// [`crate::Registry::job_with_result`]), as `T`: one `GetItem`.
    /// `None` while it has not succeeded or when its handler returned
    /// nothing; [`Error::NotFound`] for a job that does not exist (or is
    /// past its retention).
    pub async fn result<T: serde::de::DeserializeOwned>(&self, id: &JobId) -> Result<Option<T>> {
        let job = self
            .get(id)
            .await?
            .ok_or_else(|| Error::NotFound { id: id.clone() })?;
        crate::handler::decode_result(id, job.result)
    }

    /// Jobs in `state` (optionally of one queue), newest first (Processing:
    /// longest running first), up to `limit`: pages of
    /// [`Client::list_page`] until there are enough.
    pub async fn list(
        &self,
        state: State,
        queue: Option<&str>,
        limit: usize,
    ) -> Result<Vec<JobRecord>> {
        let query = ListQuery {
            queue: queue.map(str::to_owned),
            ..ListQuery::state(state)
        };
        let mut jobs = Vec::new();
        let mut cursor = None;
        while jobs.len() < limit {
            let page = self
                .list_page(&query, limit - jobs.len(), cursor.as_ref())
                .await?;
            jobs.extend(page.jobs);
            match page.next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        Ok(jobs)
    }

    /// The time on this client's clock (the one its writes carry).
    pub fn now(&self) -> DateTime<Utc> {
        self.core.now()
    }

    /// The workers that started runs since `since` (see
    /// [`crate::workers`]): read from the running jobs and the jobs that
    /// Succeeded or Failed since then, at most
    /// [`MAX_READ`](crate::workers::MAX_READ) of each, newest first.
    pub async fn workers(&self, since: DateTime<Utc>) -> Result<crate::workers::WorkersSeen> {
        use crate::workers::MAX_READ;
        let mut jobs = Vec::new();
        let mut complete = true;
        for state in [State::Processing, State::Succeeded, State::Failed] {
            let query = ListQuery {
                since: (state != State::Processing).then_some(since),
                ..ListQuery::state(state)
            };
            let (mut read, mut cursor) = (0, None);
            loop {
                let page = self.list_page(&query, 100, cursor.as_ref()).await?;
                read += page.jobs.len();
                jobs.extend(page.jobs);
                cursor = page.next;
                if cursor.is_none() {
                    break;
                }
                if read >= MAX_READ {
                    complete = false;
                    break;
                }
            }
        }
        Ok(crate::workers::WorkersSeen {
            since,
            workers: crate::workers::tally(&jobs, since),
            read: jobs.len(),
            complete,
        })
    }

    /// One page of a listing, newest first (Processing: longest running
    /// first): a bounded number of queries
    /// (one per index shard of each bucket that holds the state) and one
    /// batch read. Pass the page's `next` back for the following page.
    pub async fn list_page(
        &self,
        query: &ListQuery,
        size: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        self.core
            .store
            .list_page(query, size, cursor, self.core.now())
            .await
    }

    /// How many jobs are in each state, every state listed. The cost does
    /// not grow with the table: large states are estimates (marked so).
    pub async fn counts(&self) -> Result<Vec<(State, Count)>> {
        self.counts_with(None).await
    }

    /// [`Client::counts`] with the queue depths already read, if they were
    /// (a large Active bucket is split by them; read here when needed and
    /// not given).
    pub(crate) async fn counts_with(
        &self,
        depths: Option<&[QueueDepth]>,
    ) -> Result<Vec<(State, Count)>> {
        let buckets = self.core.store.bucket_counts(self.core.now()).await?;
        let mut in_sqs = (0, 0);
        if buckets.active_split.is_none() {
            let read;
            let depths = match depths {
                Some(d) => d,
                None => {
                    read = self.core.queues.depths().await?;
                    &read
                }
            };
            for q in depths.iter().filter(|q| !q.name.ends_with("-dlq")) {
                in_sqs.0 += q.in_flight;
                in_sqs.1 += q.delayed;
            }
        }
        Ok(buckets.per_state(in_sqs))
    }

    /// Jobs that Succeeded and Failed per minute over the last hour and per
    /// hour over the last 24 hours, oldest first, from the timer's
    /// roll-ups (one `BatchGetItem` of four items, whatever the number of
    /// jobs; jobs finished in the last half minute or so are not in yet).
    pub async fn throughput(&self) -> Result<Throughput> {
        use chrono::{DurationRound, TimeDelta, Timelike};
        let now = self.core.now();
        let this_hour = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now);
        let today = now.duration_trunc(TimeDelta::days(1)).unwrap_or(now);
        let hours = [this_hour - TimeDelta::hours(1), this_hour];
        let days = [today - TimeDelta::days(1), today];
        let (h, d) = self.core.store.rollups(&hours, &days).await?;
        let this_minute = now.duration_trunc(TimeDelta::minutes(1)).unwrap_or(now);
        let minutes = (0..60)
            .rev()
            .map(|i| {
                let t = this_minute - TimeDelta::minutes(i);
                let roll = if t >= this_hour { &h[1] } else { &h[0] };
                (
                    t,
                    roll.minutes
                        .get(&t.minute().to_string())
                        .copied()
                        .unwrap_or_default(),
                )
            })
            .collect();
        let this_hour_start = this_hour;
        let hours = (0..24)
            .rev()
            .map(|i| {
                let t = this_hour_start - TimeDelta::hours(i);
                let roll = if t >= today { &d[1] } else { &d[0] };
                (
                    t,
                    roll.hours
                        .get(&t.hour().to_string())
                        .copied()
                        .unwrap_or_default(),
                )
            })
            .collect();
        Ok(Throughput { minutes, hours })
    }

    /// Per kind over the last 24 hours: jobs finished, runs, failed runs,
    /// and the median and 95th percentile duration of their last runs (from
    /// the timer's hourly roll-ups: one `BatchGetItem` of 25 items).
    pub async fn kind_metrics(&self) -> Result<Vec<(String, KindTally)>> {
        use chrono::{DurationRound, TimeDelta};
        let now = self.core.now();
        let this_hour = now.duration_trunc(TimeDelta::hours(1)).unwrap_or(now);
        let hours: Vec<_> = (0..25).map(|i| this_hour - TimeDelta::hours(i)).collect();
        let (rolls, _) = self.core.store.rollups(&hours, &[]).await?;
        let mut kinds: std::collections::BTreeMap<String, KindTally> = Default::default();
        for roll in rolls {
            for (kind, t) in roll.kinds {
                kinds.entry(kind).or_default().merge(&t);
            }
        }
        Ok(kinds.into_iter().collect())
    }

    /// Whether each of these queues is paused (a queue never paused is not).
    pub async fn queue_controls(&self, queues: &[String]) -> Result<Vec<QueueControl>> {
        self.core.store.queue_controls(queues).await
    }

    /// Messages in each SQS queue of the stack, dead-letter queues included.
    pub async fn queue_depths(&self) -> Result<Vec<QueueDepth>> {
        self.core.queues.depths().await
    }

    /// A concurrency key as it is now: the runs holding a slot (live, and
    /// those whose lease passed), the jobs waiting and the limit.
    pub async fn concurrency_key(&self, key: &str) -> Result<crate::limits::SlotState> {
        self.core.store.slot_state(key, self.core.now()).await
    }

    /// The jobs waiting for a slot of a concurrency or ordering key, oldest
    /// (ordered: lowest number) first, at most `size` a page: one query and
    /// one `BatchGetItem`.
    pub async fn waiting_jobs(
        &self,
        key: &str,
        size: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        self.core
            .store
            .waiting_page(key, size, cursor, self.core.now())
            .await
    }

    /// The jobs tagged `tag` ([`crate::NewJob::tag`]), in `state` if
    /// given, newest first by creation: one query and one `BatchGetItem`
    /// a page. A page reads `size` tag pointers, so it can list fewer
    /// jobs (those gone, or in another state, are left out); `next` goes
    /// on.
    pub async fn tagged(
        &self,
        tag: &str,
        state: Option<State>,
        size: usize,
        cursor: Option<&Cursor>,
    ) -> Result<Page> {
        self.core
            .store
            .tagged_page(tag, state, size, cursor, self.core.now())
            .await
    }
}

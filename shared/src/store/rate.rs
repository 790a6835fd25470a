//! Rate limits: at most `n` starts per period per key, across all workers.
//!
//! One item per key, `pk = "rate#<key>"`, holds the newest window that has
//! reservations (`win`, the window's index: epoch ms / period ms) and how
//! many it has (`count`). A start reserves a slot with one conditional
//! `UpdateItem`: in the current window if it has room, else in the newest
//! window if that has room, else in the window after it. Reservations are
//! granted in the order they are asked for, and no window gets more than
//! `n`, whoever asks. A job whose slot is in a later window waits for it
//! (its message is delayed to the window's start) and then starts without
//! asking again.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Utc};

use super::item::{get_n, n, s};
use super::schema::attr;
use super::{Store, condition_outcome, is_write_conflict, send_through_conflicts};
use crate::clock::{from_millis, to_millis};
use crate::error::{Error, Result};

/// How many times a reservation is tried before giving up for now (each
/// try loses only to another reservation made meanwhile).
const ROUNDS: usize = 8;

pub(crate) fn rate_key(key: &str) -> String {
    format!("rate#{key}")
}

impl Store {
    /// Reserves one start under the rate limit `key` (`n` per `period`):
    /// returns the start of the window the slot is in (now's window, or a
    /// later one to wait for). `for_job` names the job in an error.
    pub async fn reserve_rate_slot(
        &self,
        for_job: &crate::job::JobId,
        key: &str,
        limit: u32,
        period: std::time::Duration,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>> {
        let period_ms = (period.as_millis() as i64).max(1);
        let current = to_millis(now).div_euclid(period_ms);
        // What the item held, as far as we know (None: not read yet).
        let mut seen: Option<(i64, u32)> = None;
        for _ in 0..ROUNDS {
            // The window to ask for, and the condition that makes it right.
            let (win, update, condition, values): (i64, &str, &str, Vec<(&str, AttributeValue)>) =
                match seen {
                    // First try: a slot in the current window.
                    None => (
                        current,
                        "SET #c = #c + :one",
                        "#w = :w AND #c < :n",
                        vec![(":w", n(current)), (":one", n(1)), (":n", n(limit))],
                    ),
                    // The newest window is behind: open the current one.
                    Some((w, _)) if w < current => (
                        current,
                        "SET #w = :w, #c = :one",
                        "attribute_not_exists(#w) OR #w = :old",
                        vec![(":w", n(current)), (":one", n(1)), (":old", n(w))],
                    ),
                    // The newest window has room.
                    Some((w, c)) if c < limit => (
                        w,
                        "SET #c = #c + :one",
                        "#w = :w AND #c < :n",
                        vec![(":w", n(w)), (":one", n(1)), (":n", n(limit))],
                    ),
                    // The newest window is full: open the next.
                    Some((w, _)) => (
                        w + 1,
                        "SET #w = :w, #c = :one",
                        "#w = :old",
                        vec![(":w", n(w + 1)), (":one", n(1)), (":old", n(w))],
                    ),
                };
            let mut request = self
                .ddb
                .update_item()
                .table_name(&self.table)
                .key(attr::PK, s(rate_key(key)))
                .update_expression(update)
                .condition_expression(condition)
                .expression_attribute_names("#w", attr::RATE_WINDOW)
                .expression_attribute_names("#c", attr::RATE_COUNT)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            for (k, v) in values {
                request = request.expression_attribute_values(k, v);
            }
            let res = send_through_conflicts(|| request.clone().send(), is_write_conflict).await;
            match condition_outcome(res)? {
                Ok(_) => return Ok(from_millis(win * period_ms)),
                Err(old) => {
                    seen = Some(match old {
                        Some(item) => (
                            get_n(&item, attr::RATE_WINDOW).unwrap_or(i64::MIN),
                            get_n(&item, attr::RATE_COUNT).unwrap_or(0),
                        ),
                        None => (i64::MIN, 0),
                    });
                }
            }
        }
        Err(Error::Conflict {
            id: for_job.clone(),
        })
    }
}

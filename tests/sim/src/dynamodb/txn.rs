//! TransactWriteItems: up to 100 actions (Put, Update, Delete,
//! ConditionCheck), all or nothing.
//!
//! "TransactWriteItems" (API_TransactWriteItems.html): no two actions on
//! one item; a cancelled transaction answers
//! `TransactionCanceledException` with one `CancellationReasons` entry per
//! action, in order (`None` for an action that was fine,
//! `ConditionalCheckFailed` with the item when asked, `TransactionConflict`,
//! `ThrottlingError`); `ClientRequestToken` makes the call idempotent for
//! 10 minutes (the SDK fills it in), a reuse with other parameters answers
//! `IdempotentParameterMismatchException`.
//! Units: "Amazon DynamoDB Transactions: How it works", section "Capacity
//! management for transactions": two writes per item, of its size; the
//! model charges index writes once, as for any write. A cancelled
//! transaction is charged like its failed conditions: the size of each
//! item checked (at least 1 unit each) — an approximation.

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::json::Json;

use super::DynamoDb;
use super::capacity::{Demand, write_units};
use super::request::{v, write_demands};
use super::table::sample;
use super::value::{item_size, item_to_json};
use super::write::{Outcome, Plan};
use crate::api::{Answer, ApiError};

const MAX_ACTIONS: usize = 100;

impl DynamoDb {
    pub(super) fn transact_write(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Answer {
        let actions = body
            .get("TransactItems")
            .and_then(Json::as_array)
            .ok_or_else(|| v("1 validation error detected: Value null at 'transactItems' failed to satisfy constraint: Member must not be null".into()))?;
        if actions.is_empty() || actions.len() > MAX_ACTIONS {
            return Err(v(format!(
                "1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to {MAX_ACTIONS}"
            )));
        }
        // Idempotency: the same token and request within 10 minutes is
        // answered as the first was, without writing again.
        let token = body
            .get("ClientRequestToken")
            .and_then(Json::as_str)
            .map(str::to_owned);
        let mut fingerprint = body.clone();
        if let Some(o) = fingerprint.as_object_mut() {
            o.remove("ClientRequestToken");
        }
        if let Some(t) = &token
            && let Some((seen, _)) = self.tokens.get(t)
        {
            if *seen == fingerprint {
                return Ok(json!({}));
            }
            return Err(ApiError::client(
                "IdempotentParameterMismatchException",
                "The request uses the same client token as a previous, but non-identical request.",
            ));
        }
        let mut plans: Vec<Plan> = Vec::with_capacity(actions.len());
        for a in actions {
            let obj = a.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
                v("TransactItems can only contain one of Check, Put, Update or Delete".into())
            })?;
            let (op, inner) = obj.iter().next().expect("one entry");
            let op = match op.as_str() {
                "Put" | "Update" | "Delete" | "ConditionCheck" => op.as_str(),
                other => return Err(v(format!("Unknown transaction action {other}"))),
            };
            plans.push(self.plan(op, inner)?);
        }
        let mut seen = BTreeSet::new();
        for p in &plans {
            if !seen.insert((p.table.clone(), p.pk.clone())) {
                return Err(v(
                    "Transaction request cannot include multiple operations on one item".into(),
                ));
            }
        }
        // Every action evaluated before any is applied.
        let mut reasons = Vec::with_capacity(plans.len());
        let mut outcomes = Vec::with_capacity(plans.len());
        let mut demands: Vec<Demand> = Vec::new();
        let mut cancelled = false;
        for p in &plans {
            let table = self.table(&p.table)?;
            let old = table.get(&p.pk).cloned();
            if self.is_busy(&p.table, &p.pk, now_ms) {
                reasons.push(json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}));
                cancelled = true;
                outcomes.push(None);
                continue;
            }
            match self.outcome(p)? {
                Outcome::Failed => {
                    let mut r = json!({"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"});
                    if let (true, Some(o)) = (p.old_on_failure, &old) {
                        r["Item"] = item_to_json(o);
                    }
                    reasons.push(r);
                    cancelled = true;
                    outcomes.push(None);
                }
                Outcome::Write(new) => {
                    reasons.push(json!({"Code": "None"}));
                    if matches!(p.kind, super::write::Kind::Check) {
                        demands.push(Demand {
                            table: p.table.clone(),
                            index: None,
                            partition: p.pk.0.label(),
                            read: 0.0,
                            write: 2.0 * write_units(old.as_ref().map_or(0, item_size)),
                        });
                    } else {
                        demands.extend(write_demands(
                            table,
                            &p.pk,
                            old.as_ref(),
                            new.as_ref(),
                            2.0,
                        ));
                    }
                    outcomes.push(Some(new));
                }
            }
        }
        if cancelled {
            let charged: Vec<Demand> = plans
                .iter()
                .map(|p| Demand {
                    table: p.table.clone(),
                    index: None,
                    partition: p.pk.0.label(),
                    read: 0.0,
                    write: write_units(self.tables[&p.table].get(&p.pk).map_or(0, item_size)),
                })
                .collect();
            self.bill(&charged);
            let codes: Vec<&str> = reasons
                .iter()
                .map(|r| r["Code"].as_str().unwrap_or("None"))
                .collect();
            return Err(ApiError::client(
                "TransactionCanceledException",
                format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
            )
            .with("CancellationReasons", Value::Array(reasons)));
        }
        if let Err(e) = self.admit(now_ms, &demands) {
            // A throttled transaction is cancelled with `ThrottlingError`
            // on the actions ("TransactWriteItems", Errors).
            let reasons: Vec<Value> = plans
                .iter()
                .map(|_| json!({"Code": "ThrottlingError", "Message": e.message}))
                .collect();
            return Err(ApiError::client(
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError]",
            )
            .with("CancellationReasons", Value::Array(reasons)));
        }
        self.bill(&demands);
        let lags = self.lags();
        for (p, out) in plans.iter().zip(outcomes) {
            let hold = sample(self.options.transaction_ms, rng);
            if hold > 0 {
                self.hold(&p.table, &p.pk, now_ms + hold);
            }
            if matches!(p.kind, super::write::Kind::Check) {
                continue;
            }
            let new = out.expect("not cancelled");
            let t = self.tables.get_mut(&p.table).expect("planned on it");
            t.commit(p.pk.clone(), new, now_ms, &lags, rng);
        }
        if let Some(t) = token {
            self.keep_token(t, fingerprint, now_ms);
        }
        Ok(json!({}))
    }
}

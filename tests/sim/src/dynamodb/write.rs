//! PutItem, UpdateItem, DeleteItem, and the plan of one item's write that
//! transactions share.
//!
//! "Condition expressions" (Expressions.ConditionExpressions.html): a
//! failed condition answers `ConditionalCheckFailedException` ("The
//! conditional request failed"), with the item as it was when
//! `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`; "If a
//! ConditionExpression evaluates to false during a conditional write,
//! DynamoDB still consumes write capacity from the table ... dependent on
//! the size of the existing item (or a minimum of 1)".

use crate::json::Json;
use rand::rngs::StdRng;

use super::DynamoDb;
use super::capacity::{Demand, write_units};
use super::eval::{apply, check, project, touched};
use super::expr::{Cond, Path, Step, Update, parse_condition, parse_update};
use super::request::{
    self, check_size, item_key, opt_str, placeholders, str_field, v, write_demands,
};
use super::table::Pk;
use super::value::{Item, item_from_json, item_size, item_to_json, with_item};
use crate::api::{ApiError, Reply};

#[derive(Debug, Clone)]
pub enum Kind {
    Put(Item),
    Update(Update),
    Delete,
    Check,
}

/// One item's write, parsed and validated against its table.
#[derive(Debug, Clone)]
pub struct Plan {
    pub table: String,
    pub pk: Pk,
    pub kind: Kind,
    pub cond: Option<Cond>,
    /// `ReturnValuesOnConditionCheckFailure` is `ALL_OLD`.
    pub old_on_failure: bool,
}

/// A plan's outcome on the item as it is.
pub enum Outcome {
    /// The condition held: the item's new version (None: deleted).
    Write(Option<Item>),
    Failed,
}

impl DynamoDb {
    /// Parses one write (`op` is `Put`, `Update`, `Delete` or
    /// `ConditionCheck`) and checks it against its table.
    pub(super) fn plan(&self, op: &str, body: &Json) -> Result<Plan, ApiError> {
        let table = self.table(str_field(body, "TableName")?)?;
        let mut ph = placeholders(body)?;
        let cond = match opt_str(body, "ConditionExpression") {
            Some(c) => Some(parse_condition("ConditionExpression", c, &mut ph).map_err(v)?),
            None => None,
        };
        let (pk, kind) = match op {
            "Put" => {
                let item = item_from_json(body.get("Item").unwrap_or(&Json::Null)).map_err(v)?;
                check_size(&item, false)?;
                (item_key(table, &item)?, Kind::Put(item))
            }
            "Update" => {
                let pk = request::key(table, body.get("Key"))?;
                let u = match opt_str(body, "UpdateExpression") {
                    Some(u) => parse_update(u, &mut ph).map_err(v)?,
                    None => Update::default(),
                };
                for p in touched(&u) {
                    if let Some(Step::Key(k)) = p.first()
                        && table.key.names().contains(&k.as_str())
                    {
                        return Err(v(format!(
                            "One or more parameter values were invalid: Cannot update attribute {k}. This attribute is part of the key"
                        )));
                    }
                }
                (pk, Kind::Update(u))
            }
            "Delete" => (request::key(table, body.get("Key"))?, Kind::Delete),
            _ => {
                if cond.is_none() {
                    return Err(v(
                        "The ConditionExpression is required for a ConditionCheck".into(),
                    ));
                }
                (request::key(table, body.get("Key"))?, Kind::Check)
            }
        };
        if (body.get("ExpressionAttributeNames").is_some()
            || body.get("ExpressionAttributeValues").is_some())
            && cond.is_none()
            && !matches!(&kind, Kind::Update(_))
        {
            return Err(v(
                "ExpressionAttributeNames can only be specified when using expressions".into(),
            ));
        }
        ph.check_unused().map_err(v)?;
        let old_on_failure = match opt_str(body, "ReturnValuesOnConditionCheckFailure") {
            None | Some("NONE") => false,
            Some("ALL_OLD") => true,
            Some(other) => {
                return Err(v(format!(
                    "ReturnValuesOnConditionCheckFailure set to invalid value: {other}"
                )));
            }
        };
        Ok(Plan {
            table: table.name.clone(),
            pk,
            kind,
            cond,
            old_on_failure,
        })
    }

    /// Evaluates a plan on the item as it is now.
    pub(super) fn outcome(&self, plan: &Plan) -> Result<Outcome, ApiError> {
        let table = self.table(&plan.table)?;
        let old = table.get(&plan.pk);
        let empty = Item::new();
        if let Some(c) = &plan.cond
            && !check(old.unwrap_or(&empty), c).map_err(v)?
        {
            return Ok(Outcome::Failed);
        }
        Ok(Outcome::Write(match &plan.kind {
            Kind::Put(item) => Some(item.clone()),
            Kind::Delete => None,
            Kind::Check => old.cloned(),
            Kind::Update(u) => {
                let absent;
                let base = match old {
                    Some(item) => item,
                    None => {
                        absent = table.key.item_of(&plan.pk);
                        &absent
                    }
                };
                let new = apply(base, u).map_err(|e| {
                    v(if e.starts_with("Invalid") {
                        e
                    } else {
                        format!("Invalid UpdateExpression: {e}")
                    })
                })?;
                check_size(&new, true)?;
                item_key(table, &new)?;
                Some(new)
            }
        }))
    }

    /// The condition failure error of a plan.
    pub(super) fn failure(&self, plan: &Plan) -> ApiError {
        let err = ApiError::client(
            "ConditionalCheckFailedException",
            "The conditional request failed",
        );
        match self.tables.get(&plan.table).and_then(|t| t.get(&plan.pk)) {
            Some(old) if plan.old_on_failure => err.with("Item", item_to_json(old)),
            _ => err,
        }
    }

    /// A single-item write: PutItem, UpdateItem, DeleteItem. `answer`
    /// writes the answer's text from the plan and the item's old and new
    /// versions, once the write is admitted and before it is committed
    /// (copies of whole items would be most of a write's cost).
    fn single(
        &mut self,
        op: &str,
        body: &Json,
        now_ms: i64,
        rng: &mut StdRng,
        answer: impl FnOnce(&Plan, Option<&Item>, Option<&Item>) -> String,
    ) -> Reply {
        let plan = self.plan(op, body)?;
        if self.is_busy(&plan.table, &plan.pk, now_ms) {
            return Err(ApiError::client(
                "TransactionConflictException",
                "Transaction is ongoing for the item",
            ));
        }
        let table = self.table(&plan.table)?;
        let old = table.get(&plan.pk);
        match self.outcome(&plan)? {
            Outcome::Failed => {
                let units = write_units(old.map_or(0, item_size));
                let demand = Demand {
                    table: plan.table.clone(),
                    index: None,
                    partition: plan.pk.0.label(),
                    read: 0.0,
                    write: units,
                };
                self.admit(now_ms, &[demand])?;
                self.billing.charge(&plan.table, None, 0.0, units);
                Err(self.failure(&plan))
            }
            Outcome::Write(new) => {
                let demands = write_demands(table, &plan.pk, old, new.as_ref(), 1.0);
                // A throttled index partition throttles the table's write
                // ("Using Global Secondary Indexes", "Provisioned throughput
                // considerations": a GSI short of write capacity throttles
                // writes on the base table; the reason names the index,
                // `IndexWriteKeyRangeThroughputExceeded`).
                self.admit(now_ms, &demands)?;
                self.bill(&demands);
                let lags = self.lags();
                let t = self.tables.get_mut(&plan.table).expect("planned on it");
                let text = answer(&plan, t.get(&plan.pk), new.as_ref());
                t.commit(plan.pk.clone(), new, now_ms, &lags, rng);
                Ok(text)
            }
        }
    }

    pub(super) fn bill(&mut self, demands: &[Demand]) {
        for d in demands {
            self.billing
                .charge(&d.table, d.index.as_deref(), d.read, d.write);
        }
    }

    pub(super) fn put_item(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Reply {
        let rv = return_values(body, &["NONE", "ALL_OLD"])?;
        self.single("Put", body, now_ms, rng, |_, old, _| {
            attributes(rv == "ALL_OLD", old)
        })
    }

    pub(super) fn delete_item(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Reply {
        let rv = return_values(body, &["NONE", "ALL_OLD"])?;
        self.single("Delete", body, now_ms, rng, |_, old, _| {
            attributes(rv == "ALL_OLD", old)
        })
    }

    pub(super) fn update_item(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Reply {
        let rv = return_values(
            body,
            &["NONE", "ALL_OLD", "UPDATED_OLD", "ALL_NEW", "UPDATED_NEW"],
        )?;
        self.single("Update", body, now_ms, rng, |plan, old, new| {
            let updated = |item: &Item| {
                let paths: Vec<Path> = match &plan.kind {
                    Kind::Update(u) => touched(u),
                    _ => Vec::new(),
                };
                project(item, &paths)
            };
            match rv {
                "ALL_OLD" => attributes(true, old),
                "ALL_NEW" => attributes(true, new),
                "UPDATED_OLD" => attributes(true, old.map(updated).as_ref()),
                "UPDATED_NEW" => attributes(true, new.map(updated).as_ref()),
                _ => "{}".to_owned(),
            }
        })
    }
}

/// `ReturnValues`, one of those the operation allows.
fn return_values<'a>(body: &'a Json, allowed: &[&str]) -> Result<&'a str, ApiError> {
    let rv = opt_str(body, "ReturnValues").unwrap_or("NONE");
    if allowed.contains(&rv) {
        Ok(rv)
    } else {
        Err(v("Return values set to invalid value".into()))
    }
}

/// `{"Attributes": ..}` when asked for and not empty.
fn attributes(wanted: bool, item: Option<&Item>) -> String {
    match item {
        Some(i) if wanted && !i.is_empty() => with_item("Attributes", i),
        _ => "{}".to_owned(),
    }
}

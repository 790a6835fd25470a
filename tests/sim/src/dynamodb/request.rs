//! The parts many requests share, validated as DynamoDB validates them:
//! table names, keys, items, placeholders, projections, write costs.

use crate::json::Json;

use super::capacity::{Demand, write_units};
use super::expr::{Path, Placeholders, parse_projection};
use super::table::{Pk, Table};
use super::value::{Av, Item, item_from_json, item_size};
use crate::api::ApiError;

/// "Service, account, and table quotas in Amazon DynamoDB": "The maximum
/// item size in DynamoDB is 400 KB, which includes both attribute name
/// binary length (UTF-8 length) and attribute value lengths".
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

pub fn v(e: String) -> ApiError {
    ApiError::validation(e)
}

pub fn str_field<'a>(body: &'a Json, name: &str) -> Result<&'a str, ApiError> {
    body.get(name)
        .and_then(Json::as_str)
        .ok_or_else(|| v(format!("1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null", lower_first(name))))
}

pub fn opt_str<'a>(body: &'a Json, name: &str) -> Option<&'a str> {
    body.get(name).and_then(Json::as_str)
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// `ExpressionAttributeNames` and `ExpressionAttributeValues`; either, if
/// given, must not be empty ("ExpressionAttributeValues must not be
/// empty").
pub fn placeholders(body: &Json) -> Result<Placeholders, ApiError> {
    // An object's members come in their keys' order, each key once.
    let mut names = Vec::new();
    if let Some(n) = body.get("ExpressionAttributeNames") {
        let obj = n
            .as_object()
            .ok_or_else(|| v("ExpressionAttributeNames must be a map".into()))?;
        if obj.is_empty() {
            return Err(v("ExpressionAttributeNames must not be empty".into()));
        }
        for (k, x) in obj {
            let x = x
                .as_str()
                .ok_or_else(|| v("ExpressionAttributeNames values must be strings".into()))?;
            if !k.starts_with('#') {
                return Err(v(format!(
                    "ExpressionAttributeNames contains invalid key: Syntax error; key: \"{k}\""
                )));
            }
            names.push((k.clone(), x.to_owned()));
        }
    }
    let mut values = Vec::new();
    if let Some(n) = body.get("ExpressionAttributeValues") {
        let obj = n
            .as_object()
            .ok_or_else(|| v("ExpressionAttributeValues must be a map".into()))?;
        if obj.is_empty() {
            return Err(v("ExpressionAttributeValues must not be empty".into()));
        }
        for (k, x) in obj {
            if !k.starts_with(':') {
                return Err(v(format!(
                    "ExpressionAttributeValues contains invalid key: Syntax error; key: \"{k}\""
                )));
            }
            let av = Av::from_json(x).map_err(|e| {
                v(format!(
                    "ExpressionAttributeValues contains invalid value: {e} for key {k}"
                ))
            })?;
            values.push((k.clone(), av));
        }
    }
    Ok(Placeholders::sorted(names, values))
}

/// A request's `ProjectionExpression`, parsed.
pub fn projection(body: &Json, ph: &mut Placeholders) -> Result<Option<Vec<Path>>, ApiError> {
    match opt_str(body, "ProjectionExpression") {
        Some(p) => Ok(Some(parse_projection(p, ph).map_err(v)?)),
        None => Ok(None),
    }
}

/// A `Key`: exactly the table's key attributes, of their types ("The
/// provided key element does not match the schema").
pub fn key(table: &Table, key: Option<&Json>) -> Result<Pk, ApiError> {
    let mismatch = || v("The provided key element does not match the schema".into());
    let key = key.ok_or_else(mismatch)?;
    let item = item_from_json(key).map_err(v)?;
    if item.len() != table.key.names().len() {
        return Err(mismatch());
    }
    match table.key.key_of(&item) {
        Ok(Some(pk)) => {
            check_key_not_empty(&pk, table)?;
            Ok(pk)
        }
        _ => Err(mismatch()),
    }
}

fn check_key_not_empty(pk: &Pk, table: &Table) -> Result<(), ApiError> {
    let empty = |p: &super::table::KeyPart| {
        matches!(p, super::table::KeyPart::S(s) if s.is_empty())
            || matches!(p, super::table::KeyPart::B(b) if b.is_empty())
    };
    if empty(&pk.0) || pk.1.as_ref().is_some_and(empty) {
        return Err(v(format!(
            "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: {}",
            table.key.hash.0
        )));
    }
    Ok(())
}

/// An item to write: its key (present, of the right type, not empty), its
/// index keys (of the right type if present), and its size.
pub fn item_key(table: &Table, item: &Item) -> Result<Pk, ApiError> {
    let pk = match table.key.key_of(item) {
        Ok(Some(pk)) => pk,
        Ok(None) => {
            let missing = table
                .key
                .names()
                .into_iter()
                .find(|n| !item.contains_key(n))
                .unwrap_or_default();
            return Err(v(format!(
                "One or more parameter values were invalid: Missing the key {missing} in the item"
            )));
        }
        Err((name, actual)) => {
            let expected = defined_type(table, &name);
            return Err(v(format!(
                "One or more parameter values were invalid: Type mismatch for key {name} expected: {expected} actual: {actual}"
            )));
        }
    };
    check_key_not_empty(&pk, table)?;
    for g in &table.gsis {
        if let Err((name, actual)) = g.key.key_of(item) {
            let expected = defined_type(table, &name);
            return Err(v(format!(
                "One or more parameter values were invalid: Type mismatch for Index Key {name} Expected: {expected} Actual: {actual} IndexName: {}",
                g.name
            )));
        }
        for n in g.key.names() {
            if matches!(item.get(n), Some(Av::S(s)) if s.is_empty()) {
                return Err(v(format!(
                    "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty string value. IndexName: {}, IndexKey: {n}",
                    g.name
                )));
            }
        }
    }
    Ok(pk)
}

/// The type an attribute definition gives a key attribute.
fn defined_type<'a>(table: &'a Table, name: &str) -> &'a str {
    table
        .attr_defs
        .iter()
        .find(|(n, _)| n == name)
        .map_or("?", |(_, t)| t.as_str())
}

pub fn check_size(item: &Item, update: bool) -> Result<(), ApiError> {
    if item_size(item) > MAX_ITEM_BYTES {
        return Err(v(if update {
            "Item size to update has exceeded the maximum allowed size".into()
        } else {
            "Item size has exceeded the maximum allowed size".into()
        }));
    }
    Ok(())
}

/// What a write of one item from `old` to `new` costs: write units on the
/// table (the larger of the two versions, "Write request units": "the
/// size of the larger of the old and new item") and on each index whose
/// entry changes: a put or a delete of the entry, or both when its index
/// key changes ("Provisioned throughput considerations for Global
/// Secondary Indexes": "two writes are required: one to delete the
/// previous item from the index and another to put the new item").
/// `factor` is 2 for a transactional write (table units only).
pub fn write_demands(
    table: &Table,
    pk: &Pk,
    old: Option<&Item>,
    new: Option<&Item>,
    factor: f64,
) -> Vec<Demand> {
    let size = old.map_or(0, item_size).max(new.map_or(0, item_size));
    let mut out = vec![Demand {
        table: table.name.clone(),
        index: None,
        partition: pk.0.label(),
        read: 0.0,
        write: write_units(size) * factor,
    }];
    for g in &table.gsis {
        // Entries as (key, item), measured and compared without building
        // them.
        let before = old.and_then(|i| Some((g.entry_key(pk, i)?, i)));
        let after = new.and_then(|i| Some((g.entry_key(pk, i)?, i)));
        let size = |item: &Item| g.projected_size(&table.key, item);
        let mut push = |key: &super::table::GsiKey, bytes: usize| {
            out.push(Demand {
                table: table.name.clone(),
                index: Some(g.name.clone()),
                partition: key.0.label(),
                read: 0.0,
                write: write_units(bytes),
            })
        };
        match (&before, &after) {
            (Some(a), Some(b)) if a.0 == b.0 => {
                if !g.same_projection(&table.key, a.1, b.1) {
                    push(&b.0, size(a.1).max(size(b.1)));
                }
            }
            _ => {
                if let Some(a) = &before {
                    push(&a.0, size(a.1));
                }
                if let Some(b) = &after {
                    push(&b.0, size(b.1));
                }
            }
        }
    }
    out
}

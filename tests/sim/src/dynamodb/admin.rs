//! CreateTable, DescribeTable, DeleteTable, ListTables, UpdateTimeToLive,
//! DescribeTimeToLive.
//!
//! "CreateTable" (API_CreateTable.html): the attribute definitions are
//! exactly the key attributes of the table and its indexes; an existing
//! name answers `ResourceInUseException`. The model's tables are ACTIVE at
//! once (AWS's are CREATING for a while; Hangar waits for ACTIVE).
//! "UpdateTimeToLive" (API_UpdateTimeToLive.html): enabling TTL that is
//! already enabled answers a `ValidationException` ("TimeToLive is already
//! enabled").

use std::collections::BTreeSet;

use rand::rngs::StdRng;
use serde_json::{Value, json};

use crate::json::Json;

use super::request::{str_field, v};
use super::table::{Gsi, KeyDef, Projection, Table};
use super::{DynamoDb, not_found};
use crate::api::{Answer, ApiError};

fn key_schema(list: Option<&Json>) -> Result<(String, Option<String>), ApiError> {
    let list = list
        .and_then(Json::as_array)
        .ok_or_else(|| v("KeySchema must be given".into()))?;
    let mut hash = None;
    let mut range = None;
    for k in list {
        let name = str_field(k, "AttributeName")?.to_owned();
        match str_field(k, "KeyType")? {
            "HASH" if hash.is_none() => hash = Some(name),
            "RANGE" if range.is_none() && hash.is_some() => range = Some(name),
            _ => {
                return Err(v(
                    "Invalid KeySchema: The first KeySchemaElement is not a HASH key type".into(),
                ));
            }
        }
    }
    Ok((
        hash.ok_or_else(|| v("Invalid KeySchema: no HASH key".into()))?,
        range,
    ))
}

fn schema_json(k: &KeyDef) -> Value {
    let mut out = vec![json!({"AttributeName": k.hash.0, "KeyType": "HASH"})];
    if let Some((r, _)) = &k.range {
        out.push(json!({"AttributeName": r, "KeyType": "RANGE"}));
    }
    Value::Array(out)
}

impl DynamoDb {
    pub(super) fn create_table(&mut self, body: &Json, now_ms: i64) -> Answer {
        let name = str_field(body, "TableName")?.to_owned();
        if self.tables.contains_key(&name) {
            return Err(ApiError::client(
                "ResourceInUseException",
                format!("Table already exists: {name}"),
            ));
        }
        let defs: Vec<(String, String)> = body
            .get("AttributeDefinitions")
            .and_then(Json::as_array)
            .ok_or_else(|| v("AttributeDefinitions must be given".into()))?
            .iter()
            .map(|d| {
                Ok((
                    str_field(d, "AttributeName")?.to_owned(),
                    str_field(d, "AttributeType")?.to_owned(),
                ))
            })
            .collect::<Result<_, ApiError>>()?;
        let typed = |n: String| -> Result<(String, String), ApiError> {
            let t = defs.iter().find(|(d, _)| *d == n).map(|(_, t)| t.clone()).ok_or_else(|| {
                v(format!("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [{n}], AttributeDefinitions: [{}]", defs.iter().map(|d| d.0.as_str()).collect::<Vec<_>>().join(", ")))
            })?;
            if !["S", "N", "B"].contains(&t.as_str()) {
                return Err(v(format!(
                    "Member must satisfy enum value set: [B, N, S]; attribute {n}"
                )));
            }
            Ok((n, t))
        };
        let (h, r) = key_schema(body.get("KeySchema"))?;
        let key = KeyDef {
            hash: typed(h)?,
            range: r.map(&typed).transpose()?,
        };
        let mut used: BTreeSet<String> = key.names().into_iter().map(str::to_owned).collect();
        let mut gsis = Vec::new();
        for g in body
            .get("GlobalSecondaryIndexes")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let gname = str_field(g, "IndexName")?.to_owned();
            let (h, r) = key_schema(g.get("KeySchema"))?;
            let gkey = KeyDef {
                hash: typed(h)?,
                range: r.map(&typed).transpose()?,
            };
            used.extend(gkey.names().into_iter().map(str::to_owned));
            let p = g.get("Projection").unwrap_or(&Json::Null);
            let projection = match p
                .get("ProjectionType")
                .and_then(Json::as_str)
                .unwrap_or("INCLUDE")
            {
                "ALL" => Projection::All,
                "KEYS_ONLY" => Projection::KeysOnly,
                "INCLUDE" => Projection::Include(
                    p.get("NonKeyAttributes")
                        .and_then(Json::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|a| a.as_str().map(str::to_owned))
                        .collect(),
                ),
                other => return Err(v(format!("Unknown ProjectionType {other}"))),
            };
            if gsis.iter().any(|x: &Gsi| x.name == gname) {
                return Err(v(format!(
                    "One or more parameter values were invalid: Duplicate index name: {gname}"
                )));
            }
            gsis.push(Gsi::new(gname, gkey, projection));
        }
        if defs.iter().any(|(n, _)| !used.contains(n)) || defs.len() != used.len() {
            return Err(v("One or more parameter values were invalid: Some AttributeDefinitions are not used. AttributeDefinitions: [..], keys used: [..]".into()));
        }
        let table = Table::new(name.clone(), key, defs, gsis, now_ms);
        self.tables.insert(name.clone(), table);
        Ok(json!({ "TableDescription": self.describe(&name) }))
    }

    fn describe(&self, name: &str) -> Value {
        let t = &self.tables[name];
        let gsis: Vec<Value> = t
            .gsis
            .iter()
            .map(|g| {
                let projection = match &g.projection {
                    Projection::All => json!({"ProjectionType": "ALL"}),
                    Projection::KeysOnly => json!({"ProjectionType": "KEYS_ONLY"}),
                    Projection::Include(a) => json!({"ProjectionType": "INCLUDE", "NonKeyAttributes": a}),
                };
                json!({
                    "IndexName": g.name,
                    "KeySchema": schema_json(&g.key),
                    "Projection": projection,
                    "IndexStatus": "ACTIVE",
                    "IndexArn": format!("{}/index/{}", t.arn, g.name),
                    "ItemCount": g.entries.len(),
                    "IndexSizeBytes": g.entries.values().map(super::value::item_size).sum::<usize>(),
                    "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
                })
            })
            .collect();
        let mut out = json!({
            "TableName": t.name,
            "TableArn": t.arn,
            "TableId": format!("{:08x}-0000-4000-8000-000000000000", t.created_ms & 0xffff_ffff),
            "TableStatus": "ACTIVE",
            "CreationDateTime": t.created_ms as f64 / 1000.0,
            "KeySchema": schema_json(&t.key),
            "AttributeDefinitions": t.attr_defs.iter().map(|(n, ty)| json!({"AttributeName": n, "AttributeType": ty})).collect::<Vec<_>>(),
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST", "LastUpdateToPayPerRequestDateTime": t.created_ms as f64 / 1000.0},
            "ProvisionedThroughput": {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0},
            "ItemCount": t.item_count(),
            "TableSizeBytes": t.size_bytes(),
            "DeletionProtectionEnabled": false,
        });
        if !gsis.is_empty() {
            out["GlobalSecondaryIndexes"] = Value::Array(gsis);
        }
        out
    }

    pub(super) fn describe_table(&self, body: &Json) -> Answer {
        let name = str_field(body, "TableName")?;
        self.table(name)?;
        Ok(json!({ "Table": self.describe(name) }))
    }

    pub(super) fn delete_table(&mut self, body: &Json) -> Answer {
        let name = str_field(body, "TableName")?;
        self.table(name)?;
        let mut d = self.describe(name);
        d["TableStatus"] = json!("DELETING");
        self.tables.remove(name);
        Ok(json!({ "TableDescription": d }))
    }

    pub(super) fn list_tables(&self) -> Value {
        json!({ "TableNames": self.tables.keys().collect::<Vec<_>>() })
    }

    pub(super) fn update_ttl(&mut self, body: &Json, now_ms: i64, rng: &mut StdRng) -> Answer {
        let name = str_field(body, "TableName")?.to_owned();
        let spec = body
            .get("TimeToLiveSpecification")
            .ok_or_else(|| v("TimeToLiveSpecification must be given".into()))?;
        let attr = str_field(spec, "AttributeName")?.to_owned();
        let enabled = spec
            .get("Enabled")
            .and_then(Json::as_bool)
            .ok_or_else(|| v("Enabled must be given".into()))?;
        let lags = self.lags();
        let t = self.tables.get_mut(&name).ok_or_else(not_found)?;
        match (&t.ttl, enabled) {
            (Some(_), true) => return Err(v("TimeToLive is already enabled".into())),
            (None, false) => return Err(v("TimeToLive is already disabled".into())),
            (_, true) => {
                t.ttl = Some(attr.clone());
                t.schedule_all(now_ms, &lags, rng);
            }
            (_, false) => {
                t.ttl = None;
                t.ttl_queue.clear();
            }
        }
        Ok(json!({ "TimeToLiveSpecification": {"AttributeName": attr, "Enabled": enabled} }))
    }

    pub(super) fn describe_ttl(&self, body: &Json) -> Answer {
        let t = self.table(str_field(body, "TableName")?)?;
        Ok(json!({ "TimeToLiveDescription": match &t.ttl {
            Some(a) => json!({"TimeToLiveStatus": "ENABLED", "AttributeName": a}),
            None => json!({"TimeToLiveStatus": "DISABLED"}),
        }}))
    }
}

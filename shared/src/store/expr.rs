//! Update and condition expressions under construction. Every attribute
//! name is aliased (`state`, `ttl` and others are reserved words).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

#[derive(Debug)]
pub(crate) struct Expr {
    sets: Vec<String>,
    removes: Vec<String>,
    conds: Vec<String>,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// Room for a state change's names and values from the start (one holds
/// some twenty), rather than growing the maps three times over.
impl Default for Expr {
    fn default() -> Self {
        Expr {
            sets: Vec::with_capacity(16),
            removes: Vec::new(),
            conds: Vec::with_capacity(4),
            names: HashMap::with_capacity(24),
            values: HashMap::with_capacity(16),
        }
    }
}

/// `#name` or `:name` (a state change builds a few dozen of them).
fn prefixed(sigil: char, name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    out.push(sigil);
    out.push_str(name);
    out
}

impl Expr {
    /// The alias of an attribute name.
    pub fn n(&mut self, attr: &str) -> String {
        let alias = prefixed('#', attr);
        if !self.names.contains_key(&alias) {
            self.names.insert(alias.clone(), attr.to_owned());
        }
        alias
    }
    /// A value placeholder.
    pub fn v(&mut self, name: &str, value: AttributeValue) -> String {
        let key = prefixed(':', name);
        self.values.insert(key.clone(), value);
        key
    }
    /// `SET attr = value`.
    pub fn set(&mut self, attr: &str, value: AttributeValue) {
        let n = self.n(attr);
        let v = self.v(attr, value);
        self.sets.push(format!("{n} = {v}"));
    }
    /// A `SET` clause written out.
    pub fn set_raw(&mut self, clause: String) {
        self.sets.push(clause);
    }
    /// `REMOVE attr`.
    pub fn remove(&mut self, attr: &str) {
        let n = self.n(attr);
        self.removes.push(n);
    }
    pub fn set_or_remove(&mut self, attr: &str, value: Option<AttributeValue>) {
        match value {
            Some(v) => self.set(attr, v),
            None => self.remove(attr),
        }
    }
    /// `SET v = v + 1`.
    pub fn bump_version(&mut self) {
        let v = self.n(super::schema::attr::VERSION);
        let one = self.v("one", AttributeValue::N("1".into()));
        self.sets.push(format!("{v} = {v} + {one}"));
    }
    /// A condition, joined to the others with AND.
    pub fn cond(&mut self, c: String) {
        self.conds.push(c);
    }
    /// `attr = value` as a condition.
    pub fn cond_eq(&mut self, attr: &str, value: AttributeValue) {
        let n = self.n(attr);
        let v = self.v(&format!("expect_{attr}"), value);
        self.conds.push(format!("{n} = {v}"));
    }
    /// The item is at `version`, or, with None, does not exist yet: the
    /// condition of a put that replaces what it read.
    pub fn cond_version(&mut self, version: Option<u64>) {
        match version {
            None => {
                let pk = self.n(super::schema::attr::PK);
                self.conds.push(format!("attribute_not_exists({pk})"));
            }
            Some(v) => self.cond_eq(
                super::schema::attr::VERSION,
                AttributeValue::N(v.to_string()),
            ),
        }
    }
    /// The item exists and has not expired (a write never revives an item
    /// that TTL has not swept yet).
    pub fn cond_live(&mut self, now: chrono::DateTime<chrono::Utc>) {
        let pk = self.n(super::schema::attr::PK);
        let ttl = self.n(super::schema::attr::TTL);
        let now_s = self.v("now_s", AttributeValue::N(now.timestamp().to_string()));
        self.conds.push(format!(
            "attribute_exists({pk}) AND (attribute_not_exists({ttl}) OR {ttl} > {now_s})"
        ));
    }
    pub fn update_expression(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.sets.is_empty() {
            parts.push(format!("SET {}", self.sets.join(", ")));
        }
        if !self.removes.is_empty() {
            parts.push(format!("REMOVE {}", self.removes.join(", ")));
        }
        (!parts.is_empty()).then(|| parts.join(" "))
    }
    pub fn condition_expression(&self) -> Option<String> {
        (!self.conds.is_empty()).then(|| self.conds.join(" AND "))
    }
    pub fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }
    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
    /// The names, moved out (for a request built once).
    pub fn take_names(&mut self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| std::mem::take(&mut self.names))
    }
    /// The values, moved out (a state change's hold its history entries).
    pub fn take_values(&mut self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| std::mem::take(&mut self.values))
    }
}

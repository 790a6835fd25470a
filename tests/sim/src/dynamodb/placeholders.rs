//! The placeholders of one request, and which of them its expressions
//! used: DynamoDB refuses a request with a placeholder no expression uses
//! ("Expression attribute names" and "Using expression attribute values":
//! "Value provided in ExpressionAttributeValues unused in expressions").

use std::collections::{BTreeMap, BTreeSet};

use super::value::Av;

pub struct Placeholders {
    names: BTreeMap<String, String>,
    values: BTreeMap<String, Av>,
    used_names: BTreeSet<String>,
    used_values: BTreeSet<String>,
}

impl Placeholders {
    pub fn new(names: BTreeMap<String, String>, values: BTreeMap<String, Av>) -> Self {
        Placeholders {
            names,
            values,
            used_names: BTreeSet::new(),
            used_values: BTreeSet::new(),
        }
    }

    /// After every expression is parsed: the placeholders none used, an
    /// error as DynamoDB words it.
    pub fn check_unused(&self) -> Result<(), String> {
        let unused = |all: Vec<&String>, used: &BTreeSet<String>| -> Vec<String> {
            all.into_iter()
                .filter(|k| !used.contains(*k))
                .cloned()
                .collect()
        };
        let names = unused(self.names.keys().collect(), &self.used_names);
        if !names.is_empty() {
            return Err(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                names.join(", ")
            ));
        }
        let values = unused(self.values.keys().collect(), &self.used_values);
        if !values.is_empty() {
            return Err(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                values.join(", ")
            ));
        }
        Ok(())
    }

    /// The attribute name `#alias` stands for, now used.
    pub(super) fn name(&mut self, alias: &str) -> Result<String, String> {
        let real = self.names.get(alias).cloned().ok_or_else(|| {
            format!("An expression attribute name used in the document path is not defined; attribute name: {alias}")
        })?;
        self.used_names.insert(alias.to_owned());
        Ok(real)
    }

    /// The value `:alias` stands for, now used.
    pub(super) fn value(&mut self, alias: &str) -> Result<Av, String> {
        let v = self.values.get(alias).cloned().ok_or_else(|| {
            format!("An expression attribute value used in expression is not defined; attribute value: {alias}")
        })?;
        self.used_values.insert(alias.to_owned());
        Ok(v)
    }

    /// The value of `:alias`, if given (not marked used).
    pub(super) fn get_value(&self, alias: &str) -> Option<&Av> {
        self.values.get(alias)
    }

    /// The names, and the aliases of the values, in order: all that
    /// parsing an expression depends on (it never looks at a value).
    pub(super) fn shape(
        &self,
    ) -> (
        impl Iterator<Item = (&String, &String)>,
        impl Iterator<Item = &String>,
    ) {
        (self.names.iter(), self.values.keys())
    }

    /// The same names, every value `S` of its own alias: parsed with
    /// these, an expression's value slots name the placeholders that fill
    /// them.
    pub(super) fn markers(&self) -> Placeholders {
        Placeholders::new(
            self.names.clone(),
            self.values
                .keys()
                .map(|k| (k.clone(), Av::S(k.clone())))
                .collect(),
        )
    }

    /// What an expression parsed with these placeholders used.
    pub(super) fn used(self) -> (Vec<String>, Vec<String>) {
        (
            self.used_names.into_iter().collect(),
            self.used_values.into_iter().collect(),
        )
    }

    /// Marks placeholders used, as parsing the expression that used them
    /// would.
    pub(super) fn mark_used(&mut self, names: &[String], values: &[String]) {
        self.used_names.extend(names.iter().cloned());
        self.used_values.extend(values.iter().cloned());
    }
}

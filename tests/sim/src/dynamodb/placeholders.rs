//! The placeholders of one request, and which of them its expressions
//! used: DynamoDB refuses a request with a placeholder no expression uses
//! ("Expression attribute names" and "Using expression attribute values":
//! "Value provided in ExpressionAttributeValues unused in expressions").

use std::collections::BTreeMap;

use super::value::Av;

/// A request's names and values, each list sorted by alias, and a flag
/// per entry for whether an expression used it. A memoised expression
/// ([`super::memo`]) marks by position what parsing it marked: requests of
/// one shape have the same aliases in the same places.
pub struct Placeholders {
    names: Vec<(String, String)>,
    values: Vec<(String, Av)>,
    used_names: Vec<bool>,
    used_values: Vec<bool>,
}

/// Where `alias` is in a list sorted by alias.
fn find<T>(list: &[(String, T)], alias: &str) -> Option<usize> {
    list.binary_search_by(|(k, _)| k.as_str().cmp(alias)).ok()
}

impl Placeholders {
    pub fn new(names: BTreeMap<String, String>, values: BTreeMap<String, Av>) -> Self {
        Self::sorted(names.into_iter().collect(), values.into_iter().collect())
    }

    /// From lists already sorted by alias, each alias once.
    pub fn sorted(names: Vec<(String, String)>, values: Vec<(String, Av)>) -> Self {
        debug_assert!(names.windows(2).all(|w| w[0].0 < w[1].0));
        debug_assert!(values.windows(2).all(|w| w[0].0 < w[1].0));
        Placeholders {
            used_names: vec![false; names.len()],
            used_values: vec![false; values.len()],
            names,
            values,
        }
    }

    /// After every expression is parsed: the placeholders none used, an
    /// error as DynamoDB words it.
    pub fn check_unused(&self) -> Result<(), String> {
        fn unused<'a, T>(all: &'a [(String, T)], used: &[bool]) -> Vec<&'a str> {
            all.iter()
                .zip(used)
                .filter(|(_, used)| !**used)
                .map(|((k, _), _)| k.as_str())
                .collect()
        }
        let names = unused(&self.names, &self.used_names);
        if !names.is_empty() {
            return Err(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                names.join(", ")
            ));
        }
        let values = unused(&self.values, &self.used_values);
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
        let i = find(&self.names, alias).ok_or_else(|| {
            format!("An expression attribute name used in the document path is not defined; attribute name: {alias}")
        })?;
        self.used_names[i] = true;
        Ok(self.names[i].1.clone())
    }

    /// The value `:alias` stands for, now used.
    pub(super) fn value(&mut self, alias: &str) -> Result<Av, String> {
        let i = find(&self.values, alias).ok_or_else(|| {
            format!("An expression attribute value used in expression is not defined; attribute value: {alias}")
        })?;
        self.used_values[i] = true;
        Ok(self.values[i].1.clone())
    }

    /// The value of `:alias`, if given (not marked used).
    pub(super) fn get_value(&self, alias: &str) -> Option<&Av> {
        find(&self.values, alias).map(|i| &self.values[i].1)
    }

    /// The names, and the aliases of the values, in order: all that
    /// parsing an expression depends on (it never looks at a value).
    pub(super) fn shape(
        &self,
    ) -> (
        impl Iterator<Item = (&String, &String)>,
        impl Iterator<Item = &String>,
    ) {
        (
            self.names.iter().map(|(a, b)| (a, b)),
            self.values.iter().map(|(k, _)| k),
        )
    }

    /// The same names, every value `S` of its own alias: parsed with
    /// these, an expression's value slots name the placeholders that fill
    /// them.
    pub(super) fn markers(&self) -> Placeholders {
        Placeholders::sorted(
            self.names.clone(),
            self.values
                .iter()
                .map(|(k, _)| (k.clone(), Av::S(k.clone())))
                .collect(),
        )
    }

    /// What an expression parsed with these placeholders used: a flag per
    /// name and per value, in order.
    pub(super) fn used(self) -> (Vec<bool>, Vec<bool>) {
        (self.used_names, self.used_values)
    }

    /// Marks placeholders used, as parsing the expression that used them
    /// would: `names` and `values` are [`Placeholders::used`] of
    /// placeholders of the same shape.
    pub(super) fn mark_used(&mut self, names: &[bool], values: &[bool]) {
        for (mine, theirs) in self.used_names.iter_mut().zip(names) {
            *mine |= *theirs;
        }
        for (mine, theirs) in self.used_values.iter_mut().zip(values) {
            *mine |= *theirs;
        }
    }
}

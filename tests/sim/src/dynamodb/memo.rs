//! Expressions parsed once per shape. A client sends the same few
//! expression texts with the same names many times, each time with other
//! values. What parsing gives depends only on the text, the names and the
//! aliases of the values: a value only ever enters an expression as a
//! `:placeholder` (DynamoDB's expressions have no literal values), and the
//! parser never looks at one. So an expression is parsed once per shape
//! with each value slot holding its own alias, and each request's values
//! are put in the slots. Pure memoisation: a request gets what parsing it
//! would give (an error is not kept: it is parsed again, and fails again
//! with the same message).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::thread::LocalKey;

use super::expr::{Cond, Operand, SetValue, UOperand, Update};
use super::placeholders::Placeholders;
use super::value::Av;

/// Shapes kept before the memo starts over.
const MAX_SHAPES: usize = 4096;

struct Entry<T> {
    kind: String,
    text: String,
    names: Vec<(String, String)>,
    values: Vec<String>,
    parsed: T,
    used_names: Vec<bool>,
    used_values: Vec<bool>,
}

type Memo<T> = RefCell<HashMap<u64, Entry<T>>>;

thread_local! {
    static CONDITIONS: Memo<Cond> = RefCell::default();
    static UPDATES: Memo<Update> = RefCell::default();
}

/// A condition, filter or key condition expression; `parse` parses it.
pub fn condition(
    kind: &str,
    text: &str,
    ph: &mut Placeholders,
    parse: impl FnOnce(&mut Placeholders) -> Result<Cond, String>,
) -> Result<Cond, String> {
    cached(&CONDITIONS, kind, text, ph, parse, fill_cond)
}

/// An update expression; `parse` parses it.
pub fn update(
    text: &str,
    ph: &mut Placeholders,
    parse: impl FnOnce(&mut Placeholders) -> Result<Update, String>,
) -> Result<Update, String> {
    cached(&UPDATES, "UpdateExpression", text, ph, parse, fill_update)
}

fn shape_hash(kind: &str, text: &str, ph: &Placeholders) -> u64 {
    let mut h = crate::trace::Fold::default();
    (kind, text).hash(&mut h);
    let (names, values) = ph.shape();
    for name in names {
        name.hash(&mut h);
    }
    for alias in values {
        alias.hash(&mut h);
    }
    h.finish()
}

impl<T> Entry<T> {
    fn fits(&self, kind: &str, text: &str, ph: &Placeholders) -> bool {
        let (names, values) = ph.shape();
        self.kind == kind
            && self.text == text
            && names.eq(self.names.iter().map(|(a, b)| (a, b)))
            && values.eq(self.values.iter())
    }
}

fn cached<T: Clone + 'static>(
    memo: &'static LocalKey<Memo<T>>,
    kind: &str,
    text: &str,
    ph: &mut Placeholders,
    parse: impl FnOnce(&mut Placeholders) -> Result<T, String>,
    fill: fn(&mut T, &Placeholders),
) -> Result<T, String> {
    let key = shape_hash(kind, text, ph);
    let hit = memo.with_borrow(|m| {
        let e = m.get(&key).filter(|e| e.fits(kind, text, ph))?;
        ph.mark_used(&e.used_names, &e.used_values);
        Some(e.parsed.clone())
    });
    let mut parsed = match hit {
        Some(parsed) => parsed,
        None => {
            let mut markers = ph.markers();
            let parsed = parse(&mut markers)?;
            let (used_names, used_values) = markers.used();
            ph.mark_used(&used_names, &used_values);
            let (names, values) = ph.shape();
            let entry = Entry {
                kind: kind.to_owned(),
                text: text.to_owned(),
                names: names.map(|(a, b)| (a.clone(), b.clone())).collect(),
                values: values.cloned().collect(),
                parsed: parsed.clone(),
                used_names,
                used_values,
            };
            memo.with_borrow_mut(|m| {
                if m.len() >= MAX_SHAPES {
                    m.clear();
                }
                m.insert(key, entry);
            });
            parsed
        }
    };
    fill(&mut parsed, ph);
    Ok(parsed)
}

/// A value slot: its alias, replaced by the request's value.
fn fill_av(slot: &mut Av, ph: &Placeholders) {
    if let Av::S(alias) = &*slot
        && let Some(v) = ph.get_value(alias)
    {
        *slot = v.clone();
    }
}

fn fill_operand(o: &mut Operand, ph: &Placeholders) {
    match o {
        Operand::Value(v) => fill_av(v, ph),
        Operand::Path(_) | Operand::Size(_) => {}
    }
}

fn fill_cond(c: &mut Cond, ph: &Placeholders) {
    match c {
        Cond::Cmp(a, _, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
            fill_operand(a, ph);
            fill_operand(b, ph);
        }
        Cond::Between(a, b, c) => {
            for o in [a, b, c] {
                fill_operand(o, ph);
            }
        }
        Cond::In(a, list) => {
            fill_operand(a, ph);
            for o in list {
                fill_operand(o, ph);
            }
        }
        Cond::Type(_, o) => fill_operand(o, ph),
        Cond::Exists(_) | Cond::NotExists(_) => {}
        Cond::And(a, b) | Cond::Or(a, b) => {
            fill_cond(a, ph);
            fill_cond(b, ph);
        }
        Cond::Not(c) => fill_cond(c, ph),
    }
}

fn fill_uoperand(o: &mut UOperand, ph: &Placeholders) {
    match o {
        UOperand::Value(v) => fill_av(v, ph),
        UOperand::Path(_) => {}
        UOperand::IfNotExists(_, b) => fill_uoperand(b, ph),
        UOperand::ListAppend(a, b) => {
            fill_uoperand(a, ph);
            fill_uoperand(b, ph);
        }
    }
}

fn fill_update(u: &mut Update, ph: &Placeholders) {
    for (_, v) in &mut u.set {
        match v {
            SetValue::One(a) => fill_uoperand(a, ph),
            SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
                fill_uoperand(a, ph);
                fill_uoperand(b, ph);
            }
        }
    }
    for (_, v) in u.add.iter_mut().chain(&mut u.delete) {
        fill_av(v, ph);
    }
}

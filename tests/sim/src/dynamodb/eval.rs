//! Evaluating parsed expressions on an item: conditions and filters,
//! update actions, projections. Semantics from "Condition and filter
//! expressions, operators, and functions"
//! (Expressions.OperatorsAndFunctions.html) and "Using update expressions"
//! (Expressions.UpdateExpressions.html).

use std::cmp::Ordering;

use super::expr::{Cmp, Cond, Operand, Path, SetValue, Step, UOperand, Update};
use super::value::{Av, Item, Num};

/// The value at a document path, if any.
pub fn resolve<'a>(item: &'a Item, path: &Path) -> Option<&'a Av> {
    let mut steps = path.iter();
    let Some(Step::Key(first)) = steps.next() else {
        return None;
    };
    let mut cur = item.get(first)?;
    for s in steps {
        cur = match (s, cur) {
            (Step::Key(k), Av::M(m)) => m.get(k)?,
            (Step::Index(i), Av::L(l)) => l.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// `size()`: characters of a string, bytes of a binary, elements of a set,
/// list or map; any other type is an error.
fn size_of(v: &Av) -> Result<Av, String> {
    let n = match v {
        Av::S(s) => s.chars().count(),
        Av::B(b) => b.len(),
        Av::Ss(s) => s.len(),
        Av::Ns(s) => s.len(),
        Av::Bs(s) => s.len(),
        Av::L(l) => l.len(),
        Av::M(m) => m.len(),
        other => {
            return Err(format!(
                "Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: size, operand type: {}",
                other.type_name()
            ));
        }
    };
    Ok(Av::N(Num::from_i64(n as i64)))
}

fn operand(item: &Item, o: &Operand) -> Result<Option<Av>, String> {
    Ok(match o {
        Operand::Path(p) => resolve(item, p).cloned(),
        Operand::Value(v) => Some(v.clone()),
        Operand::Size(p) => match resolve(item, p) {
            Some(v) => Some(size_of(v)?),
            None => None,
        },
    })
}

/// Whether `cond` holds on `item` (an absent item is the empty item). A
/// comparison with an absent attribute is false, except `<>`, which is
/// true ("a <> b: true if a is not equal to b"; an absent attribute equals
/// nothing). The documentation does not spell out the absent case; this
/// is how DynamoDB answers, and what Hangar's `#state <> :x` conditions
/// assume only together with `attribute_exists`.
pub fn check(item: &Item, cond: &Cond) -> Result<bool, String> {
    Ok(match cond {
        Cond::And(a, b) => check(item, a)? && check(item, b)?,
        Cond::Or(a, b) => check(item, a)? || check(item, b)?,
        Cond::Not(a) => !check(item, a)?,
        Cond::Exists(p) => resolve(item, p).is_some(),
        Cond::NotExists(p) => resolve(item, p).is_none(),
        Cond::Cmp(a, op, b) => {
            let (a, b) = (operand(item, a)?, operand(item, b)?);
            match (a, b) {
                (Some(a), Some(b)) => match op {
                    Cmp::Eq => a.same(&b),
                    Cmp::Ne => !a.same(&b),
                    _ => a.compare(&b).is_some_and(|o| match op {
                        Cmp::Lt => o == Ordering::Less,
                        Cmp::Le => o != Ordering::Greater,
                        Cmp::Gt => o == Ordering::Greater,
                        _ => o != Ordering::Less,
                    }),
                },
                _ => *op == Cmp::Ne,
            }
        }
        Cond::Between(x, lo, hi) => {
            match (operand(item, x)?, operand(item, lo)?, operand(item, hi)?) {
                (Some(x), Some(lo), Some(hi)) => {
                    x.compare(&lo).is_some_and(|o| o != Ordering::Less)
                        && x.compare(&hi).is_some_and(|o| o != Ordering::Greater)
                }
                _ => false,
            }
        }
        Cond::In(x, list) => match operand(item, x)? {
            Some(x) => {
                let mut any = false;
                for o in list {
                    any |= operand(item, o)?.is_some_and(|v| v.same(&x));
                }
                any
            }
            None => false,
        },
        Cond::Type(p, t) => {
            let Some(Av::S(t)) = operand(item, t)? else {
                return Err("Invalid ConditionExpression: Incorrect operand type for operator or function; operator or function: attribute_type".into());
            };
            const TYPES: [&str; 10] = ["S", "SS", "N", "NS", "B", "BS", "BOOL", "NULL", "L", "M"];
            if !TYPES.contains(&t.as_str()) {
                return Err(format!(
                    "Invalid ConditionExpression: Invalid attribute type name found; type: {t}, valid types: {{ B,NULL,SS,BOOL,L,BS,N,NS,S,M }}"
                ));
            }
            resolve(item, p).is_some_and(|v| v.type_name() == t)
        }
        Cond::BeginsWith(a, b) => match (operand(item, a)?, operand(item, b)?) {
            (Some(Av::S(a)), Some(Av::S(b))) => a.starts_with(&b),
            (Some(Av::B(a)), Some(Av::B(b))) => a.starts_with(&b),
            _ => false,
        },
        Cond::Contains(a, b) => match (operand(item, a)?, operand(item, b)?) {
            (Some(Av::S(a)), Some(Av::S(b))) => a.contains(&b),
            (Some(Av::Ss(a)), Some(Av::S(b))) => a.contains(&b),
            (Some(Av::Ns(a)), Some(Av::N(b))) => a.contains(&b),
            (Some(Av::Bs(a)), Some(Av::B(b))) => a.contains(&b),
            (Some(Av::L(a)), Some(b)) => a.iter().any(|x| x.same(&b)),
            _ => false,
        },
    })
}

fn bad_type() -> String {
    "An operand in the update expression has an incorrect data type".to_owned()
}

fn uoperand(item: &Item, o: &UOperand) -> Result<Av, String> {
    match o {
        UOperand::Value(v) => Ok(v.clone()),
        UOperand::Path(p) => resolve(item, p).cloned().ok_or_else(|| {
            "The provided expression refers to an attribute that does not exist in the item"
                .to_owned()
        }),
        UOperand::IfNotExists(p, dflt) => match resolve(item, p) {
            Some(v) => Ok(v.clone()),
            None => uoperand(item, dflt),
        },
        UOperand::ListAppend(a, b) => match (uoperand(item, a)?, uoperand(item, b)?) {
            (Av::L(mut a), Av::L(b)) => {
                a.extend(b);
                Ok(Av::L(a))
            }
            _ => Err(bad_type()),
        },
    }
}

fn number(v: Av) -> Result<Num, String> {
    match v {
        Av::N(n) => Ok(n),
        _ => Err(bad_type()),
    }
}

/// Where a path's value lives, for writing: its parent container must
/// exist ("The document path provided in the update expression is invalid
/// for update").
fn slot<'a>(item: &'a mut Item, path: &Path) -> Result<Option<&'a mut Av>, String> {
    let invalid =
        || "The document path provided in the update expression is invalid for update".to_owned();
    let (last, parents) = path.split_last().expect("a path has a step");
    let Some(Step::Key(first)) = path.first() else {
        return Err(invalid());
    };
    if parents.is_empty() {
        let Step::Key(k) = last else {
            return Err(invalid());
        };
        return Ok(item.get_mut(k));
    }
    let mut cur = item.get_mut(first).ok_or_else(invalid)?;
    for s in &parents[1..] {
        cur = match (s, cur) {
            (Step::Key(k), Av::M(m)) => m.get_mut(k).ok_or_else(invalid)?,
            (Step::Index(i), Av::L(l)) => l.get_mut(*i).ok_or_else(invalid)?,
            _ => return Err(invalid()),
        };
    }
    match (last, cur) {
        (Step::Key(k), Av::M(m)) => Ok(m.get_mut(k)),
        (Step::Index(i), Av::L(l)) => Ok(l.get_mut(*i)),
        _ => Err(invalid()),
    }
}

/// Writes `value` at `path`: a new map key, a list index past the end
/// appends ("If the index is greater than the list's length, the new
/// element is added to the end").
fn put(item: &mut Item, path: &Path, value: Av) -> Result<(), String> {
    if let Some(slot) = slot(item, path)? {
        *slot = value;
        return Ok(());
    }
    let (last, parents) = path.split_last().expect("a path has a step");
    match last {
        Step::Key(k) if parents.is_empty() => {
            item.insert(k.clone(), value);
        }
        _ => {
            let parent = slot(item, &parents.to_vec())?.expect("slot checked the parent");
            match (last, parent) {
                (Step::Key(k), Av::M(m)) => {
                    m.insert(k.clone(), value);
                }
                (Step::Index(_), Av::L(l)) => l.push(value),
                _ => {
                    return Err(
                        "The document path provided in the update expression is invalid for update"
                            .into(),
                    );
                }
            }
        }
    }
    Ok(())
}

fn remove(item: &mut Item, path: &Path) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("a path has a step");
    if parents.is_empty() {
        if let Step::Key(k) = last {
            item.remove(k);
        }
        return Ok(());
    }
    match (last, slot(item, &parents.to_vec())?) {
        (Step::Key(k), Some(Av::M(m))) => {
            m.remove(k);
        }
        (Step::Index(i), Some(Av::L(l))) if *i < l.len() => {
            l.remove(*i);
        }
        _ => {}
    }
    Ok(())
}

/// Applies an update expression to `old` (an absent item is the empty
/// item): every right-hand side reads the item as it was before the
/// update. Errors are worded as DynamoDB's ValidationException.
pub fn apply(old: &Item, u: &Update) -> Result<Item, String> {
    let mut values = Vec::new();
    for (p, v) in &u.set {
        let value = match v {
            SetValue::One(a) => uoperand(old, a)?,
            SetValue::Plus(a, b) => {
                Av::N(number(uoperand(old, a)?)?.add(&number(uoperand(old, b)?)?)?)
            }
            SetValue::Minus(a, b) => {
                Av::N(number(uoperand(old, a)?)?.add(&number(uoperand(old, b)?)?.negate())?)
            }
        };
        values.push((p, value));
    }
    let mut new = old.clone();
    for (p, v) in values {
        put(&mut new, p, v)?;
    }
    // REMOVE on list elements: highest index first, so earlier removals
    // do not shift later ones.
    let mut removes: Vec<&Path> = u.remove.iter().collect();
    removes.sort_by(|a, b| b.cmp(a));
    for p in removes {
        remove(&mut new, p)?;
    }
    for (p, v) in &u.add {
        let cur = resolve(&new, p).cloned();
        let next = match (cur, v.clone()) {
            (None, v @ (Av::N(_) | Av::Ss(_) | Av::Ns(_) | Av::Bs(_))) => v,
            (None, other) => {
                return Err(format!(
                    "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: ADD, operand type: {}",
                    long_type(&other)
                ));
            }
            (Some(Av::N(a)), Av::N(b)) => Av::N(a.add(&b)?),
            (Some(Av::Ss(mut a)), Av::Ss(b)) => {
                union(&mut a, b);
                Av::Ss(a)
            }
            (Some(Av::Ns(mut a)), Av::Ns(b)) => {
                union(&mut a, b);
                Av::Ns(a)
            }
            (Some(Av::Bs(mut a)), Av::Bs(b)) => {
                union(&mut a, b);
                Av::Bs(a)
            }
            _ => return Err(bad_type()),
        };
        put(&mut new, p, next)?;
    }
    for (p, v) in &u.delete {
        let cur = resolve(&new, p).cloned();
        let next = match (cur, v.clone()) {
            (
                _,
                other @ (Av::S(_)
                | Av::N(_)
                | Av::B(_)
                | Av::Bool(_)
                | Av::Null
                | Av::L(_)
                | Av::M(_)),
            ) => {
                return Err(format!(
                    "Invalid UpdateExpression: Incorrect operand type for operator or function; operator: DELETE, operand type: {}",
                    long_type(&other)
                ));
            }
            (None, _) => continue,
            (Some(Av::Ss(a)), Av::Ss(b)) => {
                Some(Av::Ss(a.into_iter().filter(|x| !b.contains(x)).collect()))
            }
            (Some(Av::Ns(a)), Av::Ns(b)) => {
                Some(Av::Ns(a.into_iter().filter(|x| !b.contains(x)).collect()))
            }
            (Some(Av::Bs(a)), Av::Bs(b)) => {
                Some(Av::Bs(a.into_iter().filter(|x| !b.contains(x)).collect()))
            }
            _ => return Err(bad_type()),
        };
        // A set left empty is removed (sets may not be empty).
        match next {
            Some(Av::Ss(s)) if s.is_empty() => remove(&mut new, p)?,
            Some(Av::Ns(s)) if s.is_empty() => remove(&mut new, p)?,
            Some(Av::Bs(s)) if s.is_empty() => remove(&mut new, p)?,
            Some(v) => put(&mut new, p, v)?,
            None => {}
        }
    }
    Ok(new)
}

fn union<T: PartialEq>(a: &mut Vec<T>, b: Vec<T>) {
    for x in b {
        if !a.contains(&x) {
            a.push(x);
        }
    }
}

fn long_type(v: &Av) -> &'static str {
    match v {
        Av::S(_) => "STRING",
        Av::N(_) => "NUMBER",
        Av::B(_) => "BINARY",
        Av::Bool(_) => "BOOLEAN",
        Av::Null => "NULL",
        Av::L(_) => "LIST",
        Av::M(_) => "MAP",
        Av::Ss(_) => "STRING SET",
        Av::Ns(_) => "NUMBER SET",
        Av::Bs(_) => "BINARY SET",
    }
}

/// The attributes a projection expression names (nested paths keep their
/// enclosing maps; list elements are gathered in order).
pub fn project(item: &Item, paths: &[Path]) -> Item {
    let mut out = Item::new();
    for p in paths {
        let Some(v) = resolve(item, p) else { continue };
        let Some(Step::Key(first)) = p.first() else {
            continue;
        };
        if p.len() == 1 {
            out.insert(first.clone(), v.clone());
            continue;
        }
        // Rebuild the enclosing containers along the path.
        let mut built = v.clone();
        for s in p[1..].iter().rev() {
            built = match s {
                Step::Key(k) => Av::M(Item::from([(k.clone(), built)])),
                Step::Index(_) => Av::L(vec![built]),
            };
        }
        match (out.remove(first), built) {
            (Some(Av::M(mut a)), Av::M(b)) => {
                a.extend(b);
                out.insert(first.clone(), Av::M(a));
            }
            (Some(Av::L(mut a)), Av::L(b)) => {
                a.extend(b);
                out.insert(first.clone(), Av::L(a));
            }
            (_, b) => {
                out.insert(first.clone(), b);
            }
        }
    }
    out
}

/// The top-level attributes an update touches (for `UPDATED_OLD` and
/// `UPDATED_NEW`).
pub fn touched(u: &Update) -> Vec<Path> {
    u.set
        .iter()
        .map(|(p, _)| p.clone())
        .chain(u.remove.iter().cloned())
        .chain(u.add.iter().map(|(p, _)| p.clone()))
        .chain(u.delete.iter().map(|(p, _)| p.clone()))
        .collect()
}

//! Expressions: condition, filter, key condition, update and projection
//! expressions, parsed with their `#name` and `:value` placeholders
//! resolved. The grammar is the one "Condition and filter expressions,
//! operators, and functions" (Expressions.OperatorsAndFunctions.html),
//! "Using update expressions" (Expressions.UpdateExpressions.html) and
//! "Using projection expressions" (Expressions.ProjectionExpressions.html)
//! give; placeholders per "Expression attribute names" and "Using
//! expression attribute values".

use std::collections::BTreeSet;

use super::memo;
pub use super::placeholders::Placeholders;
use super::reserved::RESERVED;
use super::value::Av;

/// One step of a document path: an attribute or map key, or a list index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Key(String),
    Index(usize),
}

pub type Path = Vec<Step>;

/// A value in a condition: an attribute, a placeholder's value, `size()`.
#[derive(Debug, Clone)]
pub enum Operand {
    Path(Path),
    Value(Av),
    Size(Path),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone)]
pub enum Cond {
    Cmp(Operand, Cmp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    Exists(Path),
    NotExists(Path),
    Type(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

/// The right side of a `SET` action.
#[derive(Debug, Clone)]
pub enum SetValue {
    One(UOperand),
    Plus(UOperand, UOperand),
    Minus(UOperand, UOperand),
}

#[derive(Debug, Clone)]
pub enum UOperand {
    Path(Path),
    Value(Av),
    IfNotExists(Path, Box<UOperand>),
    ListAppend(Box<UOperand>, Box<UOperand>),
}

#[derive(Debug, Clone, Default)]
pub struct Update {
    pub set: Vec<(Path, SetValue)>,
    pub remove: Vec<Path>,
    pub add: Vec<(Path, Av)>,
    pub delete: Vec<(Path, Av)>,
}

/// A token: words and placeholders are slices of the expression's text.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok<'a> {
    Word(&'a str),
    Name(&'a str),
    Value(&'a str),
    Int(usize),
    Sym(&'static str),
}

fn tokenize(s: &str) -> Result<Vec<Tok<'_>>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let two = s.get(i..i + 2).unwrap_or("");
        if let Some(sym) = ["<>", "<=", ">="].into_iter().find(|x| *x == two) {
            out.push(Tok::Sym(sym));
            i += 2;
            continue;
        }
        if let Some(sym) = ["(", ")", "[", "]", ",", ".", "=", "<", ">", "+", "-"]
            .into_iter()
            .find(|x| x.as_bytes()[0] == c)
        {
            out.push(Tok::Sym(sym));
            i += 1;
            continue;
        }
        let start = i;
        if c == b'#' || c == b':' {
            i += 1;
        }
        while i < b.len() && word(b[i]) {
            i += 1;
        }
        let text = &s[start..i];
        if text.is_empty() || text == "#" || text == ":" {
            let end = (start + 1..=s.len())
                .find(|e| s.is_char_boundary(*e))
                .unwrap_or(s.len());
            return Err(format!(
                "Syntax error; token: \"{}\", near: \"{}\"",
                &s[start..end],
                near(s, start)
            ));
        }
        out.push(match c {
            b'#' => Tok::Name(text),
            b':' => Tok::Value(text),
            b'0'..=b'9' => Tok::Int(
                text.parse()
                    .map_err(|_| format!("Syntax error; token: \"{text}\""))?,
            ),
            _ => Tok::Word(text),
        });
    }
    Ok(out)
}

fn near(s: &str, at: usize) -> String {
    s.get(at..).unwrap_or("").chars().take(12).collect()
}

/// A parser over one expression.
struct P<'a> {
    toks: Vec<Tok<'a>>,
    at: usize,
    ph: &'a mut Placeholders,
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<Tok<'a>> {
        self.toks.get(self.at).copied()
    }
    fn next(&mut self) -> Option<Tok<'a>> {
        let t = self.peek();
        self.at += 1;
        t
    }
    fn err_here(&self) -> String {
        match self.toks.get(self.at) {
            Some(t) => format!(
                "Syntax error; token: \"{}\", near: \"{}\"",
                show(t),
                self.context()
            ),
            None => "Syntax error; token: <EOF>, near: <EOF>".to_owned(),
        }
    }
    fn context(&self) -> String {
        self.toks[self.at.saturating_sub(1)..(self.at + 2).min(self.toks.len())]
            .iter()
            .map(show)
            .collect::<Vec<_>>()
            .join(" ")
    }
    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if x == s)
    }
    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    fn expect_sym(&mut self, s: &str) -> Result<(), String> {
        if self.is_sym(s) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err_here())
        }
    }
    fn done(&self) -> Result<(), String> {
        if self.at < self.toks.len() {
            Err(self.err_here())
        } else {
            Ok(())
        }
    }

    fn name(&mut self, alias: &str) -> Result<String, String> {
        self.ph.name(alias)
    }
    fn value(&mut self, alias: &str) -> Result<Av, String> {
        self.ph.value(alias)
    }

    /// A document path: `a`, `#a`, `a.b`, `a[0]`, `#a[1].#b`.
    fn path(&mut self) -> Result<Path, String> {
        let mut path = vec![self.path_key()?];
        loop {
            if self.is_sym(".") {
                self.at += 1;
                path.push(self.path_key()?);
            } else if self.is_sym("[") {
                self.at += 1;
                match self.next() {
                    Some(Tok::Int(n)) => path.push(Step::Index(n)),
                    _ => {
                        self.at -= 1;
                        return Err(self.err_here());
                    }
                }
                self.expect_sym("]")?;
            } else {
                return Ok(path);
            }
        }
    }
    fn path_key(&mut self) -> Result<Step, String> {
        match self.next() {
            Some(Tok::Name(n)) => Ok(Step::Key(self.name(n)?)),
            Some(Tok::Word(w)) => {
                if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(w)) {
                    return Err(format!(
                        "Attribute name is a reserved keyword; reserved keyword: {w}"
                    ));
                }
                if w.as_bytes()[0].is_ascii_digit() {
                    self.at -= 1;
                    return Err(self.err_here());
                }
                Ok(Step::Key(w.to_owned()))
            }
            _ => {
                self.at -= 1;
                Err(self.err_here())
            }
        }
    }

    // Condition grammar: or := and (OR and)*; and := not (AND not)*;
    // not := NOT not | primary. Precedence per "Precedence in conditions":
    // NOT, then AND, then OR.
    fn cond(&mut self) -> Result<Cond, String> {
        let mut left = self.and()?;
        while self.is_kw("OR") {
            self.at += 1;
            left = Cond::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Cond, String> {
        let mut left = self.not()?;
        while self.is_kw("AND") {
            self.at += 1;
            left = Cond::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }
    fn not(&mut self) -> Result<Cond, String> {
        if self.is_kw("NOT") {
            self.at += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Cond, String> {
        if self.is_sym("(") {
            self.at += 1;
            let c = self.cond()?;
            self.expect_sym(")")?;
            return Ok(c);
        }
        if let Some(Tok::Word(f)) = self.peek() {
            let is_call = matches!(self.toks.get(self.at + 1), Some(Tok::Sym("(")));
            if is_call && f != "size" {
                self.at += 2;
                let c = match f {
                    "attribute_exists" => Cond::Exists(self.path()?),
                    "attribute_not_exists" => Cond::NotExists(self.path()?),
                    "attribute_type" => {
                        let p = self.path()?;
                        self.expect_sym(",")?;
                        Cond::Type(p, self.operand()?)
                    }
                    "begins_with" | "contains" => {
                        let a = self.operand()?;
                        self.expect_sym(",")?;
                        let b = self.operand()?;
                        if f == "begins_with" {
                            Cond::BeginsWith(a, b)
                        } else {
                            Cond::Contains(a, b)
                        }
                    }
                    _ => return Err(format!("Invalid function name; function: {f}")),
                };
                self.expect_sym(")")?;
                return Ok(c);
            }
        }
        let left = self.operand()?;
        if self.is_kw("BETWEEN") {
            self.at += 1;
            let lo = self.operand()?;
            if !self.is_kw("AND") {
                return Err(self.err_here());
            }
            self.at += 1;
            let hi = self.operand()?;
            return Ok(Cond::Between(left, lo, hi));
        }
        if self.is_kw("IN") {
            self.at += 1;
            self.expect_sym("(")?;
            let mut list = vec![self.operand()?];
            while self.is_sym(",") {
                self.at += 1;
                list.push(self.operand()?);
            }
            self.expect_sym(")")?;
            return Ok(Cond::In(left, list));
        }
        let op = match self.next() {
            Some(Tok::Sym("=")) => Cmp::Eq,
            Some(Tok::Sym("<>")) => Cmp::Ne,
            Some(Tok::Sym("<")) => Cmp::Lt,
            Some(Tok::Sym("<=")) => Cmp::Le,
            Some(Tok::Sym(">")) => Cmp::Gt,
            Some(Tok::Sym(">=")) => Cmp::Ge,
            _ => {
                self.at -= 1;
                return Err(self.err_here());
            }
        };
        Ok(Cond::Cmp(left, op, self.operand()?))
    }
    fn operand(&mut self) -> Result<Operand, String> {
        match self.peek() {
            Some(Tok::Value(v)) => {
                self.at += 1;
                Ok(Operand::Value(self.value(v)?))
            }
            Some(Tok::Word(w))
                if w == "size" && matches!(self.toks.get(self.at + 1), Some(Tok::Sym("("))) =>
            {
                self.at += 2;
                let p = self.path()?;
                self.expect_sym(")")?;
                Ok(Operand::Size(p))
            }
            _ => Ok(Operand::Path(self.path()?)),
        }
    }

    // Update grammar: clauses SET, REMOVE, ADD, DELETE, each at most once.
    fn update(&mut self) -> Result<Update, String> {
        let mut u = Update::default();
        let mut seen = BTreeSet::new();
        while self.peek().is_some() {
            let Some(Tok::Word(w)) = self.next() else {
                self.at -= 1;
                return Err(self.err_here());
            };
            let clause = w.to_ascii_uppercase();
            if !["SET", "REMOVE", "ADD", "DELETE"].contains(&clause.as_str()) {
                self.at -= 1;
                return Err(self.err_here());
            }
            if !seen.insert(clause.clone()) {
                return Err(format!(
                    "The \"{clause}\" section can only be used once in an update expression;"
                ));
            }
            loop {
                match clause.as_str() {
                    "SET" => {
                        let p = self.path()?;
                        self.expect_sym("=")?;
                        let a = self.uoperand()?;
                        let v = if self.is_sym("+") {
                            self.at += 1;
                            SetValue::Plus(a, self.uoperand()?)
                        } else if self.is_sym("-") {
                            self.at += 1;
                            SetValue::Minus(a, self.uoperand()?)
                        } else {
                            SetValue::One(a)
                        };
                        u.set.push((p, v));
                    }
                    "REMOVE" => u.remove.push(self.path()?),
                    _ => {
                        let p = self.path()?;
                        let v = match self.next() {
                            Some(Tok::Value(v)) => self.value(v)?,
                            _ => {
                                self.at -= 1;
                                return Err(self.err_here());
                            }
                        };
                        if clause == "ADD" {
                            u.add.push((p, v))
                        } else {
                            u.delete.push((p, v))
                        }
                    }
                }
                if !self.is_sym(",") {
                    break;
                }
                self.at += 1;
            }
        }
        Ok(u)
    }
    fn uoperand(&mut self) -> Result<UOperand, String> {
        match self.peek() {
            Some(Tok::Value(v)) => {
                self.at += 1;
                Ok(UOperand::Value(self.value(v)?))
            }
            Some(Tok::Word(f)) if matches!(self.toks.get(self.at + 1), Some(Tok::Sym("("))) => {
                self.at += 2;
                let out = match f {
                    "if_not_exists" => {
                        let p = self.path()?;
                        self.expect_sym(",")?;
                        UOperand::IfNotExists(p, Box::new(self.uoperand()?))
                    }
                    "list_append" => {
                        let a = self.uoperand()?;
                        self.expect_sym(",")?;
                        UOperand::ListAppend(Box::new(a), Box::new(self.uoperand()?))
                    }
                    _ => return Err(format!("Invalid function name; function: {f}")),
                };
                self.expect_sym(")")?;
                Ok(out)
            }
            _ => Ok(UOperand::Path(self.path()?)),
        }
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Word(s) | Tok::Name(s) | Tok::Value(s) => (*s).to_owned(),
        Tok::Int(n) => n.to_string(),
        Tok::Sym(s) => (*s).to_owned(),
    }
}

fn run<T>(
    kind: &str,
    text: &str,
    ph: &mut Placeholders,
    f: impl FnOnce(&mut P) -> Result<T, String>,
) -> Result<T, String> {
    let go = || -> Result<T, String> {
        if text.trim().is_empty() {
            return Err("The expression can not be empty;".to_owned());
        }
        let mut p = P {
            toks: tokenize(text)?,
            at: 0,
            ph,
        };
        let out = f(&mut p)?;
        p.done()?;
        Ok(out)
    };
    go().map_err(|e| format!("Invalid {kind}: {e}"))
}

/// A condition, filter or key condition expression (`kind` names it in
/// errors: `ConditionExpression`, `FilterExpression`, `KeyConditionExpression`).
pub fn parse_condition(kind: &str, text: &str, ph: &mut Placeholders) -> Result<Cond, String> {
    memo::condition(kind, text, ph, |ph| run(kind, text, ph, |p| p.cond()))
}

/// An update expression; two actions on overlapping paths are refused
/// ("Two document paths overlap with each other").
pub fn parse_update(text: &str, ph: &mut Placeholders) -> Result<Update, String> {
    memo::update(text, ph, |ph| parse_update_once(text, ph))
}

fn parse_update_once(text: &str, ph: &mut Placeholders) -> Result<Update, String> {
    let u = run("UpdateExpression", text, ph, |p| p.update())?;
    let paths: Vec<&Path> = u
        .set
        .iter()
        .map(|(p, _)| p)
        .chain(u.remove.iter())
        .chain(u.add.iter().map(|(p, _)| p))
        .chain(u.delete.iter().map(|(p, _)| p))
        .collect();
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            let n = a.len().min(b.len());
            if a[..n] == b[..n] {
                return Err(format!(
                    "Invalid UpdateExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [{}], path two: [{}]",
                    path_text(a),
                    path_text(b)
                ));
            }
        }
    }
    Ok(u)
}

/// A projection expression: paths separated by commas.
pub fn parse_projection(text: &str, ph: &mut Placeholders) -> Result<Vec<Path>, String> {
    run("ProjectionExpression", text, ph, |p| {
        let mut out = vec![p.path()?];
        while p.is_sym(",") {
            p.at += 1;
            out.push(p.path()?);
        }
        Ok(out)
    })
}

pub fn path_text(p: &Path) -> String {
    p.iter()
        .map(|s| match s {
            Step::Key(k) => k.clone(),
            Step::Index(i) => format!("[{i}]"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

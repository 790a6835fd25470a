//! DynamoDB numbers: decimal, up to 38 significant digits, magnitude
//! 1E-130 to 9.99…E+125, compared and added exactly (never through f64).
//!
//! Rules from "Supported data types and naming rules in Amazon DynamoDB"
//! (HowItWorks.NamingRulesDataTypes.html, section Number): "Numbers can
//! have up to 38 digits of precision", "Positive range: 1E-130 to
//! 9.9999999999999999999999999999999999999E+125", "Leading and trailing
//! zeroes are trimmed".

use std::cmp::Ordering;

/// A decimal number: `-`? `digits` × 10^`exp`, `digits` without leading or
/// trailing zeros (empty for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Num {
    neg: bool,
    digits: Vec<u8>,
    exp: i32,
}

const MAX_DIGITS: usize = 38;

impl Num {
    /// Parses a number as DynamoDB accepts it (`-12.5`, `1e3`, `0.010`).
    pub fn parse(s: &str) -> Result<Num, String> {
        let bad = || format!("The parameter cannot be converted to a numeric value: {s}");
        let t = s.trim();
        let (neg, rest) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (mantissa, e) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().map_err(|_| bad())?),
            None => (rest, 0),
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        let all: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
        if !all.iter().all(u8::is_ascii_digit) {
            return Err(bad());
        }
        let digits: Vec<u8> = all.iter().map(|b| b - b'0').collect();
        let exp = e
            .checked_sub(i32::try_from(frac.len()).map_err(|_| bad())?)
            .ok_or_else(bad)?;
        let n = Num::normal(neg, digits, exp);
        n.check()?;
        Ok(n)
    }

    fn normal(neg: bool, mut digits: Vec<u8>, mut exp: i32) -> Num {
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        while digits.last() == Some(&0) {
            digits.pop();
            exp += 1;
        }
        if digits.is_empty() {
            return Num {
                neg: false,
                digits,
                exp: 0,
            };
        }
        Num { neg, digits, exp }
    }

    /// The range and precision DynamoDB stores.
    fn check(&self) -> Result<(), String> {
        if self.digits.is_empty() {
            return Ok(());
        }
        if self.digits.len() > MAX_DIGITS {
            return Err("Attempting to store more than 38 significant digits in a Number".into());
        }
        // Order of magnitude: the value is in [10^(top-1), 10^top).
        let top = self.exp + self.digits.len() as i32;
        if top > 126 {
            return Err(
                "Number overflow. Attempting to store a number with magnitude larger than supported range"
                    .into(),
            );
        }
        if top < -129 {
            return Err(
                "Number underflow. Attempting to store a number with magnitude smaller than supported range"
                    .into(),
            );
        }
        Ok(())
    }

    /// Significant digits (for the item size rule).
    pub fn significant_digits(&self) -> usize {
        self.digits.len().max(1)
    }

    /// The canonical text DynamoDB answers with.
    pub fn text(&self) -> String {
        let mut out = String::new();
        self.write_text(&mut out);
        out
    }

    /// Appends [`Num::text`] to `out` (digits, `-` and `.`: nothing a JSON
    /// string escapes).
    pub fn write_text(&self, out: &mut String) {
        if self.digits.is_empty() {
            out.push('0');
            return;
        }
        let digit = |d: &u8| char::from(b'0' + d);
        if self.neg {
            out.push('-');
        }
        if self.exp >= 0 {
            out.extend(self.digits.iter().map(digit));
            out.extend(std::iter::repeat_n('0', self.exp as usize));
        } else {
            let point = self.digits.len() as i32 + self.exp;
            if point > 0 {
                let (a, b) = self.digits.split_at(point as usize);
                out.extend(a.iter().map(digit));
                out.push('.');
                out.extend(b.iter().map(digit));
            } else {
                out.push_str("0.");
                out.extend(std::iter::repeat_n('0', (-point) as usize));
                out.extend(self.digits.iter().map(digit));
            }
        }
    }

    fn cmp_magnitude(&self, other: &Num) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        let ta = self.exp + self.digits.len() as i32;
        let tb = other.exp + other.digits.len() as i32;
        // Same order of magnitude: digit strings compare left-aligned (no
        // trailing zeros, so a prefix is the smaller).
        ta.cmp(&tb).then_with(|| self.digits.cmp(&other.digits))
    }

    /// The sum, exact; an error past 38 digits or the range.
    pub fn add(&self, other: &Num) -> Result<Num, String> {
        if self.digits.is_empty() {
            return Ok(other.clone());
        }
        if other.digits.is_empty() {
            return Ok(self.clone());
        }
        let exp = self.exp.min(other.exp);
        let a = self.aligned(exp);
        let b = other.aligned(exp);
        let (neg, digits) = if self.neg == other.neg {
            (self.neg, add_digits(&a, &b))
        } else if self.cmp_magnitude(other) != Ordering::Less {
            (self.neg, sub_digits(&a, &b))
        } else {
            (other.neg, sub_digits(&b, &a))
        };
        let n = Num::normal(neg, digits, exp);
        n.check()?;
        Ok(n)
    }

    pub fn negate(&self) -> Num {
        let mut n = self.clone();
        if !n.digits.is_empty() {
            n.neg = !n.neg;
        }
        n
    }

    /// Digits scaled to exponent `exp` (≤ self.exp), most significant first.
    fn aligned(&self, exp: i32) -> Vec<u8> {
        let mut d = self.digits.clone();
        d.extend(std::iter::repeat_n(0, (self.exp - exp) as usize));
        d
    }

    pub fn from_i64(v: i64) -> Num {
        Num::parse(&v.to_string()).expect("an integer is a number")
    }

    /// The value as an integer, if it is one that fits.
    pub fn to_i64(&self) -> Option<i64> {
        if self.exp < 0 {
            return None;
        }
        self.text().parse().ok()
    }
}

fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut i, mut j, mut carry) = (a.len(), b.len(), 0u8);
    while i > 0 || j > 0 || carry > 0 {
        let mut s = carry;
        if i > 0 {
            i -= 1;
            s += a[i];
        }
        if j > 0 {
            j -= 1;
            s += b[j];
        }
        out.push(s % 10);
        carry = s / 10;
    }
    out.reverse();
    out
}

/// `a - b` for `a >= b` (same exponent).
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut i, mut j, mut borrow) = (a.len(), b.len(), 0i8);
    while i > 0 {
        i -= 1;
        let mut d = a[i] as i8 - borrow;
        if j > 0 {
            j -= 1;
            d -= b[j] as i8;
        }
        borrow = i8::from(d < 0);
        out.push((d + 10 * borrow) as u8);
    }
    out.reverse();
    out
}

impl Ord for Num {
    fn cmp(&self, other: &Num) -> Ordering {
        let sa = if self.digits.is_empty() {
            0
        } else if self.neg {
            -1
        } else {
            1
        };
        let sb = if other.digits.is_empty() {
            0
        } else if other.neg {
            -1
        } else {
            1
        };
        sa.cmp(&sb).then_with(|| {
            let m = self.cmp_magnitude(other);
            if sa < 0 { m.reverse() } else { m }
        })
    }
}

impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Num) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

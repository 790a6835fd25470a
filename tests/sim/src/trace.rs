//! The trace of a run: every call and its answer, folded into a hash (two
//! runs of one seed must give the same hash, bit for bit) and the last
//! lines kept to print when a seed fails.

use std::collections::VecDeque;

use crate::json::Json;

/// Lines kept for a failing seed's report.
const TAIL: usize = 200;

#[derive(Debug)]
pub struct Trace {
    hash: u64,
    lines: u64,
    tail: VecDeque<Line>,
    /// Every line, when `SIM_TRACE` names a file to write them to.
    file: Option<std::io::BufWriter<std::fs::File>>,
}

/// A line of the tail, written out only if it is printed.
#[derive(Debug)]
enum Line {
    Call {
        now_ms: i64,
        /// `<service>.<operation>`.
        call: String,
        body: Json,
        outcome: String,
    },
    Note(String),
}

impl std::fmt::Display for Line {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Line::Call {
                now_ms,
                call,
                body,
                outcome,
            } => write!(f, "{now_ms} {call} {body} -> {outcome}"),
            Line::Note(line) => f.write_str(line),
        }
    }
}

impl Default for Trace {
    fn default() -> Self {
        Trace {
            hash: FNV_OFFSET,
            lines: 0,
            tail: VecDeque::new(),
            file: std::env::var_os("SIM_TRACE").map(|p| {
                std::io::BufWriter::new(std::fs::File::create(p).expect("SIM_TRACE file"))
            }),
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a's step over eight bytes at a time, with a rotation so that high
/// bits reach low ones (the last word zero-padded, the length folded in
/// so that padding cannot alias): a run's trace is tens of megabytes, and
/// a byte at a time was a few percent of its time. Each step is a
/// bijection of the hash, so one changed word always changes it.
fn fold(mut hash: u64, bytes: &[u8]) -> u64 {
    let step = |h: u64, w: u64| (h ^ w).wrapping_mul(FNV_PRIME).rotate_left(23);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        hash = step(hash, u64::from_le_bytes(w.try_into().expect("eight bytes")));
    }
    let rest = words.remainder();
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    step(
        hash,
        u64::from_le_bytes(last) ^ ((bytes.len() as u64) << 56),
    )
}

/// A `Hasher` on the same fold: fast, and the same in every process
/// (the expression memo's keys).
pub struct Fold(u64);

impl Default for Fold {
    fn default() -> Self {
        Fold(FNV_OFFSET)
    }
}

impl std::hash::Hasher for Fold {
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fold(self.0, bytes);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A request as parsed JSON, folded in: objects in their keys' order
/// (`serde_json`'s maps are sorted, so the order in which the SDK wrote a
/// map does not change the hash), each part tagged with its kind.
fn fold_value(hash: u64, v: &Json) -> u64 {
    match v {
        Json::Null => fold(hash, b"z"),
        Json::Bool(b) => fold(hash, if *b { b"t" } else { b"f" }),
        Json::Number(n) => fold(fold(hash, b"n"), n.to_string().as_bytes()),
        Json::String(s) => fold(fold(hash, b"s"), s.as_bytes()),
        Json::Array(items) => items
            .iter()
            .fold(fold(hash, &items.len().to_le_bytes()), fold_value),
        Json::Object(map) => map
            .iter()
            .fold(fold(hash, &map.len().to_le_bytes()), |h, (k, v)| {
                fold_value(fold(h, k.as_bytes()), v)
            }),
    }
}

impl Trace {
    /// Records a call: its request as parsed JSON and its answer's text.
    pub fn record(&mut self, now_ms: i64, target: &str, op: &str, body: Json, outcome: &str) {
        let mut hash = fold(self.hash, &now_ms.to_le_bytes());
        hash = fold(fold(hash, target.as_bytes()), op.as_bytes());
        hash = fold_value(hash, &body);
        self.hash = fold(hash, outcome.as_bytes());
        // The line leaving the tail lends its strings to the new one.
        let (mut call, mut answer) = match self.room() {
            Some(Line::Call { call, outcome, .. }) => (call, outcome),
            _ => (String::new(), String::new()),
        };
        call.clear();
        call.extend([target, ".", op]);
        answer.clear();
        answer.push_str(outcome);
        self.push(Line::Call {
            now_ms,
            call,
            body,
            outcome: answer,
        });
    }

    /// Records an event of the simulation itself (a worker killed, a tick).
    pub fn note(&mut self, line: String) {
        self.hash = fold(self.hash, line.as_bytes());
        self.push(Line::Note(line));
    }

    /// Makes room in the tail for one more line: the line that leaves.
    fn room(&mut self) -> Option<Line> {
        if self.tail.len() < TAIL {
            return None;
        }
        self.tail.pop_front()
    }

    fn push(&mut self, line: Line) {
        self.lines += 1;
        if let Some(f) = &mut self.file {
            use std::io::Write;
            let _ = writeln!(f, "{line}");
        }
        self.room();
        self.tail.push_back(line);
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The last lines, written out.
    pub fn tail(&self) -> impl Iterator<Item = String> + '_ {
        self.tail.iter().map(Line::to_string)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::Trace;

    fn traced(calls: &[serde_json::Value]) -> Trace {
        let mut t = Trace::default();
        for (i, body) in calls.iter().enumerate() {
            t.record(i as i64, "S", "Op", body.into(), "{}");
        }
        t
    }

    /// The hash is of what was asked and answered, not of the order a
    /// map was written in; the tail shows each call whole.
    #[test]
    fn the_hash_follows_the_content_and_the_tail_shows_it() {
        let a = traced(&[json!({"a": 1, "b": ["x", "y"]})]);
        let same: serde_json::Value = serde_json::from_str(r#"{"b":["x","y"],"a":1}"#).unwrap();
        assert_eq!(a.hash(), traced(&[same]).hash());
        for other in [
            json!({"a": 1, "b": ["y", "x"]}),
            json!({"a": 2, "b": ["x", "y"]}),
            json!({"a": 1, "b": ["xy"]}),
            json!({"a": "1", "b": ["x", "y"]}),
        ] {
            assert_ne!(a.hash(), traced(&[other]).hash());
        }
        let tail: Vec<String> = a.tail().collect();
        assert_eq!(tail, [r#"0 S.Op {"a":1,"b":["x","y"]} -> {}"#]);
    }
}

//! The trace of a run: every call and its answer, folded into a hash (two
//! runs of one seed must give the same hash, bit for bit) and the last
//! lines kept to print when a seed fails.

use std::collections::VecDeque;

use serde_json::Value;

/// Lines kept for a failing seed's report.
const TAIL: usize = 200;

#[derive(Debug)]
pub struct Trace {
    hash: u64,
    lines: u64,
    tail: VecDeque<String>,
    /// Every line, when `SIM_TRACE` names a file to write them to.
    file: Option<std::io::BufWriter<std::fs::File>>,
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

impl Trace {
    /// Records a call: its request as parsed JSON (whose objects keep
    /// their keys sorted, so the order in which the SDK wrote a map does
    /// not change the hash) and its answer's text.
    pub fn record(&mut self, now_ms: i64, target: &str, op: &str, body: &Value, outcome: &str) {
        let mut line = self.spare().into_bytes();
        {
            use std::io::Write;
            let _ = write!(line, "{now_ms} {target}.{op} ");
        }
        serde_json::to_writer(&mut line, body).expect("JSON writes to memory");
        line.extend_from_slice(b" -> ");
        line.extend_from_slice(outcome.as_bytes());
        self.push(String::from_utf8(line).expect("JSON is UTF-8"));
    }

    /// Records an event of the simulation itself (a worker killed, a tick).
    pub fn note(&mut self, line: String) {
        self.push(line);
    }

    /// A line's buffer: the oldest one of a full tail, emptied, so that a
    /// long run does not allocate a line per call.
    fn spare(&mut self) -> String {
        if self.tail.len() == TAIL {
            let mut line = self.tail.pop_front().unwrap_or_default();
            line.clear();
            line
        } else {
            String::with_capacity(256)
        }
    }

    fn push(&mut self, line: String) {
        self.hash = fold(self.hash, line.as_bytes());
        self.lines += 1;
        if let Some(f) = &mut self.file {
            use std::io::Write;
            let _ = writeln!(f, "{line}");
        }
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(line);
    }

    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    pub fn tail(&self) -> impl Iterator<Item = &String> {
        self.tail.iter()
    }
}

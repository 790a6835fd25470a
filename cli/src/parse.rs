//! Argument parsers: durations, times, states, JSON.

use std::time::Duration;

use chrono::{DateTime, Utc};
use hangar::{Misfire, State};

/// A concurrency limit `KEY=N`.
pub fn concurrency(s: &str) -> Result<(String, u32), String> {
    let bad = || format!("{s:?} is not a concurrency limit (use KEY=N, e.g. db=2)");
    let (key, n) = s.split_once('=').ok_or_else(bad)?;
    Ok((key.trim().to_owned(), n.trim().parse().map_err(|_| bad())?))
}

/// A debounce `KEY=WAIT/MAX_WAIT`.
pub fn debounce(s: &str) -> Result<(String, Duration, Duration), String> {
    let bad = || format!("{s:?} is not a debounce (use KEY=WAIT/MAX_WAIT, e.g. sync-42=30s/5m)");
    let (key, rest) = s.split_once('=').ok_or_else(bad)?;
    let (wait, max_wait) = rest.split_once('/').ok_or_else(bad)?;
    Ok((key.trim().to_owned(), duration(wait)?, duration(max_wait)?))
}

/// How long a unique job holds its key: `started` or `finished`.
pub fn unique_until(s: &str) -> Result<hangar::UniqueUntil, String> {
    hangar::UniqueUntil::parse(s.trim()).map_err(|e| e.to_string())
}

/// A job parameter `NAME=VALUE`.
pub fn param(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not a parameter (use NAME=VALUE)"))?;
    Ok((name.trim().to_owned(), value.to_owned()))
}

/// A rate limit `KEY=N/PERIOD`, e.g. `stripe=25/1s`.
pub fn rate(s: &str) -> Result<(String, u32, Duration), String> {
    let bad = || format!("{s:?} is not a rate limit (use KEY=N/PERIOD, e.g. stripe=25/1s)");
    let (key, rest) = s.split_once('=').ok_or_else(bad)?;
    let (n, per) = rest.split_once('/').ok_or_else(bad)?;
    let n: u32 = n.trim().parse().map_err(|_| bad())?;
    Ok((key.trim().to_owned(), n, duration(per)?))
}

/// How many jobs to create: 1 or more.
pub fn count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("{s:?} is not a count of jobs (use 1 or more)")),
    }
}

/// `90`, `30s`, `10m`, `2h`, `1d`, or a combination such as `1h30m`.
pub fn duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (use e.g. 30s, 10m, 2h, 1d, 1h30m)");
    let s = s.trim();
    if s.is_empty() {
        return Err(bad());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = 0u64;
    let mut digits = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = digits.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// An RFC 3339 instant with offset.
pub fn time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| format!("{s:?} is not an RFC 3339 time such as 2026-01-01T09:00:00Z ({e})"))
}

/// A job state, any case.
pub fn state(s: &str) -> Result<State, String> {
    let lower = s.trim().to_ascii_lowercase();
    State::ALL
        .into_iter()
        .find(|st| st.as_str().to_ascii_lowercase() == lower)
        .ok_or_else(|| {
            let names: Vec<String> = State::ALL
                .iter()
                .map(|st| st.as_str().to_ascii_lowercase())
                .collect();
            format!("{s:?} is not a state; use one of {}", names.join(", "))
        })
}

/// A misfire policy, any case.
pub fn misfire(s: &str) -> Result<Misfire, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "relaxed" => Ok(Misfire::Relaxed),
        "strict" => Ok(Misfire::Strict),
        "ignorable" => Ok(Misfire::Ignorable),
        _ => Err(format!("{s:?}: use relaxed, strict or ignorable")),
    }
}

pub fn json(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(s).map_err(|e| format!("not valid JSON ({e})"))
}

/// Job requests: one JSON object per line, or one JSON array of them.
pub fn job_requests(text: &str) -> Result<Vec<serde_json::Value>, String> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        return match serde_json::from_str::<serde_json::Value>(trimmed) {
            Ok(serde_json::Value::Array(items)) => Ok(items),
            Ok(_) => Err("expected a JSON array of job requests".to_owned()),
            Err(e) => Err(format!("job requests are not a JSON array: {e}")),
        };
    }
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("line {}: not JSON: {e}", i + 1)))
        .collect()
}

/// A job request given on the command line: a JSON object, or a bare kind.
pub fn job_request(s: &str) -> Result<serde_json::Value, String> {
    if s.trim_start().starts_with('{') {
        serde_json::from_str(s).map_err(|e| format!("{s:?} is not a JSON job request: {e}"))
    } else {
        Ok(serde_json::json!({ "kind": s }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(count("3"), Ok(3));
        for bad in ["0", "-1", "many", ""] {
            assert_eq!(
                count(bad),
                Err(format!("{bad:?} is not a count of jobs (use 1 or more)"))
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(duration("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "h", "10x", "5m3", "-1s", "99999999999999999999d"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn states_and_policies() {
        assert_eq!(state("failed"), Ok(State::Failed));
        assert_eq!(state("Processing"), Ok(State::Processing));
        assert!(state("done").unwrap_err().contains("enqueued"));
        assert_eq!(misfire("STRICT"), Ok(Misfire::Strict));
        assert!(misfire("sometimes").is_err());
    }

    proptest::proptest! {
        /// Any text is a duration or a clear refusal, never a panic; a
        /// duration written as days, hours, minutes and seconds reads back.
        #[test]
        fn durations_from_anywhere(text in "\\PC{0,30}") {
            if let Err(e) = duration(&text) {
                proptest::prop_assert!(e.contains("is not a duration"), "{}", e);
            }
        }

        #[test]
        fn durations_round_trip(d in 0u64..100, h in 0u64..100, m in 0u64..1000, s in 0u64..100_000) {
            let text = format!("{d}d{h}h{m}m{s}s");
            proptest::prop_assert_eq!(
                duration(&text),
                Ok(Duration::from_secs(d * 86_400 + h * 3600 + m * 60 + s))
            );
        }
    }
}

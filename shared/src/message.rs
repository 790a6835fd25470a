//! What travels through SQS: a wake-up call naming a job and the version it
//! was sent for (design invariant 2), never the job itself.

use serde::{Deserialize, Serialize};

use crate::job::JobId;
use crate::state::State;

/// The `hangar` field of a wake-up message.
pub const WAKE_UP_FORMAT: u32 = 1;

/// A wake-up call: "job `job` at version `v` may be ready to run".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeUp {
    /// Always [`WAKE_UP_FORMAT`]; tells a wake-up apart from other bodies.
    pub hangar: u32,
    /// The job.
    pub job: JobId,
    /// The job's version when the message was sent.
    pub v: u64,
    /// The job's state at that version (Enqueued or Scheduled), which picks
    /// the claim the worker tries first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<State>,
    /// The job's timeout in seconds, so the claim can set the right lease
    /// without reading the job first.
    #[serde(default, rename = "t", skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<u64>,
    /// The job's rate limit, so the worker reserves its start before the
    /// claim, without reading the job.
    #[serde(default, rename = "r", skip_serializing_if = "Option::is_none")]
    pub rate: Option<crate::job::RateLimit>,
    /// The start of the rate-limit window reserved for this start (epoch
    /// ms): the worker claims when it has come, without reserving again.
    #[serde(default, rename = "s", skip_serializing_if = "Option::is_none")]
    pub slot: Option<i64>,
    /// The job's concurrency limit, so the worker takes a slot before the
    /// claim, without reading the job.
    #[serde(default, rename = "c", skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<crate::job::ConcurrencyLimit>,
    /// An ordered job's key and place in its sequence.
    #[serde(default, rename = "o", skip_serializing_if = "Option::is_none")]
    pub order: Option<OrderSlot>,
}

/// An ordered job's key and sequence number, carried by its wake-ups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSlot {
    /// The ordering key.
    #[serde(rename = "k")]
    pub key: String,
    /// The job's place in the key's sequence.
    #[serde(rename = "s")]
    pub seq: u64,
}

impl OrderSlot {
    /// The slot of a job, if it is ordered.
    pub fn of(job: &crate::job::JobRecord) -> Option<Self> {
        Some(OrderSlot {
            key: job.options.ordered.clone()?,
            seq: job.sequence?,
        })
    }
}

impl WakeUp {
    /// A wake-up for a job at a version and state.
    pub fn new(job: JobId, v: u64, state: State) -> Self {
        WakeUp {
            hangar: WAKE_UP_FORMAT,
            job,
            v,
            state: Some(state),
            timeout_s: None,
            rate: None,
            slot: None,
            concurrency: None,
            order: None,
        }
    }

    /// The wake-up for a job as just written.
    pub fn for_job(job: &crate::job::JobRecord) -> Self {
        WakeUp {
            timeout_s: Some(job.options.timeout.as_secs()),
            rate: job.options.rate.clone(),
            concurrency: job.options.concurrency.clone(),
            order: OrderSlot::of(job),
            ..Self::new(job.id.clone(), job.version, job.state)
        }
    }

    /// The message body.
    pub fn to_body(&self) -> String {
        serde_json::to_string(self).expect("wake-up serializes")
    }
}

/// What a message body turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A Hangar wake-up call.
    WakeUp(WakeUp),
    /// Not something Hangar can act on; the reason says why.
    Invalid(String),
}

/// Classifies a message body.
pub fn parse_body(body: &str) -> Body {
    let value: serde_json::Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Body::Invalid(format!("message body is not JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return Body::Invalid("message body is JSON but not an object".to_owned());
    };
    match obj.get("hangar") {
        Some(serde_json::Value::Number(n)) if n.as_u64() == Some(u64::from(WAKE_UP_FORMAT)) => {
            match serde_json::from_value::<WakeUp>(value.clone()) {
                Ok(w) => match JobId::parse(w.job.as_str()) {
                    Ok(_) => Body::WakeUp(w),
                    Err(e) => Body::Invalid(format!("wake-up message: {e}")),
                },
                Err(e) => Body::Invalid(format!("wake-up message is malformed: {e}")),
            }
        }
        Some(other) => Body::Invalid(format!(
            "unsupported hangar message format {other} (this worker reads format {WAKE_UP_FORMAT})"
        )),
        None => Body::Invalid(
            "message body has no \"hangar\" field; it is not a Hangar message".to_owned(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_up_round_trips() {
        let w = WakeUp::new(JobId::generate(), 7, State::Scheduled);
        assert_eq!(parse_body(&w.to_body()), Body::WakeUp(w));
    }

    #[test]
    fn a_wake_up_without_state_is_accepted() {
        let body = r#"{"hangar":1,"job":"abc","v":3}"#;
        match parse_body(body) {
            Body::WakeUp(w) => {
                assert_eq!(
                    (w.job.as_str(), w.v, w.state, w.timeout_s),
                    ("abc", 3, None, None)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn everything_else_is_invalid_with_a_reason() {
        let cases = [
            ("not json", "not JSON"),
            ("[1,2]", "not an object"),
            (r#"{"kind":"x"}"#, "no \"hangar\" field"),
            (
                r#"{"hangar":2,"job":"a","v":1}"#,
                "unsupported hangar message format 2",
            ),
            (r#"{"hangar":1,"job":"a"}"#, "malformed"),
            (r#"{"hangar":1,"job":"a b","v":1}"#, "job id"),
        ];
        for (body, want) in cases {
            match parse_body(body) {
                Body::Invalid(reason) => assert!(reason.contains(want), "{body}: {reason}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}

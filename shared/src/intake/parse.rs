//! Reading a body: a wake-up, a job or batch request in any of its
//! envelopes, or a clear reason why it is neither.

use chrono::DateTime;
use serde_json::Value;

use super::*;

/// Reads a message body (and its `hangar-kind` attribute, if any).
pub fn parse_message(body: &str, kind_attribute: Option<&str>) -> Message {
    if let Some(kind) = kind_attribute {
        let args = serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
        let intake = Intake {
            hangar_intake: INTAKE_FORMAT,
            kind: kind.to_owned(),
            args,
            queue: None,
            delay_seconds: None,
            run_at: None,
            idempotency_key: None,
            retries: None,
            timeout_seconds: None,
            start_within_seconds: None,
            concurrency: None,
            ordered: None,
            rate: None,
            params: None,
            tags: None,
            traceparent: None,
            unique: None,
            debounce: None,
        };
        return match intake.validate() {
            Ok(()) => Message::Intake(Box::new(intake), Envelope::KindAttribute),
            Err(e) => Message::Invalid(format!("{KIND_ATTRIBUTE} attribute: {e}")),
        };
    }
    let value: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => return Message::Invalid(format!("message body is not JSON: {e}")),
    };
    from_value(value, Envelope::Body, 0)
}

pub(super) fn from_value(value: Value, envelope: Envelope, depth: u8) -> Message {
    let Some(obj) = value.as_object() else {
        return Message::Invalid(format!("{} is JSON but not an object", what(envelope)));
    };
    if obj.contains_key("hangar") && envelope == Envelope::Body {
        return match parse_body(&value.to_string()) {
            Body::WakeUp(w) => Message::WakeUp(w),
            Body::Invalid(reason) => Message::Invalid(reason),
        };
    }
    if obj.contains_key("hangar_intake") {
        return intake(value, envelope);
    }
    if obj.contains_key("hangar_batch") {
        return batch(value, envelope);
    }
    // SNS notification (not raw delivery): the payload is the `Message`
    // string. Only `Type` and `Message` are required.
    if depth == 0 && obj.get("Type").and_then(Value::as_str) == Some("Notification") {
        let Some(message) = obj.get("Message").and_then(Value::as_str) else {
            return Message::Invalid(
                "SNS notification without a string \"Message\" field".to_owned(),
            );
        };
        return match serde_json::from_str(message) {
            Ok(inner) => from_value(inner, Envelope::Sns, depth + 1),
            Err(e) => Message::Invalid(format!("SNS notification's Message is not JSON: {e}")),
        };
    }
    // EventBridge event: `detail` plus `detail-type` or `source`; `account`,
    // `region`, `time`, `id` may be missing.
    if obj.contains_key("detail") && (obj.contains_key("detail-type") || obj.contains_key("source"))
    {
        let detail = obj["detail"].clone();
        if !detail.is_object() {
            return Message::Invalid("EventBridge event's detail is not an object".to_owned());
        }
        if detail.get("hangar_batch").is_some() {
            return batch(detail, Envelope::EventBridge);
        }
        if detail.get("hangar_intake").is_none() {
            return Message::Invalid(
                "EventBridge event's detail has no \"hangar_intake\" field; shape it with an input transformer (see docs/intake.md)"
                    .to_owned(),
            );
        }
        return intake(detail, Envelope::EventBridge);
    }
    Message::Invalid(format!(
        "{} has neither \"hangar\" (a wake-up) nor \"hangar_intake\" (a job request) nor \"hangar_batch\" (a batch request, see docs/intake.md)",
        what(envelope)
    ))
}

pub(super) fn what(envelope: Envelope) -> &'static str {
    match envelope {
        Envelope::Sns => "SNS notification's Message",
        Envelope::EventBridge => "EventBridge event's detail",
        _ => "message body",
    }
}

/// A refusal of a request found inside an envelope names the envelope.
pub(super) fn refused(envelope: Envelope, reason: String) -> Message {
    Message::Invalid(match envelope {
        Envelope::Sns | Envelope::EventBridge => format!("{}: {reason}", what(envelope)),
        _ => reason,
    })
}

pub(super) fn intake(value: Value, envelope: Envelope) -> Message {
    let refused = |reason| refused(envelope, reason);
    match value.get("hangar_intake") {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(INTAKE_FORMAT)) => {}
        Some(other) => {
            return refused(format!(
                "unknown intake format version {other} (this worker reads version {INTAKE_FORMAT})"
            ));
        }
        None => unreachable!("checked by the caller"),
    }
    if let Some(reason) = field_type_error(&value) {
        return refused(format!("job request: {reason}"));
    }
    let intake: Intake = match serde_json::from_value(value) {
        Ok(i) => i,
        Err(e) => return refused(format!("job request: {e}")),
    };
    match intake.validate() {
        Ok(()) => Message::Intake(Box::new(intake), envelope),
        Err(e) => refused(format!("job request: {e}")),
    }
}

pub(super) fn batch(value: Value, envelope: Envelope) -> Message {
    match parse_batch(value) {
        Ok(b) => Message::Batch(Box::new(b), envelope),
        Err(reason) => refused(envelope, format!("batch request: {reason}")),
    }
}

pub(super) fn parse_batch(value: Value) -> std::result::Result<IntakeBatch, String> {
    let Value::Object(mut obj) = value else {
        unreachable!("checked by the caller")
    };
    match obj.remove("hangar_batch") {
        Some(Value::Number(n)) if n.as_u64() == Some(u64::from(BATCH_FORMAT)) => {}
        Some(other) => {
            return Err(format!(
                "unknown batch format version {other} (this worker reads version {BATCH_FORMAT})"
            ));
        }
        None => unreachable!("checked by the caller"),
    }
    let string = |obj: &mut serde_json::Map<String, Value>, field: &str| match obj.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(format!("{field} must be a string, not {other}")),
    };
    let description = string(&mut obj, "description")?;
    if let Some(d) = description
        .as_ref()
        .filter(|d| d.len() > crate::batch::MAX_DESCRIPTION)
    {
        return Err(format!(
            "description is {} bytes; at most {}",
            d.len(),
            crate::batch::MAX_DESCRIPTION
        ));
    }
    let idempotency_key = string(&mut obj, "idempotency_key")?;
    if let Some(key) = &idempotency_key {
        check_idempotency_key(key).map_err(|e| e.to_string())?;
    }
    let list = |obj: &mut serde_json::Map<String, Value>, field: &str| match obj.remove(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!("{field} must be an array, not {other}")),
    };
    let jobs = list(&mut obj, "jobs")?;
    let continuations = list(&mut obj, "continuations")?;
    if let Some(field) = obj.keys().next() {
        return Err(format!(
            "unknown field `{field}`, expected one of `hangar_batch`, `description`, `idempotency_key`, `jobs`, `continuations`"
        ));
    }
    if jobs.is_empty() || jobs.len() > crate::batch::MAX_BATCH_JOBS {
        return Err(format!(
            "{} jobs; a batch has 1 to {}",
            jobs.len(),
            crate::batch::MAX_BATCH_JOBS
        ));
    }
    let member = |i: usize, what: &str, value: Value| -> std::result::Result<Intake, String> {
        let Value::Object(mut fields) = value else {
            return Err(format!("{what} {i} is not an object"));
        };
        for own in ["hangar_intake", "idempotency_key"] {
            if fields.contains_key(own) {
                return Err(format!(
                    "{what} {i}: `{own}` belongs to the batch, not its jobs"
                ));
            }
        }
        fields.insert("hangar_intake".to_owned(), Value::from(INTAKE_FORMAT));
        match intake(Value::Object(fields), Envelope::Body) {
            Message::Intake(job, _) => Ok(*job),
            Message::Invalid(reason) => Err(format!(
                "{what} {i}: {}",
                reason.trim_start_matches("job request: ")
            )),
            _ => unreachable!("a request parses as a request"),
        }
    };
    let jobs = jobs
        .into_iter()
        .enumerate()
        .map(|(i, v)| member(i + 1, "job", v))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let continuations = continuations
        .into_iter()
        .enumerate()
        .map(|(i, mut v)| {
            let on = match v.as_object_mut().and_then(|o| o.remove("on")) {
                None | Some(Value::Null) => crate::job::ContinueOn::Succeeded,
                Some(Value::String(s)) if s == "succeeded" => crate::job::ContinueOn::Succeeded,
                Some(Value::String(s)) if s == "any_finished" => {
                    crate::job::ContinueOn::AnyFinished
                }
                Some(other) => {
                    return Err(format!(
                        "continuation {}: on must be \"succeeded\" or \"any_finished\", not {other}",
                        i + 1
                    ));
                }
            };
            let job = member(i + 1, "continuation", v)?;
            if job.ordered.is_some() {
                return Err(format!(
                    "continuation {}: a continuation cannot be ordered",
                    i + 1
                ));
            }
            Ok((job, on))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(IntakeBatch {
        description,
        idempotency_key,
        jobs,
        continuations,
    })
}

/// Names the field whose JSON type is wrong (serde's message does not).
pub(super) fn field_type_error(value: &Value) -> Option<String> {
    let obj = value.as_object()?;
    for (field, v) in obj {
        let problem = match field.as_str() {
            "kind" | "queue" | "idempotency_key" if !v.is_string() && !v.is_null() => {
                "must be a string"
            }
            "delay_seconds" | "start_within_seconds" | "timeout_seconds"
                if !v.is_u64() && !v.is_null() =>
            {
                "must be a whole number of seconds, 0 or more"
            }
            "retries" if v.as_u64().is_none_or(|n| n > u64::from(u32::MAX)) && !v.is_null() => {
                "must be a whole number, 0 or more"
            }
            "run_at"
                if !v.is_null()
                    && v.as_str()
                        .is_none_or(|t| DateTime::parse_from_rfc3339(t).is_err()) =>
            {
                "must be an RFC 3339 time such as 2026-01-01T09:00:00Z"
            }
            _ => continue,
        };
        return Some(format!("{field} {problem}, not {v}"));
    }
    None
}

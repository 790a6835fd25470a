//! Trace context from a job's creation to its runs: the creating span's
//! W3C `traceparent` travels with the job (stored in its creation write,
//! no extra request), and each run's span (`hangar.run`) carries it and,
//! with the `otel` feature, links to it: a link rather than a parent, as
//! a delayed job's run can come hours after the trace that made it ended.
//!
//! Where the context comes from, first found: [`crate::NewJob::traceparent`];
//! with `otel`, the current `tracing` span's OpenTelemetry context; for an
//! intake message, its `traceparent` field or message attribute, or the
//! `AWSTraceHeader` SQS adds when the sender is traced by X-Ray.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The message attribute a producer can put a `traceparent` in.
pub const TRACEPARENT_ATTRIBUTE: &str = "traceparent";

/// The SQS system attribute holding a traced sender's X-Ray header (the
/// worker reads it into [`crate::Delivery::attributes`] under this name).
pub const AWS_TRACE_HEADER: &str = "AWSTraceHeader";

/// A W3C trace context: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TraceParent(String);

impl TraceParent {
    /// Checks a `traceparent` header value (version 00; ids not all zero).
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        let parts: Vec<&str> = s.split('-').collect();
        let hex = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit());
        let ok = matches!(parts.as_slice(), [v, t, p, f]
            if *v == "00" && hex(t, 32) && hex(p, 16) && hex(f, 2)
                && t.bytes().any(|b| b != b'0') && p.bytes().any(|b| b != b'0'));
        if ok {
            Ok(TraceParent(s))
        } else {
            Err(Error::invalid(
                "traceparent",
                format!("{s:?} (use the W3C form 00-<32 hex>-<16 hex>-<2 hex>)"),
            ))
        }
    }

    /// From X-Ray's trace header (`Root=1-<8 hex>-<24 hex>;Parent=<16
    /// hex>;Sampled=1`), as SQS passes it in the `AWSTraceHeader` system
    /// attribute: X-Ray's trace id is the W3C one with its dashes removed.
    pub fn from_xray(header: &str) -> Option<Self> {
        let field = |name: &str| {
            header
                .split(';')
                .filter_map(|kv| kv.trim().split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        };
        let root = field("Root")?.strip_prefix("1-")?.replace('-', "");
        let sampled = if field("Sampled") == Some("1") {
            "01"
        } else {
            "00"
        };
        TraceParent::parse(&format!("00-{root}-{}-{sampled}", field("Parent")?)).ok()
    }

    /// The 32 hex digits of the trace id.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    /// The 16 hex digits of the parent span's id.
    pub fn span_id(&self) -> &str {
        &self.0[36..52]
    }

    /// The trace flags (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        u8::from_str_radix(&self.0[53..55], 16).expect("checked by parse")
    }

    /// Whether the sender sampled the trace.
    pub fn sampled(&self) -> bool {
        self.flags() & 1 == 1
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The current span's context, with the `otel` feature and a valid
    /// OpenTelemetry context on the current `tracing` span.
    pub fn current() -> Option<Self> {
        #[cfg(feature = "otel")]
        {
            use opentelemetry::trace::TraceContextExt;
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            let cx = tracing::Span::current().context();
            let span = cx.span();
            let sc = span.span_context();
            if sc.is_valid() {
                return TraceParent::parse(&format!(
                    "00-{}-{}-{:02x}",
                    sc.trace_id(),
                    sc.span_id(),
                    sc.trace_flags().to_u8()
                ))
                .ok();
            }
        }
        None
    }

    /// Links `span` to this context (with the `otel` feature; a no-op
    /// without).
    pub fn link(&self, span: &tracing::Span) {
        #[cfg(feature = "otel")]
        {
            use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
            use tracing_opentelemetry::OpenTelemetrySpanExt;
            let (Ok(trace), Ok(id)) = (
                TraceId::from_hex(self.trace_id()),
                SpanId::from_hex(self.span_id()),
            ) else {
                return;
            };
            let flags = TraceFlags::new(self.flags());
            let cx = SpanContext::new(trace, id, flags, true, TraceState::NONE);
            span.add_link(cx);
        }
        #[cfg(not(feature = "otel"))]
        let _ = span;
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TraceParent {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        TraceParent::parse(&s)
    }
}

impl From<TraceParent> for String {
    fn from(t: TraceParent) -> String {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_is_read_in_its_w3c_form_only() {
        let t = TraceParent::parse(TP).unwrap();
        assert_eq!(t.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.span_id(), "00f067aa0ba902b7");
        assert!(t.sampled());
        // Bit 0 is the sampled flag, whatever the others.
        let with = |f: &str| TraceParent::parse(&format!("{}{f}", &TP[..53])).unwrap();
        assert!(with("05").sampled() && with("ff").sampled());
        assert!(!with("00").sampled() && !with("02").sampled());
        assert_eq!(TraceParent::parse(&TP.to_uppercase()).unwrap(), t);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
        ] {
            assert!(TraceParent::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_xray_header_becomes_the_same_trace() {
        let h = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let t = TraceParent::from_xray(h).unwrap();
        assert_eq!(
            t.as_str(),
            "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"
        );
        let unsampled =
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
        assert!(!TraceParent::from_xray(unsampled).unwrap().sampled());
        assert_eq!(
            TraceParent::from_xray("Root=1-5759e988-bd862e3fe1be46a994272793"),
            None
        );
        assert_eq!(TraceParent::from_xray("nonsense"), None);
    }
}

//! Reading a request's input: JSON bodies, whole numbers in them, and
//! sizes and positions that must lie in a range.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON request body: no body at all reads as `{}`; anything else must be
/// a JSON object sent as `application/json`, with no field null (leave a
/// field out instead). Every refusal is a 400 naming what is wrong (a body
/// over axum's size limit stays a 413).
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(|v| v.trim().to_ascii_lowercase())
            .is_some_and(|v| v == "application/json" || v.ends_with("+json"));
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError {
                status: e.status(),
                message: format!("body: {}", e.body_text()),
            })?;
        let bytes = if bytes.is_empty() {
            Bytes::from_static(b"{}")
        } else if json {
            bytes
        } else {
            return Err(ApiError::bad(
                "body: send JSON with the header content-type: application/json",
            ));
        };
        let Json(value) = Json::<serde_json::Value>::from_bytes(&bytes)
            .map_err(|e| ApiError::bad(format!("body: {}", e.body_text())))?;
        if let Some((name, _)) = value
            .as_object()
            .and_then(|o| o.iter().find(|(_, v)| v.is_null()))
        {
            return Err(ApiError::bad(format!(
                "body: {name} is null; leave it out instead"
            )));
        }
        serde_json::from_value(value)
            .map(Body)
            .map_err(|e| ApiError::bad(format!("body: {e}")))
    }
}

/// A count in a JSON body: an integer, written `5` or `5.0` (JSON Schema's
/// integers include numbers with no fraction).
pub(super) fn whole<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    match (n.as_u64(), n.as_f64()) {
        (Some(u), _) => Ok(Some(u)),
        (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => {
            Ok(Some(f as u64))
        }
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number of 0 or more"
        ))),
    }
}

/// A size or position from a query or body: `default` when not given, else
/// it must lie in `range`.
pub(super) fn bounded<N>(
    what: &str,
    given: Option<N>,
    default: N,
    range: std::ops::RangeInclusive<N>,
) -> Result<N, ApiError>
where
    N: PartialOrd + std::fmt::Display + Copy,
{
    let n = given.unwrap_or(default);
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::bad(format!(
            "{what} must be {} to {} ({n} given)",
            range.start(),
            range.end()
        )))
    }
}

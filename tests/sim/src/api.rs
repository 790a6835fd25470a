//! What a modelled API answers: a JSON body, or an error as AWS's JSON
//! protocols carry it.

use serde_json::{Map, Value};

/// An error answer: the HTTP status, the error code (the shape name, e.g.
/// `ConditionalCheckFailedException`), its message, and any other fields
/// the error carries (`Item` for `ReturnValuesOnConditionCheckFailure`,
/// `CancellationReasons` for a cancelled transaction).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
    pub fields: Map<String, Value>,
}

impl ApiError {
    /// A client error (HTTP 400) with a code and a message.
    pub fn client(code: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            code: code.to_owned(),
            message: message.into(),
            fields: Map::new(),
        }
    }

    /// `ValidationException`: a request AWS refuses as malformed.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::client("ValidationException", message)
    }

    /// The same error carrying one more field.
    pub fn with(mut self, field: &str, value: Value) -> Self {
        self.fields.insert(field.to_owned(), value);
        self
    }
}

/// An API's answer to one request.
pub type Answer = Result<Value, ApiError>;

/// An answer as it goes back: the JSON text (byte for byte what
/// `serde_json` writes for the [`Answer`] it stands for), or the error.
pub type Reply = Result<String, ApiError>;

/// An answer's JSON text.
pub fn reply(answer: Answer) -> Reply {
    answer.map(|v| serde_json::to_string(&v).expect("JSON writes to memory"))
}

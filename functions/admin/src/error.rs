//! What went wrong in a request, with its status: the API answers it as
//! `{"error": "..."}`, the dashboard as an error page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::cursor;

/// An error as the API answers it: a status and `{"error": "..."}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// What went wrong and what to do.
    pub message: String,
}

impl ApiError {
    /// A 400 with a message.
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }
}

impl From<hangar::Error> for ApiError {
    fn from(e: hangar::Error) -> Self {
        use hangar::Error as E;
        let status = match &e {
            E::NotFound { .. } | E::RecurringNotFound { .. } | E::BatchNotFound { .. } => {
                StatusCode::NOT_FOUND
            }
            E::InvalidTransition { .. } | E::Conflict { .. } | E::AlreadyExists { .. } => {
                StatusCode::CONFLICT
            }
            E::Invalid { .. } | E::Args { .. } | E::PayloadTooLarge { .. } => {
                StatusCode::BAD_REQUEST
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(error = %hangar::error::error_chain(&e), "admin request failed");
        }
        ApiError {
            status,
            message: e.to_string(),
        }
    }
}

impl From<cursor::CursorError> for ApiError {
    fn from(e: cursor::CursorError) -> Self {
        ApiError::bad(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            axum::Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

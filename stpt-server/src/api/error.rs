//! The one error response of the API: a status and `{"error", "detail"}`.
//!
//! The main type here is [`ApiError`]. Parse, validation and store errors convert into it, so
//! a handler returns `Result<_, ApiError>` and every failure has the same JSON shape. 4xx is
//! for the caller's mistakes; 5xx only for the server's own faults, which are logged.

use rocket::http::Status;
use rocket::request::Request;
use rocket::response::{self, Responder};
use rocket::serde::json::Json;
pub use stpt_core::wire::ErrorBody;
use stpt_core::{StoreError, WireError};

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: Status,
    /// Short machine-readable kind, e.g. `invalid_field`.
    pub error: &'static str,
    /// What went wrong, for people.
    pub detail: String,
    /// The offending field, when one is to blame.
    pub field: Option<String>,
}

impl ApiError {
    fn new(status: Status, error: &'static str, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            detail: detail.into(),
            field: None,
        }
    }

    /// 400: the request cannot be understood.
    pub fn bad_request(error: &'static str, detail: impl Into<String>) -> Self {
        ApiError::new(Status::BadRequest, error, detail)
    }

    /// 404: nothing is there.
    pub fn not_found(error: &'static str, detail: impl Into<String>) -> Self {
        ApiError::new(Status::NotFound, error, detail)
    }

    /// 409: the request does not fit the current state.
    pub fn conflict(error: &'static str, detail: impl Into<String>) -> Self {
        ApiError::new(Status::Conflict, error, detail)
    }

    /// 413: the body is over the configured limit.
    pub fn payload_too_large(limit: u64) -> Self {
        ApiError::new(
            Status::PayloadTooLarge,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    /// 503: try again shortly.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        ApiError::new(Status::ServiceUnavailable, "unavailable", detail)
    }

    /// 500: the server failed; the cause is logged, not shown.
    pub fn internal(context: &str, cause: &dyn std::fmt::Display) -> Self {
        tracing::error!("{context}: {cause}");
        ApiError::new(
            Status::InternalServerError,
            "internal",
            format!("{context}; the server log has the cause"),
        )
    }
}

impl From<WireError> for ApiError {
    fn from(err: WireError) -> Self {
        match err {
            WireError::MalformedJson { reason } => ApiError::bad_request(
                "malformed_json",
                format!("the body is not valid JSON: {reason}"),
            ),
            WireError::InvalidField { ref field, .. } => {
                let field = field.clone();
                ApiError {
                    field: Some(field),
                    ..ApiError::bad_request("invalid_field", err.to_string())
                }
            }
            WireError::UnknownKind => ApiError::bad_request("unknown_event", err.to_string()),
        }
    }
}

/// The one mapping of store errors to HTTP, used by the API, the pages (through
/// `PageError`) and the WebSocket handshakes: unknown machine or run → 404, an event that does
/// not fit the run → 409, busy → 503, anything else → 500. A 5xx is logged with its causes
/// and its text is not shown to the client.
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UnknownMachine { .. } => {
                ApiError::not_found("unknown_machine", err.to_string())
            }
            StoreError::UnknownRun { .. } => ApiError::not_found("unknown_run", err.to_string()),
            StoreError::UnknownTest { .. } => ApiError::not_found("unknown_test", err.to_string()),
            StoreError::RunAborted { .. } => ApiError::conflict("run_aborted", err.to_string()),
            StoreError::NoMatchingTest { .. } => {
                ApiError::conflict("no_matching_test", err.to_string())
            }
            StoreError::AttemptMismatch { .. } => {
                ApiError::conflict("attempt_mismatch", err.to_string())
            }
            StoreError::EventIdReused { .. } => {
                ApiError::conflict("event_id_reused", err.to_string())
            }
            StoreError::Busy { .. } => {
                tracing::error!("the store is busy: {}", DisplayChain(&err));
                ApiError::unavailable("the database is busy; retry shortly")
            }
            StoreError::Backend { .. } => {
                ApiError::internal("the store failed", &DisplayChain(&err))
            }
        }
    }
}

/// Shows an error with its sources, for the log.
pub(crate) struct DisplayChain<'a>(pub(crate) &'a dyn std::error::Error);

impl std::fmt::Display for DisplayChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

impl<'r> Responder<'r, 'static> for ApiError {
    fn respond_to(self, request: &'r Request<'_>) -> response::Result<'static> {
        let body = ErrorBody {
            error: self.error.to_owned(),
            detail: self.detail,
            field: self.field,
        };
        let mut response = Json(body).respond_to(request)?;
        response.set_status(self.status);
        Ok(response)
    }
}

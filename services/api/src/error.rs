use imgpipe_domain::PipelineError;
use lambda_http::http::StatusCode;
use tracing::{error, warn};

/// An error response: `{"error": {"code", "message"}}` with its HTTP status.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// The methods a 405 must list in its `Allow` header (RFC 9110).
    pub(crate) allow: Option<&'static str>,
    /// Seconds for a 429's `Retry-After` header.
    pub(crate) retry_after: Option<i64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            allow: None,
            retry_after: None,
        }
    }

    pub(crate) fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such image")
    }

    pub(crate) fn not_found_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(crate) fn method_not_allowed(allowed: &'static str) -> Self {
        Self {
            allow: Some(allowed),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("allowed: {allowed}"),
            )
        }
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<PipelineError> for ApiError {
    fn from(err: PipelineError) -> Self {
        // Details go to the log, not to the caller.
        match err.fault() {
            imgpipe_domain::Fault::Configuration => {
                error!(
                    fault = "configuration",
                    error = err.chain(),
                    "request failed on a backend call"
                )
            }
            _ => warn!(error = err.chain(), "request failed on a backend call"),
        }
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is busy; retry shortly",
        )
    }
}

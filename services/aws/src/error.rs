//! SDK errors -> the pipeline's faults, by error code and HTTP status, with the SDK error kept as the
//! cause (`PipelineError`'s source chain).
//!
//! - transient: throttling, timeouts, 5xx, dropped connections, expired credentials (Lambda refreshes
//!   them), S3's 409 for a conflicting conditional write;
//! - configuration: access denied, a missing table/queue/bucket, a request the service calls invalid, a
//!   request the SDK could not even build; any other 4xx.
//!
//! Conditions that a caller expects (DynamoDB's ConditionalCheckFailed, S3's NoSuchKey) are told apart by
//! the caller before it calls `classify`.

use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use imgpipe_domain::{Fault, PipelineError};

/// Error codes that mean "slow down or try again" whatever their HTTP status.
const TRANSIENT_CODES: &[&str] = &[
    "BandwidthLimitExceeded",
    "ConditionalRequestConflict",
    "EC2ThrottledException",
    "ExpiredToken",
    "ExpiredTokenException",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "KMSThrottlingException",
    "LimitExceededException",
    "PriorRequestNotComplete",
    "ProvisionedThroughputExceededException",
    "RequestExpired",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestTimeout",
    "RequestTimeoutException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "SlowDown",
    "ThrottledException",
    "Throttling",
    "ThrottlingException",
    "TooManyRequestsException",
    "TransactionInProgressException",
];

/// The fault an SDK error stands for.
pub fn fault_of<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Fault {
    match err {
        SdkError::ConstructionFailure(_) => Fault::Configuration,
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            fault_of_response(service.err().code(), status)
        }
        // Timeouts, connection failures, unparseable responses: the network or the service had a bad moment.
        _ => Fault::Transient,
    }
}

/// The fault of a service's error answer: its code first, then its status.
pub fn fault_of_response(code: Option<&str>, status: u16) -> Fault {
    if code.is_some_and(|code| TRANSIENT_CODES.contains(&code)) {
        return Fault::Transient;
    }
    match status {
        429 | 500..=599 => Fault::Transient,
        400..=499 => Fault::Configuration,
        _ => Fault::Transient,
    }
}

/// `err` as a pipeline error of its fault, keeping it as the cause. `operation` names the call
/// ("DynamoDB UpdateItem").
pub fn classify<E>(operation: &str, err: SdkError<E, HttpResponse>) -> PipelineError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match fault_of(&err) {
        Fault::Configuration => PipelineError::configuration(operation, err),
        // A service never answers with a permanent fault on its own: those are the caller's to decide.
        Fault::Transient | Fault::Permanent => PipelineError::transient_because(operation, err),
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    use super::*;

    fn service_error(code: &str, status: u16) -> SdkError<ErrorMetadata, HttpResponse> {
        let raw = HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(ErrorMetadata::builder().code(code).message("m").build(), raw)
    }

    #[test]
    fn throttles_and_server_errors_are_transient() {
        for (code, status) in [
            ("ThrottlingException", 400),
            ("ProvisionedThroughputExceededException", 400),
            ("SlowDown", 503),
            ("InternalError", 500),
            ("RequestTimeout", 400),
            ("ConditionalRequestConflict", 409),
            ("Whatever", 502),
            ("Whatever", 429),
        ] {
            assert_eq!(
                fault_of(&service_error(code, status)),
                Fault::Transient,
                "{code} {status}"
            );
        }
    }

    #[test]
    fn access_denied_missing_resources_and_invalid_requests_are_configuration_faults() {
        for (code, status) in [
            ("AccessDenied", 403),
            ("AccessDeniedException", 400),
            ("ResourceNotFoundException", 400),
            ("AWS.SimpleQueueService.NonExistentQueue", 400),
            ("QueueDoesNotExist", 400),
            ("NoSuchBucket", 404),
            ("ValidationException", 400),
            ("UnrecognizedClientException", 400),
        ] {
            assert_eq!(
                fault_of(&service_error(code, status)),
                Fault::Configuration,
                "{code} {status}"
            );
        }
    }

    #[test]
    fn network_failures_are_transient_and_unbuildable_requests_are_configuration() {
        let timeout: SdkError<ErrorMetadata, HttpResponse> = SdkError::timeout_error("read timed out");
        assert_eq!(fault_of(&timeout), Fault::Transient);
        let construction: SdkError<ErrorMetadata, HttpResponse> = SdkError::construction_failure("missing bucket");
        assert_eq!(fault_of(&construction), Fault::Configuration);
    }

    #[test]
    fn the_sdk_error_is_kept_as_the_cause() {
        let err = classify("SQS SendMessage", service_error("AccessDenied", 403));
        assert_eq!(err.fault(), Fault::Configuration);
        assert!(std::error::Error::source(&err).is_some());
        assert!(err.chain().starts_with("SQS SendMessage: "), "{}", err.chain());
    }
}

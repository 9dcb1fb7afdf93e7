//! What went wrong with one image, and what the pipeline does about it.
//!
//! Every failure is one of three faults. The fault decides the message's fate; the code is what a client
//! sees; the source chain is what an operator reads in the logs.
//!
//! | fault | examples | the message | the job |
//! |---|---|---|---|
//! | permanent | not an image, a decompression bomb, a truncated upload | deleted | `failed` with its code at once |
//! | transient | throttling, timeouts, 5xx, a dropped connection | left for SQS to redeliver | unchanged until a later delivery succeeds or SQS gives up |
//! | configuration | access denied, a missing table or queue, a request the service calls invalid | left for redelivery, like a transient fault | unchanged; logged as an error and counted (`configuration_faults`) |
//!
//! Configuration faults are retried rather than failed at once: IAM and newly created resources are
//! eventually consistent, so right after a deploy an `AccessDenied` often clears within a minute, and a
//! broken deploy fixed by the next one then loses no image. They stay distinguishable from throttles in
//! the logs and metrics, where an alarm on them fires at the first one.

use serde::{Deserialize, Serialize};

/// Any error type a fault can keep as its cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Stable, machine-readable reasons a job failed. Clients branch on these; never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The bytes are not any image format we recognise.
    NotAnImage,
    /// A recognised image format that the pipeline does not accept.
    UnsupportedFormat,
    /// The upload is larger than the configured byte limit.
    TooLarge,
    /// The image header declares more pixels than the configured limit (decompression bomb guard).
    TooManyPixels,
    /// The header was readable but the image data is damaged or truncated.
    CorruptImage,
    /// The upload disappeared before it could be processed.
    UploadMissing,
    /// A transient fault persisted through every allowed delivery; the message went to the DLQ.
    RetriesExhausted,
    /// A bug or misconfiguration on our side (for example the stored pixels have the wrong size).
    Internal,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 8] = [
        ErrorCode::NotAnImage,
        ErrorCode::UnsupportedFormat,
        ErrorCode::TooLarge,
        ErrorCode::TooManyPixels,
        ErrorCode::CorruptImage,
        ErrorCode::UploadMissing,
        ErrorCode::RetriesExhausted,
        ErrorCode::Internal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NotAnImage => "not_an_image",
            ErrorCode::UnsupportedFormat => "unsupported_format",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::TooManyPixels => "too_many_pixels",
            ErrorCode::CorruptImage => "corrupt_image",
            ErrorCode::UploadMissing => "upload_missing",
            ErrorCode::RetriesExhausted => "retries_exhausted",
            ErrorCode::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a failure must be handled (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Permanent,
    Transient,
    Configuration,
}

impl Fault {
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Permanent => "permanent",
            Fault::Transient => "transient",
            Fault::Configuration => "configuration",
        }
    }
}

/// Any failure while processing one image, classified by what the pipeline must do about it.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Retrying cannot help: the job ends `failed` with `code`. `message` is shown to the client, so it
    /// speaks of the image, never of our resources; the detail, if any, is the `source`.
    #[error("{code}: {message}")]
    Permanent {
        code: ErrorCode,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// Might succeed later (throttling, timeouts, 5xx, network): leave the message for SQS to redeliver.
    #[error("{context}")]
    Transient {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
    /// Our deployment is wrong (permissions, missing resources, invalid requests): retried, and alarmed.
    #[error("{context}")]
    Configuration {
        context: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl PipelineError {
    pub fn permanent(code: ErrorCode, message: impl Into<String>) -> Self {
        PipelineError::Permanent {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// A permanent failure whose client-facing `message` hides a more detailed cause.
    pub fn permanent_because(code: ErrorCode, message: impl Into<String>, source: impl Into<BoxError>) -> Self {
        PipelineError::Permanent {
            code,
            message: message.into(),
            source: Some(source.into()),
        }
    }

    pub fn transient(context: impl Into<String>) -> Self {
        PipelineError::Transient {
            context: context.into(),
            source: None,
        }
    }

    pub fn transient_because(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        PipelineError::Transient {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    pub fn configuration(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        PipelineError::Configuration {
            context: context.into(),
            source: Some(source.into()),
        }
    }

    pub fn fault(&self) -> Fault {
        match self {
            PipelineError::Permanent { .. } => Fault::Permanent,
            PipelineError::Transient { .. } => Fault::Transient,
            PipelineError::Configuration { .. } => Fault::Configuration,
        }
    }

    pub fn is_permanent(&self) -> bool {
        self.fault() == Fault::Permanent
    }

    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            PipelineError::Permanent { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The whole cause chain on one line, for logs: `context: cause: cause's cause`.
    pub fn chain(&self) -> String {
        chain(self)
    }
}

/// `error: its source: its source's source ...`, skipping a source whose text its parent already ends
/// with (many SDK errors repeat their cause in their own message).
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let part = cause.to_string();
        if !part.is_empty() && !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_stable_strings() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn classification() {
        assert!(PipelineError::permanent(ErrorCode::NotAnImage, "x").is_permanent());
        assert_eq!(PipelineError::transient("throttled").fault(), Fault::Transient);
        assert_eq!(PipelineError::transient("x").code(), None);
        let denied = PipelineError::configuration("S3 GetObject", std::io::Error::other("AccessDenied"));
        assert_eq!(denied.fault(), Fault::Configuration);
        assert_eq!(denied.code(), None);
    }

    #[test]
    fn causes_are_kept_and_shown_in_the_chain() {
        let io = std::io::Error::other("connection reset by peer");
        let err = PipelineError::transient_because("S3 GetObject", io);
        assert!(std::error::Error::source(&err).is_some(), "the cause is kept");
        assert_eq!(err.chain(), "S3 GetObject: connection reset by peer");
        // The client-facing text of a permanent failure does not carry its cause.
        let err = PipelineError::permanent_because(
            ErrorCode::UploadMissing,
            "the upload no longer exists",
            std::io::Error::other("s3://bucket-123456789012/uploads/x: NoSuchKey"),
        );
        assert_eq!(err.to_string(), "upload_missing: the upload no longer exists");
        assert!(err.chain().contains("NoSuchKey"));
    }
}

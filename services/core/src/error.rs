use serde::{Deserialize, Serialize};

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

/// Any failure while processing one image, classified by what the pipeline must do about it.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Retrying cannot help: mark the job failed with this code and drop the message.
    #[error("{code}: {message}")]
    Permanent { code: ErrorCode, message: String },
    /// Might succeed later (throttling, timeouts, 5xx): leave the message for SQS to redeliver.
    #[error("transient failure: {0}")]
    Transient(String),
}

impl PipelineError {
    pub fn permanent(code: ErrorCode, message: impl Into<String>) -> Self {
        PipelineError::Permanent {
            code,
            message: message.into(),
        }
    }

    pub fn transient(message: impl Into<String>) -> Self {
        PipelineError::Transient(message.into())
    }

    pub fn is_permanent(&self) -> bool {
        matches!(self, PipelineError::Permanent { .. })
    }

    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            PipelineError::Permanent { code, .. } => Some(*code),
            PipelineError::Transient(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_their_stable_strings() {
        for code in [
            ErrorCode::NotAnImage,
            ErrorCode::UnsupportedFormat,
            ErrorCode::TooLarge,
            ErrorCode::TooManyPixels,
            ErrorCode::CorruptImage,
            ErrorCode::UploadMissing,
            ErrorCode::RetriesExhausted,
            ErrorCode::Internal,
        ] {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{}\"", code.as_str()));
        }
    }

    #[test]
    fn classification() {
        assert!(PipelineError::permanent(ErrorCode::NotAnImage, "x").is_permanent());
        assert!(!PipelineError::transient("throttled").is_permanent());
        assert_eq!(PipelineError::transient("x").code(), None);
    }
}

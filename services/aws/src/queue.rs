//! The inference queue over SQS, as preprocess sees it: the request as the JSON body, the pixels in the
//! `PIXELS_ATTRIBUTE` binary attribute.

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::MessageAttributeValue;
use imgpipe_domain::messages::{InferenceRequest, MAX_SQS_MESSAGE_BYTES, PIXELS_ATTRIBUTE};
use imgpipe_domain::ports::InferenceQueue;
use imgpipe_domain::{ErrorCode, PipelineError};

use crate::error::classify;

#[derive(Clone, Debug)]
pub struct SqsInferenceQueue {
    sqs: aws_sdk_sqs::Client,
}

impl SqsInferenceQueue {
    pub fn new(sqs: aws_sdk_sqs::Client) -> Self {
        Self { sqs }
    }
}

impl InferenceQueue for SqsInferenceQueue {
    async fn send(&self, queue_url: &str, request: &InferenceRequest, pixels: Vec<u8>) -> Result<(), PipelineError> {
        send(&self.sqs, queue_url, request, pixels).await
    }
}

async fn send(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    request: &InferenceRequest,
    pixels: Vec<u8>,
) -> Result<(), PipelineError> {
    let body = serde_json::to_string(request)
        .map_err(|e| PipelineError::permanent_because(ErrorCode::Internal, "the image could not be queued", e))?;
    check_message_size(&body, &pixels)?;
    let pixels = MessageAttributeValue::builder()
        .data_type("Binary")
        .binary_value(Blob::new(pixels))
        .build()
        .map_err(|e| PipelineError::configuration("building the pixels attribute", e))?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .message_attributes(PIXELS_ATTRIBUTE, pixels)
        .send()
        .await
        .map_err(|e| classify("SQS SendMessage", e))?;
    Ok(())
}

/// SQS counts the body, each attribute's name, type and value. Checked here because an emulator may
/// accept what SQS refuses; the cold-start check (`pixels_fit_in_a_message`) makes this unreachable with
/// a model that fits.
fn check_message_size(body: &str, pixels: &[u8]) -> Result<(), PipelineError> {
    let size = body.len() + PIXELS_ATTRIBUTE.len() + "Binary".len() + pixels.len();
    if size > MAX_SQS_MESSAGE_BYTES {
        return Err(PipelineError::permanent_because(
            ErrorCode::Internal,
            "the image could not be queued for the model",
            format!("the inference message would be {size} bytes; SQS takes at most {MAX_SQS_MESSAGE_BYTES}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_over_the_sqs_limit_is_refused_before_sending() {
        let body = "x".repeat(100);
        let fits = MAX_SQS_MESSAGE_BYTES - body.len() - PIXELS_ATTRIBUTE.len() - "Binary".len();
        assert!(check_message_size(&body, &vec![0; fits]).is_ok());
        let err = check_message_size(&body, &vec![0; fits + 1]).unwrap_err();
        assert_eq!(err.code(), Some(ErrorCode::Internal));
        assert!(err.is_permanent(), "retrying cannot make it fit");
    }
}

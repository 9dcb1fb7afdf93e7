//! The inference queue, as preprocess sees it.

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::MessageAttributeValue;

use crate::aws::transient;
use crate::error::{ErrorCode, PipelineError};
use crate::messages::{InferenceRequest, MAX_SQS_MESSAGE_BYTES, PIXELS_ATTRIBUTE};

/// Sends the request with its pixels in the `PIXELS_ATTRIBUTE` binary attribute.
pub async fn send_inference_request(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    request: &InferenceRequest,
    pixels: Vec<u8>,
) -> Result<(), PipelineError> {
    let body = serde_json::to_string(request)
        .map_err(|e| PipelineError::transient(format!("serialising the inference request: {e}")))?;
    check_message_size(&body, &pixels)?;
    let pixels = MessageAttributeValue::builder()
        .data_type("Binary")
        .binary_value(Blob::new(pixels))
        .build()
        .map_err(|e| PipelineError::transient(format!("building the pixels attribute: {e}")))?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .message_attributes(PIXELS_ATTRIBUTE, pixels)
        .send()
        .await
        .map_err(|e| transient("SQS SendMessage", e))?;
    Ok(())
}

/// SQS counts the body, each attribute's name, type and value. Checked here because an emulator may
/// accept what SQS refuses; the cold-start check (`pixels_fit_in_a_message`) makes this unreachable with
/// a model that fits.
fn check_message_size(body: &str, pixels: &[u8]) -> Result<(), PipelineError> {
    let size = body.len() + PIXELS_ATTRIBUTE.len() + "Binary".len() + pixels.len();
    if size > MAX_SQS_MESSAGE_BYTES {
        return Err(PipelineError::permanent(
            ErrorCode::Internal,
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

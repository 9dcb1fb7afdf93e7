//! The inference queue, as preprocess sees it.

use crate::aws::transient;
use crate::error::PipelineError;
use crate::messages::InferenceRequest;

pub async fn send_inference_request(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    request: &InferenceRequest,
) -> Result<(), PipelineError> {
    let body = serde_json::to_string(request)
        .map_err(|e| PipelineError::transient(format!("serialising the inference request: {e}")))?;
    sqs.send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| transient("SQS SendMessage", e))?;
    Ok(())
}

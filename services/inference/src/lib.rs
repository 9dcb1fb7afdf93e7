//! Inference: a batch of preprocessed images (the pixels inside each message) -> one model run -> top-k
//! predictions in the job's DynamoDB item.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use imgpipe_core::config::InferenceConfig;
use imgpipe_core::messages::{InferenceRequest, ModelRef, PIXELS_ATTRIBUTE};
use imgpipe_core::model::{Classifier, Prediction};
use imgpipe_core::retry::{self, settle_failure, Delivery};
use imgpipe_core::store::{Changes, StatusStore, Transition};
use imgpipe_core::time::now_ms;
use imgpipe_core::{telemetry, ErrorCode, PipelineError, Status};
use tracing::{info, info_span, warn, Instrument};

pub struct Inferrer {
    pub config: InferenceConfig,
    pub classifier: Arc<Classifier>,
    pub store: StatusStore,
}

impl Inferrer {
    pub fn new(config: InferenceConfig, classifier: Arc<Classifier>, clients: &imgpipe_core::aws::AwsClients) -> Self {
        Self {
            store: StatusStore::new(clients.dynamodb.clone(), &config.table_name),
            classifier,
            config,
        }
    }
}

/// One message of the batch on its way through the handler.
struct Job<'a> {
    message: &'a SqsMessage,
    request: InferenceRequest,
    delivery: Delivery,
    pixels: Vec<u8>,
    loaded_at_ms: i64,
    /// When the API created the job, for the end-to-end time.
    created_at_ms: i64,
}

const STAGE: &str = "inference";

pub async fn handle_batch(inferrer: &Inferrer, event: SqsEvent) -> SqsBatchResponse {
    telemetry::batch_size(STAGE, event.records.len());
    let mut response = SqsBatchResponse::default();
    let mut fail = |message: &SqsMessage| response.add_failure(message.message_id.clone().unwrap_or_default());

    // Read every input concurrently; messages that cannot be used are settled on their own.
    let loads = join_all(event.records.iter().map(|message| load(inferrer, message))).await;
    let mut jobs = Vec::with_capacity(loads.len());
    for (message, load) in event.records.iter().zip(loads) {
        match load {
            Ok(Some(job)) => jobs.push(job),
            Ok(None) => {}
            Err(()) => fail(message),
        }
    }
    if jobs.is_empty() {
        return response;
    }

    // One model run for the whole batch.
    let started = std::time::Instant::now();
    let classifier = Arc::clone(&inferrer.classifier);
    let top_k = inferrer.config.top_k;
    let inputs: Vec<Vec<u8>> = jobs.iter_mut().map(|job| std::mem::take(&mut job.pixels)).collect();
    let batch_size = inputs.len();
    let outcome = tokio::task::spawn_blocking(move || {
        let views: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        classifier.classify(&views, top_k)
    })
    .await;
    let inference_ms = started.elapsed().as_millis() as i64;
    info!(batch_size, inference_ms, "model run");
    telemetry::stage_ms(STAGE, "model_run", inference_ms as f64);
    let predictions = match outcome {
        Ok(Ok(predictions)) => predictions,
        Ok(Err(err)) => {
            let err = PipelineError::transient(format!("model run failed: {err}"));
            return settle_all(inferrer, jobs, err, response).await;
        }
        Err(join_err) => {
            let err = PipelineError::transient(format!("model task failed: {join_err}"));
            return settle_all(inferrer, jobs, err, response).await;
        }
    };

    let writes = jobs.iter().zip(predictions).map(|(job, predictions)| {
        let span = info_span!("inference", image_id = %job.request.image_id);
        complete(inferrer, job, predictions, inference_ms).instrument(span)
    });
    for (job, written) in jobs.iter().zip(join_all(writes).await) {
        if written.is_err() {
            fail(job.message);
        }
    }
    response
}

async fn settle_all(
    inferrer: &Inferrer,
    jobs: Vec<Job<'_>>,
    err: PipelineError,
    mut response: SqsBatchResponse,
) -> SqsBatchResponse {
    for job in jobs {
        let max = inferrer.config.max_receive_count;
        if settle_failure(STAGE, &inferrer.store, &job.request.image_id, &err, &job.delivery, max)
            .await
            .is_err()
        {
            response.add_failure(job.message.message_id.clone().unwrap_or_default());
        }
    }
    response
}

/// `Ok(None)`: nothing to do for this message (settled or dropped); `Err`: leave it for redelivery.
async fn load<'a>(inferrer: &Inferrer, message: &'a SqsMessage) -> Result<Option<Job<'a>>, ()> {
    let request: InferenceRequest = match serde_json::from_str(message.body.as_deref().unwrap_or_default()) {
        Ok(request) => request,
        Err(err) => {
            warn!(message_id = message.message_id, error = %err, "dropping a message that is not an inference request");
            return Ok(None);
        }
    };
    let delivery = Delivery::from_attributes(&message.attributes);
    let span = info_span!("inference", image_id = %request.image_id);
    async {
        if retry::is_final_delivery(&delivery, inferrer.config.max_receive_count) {
            return retry::give_up(STAGE, &inferrer.store, &request.image_id, &delivery)
                .await
                .map(|()| None);
        }
        // A duplicate or late delivery for a settled job does no work at all.
        let created_at_ms = match inferrer.store.get(&request.image_id).await {
            Ok(Some(record)) if !record.status.is_terminal() => record.created_at,
            Ok(Some(record)) => {
                info!(status = %record.status, "job already settled; duplicate delivery ignored");
                return Ok(None);
            }
            Ok(None) => {
                warn!("no record for this image (expired or deleted); dropping the message");
                return Ok(None);
            }
            Err(err) => {
                warn!(error = %err, "cannot read the job status; leaving for redelivery");
                return Err(());
            }
        };
        let expected = inferrer.classifier.metadata().input_bytes();
        match message_pixels(message, expected) {
            Ok(pixels) => Ok(Some(Job {
                message,
                request: request.clone(),
                delivery,
                pixels,
                loaded_at_ms: now_ms(),
                created_at_ms,
            })),
            Err(err) => {
                let max = inferrer.config.max_receive_count;
                settle_failure(STAGE, &inferrer.store, &request.image_id, &err, &delivery, max)
                    .await
                    .map(|()| None)
            }
        }
    }
    .instrument(span)
    .await
}

/// The pixels the message carries, exactly as many as the model takes. Anything else is a bug upstream
/// (or a message from elsewhere), which no retry can fix.
fn message_pixels(message: &SqsMessage, expected: usize) -> Result<Vec<u8>, PipelineError> {
    let attribute = message
        .message_attributes
        .get(PIXELS_ATTRIBUTE)
        .and_then(|attribute| attribute.binary_value.as_ref());
    match attribute {
        Some(pixels) if pixels.len() == expected => Ok(pixels.0.clone()),
        Some(pixels) => Err(PipelineError::permanent(
            ErrorCode::Internal,
            format!(
                "the message carries {} bytes of pixels, the model needs {expected}",
                pixels.len()
            ),
        )),
        None => Err(PipelineError::permanent(
            ErrorCode::Internal,
            format!("the message has no binary {PIXELS_ATTRIBUTE:?} attribute"),
        )),
    }
}

async fn complete(
    inferrer: &Inferrer,
    job: &Job<'_>,
    predictions: Vec<Prediction>,
    inference_ms: i64,
) -> Result<(), ()> {
    let meta = inferrer.classifier.metadata();
    let model = ModelRef {
        name: meta.name.clone(),
        version: format!("{}-{}", meta.version, meta.variant),
    };
    let image_id = job.request.image_id;
    let now = now_ms();
    // The result lives in the job's DynamoDB item only: a copy in S3 would be a PUT per image
    // (about 14% of the all-in cost, bench/cost.py) that nothing reads.
    let result = async {
        let timings = vec![
            ("inference", inference_ms),
            (
                "inference_queue_wait",
                (job.loaded_at_ms - job.request.sent_at_ms).max(0),
            ),
            ("end_to_end", now - job.created_at_ms),
        ];
        let changes = Changes {
            predictions: Some(predictions.clone()),
            model: Some(model.clone()),
            timings_ms: timings,
            ..Changes::default()
        };
        inferrer
            .store
            .transition(&image_id, Status::Completed, changes, now)
            .await
    }
    .await;
    match result {
        Ok(Transition::Applied) => {
            telemetry::image_processed(STAGE);
            telemetry::stage_ms(
                STAGE,
                "queue_wait",
                (job.loaded_at_ms - job.request.sent_at_ms).max(0) as f64,
            );
            telemetry::stage_ms(STAGE, "end_to_end", (now - job.created_at_ms) as f64);
            let top = predictions.first();
            info!(
                label = top.map(|p| p.label.as_str()),
                score = top.map(|p| p.score),
                "completed"
            );
            Ok(())
        }
        Ok(Transition::Rejected { current }) => {
            info!(?current, "job already settled; duplicate result not recorded");
            Ok(())
        }
        Err(err) => {
            settle_failure(
                STAGE,
                &inferrer.store,
                &image_id,
                &err,
                &job.delivery,
                inferrer.config.max_receive_count,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_lambda_events::encodings::Base64Data;
    use aws_lambda_events::sqs::SqsMessageAttribute;

    use super::*;

    fn with_attribute(name: &str, attribute: SqsMessageAttribute) -> SqsMessage {
        let mut message = SqsMessage::default();
        message.message_attributes.insert(name.to_owned(), attribute);
        message
    }

    fn binary(bytes: Vec<u8>) -> SqsMessageAttribute {
        let mut attribute = SqsMessageAttribute::default();
        let mut data = Base64Data::default();
        data.0 = bytes;
        attribute.binary_value = Some(data);
        attribute.data_type = Some("Binary".into());
        attribute
    }

    #[test]
    fn pixels_come_from_the_binary_attribute() {
        let message = with_attribute(PIXELS_ATTRIBUTE, binary(vec![7; 12]));
        assert_eq!(message_pixels(&message, 12).unwrap(), vec![7; 12]);
    }

    #[test]
    fn missing_or_wrongly_sized_pixels_are_a_permanent_internal_error() {
        let cases = [
            (SqsMessage::default(), "no binary"),
            (with_attribute(PIXELS_ATTRIBUTE, binary(vec![7; 11])), "11 bytes"),
            (with_attribute("other", binary(vec![7; 12])), "no binary"),
            (
                with_attribute(PIXELS_ATTRIBUTE, {
                    let mut text = SqsMessageAttribute::default();
                    text.string_value = Some("pixels".into());
                    text.data_type = Some("String".into());
                    text
                }),
                "no binary",
            ),
        ];
        for (message, says) in cases {
            let err = message_pixels(&message, 12).unwrap_err();
            assert!(err.is_permanent(), "{err}");
            assert_eq!(err.code(), Some(ErrorCode::Internal));
            assert!(err.to_string().contains(says), "{err}");
        }
    }
}

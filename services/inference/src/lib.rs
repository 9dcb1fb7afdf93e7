//! The inference function: a batch of preprocessed images (the pixels inside each message) -> one model
//! run -> top-k predictions in the job's DynamoDB item.
//!
//! # Layout
//!
//! - this file: the `Inferrer` (configuration, the job store, the model) and the batch: read every
//!   message, one model run for all usable ones, one conditional `completed` write each; one `Ack` per
//!   message, the `Retry`s reported as batch item failures.
//! - [`model`]: the `Model` seam the batch runs (the ONNX Runtime classifier in Lambda, a fake in the
//!   tests beside this file, which therefore need no runtime library).

pub mod model;

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use imgpipe_aws::events::EventBridgeEvents;
use imgpipe_aws::objects::S3Objects;
use imgpipe_aws::store::DynamoJobs;
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::InferenceConfig;
use imgpipe_domain::events::{Announce, Announcer};
use imgpipe_domain::messages::{InferenceRequest, ModelRef, PIXELS_ATTRIBUTE};
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::{Changes, Prediction, Transition};
use imgpipe_domain::retry::{announce, ended_before, settle_failure, Ack, Delivery};
use imgpipe_domain::time::now_ms;
use imgpipe_domain::{telemetry, ErrorCode, PipelineError, Status};
use tracing::{info, info_span, warn, Instrument};

pub use model::Model;

pub struct Inferrer<J, M, A> {
    pub config: InferenceConfig,
    pub model: Arc<M>,
    pub jobs: J,
    /// Announces each completed job: the event, and the result file of an ingested image.
    pub announcer: A,
}

impl<J: Jobs, M: Model, A: Announce> Inferrer<J, M, A> {
    pub fn new(config: InferenceConfig, model: Arc<M>, jobs: J, announcer: A) -> Self {
        Self {
            config,
            model,
            jobs,
            announcer,
        }
    }
}

/// The function as deployed.
pub type AwsInferrer<M> = Inferrer<DynamoJobs, M, Announcer<EventBridgeEvents, S3Objects>>;

impl<M: Model> AwsInferrer<M> {
    /// The job table in DynamoDB, announcements through EventBridge (and S3 for ingested images).
    pub fn on_aws(config: InferenceConfig, model: Arc<M>, aws: &AwsConfig) -> Self {
        let jobs = DynamoJobs::new(aws.dynamodb(), &config.table_name);
        let announcer = Announcer {
            events: EventBridgeEvents::new(aws.eventbridge(), &config.event_bus_name),
            objects: S3Objects::new(aws.s3(), &config.bucket_name),
        };
        Self::new(config, model, jobs, announcer)
    }
}

/// One message of the batch on its way through the handler.
struct Job<'a> {
    message: &'a SqsMessage,
    request: InferenceRequest,
    delivery: Delivery,
    pixels: Vec<u8>,
    loaded_at_ms: i64,
    /// When the job was created, for the end-to-end time.
    created_at_ms: i64,
}

const STAGE: &str = "inference";

pub async fn handle_batch<J: Jobs, M: Model, A: Announce>(
    inferrer: &Inferrer<J, M, A>,
    event: SqsEvent,
) -> SqsBatchResponse {
    telemetry::batch_size(STAGE, event.records.len());
    let mut response = SqsBatchResponse::default();
    let mut fail = |message: &SqsMessage| response.add_failure(message.message_id.clone().unwrap_or_default());

    // Read every input concurrently; messages that cannot be used are settled on their own.
    let loads = join_all(event.records.iter().map(|message| load(inferrer, message))).await;
    let mut jobs = Vec::with_capacity(loads.len());
    for (message, load) in event.records.iter().zip(loads) {
        match load {
            Loaded::Job(job) => jobs.push(*job),
            Loaded::Settled(Ack::Done) => {}
            Loaded::Settled(Ack::Retry) => fail(message),
        }
    }
    if jobs.is_empty() {
        return response;
    }

    // One model run for the whole batch.
    let started = std::time::Instant::now();
    let model = Arc::clone(&inferrer.model);
    let top_k = inferrer.config.top_k;
    let inputs: Vec<Vec<u8>> = jobs.iter_mut().map(|job| std::mem::take(&mut job.pixels)).collect();
    let batch_size = inputs.len();
    let outcome = tokio::task::spawn_blocking(move || {
        let views: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
        model.classify(&views, top_k)
    })
    .await;
    let inference_ms = started.elapsed().as_millis() as i64;
    info!(batch_size, inference_ms, "model run");
    telemetry::stage_ms(STAGE, "model_run", inference_ms as f64);
    let predictions = match outcome {
        Ok(Ok(predictions)) => predictions,
        Ok(Err(err)) => {
            let err = PipelineError::transient_because("the model run failed", err);
            return settle_all(inferrer, jobs, err, response).await;
        }
        Err(join_err) => {
            let err = PipelineError::transient_because("the model task failed", join_err);
            return settle_all(inferrer, jobs, err, response).await;
        }
    };

    let writes = jobs.iter().zip(predictions).map(|(job, predictions)| {
        let span = info_span!("inference", image_id = %job.request.image_id);
        complete(inferrer, job, predictions, inference_ms).instrument(span)
    });
    for (job, written) in jobs.iter().zip(join_all(writes).await) {
        if written == Ack::Retry {
            fail(job.message);
        }
    }
    response
}

async fn settle_all<J: Jobs, M: Model, A: Announce>(
    inferrer: &Inferrer<J, M, A>,
    jobs: Vec<Job<'_>>,
    err: PipelineError,
    mut response: SqsBatchResponse,
) -> SqsBatchResponse {
    for job in jobs {
        let ack = settle_failure(
            STAGE,
            &inferrer.jobs,
            &inferrer.announcer,
            &job.request.image_id,
            &err,
            &job.delivery,
        )
        .await;
        if ack == Ack::Retry {
            response.add_failure(job.message.message_id.clone().unwrap_or_default());
        }
    }
    response
}

/// What reading one message gave: a job for the model run, or a message already settled.
enum Loaded<'a> {
    Job(Box<Job<'a>>),
    Settled(Ack),
}

async fn load<'a, J: Jobs, M: Model, A: Announce>(inferrer: &Inferrer<J, M, A>, message: &'a SqsMessage) -> Loaded<'a> {
    let request: InferenceRequest = match serde_json::from_str(message.body.as_deref().unwrap_or_default()) {
        Ok(request) => request,
        Err(err) => {
            warn!(message_id = message.message_id, error = %err, "dropping a message that is not an inference request");
            return Loaded::Settled(Ack::Done);
        }
    };
    let delivery = Delivery::from_attributes(&message.attributes);
    let span = info_span!("inference", image_id = %request.image_id);
    async {
        let settle = |err: PipelineError| async move {
            settle_failure(
                STAGE,
                &inferrer.jobs,
                &inferrer.announcer,
                &request.image_id,
                &err,
                &delivery,
            )
            .await
        };
        // A duplicate or late delivery for a settled job does no work; a redelivery announces it again.
        let created_at_ms = match inferrer.jobs.get(&request.image_id).await {
            Ok(Some(record)) if !record.status.is_terminal() => record.created_at,
            Ok(Some(record)) => {
                return Loaded::Settled(ended_before(STAGE, &inferrer.announcer, &record, &delivery).await)
            }
            Ok(None) => {
                warn!("no record for this image (expired or deleted); dropping the message");
                return Loaded::Settled(Ack::Done);
            }
            Err(err) => return Loaded::Settled(settle(err).await),
        };
        let served = inferrer.model.model_ref();
        if request.model.name != served.name {
            let err = PipelineError::permanent_because(
                ErrorCode::Internal,
                "the image reached the wrong model",
                format!("a request for {} on the queue of {}", request.model.name, served.name),
            );
            return Loaded::Settled(settle(err).await);
        }
        match message_pixels(message, inferrer.model.input_bytes()) {
            Ok(pixels) => Loaded::Job(Box::new(Job {
                message,
                request: request.clone(),
                delivery,
                pixels,
                loaded_at_ms: now_ms(),
                created_at_ms,
            })),
            Err(err) => Loaded::Settled(settle(err).await),
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
        Some(pixels) => Err(PipelineError::permanent_because(
            ErrorCode::Internal,
            "the image could not be prepared for the model",
            format!(
                "the message carries {} bytes of pixels, the model needs {expected}",
                pixels.len()
            ),
        )),
        None => Err(PipelineError::permanent_because(
            ErrorCode::Internal,
            "the image could not be prepared for the model",
            format!("the message has no binary {PIXELS_ATTRIBUTE:?} attribute"),
        )),
    }
}

async fn complete<J: Jobs, M: Model, A: Announce>(
    inferrer: &Inferrer<J, M, A>,
    job: &Job<'_>,
    predictions: Vec<Prediction>,
    inference_ms: i64,
) -> Ack {
    let model: ModelRef = inferrer.model.model_ref();
    let image_id = job.request.image_id;
    let now = now_ms();
    let queue_wait = (job.loaded_at_ms - job.request.sent_at_ms).max(0);
    // The result lives in the job's DynamoDB item: a copy in S3 would be a PUT per image that nothing
    // reads (ingested images get their result file from the announcement).
    let changes = Changes {
        predictions: Some(predictions),
        model: Some(model),
        timings_ms: vec![
            ("inference", inference_ms),
            ("inference_queue_wait", queue_wait),
            ("end_to_end", now - job.created_at_ms),
        ],
        ..Changes::default()
    };
    match inferrer
        .jobs
        .transition(&image_id, Status::Completed, changes, now)
        .await
    {
        Ok(Transition::Applied(record)) => {
            telemetry::image_processed(STAGE);
            telemetry::stage_ms(STAGE, "queue_wait", queue_wait as f64);
            telemetry::stage_ms(STAGE, "end_to_end", (now - job.created_at_ms) as f64);
            telemetry::job_ended(&record);
            let top = record.predictions.as_ref().and_then(|p| p.first());
            info!(
                label = top.map(|p| p.label.as_str()),
                score = top.map(|p| p.score),
                "completed"
            );
            announce(STAGE, &inferrer.announcer, &record).await
        }
        Ok(Transition::Rejected { current }) => {
            info!(?current, "job already settled; duplicate result not recorded");
            Ack::Done
        }
        Err(err) => {
            settle_failure(
                STAGE,
                &inferrer.jobs,
                &inferrer.announcer,
                &image_id,
                &err,
                &job.delivery,
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_lambda_events::encodings::Base64Data;
    use aws_lambda_events::sqs::SqsMessageAttribute;
    use imgpipe_domain::config::Env;
    use imgpipe_domain::keys;
    use imgpipe_domain::record::NewImage;
    use imgpipe_domain::testing::{memory_announcer, MemoryAnnouncer, MemoryJobs};
    use imgpipe_domain::{Fault, ImageId};
    use imgpipe_model::ModelError;

    use super::*;

    /// A model of 12-byte inputs whose top class is the input's first byte; it can be made to fail.
    #[derive(Default)]
    struct FakeModel {
        runs: AtomicUsize,
        fail_next: AtomicUsize,
    }

    impl Model for FakeModel {
        fn input_bytes(&self) -> usize {
            12
        }

        fn model_ref(&self) -> ModelRef {
            ModelRef {
                name: "fake".into(),
                version: "1-fp32".into(),
            }
        }

        fn classify(&self, images: &[&[u8]], top_k: usize) -> Result<Vec<Vec<Prediction>>, ModelError> {
            self.runs.fetch_add(1, Ordering::SeqCst);
            if self.fail_next.load(Ordering::SeqCst) > 0 {
                self.fail_next.fetch_sub(1, Ordering::SeqCst);
                return Err(ModelError::Run("out of memory".into()));
            }
            Ok(images
                .iter()
                .map(|pixels| {
                    (0..top_k as u32)
                        .map(|rank| Prediction {
                            label: format!("class_{}", u32::from(pixels[0]) + rank),
                            class_index: u32::from(pixels[0]) + rank,
                            score: 1.0 / (rank as f32 + 2.0),
                        })
                        .collect()
                })
                .collect())
        }
    }

    type Memory = Inferrer<MemoryJobs, FakeModel, MemoryAnnouncer>;

    fn inferrer() -> Memory {
        let vars = HashMap::from([
            ("IMGPIPE_TABLE_NAME", "t".to_owned()),
            ("IMGPIPE_BUCKET_NAME", "b".to_owned()),
            ("IMGPIPE_EVENT_BUS_NAME", "bus".to_owned()),
            ("IMGPIPE_TOP_K", "3".to_owned()),
        ]);
        let config = InferenceConfig::from_env(&Env(|name: &str| vars.get(name).cloned())).unwrap();
        Inferrer::new(
            config,
            Arc::new(FakeModel::default()),
            MemoryJobs::new(),
            memory_announcer(),
        )
    }

    async fn preprocessed_job(inferrer: &Memory) -> ImageId {
        let image_id = ImageId::new_random();
        inferrer
            .jobs
            .create(&NewImage::pending_upload(
                image_id,
                None,
                "image/png",
                keys::upload_key(&image_id),
                1,
                86_400,
            ))
            .await
            .unwrap();
        inferrer
            .jobs
            .transition(&image_id, Status::Preprocessed, Changes::default(), 2)
            .await
            .unwrap();
        image_id
    }

    fn request_message(image_id: ImageId, pixels: Option<Vec<u8>>, receive_count: u32) -> SqsMessage {
        request_for("fake", image_id, pixels, receive_count)
    }

    fn request_for(model: &str, image_id: ImageId, pixels: Option<Vec<u8>>, receive_count: u32) -> SqsMessage {
        let request = InferenceRequest {
            image_id,
            width: 2,
            height: 2,
            source_version: None,
            model: ModelRef {
                name: model.into(),
                version: "1".into(),
            },
            sent_at_ms: 3,
        };
        let mut message = match pixels {
            Some(pixels) => with_attribute(PIXELS_ATTRIBUTE, binary(pixels)),
            None => SqsMessage::default(),
        };
        message.message_id = Some(format!("m-{image_id}"));
        message.body = Some(serde_json::to_string(&request).unwrap());
        message
            .attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        message
    }

    fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
        let mut event = SqsEvent::default();
        event.records = messages;
        event
    }

    fn failures(response: &SqsBatchResponse) -> usize {
        response.batch_item_failures.len()
    }

    #[tokio::test]
    async fn a_batch_is_classified_in_one_run_and_each_job_completes() {
        let inferrer = inferrer();
        let ids = [preprocessed_job(&inferrer).await, preprocessed_job(&inferrer).await];
        let messages = ids
            .iter()
            .enumerate()
            .map(|(i, id)| request_message(*id, Some(vec![10 * i as u8 + 1; 12]), 1))
            .collect();
        let response = handle_batch(&inferrer, batch(messages)).await;
        assert_eq!(failures(&response), 0);
        assert_eq!(
            inferrer.model.runs.load(Ordering::SeqCst),
            1,
            "one model run for the batch"
        );
        for (i, id) in ids.iter().enumerate() {
            let record = inferrer.jobs.record(id).unwrap();
            assert_eq!(record.status, Status::Completed);
            let predictions = record.predictions.unwrap();
            assert_eq!(predictions.len(), 3, "top_k");
            assert_eq!(
                predictions[0].class_index,
                10 * i as u32 + 1,
                "each job gets its own image's answer"
            );
            assert_eq!(record.model.unwrap().version, "1-fp32");
            assert!(record.timings_ms.contains_key("inference") && record.timings_ms.contains_key("end_to_end"));
        }
    }

    #[tokio::test]
    async fn a_message_with_unusable_pixels_fails_alone() {
        let inferrer = inferrer();
        let (good, short, missing) = (
            preprocessed_job(&inferrer).await,
            preprocessed_job(&inferrer).await,
            preprocessed_job(&inferrer).await,
        );
        let messages = vec![
            request_message(good, Some(vec![7; 12]), 1),
            request_message(short, Some(vec![7; 11]), 1),
            request_message(missing, None, 1),
        ];
        let response = handle_batch(&inferrer, batch(messages)).await;
        assert_eq!(failures(&response), 0, "permanent failures are not retried");
        assert_eq!(inferrer.jobs.record(&good).unwrap().status, Status::Completed);
        for id in [short, missing] {
            let error = inferrer.jobs.record(&id).unwrap().error.unwrap();
            assert_eq!(error.code, ErrorCode::Internal);
            assert!(
                !error.message.contains("bytes"),
                "the detail stays in the log: {}",
                error.message
            );
        }
    }

    #[tokio::test]
    async fn settled_missing_and_foreign_messages_do_no_work() {
        let inferrer = inferrer();
        let done = preprocessed_job(&inferrer).await;
        inferrer
            .jobs
            .transition(&done, Status::Completed, Changes::default(), 4)
            .await
            .unwrap();
        let mut garbage = SqsMessage::default();
        garbage.body = Some("{}".into());
        let messages = vec![
            request_message(done, Some(vec![1; 12]), 1),
            request_message(ImageId::new_random(), Some(vec![1; 12]), 1),
            garbage,
        ];
        let writes_before = inferrer.jobs.writes().len();
        let response = handle_batch(&inferrer, batch(messages)).await;
        assert_eq!(failures(&response), 0);
        assert_eq!(inferrer.model.runs.load(Ordering::SeqCst), 0, "no model run at all");
        assert_eq!(inferrer.jobs.writes().len(), writes_before);
    }

    #[tokio::test]
    async fn a_failed_model_run_leaves_every_message_for_redelivery() {
        let inferrer = inferrer();
        let id = preprocessed_job(&inferrer).await;
        inferrer.model.fail_next.store(3, Ordering::SeqCst);
        for receive_count in 1..=3 {
            let response = handle_batch(
                &inferrer,
                batch(vec![request_message(id, Some(vec![1; 12]), receive_count)]),
            )
            .await;
            assert_eq!(
                failures(&response),
                1,
                "transient: left for redelivery, then for the DLQ"
            );
        }
        assert_eq!(inferrer.jobs.record(&id).unwrap().status, Status::Preprocessed);
        let response = handle_batch(&inferrer, batch(vec![request_message(id, Some(vec![1; 12]), 4)])).await;
        assert_eq!(failures(&response), 0);
        assert_eq!(inferrer.jobs.record(&id).unwrap().status, Status::Completed);
    }

    #[tokio::test]
    async fn a_completion_is_announced_and_a_failed_announcement_is_made_by_the_redelivery() {
        let inferrer = inferrer();
        let id = preprocessed_job(&inferrer).await;
        inferrer.announcer.events.faults.inject("publish", Fault::Transient, 1);
        let response = handle_batch(&inferrer, batch(vec![request_message(id, Some(vec![9; 12]), 1)])).await;
        assert_eq!(failures(&response), 1, "not announced yet: left for redelivery");
        assert_eq!(
            inferrer.jobs.record(&id).unwrap().status,
            Status::Completed,
            "the result is not held back"
        );
        // A duplicate first delivery of another message does nothing; the redelivery announces.
        assert_eq!(
            failures(&handle_batch(&inferrer, batch(vec![request_message(id, Some(vec![9; 12]), 1)])).await),
            0
        );
        assert!(inferrer.announcer.events.published().is_empty());
        assert_eq!(
            failures(&handle_batch(&inferrer, batch(vec![request_message(id, Some(vec![9; 12]), 2)])).await),
            0
        );
        let events = inferrer.announcer.events.published();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].detail_type, imgpipe_domain::events::COMPLETED);
        assert_eq!(events[0].detail.predictions.as_ref().unwrap()[0].class_index, 9);
        assert_eq!(inferrer.model.runs.load(Ordering::SeqCst), 1, "the model ran once");
    }

    #[tokio::test]
    async fn a_request_for_another_model_fails_as_internal() {
        let inferrer = inferrer();
        let id = preprocessed_job(&inferrer).await;
        let response = handle_batch(&inferrer, batch(vec![request_for("other", id, Some(vec![1; 12]), 1)])).await;
        assert_eq!(failures(&response), 0);
        assert_eq!(
            inferrer.jobs.record(&id).unwrap().error.map(|e| e.code),
            Some(ErrorCode::Internal)
        );
        assert_eq!(inferrer.model.runs.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn store_faults_leave_the_message_for_redelivery() {
        for (operation, fault) in [("get", Fault::Transient), ("transition", Fault::Configuration)] {
            let inferrer = inferrer();
            let id = preprocessed_job(&inferrer).await;
            inferrer.jobs.faults.inject(operation, fault, 1);
            let response = handle_batch(&inferrer, batch(vec![request_message(id, Some(vec![1; 12]), 1)])).await;
            assert_eq!(failures(&response), 1, "{operation}");
            assert_eq!(
                inferrer.jobs.record(&id).unwrap().status,
                Status::Preprocessed,
                "{operation}"
            );
            let response = handle_batch(&inferrer, batch(vec![request_message(id, Some(vec![1; 12]), 2)])).await;
            assert_eq!(failures(&response), 0, "{operation}");
            assert_eq!(
                inferrer.jobs.record(&id).unwrap().status,
                Status::Completed,
                "{operation}"
            );
        }
    }

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
            assert!(err.chain().contains(says), "{}", err.chain());
        }
    }
}

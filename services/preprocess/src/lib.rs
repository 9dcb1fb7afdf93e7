//! The preprocess function: S3 upload events (through SQS) -> model-ready pixels -> a message on the
//! inference queue that carries them.
//!
//! # Layout
//!
//! - this file: the `Preprocessor` (configuration, the decode budget, the ports) and the batch: one
//!   `Ack` per SQS message, the `Retry`s reported as batch item failures.
//! - [`object`]: one uploaded object, step by step: claim the job, download, decode, hand the pixels to
//!   inference, record `preprocessed`; failures settled by `imgpipe_domain::retry`.
//!
//! Tests beside the code run the handler on in-memory ports; the local pipeline's suite (tools/local)
//! runs it on moto with real S3 notifications.

pub mod object;

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use imgpipe_aws::events::EventBridgeEvents;
use imgpipe_aws::objects::S3Objects;
use imgpipe_aws::queue::SqsInferenceQueue;
use imgpipe_aws::store::DynamoJobs;
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::PreprocessConfig;
use imgpipe_domain::events::{Announce, Announcer};
use imgpipe_domain::ports::{InferenceQueue, Jobs, Objects};
use imgpipe_domain::record::ImageRecord;
use imgpipe_domain::retry::{Ack, Delivery};
use imgpipe_domain::s3_event::{parse_s3_message, S3Message};
use imgpipe_domain::{keys, telemetry, ErrorCode, ImageId, PipelineError, Status};
use tokio::sync::Semaphore;
use tracing::{info, info_span, warn, Instrument};

const STAGE: &str = "preprocess";

/// Decoding memory in MB: 60% of the function's memory (Lambda sets `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`),
/// leaving the rest to the runtime, the SDK and the compressed inputs. 1024 MB outside Lambda.
fn decode_budget_mb() -> u32 {
    let function_mb = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1024);
    (function_mb * 6 / 10).max(64)
}

/// Everything the handler needs, built once per container.
pub struct Preprocessor<J, O, Q, A> {
    /// Megabytes of decoding memory, as permits: the messages of a batch decode concurrently within it.
    pub decode_budget: Arc<Semaphore>,
    pub decode_budget_mb: u32,
    pub config: PreprocessConfig,
    pub jobs: J,
    pub objects: O,
    pub queue: Q,
    /// Announces jobs that end here (failures): the event, and the result file of an ingested image.
    pub announcer: A,
}

impl<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce> Preprocessor<J, O, Q, A> {
    pub fn new(config: PreprocessConfig, jobs: J, objects: O, queue: Q, announcer: A) -> Self {
        let budget = decode_budget_mb();
        Self {
            decode_budget: Arc::new(Semaphore::new(budget as usize)),
            decode_budget_mb: budget,
            config,
            jobs,
            objects,
            queue,
            announcer,
        }
    }
}

/// The function as deployed.
pub type AwsPreprocessor =
    Preprocessor<DynamoJobs, S3Objects, SqsInferenceQueue, Announcer<EventBridgeEvents, S3Objects>>;

impl AwsPreprocessor {
    /// DynamoDB, S3, SQS and EventBridge.
    pub fn on_aws(config: PreprocessConfig, aws: &AwsConfig) -> Self {
        let jobs = DynamoJobs::new(aws.dynamodb(), &config.table_name);
        let objects = S3Objects::new(aws.s3(), &config.bucket_name);
        let queue = SqsInferenceQueue::new(aws.sqs());
        let announcer = Announcer {
            events: EventBridgeEvents::new(aws.eventbridge(), &config.event_bus_name),
            objects: objects.clone(),
        };
        Self::new(config, jobs, objects, queue, announcer)
    }
}

/// The codes of an upload that preprocess refuses: such an upload is deleted at once, not kept for the
/// retention period (an `internal` failure keeps it, as evidence of our fault).
const REJECTION_CODES: [ErrorCode; 5] = [
    ErrorCode::NotAnImage,
    ErrorCode::UnsupportedFormat,
    ErrorCode::TooLarge,
    ErrorCode::TooManyPixels,
    ErrorCode::CorruptImage,
];

/// A job that ends in preprocess: a rejected upload is removed first, then the job is announced.
impl<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce> Announce for Preprocessor<J, O, Q, A> {
    async fn ended(&self, record: &ImageRecord) -> Result<(), PipelineError> {
        let rejected = record.status == Status::Failed
            && record.source_key.is_none()
            && record.error.as_ref().is_some_and(|e| REJECTION_CODES.contains(&e.code));
        if let (true, Some(version)) = (rejected, record.s3_version.as_deref()) {
            self.objects.delete_version(&record.s3_key, version).await?;
            info!(version, "removed the rejected upload");
        }
        self.announcer.ended(record).await
    }
}

/// Processes a batch concurrently; only the messages that should be retried are reported as failures.
pub async fn handle_batch<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce>(
    preprocessor: &Preprocessor<J, O, Q, A>,
    event: SqsEvent,
) -> SqsBatchResponse {
    telemetry::batch_size(STAGE, event.records.len());
    let acks = join_all(
        event
            .records
            .iter()
            .map(|message| handle_message(preprocessor, message)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for (message, ack) in event.records.iter().zip(acks) {
        if ack == Ack::Retry {
            response.add_failure(message.message_id.clone().unwrap_or_default());
        }
    }
    response
}

/// One SQS message: an S3 notification with one or more records.
async fn handle_message<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce>(
    preprocessor: &Preprocessor<J, O, Q, A>,
    message: &SqsMessage,
) -> Ack {
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let objects = match parse_s3_message(message.body.as_deref().unwrap_or_default()) {
        Ok(S3Message::Test) => {
            info!(message_id, "skipping s3:TestEvent");
            return Ack::Done;
        }
        Ok(S3Message::Objects(objects)) => objects,
        Err(err) => {
            // No image id to fail and nothing a retry could fix: drop it, loudly.
            warn!(
                message_id,
                error = err.chain(),
                "dropping a message that is not an S3 notification"
            );
            return Ack::Done;
        }
    };
    let delivery = Delivery::from_attributes(&message.attributes);
    let mut ack = Ack::Done;
    for uploaded in objects {
        // An API upload names its job; an object under the ingest prefix is a job of its own version.
        let (image_id, ingested) = match (
            keys::image_id_from_upload_key(&uploaded.key),
            keys::ingest_source_key(&uploaded.key),
        ) {
            (Some(id), _) => (id, None),
            (None, Some(source)) => (
                ImageId::for_ingested_object(&uploaded.bucket, &uploaded.key, uploaded.version_id.as_deref()),
                Some(source.to_owned()),
            ),
            (None, None) => {
                warn!(
                    key = uploaded.key,
                    "ignoring an object outside the upload and ingest prefixes"
                );
                continue;
            }
        };
        let span = info_span!("preprocess", image_id = %image_id, message_id);
        let claimant = format!("sqs:{message_id}");
        let job = object::Job {
            image_id,
            ingested,
            object: &uploaded,
            delivery: &delivery,
            claimant: &claimant,
        };
        ack = ack.and(object::handle_object(preprocessor, &job).instrument(span).await);
    }
    ack
}

#[cfg(test)]
mod tests;

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
use imgpipe_aws::objects::S3Objects;
use imgpipe_aws::queue::SqsInferenceQueue;
use imgpipe_aws::store::DynamoJobs;
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::PreprocessConfig;
use imgpipe_domain::model_spec::ModelBundle;
use imgpipe_domain::ports::{InferenceQueue, Jobs, Objects};
use imgpipe_domain::retry::{Ack, Delivery};
use imgpipe_domain::s3_event::{parse_s3_message, S3Message};
use imgpipe_domain::{keys, telemetry};
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
pub struct Preprocessor<J, O, Q> {
    /// Megabytes of decoding memory, as permits: the messages of a batch decode concurrently within it.
    pub decode_budget: Arc<Semaphore>,
    pub decode_budget_mb: u32,
    pub config: PreprocessConfig,
    pub model: ModelBundle,
    pub jobs: J,
    pub objects: O,
    pub queue: Q,
}

impl<J: Jobs, O: Objects, Q: InferenceQueue> Preprocessor<J, O, Q> {
    pub fn new(config: PreprocessConfig, model: ModelBundle, jobs: J, objects: O, queue: Q) -> Self {
        let budget = decode_budget_mb();
        Self {
            decode_budget: Arc::new(Semaphore::new(budget as usize)),
            decode_budget_mb: budget,
            config,
            model,
            jobs,
            objects,
            queue,
        }
    }
}

/// The function as deployed.
pub type AwsPreprocessor = Preprocessor<DynamoJobs, S3Objects, SqsInferenceQueue>;

impl AwsPreprocessor {
    /// The function as deployed: DynamoDB, S3 and SQS.
    pub fn on_aws(config: PreprocessConfig, model: ModelBundle, aws: &AwsConfig) -> Self {
        let jobs = DynamoJobs::new(aws.dynamodb(), &config.table_name);
        let objects = S3Objects::new(aws.s3(), &config.bucket_name);
        let queue = SqsInferenceQueue::new(aws.sqs());
        Self::new(config, model, jobs, objects, queue)
    }
}

/// Processes a batch concurrently; only the messages that should be retried are reported as failures.
pub async fn handle_batch<J: Jobs, O: Objects, Q: InferenceQueue>(
    preprocessor: &Preprocessor<J, O, Q>,
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
async fn handle_message<J: Jobs, O: Objects, Q: InferenceQueue>(
    preprocessor: &Preprocessor<J, O, Q>,
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
        let Some(image_id) = keys::image_id_from_upload_key(&uploaded.key) else {
            warn!(
                key = uploaded.key,
                "ignoring an object outside the upload prefix or without an image id"
            );
            continue;
        };
        let span = info_span!("preprocess", image_id = %image_id, message_id);
        let claimant = format!("sqs:{message_id}");
        let outcome = object::handle_object(preprocessor, image_id, &uploaded, &delivery, &claimant)
            .instrument(span)
            .await;
        ack = ack.and(outcome);
    }
    ack
}

#[cfg(test)]
mod tests;

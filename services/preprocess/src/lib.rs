//! Preprocess: S3 upload events (via SQS) -> model-ready pixels -> a message on the inference queue that
//! carries them.

use std::sync::Arc;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use imgpipe_core::config::PreprocessConfig;
use imgpipe_core::messages::{InferenceRequest, ModelRef};
use imgpipe_core::model_meta::ModelBundle;
use imgpipe_core::objects::ObjectStore;
use imgpipe_core::retry::{self, settle_failure, Delivery};
use imgpipe_core::s3_event::{normalized_sequencer, parse_s3_message, S3Message, UploadedObject};
use imgpipe_core::store::{Changes, Claim, StatusStore, Transition};
use imgpipe_core::time::now_ms;
use imgpipe_core::{keys, preprocess, queue, telemetry, ImageId, PipelineError, Status};
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

/// How long a claim protects a job from other deliveries: the longest a Lambda invocation can run, so a
/// live attempt is never overtaken and a crashed one is resumed by the next delivery after it.
pub const CLAIM_LEASE_MS: i64 = 15 * 60 * 1000;

/// Everything the handler needs, built once per container.
pub struct Preprocessor {
    /// Megabytes of decoding memory, as permits: the messages of a batch decode concurrently within it.
    pub decode_budget: Arc<Semaphore>,
    pub decode_budget_mb: u32,
    pub config: PreprocessConfig,
    pub model: ModelBundle,
    pub store: StatusStore,
    pub objects: ObjectStore,
    pub sqs: aws_sdk_sqs::Client,
}

impl Preprocessor {
    pub fn new(config: PreprocessConfig, model: ModelBundle, clients: &imgpipe_core::aws::AwsClients) -> Self {
        Self {
            decode_budget: Arc::new(Semaphore::new(decode_budget_mb() as usize)),
            decode_budget_mb: decode_budget_mb(),
            store: StatusStore::new(clients.dynamodb.clone(), &config.table_name),
            objects: ObjectStore::new(clients.s3.clone(), &config.bucket_name),
            sqs: clients.sqs.clone(),
            config,
            model,
        }
    }
}

/// Processes a batch concurrently; only the messages that should be retried are reported as failures.
pub async fn handle_batch(preprocessor: &Preprocessor, event: SqsEvent) -> SqsBatchResponse {
    telemetry::batch_size(STAGE, event.records.len());
    let outcomes = join_all(
        event
            .records
            .iter()
            .map(|message| handle_message(preprocessor, message)),
    )
    .await;
    let mut response = SqsBatchResponse::default();
    for (message, outcome) in event.records.iter().zip(outcomes) {
        if outcome.is_err() {
            response.add_failure(message.message_id.clone().unwrap_or_default());
        }
    }
    response
}

/// `Err` means: leave the message on the queue for another delivery.
async fn handle_message(preprocessor: &Preprocessor, message: &SqsMessage) -> Result<(), ()> {
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let objects = match parse_s3_message(message.body.as_deref().unwrap_or_default()) {
        Ok(S3Message::Test) => {
            info!(message_id, "skipping s3:TestEvent");
            return Ok(());
        }
        Ok(S3Message::Objects(objects)) => objects,
        Err(err) => {
            // No image id to fail and nothing a retry could fix: drop it, loudly.
            warn!(message_id, error = %err, "dropping a message that is not an S3 notification");
            return Ok(());
        }
    };
    let delivery = Delivery::from_attributes(&message.attributes);
    let mut result = Ok(());
    for object in objects {
        let Some(image_id) = keys::image_id_from_upload_key(&object.key) else {
            warn!(
                key = object.key,
                "ignoring an object outside the upload prefix or without an image id"
            );
            continue;
        };
        let span = info_span!("preprocess", image_id = %image_id, message_id);
        let claimant = format!("sqs:{message_id}");
        if handle_object(preprocessor, image_id, &object, &delivery, &claimant)
            .instrument(span)
            .await
            .is_err()
        {
            result = Err(());
        }
    }
    result
}

async fn handle_object(
    preprocessor: &Preprocessor,
    image_id: ImageId,
    object: &UploadedObject,
    delivery: &Delivery,
    claimant: &str,
) -> Result<(), ()> {
    if !object.event_name.starts_with("ObjectCreated") {
        info!(event = object.event_name, "ignoring a non-create event");
        return Ok(());
    }
    let max_receive_count = preprocessor.config.max_receive_count;
    if retry::is_final_delivery(delivery, max_receive_count) {
        return retry::give_up(STAGE, &preprocessor.store, &image_id, delivery).await;
    }
    match preprocess_object(preprocessor, image_id, object, delivery, claimant).await {
        Ok(()) => Ok(()),
        Err(err) => settle_failure(STAGE, &preprocessor.store, &image_id, &err, delivery, max_receive_count).await,
    }
}

async fn preprocess_object(
    preprocessor: &Preprocessor,
    image_id: ImageId,
    object: &UploadedObject,
    delivery: &Delivery,
    claimant: &str,
) -> Result<(), PipelineError> {
    let started = now_ms();
    // The claim makes one SQS message the owner of the job: a redelivery of that message may resume it,
    // a duplicate S3 event (another message) may not, and an event older than one already seen is refused.
    let claim = Changes {
        s3_version: object.version_id.clone(),
        claim: Some(Claim {
            claimant: claimant.to_owned(),
            expires_at_ms: started + CLAIM_LEASE_MS,
        }),
        s3_sequencer: object.sequencer.as_deref().and_then(normalized_sequencer),
        ..Changes::default()
    };
    match preprocessor
        .store
        .transition(&image_id, Status::Preprocessing, claim, started)
        .await?
    {
        Transition::Applied => {}
        Transition::Rejected { current: None } => {
            warn!("no record for this upload (never created, expired or deleted); ignoring it");
            return Ok(());
        }
        Transition::Rejected { current: Some(status) } => {
            info!(%status, "claimed by another delivery, already past preprocessing, or an older event; ignored");
            return Ok(());
        }
    }
    let limits = preprocessor.config.limits;
    if let Some(size) = object.size {
        preprocess::check_size(size, limits.max_bytes)?;
    }
    let fetched = preprocessor
        .objects
        .get(&object.key, object.version_id.as_deref(), limits.max_bytes)
        .await?;
    let size_bytes = fetched.bytes.len() as u64;
    info!(size_bytes, version = fetched.version_id, "downloaded upload");

    let spec = preprocessor.model.meta.preprocess.clone();
    // Wait for room in the decoding budget; an image larger than the whole budget still runs, alone.
    let needed_mb = preprocess::decode_memory_estimate(&fetched.bytes).div_ceil(1 << 20);
    let permits = needed_mb.clamp(1, u64::from(preprocessor.decode_budget_mb)) as u32;
    let _memory = Arc::clone(&preprocessor.decode_budget)
        .acquire_many_owned(permits)
        .await
        .map_err(|e| PipelineError::transient(format!("decode budget closed: {e}")))?;
    let decode_started = std::time::Instant::now();
    let prepared = tokio::task::spawn_blocking(move || preprocess::preprocess(&fetched.bytes, &spec, &limits))
        .await
        .map_err(|e| PipelineError::transient(format!("preprocessing task failed: {e}")))??;
    let compute_ms = decode_started.elapsed().as_millis() as i64;
    info!(
        format = ?prepared.format,
        width = prepared.source_width,
        height = prepared.source_height,
        compute_ms,
        "preprocessed"
    );

    let finished = now_ms();
    let mut timings = vec![("preprocess", finished - started)];
    if let Some(sent) = delivery.sent_at_ms {
        timings.push(("preprocess_queue_wait", (started - sent).max(0)));
    }
    let done = Changes {
        s3_version: fetched.version_id.clone().or_else(|| object.version_id.clone()),
        size_bytes: Some(size_bytes),
        width: Some(prepared.source_width),
        height: Some(prepared.source_height),
        format: Some(format!("{:?}", prepared.format).to_lowercase()),
        timings_ms: timings,
        ..Changes::default()
    };
    // Message first, status second: if the send fails the job is still `preprocessing`, which a retry
    // may re-enter. Inference accepts any live job, so it may even finish before `preprocessed` is
    // written; that late write is then rejected by the status machine and changes nothing.
    let meta = &preprocessor.model.meta;
    let request = InferenceRequest {
        image_id,
        width: prepared.width,
        height: prepared.height,
        source_version: fetched.version_id.clone(),
        model: ModelRef {
            name: meta.name.clone(),
            version: meta.version.clone(),
        },
        sent_at_ms: now_ms(),
    };
    queue::send_inference_request(
        &preprocessor.sqs,
        &preprocessor.config.inference_queue_url,
        &request,
        prepared.pixels,
    )
    .await?;
    if let Transition::Rejected { current } = preprocessor
        .store
        .transition(&image_id, Status::Preprocessed, done, finished)
        .await?
    {
        info!(?current, "job moved on before preprocessed was recorded");
    }
    telemetry::image_processed(STAGE);
    telemetry::stage_ms(STAGE, "decode_resize", compute_ms as f64);
    telemetry::stage_ms(STAGE, "total", (now_ms() - started) as f64);
    if let Some(sent) = delivery.sent_at_ms {
        telemetry::stage_ms(STAGE, "queue_wait", (started - sent).max(0) as f64);
    }
    info!("sent to inference");
    Ok(())
}

//! One uploaded object through the preprocess stage.

use std::sync::Arc;

use imgpipe_domain::limits::check_size;
use imgpipe_domain::messages::{InferenceRequest, ModelRef};
use imgpipe_domain::ports::{Fetched, InferenceQueue, Jobs, Objects};
use imgpipe_domain::record::{Changes, Claim, Transition};
use imgpipe_domain::retry::{self, settle_failure, Ack, Delivery};
use imgpipe_domain::s3_event::{normalized_sequencer, UploadedObject};
use imgpipe_domain::time::now_ms;
use imgpipe_domain::{telemetry, ImageId, PipelineError, Status};
use imgpipe_vision::Preprocessed;
use tracing::{info, warn};

use crate::{Preprocessor, STAGE};

/// How long a claim protects a job from other deliveries: the longest a Lambda invocation can run, so a
/// live attempt is never overtaken and a crashed one is resumed by the next delivery after it.
pub const CLAIM_LEASE_MS: i64 = 15 * 60 * 1000;

/// The object's outcome: the queue's final delivery only records (`retry::give_up`); every other one
/// works, and a failure is settled by its fault.
pub async fn handle_object<J: Jobs, O: Objects, Q: InferenceQueue>(
    preprocessor: &Preprocessor<J, O, Q>,
    image_id: ImageId,
    object: &UploadedObject,
    delivery: &Delivery,
    claimant: &str,
) -> Ack {
    if !object.event_name.starts_with("ObjectCreated") {
        info!(event = object.event_name, "ignoring a non-create event");
        return Ack::Done;
    }
    let max_receive_count = preprocessor.config.max_receive_count;
    if retry::is_final_delivery(delivery, max_receive_count) {
        return retry::give_up(STAGE, &preprocessor.jobs, &image_id, delivery).await;
    }
    match preprocess_object(preprocessor, image_id, object, delivery, claimant).await {
        Ok(()) => Ack::Done,
        Err(err) => settle_failure(STAGE, &preprocessor.jobs, &image_id, &err, delivery, max_receive_count).await,
    }
}

/// Claim, download, decode, send, record: each step in a function of its own below.
async fn preprocess_object<J: Jobs, O: Objects, Q: InferenceQueue>(
    preprocessor: &Preprocessor<J, O, Q>,
    image_id: ImageId,
    object: &UploadedObject,
    delivery: &Delivery,
    claimant: &str,
) -> Result<(), PipelineError> {
    let started = now_ms();
    if !claim(preprocessor, &image_id, object, claimant, started).await? {
        return Ok(());
    }
    let fetched = download(preprocessor, object).await?;
    let size_bytes = fetched.bytes.len() as u64;
    let version = fetched.version_id.clone().or_else(|| object.version_id.clone());
    let (prepared, compute_ms) = decode(preprocessor, fetched).await?;
    let Preprocessed {
        format,
        source_width,
        source_height,
        width,
        height,
        pixels,
    } = prepared;
    // Message first, status second: if the send fails the job is still `preprocessing`, which a retry
    // may re-enter. Inference accepts any live job, so it may even finish before `preprocessed` is
    // written; that late write is then rejected by the status machine and changes nothing.
    send_to_inference(preprocessor, image_id, version.clone(), (width, height), pixels).await?;
    let finished = now_ms();
    let mut timings = vec![("preprocess", finished - started)];
    if let Some(sent) = delivery.sent_at_ms {
        timings.push(("preprocess_queue_wait", (started - sent).max(0)));
    }
    let done = Changes {
        s3_version: version,
        size_bytes: Some(size_bytes),
        width: Some(source_width),
        height: Some(source_height),
        format: Some(format!("{format:?}").to_lowercase()),
        timings_ms: timings,
        ..Changes::default()
    };
    if let Transition::Rejected { current } = preprocessor
        .jobs
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

/// Enters `preprocessing` for this message. The claim makes one SQS message the owner of the job: a
/// redelivery of that message may resume it, a duplicate S3 event (another message) may not, and an
/// event older than one already seen is refused. `false`: someone else has it, or it is gone.
async fn claim<J: Jobs, O: Objects, Q: InferenceQueue>(
    preprocessor: &Preprocessor<J, O, Q>,
    image_id: &ImageId,
    object: &UploadedObject,
    claimant: &str,
    now: i64,
) -> Result<bool, PipelineError> {
    let claim = Changes {
        s3_version: object.version_id.clone(),
        claim: Some(Claim {
            claimant: claimant.to_owned(),
            expires_at_ms: now + CLAIM_LEASE_MS,
        }),
        s3_sequencer: object.sequencer.as_deref().and_then(normalized_sequencer),
        ..Changes::default()
    };
    match preprocessor
        .jobs
        .transition(image_id, Status::Preprocessing, claim, now)
        .await?
    {
        Transition::Applied => Ok(true),
        Transition::Rejected { current: None } => {
            warn!("no record for this upload (never created, expired or deleted); ignoring it");
            Ok(false)
        }
        Transition::Rejected { current: Some(status) } => {
            info!(%status, "claimed by another delivery, already past preprocessing, or an older event; ignored");
            Ok(false)
        }
    }
}

/// The upload's bytes, refused from the event's size before any download when it is too large.
async fn download<J: Jobs, O: Objects, Q: InferenceQueue>(
    preprocessor: &Preprocessor<J, O, Q>,
    object: &UploadedObject,
) -> Result<Fetched, PipelineError> {
    let max_bytes = preprocessor.config.limits.max_bytes;
    if let Some(size) = object.size {
        check_size(size, max_bytes)?;
    }
    let fetched = preprocessor
        .objects
        .get(&object.key, object.version_id.as_deref(), max_bytes)
        .await?;
    info!(
        size_bytes = fetched.bytes.len(),
        version = fetched.version_id,
        "downloaded upload"
    );
    Ok(fetched)
}

/// Decodes within the decoding budget (an image larger than the whole budget still runs, alone), on a
/// blocking thread; returns the pixels and the milliseconds of computation.
async fn decode<J: Jobs, O: Objects, Q: InferenceQueue>(
    preprocessor: &Preprocessor<J, O, Q>,
    fetched: Fetched,
) -> Result<(Preprocessed, i64), PipelineError> {
    let needed_mb = imgpipe_vision::decode_memory_estimate(&fetched.bytes).div_ceil(1 << 20);
    let permits = needed_mb.clamp(1, u64::from(preprocessor.decode_budget_mb)) as u32;
    let _memory = Arc::clone(&preprocessor.decode_budget)
        .acquire_many_owned(permits)
        .await
        .map_err(|e| PipelineError::transient_because("the decode budget is closed", e))?;
    let spec = preprocessor.model.meta.preprocess.clone();
    let limits = preprocessor.config.limits;
    let started = std::time::Instant::now();
    let prepared = tokio::task::spawn_blocking(move || imgpipe_vision::preprocess(&fetched.bytes, &spec, &limits))
        .await
        .map_err(|e| PipelineError::transient_because("the preprocessing task failed", e))??;
    let compute_ms = started.elapsed().as_millis() as i64;
    info!(
        format = ?prepared.format,
        width = prepared.source_width,
        height = prepared.source_height,
        compute_ms,
        "preprocessed"
    );
    Ok((prepared, compute_ms))
}

async fn send_to_inference<J: Jobs, O: Objects, Q: InferenceQueue>(
    preprocessor: &Preprocessor<J, O, Q>,
    image_id: ImageId,
    source_version: Option<String>,
    (width, height): (u32, u32),
    pixels: Vec<u8>,
) -> Result<(), PipelineError> {
    let meta = &preprocessor.model.meta;
    let request = InferenceRequest {
        image_id,
        width,
        height,
        source_version,
        model: ModelRef {
            name: meta.name.clone(),
            version: meta.version.clone(),
        },
        sent_at_ms: now_ms(),
    };
    preprocessor
        .queue
        .send(&preprocessor.config.inference_queue_url, &request, pixels)
        .await
}

//! One uploaded object through the preprocess stage.

use std::sync::Arc;

use imgpipe_domain::config::AuthMode;
use imgpipe_domain::events::Announce;
use imgpipe_domain::limits::check_size;
use imgpipe_domain::messages::{InferenceRequest, ModelRef};
use imgpipe_domain::model_spec::DeployedModel;
use imgpipe_domain::ports::{Fetched, InferenceQueue, Jobs, Objects};
use imgpipe_domain::record::{Changes, Claim, Created, ImageRecord, NewImage, Transition};
use imgpipe_domain::retry::{ended_before, settle_failure_of_version, Ack, Delivery};
use imgpipe_domain::s3_event::{normalized_sequencer, UploadedObject};
use imgpipe_domain::time::now_ms;
use imgpipe_domain::{owner, telemetry, ErrorCode, ImageId, PipelineError, Status};
use imgpipe_vision::Preprocessed;
use tracing::{info, warn};

use crate::{Preprocessor, STAGE};

/// How long a claim protects a job from other deliveries: the longest a Lambda invocation can run, so a
/// live attempt is never overtaken and a crashed one is resumed by the next delivery after it.
pub const CLAIM_LEASE_MS: i64 = 15 * 60 * 1000;

/// One object of an S3 notification and the job it stands for.
pub struct Job<'a> {
    pub image_id: ImageId,
    /// An object under the ingest prefix: its key below the prefix (the job is created here).
    pub ingested: Option<String>,
    pub object: &'a UploadedObject,
    pub delivery: &'a Delivery,
    /// The SQS message that holds the job while it works on it.
    pub claimant: &'a str,
}

/// What claiming the job found.
enum Claimed {
    /// This delivery holds the job now.
    Held(Box<ImageRecord>),
    /// The job had already ended (a redelivery may have to announce it again).
    Ended(Box<ImageRecord>),
    /// Someone else holds it, it moved past preprocessing, the event is older, or there is no job.
    Elsewhere,
}

pub async fn handle_object<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce>(
    preprocessor: &Preprocessor<J, O, Q, A>,
    job: &Job<'_>,
) -> Ack {
    if !job.object.event_name.starts_with("ObjectCreated") {
        info!(event = job.object.event_name, "ignoring a non-create event");
        return Ack::Done;
    }
    // The version read, when the event did not say which (it is the one a rejection removes).
    let mut version = job.object.version_id.clone();
    match preprocess_object(preprocessor, job, &mut version).await {
        Ok(ack) => ack,
        // The preprocessor is its own announcer: it removes a rejected upload before announcing.
        Err(err) => {
            let jobs = &preprocessor.jobs;
            settle_failure_of_version(STAGE, jobs, preprocessor, &job.image_id, &err, job.delivery, version).await
        }
    }
}

/// Claim, choose the model, download, decode, send, record: each step in a function of its own below.
async fn preprocess_object<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce>(
    preprocessor: &Preprocessor<J, O, Q, A>,
    job: &Job<'_>,
    version_read: &mut Option<String>,
) -> Result<Ack, PipelineError> {
    let started = now_ms();
    let record = match claim(preprocessor, job, started).await? {
        Claimed::Held(record) => record,
        Claimed::Ended(record) => return Ok(ended_before(STAGE, preprocessor, &record, job.delivery).await),
        Claimed::Elsewhere => return Ok(Ack::Done),
    };
    let model = model_of(preprocessor, &record)?;
    let fetched = download(preprocessor, job.object).await?;
    let size_bytes = fetched.bytes.len() as u64;
    let version = fetched.version_id.clone().or_else(|| job.object.version_id.clone());
    version_read.clone_from(&version);
    let (prepared, compute_ms) = decode(preprocessor, model, fetched).await?;
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
    send_to_inference(
        preprocessor,
        model,
        job.image_id,
        version.clone(),
        (width, height),
        pixels,
    )
    .await?;
    let finished = now_ms();
    let mut timings = vec![("preprocess", finished - started)];
    if let Some(sent) = job.delivery.sent_at_ms {
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
        .transition(&job.image_id, Status::Preprocessed, done, finished)
        .await?
    {
        info!(?current, "job moved on before preprocessed was recorded");
    }
    telemetry::image_processed(STAGE);
    telemetry::stage_ms(STAGE, "decode_resize", compute_ms as f64);
    telemetry::stage_ms(STAGE, "total", (now_ms() - started) as f64);
    if let Some(sent) = job.delivery.sent_at_ms {
        telemetry::stage_ms(STAGE, "queue_wait", (started - sent).max(0) as f64);
    }
    info!(model = model.name, "sent to inference");
    Ok(Ack::Done)
}

/// Enters `preprocessing` for this message. The claim makes one SQS message the owner of the job: a
/// redelivery of that message may resume it, a duplicate S3 event (another message) may not, and an
/// event older than one already seen is refused. An ingested object's job is created here, claimed.
async fn claim<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce>(
    preprocessor: &Preprocessor<J, O, Q, A>,
    job: &Job<'_>,
    now: i64,
) -> Result<Claimed, PipelineError> {
    let claim = Claim {
        claimant: job.claimant.to_owned(),
        expires_at_ms: now + CLAIM_LEASE_MS,
    };
    let sequencer = job.object.sequencer.as_deref().and_then(normalized_sequencer);
    if let Some(source_key) = &job.ingested {
        let image = ingested_image(preprocessor, job, source_key, claim.clone(), sequencer.clone(), now);
        if preprocessor.jobs.create(&image).await? == Created::New {
            info!(source_key, owner = image.owner, "created the job of an ingested object");
            return Ok(Claimed::Held(Box::new(image.record())));
        }
    }
    let changes = Changes {
        s3_version: job.object.version_id.clone(),
        claim: Some(claim),
        s3_sequencer: sequencer,
        ..Changes::default()
    };
    match preprocessor
        .jobs
        .transition(&job.image_id, Status::Preprocessing, changes, now)
        .await?
    {
        Transition::Applied(record) => Ok(Claimed::Held(record)),
        Transition::Rejected { current: None } => {
            warn!("no record for this upload (never created, expired or deleted); ignoring it");
            Ok(Claimed::Elsewhere)
        }
        Transition::Rejected { current: Some(status) } if status.is_terminal() => {
            match preprocessor.jobs.get(&job.image_id).await? {
                Some(record) => Ok(Claimed::Ended(Box::new(record))),
                None => Ok(Claimed::Elsewhere),
            }
        }
        Transition::Rejected { current: Some(status) } => {
            info!(%status, "claimed by another delivery, already past preprocessing, or an older event; ignored");
            Ok(Claimed::Elsewhere)
        }
    }
}

/// The job of an object written under the ingest prefix: owned by whoever wrote it (the event's
/// principal, the same owner as through the API; nobody in the `none` mode), named by its key, served by
/// the default model.
fn ingested_image<J, O, Q, A>(
    preprocessor: &Preprocessor<J, O, Q, A>,
    job: &Job<'_>,
    source_key: &str,
    claim: Claim,
    sequencer: Option<String>,
    now: i64,
) -> NewImage {
    let (model, choice) = preprocessor.config.routing.choose(&job.image_id);
    let expires_at_secs = now / 1000 + preprocessor.config.retention_days as i64 * 86_400;
    let mut image = NewImage::pending_upload(
        job.image_id,
        match preprocessor.config.auth_mode {
            AuthMode::None => None,
            _ => job.object.principal_id.as_deref().and_then(owner::from_s3_principal),
        },
        "application/octet-stream",
        job.object.key.clone(),
        now,
        expires_at_secs,
    );
    // No `filename`: the key is the name, and a second copy of it would push a completed item with a
    // long key past 1 KB (two write units per write).
    image.source_key = Some(source_key.to_owned());
    image.model_name = Some(model.to_owned());
    image.model_choice = Some(choice.as_str().to_owned());
    image.status = Status::Preprocessing;
    image.claim = Some(claim);
    image.s3_version = job.object.version_id.clone();
    image.s3_sequencer = sequencer;
    image
}

/// The model the job was created for (its record says; older records: the default).
fn model_of<'p, J, O, Q, A>(
    preprocessor: &'p Preprocessor<J, O, Q, A>,
    record: &ImageRecord,
) -> Result<&'p DeployedModel, PipelineError> {
    let config = &preprocessor.config;
    let name = match &record.model_name {
        Some(name) => name.as_str(),
        None => config.routing.choose(&record.image_id).0,
    };
    config.model(name).ok_or_else(|| {
        PipelineError::permanent_because(
            ErrorCode::Internal,
            format!("the model {name} is not deployed"),
            format!("IMGPIPE_MODELS has no model {name}"),
        )
    })
}

/// The upload's bytes, refused from the event's size before any download when it is too large.
async fn download<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce>(
    preprocessor: &Preprocessor<J, O, Q, A>,
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
async fn decode<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce>(
    preprocessor: &Preprocessor<J, O, Q, A>,
    model: &DeployedModel,
    fetched: Fetched,
) -> Result<(Preprocessed, i64), PipelineError> {
    let needed_mb = imgpipe_vision::decode_memory_estimate(&fetched.bytes).div_ceil(1 << 20);
    let permits = needed_mb.clamp(1, u64::from(preprocessor.decode_budget_mb)) as u32;
    let _memory = Arc::clone(&preprocessor.decode_budget)
        .acquire_many_owned(permits)
        .await
        .map_err(|e| PipelineError::transient_because("the decode budget is closed", e))?;
    let rule = model
        .rule()
        .map_err(|e| PipelineError::permanent_because(ErrorCode::Internal, "the model's rule is invalid", e))?;
    let limits = preprocessor.config.limits;
    let started = std::time::Instant::now();
    let prepared = tokio::task::spawn_blocking(move || imgpipe_vision::preprocess(&fetched.bytes, &rule, &limits))
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

async fn send_to_inference<J: Jobs, O: Objects, Q: InferenceQueue, A: Announce>(
    preprocessor: &Preprocessor<J, O, Q, A>,
    model: &DeployedModel,
    image_id: ImageId,
    source_version: Option<String>,
    (width, height): (u32, u32),
    pixels: Vec<u8>,
) -> Result<(), PipelineError> {
    let request = InferenceRequest {
        image_id,
        width,
        height,
        source_version,
        model: ModelRef {
            name: model.name.clone(),
            version: model.version.clone(),
        },
        sent_at_ms: now_ms(),
    };
    // Checked when the configuration was read; the manifest guarantees a queue for every model.
    let queue_url = model.queue_url.as_deref().unwrap_or_default();
    preprocessor.queue.send(queue_url, &request, pixels).await
}

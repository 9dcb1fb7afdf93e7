//! The sweeper function: no job is left behind.
//!
//! Every delivery of a stage's message does the work; when a fault outlasts the queue's deliveries, or a
//! delivery dies (timeout, out of memory), SQS moves the message to the stage's dead-letter queue, and
//! nothing else would ever end that job. The sweeper ends it, two ways:
//!
//! - **dead letters** (an SQS event source mapping on the preprocess DLQ and every inference DLQ): the
//!   message names its job; a job that has not ended is recorded `failed`/`retries_exhausted` at once and
//!   announced, and the message is deleted (its detail is in this function's log).
//! - **a scheduled sweep** (an EventBridge schedule, `{"sweep": "scheduled"}`): jobs that can no longer
//!   get a message: a `pending_upload` whose upload URL expired without an upload (`upload_missing`), and
//!   any live job older than the queues' retention plus every redelivery (`retries_exhausted`; its message
//!   expired unseen, which SQS does not dead-letter).
//!
//! Every write is conditional on the job not having moved since the sweeper read it, so a success that
//! lands meanwhile wins. Both paths are needed: the schedule alone would end dead-lettered jobs only
//! after the retention period (days), the dead letters alone never see an upload that did not come.
//!
//! # Layout
//!
//! - this file: the `Sweeper`, the entry point that tells the two events apart;
//! - [`dead_letters`]: a batch of dead-lettered messages -> their jobs -> `failed`;
//! - [`scheduled`]: one sweep over the status index.

pub mod dead_letters;
pub mod scheduled;

use aws_lambda_events::sqs::SqsEvent;
use imgpipe_aws::events::EventBridgeEvents;
use imgpipe_aws::objects::S3Objects;
use imgpipe_aws::store::DynamoJobs;
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::SweeperConfig;
use imgpipe_domain::events::{Announce, Announcer};
use imgpipe_domain::ports::{Jobs, Objects};
use imgpipe_domain::record::{Changes, ImageRecord, JobError, Transition};
use imgpipe_domain::retry::{announce, Ack};
use imgpipe_domain::time::now_ms;
use imgpipe_domain::{telemetry, ErrorCode, PipelineError, Status};
use serde_json::{json, Value};
use tracing::{info, warn};

const STAGE: &str = "sweeper";

pub struct Sweeper<J, O, A> {
    pub config: SweeperConfig,
    pub jobs: J,
    /// The image bucket: whether a pending upload arrived.
    pub objects: O,
    pub announcer: A,
}

impl<J: Jobs, O: Objects, A: Announce> Sweeper<J, O, A> {
    pub fn new(config: SweeperConfig, jobs: J, objects: O, announcer: A) -> Self {
        Self {
            config,
            jobs,
            objects,
            announcer,
        }
    }
}

/// The function as deployed.
pub type AwsSweeper = Sweeper<DynamoJobs, S3Objects, Announcer<EventBridgeEvents, S3Objects>>;

impl AwsSweeper {
    pub fn on_aws(config: SweeperConfig, aws: &AwsConfig) -> Self {
        let jobs = DynamoJobs::new(aws.dynamodb(), &config.table_name);
        let objects = S3Objects::new(aws.s3(), &config.bucket_name);
        let announcer = Announcer {
            events: EventBridgeEvents::new(aws.eventbridge(), &config.event_bus_name),
            objects: objects.clone(),
        };
        Self::new(config, jobs, objects, announcer)
    }
}

/// Dead letters (an SQS event) or the schedule (`{"sweep": "scheduled"}`); anything else is refused.
pub async fn handle<J: Jobs, O: Objects, A: Announce>(
    sweeper: &Sweeper<J, O, A>,
    event: Value,
) -> Result<Value, lambda_runtime::Error> {
    if event.get("sweep").is_some() {
        let report = scheduled::sweep(sweeper, now_ms()).await?;
        return Ok(serde_json::to_value(report)?);
    }
    let records_from_sqs = event["Records"]
        .as_array()
        .is_some_and(|records| records.iter().all(|r| r["eventSource"] == "aws:sqs"));
    if records_from_sqs {
        let batch: SqsEvent = serde_json::from_value(event)?;
        return Ok(serde_json::to_value(dead_letters::handle_batch(sweeper, batch).await)?);
    }
    Err(format!(
        "not an SQS event and not a scheduled sweep: {}",
        json!(event).to_string().chars().take(200).collect::<String>()
    )
    .into())
}

/// Why a job was ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    DeadLetter,
    UploadMissing,
    Stale,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::DeadLetter => "dead_letter",
            Reason::UploadMissing => "upload_missing",
            Reason::Stale => "stale",
        }
    }

    fn error(self) -> JobError {
        match self {
            Reason::DeadLetter | Reason::Stale => JobError {
                code: ErrorCode::RetriesExhausted,
                message: "a temporary fault persisted through every retry; submit the image again".into(),
            },
            Reason::UploadMissing => JobError {
                code: ErrorCode::UploadMissing,
                message: "no upload arrived before the upload URL expired".into(),
            },
        }
    }
}

/// What ending one job did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// Ended and announced.
    Swept,
    /// Ended, but the announcement failed.
    Unannounced,
    /// It had moved on (a late success wins) or ended already: nothing written.
    Moved,
}

/// Ends a job as `failed` for `reason`, only if it is still as the sweeper read it; then announces it.
pub async fn end<J: Jobs, O: Objects, A: Announce>(
    sweeper: &Sweeper<J, O, A>,
    record: &ImageRecord,
    reason: Reason,
) -> Result<Ended, PipelineError> {
    if record.status.is_terminal() {
        return Ok(Ended::Moved);
    }
    let changes = Changes {
        error: Some(reason.error()),
        expected_updated_at: Some(record.updated_at),
        ..Changes::default()
    };
    match sweeper
        .jobs
        .transition(&record.image_id, Status::Failed, changes, now_ms())
        .await?
    {
        Transition::Applied(ended) => {
            warn!(image_id = %record.image_id, reason = reason.as_str(), was = %record.status, "swept a job that was left behind");
            telemetry::swept(reason.as_str());
            telemetry::failure(STAGE, reason.error().code.as_str());
            telemetry::job_ended(&ended);
            // A scheduled sweep has no message to retry with: it tries a few times itself.
            for attempt in 0..3 {
                if attempt > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                }
                if announce(STAGE, &sweeper.announcer, &ended).await == Ack::Done {
                    return Ok(Ended::Swept);
                }
            }
            Ok(Ended::Unannounced)
        }
        Transition::Rejected { current } => {
            info!(image_id = %record.image_id, ?current, "the job moved on before the sweep; left as it is");
            Ok(Ended::Moved)
        }
    }
}

#[cfg(test)]
mod tests;

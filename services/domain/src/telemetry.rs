//! Metrics, through the `metrics` facade: the Lambda binaries install the CloudWatch embedded-metric-format
//! collector (`imgpipe_aws::telemetry`), so each invocation's figures land in its log as EMF and become
//! CloudWatch metrics without any API call. Without a collector (tests, the local stack) these are no-ops.
//!
//! [`METRICS`] is the one list of what is emitted, with each metric's fixed dimension set: it goes into
//! services/contract.json, and the dashboard and alarms in Terraform are tested against it. Dimensions stay
//! low-cardinality (function, stage, model, error code): an image id is a log field, never a dimension,
//! since every distinct dimension value is a separately billed metric. Metrics that describe the pipeline
//! as a whole (`jobs_*`) carry no `function` dimension, so every function's contributions add up to one
//! series that an alarm can use.

use std::sync::OnceLock;

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};

use crate::record::ImageRecord;
use crate::status::Status;

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "imgpipe";

/// One metric: its name, unit and the dimension keys it is always emitted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricSpec {
    pub name: &'static str,
    pub unit: &'static str,
    pub dimensions: &'static [&'static str],
    pub description: &'static str,
}

pub const IMAGES_PROCESSED: &str = "images_processed";
pub const FAILURES: &str = "failures";
pub const STAGE_MS: &str = "stage_ms";
pub const BATCH_SIZE: &str = "batch_size";
pub const COLD_START: &str = "cold_start";
pub const JOBS_ENDED: &str = "jobs_ended";
pub const JOBS_FAILED: &str = "jobs_failed";
pub const JOBS_COMPLETED: &str = "jobs_completed";
pub const END_TO_END_MS: &str = "end_to_end_ms";
pub const CONFIGURATION_FAULTS: &str = "configuration_faults";
pub const SWEPT: &str = "swept";
pub const EVENT_PUBLISH_FAILURES: &str = "event_publish_failures";
pub const WEBHOOKS: &str = "webhooks";
pub const QUOTA_REFUSALS: &str = "quota_refusals";

pub const METRICS: &[MetricSpec] = &[
    MetricSpec {
        name: IMAGES_PROCESSED,
        unit: "Count",
        dimensions: &["function", "stage"],
        description: "images a stage finished",
    },
    MetricSpec {
        name: FAILURES,
        unit: "Count",
        dimensions: &["function", "stage", "error_code"],
        description: "jobs a stage ended as failed, by error code",
    },
    MetricSpec {
        name: STAGE_MS,
        unit: "Milliseconds",
        dimensions: &["function", "stage", "step"],
        description: "time of one step of a stage (queue_wait, decode_resize, total, model_run, end_to_end)",
    },
    MetricSpec {
        name: BATCH_SIZE,
        unit: "Count",
        dimensions: &["function", "stage"],
        description: "messages in one invocation",
    },
    MetricSpec {
        name: COLD_START,
        unit: "Count",
        dimensions: &["function"],
        description: "invocations that started a new execution environment",
    },
    MetricSpec {
        name: JOBS_ENDED,
        unit: "Count",
        dimensions: &["outcome"],
        description: "jobs that reached a terminal status, outcome completed or failed",
    },
    MetricSpec {
        name: JOBS_FAILED,
        unit: "Count",
        dimensions: &["error_code"],
        description: "jobs that ended failed, by error code",
    },
    MetricSpec {
        name: JOBS_COMPLETED,
        unit: "Count",
        dimensions: &["model"],
        description: "jobs completed, by the model that served them",
    },
    MetricSpec {
        name: END_TO_END_MS,
        unit: "Milliseconds",
        dimensions: &["model"],
        description: "from the job's creation to its result, by model",
    },
    MetricSpec {
        name: CONFIGURATION_FAULTS,
        unit: "Count",
        dimensions: &["function", "stage"],
        description: "AWS calls refused for a deployment fault (access denied, missing resource, invalid request)",
    },
    MetricSpec {
        name: SWEPT,
        unit: "Count",
        dimensions: &["reason"],
        description: "jobs the sweeper ended: dead_letter, upload_missing or stale",
    },
    MetricSpec {
        name: EVENT_PUBLISH_FAILURES,
        unit: "Count",
        dimensions: &["function"],
        description: "announcements of an ended job that failed (retried with the message)",
    },
    MetricSpec {
        name: WEBHOOKS,
        unit: "Count",
        dimensions: &["outcome"],
        description: "webhook deliveries: delivered, retried, failed or refused",
    },
    MetricSpec {
        name: QUOTA_REFUSALS,
        unit: "Count",
        dimensions: &["function"],
        description: "image creations refused by the per-owner daily quota",
    },
];

static FUNCTION: OnceLock<&'static str> = OnceLock::new();

/// Names the function that emits (once, when the collector is installed); `local` until then.
pub fn set_function(name: &str) {
    let _ = FUNCTION.set(Box::leak(name.to_owned().into_boxed_str()));
}

fn function() -> &'static str {
    FUNCTION.get().copied().unwrap_or("local")
}

pub fn describe() {
    for metric in METRICS {
        let unit = match metric.unit {
            "Milliseconds" => Unit::Milliseconds,
            _ => Unit::Count,
        };
        if metric.unit == "Milliseconds" || metric.name == BATCH_SIZE {
            describe_histogram!(metric.name, unit, metric.description);
        } else {
            describe_counter!(metric.name, unit, metric.description);
        }
    }
}

pub fn image_processed(stage: &'static str) {
    counter!(IMAGES_PROCESSED, "function" => function(), "stage" => stage).increment(1);
}

pub fn failure(stage: &'static str, code: &'static str) {
    counter!(FAILURES, "function" => function(), "stage" => stage, "error_code" => code).increment(1);
}

/// `step` names what was timed: `queue_wait`, `decode_resize`, `total`, `model_run`, `end_to_end`.
pub fn stage_ms(stage: &'static str, step: &'static str, millis: f64) {
    histogram!(STAGE_MS, "function" => function(), "stage" => stage, "step" => step).record(millis);
}

pub fn batch_size(stage: &'static str, size: usize) {
    histogram!(BATCH_SIZE, "function" => function(), "stage" => stage).record(size as f64);
}

/// A call failed because the deployment is wrong (see `error::Fault::Configuration`).
pub fn configuration_fault(stage: &'static str) {
    counter!(CONFIGURATION_FAULTS, "function" => function(), "stage" => stage).increment(1);
}

/// A job reached a terminal status (the stage that wrote it calls this once).
pub fn job_ended(record: &ImageRecord) {
    match record.status {
        Status::Completed => {
            counter!(JOBS_ENDED, "outcome" => "completed").increment(1);
            let model = record.model.as_ref().map(|m| m.name.clone()).unwrap_or_default();
            counter!(JOBS_COMPLETED, "model" => model.clone()).increment(1);
            if let Some(done) = record.timeline.get(Status::Completed.as_str()) {
                histogram!(END_TO_END_MS, "model" => model).record((done - record.created_at) as f64);
            }
        }
        Status::Failed => {
            counter!(JOBS_ENDED, "outcome" => "failed").increment(1);
            let code = record.error.as_ref().map(|e| e.code.as_str()).unwrap_or("internal");
            counter!(JOBS_FAILED, "error_code" => code).increment(1);
        }
        _ => {}
    }
}

/// The sweeper ended a job: `dead_letter`, `upload_missing` or `stale`.
pub fn swept(reason: &'static str) {
    counter!(SWEPT, "reason" => reason).increment(1);
}

pub fn event_publish_failure(_stage: &'static str) {
    counter!(EVENT_PUBLISH_FAILURES, "function" => function()).increment(1);
}

/// `delivered`, `retried`, `failed` or `refused`.
pub fn webhook(outcome: &'static str) {
    counter!(WEBHOOKS, "outcome" => outcome).increment(1);
}

pub fn quota_refusal() {
    counter!(QUOTA_REFUSALS, "function" => function()).increment(1);
}

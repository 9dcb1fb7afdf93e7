//! Metrics, through the `metrics` facade: the Lambda binaries install the CloudWatch embedded-metric-format
//! collector (`imgpipe_aws::telemetry`), so each invocation's figures land in its log as EMF and become
//! CloudWatch metrics without any API call. Without a collector (tests, the local stack) these are no-ops.
//!
//! Dimensions stay low-cardinality (function, stage, error code): an image id is a log field, never a
//! metric dimension, since every distinct dimension value is a separately billed metric.

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "imgpipe";

pub const IMAGES_PROCESSED: &str = "images_processed";
pub const FAILURES: &str = "failures";
pub const STAGE_MS: &str = "stage_ms";
pub const BATCH_SIZE: &str = "batch_size";
pub const CONFIGURATION_FAULTS: &str = "configuration_faults";

pub fn describe() {
    describe_counter!(IMAGES_PROCESSED, Unit::Count, "images a stage finished");
    describe_counter!(FAILURES, Unit::Count, "jobs a stage ended as failed, by error code");
    describe_histogram!(
        STAGE_MS,
        Unit::Milliseconds,
        "time of one step of a stage, per image or batch"
    );
    describe_histogram!(BATCH_SIZE, Unit::Count, "messages in one invocation");
    describe_counter!(
        CONFIGURATION_FAULTS,
        Unit::Count,
        "AWS calls refused for a deployment fault (access denied, missing resource, invalid request)"
    );
}

pub fn image_processed(stage: &'static str) {
    counter!(IMAGES_PROCESSED, "stage" => stage).increment(1);
}

pub fn failure(stage: &'static str, code: &'static str) {
    counter!(FAILURES, "stage" => stage, "error_code" => code).increment(1);
}

/// `step` names what was timed: `preprocess`, `queue_wait`, `model_run`, `end_to_end`, ...
pub fn stage_ms(stage: &'static str, step: &'static str, millis: f64) {
    histogram!(STAGE_MS, "stage" => stage, "step" => step).record(millis);
}

pub fn batch_size(stage: &'static str, size: usize) {
    histogram!(BATCH_SIZE, "stage" => stage).record(size as f64);
}

/// A call failed because the deployment is wrong (see `error::Fault::Configuration`).
pub fn configuration_fault(stage: &'static str) {
    counter!(CONFIGURATION_FAULTS, "stage" => stage).increment(1);
}

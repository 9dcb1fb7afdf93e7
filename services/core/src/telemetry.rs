//! Metrics, through the `metrics` facade: the Lambda binaries install the CloudWatch embedded-metric-format
//! collector (`metrics_cloudwatch_embedded`), so each invocation's figures land in its log as EMF and
//! become CloudWatch metrics without any API call. Without a collector (tests, the local stack) these
//! are no-ops.
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

pub fn describe() {
    describe_counter!(IMAGES_PROCESSED, Unit::Count, "images a stage finished");
    describe_counter!(FAILURES, Unit::Count, "jobs a stage ended as failed, by error code");
    describe_histogram!(
        STAGE_MS,
        Unit::Milliseconds,
        "time of one step of a stage, per image or batch"
    );
    describe_histogram!(BATCH_SIZE, Unit::Count, "messages in one invocation");
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

/// Installs the process-wide CloudWatch embedded-metric-format collector of a Lambda function (once, at
/// start-up); `lambda::service::run` then flushes it to the log after every invocation.
pub fn lambda_collector(default_function: &str) -> Result<&'static metrics_cloudwatch_embedded::Collector, String> {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| default_function.to_owned());
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_dimension("function", function)
        .lambda_cold_start_metric("cold_start")
        .with_lambda_request_id("request_id")
        .init()
        .map_err(|e| format!("cannot install the metrics collector: {e}"))?;
    describe();
    Ok(collector)
}

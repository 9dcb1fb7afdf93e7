//! The CloudWatch embedded-metric-format collector of a Lambda function: the metrics the domain records
//! (`imgpipe_domain::telemetry`) land in the function's log as EMF and become CloudWatch metrics.

use imgpipe_domain::telemetry::{describe, set_function, COLD_START, NAMESPACE};

/// Installs the process-wide CloudWatch embedded-metric-format collector of a Lambda function (once, at
/// start-up); `lambda::service::run` then flushes it to the log after every invocation.
pub fn lambda_collector(default_function: &str) -> Result<&'static metrics_cloudwatch_embedded::Collector, String> {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| default_function.to_owned());
    // No default dimension: the function is a label of the metrics that are about one function, and the
    // pipeline-wide ones (jobs_*) add up across functions (imgpipe_domain::telemetry::METRICS).
    set_function(&function);
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(NAMESPACE)
        .with_lambda_request_id("request_id")
        .init()
        .map_err(|e| format!("cannot install the metrics collector: {e}"))?;
    describe();
    // Counted here rather than by the collector's own cold-start option, which writes it without labels:
    // it is flushed with the first invocation's metrics.
    metrics::counter!(COLD_START, "function" => function).increment(1);
    Ok(collector)
}

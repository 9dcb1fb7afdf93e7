//! The CloudWatch embedded-metric-format collector of a Lambda function: the metrics the domain records
//! (`imgpipe_domain::telemetry`) land in the function's log as EMF and become CloudWatch metrics.

use imgpipe_domain::telemetry::{describe, NAMESPACE};

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

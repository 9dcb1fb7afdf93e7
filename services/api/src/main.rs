use std::sync::Arc;

use imgpipe_api::{handle, Api};
use imgpipe_core::aws::AwsClients;
use imgpipe_core::config::{ApiConfig, Env};
use lambda_http::{service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = ApiConfig::from_env(&Env::process())?;
    let clients = AwsClients::from_environment().await;
    let api = Arc::new(Api::new(config, &clients));
    let metrics = metrics_collector()?;
    metrics_cloudwatch_embedded::lambda::service::run_http(
        metrics,
        service_fn(move |request: Request| {
            let api = Arc::clone(&api);
            async move { Ok::<_, Error>(handle(&api, request).await) }
        }),
    )
    .await
}

/// CloudWatch embedded-metric-format collector, flushed to the log after every invocation.
fn metrics_collector() -> Result<&'static metrics_cloudwatch_embedded::Collector, Error> {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "api".to_owned());
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(imgpipe_core::telemetry::NAMESPACE)
        .with_dimension("function", function)
        .lambda_cold_start_metric("cold_start")
        .with_lambda_request_id("request_id")
        .init()
        .map_err(|e| format!("cannot install the metrics collector: {e}"))?;
    imgpipe_core::telemetry::describe();
    Ok(collector)
}

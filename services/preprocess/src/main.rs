use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use imgpipe_core::aws::AwsClients;
use imgpipe_core::config::{Env, PreprocessConfig};
use imgpipe_core::model_meta::ModelBundle;
use imgpipe_preprocess::{handle_batch, Preprocessor};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = PreprocessConfig::from_env(&Env::process())?;
    let model = ModelBundle::load(&config.model_dir)?;
    let clients = AwsClients::from_environment().await;
    let preprocessor = Arc::new(Preprocessor::new(config, model, &clients));
    let metrics = metrics_collector()?;
    metrics_cloudwatch_embedded::lambda::service::run(
        metrics,
        service_fn(move |event: LambdaEvent<SqsEvent>| {
            let preprocessor = Arc::clone(&preprocessor);
            async move { Ok::<_, Error>(handle_batch(&preprocessor, event.payload).await) }
        }),
    )
    .await
}

/// CloudWatch embedded-metric-format collector, flushed to the log after every invocation.
fn metrics_collector() -> Result<&'static metrics_cloudwatch_embedded::Collector, Error> {
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "preprocess".to_owned());
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

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::{Env, InferenceConfig};
use imgpipe_domain::model_spec::ModelBundle;
use imgpipe_inference::{handle_batch, Inferrer};
use imgpipe_model::{Classifier, RuntimeOptions};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = InferenceConfig::from_env(&Env::process())?;
    let bundle = ModelBundle::load(&config.model_dir)?;
    let runtime = RuntimeOptions {
        library: config.ort_library.clone(),
        intra_threads: config.ort_threads,
    };
    // Created once per container: library load and session creation are the cold start's largest costs.
    let classifier = Arc::new(Classifier::load(bundle, &runtime)?);
    let aws = AwsConfig::from_environment().await;
    let inferrer = Arc::new(Inferrer::on_aws(config, classifier, &aws));
    let metrics = imgpipe_aws::telemetry::lambda_collector("inference")?;
    metrics_cloudwatch_embedded::lambda::service::run(
        metrics,
        service_fn(move |event: LambdaEvent<SqsEvent>| {
            let inferrer = Arc::clone(&inferrer);
            async move { Ok::<_, Error>(handle_batch(&inferrer, event.payload).await) }
        }),
    )
    .await
}

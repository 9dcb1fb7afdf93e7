use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::{Env, PreprocessConfig};
use imgpipe_preprocess::{handle_batch, Preprocessor};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = PreprocessConfig::from_env(&Env::process())?;
    let aws = AwsConfig::from_environment().await;
    let preprocessor = Arc::new(Preprocessor::on_aws(config, &aws));
    let metrics = imgpipe_aws::telemetry::lambda_collector("preprocess")?;
    metrics_cloudwatch_embedded::lambda::service::run(
        metrics,
        service_fn(move |event: LambdaEvent<SqsEvent>| {
            let preprocessor = Arc::clone(&preprocessor);
            async move { Ok::<_, Error>(handle_batch(&preprocessor, event.payload).await) }
        }),
    )
    .await
}

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::{Env, NotifyConfig};
use imgpipe_notify::{handle_batch, Notifier};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = NotifyConfig::from_env(&Env::process())?;
    let aws = AwsConfig::from_environment().await;
    // The signing key is read once, at cold start, from Secrets Manager.
    let notifier = Arc::new(Notifier::on_aws(config, &aws).await?);
    let metrics = imgpipe_aws::telemetry::lambda_collector("notify")?;
    metrics_cloudwatch_embedded::lambda::service::run(
        metrics,
        service_fn(move |event: LambdaEvent<SqsEvent>| {
            let notifier = Arc::clone(&notifier);
            async move { Ok::<_, Error>(handle_batch(&notifier, event.payload).await) }
        }),
    )
    .await
}

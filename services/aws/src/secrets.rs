//! The webhook signing key, read once at cold start from Secrets Manager (never from the environment or
//! Terraform state).

use imgpipe_domain::PipelineError;

use crate::error::classify;

/// The secret's string value.
pub async fn secret_string(client: &aws_sdk_secretsmanager::Client, secret_id: &str) -> Result<String, PipelineError> {
    let response = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| classify("Secrets Manager GetSecretValue", e))?;
    response
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| PipelineError::transient("the webhook secret has no string value"))
}

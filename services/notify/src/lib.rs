//! The notify function: a signed webhook for each job that ended with a `callback_url`.
//!
//! Delivery is decoupled from the pipeline: the stages publish `Image Completed`/`Image Failed` to the
//! event bus; a rule sends the events that carry a `callback_url` to the notify queue; this function
//! POSTs each to its URL, signed per the Standard Webhooks specification (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>`, the key a `whsec_...` secret read
//! from Secrets Manager at cold start). A failed delivery is retried through the queue with a growing
//! delay; after the queue's last allowed delivery the job's record gets a `webhook_failed` note (its
//! result stands). A URL that is not allowed (not https, a host off the allow-list, a name that resolves
//! to an internal address) is refused at once and noted the same way.
//!
//! # Layout
//!
//! - this file: the `Notifier` and one message's outcome;
//! - [`signature`]: the Standard Webhooks signature;
//! - [`guard`]: which addresses a webhook may reach (checked after DNS, pinned for the connection);
//! - [`client`]: the HTTP exchange (timeout, no redirects, a capped answer), behind a `Sender` seam.

pub mod client;
pub mod guard;
pub mod signature;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use imgpipe_aws::store::DynamoJobs;
use imgpipe_aws::AwsConfig;
use imgpipe_domain::config::NotifyConfig;
use imgpipe_domain::events::EventDetail;
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::WebhookNote;
use imgpipe_domain::retry::{Ack, Delivery as SqsDelivery};
use imgpipe_domain::time::{now_ms, rfc3339};
use imgpipe_domain::webhook::{check_callback_url, CallbackTarget};
use imgpipe_domain::{telemetry, PipelineError, Status};
use serde::Deserialize;
use serde_json::json;
use tracing::{info, info_span, warn, Instrument};

pub use client::{Answer, Delivery, HttpSender, Sender};
pub use signature::SigningKey;

/// Most bytes of a receiver's answer read (and thrown away).
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;

/// Resolves host names (DNS in Lambda; fixed answers in tests).
pub trait Resolver: Send + Sync {
    fn resolve(&self, host: &str, port: u16) -> impl Future<Output = Vec<SocketAddr>> + Send;
}

pub struct Dns;

impl Resolver for Dns {
    async fn resolve(&self, host: &str, port: u16) -> Vec<SocketAddr> {
        tokio::net::lookup_host((host, port))
            .await
            .map(Iterator::collect)
            .unwrap_or_default()
    }
}

/// Delays a message's next delivery (SQS's visibility timeout in Lambda).
pub trait Delay: Send + Sync {
    fn delay(&self, message: &SqsMessage, seconds: i32) -> impl Future<Output = ()> + Send;
}

/// The queue of the message, from its ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
fn queue_url(arn: &str) -> Option<String> {
    let mut parts = arn.split(':').skip(3);
    let (region, account, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some(format!("https://sqs.{region}.amazonaws.com/{account}/{name}"))
}

pub struct SqsDelay(pub aws_sdk_sqs::Client);

impl Delay for SqsDelay {
    async fn delay(&self, message: &SqsMessage, seconds: i32) {
        let (Some(url), Some(handle)) = (
            message.event_source_arn.as_deref().and_then(queue_url),
            message.receipt_handle.as_deref(),
        ) else {
            return;
        };
        // Best effort: without it the retry comes after the queue's own visibility timeout.
        if let Err(err) = self
            .0
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(handle)
            .visibility_timeout(seconds)
            .send()
            .await
        {
            warn!(error = %imgpipe_domain::error::chain(&err), "could not delay the webhook's retry");
        }
    }
}

pub struct Notifier<J, S, R, D> {
    pub config: NotifyConfig,
    /// `None`: webhooks are off (no secret configured).
    pub key: Option<SigningKey>,
    pub jobs: J,
    pub sender: S,
    pub resolver: R,
    pub delay: D,
}

/// The function as deployed.
pub type AwsNotifier = Notifier<DynamoJobs, HttpSender, Dns, SqsDelay>;

impl AwsNotifier {
    /// Reads the signing key from Secrets Manager (once, at cold start).
    pub async fn on_aws(config: NotifyConfig, aws: &AwsConfig) -> Result<Self, PipelineError> {
        let key = if config.webhook_secret_arn.is_empty() {
            None
        } else {
            let secret =
                imgpipe_aws::secrets::secret_string(&aws.secrets_manager(), &config.webhook_secret_arn).await?;
            Some(
                SigningKey::parse(&secret)
                    .map_err(|e| PipelineError::configuration("the webhook secret", std::io::Error::other(e)))?,
            )
        };
        Ok(Self {
            jobs: DynamoJobs::new(aws.dynamodb(), &config.table_name),
            sender: HttpSender::new(Duration::from_secs(config.webhook_timeout_secs), MAX_RESPONSE_BYTES),
            resolver: Dns,
            delay: SqsDelay(aws.sqs()),
            key,
            config,
        })
    }
}

/// The part of an EventBridge event the notifier reads (the notify queue receives whole events).
#[derive(Deserialize)]
struct Envelope {
    detail: EventDetail,
}

pub async fn handle_batch<J: Jobs, S: Sender, R: Resolver, D: Delay>(
    notifier: &Notifier<J, S, R, D>,
    event: SqsEvent,
) -> SqsBatchResponse {
    telemetry::batch_size("notify", event.records.len());
    let acks = join_all(event.records.iter().map(|message| handle_message(notifier, message))).await;
    let mut response = SqsBatchResponse::default();
    for (message, ack) in event.records.iter().zip(acks) {
        if ack == Ack::Retry {
            response.add_failure(message.message_id.clone().unwrap_or_default());
        }
    }
    response
}

/// The delay before the next try: 10 s, 20 s, 40 s, ... up to 15 minutes.
pub fn backoff_seconds(receive_count: u32) -> i32 {
    (10i64 << receive_count.saturating_sub(1).min(10)).min(900) as i32
}

/// What one message came to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Delivered,
    /// Not allowed: noted on the record at once, never retried.
    Refused(String),
    /// Worth another try, unless this was the last.
    Failed(String),
}

async fn handle_message<J: Jobs, S: Sender, R: Resolver, D: Delay>(
    notifier: &Notifier<J, S, R, D>,
    message: &SqsMessage,
) -> Ack {
    let detail = match serde_json::from_str::<Envelope>(message.body.as_deref().unwrap_or_default()) {
        Ok(envelope) => envelope.detail,
        Err(err) => {
            warn!(message_id = message.message_id, error = %err, "dropping a message that is not an image event");
            return Ack::Done;
        }
    };
    let Some(url) = detail.callback_url.clone() else {
        return Ack::Done;
    };
    let delivery = SqsDelivery::from_attributes(&message.attributes);
    let span = info_span!("webhook", image_id = %detail.image_id, attempt = delivery.receive_count);
    async {
        match deliver(notifier, &detail, &url).await {
            Outcome::Delivered => {
                info!("webhook delivered");
                telemetry::webhook("delivered");
                Ack::Done
            }
            Outcome::Refused(reason) => {
                warn!(reason, "webhook refused");
                telemetry::webhook("refused");
                note(notifier, &detail, &delivery, "webhook_refused", &reason).await
            }
            Outcome::Failed(reason) if delivery.receive_count >= notifier.config.max_receive_count => {
                warn!(reason, "webhook failed on its last try");
                telemetry::webhook("failed");
                note(notifier, &detail, &delivery, "webhook_failed", &reason).await
            }
            Outcome::Failed(reason) => {
                warn!(reason, "webhook failed; trying again later");
                telemetry::webhook("retried");
                notifier
                    .delay
                    .delay(message, backoff_seconds(delivery.receive_count))
                    .await;
                Ack::Retry
            }
        }
    }
    .instrument(span)
    .await
}

/// Records on the job what became of its webhook; the message is done unless the write failed.
async fn note<J: Jobs, S, R, D>(
    notifier: &Notifier<J, S, R, D>,
    detail: &EventDetail,
    delivery: &SqsDelivery,
    status: &str,
    reason: &str,
) -> Ack {
    let note = WebhookNote {
        status: status.to_owned(),
        attempts: delivery.receive_count,
        message: reason.to_owned(),
        at: now_ms(),
    };
    match notifier.jobs.note_webhook(&detail.image_id, &note).await {
        Ok(_) => Ack::Done,
        Err(err) => {
            warn!(
                error = err.chain(),
                "could not note the webhook's failure; leaving for redelivery"
            );
            Ack::Retry
        }
    }
}

async fn deliver<J, S: Sender, R: Resolver, D>(
    notifier: &Notifier<J, S, R, D>,
    detail: &EventDetail,
    url: &str,
) -> Outcome {
    let Some(key) = &notifier.key else {
        return Outcome::Refused("webhooks are not enabled on this deployment".into());
    };
    let config = &notifier.config;
    let target = match check_callback_url(url, &config.webhook_allowed_hosts, config.local_webhooks) {
        Ok(target) => target,
        Err(reason) => return Outcome::Refused(reason),
    };
    let resolved = notifier.resolver.resolve(&target.host, target.port).await;
    let address = match guard::choose_address(&target, &resolved, config.local_webhooks) {
        Ok(address) => address,
        Err(refusal) => return Outcome::Refused(refusal.to_string()),
    };
    let request = signed_request(key, detail, target, address);
    match notifier.sender.send(&request).await {
        Answer::Accepted(_) => Outcome::Delivered,
        Answer::Refused(status) => Outcome::Failed(format!("the receiver answered {status}")),
        Answer::Unreachable(reason) => Outcome::Failed(reason),
    }
}

/// The webhook: `{"type", "timestamp", "data"}` (the Standard Webhooks payload shape), signed.
pub fn signed_request(key: &SigningKey, detail: &EventDetail, target: CallbackTarget, address: SocketAddr) -> Delivery {
    let kind = match detail.status {
        Status::Completed => "image.completed",
        _ => "image.failed",
    };
    let timestamp = now_ms() / 1000;
    let body = json!({"type": kind, "timestamp": rfc3339(detail.ended_at), "data": detail})
        .to_string()
        .into_bytes();
    // The same job ends once: its id names the message across every retry.
    let id = format!("msg_{}", detail.image_id.to_string().replace('-', ""));
    let signature = key.sign(&id, timestamp, &body);
    Delivery {
        target,
        address,
        headers: vec![
            ("webhook-id", id),
            ("webhook-timestamp", timestamp.to_string()),
            ("webhook-signature", signature),
        ],
        body,
    }
}

#[cfg(test)]
mod tests;

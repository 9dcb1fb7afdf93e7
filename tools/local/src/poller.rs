//! What the Lambda SQS event source mapping does, on the emulator: receive a batch (up to the batch size,
//! within the batching window), hand it to the handler as a real `SqsEvent` payload, delete the messages
//! that succeeded and leave the reported failures to reappear after the visibility timeout.

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessageAttribute};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use serde_json::{json, Value};
use tokio::sync::watch;
use tracing::{debug, warn};

#[derive(Clone, Debug)]
pub struct PollerConfig {
    pub name: &'static str,
    pub queue_url: String,
    pub queue_arn: String,
    pub region: String,
    pub batch_size: usize,
    pub batching_window: Duration,
    /// The queue's maxReceiveCount: a message received this many times is on its last allowed delivery.
    pub max_receive_count: u32,
    /// Chaos: the probability that a worker is killed in the middle of a batch.
    pub crashes: Option<Arc<Crashes>>,
}

/// Worker crashes in the middle of a batch, the way a Lambda instance dies (out of memory, timeout,
/// hardware): the handler is stopped wherever it is, nothing is deleted or reported, and the batch's
/// messages come back after the visibility timeout; the next batch gets a fresh invocation.
///
/// `last_rate` kills, with that probability, a worker whose batch holds a message on its queue's last
/// allowed delivery: the failure that leaves a job behind, which per-batch crashes almost never hit.
#[derive(Debug)]
pub struct Crashes {
    pub rate: f64,
    pub last_rate: f64,
    random: Mutex<crate::calls::SplitMix64>,
    killed: AtomicU64,
    killed_last: AtomicU64,
}

impl Crashes {
    pub fn new(rate: f64, last_rate: f64, seed: u64) -> Arc<Self> {
        Arc::new(Self {
            rate,
            last_rate,
            random: Mutex::new(crate::calls::SplitMix64::new(seed)),
            killed: AtomicU64::new(0),
            killed_last: AtomicU64::new(0),
        })
    }

    pub fn killed(&self) -> u64 {
        self.killed.load(Ordering::Relaxed)
    }

    /// Workers killed on a batch holding a message's last allowed delivery.
    pub fn killed_on_last_delivery(&self) -> u64 {
        self.killed_last.load(Ordering::Relaxed)
    }

    /// After how long to kill the next batch's worker, if it is to die.
    fn next(&self, holds_a_last_delivery: bool) -> Option<Duration> {
        let mut random = self.random.lock().ok()?;
        if holds_a_last_delivery && random.next_f64() < self.last_rate {
            self.killed_last.fetch_add(1, Ordering::Relaxed);
            return Some(Duration::from_millis(random.next_u64() % 50));
        }
        (random.next_f64() < self.rate).then(|| Duration::from_millis(random.next_u64() % 300))
    }
}

pub async fn run<F, Fut>(
    sqs: aws_sdk_sqs::Client,
    config: PollerConfig,
    handler: F,
    mut shutdown: watch::Receiver<bool>,
) where
    F: Fn(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    while !*shutdown.borrow() {
        let messages = tokio::select! {
            received = receive_batch(&sqs, &config) => received,
            _ = shutdown.changed() => break,
        };
        let messages = match messages {
            Ok(messages) if messages.is_empty() => continue,
            Ok(messages) => messages,
            Err(err) => {
                warn!(poller = config.name, error = %err, "receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let event = match to_event(&messages, &config) {
            Ok(event) => event,
            Err(err) => {
                warn!(poller = config.name, error = %err, "cannot build the SQS event");
                continue;
            }
        };
        debug!(poller = config.name, batch = messages.len(), "invoking handler");
        let last_delivery = messages.iter().any(|m| {
            m.attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|count| count.parse::<u32>().ok())
                .is_some_and(|count| count >= config.max_receive_count)
        });
        let kill_after = config.crashes.as_ref().and_then(|c| c.next(last_delivery));
        let response = match kill_after {
            None => handler(event).await,
            Some(after) => match tokio::time::timeout(after, handler(event)).await {
                Ok(response) => response,
                Err(_) => {
                    if let Some(crashes) = &config.crashes {
                        crashes.killed.fetch_add(1, Ordering::Relaxed);
                    }
                    warn!(
                        poller = config.name,
                        batch = messages.len(),
                        "chaos: worker killed mid-batch"
                    );
                    continue;
                }
            },
        };
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        let done: Vec<&Message> = messages
            .iter()
            .filter(|m| !failed.contains(m.message_id().unwrap_or_default()))
            .collect();
        if let Err(err) = delete(&sqs, &config.queue_url, &done).await {
            warn!(poller = config.name, error = %err, "delete failed; messages will be redelivered");
        }
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

async fn receive_batch(sqs: &aws_sdk_sqs::Client, config: &PollerConfig) -> Result<Vec<Message>, Error> {
    let mut batch: Vec<Message> = Vec::new();
    let mut window_start: Option<Instant> = None;
    loop {
        let want = (config.batch_size - batch.len()).min(10) as i32;
        // Long-poll for the first message; then only top the batch up until the window closes.
        let wait = if batch.is_empty() { 1 } else { 0 };
        let received = sqs
            .receive_message()
            .queue_url(&config.queue_url)
            .max_number_of_messages(want)
            .wait_time_seconds(wait)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await?
            .messages
            .unwrap_or_default();
        let got = received.len();
        batch.extend(received);
        if batch.is_empty() {
            return Ok(batch);
        }
        let started = *window_start.get_or_insert_with(Instant::now);
        if batch.len() >= config.batch_size || started.elapsed() >= config.batching_window {
            return Ok(batch);
        }
        if got == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The Lambda SQS event payload for these messages, as AWS would deliver it.
pub fn to_event(messages: &[Message], config: &PollerConfig) -> Result<SqsEvent, serde_json::Error> {
    let records: Vec<Value> = messages
        .iter()
        .map(|message| {
            let attributes: serde_json::Map<String, Value> = message
                .attributes()
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), Value::from(v.clone())))
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": message.message_id(),
                "receiptHandle": message.receipt_handle(),
                "body": message.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes(message),
                "md5OfBody": message.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": config.queue_arn,
                "awsRegion": config.region,
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records }))
}

/// A message's attributes in the event's shape (binary values base64-encoded), as Lambda passes them on.
fn message_attributes(message: &Message) -> Value {
    let attributes: serde_json::Map<String, Value> = message
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let mut attribute = SqsMessageAttribute::default();
            attribute.data_type = Some(value.data_type().to_owned());
            attribute.string_value = value.string_value().map(str::to_owned);
            attribute.binary_value = value.binary_value().map(|blob| {
                let mut data = Base64Data::default();
                data.0 = blob.as_ref().to_vec();
                data
            });
            let value = serde_json::to_value(attribute).unwrap_or(Value::Null);
            (name.clone(), value)
        })
        .collect();
    Value::Object(attributes)
}

async fn delete(sqs: &aws_sdk_sqs::Client, queue_url: &str, messages: &[&Message]) -> Result<(), Error> {
    for chunk in messages.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(index, message)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(entries))
            .send()
            .await?;
    }
    Ok(())
}

//! What to do with a failed message: end the job now, retry it, or end it on the last delivery.

use std::collections::HashMap;

use tracing::{info, warn};

use crate::error::{ErrorCode, PipelineError};
use crate::status::Status;
use crate::store::{StatusStore, Transition};
use crate::time::now_ms;
use crate::ImageId;

/// What an SQS delivery says about itself (from the message's system attributes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// 1 on the first delivery; SQS moves the message to the DLQ after `maxReceiveCount` of them.
    pub receive_count: u32,
    /// When the message was sent to the queue (epoch ms).
    pub sent_at_ms: Option<i64>,
}

impl Delivery {
    pub fn from_attributes(attributes: &HashMap<String, String>) -> Self {
        let attribute = |name: &str| attributes.get(name).and_then(|v| v.parse::<i64>().ok());
        Self {
            receive_count: attribute("ApproximateReceiveCount")
                .unwrap_or(1)
                .clamp(1, i64::from(u32::MAX)) as u32,
            sent_at_ms: attribute("SentTimestamp"),
        }
    }
}

/// The decision for a failed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Record `failed` with this code and delete the message.
    FailAndDelete(ErrorCode, String),
    /// Record `failed` (`retries_exhausted`) and still fail the message, so SQS moves it to the DLQ.
    FailAndDeadLetter(String),
    /// Leave the job as it is; SQS redelivers the message after its visibility timeout.
    Retry,
}

/// Whether this is the queue's last delivery of the message (`maxReceiveCount`, at least 2). It does no
/// work: it only makes sure the job is recorded `failed` (`give_up`). The deliveries before it do the
/// work, and the last of those records a persistent transient failure itself; but a delivery that dies
/// (a timeout, out of memory, a crash) records nothing, and without a delivery after it the job would
/// stay in its working state while SQS moves the message to the DLQ.
pub fn is_final_delivery(delivery: &Delivery, max_receive_count: u32) -> bool {
    max_receive_count >= 2 && delivery.receive_count >= max_receive_count
}

/// The last delivery that does work.
fn last_working_delivery(max_receive_count: u32) -> u32 {
    if max_receive_count >= 2 {
        max_receive_count - 1
    } else {
        max_receive_count
    }
}

pub fn settle(err: &PipelineError, delivery: &Delivery, max_receive_count: u32) -> Settlement {
    match err {
        PipelineError::Permanent { code, message } => Settlement::FailAndDelete(*code, message.clone()),
        PipelineError::Transient(message) if delivery.receive_count >= last_working_delivery(max_receive_count) => {
            Settlement::FailAndDeadLetter(format!(
                "gave up after {} deliveries; last error: {message}",
                delivery.receive_count
            ))
        }
        PipelineError::Transient(_) => Settlement::Retry,
    }
}

/// Applies `settle` to one image's failure. `Ok` means the message may be deleted.
pub async fn settle_failure(
    stage: &'static str,
    store: &StatusStore,
    image_id: &ImageId,
    err: &PipelineError,
    delivery: &Delivery,
    max_receive_count: u32,
) -> Result<(), ()> {
    let (code, message, delete) = match settle(err, delivery, max_receive_count) {
        Settlement::Retry => {
            warn!(receive_count = delivery.receive_count, error = %err, "transient failure; leaving for redelivery");
            return Err(());
        }
        Settlement::FailAndDelete(code, message) => (code, message, true),
        Settlement::FailAndDeadLetter(message) => (ErrorCode::RetriesExhausted, message, false),
    };
    warn!(error_code = %code, error = message, receive_count = delivery.receive_count, "job failed");
    crate::telemetry::failure(stage, code.as_str());
    match store.fail(image_id, code, &message, now_ms()).await {
        Ok(_) if delete => Ok(()),
        Ok(_) => Err(()),
        Err(store_err) => {
            warn!(error = %store_err, "could not record the failure; leaving for redelivery");
            Err(())
        }
    }
}

/// The final delivery (`is_final_delivery`): records `failed`/`retries_exhausted` unless the job already
/// ended. `Err` (the message goes on to the DLQ) when the job ended that way; `Ok` (delete) when it
/// completed or failed for another reason, since a late duplicate leaves nothing to inspect.
pub async fn give_up(
    stage: &'static str,
    store: &StatusStore,
    image_id: &ImageId,
    delivery: &Delivery,
) -> Result<(), ()> {
    let message = format!(
        "gave up on delivery {}: the deliveries before it failed or did not finish (timeout or crash)",
        delivery.receive_count
    );
    match store
        .fail(image_id, ErrorCode::RetriesExhausted, &message, now_ms())
        .await
    {
        Ok(Transition::Applied) => {
            warn!(error_code = %ErrorCode::RetriesExhausted, receive_count = delivery.receive_count, "job failed: {message}");
            crate::telemetry::failure(stage, ErrorCode::RetriesExhausted.as_str());
            Err(())
        }
        Ok(Transition::Rejected {
            current: Some(Status::Failed),
        }) => {
            let exhausted = store
                .get(image_id)
                .await
                .ok()
                .flatten()
                .and_then(|record| record.error)
                .map(|error| error.code == ErrorCode::RetriesExhausted)
                .unwrap_or(true);
            if exhausted {
                Err(())
            } else {
                Ok(())
            }
        }
        Ok(Transition::Rejected { current }) => {
            info!(?current, "final delivery of a job that already ended; deleting it");
            Ok(())
        }
        Err(store_err) => {
            warn!(error = %store_err, "could not record the failure on the final delivery");
            Err(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery(receive_count: u32) -> Delivery {
        Delivery {
            receive_count,
            sent_at_ms: None,
        }
    }

    #[test]
    fn permanent_failures_end_the_job_at_once() {
        let err = PipelineError::permanent(ErrorCode::NotAnImage, "nope");
        assert_eq!(
            settle(&err, &delivery(1), 5),
            Settlement::FailAndDelete(ErrorCode::NotAnImage, "nope".into())
        );
    }

    #[test]
    fn transient_failures_retry_until_the_last_working_delivery() {
        let err = PipelineError::transient("throttled");
        assert_eq!(settle(&err, &delivery(1), 4), Settlement::Retry);
        assert_eq!(settle(&err, &delivery(2), 4), Settlement::Retry);
        assert!(matches!(settle(&err, &delivery(3), 4), Settlement::FailAndDeadLetter(m) if m.contains("throttled")));
        // A queue that delivers once has no final bookkeeping delivery: the only one works.
        assert!(matches!(
            settle(&err, &delivery(1), 1),
            Settlement::FailAndDeadLetter(_)
        ));
    }

    #[test]
    fn the_final_delivery_only_records() {
        assert!(!is_final_delivery(&delivery(3), 4));
        assert!(is_final_delivery(&delivery(4), 4));
        assert!(
            is_final_delivery(&delivery(5), 4),
            "ApproximateReceiveCount may overshoot"
        );
        assert!(!is_final_delivery(&delivery(1), 1));
    }

    #[test]
    fn reads_sqs_system_attributes() {
        let attributes = HashMap::from([
            ("ApproximateReceiveCount".to_owned(), "4".to_owned()),
            ("SentTimestamp".to_owned(), "1700000000000".to_owned()),
        ]);
        assert_eq!(
            Delivery::from_attributes(&attributes),
            Delivery {
                receive_count: 4,
                sent_at_ms: Some(1_700_000_000_000)
            }
        );
        assert_eq!(Delivery::from_attributes(&HashMap::new()).receive_count, 1);
    }
}

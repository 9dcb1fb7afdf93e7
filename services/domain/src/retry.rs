//! What becomes of an SQS message whose work failed: end the job now, or leave the message for another
//! delivery. Every handler reports one `Ack` per message; the batch response lists the `Retry`s.

use std::collections::HashMap;

use tracing::{error, info, warn};

use crate::error::{ErrorCode, Fault, PipelineError};
use crate::ports::Jobs;
use crate::record::Transition;
use crate::status::Status;
use crate::time::now_ms;
use crate::{telemetry, ImageId};

/// The outcome of one message, as the SQS event source mapping sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Ack {
    /// Handled (done, settled, or nothing to do): the message may be deleted.
    Done,
    /// Leave it on the queue: SQS redelivers it after its visibility timeout, or moves it to the DLQ.
    Retry,
}

impl Ack {
    /// `Retry` if either is: one message may carry several records.
    pub fn and(self, other: Ack) -> Ack {
        if self == Ack::Retry || other == Ack::Retry {
            Ack::Retry
        } else {
            Ack::Done
        }
    }
}

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

/// What the client reads when a fault outlasted every retry (the fault itself goes to the log).
const GAVE_UP: &str = "a temporary fault persisted through every retry; submit the image again";

pub fn settle(err: &PipelineError, delivery: &Delivery, max_receive_count: u32) -> Settlement {
    match err {
        PipelineError::Permanent { code, message, .. } => Settlement::FailAndDelete(*code, message.clone()),
        _ if delivery.receive_count >= last_working_delivery(max_receive_count) => Settlement::FailAndDeadLetter(
            format!("{GAVE_UP} (gave up after {} deliveries)", delivery.receive_count),
        ),
        _ => Settlement::Retry,
    }
}

/// Applies `settle` to one image's failure and records it.
pub async fn settle_failure<J: Jobs>(
    stage: &'static str,
    jobs: &J,
    image_id: &ImageId,
    err: &PipelineError,
    delivery: &Delivery,
    max_receive_count: u32,
) -> Ack {
    let fault = err.fault();
    if fault == Fault::Configuration {
        error!(
            fault = fault.as_str(),
            error = err.chain(),
            receive_count = delivery.receive_count,
            "configuration fault"
        );
        telemetry::configuration_fault(stage);
    }
    let (code, message, ack) = match settle(err, delivery, max_receive_count) {
        Settlement::Retry => {
            if fault == Fault::Transient {
                warn!(
                    fault = fault.as_str(),
                    error = err.chain(),
                    receive_count = delivery.receive_count,
                    "leaving for redelivery"
                );
            }
            return Ack::Retry;
        }
        Settlement::FailAndDelete(code, message) => (code, message, Ack::Done),
        Settlement::FailAndDeadLetter(message) => (ErrorCode::RetriesExhausted, message, Ack::Retry),
    };
    warn!(error_code = %code, error = err.chain(), receive_count = delivery.receive_count, "job failed");
    telemetry::failure(stage, code.as_str());
    match jobs.fail(image_id, code, &message, now_ms()).await {
        Ok(_) => ack,
        Err(store_err) => {
            warn!(
                error = store_err.chain(),
                "could not record the failure; leaving for redelivery"
            );
            Ack::Retry
        }
    }
}

/// The final delivery (`is_final_delivery`): records `failed`/`retries_exhausted` unless the job already
/// ended. `Retry` (the message goes on to the DLQ) when the job ended that way; `Done` (delete) when it
/// completed or failed for another reason, since a late duplicate leaves nothing to inspect.
pub async fn give_up<J: Jobs>(stage: &'static str, jobs: &J, image_id: &ImageId, delivery: &Delivery) -> Ack {
    let message = format!(
        "{GAVE_UP} (delivery {}: the deliveries before it failed or did not finish)",
        delivery.receive_count
    );
    match jobs
        .fail(image_id, ErrorCode::RetriesExhausted, &message, now_ms())
        .await
    {
        Ok(Transition::Applied) => {
            warn!(error_code = %ErrorCode::RetriesExhausted, receive_count = delivery.receive_count, "job failed: {message}");
            telemetry::failure(stage, ErrorCode::RetriesExhausted.as_str());
            Ack::Retry
        }
        Ok(Transition::Rejected {
            current: Some(Status::Failed),
        }) => {
            let exhausted = jobs
                .get(image_id)
                .await
                .ok()
                .flatten()
                .and_then(|record| record.error)
                .map(|error| error.code == ErrorCode::RetriesExhausted)
                .unwrap_or(true);
            if exhausted {
                Ack::Retry
            } else {
                Ack::Done
            }
        }
        Ok(Transition::Rejected { current }) => {
            info!(?current, "final delivery of a job that already ended; deleting it");
            Ack::Done
        }
        Err(store_err) => {
            warn!(
                error = store_err.chain(),
                "could not record the failure on the final delivery"
            );
            Ack::Retry
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
    fn transient_and_configuration_faults_retry_until_the_last_working_delivery() {
        let throttled = PipelineError::transient("throttled");
        let denied = PipelineError::configuration("S3 GetObject", std::io::Error::other("AccessDenied"));
        for err in [&throttled, &denied] {
            assert_eq!(settle(err, &delivery(1), 4), Settlement::Retry);
            assert_eq!(settle(err, &delivery(2), 4), Settlement::Retry);
            assert!(matches!(settle(err, &delivery(3), 4), Settlement::FailAndDeadLetter(_)));
        }
        // A queue that delivers once has no final bookkeeping delivery: the only one works.
        assert!(matches!(
            settle(&throttled, &delivery(1), 1),
            Settlement::FailAndDeadLetter(_)
        ));
    }

    #[test]
    fn the_message_a_client_reads_names_no_cause() {
        let err = PipelineError::transient("DynamoDB UpdateItem on arn:aws:dynamodb:eu-west-1:123456789012:table/t");
        let Settlement::FailAndDeadLetter(message) = settle(&err, &delivery(4), 5) else {
            panic!("the last working delivery gives up");
        };
        assert!(!message.contains("arn:") && !message.contains("DynamoDB"), "{message}");
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
    fn acks_combine_towards_retry() {
        assert_eq!(Ack::Done.and(Ack::Done), Ack::Done);
        assert_eq!(Ack::Done.and(Ack::Retry), Ack::Retry);
        assert_eq!(Ack::Retry.and(Ack::Done), Ack::Retry);
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

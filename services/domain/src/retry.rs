//! What becomes of an SQS message whose work failed: end the job now, or leave the message for another
//! delivery. Every handler reports one `Ack` per message; the batch response lists the `Retry`s.
//!
//! Every delivery does the work. A fault that outlasts the queue's deliveries sends the message to the
//! dead-letter queue, whose consumer (the sweeper) records `failed`/`retries_exhausted`; a delivery that
//! dies (timeout, out of memory) is retried the same way. So no delivery needs to know that it is the last.

use std::collections::HashMap;

use tracing::{error, info, warn};

use crate::error::{Fault, PipelineError};
use crate::events::Announce;
use crate::ports::Jobs;
use crate::record::{Changes, ImageRecord, JobError, Transition};
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

    /// A redelivery: an earlier delivery of this message failed, died, or could not announce its result.
    pub fn is_redelivery(&self) -> bool {
        self.receive_count > 1
    }
}

/// Settles one image's failure: a permanent one ends the job (`failed` with its code, then announced) and
/// deletes the message; a transient or configuration fault leaves both for the next delivery.
pub async fn settle_failure<J: Jobs, A: Announce>(
    stage: &'static str,
    jobs: &J,
    announcer: &A,
    image_id: &ImageId,
    err: &PipelineError,
    delivery: &Delivery,
) -> Ack {
    settle_failure_of_version(stage, jobs, announcer, image_id, err, delivery, None).await
}

/// `settle_failure`, recording which version of the upload failed when it is known only now (an event
/// without a version id, read as the current version).
pub async fn settle_failure_of_version<J: Jobs, A: Announce>(
    stage: &'static str,
    jobs: &J,
    announcer: &A,
    image_id: &ImageId,
    err: &PipelineError,
    delivery: &Delivery,
    s3_version: Option<String>,
) -> Ack {
    let fault = err.fault();
    let PipelineError::Permanent { code, message, .. } = err else {
        if fault == Fault::Configuration {
            error!(
                fault = fault.as_str(),
                error = err.chain(),
                receive_count = delivery.receive_count,
                "configuration fault; leaving for redelivery"
            );
            telemetry::configuration_fault(stage);
        } else {
            warn!(
                fault = fault.as_str(),
                error = err.chain(),
                receive_count = delivery.receive_count,
                "leaving for redelivery"
            );
        }
        return Ack::Retry;
    };
    warn!(error_code = %code, error = err.chain(), "job failed");
    let changes = Changes {
        error: Some(JobError {
            code: *code,
            message: message.clone(),
        }),
        s3_version,
        ..Changes::default()
    };
    match jobs.transition(image_id, Status::Failed, changes, now_ms()).await {
        Ok(Transition::Applied(record)) => {
            telemetry::failure(stage, code.as_str());
            telemetry::job_ended(&record);
            announce(stage, announcer, &record).await
        }
        Ok(Transition::Rejected { current }) => {
            info!(?current, "the job had already ended; nothing recorded");
            Ack::Done
        }
        Err(store_err) => {
            warn!(
                error = store_err.chain(),
                "could not record the failure; leaving for redelivery"
            );
            Ack::Retry
        }
    }
}

/// Announces a job that just ended (`events`): `Retry` when the announcement failed, so that the
/// redelivery announces it again (`ended_before`).
pub async fn announce<A: Announce>(stage: &'static str, announcer: &A, record: &ImageRecord) -> Ack {
    match announcer.ended(record).await {
        Ok(()) => Ack::Done,
        Err(err) => {
            warn!(
                error = err.chain(),
                "the job ended but could not be announced; leaving for redelivery"
            );
            telemetry::event_publish_failure(stage);
            Ack::Retry
        }
    }
}

/// A message found its job already ended. On a redelivery the delivery that ended it may have failed to
/// announce it, so it is announced (again); a first delivery is a duplicate and does nothing.
pub async fn ended_before<A: Announce>(
    stage: &'static str,
    announcer: &A,
    record: &ImageRecord,
    delivery: &Delivery,
) -> Ack {
    if delivery.is_redelivery() {
        info!(status = %record.status, "redelivery of a job that ended: announcing it again");
        announce(stage, announcer, record).await
    } else {
        info!(status = %record.status, "the job had already ended; duplicate ignored");
        Ack::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::keys;
    use crate::record::NewImage;
    use crate::testing::{memory_announcer, MemoryJobs};

    fn delivery(receive_count: u32) -> Delivery {
        Delivery {
            receive_count,
            sent_at_ms: None,
        }
    }

    async fn job(jobs: &MemoryJobs) -> ImageId {
        let id = ImageId::new_random();
        jobs.create(&NewImage::pending_upload(
            id,
            None,
            "image/png",
            keys::upload_key(&id),
            1,
            99,
        ))
        .await
        .unwrap();
        id
    }

    #[tokio::test]
    async fn a_permanent_failure_ends_the_job_announces_it_and_deletes_the_message() {
        let (jobs, announcer) = (MemoryJobs::new(), memory_announcer());
        let id = job(&jobs).await;
        let err = PipelineError::permanent(ErrorCode::NotAnImage, "nope");
        assert_eq!(
            settle_failure("t", &jobs, &announcer, &id, &err, &delivery(1)).await,
            Ack::Done
        );
        assert_eq!(jobs.record(&id).unwrap().status, Status::Failed);
        assert_eq!(announcer.events.published().len(), 1);
        // Again (a duplicate): nothing more is recorded or announced.
        assert_eq!(
            settle_failure("t", &jobs, &announcer, &id, &err, &delivery(1)).await,
            Ack::Done
        );
        assert_eq!(announcer.events.published().len(), 1);
    }

    #[tokio::test]
    async fn transient_and_configuration_faults_leave_everything_for_the_next_delivery() {
        let (jobs, announcer) = (MemoryJobs::new(), memory_announcer());
        let id = job(&jobs).await;
        let throttled = PipelineError::transient("throttled");
        let denied = PipelineError::configuration("S3 GetObject", std::io::Error::other("AccessDenied"));
        for err in [&throttled, &denied] {
            for receive_count in [1, 5, 50] {
                let ack = settle_failure("t", &jobs, &announcer, &id, err, &delivery(receive_count)).await;
                assert_eq!(ack, Ack::Retry);
            }
        }
        assert_eq!(jobs.record(&id).unwrap().status, Status::PendingUpload);
        assert!(announcer.events.published().is_empty());
    }

    #[tokio::test]
    async fn a_failed_announcement_is_retried_by_the_redelivery() {
        let (jobs, announcer) = (MemoryJobs::new(), memory_announcer());
        let id = job(&jobs).await;
        announcer.events.faults.inject("publish", Fault::Transient, 1);
        let err = PipelineError::permanent(ErrorCode::CorruptImage, "truncated");
        assert_eq!(
            settle_failure("t", &jobs, &announcer, &id, &err, &delivery(1)).await,
            Ack::Retry
        );
        assert_eq!(
            jobs.record(&id).unwrap().status,
            Status::Failed,
            "the result is not held back"
        );
        let record = jobs.record(&id).unwrap();
        assert_eq!(ended_before("t", &announcer, &record, &delivery(1)).await, Ack::Done);
        assert!(
            announcer.events.published().is_empty(),
            "a first delivery is a duplicate"
        );
        assert_eq!(ended_before("t", &announcer, &record, &delivery(2)).await, Ack::Done);
        assert_eq!(announcer.events.published().len(), 1, "the redelivery announced it");
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
        assert!(Delivery::from_attributes(&attributes).is_redelivery());
        assert_eq!(Delivery::from_attributes(&HashMap::new()).receive_count, 1);
    }
}

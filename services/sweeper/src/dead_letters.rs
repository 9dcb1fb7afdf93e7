//! Messages the stages' queues gave up on: each names its job (an S3 notification: the upload's or the
//! ingested object's image id; an inference request: its image id), which is ended unless it already has.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use imgpipe_domain::events::Announce;
use imgpipe_domain::messages::InferenceRequest;
use imgpipe_domain::ports::{Jobs, Objects};
use imgpipe_domain::retry::{ended_before, Ack, Delivery};
use imgpipe_domain::s3_event::{parse_s3_message, S3Message};
use imgpipe_domain::{keys, telemetry, ImageId};
use tracing::{info, info_span, warn, Instrument};

use crate::{end, Ended, Reason, Sweeper, STAGE};

pub async fn handle_batch<J: Jobs, O: Objects, A: Announce>(
    sweeper: &Sweeper<J, O, A>,
    event: SqsEvent,
) -> SqsBatchResponse {
    telemetry::batch_size(STAGE, event.records.len());
    let acks = join_all(event.records.iter().map(|message| handle_message(sweeper, message))).await;
    let mut response = SqsBatchResponse::default();
    for (message, ack) in event.records.iter().zip(acks) {
        if ack == Ack::Retry {
            response.add_failure(message.message_id.clone().unwrap_or_default());
        }
    }
    response
}

/// The image ids a dead-lettered message stands for.
pub fn image_ids(message: &SqsMessage) -> Vec<ImageId> {
    let body = message.body.as_deref().unwrap_or_default();
    if let Ok(request) = serde_json::from_str::<InferenceRequest>(body) {
        return vec![request.image_id];
    }
    match parse_s3_message(body) {
        Ok(S3Message::Objects(objects)) => objects
            .iter()
            .filter_map(|object| match keys::image_id_from_upload_key(&object.key) {
                Some(id) => Some(id),
                None => keys::ingest_source_key(&object.key)
                    .map(|_| ImageId::for_ingested_object(&object.bucket, &object.key, object.version_id.as_deref())),
            })
            .collect(),
        _ => Vec::new(),
    }
}

async fn handle_message<J: Jobs, O: Objects, A: Announce>(sweeper: &Sweeper<J, O, A>, message: &SqsMessage) -> Ack {
    let message_id = message.message_id.as_deref().unwrap_or_default();
    let source = message.event_source_arn.as_deref().unwrap_or_default();
    let ids = image_ids(message);
    if ids.is_empty() {
        warn!(
            message_id,
            source, "a dead letter that names no job of ours; dropping it"
        );
        return Ack::Done;
    }
    let delivery = Delivery::from_attributes(&message.attributes);
    let mut ack = Ack::Done;
    for image_id in ids {
        let span = info_span!("dead_letter", image_id = %image_id, message_id, source);
        ack = ack.and(end_dead_lettered(sweeper, image_id, &delivery).instrument(span).await);
    }
    ack
}

async fn end_dead_lettered<J: Jobs, O: Objects, A: Announce>(
    sweeper: &Sweeper<J, O, A>,
    image_id: ImageId,
    delivery: &Delivery,
) -> Ack {
    let record = match sweeper.jobs.get(&image_id).await {
        Ok(Some(record)) => record,
        Ok(None) => {
            info!("the job is gone (deleted or expired); dropping its dead letter");
            return Ack::Done;
        }
        Err(err) => {
            warn!(
                error = err.chain(),
                "cannot read the job; leaving the dead letter for another try"
            );
            return Ack::Retry;
        }
    };
    if record.status.is_terminal() {
        // Ended meanwhile, or by an earlier delivery of this dead letter that could not announce it.
        return ended_before(STAGE, &sweeper.announcer, &record, delivery).await;
    }
    match end(sweeper, &record, Reason::DeadLetter).await {
        Ok(Ended::Swept | Ended::Moved) => Ack::Done,
        Ok(Ended::Unannounced) => Ack::Retry,
        Err(err) => {
            warn!(
                error = err.chain(),
                "cannot end the job; leaving the dead letter for another try"
            );
            Ack::Retry
        }
    }
}

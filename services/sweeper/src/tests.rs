//! The sweeper on in-memory ports: dead letters of both stages, the schedule's rules, and a late success
//! winning over the sweep.

use std::collections::HashMap;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use imgpipe_domain::config::{Env, SweeperConfig};
use imgpipe_domain::events::FAILED;
use imgpipe_domain::keys;
use imgpipe_domain::messages::{InferenceRequest, ModelRef};
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::{Changes, ImageRecord, NewImage};
use imgpipe_domain::testing::{memory_announcer, MemoryAnnouncer, MemoryJobs, MemoryObjects};
use imgpipe_domain::{ErrorCode, Fault, ImageId, Status};
use serde_json::json;

use crate::{end, handle, scheduled, Ended, Reason, Sweeper};

type Memory = Sweeper<MemoryJobs, MemoryObjects, MemoryAnnouncer>;

/// Pending uploads time out after 100 s, working jobs after 1000 s.
fn sweeper() -> Memory {
    let vars = HashMap::from([
        ("IMGPIPE_TABLE_NAME", "t".to_owned()),
        ("IMGPIPE_BUCKET_NAME", "b".to_owned()),
        ("IMGPIPE_EVENT_BUS_NAME", "bus".to_owned()),
        ("IMGPIPE_PENDING_UPLOAD_TIMEOUT_SECS", "100".to_owned()),
        ("IMGPIPE_WORKING_TIMEOUT_SECS", "1000".to_owned()),
    ]);
    let config = SweeperConfig::from_env(&Env(|name: &str| vars.get(name).cloned())).unwrap();
    Sweeper::new(config, MemoryJobs::new(), MemoryObjects::new(), memory_announcer())
}

/// A job created at `created_s` (seconds) and moved to `status` at `updated_s`.
async fn job(s: &Memory, status: Status, created_s: i64, updated_s: i64) -> ImageRecord {
    let id = ImageId::new_random();
    s.jobs
        .create(&NewImage::pending_upload(
            id,
            None,
            "image/png",
            keys::upload_key(&id),
            created_s * 1000,
            10_000_000,
        ))
        .await
        .unwrap();
    if status != Status::PendingUpload {
        s.jobs
            .transition(&id, status, Changes::default(), updated_s * 1000)
            .await
            .unwrap();
    }
    s.jobs.record(&id).unwrap()
}

fn dead_letter(body: serde_json::Value) -> SqsEvent {
    let mut message = SqsMessage::default();
    message.message_id = Some("dl-1".into());
    message.body = Some(body.to_string());
    message.event_source = Some("aws:sqs".into());
    message.attributes.insert("ApproximateReceiveCount".into(), "1".into());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    event
}

fn inference_request(image_id: ImageId) -> serde_json::Value {
    serde_json::to_value(InferenceRequest {
        image_id,
        width: 224,
        height: 224,
        source_version: None,
        model: ModelRef {
            name: "efficientnet-lite0".into(),
            version: "0.1.0".into(),
        },
        sent_at_ms: 1,
    })
    .unwrap()
}

fn s3_event(key: &str, version: &str) -> serde_json::Value {
    json!({"Records": [{"eventName": "ObjectCreated:Put", "eventTime": "2026-12-01T10:00:00.000Z",
        "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": 10, "versionId": version}}}]})
}

#[tokio::test]
async fn a_dead_lettered_message_of_either_stage_ends_its_job_and_is_announced() {
    let s = sweeper();
    let preprocessing = job(&s, Status::Preprocessing, 1, 2).await;
    let preprocessed = job(&s, Status::Preprocessed, 1, 2).await;
    for (record, body) in [
        (
            &preprocessing,
            s3_event(&keys::upload_key(&preprocessing.image_id), "v1"),
        ),
        (&preprocessed, inference_request(preprocessed.image_id)),
    ] {
        let event = serde_json::to_value(dead_letter(body)).unwrap();
        let response = handle(&s, event).await.unwrap();
        assert_eq!(response["batchItemFailures"], json!([]), "deleted from the DLQ");
        let ended = s.jobs.record(&record.image_id).unwrap();
        assert_eq!(ended.status, Status::Failed);
        let error = ended.error.unwrap();
        assert_eq!(error.code, ErrorCode::RetriesExhausted);
        assert!(
            !error.message.contains("dead") && !error.message.contains("sqs"),
            "{}",
            error.message
        );
    }
    let events = s.announcer.events.published();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.detail_type == FAILED));
}

#[tokio::test]
async fn an_ingested_objects_dead_letter_finds_its_job_by_the_object_version() {
    let s = sweeper();
    let key = "ingest/batch-7/cat.jpg";
    let id = ImageId::for_ingested_object("b", key, Some("v3"));
    let mut image = NewImage::pending_upload(id, None, "application/octet-stream", key.into(), 1000, 10_000_000);
    image.status = Status::Preprocessing;
    image.source_key = Some("batch-7/cat.jpg".into());
    s.jobs.create(&image).await.unwrap();
    let event = serde_json::to_value(dead_letter(s3_event(key, "v3"))).unwrap();
    handle(&s, event).await.unwrap();
    assert_eq!(s.jobs.record(&id).unwrap().status, Status::Failed);
    assert_eq!(
        s.announcer.objects.versions("results/batch-7/cat.jpg.json").len(),
        1,
        "an ingested job's ending writes its result file"
    );
}

#[tokio::test]
async fn a_dead_letter_of_a_job_that_ended_meanwhile_changes_nothing() {
    let s = sweeper();
    let done = job(&s, Status::Completed, 1, 2).await;
    let event = serde_json::to_value(dead_letter(inference_request(done.image_id))).unwrap();
    let response = handle(&s, event).await.unwrap();
    assert_eq!(response["batchItemFailures"], json!([]));
    assert_eq!(s.jobs.record(&done.image_id).unwrap().status, Status::Completed);
    assert!(s.announcer.events.published().is_empty());
}

#[tokio::test]
async fn a_store_fault_leaves_the_dead_letter_for_another_try() {
    let s = sweeper();
    let record = job(&s, Status::Preprocessing, 1, 2).await;
    s.jobs.faults.inject("transition", Fault::Transient, 1);
    let event = serde_json::to_value(dead_letter(inference_request(record.image_id))).unwrap();
    let response = handle(&s, event.clone()).await.unwrap();
    assert_eq!(response["batchItemFailures"][0]["itemIdentifier"], "dl-1");
    handle(&s, event).await.unwrap();
    assert_eq!(s.jobs.record(&record.image_id).unwrap().status, Status::Failed);
}

#[tokio::test]
async fn a_late_success_wins_over_the_sweep() {
    let s = sweeper();
    let seen = job(&s, Status::Preprocessed, 1, 2).await;
    // The job completes after the sweeper read it.
    s.jobs
        .transition(&seen.image_id, Status::Completed, Changes::default(), 3000)
        .await
        .unwrap();
    assert_eq!(end(&s, &seen, Reason::DeadLetter).await.unwrap(), Ended::Moved);
    let moved = job(&s, Status::Preprocessing, 1, 2).await;
    s.jobs
        .transition(&moved.image_id, Status::Preprocessed, Changes::default(), 3000)
        .await
        .unwrap();
    assert_eq!(
        end(&s, &moved, Reason::Stale).await.unwrap(),
        Ended::Moved,
        "moved on since it was read"
    );
    assert_eq!(s.jobs.record(&moved.image_id).unwrap().status, Status::Preprocessed);
}

#[tokio::test]
async fn the_schedule_ends_abandoned_uploads_and_jobs_no_message_can_reach() {
    let s = sweeper();
    let now = 10_000 * 1000;
    // Pending uploads: timeout 100 s, working timeout 1000 s.
    let abandoned = job(&s, Status::PendingUpload, 9_800, 9_800).await;
    let recent = job(&s, Status::PendingUpload, 9_950, 9_950).await;
    let arrived = job(&s, Status::PendingUpload, 9_800, 9_800).await;
    s.objects.upload(&arrived.s3_key, b"bytes".to_vec(), "image/png");
    let arrived_long_ago = job(&s, Status::PendingUpload, 8_000, 8_000).await;
    s.objects
        .upload(&arrived_long_ago.s3_key, b"bytes".to_vec(), "image/png");
    // Working states.
    let stuck = job(&s, Status::Preprocessing, 8_000, 8_500).await;
    let busy = job(&s, Status::Preprocessing, 8_000, 9_990).await;
    let young = job(&s, Status::Preprocessed, 9_500, 9_500).await;

    let report = scheduled::sweep(&s, now).await.unwrap();
    let status = |r: &ImageRecord| s.jobs.record(&r.image_id).unwrap();
    assert_eq!(status(&abandoned).error.unwrap().code, ErrorCode::UploadMissing);
    assert_eq!(
        status(&recent).status,
        Status::PendingUpload,
        "its URL may still be used"
    );
    assert_eq!(
        status(&arrived).status,
        Status::PendingUpload,
        "the upload is here: its event may still come"
    );
    assert_eq!(
        status(&arrived_long_ago).error.unwrap().code,
        ErrorCode::RetriesExhausted
    );
    assert_eq!(status(&stuck).error.unwrap().code, ErrorCode::RetriesExhausted);
    assert_eq!(
        status(&busy).status,
        Status::Preprocessing,
        "written recently: a delivery has it"
    );
    assert_eq!(status(&young).status, Status::Preprocessed);
    assert_eq!(
        (report.upload_missing, report.stale, report.unannounced),
        (1, 2, 0),
        "{report:?}"
    );
    assert_eq!(s.announcer.events.published().len(), 3);
    // A second sweep finds nothing more to do.
    let again = scheduled::sweep(&s, now).await.unwrap();
    assert_eq!((again.upload_missing, again.stale), (0, 0));
}

#[tokio::test]
async fn anything_else_is_refused() {
    let s = sweeper();
    assert!(handle(&s, json!({"detail-type": "something"})).await.is_err());
    let message = dead_letter(json!({"not": "ours"}));
    let response = handle(&s, serde_json::to_value(message).unwrap()).await.unwrap();
    assert_eq!(
        response["batchItemFailures"],
        json!([]),
        "a foreign dead letter is dropped"
    );
}

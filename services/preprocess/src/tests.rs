//! Every branch of the handler, on in-memory ports: what each kind of message does to the job, the
//! object and the inference queue, and which messages are left for SQS to redeliver.

use std::collections::HashMap;
use std::io::Cursor;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use imgpipe_domain::config::{Env, PreprocessConfig};
use imgpipe_domain::events::FAILED;
use imgpipe_domain::keys;
use imgpipe_domain::model_spec::ModelMetadata;
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::NewImage;
use imgpipe_domain::testing::{
    memory_announcer, MemoryAnnouncer, MemoryJobs, MemoryObjects, MemoryQueue, SAMPLE_MODEL_JSON,
};
use imgpipe_domain::{ErrorCode, Fault, ImageId, Status};
use serde_json::json;

use crate::{handle_batch, Preprocessor};

type Memory = Preprocessor<MemoryJobs, MemoryObjects, MemoryQueue, MemoryAnnouncer>;

const LITE0_QUEUE: &str = "https://sqs.test/imgpipe-test-inference-efficientnet-lite0";
const TINY_QUEUE: &str = "https://sqs.test/imgpipe-test-inference-tiny";

/// Two deployed models: Lite0 (224 px, centre crop, the default) and a 32x24 stretch model.
fn manifest() -> String {
    let lite0 = ModelMetadata::from_json(SAMPLE_MODEL_JSON, std::path::Path::new("m")).unwrap();
    let mut first = lite0.deployed();
    first.queue_url = Some(LITE0_QUEUE.into());
    let second = json!({"name": "tiny", "version": "1.0.0", "variant": "fp32", "num_classes": 10,
        "input": {"height": 24, "width": 32},
        "preprocess": {"resize": "stretch", "filter": "bilinear", "antialias": true},
        "queue_url": TINY_QUEUE});
    json!([first, second]).to_string()
}

fn preprocessor_with(max_bytes: u64) -> Memory {
    let vars = HashMap::from([
        ("IMGPIPE_TABLE_NAME", "t".to_owned()),
        ("IMGPIPE_BUCKET_NAME", "b".to_owned()),
        ("IMGPIPE_MODELS", manifest()),
        ("IMGPIPE_EVENT_BUS_NAME", "bus".to_owned()),
        ("IMGPIPE_AUTH_MODE", "iam".to_owned()),
        ("IMGPIPE_MAX_UPLOAD_BYTES", max_bytes.to_string()),
    ]);
    let config = PreprocessConfig::from_env(&Env(|name: &str| vars.get(name).cloned())).unwrap();
    Preprocessor::new(
        config,
        MemoryJobs::new(),
        MemoryObjects::new(),
        MemoryQueue::new(),
        memory_announcer(),
    )
}

fn preprocessor() -> Memory {
    preprocessor_with(25 * 1024 * 1024)
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut out = Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image)
        .write_to(&mut out, image::ImageFormat::Png)
        .unwrap();
    out.into_inner()
}

async fn new_job(p: &Memory) -> ImageId {
    new_job_for(p, None).await
}

async fn new_job_for(p: &Memory, model: Option<&str>) -> ImageId {
    let image_id = ImageId::new_random();
    let mut image = NewImage::pending_upload(
        image_id,
        Some("alice".into()),
        "image/png",
        keys::upload_key(&image_id),
        1,
        86_400,
    );
    image.model_name = model.map(str::to_owned);
    p.jobs.create(&image).await.unwrap();
    image_id
}

/// The S3 notification record of an object, as real S3 writes it.
fn record(key: &str, version: &str, size: usize, sequencer: &str, event: &str) -> serde_json::Value {
    json!({"eventVersion": "2.1", "eventSource": "aws:s3", "eventName": event,
           "eventTime": "2026-12-01T10:00:00.000Z",
           "s3": {"bucket": {"name": "b"}, "object": {"key": key, "size": size, "versionId": version, "sequencer": sequencer}}})
}

fn message(id: &str, body: serde_json::Value, receive_count: u32) -> SqsMessage {
    let mut message = SqsMessage::default();
    message.message_id = Some(id.to_owned());
    message.body = Some(body.to_string());
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    message.attributes.insert("SentTimestamp".into(), "1".into());
    message
}

fn batch(messages: Vec<SqsMessage>) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages;
    event
}

/// An uploaded job: record, object version and the message of its S3 event.
async fn uploaded(p: &Memory, bytes: Vec<u8>, receive_count: u32) -> (ImageId, SqsMessage) {
    uploaded_for(p, None, bytes, receive_count).await
}

async fn uploaded_for(p: &Memory, model: Option<&str>, bytes: Vec<u8>, receive_count: u32) -> (ImageId, SqsMessage) {
    let id = new_job_for(p, model).await;
    let key = keys::upload_key(&id);
    let size = bytes.len();
    let version = p.objects.upload(&key, bytes, "image/png");
    let body = json!({"Records": [record(&key, &version, size, "0055AED6DCD90281E5", "ObjectCreated:Put")]});
    (id, message(&format!("m-{id}"), body, receive_count))
}

fn failed_ids(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn a_photo_is_decoded_sent_with_its_pixels_and_recorded_preprocessed() {
    let p = preprocessor();
    let (id, message) = uploaded(&p, png(320, 200), 1).await;
    let response = handle_batch(&p, batch(vec![message])).await;
    assert!(response.batch_item_failures.is_empty());
    let sent = p.queue.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].queue_url, LITE0_QUEUE, "the default model");
    assert_eq!(sent[0].request.model.name, "efficientnet-lite0");
    assert_eq!(sent[0].request.image_id, id);
    assert_eq!((sent[0].request.width, sent[0].request.height), (224, 224));
    assert_eq!(sent[0].pixels.len(), 224 * 224 * 3);
    assert_eq!(sent[0].request.source_version.as_deref(), Some("v1"));
    let record = p.jobs.record(&id).unwrap();
    assert_eq!(record.status, Status::Preprocessed);
    assert_eq!((record.width, record.height), (Some(320), Some(200)));
    assert_eq!(record.format.as_deref(), Some("png"));
    assert!(record.timings_ms.contains_key("preprocess"));
    assert_eq!(
        p.jobs.writes().iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        vec![Status::Preprocessing, Status::Preprocessed]
    );
}

#[tokio::test]
async fn bad_uploads_fail_the_job_at_once_and_are_not_retried() {
    for (bytes, code) in [
        (b"%PDF-1.7 hello".to_vec(), ErrorCode::NotAnImage),
        (png(320, 200)[..200].to_vec(), ErrorCode::CorruptImage),
        (b"II*\0\x08\0\0\0".to_vec(), ErrorCode::UnsupportedFormat),
    ] {
        let p = preprocessor();
        let (id, message) = uploaded(&p, bytes, 1).await;
        let response = handle_batch(&p, batch(vec![message])).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{code}: a permanent failure is not retried"
        );
        let record = p.jobs.record(&id).unwrap();
        assert_eq!(record.status, Status::Failed);
        assert_eq!(record.error.map(|e| e.code), Some(code));
        assert!(p.queue.sent().is_empty());
        assert!(
            p.objects.versions(&keys::upload_key(&id)).is_empty(),
            "{code}: the rejected upload is removed"
        );
        let events = p.announcer.events.published();
        assert_eq!((events.len(), events[0].detail_type), (1, FAILED), "{code}: announced");
    }
}

#[tokio::test]
async fn each_image_is_prepared_for_its_own_model_and_sent_to_that_model_queue() {
    let p = preprocessor();
    let (id, message) = uploaded_for(&p, Some("tiny"), png(320, 200), 1).await;
    assert!(handle_batch(&p, batch(vec![message]))
        .await
        .batch_item_failures
        .is_empty());
    let sent = p.queue.sent();
    assert_eq!(sent[0].queue_url, TINY_QUEUE);
    assert_eq!((sent[0].request.width, sent[0].request.height), (32, 24));
    assert_eq!(sent[0].pixels.len(), 32 * 24 * 3);
    assert_eq!(sent[0].request.model.name, "tiny");
    assert_eq!(p.jobs.record(&id).unwrap().status, Status::Preprocessed);
    // A model this deployment does not have (any more) is our fault, not the image's.
    let (gone, message) = uploaded_for(&p, Some("resnet"), png(64, 64), 1).await;
    assert!(handle_batch(&p, batch(vec![message]))
        .await
        .batch_item_failures
        .is_empty());
    let error = p.jobs.record(&gone).unwrap().error.unwrap();
    assert_eq!(error.code, ErrorCode::Internal);
    assert_eq!(
        p.objects.versions(&keys::upload_key(&gone)).len(),
        1,
        "an internal failure keeps the upload"
    );
}

#[tokio::test]
async fn an_upload_over_the_limit_is_refused_from_the_event_before_any_download() {
    let p = preprocessor_with(100);
    let (id, message) = uploaded(&p, png(64, 64), 1).await;
    p.objects.faults.inject("get", Fault::Transient, 1);
    let response = handle_batch(&p, batch(vec![message])).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "the injected download fault was never reached"
    );
    assert_eq!(
        p.jobs.record(&id).unwrap().error.map(|e| e.code),
        Some(ErrorCode::TooLarge)
    );
}

#[tokio::test]
async fn a_missing_upload_is_upload_missing() {
    let p = preprocessor();
    let id = new_job(&p).await;
    let body = json!({"Records": [record(&keys::upload_key(&id), "v9", 10, "01", "ObjectCreated:Put")]});
    let response = handle_batch(&p, batch(vec![message("m", body, 1)])).await;
    assert!(response.batch_item_failures.is_empty());
    let error = p.jobs.record(&id).unwrap().error.unwrap();
    assert_eq!(error.code, ErrorCode::UploadMissing);
    assert!(
        !error.message.contains("s3://"),
        "no bucket name for the client: {}",
        error.message
    );
}

#[tokio::test]
async fn transient_and_configuration_faults_leave_the_message_and_the_job_for_a_retry() {
    for (operation, fault) in [
        ("send", Fault::Transient),
        ("send", Fault::Configuration),
        ("get", Fault::Transient),
        ("transition", Fault::Transient),
    ] {
        let p = preprocessor();
        let (id, message) = uploaded(&p, png(64, 64), 1).await;
        match operation {
            "send" => p.queue.faults.inject(operation, fault, 1),
            "get" => p.objects.faults.inject(operation, fault, 1),
            _ => p.jobs.faults.inject(operation, fault, 1),
        }
        let response = handle_batch(&p, batch(vec![message.clone()])).await;
        assert_eq!(failed_ids(&response), vec![format!("m-{id}")], "{operation} {fault:?}");
        let status = p.jobs.record(&id).unwrap().status;
        assert!(!status.is_terminal(), "{operation} {fault:?}: {status}");
        // The redelivery of the same message resumes its own claim and finishes the job.
        let mut again = message;
        again.attributes.insert("ApproximateReceiveCount".into(), "2".into());
        let response = handle_batch(&p, batch(vec![again])).await;
        assert!(response.batch_item_failures.is_empty(), "{operation} {fault:?}");
        assert_eq!(p.jobs.record(&id).unwrap().status, Status::Preprocessed);
        assert_eq!(p.queue.sent().len(), 1, "{operation} {fault:?}: sent once");
    }
}

#[tokio::test]
async fn a_fault_on_every_delivery_leaves_the_job_working_for_the_dead_letter_queue() {
    let p = preprocessor();
    let (id, message) = uploaded(&p, png(64, 64), 1).await;
    p.queue.faults.inject("send", Fault::Transient, 20);
    for receive_count in 1..=12 {
        let mut delivery = message.clone();
        delivery
            .attributes
            .insert("ApproximateReceiveCount".into(), receive_count.to_string());
        let response = handle_batch(&p, batch(vec![delivery])).await;
        assert_eq!(response.batch_item_failures.len(), 1, "delivery {receive_count}");
    }
    // No delivery gives up on its own: SQS moves the message to the DLQ, whose consumer ends the job.
    assert_eq!(p.jobs.record(&id).unwrap().status, Status::Preprocessing);
    assert!(p.announcer.events.published().is_empty());
}

#[tokio::test]
async fn a_failure_that_cannot_be_announced_is_announced_by_the_redelivery() {
    let p = preprocessor();
    let (id, message) = uploaded(&p, b"%PDF-1.7".to_vec(), 1).await;
    p.announcer.events.faults.inject("publish", Fault::Transient, 1);
    let response = handle_batch(&p, batch(vec![message.clone()])).await;
    assert_eq!(response.batch_item_failures.len(), 1, "left for redelivery");
    assert_eq!(
        p.jobs.record(&id).unwrap().status,
        Status::Failed,
        "the result is recorded first"
    );
    let mut again = message;
    again.attributes.insert("ApproximateReceiveCount".into(), "2".into());
    assert!(handle_batch(&p, batch(vec![again]))
        .await
        .batch_item_failures
        .is_empty());
    let events = p.announcer.events.published();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].detail.image_id, id);
}

#[tokio::test]
async fn duplicate_events_and_older_versions_do_no_work() {
    let p = preprocessor();
    let (_, first) = uploaded(&p, png(64, 64), 1).await;
    let mut duplicate = first.clone();
    duplicate.message_id = Some("another-message".into());
    let response = handle_batch(&p, batch(vec![first, duplicate])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(
        p.queue.sent().len(),
        1,
        "one event does the work, its duplicate is ignored"
    );

    // An event older than the one already seen, arriving late, changes nothing.
    let p = preprocessor();
    let id2 = new_job(&p).await;
    let key = keys::upload_key(&id2);
    let v1 = p.objects.upload(&key, png(64, 64), "image/png");
    let v2 = p.objects.upload(&key, png(64, 64), "image/png");
    let newer = json!({"Records": [record(&key, &v2, 10, "0055AED6DCD90281F0", "ObjectCreated:Put")]});
    let older = json!({"Records": [record(&key, &v1, 10, "0055AED6DCD90281E5", "ObjectCreated:Put")]});
    let _ = handle_batch(&p, batch(vec![message("new", newer, 1)])).await;
    let before = p.jobs.record(&id2).unwrap();
    let response = handle_batch(&p, batch(vec![message("old", older, 1)])).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(p.jobs.record(&id2).unwrap(), before);
    assert_eq!(p.queue.sent().len(), 1);
    assert_eq!(p.queue.sent()[0].request.source_version.as_deref(), Some(v2.as_str()));
}

#[tokio::test]
async fn messages_that_are_not_for_us_are_dropped_without_a_retry() {
    let p = preprocessor();
    let stray = ImageId::new_random();
    let test_event = json!({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"});
    let not_json = serde_json::Value::String("not an S3 notification".into());
    let outside = json!({"Records": [record("elsewhere/x.jpg", "v1", 10, "01", "ObjectCreated:Put")]});
    let no_record = json!({"Records": [record(&keys::upload_key(&stray), "v1", 10, "01", "ObjectCreated:Put")]});
    let removed = json!({"Records": [record(&keys::upload_key(&stray), "v1", 10, "01", "ObjectRemoved:Delete")]});
    let messages = vec![
        message("test", test_event, 1),
        message("garbage", not_json, 1),
        message("outside", outside, 1),
        message("no-record", no_record, 1),
        message("removed", removed, 1),
    ];
    let response = handle_batch(&p, batch(messages)).await;
    assert!(response.batch_item_failures.is_empty(), "{:?}", failed_ids(&response));
    assert!(
        p.jobs.record(&stray).is_none(),
        "no record is invented for a stray upload"
    );
    assert!(p.queue.sent().is_empty() && p.jobs.writes().is_empty());
}

/// An ingest notification as real S3 sends it: the writer's principal, the key URL-encoded.
fn ingest_event(key: &str, version: &str, principal: &str) -> serde_json::Value {
    let mut record = record(key, version, 10, "0055AED6DCD90281E5", "ObjectCreated:Put");
    record["userIdentity"] = json!({"principalId": principal});
    json!({"Records": [record]})
}

#[tokio::test]
async fn an_object_under_the_ingest_prefix_becomes_a_job_of_its_writer() {
    let p = preprocessor();
    let key = "ingest/batch-7/cat 1.png";
    let version = p.objects.upload(key, png(120, 80), "image/png");
    let body = ingest_event("ingest/batch-7/cat+1.png", &version, "AWS:AROAEXAMPLEROLE:sync-session");
    let response = handle_batch(&p, batch(vec![message("m1", body.clone(), 1)])).await;
    assert!(response.batch_item_failures.is_empty());
    let id = ImageId::for_ingested_object("b", key, Some(&version));
    let record = p.jobs.record(&id).unwrap();
    assert_eq!(record.status, Status::Preprocessed);
    assert_eq!(
        record.owner.as_deref(),
        Some("iam:AROAEXAMPLEROLE"),
        "the session name is not part of the owner"
    );
    assert_eq!(record.source_key.as_deref(), Some("batch-7/cat 1.png"));
    assert_eq!(record.filename, None, "the source key is the name");
    assert_eq!(record.model_name.as_deref(), Some("efficientnet-lite0"));
    assert_eq!(p.queue.sent().len(), 1);
    // The same event again (another message) is the same job: nothing more is done.
    assert!(handle_batch(&p, batch(vec![message("m2", body, 1)]))
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(p.queue.sent().len(), 1);
    // A new version of the key is a new job.
    let v2 = p.objects.upload(key, png(120, 80), "image/png");
    let body = ingest_event("ingest/batch-7/cat+1.png", &v2, "AWS:AROAEXAMPLEROLE:sync-session");
    assert!(handle_batch(&p, batch(vec![message("m3", body, 1)]))
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(p.queue.sent().len(), 2);
    assert_ne!(p.queue.sent()[1].request.image_id, id);
}

#[tokio::test]
async fn without_authentication_an_ingested_object_has_no_owner() {
    let mut p = preprocessor();
    p.config.auth_mode = imgpipe_domain::config::AuthMode::None;
    let key = "ingest/local/cat.png";
    let version = p.objects.upload(key, png(120, 80), "image/png");
    let body = ingest_event(key, &version, "AWS:AIDAEXAMPLEUSER");
    assert!(handle_batch(&p, batch(vec![message("m1", body, 1)]))
        .await
        .batch_item_failures
        .is_empty());
    let record = p
        .jobs
        .record(&ImageId::for_ingested_object("b", key, Some(&version)))
        .unwrap();
    assert_eq!(
        record.owner, None,
        "every caller of an unauthenticated API is the same anonymous one"
    );
    assert_eq!(record.source_key.as_deref(), Some("local/cat.png"));
}

#[tokio::test]
async fn a_rejected_ingested_object_gets_its_result_file_and_stays_where_its_owner_put_it() {
    let p = preprocessor();
    let key = "ingest/batch-7/notes.txt";
    let version = p.objects.upload(key, b"not an image".to_vec(), "text/plain");
    let body = ingest_event(key, &version, "AWS:AIDAEXAMPLEUSER");
    assert!(handle_batch(&p, batch(vec![message("m", body, 1)]))
        .await
        .batch_item_failures
        .is_empty());
    let id = ImageId::for_ingested_object("b", key, Some(&version));
    assert_eq!(
        p.jobs.record(&id).unwrap().error.map(|e| e.code),
        Some(ErrorCode::NotAnImage)
    );
    let result = p.announcer.objects.versions("results/batch-7/notes.txt.json");
    assert_eq!(result.len(), 1, "the result file mirrors the key");
    let file: serde_json::Value = serde_json::from_slice(&result[0].bytes).unwrap();
    assert_eq!(file["error"]["code"], "not_an_image");
    assert_eq!(
        p.objects.versions(key).len(),
        1,
        "the owner's own object is not deleted"
    );
    assert_eq!(p.announcer.events.published()[0].detail_type, FAILED);
}

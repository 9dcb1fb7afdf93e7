//! The preprocess, inference and sweeper handlers, in-process, on real SQS event payloads produced by
//! moto's own S3 -> SQS notifications and redrives (the second layer: every branch also has an in-memory
//! test beside its handler). Failure paths first: they are where jobs get lost.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use imgpipe_aws::store::DynamoJobs;
use imgpipe_domain::keys;
use imgpipe_domain::model_spec::ModelBundle;
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::{Changes, NewImage};
use imgpipe_domain::time::now_ms;
use imgpipe_domain::{ErrorCode, ImageId, Status};
use imgpipe_inference::Inferrer;
use imgpipe_local::clients::Clients;
use imgpipe_local::poller::{to_event, PollerConfig};
use imgpipe_local::resources::{Queue, Resources};
use imgpipe_local::stack::function_configs;
use imgpipe_local::testing::{repo_root, stack_options, Emulator, REGION};
use imgpipe_model::{Classifier, RuntimeOptions};
use imgpipe_preprocess::Preprocessor;

struct Fixture {
    emulator: Emulator,
    resources: Resources,
    store: DynamoJobs,
    preprocessor: imgpipe_preprocess::AwsPreprocessor,
}

async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

async fn fixture_with(adjust: impl FnOnce(&mut imgpipe_domain::config::PreprocessConfig)) -> Fixture {
    let emulator = Emulator::start().await;
    let resources = emulator.resources(1).await;
    let options = stack_options();
    let mut preprocess_config = function_configs(&resources, &options, "").unwrap().preprocess;
    adjust(&mut preprocess_config);
    let preprocessor = Preprocessor::on_aws(preprocess_config, &emulator.clients.aws);
    let store = DynamoJobs::new(emulator.clients.dynamodb.clone(), resources.table.clone());
    Fixture {
        emulator,
        resources,
        store,
        preprocessor,
    }
}

impl Fixture {
    /// A new job whose upload of `bytes` has landed: its id and the S3 event the preprocess queue got.
    async fn uploaded_job(&self, bytes: Vec<u8>) -> (ImageId, SqsEvent) {
        let id = create_record(&self.store).await;
        upload(
            &self.emulator.clients,
            &self.resources.bucket,
            &keys::upload_key(&id),
            bytes,
        )
        .await;
        (id, next_event(&self.emulator.clients, &self.resources.preprocess).await)
    }
}

async fn create_record(store: &DynamoJobs) -> ImageId {
    let image_id = ImageId::new_random();
    let created_at_ms = now_ms();
    let image = NewImage::pending_upload(
        image_id,
        None,
        "image/png",
        keys::upload_key(&image_id),
        created_at_ms,
        created_at_ms / 1000 + 3600,
    );
    store.create(&image).await.unwrap();
    image_id
}

async fn upload(clients: &Clients, bucket: &str, key: &str, bytes: Vec<u8>) {
    clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .unwrap();
}

/// Receives the next messages of `queue` (skipping S3 test events) as the Lambda event payload.
async fn next_event(clients: &Clients, queue: &Queue) -> SqsEvent {
    let config = PollerConfig {
        name: "test",
        queue_url: queue.url.clone(),
        queue_arn: queue.arn.clone(),
        region: REGION.into(),
        batch_size: 10,
        batching_window: Duration::ZERO,
        max_receive_count: queue.max_receive_count,
        crashes: None,
    };
    for _ in 0..40 {
        let messages = clients
            .sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap()
            .messages
            .unwrap_or_default();
        let (tests, messages): (Vec<_>, Vec<_>) = messages
            .into_iter()
            .partition(|m| m.body().unwrap_or_default().contains("s3:TestEvent"));
        for test_event in tests {
            let handle = test_event.receipt_handle().unwrap_or_default();
            clients
                .sqs
                .delete_message()
                .queue_url(&queue.url)
                .receipt_handle(handle)
                .send()
                .await
                .unwrap();
        }
        if !messages.is_empty() {
            return to_event(&messages, &config).unwrap();
        }
    }
    panic!("no message arrived on {}", queue.url);
}

fn demo_photo(name: &str) -> Vec<u8> {
    std::fs::read(repo_root().join("third_party/demo-images").join(name)).unwrap()
}

#[tokio::test]
async fn not_an_image_fails_the_job_without_retry() {
    let f = fixture().await;
    let (id, event) = f.uploaded_job(b"%PDF-1.7 hello".to_vec()).await;
    let response = imgpipe_preprocess::handle_batch(&f.preprocessor, event).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "a permanent failure must not be retried"
    );
    let record = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Failed);
    assert_eq!(record.error.unwrap().code, ErrorCode::NotAnImage);
}

#[tokio::test]
async fn truncated_image_fails_as_corrupt() {
    let f = fixture().await;
    let photo = demo_photo("rocket.jpg");
    let (id, event) = f.uploaded_job(photo[..photo.len() / 3].to_vec()).await;
    let response = imgpipe_preprocess::handle_batch(&f.preprocessor, event).await;
    assert!(response.batch_item_failures.is_empty());
    let record = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.error.map(|e| e.code), Some(ErrorCode::CorruptImage));
}

#[tokio::test]
async fn uploads_without_a_record_are_ignored() {
    let f = fixture().await;
    let stray = ImageId::new_random();
    upload(
        &f.emulator.clients,
        &f.resources.bucket,
        &keys::upload_key(&stray),
        demo_photo("coffee.png"),
    )
    .await;
    let event = next_event(&f.emulator.clients, &f.resources.preprocess).await;
    let response = imgpipe_preprocess::handle_batch(&f.preprocessor, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(
        f.store.get(&stray).await.unwrap().is_none(),
        "no record is invented for a stray upload"
    );
}

/// The sweeper of these resources, as the stack runs it on the dead-letter queues.
fn sweeper(f: &Fixture) -> imgpipe_sweeper::AwsSweeper {
    let config = function_configs(&f.resources, &stack_options(), "").unwrap().sweeper;
    imgpipe_sweeper::Sweeper::on_aws(config, &f.emulator.clients.aws)
}

/// Receives the message SQS moved to a dead-letter queue (it moves it on the receive after the last
/// allowed delivery, once the visibility timeout has passed).
async fn dead_letter(f: &Fixture, queue: &Queue) -> SqsEvent {
    let dlq = Queue {
        url: queue.dlq_url.clone(),
        arn: queue.dlq_arn.clone(),
        ..queue.clone()
    };
    for _ in 0..20 {
        let _ = f
            .emulator
            .clients
            .sqs
            .receive_message()
            .queue_url(&queue.url)
            .send()
            .await;
        if queue_depth(&f.emulator.clients, &dlq.url).await > 0 {
            return next_event(&f.emulator.clients, &dlq).await;
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    panic!("nothing reached {}", dlq.url);
}

/// A fault on every attempt (the inference queue does not exist, so SendMessage always fails): every
/// delivery is left for redelivery and the job stays `preprocessing`; SQS moves the message to the DLQ,
/// and the sweeper's dead-letter handler records `failed`/`retries_exhausted`.
#[tokio::test]
async fn a_persistent_fault_ends_in_the_dlq_and_the_sweeper_ends_the_job() {
    let f = fixture_with(|config| {
        for model in &mut config.models {
            model.queue_url.as_mut().unwrap().push_str("-does-not-exist");
        }
    })
    .await;
    let id = create_record(&f.store).await;
    upload(
        &f.emulator.clients,
        &f.resources.bucket,
        &keys::upload_key(&id),
        demo_photo("coffee.png"),
    )
    .await;
    let max = f.resources.preprocess.max_receive_count;
    for delivery in 1..=max {
        let event = next_event(&f.emulator.clients, &f.resources.preprocess).await;
        let receive_count: u32 = event.records[0].attributes["ApproximateReceiveCount"].parse().unwrap();
        assert_eq!(receive_count, delivery);
        let response = imgpipe_preprocess::handle_batch(&f.preprocessor, event).await;
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "delivery {receive_count} must be reported failed"
        );
        assert_eq!(f.store.get(&id).await.unwrap().unwrap().status, Status::Preprocessing);
    }
    let dead = dead_letter(&f, &f.resources.preprocess).await;
    let response = imgpipe_sweeper::dead_letters::handle_batch(&sweeper(&f), dead).await;
    assert!(response.batch_item_failures.is_empty());
    let record = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Failed);
    assert_eq!(record.error.unwrap().code, ErrorCode::RetriesExhausted);
}

/// Workers that die (timeout, out of memory) record nothing: each delivery's claim is left behind and the
/// job stays `preprocessing` until SQS gives up on its message; the sweeper then ends it from its dead
/// letter, and a dead letter of a job that completed meanwhile changes nothing.
#[tokio::test]
async fn a_job_whose_workers_died_is_ended_from_its_dead_letter() {
    let f = fixture().await;
    let (id, _) = f.uploaded_job(demo_photo("coffee.png")).await;
    let claim = Changes {
        claim: Some(imgpipe_domain::record::Claim {
            claimant: "sqs:died".into(),
            expires_at_ms: now_ms() + 600_000,
        }),
        ..Changes::default()
    };
    assert!(f
        .store
        .transition(&id, Status::Preprocessing, claim, now_ms())
        .await
        .unwrap()
        .is_applied());
    // Every delivery "dies": the message is received and never answered.
    for _ in 1..f.resources.preprocess.max_receive_count {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let _ = next_event(&f.emulator.clients, &f.resources.preprocess).await;
    }
    let dead = dead_letter(&f, &f.resources.preprocess).await;
    let sweeper = sweeper(&f);
    assert!(imgpipe_sweeper::dead_letters::handle_batch(&sweeper, dead.clone())
        .await
        .batch_item_failures
        .is_empty());
    let record = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.error.map(|e| e.code), Some(ErrorCode::RetriesExhausted));
    assert_eq!(record.width, None, "no work was done for it");
    // The same dead letter again (or one of a job that ended meanwhile) changes nothing.
    assert!(imgpipe_sweeper::dead_letters::handle_batch(&sweeper, dead)
        .await
        .batch_item_failures
        .is_empty());
    assert_eq!(f.store.get(&id).await.unwrap().unwrap().updated_at, record.updated_at);
}

#[tokio::test]
async fn photo_goes_through_both_stages_and_duplicates_change_nothing() {
    let f = fixture().await;
    let options = stack_options();
    let inference_config = function_configs(&f.resources, &options, "")
        .unwrap()
        .inference
        .remove(0);
    let bundle = ModelBundle::load(&options.models[0]).unwrap();
    let runtime = RuntimeOptions {
        library: options.ort_library.clone(),
        intra_threads: 0,
    };
    let classifier = Arc::new(Classifier::load(bundle, &runtime).unwrap());
    let inferrer = Inferrer::on_aws(inference_config, classifier, &f.emulator.clients.aws);

    let (id, s3_event) = f.uploaded_job(demo_photo("coffee.png")).await;
    let response = imgpipe_preprocess::handle_batch(&f.preprocessor, s3_event.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(f.store.get(&id).await.unwrap().unwrap().status, Status::Preprocessed);

    let inference_event = next_event(&f.emulator.clients, &f.resources.inference[0].1).await;
    let response = imgpipe_inference::handle_batch(&inferrer, inference_event.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    let record = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Completed);
    let predictions = record.predictions.clone().unwrap();
    assert_eq!(predictions.len(), 5);
    assert_eq!(predictions[0].label, "espresso");
    assert!(predictions.windows(2).all(|w| w[0].score >= w[1].score));

    // The same S3 event and the same inference message delivered again: nothing moves backwards.
    let again = imgpipe_preprocess::handle_batch(&f.preprocessor, s3_event).await;
    assert!(again.batch_item_failures.is_empty());
    let again = imgpipe_inference::handle_batch(&inferrer, inference_event).await;
    assert!(again.batch_item_failures.is_empty());
    let after = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(after.status, Status::Completed);
    assert_eq!(
        after.updated_at, record.updated_at,
        "a duplicate delivery changes nothing"
    );
}

async fn queue_depth(clients: &Clients, url: &str) -> u32 {
    use aws_sdk_sqs::types::QueueAttributeName::{ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible};
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(ApproximateNumberOfMessages)
        .attribute_names(ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let read = |name| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0)
    };
    read(ApproximateNumberOfMessages) + read(ApproximateNumberOfMessagesNotVisible)
}

/// S3 may deliver one event twice (two SQS messages): only the first claimant does the work.
#[tokio::test]
async fn duplicate_s3_events_in_one_batch_do_the_work_once() {
    let f = fixture().await;
    let (id, mut event) = f.uploaded_job(demo_photo("coffee.png")).await;
    assert_eq!(event.records.len(), 1);
    let mut twin = event.records[0].clone();
    twin.message_id = Some(uuid::Uuid::new_v4().to_string());
    event.records.push(twin);
    let response = imgpipe_preprocess::handle_batch(&f.preprocessor, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(f.store.get(&id).await.unwrap().unwrap().status, Status::Preprocessed);
    assert_eq!(
        queue_depth(&f.emulator.clients, &f.resources.inference[0].1.url).await,
        1,
        "one inference request"
    );
}

/// Real S3 may deliver an older version's event after a newer one's (the emulator sends its events at once
/// and in order, so these two are sent as S3 would send them, out of order): an event for an older version
/// that arrives late changes nothing.
#[tokio::test]
async fn an_older_version_arriving_late_changes_nothing() {
    let f = fixture().await;
    let id = create_record(&f.store).await;
    let key = keys::upload_key(&id);
    let s3 = &f.emulator.clients.s3;
    let put = |bytes: Vec<u8>| {
        s3.put_object()
            .bucket(&f.resources.bucket)
            .key(&key)
            .body(bytes.into())
            .send()
    };
    let v1 = put(demo_photo("coffee.png")).await.unwrap().version_id.unwrap();
    let v2 = put(demo_photo("chelsea.png")).await.unwrap().version_id.unwrap();
    f.emulator
        .clients
        .sqs
        .purge_queue()
        .queue_url(&f.resources.preprocess.url)
        .send()
        .await
        .unwrap();

    let s3_event = |version: &str, sequencer: &str| {
        serde_json::json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": REGION,
            "eventTime": "2026-11-27T10:00:00.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "198.51.100.7"},
            "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "H"},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "uploads",
                   "bucket": {"name": f.resources.bucket, "ownerIdentity": {"principalId": "A"},
                              "arn": format!("arn:aws:s3:::{}", f.resources.bucket)},
                   "object": {"key": key.replace('/', "%2F"), "size": 1, "eTag": "e",
                              "versionId": version, "sequencer": sequencer}}}]})
        .to_string()
    };
    let send = |body: String| {
        f.emulator
            .clients
            .sqs
            .send_message()
            .queue_url(&f.resources.preprocess.url)
            .message_body(body)
            .send()
    };
    send(s3_event(&v2, "0055AED6DCD90281E6")).await.unwrap();
    let event = next_event(&f.emulator.clients, &f.resources.preprocess).await;
    assert!(imgpipe_preprocess::handle_batch(&f.preprocessor, event)
        .await
        .batch_item_failures
        .is_empty());
    let after_v2 = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(after_v2.status, Status::Preprocessed);
    assert_eq!(after_v2.s3_version.as_deref(), Some(v2.as_str()));
    assert_eq!(after_v2.width, Some(451), "the chelsea photo (v2) was processed");

    send(s3_event(&v1, "0055AED6DCD90281E5")).await.unwrap();
    let event = next_event(&f.emulator.clients, &f.resources.preprocess).await;
    assert!(imgpipe_preprocess::handle_batch(&f.preprocessor, event)
        .await
        .batch_item_failures
        .is_empty());
    let after_v1 = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(
        after_v1, after_v2,
        "the late, older event did no work and changed nothing"
    );
    assert_eq!(
        queue_depth(&f.emulator.clients, &f.resources.inference[0].1.url).await,
        1
    );
}

/// A fault on the first attempt only (S3 unavailable for one GetObject): the message is retried and the
/// job completes preprocessing on the second delivery.
#[tokio::test]
async fn transient_fault_on_the_first_attempt_succeeds_on_retry() {
    let emulator = Emulator::start().await;
    let resources = emulator.resources(1).await;
    let options = stack_options();
    let config = function_configs(&resources, &options, "").unwrap().preprocess;
    let calls = imgpipe_local::calls::AwsCalls::new();
    let clients = emulator.recorded_clients(&calls).await;
    let preprocessor = Preprocessor::on_aws(config, &clients.aws);
    let store = DynamoJobs::new(emulator.clients.dynamodb.clone(), resources.table.clone());

    let id = create_record(&store).await;
    upload(
        &emulator.clients,
        &resources.bucket,
        &keys::upload_key(&id),
        demo_photo("coffee.png"),
    )
    .await;
    calls.fail_next("s3:GetObjectVersion", 1);
    let first = next_event(&emulator.clients, &resources.preprocess).await;
    let response = imgpipe_preprocess::handle_batch(&preprocessor, first).await;
    assert_eq!(
        response.batch_item_failures.len(),
        1,
        "the faulty attempt is left for redelivery"
    );
    assert_eq!(store.get(&id).await.unwrap().unwrap().status, Status::Preprocessing);

    let second = next_event(&emulator.clients, &resources.preprocess).await;
    assert_eq!(second.records[0].attributes["ApproximateReceiveCount"], "2");
    let response = imgpipe_preprocess::handle_batch(&preprocessor, second).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(store.get(&id).await.unwrap().unwrap().status, Status::Preprocessed);
}

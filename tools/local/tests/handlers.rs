//! The preprocess and inference handlers, in-process, on real SQS event payloads produced by moto's own
//! S3 -> SQS notifications. Failure paths first: they are where jobs get lost.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use imgpipe_aws::store::DynamoJobs;
use imgpipe_domain::keys;
use imgpipe_domain::model_spec::ModelBundle;
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::{Changes, NewImage, Transition};
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
    let (_, mut preprocess_config, _) = function_configs(&resources, &options).unwrap();
    adjust(&mut preprocess_config);
    let bundle = ModelBundle::load(&options.model_dir).unwrap();
    let preprocessor = Preprocessor::on_aws(preprocess_config, bundle, &emulator.clients.aws);
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
    store
        .create(&NewImage {
            image_id,
            owner: None,
            content_type: "image/png".into(),
            filename: None,
            s3_key: keys::upload_key(&image_id),
            created_at_ms,
            expires_at_secs: created_at_ms / 1000 + 3600,
            request_fingerprint: None,
        })
        .await
        .unwrap();
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

/// A fault on every attempt (the inference queue does not exist, so SendMessage always fails): retried
/// while working deliveries remain, then `failed`/`retries_exhausted` on the last of them (the one before
/// the final, bookkeeping delivery), still reported as failed so that SQS moves the message to the DLQ.
#[tokio::test]
async fn persistent_transient_fault_ends_in_retries_exhausted() {
    let f = fixture_with(|config| config.inference_queue_url.push_str("-does-not-exist")).await;
    let id = create_record(&f.store).await;
    upload(
        &f.emulator.clients,
        &f.resources.bucket,
        &keys::upload_key(&id),
        demo_photo("coffee.png"),
    )
    .await;
    let max = f.resources.preprocess.max_receive_count;
    let mut deliveries = 0;
    loop {
        let event = next_event(&f.emulator.clients, &f.resources.preprocess).await;
        deliveries += 1;
        let receive_count: u32 = event.records[0].attributes["ApproximateReceiveCount"].parse().unwrap();
        let response = imgpipe_preprocess::handle_batch(&f.preprocessor, event).await;
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "delivery {receive_count} must be reported failed"
        );
        let status = f.store.get(&id).await.unwrap().unwrap().status;
        if receive_count < max - 1 {
            assert_eq!(
                status,
                Status::Preprocessing,
                "still retrying on delivery {receive_count}"
            );
        } else {
            assert_eq!(status, Status::Failed);
            break;
        }
        assert!(deliveries < 2 * max, "runaway retries");
    }
    let record = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.error.unwrap().code, ErrorCode::RetriesExhausted);
    // SQS redrives the message after it is received once more than maxReceiveCount allows.
    let dlq = Queue {
        url: f.resources.preprocess.dlq_url.clone(),
        ..f.resources.preprocess.clone()
    };
    let mut in_dlq = 0;
    for _ in 0..10 {
        let _ = f
            .emulator
            .clients
            .sqs
            .receive_message()
            .queue_url(&f.resources.preprocess.url)
            .send()
            .await;
        let attrs = f
            .emulator
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&dlq.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap();
        in_dlq = attrs
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        if in_dlq > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    assert_eq!(in_dlq, 1, "the message ends in the DLQ");
}

/// Workers that die (timeout, out of memory) record nothing. The final delivery (maxReceiveCount) does no
/// work and records the failure, so the job does not stay `preprocessing` while its message goes to the
/// DLQ; for a job that already ended well it just deletes the message.
#[tokio::test]
async fn the_final_delivery_fails_a_job_whose_workers_died() {
    let f = fixture().await;
    let (id, mut event) = f.uploaded_job(demo_photo("coffee.png")).await;
    // What the dead deliveries left: a claim, then nothing.
    let claim = Changes {
        claim: Some(imgpipe_domain::record::Claim {
            claimant: "sqs:died".into(),
            expires_at_ms: now_ms() + 600_000,
        }),
        ..Changes::default()
    };
    let claimed = f
        .store
        .transition(&id, Status::Preprocessing, claim, now_ms())
        .await
        .unwrap();
    assert_eq!(claimed, Transition::Applied);
    let max = f.resources.preprocess.max_receive_count;
    event.records[0]
        .attributes
        .insert("ApproximateReceiveCount".into(), max.to_string());
    let response = imgpipe_preprocess::handle_batch(&f.preprocessor, event.clone()).await;
    assert_eq!(response.batch_item_failures.len(), 1, "still failing: on to the DLQ");
    let record = f.store.get(&id).await.unwrap().unwrap();
    assert_eq!(record.status, Status::Failed);
    let error = record.error.unwrap();
    assert_eq!(error.code, ErrorCode::RetriesExhausted);
    assert!(error.message.contains(&format!("delivery {max}")), "{}", error.message);
    assert_eq!(record.width, None, "the final delivery did no work");

    // The final delivery of a job that completed meanwhile (a late duplicate) is simply deleted.
    let done = create_record(&f.store).await;
    let completed = f
        .store
        .transition(&done, Status::Completed, Changes::default(), now_ms())
        .await
        .unwrap();
    assert_eq!(completed, Transition::Applied);
    let body = event.records[0]
        .body
        .clone()
        .unwrap()
        .replace(&id.to_string(), &done.to_string());
    event.records[0].body = Some(body);
    let response = imgpipe_preprocess::handle_batch(&f.preprocessor, event).await;
    assert!(response.batch_item_failures.is_empty());
    assert_eq!(f.store.get(&done).await.unwrap().unwrap().status, Status::Completed);
}

#[tokio::test]
async fn photo_goes_through_both_stages_and_duplicates_change_nothing() {
    let f = fixture().await;
    let options = stack_options();
    let (_, _, inference_config) = function_configs(&f.resources, &options).unwrap();
    let bundle = ModelBundle::load(&options.model_dir).unwrap();
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

    let inference_event = next_event(&f.emulator.clients, &f.resources.inference).await;
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
        queue_depth(&f.emulator.clients, &f.resources.inference.url).await,
        1,
        "one inference request"
    );
}

/// Real S3 events carry `versionId` and `sequencer` (the emulator's do not, so these are sent as S3
/// would send them): an event for an older version that arrives late changes nothing.
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
    assert_eq!(queue_depth(&f.emulator.clients, &f.resources.inference.url).await, 1);
}

/// A fault on the first attempt only (S3 unavailable for one GetObject): the message is retried and the
/// job completes preprocessing on the second delivery.
#[tokio::test]
async fn transient_fault_on_the_first_attempt_succeeds_on_retry() {
    let emulator = Emulator::start().await;
    let resources = emulator.resources(1).await;
    let options = stack_options();
    let (_, config, _) = function_configs(&resources, &options).unwrap();
    let calls = imgpipe_local::calls::AwsCalls::new();
    let clients = emulator.recorded_clients(&calls).await;
    let preprocessor = Preprocessor::on_aws(config, ModelBundle::load(&options.model_dir).unwrap(), &clients.aws);
    let store = DynamoJobs::new(emulator.clients.dynamodb.clone(), resources.table.clone());

    let id = create_record(&store).await;
    upload(
        &emulator.clients,
        &resources.bucket,
        &keys::upload_key(&id),
        demo_photo("coffee.png"),
    )
    .await;
    calls.fail_next("s3:GetObject", 1);
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

//! Bulk ingest through S3 on the emulator, as S3 drives it: each object version under `ingest/` is its own
//! job (a re-upload of a key is a second job), owned by the principal that wrote it; a copy into the prefix
//! by another principal — what an S3 Batch Operations copy job does, with its own role, and what S3 then
//! announces as `ObjectCreated:Copy` — is that principal's job; a redelivered event does no work twice;
//! every job leaves its result file under `results/`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::config::Credentials;
use imgpipe_local::testing::{repo_root, stack_options};
use imgpipe_local::Stack;
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(90);
// The emulator derives an event's principal from the access key that signed the write (tools/local/src/
// moto_launcher.py), as S3 reports the IAM identity behind the request.
const COPIER_KEY: &str = "AKIABATCHOPERATIONS1";

/// The versions of a result file, newest first, parsed.
async fn result_versions(stack: &Stack, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for version in stack.object_versions(key).await.unwrap() {
        if version.key != key || version.delete_marker {
            continue;
        }
        let object = stack
            .clients
            .s3
            .get_object()
            .bucket(&stack.resources.bucket)
            .key(key)
            .set_version_id(version.version_id)
            .send()
            .await
            .unwrap();
        out.push(serde_json::from_slice(&object.body.collect().await.unwrap().into_bytes()).unwrap());
    }
    out
}

async fn wait_for_results(stack: &Stack, key: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let got = result_versions(stack, key).await;
        if got.len() >= count || Instant::now() > deadline {
            assert_eq!(got.len(), count, "{key}: {got:?}");
            return got;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn item(stack: &Stack, image_id: &str) -> std::collections::HashMap<String, AttributeValue> {
    stack
        .clients
        .dynamodb
        .get_item()
        .table_name(&stack.resources.table)
        .key("image_id", AttributeValue::S(image_id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("no item {image_id}"))
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_else(|| panic!("{name} missing from {item:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_jobs_follow_object_versions_and_writers_including_a_batch_operations_copy() {
    let mut options = stack_options();
    // Owners are recorded only where callers are authenticated (in the none mode nobody owns anything).
    options.jwt_tokens.insert("token".into(), "alice".into());
    let stack = Stack::start(options).await.expect("stack starts");
    let s3 = &stack.clients.s3;
    let bucket = &stack.resources.bucket;
    let photo = std::fs::read(repo_root().join("third_party/demo-images/coffee.png")).unwrap();

    // One key written twice: two versions, two jobs, two result-file versions.
    for _ in 0..2 {
        s3.put_object()
            .bucket(bucket)
            .key("ingest/batch-9/cup.png")
            .body(photo.clone().into())
            .send()
            .await
            .unwrap();
    }
    let results = wait_for_results(&stack, "results/batch-9/cup.png.json", 2).await;
    let ids: BTreeSet<&str> = results.iter().map(|r| r["image_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2, "a new version is a new job: {results:?}");
    let mut writer_owner = None;
    for result in &results {
        assert_eq!(result["status"], "completed", "{result}");
        assert_eq!(
            result["source_key"], "batch-9/cup.png",
            "relative to ingest/, as the results are"
        );
        assert_eq!(result["predictions"][0]["label"], "espresso", "{result}");
        let record = item(&stack, result["image_id"].as_str().unwrap()).await;
        let owner = text(&record, "owner");
        assert!(
            owner.starts_with("iam:AIDA"),
            "the writer's principal owns the job: {owner}"
        );
        assert_eq!(
            *writer_owner.get_or_insert_with(|| owner.clone()),
            owner,
            "one writer, one owner"
        );
    }

    // An archive elsewhere, copied into the prefix by another principal (a Batch Operations job's role).
    let archive = format!("{}-archive", stack.resources.names.prefix);
    s3.create_bucket().bucket(&archive).send().await.unwrap();
    s3.put_object()
        .bucket(&archive)
        .key("2019/cup.png")
        .body(photo.clone().into())
        .send()
        .await
        .unwrap();
    let copier = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(stack.clients.aws.sdk_config())
            .force_path_style(true)
            .credentials_provider(Credentials::new(
                COPIER_KEY,
                "batch-operations-secret",
                None,
                None,
                "test",
            ))
            .build(),
    );
    let copied = copier
        .copy_object()
        .bucket(bucket)
        .key("ingest/backfill/2019/cup.png")
        .copy_source(format!("{archive}/2019/cup.png"))
        .send()
        .await
        .unwrap();
    let copied_version = copied.version_id().expect("the bucket is versioned").to_owned();
    let results = wait_for_results(&stack, "results/backfill/2019/cup.png.json", 1).await;
    let copy_result = &results[0];
    assert_eq!(copy_result["status"], "completed", "{copy_result}");
    let copy_id = copy_result["image_id"].as_str().unwrap().to_owned();
    let record = item(&stack, &copy_id).await;
    let copier_owner = text(&record, "owner");
    assert!(copier_owner.starts_with("iam:AIDA"), "{copier_owner}");
    assert_ne!(
        Some(&copier_owner),
        writer_owner.as_ref(),
        "the copier owns what it copied"
    );
    assert_eq!(text(&record, "s3_version"), copied_version);
    let updated_at = record.get("updated_at").cloned();

    // The same notification again, as S3's at-least-once delivery may send it: no second job, no second
    // result, the record untouched.
    let principal = format!("AWS:{}", copier_owner.trim_start_matches("iam:"));
    let duplicate = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-12-02T00:00:00.000Z", "eventName": "ObjectCreated:Copy",
        "userIdentity": {"principalId": principal},
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
               "object": {"key": "ingest/backfill/2019/cup.png", "size": photo.len(), "versionId": copied_version,
                          "sequencer": "00000000000000FF"}}}]});
    stack
        .clients
        .sqs
        .send_message()
        .queue_url(&stack.resources.preprocess.url)
        .message_body(duplicate.to_string())
        .send()
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let visible = stack
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&stack.resources.preprocess.url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let pending: u64 = visible
        .attributes()
        .map(|a| a.values().filter_map(|v| v.parse::<u64>().ok()).sum())
        .unwrap_or(0);
    assert_eq!(pending, 0, "the duplicate was consumed: {visible:?}");
    assert_eq!(
        result_versions(&stack, "results/backfill/2019/cup.png.json")
            .await
            .len(),
        1
    );
    assert_eq!(item(&stack, &copy_id).await.get("updated_at").cloned(), updated_at);

    stack.stop().await;
}

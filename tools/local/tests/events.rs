//! Completion events on the emulator's EventBridge: a rule of the test's own, with an SQS queue as its
//! target, is the assertion. Every terminal state publishes its event (`Image Completed`, `Image Failed`),
//! the record is already terminal when the event can be read (the status write comes first), and a
//! failed publish is retried with the message rather than lost.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use imgpipe_local::client::ApiClient;
use imgpipe_local::resources::add_event_rule;
use imgpipe_local::testing::{repo_root, stack_options};
use imgpipe_local::Stack;
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_states_publish_one_event_each_after_their_write_and_a_failed_publish_is_retried() {
    let stack = Stack::start(stack_options()).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);
    let sqs = &stack.clients.sqs;

    let observer = sqs
        .create_queue()
        .queue_name(format!("{}-observer", stack.resources.names.prefix))
        .send()
        .await
        .unwrap();
    let observer_url = observer.queue_url().unwrap().to_owned();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&observer_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap();
    let observer_arn = attributes
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .unwrap()
        .clone();
    add_event_rule(
        &stack.clients,
        &stack.resources.event_bus,
        "observer",
        &json!({"source": [imgpipe_domain::events::EVENT_SOURCE]}),
        &observer_arn,
    )
    .await
    .unwrap();

    // The first publish of the inference function fails, as a throttled PutEvents would.
    stack.calls.inference[0].fail_next("events:PutEvents", 1);
    let photo = std::fs::read(repo_root().join("third_party/demo-images/coffee.png")).unwrap();
    let completed = client.submit_inline(Bytes::from(photo), "image/png").await.unwrap();
    let failed = client
        .submit_inline(Bytes::from_static(b"not an image at all, just text"), "image/png")
        .await
        .unwrap();

    // Each event, and the record as a reader finds it the moment the event arrives.
    let mut seen: BTreeMap<String, Vec<(Value, Value)>> = BTreeMap::new();
    let deadline = Instant::now() + TIMEOUT;
    while !(seen.contains_key(&completed) && seen.contains_key(&failed)) && Instant::now() < deadline {
        let received = sqs
            .receive_message()
            .queue_url(&observer_url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in received.messages() {
            let event: Value = serde_json::from_str(message.body().unwrap()).unwrap();
            let id = event["detail"]["image_id"].as_str().unwrap().to_owned();
            let record = client
                .api(Method::GET, &format!("/images/{id}"), &[], Bytes::new())
                .await
                .unwrap()
                .json()
                .unwrap();
            seen.entry(id).or_default().push((event, record));
            sqs.delete_message()
                .queue_url(&observer_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }

    let got = seen
        .get(&completed)
        .unwrap_or_else(|| panic!("no event for {completed}: {seen:?}"));
    let (event, record) = &got[0];
    assert_eq!(event["source"], "imgpipe");
    assert_eq!(event["detail-type"], "Image Completed", "{event}");
    assert_eq!(event["detail"]["status"], "completed");
    assert_eq!(event["detail"]["predictions"][0]["label"], "espresso", "{event}");
    assert_eq!(event["detail"]["model"]["name"], "efficientnet-lite0", "{event}");
    assert_eq!(
        record["status"], "completed",
        "the record was terminal before its event: {record}"
    );
    assert_eq!(record["predictions"], event["detail"]["predictions"]);
    assert_eq!(
        stack.calls.inference[0].faults_injected(),
        1,
        "the first publish failed and the event still came: retried with the message"
    );

    let got = seen
        .get(&failed)
        .unwrap_or_else(|| panic!("no event for {failed}: {seen:?}"));
    let (event, record) = &got[0];
    assert_eq!(event["detail-type"], "Image Failed", "{event}");
    assert_eq!(event["detail"]["status"], "failed");
    assert_eq!(
        event["detail"]["error"]["code"], record["error"]["code"],
        "{event} {record}"
    );
    assert_eq!(record["status"], "failed", "{record}");
    assert!(event["detail"]["predictions"].is_null(), "{event}");

    stack.stop().await;
}

//! The notifier on in-memory ports: what is sent, signed how, what is refused, and what a failure leaves.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use imgpipe_domain::config::{Env, NotifyConfig};
use imgpipe_domain::events::ImageEvent;
use imgpipe_domain::keys;
use imgpipe_domain::ports::Jobs;
use imgpipe_domain::record::{Changes, NewImage};
use imgpipe_domain::testing::MemoryJobs;
use imgpipe_domain::{ImageId, Status};
use serde_json::{json, Value};

use crate::{backoff_seconds, handle_batch, Answer, Delay, Delivery, Notifier, Resolver, Sender, SigningKey};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Default)]
struct FakeSender {
    sent: Mutex<Vec<Delivery>>,
    answers: Mutex<Vec<Answer>>,
}

impl Sender for FakeSender {
    async fn send(&self, delivery: &Delivery) -> Answer {
        self.sent.lock().unwrap().push(delivery.clone());
        self.answers.lock().unwrap().pop().unwrap_or(Answer::Accepted(204))
    }
}

struct FakeDns(HashMap<&'static str, Vec<&'static str>>);

impl Resolver for FakeDns {
    async fn resolve(&self, host: &str, port: u16) -> Vec<SocketAddr> {
        self.0
            .get(host)
            .map(|ips| {
                ips.iter()
                    .map(|ip| SocketAddr::new(ip.parse().unwrap(), port))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct FakeDelay(Mutex<Vec<i32>>);

impl Delay for FakeDelay {
    async fn delay(&self, _message: &SqsMessage, seconds: i32) {
        self.0.lock().unwrap().push(seconds);
    }
}

type Memory = Notifier<MemoryJobs, FakeSender, FakeDns, FakeDelay>;

fn notifier() -> Memory {
    let vars = HashMap::from([
        ("IMGPIPE_TABLE_NAME", "t".to_owned()),
        ("IMGPIPE_WEBHOOK_SECRET_ARN", "arn:secret".to_owned()),
        (
            "IMGPIPE_WEBHOOK_ALLOWED_HOSTS",
            "hooks.example.com,.partner.example".to_owned(),
        ),
        ("IMGPIPE_MAX_RECEIVE_COUNT", "4".to_owned()),
    ]);
    let config = NotifyConfig::from_env(&Env(|name: &str| vars.get(name).cloned())).unwrap();
    let dns = FakeDns(HashMap::from([
        ("hooks.example.com", vec!["93.184.216.34"]),
        ("internal.partner.example", vec!["93.184.216.35", "10.0.0.7"]),
        ("metadata.partner.example", vec!["169.254.169.254"]),
        ("loopback.partner.example", vec!["127.0.0.1"]),
    ]));
    Notifier {
        config,
        key: Some(SigningKey::parse(SECRET).unwrap()),
        jobs: MemoryJobs::new(),
        sender: FakeSender::default(),
        resolver: dns,
        delay: FakeDelay::default(),
    }
}

/// A completed job with a callback, and the EventBridge event the notify queue gets for it.
async fn completed_event(n: &Memory, callback_url: &str, receive_count: u32) -> (ImageId, SqsEvent) {
    let id = ImageId::new_random();
    let mut image = NewImage::pending_upload(id, Some("o".into()), "image/png", keys::upload_key(&id), 1, 99);
    image.callback_url = Some(callback_url.into());
    n.jobs.create(&image).await.unwrap();
    n.jobs
        .transition(&id, Status::Completed, Changes::default(), 5)
        .await
        .unwrap();
    let detail = ImageEvent::of(&n.jobs.record(&id).unwrap()).unwrap().detail;
    let envelope = json!({"version": "0", "id": "e-1", "detail-type": "Image Completed", "source": "imgpipe",
        "account": "123456789012", "time": "2026-12-01T10:00:00Z", "region": "eu-west-1", "resources": [],
        "detail": detail});
    let mut message = SqsMessage::default();
    message.message_id = Some("m-1".into());
    message.body = Some(envelope.to_string());
    message
        .attributes
        .insert("ApproximateReceiveCount".into(), receive_count.to_string());
    let mut event = SqsEvent::default();
    event.records = vec![message];
    (id, event)
}

#[tokio::test]
async fn a_webhook_is_signed_as_standard_webhooks_says_and_sent_to_the_checked_address() {
    let n = notifier();
    let (id, event) = completed_event(&n, "https://hooks.example.com/imgpipe?k=1", 1).await;
    assert!(handle_batch(&n, event).await.batch_item_failures.is_empty());
    let sent = n.sender.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 1);
    let delivery = &sent[0];
    assert_eq!(
        delivery.address,
        "93.184.216.34:443".parse().unwrap(),
        "pinned to the address checked"
    );
    assert_eq!(
        (delivery.target.host.as_str(), delivery.target.path.as_str()),
        ("hooks.example.com", "/imgpipe?k=1")
    );
    let header = |name: &str| {
        delivery
            .headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let (webhook_id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let expected = SigningKey::parse(SECRET)
        .unwrap()
        .sign(&webhook_id, timestamp.parse().unwrap(), &delivery.body);
    assert_eq!(header("webhook-signature"), expected);
    let body: Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(body["type"], "image.completed");
    assert_eq!(body["data"]["image_id"], json!(id));
    assert!(n.jobs.record(&id).unwrap().webhook.is_none());
}

#[tokio::test]
async fn urls_that_are_not_allowed_are_refused_at_once_and_noted() {
    for url in [
        "http://hooks.example.com/x",
        "https://93.184.216.34/x",
        "https://evil.example/x",
        "https://internal.partner.example/x",
        "https://metadata.partner.example/latest/meta-data",
        "https://loopback.partner.example/x",
        "https://nowhere.partner.example/x",
    ] {
        let n = notifier();
        let (id, event) = completed_event(&n, url, 1).await;
        assert!(
            handle_batch(&n, event).await.batch_item_failures.is_empty(),
            "{url}: not retried"
        );
        assert!(n.sender.sent.lock().unwrap().is_empty(), "{url}: nothing sent");
        let record = n.jobs.record(&id).unwrap();
        assert_eq!(record.webhook.unwrap().status, "webhook_refused", "{url}");
        assert_eq!(record.status, Status::Completed, "the result stands");
    }
}

#[tokio::test]
async fn a_failed_delivery_is_retried_with_growing_delays_then_noted_on_the_last_try() {
    let n = notifier();
    let (id, first) = completed_event(&n, "https://hooks.example.com/x", 1).await;
    n.sender
        .answers
        .lock()
        .unwrap()
        .extend([Answer::Refused(500), Answer::Refused(302)]);
    assert_eq!(
        handle_batch(&n, first).await.batch_item_failures.len(),
        1,
        "a redirect is not followed: retried"
    );
    let (_, second) = completed_event(&n, "https://hooks.example.com/x", 2).await;
    assert_eq!(
        handle_batch(&n, second).await.batch_item_failures.len(),
        1,
        "a 500: retried"
    );
    assert_eq!(*n.delay.0.lock().unwrap(), vec![backoff_seconds(1), backoff_seconds(2)]);
    assert!(backoff_seconds(2) > backoff_seconds(1) && backoff_seconds(30) == 900);
    n.sender
        .answers
        .lock()
        .unwrap()
        .push(Answer::Unreachable("no answer within 5 s".into()));
    let mut last = completed_event(&n, "https://hooks.example.com/x", 4).await.1;
    // The last try is of the first job's message.
    let body = last.records[0].body.clone().unwrap();
    let other = serde_json::from_str::<Value>(&body).unwrap()["detail"]["image_id"]
        .as_str()
        .unwrap()
        .to_owned();
    last.records[0].body = Some(body.replace(&other, &id.to_string()));
    assert!(
        handle_batch(&n, last).await.batch_item_failures.is_empty(),
        "the last try is noted, not retried"
    );
    let note = n.jobs.record(&id).unwrap().webhook.unwrap();
    assert_eq!((note.status.as_str(), note.attempts), ("webhook_failed", 4));
    assert!(note.message.contains("no answer"), "{}", note.message);
    assert_eq!(n.jobs.record(&id).unwrap().status, Status::Completed);
}

#[tokio::test]
async fn without_a_secret_webhooks_are_off() {
    let mut n = notifier();
    n.key = None;
    let (id, event) = completed_event(&n, "https://hooks.example.com/x", 1).await;
    assert!(handle_batch(&n, event).await.batch_item_failures.is_empty());
    assert!(n.sender.sent.lock().unwrap().is_empty());
    assert!(n
        .jobs
        .record(&id)
        .unwrap()
        .webhook
        .unwrap()
        .message
        .contains("not enabled"));
    let mut garbage = SqsEvent::default();
    let mut message = SqsMessage::default();
    message.body = Some("{}".into());
    garbage.records = vec![message];
    assert!(handle_batch(&n, garbage).await.batch_item_failures.is_empty());
}

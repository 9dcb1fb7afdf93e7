//! Signed webhooks end to end: images submitted with a `callback_url`, their completion event routed by
//! the bus's rule to the notify queue, and POSTed by the notify function to a receiver that verifies each
//! signature with the Standard Webhooks reference implementation (PyPI `standardwebhooks`,
//! tools/local/tests/webhook_receiver.py). Failing, redirecting and refused targets end in a note on the
//! record after their last try, while the image itself stays completed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use hyper::{Method, StatusCode};
use imgpipe_local::client::ApiClient;
use imgpipe_local::stack::WebhookOptions;
use imgpipe_local::testing::{repo_root, stack_options};
use imgpipe_local::Stack;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(120);

struct Receiver {
    child: Child,
    port: u16,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start(secret: &str) -> Self {
        let python = repo_root().join(".venv/moto/bin/python");
        let mut child = Command::new(&python)
            .arg(repo_root().join("tools/local/tests/webhook_receiver.py"))
            .arg(secret)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{} (tools/setup.sh installs it): {e}", python.display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = lines.next().unwrap().unwrap().trim().parse().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&requests);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(request) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(request);
                }
            }
        });
        Self { child, port, requests }
    }

    fn to(&self, image_id: &str, path: &str) -> Vec<Value> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r["path"] == path && (r["payload"].is_null() || r["payload"]["data"]["image_id"] == image_id))
            .cloned()
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

async fn submit(client: &ApiClient, callback_url: &str) -> (StatusCode, Value) {
    let photo = std::fs::read(repo_root().join("third_party/demo-images/coffee.png")).unwrap();
    let path = format!(
        "/images?callback_url={}",
        utf8_percent_encode(callback_url, NON_ALPHANUMERIC)
    );
    let response = client
        .api(
            Method::POST,
            &path,
            &[("content-type", "image/png")],
            Bytes::from(photo),
        )
        .await
        .unwrap();
    (response.status, response.json().unwrap_or(Value::Null))
}

/// Waits until the image's record carries a webhook note (or the timeout) and returns the record.
async fn noted(client: &ApiClient, id: &str) -> Value {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let record = client.status(id).await.unwrap().json().unwrap();
        if !record["webhook"].is_null() || Instant::now() > deadline {
            return record;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_and_noted_and_bad_targets_refused() {
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(b"imgpipe local webhook secret 32b")
    );
    let receiver = Receiver::start(&secret);
    let mut options = stack_options();
    // Two tries: one failure, a backoff (10 s), the last try, then the note.
    options.max_receive_count = Some(2);
    options.webhooks = Some(WebhookOptions {
        secret: secret.clone(),
        allowed_hosts: "localhost,hooks.example.com".into(),
    });
    let stack = Stack::start(options).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);
    let base = format!("http://127.0.0.1:{}", receiver.port);

    // Refused when the image is created, each with a 400: not https, an IP literal (IPv4, IPv6, the
    // metadata endpoint), a host off the allow-list, user information.
    for refused in [
        "http://hooks.example.com/x",
        "https://10.0.0.7/x",
        "https://[::1]/x",
        "https://169.254.169.254/latest/meta-data",
        "https://evil.example.net/x",
        "https://user@hooks.example.com/x",
        "ftp://hooks.example.com/x",
    ] {
        let (status, body) = submit(&client, refused).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("callback_url"),
            "{body}"
        );
    }

    let id_of = |body: &Value| body["image_id"].as_str().unwrap().to_owned();
    let (status, ok) = submit(&client, &format!("{base}/ok")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{ok}");
    let (_, failing) = submit(&client, &format!("{base}/fail")).await;
    let (_, redirecting) = submit(&client, &format!("{base}/redirect")).await;
    // Allowed by name, but the name resolves to loopback: refused after resolution, before connecting.
    let (_, loopback) = submit(&client, &format!("https://localhost:{}/ok", receiver.port)).await;
    let (ok, failing, redirecting, loopback) = (id_of(&ok), id_of(&failing), id_of(&redirecting), id_of(&loopback));

    // Delivered once, signed as the reference implementation verifies, carrying the completed result.
    let deadline = Instant::now() + TIMEOUT;
    while receiver.to(&ok, "/ok").is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let delivered = receiver.to(&ok, "/ok");
    if delivered.is_empty() {
        let record: Value = client.status(&ok).await.unwrap().json().unwrap();
        panic!(
            "nothing delivered to /ok; the record: {record}; notify's calls: {:?}; the receiver saw: {:?}",
            stack.calls.notify.actions(),
            receiver.requests.lock().unwrap()
        );
    }
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0]["verified"], true, "{delivered:?}");
    let event = &delivered[0]["payload"];
    // The Standard Webhooks payload shape: type, timestamp, data (the completed event's detail).
    assert_eq!(event["type"], "image.completed", "{event}");
    assert_eq!(event["data"]["status"], "completed");
    assert_eq!(event["data"]["predictions"][0]["label"], "espresso", "{event}");
    let record = client.status(&ok).await.unwrap().json().unwrap();
    assert_eq!(record["status"], "completed");
    assert!(
        record["webhook"].is_null(),
        "a delivered webhook leaves no note: {record}"
    );

    // Failing on every try: tried max_receive_count times with the same webhook-id, then noted.
    let record = noted(&client, &failing).await;
    assert_eq!(record["status"], "completed", "the result stands: {record}");
    assert_eq!(record["webhook"]["status"], "webhook_failed", "{record}");
    assert_eq!(record["webhook"]["attempts"], 2, "{record}");
    let tries = receiver.to(&failing, "/fail");
    assert_eq!(tries.len(), 2, "{tries:?}");
    assert_eq!(
        tries[0]["webhook_id"], tries[1]["webhook_id"],
        "one message id across retries"
    );
    assert!(tries.iter().all(|t| t["verified"] == true));

    // A redirect is a failure, never followed.
    let record = noted(&client, &redirecting).await;
    assert_eq!(record["webhook"]["status"], "webhook_failed", "{record}");
    assert_eq!(receiver.to(&redirecting, "/redirect").len(), 2);
    assert!(
        receiver.to(&redirecting, "/ok").is_empty(),
        "the redirect was not followed"
    );

    // Refused after resolving, at the first try: nothing sent.
    let record = noted(&client, &loopback).await;
    assert_eq!(record["webhook"]["status"], "webhook_refused", "{record}");
    assert_eq!(record["webhook"]["attempts"], 1, "{record}");
    assert!(receiver.to(&loopback, "/ok").is_empty());

    let notify = stack.calls.notify.actions();
    assert!(
        notify.contains("sqs:ChangeMessageVisibility"),
        "the backoff delays the retry: {notify:?}"
    );
    stack.stop().await;
}

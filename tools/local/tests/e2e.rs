//! End to end: the whole local stack (moto, both handlers on SQS pollers, the API over HTTP), driven
//! only through the HTTP API the way a client would: POST /images, presigned PUT, poll GET /images/{id}.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use imgpipe_local::client::{content_type_for, ApiClient};
use imgpipe_local::http_api::AUTH_MODE_HEADER;
use imgpipe_local::testing::{repo_root, stack_options};
use imgpipe_local::Stack;

const TIMEOUT: Duration = Duration::from_secs(90);
const POLL: Duration = Duration::from_millis(200);

/// `third_party/demo-images/expected.tsv`: file -> accepted top-1 class indices.
fn expected_classes() -> Vec<(String, Vec<u64>)> {
    let text = std::fs::read_to_string(repo_root().join("third_party/demo-images/expected.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            (
                fields[0].to_owned(),
                fields[1].split(',').map(|c| c.parse().unwrap()).collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_photos_get_their_expected_top1_through_the_api() {
    let stack = Stack::start(stack_options()).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);
    let expected = expected_classes();
    assert!(expected.len() >= 4);

    let mut submitted = HashMap::new();
    for (file, _) in &expected {
        let path = repo_root().join("third_party/demo-images").join(file);
        submitted.insert(file.clone(), client.submit_file(&path).await.expect("submit"));
    }
    for (file, classes) in &expected {
        let record = client.wait(&submitted[file], TIMEOUT, POLL).await.expect("settles");
        assert_eq!(record["status"], "completed", "{file}: {record}");
        let top1 = record["predictions"][0]["class_index"].as_u64().unwrap();
        assert!(
            classes.contains(&top1),
            "{file}: top-1 {top1} ({}) not in {classes:?}",
            record["predictions"][0]["label"]
        );
        assert_eq!(record["predictions"].as_array().unwrap().len(), 5);
        assert_eq!(record["model"]["name"], "efficientnet-lite0");
        for stage in ["preprocess", "inference", "end_to_end"] {
            assert!(
                record["timings_ms"][stage].is_i64(),
                "{file}: no {stage} timing in {record}"
            );
        }
        for status in ["pending_upload", "preprocessing", "preprocessed", "completed"] {
            assert!(
                record["timeline"][status].is_i64(),
                "{file}: no {status} in the timeline"
            );
        }
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_upload_and_bad_inputs_settle_with_clear_states() {
    let stack = Stack::start(stack_options()).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);

    // A small image sent in the POST body itself.
    let path = repo_root().join("third_party/demo-images/coffee.png");
    let bytes = std::fs::read(&path).unwrap();
    let response = client
        .api(
            Method::POST,
            "/images",
            &[("content-type", content_type_for(&path))],
            Bytes::from(bytes),
        )
        .await
        .unwrap();
    assert_eq!(response.status, StatusCode::ACCEPTED, "{:?}", response);
    assert!(
        response.headers.contains_key(AUTH_MODE_HEADER),
        "local responses say they are unauthenticated"
    );
    let id = response.json().unwrap()["image_id"].as_str().unwrap().to_owned();
    let record = client.wait(&id, TIMEOUT, POLL).await.unwrap();
    assert_eq!(record["predictions"][0]["label"], "espresso", "{record}");

    // The same photo stored sideways with an EXIF orientation tag: the same answer as upright.
    for n in [6, 8] {
        let path = repo_root().join(format!("services/vision/tests/corpus/coffee-orientation-{n}.jpg"));
        let id = client.submit_file(&path).await.unwrap();
        let record = client.wait(&id, TIMEOUT, POLL).await.unwrap();
        assert_eq!(
            record["predictions"][0]["label"], "espresso",
            "orientation {n}: {record}"
        );
        assert_eq!(
            (record["width"].as_u64(), record["height"].as_u64()),
            (Some(600), Some(400)),
            "upright size"
        );
    }

    // Named and typed as a JPEG, really a GIF whose header declares 235 MP: judged by content, and the
    // pixel limit fires from the header alone.
    let id = client
        .submit(b"GIF89a? no, just text".to_vec(), "image/jpeg", Some("fake.jpg"))
        .await
        .unwrap();
    let record = client.wait(&id, TIMEOUT, POLL).await.unwrap();
    assert_eq!(record["status"], "failed");
    assert_eq!(record["error"]["code"], "too_many_pixels", "{record}");
    // A real photo cut short.
    let photo = std::fs::read(repo_root().join("third_party/demo-images/rocket.jpg")).unwrap();
    let id = client
        .submit(photo[..photo.len() / 4].to_vec(), "image/jpeg", None)
        .await
        .unwrap();
    let record = client.wait(&id, TIMEOUT, POLL).await.unwrap();
    assert_eq!(record["error"]["code"], "corrupt_image", "{record}");
    let id = client
        .submit(b"plain text".to_vec(), "image/png", Some("notes.png"))
        .await
        .unwrap();
    let record = client.wait(&id, TIMEOUT, POLL).await.unwrap();
    assert_eq!(record["error"]["code"], "not_an_image", "{record}");

    // API errors are JSON with a code, never a 500.
    for (method, path, content_type, body, status) in [
        (
            Method::GET,
            "/images/not-a-uuid".to_owned(),
            "",
            "",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::GET,
            format!("/images/{}", uuid::Uuid::new_v4()),
            "",
            "",
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            "/images".to_owned(),
            "text/plain",
            "hello",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::POST,
            "/images".to_owned(),
            "application/json",
            "{",
            StatusCode::BAD_REQUEST,
        ),
        (
            Method::POST,
            "/images".to_owned(),
            "application/json",
            r#"{"content_type":"image/tiff"}"#,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            Method::PUT,
            "/images".to_owned(),
            "",
            "",
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (Method::GET, "/nothing".to_owned(), "", "", StatusCode::NOT_FOUND),
    ] {
        let headers: Vec<(&str, &str)> = if content_type.is_empty() {
            vec![]
        } else {
            vec![("content-type", content_type)]
        };
        let response = client
            .api(method.clone(), &path, &headers, Bytes::from(body))
            .await
            .unwrap();
        assert_eq!(response.status, status, "{method} {path}");
        let json = response.json().unwrap();
        assert!(
            json["error"]["code"].is_string() && json["error"]["message"].is_string(),
            "{json}"
        );
    }
    stack.stop().await;
}

/// How many versions and delete markers of `key` the bucket holds.
async fn versions_left(stack: &Stack, key: &str) -> usize {
    let listed = stack.object_versions(key).await.unwrap();
    listed.iter().filter(|v| v.key == key).count()
}

async fn put_object(stack: &Stack, key: &str, bytes: Vec<u8>) {
    stack
        .clients
        .s3
        .put_object()
        .bucket(&stack.resources.bucket)
        .key(key)
        .body(bytes.into())
        .send()
        .await
        .unwrap();
}

async fn wait_for_object(stack: &Stack, key: &str) -> serde_json::Value {
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let got = stack
            .clients
            .s3
            .get_object()
            .bucket(&stack.resources.bucket)
            .key(key)
            .send()
            .await;
        if let Ok(object) = got {
            let bytes = object.body.collect().await.unwrap().into_bytes();
            return serde_json::from_slice(&bytes).unwrap();
        }
        assert!(std::time::Instant::now() < deadline, "{key} never appeared");
        tokio::time::sleep(POLL).await;
    }
}

/// Each function's AWS calls, recorded while the pipeline runs, must be allowed by its IAM policy
/// (services/contract.json, which Terraform's policies are tested against), and every action granted must
/// be one the code really uses: this test takes every function down every path that needs a permission
/// (uploads, inline, listing, delete, a rejected upload, bulk ingest with a result file, a dead letter, an
/// abandoned upload, a refused webhook).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aws_call_is_granted_and_every_grant_is_used() {
    let mut options = stack_options();
    options.max_receive_count = Some(2);
    options.pending_upload_timeout_secs = 2;
    options.sweep_interval = Duration::from_millis(500);
    options.webhooks = Some(imgpipe_local::stack::WebhookOptions {
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into(),
        allowed_hosts: "localhost".into(),
    });
    let stack = Stack::start(options).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);
    let photo = repo_root().join("third_party/demo-images/chelsea.png");
    let bytes = std::fs::read(&photo).unwrap();
    let id = client.submit_file(&photo).await.unwrap();
    client.wait(&id, TIMEOUT, POLL).await.unwrap();

    // Inline, with a webhook the notify function must refuse (localhost is loopback): noted on the record.
    let inline = client
        .api(
            Method::POST,
            "/images?callback_url=https%3A%2F%2Flocalhost%3A9%2Fhook",
            &[("content-type", "image/png")],
            Bytes::from(bytes.clone()),
        )
        .await
        .unwrap();
    assert_eq!(inline.status, StatusCode::ACCEPTED, "{inline:?}");
    let inline_id = inline.json().unwrap()["image_id"].as_str().unwrap().to_owned();
    client.wait(&inline_id, TIMEOUT, POLL).await.unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let record = client.status(&inline_id).await.unwrap().json().unwrap();
        if record["webhook"]["status"] == "webhook_refused" {
            assert!(
                record["webhook"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("not a public address"),
                "{record}"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the webhook was never noted: {record}"
        );
        tokio::time::sleep(POLL).await;
    }
    let listed = client
        .api(Method::GET, "/images?status=completed", &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(listed.status, StatusCode::OK);
    // Deleting a finished image removes every version of every object it left, and the record.
    let path = format!("/images/{inline_id}");
    let deleted = client.api(Method::DELETE, &path, &[], Bytes::new()).await.unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    let inline_key = imgpipe_domain::keys::upload_key(&inline_id.parse().unwrap());
    assert_eq!(versions_left(&stack, &inline_key).await, 0, "objects left after DELETE");
    assert_eq!(
        versions_left(&stack, &imgpipe_domain::keys::upload_key(&id.parse().unwrap())).await,
        1,
        "the other image is untouched"
    );
    assert_eq!(
        client.api(Method::GET, &path, &[], Bytes::new()).await.unwrap().status,
        StatusCode::NOT_FOUND
    );

    // A rejected upload does not linger.
    let rejected = client
        .submit_inline(Bytes::from_static(b"plain text"), "image/png")
        .await
        .unwrap();
    let record = client.wait(&rejected, TIMEOUT, POLL).await.unwrap();
    assert_eq!(record["error"]["code"], "not_an_image");
    let rejected_key = imgpipe_domain::keys::upload_key(&rejected.parse().unwrap());
    let deadline = std::time::Instant::now() + TIMEOUT;
    while versions_left(&stack, &rejected_key).await > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the rejected upload is still there"
        );
        tokio::time::sleep(POLL).await;
    }

    // Bulk ingest: a photo and a non-image each get a result file mirroring the key; deleting the
    // ingested image removes its object and its result.
    put_object(&stack, "ingest/batch-1/cat.png", bytes.clone()).await;
    put_object(&stack, "ingest/batch-1/notes.txt", b"plain text".to_vec()).await;
    let cat = wait_for_object(&stack, "results/batch-1/cat.png.json").await;
    assert_eq!(cat["status"], "completed", "{cat}");
    let notes = wait_for_object(&stack, "results/batch-1/notes.txt.json").await;
    assert_eq!(notes["error"]["code"], "not_an_image", "{notes}");
    let cat_path = format!("/images/{}", cat["image_id"].as_str().unwrap());
    let deleted = client.api(Method::DELETE, &cat_path, &[], Bytes::new()).await.unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    assert_eq!(versions_left(&stack, "ingest/batch-1/cat.png").await, 0);
    assert_eq!(versions_left(&stack, "results/batch-1/cat.png.json").await, 0);

    // A fault on every delivery of an ingested object: its message goes to the DLQ and the sweeper ends
    // the job, result file included.
    stack.calls.preprocess.fail_next("s3:GetObjectVersion", 2);
    put_object(&stack, "ingest/batch-1/late.png", bytes.clone()).await;
    let late = wait_for_object(&stack, "results/batch-1/late.png.json").await;
    assert_eq!(late["error"]["code"], "retries_exhausted", "{late}");

    // An upload nobody asked for: preprocess's claim is refused and it reads the record to say why.
    put_object(
        &stack,
        &imgpipe_domain::keys::upload_key(&imgpipe_domain::ImageId::new_random()),
        b"x".to_vec(),
    )
    .await;
    // An upload that never comes: the sweeper ends it once its URL has expired.
    let created = client
        .api(
            Method::POST,
            "/images",
            &[("content-type", "application/json")],
            Bytes::from(r#"{"content_type":"image/png","content_length":10}"#),
        )
        .await
        .unwrap();
    let abandoned = created.json().unwrap()["image_id"].as_str().unwrap().to_owned();
    let record = client.wait(&abandoned, TIMEOUT, POLL).await.unwrap();
    assert_eq!(record["error"]["code"], "upload_missing", "{record}");
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !stack.calls.preprocess.actions().contains("dynamodb:GetItem") && std::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }

    // Performed by the Lambda event source mapping with the function's role, not by the handler code.
    let event_source_mapping = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"];
    // Granted for real AWS, not observable on the emulator (with the reason).
    let unobservable_here = [(
        "notify",
        "sqs:ChangeMessageVisibility",
        "the backoff of a failed webhook; this run refuses its webhook",
    )];
    let functions = [
        ("api", &stack.calls.api),
        ("preprocess", &stack.calls.preprocess),
        ("sweeper", &stack.calls.sweeper),
        ("notify", &stack.calls.notify),
    ]
    .into_iter()
    .chain(stack.calls.inference.iter().map(|calls| ("inference", calls)));
    for (function, calls) in functions {
        let contract = imgpipe_domain::contract::function(function).unwrap();
        let granted: std::collections::BTreeSet<String> = contract
            .permissions
            .iter()
            .flat_map(|permission| permission.actions.iter())
            .map(|action| (*action).to_owned())
            .filter(|action| !event_source_mapping.contains(&action.as_str()))
            .collect();
        let used: std::collections::BTreeSet<String> = calls
            .actions()
            .into_iter()
            .filter(|a| !event_source_mapping.contains(&a.as_str()))
            .collect();
        let missing: Vec<_> = used.difference(&granted).collect();
        assert!(missing.is_empty(), "{function} calls {missing:?} without an IAM grant");
        let unused: Vec<_> = granted
            .difference(&used)
            .filter(|action| !unobservable_here.iter().any(|(f, a, _)| *f == function && a == action))
            .filter(|action| !(function != "notify" && *action == "sqs:ChangeMessageVisibility"))
            .collect();
        assert!(unused.is_empty(), "{function} is granted {unused:?} but never calls it");
    }
    stack.stop().await;
}

/// `GET /images` pages newest first through the sharded status index, with opaque tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_newest_first_across_shards() {
    let stack = Stack::start(stack_options()).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);
    let bytes = std::fs::read(repo_root().join("third_party/demo-images/coffee.png")).unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        let response = client
            .api(
                Method::POST,
                "/images",
                &[("content-type", "image/png")],
                Bytes::from(bytes.clone()),
            )
            .await
            .unwrap();
        ids.push(response.json().unwrap()["image_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        client.wait(id, TIMEOUT, POLL).await.unwrap();
    }
    for query in ["?limit=2", "?status=completed&limit=2"] {
        let mut listed: Vec<(i64, String)> = Vec::new();
        let mut token: Option<String> = None;
        for _page in 0..10 {
            let path = match &token {
                Some(t) => format!("/images{query}&next_token={t}"),
                None => format!("/images{query}"),
            };
            let page = client.api(Method::GET, &path, &[], Bytes::new()).await.unwrap();
            assert_eq!(page.status, StatusCode::OK, "{path}");
            let page = page.json().unwrap();
            let images = page["images"].as_array().unwrap();
            assert!(images.len() <= 2);
            listed.extend(images.iter().map(|i| {
                (
                    i["created_at"].as_i64().unwrap(),
                    i["image_id"].as_str().unwrap().to_owned(),
                )
            }));
            token = page["next_token"].as_str().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        let mut sorted = listed.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(listed, sorted, "{query}: newest first");
        let mut got: Vec<String> = listed.into_iter().map(|(_, id)| id).collect();
        got.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(got, want, "{query}: every image exactly once");
    }
    let empty = client
        .api(Method::GET, "/images?status=failed", &[], Bytes::new())
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(empty["images"].as_array().unwrap().len(), 0);
    assert!(empty["next_token"].is_null());
    for bad in [
        "?status=done",
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?next_token=garbage",
        "?colour=red",
    ] {
        let response = client
            .api(Method::GET, &format!("/images{bad}"), &[], Bytes::new())
            .await
            .unwrap();
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    stack.stop().await;
}

/// CORS as API Gateway applies `cors_configuration`: preflights answered without the function, headers
/// only for allowed origins (echoed, never `*`), allowed methods and headers only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_only_allowed_origins() {
    let mut options = stack_options();
    options.cors_origins = vec!["https://app.example".into()];
    let stack = Stack::start(options).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);
    let preflight = |origin: &'static str, method: &'static str, headers: &'static str| {
        let client = &client;
        async move {
            client
                .api(
                    Method::OPTIONS,
                    "/images",
                    &[
                        ("origin", origin),
                        ("access-control-request-method", method),
                        ("access-control-request-headers", headers),
                    ],
                    Bytes::new(),
                )
                .await
                .unwrap()
        }
    };
    let allow_origin = |response: &imgpipe_local::client::HttpResponse| {
        response
            .headers
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    let allowed = preflight("https://app.example", "POST", "content-type, idempotency-key").await;
    assert_eq!(allowed.status, StatusCode::NO_CONTENT);
    assert_eq!(allow_origin(&allowed).as_deref(), Some("https://app.example"));
    let methods = allowed.headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.split(',').any(|m| m == "DELETE"), "{methods}");
    assert!(allowed.body.is_empty());

    for refused in [
        preflight("https://evil.example", "POST", "content-type").await,
        preflight("https://app.example", "PATCH", "content-type").await,
        preflight("https://app.example", "POST", "x-not-allowed").await,
    ] {
        assert_eq!(allow_origin(&refused), None, "{refused:?}");
    }

    let get = |origin: &'static str| {
        let client = &client;
        async move {
            client
                .api(Method::GET, "/images", &[("origin", origin)], Bytes::new())
                .await
                .unwrap()
        }
    };
    let ok = get("https://app.example").await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(allow_origin(&ok).as_deref(), Some("https://app.example"));
    assert!(ok.headers["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .contains("location"));
    let other = get("https://evil.example").await;
    assert_eq!(
        other.status,
        StatusCode::OK,
        "CORS is the browser's check, not the server's"
    );
    assert_eq!(allow_origin(&other), None);
    stack.stop().await;
}

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

/// Each function's AWS calls, recorded while the pipeline runs, must be allowed by its IAM policy
/// (`services/permissions.json`, which Terraform's policies are tested against), and every action
/// granted must be one the code really uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_aws_call_is_granted_and_every_grant_is_used() {
    let stack = Stack::start(stack_options()).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);
    let photo = repo_root().join("third_party/demo-images/chelsea.png");
    let id = client.submit_file(&photo).await.unwrap();
    client.wait(&id, TIMEOUT, POLL).await.unwrap();
    let bytes = std::fs::read(&photo).unwrap();
    let inline = client
        .api(
            Method::POST,
            "/images",
            &[("content-type", "image/png")],
            Bytes::from(bytes),
        )
        .await;
    let inline_id = inline.unwrap().json().unwrap()["image_id"].as_str().unwrap().to_owned();
    client.wait(&inline_id, TIMEOUT, POLL).await.unwrap();
    let listed = client
        .api(Method::GET, "/images?status=completed", &[], Bytes::new())
        .await
        .unwrap();
    assert_eq!(listed.status, StatusCode::OK);
    // Deleting a finished image removes every version of every object it left, and the record.
    let path = format!("/images/{inline_id}");
    let deleted = client.api(Method::DELETE, &path, &[], Bytes::new()).await.unwrap();
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{deleted:?}");
    let versions = stack
        .clients
        .s3
        .list_object_versions()
        .bucket(&stack.resources.bucket)
        .send()
        .await
        .unwrap();
    let inline_keys = imgpipe_domain::keys::object_keys(&inline_id.parse().unwrap());
    let left: Vec<_> = versions
        .versions()
        .iter()
        .filter_map(|v| v.key())
        .chain(versions.delete_markers().iter().filter_map(|m| m.key()))
        .filter(|key| inline_keys.iter().any(|k| k == key))
        .collect();
    assert!(left.is_empty(), "objects left after DELETE: {left:?}");
    assert!(
        versions
            .versions()
            .iter()
            .any(|v| v.key() == Some(&imgpipe_domain::keys::upload_key(&id.parse().unwrap()))),
        "the other image is untouched"
    );
    let gone = client.api(Method::GET, &path, &[], Bytes::new()).await.unwrap();
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    // An upload nobody asked for: preprocess's claim is refused and it reads the record to say why.
    let stray = imgpipe_domain::keys::upload_key(&imgpipe_domain::ImageId::new_random());
    let s3 = &stack.clients.s3;
    s3.put_object()
        .bucket(&stack.resources.bucket)
        .key(&stray)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + TIMEOUT;
    while !stack.calls.preprocess.actions().contains("dynamodb:GetItem") && std::time::Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }

    let permissions: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("services/permissions.json")).unwrap()).unwrap();
    // Performed by the Lambda event source mapping with the function's role, not by the handler code.
    let event_source_mapping = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    ];
    // Granted for real AWS, not observable on the emulator (with the reason).
    let unobservable_here = [(
        "preprocess",
        "s3:GetObjectVersion",
        "moto's S3 events carry no versionId; real S3's do",
    )];
    for (function, calls) in [
        ("api", &stack.calls.api),
        ("preprocess", &stack.calls.preprocess),
        ("inference", &stack.calls.inference),
    ] {
        let granted: std::collections::BTreeSet<String> = permissions[function]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|statement| statement["actions"].as_array().unwrap().iter())
            .map(|action| action.as_str().unwrap().to_owned())
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

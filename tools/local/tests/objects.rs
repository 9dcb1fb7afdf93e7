//! The S3 adapter against a real moto server over HTTP.

use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use imgpipe_aws::objects::S3Objects;
use imgpipe_domain::ports::Objects;
use imgpipe_domain::ErrorCode;
use imgpipe_local::client::ApiClient;
use imgpipe_local::testing::Emulator;

async fn store() -> (Emulator, S3Objects) {
    let emulator = Emulator::start().await;
    let resources = emulator.resources(5).await;
    let store = S3Objects::new(emulator.clients.s3.clone(), resources.bucket);
    (emulator, store)
}

#[tokio::test]
async fn put_then_get_by_version() {
    let (_emulator, store) = store().await;
    let first = store
        .put("uploads/a", b"one".to_vec(), "application/octet-stream")
        .await
        .unwrap();
    let second = store
        .put("uploads/a", b"two".to_vec(), "application/octet-stream")
        .await
        .unwrap();
    assert!(
        first.is_some() && second.is_some() && first != second,
        "versioned bucket gives version ids"
    );
    let latest = store.get("uploads/a", None, 100).await.unwrap();
    assert_eq!(latest.bytes, b"two");
    let old = store.get("uploads/a", first.as_deref(), 100).await.unwrap();
    assert_eq!(old.bytes, b"one");
    assert_eq!(old.version_id, first);
}

#[tokio::test]
async fn missing_objects_are_permanent_failures() {
    let (_emulator, store) = store().await;
    let err = store.get("uploads/nothing-here", None, 100).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::UploadMissing), "{err}");
}

#[tokio::test]
async fn oversized_objects_are_refused() {
    let (_emulator, store) = store().await;
    store.put("uploads/big", vec![7u8; 1000], "image/jpeg").await.unwrap();
    let err = store.get("uploads/big", None, 999).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::TooLarge), "{err}");
    assert!(store.get("uploads/big", None, 1000).await.is_ok());
}

/// moto does not verify presigned signatures, so the test checks what real S3 would enforce: the
/// Content-Type is a signed header and the expiry is the configured one.
#[tokio::test]
async fn presigned_put_signs_the_content_type_and_expiry() {
    let (emulator, store) = store().await;
    let upload = store
        .presign_put("uploads/x", "image/png", Duration::from_secs(600))
        .await
        .unwrap();
    assert_eq!(upload.method, "PUT");
    assert!(upload.url.starts_with(&emulator.endpoint), "{}", upload.url);
    assert!(
        upload.url.contains("X-Amz-Algorithm=AWS4-HMAC-SHA256"),
        "{}",
        upload.url
    );
    assert!(upload.url.contains("X-Amz-Expires=600"), "{}", upload.url);
    let signed = upload
        .url
        .split("X-Amz-SignedHeaders=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let signed = signed.replace("%3B", ";");
    assert!(
        signed.split(';').any(|h| h == "content-type"),
        "content-type must be signed: {signed}"
    );
    assert!(upload
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("content-type") && v == "image/png"));

    let client = ApiClient::new(&emulator.endpoint);
    let headers: Vec<(&str, &str)> = upload.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let put = client
        .send(Method::PUT, &upload.url, &headers, Bytes::from_static(b"pixels"))
        .await
        .unwrap();
    assert!(put.status.is_success(), "{:?}", put);
    assert_eq!(store.get("uploads/x", None, 100).await.unwrap().bytes, b"pixels");
}

/// Deleting an image's objects leaves no version and no delete marker behind, and only touches the
/// exact keys (a key that merely starts with the same text survives).
#[tokio::test]
async fn deleting_removes_every_version_of_exactly_those_keys() {
    let (emulator, store) = store().await;
    for bytes in [b"one".to_vec(), b"two".to_vec()] {
        store.put("uploads/a", bytes, "image/png").await.unwrap();
    }
    store
        .put("uploads/a", b"pixels".to_vec(), "application/octet-stream")
        .await
        .unwrap();
    store
        .put("uploads/ab", b"neighbour".to_vec(), "image/png")
        .await
        .unwrap();
    // A delete marker on top of the versions, as a plain DELETE on a versioned bucket leaves.
    emulator
        .clients
        .s3
        .delete_object()
        .bucket(store.bucket())
        .key("uploads/a")
        .send()
        .await
        .unwrap();

    let keys = [
        "uploads/a".to_owned(),
        "uploads/a".to_owned(),
        "results/a.json".to_owned(),
    ];
    assert_eq!(
        store.delete_all_versions(&keys).await.unwrap(),
        4,
        "2 versions + 1 marker + 1 version"
    );
    let left = emulator
        .clients
        .s3
        .list_object_versions()
        .bucket(store.bucket())
        .send()
        .await
        .unwrap();
    let keys_left: Vec<_> = left
        .versions()
        .iter()
        .filter_map(|v| v.key())
        .chain(left.delete_markers().iter().filter_map(|m| m.key()))
        .collect();
    assert_eq!(keys_left, vec!["uploads/ab"]);
    assert_eq!(
        store.delete_all_versions(&keys).await.unwrap(),
        0,
        "nothing left is not an error"
    );
}

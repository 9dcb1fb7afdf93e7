//! The S3 adapter against a real moto server over HTTP.

use std::time::Duration;

use bytes::Bytes;
use hyper::Method;
use imgpipe_aws::objects::S3Objects;
use imgpipe_domain::ports::{Objects, Stored};
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
    let Stored::New(first) = store
        .put_new("uploads/a", b"one".to_vec(), "application/octet-stream")
        .await
        .unwrap()
    else {
        panic!("nothing was at the key");
    };
    assert!(first.is_some(), "a versioned bucket gives version ids");
    assert_eq!(
        store
            .put_new("uploads/a", b"again".to_vec(), "application/octet-stream")
            .await
            .unwrap(),
        Stored::Exists,
        "a new upload never replaces one that is there (If-None-Match)"
    );
    store
        .put("uploads/a", b"two".to_vec(), "application/octet-stream")
        .await
        .unwrap();
    let latest = store.get("uploads/a", None, 100).await.unwrap();
    assert_eq!(latest.bytes, b"two");
    assert_ne!(latest.version_id, first);
    let old = store.get("uploads/a", first.as_deref(), 100).await.unwrap();
    assert_eq!(old.bytes, b"one");
    assert_eq!(old.version_id, first);
    assert!(store.exists("uploads/a").await.unwrap());
    assert!(!store.exists("uploads/none").await.unwrap());
    store
        .delete_version("uploads/a", first.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(
        store.get("uploads/a", first.as_deref(), 100).await.unwrap_err().code(),
        Some(ErrorCode::UploadMissing)
    );
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

/// moto does not verify presigned signatures, so this checks the URL's shape (what real S3 verifies is
/// proven against botocore's signer in `presign.rs`): Content-Type, Content-Length and If-None-Match are
/// signed headers and the expiry is the configured one.
#[tokio::test]
async fn presigned_upload_signs_type_length_and_if_none_match() {
    let (emulator, store) = store().await;
    let upload = store
        .presign_upload("uploads/x", "image/png", 6, Duration::from_secs(600))
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
    for header in ["content-length", "content-type", "if-none-match"] {
        assert!(
            signed.split(';').any(|h| h == header),
            "{header} must be signed: {signed}"
        );
    }
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

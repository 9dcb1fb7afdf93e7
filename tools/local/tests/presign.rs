//! The presigned upload URL, checked the way S3 checks it, by an independent SigV4 implementation
//! (botocore, tools/local/tests/sigv4_verify.py): moto accepts any signature, so only a differential
//! check shows that the declared length, the content type, the key and If-None-Match are part of what S3
//! verifies.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use imgpipe_aws::objects::S3Objects;
use imgpipe_local::testing::repo_root;
use serde_json::{json, Value};

const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET_KEY: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/// An S3 client as a function on AWS has one: real endpoints, static credentials (the role's, on AWS).
fn aws_client(region: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

fn verify(spec: &Value) -> Value {
    let python = repo_root().join(".venv/moto/bin/python");
    let script = repo_root().join("tools/local/tests/sigv4_verify.py");
    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{} (tools/setup.sh installs it): {e}", python.display()));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(spec.to_string().as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "sigv4_verify.py failed");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn a_presigned_upload_accepts_only_the_declared_length_type_key_and_no_overwrite() {
    for (region, key, content_type, length) in [
        (
            "eu-west-1",
            "uploads/0b6a3c1e-6f0e-4a1b-9f55-2d1c8e7a9b10",
            "image/png",
            48_213u64,
        ),
        (
            "us-east-1",
            "uploads/5d3e2f10-3c4b-4d5e-8f6a-7b8c9d0e1f2a",
            "image/jpeg",
            1u64,
        ),
    ] {
        let bucket = "imgpipe-dev-images";
        let objects = S3Objects::new(aws_client(region), bucket);
        let signed_at = UNIX_EPOCH + Duration::from_secs(1_796_162_400);
        let upload = objects
            .presign_upload_at(key, content_type, length, Duration::from_secs(900), signed_at)
            .await
            .expect("presigns");
        assert_eq!(upload.method, "PUT");
        let headers: serde_json::Map<String, Value> =
            upload.headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        let verdict = verify(&json!({
            "method": upload.method, "url": upload.url, "headers": headers,
            "access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "region": region,
            "bucket": bucket, "key": key, "content_type": content_type, "content_length": length,
        }));
        let signed: Vec<&str> = verdict["signed_headers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for header in ["content-length", "content-type", "host", "if-none-match"] {
            assert!(signed.contains(&header), "{header} is signed: {verdict}");
        }
        assert_eq!(
            verdict["as_issued"], true,
            "the upload as the client is told to send it verifies: {verdict}"
        );
        for tampered in [
            "other_length",
            "other_type",
            "without_if_none_match",
            "other_key",
            "as_get",
        ] {
            assert_eq!(
                verdict[tampered], false,
                "S3 would refuse the {tampered} request: {verdict}"
            );
        }
        assert_eq!(
            verdict["botocore_same_request"], true,
            "botocore presigns the same PutObject at the same time for the same request: {verdict}\nours: {}",
            upload.url
        );
    }
}

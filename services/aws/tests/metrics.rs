//! The metrics the handlers emit come out as CloudWatch embedded metric format. Its own test binary: the
//! metrics recorder is process-wide.

use imgpipe_domain::telemetry;

#[test]
fn metrics_are_emitted_as_cloudwatch_embedded_metric_format() {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(telemetry::NAMESPACE)
        .with_dimension("function", "imgpipe-test-preprocess")
        .with_timestamp(1_700_000_000_000)
        .init()
        .unwrap();
    telemetry::describe();
    telemetry::image_processed("preprocess");
    telemetry::stage_ms("preprocess", "decode_resize", 12.5);
    telemetry::failure("preprocess", imgpipe_domain::ErrorCode::NotAnImage.as_str());
    telemetry::batch_size("preprocess", 3);
    let mut output = Vec::new();
    collector.flush(&mut output).unwrap();
    let text = String::from_utf8(output).unwrap();
    let documents: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!documents.is_empty(), "{text}");
    let all = serde_json::Value::Array(documents.clone()).to_string();
    for needle in [
        "\"Namespace\":\"imgpipe\"",
        "\"images_processed\":1",
        "\"stage_ms\":[12.5]",
        "\"error_code\":\"not_an_image\"",
        "\"Unit\":\"Milliseconds\"",
        "\"function\":\"imgpipe-test-preprocess\"",
    ] {
        assert!(all.contains(needle), "{needle} missing from {all}");
    }
    for document in &documents {
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_000u64);
        assert!(
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
                .as_array()
                .unwrap()
                .len()
                <= 3
        );
    }
}

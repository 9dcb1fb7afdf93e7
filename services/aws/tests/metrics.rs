//! The metrics the handlers emit come out as CloudWatch embedded metric format, each with exactly the
//! dimension set `imgpipe_domain::telemetry::METRICS` lists (the list the dashboard and alarms are tested
//! against). Its own test binary: the metrics recorder is process-wide.

use std::collections::BTreeMap;

use imgpipe_domain::record::NewImage;
use imgpipe_domain::telemetry::{self, METRICS};
use imgpipe_domain::{ErrorCode, ImageId, Status};

#[test]
fn every_metric_is_emitted_as_emf_with_the_dimensions_the_contract_lists() {
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(telemetry::NAMESPACE)
        .with_timestamp(1_700_000_000_000)
        .init()
        .unwrap();
    telemetry::set_function("imgpipe-test-preprocess");
    telemetry::describe();
    telemetry::image_processed("preprocess");
    telemetry::stage_ms("preprocess", "decode_resize", 12.5);
    telemetry::failure("preprocess", ErrorCode::NotAnImage.as_str());
    telemetry::batch_size("preprocess", 3);
    telemetry::configuration_fault("preprocess");
    telemetry::swept("dead_letter");
    telemetry::event_publish_failure("preprocess");
    telemetry::webhook("delivered");
    telemetry::quota_refusal();
    metrics::counter!(telemetry::COLD_START, "function" => "imgpipe-test-preprocess").increment(1);
    let id = ImageId::new_random();
    let mut record = NewImage::pending_upload(id, None, "image/png", "uploads/x".into(), 1_000, 9).record();
    record.status = Status::Completed;
    record.model = Some(imgpipe_domain::messages::ModelRef {
        name: "efficientnet-lite0".into(),
        version: "0.1.0-fp32".into(),
    });
    record.timeline.insert("completed".into(), 1_250);
    telemetry::job_ended(&record);
    record.status = Status::Failed;
    record.error = Some(imgpipe_domain::record::JobError {
        code: ErrorCode::CorruptImage,
        message: "m".into(),
    });
    telemetry::job_ended(&record);

    let mut output = Vec::new();
    collector.flush(&mut output).unwrap();
    let text = String::from_utf8(output).unwrap();
    let documents: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // Every metric name -> the dimension set it came with.
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for document in &documents {
        assert_eq!(document["_aws"]["Timestamp"], 1_700_000_000_000u64);
        let directive = &document["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "imgpipe");
        let dimensions: Vec<String> = directive["Dimensions"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d.as_str().unwrap().to_owned())
            .collect();
        for metric in directive["Metrics"].as_array().unwrap() {
            seen.insert(metric["Name"].as_str().unwrap().to_owned(), dimensions.clone());
        }
    }
    for metric in METRICS {
        let dimensions = seen
            .get(metric.name)
            .unwrap_or_else(|| panic!("{} was not emitted: {text}", metric.name));
        assert_eq!(dimensions, &metric.dimensions.to_vec(), "{}", metric.name);
    }
    assert_eq!(seen.len(), METRICS.len(), "only the listed metrics: {seen:?}");
    assert!(text.contains("\"function\":\"imgpipe-test-preprocess\""), "{text}");
    assert!(text.contains("\"Unit\":\"Milliseconds\""), "{text}");
}

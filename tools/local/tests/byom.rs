//! Bring your own model, end to end: a classifier that is not an EfficientNet (NHWC input, a softmax
//! output, 10 labels, built with the onnx helper API by tools/model/make_tiny_model.py) is imported by
//! tools/model/import_model.py, deployed next to Lite0 and chosen per request. Its predictions through the
//! local stack must equal onnxruntime's in Python on the same pixels, normalised by Python's reading of
//! model.json (tools/local/tests/onnx_reference.py), so a layout, channel-order or normalisation mistake in
//! the Rust path fails here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use imgpipe_domain::limits::Limits;
use imgpipe_domain::model_spec::ModelBundle;
use imgpipe_local::client::ApiClient;
use imgpipe_local::testing::{repo_root, stack_options};
use imgpipe_local::Stack;
use serde_json::Value;

const TINY: &str = "tiny-nhwc";

fn python() -> PathBuf {
    let python = repo_root().join(".venv/model/bin/python");
    assert!(python.exists(), "{} is missing: run make setup", python.display());
    python
}

fn run_python(args: &[&Path]) -> String {
    let output = Command::new(python()).args(args).output().expect("python runs");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The tiny model, imported as a user would import theirs.
fn import_tiny_model(work: &Path) -> PathBuf {
    let imported = work.join(TINY);
    let root = repo_root();
    run_python(&[
        &root.join("tools/model/make_tiny_model.py"),
        &work.join("source"),
        Path::new("--import"),
        &imported,
    ]);
    imported
}

/// onnxruntime's probabilities (Python) for the pixels the Rust preprocessing makes of `photo`.
fn reference_scores(model_dir: &Path, photo: &[u8], work: &Path, name: &str) -> Vec<f64> {
    let bundle = ModelBundle::load(model_dir).expect("the imported model loads");
    let prepared = imgpipe_vision::preprocess(photo, &bundle.rule, &Limits::default()).expect("the photo prepares");
    let pixels = work.join(format!("{name}.rgb"));
    std::fs::write(&pixels, &prepared.pixels).unwrap();
    let out = run_python(&[
        &repo_root().join("tools/local/tests/onnx_reference.py"),
        model_dir,
        &pixels,
    ]);
    let parsed: Value = serde_json::from_str(out.trim()).expect("JSON from onnx_reference.py");
    parsed["scores"]
        .as_array()
        .expect("scores")
        .iter()
        .map(|s| s.as_f64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_nhwc_model_serves_onnxruntimes_predictions_next_to_lite0() {
    let work = std::env::temp_dir().join(format!("imgpipe-byom-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&work).unwrap();
    let tiny = import_tiny_model(&work);

    let mut options = stack_options();
    let lite0 = options.models[0].clone();
    options.models = vec![lite0, tiny.clone()];
    let stack = Stack::start(options).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);

    let models = client.api(Method::GET, "/models", &[], Bytes::new()).await.unwrap();
    assert_eq!(models.status, StatusCode::OK);
    let models = models.json().unwrap();
    let names: Vec<&str> = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert_eq!(names, ["efficientnet-lite0", TINY], "{models}");
    let listed = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == TINY)
        .unwrap();
    assert_eq!(listed["num_classes"], 10, "{listed}");

    let photos = ["coffee.png", "chelsea.png", "camera.png", "rocket.jpg"];
    let mut top_classes = Vec::new();
    for name in photos {
        let photo = std::fs::read(repo_root().join("third_party/demo-images").join(name)).unwrap();
        let content_type = if name.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        };
        let created = client
            .api(
                Method::POST,
                &format!("/images?model={TINY}"),
                &[("content-type", content_type)],
                Bytes::from(photo.clone()),
            )
            .await
            .unwrap();
        assert_eq!(created.status, StatusCode::ACCEPTED, "{name}: {:?}", created.json());
        let id = created.json().unwrap()["image_id"].as_str().unwrap().to_owned();
        let record = client
            .wait(&id, Duration::from_secs(60), Duration::from_millis(200))
            .await
            .unwrap();
        assert_eq!(record["status"], "completed", "{name}: {record}");
        assert_eq!(record["model_name"], TINY, "{record}");
        assert_eq!(record["model_choice"], "requested", "{record}");
        assert_eq!(record["model"]["name"], TINY, "{record}");

        let reference = reference_scores(&tiny, &photo, &work, name);
        assert_eq!(reference.len(), 10);
        let mut expected: Vec<usize> = (0..reference.len()).collect();
        expected.sort_by(|a, b| reference[*b].total_cmp(&reference[*a]));
        let predictions = record["predictions"].as_array().unwrap();
        assert!(!predictions.is_empty(), "{record}");
        for (rank, prediction) in predictions.iter().enumerate() {
            let class = expected[rank];
            assert_eq!(
                prediction["class_index"], class,
                "{name} rank {rank}: {record} vs {reference:?}"
            );
            assert_eq!(prediction["label"], format!("tiny-class-{class}"));
            let score = prediction["score"].as_f64().unwrap();
            assert!(
                (score - reference[class]).abs() < 1e-4,
                "{name} rank {rank}: the pipeline's {score}, onnxruntime's {}",
                reference[class]
            );
        }
        top_classes.push(expected[0]);
    }
    top_classes.sort_unstable();
    top_classes.dedup();
    assert!(
        top_classes.len() > 1,
        "every photo got the same class {top_classes:?}: the comparison could not tell inputs apart"
    );

    // The same deployment still serves Lite0 by default.
    let photo = std::fs::read(repo_root().join("third_party/demo-images/coffee.png")).unwrap();
    let id = client.submit_inline(Bytes::from(photo), "image/png").await.unwrap();
    let record = client
        .wait(&id, Duration::from_secs(60), Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(record["model_name"], "efficientnet-lite0", "{record}");
    assert_eq!(record["predictions"][0]["label"], "espresso", "{record}");

    stack.stop().await;
    let _ = std::fs::remove_dir_all(&work);
}

//! Hostile uploads through the whole local pipeline (tools/hostile/make_hostile.py): every input ends in
//! the state and with the code its manifest entry expects, and the service keeps serving.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use imgpipe_local::client::ApiClient;
use imgpipe_local::testing::{repo_root, stack_options};
use imgpipe_local::Stack;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(180);

fn generate_corpus() -> (PathBuf, Vec<Value>) {
    let root = repo_root();
    let out = std::env::temp_dir().join(format!("imgpipe-hostile-{}", uuid::Uuid::new_v4()));
    let python = root.join(".venv/model/bin/python");
    assert!(python.exists(), "{} is missing: run `make setup`", python.display());
    let status = std::process::Command::new(python)
        .arg(root.join("tools/hostile/make_hostile.py"))
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("the generator runs");
    assert!(status.success(), "make_hostile.py failed");
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    (out, manifest)
}

/// Submits one input the way its manifest entry says; the image id, or the API's refusal.
async fn submit(client: &ApiClient, bytes: Vec<u8>, entry: &Value) -> Result<String, String> {
    let content_type = entry["content_type"].as_str().unwrap();
    let file = entry["file"].as_str().unwrap();
    let submitted = if entry["upload"] == "inline" {
        client.submit_inline(Bytes::from(bytes), content_type).await
    } else {
        client.submit(bytes, content_type, Some(file)).await
    };
    submitted.map_err(|e| e.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_hostile_input_ends_as_expected_and_the_service_keeps_serving() {
    let (dir, manifest) = generate_corpus();
    assert!(manifest.len() >= 40, "the corpus has {} inputs", manifest.len());
    let stack = Stack::start(stack_options()).await.expect("stack starts");
    let client = ApiClient::new(&stack.api_url);

    let mut submitted = Vec::new();
    let mut wrong = Vec::new();
    for entry in &manifest {
        let file = entry["file"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(file)).unwrap();
        match (submit(&client, bytes, entry).await, entry["expect"].as_str()) {
            (Err(refusal), Some("refused")) => {
                let code = entry["code"].as_str().unwrap();
                if !refusal.contains("400") || !refusal.contains(&format!("\"{code}\"")) {
                    wrong.push(format!("{file}: expected a 400 {code}, got {refusal}"));
                }
            }
            (Ok(id), Some("refused")) => wrong.push(format!("{file}: accepted as {id}, expected a refusal")),
            (Ok(id), _) => submitted.push((id, entry)),
            (Err(refusal), _) => panic!("{file}: {refusal}"),
        }
    }
    for (id, entry) in &submitted {
        let file = entry["file"].as_str().unwrap();
        let record = client
            .wait(id, TIMEOUT, Duration::from_millis(200))
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let (status, code) = (record["status"].as_str().unwrap(), record["error"]["code"].as_str());
        let expected_code = entry["code"].as_str();
        let as_expected = match entry["expect"].as_str().unwrap() {
            "completed" => status == "completed" && record["predictions"].as_array().map(Vec::len) == Some(5),
            "failed" => status == "failed" && code == expected_code,
            "either" => status == "completed" || (status == "failed" && code == expected_code),
            other => panic!("{file}: unknown expectation {other}"),
        };
        if !as_expected {
            wrong.push(format!(
                "{file}: expected {} {:?}, got {status} {:?} ({})",
                entry["expect"], expected_code, code, record["error"]["message"]
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} inputs ended wrongly:\n{}",
        wrong.len(),
        manifest.len(),
        wrong.join("\n")
    );

    // Still serving: a normal photo goes through after all of that.
    let photo = repo_root().join("third_party/demo-images/coffee.png");
    let id = client.submit_file(&photo).await.unwrap();
    let record = client.wait(&id, TIMEOUT, Duration::from_millis(200)).await.unwrap();
    assert_eq!(record["predictions"][0]["label"], "espresso");
    stack.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

//! The `imgpipe` binary against the local stack, as a script would use it: outputs and exit codes.

use std::path::Path;
use std::process::Output;

use imgpipe_local::testing::{repo_root, stack_options};
use imgpipe_local::Stack;
use serde_json::Value;

async fn imgpipe(args: &[&str], cwd: &Path) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_imgpipe"))
        .args(args)
        .current_dir(cwd)
        .env_remove("IMGPIPE_API")
        .env_remove("IMGPIPE_AUTH")
        .env_remove("IMGPIPE_TOKEN")
        .output()
        .await
        .expect("imgpipe runs")
}

fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?} is not JSON: {e}")))
        .collect()
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exited, not killed")
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_status_list_delete_with_reliable_exit_codes() {
    let stack = Stack::start(stack_options()).await.expect("stack starts");
    let api = stack.api_url.as_str();
    let root = repo_root();
    let demo = root.join("third_party/demo-images");
    let (coffee, camera) = (demo.join("coffee.png"), demo.join("camera.png"));
    let work = std::env::temp_dir().join(format!("imgpipe-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&work).unwrap();
    let not_an_image = work.join("notes.jpg");
    std::fs::write(&not_an_image, b"these are notes, not a photo").unwrap();

    // Two photos at once, waited for: top-5 each, exit 0.
    let out = imgpipe(
        &[
            "--api",
            api,
            "submit",
            "--wait",
            "--json",
            coffee.to_str().unwrap(),
            camera.to_str().unwrap(),
        ],
        &work,
    )
    .await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let images = json_lines(&out);
    assert_eq!(images.len(), 2);
    for image in &images {
        assert_eq!(image["status"], "completed", "{image}");
        assert_eq!(image["predictions"].as_array().unwrap().len(), 5);
    }
    let coffee_result = images
        .iter()
        .find(|i| i["file"].as_str().unwrap().ends_with("coffee.png"))
        .unwrap();
    assert_eq!(coffee_result["predictions"][0]["label"], "espresso");
    let progress = String::from_utf8_lossy(&out.stderr);
    assert!(
        progress.contains("[1/2]") && progress.contains("[2/2]") && progress.contains("completed"),
        "{progress}"
    );
    let id = coffee_result["image_id"].as_str().unwrap().to_owned();

    // Human output names the top class with its score.
    let out = imgpipe(&["--api", api, "status", &id], &work).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("completed") && text.contains("espresso (967)"), "{text}");

    // A file that is not an image is accepted, then fails in the pipeline: exit 1 with the error code.
    let out = imgpipe(
        &[
            "--api",
            api,
            "submit",
            "--wait",
            "--json",
            not_an_image.to_str().unwrap(),
        ],
        &work,
    )
    .await;
    assert_eq!(code(&out), 1, "{}", describe(&out));
    let failed = &json_lines(&out)[0];
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "not_an_image");

    // Listing: filtered, paged one at a time through every page.
    let out = imgpipe(&["--api", api, "list", "--status", "completed", "--json"], &work).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let listed: Vec<String> = json_lines(&out)
        .iter()
        .map(|i| i["image_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(listed.contains(&id));
    let out = imgpipe(&["--api", api, "list", "--limit", "1", "--all", "--json"], &work).await;
    assert_eq!(json_lines(&out).len(), 3, "{}", describe(&out));
    let out = imgpipe(&["--api", api, "list", "--status", "bogus"], &work).await;
    assert_eq!(code(&out), 3, "refused by the API: {}", describe(&out));

    // Without --wait: the id and `queued`, exit 0.
    let out = imgpipe(&["--api", api, "submit", "-q", camera.to_str().unwrap()], &work).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("queued"));

    // Delete: gone afterwards (3 = refused: not found), unknown ids too.
    let out = imgpipe(&["--api", api, "delete", &id], &work).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("deleted {id}"));
    let out = imgpipe(&["--api", api, "status", &id], &work).await;
    assert_eq!(code(&out), 3, "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));
    let out = imgpipe(&["--api", api, "delete", &id], &work).await;
    assert_eq!(code(&out), 3, "{}", describe(&out));

    // The local stack's URL file is found from a subdirectory when no --api is given.
    let project = work.join("project");
    std::fs::create_dir_all(project.join("build/local")).unwrap();
    std::fs::create_dir_all(project.join("sub/dir")).unwrap();
    std::fs::write(project.join("build/local/api-url"), format!("{api}\n")).unwrap();
    let out = imgpipe(&["list", "--limit", "1"], &project.join("sub/dir")).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));

    stack.stop().await;
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test]
async fn usage_and_connection_problems_have_their_own_exit_codes() {
    let nowhere = std::env::temp_dir().join(format!("imgpipe-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&nowhere).unwrap();
    let photo = repo_root().join("third_party/demo-images/coffee.png");
    let cases: [(&[&str], i32); 5] = [
        (&[], 2),
        (&["list"], 2), // no --api, no IMGPIPE_API, no local stack under the temp dir
        (&["--api", "http://127.0.0.1:9", "status", "not-an-id"], 2),
        (&["--api", "http://127.0.0.1:9", "submit", "/nonexistent/photo.jpg"], 2),
        (&["--api", "http://127.0.0.1:9", "submit", photo.to_str().unwrap()], 4),
    ];
    for (args, expected) in cases {
        let out = imgpipe(args, &nowhere).await;
        assert_eq!(code(&out), expected, "imgpipe {args:?}: {}", describe(&out));
    }
    let _ = std::fs::remove_dir_all(&nowhere);
}

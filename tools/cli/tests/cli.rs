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
        progress.contains("[2/2]") && progress.contains("2 completed, 0 failed"),
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
    let copy = work.join("camera-copy.png");
    std::fs::copy(&camera, &copy).unwrap();
    let out = imgpipe(&["--api", api, "submit", "-q", copy.to_str().unwrap()], &work).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("queued"),
        "{}",
        describe(&out)
    );
    // The same file and name as before is the same request: the image it made, not a new one.
    let out = imgpipe(
        &["--api", api, "submit", "-q", "--json", camera.to_str().unwrap()],
        &work,
    )
    .await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let replayed = &json_lines(&out)[0];
    let camera_result = images
        .iter()
        .find(|i| i["file"].as_str().unwrap().ends_with("camera.png"))
        .unwrap();
    assert_eq!(replayed["image_id"], camera_result["image_id"], "{replayed}");
    assert_eq!(replayed["status"], "completed", "{replayed}");

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

    // An unknown model: the API's 400, which lists the models, said once however many files.
    let out = imgpipe(
        &[
            "--api",
            api,
            "submit",
            "--model",
            "resnet-9000",
            coffee.to_str().unwrap(),
            camera.to_str().unwrap(),
        ],
        &work,
    )
    .await;
    assert_eq!(code(&out), 3, "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.matches("model must be one of efficientnet-lite0").count(),
        1,
        "{stderr}"
    );

    // The models, as a table and as JSON.
    let out = imgpipe(&["--api", api, "models"], &work).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        table.starts_with("NAME") && row.starts_with("efficientnet-lite0"),
        "{table}"
    );
    assert!(row.contains("224x224") && row.contains("1000"), "{table}");
    assert!(table.contains("images that name no model: "), "{table}");
    let out = imgpipe(&["--api", api, "models", "--json"], &work).await;
    let models = &json_lines(&out)[0];
    assert_eq!(models["models"][0]["name"], "efficientnet-lite0", "{models}");

    // Smoke against an API without authorization: every check passes but the unauthenticated one,
    // which is skipped, not passed; its images are deleted afterwards.
    let before = imgpipe(&["--api", api, "list", "--all", "--json"], &work).await;
    let out = imgpipe(&["--api", api, "smoke"], &project).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    let verdict = report.lines().last().unwrap_or_default();
    assert!(
        verdict.starts_with("smoke: PASS 6/7 checks; skipped: unauthenticated"),
        "{report}"
    );
    assert!(
        report.contains("skip  unauthenticated: the API runs without authorization"),
        "{report}"
    );
    let after = imgpipe(&["--api", api, "list", "--all", "--json"], &work).await;
    assert_eq!(json_lines(&after).len(), json_lines(&before).len(), "smoke cleans up");

    stack.stop().await;
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test]
async fn usage_and_connection_problems_have_their_own_exit_codes() {
    let nowhere = std::env::temp_dir().join(format!("imgpipe-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&nowhere).unwrap();
    let demo = repo_root().join("third_party/demo-images");
    let photo = demo.join("coffee.png");
    let empty = nowhere.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let nowhere_api = "http://127.0.0.1:9";
    let cases: [(&[&str], i32); 10] = [
        (&[], 2),
        (&["list"], 2), // no --api, no IMGPIPE_API, no local stack under the temp dir
        (&["--api", nowhere_api, "status", "not-an-id"], 2),
        (&["--api", nowhere_api, "submit", "/nonexistent/photo.jpg"], 2),
        (&["--api", nowhere_api, "submit", photo.to_str().unwrap()], 4),
        (&["--api", nowhere_api, "submit", demo.to_str().unwrap()], 2),
        (&["--api", nowhere_api, "submit", "-r", empty.to_str().unwrap()], 2),
        (
            &[
                "--api",
                nowhere_api,
                "submit",
                "--concurrency",
                "0",
                photo.to_str().unwrap(),
            ],
            2,
        ),
        (
            &[
                "--api",
                nowhere_api,
                "submit",
                "--concurrency",
                "65",
                photo.to_str().unwrap(),
            ],
            2,
        ),
        (&["--api", nowhere_api, "smoke", "--timeout", "1"], 1),
    ];
    for (args, expected) in cases {
        let out = imgpipe(args, &nowhere).await;
        assert_eq!(code(&out), expected, "imgpipe {args:?}: {}", describe(&out));
    }
    let out = imgpipe(&["--api", nowhere_api, "submit", demo.to_str().unwrap()], &nowhere).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is a directory; pass --recursive"), "{stderr}");
    let _ = std::fs::remove_dir_all(&nowhere);
}

/// `n` distinct small images: the demo photos cut down to 64 px, one pixel changed per copy, every third
/// a JPEG. Small, so a run of dozens takes seconds; distinct, so each is its own image.
fn distinct_images(n: usize) -> Vec<(Vec<u8>, &'static str)> {
    let demo = repo_root().join("third_party/demo-images");
    let bases: Vec<image::RgbImage> = ["chelsea.png", "coffee.png", "camera.png", "rocket.jpg"]
        .iter()
        .map(|name| {
            image::open(demo.join(name))
                .expect("a demo photo decodes")
                .thumbnail(64, 64)
                .to_rgb8()
        })
        .collect();
    (0..n)
        .map(|i| {
            let mut pixels = bases[i % bases.len()].clone();
            let (x, y) = ((i as u32 * 7) % pixels.width(), (i as u32 * 3) % pixels.height());
            let pixel = pixels.get_pixel_mut(x, y);
            pixel[0] ^= 0x80;
            pixel[1] = pixel[1].wrapping_add(i as u8);
            let (format, extension) = if i % 3 == 2 {
                (image::ImageFormat::Jpeg, "jpg")
            } else {
                (image::ImageFormat::Png, "png")
            };
            let mut bytes = std::io::Cursor::new(Vec::new());
            pixels.write_to(&mut bytes, format).expect("encodes");
            (bytes.into_inner(), extension)
        })
        .collect()
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until `out` has at least `lines` lines while `child` runs; returns how many it has.
async fn when_lines(child: &mut tokio::process::Child, out: &Path, lines: usize) -> usize {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(180);
    loop {
        let have = lines_of(out).len();
        if have >= lines {
            return have;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "imgpipe ended ({status}) with {have} lines in {}, before {lines}",
                out.display()
            );
        }
        assert!(std::time::Instant::now() < deadline, "no progress: {have} lines");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

fn spawn_imgpipe(args: &[&str], cwd: &Path) -> tokio::process::Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_imgpipe"))
        .args(args)
        .current_dir(cwd)
        .env_remove("IMGPIPE_API")
        .env_remove("IMGPIPE_AUTH")
        .env_remove("IMGPIPE_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("imgpipe starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_submit_killed_twice_resumes_to_exactly_one_image_and_line_per_file() {
    const FILES: usize = 40;
    let stack = Stack::start(stack_options()).await.expect("stack starts");
    let api = stack.api_url.as_str();
    let work = std::env::temp_dir().join(format!("imgpipe-cli-tree-{}", uuid::Uuid::new_v4()));
    let photos = work.join("photos");
    let mut expected_files = std::collections::BTreeSet::new();
    let mut expected_names = std::collections::BTreeSet::new();
    for (i, (bytes, extension)) in distinct_images(FILES).into_iter().enumerate() {
        let dir = ["", "2024", "2024/march", "scans/old/raw"][i % 4];
        // One without an extension: taken for its PNG bytes.
        let name = if i == 8 {
            "no-extension".to_owned()
        } else {
            format!("img{i:02}.{extension}")
        };
        let relative = if dir.is_empty() { name } else { format!("{dir}/{name}") };
        let path = photos.join(&relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        expected_files.insert(path.display().to_string());
        expected_names.insert(format!("photos/{relative}"));
    }
    // Skipped: hidden entries and files that are not images.
    let a_photo = std::fs::read(photos.join("img00.png")).unwrap();
    std::fs::create_dir_all(photos.join(".thumbnails")).unwrap();
    std::fs::write(photos.join(".thumbnails/img00.png"), &a_photo).unwrap();
    std::fs::write(photos.join("2024/.hidden.png"), &a_photo).unwrap();
    std::fs::write(photos.join("2024/notes.txt"), b"not an image").unwrap();
    std::fs::write(photos.join("scans/index.json"), b"{}").unwrap();

    let out = work.join("results.jsonl");
    let args = [
        "--api",
        api,
        "submit",
        "--recursive",
        "--concurrency",
        "4",
        "--out",
        out.to_str().unwrap(),
        photos.to_str().unwrap(),
    ];
    let started = std::time::Instant::now();

    // 1: Ctrl-C after a few images: exit 130 and how to resume.
    let mut child = spawn_imgpipe(&args, &work);
    let at_sigint = when_lines(&mut child, &out, 4).await;
    let pid = child.id().expect("running").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let first = child.wait_with_output().await.unwrap();
    let first_time = started.elapsed();
    assert_eq!(code(&first), 130, "{}", describe(&first));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("interrupted: ") && stderr.contains("rerunning the same command resumes"),
        "{stderr}"
    );
    let after_sigint = lines_of(&out).len();
    assert!(
        after_sigint < FILES,
        "interrupted mid-run: {after_sigint} of {FILES} done"
    );

    // 2: killed outright a few images later, then a torn line as a crash mid-write leaves one.
    let mut child = spawn_imgpipe(&args, &work);
    let at_sigkill = when_lines(&mut child, &out, after_sigint + 4).await;
    child.start_kill().unwrap();
    let second = child.wait_with_output().await.unwrap();
    assert_eq!(second.status.code(), None, "killed: {}", describe(&second));
    let after_sigkill = lines_of(&out).len();
    assert!(after_sigkill < FILES, "killed mid-run: {after_sigkill} of {FILES} done");
    let second_time = started.elapsed() - first_time;
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().append(true).open(&out).unwrap();
        file.write_all(br#"{"file":"torn","image_id":"3f2c1e4a-9b7d"#).unwrap();
    }

    // 3: the same command to the end.
    let third = imgpipe(&args, &work).await;
    let third_time = started.elapsed() - first_time - second_time;
    assert_eq!(code(&third), 0, "{}", describe(&third));
    let summary = String::from_utf8_lossy(&third.stderr);
    assert!(
        summary.contains(&format!("[{FILES}/{FILES}]")) && summary.contains("recorded by an earlier run"),
        "{summary}"
    );
    eprintln!(
        "{FILES} files; SIGINT at {at_sigint} lines ({after_sigint} after), SIGKILL at {at_sigkill} \
         ({after_sigkill} after); run times {:.1} s, {:.1} s, {:.1} s",
        first_time.as_secs_f64(),
        second_time.as_secs_f64(),
        third_time.as_secs_f64()
    );

    // The results: one whole, terminal line per file, no image twice.
    let lines: Vec<Value> = lines_of(&out)
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    assert_eq!(lines.len(), FILES, "one line per file");
    let ids: std::collections::BTreeSet<&str> = lines.iter().map(|l| l["image_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), FILES, "no image twice");
    let files: std::collections::BTreeSet<String> =
        lines.iter().map(|l| l["file"].as_str().unwrap().to_owned()).collect();
    assert_eq!(files, expected_files);
    for line in &lines {
        assert_eq!(line["status"], "completed", "{line}");
        assert_eq!(line["model"]["name"], "efficientnet-lite0", "{line}");
        assert_eq!(line["predictions"].as_array().map(Vec::len), Some(5), "{line}");
    }

    // The stack: exactly one image per file, each uploaded once.
    let listed = imgpipe(&["--api", api, "list", "--all", "--limit", "100", "--json"], &work).await;
    let images = json_lines(&listed);
    assert_eq!(images.len(), FILES, "one image per file: {}", describe(&listed));
    let listed_ids: std::collections::BTreeSet<&str> = images.iter().map(|i| i["image_id"].as_str().unwrap()).collect();
    assert_eq!(listed_ids, ids);
    let names: std::collections::BTreeSet<String> = images
        .iter()
        .map(|i| i["filename"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, expected_names);
    let versions = stack
        .clients
        .s3
        .list_object_versions()
        .bucket(&stack.resources.bucket)
        .prefix("uploads/")
        .send()
        .await
        .unwrap();
    assert_eq!(versions.versions().len(), FILES, "no file uploaded twice");

    // Once more: nothing to do, nothing written, nothing created.
    let again = imgpipe(&args, &work).await;
    assert_eq!(code(&again), 0, "{}", describe(&again));
    assert_eq!(lines_of(&out).len(), FILES);
    let listed = imgpipe(&["--api", api, "list", "--all", "--limit", "100", "--json"], &work).await;
    assert_eq!(json_lines(&listed).len(), FILES);

    stack.stop().await;
    let _ = std::fs::remove_dir_all(&work);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_passes_behind_the_local_jwt_authorizer_and_the_unauthenticated_check_runs() {
    let mut options = stack_options();
    options.jwt_tokens.insert("smoke-t0k3n".into(), "smoke-tester".into());
    let stack = Stack::start(options).await.expect("stack starts");
    let api = stack.api_url.as_str();
    let cwd = std::env::temp_dir();

    let out = imgpipe(&["--api", api, "--token", "smoke-t0k3n", "smoke"], &cwd).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    let verdict = report.lines().last().unwrap_or_default();
    assert!(verdict.starts_with("smoke: PASS 7/7 checks ("), "{report}");
    assert!(report.contains("ok    unauthenticated: HTTP 401"), "{report}");
    assert!(!report.contains("skip"), "{report}");
    for photo in ["chelsea.png", "coffee.png", "camera.png", "rocket.jpg"] {
        assert!(report.contains(&format!("ok    {photo}: ")), "{report}");
    }

    // The authorizer: no token or an unknown one is the gateway's 401, a known one reaches the API.
    let out = imgpipe(&["--api", api, "models"], &cwd).await;
    assert_eq!(code(&out), 3, "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unauthorized: Unauthorized (HTTP 401)"),
        "{}",
        describe(&out)
    );
    let out = imgpipe(&["--api", api, "--token", "guessed", "list"], &cwd).await;
    assert_eq!(code(&out), 3, "{}", describe(&out));
    let out = imgpipe(&["--api", api, "--token", "smoke-t0k3n", "models", "--json"], &cwd).await;
    assert_eq!(code(&out), 0, "{}", describe(&out));
    assert_eq!(json_lines(&out)[0]["models"][0]["name"], "efficientnet-lite0");
    // Smoke deleted its images.
    let out = imgpipe(&["--api", api, "--token", "smoke-t0k3n", "list", "--json"], &cwd).await;
    assert_eq!(json_lines(&out).len(), 0, "{}", describe(&out));

    stack.stop().await;
}

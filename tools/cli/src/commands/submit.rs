//! `imgpipe submit PATH... [--recursive] [--out results.jsonl]`: uploads files through presigned URLs,
//! several at once, and with `--wait` or `--out` waits for each to complete or fail.
//!
//! Resumable by construction: each file's Idempotency-Key is derived from its bytes and its request
//! (`key`), so running the same command again after Ctrl-C, a crash or a lost connection replays what
//! the API already has (no second image, no second upload: S3 answers 412 to a repeated upload) and does
//! the rest; `--out` records finished images and is appended to, not rewritten.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::MissedTickBehavior;

use super::{emit_json, print_image};
use crate::api::{ApiClient, ApiError, CreateRequest};
use crate::progress::{self, Progress};
use crate::results::Results;
use crate::walk::{self, Input};
use crate::{exit, files, key};

/// Bounds of `--concurrency`: more would only queue at the API's throttle.
pub const MAX_CONCURRENCY: usize = 64;
pub const DEFAULT_CONCURRENCY: usize = 16;

pub struct SubmitOptions {
    pub wait: bool,
    pub json: bool,
    pub quiet: bool,
    /// How long to wait for each image.
    pub timeout: Duration,
    /// Files in flight at once (upload and wait).
    pub concurrency: usize,
    pub content_type: Option<String>,
    pub recursive: bool,
    pub model: Option<String>,
    pub callback_url: Option<String>,
    /// The results file; implies waiting.
    pub out: Option<PathBuf>,
}

/// What became of one file.
enum Outcome {
    /// The image as the API last showed it: done when waited for, else just uploaded.
    Image(Value),
    /// The results file has its line from an earlier run: nothing more to do.
    Recorded {
        status: String,
    },
    Failed(ApiError),
}

/// Why a run ended before every file was tried.
enum Stop {
    Interrupted,
    /// An error every other file would meet too (credentials, an unknown model): said once.
    Fatal(ApiError),
}

pub async fn submit(client: &ApiClient, paths: &[PathBuf], options: &SubmitOptions) -> Result<u8, ApiError> {
    let usage = |e: &dyn std::fmt::Display| ApiError::Usage(e.to_string());
    let inputs = walk::collect(paths, options.recursive).map_err(|e| usage(&e))?;
    if inputs.is_empty() {
        return Err(ApiError::Usage(
            "no image files found (JPEG, PNG, WebP, GIF or BMP by extension or content)".into(),
        ));
    }
    let mut results = options
        .out
        .as_deref()
        .map(Results::open)
        .transpose()
        .map_err(|e| usage(&e))?;
    let earlier = results.as_ref().map(Results::statuses).unwrap_or_default();
    let wait = options.wait || results.is_some();
    // Installed before the first request: from here on a Ctrl-C ends the run cleanly.
    let mut interrupt = signal(SignalKind::interrupt()).map_err(|e| usage(&format!("cannot handle Ctrl-C: {e}")))?;
    let total = inputs.len();
    let mut progress = Progress::new(total as u64, options.quiet);
    // The first line after one period: a line at the start would say nothing.
    let mut ticker = tokio::time::interval_at(
        tokio::time::Instant::now() + progress::PLAIN_EVERY,
        progress::PLAIN_EVERY,
    );
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);

    let earlier = &earlier;
    let mut outcomes = stream::iter(&inputs)
        .map(|input| async move { (input, submit_one(client, input, options, wait, earlier).await) })
        .buffer_unordered(options.concurrency.clamp(1, MAX_CONCURRENCY));
    let mut tally = Tally::default();
    let mut code = exit::OK;
    let mut stop = None;
    loop {
        tokio::select! {
            biased;
            _ = interrupt.recv() => {
                stop = Some(Stop::Interrupted);
                break;
            }
            next = outcomes.next() => {
                let Some((input, outcome)) = next else { break };
                progress.inc();
                let file = input.path.display().to_string();
                match outcome {
                    Outcome::Image(image) => {
                        let status = image["status"].as_str().unwrap_or_default().to_owned();
                        code = code.max(image_code(&status));
                        tally.count(&status);
                        match results.as_mut() {
                            Some(results) => {
                                if let Err(e) = results.append(&result_line(&file, &image)) {
                                    stop = Some(Stop::Fatal(usage(&e)));
                                    break;
                                }
                            }
                            None => progress.suspend(|| print_outcome(&file, &image, options.json)),
                        }
                    }
                    Outcome::Recorded { status } => {
                        code = code.max(image_code(&status));
                        tally.count(&status);
                        tally.earlier += 1;
                    }
                    Outcome::Failed(error) if stops_the_run(&error) => {
                        stop = Some(Stop::Fatal(error));
                        break;
                    }
                    Outcome::Failed(error) => {
                        code = code.max(error.exit_code());
                        tally.errors += 1;
                        progress.println(&format!("{file}: {error}"));
                        if options.json && results.is_none() {
                            progress.suspend(|| emit_json(&error_line(&file, &error)));
                        }
                    }
                }
            }
            _ = ticker.tick() => progress.tick(),
        }
    }
    // Dropping the stream aborts the requests in flight: each is safe to repeat, and the rerun repeats it.
    drop(outcomes);
    let out = results.as_ref().map(|r| r.path().display().to_string());
    progress.finish(&tally.summary(total, wait, progress.elapsed(), out.as_deref()));
    match stop {
        Some(Stop::Interrupted) => {
            let recorded = out.map(|o| format!(", recorded in {o}")).unwrap_or_default();
            eprintln!(
                "imgpipe: interrupted: {} of {total} images done{recorded}; rerunning the same command resumes \
                 where this one stopped (nothing is uploaded or classified twice)",
                tally.done()
            );
            Ok(exit::INTERRUPTED)
        }
        Some(Stop::Fatal(error)) => Err(error),
        None => Ok(code),
    }
}

async fn submit_one(
    client: &ApiClient,
    input: &Input,
    options: &SubmitOptions,
    wait: bool,
    earlier: &HashMap<String, String>,
) -> Outcome {
    match try_submit(client, input, options, wait, earlier).await {
        Ok(outcome) => outcome,
        Err(error) => Outcome::Failed(error),
    }
}

async fn try_submit(
    client: &ApiClient,
    input: &Input,
    options: &SubmitOptions,
    wait: bool,
    earlier: &HashMap<String, String>,
) -> Result<Outcome, ApiError> {
    let path = input.path.display();
    let bytes = tokio::fs::read(&input.path)
        .await
        .map_err(|e| ApiError::Usage(format!("{path}: {e}")))?;
    if bytes.is_empty() {
        return Err(ApiError::Usage(format!("{path}: the file is empty")));
    }
    let content_type = match &options.content_type {
        Some(content_type) => content_type.clone(),
        None => files::content_type(&input.path, &bytes[..bytes.len().min(files::SNIFF_BYTES)])
            .ok_or_else(|| {
                ApiError::Usage(format!(
                    "{path}: not a JPEG, PNG, WebP, GIF or BMP file (pass --content-type to send it anyway)"
                ))
            })?
            .to_owned(),
    };
    let filename = api_filename(&input.name);
    let digest = key::content_sha256(&bytes);
    let idempotency_key = key::idempotency_key(&key::Request {
        content_sha256: &digest,
        filename: &filename,
        content_type: &content_type,
        model: options.model.as_deref(),
        callback_url: options.callback_url.as_deref(),
    });
    let request = CreateRequest {
        content_type: &content_type,
        filename: Some(&filename),
        content_length: bytes.len() as u64,
        model: options.model.as_deref(),
        callback_url: options.callback_url.as_deref(),
    };
    let created = client.create(&request, &idempotency_key).await?;
    let id = created["image_id"]
        .as_str()
        .ok_or_else(|| ApiError::Unavailable("the API answered without an image_id".into()))?
        .to_owned();
    if let Some(status) = earlier.get(&id) {
        return Ok(Outcome::Recorded { status: status.clone() });
    }
    let uploading = created["upload"]["url"].is_string();
    client.upload(&created, Bytes::from(bytes)).await?;
    if !wait {
        let status = if uploading {
            json!("queued")
        } else {
            created["status"].clone()
        };
        return Ok(Outcome::Image(
            json!({"image_id": id, "status": status, "status_url": created["status_url"]}),
        ));
    }
    client.wait(&id, options.timeout, |_| {}).await.map(Outcome::Image)
}

/// Errors of the API that are not about one file, so every other file would meet them too: refused
/// credentials, and 400s, which for a create request this client validated (name, size, type) can only
/// be about the shared fields (model, callback URL). Storage refusing one upload is about that file.
fn stops_the_run(error: &ApiError) -> bool {
    match error {
        ApiError::Refused { code, .. } if code == "upload_refused" => false,
        ApiError::Refused { status, code, .. } => matches!(status, 401 | 403) || code == "bad_request",
        _ => false,
    }
}

fn image_code(status: &str) -> u8 {
    if status == "failed" {
        exit::IMAGE_FAILED
    } else {
        exit::OK
    }
}

/// A name the API accepts (1 to 255 printable characters): control characters replaced, and a long
/// path cut from the front, keeping the part that tells files apart.
pub fn api_filename(name: &str) -> String {
    let printable: Vec<char> = name.chars().map(|c| if c.is_control() { '?' } else { c }).collect();
    let start = printable.len().saturating_sub(255);
    let name: String = printable[start..].iter().collect();
    if name.is_empty() {
        "unnamed".to_owned()
    } else {
        name
    }
}

/// The `--out` line of a finished image.
pub fn result_line(file: &str, image: &Value) -> Value {
    let model = match &image["model"] {
        Value::Object(model) => Value::Object(model.clone()),
        _ => json!({"name": image["model_name"]}),
    };
    let mut line = json!({
        "file": file,
        "image_id": image["image_id"],
        "status": image["status"],
        "model": model,
    });
    if image["status"] == "completed" {
        line["predictions"] = image["predictions"].clone();
    } else {
        line["error"] = image["error"].clone();
    }
    line
}

fn error_line(file: &str, error: &ApiError) -> Value {
    let code = match error {
        ApiError::Refused { code, .. } => code.as_str(),
        ApiError::Unavailable(_) => "unavailable",
        ApiError::Usage(_) => "usage",
    };
    json!({"file": file, "error": {"code": code, "message": error.to_string()}})
}

fn print_outcome(file: &str, image: &Value, json: bool) {
    if json {
        let mut line = image.clone();
        line["file"] = json!(file);
        emit_json(&line);
    } else {
        print_image(image, Some(file));
    }
}

#[derive(Default)]
struct Tally {
    completed: usize,
    failed: usize,
    /// Uploaded, not waited for.
    uploaded: usize,
    errors: usize,
    /// Found in the results file.
    earlier: usize,
}

impl Tally {
    fn count(&mut self, status: &str) {
        match status {
            "completed" => self.completed += 1,
            "failed" => self.failed += 1,
            _ => self.uploaded += 1,
        }
    }

    fn done(&self) -> usize {
        self.completed + self.failed + self.uploaded
    }

    fn summary(&self, total: usize, wait: bool, elapsed: Duration, out: Option<&str>) -> String {
        let secs = elapsed.as_secs_f64();
        let rate = if secs > 0.0 { self.done() as f64 / secs } else { 0.0 };
        let mut parts = Vec::new();
        if wait {
            parts.push(format!("{} completed", self.completed));
            parts.push(format!("{} failed", self.failed));
        } else {
            parts.push(format!("{} uploaded", self.done()));
        }
        if self.errors > 0 {
            parts.push(format!("{} not done (errors above)", self.errors));
        }
        let mut line = format!(
            "[{}/{total}] in {} ({rate:.1} images/s): {}",
            self.done(),
            progress::seconds(secs),
            parts.join(", ")
        );
        if self.earlier > 0 {
            line.push_str(&format!("; {} recorded by an earlier run", self.earlier));
        }
        if let Some(out) = out {
            line.push_str(&format!("; results in {out}"));
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filenames_are_made_acceptable_to_the_api() {
        assert_eq!(api_filename("photos/cat.jpg"), "photos/cat.jpg");
        assert_eq!(api_filename("a\tb\u{7}.png"), "a?b?.png");
        let long = format!("{}/leaf.png", "d".repeat(300));
        let cut = api_filename(&long);
        assert_eq!(cut.chars().count(), 255);
        assert!(cut.ends_with("/leaf.png"));
        assert_eq!(api_filename(""), "unnamed");
    }

    #[test]
    fn result_lines_carry_predictions_or_the_error() {
        let done = json!({"image_id": "i", "status": "completed", "model": {"name": "m", "version": "1"},
                          "predictions": [{"label": "espresso", "class_index": 967, "score": 0.9}], "error": null});
        let line = result_line("a.png", &done);
        assert_eq!(line["model"]["name"], "m");
        assert_eq!(line["predictions"][0]["class_index"], 967);
        assert!(line.get("error").is_none());
        let failed = json!({"image_id": "j", "status": "failed", "model": null, "model_name": "m",
                            "error": {"code": "not_an_image", "message": "no"}});
        let line = result_line("b.png", &failed);
        assert_eq!(line["model"], json!({"name": "m"}));
        assert_eq!(line["error"]["code"], "not_an_image");
        assert!(line.get("predictions").is_none());
    }

    #[test]
    fn only_errors_shared_by_every_file_stop_a_run() {
        let refused = |status, code: &str| ApiError::Refused {
            status,
            code: code.into(),
            message: String::new(),
        };
        assert!(stops_the_run(&refused(400, "bad_request")));
        assert!(stops_the_run(&refused(401, "unauthorized")));
        assert!(stops_the_run(&refused(403, "forbidden")));
        assert!(!stops_the_run(&refused(413, "too_large")));
        assert!(!stops_the_run(&refused(403, "upload_refused")));
        assert!(!stops_the_run(&ApiError::Unavailable("x".into())));
        assert!(!stops_the_run(&ApiError::Usage("x".into())));
    }
}

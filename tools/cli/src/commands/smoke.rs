//! `imgpipe smoke`: is this deployment working, end to end? The demo photos (built into the binary, so
//! it runs from anywhere) go through the API and the pipeline and must come back with their expected
//! top-1 class; a request without credentials must be refused; an unknown image must be a 404 in the
//! API's error shape. One line per check, then a one-line verdict; exit 0 on PASS, 1 on FAIL.
//!
//! The checks are pure functions of the API's answers, tested on crafted answers, so a check that
//! cannot fail is caught without a deployment that answers wrongly.

use std::io::Write;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::join_all;
use http::{Method, StatusCode};
use serde_json::Value;

use crate::api::{ApiClient, ApiError, CreateRequest};
use crate::{exit, files, progress};

/// The header the local stack puts on every answer when it runs without an authorizer.
pub const AUTH_MODE_HEADER: &str = "x-imgpipe-auth";

/// The demo photos, by file name as `expected.tsv` names them.
const PHOTOS: [(&str, &[u8]); 4] = [
    (
        "chelsea.png",
        include_bytes!("../../../../third_party/demo-images/chelsea.png"),
    ),
    (
        "coffee.png",
        include_bytes!("../../../../third_party/demo-images/coffee.png"),
    ),
    (
        "camera.png",
        include_bytes!("../../../../third_party/demo-images/camera.png"),
    ),
    (
        "rocket.jpg",
        include_bytes!("../../../../third_party/demo-images/rocket.jpg"),
    ),
];
const EXPECTED_TSV: &str = include_str!("../../../../third_party/demo-images/expected.tsv");

pub struct SmokeOptions {
    /// How long to wait for each photo.
    pub timeout: Duration,
    /// Leave the photos' images in the deployment instead of deleting them afterwards.
    pub keep: bool,
}

/// A photo and the top-1 classes that count as right for it (index, label).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub file: String,
    pub classes: Vec<(u32, String)>,
}

/// The rows of `expected.tsv` (`file`, `class_indices` comma-separated, `names` in the same order).
pub fn parse_expected(tsv: &str) -> Result<Vec<Expected>, String> {
    let mut rows = Vec::new();
    for (n, line) in tsv.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |why: &str| format!("expected.tsv line {}: {why}: {line:?}", n + 1);
        let fields: Vec<&str> = line.split('\t').collect();
        let [file, indices, names] = fields[..] else {
            return Err(bad("not three tab-separated fields"));
        };
        let indices = indices
            .split(',')
            .map(|i| {
                i.trim()
                    .parse::<u32>()
                    .map_err(|_| bad("a class index is not a number"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<String> = names.split(',').map(|n| n.trim().to_owned()).collect();
        if names.len() != indices.len() {
            return Err(bad("as many names as class indices are needed"));
        }
        rows.push(Expected {
            file: file.to_owned(),
            classes: indices.into_iter().zip(names).collect(),
        });
    }
    Ok(rows)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass(String),
    Fail(String),
    /// Not applicable to this deployment; neither passed nor failed.
    Skip(String),
}

#[derive(Clone, Debug)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
}

/// `GET /models`: at least one model, each with a name.
pub fn check_models(status: StatusCode, body: &[u8]) -> Verdict {
    if status != StatusCode::OK {
        return Verdict::Fail(format!("GET /models answered HTTP {}", status.as_u16()));
    }
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return Verdict::Fail("GET /models answered something that is not JSON".into());
    };
    let names: Option<Vec<&str>> = answer["models"]
        .as_array()
        .map(|models| models.iter().map(|m| m["name"].as_str()).collect::<Option<Vec<_>>>())
        .unwrap_or(None);
    match names {
        Some(names) if !names.is_empty() => Verdict::Pass(format!("{} deployed: {}", names.len(), names.join(", "))),
        _ => Verdict::Fail(format!("GET /models lists no named model: {answer}")),
    }
}

/// A label as the model's labels file may spell the expected name (`tiger_cat`, `tiger cat`, `Tiger cat, ...`).
fn same_label(label: &str, name: &str) -> bool {
    let norm = |s: &str| s.trim().to_lowercase().replace(['_', '-'], " ");
    let (label, name) = (norm(label), norm(name));
    label == name || label.starts_with(&format!("{name},"))
}

/// A photo's image as `GET /images/{id}` shows it: completed, and its first prediction one of the
/// expected classes, by index and by the label the API gives that index.
pub fn check_top1(expected: &Expected, image: &Value) -> Verdict {
    let wanted = || {
        expected
            .classes
            .iter()
            .map(|(i, n)| format!("{n} ({i})"))
            .collect::<Vec<_>>()
            .join(" or ")
    };
    let status = image["status"].as_str().unwrap_or("?");
    if status != "completed" {
        let error = &image["error"];
        return Verdict::Fail(format!(
            "ended {status}{}",
            error["code"]
                .as_str()
                .map(|c| format!(": {c}: {}", error["message"].as_str().unwrap_or("")))
                .unwrap_or_default()
        ));
    }
    let top = &image["predictions"][0];
    let (Some(index), Some(label)) = (top["class_index"].as_u64(), top["label"].as_str()) else {
        return Verdict::Fail(format!(
            "completed without a top-1 prediction (class_index and label): {top}"
        ));
    };
    let score = top["score"].as_f64().unwrap_or(0.0) * 100.0;
    match expected.classes.iter().find(|(i, _)| u64::from(*i) == index) {
        Some((_, name)) if same_label(label, name) => Verdict::Pass(format!("{label} ({index}) {score:.1}%")),
        Some((_, name)) => Verdict::Fail(format!(
            "class {index} is labelled {label:?}, expected {name:?}: the model's labels are not the ones expected"
        )),
        None => Verdict::Fail(format!("top-1 {label} ({index}) {score:.1}%, expected {}", wanted())),
    }
}

/// A request without credentials: refused with 401 or 403, unless the API says it runs without
/// authorization (`x-imgpipe-auth: none`, the local stack's default), where the check does not apply.
pub fn check_unauthenticated(status: StatusCode, auth_mode: Option<&str>) -> Verdict {
    if let Some(mode) = auth_mode.filter(|m| m.trim_start().starts_with("none")) {
        return Verdict::Skip(format!(
            "the API runs without authorization ({AUTH_MODE_HEADER}: {mode})"
        ));
    }
    match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Verdict::Pass(format!("HTTP {}", status.as_u16())),
        _ => Verdict::Fail(format!(
            "GET /images without credentials answered HTTP {}, not 401 or 403",
            status.as_u16()
        )),
    }
}

/// `GET /images/{unknown id}`: 404 with `{"error": {"code": "not_found", "message": "..."}}` and nothing else.
pub fn check_not_found(status: StatusCode, body: &[u8]) -> Verdict {
    if status != StatusCode::NOT_FOUND {
        return Verdict::Fail(format!(
            "an unknown image id answered HTTP {}, not 404",
            status.as_u16()
        ));
    }
    let Ok(answer) = serde_json::from_slice::<Value>(body) else {
        return Verdict::Fail(format!("the 404 body is not JSON: {:?}", String::from_utf8_lossy(body)));
    };
    let shaped = answer.as_object().is_some_and(|o| o.len() == 1)
        && answer["error"].as_object().is_some_and(|e| e.len() == 2)
        && answer["error"]["code"] == "not_found"
        && answer["error"]["message"].as_str().is_some_and(|m| !m.is_empty());
    if shaped {
        Verdict::Pass("404 not_found in the error shape".into())
    } else {
        Verdict::Fail(format!(
            "the 404 body is not {{\"error\": {{\"code\": \"not_found\", \"message\": ...}}}}: {answer}"
        ))
    }
}

/// The verdict line and whether the run passed: every check passed or was skipped, at least one passed.
pub fn verdict(checks: &[Check], elapsed: Duration) -> (String, bool) {
    let passed = checks.iter().filter(|c| matches!(c.verdict, Verdict::Pass(_))).count();
    let skipped: Vec<&str> = checks
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Skip(_)))
        .map(|c| c.name.as_str())
        .collect();
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| matches!(c.verdict, Verdict::Fail(_)))
        .map(|c| c.name.as_str())
        .collect();
    let ok = failed.is_empty() && passed > 0;
    let mut line = format!(
        "smoke: {} {passed}/{} checks",
        if ok { "PASS" } else { "FAIL" },
        checks.len()
    );
    if !failed.is_empty() {
        line.push_str(&format!("; failed: {}", failed.join(", ")));
    }
    if !skipped.is_empty() {
        line.push_str(&format!("; skipped: {}", skipped.join(", ")));
    }
    line.push_str(&format!(" ({})", progress::seconds(elapsed.as_secs_f64())));
    (line, ok)
}

pub async fn smoke(client: &ApiClient, options: &SmokeOptions) -> Result<u8, ApiError> {
    let started = Instant::now();
    let expected = parse_expected(EXPECTED_TSV).map_err(ApiError::Usage)?;
    let mut checks = Vec::new();
    let mut report = |check: Check| {
        let (tag, detail) = match &check.verdict {
            Verdict::Pass(d) => ("ok  ", d),
            Verdict::Fail(d) => ("FAIL", d),
            Verdict::Skip(d) => ("skip", d),
        };
        let _ = writeln!(std::io::stdout().lock(), "  {tag}  {}: {detail}", check.name);
        checks.push(check);
    };

    let models = client.raw(Method::GET, "/models", true).await;
    let mut auth_mode = None;
    report(Check {
        name: "models".into(),
        verdict: match &models {
            Ok(response) => {
                auth_mode = header(response, AUTH_MODE_HEADER);
                check_models(response.status, &response.body)
            }
            Err(error) => Verdict::Fail(error.to_string()),
        },
    });

    let photos = join_all(expected.iter().map(|row| classify(client, row, options.timeout))).await;
    let mut created = Vec::new();
    for (row, (id, verdict)) in expected.iter().zip(photos) {
        created.extend(id);
        report(Check {
            name: row.file.clone(),
            verdict,
        });
    }

    let anonymous = client.raw(Method::GET, "/images?limit=1", false).await;
    report(Check {
        name: "unauthenticated".into(),
        verdict: match &anonymous {
            Ok(response) => {
                let mode = header(response, AUTH_MODE_HEADER).or(auth_mode);
                check_unauthenticated(response.status, mode.as_deref())
            }
            Err(error) => Verdict::Fail(error.to_string()),
        },
    });

    let unknown = uuid::Uuid::new_v4();
    let missing = client.raw(Method::GET, &format!("/images/{unknown}"), true).await;
    report(Check {
        name: "unknown id".into(),
        verdict: match &missing {
            Ok(response) => check_not_found(response.status, &response.body),
            Err(error) => Verdict::Fail(error.to_string()),
        },
    });

    if !options.keep {
        for id in &created {
            // Best effort: the verdict is about the pipeline, and leftovers expire with the retention.
            if let Err(error) = client.delete(id).await {
                eprintln!("imgpipe: smoke: could not delete image {id}: {error}");
            }
        }
    }
    let (line, ok) = verdict(&checks, started.elapsed());
    println!("{line}");
    Ok(if ok { exit::OK } else { exit::IMAGE_FAILED })
}

fn header(response: &crate::api::Response, name: &str) -> Option<String> {
    response
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Uploads one demo photo under a fresh key (a smoke run must exercise the pipeline, not replay an
/// earlier run) and judges its result. Returns the image id, once created, for the clean-up.
async fn classify(client: &ApiClient, row: &Expected, timeout: Duration) -> (Option<String>, Verdict) {
    let Some((_, bytes)) = PHOTOS.iter().find(|(name, _)| *name == row.file) else {
        return (
            None,
            Verdict::Fail(format!("{} is not built into this binary", row.file)),
        );
    };
    let content_type = files::content_type(std::path::Path::new(&row.file), bytes).unwrap_or("image/png");
    let request = CreateRequest {
        content_type,
        filename: Some(&row.file),
        content_length: bytes.len() as u64,
        model: None,
        callback_url: None,
    };
    let key = format!("imgpipe-smoke-{}", uuid::Uuid::new_v4());
    let created = match client.create(&request, &key).await {
        Ok(created) => created,
        Err(error) => return (None, Verdict::Fail(format!("create: {error}"))),
    };
    let Some(id) = created["image_id"].as_str().map(str::to_owned) else {
        return (None, Verdict::Fail("the API answered without an image_id".into()));
    };
    if let Err(error) = client.upload(&created, Bytes::from_static(bytes)).await {
        return (Some(id), Verdict::Fail(format!("upload: {error}")));
    }
    match client.wait(&id, timeout, |_| {}).await {
        Ok(image) => (Some(id), check_top1(row, &image)),
        Err(error) => (Some(id), Verdict::Fail(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn coffee() -> Expected {
        Expected {
            file: "coffee.png".into(),
            classes: vec![(967, "espresso".into())],
        }
    }

    fn cat() -> Expected {
        Expected {
            file: "chelsea.png".into(),
            classes: vec![(281, "tabby".into()), (282, "tiger_cat".into())],
        }
    }

    fn image(status: &str, predictions: Value) -> Value {
        json!({"image_id": "3f2c1e4a-9b7d-4c2e-8f00-123456789abc", "status": status, "predictions": predictions})
    }

    fn passes(verdict: &Verdict) -> bool {
        matches!(verdict, Verdict::Pass(_))
    }

    #[test]
    fn every_embedded_photo_has_its_expected_classes_and_back() {
        let expected = parse_expected(EXPECTED_TSV).unwrap();
        assert_eq!(expected.len(), PHOTOS.len());
        for row in &expected {
            let (_, bytes) = PHOTOS.iter().find(|(name, _)| *name == row.file).unwrap();
            assert!(files::sniff(bytes).is_some(), "{} is an image", row.file);
            assert!(!row.classes.is_empty());
        }
        let coffee = expected.iter().find(|r| r.file == "coffee.png").unwrap();
        assert_eq!(coffee.classes, vec![(967, "espresso".to_owned())]);
        assert!(parse_expected("file\tclass_indices\tnames\na.png\t1,2\tone\n").is_err());
        assert!(parse_expected("file\tclass_indices\tnames\na.png\tx\tone\n").is_err());
    }

    #[test]
    fn the_top1_check_passes_any_expected_class_and_fails_anything_else() {
        let top = |index: u32, label: &str| json!([{"class_index": index, "label": label, "score": 0.8}]);
        assert!(passes(&check_top1(
            &coffee(),
            &image("completed", top(967, "espresso"))
        )));
        assert!(passes(&check_top1(&cat(), &image("completed", top(282, "tiger_cat")))));
        assert!(passes(&check_top1(&cat(), &image("completed", top(282, "tiger cat")))));
        assert!(passes(&check_top1(
            &cat(),
            &image("completed", top(281, "Tabby, tabby cat"))
        )));

        let wrong = check_top1(&coffee(), &image("completed", top(872, "tripod")));
        assert!(
            matches!(&wrong, Verdict::Fail(m) if m.contains("tripod (872)") && m.contains("espresso (967)")),
            "{wrong:?}"
        );
        // The right index with another label: the deployment's labels are off by one or another file.
        assert!(!passes(&check_top1(&coffee(), &image("completed", top(967, "eggnog")))));
        // Only the first prediction counts.
        let second = json!([{"class_index": 504, "label": "coffee_mug", "score": 0.5},
                            {"class_index": 967, "label": "espresso", "score": 0.4}]);
        assert!(!passes(&check_top1(&coffee(), &image("completed", second))));
        // Not completed, or completed without predictions.
        let failed = json!({"status": "failed", "error": {"code": "not_an_image", "message": "no"}});
        assert!(matches!(check_top1(&coffee(), &failed), Verdict::Fail(m) if m.contains("not_an_image")));
        assert!(!passes(&check_top1(&coffee(), &image("completed", Value::Null))));
        assert!(!passes(&check_top1(
            &coffee(),
            &image("completed", json!([{"class_index": 967}]))
        )));
        assert!(!passes(&check_top1(&coffee(), &image("queued", Value::Null))));
    }

    #[test]
    fn an_unknown_id_must_be_a_404_in_the_error_shape() {
        let body = |v: Value| v.to_string().into_bytes();
        let good = body(json!({"error": {"code": "not_found", "message": "no such image"}}));
        assert!(passes(&check_not_found(StatusCode::NOT_FOUND, &good)));
        for (status, answer) in [
            (StatusCode::OK, good.clone()),
            (StatusCode::FORBIDDEN, good.clone()),
            (StatusCode::NOT_FOUND, body(json!({"message": "Not Found"}))),
            (
                StatusCode::NOT_FOUND,
                body(json!({"error": {"code": "missing", "message": "x"}})),
            ),
            (StatusCode::NOT_FOUND, body(json!({"error": {"code": "not_found"}}))),
            (
                StatusCode::NOT_FOUND,
                body(json!({"error": {"code": "not_found", "message": ""}})),
            ),
            (
                StatusCode::NOT_FOUND,
                body(json!({"error": {"code": "not_found", "message": "x", "stack": "at main.rs:1"}})),
            ),
            (
                StatusCode::NOT_FOUND,
                body(json!({"error": {"code": "not_found", "message": "x"}, "debug": 1})),
            ),
            (StatusCode::NOT_FOUND, b"<html>Not Found</html>".to_vec()),
        ] {
            let verdict = check_not_found(status, &answer);
            assert!(
                matches!(verdict, Verdict::Fail(_)),
                "{status} {}: {verdict:?}",
                String::from_utf8_lossy(&answer)
            );
        }
    }

    #[test]
    fn unauthenticated_requests_must_be_refused_unless_the_api_has_no_authorization() {
        assert!(passes(&check_unauthenticated(StatusCode::UNAUTHORIZED, None)));
        assert!(passes(&check_unauthenticated(StatusCode::FORBIDDEN, None)));
        assert!(matches!(check_unauthenticated(StatusCode::OK, None), Verdict::Fail(_)));
        assert!(matches!(
            check_unauthenticated(StatusCode::NOT_FOUND, Some("jwt")),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            check_unauthenticated(StatusCode::OK, Some("none; local development only")),
            Verdict::Skip(_)
        ));
    }

    #[test]
    fn the_models_check_needs_a_named_model() {
        let ok = json!({"models": [{"name": "efficientnet-lite0"}], "default": "efficientnet-lite0=100"});
        assert!(passes(&check_models(StatusCode::OK, ok.to_string().as_bytes())));
        assert!(!passes(&check_models(StatusCode::OK, br#"{"models": []}"#)));
        assert!(!passes(&check_models(
            StatusCode::OK,
            br#"{"models": [{"version": "1"}]}"#
        )));
        assert!(!passes(&check_models(StatusCode::UNAUTHORIZED, b"{}")));
    }

    #[test]
    fn one_failed_check_fails_the_run_and_skips_are_named() {
        let check = |name: &str, verdict: Verdict| Check {
            name: name.into(),
            verdict,
        };
        let pass = |name| check(name, Verdict::Pass("ok".into()));
        let seven: Vec<Check> = ["models", "a", "b", "c", "d", "unauthenticated", "unknown id"]
            .into_iter()
            .map(pass)
            .collect();
        let (line, ok) = verdict(&seven, Duration::from_secs(3));
        assert!(ok);
        assert!(line.starts_with("smoke: PASS 7/7 checks"), "{line}");

        let mut one_wrong = seven.clone();
        one_wrong[2] = check("b", Verdict::Fail("top-1 tripod".into()));
        let (line, ok) = verdict(&one_wrong, Duration::from_secs(3));
        assert!(!ok);
        assert!(line.starts_with("smoke: FAIL 6/7 checks; failed: b"), "{line}");

        let mut skipped = seven.clone();
        skipped[5] = check("unauthenticated", Verdict::Skip("no authorizer".into()));
        let (line, ok) = verdict(&skipped, Duration::from_secs(3));
        assert!(ok);
        assert!(
            line.starts_with("smoke: PASS 6/7 checks; skipped: unauthenticated"),
            "{line}"
        );

        let nothing = vec![check("models", Verdict::Skip("?".into()))];
        assert!(!verdict(&nothing, Duration::ZERO).1, "nothing checked is no pass");
    }
}

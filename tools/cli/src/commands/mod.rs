//! The commands. Results go to stdout (one JSON object per line with `--json`), progress and errors to
//! stderr, so `imgpipe submit --json a.jpg | jq` works. `submit`, `models` and `smoke` have a file each;
//! the small ones are here.

use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::api::{ApiClient, ApiError};
use crate::exit;

pub mod models;
pub mod smoke;
pub mod submit;

pub use submit::{submit, SubmitOptions};

pub(crate) fn emit_json(value: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
}

/// The human form of an image: one line, then the top-5 or the error.
pub(crate) fn print_image(image: &Value, file: Option<&str>) {
    let mut out = std::io::stdout().lock();
    let id = image["image_id"].as_str().unwrap_or("?");
    let status = image["status"].as_str().unwrap_or("?");
    let name = file.or_else(|| image["filename"].as_str()).unwrap_or("");
    let took = image["timings_ms"]["end_to_end"]
        .as_i64()
        .map(|ms| format!("  ({ms} ms)"))
        .unwrap_or_default();
    // The model that answered (name, version and variant), so two models' answers can be told apart.
    let model = match (image["model"]["name"].as_str(), image["model"]["version"].as_str()) {
        (Some(name), Some(version)) => format!("  {name} {version}"),
        _ => String::new(),
    };
    let _ = writeln!(out, "{name}  {id}  {status}{model}{took}");
    if let Some(predictions) = image["predictions"].as_array() {
        for prediction in predictions {
            let _ = writeln!(
                out,
                "  {:>6.2}%  {} ({})",
                prediction["score"].as_f64().unwrap_or(0.0) * 100.0,
                prediction["label"].as_str().unwrap_or("?"),
                prediction["class_index"]
            );
        }
    }
    if let Some(error) = image["error"].as_object() {
        let _ = writeln!(
            out,
            "  error {}: {}",
            error.get("code").and_then(Value::as_str).unwrap_or("?"),
            error.get("message").and_then(Value::as_str).unwrap_or("")
        );
    }
}

/// `imgpipe status ID [--wait]`.
pub async fn status(client: &ApiClient, id: &str, wait: Option<Duration>, json: bool) -> Result<u8, ApiError> {
    let image = match wait {
        Some(timeout) => client.wait(id, timeout, |_| {}).await?,
        None => client.image(id).await?,
    };
    if json {
        emit_json(&image);
    } else {
        print_image(&image, None);
    }
    Ok(if image["status"] == "failed" {
        exit::IMAGE_FAILED
    } else {
        exit::OK
    })
}

/// `imgpipe list [--status S] [--limit N] [--all]`: newest first.
pub async fn list(client: &ApiClient, status: Option<&str>, limit: u32, all: bool, json: bool) -> Result<u8, ApiError> {
    let mut token: Option<String> = None;
    let mut out = std::io::stdout().lock();
    loop {
        let page = client.list(status, limit, token.as_deref()).await?;
        for image in page["images"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if json {
                let _ = writeln!(out, "{image}");
            } else {
                let top = image["predictions"]
                    .get(0)
                    .map(|p| {
                        format!(
                            "{} {:.1}%",
                            p["label"].as_str().unwrap_or("?"),
                            p["score"].as_f64().unwrap_or(0.0) * 100.0
                        )
                    })
                    .or_else(|| image["error"]["code"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "{}  {:<14}  {}  {:<24}  {top}",
                    image["image_id"].as_str().unwrap_or("?"),
                    image["status"].as_str().unwrap_or("?"),
                    utc(image["created_at"].as_i64().unwrap_or(0)),
                    image["filename"].as_str().unwrap_or("-"),
                );
            }
        }
        token = page["next_token"].as_str().map(str::to_owned);
        match (&token, all) {
            (Some(_), true) => continue,
            (Some(_), false) => eprintln!("(more images: --all lists every page)"),
            (None, _) => {}
        }
        return Ok(exit::OK);
    }
}

/// `imgpipe delete ID...`: every id is tried; the exit code is the worst outcome.
pub async fn delete(client: &ApiClient, ids: &[String]) -> u8 {
    let mut code = exit::OK;
    for id in ids {
        match client.delete(id).await {
            Ok(()) => println!("deleted {id}"),
            Err(error) => {
                eprintln!("{id}: {error}");
                code = code.max(error.exit_code());
            }
        }
    }
    code
}

/// Epoch milliseconds as `YYYY-MM-DDTHH:MM:SSZ` (days to civil date: H. Hinnant's algorithm).
pub fn utc(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_epoch_milliseconds() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_780_000_000_123), "2026-05-28T20:26:40Z");
        assert_eq!(utc(951_825_600_000), "2000-02-29T12:00:00Z");
    }
}

//! `submit --out FILE`: one JSON line per image that reached `completed` or `failed`, appended as each
//! does, so the file is the record of a run that can be stopped at any moment and resumed.
//!
//! A run killed mid-write can leave a torn last line; opening the file again cuts it off (its image is
//! fetched and written again by the rerun). Images already recorded are never written twice.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ResultsError {
    path: PathBuf,
    source: std::io::Error,
}

pub struct Results {
    path: PathBuf,
    file: File,
    /// image id -> its recorded status.
    recorded: HashMap<String, String>,
}

/// What opening a results file finds in it.
#[derive(Debug, PartialEq, Eq)]
pub struct Repair {
    /// Bytes to keep: everything up to the end of the last whole line.
    pub keep: usize,
    /// The last line is whole but lacks its newline (killed between the two): add it.
    pub add_newline: bool,
}

/// How to repair `text`, the content of a results file, after a crash.
pub fn repair(text: &[u8]) -> Repair {
    let tail_start = text.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let tail = &text[tail_start..];
    if tail.is_empty() {
        return Repair {
            keep: text.len(),
            add_newline: false,
        };
    }
    match parse_line(tail) {
        Some(_) => Repair {
            keep: text.len(),
            add_newline: true,
        },
        None => Repair {
            keep: tail_start,
            add_newline: false,
        },
    }
}

/// A results line: a JSON object with an image id and a status.
fn parse_line(line: &[u8]) -> Option<(String, String)> {
    let value: Value = serde_json::from_slice(line).ok()?;
    let id = value["image_id"].as_str()?.to_owned();
    let status = value["status"].as_str().unwrap_or_default().to_owned();
    Some((id, status))
}

impl Results {
    /// Opens (or creates) the file, repairs a torn last line, and reads which images it records.
    pub fn open(path: &Path) -> Result<Self, ResultsError> {
        let error = |source| ResultsError {
            path: path.to_owned(),
            source,
        };
        let text = match fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(error(e)),
        };
        let fix = repair(&text);
        if fix.keep < text.len() {
            OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|file| file.set_len(fix.keep as u64))
                .map_err(error)?;
        }
        let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(error)?;
        if fix.add_newline {
            file.write_all(b"\n").map_err(error)?;
        }
        let recorded = text[..fix.keep].split(|&b| b == b'\n').filter_map(parse_line).collect();
        Ok(Self {
            path: path.to_owned(),
            file,
            recorded,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The status recorded for `image_id`, if the file has its line.
    pub fn recorded(&self, image_id: &str) -> Option<&str> {
        self.recorded.get(image_id).map(String::as_str)
    }

    /// Every recorded image id with its status.
    pub fn statuses(&self) -> HashMap<String, String> {
        self.recorded.clone()
    }

    /// Appends `line` (an object with `image_id` and `status`) unless its image is recorded already.
    /// Returns whether it was written.
    pub fn append(&mut self, line: &Value) -> Result<bool, ResultsError> {
        let Some(id) = line["image_id"].as_str() else {
            return Ok(false);
        };
        if self.recorded.contains_key(id) {
            return Ok(false);
        }
        let mut text = line.to_string();
        text.push('\n');
        // One write per line: a crash leaves at most the last line torn, never two interleaved.
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|source| ResultsError {
                path: self.path.clone(),
                source,
            })?;
        let status = line["status"].as_str().unwrap_or_default().to_owned();
        self.recorded.insert(id.to_owned(), status);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const A: &str = r#"{"file":"a.png","image_id":"11111111-1111-4111-8111-111111111111","status":"completed"}"#;
    const B: &str = r#"{"file":"b.png","image_id":"22222222-2222-4222-8222-222222222222","status":"failed"}"#;

    fn temp_file(content: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("imgpipe-results-{}.jsonl", uuid::Uuid::new_v4()));
        fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn a_torn_last_line_is_cut_and_a_whole_one_gets_its_newline() {
        let whole = format!("{A}\n{B}\n");
        assert_eq!(
            repair(whole.as_bytes()),
            Repair {
                keep: whole.len(),
                add_newline: false
            }
        );
        let torn = format!("{A}\n{}", &B[..30]);
        assert_eq!(
            repair(torn.as_bytes()),
            Repair {
                keep: A.len() + 1,
                add_newline: false
            }
        );
        let unterminated = format!("{A}\n{B}");
        assert_eq!(
            repair(unterminated.as_bytes()),
            Repair {
                keep: unterminated.len(),
                add_newline: true
            }
        );
        assert_eq!(
            repair(b""),
            Repair {
                keep: 0,
                add_newline: false
            }
        );
        assert_eq!(
            repair(&A.as_bytes()[..10]),
            Repair {
                keep: 0,
                add_newline: false
            }
        );
    }

    #[test]
    fn opening_repairs_the_file_and_appends_skip_recorded_images() {
        let path = temp_file(&format!("{A}\n{}", &B[..40]));
        let mut results = Results::open(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{A}\n"),
            "the torn line is gone"
        );
        assert_eq!(
            results.recorded("11111111-1111-4111-8111-111111111111"),
            Some("completed")
        );
        assert_eq!(results.recorded("22222222-2222-4222-8222-222222222222"), None);

        let b: Value = serde_json::from_str(B).unwrap();
        assert!(results.append(&b).unwrap());
        assert!(!results.append(&b).unwrap(), "never twice");
        let a: Value = serde_json::from_str(A).unwrap();
        assert!(!results.append(&a).unwrap(), "recorded by the earlier run");
        assert!(!results.append(&json!({"no": "id"})).unwrap());
        drop(results);
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{A}\n{B}\n"));

        // A whole last line without its newline is kept and terminated.
        fs::write(&path, format!("{A}\n{B}")).unwrap();
        let results = Results::open(&path).unwrap();
        assert_eq!(results.recorded("22222222-2222-4222-8222-222222222222"), Some("failed"));
        drop(results);
        assert_eq!(fs::read_to_string(&path).unwrap(), format!("{A}\n{B}\n"));
        let _ = fs::remove_file(&path);
    }

    #[test]
    fn a_missing_file_is_created() {
        let path = std::env::temp_dir().join(format!("imgpipe-results-{}.jsonl", uuid::Uuid::new_v4()));
        let results = Results::open(&path).unwrap();
        assert!(path.exists());
        assert_eq!(results.path(), path.as_path());
        let _ = fs::remove_file(&path);
    }
}

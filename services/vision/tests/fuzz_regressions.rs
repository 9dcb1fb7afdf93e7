//! Replays every input the fuzz targets (tools/fuzz) once crashed on, through the same property checks
//! (`imgpipe_vision::fuzzing`), so a fixed crash stays fixed without the nightly toolchain:
//! `tests/fuzz/preprocess/*` as uploads, `tests/fuzz/events/*` as SQS message bodies, `tests/fuzz/jpeg_dc/*`
//! through the AC-scan removal.

use std::path::PathBuf;

use imgpipe_vision::fuzzing;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

/// Runs `check` on each kept input, naming the input that fails it.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let kept = inputs(target);
    for (name, bytes) in &kept {
        if std::panic::catch_unwind(|| check(bytes)).is_err() {
            panic!("{target}/{name} fails its fuzz property again");
        }
    }
    kept.len()
}

#[test]
fn preprocess_crashes_stay_fixed() {
    assert!(
        replay("preprocess", fuzzing::preprocess_any_upload) >= 3,
        "the kept crashes are here"
    );
}

#[test]
fn event_parsing_crashes_stay_fixed() {
    replay("events", fuzzing::parse_any_message);
}

#[test]
fn jpeg_dc_findings_stay_fixed() {
    assert!(
        replay("jpeg_dc", fuzzing::drop_ac_scans_of_any_jpeg) >= 1,
        "the kept findings are here"
    );
}

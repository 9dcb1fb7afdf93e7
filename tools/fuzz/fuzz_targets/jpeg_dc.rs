//! `jpeg::dc_scans_only` on any bytes, checked against the original's 1/8-scale decode
//! (`imgpipe_core::fuzzing::drop_ac_scans_of_any_jpeg`).
//! The property lives in the core so that `services/vision/tests/fuzz_regressions.rs` replays findings
//! through the same check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imgpipe_core::fuzzing::drop_ac_scans_of_any_jpeg(data));

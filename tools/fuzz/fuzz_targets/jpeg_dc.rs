//! `jpeg::dc_scans_only` on any bytes, checked against the original's 1/8-scale decode
//! (`fuzzing::drop_ac_scans_of_any_jpeg` of `imgpipe-vision`, services/vision/src/fuzzing.rs).
//! The property lives there, behind the crate's `fuzzing` feature, so that
//! `services/vision/tests/fuzz_regressions.rs` replays findings through the same check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imgpipe_vision::fuzzing::drop_ac_scans_of_any_jpeg(data));

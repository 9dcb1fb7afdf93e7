//! Any bytes through the preprocess stage's whole decode path (`imgpipe_core::fuzzing::preprocess_any_upload`).
//! The property lives in the core so that `services/vision/tests/fuzz_regressions.rs` replays findings
//! through the same check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imgpipe_core::fuzzing::preprocess_any_upload(data));

//! Any text as an SQS message body through both stages' parsers (`fuzzing::parse_any_message` of
//! `imgpipe-vision`, services/vision/src/fuzzing.rs). The property lives there, behind the crate's
//! `fuzzing` feature, so that `services/vision/tests/fuzz_regressions.rs` replays findings through the
//! same check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imgpipe_vision::fuzzing::parse_any_message(data));

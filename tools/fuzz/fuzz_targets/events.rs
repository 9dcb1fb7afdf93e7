//! Any text as an SQS message body through both stages' parsers (`imgpipe_core::fuzzing::parse_any_message`).
//! The property lives in the core so that `services/vision/tests/fuzz_regressions.rs` replays findings
//! through the same check.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| imgpipe_core::fuzzing::parse_any_message(data));

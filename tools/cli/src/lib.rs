//! The `imgpipe` command-line client: everything but argument parsing, so it can be tested.
//!
//! It talks to the API exactly as documented in `services/api/openapi.json`: `POST /images` for an
//! upload URL, a PUT of the file to that URL, `GET /images/{id}` until the image is done.
//!
//! # Layout
//!
//! - `api`: the HTTP client of the API (retries, error shape, presigned uploads, polling).
//! - `auth`: credentials on each request: none, a bearer token, or SigV4 for IAM authorization.
//! - `commands/`: one file per larger command: `submit` (trees, concurrency, resume, `--out`),
//!   `models` (`GET /models` as a table), `smoke` (a deployment's end-to-end check and its verdict
//!   logic); `status`, `list` and `delete` in `commands/mod.rs`.
//! - `walk`: the files a submit names, directories walked in a stable order with stable names.
//! - `key`: idempotency keys derived from a file's bytes and request, what makes a rerun resume.
//! - `results`: the `--out` JSON-lines file: append-only, repaired after a crash.
//! - `progress`: the bar on a terminal, plain lines elsewhere.
//! - `files`: the content type of a file from its bytes or extension.

pub mod api;
pub mod auth;
pub mod commands;
pub mod files;
pub mod key;
pub mod progress;
pub mod results;
pub mod walk;

pub use api::{ApiClient, ApiError};
pub use auth::Auth;

/// Exit codes scripts can rely on.
pub mod exit {
    /// Everything asked for succeeded (with `--wait`: every image completed; `smoke`: PASS).
    pub const OK: u8 = 0;
    /// The requests were accepted but at least one image ended `failed` (`smoke`: FAIL).
    pub const IMAGE_FAILED: u8 = 1;
    /// Bad command line or configuration (no API URL, unreadable file, ...).
    pub const USAGE: u8 = 2;
    /// The API refused a request (4xx: not found, invalid, unauthorised).
    pub const REFUSED: u8 = 3;
    /// The API could not be reached, answered 5xx, or `--wait` timed out: worth retrying.
    pub const UNAVAILABLE: u8 = 4;
    /// Stopped by Ctrl-C (128 + SIGINT, as shells report it); rerunning the same command resumes.
    pub const INTERRUPTED: u8 = 130;
}

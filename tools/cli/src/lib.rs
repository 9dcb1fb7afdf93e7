//! The `imgpipe` command-line client: everything but argument parsing, so it can be tested.
//!
//! It talks to the API exactly as documented in `services/api/openapi.json`: `POST /images` for an
//! upload URL, a PUT of the file to that URL, `GET /images/{id}` until the image is done.

pub mod api;
pub mod auth;
pub mod commands;
pub mod files;

pub use api::{ApiClient, ApiError};
pub use auth::Auth;

/// Exit codes scripts can rely on.
pub mod exit {
    /// Everything asked for succeeded (with `--wait`: every image completed).
    pub const OK: u8 = 0;
    /// The requests were accepted but at least one image ended `failed`.
    pub const IMAGE_FAILED: u8 = 1;
    /// Bad command line or configuration (no API URL, unreadable file, ...).
    pub const USAGE: u8 = 2;
    /// The API refused a request (4xx: not found, invalid, unauthorised).
    pub const REFUSED: u8 = 3;
    /// The API could not be reached, answered 5xx, or `--wait` timed out: worth retrying.
    pub const UNAVAILABLE: u8 = 4;
}

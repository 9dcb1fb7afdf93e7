"""Facts of the Cargo workspace that every Rust target repeats ([workspace.package] of Cargo.toml).

tools/checks/bazel/bazel_consistency.py fails when these differ from Cargo.toml.
"""

CARGO_EDITION = "2021"
CARGO_VERSION = "0.1.0"

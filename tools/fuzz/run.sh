#!/usr/bin/env bash
# make fuzz: each target for FUZZ_SECONDS (default 120) with libFuzzer (cargo-fuzz, nightly toolchain),
# starting from the kept corpus (tools/fuzz/corpus/<target>, grown by each run; commit what a run adds)
# and the seeds (tools/fuzz/seeds and services/vision/tests/corpus). Not part of make test: it needs the
# nightly toolchain and minutes of CPU. A crash leaves its input in tools/fuzz/artifacts/<target>/ and
# fails the run; copy it to services/vision/tests/fuzz/<target>/ once fixed, where `cargo test` replays it
# (services/vision/tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(cd ../.. && pwd)
SECONDS_PER_TARGET=${FUZZ_SECONDS:-120}
CARGO_FUZZ_VERSION=0.13.1
TOOLS=$ROOT/.cache/cargo-fuzz

log() { printf '[fuzz] %s\n' "$*" >&2; }

rustup toolchain list | grep -q '^nightly' || {
    log "needs the nightly toolchain (rustup toolchain install nightly): libFuzzer's instrumentation flags are nightly-only"
    exit 2
}
if [[ ! -x $TOOLS/bin/cargo-fuzz ]] || [[ $("$TOOLS/bin/cargo-fuzz" --version) != *"$CARGO_FUZZ_VERSION"* ]]; then
    log "installing cargo-fuzz $CARGO_FUZZ_VERSION into .cache/cargo-fuzz"
    cargo install --quiet --locked --root "$TOOLS" cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi
export PATH=$TOOLS/bin:$PATH

mkdir -p corpus/preprocess corpus/events corpus/jpeg_dc
status=0
run() { # run TARGET MAX_LEN SEED_DIR...
    local target=$1 max_len=$2
    shift 2
    log "$target: ${SECONDS_PER_TARGET} s"
    # The corpus directory comes first: libFuzzer adds what it finds there; the seeds are read only.
    if ! cargo +nightly fuzz run --fuzz-dir "$PWD" --release "$target" "corpus/$target" "$@" -- \
        -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -timeout=10 -max_len="$max_len" \
        -print_final_stats=1; then
        log "$target: FAILED; the input is in tools/fuzz/artifacts/$target/"
        status=1
    fi
}
# Inputs up to 16 KB: the decoders' structure is all reachable in small files (the vision crate's test
# corpus of 96x64 images in every format is the seed), and the kept corpus stays small enough to commit.
run preprocess 16384 "$ROOT/services/vision/tests/corpus" "$ROOT/services/vision/tests/fuzz/preprocess"
run events 4096 seeds/events "$ROOT/services/vision/tests/fuzz/events"
# Progressive JPEGs (the marker surgery only acts on them) and the rest of the vision crate's corpus.
run jpeg_dc 16384 "$ROOT/services/vision/tests/corpus/progressive" "$ROOT/services/vision/tests/corpus"
exit $status

#!/usr/bin/env bash
# Builds the three Lambda function zips with cargo-lambda: the runnable twin of the Bazel targets
# //services/{api,preprocess,inference}:lambda_zip (see tools/lambda/README.md and the root BUILD.bazel).
#
#   build/lambda/x86_64/<function>/bootstrap.zip    always (api, preprocess, inference)
#   build/lambda/arm64/<function>/bootstrap.zip     when ARCH includes arm64 (FUNCTIONS_ARM64, default api preprocess)
#
# Each zip holds one entry, `bootstrap` (mode 0755), an ELF built for glibc 2.34 (Amazon Linux 2023,
# provided.al2023) by linking with zig cc through cargo-lambda. cargo-lambda and ziglang come from PyPI,
# hash-pinned in tools/lambda/requirements.txt, into .venv/lambda.
#
# The binaries use the workspace's own [profile.release] (opt-level 3, stripped): cargo-lambda's extra
# release settings (thin LTO, codegen-units=1, panic=abort) are switched off with --disable-optimizations,
# so these are the same binaries `cargo build --release` and `bazel build -c opt` make, and a handler
# panic still unwinds into lambda_runtime's error response instead of aborting the process.
#
# Environment:
#   ARCH               "x86_64" (default), "arm64", or "x86_64 arm64"
#   FUNCTIONS          functions built for x86_64 (default: api preprocess inference)
#   FUNCTIONS_ARM64    functions built for arm64  (default: api preprocess)
#   CARGO_TARGET_DIR   cargo's target dir (default: target/lambda, apart from the host build in target/)
#   JOBS               cargo --jobs (default: cargo's own, the number of cores)
#   PYTHON             the Python that makes .venv/lambda (default python3)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
ARCH=${ARCH:-x86_64}
FUNCTIONS=${FUNCTIONS:-api preprocess inference}
FUNCTIONS_ARM64=${FUNCTIONS_ARM64:-api preprocess}
GLIBC=2.34
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/lambda}

log() { printf '[lambdas] %s\n' "$*" >&2; }

# .venv/lambda from the hash-pinned requirements, rebuilt only when they change.
venv=$ROOT/.venv/lambda
req=tools/lambda/requirements.txt
want=$(sha256sum "$req" | cut -d' ' -f1)
if [[ ! -f $venv/.stamp || $(cat "$venv/.stamp") != "$want" ]]; then
    log "creating .venv/lambda from $req"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: --require-hashes -r "$req"
    echo "$want" >"$venv/.stamp"
fi
# cargo-zigbuild (inside cargo-lambda) finds zig as `python3 -m ziglang` of the venv's python.
export PATH=$venv/bin:$PATH

build() { # build ARCH RUST_TRIPLE FUNCTION...
    local arch=$1 triple=$2
    shift 2
    if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
        log "adding the Rust standard library for $triple (rustup target add)"
        rustup target add "$triple" || {
            log "cannot add $triple here; install it with 'rustup target add $triple' or drop it from ARCH"
            return 1
        }
    fi
    local bins=() f
    for f in "$@"; do bins+=(--bin "$f"); done
    log "building $* for $triple (glibc $GLIBC) into build/lambda/$arch (target dir $CARGO_TARGET_DIR)"
    local start=$SECONDS
    cargo lambda build --release --disable-optimizations --locked \
        --target "$triple.$GLIBC" --output-format zip --lambda-dir "build/lambda/$arch" \
        ${JOBS:+--jobs "$JOBS"} "${bins[@]}"
    log "built $arch in $((SECONDS - start)) s:"
    for f in "$@"; do
        [[ -f build/lambda/$arch/$f/bootstrap.zip ]] || { log "missing build/lambda/$arch/$f/bootstrap.zip"; return 1; }
        log "  build/lambda/$arch/$f/bootstrap.zip $(stat -c %s "build/lambda/$arch/$f/bootstrap.zip") bytes"
    done
}

read -r -a functions <<<"$FUNCTIONS"
read -r -a functions_arm64 <<<"$FUNCTIONS_ARM64"
for arch in $ARCH; do
    case $arch in
        x86_64) build x86_64 x86_64-unknown-linux-gnu "${functions[@]}" ;;
        arm64) build arm64 aarch64-unknown-linux-gnu "${functions_arm64[@]}" ;;
        *) log "unknown ARCH entry '$arch' (x86_64, arm64)"; exit 2 ;;
    esac
done

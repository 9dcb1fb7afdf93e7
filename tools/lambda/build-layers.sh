#!/usr/bin/env bash
# Builds the Lambda layers from what tools/setup.sh fetched and built (running it first when absent):
#   build/layers/onnxruntime-x86_64.zip   lib/libonnxruntime.so.1            (twin of //third_party/onnxruntime:layer)
#   build/layers/onnxruntime-arm64.zip    the same for arm64, when ARCH includes arm64 (//third_party/onnxruntime:layer_arm64)
#   build/layers/model-fp32.zip           model/{labels.txt,model.json,model.onnx}  (twin of //tools/model:layer)
#   build/layers/model-int8.zip           the same for the int8 variant (build/model-int8), when built
# Deterministic zips (sorted entries, fixed times and modes) and checked: ONNX Runtime's NEEDED libraries
# and GLIBC/GLIBCXX versions fit Amazon Linux 2023, model.json matches model.onnx, sizes fit Lambda.
#
# Environment: ARCH "x86_64" (default), "arm64" or "x86_64 arm64"; PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON=${PYTHON:-python3}
ARCH=${ARCH:-x86_64}

needed=(build/model/model.onnx build/model/labels.txt build/model/model.json)
for arch in $ARCH; do
    case $arch in
        x86_64) needed+=(build/onnxruntime/x64/libonnxruntime.so.1) ;;
        arm64) needed+=(build/onnxruntime/arm64/libonnxruntime.so.1) ;;
        *) echo "[layers] unknown ARCH entry '$arch' (x86_64, arm64)" >&2; exit 2 ;;
    esac
done
for f in "${needed[@]}"; do
    if [[ ! -f $f ]]; then
        echo "[layers] $f is missing: running tools/setup.sh" >&2
        bash tools/setup.sh
        break
    fi
done

args=()
for arch in $ARCH; do args+=(--arch "$arch"); done
exec "$PYTHON" tools/lambda/make_layers.py "${args[@]}"

#!/usr/bin/env bash
# `make test-arm64`: the arm64 inference path (the Rust preprocessing and model code, and the arm64 ONNX
# Runtime 1.30 library the arm64 layer ships) run under qemu-aarch64 with /sys/devices/system/cpu hidden,
# as on Lambda, where ONNX Runtime cannot read the CPU topology. Its top-5 for the demo photos must equal
# x86_64's, for every shipped model and variant, with an explicit thread count (as Terraform passes
# IMGPIPE_ORT_THREADS).
#
# Installs what it needs when it can (root, apt): qemu-user, the arm64 C runtime and cross linker, and
# Rust's aarch64 standard library. Emulated speed says nothing about Graviton's: nothing here is timed.
set -euo pipefail
cd "$(dirname "$0")/../../.."

TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu
THREADS=${ARM64_THREADS:-2}
MODELS=${ARM64_MODELS:-$(ls -d build/models/*/ 2>/dev/null | sed 's:/$::' | tr '\n' ' ')}
PHOTOS=(third_party/demo-images/*.png third_party/demo-images/*.jpg)
out=${TMPDIR:-/tmp}/imgpipe-arm64.$$
mkdir -p "$out"
trap 'rm -rf "$out"' EXIT

say() { echo "[test-arm64] $*"; }

need=()
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
[[ -e $SYSROOT/lib/ld-linux-aarch64.so.1 ]] || need+=(libc6-dev-arm64-cross)
ls $SYSROOT/lib/libstdc++.so.6 >/dev/null 2>&1 || need+=(libstdc++6-arm64-cross)
if ((${#need[@]})); then
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
        echo "test-arm64: missing ${need[*]} (Debian packages); install them, or run as root with apt-get" >&2
        exit 1
    fi
    say "installing ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    say "adding Rust's $TARGET standard library"
    rustup target add "$TARGET"
fi
[[ -n $MODELS ]] || { echo "test-arm64: no models under build/models: run make setup" >&2; exit 1; }
for lib in build/onnxruntime/x64/libonnxruntime.so.1 build/onnxruntime/arm64/libonnxruntime.so.1; do
    [[ -f $lib ]] || { echo "test-arm64: $lib is missing: run make setup" >&2; exit 1; }
done

say "building imgpipe-eval for x86_64 and $TARGET"
cargo build --release --locked -q -p imgpipe-eval
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc \
    cargo build --release --locked -q -p imgpipe-eval --target "$TARGET"
arm_binary=target/$TARGET/release/imgpipe-eval
file_kind=$(od -An -tx1 -j18 -N2 "$arm_binary" | tr -d ' ')
[[ $file_kind == b700 ]] || { echo "test-arm64: $arm_binary is not an aarch64 ELF (e_machine $file_kind)" >&2; exit 1; }

args=()
for model in $MODELS; do args+=(--model-dir "$model"); done
args+=(--threads "$THREADS" --images "${PHOTOS[@]}")

say "x86_64: $(echo $MODELS | wc -w) models x ${#PHOTOS[@]} photos"
target/release/imgpipe-eval --ort-library build/onnxruntime/x64/libonnxruntime.so.1 "${args[@]}" >"$out/x86_64.jsonl"

say "arm64 under qemu-aarch64, /sys/devices/system/cpu hidden (a private mount namespace, an empty tmpfs)"
# The namespace's first command proves the directory is hidden; the second is the arm64 run.
unshare -m sh -c '
    mount -t tmpfs -o ro,size=4k imgpipe-no-cpu /sys/devices/system/cpu || exit 90
    [ -z "$(ls -A /sys/devices/system/cpu)" ] || exit 91
    echo "cpu topology entries visible: $(ls -A /sys/devices/system/cpu | wc -l)" >&2
    exec "$@"' sh \
    qemu-aarch64 -L "$SYSROOT" "$arm_binary" --ort-library build/onnxruntime/arm64/libonnxruntime.so.1 "${args[@]}" \
    >"$out/arm64.jsonl" 2>"$out/arm64.stderr" || {
    rc=$?
    cat "$out/arm64.stderr" >&2
    case $rc in
        90) echo "test-arm64: cannot mount over /sys/devices/system/cpu (needs CAP_SYS_ADMIN for unshare -m)" >&2 ;;
        91) echo "test-arm64: /sys/devices/system/cpu is still visible in the namespace" >&2 ;;
    esac
    exit 1
}
grep -q "cpu topology entries visible: 0" "$out/arm64.stderr"
# The evidence that ONNX Runtime ran blind to the CPU topology, as it does on Lambda.
if ! grep -q "Error in cpuinfo" "$out/arm64.stderr"; then
    cat "$out/arm64.stderr" >&2
    echo "test-arm64: ONNX Runtime did not report the missing CPU topology: was /sys/devices/system/cpu hidden?" >&2
    exit 1
fi
say "ONNX Runtime on arm64: $(grep -m1 "Error in cpuinfo" "$out/arm64.stderr")"
python3 tools/checks/arm64/compare.py "$out/x86_64.jsonl" "$out/arm64.jsonl"

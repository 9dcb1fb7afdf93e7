#!/usr/bin/env bash
# The checks of the Bazel build (issue 6), runnable without Bazel; the entry point for `make test`.
#
#   1. buildifier   --mode=check --lint=warn over every BUILD/BUILD.bazel/WORKSPACE/*.bzl (npm
#                   @bazel/buildifier, pinned by sha256; its static binaries, no download beyond npm pack)
#   2. consistency  every Cargo workspace member has a BUILD.bazel matching its Cargo.toml (targets,
#                   internal and external deps), WORKSPACE lists every manifest, archives are pinned;
#                   with mutation tests (a new crate or dependency without its Bazel twin fails)
#   3. zips         build/lambda/<arch>/*/bootstrap.zip: an executable `bootstrap`, ELF of <arch>,
#                   GLIBC <= 2.34, libraries Amazon Linux 2023 has; build/layers/*.zip layouts
#
# What step 3 does when the x86_64 function zips are missing is explicit, LAMBDA_ZIPS (or --lambda-zips=):
#   build    (default) build them first with tools/lambda/build-lambdas.sh (cargo-lambda, ~15-25 min
#            on 2 cores from cold), then check
#   require  fail: the caller (e.g. `make test` after `make lambdas`) promised they are there
#   skip     check the zips that exist and report the rest as skipped (a quick lint-only run)
#
# Prints one line per result and ends with "bazel checks: N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/../../.." || exit 2
ROOT=$PWD
PYTHON=${PYTHON:-python3}
LAMBDA_ZIPS=${LAMBDA_ZIPS:-build}
BUILDIFIER_VERSION=8.2.1
# sha256 of `npm pack @bazel/buildifier@8.2.1` (bazel-buildifier-8.2.1.tgz)
BUILDIFIER_TGZ_SHA256=b96ea9b13003036c801f52bee6f9b0314738f8432e5cb9d814c89f59292604ee

for arg in "$@"; do
    case $arg in
        --lambda-zips=*) LAMBDA_ZIPS=${arg#*=} ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done
case $LAMBDA_ZIPS in build | require | skip) ;; *) echo "LAMBDA_ZIPS must be build, require or skip" >&2; exit 2 ;; esac

passed=0 failed=0 skipped=0
result() { # result ok|fail|skip NAME
    case $1 in
        ok) passed=$((passed + 1)); echo "PASS $2" ;;
        fail) failed=$((failed + 1)); echo "FAIL $2" ;;
        skip) skipped=$((skipped + 1)); echo "SKIP $2" ;;
    esac
}

# --- 1. buildifier -----------------------------------------------------------------------------------
buildifier_bin() {
    if [[ -n ${BUILDIFIER:-} ]]; then echo "$BUILDIFIER"; return; fi
    local os arch dir=$ROOT/.cache/buildifier/$BUILDIFIER_VERSION
    case $(uname -s) in Linux) os=linux ;; Darwin) os=darwin ;; *) echo "unsupported OS" >&2; return 1 ;; esac
    case $(uname -m) in x86_64 | amd64) arch=amd64 ;; aarch64 | arm64) arch=arm64 ;; *) echo "unsupported CPU" >&2; return 1 ;; esac
    local bin=$dir/buildifier-${os}_$arch
    if [[ ! -x $bin ]]; then
        mkdir -p "$dir"
        (cd "$dir" && npm pack --silent @bazel/buildifier@$BUILDIFIER_VERSION >/dev/null) || return 1
        echo "$BUILDIFIER_TGZ_SHA256  bazel-buildifier-$BUILDIFIER_VERSION.tgz" | (cd "$dir" && sha256sum -c --quiet -) || {
            echo "bazel-buildifier-$BUILDIFIER_VERSION.tgz: sha256 mismatch" >&2
            rm -f "$dir/bazel-buildifier-$BUILDIFIER_VERSION.tgz"
            return 1
        }
        tar -xzf "$dir/bazel-buildifier-$BUILDIFIER_VERSION.tgz" -C "$dir" --strip-components=1 "package/buildifier-${os}_$arch"
        chmod +x "$bin"
        rm -f "$dir/bazel-buildifier-$BUILDIFIER_VERSION.tgz"
    fi
    echo "$bin"
}

if bin=$(buildifier_bin); then
    mapfile -t starlark < <(find . \( -name .git -o -name target -o -name build -o -name .cache -o -name .venv \
        -o -name node_modules -o -name 'bazel-*' \) -prune -o -type f \( -name BUILD -o -name BUILD.bazel \
        -o -name WORKSPACE -o -name WORKSPACE.bazel -o -name MODULE.bazel -o -name '*.bzl' \) -print | sort)
    if out=$("$bin" --mode=check --lint=warn "${starlark[@]}" 2>&1); then
        result ok "buildifier $BUILDIFIER_VERSION --mode=check --lint=warn (${#starlark[@]} files)"
    else
        echo "$out"
        echo "  fix: $bin --lint=fix ${starlark[*]}"
        result fail "buildifier $BUILDIFIER_VERSION --mode=check --lint=warn"
    fi
else
    result fail "buildifier: could not obtain @bazel/buildifier@$BUILDIFIER_VERSION with npm pack"
fi

# --- 2. consistency ----------------------------------------------------------------------------------
if out=$("$PYTHON" tools/checks/bazel/bazel_consistency.py "$ROOT" 2>&1); then
    result ok "BUILD.bazel files match the Cargo workspace: $(tail -n 1 <<<"$out")"
else
    echo "$out"
    result fail "BUILD.bazel files match the Cargo workspace"
fi
if out=$("$PYTHON" -m unittest tools/checks/bazel/test_bazel_consistency.py 2>&1); then
    result ok "consistency check tests ($(grep -o 'Ran [0-9]* tests' <<<"$out"), mutations included)"
else
    echo "$out"
    result fail "consistency check tests"
fi
if grep -q 'lockfile = "//:cargo-bazel-lock.json"' WORKSPACE && [[ -f cargo-bazel-lock.json ]]; then
    echo "note: crate_universe lock file cargo-bazel-lock.json is committed"
else
    echo "note: no crate_universe lock file yet (needs Bazel: CARGO_BAZEL_REPIN=1 bazel sync --only=crates; see WORKSPACE)"
fi
if "$PYTHON" - <<'EOF'
import sys
sys.path.insert(0, "tools/checks/bazel")
import bazel_consistency as bc
errors, notes = bc.check_pins(".", "tools/checks/bazel/workspace_pins.json")
for n in notes:
    print("note: " + n)
for e in errors:
    print(e)
sys.exit(1 if errors else 0)
EOF
then
    result ok "WORKSPACE archives pinned by sha256 (sources in workspace_pins.json)"
else
    result fail "WORKSPACE archive pins"
fi

# --- 3. zips -----------------------------------------------------------------------------------------
if out=$("$PYTHON" -m unittest tools/checks/bazel/test_check_lambda_zips.py 2>&1); then
    result ok "zip check tests ($(grep -o 'Ran [0-9]* tests' <<<"$out"): newer GLIBC, mode, layout, arch fail)"
else
    echo "$out"
    result fail "zip check tests"
fi

missing=()
for fn in api preprocess inference; do
    [[ -f build/lambda/x86_64/$fn/bootstrap.zip ]] || missing+=("$fn")
done
zip_args=(--layers)
if ((${#missing[@]})); then
    case $LAMBDA_ZIPS in
        build)
            echo "note: build/lambda/x86_64/{${missing[*]}}/bootstrap.zip missing: building them (LAMBDA_ZIPS=build)"
            if bash tools/lambda/build-lambdas.sh; then zip_args+=(--require x86_64); else result fail "tools/lambda/build-lambdas.sh"; fi
            ;;
        require) zip_args+=(--require x86_64) ;;
        skip) result skip "function zips ${missing[*]} (missing; LAMBDA_ZIPS=skip)" ;;
    esac
else
    zip_args+=(--require x86_64)
fi
if out=$("$PYTHON" tools/checks/bazel/check_lambda_zips.py "${zip_args[@]}" 2>&1); then
    echo "$out" | grep -v '^lambda zips:'
    result ok "artifact zips: function zips (executable bootstrap, GLIBC <= 2.34, AL2023 libraries) and layer layouts"
else
    echo "$out" | grep -v '^lambda zips:'
    if grep -q '^lambda zips: 0 passed, 0 failed' <<<"$out"; then
        result skip "artifact zips (none found)"
    else
        result fail "artifact zips"
    fi
fi

echo "bazel checks: $passed passed, $failed failed, $skipped skipped"
((failed == 0))

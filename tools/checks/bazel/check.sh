#!/usr/bin/env bash
# The checks of the Bazel build, runnable without Bazel; the entry point for `make test-bazel`.
#
#   1. buildifier   --mode=check --lint=warn over every BUILD/BUILD.bazel/MODULE.bazel/WORKSPACE/*.bzl
#                   (npm @bazel/buildifier, pinned by sha256; its static binaries, nothing else downloaded)
#   2. consistency  every Cargo workspace member has a BUILD.bazel matching its Cargo.toml (targets,
#                   internal and external deps, features; function crates through imgpipe_lambda),
#                   MODULE.bazel and WORKSPACE list every manifest, //:artifacts every function, pins are
#                   recorded; with mutation tests; the tools/bazel binary check's tests
#   3. packaging    tools/lambda/package.py and the model layers on fake inputs (test_package.py)
#   4. artifacts    build/artifacts: manifest.json lists exactly the tree with the right hashes; function
#                   zips hold an executable `bootstrap`, ELF of <arch>, GLIBC <= 2.34, libraries Amazon
#                   Linux 2023 has; the layer layouts
#
# What step 4 does when build/artifacts lacks the x86_64 functions is explicit, LAMBDA_ZIPS (or --lambda-zips=):
#   build    (default) make them first: build-lambdas.sh (cargo-lambda, ~15-25 min on 2 cores from cold),
#            build-layers.sh and package.py --from-build, then check
#   require  fail: the caller (`make test-bazel`, after `make package`) promised they are there
#   skip     check what exists and report the rest as skipped (a quick lint-only run)
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
if out=$("$PYTHON" -m unittest tools/checks/bazel/test_bazel_wrapper.py 2>&1); then
    result ok "tools/bazel binary check tests ($(grep -o 'Ran [0-9]* tests' <<<"$out"))"
else
    echo "$out"
    result fail "tools/bazel binary check tests"
fi
if [[ -f MODULE.bazel.lock ]]; then
    echo "note: MODULE.bazel.lock is committed (the Bzlmod resolution and crate_universe's result are pinned)"
else
    echo "note: no MODULE.bazel.lock yet (needs Bazel: the first bazel build writes it; commit it)"
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
    result ok "pins: WORKSPACE archives by sha256, MODULE.bazel versions, .bazelversion binaries (sources in workspace_pins.json)"
else
    result fail "pins"
fi

# --- 3. packaging ------------------------------------------------------------------------------------
if out=$("$PYTHON" -m unittest tools/lambda/test_package.py 2>&1); then
    result ok "package.py and model layer tests ($(grep -o 'Ran [0-9]* tests' <<<"$out"): manifest, hashes, model entries, missing inputs)"
else
    echo "$out"
    result fail "package.py and model layer tests"
fi

# --- 4. artifacts ------------------------------------------------------------------------------------
if out=$("$PYTHON" -m unittest tools/checks/bazel/test_check_lambda_zips.py 2>&1); then
    result ok "artifact check tests ($(grep -o 'Ran [0-9]* tests' <<<"$out"): newer GLIBC, mode, layout, arch, manifest fail)"
else
    echo "$out"
    result fail "artifact check tests"
fi

missing=()
for fn in $("$PYTHON" tools/lambda/functions.py); do
    [[ -f build/artifacts/lambda/$fn-x86_64.zip ]] || missing+=("$fn")
done
zip_args=()
if ((${#missing[@]})); then
    case $LAMBDA_ZIPS in
        build)
            echo "note: build/artifacts/lambda/{${missing[*]}}-x86_64.zip missing: building them (LAMBDA_ZIPS=build)"
            if bash tools/lambda/build-lambdas.sh && bash tools/lambda/build-layers.sh &&
                "$PYTHON" tools/lambda/package.py --from-build; then
                zip_args+=(--require x86_64)
            else
                result fail "make package (build-lambdas.sh, build-layers.sh, package.py)"
            fi
            ;;
        require) zip_args+=(--require x86_64) ;;
        skip) result skip "function zips ${missing[*]} (not in build/artifacts; LAMBDA_ZIPS=skip)" ;;
    esac
else
    zip_args+=(--require x86_64)
fi
if out=$("$PYTHON" tools/checks/bazel/check_lambda_zips.py "${zip_args[@]}" 2>&1); then
    echo "$out" | grep -v '^lambda zips:'
    result ok "build/artifacts: manifest, function zips (executable bootstrap, GLIBC <= 2.34, AL2023 libraries), layer layouts"
else
    echo "$out" | grep -v '^lambda zips:'
    if grep -q '^lambda zips: 0 passed, 0 failed' <<<"$out"; then
        result skip "build/artifacts (none found)"
    else
        result fail "build/artifacts"
    fi
fi

echo "bazel checks: $passed passed, $failed failed, $skipped skipped"
((failed == 0))

#!/usr/bin/env bash
# Everything that can check the Terraform on a machine without terraform and without AWS (`make tf-check`):
#   1. the venvs (tools/checks/setup-venvs.sh: .venv/hcl, .venv/checkov, hash-pinned, idempotent)
#   2. every .tf under terraform/ parses: python-hcl2, and HashiCorp's own HCL parser, whose formatter
#      (hclwrite, the core of `terraform fmt`) must also leave each file unchanged (tools/checks/hcl_native.js)
#   3. tf_refs.py: references, module arguments, declarations (what `terraform validate` checks without a provider)
#   4. tf_docs.py --check: the README input/output tables match the variables and outputs
#   5. pytest tools/checks/test_terraform.py: the HCL against the code (env vars, IAM, defaults, prefixes)
#   6. checkov: zero failed checks, every skip inline with its reason
# Runs from any directory; exits non-zero if any step fails, after running them all.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
HCL_PY=$ROOT/.venv/hcl/bin/python
CHECKOV=$ROOT/.venv/checkov/bin/checkov
START=$(date +%s)
declare -a SUMMARY=()
FAILED=0

step() { # step NAME COMMAND...: runs it, records PASS/FAIL and the last line it printed
    local name=$1 out rc
    shift
    out=$(mktemp)
    "$@" >"$out" 2>&1
    rc=$?
    if [[ $rc -ne 0 ]]; then
        FAILED=1
        echo "---- $name failed (exit $rc):"
        cat "$out"
        SUMMARY+=("FAIL  $name: $(grep -v '^\s*$' "$out" | tail -n 1)")
    else
        SUMMARY+=("ok    $name: $(grep -v '^\s*$' "$out" | tail -n 1)")
    fi
    rm -f "$out"
    return $rc
}

if ! step "setup-venvs" bash tools/checks/setup-venvs.sh; then
    printf '%s\n' "${SUMMARY[@]}"
    exit 1
fi

parse_all() {
    "$HCL_PY" - <<'PY'
import pathlib, sys
sys.path.insert(0, "tools/checks")
import tfparse
files = sorted(p for p in pathlib.Path("terraform").rglob("*.tf") if ".terraform" not in p.parts)
bad = 0
for path in files:
    try:
        tfparse.load_file(path)
    except Exception as err:
        bad += 1
        print(f"{path}: {err}")
print(f"{len(files)} files parsed, {bad} failed")
sys.exit(1 if bad or not files else 0)
PY
}

checkov_run() {
    # --skip-download: no call to the vendor's API (this machine has no network, and the built-in checks need
    # none); --framework terraform: HCL only. The JSON report is summarised below.
    local json err rc
    json=$(mktemp)
    err=$(mktemp)
    "$CHECKOV" --directory terraform --framework terraform --skip-download --output json >"$json" 2>"$err"
    rc=$?
    if [[ ! -s $json ]]; then
        echo "checkov produced no report (exit $rc):"
        cat "$err"
        rm -f "$json" "$err"
        return 1
    fi
    "$HCL_PY" - "$json" <<'PY'
import json, sys
data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
passed = sum(r["summary"]["passed"] for r in reports)
failed = sum(r["summary"]["failed"] for r in reports)
skipped = sum(r["summary"]["skipped"] for r in reports)
errors = sum(r["summary"]["parsing_errors"] for r in reports)
for r in reports:
    for c in r["results"]["failed_checks"]:
        print(f"FAILED {c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): {c['check_name']}")
    for c in r["results"]["skipped_checks"]:
        reason = c["check_result"].get("suppress_comment", "")
        if len(reason.strip()) < 20:
            failed += 1
            print(f"SKIP WITHOUT A REAL REASON {c['check_id']} {c['resource']}: {reason!r}")
print(f"checkov: {passed} passed, {failed} failed, {skipped} skipped, {errors} parsing errors")
sys.exit(1 if failed or errors or passed == 0 else 0)
PY
    rc=$?
    rm -f "$json" "$err"
    return $rc
}

step "parse" parse_all
if command -v node >/dev/null && [[ -d $ROOT/.venv/node/node_modules ]]; then
    step "hcl-native" node tools/checks/hcl_native.js terraform
else
    SUMMARY+=("skip  hcl-native: node is not installed (HashiCorp parser and format check not run)")
fi
step "tf_refs" "$HCL_PY" tools/checks/tf_refs.py terraform
step "tf_docs" "$HCL_PY" tools/checks/tf_docs.py --check
step "tf_tests" "$HCL_PY" tools/checks/tf_tests.py terraform
step "pytest" "$HCL_PY" -m pytest -q -p no:cacheprovider tools/checks/test_terraform.py
step "checkov" checkov_run

echo "tf-check summary ($(( $(date +%s) - START )) s):"
printf '  %s\n' "${SUMMARY[@]}"
exit $FAILED

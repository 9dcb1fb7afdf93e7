#!/usr/bin/env bash
# The OpenAPI checks of the HTTP API, end to end, from any directory:
#   1. .venv/schemathesis from tools/checks/requirements-schemathesis.txt (hash-pinned wheels; skipped when
#      its stamp matches the file),
#   2. a local stack (target/release/imgpipe-local up) in a temporary state dir, on a free port,
#   3. pytest tools/checks/api/test_openapi.py (every route and error, responses validated against
#      services/api/openapi.json; bulk ingest and the published events through the stack's moto, events
#      validated against docs/events.schema.json), then tools/checks/api/run-schemathesis.sh,
#   4. the stack stopped by its recorded PIDs, whatever happened.
# Exits nonzero if either step fails. Environment: IMGPIPE_LOCAL (the imgpipe-local binary, default
# target/release/imgpipe-local), API_CHECKS_REPORT_DIR (JUnit XML of both runs and the stack's log go
# there), and the run-schemathesis.sh knobs ST_SEED and ST_MAX_EXAMPLES.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}
BIN=${IMGPIPE_LOCAL:-$ROOT/target/release/imgpipe-local}
VENV=$ROOT/.venv/schemathesis
REQUIREMENTS=tools/checks/requirements-schemathesis.txt

log() { printf '[api-checks] %s\n' "$*" >&2; }

venv() {
    local want
    want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
    if [[ -f $VENV/.stamp && $(cat "$VENV/.stamp") == "$want" && -x $VENV/bin/python ]]; then return; fi
    log "creating .venv/schemathesis from $REQUIREMENTS"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-input \
        --only-binary=:all: --require-hashes -r "$REQUIREMENTS"
    echo "$want" >"$VENV/.stamp"
}

venv
[[ -x $BIN ]] || { log "$BIN is missing: build it first (cargo build --release --locked -p imgpipe-local)"; exit 1; }

STATE=$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-api-checks.XXXXXX")
STACK_PID=
READY=

stop_stack() {
    local pid
    for pid in "$STACK_PID" "$(cat "$STATE/moto.pid" 2>/dev/null || true)"; do
        if [[ -z $pid ]] || ! kill -0 "$pid" 2>/dev/null; then continue; fi
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    wait "$STACK_PID" 2>/dev/null || true
}

cleanup() {
    local status=$?
    stop_stack
    if [[ -z $READY && -f $STATE/stack.log ]]; then
        log "last lines of the stack's log:"
        tail -n 20 "$STATE/stack.log" >&2 || true
    fi
    if [[ -n ${API_CHECKS_REPORT_DIR:-} && -f $STATE/stack.log ]]; then
        mkdir -p "$API_CHECKS_REPORT_DIR"
        cp "$STATE/stack.log" "$API_CHECKS_REPORT_DIR/stack.log" || true
    fi
    rm -rf "$STATE"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting the local stack ($BIN)"
"$BIN" up --root "$ROOT" --state-dir "$STATE" >"$STATE/stack.log" 2>&1 </dev/null &
STACK_PID=$!
for _ in $(seq 1 480); do
    [[ -s $STATE/api-url ]] && break
    kill -0 "$STACK_PID" 2>/dev/null || { log "the local stack exited while starting"; exit 1; }
    sleep 0.25
done
[[ -s $STATE/api-url ]] || { log "the local stack did not start within 120 s"; exit 1; }
API=$(tr -d '[:space:]' <"$STATE/api-url")
READY=1
# The stack's moto server (written before api-url) and its image bucket (named in its log), for the tests
# that write to S3 and put a rule on the event bus themselves.
MOTO=$(tr -d '[:space:]' <"$STATE/moto-endpoint")
BUCKET=$("$VENV/bin/python" -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        fields = json.loads(line).get("fields", {})
    except ValueError:
        continue
    if fields.get("message") == "emulated AWS resources created":
        print(fields["bucket"])
        break
' "$STATE/stack.log")
[[ -n $MOTO && -n $BUCKET ]] || { log "the stack's moto endpoint or bucket is not in $STATE"; exit 1; }
log "local stack at $API (moto $MOTO, bucket $BUCKET)"

pytest_args=(-q -p no:cacheprovider)
if [[ -n ${API_CHECKS_REPORT_DIR:-} ]]; then
    mkdir -p "$API_CHECKS_REPORT_DIR"
    pytest_args+=(--junitxml "$API_CHECKS_REPORT_DIR/test_openapi.xml")
    export ST_REPORT_DIR=$API_CHECKS_REPORT_DIR
fi

failed=()
log "pytest tools/checks/api/test_openapi.py"
IMGPIPE_API=$API IMGPIPE_MOTO=$MOTO IMGPIPE_BUCKET=$BUCKET "$VENV/bin/python" -m pytest "${pytest_args[@]}" tools/checks/api/test_openapi.py || failed+=(pytest)
log "schemathesis"
ST=$VENV/bin/st bash tools/checks/api/run-schemathesis.sh "$API" || failed+=(schemathesis)

if ((${#failed[@]})); then
    log "FAILED: ${failed[*]}"
    exit 1
fi
log "passed: test_openapi.py and schemathesis"

#!/usr/bin/env bash
# Creates the two virtualenvs the Terraform checks use, from hash-pinned wheels, idempotently:
#   .venv/hcl      python-hcl2 + pytest (tools/checks/requirements-hcl.txt)
#   .venv/checkov  checkov              (tools/checks/requirements-checkov.txt; it pins an old boto3 and
#                                        its own HCL parser, so it never shares a venv)
#   .venv/node     HashiCorp's HCL parser and formatter compiled to WebAssembly (tools/checks/package.json,
#                  package-lock.json with sha512 integrity, installed with `npm ci`), when node is installed
# A venv whose requirements file did not change (same sha256 in .venv/NAME/.stamp) is left alone.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PYTHON=${PYTHON:-python3}

log() { printf '[setup-venvs] %s\n' "$*" >&2; }

venv() { # venv NAME REQUIREMENTS
    local dir=$ROOT/.venv/$1 req=$2 want
    want=$(sha256sum "$req" | cut -d' ' -f1)
    if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$want" && -x $dir/bin/python ]]; then return; fi
    log "creating .venv/$1 from $req"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check --no-input \
        --only-binary=:all: --require-hashes -r "$req"
    echo "$want" >"$dir/.stamp"
}

node_env() { # the npm packages of tools/checks/hcl_native.js
    local dir=$ROOT/.venv/node want
    want=$(cat tools/checks/package.json tools/checks/package-lock.json | sha256sum | cut -d' ' -f1)
    if [[ -f $dir/.stamp && $(cat "$dir/.stamp") == "$want" && -d $dir/node_modules ]]; then return; fi
    log "installing .venv/node from tools/checks/package-lock.json"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp tools/checks/package.json tools/checks/package-lock.json "$dir/"
    (cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" >"$dir/.stamp"
}

venv hcl tools/checks/requirements-hcl.txt
venv checkov tools/checks/requirements-checkov.txt
if command -v node >/dev/null && command -v npm >/dev/null; then
    node_env
    log "ready: .venv/hcl .venv/checkov .venv/node"
else
    log "ready: .venv/hcl .venv/checkov (no node/npm: the HashiCorp parser and format check will be skipped)"
fi

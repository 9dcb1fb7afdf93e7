#!/usr/bin/env python3
"""The Lambda functions of the Cargo workspace, read from one place: every workspace member under
services/ whose Cargo.toml declares a [[bin]] is a function, named by that binary.

    python3 tools/lambda/functions.py            "api preprocess inference" (one line, workspace order)
    python3 tools/lambda/functions.py --packages "imgpipe-api api" per line (package, binary)

build-lambdas.sh, package.py, check_lambda_zips.py and bazel_consistency.py all use this, so a new
function crate (services/sweeper with `[[bin]] name = "sweeper"`) joins the builds without edits.
"""

from __future__ import annotations

import glob
import os
import sys
import tomllib

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SERVICES = "services/"


def _members(root: str) -> list[str]:
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        ws = tomllib.load(f).get("workspace", {})
    excluded = {os.path.normpath(e) for e in ws.get("exclude", [])}
    out: list[str] = []
    for pattern in ws.get("members", []):
        paths = sorted(glob.glob(os.path.join(root, pattern))) if any(c in pattern for c in "*?[") else [
            os.path.join(root, pattern)]
        for p in paths:
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            if rel not in excluded and rel not in out:
                out.append(rel)
    return out


def function_packages(root: str = ROOT) -> list[tuple[str, str, str]]:
    """(member folder, Cargo package, binary) of every function, in workspace member order."""
    out = []
    for rel in _members(root):
        if not rel.startswith(SERVICES):
            continue
        with open(os.path.join(root, rel, "Cargo.toml"), "rb") as f:
            manifest = tomllib.load(f)
        bins = manifest.get("bin", [])
        if len(bins) > 1:
            raise ValueError(f"{rel}/Cargo.toml: a function crate has one [[bin]], found {len(bins)}")
        for b in bins:
            out.append((rel, manifest["package"]["name"], b["name"]))
    return out


def functions(root: str = ROOT) -> list[str]:
    return [b for _, _, b in function_packages(root)]


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["--packages"]:
            for _, package, binary in function_packages():
                print(package, binary)
        else:
            print(" ".join(functions()))
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as e:
        print(f"functions.py: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Checks build/artifacts, the tree Terraform deploys (`make package`, `bazel run //:artifacts`).

    python3 tools/checks/bazel/check_lambda_zips.py [--root ROOT] [--require x86_64] [--require arm64]

manifest.json: lists every file of the tree, nothing more, with the right sha256, size and kind.
Function zips, lambda/<function>-<arch>.zip (every one found; with --require ARCH every function of the
workspace, tools/lambda/functions.py, for that architecture): one entry, `bootstrap`, a regular file
with the executable bits (0755), an ELF for <arch> whose DT_NEEDED libraries are ones Amazon Linux 2023
provides and whose highest required GLIBC_x.y symbol version is <= 2.34 (provided.al2023); ONNX
Runtime is not among them (the inference function dlopen()s it from the layer).
Layers: layers/onnxruntime-<arch>.zip is exactly lib/libonnxruntime.so.1 (0755); each
layers/model-<name>-<variant>.zip holds only model/ files (0644), among them model.json and every file
it names, and its manifest entry is the one its model.json gives.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import stat
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
LAMBDA_DIR = os.path.join(HERE, "..", "..", "lambda")
sys.path.insert(0, LAMBDA_DIR)
import elfdeps  # noqa: E402
import functions as workspace_functions  # noqa: E402
import package  # noqa: E402

ARCHS = ("x86_64", "arm64")
ORT_LAYER = {"lib/libonnxruntime.so.1": 0o755}
FUNCTION_ZIP = re.compile(r"^lambda/(?P<function>[a-z0-9][a-z0-9-]*)-(?P<arch>x86_64|arm64)\.zip$")
ORT_ZIP = re.compile(r"^layers/onnxruntime-(?P<arch>x86_64|arm64)\.zip$")
MODEL_ZIP = re.compile(r"^layers/model-(?P<model>[a-z0-9][a-z0-9-]*)\.zip$")


def _mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0o177777


def check_function_zip(path: str, arch: str) -> tuple[list[str], str]:
    problems = []
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        if names != ["bootstrap"]:
            problems.append(f"entries {names}, expected exactly ['bootstrap'] at the root")
        if "bootstrap" not in names:
            return problems, ""
        info = zf.getinfo("bootstrap")
        mode = _mode(info)
        if info.create_system != 3 or not stat.S_ISREG(mode) or (mode & 0o755) != 0o755:
            problems.append(f"bootstrap mode {oct(mode)} (system {info.create_system}), expected a 0755 regular file")
        data = zf.read("bootstrap")
    try:
        deps = elfdeps.parse(data)
    except elfdeps.ElfError as e:
        return problems + [f"bootstrap: {e}"], ""
    if deps.machine != arch:
        problems.append(f"bootstrap is {deps.machine}, expected {arch}")
    problems += [f"bootstrap {p}" for p in elfdeps.al2023_problems(deps)]
    if any("onnxruntime" in lib for lib in deps.needed):
        problems.append("bootstrap links libonnxruntime directly; it must dlopen it from the layer")
    summary = (f"{os.path.getsize(path)} bytes zipped, {len(data)} unzipped, max GLIBC "
               f"{elfdeps.fmt_version(deps.max_glibc)}, NEEDED {' '.join(deps.needed)}")
    return problems, summary


def check_layer_zip(path: str, want: dict[str, int]) -> list[str]:
    problems = []
    with zipfile.ZipFile(path) as zf:
        files = {i.filename: _mode(i) & 0o777 for i in zf.infolist() if not i.is_dir()}
    if sorted(files) != sorted(want):
        problems.append(f"entries {sorted(files)}, expected {sorted(want)}")
    for name, mode in want.items():
        if name in files and files[name] != mode:
            problems.append(f"{name} mode {oct(files[name])}, expected {oct(mode)}")
    return problems


def check_model_layer(path: str) -> tuple[list[str], dict | None]:
    problems = []
    with zipfile.ZipFile(path) as zf:
        files = {i.filename: _mode(i) & 0o777 for i in zf.infolist() if not i.is_dir()}
    outside = sorted(f for f in files if not f.startswith("model/") or "/" in f[len("model/"):])
    if outside:
        problems.append(f"entries outside model/: {outside}")
    bad_modes = sorted(f for f, m in files.items() if m != 0o644)
    if bad_modes:
        problems.append(f"entries not 0644: {bad_modes}")
    try:
        entry = package.model_entry(path)
    except (ValueError, zipfile.BadZipFile) as e:
        return problems + [str(e)], None
    return problems, entry


def check_manifest(out: str) -> tuple[list[str], dict]:
    path = os.path.join(out, "manifest.json")
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        return [f"manifest.json: {e}"], {}
    problems = []
    if manifest.get("schema") != package.SCHEMA:
        problems.append(f"manifest.json: schema {manifest.get('schema')!r}, expected {package.SCHEMA}")
    listed = {}
    for f in manifest.get("files", []):
        p = f.get("path", "")
        if p in listed:
            problems.append(f"manifest.json: {p} listed twice")
        listed[p] = f
    on_disk = {os.path.relpath(os.path.join(d, n), out).replace(os.sep, "/")
               for d, _, names in os.walk(out) for n in names} - {"manifest.json"}
    for p in sorted(on_disk - set(listed)):
        problems.append(f"manifest.json does not list {p}")
    for p, f in sorted(listed.items()):
        full = os.path.join(out, p)
        if p not in on_disk:
            problems.append(f"manifest.json lists {p}, which is not there")
            continue
        if f.get("size") != os.path.getsize(full) or f.get("sha256") != package.sha256_file(full):
            problems.append(f"manifest.json: {p} size/sha256 differ from the file")
        m = FUNCTION_ZIP.match(p)
        if m and (f.get("kind"), f.get("function"), f.get("architecture")) != ("function", m["function"], m["arch"]):
            problems.append(f"manifest.json: {p} should be kind function, function {m['function']}, architecture {m['arch']}")
        m = ORT_ZIP.match(p)
        if m and (f.get("kind"), f.get("architecture")) != ("onnxruntime_layer", m["arch"]):
            problems.append(f"manifest.json: {p} should be kind onnxruntime_layer, architecture {m['arch']}")
        if MODEL_ZIP.match(p) and f.get("kind") != "model_layer":
            problems.append(f"manifest.json: {p} should be kind model_layer")
        if not (FUNCTION_ZIP.match(p) or ORT_ZIP.match(p) or MODEL_ZIP.match(p)):
            problems.append(f"{p}: not a path of the artifacts layout")
    return problems, listed


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(HERE, "..", "..", ".."))
    ap.add_argument("--artifacts", help="the tree (default ROOT/build/artifacts)")
    ap.add_argument("--require", action="append", default=[], choices=ARCHS,
                    help="fail unless every function zip and the ONNX Runtime layer of this architecture are there")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
    out = os.path.abspath(args.artifacts or os.path.join(root, "build", "artifacts"))
    passed = failed = 0

    def report(name: str, problems: list[str], summary: str = "") -> None:
        nonlocal passed, failed
        if problems:
            failed += 1
            for p in problems:
                print(f"FAIL {name}: {p}")
        else:
            passed += 1
            print(f"ok   {name}" + (f": {summary}" if summary else ""))

    if not os.path.isdir(out):
        if args.require:
            report(os.path.relpath(out, root), ["missing (make package, or bazel run //:artifacts)"])
        print(f"lambda zips: {passed} passed, {failed} failed")
        return 1 if failed or passed == 0 else 0
    problems, listed = check_manifest(out)
    report("manifest.json", problems, f"{len(listed)} files listed, sizes and sha256s match")
    for arch in args.require:
        fn_root = root if os.path.isfile(os.path.join(root, "Cargo.toml")) else workspace_functions.ROOT
        want = [f"lambda/{fn}-{arch}.zip" for fn in workspace_functions.functions(fn_root)]
        want.append(f"layers/onnxruntime-{arch}.zip")
        missing = [w for w in want if not os.path.isfile(os.path.join(out, w))]
        if missing:
            report(f"{arch} artifacts", [f"missing {m}" for m in missing])
        if not glob.glob(os.path.join(out, "layers", "model-*.zip")):
            report("model layers", ["none in layers/"])
    for path in sorted(glob.glob(os.path.join(out, "lambda", "*.zip"))):
        rel = os.path.relpath(path, out)
        m = FUNCTION_ZIP.match(rel)
        if not m:
            report(rel, ["not named <function>-<x86_64|arm64>.zip"])
            continue
        problems, summary = check_function_zip(path, m["arch"])
        report(rel, problems, summary)
    for arch in ARCHS:
        path = os.path.join(out, "layers", f"onnxruntime-{arch}.zip")
        if os.path.isfile(path):
            report(os.path.relpath(path, out), check_layer_zip(path, ORT_LAYER), f"{os.path.getsize(path)} bytes")
    for path in sorted(glob.glob(os.path.join(out, "layers", "model-*.zip"))):
        rel = os.path.relpath(path, out)
        problems, entry = check_model_layer(path)
        if entry is not None:
            if rel != f"layers/model-{entry['name']}-{entry['variant']}.zip":
                problems.append(f"holds {entry['name']} {entry['variant']} (model.json), so it must be named "
                                f"model-{entry['name']}-{entry['variant']}.zip")
            if listed.get(rel, {}).get("model") != entry:
                problems.append("manifest.json's model entry differs from the layer's model.json")
        report(rel, problems, f"{os.path.getsize(path)} bytes" + (f", {entry['name']} {entry['variant']}" if entry else ""))
    print(f"lambda zips: {passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Checks the Lambda artifacts the cargo-lambda twin makes, against what Bazel's targets promise.

    python3 tools/checks/bazel/check_lambda_zips.py [--root ROOT] [--require x86_64] [--layers]

Function zips, build/lambda/<arch>/<function>/bootstrap.zip (every one found; with --require ARCH the
three x86_64 functions must be there): one entry, `bootstrap`, a regular file with the executable bits
(0755), an ELF for <arch> whose DT_NEEDED libraries are ones Amazon Linux 2023 provides and whose
highest required GLIBC_x.y symbol version is <= 2.34 (provided.al2023); ONNX Runtime is not among
them (the inference function dlopen()s it from the layer).

Layers (--layers), build/layers/{onnxruntime-<arch>,model-fp32}.zip when present: exactly
lib/libonnxruntime.so.1 (0755), and model/{labels.txt,model.json,model.onnx} (0644).
"""

from __future__ import annotations

import argparse
import glob
import os
import stat
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "lambda"))
import elfdeps  # noqa: E402

FUNCTIONS = {"x86_64": ("api", "inference", "preprocess"), "arm64": ("api", "preprocess")}
LAYERS = {
    "onnxruntime-x86_64.zip": {"lib/libonnxruntime.so.1": 0o755},
    "onnxruntime-arm64.zip": {"lib/libonnxruntime.so.1": 0o755},
    "model-fp32.zip": {"model/labels.txt": 0o644, "model/model.json": 0o644, "model/model.onnx": 0o644},
}


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


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(HERE, "..", "..", ".."))
    ap.add_argument("--require", action="append", default=[], choices=sorted(FUNCTIONS),
                    help="fail unless every function zip of this architecture exists")
    ap.add_argument("--layers", action="store_true", help="also check build/layers/*.zip that exist")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
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

    for arch in args.require:
        for fn in FUNCTIONS[arch]:
            path = os.path.join(root, "build", "lambda", arch, fn, "bootstrap.zip")
            if not os.path.isfile(path):
                report(os.path.relpath(path, root), ["missing (make lambdas)"])
    for path in sorted(glob.glob(os.path.join(root, "build", "lambda", "*", "*", "bootstrap.zip"))):
        arch = os.path.basename(os.path.dirname(os.path.dirname(path)))
        if arch not in FUNCTIONS:
            report(os.path.relpath(path, root), [f"unknown architecture folder {arch}"])
            continue
        problems, summary = check_function_zip(path, arch)
        report(os.path.relpath(path, root), problems, summary)
    if args.layers:
        for name, want in LAYERS.items():
            path = os.path.join(root, "build", "layers", name)
            if os.path.isfile(path):
                report(os.path.relpath(path, root), check_layer_zip(path, want), f"{os.path.getsize(path)} bytes")
    print(f"lambda zips: {passed} passed, {failed} failed")
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Writes the Lambda layer zips from what tools/setup.sh made, deterministically, and checks them.

    python3 tools/lambda/make_layers.py [--arch x86_64 [--arch arm64]] [--root .]
    python3 tools/lambda/make_layers.py --model-dir DIR --zip OUT.zip      (one model layer; Bazel uses this)

    build/layers/onnxruntime-<arch>.zip           lib/libonnxruntime.so.1 (0755)  <- build/onnxruntime/<x64|arm64>/
    build/layers/model-<name>-<variant>.zip       model/... (0644)                <- build/models/<name>-<variant>/

A model layer holds model/model.json, the labels file and the model file it names, and every file listed
under its "alternatives" (model.opt.onnx, model.ort), each checked against the sha256 model.json gives.
Every folder of build/models gets its layer (the three EfficientNet-Lite models in fp32 and int8 after
tools/setup.sh). The same function writes the layers of //tools/model (Bazel), so both builders make
the same entries, modes and times. Entries are sorted with fixed times (1980-01-01, as rules_pkg) and
modes, so the same inputs give the same bytes. Checks: ONNX Runtime loads on Amazon Linux 2023 (NEEDED
libraries AL2023 provides, GLIBC <= 2.34, GLIBCXX <= 3.4.29), and the largest model layer with ONNX
Runtime (and the inference function, when built) stays under Lambda's 250 MB unzipped limit.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import elfdeps  # noqa: E402

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # rules_pkg pkg_zip's default timestamp (315532800)
NPM_ARCH = {"x86_64": "x64", "arm64": "arm64"}
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function + all its layers, unzipped
LAYERS_BUDGET = 200 * 1024 * 1024  # what the two layers may take, leaving room for the function


class LayerError(Exception):
    pass


def write_zip(path: str, entries: list[tuple[str, str, int]]) -> None:
    """entries: (name in zip, source file, mode); written sorted by name with fixed metadata."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with zipfile.ZipFile(tmp, "w") as zf:
        for name, src, mode in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.create_system = 3  # unix: external_attr carries the mode
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(src, "rb") as f:
                zf.writestr(info, f.read(), compresslevel=6)
    os.replace(tmp, path)


def unzipped_size(path: str) -> int:
    with zipfile.ZipFile(path) as zf:
        return sum(i.file_size for i in zf.infolist())


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def onnxruntime_layer(root: str, arch: str) -> str:
    lib = os.path.join(root, "build", "onnxruntime", NPM_ARCH[arch], "libonnxruntime.so.1")
    if not os.path.isfile(lib):
        raise LayerError(f"{lib} not found: run tools/setup.sh")
    deps = elfdeps.read(lib)
    if deps.machine != arch:
        raise LayerError(f"{lib} is {deps.machine}, expected {arch}")
    problems = elfdeps.al2023_problems(deps)
    if problems:
        raise LayerError(f"{lib}: " + "; ".join(problems))
    print(
        f"[layers] {os.path.relpath(lib, root)}: {arch}, max GLIBC {elfdeps.fmt_version(deps.max_glibc)}, "
        f"GLIBCXX {elfdeps.fmt_version(deps.max_version('GLIBCXX'))}, NEEDED {' '.join(deps.needed)}"
    )
    out = os.path.join(root, "build", "layers", f"onnxruntime-{arch}.zip")
    write_zip(out, [("lib/libonnxruntime.so.1", lib, 0o755)])
    return out


def model_files(model_dir: str) -> tuple[dict, list[str]]:
    """model.json and the files of the layer (model.json, labels, model file, alternatives), checked."""
    meta_path = os.path.join(model_dir, "model.json")
    if not os.path.isfile(meta_path):
        raise LayerError(f"{model_dir} has no model.json: run tools/setup.sh (or import_model.py)")
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    for key in ("name", "variant"):
        if not isinstance(meta.get(key), str) or not meta[key]:
            raise LayerError(f"{meta_path} has no {key}")
    files = {"model.json"}
    checked = [(meta.get("file", "model.onnx"), meta.get("sha256"), "file")]
    for key, alt in sorted((meta.get("alternatives") or {}).items()):
        if not isinstance(alt, dict) or not isinstance(alt.get("file"), str):
            raise LayerError(f"{meta_path}: alternatives.{key} names no file")
        checked.append((alt["file"], alt.get("sha256"), f"alternatives.{key}"))
    labels = meta.get("labels_file", "labels.txt")
    files.add(labels)
    for name, want, what in checked:
        path = os.path.join(model_dir, name)
        if not os.path.isfile(path):
            raise LayerError(f"{model_dir} lacks {name} ({what} of model.json)")
        actual = _sha256(path)
        if want != actual:
            raise LayerError(f"{meta_path}: {what} {name} has sha256 {want}, the file is {actual}: rebuild the model")
        files.add(name)
    for name in files:
        if os.path.basename(name) != name:
            raise LayerError(f"{meta_path}: {name} is not a file beside model.json")
        if not os.path.isfile(os.path.join(model_dir, name)):
            raise LayerError(f"{model_dir} lacks {name}")
    return meta, sorted(files)


def model_layer_zip(model_dir: str, out: str) -> dict:
    meta, files = model_files(model_dir)
    write_zip(out, [(f"model/{f}", os.path.join(model_dir, f), 0o644) for f in files])
    return meta


def model_layers(root: str) -> list[str]:
    dirs = sorted(d for d in glob.glob(os.path.join(root, "build", "models", "*")) if os.path.isdir(d))
    if not dirs:
        raise LayerError(f"{os.path.join(root, 'build', 'models')} has no model folders: run tools/setup.sh")
    outs = []
    for d in dirs:
        meta, _ = model_files(d)
        folder = os.path.basename(d)
        if folder != f"{meta['name']}-{meta['variant']}":
            raise LayerError(f"{d}: model.json says {meta['name']} {meta['variant']}; the folder must be "
                             f"build/models/{meta['name']}-{meta['variant']}")
        out = os.path.join(root, "build", "layers", f"model-{folder}.zip")
        model_layer_zip(d, out)
        outs.append(out)
    return outs


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--arch", action="append", choices=sorted(NPM_ARCH), help="default: x86_64")
    ap.add_argument("--model-dir", help="write only this model folder's layer, to --zip")
    ap.add_argument("--zip", help="with --model-dir: the layer zip to write")
    args = ap.parse_args(argv)
    if bool(args.model_dir) != bool(args.zip):
        ap.error("--model-dir and --zip go together")
    try:
        if args.model_dir:
            meta = model_layer_zip(args.model_dir, args.zip)
            print(f"[layers] {args.zip}: {meta['name']} {meta['variant']}, {unzipped_size(args.zip)} bytes unzipped")
            return 0
        root = os.path.abspath(args.root)
        models = model_layers(root)
        layers = {arch: onnxruntime_layer(root, arch) for arch in (args.arch or ["x86_64"])}
    except (LayerError, elfdeps.ElfError, OSError, ValueError) as e:
        print(f"[layers] error: {e}", file=sys.stderr)
        return 1
    status = 0
    model_size = max(unzipped_size(m) for m in models)
    for path in [*models, *layers.values()]:
        print(f"[layers] {os.path.relpath(path, root)}: {os.path.getsize(path)} bytes, "
              f"{unzipped_size(path)} unzipped")
    for arch, path in layers.items():
        total = model_size + unzipped_size(path)
        function = os.path.join(root, "build", "lambda", arch, "inference", "bootstrap.zip")
        note = ""
        if os.path.isfile(function):
            total += unzipped_size(function)
            note = " + inference function"
        limit = LAMBDA_UNZIPPED_LIMIT if note else LAYERS_BUDGET
        verdict = "ok" if total <= limit else "TOO LARGE"
        print(f"[layers] {arch}: largest model + onnxruntime{note} = {total / 1048576:.1f} MiB unzipped "
              f"(limit {limit / 1048576:.0f} MiB): {verdict}")
        if total > limit:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

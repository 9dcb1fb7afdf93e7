#!/usr/bin/env python3
"""Assembles build/artifacts, the one tree Terraform deploys from, and its manifest.json.

    python3 tools/lambda/package.py --from-build [--arch x86_64 --arch arm64]     (make package)
    python3 tools/lambda/package.py --function api x86_64 API.zip ... \\
        --onnxruntime-layer x86_64 ORT.zip ... --model-layer MODEL.zip ...      (bazel run //:artifacts)

    build/artifacts/
      lambda/<function>-<arch>.zip        every function of the workspace (tools/lambda/functions.py)
      layers/onnxruntime-<arch>.zip       lib/libonnxruntime.so.1
      layers/model-<name>-<variant>.zip   model/ (model.json, labels, model files)
      manifest.json                       every file above: path, sha256, size, kind, architecture,
                                          and for model layers the model entry from its model.json

--from-build takes the cargo-lambda and make layers outputs: build/lambda/<arch>/<function>/bootstrap.zip
(every function, every --arch), build/layers/onnxruntime-<arch>.zip and build/layers/model-<dir>.zip for
every folder of build/models. Under Bazel the same script gets each file by name instead. A model layer's
name comes from the model.json inside it, so the manifest always describes the bytes it lists. Any
missing or malformed input stops it with the list of what is wrong, before anything is replaced; the
tree is written next to --out and moved into place whole.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import functions as workspace_functions  # noqa: E402

ARCHS = ("x86_64", "arm64")
SCHEMA = 1
ORT_ENTRY = "lib/libonnxruntime.so.1"
MODEL_KEYS = ("name", "version", "variant", "num_classes")


class PackageError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _zip_names(path: str) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return [i.filename for i in zf.infolist() if not i.is_dir()]


def model_entry(layer: str) -> dict:
    """The manifest's `model` object, from model/model.json inside the layer zip."""
    with zipfile.ZipFile(layer) as zf:
        try:
            meta = json.loads(zf.read("model/model.json"))
        except KeyError:
            raise ValueError("has no model/model.json") from None
        names = set(zf.namelist())
    missing = [k for k in MODEL_KEYS if k not in meta]
    if missing:
        raise ValueError(f"model/model.json lacks {', '.join(missing)}")
    inp = meta.get("input") or {}
    if not isinstance(inp.get("height"), int) or not isinstance(inp.get("width"), int):
        raise ValueError("model/model.json has no input height/width")
    if not isinstance(meta.get("preprocess"), dict):
        raise ValueError("model/model.json has no preprocess")
    wanted = [meta.get("file", "model.onnx"), meta.get("labels_file", "labels.txt")]
    wanted += [a["file"] for a in (meta.get("alternatives") or {}).values() if isinstance(a, dict) and "file" in a]
    absent = sorted(f for f in wanted if f"model/{f}" not in names)
    if absent:
        raise ValueError(f"lacks {', '.join('model/' + f for f in absent)} that model.json names")
    entry = {k: meta[k] for k in MODEL_KEYS}
    entry["input"] = {"height": inp["height"], "width": inp["width"]}
    entry["preprocess"] = meta["preprocess"]
    return entry


def plan(functions: list[tuple[str, str, str]], ort_layers: list[tuple[str, str]],
         model_layers: list[str]) -> list[tuple[str, str, dict]]:
    """[(source file, path below the tree, manifest fields)]; raises PackageError listing every problem."""
    problems: list[str] = []
    items: list[tuple[str, str, dict]] = []
    seen: dict[str, str] = {}

    def add(src: str, dest: str, fields: dict) -> None:
        if dest in seen:
            problems.append(f"{dest}: given twice ({seen[dest]} and {src})")
            return
        seen[dest] = src
        items.append((src, dest, fields))

    for fn, arch, src in functions:
        if arch not in ARCHS:
            problems.append(f"function {fn}: unknown architecture {arch!r} (one of {', '.join(ARCHS)})")
            continue
        if not os.path.isfile(src):
            problems.append(f"function {fn} ({arch}): {src} is missing")
            continue
        try:
            names = _zip_names(src)
        except (zipfile.BadZipFile, OSError) as e:
            problems.append(f"function {fn} ({arch}): {src} is not a zip ({e})")
            continue
        if "bootstrap" not in names:
            problems.append(f"function {fn} ({arch}): {src} has no bootstrap at its root ({names})")
            continue
        add(src, f"lambda/{fn}-{arch}.zip", {"kind": "function", "function": fn, "architecture": arch})
    for arch, src in ort_layers:
        if arch not in ARCHS:
            problems.append(f"onnxruntime layer: unknown architecture {arch!r}")
            continue
        if not os.path.isfile(src):
            problems.append(f"onnxruntime layer ({arch}): {src} is missing")
            continue
        try:
            names = _zip_names(src)
        except (zipfile.BadZipFile, OSError) as e:
            problems.append(f"onnxruntime layer ({arch}): {src} is not a zip ({e})")
            continue
        if ORT_ENTRY not in names:
            problems.append(f"onnxruntime layer ({arch}): {src} has no {ORT_ENTRY}")
            continue
        add(src, f"layers/onnxruntime-{arch}.zip", {"kind": "onnxruntime_layer", "architecture": arch})
    for src in model_layers:
        if not os.path.isfile(src):
            problems.append(f"model layer: {src} is missing")
            continue
        try:
            model = model_entry(src)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            problems.append(f"model layer {src}: {e}")
            continue
        add(src, f"layers/model-{model['name']}-{model['variant']}.zip", {"kind": "model_layer", "model": model})
    if problems:
        raise PackageError(problems)
    if not items:
        raise PackageError(["nothing to package"])
    return items


def assemble(out: str, items: list[tuple[str, str, dict]]) -> dict:
    """Writes the tree and manifest.json to a sibling folder, then moves it into place as `out`."""
    out = os.path.abspath(out)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".artifacts-", dir=parent)
    try:
        files = []
        for src, dest, fields in sorted(items, key=lambda i: i[1]):
            target = os.path.join(tmp, dest)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(src, target)
            os.chmod(target, 0o644)
            files.append({"path": dest, "sha256": sha256_file(target), "size": os.path.getsize(target), **fields})
        manifest = {"schema": SCHEMA, "files": files}
        with open(os.path.join(tmp, "manifest.json"), "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        os.chmod(tmp, 0o755)
        if os.path.isdir(out):
            old = out + ".old"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
        return manifest
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def from_build(root: str, archs: list[str], functions: list[str]) -> tuple[list, list, list]:
    fns = [(fn, arch, os.path.join(root, "build", "lambda", arch, fn, "bootstrap.zip"))
           for arch in archs for fn in functions]
    ort = [(arch, os.path.join(root, "build", "layers", f"onnxruntime-{arch}.zip")) for arch in archs]
    models_dir = os.path.join(root, "build", "models")
    folders = sorted(d for d in os.listdir(models_dir) if os.path.isdir(os.path.join(models_dir, d))) \
        if os.path.isdir(models_dir) else []
    if not folders:
        raise PackageError([f"{models_dir} has no model folders (run tools/setup.sh, then make layers)"])
    models = [os.path.join(root, "build", "layers", f"model-{d}.zip") for d in folders]
    return fns, ort, models


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(HERE, "..", ".."), help="repository root (default: this one)")
    ap.add_argument("--out", default="build/artifacts",
                    help="the tree to write (relative: to --root, or to the workspace under `bazel run`)")
    ap.add_argument("--from-build", action="store_true", help="take the inputs from build/ (make lambdas layers)")
    ap.add_argument("--arch", action="append", choices=ARCHS, help="with --from-build (default: x86_64)")
    ap.add_argument("--functions", help="with --from-build: space-separated functions "
                                        "(default: every function crate, tools/lambda/functions.py)")
    ap.add_argument("--function", nargs=3, action="append", default=[], metavar=("NAME", "ARCH", "ZIP"))
    ap.add_argument("--onnxruntime-layer", nargs=2, action="append", default=[], metavar=("ARCH", "ZIP"))
    ap.add_argument("--model-layer", action="append", default=[], metavar="ZIP")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
    base = os.environ.get("BUILD_WORKSPACE_DIRECTORY") or root  # set by `bazel run`
    out = args.out if os.path.isabs(args.out) else os.path.join(base, args.out)
    try:
        if args.from_build:
            if args.function or args.onnxruntime_layer or args.model_layer:
                ap.error("--from-build takes no explicit inputs")
            functions = args.functions.split() if args.functions else workspace_functions.functions(root)
            fns, ort, models = from_build(root, args.arch or ["x86_64"], functions)
        else:
            if args.arch or args.functions:
                ap.error("--arch and --functions go with --from-build")
            fns = [tuple(f) for f in args.function]
            ort = [tuple(o) for o in args.onnxruntime_layer]
            models = args.model_layer
        manifest = assemble(out, plan(fns, ort, models))
    except PackageError as e:
        print("package: cannot assemble " + out + ":", file=sys.stderr)
        for p in e.problems:
            print("  " + p, file=sys.stderr)
        if args.from_build:
            print("  (build them with `make lambdas layers`, ARCH as for this run)", file=sys.stderr)
        return 1
    total = sum(f["size"] for f in manifest["files"])
    for f in manifest["files"]:
        print(f"[package] {f['path']}: {f['size']} bytes, sha256 {f['sha256'][:12]}...")
    print(f"[package] {out}: {len(manifest['files'])} files, {total} bytes, manifest.json")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Writes the two Lambda layer zips from what tools/setup.sh made, deterministically, and checks them.

    python3 tools/lambda/make_layers.py [--arch x86_64 [--arch arm64]] [--root .]

    build/layers/onnxruntime-<arch>.zip   lib/libonnxruntime.so.1 (0755)        <- build/onnxruntime/<x64|arm64>/
    build/layers/model-fp32.zip           model/{labels.txt,model.json,model.onnx} (0644) <- build/model/

The twins of //third_party/onnxruntime:layer{,_arm64} and //tools/model:layer (same names, same entries,
same modes; rules_pkg's pkg_zip also stamps 1980-01-01 00:00). Entries are sorted, with fixed times and
modes, so the same inputs give the same bytes. Checks: ONNX Runtime loads on Amazon Linux 2023 (its
NEEDED libraries are ones AL2023 provides, GLIBC <= 2.34, GLIBCXX <= 3.4.29), model.json's sha256 is
model.onnx's, and the layers stay well under Lambda's 250 MB unzipped limit (with the function).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import elfdeps  # noqa: E402

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # rules_pkg pkg_zip's default timestamp (315532800)
NPM_ARCH = {"x86_64": "x64", "arm64": "arm64"}
MODEL_FILES = ("labels.txt", "model.json", "model.onnx")
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function + all its layers, unzipped
LAYERS_BUDGET = 200 * 1024 * 1024  # what the two layers may take, leaving room for the function


class LayerError(Exception):
    pass


def write_zip(path: str, entries: list[tuple[str, str, int]]) -> None:
    """entries: (name in zip, source file, mode); written sorted by name with fixed metadata."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
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


def model_layer(root: str, folder: str = "model", variant: str = "fp32") -> str:
    model_dir = os.path.join(root, "build", folder)
    missing = [f for f in MODEL_FILES if not os.path.isfile(os.path.join(model_dir, f))]
    if missing:
        raise LayerError(f"{model_dir} lacks {', '.join(missing)}: run tools/setup.sh")
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    with open(os.path.join(model_dir, meta.get("file", "model.onnx")), "rb") as f:
        actual = hashlib.sha256(f.read()).hexdigest()
    if meta.get("sha256") != actual:
        raise LayerError(f"model.json says sha256 {meta.get('sha256')}, model.onnx is {actual}: rebuild the model")
    if meta.get("variant") != variant:
        raise LayerError(f"{model_dir}/model.json is variant {meta.get('variant')!r}, expected {variant!r}")
    out = os.path.join(root, "build", "layers", f"model-{variant}.zip")
    write_zip(out, [(f"model/{f}", os.path.join(model_dir, f), 0o644) for f in MODEL_FILES])
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--arch", action="append", choices=sorted(NPM_ARCH), help="default: x86_64")
    args = ap.parse_args(argv)
    root = os.path.abspath(args.root)
    try:
        models = [model_layer(root)]
        if os.path.isdir(os.path.join(root, "build", "model-int8")):
            models.append(model_layer(root, "model-int8", "int8"))
        model = max(models, key=unzipped_size)
        layers = {arch: onnxruntime_layer(root, arch) for arch in (args.arch or ["x86_64"])}
    except (LayerError, elfdeps.ElfError) as e:
        print(f"[layers] error: {e}", file=sys.stderr)
        return 1
    status = 0
    model_size = unzipped_size(model)
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
        print(f"[layers] {arch}: model + onnxruntime{note} = {total / 1048576:.1f} MiB unzipped "
              f"(limit {limit / 1048576:.0f} MiB): {verdict}")
        if total > limit:
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

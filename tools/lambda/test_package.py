#!/usr/bin/env python3
"""Tests of package.py (and the model layers of make_layers.py) on fake inputs: the tree and manifest.json
it writes, the model entries read from each layer's model.json, and clear errors for missing inputs.

    python3 -m unittest tools/lambda/test_package.py      (or pytest)
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import sys
import tempfile
import unittest
import zipfile
from contextlib import redirect_stderr, redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import functions  # noqa: E402
import make_layers  # noqa: E402
import package  # noqa: E402

PREPROCESS = {"resize": "shorter_side_then_center_crop", "resize_shorter_side": 256, "center_crop": 224,
              "filter": "bicubic", "antialias": True}


def write(path: str, data: bytes | str) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_zip(path: str, entries: dict[str, bytes]) -> str:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def fake_model_dir(root: str, name: str, variant: str, size: int = 224, alternatives: bool = True) -> str:
    d = os.path.join(root, "build", "models", f"{name}-{variant}")
    onnx = f"onnx {name} {variant}".encode()
    meta = {"schema": 2, "name": name, "version": "0.1.0", "variant": variant, "file": "model.onnx",
            "sha256": sha(onnx), "labels_file": "labels.txt", "num_classes": 3,
            "input": {"name": "input", "layout": "NCHW", "channels": "RGB", "height": size, "width": size,
                      "dtype": "float32", "batch": "dynamic"},
            "output": {"name": "logits", "kind": "logits"},
            "preprocess": dict(PREPROCESS, center_crop=size, resize_shorter_side=size + 32)}
    write(os.path.join(d, "model.onnx"), onnx)
    write(os.path.join(d, "labels.txt"), "a\nb\nc\n")
    if alternatives:
        opt, ort = b"opt " + onnx, b"ort " + onnx
        write(os.path.join(d, "model.opt.onnx"), opt)
        write(os.path.join(d, "model.ort"), ort)
        meta["alternatives"] = {"optimized_onnx": {"file": "model.opt.onnx", "sha256": sha(opt)},
                                "ort": {"file": "model.ort", "sha256": sha(ort)}}
    write(os.path.join(d, "model.json"), json.dumps(meta))
    write(os.path.join(d, ".stamp"), "not in the layer")
    return d


def quiet(fn, *args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = fn(*args)
    return rc, out.getvalue(), err.getvalue()


class Inputs:
    """Function zips, ORT layers and model layers as both builders hand them to package.py."""

    def __init__(self, root: str, archs=("x86_64", "arm64"), fns=("api", "preprocess", "inference")):
        self.root = root
        self.functions = []
        for arch in archs:
            for fn in fns:
                z = fake_zip(os.path.join(root, "build", "lambda", arch, fn, "bootstrap.zip"),
                             {"bootstrap": f"{fn} {arch}".encode()})
                self.functions.append((fn, arch, z))
        self.ort = [(arch, fake_zip(os.path.join(root, "build", "layers", f"onnxruntime-{arch}.zip"),
                                    {"lib/libonnxruntime.so.1": arch.encode()})) for arch in archs]
        self.models = []
        for name, size in (("tiny-a", 224), ("tiny-b", 240)):
            for variant in ("fp32", "int8"):
                d = fake_model_dir(root, name, variant, size, alternatives=(variant == "fp32"))
                out = os.path.join(root, "build", "layers", f"model-{name}-{variant}.zip")
                make_layers.model_layer_zip(d, out)
                self.models.append(out)

    def argv(self) -> list[str]:
        out = []
        for fn, arch, z in self.functions:
            out += ["--function", fn, arch, z]
        for arch, z in self.ort:
            out += ["--onnxruntime-layer", arch, z]
        for z in self.models:
            out += ["--model-layer", z]
        return out


class PackageTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="package-")
        self.root = self._tmp.name
        self.out = os.path.join(self.root, "build", "artifacts")
        self.inputs = Inputs(self.root)

    def tearDown(self):
        self._tmp.cleanup()

    def package(self, *argv: str) -> tuple[int, str]:
        rc, _, err = quiet(package.main, ["--root", self.root, "--out", self.out, *argv])
        return rc, err

    def manifest(self) -> dict:
        with open(os.path.join(self.out, "manifest.json"), encoding="utf-8") as f:
            return json.load(f)

    def test_tree_and_manifest(self):
        rc, err = self.package(*self.inputs.argv())
        self.assertEqual(rc, 0, err)
        manifest = self.manifest()
        self.assertEqual(manifest["schema"], 1)
        on_disk = sorted(os.path.relpath(os.path.join(d, f), self.out)
                         for d, _, fs in os.walk(self.out) for f in fs)
        listed = [f["path"] for f in manifest["files"]]
        self.assertEqual(sorted(listed + ["manifest.json"]), on_disk, "every file is listed, nothing else is there")
        self.assertEqual(listed, sorted(listed))
        self.assertEqual(len(listed), 6 + 2 + 4)
        for f in manifest["files"]:
            with open(os.path.join(self.out, f["path"]), "rb") as fh:
                data = fh.read()
            self.assertEqual(f["sha256"], sha(data), f["path"])
            self.assertEqual(f["size"], len(data), f["path"])
        by_path = {f["path"]: f for f in manifest["files"]}
        self.assertEqual(by_path["lambda/api-arm64.zip"],
                         {**by_path["lambda/api-arm64.zip"], "kind": "function", "function": "api",
                          "architecture": "arm64"})
        self.assertEqual(by_path["layers/onnxruntime-x86_64.zip"]["kind"], "onnxruntime_layer")
        self.assertEqual(by_path["layers/onnxruntime-x86_64.zip"]["architecture"], "x86_64")
        model = by_path["layers/model-tiny-b-int8.zip"]
        self.assertEqual(model["kind"], "model_layer")
        self.assertNotIn("architecture", model)
        self.assertEqual(model["model"], {"name": "tiny-b", "version": "0.1.0", "variant": "int8", "num_classes": 3,
                                          "input": {"height": 240, "width": 240},
                                          "preprocess": dict(PREPROCESS, center_crop=240, resize_shorter_side=272)})

    def test_model_entry_comes_from_the_layer_not_its_file_name(self):
        renamed = os.path.join(self.root, "elsewhere", "bazel-output.zip")
        os.makedirs(os.path.dirname(renamed))
        os.replace(self.inputs.models[0], renamed)
        self.inputs.models[0] = renamed
        rc, err = self.package(*self.inputs.argv())
        self.assertEqual(rc, 0, err)
        self.assertIn("layers/model-tiny-a-fp32.zip", [f["path"] for f in self.manifest()["files"]])

    def test_model_layer_holds_model_json_labels_and_every_named_file(self):
        with zipfile.ZipFile(self.inputs.models[0]) as zf:
            infos = zf.infolist()
        self.assertEqual([i.filename for i in infos], ["model/labels.txt", "model/model.json", "model/model.onnx",
                                                        "model/model.opt.onnx", "model/model.ort"])
        self.assertTrue(all((i.external_attr >> 16) & 0o777 == 0o644 for i in infos))
        self.assertTrue(all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos))

    def test_missing_input_is_a_clear_error_and_leaves_the_old_tree(self):
        self.assertEqual(self.package(*self.inputs.argv())[0], 0)
        before = self.manifest()
        os.remove(self.inputs.functions[4][2])  # preprocess arm64
        os.remove(self.inputs.ort[1][1])
        rc, err = self.package(*self.inputs.argv())
        self.assertEqual(rc, 1)
        self.assertIn("function preprocess (arm64):", err)
        self.assertIn("build/lambda/arm64/preprocess/bootstrap.zip is missing", err)
        self.assertIn("onnxruntime layer (arm64):", err)
        self.assertEqual(self.manifest(), before)

    def test_from_build_finds_every_function_arch_and_model(self):
        write(os.path.join(self.root, "Cargo.toml"), '[workspace]\nmembers = ["services/domain", "services/api", '
              '"services/preprocess", "services/inference", "tools/cli"]\n')
        write(os.path.join(self.root, "services/domain/Cargo.toml"), '[package]\nname = "imgpipe-domain"\n')
        for fn in ("api", "preprocess", "inference"):
            write(os.path.join(self.root, f"services/{fn}/Cargo.toml"),
                  f'[package]\nname = "imgpipe-{fn}"\n\n[[bin]]\nname = "{fn}"\npath = "src/main.rs"\n')
        write(os.path.join(self.root, "tools/cli/Cargo.toml"), '[package]\nname = "imgpipe-cli"\n\n[[bin]]\nname = "imgpipe"\n')
        self.assertEqual(functions.functions(self.root), ["api", "preprocess", "inference"])
        rc, err = self.package("--from-build", "--arch", "x86_64", "--arch", "arm64")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(self.manifest()["files"]), 12)
        # A new function crate joins without edits, and its missing zip is named.
        write(os.path.join(self.root, "services/sweeper/Cargo.toml"),
              '[package]\nname = "imgpipe-sweeper"\n\n[[bin]]\nname = "sweeper"\n')
        text = open(os.path.join(self.root, "Cargo.toml")).read().replace('"tools/cli"', '"services/sweeper", "tools/cli"')
        write(os.path.join(self.root, "Cargo.toml"), text)
        rc, err = self.package("--from-build")
        self.assertEqual(rc, 1)
        self.assertIn("function sweeper (x86_64):", err)
        self.assertIn("make lambdas layers", err)

    def test_from_build_needs_a_layer_per_model_folder(self):
        write(os.path.join(self.root, "Cargo.toml"), '[workspace]\nmembers = ["services/api"]\n')
        write(os.path.join(self.root, "services/api/Cargo.toml"), '[package]\nname = "imgpipe-api"\n\n[[bin]]\nname = "api"\n')
        fake_model_dir(self.root, "tiny-c", "fp32")
        rc, err = self.package("--from-build")
        self.assertEqual(rc, 1)
        self.assertIn("model layer: ", err)
        self.assertIn("model-tiny-c-fp32.zip is missing", err)

    def test_bad_inputs_are_refused(self):
        bad_model = fake_zip(os.path.join(self.root, "bad", "model.zip"), {"model/labels.txt": b"a\n"})
        no_file = fake_zip(os.path.join(self.root, "bad", "model2.zip"), {
            "model/model.json": json.dumps({"name": "x", "version": "1", "variant": "fp32", "num_classes": 1,
                                            "file": "model.ort", "input": {"height": 1, "width": 1},
                                            "preprocess": {}}).encode()})
        no_bootstrap = fake_zip(os.path.join(self.root, "bad", "fn.zip"), {"bin/bootstrap": b""})
        rc, err = self.package("--function", "api", "x86_64", no_bootstrap, "--function", "api", "riscv", no_bootstrap,
                               "--model-layer", bad_model, "--model-layer", no_file)
        self.assertEqual(rc, 1)
        self.assertIn("has no bootstrap at its root", err)
        self.assertIn("unknown architecture 'riscv'", err)
        self.assertIn("has no model/model.json", err)
        self.assertIn("lacks model/labels.txt, model/model.ort that model.json names", err)

    def test_same_file_twice_is_refused(self):
        fn = self.inputs.functions[0]
        rc, err = self.package("--function", *fn, "--function", *fn)
        self.assertEqual(rc, 1)
        self.assertIn("lambda/api-x86_64.zip: given twice", err)

    def test_bazel_run_writes_below_the_workspace(self):
        ws = os.path.join(self.root, "workspace")
        os.makedirs(ws)
        os.environ["BUILD_WORKSPACE_DIRECTORY"] = ws
        try:
            rc, _, err = quiet(package.main, ["--out", "build/artifacts", *self.inputs.argv()])
        finally:
            del os.environ["BUILD_WORKSPACE_DIRECTORY"]
        self.assertEqual(rc, 0, err)
        self.assertTrue(os.path.isfile(os.path.join(ws, "build", "artifacts", "manifest.json")))


class ModelLayerTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="layers-")
        self.root = self._tmp.name

    def tearDown(self):
        self._tmp.cleanup()

    def test_every_model_folder_gets_its_layer(self):
        for name in ("m0", "m1"):
            for variant in ("fp32", "int8"):
                fake_model_dir(self.root, name, variant)
        outs = make_layers.model_layers(self.root)
        self.assertEqual([os.path.basename(o) for o in outs],
                         ["model-m0-fp32.zip", "model-m0-int8.zip", "model-m1-fp32.zip", "model-m1-int8.zip"])
        a, b = outs[0], os.path.join(self.root, "again.zip")
        make_layers.model_layer_zip(os.path.join(self.root, "build", "models", "m0-fp32"), b)
        self.assertEqual(open(a, "rb").read(), open(b, "rb").read(), "same inputs, same bytes")

    def test_a_stale_alternative_fails(self):
        d = fake_model_dir(self.root, "m0", "fp32")
        write(os.path.join(d, "model.ort"), b"rebuilt")
        with self.assertRaisesRegex(make_layers.LayerError, r"alternatives\.ort model\.ort has sha256"):
            make_layers.model_layers(self.root)

    def test_folder_must_match_model_json(self):
        d = fake_model_dir(self.root, "m0", "fp32")
        os.rename(d, os.path.join(self.root, "build", "models", "m0-int8"))
        with self.assertRaisesRegex(make_layers.LayerError, r"the folder must be build/models/m0-fp32"):
            make_layers.model_layers(self.root)


if __name__ == "__main__":
    unittest.main()

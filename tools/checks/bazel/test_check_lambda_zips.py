#!/usr/bin/env python3
"""Tests of check_lambda_zips.py on build/artifacts trees it makes (with package.py) from tiny C programs
built by the host's cc: an old-glibc program passes, and a newer-glibc symbol, a non-executable bootstrap,
an extra entry, the wrong architecture, a missing function, a file the manifest does not list or lists
wrongly, and a model layer that lacks a file its model.json names each fail.

    python3 -m unittest tools/checks/bazel/test_check_lambda_zips.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import check_lambda_zips as clz  # noqa: E402

sys.path.insert(0, clz.LAMBDA_DIR)
import make_layers  # noqa: E402
import package  # noqa: E402
import test_package  # noqa: E402

CC = shutil.which("cc") or shutil.which("gcc")
OLD_GLIBC = "#include <stdio.h>\nint main(void) { puts(\"ok\"); return 0; }\n"
# arc4random appeared in glibc 2.36: a program calling it needs GLIBC_2.36.
NEW_GLIBC = "#include <stdlib.h>\n#include <stdio.h>\nint main(void) { printf(\"%u\\n\", arc4random()); return 0; }\n"


def compile_c(tmp: str, source: str, name: str) -> str:
    src = os.path.join(tmp, name + ".c")
    out = os.path.join(tmp, name)
    with open(src, "w") as f:
        f.write(source)
    subprocess.run([CC, "-O1", "-o", out, src], check=True, capture_output=True)
    return out


def make_zip(path: str, entries: dict[str, tuple[str, int]]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for name, (src, mode) in entries.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o100000 | mode) << 16
            with open(src, "rb") as f:
                zf.writestr(info, f.read())


@unittest.skipUnless(CC and os.uname().machine == "x86_64", "needs a C compiler on an x86_64 host")
class CheckLambdaZipsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="lambda-zips-")
        cls.tmp = cls._tmp.name
        cls.old = compile_c(cls.tmp, OLD_GLIBC, "old")
        try:
            cls.new = compile_c(cls.tmp, NEW_GLIBC, "new")
        except subprocess.CalledProcessError:
            cls.new = None  # a host glibc older than 2.36 has no arc4random

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()

    def setUp(self):
        self.root = tempfile.mkdtemp(dir=self.tmp)

    def zip_path(self, arch: str, fn: str) -> str:
        return os.path.join(self.root, "in", arch, fn + ".zip")

    @property
    def out(self) -> str:
        return os.path.join(self.root, "build", "artifacts")

    def assemble(self, functions: dict | None = None, model_dir: str | None = None) -> None:
        """build/artifacts via package.py from the zips in `functions` ({(fn, arch): path}), a fake ORT
        layer and one fake model layer."""
        if functions is None:
            functions = {}
            for fn in clz.workspace_functions.functions():
                functions[(fn, "x86_64")] = self.zip_path("x86_64", fn)
                make_zip(functions[(fn, "x86_64")], {"bootstrap": (self.old, 0o755)})
        ort = os.path.join(self.root, "in", "ort.zip")
        make_zip(ort, {"lib/libonnxruntime.so.1": (self.old, 0o755)})
        model_dir = model_dir or test_package.fake_model_dir(self.root, "tiny", "fp32")
        model = os.path.join(self.root, "in", "model.zip")
        make_layers.model_layer_zip(model_dir, model)
        items = package.plan([(fn, arch, z) for (fn, arch), z in functions.items()], [("x86_64", ort)], [model])
        package.assemble(self.out, items)

    def run_check(self, *args: str) -> int:
        return clz.main(["--root", self.root, "--artifacts", self.out, *args])

    def test_good_tree_passes(self):
        self.assemble()
        self.assertEqual(self.run_check("--require", "x86_64"), 0)
        problems, summary = clz.check_function_zip(os.path.join(self.out, "lambda", "api-x86_64.zip"), "x86_64")
        self.assertEqual(problems, [])
        self.assertIn("max GLIBC 2.", summary)

    def test_newer_glibc_fails(self):
        if self.new is None:
            self.skipTest("host glibc < 2.36")
        make_zip(self.zip_path("x86_64", "api"), {"bootstrap": (self.new, 0o755)})
        problems, _ = clz.check_function_zip(self.zip_path("x86_64", "api"), "x86_64")
        self.assertTrue(any("GLIBC_2.36" in p for p in problems), problems)
        self.assemble({("api", "x86_64"): self.zip_path("x86_64", "api")})
        self.assertEqual(self.run_check(), 1)

    def test_non_executable_bootstrap_fails(self):
        make_zip(self.zip_path("x86_64", "api"), {"bootstrap": (self.old, 0o644)})
        problems, _ = clz.check_function_zip(self.zip_path("x86_64", "api"), "x86_64")
        self.assertTrue(any("0755" in p for p in problems), problems)

    def test_extra_or_misplaced_entry_fails(self):
        make_zip(self.zip_path("x86_64", "api"), {"bootstrap": (self.old, 0o755), "README": (self.old, 0o644)})
        problems, _ = clz.check_function_zip(self.zip_path("x86_64", "api"), "x86_64")
        self.assertTrue(any("exactly ['bootstrap']" in p for p in problems), problems)
        make_zip(self.zip_path("x86_64", "preprocess"), {"bin/bootstrap": (self.old, 0o755)})
        problems, _ = clz.check_function_zip(self.zip_path("x86_64", "preprocess"), "x86_64")
        self.assertTrue(problems)

    def test_wrong_architecture_fails(self):
        make_zip(self.zip_path("arm64", "api"), {"bootstrap": (self.old, 0o755)})
        problems, _ = clz.check_function_zip(self.zip_path("arm64", "api"), "arm64")
        self.assertTrue(any("expected arm64" in p for p in problems), problems)
        self.assemble({("api", "arm64"): self.zip_path("arm64", "api")})
        self.assertEqual(self.run_check(), 1)

    def test_missing_required_function_fails(self):
        make_zip(self.zip_path("x86_64", "api"), {"bootstrap": (self.old, 0o755)})
        self.assemble({("api", "x86_64"): self.zip_path("x86_64", "api")})
        self.assertEqual(self.run_check(), 0)
        self.assertEqual(self.run_check("--require", "x86_64"), 1)
        self.assertEqual(self.run_check("--require", "arm64"), 1)

    def test_manifest_must_list_exactly_the_tree(self):
        self.assemble()
        extra = os.path.join(self.out, "lambda", "stray-x86_64.zip")
        make_zip(extra, {"bootstrap": (self.old, 0o755)})
        problems, _ = clz.check_manifest(self.out)
        self.assertIn("manifest.json does not list lambda/stray-x86_64.zip", problems)
        os.remove(extra)
        with open(os.path.join(self.out, "lambda", "api-x86_64.zip"), "ab") as f:
            f.write(b"\0")
        problems, _ = clz.check_manifest(self.out)
        self.assertIn("manifest.json: lambda/api-x86_64.zip size/sha256 differ from the file", problems)
        self.assertEqual(self.run_check(), 1)

    def test_layer_layouts(self):
        layer = os.path.join(self.root, "layers", "onnxruntime-x86_64.zip")
        make_zip(layer, {"lib/libonnxruntime.so.1": (self.old, 0o755)})
        self.assertEqual(clz.check_layer_zip(layer, clz.ORT_LAYER), [])
        make_zip(layer, {"libonnxruntime.so.1": (self.old, 0o755)})
        self.assertTrue(clz.check_layer_zip(layer, clz.ORT_LAYER))
        model = os.path.join(self.root, "layers", "model-tiny-fp32.zip")
        make_zip(model, {"model/model.json": (self.old, 0o644)})
        problems, entry = clz.check_model_layer(model)
        self.assertIsNone(entry)
        self.assertTrue(problems)

    def test_model_layer_must_hold_every_file_model_json_names(self):
        d = test_package.fake_model_dir(self.root, "tiny", "fp32")
        self.assemble(model_dir=d)
        self.assertEqual(self.run_check(), 0)
        layer = os.path.join(self.out, "layers", "model-tiny-fp32.zip")
        with zipfile.ZipFile(layer) as zf:
            kept = {n: zf.read(n) for n in zf.namelist() if n != "model/model.ort"}
        with zipfile.ZipFile(layer, "w") as zf:
            for n, data in kept.items():
                info = zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0))
                info.create_system = 3
                info.external_attr = (0o100000 | 0o644) << 16
                zf.writestr(info, data)
        problems, _ = clz.check_model_layer(layer)
        self.assertTrue(any("model/model.ort" in p for p in problems), problems)


if __name__ == "__main__":
    unittest.main()

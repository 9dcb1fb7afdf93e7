#!/usr/bin/env python3
"""Tests of tools/bazel, the script Bazelisk runs in place of Bazel: a binary with the pinned sha256 runs,
a different one is refused, an unpinned version runs with a warning.

    python3 -m unittest tools/checks/bazel/test_bazel_wrapper.py
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
OS = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), platform.system())
CPU = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())


class WrapperTest(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="bazel-wrapper-")
        self.root = self._tmp.name
        os.makedirs(os.path.join(self.root, "tools"))
        os.makedirs(os.path.join(self.root, "third_party", "bazel"))
        shutil.copy2(os.path.join(ROOT, "tools", "bazel"), os.path.join(self.root, "tools", "bazel"))
        self.real = os.path.join(self.root, "fake-bazel")
        with open(self.real, "w") as f:
            f.write('#!/bin/sh\necho "real bazel $*"\n')
        os.chmod(self.real, 0o755)
        with open(self.real, "rb") as f:
            self.sha = hashlib.sha256(f.read()).hexdigest()
        with open(os.path.join(self.root, ".bazelversion"), "w") as f:
            f.write("9.9.9\n")

    def tearDown(self):
        self._tmp.cleanup()

    def pin(self, sha: str, version: str = "9.9.9") -> None:
        with open(os.path.join(self.root, "third_party", "bazel", "SHA256SUMS"), "w") as f:
            f.write(f"{'0' * 64}  bazel-{version}-other-os\n{sha}  bazel-{version}-{OS}-{CPU}\n")

    def run_wrapper(self, **env) -> subprocess.CompletedProcess:
        full = {k: v for k, v in os.environ.items() if k not in ("USE_BAZEL_VERSION", "IMGPIPE_BAZEL_UNVERIFIED")}
        full.update({"BAZEL_REAL": self.real, **env})
        return subprocess.run([os.path.join(self.root, "tools", "bazel"), "build", "//..."], env=full,
                              capture_output=True, text=True, check=False)

    def test_pinned_binary_runs(self):
        self.pin(self.sha)
        r = self.run_wrapper()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "real bazel build //...\n")

    def test_different_binary_is_refused(self):
        self.pin("1" * 64)
        r = self.run_wrapper()
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"bazel-9.9.9-{OS}-{CPU} is pinned at {'1' * 64}", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_unpinned_version_runs_with_a_warning(self):
        self.pin("1" * 64)
        r = self.run_wrapper(USE_BAZEL_VERSION="8.0.0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no pinned sha256 for bazel-8.0.0", r.stderr)

    def test_without_a_launcher_it_says_so(self):
        r = self.run_wrapper(BAZEL_REAL="")
        self.assertEqual(r.returncode, 2)
        self.assertIn("run through bazelisk", r.stderr)

    def test_repository_pins_the_bazelversion_for_this_host(self):
        with open(os.path.join(ROOT, ".bazelversion")) as f:
            version = f.read().strip()
        with open(os.path.join(ROOT, "third_party", "bazel", "SHA256SUMS")) as f:
            names = {line.split()[1] for line in f if line.strip()}
        for p in ("linux-x86_64", "linux-arm64", "darwin-x86_64", "darwin-arm64"):
            self.assertIn(f"bazel-{version}-{p}", names)


if __name__ == "__main__":
    unittest.main()

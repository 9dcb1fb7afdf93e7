#!/usr/bin/env python3
"""Tests of bazel_consistency.py: the repository passes, and mutated copies of it fail for the right reason.

    python3 -m unittest tools/checks/bazel/test_bazel_consistency.py     (or pytest)
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, HERE)

import bazel_consistency as bc  # noqa: E402

SKIP_DIRS = {"target", ".git", "node_modules", "__pycache__"}


def copy_repo(dest: str) -> None:
    """The files the check reads: root manifests and WORKSPACE, and every member's folder (sources too,
    since Cargo finds targets from files)."""
    for name in ("Cargo.toml", "Cargo.lock", "WORKSPACE", "BUILD.bazel"):
        shutil.copy2(os.path.join(ROOT, name), os.path.join(dest, name))
    _, members = bc.read_workspace(ROOT)
    for rel in members:
        shutil.copytree(os.path.join(ROOT, rel), os.path.join(dest, rel),
                        ignore=shutil.ignore_patterns(*SKIP_DIRS))


def edit(path: str, old: str, new: str, count: int = 1) -> None:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if old not in text:
        raise AssertionError(f"{old!r} not in {path}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text.replace(old, new, count))


def write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def add_member(root: str, rel: str) -> None:
    edit(os.path.join(root, "Cargo.toml"), "members = [\n", f'members = [\n    "{rel}",\n')


class RepositoryTest(unittest.TestCase):
    def test_repository_is_consistent(self):
        self.assertEqual(bc.check(ROOT), [])

    def test_every_member_is_checked(self):
        _, members = bc.read_workspace(ROOT)
        self.assertIn("services/core", members)
        self.assertIn("services/api", members)
        for rel in members:
            self.assertIsNotNone(bc._build_file(ROOT, rel), rel)

    def test_workspace_pins_are_real_and_recorded(self):
        errors, notes = bc.check_pins(ROOT, os.path.join(HERE, "workspace_pins.json"))
        self.assertEqual(errors, [])
        self.assertEqual(len(notes), 3)


class MutationTest(unittest.TestCase):
    """Each test breaks one thing in a copy of the repository and expects the check to say so."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="bazel-consistency-")
        self.root = self._tmp.name
        copy_repo(self.root)

    def tearDown(self):
        self._tmp.cleanup()

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def assertFails(self, pattern: str) -> list[str]:
        errors = bc.check(self.root)
        self.assertTrue(any(re.search(pattern, e) for e in errors),
                        f"no error matching {pattern!r} in:\n" + "\n".join(errors))
        return errors

    def test_unmodified_copy_passes(self):
        self.assertEqual(bc.check(self.root), [])

    def test_new_crate_without_build_file_fails(self):
        write(self.path("tools/newtool/Cargo.toml"), '[package]\nname = "imgpipe-newtool"\nversion.workspace = true\n'
              'edition.workspace = true\n\n[dependencies]\nimgpipe-core.workspace = true\n')
        write(self.path("tools/newtool/src/main.rs"), "fn main() {}\n")
        add_member(self.root, "tools/newtool")
        self.assertFails(r"^tools/newtool: workspace member imgpipe-newtool has no BUILD\.bazel")
        self.assertFails(r"manifests lack //tools/newtool:Cargo\.toml")

    def test_new_crate_with_build_file_but_not_in_workspace_fails(self):
        write(self.path("tools/newtool/Cargo.toml"), '[package]\nname = "imgpipe-newtool"\nversion.workspace = true\n'
              'edition.workspace = true\n')
        write(self.path("tools/newtool/src/main.rs"), "fn main() {}\n")
        write(self.path("tools/newtool/BUILD.bazel"), 'load("@crates//:defs.bzl", "aliases", "all_crate_deps")\n'
              'rust_binary(name = "imgpipe-newtool", srcs = ["src/main.rs"], aliases = aliases(),\n'
              '    proc_macro_deps = all_crate_deps(proc_macro = True), deps = all_crate_deps(normal = True))\n')
        add_member(self.root, "tools/newtool")
        errors = self.assertFails(r"manifests lack //tools/newtool:Cargo\.toml")
        self.assertEqual(len(errors), 1, errors)

    def test_internal_cargo_dependency_without_bazel_twin_fails(self):
        edit(self.path("services/api/Cargo.toml"), "[dependencies]\n",
             "[dependencies]\nimgpipe-preprocess.workspace = true\n")
        self.assertFails(r"services/api/BUILD\.bazel:\d+: imgpipe_api lacks the normal dependency on services/preprocess")
        self.assertFails(r"services/api/BUILD\.bazel:\d+: api lacks the normal dependency on services/preprocess")

    def test_bazel_dependency_not_in_cargo_fails(self):
        edit(self.path("services/api/BUILD.bazel"), '"//services/core",\n', '"//services/core",\n'
             '        "//services/preprocess:imgpipe_preprocess",\n')
        self.assertFails(r"imgpipe_api depends on //services/preprocess, which Cargo\.toml's normal dependencies")

    def test_external_dependency_without_bazel_twin_fails(self):
        # Explicit @crates labels instead of all_crate_deps: a Cargo dependency missing from them fails.
        edit(self.path("services/core/BUILD.bazel"), "deps = all_crate_deps(normal = True),",
             'deps = ["@crates//:serde", "@crates//:tokio"],')
        errors = self.assertFails(r"core lacks the normal dependencies \[.*'aws-config'.*\] of Cargo\.toml")
        self.assertFalse(any("'serde'" in e and "lacks" in e for e in errors), errors)

    def test_external_dependency_added_to_cargo_without_label_fails(self):
        edit(self.path("services/core/BUILD.bazel"), "deps = all_crate_deps(normal = True),",
             "deps = " + repr([f"@crates//:{d.package}" for d in
                               bc.read_crate(self.root, "services/core", bc.read_workspace(self.root)[0]).deps["normal"]])
             .replace("'", '"') + ",")
        self.assertEqual(bc.check(self.root), [])  # explicit labels naming exactly Cargo's crates pass
        edit(self.path("services/core/Cargo.toml"), "[dependencies]\n", '[dependencies]\nbase64.workspace = true\n')
        self.assertFails(r"core lacks the normal dependencies \['base64'\]")

    def test_missing_all_crate_deps_kind_fails(self):
        edit(self.path("services/api/BUILD.bazel"), "proc_macro_deps = all_crate_deps(proc_macro = True),\n", "")
        self.assertFails(r"imgpipe_api proc_macro_deps lack all_crate_deps\(proc_macro = True\)")

    def test_new_binary_without_rust_binary_fails(self):
        edit(self.path("services/api/Cargo.toml"), "[dependencies]",
             '[[bin]]\nname = "api-admin"\npath = "src/bin/admin.rs"\n\n[dependencies]')
        write(self.path("services/api/src/bin/admin.rs"), "fn main() {}\n")
        self.assertFails(r"no rust_binary named api-admin")

    def test_renamed_binary_fails(self):
        edit(self.path("services/api/Cargo.toml"), 'name = "api"', 'name = "api-fn"')
        self.assertFails(r"no rust_binary named api-fn")
        self.assertFails(r"rust_binary api is not a binary of services/api/Cargo\.toml")

    def test_new_integration_test_without_rust_test_fails(self):
        write(self.path("services/api/tests/routes.rs"), "#[test]\nfn t() {}\n")
        self.assertFails(r"no rust_test for Cargo's integration test routes \(services/api/tests/routes\.rs\)")

    def test_new_integration_test_under_a_glob_is_covered(self):
        write(self.path("tools/localstack/tests/new_one.rs"), "#[test]\nfn t() {}\n")
        self.assertEqual(bc.check(self.root), [])

    def test_library_without_unit_test_target_fails(self):
        edit(self.path("services/core/BUILD.bazel"), 'crate = ":core",', 'crate = ":other",')
        self.assertFails(r'no rust_test with crate = ":core"')

    def test_internal_dev_dependency_without_bazel_twin_fails(self):
        edit(self.path("services/preprocess/Cargo.toml"), "[dependencies]",
             "[dev-dependencies]\nimgpipe-api.workspace = true\n\n[dependencies]")
        self.assertFails(r"imgpipe_preprocess_test lacks the dev dependency on services/api")

    def test_library_crate_name_mismatch_fails(self):
        edit(self.path("services/core/BUILD.bazel"), 'crate_name = "imgpipe_core",', 'crate_name = "core",')
        self.assertFails(r"no rust_library for Cargo's library imgpipe_core")

    def test_edition_mismatch_fails(self):
        edit(self.path("services/inference/BUILD.bazel"), 'edition = "2021",', 'edition = "2018",')
        self.assertFails(r"imgpipe_inference edition 2018, Cargo\.toml 2021")

    def test_starlark_that_does_not_parse_fails(self):
        write(self.path("services/api/BUILD.bazel"), "rust_library(name = \n")
        self.assertFails(r"services/api/BUILD\.bazel:\d+: cannot parse")


if __name__ == "__main__":
    unittest.main()

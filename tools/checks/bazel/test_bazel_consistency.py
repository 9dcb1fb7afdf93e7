#!/usr/bin/env python3
"""Tests of bazel_consistency.py: the repository passes, and mutated copies of it fail for the right reason.

    python3 -m unittest tools/checks/bazel/test_bazel_consistency.py     (or pytest)
"""

from __future__ import annotations

import ast
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
PINS = os.path.join(HERE, "workspace_pins.json")


def copy_repo(dest: str) -> None:
    """The files the check reads: root manifests, MODULE.bazel, WORKSPACE, the root BUILD, bazel/, the
    pinned Bazel binaries, and every member's folder (sources too, since Cargo finds targets from files)."""
    for name in ("Cargo.toml", "Cargo.lock", "WORKSPACE", "MODULE.bazel", "BUILD.bazel", ".bazelversion"):
        shutil.copy2(os.path.join(ROOT, name), os.path.join(dest, name))
    for rel in ("bazel", "third_party/bazel"):
        shutil.copytree(os.path.join(ROOT, rel), os.path.join(dest, rel))
    _, members = bc.read_workspace(ROOT)
    for rel in members:
        shutil.copytree(os.path.join(ROOT, rel), os.path.join(dest, rel),
                        ignore=shutil.ignore_patterns(*SKIP_DIRS, "corpus"))


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


def add_manifest(root: str, rel: str) -> None:
    for name in ("MODULE.bazel", "WORKSPACE"):
        edit(os.path.join(root, name), '"//:Cargo.toml",\n', f'"//:Cargo.toml",\n        "//{rel}:Cargo.toml",\n')


class RepositoryTest(unittest.TestCase):
    def test_repository_is_consistent(self):
        self.assertEqual(bc.check(ROOT), [])

    def test_every_member_is_checked(self):
        _, members = bc.read_workspace(ROOT)
        for rel in ("services/domain", "services/vision", "services/model", "services/aws", "services/api",
                    "tools/local"):
            self.assertIn(rel, members)
        for rel in members:
            self.assertIsNotNone(bc._build_file(ROOT, rel), rel)

    def test_pins_are_real_and_recorded(self):
        errors, notes = bc.check_pins(ROOT, PINS)
        self.assertEqual(errors, [])
        self.assertEqual(sum(n.startswith("WORKSPACE ") for n in notes), 3)
        self.assertEqual(sum(n.startswith("MODULE.bazel ") for n in notes), 5)
        self.assertEqual(sum(n.startswith(".bazelversion ") for n in notes), 1)

    def test_function_crates_expand_to_lib_bin_test_and_zips(self):
        calls = bc.parse_starlark(os.path.join(ROOT, "services/api/BUILD.bazel"), os.path.join(ROOT, "services/api"), ROOT)
        kinds = sorted((c.kind, c.attrs.get("name")) for c in calls)
        self.assertEqual(kinds, [("lambda_zips", "api"), ("rust_binary", "api"), ("rust_library", "imgpipe_api"),
                                 ("rust_test", "imgpipe_api_test")])

    def test_lambda_bzl_declares_what_the_checker_expands(self):
        """expand_lambda() models bazel/lambda.bzl's imgpipe_lambda: the same rules, names and archs."""
        with open(os.path.join(ROOT, "bazel/lambda.bzl"), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        consts = bc.bzl_constants(os.path.join(ROOT, "bazel/lambda.bzl"), ROOT)
        self.assertEqual(tuple(consts["LAMBDA_ARCHS"]), bc.LAMBDA_ARCHS)
        fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == bc.LAMBDA_MACRO)
        calls = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                callee = ast.unparse(node.func)
                name = next((ast.unparse(k.value) for k in node.keywords if k.arg == "name"), None)
                calls.setdefault(callee, []).append(name)
        self.assertEqual(calls["rust_library"], ["lib"])
        self.assertEqual(calls["rust_binary"], ["name"])
        self.assertEqual(calls["rust_test"][0], "lib + '_test'")
        self.assertIn("src.removeprefix('tests/').removesuffix('.rs') + '_test'", calls["rust_test"])
        self.assertEqual(calls["rust_lambda_zip"], ["'lambda_zip_' + arch"])
        src = ast.unparse(fn)
        self.assertIn("lib = crate_name or 'imgpipe_' + name.replace('-', '_')", src)
        self.assertIn("deps=all_crate_deps(normal=True) + deps + [':' + lib]", src)
        self.assertIn("deps=all_crate_deps(normal_dev=True) + dev_deps", src)

    def test_functions_come_from_cargo(self):
        self.assertEqual(bc.workspace_functions.functions(ROOT), ["api", "preprocess", "inference", "sweeper", "notify"])


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

    def assertFails(self, pattern: str, errors: list[str] | None = None) -> list[str]:
        errors = bc.check(self.root) if errors is None else errors
        self.assertTrue(any(re.search(pattern, e) for e in errors),
                        f"no error matching {pattern!r} in:\n" + "\n".join(errors))
        return errors

    def assertPinFails(self, pattern: str) -> None:
        errors, _ = bc.check_pins(self.root, PINS)
        self.assertFails(pattern, errors)

    def test_unmodified_copy_passes(self):
        self.assertEqual(bc.check(self.root), [])
        self.assertEqual(bc.check_pins(self.root, PINS)[0], [])

    # --- crates and manifests ------------------------------------------------------------------------

    def test_new_crate_without_build_file_fails(self):
        write(self.path("tools/newtool/Cargo.toml"), '[package]\nname = "imgpipe-newtool"\nversion.workspace = true\n'
              'edition.workspace = true\n\n[dependencies]\nimgpipe-domain.workspace = true\n')
        write(self.path("tools/newtool/src/main.rs"), "fn main() {}\n")
        add_member(self.root, "tools/newtool")
        self.assertFails(r"^tools/newtool: workspace member imgpipe-newtool has no BUILD\.bazel")
        self.assertFails(r"^MODULE\.bazel:\d+: crate\.from_cargo manifests lack //tools/newtool:Cargo\.toml")
        self.assertFails(r"^WORKSPACE:\d+: crates_repository manifests lack //tools/newtool:Cargo\.toml")

    def test_new_crate_with_build_file_but_not_in_the_manifests_fails(self):
        write(self.path("tools/newtool/Cargo.toml"), '[package]\nname = "imgpipe-newtool"\nversion.workspace = true\n'
              'edition.workspace = true\n')
        write(self.path("tools/newtool/src/main.rs"), "fn main() {}\n")
        write(self.path("tools/newtool/BUILD.bazel"), 'load("@crates//:defs.bzl", "aliases", "all_crate_deps")\n'
              'rust_binary(name = "imgpipe-newtool", srcs = ["src/main.rs"], aliases = aliases(),\n'
              '    proc_macro_deps = all_crate_deps(proc_macro = True), deps = all_crate_deps(normal = True))\n')
        add_member(self.root, "tools/newtool")
        errors = self.assertFails(r"MODULE\.bazel:\d+: crate\.from_cargo manifests lack //tools/newtool:Cargo\.toml")
        self.assertFails(r"WORKSPACE:\d+: crates_repository manifests lack //tools/newtool:Cargo\.toml", errors)
        self.assertEqual(len(errors), 2, errors)
        add_manifest(self.root, "tools/newtool")
        self.assertEqual(bc.check(self.root), [])

    def test_internal_cargo_dependency_without_bazel_twin_fails(self):
        edit(self.path("services/api/Cargo.toml"), "[dependencies]\n", "[dependencies]\nimgpipe-vision.workspace = true\n")
        self.assertFails(r"services/api/BUILD\.bazel:\d+: imgpipe_api lacks the normal dependency on services/vision")
        self.assertFails(r"services/api/BUILD\.bazel:\d+: api lacks the normal dependency on services/vision")

    def test_bazel_dependency_not_in_cargo_fails(self):
        edit(self.path("services/api/BUILD.bazel"), '"//services/domain",\n', '"//services/domain",\n'
             '        "//services/vision",\n')
        self.assertFails(r"imgpipe_api depends on //services/vision, which Cargo\.toml's normal dependencies")

    def test_external_dependency_without_bazel_twin_fails(self):
        # Explicit @crates labels instead of all_crate_deps: a Cargo dependency missing from them fails.
        edit(self.path("services/domain/BUILD.bazel"), "deps = all_crate_deps(normal = True),",
             'deps = ["@crates//:serde", "@crates//:uuid"],')
        errors = self.assertFails(r"domain lacks the normal dependencies \[.*'sha2'.*\] of Cargo\.toml")
        self.assertFalse(any("'serde'" in e and "lacks" in e for e in errors), errors)

    def test_external_dependency_added_to_cargo_without_label_fails(self):
        edit(self.path("services/domain/BUILD.bazel"), "deps = all_crate_deps(normal = True),",
             "deps = " + repr([f"@crates//:{d.package}" for d in
                               bc.read_crate(self.root, "services/domain", bc.read_workspace(self.root)[0]).deps["normal"]])
             .replace("'", '"') + ",")
        self.assertEqual(bc.check(self.root), [])  # explicit labels naming exactly Cargo's crates pass
        edit(self.path("services/domain/Cargo.toml"), "[dependencies]\n", '[dependencies]\nbase64.workspace = true\n')
        self.assertFails(r"domain lacks the normal dependencies \['base64'\]")

    def test_missing_all_crate_deps_kind_fails(self):
        edit(self.path("services/model/BUILD.bazel"), "proc_macro_deps = all_crate_deps(proc_macro = True),\n", "")
        self.assertFails(r"model proc_macro_deps lack all_crate_deps\(proc_macro = True\)")

    def test_new_binary_without_rust_binary_fails(self):
        edit(self.path("tools/cli/Cargo.toml"), "[dependencies]",
             '[[bin]]\nname = "imgpipe-admin"\npath = "src/bin/admin.rs"\n\n[dependencies]')
        write(self.path("tools/cli/src/bin/admin.rs"), "fn main() {}\n")
        self.assertFails(r"no rust_binary named imgpipe-admin")

    def test_renamed_function_binary_fails(self):
        edit(self.path("services/api/Cargo.toml"), 'name = "api"', 'name = "http-api"')
        self.assertFails(r"no rust_binary named http-api")
        self.assertFails(r"rust_binary api is not a binary of services/api/Cargo\.toml")
        self.assertFails(r"imgpipe_lambda\(name = 'api'\), but the function's \[\[bin\]\] is 'http-api'")
        self.assertFails(r"//:artifacts lacks the function http-api")

    def test_new_integration_test_without_rust_test_fails(self):
        write(self.path("services/domain/tests/routes.rs"), "#[test]\nfn t() {}\n")
        self.assertFails(r"no rust_test for Cargo's integration test routes \(services/domain/tests/routes\.rs\)")

    def test_new_integration_test_of_a_function_is_covered_by_the_macro(self):
        write(self.path("services/api/tests/routes.rs"), "#[test]\nfn t() {}\n")
        self.assertEqual(bc.check(self.root), [])

    def test_new_integration_test_under_a_glob_is_covered(self):
        write(self.path("tools/local/tests/new_one.rs"), "#[test]\nfn t() {}\n")
        self.assertEqual(bc.check(self.root), [])

    def test_library_without_unit_test_target_fails(self):
        edit(self.path("services/domain/BUILD.bazel"), 'crate = ":domain",', 'crate = ":other",')
        self.assertFails(r'no rust_test with crate = ":domain"')

    def test_internal_dev_dependency_without_bazel_twin_fails(self):
        edit(self.path("services/preprocess/Cargo.toml"), "[dev-dependencies]\n",
             "[dev-dependencies]\nimgpipe-model.workspace = true\n")
        self.assertFails(r"imgpipe_preprocess_test lacks the dev dependency on services/model")

    def test_library_crate_name_mismatch_fails(self):
        edit(self.path("services/domain/BUILD.bazel"), 'crate_name = "imgpipe_domain",', 'crate_name = "domain",')
        self.assertFails(r"no rust_library for Cargo's library imgpipe_domain")

    def test_function_crate_name_mismatch_fails(self):
        edit(self.path("services/api/BUILD.bazel"), 'name = "api",', 'name = "api",\n    crate_name = "api_handlers",')
        self.assertFails(r"services/api/BUILD\.bazel: no rust_library for Cargo's library imgpipe_api")

    def test_edition_mismatch_fails(self):
        edit(self.path("bazel/cargo.bzl"), 'CARGO_EDITION = "2021"', 'CARGO_EDITION = "2018"')
        self.assertFails(r"bazel/cargo\.bzl: CARGO_EDITION = '2018', Cargo\.toml's \[workspace\.package\] edition is '2021'")
        self.assertFails(r"imgpipe_inference edition 2018, Cargo\.toml 2021")
        self.assertFails(r"services/domain/BUILD\.bazel:\d+: domain edition 2018")

    def test_starlark_that_does_not_parse_fails(self):
        write(self.path("services/api/BUILD.bazel"), "rust_library(name = \n")
        self.assertFails(r"services/api/BUILD\.bazel:\d+: cannot parse")

    # --- MODULE.bazel ---------------------------------------------------------------------------------

    def test_module_manifests_lack_a_member_fails(self):
        edit(self.path("MODULE.bazel"), '        "//services/vision:Cargo.toml",\n', "")
        self.assertFails(r"^MODULE\.bazel:\d+: crate\.from_cargo manifests lack //services/vision:Cargo\.toml")

    def test_module_lists_a_non_member_fails(self):
        edit(self.path("MODULE.bazel"), '"//tools/local:Cargo.toml",\n', '"//tools/local:Cargo.toml",\n'
             '        "//tools/fuzz:Cargo.toml",\n')
        self.assertFails(r"crate\.from_cargo lists //tools/fuzz:Cargo\.toml, not a workspace member")

    def test_module_lockfile_name_and_repo_fail(self):
        edit(self.path("MODULE.bazel"), 'cargo_lockfile = "//:Cargo.lock"', 'cargo_lockfile = "//tools:Cargo.lock"')
        edit(self.path("MODULE.bazel"), 'use_repo(crate, "crates")', 'use_repo(crate, "crates_io")')
        errors = self.assertFails(r"MODULE\.bazel:\d+: cargo_lockfile must be //:Cargo\.lock")
        self.assertFails(r'no use_repo\(crate, "crates"\)', errors)
        edit(self.path("MODULE.bazel"), 'name = "crates",', 'name = "deps",')
        self.assertFails(r"crate\.from_cargo is named deps, BUILD files load @crates")

    def test_module_missing_fails(self):
        os.remove(self.path("MODULE.bazel"))
        self.assertFails(r"^MODULE\.bazel: missing")

    def test_module_dependency_version_not_recorded_fails(self):
        edit(self.path("MODULE.bazel"), 'bazel_dep(name = "rules_rust", version = "0.73.0")',
             'bazel_dep(name = "rules_rust", version = "0.72.0")')
        self.assertPinFails(r"bazel_dep rules_rust 0\.72\.0, workspace_pins\.json records 0\.73\.0")
        edit(self.path("MODULE.bazel"), 'bazel_dep(name = "platforms", version = "1.1.0")\n',
             'bazel_dep(name = "platforms", version = "1.1.0")\nbazel_dep(name = "rules_cc", version = "0.2.22")\n')
        self.assertPinFails(r"bazel_dep rules_cc is not recorded in workspace_pins\.json")

    def test_bazel_version_without_pinned_binaries_fails(self):
        write(self.path(".bazelversion"), "9.3.0\n")
        self.assertPinFails(r"\.bazelversion 9\.3\.0: third_party/bazel/SHA256SUMS has no sha256 for bazel-9\.3\.0-linux-x86_64")

    def test_workspace_archive_pin_changed_fails(self):
        edit(self.path("WORKSPACE"), "5ffd9ff1f6f2f14f", "5ffd9ff1f6f2f140")
        self.assertPinFails(r"http_archive rules_rust differs from workspace_pins\.json")

    # --- the function macro -----------------------------------------------------------------------------

    def test_function_crate_without_the_macro_fails(self):
        write(self.path("services/api/BUILD.bazel"), '''load("@crates//:defs.bzl", "aliases", "all_crate_deps")
rust_library(name = "imgpipe_api", srcs = glob(["src/**/*.rs"], exclude = ["src/main.rs"]), crate_root = "src/lib.rs",
    aliases = aliases(), proc_macro_deps = all_crate_deps(proc_macro = True),
    deps = all_crate_deps(normal = True) + ["//services/aws", "//services/domain"])
rust_binary(name = "api", srcs = ["src/main.rs"], aliases = aliases(), proc_macro_deps = all_crate_deps(proc_macro = True),
    deps = all_crate_deps(normal = True) + [":imgpipe_api", "//services/aws", "//services/domain"])
rust_test(name = "t", crate = ":imgpipe_api", aliases = aliases(normal_dev = True, proc_macro_dev = True),
    proc_macro_deps = all_crate_deps(proc_macro_dev = True), deps = all_crate_deps(normal_dev = True))
''')
        errors = self.assertFails(r"services/api is a function crate \(\[\[bin\]\] api\) but its BUILD\.bazel has no "
                                  r'imgpipe_lambda\(name = "api"\)')
        self.assertEqual(len(errors), 1, errors)

    def test_macro_lacking_a_dependency_fails(self):
        edit(self.path("services/inference/BUILD.bazel"), '        "//services/model",\n', "")
        self.assertFails(r"services/inference/BUILD\.bazel:\d+: imgpipe_inference lacks the normal dependency on services/model")
        self.assertFails(r"services/inference/BUILD\.bazel:\d+: inference lacks the normal dependency on services/model")

    def test_macro_outside_a_function_crate_fails(self):
        write(self.path("tools/eval/BUILD.bazel"), 'load("//bazel:lambda.bzl", "imgpipe_lambda")\n'
              'imgpipe_lambda(name = "imgpipe-eval", deps = ["//services/domain", "//services/model", "//services/vision"])\n')
        self.assertFails(r"tools/eval/BUILD\.bazel:\d+: imgpipe_lambda in tools/eval, which is not a function crate")

    def test_new_function_is_a_few_lines(self):
        """services/thumbnail: Cargo.toml + sources, one macro call, two manifest lines and FUNCTIONS."""
        write(self.path("services/thumbnail/Cargo.toml"), '[package]\nname = "imgpipe-thumbnail"\nversion.workspace = true\n'
              'edition.workspace = true\n\n[lib]\npath = "src/lib.rs"\n\n[[bin]]\nname = "thumbnail"\npath = "src/main.rs"\n\n'
              '[dependencies]\nimgpipe-domain.workspace = true\n')
        write(self.path("services/thumbnail/src/lib.rs"), "pub fn shrink() {}\n")
        write(self.path("services/thumbnail/src/main.rs"), "fn main() { imgpipe_thumbnail::shrink() }\n")
        add_member(self.root, "services/thumbnail")
        write(self.path("services/thumbnail/BUILD.bazel"), 'load("//bazel:lambda.bzl", "imgpipe_lambda")\n\n'
              'imgpipe_lambda(\n    name = "thumbnail",\n    deps = ["//services/domain"],\n)\n')
        add_manifest(self.root, "services/thumbnail")
        errors = self.assertFails(r"BUILD\.bazel:\d+: //:artifacts lacks the function thumbnail \(add it to FUNCTIONS\)")
        self.assertEqual(len(errors), 1, errors)
        edit(self.path("BUILD.bazel"), '    "sweeper",\n', '    "sweeper",\n    "thumbnail",\n')
        self.assertEqual(bc.check(self.root), [])
        self.assertIn("thumbnail", bc.workspace_functions.functions(self.root))

    def test_artifacts_listing_a_removed_function_fails(self):
        edit(self.path("BUILD.bazel"), '    "preprocess",\n', '    "preprocess",\n    "resize",\n')
        self.assertFails(r"//:artifacts lists resize, not a function crate of the workspace")

    # --- features ---------------------------------------------------------------------------------------

    def test_feature_asked_for_but_not_built_fails(self):
        edit(self.path("services/aws/Cargo.toml"), 'sqs = ["dep:aws-sdk-sqs"]\n', 'sqs = ["dep:aws-sdk-sqs"]\nkinesis = []\n')
        edit(self.path("services/preprocess/Cargo.toml"), 'features = ["dynamodb", "eventbridge", "s3", "sqs"]',
             'features = ["dynamodb", "eventbridge", "kinesis", "s3", "sqs"]')
        self.assertFails(r"services/aws/BUILD\.bazel:\d+: aws lacks crate_features 'kinesis', which imgpipe-preprocess "
                         r"ask\(s\) of imgpipe-aws")

    def test_feature_built_but_never_asked_for_fails(self):
        edit(self.path("services/aws/BUILD.bazel"), '    "sqs",\n]', '    "sqs",\n    "kinesis",\n]')
        self.assertFails(r"aws has crate_features 'kinesis', not a feature of imgpipe-aws")
        edit(self.path("services/notify/Cargo.toml"), 'features = ["dynamodb", "secrets", "sqs"]', 'features = ["dynamodb", "sqs"]')
        edit(self.path("tools/local/Cargo.toml"), 'features = ["dynamodb", "eventbridge", "s3", "secrets", "sqs"]',
             'features = ["dynamodb", "eventbridge", "s3", "sqs"]')
        self.assertFails(r"aws has crate_features 'secrets', which no workspace crate asks for")

    def test_unit_test_without_the_library_features_fails(self):
        edit(self.path("services/domain/BUILD.bazel"), '    crate = ":domain",\n    crate_features = ["testing"],\n',
             '    crate = ":domain",\n')
        self.assertFails(r"domain_test lacks crate_features 'testing' \(a rust_test of domain does not inherit")

    def test_self_dev_dependency_features_fail_without_test_features(self):
        edit(self.path("services/vision/BUILD.bazel"), '    crate = ":vision",\n    crate_features = ["fuzzing"],\n',
             '    crate = ":vision",\n')
        self.assertFails(r"vision_test lacks crate_features 'fuzzing'")
        edit(self.path("services/vision/BUILD.bazel"), '            ":vision_fuzzing",\n', '            ":vision",\n')
        self.assertFails(r"corpus_test needs imgpipe_vision with \['fuzzing'\] \(the crate's dev-dependency on itself\)")


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/env python3
"""Keeps the Bazel files in step with Cargo, without Bazel: every Cargo workspace member must have a
BUILD.bazel whose Rust targets and direct dependencies match its Cargo.toml, and both MODULE.bazel's
crate.from_cargo (Bzlmod, the default) and WORKSPACE's crates_repository (Bazel 7) must list every
member's manifest.

    python3 tools/checks/bazel/bazel_consistency.py [ROOT]     exit 1 and one line per problem when not

What is compared, per member (members come from [workspace].members of the root Cargo.toml):
- a BUILD.bazel exists in the member's folder, and WORKSPACE's crates_repository lists its Cargo.toml;
- the library: one rust_library whose crate name is Cargo's lib name, rooted at Cargo's lib path;
- every binary: a rust_binary named as the [[bin]] (or the implicit src/main.rs / src/bin/*.rs binary);
- tests: a rust_test of the library (crate = the library), one rust_test for each tests/*.rs (a glob
  comprehension counts), one for a binary whose sources contain unit tests;
- dependencies: workspace-internal (path) dependencies appear as explicit labels of the other member's
  rust_library (normal ones on the library and binaries, dev ones on the tests, the crate's own library on
  its binaries and integration tests), and nothing internal that Cargo does not have; external ones come
  from all_crate_deps(normal/proc_macro[/_dev] = True) (or explicit @crates labels, then compared by name);
- edition and version, where the BUILD sets them, are Cargo's (bazel/cargo.bzl's constants too);
- features: a library's crate_features are exactly the union of the features workspace crates ask of
  it (one Bazel build of a crate serves them all, as `cargo build --workspace`), its unit test repeats
  them (a rust_test does not inherit them), and a crate's own dev-dependency on itself with features
  (imgpipe-vision's `fuzzing`) is met by its test targets;
- functions (tools/lambda/functions.py: services/* members with a [[bin]]): each BUILD is one
  imgpipe_lambda(name = <bin>) call, which stands for the library, the binary, the unit test, one
  rust_test per tests/*.rs and the x86_64 and arm64 zips (bazel/lambda.bzl); no other crate uses it;
  and //:artifacts packages exactly these functions.

BUILD files are Starlark, which parses as Python: this reads them with `ast` and evaluates the few
constructs they use (lists, +, glob, comprehensions, string methods, all_crate_deps/aliases markers,
constants loaded from //bazel:*.bzl).
"""

from __future__ import annotations

import ast
import fnmatch
import glob as globmod
import json
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "lambda"))
import functions as workspace_functions  # noqa: E402

RUST_RULES = {"rust_library", "rust_binary", "rust_test", "rust_proc_macro", "rust_shared_library", "rust_static_library"}
LAMBDA_MACRO = "imgpipe_lambda"
LAMBDA_ZIPS = "lambda_zips"  # what the checker records for the macro's zips
LAMBDA_ARCHS = ("x86_64", "arm64")
LIBRARY_RULES = {"rust_library", "rust_proc_macro"}
CRATES_REPO = "crates"


# --------------------------------------------------------------------------------------------------
# Cargo
# --------------------------------------------------------------------------------------------------


@dataclass
class Dep:
    key: str  # the name used in Cargo.toml (the crate name in code, after `package` renames)
    package: str  # the package on the registry / in the workspace
    path: str | None  # repository-relative folder of a path dependency, else None
    features: tuple = ()  # the features asked for (default ones included unless default-features = false)


@dataclass
class Crate:
    dir: str  # repository-relative, "services/api"
    package: str
    version: str | None
    edition: str | None
    lib: tuple[str, str] | None  # (crate name, path relative to dir)
    bins: list[tuple[str, str]] = field(default_factory=list)
    tests: list[tuple[str, str]] = field(default_factory=list)
    deps: dict[str, list[Dep]] = field(default_factory=dict)  # "normal" | "dev" | "build"
    features: dict = field(default_factory=dict)  # Cargo's [features] table


def _inherit(value, workspace_package: dict, key: str):
    if isinstance(value, dict) and value.get("workspace") is True:
        return workspace_package.get(key)
    return value


def _rel(root: str, path: str) -> str:
    return os.path.relpath(os.path.normpath(path), root).replace(os.sep, "/")


def read_workspace(root: str) -> tuple[dict, list[str]]:
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        manifest = tomllib.load(f)
    ws = manifest.get("workspace", {})
    members: list[str] = []
    excluded = {os.path.normpath(e) for e in ws.get("exclude", [])}
    for pattern in ws.get("members", []):
        matches = sorted(globmod.glob(os.path.join(root, pattern))) if any(c in pattern for c in "*?[") else [
            os.path.join(root, pattern)
        ]
        for m in matches:
            rel = _rel(root, m)
            if rel not in excluded and rel not in members:
                members.append(rel)
    if "package" in manifest and "." not in members:
        members.insert(0, ".")
    return ws, members


def read_crate(root: str, rel: str, ws: dict) -> Crate:
    cdir = os.path.join(root, rel)
    with open(os.path.join(cdir, "Cargo.toml"), "rb") as f:
        m = tomllib.load(f)
    pkg = m.get("package", {})
    wsp = ws.get("package", {})
    name = pkg["name"]
    crate = Crate(
        dir=rel,
        package=name,
        version=_inherit(pkg.get("version"), wsp, "version"),
        edition=_inherit(pkg.get("edition"), wsp, "edition"),
        lib=None,
    )
    claimed: set[str] = set()

    lib = m.get("lib")
    if lib is not None or (pkg.get("autolib", True) and os.path.isfile(os.path.join(cdir, "src/lib.rs"))):
        lib = lib or {}
        path = lib.get("path", "src/lib.rs")
        crate.lib = (lib.get("name", name).replace("-", "_"), os.path.normpath(path))
        claimed.add(os.path.normpath(path))

    for b in m.get("bin", []):
        path = b.get("path") or ("src/main.rs" if b["name"] == name else f"src/bin/{b['name']}.rs")
        crate.bins.append((b["name"], os.path.normpath(path)))
        claimed.add(os.path.normpath(path))
    if pkg.get("autobins", True):
        if os.path.isfile(os.path.join(cdir, "src/main.rs")) and "src/main.rs" not in claimed:
            crate.bins.append((name, "src/main.rs"))
        for p in sorted(globmod.glob(os.path.join(cdir, "src/bin/*.rs"))):
            r = _rel(cdir, p)
            if r not in claimed:
                crate.bins.append((os.path.basename(p)[:-3], r))

    for t in m.get("test", []):
        path = t.get("path", f"tests/{t['name']}.rs")
        crate.tests.append((t["name"], os.path.normpath(path)))
        claimed.add(os.path.normpath(path))
    if pkg.get("autotests", True):
        for p in sorted(globmod.glob(os.path.join(cdir, "tests/*.rs"))):
            r = _rel(cdir, p)
            if r not in claimed:
                crate.tests.append((os.path.basename(p)[:-3], r))

    wdeps = ws.get("dependencies", {})
    tables = {"normal": [m.get("dependencies", {})], "dev": [m.get("dev-dependencies", {})],
              "build": [m.get("build-dependencies", {})]}
    for target in m.get("target", {}).values():
        tables["normal"].append(target.get("dependencies", {}))
        tables["dev"].append(target.get("dev-dependencies", {}))
        tables["build"].append(target.get("build-dependencies", {}))
    for kind, tabs in tables.items():
        out: dict[str, Dep] = {}
        for tab in tabs:
            for key, spec in tab.items():
                base_dir = cdir
                if isinstance(spec, dict) and spec.get("workspace") is True:
                    wspec = wdeps.get(key)
                    if wspec is None:
                        raise ValueError(f"{rel}/Cargo.toml: {key}.workspace = true but the workspace has no {key}")
                    spec = {**({"version": wspec} if isinstance(wspec, str) else wspec),
                            **{k: v for k, v in spec.items() if k != "workspace"}}
                    base_dir = root
                if isinstance(spec, str):
                    spec = {"version": spec}
                path = spec.get("path")
                features = list(spec.get("features", []))
                if spec.get("default-features", spec.get("default_features", True)):
                    features.append("default")
                prev = out.get(key)
                out[key] = Dep(
                    key=key,
                    package=spec.get("package", key),
                    path=_rel(root, os.path.join(base_dir, path)) if path else None,
                    features=tuple(sorted(set(features) | set(prev.features if prev else ()))),
                )
        crate.deps[kind] = list(out.values())
    crate.features = m.get("features", {})
    return crate


def enabled_features(crate: Crate, asked: set) -> set:
    """Cargo's closure of `asked` over the crate's [features] (names of other features, not dep:/x/y)."""
    out, pending = set(), [f for f in asked if f in crate.features]
    while pending:
        f = pending.pop()
        if f in out:
            continue
        out.add(f)
        pending += [g for g in crate.features.get(f, []) if g in crate.features and "/" not in g]
    out.discard("default")
    return out


# --------------------------------------------------------------------------------------------------
# Starlark (BUILD, WORKSPACE) through Python's ast
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CrateDeps:
    """all_crate_deps(...) / aliases(...): what crate_universe fills in from Cargo."""

    func: str
    kinds: frozenset


@dataclass
class Call:
    kind: str
    attrs: dict
    line: int


class StarlarkError(Exception):
    pass


@dataclass(frozen=True)
class Macro:
    """A function loaded from a .bzl file: a call to it is recorded under its name."""

    name: str


class Evaluator:
    def __init__(self, pkg_dir: str, path: str, root: str | None = None):
        self.pkg_dir = pkg_dir
        self.path = path
        self.root = root
        self.env: dict = {"True": True, "False": False, "None": None}
        self.calls: list[Call] = []

    def run(self, source: str) -> list[Call]:
        try:
            tree = ast.parse(source, filename=self.path)
        except SyntaxError as e:
            raise StarlarkError(f"{self.path}:{e.lineno}: cannot parse: {e.msg}") from None
        for stmt in tree.body:
            if isinstance(stmt, ast.Expr) and _is_load(stmt.value):
                self.load(stmt.value)
            elif isinstance(stmt, ast.Expr):
                self.top_expr(stmt.value)
            elif isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
                try:
                    self.env[stmt.targets[0].id] = self.eval(stmt.value)
                except StarlarkError:
                    self.env[stmt.targets[0].id] = None
        return self.calls

    def load(self, node: ast.Call) -> None:
        """Constants of a main-repository .bzl (e.g. //bazel:cargo.bzl) become names; functions, macros."""
        label = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
        symbols = {a.value: a.value for a in node.args[1:] if isinstance(a, ast.Constant)}
        symbols.update({kw.arg: kw.value.value for kw in node.keywords if isinstance(kw.value, ast.Constant)})
        values: dict = {}
        if self.root and label.startswith("//") and ":" in label:
            pkg, name = label[2:].split(":", 1)
            bzl = os.path.join(self.root, pkg, name)
            if os.path.isfile(bzl):
                values = bzl_constants(bzl, self.root)
        for local, exported in symbols.items():
            self.env[local] = values.get(exported, Macro(exported))

    def top_expr(self, node: ast.AST, scope: dict | None = None) -> None:
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
            # MODULE.bazel's tag calls: crate.from_cargo(...) is recorded as "<proxy>.from_cargo".
            attrs = {}
            for kw in node.keywords:
                try:
                    attrs[kw.arg] = self.eval(kw.value, scope)
                except StarlarkError:
                    attrs[kw.arg] = None
            self.calls.append(Call(f"{node.func.value.id}.{node.func.attr}", attrs, node.lineno))
            return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            name = node.func.id
            if name in ("load",):
                return
            macro = self.env.get(name)
            if isinstance(macro, Macro):
                name = macro.name
            attrs = {}
            for kw in node.keywords:
                if kw.arg is None:
                    continue
                try:
                    attrs[kw.arg] = self.eval(kw.value, scope)
                except StarlarkError:
                    attrs[kw.arg] = None
            if name in ("use_repo", "register_toolchains"):
                attrs["_args"] = [a.value if isinstance(a, ast.Constant) else (a.id if isinstance(a, ast.Name) else None)
                                  for a in node.args]
            if name == LAMBDA_MACRO:
                self.calls += expand_lambda(attrs, node.lineno, self)
            else:
                self.calls.append(Call(name, attrs, node.lineno))
        elif isinstance(node, ast.ListComp):
            for binding in self.comprehension(node.generators, scope or {}):
                self.top_expr(node.elt, binding)

    def comprehension(self, generators, scope):
        if not generators:
            yield scope
            return
        gen, rest = generators[0], generators[1:]
        for value in self.eval(gen.iter, scope):
            inner = dict(scope)
            self.bind(gen.target, value, inner)
            if all(self.eval(cond, inner) for cond in gen.ifs):
                yield from self.comprehension(rest, inner)

    def bind(self, target, value, scope):
        if isinstance(target, ast.Name):
            scope[target.id] = value
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t, v in zip(target.elts, value, strict=True):
                self.bind(t, v, scope)
        else:
            raise StarlarkError(f"{self.path}: unsupported loop target")

    def eval(self, node, scope=None):
        scope = scope or {}
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.eval(e, scope) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {self.eval(k, scope): self.eval(v, scope) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Name):
            if node.id in scope:
                return scope[node.id]
            if node.id in self.env:
                return self.env[node.id]
            raise StarlarkError(f"{self.path}:{node.lineno}: unknown name {node.id}")
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left, right = self.eval(node.left, scope), self.eval(node.right, scope)
            if isinstance(left, CrateDeps):
                left = [left]
            if isinstance(right, CrateDeps):
                right = [right]
            return left + right
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            return self.eval(node.left, scope) % self.eval(node.right, scope)
        if isinstance(node, ast.JoinedStr):
            raise StarlarkError(f"{self.path}:{node.lineno}: f-strings are not Starlark")
        if isinstance(node, ast.Subscript):
            value = self.eval(node.value, scope)
            if isinstance(node.slice, ast.Slice):
                lo = self.eval(node.slice.lower, scope) if node.slice.lower else None
                hi = self.eval(node.slice.upper, scope) if node.slice.upper else None
                return value[lo:hi]
            return value[self.eval(node.slice, scope)]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -self.eval(node.operand, scope)
        if isinstance(node, ast.Call):
            return self.call(node, scope)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return f"{node.value.id}.{node.attr}"  # e.g. a module extension proxy's tag, not evaluated
        raise StarlarkError(f"{self.path}:{getattr(node, 'lineno', '?')}: unsupported expression {type(node).__name__}")

    def call(self, node: ast.Call, scope):
        args = [self.eval(a, scope) for a in node.args]
        kwargs = {kw.arg: self.eval(kw.value, scope) for kw in node.keywords if kw.arg}
        if isinstance(node.func, ast.Attribute):
            target = self.eval(node.func.value, scope)
            method = node.func.attr
            if isinstance(target, str) and method in ("format", "removeprefix", "removesuffix", "replace", "lower",
                                                       "upper", "strip", "split", "join", "startswith", "endswith"):
                return getattr(target, method)(*args, **kwargs)
            raise StarlarkError(f"{self.path}:{node.lineno}: unsupported method {method}")
        if not isinstance(node.func, ast.Name):
            raise StarlarkError(f"{self.path}:{node.lineno}: unsupported call")
        name = node.func.id
        if name == "glob":
            return self.glob(args[0] if args else kwargs.get("include", []), kwargs.get("exclude", []))
        if name in ("all_crate_deps", "aliases"):
            return CrateDeps(name, frozenset(k for k, v in kwargs.items() if v))
        if name == "select":
            merged = []
            for value in args[0].values():
                merged += value if isinstance(value, list) else [value]
            return merged
        if name == "len":
            return len(args[0])
        if name == "Label":
            return args[0]
        raise StarlarkError(f"{self.path}:{node.lineno}: unsupported function {name}")

    def glob(self, include, exclude):
        out = set()
        for pattern in include:
            for p in globmod.glob(os.path.join(self.pkg_dir, pattern), recursive=True):
                if os.path.isfile(p):
                    out.add(_rel(self.pkg_dir, p))
        return sorted(p for p in out if not any(fnmatch.fnmatchcase(p, e) for e in exclude))


def _is_load(node) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "load"


def bzl_constants(path: str, root: str) -> dict:
    """Top-level constant assignments of a .bzl file (what BUILD files load from //bazel)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), filename=path)
    ev = Evaluator(os.path.dirname(path), path, None)
    out: dict = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            try:
                out[stmt.targets[0].id] = ev.eval(stmt.value, out)
            except (StarlarkError, TypeError, KeyError, AttributeError):
                pass
    return out


def expand_lambda(attrs: dict, line: int, ev: "Evaluator") -> list[Call]:
    """The targets one imgpipe_lambda() call declares (bazel/lambda.bzl; test_bazel_consistency.py checks
    that the .bzl still declares these)."""
    name = attrs.get("name")
    if not isinstance(name, str):
        return [Call(LAMBDA_MACRO, attrs, line)]
    lib = attrs.get("crate_name") or "imgpipe_" + name.replace("-", "_")
    deps = [d for d in _as_list(attrs.get("deps")) if isinstance(d, str)]
    dev_deps = [d for d in _as_list(attrs.get("dev_deps")) if isinstance(d, str)]
    edition, version = ev.env.get("CARGO_EDITION"), ev.env.get("CARGO_VERSION")
    consts = bzl_constants(os.path.join(ev.root, "bazel", "cargo.bzl"), ev.root) if ev.root and \
        os.path.isfile(os.path.join(ev.root, "bazel", "cargo.bzl")) else {}
    edition = consts.get("CARGO_EDITION", edition)
    version = consts.get("CARGO_VERSION", version)
    normal = CrateDeps("all_crate_deps", frozenset({"normal"}))
    common = {"edition": edition, "version": version, "_macro": LAMBDA_MACRO}
    calls = [
        Call("rust_library", {"name": lib, "srcs": ev.glob(["src/**/*.rs"], ["src/main.rs"]), "crate_root": "src/lib.rs",
                              "aliases": CrateDeps("aliases", frozenset()), "deps": [normal, *deps],
                              "proc_macro_deps": [CrateDeps("all_crate_deps", frozenset({"proc_macro"}))],
                              "compile_data": attrs.get("compile_data"), **common}, line),
        Call("rust_binary", {"name": name, "srcs": ["src/main.rs"], "crate_root": "src/main.rs",
                             "aliases": CrateDeps("aliases", frozenset()), "deps": [normal, *deps, ":" + lib],
                             "proc_macro_deps": [CrateDeps("all_crate_deps", frozenset({"proc_macro"}))], **common}, line),
        Call("rust_test", {"name": lib + "_test", "crate": ":" + lib,
                           "aliases": CrateDeps("aliases", frozenset({"normal_dev", "proc_macro_dev"})),
                           "deps": [CrateDeps("all_crate_deps", frozenset({"normal_dev"})), *dev_deps],
                           "proc_macro_deps": [CrateDeps("all_crate_deps", frozenset({"proc_macro_dev"}))],
                           "_macro": LAMBDA_MACRO}, line),
    ]
    for src in ev.glob(["tests/*.rs"], []):
        calls.append(Call("rust_test", {
            "name": src.removeprefix("tests/").removesuffix(".rs") + "_test", "srcs": [src], "crate_root": src,
            "aliases": CrateDeps("aliases", frozenset({"normal_dev", "proc_macro_dev"})),
            "deps": [CrateDeps("all_crate_deps", frozenset({"normal", "normal_dev"})), *deps, *dev_deps, ":" + lib],
            "proc_macro_deps": [CrateDeps("all_crate_deps", frozenset({"proc_macro", "proc_macro_dev"}))],
            **common}, line))
    calls.append(Call(LAMBDA_ZIPS, {"name": name, "function": name, "archs": list(LAMBDA_ARCHS)}, line))
    return calls


def parse_starlark(path: str, pkg_dir: str, root: str | None = None) -> list[Call]:
    with open(path, encoding="utf-8") as f:
        return Evaluator(pkg_dir, path, root).run(f.read())


def normalize_label(label: str, pkg: str) -> tuple[str, str, str]:
    """(repository, package, name) of a label written in package `pkg`."""
    repo = ""
    if label.startswith("@"):
        repo, _, label = label.lstrip("@").partition("//")
        label = "//" + label
    if label.startswith("//"):
        body = label[2:]
        if ":" in body:
            p, n = body.split(":", 1)
        else:
            p, n = body, body.rsplit("/", 1)[-1]
        return repo, p, n
    if label.startswith(":"):
        return repo, pkg, label[1:]
    return repo, pkg, label


# --------------------------------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------------------------------


def _build_file(root: str, rel: str) -> str | None:
    for name in ("BUILD.bazel", "BUILD"):
        p = os.path.join(root, rel, name)
        if os.path.isfile(p):
            return p
    return None


def _has_unit_tests(root: str, crate_dir: str, path: str) -> bool:
    """Whether the crate root at `path` (or files beside it, for src/main.rs's modules) has #[test]s."""
    p = os.path.join(root, crate_dir, path)
    try:
        with open(p, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return False
    return "#[cfg(test)]" in text or "#[test]" in text or "#[tokio::test" in text


def _crate_name(call: Call) -> str:
    return call.attrs.get("crate_name") or call.attrs["name"].replace("-", "_")


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, CrateDeps):
        return [value]
    return list(value)


def _kinds(values, func: str) -> set:
    out: set = set()
    for v in values:
        if isinstance(v, CrateDeps) and v.func == func:
            out |= set(v.kinds)
    return out


def check(root: str) -> list[str]:
    root = os.path.abspath(root)
    errors: list[str] = []
    ws, members = read_workspace(root)
    crates = {}
    for rel in members:
        try:
            crates[rel] = read_crate(root, rel, ws)
        except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as e:
            errors.append(f"{rel}: cannot read Cargo.toml: {e}")

    # Parse every member's BUILD file and index the libraries by label.
    builds: dict[str, list[Call]] = {}
    lib_owner: dict[tuple[str, str], str] = {}  # (package, target name) -> member dir
    for rel, crate in crates.items():
        path = _build_file(root, rel)
        if path is None:
            errors.append(f"{rel}: workspace member {crate.package} has no BUILD.bazel")
            continue
        try:
            calls = parse_starlark(path, os.path.join(root, rel), root)
        except StarlarkError as e:
            errors.append(str(e))
            continue
        builds[rel] = calls
        for c in calls:
            if c.kind in LIBRARY_RULES and isinstance(c.attrs.get("name"), str):
                lib_owner[(rel, c.attrs["name"])] = rel

    errors += check_module(root, members)
    errors += check_workspace(root, members)
    errors += check_cargo_constants(root, ws)

    for rel, crate in crates.items():
        if rel not in builds:
            continue
        errors += check_crate(root, crate, builds[rel], lib_owner)
    errors += check_features(crates, builds)
    errors += check_functions(root, crates, builds)
    return errors


def check_cargo_constants(root: str, ws: dict) -> list[str]:
    """bazel/cargo.bzl repeats [workspace.package]'s edition and version for every Rust target."""
    path = os.path.join(root, "bazel", "cargo.bzl")
    if not os.path.isfile(path):
        return []
    consts = bzl_constants(path, root)
    wsp = ws.get("package", {})
    errors = []
    for const, key in (("CARGO_EDITION", "edition"), ("CARGO_VERSION", "version")):
        if key in wsp and consts.get(const) != str(wsp[key]):
            errors.append(f"bazel/cargo.bzl: {const} = {consts.get(const)!r}, Cargo.toml's [workspace.package] "
                          f"{key} is {wsp[key]!r}")
    return errors


def _primary_lib(crate: Crate, calls: list[Call]) -> Call | None:
    if not crate.lib:
        return None
    libs = [c for c in calls if c.kind in LIBRARY_RULES and _crate_name(c) == crate.lib[0]]
    return libs[0] if libs else None


def check_features(crates: dict, builds: dict) -> list[str]:
    """crate_features: one Bazel build per crate, with the union of what the workspace asks of it."""
    errors: list[str] = []
    for rel, crate in crates.items():
        if rel not in builds or not crate.lib:
            continue
        calls = builds[rel]
        where = f"{rel}/BUILD.bazel"
        asked: set = set()
        askers: dict = {}
        for other in crates.values():
            if other.dir == rel:
                continue
            for kind in ("normal", "dev"):
                for d in other.deps.get(kind, []):
                    if d.path == rel:
                        asked |= set(d.features)
                        for f in d.features:
                            askers.setdefault(f, []).append(other.package)
        want = enabled_features(crate, asked)
        own = enabled_features(crate, {f for d in crate.deps.get("dev", []) if d.path == rel for f in d.features})
        lib = _primary_lib(crate, calls)
        if lib is None:
            continue
        have = set(_as_list(lib.attrs.get("crate_features")))
        name = lib.attrs.get("name")
        for f in sorted(want - have):
            errors.append(f"{where}:{lib.line}: {name} lacks crate_features {f!r}, which "
                          f"{', '.join(sorted(set(askers.get(f, ['a feature it implies']))))} ask(s) of {crate.package} "
                          f"(Bazel builds one {crate.lib[0]} for the whole workspace)")
        for f in sorted(have - want):
            if f not in crate.features:
                errors.append(f"{where}:{lib.line}: {name} has crate_features {f!r}, not a feature of {crate.package}")
            else:
                errors.append(f"{where}:{lib.line}: {name} has crate_features {f!r}, which no workspace crate asks for")
        lib_label = (rel, name)
        for c in calls:
            if c.kind != "rust_test":
                continue
            test_features = set(_as_list(c.attrs.get("crate_features")))
            if isinstance(c.attrs.get("crate"), str):
                if normalize_label(c.attrs["crate"], rel)[1:] != lib_label:
                    continue
                for f in sorted((have | own) - test_features):
                    errors.append(f"{where}:{c.line}: {c.attrs.get('name')} lacks crate_features {f!r} "
                                  f"(a rust_test of {name} does not inherit its features)")
            elif own:
                libs = {c2.attrs.get("name"): c2 for c2 in calls if c2.kind in LIBRARY_RULES}
                used = [libs[normalize_label(d, rel)[2]] for d in _as_list(c.attrs.get("deps"))
                        if isinstance(d, str) and normalize_label(d, rel)[1] == rel and normalize_label(d, rel)[2] in libs]
                if not any(own <= set(_as_list(u.attrs.get("crate_features"))) for u in used):
                    errors.append(f"{where}:{c.line}: {c.attrs.get('name')} needs {crate.lib[0]} with "
                                  f"{sorted(own)} (the crate's dev-dependency on itself)")
    return errors


def check_functions(root: str, crates: dict, builds: dict) -> list[str]:
    """Function crates are imgpipe_lambda() calls named as their [[bin]], and //:artifacts packages them."""
    errors: list[str] = []
    try:
        fns = {rel: b for rel, _, b in workspace_functions.function_packages(root)}
    except (OSError, ValueError, KeyError, tomllib.TOMLDecodeError) as e:
        return [f"tools/lambda/functions.py: {e}"]
    for rel in crates:
        if rel not in builds:
            continue
        zips = [c for c in builds[rel] if c.kind == LAMBDA_ZIPS]
        where = f"{rel}/BUILD.bazel"
        if rel in fns:
            if not zips:
                errors.append(f"{where}: {rel} is a function crate ([[bin]] {fns[rel]}) but its BUILD.bazel has no "
                              f'imgpipe_lambda(name = "{fns[rel]}") (bazel/lambda.bzl): no zips')
            for z in zips:
                if z.attrs.get("function") != fns[rel]:
                    errors.append(f"{where}:{z.line}: imgpipe_lambda(name = {z.attrs.get('function')!r}), but the "
                                  f"function's [[bin]] is {fns[rel]!r}")
        elif zips:
            errors.append(f"{where}:{zips[0].line}: imgpipe_lambda in {rel}, which is not a function crate "
                          f"(services/* with a [[bin]])")
    path = _build_file(root, "")
    if path is None:
        return errors + ["BUILD.bazel: missing at the root (//:artifacts)"]
    try:
        calls = parse_starlark(path, root, root)
    except StarlarkError as e:
        return errors + [str(e)]
    arts = [c for c in calls if c.kind == "imgpipe_artifacts"]
    if len(arts) != 1:
        return errors + [f"BUILD.bazel: expected one imgpipe_artifacts (//:artifacts), found {len(arts)}"]
    listed = set(_as_list(arts[0].attrs.get("functions")))
    want = set(fns.values())
    for missing in sorted(want - listed):
        errors.append(f"BUILD.bazel:{arts[0].line}: //:artifacts lacks the function {missing} (add it to FUNCTIONS)")
    for extra in sorted(listed - want):
        errors.append(f"BUILD.bazel:{arts[0].line}: //:artifacts lists {extra}, not a function crate of the workspace")
    return errors


def check_module(root: str, members: list[str]) -> list[str]:
    """MODULE.bazel: one crate.from_cargo named crates over Cargo.lock and every member's manifest."""
    path = os.path.join(root, "MODULE.bazel")
    if not os.path.isfile(path):
        return ["MODULE.bazel: missing (the default build is Bzlmod)"]
    try:
        calls = parse_starlark(path, root, root)
    except StarlarkError as e:
        return [str(e)]
    errors = []
    rust = [c for c in calls if c.kind == "bazel_dep" and c.attrs.get("name") == "rules_rust"]
    if not rust:
        errors.append("MODULE.bazel: no bazel_dep(name = \"rules_rust\")")
    exts = [c for c in calls if c.kind == "use_extension"
            and str(c.attrs.get("extension_name", "")) == "crate"]
    froms = [c for c in calls if c.kind.endswith(".from_cargo")]
    if len(froms) != 1:
        return errors + [f"MODULE.bazel: expected one crate.from_cargo, found {len(froms)}"]
    fc = froms[0]
    proxy = fc.kind.split(".", 1)[0]
    if fc.attrs.get("name", CRATES_REPO) != CRATES_REPO:
        errors.append(f"MODULE.bazel:{fc.line}: crate.from_cargo is named {fc.attrs.get('name')}, BUILD files load @{CRATES_REPO}")
    if fc.attrs.get("cargo_lockfile") != "//:Cargo.lock":
        errors.append(f"MODULE.bazel:{fc.line}: cargo_lockfile must be //:Cargo.lock")
    listed = set(fc.attrs.get("manifests") or [])
    want = {"//:Cargo.toml"} | {f"//{m}:Cargo.toml" if m != "." else "//:Cargo.toml" for m in members}
    for missing in sorted(want - listed):
        errors.append(f"MODULE.bazel:{fc.line}: crate.from_cargo manifests lack {missing} (a workspace member)")
    for extra in sorted(listed - want):
        errors.append(f"MODULE.bazel:{fc.line}: crate.from_cargo lists {extra}, not a workspace member")
    repos = [c for c in calls if c.kind == "use_repo" and (c.attrs.get("_args") or [None])[0] == proxy]
    if not any(CRATES_REPO in (c.attrs.get("_args") or [])[1:] for c in repos):
        errors.append(f"MODULE.bazel: no use_repo({proxy}, \"{CRATES_REPO}\"): BUILD files could not load @{CRATES_REPO}")
    del exts
    return errors


def check_crate(root: str, crate: Crate, calls: list[Call], lib_owner: dict) -> list[str]:
    rel = crate.dir
    where = f"{rel}/BUILD.bazel"
    errors: list[str] = []
    rust = [c for c in calls if c.kind in RUST_RULES]
    internal = {k: {d.path for d in crate.deps.get(k, []) if d.path} for k in ("normal", "dev", "build")}
    internal["dev"].discard(rel)  # a dev-dependency on itself only turns features on (check_features)
    external = {k: {d.package for d in crate.deps.get(k, []) if not d.path} for k in ("normal", "dev", "build")}
    for path in sorted(internal["normal"] | internal["dev"]):
        if not any(owner == path for owner in lib_owner.values()):
            errors.append(f"{rel}/Cargo.toml: path dependency {path} is not a workspace member with a rust_library")

    def internal_of(call: Call) -> set:
        out = set()
        for label in _as_list(call.attrs.get("deps")) + _as_list(call.attrs.get("proc_macro_deps")):
            if not isinstance(label, str):
                continue
            repo, pkg, name = normalize_label(label, rel)
            if repo in ("", "@"):
                owner = lib_owner.get((pkg, name))
                if owner:
                    out.add(owner)
                elif pkg in {d for d, _ in lib_owner} and pkg != rel:
                    errors.append(f"{where}:{call.line}: {call.attrs.get('name')} depends on {label}, "
                                  f"which is not the rust_library of {pkg}")
        return out

    def external_ok(call: Call, want: set, deps_kinds: set, macro_kinds: set, what: str) -> None:
        deps = _as_list(call.attrs.get("deps"))
        macros = _as_list(call.attrs.get("proc_macro_deps"))
        have_kinds = _kinds(deps, "all_crate_deps")
        have_macro_kinds = _kinds(macros, "all_crate_deps")
        explicit = set()
        for label in deps + macros:
            if isinstance(label, str):
                repo, _, name = normalize_label(label, rel)
                if repo == CRATES_REPO:
                    explicit.add(name)
        name = call.attrs.get("name")
        if want and not deps_kinds <= have_kinds and not have_kinds:
            # Explicit labels instead of all_crate_deps: they must name exactly Cargo's crates.
            missing, extra = sorted(want - explicit), sorted(explicit - want)
            if missing:
                errors.append(f"{where}:{call.line}: {name} lacks the {what} dependencies {missing} of Cargo.toml "
                              f"(use all_crate_deps({', '.join(k + ' = True' for k in sorted(deps_kinds))}))")
            if extra:
                errors.append(f"{where}:{call.line}: {name} depends on {extra}, not {what} dependencies in Cargo.toml")
        elif want and not deps_kinds <= have_kinds:
            errors.append(f"{where}:{call.line}: {name} deps lack all_crate_deps("
                          f"{', '.join(k + ' = True' for k in sorted(deps_kinds - have_kinds))})")
        if have_kinds and not macro_kinds <= have_macro_kinds:
            errors.append(f"{where}:{call.line}: {name} proc_macro_deps lack all_crate_deps("
                          f"{', '.join(k + ' = True' for k in sorted(macro_kinds - have_macro_kinds))})")
        alias_kinds = _kinds(_as_list(call.attrs.get("aliases")), "aliases")
        if have_kinds and call.attrs.get("aliases") is None:
            errors.append(f"{where}:{call.line}: {name} has no aliases = aliases(...) (renamed crates would break)")
        elif have_kinds and not ({k for k in deps_kinds if k.endswith("_dev")} <= alias_kinds | {"normal"}):
            errors.append(f"{where}:{call.line}: {name} aliases lack {sorted(deps_kinds - alias_kinds - {'normal'})}")

    def common_attrs(call: Call) -> None:
        edition, version = call.attrs.get("edition"), call.attrs.get("version")
        if edition is not None and crate.edition and str(edition) != str(crate.edition):
            errors.append(f"{where}:{call.line}: {call.attrs.get('name')} edition {edition}, Cargo.toml {crate.edition}")
        if version is not None and crate.version and version != crate.version:
            errors.append(f"{where}:{call.line}: {call.attrs.get('name')} version {version}, Cargo.toml {crate.version}")

    def compare_internal(call: Call, want: set, what: str) -> None:
        have = internal_of(call)
        name = call.attrs.get("name")
        for missing in sorted(want - have):
            errors.append(f"{where}:{call.line}: {name} lacks the {what} dependency on {missing} "
                          f"(Cargo.toml has it; add its rust_library, e.g. //{missing})")
        for extra in sorted(have - want):
            errors.append(f"{where}:{call.line}: {name} depends on //{extra}, which Cargo.toml's {what} "
                          f"dependencies do not have")

    def srcs_of(call: Call) -> set:
        return {os.path.normpath(s) for s in _as_list(call.attrs.get("srcs")) if isinstance(s, str)}

    def rooted_at(call: Call, path: str) -> bool:
        root_attr = call.attrs.get("crate_root")
        srcs = srcs_of(call)
        if root_attr is not None:
            return os.path.normpath(root_attr) == path and path in srcs
        return path in srcs

    # The library.
    libs = [c for c in rust if c.kind in LIBRARY_RULES]
    lib_call = None
    if crate.lib:
        lib_name, lib_path = crate.lib
        matching = [c for c in libs if _crate_name(c) == lib_name]
        if not matching:
            errors.append(f"{where}: no rust_library for Cargo's library {lib_name} ({rel}/{lib_path})")
        else:
            lib_call = matching[0]
            if not rooted_at(lib_call, lib_path):
                errors.append(f"{where}:{lib_call.line}: rust_library {lib_call.attrs['name']} is not rooted at {lib_path}")
            compare_internal(lib_call, internal["normal"], "normal")
            external_ok(lib_call, external["normal"], {"normal"}, {"proc_macro"}, "normal")
            common_attrs(lib_call)
    elif libs:
        errors.append(f"{where}:{libs[0].line}: rust_library {libs[0].attrs.get('name')}, but Cargo.toml has no library")
    lib_label = (rel, lib_call.attrs["name"]) if lib_call else None

    # Binaries.
    bins = {c.attrs.get("name"): c for c in rust if c.kind == "rust_binary"}
    for bin_name, bin_path in crate.bins:
        call = bins.pop(bin_name, None)
        if call is None:
            errors.append(f"{where}: no rust_binary named {bin_name} for Cargo's binary ({rel}/{bin_path})")
            continue
        if not rooted_at(call, bin_path):
            errors.append(f"{where}:{call.line}: rust_binary {bin_name} is not rooted at {bin_path}")
        compare_internal(call, internal["normal"] | ({rel} if lib_call else set()), "normal")
        external_ok(call, external["normal"], {"normal"}, {"proc_macro"}, "normal")
        common_attrs(call)
        if _has_unit_tests(root, rel, bin_path):
            if not any(c.kind == "rust_test" and isinstance(c.attrs.get("crate"), str)
                       and normalize_label(c.attrs["crate"], rel)[1:] == (rel, bin_name) for c in rust):
                errors.append(f"{where}: binary {bin_name} has unit tests but no rust_test with crate = \":{bin_name}\"")
    for extra in sorted(n for n in bins if n):
        errors.append(f"{where}:{bins[extra].line}: rust_binary {extra} is not a binary of {rel}/Cargo.toml")

    # Tests.
    tests = [c for c in rust if c.kind == "rust_test"]
    if lib_call:
        unit = [c for c in tests if isinstance(c.attrs.get("crate"), str)
                and normalize_label(c.attrs["crate"], rel)[1:] == lib_label]
        if not unit:
            errors.append(f"{where}: no rust_test with crate = \":{lib_call.attrs['name']}\" (the library's unit tests)")
        for c in unit:
            have = internal_of(c) | internal["normal"]  # crate = inherits the library's deps
            for missing in sorted(internal["dev"] - have):
                errors.append(f"{where}:{c.line}: {c.attrs.get('name')} lacks the dev dependency on {missing}")
            external_ok(c, external["dev"], {"normal_dev"}, {"proc_macro_dev"}, "dev")
    for test_name, test_path in crate.tests:
        matching = [c for c in tests if test_path in srcs_of(c)]
        if not matching:
            errors.append(f"{where}: no rust_test for Cargo's integration test {test_name} ({rel}/{test_path})")
            continue
        c = matching[0]
        want = internal["normal"] | internal["dev"] | ({rel} if lib_call else set())
        compare_internal(c, want, "normal + dev")
        external_ok(c, external["normal"] | external["dev"], {"normal", "normal_dev"},
                    {"proc_macro", "proc_macro_dev"}, "normal + dev")
    return errors


def check_workspace(root: str, members: list[str]) -> list[str]:
    errors = []
    path = os.path.join(root, "WORKSPACE")
    if not os.path.isfile(path):
        path = os.path.join(root, "WORKSPACE.bazel")
    if not os.path.isfile(path):
        return ["WORKSPACE: missing"]
    try:
        calls = parse_starlark(path, root, root)
    except StarlarkError as e:
        return [str(e)]
    repos = [c for c in calls if c.kind == "crates_repository"]
    if len(repos) != 1:
        return [f"WORKSPACE: expected one crates_repository, found {len(repos)}"]
    repo = repos[0]
    if repo.attrs.get("name") != CRATES_REPO:
        errors.append(f"WORKSPACE:{repo.line}: crates_repository is named {repo.attrs.get('name')}, BUILD files load @{CRATES_REPO}")
    if repo.attrs.get("cargo_lockfile") != "//:Cargo.lock":
        errors.append(f"WORKSPACE:{repo.line}: cargo_lockfile must be //:Cargo.lock")
    listed = set(repo.attrs.get("manifests") or [])
    want = {"//:Cargo.toml"} | {f"//{m}:Cargo.toml" if m != "." else "//:Cargo.toml" for m in members}
    for missing in sorted(want - listed):
        errors.append(f"WORKSPACE:{repo.line}: crates_repository manifests lack {missing} (a workspace member)")
    for extra in sorted(listed - want):
        errors.append(f"WORKSPACE:{repo.line}: crates_repository lists {extra}, not a workspace member")
    lockfile = repo.attrs.get("lockfile")
    if lockfile:
        _, pkg, name = normalize_label(lockfile, "")
        if not os.path.isfile(os.path.join(root, pkg, name)):
            errors.append(f"WORKSPACE:{repo.line}: lockfile {lockfile} does not exist")
    return errors


# --------------------------------------------------------------------------------------------------
# Pins: every http_archive has a real sha256, the one recorded (with its source) in workspace_pins.json
# --------------------------------------------------------------------------------------------------

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def check_pins(root: str, pins_path: str) -> tuple[list[str], list[str]]:
    """(errors, notes): WORKSPACE's http_archives carry the recorded sha256, MODULE.bazel's bazel_deps
    the recorded versions, and .bazelversion has a pinned binary for every platform."""
    errors, notes = [], []
    base = os.path.basename(pins_path)
    with open(pins_path, encoding="utf-8") as f:
        data = json.load(f)
    pins = data["archives"]
    calls = parse_starlark(os.path.join(root, "WORKSPACE"), root, root)
    seen = set()
    for c in calls:
        if c.kind != "http_archive":
            continue
        name, sha = c.attrs.get("name"), c.attrs.get("sha256")
        seen.add(name)
        if not isinstance(sha, str) or not _HEX64.match(sha) or len(set(sha)) < 8:
            errors.append(f"WORKSPACE:{c.line}: http_archive {name} has no real sha256 ({sha!r})")
            continue
        pin = pins.get(name)
        if pin is None:
            errors.append(f"WORKSPACE:{c.line}: http_archive {name} is not recorded in {base}")
            continue
        if pin["sha256"] != sha or pin["url"] not in (c.attrs.get("urls") or [c.attrs.get("url")]):
            errors.append(f"WORKSPACE:{c.line}: http_archive {name} differs from {base}")
        notes.append(f"WORKSPACE {name}: sha256 {sha[:12]}... from {pin['source']}; "
                     f"{'verified by download here' if pin.get('verified_by_download') else 'not downloadable here, so not re-verified'}")
    for name in sorted(set(pins) - seen):
        errors.append(f"{base}: {name} is not an http_archive of WORKSPACE")

    modules = data.get("modules", {})
    module_path = os.path.join(root, "MODULE.bazel")
    if os.path.isfile(module_path):
        deps = {c.attrs.get("name"): c for c in parse_starlark(module_path, root, root) if c.kind == "bazel_dep"}
        for name, c in sorted(deps.items()):
            pin = modules.get(name)
            if pin is None:
                errors.append(f"MODULE.bazel:{c.line}: bazel_dep {name} is not recorded in {base} (modules)")
            elif pin.get("version") != c.attrs.get("version"):
                errors.append(f"MODULE.bazel:{c.line}: bazel_dep {name} {c.attrs.get('version')}, {base} records "
                              f"{pin.get('version')}")
            else:
                notes.append(f"MODULE.bazel {name} {pin['version']}: {pin['source']}")
        for name in sorted(set(modules) - set(deps)):
            errors.append(f"{base}: module {name} is not a bazel_dep of MODULE.bazel")

    bazel = data.get("bazel")
    version_file = os.path.join(root, ".bazelversion")
    if bazel and os.path.isfile(version_file):
        with open(version_file, encoding="utf-8") as f:
            version = f.read().strip()
        sums_path = os.path.join(root, bazel["sha256sums"])
        pinned = {}
        if os.path.isfile(sums_path):
            with open(sums_path, encoding="utf-8") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2 and _HEX64.match(parts[0]):
                        pinned[parts[1]] = parts[0]
        want = [f"bazel-{version}-{p}" for p in bazel["platforms"]]
        missing = [w for w in want if w not in pinned]
        if missing:
            errors.append(f".bazelversion {version}: {bazel['sha256sums']} has no sha256 for {', '.join(missing)}")
        else:
            notes.append(f".bazelversion {version}: binaries pinned for {', '.join(bazel['platforms'])} "
                         f"({bazel['sha256sums']}, checked by tools/bazel); {bazel['source']}")
    return errors, notes


def main(argv: list[str]) -> int:
    root = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..")
    errors = check(root)
    for e in errors:
        print(e)
    _, members = read_workspace(os.path.abspath(root))
    print(f"{len(members)} workspace members checked ({', '.join(members)}): {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Checks the parts of `terraform validate` that need no provider, over every module under a directory.

For each module (directory of .tf files):
  * every var.X names a declared variable, every local.X a declared local, every data.T.N and resource
    reference T.N a declared data source or resource, every module.X a declared module call and
    module.X.Y an output of that module;
  * each./count. appear only in blocks with for_each/count; path. is module, root or cwd;
  * every argument of a local module call is a variable of the called module, every variable of the
    called module without a default is passed;
  * a variable's validation refers only to that variable (Terraform < 1.9 rejects anything else, and
    required_version allows 1.6);
  * nothing is declared twice, and every declared variable and local is used;
  * every variable has a type and a description, every output a description;
  * provider blocks appear only in environments (directories under envs/).

Usage: tf_refs.py [DIR]   (default: terraform/ of the repository). Exits 1 listing the problems.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tfparse  # noqa: E402

META_ARGUMENTS = {"source", "version", "providers", "depends_on", "count", "for_each"}
PATH_ATTRIBUTES = {"module", "root", "cwd"}
REPO = Path(__file__).resolve().parents[2]


def check_module(module: tfparse.Module, tree: dict[Path, tfparse.Module], root: Path) -> tuple[list[str], int]:
    problems: list[str] = list(module.duplicates)
    where = module.path.relative_to(root) if module.path != root else Path(".")
    used_vars: set[str] = set()
    used_locals: set[str] = set()
    checked = 0

    for address, file, body in module.blocks_with_files():
        at = f"{where}/{file.name}: {address}"
        has_for_each = isinstance(body, dict) and "for_each" in body
        has_count = isinstance(body, dict) and "count" in body
        for kind, name, attr in tfparse.references(body):
            checked += 1
            if kind == "var":
                used_vars.add(name)
                if name not in module.variables:
                    problems.append(f"{at}: var.{name} is not declared")
            elif kind == "local":
                used_locals.add(name)
                if name not in module.locals:
                    problems.append(f"{at}: local.{name} is not declared")
            elif kind == "module":
                if name not in module.modules:
                    problems.append(f"{at}: module.{name} is not declared")
                    continue
                child_dir = tfparse.module_source_dir(module, module.modules[name].body)
                child = tree.get(child_dir) if child_dir else None
                if child_dir and child is None:
                    problems.append(f"{at}: module.{name} source {child_dir} has no .tf files")
                elif child is not None and attr is not None and attr not in child.outputs:
                    problems.append(f"{at}: module.{name}.{attr} is not an output of {child_dir.name}")
            elif kind == "data":
                if attr is None or (name, attr) not in module.data:
                    problems.append(f"{at}: data.{name}.{attr} is not declared")
            elif kind == "each" and not has_for_each and not address.startswith(("local.", "output.")):
                problems.append(f"{at}: each.{name} used in a block without for_each")
            elif kind == "each" and address.startswith(("local.", "output.")):
                problems.append(f"{at}: each.{name} used outside a resource, data or module block")
            elif kind == "count" and not has_count:
                problems.append(f"{at}: count.{name} used in a block without count")
            elif kind == "path" and name not in PATH_ATTRIBUTES:
                problems.append(f"{at}: path.{name} does not exist")
        for rtype, name in tfparse.resource_references(body):
            checked += 1
            if (rtype, name) not in module.resources:
                problems.append(f"{at}: resource {rtype}.{name} is not declared")

    # Module calls: arguments against the called module's variables.
    for name, call in module.modules.items():
        at = f"{where}/{call.file.name}: module.{name}"
        child_dir = tfparse.module_source_dir(module, call.body)
        if child_dir is None:
            continue
        child = tree.get(child_dir)
        if child is None:
            problems.append(f"{at}: source {child_dir} has no .tf files")
            continue
        arguments = set(call.body) - META_ARGUMENTS
        for argument in sorted(arguments - set(child.variables)):
            problems.append(f"{at}: argument {argument} is not a variable of {child_dir.name}")
        for variable, decl in sorted(child.variables.items()):
            if "default" not in decl.body and variable not in arguments:
                problems.append(f"{at}: required argument {variable} (no default in {child_dir.name}) is missing")
        checked += len(arguments)

    # Variables: typed, described, validations about themselves only.
    for name, decl in module.variables.items():
        at = f"{where}/{decl.file.name}: variable.{name}"
        body = decl.body
        if "type" not in body:
            problems.append(f"{at}: no type")
        if not tfparse.text(body.get("description", "")).strip():
            problems.append(f"{at}: no description")
        for validation in body.get("validation", []):
            others = {
                f"{kind}.{ref}"
                for kind, ref, _ in tfparse.references(validation.get("condition"))
                if not (kind == "var" and ref == name)
            }
            if others:
                problems.append(f"{at}: validation refers to {', '.join(sorted(others))} (Terraform < 1.9 allows only var.{name}; use a precondition)")
            if not any(kind == "var" and ref == name for kind, ref, _ in tfparse.references(validation.get("condition"))):
                problems.append(f"{at}: validation does not test var.{name}")
    for name, decl in module.outputs.items():
        if not tfparse.text(decl.body.get("description", "")).strip():
            problems.append(f"{where}/{decl.file.name}: output.{name}: no description")

    for name in sorted(set(module.variables) - used_vars):
        problems.append(f"{where}/{module.variables[name].file.name}: variable {name} is declared but not used")
    for name in sorted(set(module.locals) - used_locals):
        problems.append(f"{where}/{module.locals[name].file.name}: local {name} is declared but not used")

    in_env = "envs" in module.path.relative_to(root).parts if module.path != root else False
    if module.providers and not in_env:
        problems.append(f"{where}: provider block in a reusable module (only environments under envs/ configure providers)")
    return problems, checked


def check(root: Path) -> tuple[list[str], dict[str, int]]:
    """Problems found under root, and counts of what was checked."""
    root = root.resolve()
    tree = tfparse.load_tree(root)
    problems: list[str] = []
    checked = 0
    for module in tree.values():
        found, refs = check_module(module, tree, root)
        problems.extend(found)
        checked += refs
    problems = list(dict.fromkeys(problems))  # one line per distinct problem
    stats = {
        "modules": len(tree),
        "files": sum(len(m.files) for m in tree.values()),
        "references": checked,
    }
    return problems, stats


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else REPO / "terraform"
    try:
        problems, stats = check(root)
    except Exception as err:  # a parse error is a failure too, with the file named
        print(f"tf_refs: {err}", file=sys.stderr)
        return 1
    for problem in problems:
        print(f"tf_refs: {problem}")
    print(
        f"tf_refs: {stats['modules']} modules, {stats['files']} files, {stats['references']} references and "
        f"arguments checked, {len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

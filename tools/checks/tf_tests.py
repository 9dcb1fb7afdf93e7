#!/usr/bin/env python3
"""Checks the `terraform test` files (terraform/tests/*.tftest.hcl) as far as that is possible without terraform:

  * each file parses (python-hcl2 here; tools/checks/hcl_native.js parses and format-checks them with
    HashiCorp's parser);
  * the file uses the blocks `terraform test` knows (run, variables, provider, mock_provider, override_*,
    test) and every run has at least one assert or an expect_failures;
  * every variable a file or a run sets is a variable of the module under test (the directory above tests/);
  * every var.X, local.X, output.X, module.X (and module.X[...].Y: Y an output of X's source), resource T.N
    and data.T.N that a condition, an error message or expect_failures names exists in that module;
  * mock_provider, mock_resource and mock_data name the aws provider and aws_ types;
  * a run's command is plan or apply.

Usage: tf_tests.py [DIR]   (default: terraform/ of the repository). Exits 1 listing the problems.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tfparse  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TOP_LEVEL = {"run", "variables", "provider", "mock_provider", "override_resource", "override_data", "override_module", "test"}
RUN_KEYS = {"command", "variables", "assert", "expect_failures", "module", "providers", "plan_options", "state_key",
            "parallel", "override_resource", "override_data", "override_module"}
MODULE_INDEXED = re.compile(r"(?<![\w.])module\.([A-Za-z_][\w-]*)(?:\[[^\]]*\])?\.([A-Za-z_][\w-]*)")
OUTPUT_REF = re.compile(r"(?<![\w.])output\.([A-Za-z_][\w-]*)")
DATA_REF = re.compile(r"(?<![\w.])data\.([a-z][a-z0-9_]*)\.([A-Za-z_][\w-]*)")
RESOURCE_REF = re.compile(r"(?<![\w.\-])((?:aws|terraform)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")
SIMPLE_REF = re.compile(r"(?<![\w.])(var|local|module)\.([A-Za-z_][\w-]*)")


def test_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.tftest.hcl") if ".terraform" not in p.parts)


def _expressions(value) -> list[str]:
    return [s for s in tfparse.strings(value)]


def check_file(path: Path, tree: dict[Path, tfparse.Module]) -> tuple[list[str], int, int]:
    problems: list[str] = []
    where = path.relative_to(path.parents[2]) if len(path.parents) > 2 else path
    module_dir = path.parent.parent if path.parent.name == "tests" else path.parent
    module = tree.get(module_dir.resolve())
    if module is None:
        return [f"{where}: no Terraform module at {module_dir}"], 0, 0
    try:
        parsed = tfparse.load_file(path)
    except Exception as err:  # python-hcl2 does not name the file
        return [f"{where}: does not parse: {err}"], 0, 0
    for key in sorted(set(parsed) - TOP_LEVEL):
        problems.append(f"{where}: unknown top-level block or attribute {key}")

    references = 0

    def check_variables(block: dict, at: str) -> None:
        nonlocal references
        for name in block:
            references += 1
            if name not in module.variables:
                problems.append(f"{at}: sets {name}, not a variable of {module_dir.name}")

    def check_expression(value, at: str) -> None:
        nonlocal references
        for expression in _expressions(value):
            if tfparse.is_literal(expression):
                continue
            for kind, name in SIMPLE_REF.findall(expression):
                references += 1
                table = {"var": module.variables, "local": module.locals, "module": module.modules}[kind]
                if name not in table:
                    problems.append(f"{at}: {kind}.{name} does not exist in {module_dir.name}")
            for call, output in MODULE_INDEXED.findall(expression):
                references += 1
                if call not in module.modules:
                    continue  # reported above
                child_dir = tfparse.module_source_dir(module, module.modules[call].body)
                child = tree.get(child_dir) if child_dir else None
                if child is not None and output not in child.outputs and output not in {"var"}:
                    problems.append(f"{at}: module.{call}.{output} is not an output of {child_dir.name}")
            for name in OUTPUT_REF.findall(expression):
                references += 1
                if name not in module.outputs:
                    problems.append(f"{at}: output.{name} is not an output of {module_dir.name}")
            for dtype, name in DATA_REF.findall(expression):
                references += 1
                if (dtype, name) not in module.data:
                    problems.append(f"{at}: data.{dtype}.{name} is not declared in {module_dir.name}")
            for rtype, name in RESOURCE_REF.findall(expression):
                references += 1
                if (rtype, name) not in module.resources:
                    problems.append(f"{at}: resource {rtype}.{name} is not declared in {module_dir.name}")

    for block in parsed.get("variables", []):
        check_variables(block, f"{where}: variables")
    for block in parsed.get("mock_provider", []):
        for provider, body in block.items():
            if provider != "aws":
                problems.append(f"{where}: mock_provider {provider}: only aws is used here")
            for kind in ("mock_resource", "mock_data", "override_resource", "override_data"):
                for mock in body.get(kind, []):
                    for rtype in (mock if kind.startswith("mock_") else {}):
                        if not rtype.startswith("aws_"):
                            problems.append(f"{where}: {kind} {rtype} is not an aws_ type")
    runs = 0
    for block in parsed.get("run", []):
        for name, body in block.items():
            runs += 1
            at = f"{where}: run {name}"
            for key in sorted(set(body) - RUN_KEYS):
                problems.append(f"{at}: unknown attribute or block {key}")
            command = body.get("command", "apply")
            if command not in ("plan", "apply", "${plan}", "${apply}"):
                problems.append(f"{at}: command must be plan or apply, not {command}")
            for variables in body.get("variables", []):
                check_variables(variables, f"{at}: variables")
            asserts = body.get("assert", [])
            if not asserts and not body.get("expect_failures"):
                problems.append(f"{at}: neither an assert nor expect_failures")
            for index, assertion in enumerate(asserts):
                if "condition" not in assertion or "error_message" not in assertion:
                    problems.append(f"{at}: assert {index} needs a condition and an error_message")
                check_expression(assertion.get("condition"), f"{at}: assert {index}")
                check_expression(assertion.get("error_message"), f"{at}: assert {index}")
            for failure in body.get("expect_failures", []):
                check_expression(failure, f"{at}: expect_failures")
                if not re.fullmatch(r"\$\{(var\.\w+|output\.\w+|check\.\w+|(?:aws|terraform)_\w+\.\w+)\}", str(failure)):
                    problems.append(f"{at}: expect_failures {failure} is not a root variable, output, check or resource")
    return problems, runs, references


def check(root: Path) -> tuple[list[str], dict[str, int]]:
    root = root.resolve()
    tree = tfparse.load_tree(root)
    problems: list[str] = []
    stats = {"files": 0, "runs": 0, "references": 0}
    for path in test_files(root):
        found, runs, references = check_file(path, tree)
        problems.extend(found)
        stats["files"] += 1
        stats["runs"] += runs
        stats["references"] += references
    if stats["files"] == 0:
        problems.append(f"no .tftest.hcl files under {root}")
    return problems, stats


def main(argv: list[str]) -> int:
    root = Path(argv[1]) if len(argv) > 1 else REPO / "terraform"
    problems, stats = check(root)
    for problem in problems:
        print(f"tf_tests: {problem}")
    print(f"tf_tests: {stats['files']} test files, {stats['runs']} runs, {stats['references']} references checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

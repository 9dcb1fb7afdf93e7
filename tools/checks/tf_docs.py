#!/usr/bin/env python3
"""Writes the Requirements/Inputs/Outputs tables of each module README from its .tf files (the part
terraform-docs would generate), between <!-- BEGIN_TF_DOCS --> and <!-- END_TF_DOCS -->.

Usage: tf_docs.py          rewrite the tables of terraform/README.md and terraform/modules/*/README.md
       tf_docs.py --check  exit 1 if any of them is out of date
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import tfparse  # noqa: E402

BEGIN, END = "<!-- BEGIN_TF_DOCS -->", "<!-- END_TF_DOCS -->"
REPO = Path(__file__).resolve().parents[2]


def _cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _type(body: dict) -> str:
    raw = str(body.get("type", "any"))
    return raw[2:-1] if raw.startswith("${") and raw.endswith("}") else raw


def _default(body: dict) -> str:
    if "default" not in body:
        return "n/a"
    try:
        return json.dumps(tfparse.literal(body["default"]))
    except ValueError:
        return tfparse.text(body["default"])


def render(module: tfparse.Module) -> str:
    lines = [BEGIN, "## Requirements", "", "| Name | Version |", "|------|---------|"]
    for decl in module.terraform:
        block = decl.body
        if "required_version" in block:
            lines.append(f"| terraform | `{tfparse.text(block['required_version'])}` |")
        for providers in block.get("required_providers", []):
            for name, spec in providers.items():
                lines.append(f"| {name} | `{tfparse.text(spec['version'])}` |")
    if module.modules:
        lines += ["", "## Modules", "", "| Name | Source |", "|------|--------|"]
        for name, decl in sorted(module.modules.items()):
            lines.append(f"| {name} | `{tfparse.text(decl.body['source'])}` |")
    lines += [
        "",
        "## Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for name, decl in sorted(module.variables.items(), key=lambda item: ("default" in item[1].body, item[0])):
        body = decl.body
        lines.append(
            f"| `{name}` | {_cell(tfparse.text(body.get('description', '')))} | `{_cell(_type(body))}` "
            f"| `{_cell(_default(body))}` | {'no' if 'default' in body else 'yes'} |"
        )
    lines += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    for name, decl in sorted(module.outputs.items()):
        lines.append(f"| `{name}` | {_cell(tfparse.text(decl.body.get('description', '')))} |")
    lines.append(END)
    return "\n".join(lines)


def targets(terraform: Path) -> list[Path]:
    return [terraform] + sorted(p for p in (terraform / "modules").iterdir() if p.is_dir())


def updated(readme: Path, module: tfparse.Module) -> str:
    current = readme.read_text() if readme.exists() else f"# {module.path.name}\n\n{BEGIN}\n{END}\n"
    if BEGIN not in current or END not in current:
        current = current.rstrip("\n") + f"\n\n{BEGIN}\n{END}\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    return pattern.sub(lambda _: render(module), current)


def stale(terraform: Path) -> list[Path]:
    out = []
    for directory in targets(terraform):
        readme = directory / "README.md"
        if not readme.exists() or readme.read_text() != updated(readme, tfparse.load_module(directory)):
            out.append(readme)
    return out


def main(argv: list[str]) -> int:
    terraform = REPO / "terraform"
    if "--check" in argv:
        out_of_date = stale(terraform)
        for readme in out_of_date:
            print(f"tf_docs: {readme.relative_to(REPO)} is out of date: run tools/checks/tf_docs.py")
        if not out_of_date:
            print(f"tf_docs: {len(targets(terraform))} README tables up to date")
        return 1 if out_of_date else 0
    for directory in targets(terraform):
        readme = directory / "README.md"
        readme.write_text(updated(readme, tfparse.load_module(directory)))
        print(f"tf_docs: wrote {readme.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

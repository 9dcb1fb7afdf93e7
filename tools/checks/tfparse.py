"""Loads Terraform modules with python-hcl2 into a small model the checks can query.

python-hcl2 keeps HCL's distinction between literals and expressions in its output: a string literal comes
back quoted ('"uploads/"'), an expression wrapped in '${...}' ('${var.table_arn}'), a template as a quoted
string with interpolations inside ('"${var.bucket_arn}/uploads/*"'), and numbers, bools and null as Python
values. Block labels are quoted too; this module unquotes them.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import hcl2
from hcl2.utils import SerializationOptions

OPTIONS = SerializationOptions(with_comments=False, with_meta=False, explicit_blocks=True)
META_KEYS = {"__is_block__", "__comments__", "__inline_comments__", "__start_line__", "__end_line__"}


def _unquote_label(key: str) -> str:
    return key[1:-1] if len(key) >= 2 and key[0] == key[-1] == '"' else key


def _clean(value: Any) -> Any:
    """Drops python-hcl2's metadata keys and unquotes block labels (dict keys)."""
    if isinstance(value, dict):
        return {_unquote_label(k): _clean(v) for k, v in value.items() if k not in META_KEYS}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


_PARSED: dict[str, dict] = {}


def load_file(path: Path) -> dict:
    """The parsed file (parses are cached by content: tests load the same text many times)."""
    source = Path(path).read_text(encoding="utf-8")
    if source not in _PARSED:
        _PARSED[source] = _clean(hcl2.loads(source, serialization_options=OPTIONS))
    return copy.deepcopy(_PARSED[source])


def is_literal(value: Any) -> bool:
    """A quoted string without interpolation."""
    return isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"' and "${" not in value


def literal(value: Any) -> Any:
    """The Python value of a literal: the unescaped text of a quoted string, numbers, bools, null, and
    lists/objects of those. Raises ValueError for anything that needs evaluation."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, list):
        return [literal(v) for v in value]
    if isinstance(value, dict):
        return {k: literal(v) for k, v in value.items()}
    if is_literal(value):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value[1:-1]
    raise ValueError(f"not a literal: {value!r}")


def text(value: Any) -> str:
    """A string value without its quotes (literal or template); expressions keep their '${...}'."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        inner = value[1:-1]
        return inner.replace('\\"', '"').replace("\\\\", "\\")
    return str(value)


def strings(value: Any) -> Iterator[str]:
    """Every string inside a value (recursively), keys excluded."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def blocks(body: dict, name: str) -> list[dict]:
    """The nested blocks `name` of a block body, static and dynamic (the content of `dynamic "name"`)."""
    found = [b for b in body.get(name, []) if isinstance(b, dict)]
    for dynamic in body.get("dynamic", []):
        for label, dyn_body in dynamic.items():
            if label == name:
                found.extend(c for c in dyn_body.get("content", []) if isinstance(c, dict))
    return found


@dataclass
class Declaration:
    file: Path
    body: Any


@dataclass
class Module:
    """The declarations of one Terraform module (one directory)."""

    path: Path
    files: dict[Path, dict] = field(default_factory=dict)
    variables: dict[str, Declaration] = field(default_factory=dict)
    locals: dict[str, Declaration] = field(default_factory=dict)
    outputs: dict[str, Declaration] = field(default_factory=dict)
    modules: dict[str, Declaration] = field(default_factory=dict)
    resources: dict[tuple[str, str], Declaration] = field(default_factory=dict)
    data: dict[tuple[str, str], Declaration] = field(default_factory=dict)
    providers: list[Declaration] = field(default_factory=list)
    terraform: list[Declaration] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def _add(self, table: dict, key: Any, decl: Declaration, kind: str) -> None:
        if key in table:
            self.duplicates.append(f"{kind} {key} declared twice ({table[key].file.name}, {decl.file.name})")
        table[key] = decl

    def variable_default(self, name: str) -> Any:
        return literal(self.variables[name].body.get("default"))

    def resource(self, rtype: str, name: str) -> dict:
        return self.resources[(rtype, name)].body

    def data_source(self, dtype: str, name: str) -> dict:
        return self.data[(dtype, name)].body

    def blocks_with_files(self) -> Iterator[tuple[str, Path, Any]]:
        """(address, file, body) of every top-level declaration, for reference scanning."""
        for name, d in self.variables.items():
            yield f"variable.{name}", d.file, d.body
        for name, d in self.locals.items():
            yield f"local.{name}", d.file, d.body
        for name, d in self.outputs.items():
            yield f"output.{name}", d.file, d.body
        for name, d in self.modules.items():
            yield f"module.{name}", d.file, d.body
        for (rtype, name), d in self.resources.items():
            yield f"{rtype}.{name}", d.file, d.body
        for (dtype, name), d in self.data.items():
            yield f"data.{dtype}.{name}", d.file, d.body
        for d in self.providers:
            yield "provider", d.file, d.body
        for d in self.terraform:
            yield "terraform", d.file, d.body


def load_module(path: Path) -> Module:
    module = Module(path=path)
    for file in sorted(path.glob("*.tf")):
        try:
            parsed = load_file(file)
        except Exception as err:  # python-hcl2 does not name the file
            raise ValueError(f"{file}: does not parse: {err}") from err
        module.files[file] = parsed
        for block in parsed.get("variable", []):
            for name, body in block.items():
                module._add(module.variables, name, Declaration(file, body), "variable")
        for block in parsed.get("locals", []):
            for name, value in block.items():
                module._add(module.locals, name, Declaration(file, value), "local")
        for block in parsed.get("output", []):
            for name, body in block.items():
                module._add(module.outputs, name, Declaration(file, body), "output")
        for block in parsed.get("module", []):
            for name, body in block.items():
                module._add(module.modules, name, Declaration(file, body), "module")
        for kind, table in (("resource", module.resources), ("data", module.data)):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        module._add(table, (rtype, name), Declaration(file, body), kind)
        for block in parsed.get("provider", []):
            for _, body in block.items():
                module.providers.append(Declaration(file, body))
        for block in parsed.get("terraform", []):
            module.terraform.append(Declaration(file, block))
    return module


def module_dirs(root: Path) -> list[Path]:
    """Every directory under root (root included) that holds .tf files, hidden and .terraform skipped."""
    dirs = {p.parent for p in root.rglob("*.tf") if not any(part.startswith(".") for part in p.relative_to(root).parts)}
    return sorted(dirs)


def load_tree(root: Path) -> dict[Path, Module]:
    return {d: load_module(d) for d in module_dirs(root)}


def module_source_dir(caller: Module, call: dict) -> Path | None:
    """The directory of a local module source ("./x" or "../x"); None for registry or remote sources."""
    source = literal(call.get("source"))
    if isinstance(source, str) and source.startswith(("./", "../")):
        return (caller.path / source).resolve()
    return None


REF = re.compile(r"(?<![\w.\-])(var|local|module|data|each|count|path|self|terraform)\.([A-Za-z_][\w-]*)(?:\.([A-Za-z_][\w-]*))?")
RESOURCE_REF = re.compile(r"(?<![\w.\-])((?:aws|random|null|archive|local|tls|time|terraform)_[a-z0-9_]+)\.([A-Za-z_][\w-]*)")


def expression_strings(value: Any) -> Iterator[str]:
    """Strings of a value that Terraform evaluates: expressions and templates, not plain literals."""
    for s in strings(value):
        if not is_literal(s):
            yield s


def references(value: Any) -> Iterator[tuple[str, str, str | None]]:
    """(kind, name, attribute) of every var./local./module./data./each./count./path. reference."""
    for s in expression_strings(value):
        for m in REF.finditer(s):
            yield m.group(1), m.group(2), m.group(3)


def resource_references(value: Any) -> Iterator[tuple[str, str]]:
    for s in expression_strings(value):
        for m in RESOURCE_REF.finditer(s):
            yield m.group(1), m.group(2)

"""Multiply-accumulates per image and parameters of ONNX models, from their graphs and onnx shape inference.

    python bench/model_macs.py [--table] [MODEL_DIR_OR_ONNX ...]
        (default: every build/models/<name>-<variant>/ that tools/setup.sh made, else build/model)

Counts the MACs of Conv (N * C_out * H_out * W_out * C_in/group * kH * kW), ConvTranspose-free graphs only,
Gemm and MatMul (M * K * N), at batch 1 (a dynamic batch dimension is pinned to 1 first). Everything else
(activations, adds, pooling, softmax) is a few percent of the work of a convnet and is reported as
element counts, not MACs. Works for the fp32 graph and for the QDQ int8 graph (whose Conv nodes take
DequantizeLinear outputs: the same shapes, the same MACs). Prints one JSON line per model; for a model
folder the line also names the model, variant and input size from its model.json. ``parameters`` counts
every initializer element (for an fp32 graph built by build_model.py: the weights with BatchNorm folded
in; for an int8 QDQ graph also the scales and zero points). ``--table`` prints a Markdown table instead
(the README's Models table).
"""

from __future__ import annotations

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _model_path(arg: str) -> str:
    return _target(arg)[0]


def _target(arg: str):
    """(model file, model.json or None) of a model folder or a model file."""
    if os.path.isdir(arg):
        with open(os.path.join(arg, "model.json"), encoding="utf-8") as f:
            meta = json.load(f)
        return os.path.join(arg, meta["file"]), meta
    return arg, None


def default_targets() -> list:
    models = os.path.join(REPO, "build", "models")
    if os.path.isdir(models):
        found = sorted(os.path.join(models, d) for d in os.listdir(models)
                       if os.path.isfile(os.path.join(models, d, "model.json")))
        if found:
            return found
    return [os.path.join(REPO, "build", "model")]


def table(results: list) -> str:
    rows = ["| model | variant | input | parameters | MACs per image |", "|---|---|---|---:|---:|"]
    for r in results:
        size = f"{r['input']['height']}x{r['input']['width']}" if r.get("input") else "?"
        rows.append(f"| {r.get('name', r['model'])} | {r.get('variant', '?')} | {size} | "
                    f"{r['parameters'] / 1e6:.2f} M | {r['macs_per_image'] / 1e6:.1f} M |")
    return "\n".join(rows)


def _shape(value_info):
    dims = value_info.type.tensor_type.shape.dim
    if not dims:
        return None
    out = []
    for d in dims:
        if not d.HasField("dim_value"):
            return None
        out.append(d.dim_value)
    return out


def _prod(values) -> int:
    n = 1
    for v in values:
        n *= int(v)
    return n


def count(path: str, batch: int = 1) -> dict:
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(path)
    graph = model.graph
    initializers = {t.name: t for t in graph.initializer}
    # Pin the batch (and any other symbolic) dimension of the real inputs so that every shape is concrete.
    for inp in graph.input:
        if inp.name in initializers:
            continue
        for i, dim in enumerate(inp.type.tensor_type.shape.dim):
            if not dim.HasField("dim_value"):
                dim.Clear()
                dim.dim_value = batch if i == 0 else 1
    model = shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    graph = model.graph
    shapes = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        s = _shape(vi)
        if s is not None:
            shapes[vi.name] = s
    for name, t in initializers.items():
        shapes[name] = list(t.dims)
    # Constants (and the QDQ weights' DequantizeLinear outputs) carry their initializer's shape.
    for node in graph.node:
        if node.op_type == "DequantizeLinear" and node.input[0] in shapes and node.output[0] not in shapes:
            shapes[node.output[0]] = shapes[node.input[0]]
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    shapes[node.output[0]] = list(numpy_helper.to_array(a.t).shape)

    by_op: dict[str, int] = {}
    nodes: dict[str, int] = {}
    unknown = []
    other_elements = 0
    params = sum(_prod(t.dims) for t in initializers.values())
    for node in graph.node:
        op = node.op_type
        nodes[op] = nodes.get(op, 0) + 1
        macs = None
        if op == "Conv":
            w, y = shapes.get(node.input[1]), shapes.get(node.output[0])
            if w and y:
                # w: [C_out, C_in/group, kH, kW]; y: [N, C_out, H_out, W_out]
                macs = _prod(y) * _prod(w[1:])
        elif op in ("Gemm", "MatMul"):
            a, y = shapes.get(node.input[0]), shapes.get(node.output[0])
            if a and y:
                trans_a = any(at.name == "transA" and at.i for at in node.attribute)
                k = a[-2] if (op == "Gemm" and trans_a) else a[-1]
                macs = _prod(y) * k
        elif op not in ("Constant", "DequantizeLinear", "QuantizeLinear", "Shape", "Reshape", "Flatten"):
            y = shapes.get(node.output[0]) if node.output else None
            if y:
                other_elements += _prod(y)
        if op in ("Conv", "Gemm", "MatMul"):
            if macs is None:
                unknown.append(node.name or op)
            else:
                by_op[op] = by_op.get(op, 0) + macs
    total = sum(by_op.values())
    return {
        "model": os.path.relpath(path, REPO) if os.path.isabs(path) else path,
        "batch": batch,
        "macs_per_image": total // batch,
        "gmacs_per_image": round(total / batch / 1e9, 4),
        "macs_by_op": {k: v // batch for k, v in sorted(by_op.items())},
        "other_op_output_elements_per_image": other_elements // batch,
        "parameters": params,
        "nodes": dict(sorted(nodes.items())),
        "unresolved_nodes": unknown,
    }


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    as_table = "--table" in argv
    argv = [a for a in argv if a != "--table"]
    targets = argv or default_targets()
    status = 0
    results = []
    for target in targets:
        if os.path.isdir(target) and not os.path.isfile(os.path.join(target, "model.json")):
            print(f"model_macs: {target} has no model.json (run `bash tools/setup.sh` to build the models)",
                  file=sys.stderr)
            status = 2
            continue
        path, meta = _target(target)
        if not os.path.isfile(path):
            print(f"model_macs: {path} not found (run `bash tools/setup.sh` to build the model)", file=sys.stderr)
            status = 2
            continue
        result = count(path)
        if meta:
            result.update({"name": meta.get("name"), "variant": meta.get("variant"),
                           "input": {"height": meta["input"]["height"], "width": meta["input"]["width"]}})
        if result["unresolved_nodes"]:
            print(f"model_macs: shapes unresolved for {result['unresolved_nodes'][:5]}", file=sys.stderr)
            status = 1
        results.append(result)
        if not as_table:
            print(json.dumps(result, separators=(",", ":")))
    if as_table:
        print(table(results))
    return status


if __name__ == "__main__":
    sys.exit(main())

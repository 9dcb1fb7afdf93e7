#!/usr/bin/env python3
"""onnxruntime's scores for pixels the Rust pipeline prepared: the independent half of the
bring-your-own-model end-to-end test (tools/local/tests/byom.rs).

    onnx_reference.py MODEL_DIR PIXELS_FILE

PIXELS_FILE holds the HxWx3 uint8 RGB pixels (the inference message's payload, decoded). They are turned
into the model's input by tools/model/check_accuracy.py's `model_input` (model.json's mean/std, channel
order and layout: Python's reading of the contract, not the Rust one) and run by onnxruntime's Python
package; prints {"scores": [...]} as probabilities (a softmax over logits when model.json says logits).
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "model"))
import check_accuracy  # noqa: E402


def main() -> int:
    model_dir, pixels_file = sys.argv[1], sys.argv[2]
    with open(os.path.join(model_dir, "model.json"), encoding="utf-8") as f:
        meta = json.load(f)
    height, width = int(meta["input"]["height"]), int(meta["input"]["width"])
    pixels = np.fromfile(pixels_file, dtype=np.uint8)
    if pixels.size != height * width * 3:
        sys.exit(f"{pixels_file}: {pixels.size} bytes, the model takes {height}x{width}x3")
    x = check_accuracy.model_input(pixels.reshape(1, height, width, 3), meta)

    import onnxruntime as ort

    session = ort.InferenceSession(os.path.join(model_dir, meta["file"]), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {session.get_inputs()[0].name: x})
    scores = scores[0].astype(np.float64)
    if meta["output"]["kind"] == "logits":
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
    print(json.dumps({"scores": scores.tolist()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

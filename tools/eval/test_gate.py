"""Tests of the accuracy gate: it passes equal figures and fails each way a model can fall short."""

import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import gate  # noqa: E402


def rust(model, variant, top1, images=200, failed=0):
    return {"model": model, "version": "0.1.0", "variant": variant, "images": images, "failed": failed,
            "top1": top1, "top5": 0.98}


def python(model, variant, top1, n=200):
    return {"model": model, "variant": variant, "top1": top1, "top5": 0.98, "n": n}


class GateTest(unittest.TestCase):
    def run_gate(self, rust_lines, python_lines, *flags):
        with tempfile.TemporaryDirectory() as d:
            paths = []
            for name, lines in (("rust", rust_lines), ("python", python_lines)):
                path = os.path.join(d, name)
                with open(path, "w") as f:
                    f.write("".join(json.dumps(line) + "\n" for line in lines))
                paths.append(path)
            return subprocess.run([sys.executable, gate.__file__, *paths, *flags], capture_output=True, text=True)

    def test_equal_figures_pass(self):
        done = self.run_gate([rust("lite0", "fp32", 0.91), rust("lite0", "int8", 0.905)],
                             [python("lite0", "fp32", 0.91), python("lite0", "int8", 0.91)])
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(len(done.stdout.splitlines()), 2)

    def test_an_fp32_drop_beyond_the_margin_fails(self):
        done = self.run_gate([rust("lite1", "fp32", 0.885)], [python("lite1", "fp32", 0.905)])
        self.assertEqual(done.returncode, 1)
        self.assertIn("lite1 fp32: Rust top-1 0.885 is 0.020 below", done.stderr)

    def test_a_drop_within_the_margin_passes_and_int8_is_held_by_the_floor_only(self):
        done = self.run_gate([rust("lite1", "fp32", 0.895), rust("lite1", "int8", 0.885)],
                             [python("lite1", "fp32", 0.905), python("lite1", "int8", 0.91)])
        self.assertEqual(done.returncode, 0, done.stderr)

    def test_under_the_floor_fails(self):
        done = self.run_gate([rust("lite0", "int8", 0.80)], [python("lite0", "int8", 0.80)])
        self.assertEqual(done.returncode, 1)
        self.assertIn("Rust top-1 0.800 < 0.880", done.stderr)

    def test_a_model_without_a_cross_check_fails(self):
        done = self.run_gate([rust("lite2", "fp32", 0.92)], [python("lite0", "fp32", 0.91)])
        self.assertEqual(done.returncode, 1)
        self.assertIn("lite2 fp32: no Python cross-check", done.stderr)

    def test_different_photo_counts_and_unprepared_images_fail(self):
        done = self.run_gate([rust("lite0", "fp32", 0.91, images=199, failed=1)], [python("lite0", "fp32", 0.91)])
        self.assertEqual(done.returncode, 1)
        self.assertIn("1 images could not be prepared", done.stderr)
        self.assertIn("Rust scored 199 images, Python 200", done.stderr)

    def test_nothing_from_rust_fails(self):
        done = self.run_gate([], [python("lite0", "fp32", 0.91)])
        self.assertEqual(done.returncode, 1)


if __name__ == "__main__":
    unittest.main()

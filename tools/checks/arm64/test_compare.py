"""Tests of the arm64 comparison: equal top-5 lists pass; another class, order or score fails."""

import copy
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import compare  # noqa: E402

TOP5 = [{"class_index": c, "score": s} for c, s in ((967, 0.95), (968, 0.015), (925, 0.007), (960, 0.004), (504, 0.003))]
RUN = {("efficientnet-lite0", "fp32", "coffee.png"): TOP5}


class CompareTest(unittest.TestCase):
    def test_equal_runs_pass(self):
        self.assertEqual(compare.compare(RUN, copy.deepcopy(RUN), 1e-3), [])

    def test_another_class_fails(self):
        arm = copy.deepcopy(RUN)
        arm[("efficientnet-lite0", "fp32", "coffee.png")][4]["class_index"] = 1
        self.assertIn("arm64 [967, 968, 925, 960, 1]", compare.compare(RUN, arm, 1e-3)[0])

    def test_another_order_fails(self):
        arm = copy.deepcopy(RUN)
        top = arm[("efficientnet-lite0", "fp32", "coffee.png")]
        top[1], top[2] = top[2], top[1]
        self.assertTrue(compare.compare(RUN, arm, 1.0))

    def test_a_score_beyond_the_tolerance_fails(self):
        arm = copy.deepcopy(RUN)
        arm[("efficientnet-lite0", "fp32", "coffee.png")][0]["score"] = 0.96
        self.assertIn("scores differ", compare.compare(RUN, arm, 1e-3)[0])

    def test_a_missing_photo_fails(self):
        self.assertIn("only x86_64", compare.compare(RUN, {}, 1e-3)[0])


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/python3
"""Makes the golden files of the tensor-printing test from real PyTorch.

Run from the repository root with the system Python that has torch 1.13:

    /usr/bin/python3 tests/print_cases.py

It writes tests/golden/print/NAME.npy (the tensor) for every case and
tests/golden/print/expected.txt, where each case is a line "== NAME"
followed by repr(tensor) as torch prints it.  tests/test_runtime.c loads
each .npy with npy_load, formats it with tensor_format (tensor_format_int
for int64) and compares.  The generated files are committed, so the test
does not need torch.  A few inputs are saved as .npy version 2.0 and 3.0
so that the reader meets those versions as numpy writes them.
"""
import os

import numpy as np
import torch

OUT = os.path.join("tests", "golden", "print")
rng = np.random.RandomState(0)


def f32(x):
    return np.array(x, dtype=np.float32)


def f64(x):
    return np.array(x, dtype=np.float64)


nan, inf = float("nan"), float("inf")

CASES = [
    # 0-d
    ("scalar", f32(3.5)),
    ("scalar_zero", f32(0.0)),
    ("scalar_neg_int", f32(-2.0)),
    ("scalar_nan", f32(nan)),
    ("scalar_neg_inf", f32(-inf)),
    ("scalar_tiny", f32(1e-5)),
    ("scalar_huge", f32(123456789.0)),
    ("scalar_f64", f64(0.1)),
    ("scalar_int64", np.array(9, dtype=np.int64)),
    ("scalar_int64_neg", np.array(-1234567890123, dtype=np.int64)),
    # 1-d
    ("ints", f32([1, 2, 3])),
    ("ints_neg", f32([-1, 20, -300])),
    ("mixed", f32([1.5, -2.25, 0])),
    ("zeros", f32([0, 0])),
    ("neg_zero", f32([-0.0, 0.0])),
    ("one_third", f32([1 / 3, 2 / 3, 0.1])),
    ("ties", f32([0.03125, 0.09375, 1.5, 2.5])),
    ("tiny", f32([1e-5, 1.0])),
    ("tiny_edge", f32([1e-4, 0.5])),
    ("tiny_neg", f32([-1e-5, 2e3])),
    ("huge", f32([1e9, 1.0])),
    ("huge_int_1e8", f32([1e8, 1.0])),
    ("big_int", f32([1e7, -3])),
    ("ratio_1000", f32([1, 1000])),
    ("ratio_1001", f32([1, 1001])),
    ("ratio_frac", f32([0.5, 600.25])),
    ("f32_rounding", f32([16777217.0, 0.1])),
    ("nan_mixed", f32([nan, 1.5])),
    ("nan_inf", f32([inf, -inf, nan])),
    ("int_inf", f32([1.0, inf, -2.0])),
    ("sci_nan", f32([1e10, nan, -inf])),
    ("frac_nan_inf", f32([-1.5, nan, inf, 3])),
    ("all_nan", f32([nan, nan])),
    ("zeros_nan", f32([0.0, nan])),
    ("negatives", f32([-100.5, 2])),
    ("max_float", f32([3.4028234663852886e38, -1.0])),
    ("subnormal", f32([1e-40, 1.0])),
    ("wrap_arange", (np.arange(30) * 1.1).astype(np.float32)),
    ("wrap_randn", rng.randn(50).astype(np.float32)),
    ("wrap_ints", np.arange(40).astype(np.float32)),
    ("wrap_sci", (rng.randn(25) * 1e5).astype(np.float32)),
    ("wrap_f64", rng.randn(40)),
    ("n1000", rng.randn(1000).astype(np.float32)),
    ("n1001", rng.randn(1001).astype(np.float32)),
    ("n2000_ints", np.arange(2000).astype(np.float32)),
    # 2-d
    ("mat2x2", f32([[-1.5, 0], [1.5, 3]])),
    ("mat3x20", rng.randn(3, 20).astype(np.float32)),
    ("mat_col", rng.randn(5, 1).astype(np.float32)),
    ("mat40x40", rng.randn(40, 40).astype(np.float32)),
    ("mat1x1001", rng.randn(1, 1001).astype(np.float32)),
    ("mat1001x1", rng.randn(1001, 1).astype(np.float32)),
    ("mat_sci", (rng.randn(4, 6) * 1e-6).astype(np.float32)),
    ("mat_summarized_sci", np.concatenate(
        [rng.randn(100, 20), np.full((1, 20), 1e6)]).astype(np.float32)),
    ("mat7x150", rng.randn(7, 150).astype(np.float32)),
    ("mat_f64", rng.randn(3, 4)),
    ("mat_f64_wide", rng.randn(2, 12) * 1000),
    # 3-d and up
    ("t2x3x4", rng.randn(2, 3, 4).astype(np.float32)),
    ("t10x10x11", rng.randn(10, 10, 11).astype(np.float32)),
    ("t4d", np.arange(16).reshape(2, 2, 2, 2).astype(np.float32)),
    ("t5d", rng.randn(1, 2, 1, 2, 3).astype(np.float32)),
    ("t3d_f64_summarized", rng.randn(8, 2, 70)),
    ("t7x7x21", rng.randint(-50, 50, (7, 7, 21)).astype(np.float32)),
    # float64 specifics
    ("f64_ints", f64([1e15, 2.0])),
    ("f64_tiny", f64([1e-300, 1.0])),
    ("f64_mixed", f64([1.23456789, -9.87654321])),
    ("f64_long_suffix", rng.randn(8)),
    # empty
    ("empty", np.zeros(0, dtype=np.float32)),
    ("empty_f64", np.zeros(0, dtype=np.float64)),
    ("empty_2d", np.zeros((2, 0), dtype=np.float32)),
    ("empty_3d_f64", np.zeros((0, 3, 1), dtype=np.float64)),
]

VERSIONS = {"mat2x2": (2, 0), "t2x3x4": (3, 0)}


def main():
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "expected.txt"), "w") as out:
        for name, arr in CASES:
            path = os.path.join(OUT, name + ".npy")
            with open(path, "wb") as f:
                np.lib.format.write_array(f, arr, VERSIONS.get(name))
            out.write("== %s\n%s\n" % (name, repr(torch.from_numpy(arr))))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""make_data.py: the 8x8 handwritten digits as .npy train and test splits.

    /usr/bin/python3 examples/digits/make_data.py     (Debian: python3-sklearn)

Reads sklearn.datasets.load_digits (1797 images of 8x8 pixels, values 0..16,
10 classes; shipped inside scikit-learn, no download) and writes to
examples/digits/data/:

    x_train.npy  float32 [1437, 1, 8, 8]   pixels / 16, in [0, 1]
    y_train.npy  int64   [1437]            the digit, 0..9
    x_test.npy   float32 [360, 1, 8, 8]
    y_test.npy   int64   [360]

The split is fixed and stratified: 36 images of each digit go to the test
set, the rest (174 to 183 per digit) to the training set.  Which ones, and
the order of each set, come from a Fisher-Yates shuffle driven by
splitmix64 seeded with SEED (below), not by numpy's or sklearn's generators,
so the files are the same whatever their versions.  Run it again and the
committed files come out byte for byte the same.
"""
import os

import numpy as np
from sklearn.datasets import load_digits

SEED = 20261129
TEST_PER_CLASS = 36
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
MASK = (1 << 64) - 1


class SplitMix64:
    """splitmix64 (Steele, Lea and Flood 2014): 64-bit outputs."""

    def __init__(self, seed):
        self.state = seed & MASK

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)


def shuffle(items, rng):
    """Fisher-Yates, from the end: swap item i with item next() % (i + 1)."""
    items = list(items)
    for i in range(len(items) - 1, 0, -1):
        j = rng.next() % (i + 1)
        items[i], items[j] = items[j], items[i]
    return items


def main():
    digits = load_digits()
    images = digits.images.astype(np.float64)        # [1797, 8, 8], 0..16
    labels = digits.target.astype(np.int64)
    rng = SplitMix64(SEED)
    train, test = [], []
    for c in range(10):
        idx = shuffle(np.flatnonzero(labels == c).tolist(), rng)
        test += idx[:TEST_PER_CLASS]
        train += idx[TEST_PER_CLASS:]
    train, test = shuffle(train, rng), shuffle(test, rng)
    os.makedirs(OUT, exist_ok=True)
    for name, idx in (("train", train), ("test", test)):
        x = (images[idx] / 16.0).astype(np.float32).reshape(len(idx), 1, 8, 8)
        y = labels[idx]
        np.save(os.path.join(OUT, f"x_{name}.npy"), x)
        np.save(os.path.join(OUT, f"y_{name}.npy"), y)
        print(f"{name}: x {x.dtype} {list(x.shape)}, y {y.dtype} {list(y.shape)}, "
              f"per digit {np.bincount(y, minlength=10).tolist()}")


if __name__ == "__main__":
    main()

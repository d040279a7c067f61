#!/usr/bin/python3
"""make_npz_fixtures.py: the .npz files tests/test_npz.c reads, made by numpy.

    /usr/bin/python3 tests/make_npz_fixtures.py          writes tests/golden/npz/
    /usr/bin/python3 tests/make_npz_fixtures.py --check FILE
        loads FILE (written by agc's npz_write in test_npz.c) with numpy.load
        and zipfile, and exits 1 with a message unless it holds exactly
        state_dict() below.

Values follow formulas that test_npz.c repeats: floats i * 0.25 - 1,
int64 i * 1000003 - 7 (i the flat index).
"""
import io
import os
import sys
import zipfile

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden", "npz")


def floats(shape, dtype):
    n = int(np.prod(shape, dtype=np.int64))
    return (np.arange(n, dtype=np.float64) * 0.25 - 1).astype(dtype).reshape(shape)


def ints(shape):
    n = int(np.prod(shape, dtype=np.int64))
    return (np.arange(n, dtype=np.int64) * 1000003 - 7).reshape(shape)


def state_dict():
    """A small state_dict: the names, dtypes and shapes a CNN's has."""
    return {
        "conv1.weight": floats((2, 1, 3, 3), np.float32),
        "conv1.bias": floats((2,), np.float32),
        "fc.weight": floats((3, 4), np.float64),
        "bn.num_batches_tracked": np.array(42, dtype=np.int64),
        "y": ints((5,)),
        "empty": floats((0, 3), np.float32),
    }


def check(path):
    want = state_dict()
    with zipfile.ZipFile(path) as z:
        bad = z.testzip()
        if bad is not None:
            sys.exit(f"{path}: zipfile: member {bad} has a bad CRC")
        names = z.namelist()
    if names != [k + ".npy" for k in want]:
        sys.exit(f"{path}: members {names}, expected {list(want)}")
    with np.load(path, allow_pickle=False) as f:
        for k, v in want.items():
            got = f[k]
            if got.dtype != v.dtype or got.shape != v.shape or not np.array_equal(got, v):
                sys.exit(f"{path}: {k}: {got.dtype} {got.shape} {got!r}, "
                         f"expected {v.dtype} {v.shape} {v!r}")
    print(f"numpy {np.__version__} reads {path}: {len(want)} arrays as written")


def main():
    if sys.argv[1:2] == ["--check"]:
        check(sys.argv[2])
        return
    os.makedirs(OUT, exist_ok=True)
    sd = state_dict()
    # what numpy.savez writes (zip64 extra fields in the local headers)
    np.savez(os.path.join(OUT, "state.npz"), **sd)
    # positional arrays are named arr_0, arr_1, ...
    np.savez(os.path.join(OUT, "positional.npz"), floats((3,), np.float32), ints((2, 2)))
    # no arrays at all: just the end record
    np.savez(os.path.join(OUT, "empty.npz"))
    # deflated members: agc says it cannot read them
    np.savez_compressed(os.path.join(OUT, "compressed.npz"), **sd)
    # a plain zip as older numpy wrote it (no extra fields), with a comment
    with zipfile.ZipFile(os.path.join(OUT, "plain.npz"), "w", zipfile.ZIP_STORED) as z:
        for k in ("conv1.bias", "y"):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, sd[k], allow_pickle=False)
            z.writestr(k + ".npy", buf.getvalue())
        z.comment = b"written by zipfile, no zip64 extras"
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)), "bytes")


if __name__ == "__main__":
    main()

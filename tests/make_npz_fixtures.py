#!/usr/bin/python3
"""make_npz_fixtures.py: the .npz files tests/test_npz.c reads, made by numpy,
and cnn1d_weights.npz, specs/cnn1d.yaml's parameters for --weights.

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


def mix(shape):
    """int64 values that look random (splitmix64's finalizer of the index):
    deflate stores them in stored blocks."""
    n = int(np.prod(shape, dtype=np.int64))
    z = np.arange(n, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return z.view(np.int64).reshape(shape)


def compressible():
    """Arrays that exercise every kind of deflate block: long runs, short
    repeats, varied literals, incompressible bytes."""
    i = np.arange(3000, dtype=np.int64)
    return {
        "zeros": np.zeros((64, 64), dtype=np.float32),
        "mod7": i % 7,
        "varied": ((np.arange(500) * 37 % 101) * 0.5 - 3).astype(np.float64),
        "noise": mix((600,)),
    }


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


def write_zip(name, arrays, keys, method, level=None, comment=b""):
    """A zip of arrays[k] for k in keys, by zipfile itself."""
    with zipfile.ZipFile(os.path.join(OUT, name), "w", method, compresslevel=level) as z:
        for k in keys:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, arrays[k], allow_pickle=False)
            info = zipfile.ZipInfo(k + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, buf.getvalue(), compresslevel=level)
        z.comment = comment


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
    # deflated members
    np.savez_compressed(os.path.join(OUT, "compressed.npz"), **sd)
    np.savez_compressed(os.path.join(OUT, "compressed_big.npz"), **compressible())
    # a plain zip as older numpy wrote it (no extra fields), with a comment
    write_zip("plain.npz", sd, ("conv1.bias", "y"), zipfile.ZIP_STORED,
              comment=b"written by zipfile, no zip64 extras")
    # deflate at level 0: stored blocks inside a deflate stream
    write_zip("deflate0.npz", sd, ("conv1.bias", "y"), zipfile.ZIP_DEFLATED, level=0)
    # specs/cnn1d.yaml's parameters, for agc compile --infer --weights
    # (tests/cli.sh, tests/embedded.sh)
    rng = np.random.default_rng(1)
    cnn1d = {"conv1.weight": (16, 2, 3), "conv1.bias": (16,),
             "conv2.weight": (8, 16, 5), "conv2.bias": (8,),
             "fc.weight": (10, 120), "fc.bias": (10,)}
    np.savez(os.path.join(OUT, "cnn1d_weights.npz"),
             **{k: rng.uniform(-0.3, 0.3, s).astype(np.float32)
                for k, s in cnn1d.items()})
    for f in sorted(os.listdir(OUT)):
        print(f, os.path.getsize(os.path.join(OUT, f)), "bytes")


if __name__ == "__main__":
    main()

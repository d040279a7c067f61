#!/usr/bin/python3
"""The PyTorch contender of agc's benchmark (bench/run.sh runs it).

    /usr/bin/python3 bench/torch_bench.py bench/cases.txt [CASE]...

times every case of cases.txt (or the named ones) the way bench/bench.c
times agc's code: forward, and forward + backward, each the median of many
samples after a warm-up; a sample times a batch of calls lasting at least
100 us; samples of the two alternate; about BENCH_BUDGET seconds (default
0.5) for each of the two, at least 5 samples; or, with BENCH_LOCKSTEP in
the environment (bench/lockstep.c sets it), one sample each time it is
told, in turns with the other contenders (see serve()).  It prints the
lines run.sh collects:

    info torch VERSION THREADS
    result CASE torch FWD_NS FWDBWD_NS SAMPLES
    fail CASE torch REASON...

One thread (torch.set_num_threads(1), and OpenBLAS's own threads held to
one by run.sh), as agc's code is single-threaded.  With BENCH_TORCH_THREADS=2
(run.sh's second run) it uses 2 threads and prints its lines as "torch2"
(info torch2, result CASE torch2 ...), beside agc's 2-thread build.  Its matmul (linear, the
MLP) is whatever libblas.so.3 is: run.sh sees that it is OpenBLAS.
The inputs and weights require grad, so forward records the autograd graph
as it does in training; backward is torch.autograd.grad of y with a random
seed (of the scalar a for the expression), which returns fresh gradients
instead of accumulating into .grad, as agc's NAME_backward overwrites them.
run.sh starts Python with glibc's malloc told not to give memory back to
the system, so that PyTorch's allocations are not charged page faults.
"""

import gc
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

BUDGET = float(os.environ.get("BENCH_BUDGET") or 0.5)
THREADS = int(os.environ.get("BENCH_TORCH_THREADS") or 1)
WHO = "torch" if THREADS == 1 else "torch%d" % THREADS


def median(s):
    s = sorted(s)
    n = len(s)
    return s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])


def serve(fns, batch):
    """Lockstep timing, as bench.c's serve(): for each line "f" or "b"
    on stdin, one untimed call and one timed sample of fns[0] or fns[1];
    at the end of input, the medians and the number of samples."""
    print("ready", flush=True)
    samples = ([], [])
    for line in sys.stdin:
        f = 1 if line.startswith("b") else 0
        fns[f]()
        t0 = time.perf_counter()
        for _ in range(batch[f]):
            fns[f]()
        samples[f].append((time.perf_counter() - t0) / batch[f])
        print("done", flush=True)
    if not samples[0] or not samples[1]:
        raise RuntimeError("the lockstep driver asked for no samples")
    return (median(samples[0]), median(samples[1]),
            min(len(samples[0]), len(samples[1])))


def measure(fns):
    """Median seconds per call of each of the two fns, their samples taken
    in turn, and the number of samples of each."""
    per, batch = [], []
    for fn in fns:
        t0 = time.perf_counter()
        calls = 0
        while True:                 # warm-up: 50 ms, at least one call
            fn()
            calls += 1
            t = time.perf_counter()
            if t - t0 >= 0.05:
                break
        per.append((t - t0) / calls)
        batch.append(1 if per[-1] >= 1e-4 else math.ceil(1e-4 / per[-1]))
    if os.environ.get("BENCH_LOCKSTEP"):
        return serve(fns, batch)
    n = int(2 * BUDGET / (per[0] * batch[0] + per[1] * batch[1]))
    n = min(20000, max(5, n))
    samples = ([], [])
    for _ in range(n):
        for fn, k, s in zip(fns, batch, samples):
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            s.append((time.perf_counter() - t0) / k)
    return median(samples[0]), median(samples[1]), n


def shape(s):
    return [int(v) for v in s.split(",")]


def uniform(shape_, r, grad=True):
    t = torch.empty(shape_).uniform_(-r, r)
    return t.requires_grad_() if grad else t


def make_case(op, inp, weight, stride, padding):
    """The forward and forward+backward closures of one case."""
    if op == "expr":
        x = torch.empty(shape(inp)).uniform_(-1, 1).requires_grad_()

        def fwd():
            y = x - 2
            z = 3 * y**2
            return z.mean()

        def fwdbwd():
            return torch.autograd.grad(fwd(), (x,))
        return fwd, fwdbwd
    if op == "linear":
        xs, ws = shape(inp), shape(weight)
        x, w, b = uniform(xs, 1), uniform(ws, 0.1), uniform(ws[:1], 0.1)
        gy = uniform([xs[0], ws[0]], 1, False)

        def fwd():
            return F.linear(x, w, b)

        def fwdbwd():
            return torch.autograd.grad(fwd(), (x, w, b), gy)
        return fwd, fwdbwd
    if op == "mlp":
        xs, widths = shape(inp), shape(weight)
        x = uniform(xs, 1)
        params, fan_in = [], xs[1]
        for n in widths:
            params += [uniform([n, fan_in], 0.1), uniform([n], 0.1)]
            fan_in = n
        gy = uniform([xs[0], widths[-1]], 1, False)

        def fwd():
            h = x
            for i in range(0, len(params), 2):
                h = F.linear(h, params[i], params[i + 1])
                if i + 2 < len(params):
                    h = F.relu(h)
            return h

        def fwdbwd():
            return torch.autograd.grad(fwd(), [x] + params, gy)
        return fwd, fwdbwd
    if op == "softmax":
        x = uniform(shape(inp), 2)
        gy = uniform(shape(inp), 1, False)

        def fwd():
            return torch.log(torch.softmax(x, dim=1))

        def fwdbwd():
            return torch.autograd.grad(fwd(), (x,), gy)
        return fwd, fwdbwd
    if op == "lenet":
        xs = shape(inp)
        x = uniform(xs, 1, False)
        t = torch.zeros(xs[0], 10)
        for i in range(xs[0]):
            t[i, (i * 7 + 3) % 10] = 1
        p = [uniform([6, 1, 5, 5], 0.3), uniform([6], 0.3),
             uniform([16, 6, 5, 5], 0.3), uniform([16], 0.3),
             uniform([120, 256], 0.1), uniform([120], 0.1),
             uniform([84, 120], 0.1), uniform([84], 0.1),
             uniform([10, 84], 0.1), uniform([10], 0.1)]

        def fwd():
            a = F.max_pool2d(F.relu(F.conv2d(x, p[0], p[1])), 2)
            a = F.max_pool2d(F.relu(F.conv2d(a, p[2], p[3])), 2)
            h = F.relu(F.linear(torch.flatten(a, 1), p[4], p[5]))
            h = F.relu(F.linear(h, p[6], p[7]))
            return F.cross_entropy(F.linear(h, p[8], p[9]), t)

        def fwdbwd():
            return torch.autograd.grad(fwd(), p)
        return fwd, fwdbwd
    conv = {"conv1d": F.conv1d, "conv2d": F.conv2d}[op]
    w_shape = shape(weight)
    x = torch.empty(shape(inp)).uniform_(-1, 1).requires_grad_()
    w = torch.empty(w_shape).uniform_(-0.1, 0.1).requires_grad_()
    b = torch.empty(w_shape[0]).uniform_(-0.1, 0.1).requires_grad_()
    st, pad = shape(stride), shape(padding)
    st = st[0] if len(st) == 1 else tuple(st)
    pad = pad[0] if len(pad) == 1 else tuple(pad)
    groups = shape(inp)[1] // w_shape[1]
    with torch.no_grad():
        gy = torch.empty_like(conv(x, w, b, stride=st, padding=pad,
                                   groups=groups)).uniform_(-1, 1)

    def fwd():
        return conv(x, w, b, stride=st, padding=pad, groups=groups)

    def fwdbwd():
        return torch.autograd.grad(fwd(), (x, w, b), gy)
    return fwd, fwdbwd


def blas():
    """Which BLAS torch's matmul runs: OpenBLAS's config and kernel, or
    what libblas.so.3 is when it is not OpenBLAS."""
    try:
        import ctypes
        lib = ctypes.CDLL("libblas.so.3")
        for f in ("openblas_get_config", "openblas_get_corename"):
            getattr(lib, f).restype = ctypes.c_char_p
        return "%s, kernel %s" % (
            lib.openblas_get_config().decode().strip(),
            lib.openblas_get_corename().decode().strip())
    except (OSError, AttributeError):
        path = os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
        return "not OpenBLAS (libblas.so.3 is %s)" % path


def main():
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    print("info %s %s %d" % (WHO, torch.__version__, torch.get_num_threads()),
          flush=True)
    print("info blas %s" % blas(), flush=True)
    want = set(sys.argv[2:])
    with open(sys.argv[1]) as f:
        lines = [l.split() for l in f if l.strip() and not l.startswith("#")]
    gc.disable()
    for name, op, inp, weight, stride, padding in lines:
        if want and name not in want:
            continue
        try:
            fwd, fwdbwd = make_case(op, inp, weight, stride, padding)
            t1, t2, n = measure((fwd, fwdbwd))
            print("result %s %s %.0f %.0f %d" % (name, WHO, t1 * 1e9, t2 * 1e9, n),
                  flush=True)
        except Exception as e:      # report and go on with the next case
            msg = " ".join(str(e).split()) or type(e).__name__
            print("fail %s %s %s" % (name, WHO, msg), flush=True)


if __name__ == "__main__":
    main()

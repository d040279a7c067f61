#!/usr/bin/python3
"""PyTorch reference data for agc's golden op tests.

Run with Debian's interpreter (torch 1.13 and numpy live there):

    /usr/bin/python3 tests/make_golden.py

For every case below it (re)writes tests/golden/ops/CASE/:

    spec.yaml              the agc spec (the string kept next to the torch code,
                           plus a `name:`/`dtype: float32` header; a case
                           named *_f64 is float64 throughout: its header,
                           its .npy files and torch's computation)
    NAME.npy               each input, float32, C order (inputs have no
                           value/init in the spec: bind them with --set)
    OUT.expected.npy       each node listed in `outputs:`, from torch
    Y.seed.npy             only when `backward: {of: Y}`: the seed gradient,
                           to pass with --grad Y=Y.seed.npy
    NAME.grad.expected.npy each input with requires_grad, from torch autograd
                           (loss.backward() or y.backward(seed))
    I.expected.npy         each loop `count: I`, int64
    grad_fn.txt            the backward graph torch built (grad_fn names and
                           next_functions), for `agc graph --backward`;
                           not for loops, which torch unrolls

and tests/golden/ops/cases.txt with the case names, one per line.

A case is a function decorated with @case(SPEC, **inputs): SPEC is the agc
spec text, the function is the PyTorch reference.  It takes the inputs as
keyword arguments (torch leaf tensors, requires_grad as in the spec) and
returns a dict with one tensor per graph node, mirroring the spec line by
line (a spec with a `model:` of activation layers, which hold no
parameters, starts with one per layer, named as agc names them); a loop node with `count: I` is followed by I, the Python int its
while_loop returned.  Keyword arguments of @case say how to draw each input (default:
uniform in [-1.5, 1.5]).  Random values come from a numpy generator seeded
with the CRC-32 of the case name, so output is byte-identical from run to
run, and adding or reordering cases does not change the other cases.
"""

import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn.functional as F
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "golden", "ops")

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

CASES = []


def case(spec, **inputs):
    """Register the decorated torch reference as a case named after it."""
    def register(fn):
        CASES.append((fn.__name__, spec, fn, inputs))
        return fn
    return register


# --- how to draw input values ----------------------------------------------

def U(lo=-1.5, hi=1.5, avoid=(), gap=0.1):
    """Uniform in [lo, hi], at least `gap` away from each point in `avoid`
    (non-differentiable points, domain edges, clamp bounds...)."""
    def draw(rng, shape):
        x = rng.uniform(lo, hi, size=shape)
        while True:
            bad = np.zeros(x.shape, dtype=bool)
            for p in avoid:
                bad |= np.abs(x - p) < gap
            if not bad.any():
                return x
            x = np.where(bad, rng.uniform(lo, hi, size=x.shape), x)
    return draw


AWAY0 = U(avoid=[0.0], gap=0.2)   # relu, abs, divisors ...
POS = U(0.2, 2.0)                 # log, sqrt, bases of powers


def probs(rng, shape):
    """Rows of class probabilities (positive, summing to 1 along the last dim)."""
    z = np.exp(rng.normal(size=shape))
    return z / z.sum(axis=-1, keepdims=True)


def value(v):
    """An explicit value (exact ties, exact bounds, the seed examples)."""
    return lambda rng, shape: np.array(v, dtype=np.float64).reshape(shape)


# --- elementwise binary operators -------------------------------------------

@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: a + b
backward: {of: y}
outputs: [y]
""")
def add(a, b):
    return {"y": a + b}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: a - b
backward: {of: y}
outputs: [y]
""")
def sub(a, b):
    return {"y": a - b}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: a * b
backward: {of: y}
outputs: [y]
""")
def mul(a, b):
    return {"y": a * b}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: a / b
backward: {of: y}
outputs: [y]
""", b=U(avoid=[0.0], gap=0.5))
def divide(a, b):
    return {"y": a / b}


@case("""
inputs:
  x: {shape: [3, 2], requires_grad: true}
graph:
  y: 1 - 2 * x + x / 4 - 0.5
  z: 1 / x
backward: {of: z}
outputs: [y, z]
""", x=U(avoid=[0.0], gap=0.3))
def const_arith(x):
    # z does not use y: y is a forward-only output next to the backward node
    return {"y": 1 - 2 * x + x / 4 - 0.5, "z": 1 / x}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: maximum(x, -1e39) + minimum(x * 2, 1e308) + x * 1e-50 + 1e-320 * x
backward: {of: y}
outputs: [y]
""")
def const_f32_range(x):
    # constants beyond float32's range round as torch rounds them for a
    # float32 tensor: -1e39 and 1e308 to infinities, 1e-50 and 1e-320 to 0
    # (and the C compiles without a warning)
    return {"y": torch.maximum(x, torch.tensor(-1e39))
            + torch.minimum(x * 2, torch.tensor(1e308)) + x * 1e-50
            + 1e-320 * x}


@case("""
inputs:
  x: {shape: [3], requires_grad: true}
graph:
  y: sum(tanh(x) - tanh(x))
backward: y
outputs: [y]
""")
def fold_sub_self(x):
    # folded to 0, yet it requires grad as in torch: x.grad is zeros
    return {"y": torch.sum(torch.tanh(x) - torch.tanh(x))}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: sum(0 * x)
backward: y
outputs: [y]
""")
def fold_mul_zero(x):
    return {"y": torch.sum(0 * x)}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
  c: {shape: [2, 3], requires_grad: true}
graph:
  y: a + b * c - b / c - -(a - c) * 2
backward: {of: y}
outputs: [y]
""", c=U(avoid=[0.0], gap=0.4))
def precedence(a, b, c):
    return {"y": a + b * c - b / c - -(a - c) * 2}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: -x
backward: {of: y}
outputs: [y]
""")
def neg_op(x):
    return {"y": -x}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: -x ^ 2
backward: {of: y}
outputs: [y]
""")
def neg_pow(x):
    # unary minus binds looser than power: -(x^2)
    return {"y": -(x ** 2)}


# --- power ------------------------------------------------------------------

@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: x ^ 2
backward: {of: y}
outputs: [y]
""")
def pow_sq(x):
    return {"y": x ** 2}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: x ** 3
backward: {of: y}
outputs: [y]
""")
def pow_cube(x):
    return {"y": x ** 3}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: x ** 0.5
backward: {of: y}
outputs: [y]
""", x=POS)
def pow_half(x):
    return {"y": x ** 0.5}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: x ^ (-1.5)
backward: {of: y}
outputs: [y]
""", x=POS)
def pow_negexp(x):
    return {"y": x ** -1.5}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: a ** b
backward: {of: y}
outputs: [y]
""", a=POS)
def pow_tensor(a, b):
    return {"y": a ** b}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: 2 ^ x
backward: {of: y}
outputs: [y]
""")
def pow_cbase(x):
    return {"y": 2 ** x}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: a ^ b ^ 2
backward: {of: y}
outputs: [y]
""", a=U(0.5, 1.5))
def pow_rassoc(a, b):
    # right-associative: a^(b^2), not (a^b)^2
    return {"y": a ** (b ** 2)}


@case("""
inputs:
  a: {shape: [3, 1], requires_grad: true}
  b: {shape: [4], requires_grad: true}
graph:
  y: a ** b
backward: {of: y}
outputs: [y]
""", a=POS)
def pow_bcast(a, b):
    return {"y": a ** b}


# --- elementwise functions --------------------------------------------------

@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: neg(x)
backward: {of: y}
outputs: [y]
""")
def neg(x):
    return {"y": torch.neg(x)}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: abs(x)
backward: {of: y}
outputs: [y]
""", x=AWAY0)
def abs_(x):
    return {"y": torch.abs(x)}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: exp(x)
backward: {of: y}
outputs: [y]
""")
def exp(x):
    return {"y": torch.exp(x)}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: log(x)
backward: {of: y}
outputs: [y]
""", x=POS)
def log(x):
    return {"y": torch.log(x)}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: sqrt(x)
backward: {of: y}
outputs: [y]
""", x=POS)
def sqrt(x):
    return {"y": torch.sqrt(x)}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: sin(x)
backward: {of: y}
outputs: [y]
""", x=U(-3, 3))
def sin(x):
    return {"y": torch.sin(x)}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: cos(x)
backward: {of: y}
outputs: [y]
""", x=U(-3, 3))
def cos(x):
    return {"y": torch.cos(x)}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: tanh(x)
backward: {of: y}
outputs: [y]
""", x=U(-2.5, 2.5))
def tanh(x):
    return {"y": torch.tanh(x)}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: sigmoid(x)
backward: {of: y}
outputs: [y]
""", x=U(-3, 3))
def sigmoid(x):
    return {"y": torch.sigmoid(x)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: relu(x)
backward: {of: y}
outputs: [y]
""", x=AWAY0)
def relu(x):
    return {"y": torch.relu(x)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: leaky_relu(x)
backward: {of: y}
outputs: [y]
""", x=AWAY0)
def leaky_relu(x):
    return {"y": F.leaky_relu(x)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: leaky_relu(x, negative_slope=0.2)
backward: {of: y}
outputs: [y]
""", x=AWAY0)
def leaky_relu_02(x):
    return {"y": F.leaky_relu(x, negative_slope=0.2)}


# --- clamp (random values away from the bounds, then exact bound values) ----

CLAMP_RANDOM = U(-1, 1, avoid=[-0.5, 0.5], gap=0.1)
# exactly representable, with both bounds hit exactly: torch passes the
# gradient where min <= x <= max (bounds included)
CLAMP_EXACT = value([[-1.0, -0.5, -0.25, 0.0],
                     [0.25, 0.5, 0.75, -0.75]])


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: clamp(x, min=-0.5)
backward: {of: y}
outputs: [y]
""", x=CLAMP_RANDOM)
def clamp_min(x):
    return {"y": torch.clamp(x, min=-0.5)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: clamp(x, max=0.5)
backward: {of: y}
outputs: [y]
""", x=CLAMP_RANDOM)
def clamp_max(x):
    return {"y": torch.clamp(x, max=0.5)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: clamp(x, min=-0.5, max=0.5)
backward: {of: y}
outputs: [y]
""", x=CLAMP_RANDOM)
def clamp_both(x):
    return {"y": torch.clamp(x, min=-0.5, max=0.5)}


@case("""
inputs:
  x: {shape: [2, 4], requires_grad: true}
graph:
  y: clamp(x, min=-0.5)
backward: {of: y}
outputs: [y]
""", x=CLAMP_EXACT)
def clamp_min_at(x):
    return {"y": torch.clamp(x, min=-0.5)}


@case("""
inputs:
  x: {shape: [2, 4], requires_grad: true}
graph:
  y: clamp(x, max=0.5)
backward: {of: y}
outputs: [y]
""", x=CLAMP_EXACT)
def clamp_max_at(x):
    return {"y": torch.clamp(x, max=0.5)}


@case("""
inputs:
  x: {shape: [2, 4], requires_grad: true}
graph:
  y: clamp(x, min=-0.5, max=0.5)
backward: {of: y}
outputs: [y]
""", x=CLAMP_EXACT)
def clamp_both_at(x):
    return {"y": torch.clamp(x, min=-0.5, max=0.5)}


@case("""
inputs:
  x: {shape: [2, 4], requires_grad: true}
graph:
  y: clamp(x, min=0.5, max=-0.5)
backward: {of: y}
outputs: [y]
""", x=CLAMP_EXACT)
def clamp_inverted(x):
    # min above max: every element is max, and no gradient passes
    return {"y": torch.clamp(x, min=0.5, max=-0.5)}


# --- maximum / minimum / where ----------------------------------------------

@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: maximum(a, b)
backward: {of: y}
outputs: [y]
""")
def maximum(a, b):
    return {"y": torch.maximum(a, b)}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: minimum(a, b)
backward: {of: y}
outputs: [y]
""")
def minimum(a, b):
    return {"y": torch.minimum(a, b)}


# exact ties where a == b: torch gives each side half the gradient
TIES_A = value([[0.5, -1.25, 2.0, 0.0], [0.75, -0.5, 1.0, -2.0]])
TIES_B = value([[0.5, 1.0, -2.0, 0.0], [0.75, 0.25, -0.5, -1.5]])


@case("""
inputs:
  a: {shape: [2, 4], requires_grad: true}
  b: {shape: [2, 4], requires_grad: true}
graph:
  y: maximum(a, b)
backward: {of: y}
outputs: [y]
""", a=TIES_A, b=TIES_B)
def maximum_ties(a, b):
    return {"y": torch.maximum(a, b)}


@case("""
inputs:
  a: {shape: [2, 4], requires_grad: true}
  b: {shape: [2, 4], requires_grad: true}
graph:
  y: minimum(a, b)
backward: {of: y}
outputs: [y]
""", a=TIES_A, b=TIES_B)
def minimum_ties(a, b):
    return {"y": torch.minimum(a, b)}


@case("""
inputs:
  a: {shape: [3, 1], requires_grad: true}
  b: {shape: [4], requires_grad: true}
graph:
  y: maximum(a, b)
backward: {of: y}
outputs: [y]
""")
def maximum_bcast(a, b):
    return {"y": torch.maximum(a, b)}


@case("""
inputs:
  x: {shape: [2, 3]}
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  c: x > 0
  y: where(c, a, b)
backward: {of: y}
outputs: [c, y]
""", x=AWAY0)
def where(x, a, b):
    c = x > 0
    return {"c": c, "y": torch.where(c, a, b)}


@case("""
inputs:
  x: {shape: [2, 3]}
  a: {shape: [3], requires_grad: true}
  b: {shape: [2, 1], requires_grad: true}
graph:
  y: where(x < 0.5, a, b)
backward: {of: y}
outputs: [y]
""", x=U(avoid=[0.5]))
def where_bcast(x, a, b):
    return {"y": torch.where(x < 0.5, a, b)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: where(x > 0, x * 2, exp(x))
backward: {of: y}
outputs: [y]
""", x=AWAY0)
def where_self(x):
    return {"y": torch.where(x > 0, x * 2, torch.exp(x))}


# --- comparisons: 0/1 outputs, no gradient -----------------------------------

@case("""
inputs:
  a: {shape: [2, 4], requires_grad: true}
  b: {shape: [2, 4], requires_grad: true}
graph:
  lt: a < b
  le: a <= b
  gt: a > b
  ge: a >= b
  eq: a == b
  ne: a != b
  y: gt * a + le * b
backward: {of: y}
outputs: [lt, le, gt, ge, eq, ne, y]
""", a=TIES_A, b=TIES_B)
def cmp_all(a, b):
    # the ties are intended: == / <= / >= must see exact equality
    return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b,
            "eq": a == b, "ne": a != b, "y": (a > b) * a + (a <= b) * b}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: (x > 0) * x
backward: {of: y}
outputs: [y]
""", x=AWAY0)
def cmp_gate(x):
    return {"y": (x > 0) * x}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  c: a + 1 > b * 2
  y: c * a - (b != 0.25) * b
backward: {of: y}
outputs: [c, y]
""", a=value([[0.0, 0.5, -1.0], [1.0, 2.0, -0.5]]),
     b=value([[0.5, 1.0, 0.25], [0.5, 0.25, -0.75]]))
def cmp_prec(a, b):
    # comparisons bind loosest: (a + 1) > (b * 2); at [0, 0] both sides are
    # exactly 1, so the strict > gives 0 there
    c = a + 1 > b * 2
    return {"c": c, "y": c * a - (b != 0.25) * b}


# --- broadcasting -----------------------------------------------------------

@case("""
inputs:
  a: {shape: [3, 1], requires_grad: true}
  b: {shape: [4], requires_grad: true}
graph:
  y: a + b
backward: {of: y}
outputs: [y]
""")
def add_bcast(a, b):
    return {"y": a + b}


@case("""
inputs:
  a: {shape: [4], requires_grad: true}
  b: {shape: [3, 1], requires_grad: true}
graph:
  y: a - b
backward: {of: y}
outputs: [y]
""")
def sub_bcast(a, b):
    return {"y": a - b}


@case("""
inputs:
  a: {shape: [2, 3, 4], requires_grad: true}
  b: {shape: [3, 1], requires_grad: true}
graph:
  y: a * b
backward: {of: y}
outputs: [y]
""")
def mul_bcast3(a, b):
    return {"y": a * b}


@case("""
inputs:
  a: {shape: [2, 3, 4], requires_grad: true}
  b: {shape: [4], requires_grad: true}
graph:
  y: a / b
backward: {of: y}
outputs: [y]
""", b=U(avoid=[0.0], gap=0.5))
def div_bcast3(a, b):
    return {"y": a / b}


@case("""
inputs:
  s: {shape: [], requires_grad: true}
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: s * x + s
backward: {of: y}
outputs: [y]
""")
def scalar_mul(s, x):
    return {"y": s * x + s}


@case("""
inputs:
  s: {shape: [], requires_grad: true}
  x: {shape: [3], requires_grad: true}
graph:
  y: x / s - s ^ 2
backward: {of: y}
outputs: [y]
""", s=U(avoid=[0.0], gap=0.5))
def scalar_div(s, x):
    return {"y": x / s - s ** 2}


@case("""
inputs:
  s: {shape: [], requires_grad: true}
  t: {shape: [], requires_grad: true}
graph:
  y: s * t + exp(s)
backward: y
outputs: [y]
""")
def scalar_only(s, t):
    return {"y": s * t + torch.exp(s)}


# --- reductions -------------------------------------------------------------

@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: sum(x)
backward: y
outputs: [y]
""")
def sum_all(x):
    return {"y": torch.sum(x)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: sum(x, dim=0)
backward: {of: y}
outputs: [y]
""")
def sum_dim0(x):
    return {"y": torch.sum(x, dim=0)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: sum(x, dim=1, keepdim=true)
backward: {of: y}
outputs: [y]
""")
def sum_dim1_keep(x):
    return {"y": torch.sum(x, dim=1, keepdim=True)}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: sum(x, dim=-1, keepdim=false)
backward: {of: y}
outputs: [y]
""")
def sum_negdim(x):
    return {"y": torch.sum(x, dim=-1, keepdim=False)}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: sum(x, dim=1)
backward: {of: y}
outputs: [y]
""")
def sum_mid(x):
    return {"y": torch.sum(x, dim=1)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: mean(x)
backward: y
outputs: [y]
""")
def mean_all(x):
    return {"y": torch.mean(x)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: mean(x, dim=1)
backward: {of: y}
outputs: [y]
""")
def mean_dim1(x):
    return {"y": torch.mean(x, dim=1)}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: mean(x, dim=-2, keepdim=true)
backward: {of: y}
outputs: [y]
""")
def mean_negdim_keep(x):
    return {"y": torch.mean(x, dim=-2, keepdim=True)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: max(x)
backward: y
outputs: [y]
""")
def max_all(x):
    return {"y": torch.amax(x)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: max(x, dim=1)
backward: {of: y}
outputs: [y]
""")
def max_dim1(x):
    return {"y": torch.amax(x, dim=1)}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: max(x, dim=-1, keepdim=true)
backward: {of: y}
outputs: [y]
""")
def max_negdim_keep(x):
    return {"y": torch.amax(x, dim=-1, keepdim=True)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: min(x)
backward: y
outputs: [y]
""")
def min_all(x):
    return {"y": torch.amin(x)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: min(x, dim=0)
backward: {of: y}
outputs: [y]
""")
def min_dim0(x):
    return {"y": torch.amin(x, dim=0)}


# rows with 1, 2, 3 and 4 tied maxima / minima
RED_TIES = value([[1.0, 3.0, -2.0, 0.5],
                  [2.0, -1.0, 2.0, 0.0],
                  [-0.5, -0.5, 1.5, -0.5],
                  [0.25, 0.25, 0.25, 0.25]])


@case("""
inputs:
  x: {shape: [4, 4], requires_grad: true}
graph:
  y: max(x, dim=1)
backward: {of: y}
outputs: [y]
""", x=RED_TIES)
def max_ties(x):
    return {"y": torch.amax(x, dim=1)}


@case("""
inputs:
  x: {shape: [4, 4], requires_grad: true}
graph:
  y: min(x, dim=-1, keepdim=true)
backward: {of: y}
outputs: [y]
""", x=RED_TIES)
def min_ties(x):
    return {"y": torch.amin(x, dim=-1, keepdim=True)}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: max(x)
  z: min(x)
  loss: 3 * y - z
backward: loss
outputs: [y, z, loss]
""", x=value([[1.5, -2.0, 1.5], [0.5, -2.0, 1.5]]))
def maxmin_all_ties(x):
    # three tied maxima (1/3 each), two tied minima (1/2 each)
    y, z = torch.amax(x), torch.amin(x)
    return {"y": y, "z": z, "loss": 3 * y - z}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: norm(x)
backward: y
outputs: [y]
""")
def norm(x):
    return {"y": torch.norm(x)}


# Float sums (emit.c, RED_*: 16 lanes over blocks of 4096 elements): a row
# past whole blocks, a row shorter than a block with a rest past the
# lanes, a norm, a sum over the leading dim (whole rows added), one over
# a middle dim past a block of terms, and softmax rows.

@case("""
inputs:
  x: {shape: [3, 4133], requires_grad: true}
graph:
  y: sum(x, dim=1)
backward: {of: y}
outputs: [y]
""")
def sum_rows_blocked(x):
    return {"y": torch.sum(x, dim=1)}


@case("""
inputs:
  x: {shape: [1000], requires_grad: true}
graph:
  y: mean(x)
  z: norm(x)
  loss: y + z
backward: loss
outputs: [y, z]
""")
def mean_norm_lanes(x):
    y, z = torch.mean(x), torch.norm(x)
    return {"y": y, "z": z, "loss": y + z}


@case("""
inputs:
  x: {shape: [70, 33], requires_grad: true}
graph:
  y: sum(x, dim=0)
backward: {of: y}
outputs: [y]
""")
def sum_leading(x):
    return {"y": torch.sum(x, dim=0)}


@case("""
inputs:
  x: {shape: [2, 5000, 3], requires_grad: true}
graph:
  y: sum(x, dim=1)
backward: {of: y}
outputs: [y]
""")
def sum_middle_blocked(x):
    return {"y": torch.sum(x, dim=1)}


@case("""
inputs:
  x: {shape: [5, 40], requires_grad: true}
graph:
  y: log(softmax(x, dim=1))
  z: log_softmax(x, dim=1)
  loss: y + 2 * z
backward: {of: loss}
outputs: [y, z]
""")
def softmax_rows(x):
    y = torch.log(torch.softmax(x, dim=1))
    z = torch.log_softmax(x, dim=1)
    return {"y": y, "z": z, "loss": y + 2 * z}


# --- matmul and .T ----------------------------------------------------------

@case("""
inputs:
  a: {shape: [4], requires_grad: true}
  b: {shape: [4], requires_grad: true}
graph:
  y: a @ b
backward: y
outputs: [y]
""")
def matmul_dot(a, b):
    return {"y": a @ b}


@case("""
inputs:
  a: {shape: [3, 4], requires_grad: true}
  b: {shape: [4], requires_grad: true}
graph:
  y: a @ b
backward: {of: y}
outputs: [y]
""")
def matmul_mv(a, b):
    return {"y": a @ b}


@case("""
inputs:
  a: {shape: [3], requires_grad: true}
  b: {shape: [3, 4], requires_grad: true}
graph:
  y: a @ b
backward: {of: y}
outputs: [y]
""")
def matmul_vm(a, b):
    return {"y": a @ b}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [3, 4], requires_grad: true}
graph:
  y: a @ b
backward: {of: y}
outputs: [y]
""")
def matmul_mm(a, b):
    return {"y": a @ b}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: x.T
backward: {of: y}
outputs: [y]
""")
def transpose_T(x):
    return {"y": x.T}


@case("""
inputs:
  a: {shape: [3, 2], requires_grad: true}
  b: {shape: [3, 4], requires_grad: true}
graph:
  y: a.T @ b
  z: (a.T @ b).T * 2
backward: {of: z}
outputs: [y, z]
""")
def matmul_T(a, b):
    y = a.T @ b
    return {"y": y, "z": (a.T @ b).T * 2}


# The blocked matmul (emit.c, MM_*: tiles of 6 rows and 4 terms, panels of
# 128 columns by 64 rows): rows, terms and columns past whole tiles and
# panels, fewer rows than a tile, fewer terms than a tile, and each
# operand read transposed in place.

@case("""
inputs:
  a: {shape: [13, 37], requires_grad: true}
  b: {shape: [37, 150], requires_grad: true}
graph:
  y: a @ b
backward: {of: y}
outputs: [y]
""")
def matmul_blocked(a, b):
    return {"y": a @ b}


@case("""
inputs:
  a: {shape: [70, 5], requires_grad: true}
  b: {shape: [131, 70], requires_grad: true}
graph:
  y: a.T @ b.T
backward: {of: y}
outputs: [y]
""")
def matmul_blocked_T(a, b):
    return {"y": a.T @ b.T}


# K past one packed panel (at most 384 rows of B, the panels evened out: 3
# of 267 here): the kernels' sums go on from the first panel's; M and N past
# whole kernels (6 rows, 16 columns)
@case("""
inputs:
  a: {shape: [9, 800], requires_grad: true}
  b: {shape: [800, 21], requires_grad: true}
graph:
  y: a @ b
backward: {of: y}
outputs: [y]
""", a=U(-0.5, 0.5), b=U(-0.5, 0.5))
def matmul_blocked_kb(a, b):
    return {"y": a @ b}


@case("""
inputs:
  a: {shape: [9, 800], requires_grad: true}
  b: {shape: [800, 21], requires_grad: true}
graph:
  y: a @ b
backward: {of: y}
outputs: [y]
""", a=U(-0.5, 0.5), b=U(-0.5, 0.5))
def matmul_blocked_kb_f64(a, b):
    return {"y": a @ b}


@case("""
inputs:
  x: {shape: [11, 400], requires_grad: true}
  w: {shape: [45, 400], requires_grad: true}
  b: {shape: [45], requires_grad: true}
graph:
  y: linear(x, w, b)
backward: {of: y}
outputs: [y]
""", x=U(-0.5, 0.5), w=U(-0.05, 0.05))  # w: nn.Linear's init, 1/sqrt(400)
def linear_blocked_kb(x, w, b):
    return {"y": F.linear(x, w, b)}


# a product of 2^20 multiply-adds or more, whose K runs in as few panels of
# at most 384 rows as can be, evened out (3 of 267 here)
@case("""
inputs:
  x: {shape: [20, 800], requires_grad: true}
  w: {shape: [70, 800], requires_grad: true}
  b: {shape: [70], requires_grad: true}
graph:
  y: linear(x, w, b)
backward: {of: y}
outputs: [y]
""", x=U(-0.5, 0.5), w=U(-0.035, 0.035))  # w: nn.Linear's init, 1/sqrt(800)
def linear_large_kb(x, w, b):
    return {"y": F.linear(x, w, b)}


# fewer columns than a panel (10 of 16): a blocked product all tail
@case("""
inputs:
  x: {shape: [13, 70], requires_grad: true}
  w: {shape: [10, 70], requires_grad: true}
  b: {shape: [10], requires_grad: true}
graph:
  y: linear(x, w, b)
backward: {of: y}
outputs: [y]
""", x=U(-0.5, 0.5), w=U(-0.5, 0.5))
def linear_narrow(x, w, b):
    return {"y": F.linear(x, w, b)}


@case("""
inputs:
  x: {shape: [7, 70], requires_grad: true}
  w: {shape: [131, 70], requires_grad: true}
  b: {shape: [131], requires_grad: true}
graph:
  y: linear(x, w, b)
backward: {of: y}
outputs: [y]
""", x=U(-0.5, 0.5), w=U(-0.5, 0.5))
def linear_blocked(x, w, b):
    return {"y": F.linear(x, w, b)}


@case("""
inputs:
  x: {shape: [100, 3], requires_grad: true}
  w: {shape: [20, 3], requires_grad: true}
graph:
  y: linear(x, w)
backward: {of: y}
outputs: [y]
""")
def linear_blocked_k3(x, w):
    return {"y": F.linear(x, w)}


@case("""
inputs:
  x: {shape: [2, 50], requires_grad: true}
  w: {shape: [64, 50], requires_grad: true}
  b: {shape: [64], requires_grad: true}
graph:
  y: linear(x, w, b)
backward: {of: y}
outputs: [y]
""")
def linear_blocked_m2(x, w, b):
    return {"y": F.linear(x, w, b)}


@case("""
inputs:
  x: {shape: [4, 3]}
  w: {shape: [3, 2], requires_grad: true}
  b: {shape: [2], requires_grad: true}
  t: {shape: [4, 2]}
graph:
  h: tanh(x @ w + b)
  loss: mse_loss(h, t)
backward: loss
outputs: [h, loss]
""", t=U(-0.9, 0.9))
def mlp(x, w, b, t):
    h = torch.tanh(x @ w + b)
    return {"h": h, "loss": F.mse_loss(h, t)}


# --- shape ------------------------------------------------------------------

@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: reshape(x, (2, -1))
backward: {of: y}
outputs: [y]
""")
def reshape(x):
    return {"y": torch.reshape(x, (2, -1))}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: reshape(x, (-1, 2, 3))
backward: {of: y}
outputs: [y]
""")
def reshape3(x):
    return {"y": torch.reshape(x, (-1, 2, 3))}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: flatten(x)
backward: {of: y}
outputs: [y]
""")
def flatten_all(x):
    return {"y": torch.flatten(x)}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: flatten(x, start_dim=1)
backward: {of: y}
outputs: [y]
""")
def flatten_start1(x):
    return {"y": torch.flatten(x, start_dim=1)}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: flatten(x, start_dim=0, end_dim=1)
backward: {of: y}
outputs: [y]
""")
def flatten_0_1(x):
    return {"y": torch.flatten(x, start_dim=0, end_dim=1)}


@case("""
inputs:
  x: {shape: [2, 3, 4, 2], requires_grad: true}
graph:
  y: flatten(x, start_dim=1, end_dim=-2)
backward: {of: y}
outputs: [y]
""")
def flatten_negend(x):
    return {"y": torch.flatten(x, start_dim=1, end_dim=-2)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: transpose(x, 0, 1)
backward: {of: y}
outputs: [y]
""")
def transpose01(x):
    return {"y": torch.transpose(x, 0, 1)}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: transpose(x, -1, 0)
backward: {of: y}
outputs: [y]
""")
def transpose_neg(x):
    return {"y": torch.transpose(x, -1, 0)}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [1, 3], requires_grad: true}
graph:
  y: cat((a, b), dim=0)
backward: {of: y}
outputs: [y]
""")
def cat2_dim0(a, b):
    return {"y": torch.cat((a, b), dim=0)}


@case("""
inputs:
  a: {shape: [2, 1], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
  c: {shape: [2, 2], requires_grad: true}
graph:
  y: cat((a, b, c), dim=1)
backward: {of: y}
outputs: [y]
""")
def cat3_dim1(a, b, c):
    return {"y": torch.cat((a, b, c), dim=1)}


@case("""
inputs:
  a: {shape: [2, 3, 2], requires_grad: true}
  b: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: cat((a, b), dim=-1)
backward: {of: y}
outputs: [y]
""")
def cat_negdim(a, b):
    return {"y": torch.cat((a, b), dim=-1)}


@case("""
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: cat((a, b, a), dim=0)
backward: {of: y}
outputs: [y]
""")
def cat_fanout(a, b):
    return {"y": torch.cat((a, b, a), dim=0)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: narrow(x, 1, 1, 2)
backward: {of: y}
outputs: [y]
""")
def narrow1(x):
    return {"y": torch.narrow(x, 1, 1, 2)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: narrow(x, 0, 2, 1)
backward: {of: y}
outputs: [y]
""")
def narrow0(x):
    return {"y": torch.narrow(x, 0, 2, 1)}


@case("""
inputs:
  x: {shape: [2, 3, 5], requires_grad: true}
graph:
  y: narrow(x, -1, 2, 3)
backward: {of: y}
outputs: [y]
""")
def narrow_neg(x):
    return {"y": torch.narrow(x, -1, 2, 3)}


# --- softmax, log_softmax, losses -------------------------------------------

@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: softmax(x, dim=0)
backward: {of: y}
outputs: [y]
""", x=U(-2, 2))
def softmax_dim0(x):
    return {"y": torch.softmax(x, dim=0)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: softmax(x, dim=1)
backward: {of: y}
outputs: [y]
""", x=U(-2, 2))
def softmax_dim1(x):
    return {"y": torch.softmax(x, dim=1)}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: softmax(x, dim=-1)
backward: {of: y}
outputs: [y]
""", x=U(-2, 2))
def softmax_negdim(x):
    return {"y": torch.softmax(x, dim=-1)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: log_softmax(x, dim=0)
backward: {of: y}
outputs: [y]
""", x=U(-2, 2))
def log_softmax_dim0(x):
    return {"y": torch.log_softmax(x, dim=0)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: log_softmax(x, dim=1)
backward: {of: y}
outputs: [y]
""", x=U(-2, 2))
def log_softmax_dim1(x):
    return {"y": torch.log_softmax(x, dim=1)}


@case("""
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
graph:
  y: log_softmax(x, dim=-1)
backward: {of: y}
outputs: [y]
""", x=U(-2, 2))
def log_softmax_negdim(x):
    return {"y": torch.log_softmax(x, dim=-1)}


@case("""
inputs:
  a: {shape: [3, 4], requires_grad: true}
  b: {shape: [3, 4], requires_grad: true}
graph:
  loss: mse_loss(a, b)
backward: loss
outputs: [loss]
""")
def mse_loss(a, b):
    return {"loss": F.mse_loss(a, b)}


@case("""
inputs:
  logits: {shape: [3, 5], requires_grad: true}
  target: {shape: [3, 5]}
graph:
  loss: cross_entropy(logits, target)
backward: loss
outputs: [loss]
""", logits=U(-2, 2), target=probs)
def cross_entropy(logits, target):
    return {"loss": F.cross_entropy(logits, target)}


@case("""
inputs:
  logits: {shape: [4, 3], requires_grad: true}
  target: {shape: [4, 3], requires_grad: true}
graph:
  loss: cross_entropy(logits, target)
backward: loss
outputs: [loss]
""", logits=U(-2, 2), target=probs)
def cross_entropy_tgrad(logits, target):
    # the target gets a gradient too: -log_softmax(logits) / N
    return {"loss": F.cross_entropy(logits, target)}


# --- autograd: detach, fan-out ------------------------------------------------

@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: x * detach(x)
backward: {of: y}
outputs: [y]
""")
def detach(x):
    return {"y": x * x.detach()}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  d: detach(x * 3)
  y: exp(d) + x * d
backward: {of: y}
outputs: [d, y]
""")
def detach_expr(x):
    d = (x * 3).detach()
    return {"d": d, "y": torch.exp(d) + x * d}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
  w: {shape: [3], requires_grad: true}
graph:
  y: x * x + x
  z: y * w + exp(y) - x
  loss: sum(z * y)
backward: loss
outputs: [z, loss]
""", x=U(-1, 1))
def fanout(x, w):
    y = x * x + x
    z = y * w + torch.exp(y) - x
    return {"y": y, "z": z, "loss": torch.sum(z * y)}


# --- the backward graph: grad_fn names of torch (see grad_fn.txt) ------------

@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
  v: {shape: [3], requires_grad: true}
  m: {shape: [3, 2], requires_grad: true}
  c: {shape: [2, 3]}
graph:
  y: (2 - x) * (c - x) + 2 / x + 2 ^ x + x ^ x - -x
  z: sum(y, dim=0) + (v @ m) @ x + mean(x) + max(x, dim=0) + norm(x) + flatten(v)
  loss: sum(z * v)
backward: loss
outputs: [y, z, loss]
""", x=POS)
def grad_fn_names(x, v, m, c):
    # RsubBackward1, a reciprocal under 2 / x, PowBackward0/1, vector @
    # matrix as unsqueeze-mm-squeeze, SumBackward1 vs SumBackward0...
    y = (2 - x) * (c - x) + 2 / x + 2 ** x + x ** x - -x
    z = (y.sum(dim=0) + (v @ m) @ x + x.mean() + torch.amax(x, dim=0)
         + x.norm() + v.flatten())
    return {"y": y, "z": z, "loss": torch.sum(z * v)}


# --- custom functions: the user's backward, as torch.autograd.Function ---------
# Each class is named as the agc function, so that its grad_fn's name
# (NAMEBackward) is the one `agc graph --backward` draws.

class my_add(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x1, x2):
        return x1 + x2

    @staticmethod
    def backward(ctx, grad):
        return grad, grad


class my_max(torch.autograd.Function):
    """max over all elements; backward grad * (x == out): every tied element
    gets the whole gradient, as the user wrote it (torch.amax would split)."""
    @staticmethod
    def forward(ctx, x):
        out = torch.amax(x)
        ctx.save_for_backward(x, out)
        return out

    @staticmethod
    def backward(ctx, grad):
        x, out = ctx.saved_tensors
        return grad * (x == out).to(x.dtype)


class my_copy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad


class my_exp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        out = torch.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        out, = ctx.saved_tensors
        return grad * out


class my_softplus(torch.autograd.Function):
    """log(1 + my_exp(x)); the backward calls my_exp, a custom function."""
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.log(1 + my_exp.apply(x))

    @staticmethod
    def backward(ctx, grad):
        x, = ctx.saved_tensors
        e = my_exp.apply(x)
        return grad * e / (1 + e)


class my_scale(torch.autograd.Function):
    """No backward for s: it must not need a gradient."""
    @staticmethod
    def forward(ctx, x, s):
        ctx.save_for_backward(s)
        return x * s

    @staticmethod
    def backward(ctx, grad):
        s, = ctx.saved_tensors
        return grad * s, None


FN_ADD = """
functions:
  my_add:
    args: [x1, x2]
    forward: x1 + x2
    backward:
      x1: grad
      x2: grad
"""

FN_MAX = """
functions:
  my_max:
    args: [x]
    forward: max(x)
    backward:
      x: grad * (x == out)
"""


@case(FN_ADD + """
inputs:
  a: {shape: [2, 3], requires_grad: true}
  b: {shape: [2, 3], requires_grad: true}
graph:
  y: my_add(a, b)
backward: {of: y}
outputs: [y]
""")
def custom_add(a, b):
    return {"y": my_add.apply(a, b)}


@case(FN_ADD + """
  my_copy:
    args: [x]
    forward: x
    backward:
      x: grad
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: my_add(x, x)
  c: my_copy(y)
  z: c * c + c
  loss: sum(z)
backward: loss
outputs: [y, z, loss]
""")
def custom_split(x):
    # x used twice by one call, c three times: the gradients are summed
    y = my_add.apply(x, x)
    c = my_copy.apply(y)
    z = c * c + c
    return {"y": y, "c": c, "z": z, "loss": torch.sum(z)}


@case(FN_MAX + """
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  m: my_max(x)
backward: m
outputs: [m]
""")
def custom_max(x):
    return {"m": my_max.apply(x)}


@case(FN_MAX + """
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  m: my_max(x * 2)
backward: m
outputs: [m]
""", x=value([[1, 3, 0], [3, -1, 2]]))
def custom_max_ties(x):
    # both 3s get the whole gradient: grad * (x == out) says so
    return {"m": my_max.apply(x * 2)}


@case("""
functions:
  my_exp:
    args: [x]
    forward: exp(x)
    backward:
      x: grad * out
  my_softplus:
    args: [x]
    forward: log(1 + my_exp(x))
    backward:
      x: grad * my_exp(x) / (1 + my_exp(x))
inputs:
  x: {shape: [2, 3], requires_grad: true}
graph:
  y: my_softplus(x) * my_exp(x)
backward: {of: y}
outputs: [y]
""")
def custom_nested(x):
    return {"y": my_softplus.apply(x) * my_exp.apply(x)}


@case("""
functions:
  my_scale:
    args: [x, s]
    forward: x * s
    backward:
      x: grad * s
inputs:
  x: {shape: [2, 3], requires_grad: true}
  s: {shape: [3]}
graph:
  y: my_scale(s=s, x=tanh(x))
backward: {of: y}
outputs: [y]
""")
def custom_no_grad_arg(x, s):
    # s has no backward entry and does not require grad: no error
    return {"y": my_scale.apply(torch.tanh(x), s)}


# --- the seed examples --------------------------------------------------------

@case("""
inputs:
  x: {shape: [2, 2], requires_grad: true}
graph:
  y: x - 2
  z: 3 * y^2
  a: mean(z)
backward: a
outputs: [z, a]
""", x=value([[1, 2], [3, 4]]))
def seed_autograd(x):
    # a = 4.5, x.grad = [[-1.5, 0], [1.5, 3]]
    y = x - 2
    z = 3 * y ** 2
    return {"y": y, "z": z, "a": torch.mean(z)}


@case("""
inputs:
  x: {shape: [5], requires_grad: true}
  w: {shape: [5], requires_grad: true}
graph:
  z: w @ x
backward: z
outputs: [z]
""", x=value([1, 2, 3, 4, 5]), w=value([1, 1, 1, 1, 1]))
def seed_dot(x, w):
    # z = 15, x.grad = w = ones, w.grad = x
    return {"z": w @ x}


@case("""
inputs:
  x: {shape: [3], requires_grad: true}
graph:
  y: x * 2
backward: {of: y}
outputs: [y]
""", x=value([1.0, -2.0, 3.0]))
def seed_vjp(x):
    # seed [0.1, 1.0, 0.0001] (see SEEDS): x.grad = 2 * seed
    return {"y": x * 2}


# --- loops (section 7) --------------------------------------------------------

def while_loop(v, cond, body, max_iter):
    """A loop node in Python: cond is tested before each iteration, and
    still true after max_iter iterations is an error.  Returns the last
    value and the count of iterations; autograd goes through exactly the
    iterations that ran."""
    count = 0
    while bool(cond(v)):
        assert count < max_iter, "the loop exceeds its max_iter"
        v = body(v)
        count += 1
    return v, count


@case("""
inputs:
  x: {shape: [3], requires_grad: true}
graph:
  y0: x * 2
  y:
    loop:
      init: y0
      as: v
      while: norm(v) < 1000
      body: v * 2
      max_iter: 64
      count: i
backward: {of: y}
outputs: [y]
""", x=value([0.6, 0.9, 1.2]))
def loop_seed(x):
    # i = 9, x.grad = seed * 2^(i+1) = [102.4, 1024, 0.1024] (seed in SEEDS)
    y0 = x * 2
    y, i = while_loop(y0, lambda v: torch.norm(v) < 1000, lambda v: v * 2, 64)
    return {"y0": y0, "y": y, "i": i}


@case("""
inputs:
  x: {shape: [3], requires_grad: true}
  w: {shape: [3], requires_grad: true}
graph:
  y:
    loop:
      init: x
      as: v
      while: sum(v * v) < 20
      body: v * w
      max_iter: 100
      count: n
backward: {of: y}
outputs: [y]
""", x=U(0.5, 1.0), w=U(1.1, 1.5))
def loop_capture_mul(x, w):
    # w is captured: its gradient sums over the iterations, each of which
    # reads the iterate it multiplied (kept in the tape)
    y, n = while_loop(x, lambda v: torch.sum(v * v) < 20, lambda v: v * w,
                      100)
    return {"y": y, "n": n}


@case("""
inputs:
  x: {shape: [3]}
  w: {shape: [3], requires_grad: true}
graph:
  y:
    loop:
      init: x * 1
      as: v
      while: max(v) < 3
      body: v + sin(w)
      max_iter: 100
      count: n
backward: {of: y}
outputs: [y]
""", x=U(-1, 0), w=U(0.3, 1.5))
def loop_capture_sin(x, w):
    # only the captured w requires grad: w.grad = n cos(w) seed
    y, n = while_loop(x * 1, lambda v: torch.amax(v) < 3,
                      lambda v: v + torch.sin(w), 100)
    return {"y": y, "n": n}


@case("""
inputs:
  x: {shape: [2, 3], requires_grad: true}
  w: {shape: [3], requires_grad: true}
graph:
  h:
    loop:
      init: x
      while: mean(h) < 2
      body: h + 0.5 * tanh(h * w) + 0.2
      max_iter: 50
      count: k
  loss: sum(h * h)
backward: loss
outputs: [h, loss]
""", x=U(0.1, 0.5), w=U(0.5, 1.5))
def loop_tanh(x, w):
    # a nonlinear body, its variable named after the node (no as:), a
    # broadcast capture, a scalar loss after the loop
    h, k = while_loop(x, lambda h: torch.mean(h) < 2,
                      lambda h: h + 0.5 * torch.tanh(h * w) + 0.2, 50)
    return {"h": h, "k": k, "loss": torch.sum(h * h)}


@case("""
inputs:
  x: {shape: [3], requires_grad: true}
  w: {shape: [3], requires_grad: true}
graph:
  y:
    loop: {init: x * 3, as: v, while: norm(v) < 1, body: v * w, max_iter: 10,
           count: n}
backward: {of: y}
outputs: [y]
""", x=U(1.0, 1.5))
def loop_zero_iter(x, w):
    # the condition is false at once: y = 3x, x.grad = 3 seed, and w gets
    # zeros (PyTorch leaves w.grad None)
    y, n = while_loop(x * 3, lambda v: torch.norm(v) < 1, lambda v: v * w, 10)
    return {"y": y, "n": n}


@case("""
inputs:
  x: {shape: [2], requires_grad: true}
graph:
  y:
    loop: {init: x, as: v, while: sum(v) < 10, body: v * 2, max_iter: 3,
           count: n}
backward: {of: y}
outputs: [y]
""", x=value([0.7, 0.8]))
def loop_exact_max_iter(x):
    # sum 1.5, 3, 6, 12: the condition turns false after exactly max_iter
    # iterations, which is not an error
    y, n = while_loop(x, lambda v: torch.sum(v) < 10, lambda v: v * 2, 3)
    return {"y": y, "n": n}


def near_identity(rng, shape):
    return 1.3 * np.eye(shape[0]) + rng.uniform(-0.1, 0.1, size=shape)


@case("""
inputs:
  x: {shape: [3], requires_grad: true}
  W: {shape: [3, 3], requires_grad: true}
graph:
  y:
    loop: {init: x, as: v, while: norm(v) < 10, body: W @ v, max_iter: 100,
           count: n}
backward: {of: y}
outputs: [y]
""", x=U(0.5, 1.0), W=near_identity)
def loop_matmul(x, W):
    # a body that is not elementwise: W.grad sums outer products
    y, n = while_loop(x, lambda v: torch.norm(v) < 10, lambda v: W @ v, 100)
    return {"y": y, "n": n}


@case("""
inputs:
  x: {shape: [3], requires_grad: true}
graph:
  y:
    loop:
      init: x
      as: v
      while: sum(abs(v), dim=0, keepdim=true) < 20
      body: cat((narrow(v, 0, 1, 2), narrow(v, 0, 0, 1) * 2), dim=0)
      max_iter: 40
      count: n
backward: {of: y}
outputs: [y]
""", x=U(0.5, 1.0))
def loop_rotate(x):
    # the body moves elements around (it cannot be computed in place), and
    # the condition is a one-element tensor of shape [1]
    def body(v):
        return torch.cat((torch.narrow(v, 0, 1, 2),
                          torch.narrow(v, 0, 0, 1) * 2), dim=0)
    y, n = while_loop(x, lambda v: torch.sum(torch.abs(v), dim=0,
                                             keepdim=True) < 20, body, 40)
    return {"y": y, "n": n}


@case("""
inputs:
  x: {shape: [2], requires_grad: true}
  t: {shape: []}
graph:
  a:
    loop: {init: x, while: sum(a) < t, body: a * 1.5 + 0.1, max_iter: 30,
           count: na}
  b:
    loop: {init: a, as: u, while: sum(u) < t * 3, body: u + a * 0.25,
           max_iter: 30}
  s: sum(b * b)
backward: s
outputs: [a, b, s]
""", x=U(0.5, 1.0), t=value(4.0))
def loop_chain(x, t):
    # two loops: the second starts from the first and captures it; both
    # conditions read an input
    a, na = while_loop(x, lambda a: torch.sum(a) < t,
                       lambda a: a * 1.5 + 0.1, 30)
    b, _ = while_loop(a, lambda u: torch.sum(u) < t * 3,
                      lambda u: u + a * 0.25, 30)
    return {"a": a, "na": na, "b": b, "s": torch.sum(b * b)}



@case("""
inputs:
  u: {shape: [2, 2], requires_grad: true}
graph:
  y:
    loop: {init: u, as: v, while: sum(v) < 6, body: v + tanh(u).T,
           max_iter: 10, count: k}
backward: {of: y}
outputs: [y]
""", u=value([[0.5, -0.25], [0.75, 1.0]]))
def loop_capture_transpose(u):
    # the body transposes an expression of captures only: backward reads
    # that transpose in the captures' gradient alone (issue 13)
    y, k = while_loop(u, lambda v: torch.sum(v) < 6,
                      lambda v: v + torch.tanh(u).T, 10)
    return {"y": y, "k": k}


@case("""
inputs:
  x: {shape: [2], requires_grad: true}
  c: {shape: [3]}
  w: {shape: [2, 3], requires_grad: true}
  b: {shape: [2], requires_grad: true}
graph:
  y:
    loop:
      init: x
      as: v
      while: sum(v) < 3
      body: v + tanh(linear(c, w, b))
      max_iter: 20
      count: k
  loss: sum(y * y)
backward: loss
outputs: [y, loss]
""", x=value([0.5, -0.25]), c=value([0.3, 0.7, -0.4]),
      w=value([[0.5, -0.25, 0.1], [0.75, 1.0, -0.5]]), b=value([0.1, 0.2]))
def loop_capture_linear(x, c, w, b):
    # an RNN-like body: linear of captures only, whose weight's gradient
    # reads a transpose of the input (issue 13)
    y, k = while_loop(x, lambda v: torch.sum(v) < 3,
                      lambda v: v + torch.tanh(F.linear(c, w, b)), 20)
    return {"y": y, "k": k, "loss": torch.sum(y * y)}

# Seeds chosen by hand; every other {of: y} case gets a random normal seed.
SEEDS = {"seed_vjp": [0.1, 1.0, 0.0001], "loop_seed": [0.1, 1.0, 0.0001]}


@case("""
functions:
  my_scale:
    args: [x, s]
    forward: x * s
    backward:
      x: grad * s
      s: sum(grad * x)
inputs:
  x: {shape: [3], requires_grad: true}
  s: {shape: [], requires_grad: true}
graph:
  y:
    loop:
      init: x
      as: v
      while: norm(v) < 10
      body: my_scale(v, s)
      max_iter: 50
      count: n
  loss: sum(y * y)
backward: loss
outputs: [y, loss]
""", x=U(0.5, 1.5), s=U(1.2, 2.0))
def loop_custom(x, s):
    # a custom function in a loop body: its backward runs once per
    # iteration, and s, captured, sums the gradient of every one
    class my_scale(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, s):
            ctx.save_for_backward(x, s)
            return x * s

        @staticmethod
        def backward(ctx, grad):
            x, s = ctx.saved_tensors
            return grad * s, torch.sum(grad * x)

    y, n = while_loop(x, lambda v: torch.norm(v) < 10,
                      lambda v: my_scale.apply(v, s), 50)
    return {"y": y, "n": n, "loss": torch.sum(y * y)}


# --- section 11's elementwise functions and activation layers ----------------
# Each in float32 and (*_f64) float64; the *_at cases put values exactly on
# the kinks and switches where PyTorch defines the gradient (test_grad.c
# leaves them out of the finite differences).

def unary_cases(name, call, fn, draw):
    """Cases NAME and NAME_f64: y = CALL of x [3, 4] drawn by draw, fn the
    reference."""
    spec = """
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: %s
backward: {of: y}
outputs: [y]
""" % call
    for suffix in ("", "_f64"):
        def ref(x):
            return {"y": fn(x)}
        ref.__name__ = name + suffix
        case(spec, x=draw)(ref)


unary_cases("gelu", "gelu(x)", F.gelu, U(-4, 4))
unary_cases("gelu_none", "gelu(x, approximate=none)",
            lambda x: F.gelu(x, approximate="none"), U())
unary_cases("gelu_tanh", "gelu(x, approximate=tanh)",
            lambda x: F.gelu(x, approximate="tanh"), U(-4, 4))
unary_cases("silu", "silu(x)", F.silu, U(-6, 6))
unary_cases("elu", "elu(x)", F.elu, U(-3, 2))
unary_cases("elu_alpha", "elu(x, alpha=0.5)",
            lambda x: F.elu(x, alpha=0.5), U(-3, 2, avoid=[0.0], gap=0.2))
unary_cases("softplus", "softplus(x)", F.softplus, U(-8, 8))
unary_cases("softplus_beta", "softplus(x, beta=2, threshold=1)",
            lambda x: F.softplus(x, beta=2, threshold=1),
            U(-2, 2, avoid=[0.5], gap=0.1))
unary_cases("softplus_threshold", "softplus(x + 20)",
            lambda x: F.softplus(x + 20), U(-3, 3, avoid=[0.0], gap=0.3))
unary_cases("hardtanh", "hardtanh(x)", F.hardtanh,
            U(-2, 2, avoid=[-1.0, 1.0], gap=0.1))
unary_cases("hardtanh_bounds", "hardtanh(x, min_val=-0.5, max_val=0.75)",
            lambda x: F.hardtanh(x, min_val=-0.5, max_val=0.75),
            U(-2, 2, avoid=[-0.5, 0.75], gap=0.1))
unary_cases("hardtanh_crossed", "hardtanh(x, min_val=0.5, max_val=-0.5)",
            lambda x: F.hardtanh(x, min_val=0.5, max_val=-0.5), U())
unary_cases("log1p", "log1p(x)", torch.log1p, U(-0.9, 3))
unary_cases("expm1", "expm1(x)", torch.expm1, U(-3, 3))
unary_cases("erf", "erf(x)", torch.erf, U(-3, 3))

# values on the kinks: elu at 0 (gradient alpha, from x <= 0), softplus at
# x beta == threshold (the smooth side: the switch is x beta > threshold),
# hardtanh on its bounds (gradient 0 there), and either side of each
KINKS = value([[0.0, -0.0, 0.5, -0.5], [1.0, -1.0, 0.75, -0.25],
               [2.0, -2.0, 0.25, 10.0]])


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: elu(x, alpha=0.5)
  z: softplus(x, beta=2, threshold=1)
  u: hardtanh(x, min_val=-1, max_val=0.75)
  v: hardtanh(x)
  s: sum(y + z * 2 + u * 3 + v * 4)
backward: s
outputs: [y, z, u, v, s]
""", x=KINKS)
def activations_at(x):
    y = F.elu(x, alpha=0.5)
    z = F.softplus(x, beta=2, threshold=1)
    u = F.hardtanh(x, min_val=-1, max_val=0.75)
    v = F.hardtanh(x)
    return {"y": y, "z": z, "u": u, "v": v,
            "s": torch.sum(y + z * 2 + u * 3 + v * 4)}


@case("""
inputs:
  x: {shape: [3, 4], requires_grad: true}
graph:
  y: gelu(x)
  z: silu(x)
  w: elu(x)
  t: log1p(x)
  u: expm1(x)
  v: erf(x)
  s: sum(y + z + w + t + u + v)
backward: s
outputs: [y, z, w, t, u, v, s]
""", x=value([[0.0, -0.0, 1e-4, -1e-4], [1e-8, -1e-8, 0.5, -0.5],
              [3.0, -0.75, 1e-3, -1e-3]]))
def activations_near0_at(x):
    y, z, w = F.gelu(x), F.silu(x), F.elu(x)
    t, u, v = torch.log1p(x), torch.expm1(x), torch.erf(x)
    return {"y": y, "z": z, "w": w, "t": t, "u": u, "v": v,
            "s": torch.sum(y + z + w + t + u + v)}


@case("""
inputs:
  x: {shape: [2, 5], requires_grad: true}
  w: {shape: [2, 5], requires_grad: true}
graph:
  y: gelu(x * w) + erf(x) * silu(w) - softplus(x - w, beta=3)
  z: log1p(expm1(x) * expm1(x)) * elu(w - 0.5, alpha=2)
  loss: mean(y * z + hardtanh(y, min_val=-0.3, max_val=0.3))
backward: loss
outputs: [y, z, loss]
""", x=U(-1.5, 1.5), w=U(-1.5, 1.5, avoid=[0.5], gap=0.2))
def activations_fused(x, w):
    y = F.gelu(x * w) + torch.erf(x) * F.silu(w) - F.softplus(x - w, beta=3)
    z = torch.log1p(torch.expm1(x) * torch.expm1(x)) * F.elu(w - 0.5, alpha=2)
    return {"y": y, "z": z,
            "loss": torch.mean(y * z + F.hardtanh(y, min_val=-0.3,
                                                  max_val=0.3))}


_LAYERS = """
inputs:
  x: {shape: [2, 3, 4], requires_grad: true}
model:
  input: x
  layers:
    - gelu
    - elu: {alpha: 0.7}
    - softplus: {beta: 1.5, threshold: 2}
    - hardtanh: {name: clip, min_val: -0.4, max_val: 1.2}
    - silu: {name: act}
    - gelu: {name: act2, approximate: tanh}
graph:
  loss: mean(act2 * act)
backward: loss
outputs: [clip, act, act2, loss]
"""


def _layer_nodes(x):
    h0 = torch.nn.GELU()(x)
    h1 = torch.nn.ELU(alpha=0.7)(h0)
    h2 = torch.nn.Softplus(beta=1.5, threshold=2)(h1)
    h3 = torch.nn.Hardtanh(min_val=-0.4, max_val=1.2)(h2)
    h4 = torch.nn.SiLU()(h3)
    h5 = torch.nn.GELU(approximate="tanh")(h4)
    return {"gelu0": h0, "elu1": h1, "softplus2": h2, "clip": h3, "act": h4,
            "act2": h5, "loss": torch.mean(h5 * h4)}


@case(_LAYERS, x=U(-3, 3))
def activation_layers(x):
    return _layer_nodes(x)


@case(_LAYERS, x=U(-3, 3))
def activation_layers_f64(x):
    return _layer_nodes(x)


# --- driver -----------------------------------------------------------------

def f32(a):
    """float32, C order; refuse anything that would silently change values."""
    a = np.array(a, dtype=np.float32, order="C")  # keeps 0-d arrays 0-d
    assert np.isfinite(a).all(), "non-finite value"
    return a


def f64(a):
    """float64, C order, for the cases named *_f64."""
    a = np.array(a, dtype=np.float64, order="C")
    assert np.isfinite(a).all(), "non-finite value"
    return a


def to_numpy(t, real=f32):
    t = t.detach()
    assert t.dtype in (torch.float32, torch.float64, torch.bool), t.dtype
    return real(t.to(torch.float64 if real is f64 else torch.float32)
                .numpy())


def grad_fn_text(root, leaves):
    """The backward graph from root: each grad_fn once, numbered depth first
    in next_functions order, as a line "ID NAME [LEAF] -> NEXT IDS" (None
    entries left out).  test_golden.c writes agc's the same way."""
    ids, lines = {}, []
    names = {id(t): n for n, t in leaves.items()}

    def visit(fn):
        if fn in ids:
            return ids[fn]
        ids[fn] = len(ids)
        line = [str(ids[fn]), type(fn).__name__]
        if hasattr(fn, "variable"):
            line.append(names[id(fn.variable)])
        lines.append(line)
        nxt = [visit(f) for f, _ in fn.next_functions if f is not None]
        line.append("->")
        line.extend(str(i) for i in nxt)
        return ids[fn]

    visit(root)
    return "".join(" ".join(line) + "\n" for line in lines)


def make_case(name, text, ref, draws, out_dir=OUT_DIR,
              script="tests/make_golden.py", seed_scale=1.0, exact=False):
    spec = yaml.safe_load(text)
    assert set(spec) <= {"functions", "inputs", "model", "graph", "outputs",
                         "backward"}, name
    inputs, graph = spec["inputs"], spec["graph"]
    assert all(isinstance(e, str) or set(e) == {"loop"}
               for e in graph.values()), name
    # a case named *_f64 is float64 throughout: spec, data and torch
    real = f64 if name.endswith("_f64") else f32
    names, counts = [], []          # what the reference returns, in order
    # model layers without parameters (activations): each layer's output
    # is a node named as agc names it, before the graph's
    for i, layer in enumerate(spec.get("model", {}).get("layers", [])):
        kind = layer if isinstance(layer, str) else list(layer)[0]
        args = {} if isinstance(layer, str) else layer[kind] or {}
        names.append(args.get("name", "%s%d" % (kind, i)))
    for node, e in graph.items():
        names.append(node)
        if isinstance(e, dict) and "count" in e["loop"]:
            names.append(e["loop"]["count"])
            counts.append(e["loop"]["count"])
    outputs = spec["outputs"]
    assert set(draws) <= set(inputs), (name, "unknown input in @case")

    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays, leaves = {}, {}
    for iname, decl in inputs.items():
        assert set(decl) <= {"shape", "requires_grad"}, (name, iname)
        shape = tuple(decl["shape"])
        arrays[iname] = real(draws.get(iname, U())(rng, shape))
        assert arrays[iname].shape == shape, (name, iname)
        leaves[iname] = torch.tensor(arrays[iname]).requires_grad_(
            bool(decl.get("requires_grad", False)))

    nodes = ref(**leaves)
    assert list(nodes) == names, (name, "reference must mirror graph:")

    files = {}
    back = spec["backward"]
    of = back if isinstance(back, str) else back["of"]
    # a loop's graph is unrolled by torch, as many times as it ran: agc
    # draws one box for it, so loop cases have no grad_fn.txt
    has_loop = any(isinstance(e, dict) for e in graph.values())
    graph_text = None if has_loop else grad_fn_text(nodes[of].grad_fn,
                                                    leaves)
    if exact:
        # the values from float64 copies, rounded to float32 when saved;
        # the graph from the float32 run, as a user's would be
        leaves = {k: torch.tensor(arrays[k], dtype=torch.float64)
                  .requires_grad_(t.requires_grad) for k, t in leaves.items()}
        nodes = ref(**leaves)
    if isinstance(back, str):
        assert nodes[back].dim() == 0, (name, "scalar backward node")
        nodes[back].backward()
    else:
        assert set(back) == {"of"}, name
        y = back["of"]
        shape = tuple(nodes[y].shape)
        if name in SEEDS:
            seed = real(np.reshape(SEEDS[name], shape))
        else:
            seed = real(seed_scale * rng.standard_normal(shape))
        nodes[y].backward(torch.tensor(seed, dtype=nodes[y].dtype))
        files[y + ".seed.npy"] = seed

    for iname in inputs:
        files[iname + ".npy"] = arrays[iname]
    for out in outputs:
        files[out + ".expected.npy"] = to_numpy(nodes[out], real)
    for c in counts:
        assert isinstance(nodes[c], int), (name, c)
        files[c + ".expected.npy"] = np.array(nodes[c], dtype=np.int64)
    for iname, t in leaves.items():
        if t.requires_grad:
            grad = t.grad
            if grad is None and counts:
                grad = torch.zeros_like(t)  # a loop that never ran
            assert grad is not None, (name, iname, "gets no gradient")
            files[iname + ".grad.expected.npy"] = to_numpy(grad, real)

    d = os.path.join(out_dir, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "spec.yaml"), "w") as f:
        f.write("# generated by %s from PyTorch; do not edit\n"
                "name: %s\ndtype: %s\n%s"
                % (script, name, "float64" if real is f64 else "float32",
                   text.lstrip("\n")))
    for fname, arr in files.items():
        np.save(os.path.join(d, fname), arr)
    if graph_text is not None:
        with open(os.path.join(d, "grad_fn.txt"), "w") as f:
            f.write(graph_text)


def write_cases(cases, out_dir, script, seed_scale=1.0, exact=False):
    """Writes every case of cases (name, spec, reference, draws) into
    out_dir/NAME/ and out_dir/cases.txt; random backward seeds are normal
    with standard deviation seed_scale; exact: the values from float64 (see
    make_case)."""
    names = [c[0].rstrip("_") for c in cases]
    assert len(set(names)) == len(names), "duplicate case name"
    os.makedirs(out_dir, exist_ok=True)
    # drop directories of cases that no longer exist
    for entry in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, entry)
        if (os.path.isdir(path) and entry not in names
                and os.path.exists(os.path.join(path, "spec.yaml"))):
            shutil.rmtree(path)
    for name, (_, text, ref, draws) in zip(names, cases):
        make_case(name, text, ref, draws, out_dir, script, seed_scale, exact)
    with open(os.path.join(out_dir, "cases.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    print("wrote %d cases to %s" % (len(names), out_dir))


def main():
    write_cases(CASES, OUT_DIR, "tests/make_golden.py")


if __name__ == "__main__":
    main()

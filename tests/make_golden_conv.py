#!/usr/bin/python3
"""PyTorch reference data for agc's convolution, pooling and linear tests.

Run with Debian's interpreter (torch 1.13 and numpy live there):

    /usr/bin/python3 tests/make_golden_conv.py

It (re)writes tests/golden/conv/CASE/ exactly as tests/make_golden.py does
for tests/golden/ops (spec.yaml, NAME.npy, OUT.expected.npy,
NAME.grad.expected.npy, Y.seed.npy) and tests/golden/conv/cases.txt.

The references are the modules themselves: nn.Conv1d/nn.Conv2d's
_conv_forward (which applies padding_mode as nn does), F.max_pool*,
F.avg_pool* and F.linear, so that agc is held to what a PyTorch user gets.
Their values come from float64 copies of the inputs, rounded to float32
(make_case's exact; the grad_fn graph comes from the float32 run):
PyTorch's own float32 sums of a few hundred products are off by more than
the tests' 1e-5, so a float32 reference would test its rounding as much as
agc's.  Weights are drawn at the scale of PyTorch's init, uniform in
+-1/sqrt(fan_in), and the backward seeds at a tenth of the ops cases'
(normal, std 0.1), as a loss spread over many outputs gives: a weight's
gradient sums over every position of the batch, and float32 rounds a sum
of hundreds of O(1) terms by more than the tests' absolute 1e-6.

The grid: 1-D and 2-D, each padding mode x stride {1, 2} x dilation
{1, 2} x groups {1, 2, depthwise}, batch 2, with and without bias (bias
alternates so that both meet every other option); then padding words
('same', 'valid'), asymmetric pairs, unbatched inputs, channel counts
that fill whole vectors, linear and the pools.
"""

import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

import make_golden as mg

OUT_DIR = mg.os.path.join(mg.HERE, "golden", "conv")

CASES = []


def add(name, spec, ref, **draws):
    CASES.append((name, spec, ref, draws))


def init_scale(fan_in):
    """PyTorch's default init for a layer's weight and bias."""
    bound = 1 / fan_in ** 0.5
    return mg.U(-bound, bound)


def args_text(**kw):
    """Keyword arguments as agc writes them: ints, tuples, words."""
    out = []
    for k, v in kw.items():
        if isinstance(v, tuple):
            v = "(%s)" % ", ".join(str(e) for e in v)
        out.append("%s=%s" % (k, v))
    return ", ".join(out)


def conv_case(name, sd, x, w, bias=True, **kw):
    """conv1d/conv2d(x, w[, b], **kw) against nn.Conv1d/2d with the same
    arguments; x, w are shapes.  Gradients of x, w and b; y's seed random."""
    spec = """
inputs:
  x: {shape: %s, requires_grad: true}
  w: {shape: %s, requires_grad: true}
%sgraph:
  y: conv%dd(x, w%s%s)
backward: {of: y}
outputs: [y]
""" % (list(x), list(w), "  b: {shape: [%d], requires_grad: true}\n" % w[0]
       if bias else "", sd, ", b" if bias else "",
       ", " + args_text(**kw) if kw else "")
    groups = kw.get("groups", 1)
    cls = nn.Conv1d if sd == 1 else nn.Conv2d
    module = cls(x[-sd - 1], w[0], w[2:], bias=bias, **kw)

    if bias:
        def ref(x, w, b):
            return {"y": module._conv_forward(x, w, b)}
    else:
        def ref(x, w):
            return {"y": module._conv_forward(x, w, None)}
    assert w[1] * groups == x[-sd - 1]
    fan_in = 1
    for d in w[1:]:
        fan_in *= d
    draws = {"w": init_scale(fan_in)}
    if bias:
        draws["b"] = init_scale(fan_in)
    add(name, spec, ref, **draws)


# --- the option grid ----------------------------------------------------------

MODES = ["zeros", "circular", "reflect", "replicate"]


def grid():
    for sd in (1, 2):
        combos = itertools.product(enumerate(MODES), enumerate((1, 2)),
                                   enumerate((1, 2)), enumerate(("1", "2", "dw")))
        for (im, mode), (i_s, stride), (i_d, dil), (i_g, gname) in combos:
            C = 4
            groups = {"1": 1, "2": 2, "dw": C}[gname]
            O = 8 if gname == "dw" else 6
            bias = (im + i_s + i_d + i_g) % 2 == 0
            if sd == 1:
                x, w = (2, C, 11), (O, C // groups, 3)
                kw = dict(stride=stride, padding=2, dilation=dil)
            else:
                x, w = (2, C, 7, 8), (O, C // groups, 3, 2)
                kw = dict(stride=stride, padding=(2, 1), dilation=dil)
                if stride == 2:
                    kw["stride"] = (2, 2)
            if groups != 1:
                kw["groups"] = groups
            if mode != "zeros":
                kw["padding_mode"] = mode
            name = "c%dd_%s_s%d_d%d_g%s%s" % (sd, mode[:4], stride, dil, gname,
                                             "_b" if bias else "")
            conv_case(name, sd, x, w, bias, **kw)


grid()

# --- padding words, pairs, shapes ---------------------------------------------

conv_case("c1d_plain", 1, (2, 3, 9), (4, 3, 3))
conv_case("c2d_plain", 2, (2, 3, 6, 7), (4, 3, 3, 3))
conv_case("c1d_same_even", 1, (2, 3, 10), (4, 3, 4), padding="same")
conv_case("c1d_same_dil", 1, (2, 2, 10), (3, 2, 4), padding="same",
          dilation=3)
conv_case("c2d_same", 2, (2, 3, 6, 7), (4, 3, 3, 4), padding="same")
conv_case("c2d_same_reflect", 2, (2, 2, 6, 7), (3, 2, 4, 3), padding="same",
          padding_mode="reflect")
conv_case("c2d_same_circular_dil", 2, (2, 2, 6, 7), (3, 2, 2, 3),
          padding="same", dilation=(2, 1), padding_mode="circular")
conv_case("c1d_valid", 1, (2, 3, 9), (4, 3, 3), padding="valid")
conv_case("c2d_valid", 2, (2, 3, 6, 7), (4, 3, 2, 3), padding="valid",
          bias=False)
conv_case("c2d_pairs", 2, (2, 3, 7, 11), (4, 3, 3, 5), stride=(1, 2),
          padding=(1, 2))
conv_case("c2d_pairs_replicate", 2, (2, 3, 7, 11), (4, 3, 3, 5),
          stride=(2, 1), padding=(2, 1), dilation=(1, 2),
          padding_mode="replicate")
conv_case("c2d_pad_wide", 2, (2, 2, 4, 5), (3, 2, 2, 2), padding=(3, 2))
conv_case("c1d_stride3", 1, (2, 2, 13), (3, 2, 4), stride=3, padding=1)
conv_case("c1d_stride_gt_kernel", 1, (2, 2, 12), (3, 2, 2), stride=5)
conv_case("c2d_kernel_eq_input", 2, (2, 2, 3, 4), (3, 2, 3, 4))
conv_case("c2d_1x1", 2, (2, 6, 4, 5), (5, 6, 1, 1))
conv_case("c2d_1x1_stride", 2, (2, 4, 5, 6), (3, 4, 1, 1), stride=2)
conv_case("c1d_unbatched", 1, (3, 10), (4, 3, 3), padding=1)
conv_case("c2d_unbatched", 2, (3, 6, 7), (4, 3, 3, 3), padding=1,
          padding_mode="replicate")
conv_case("c2d_groups3_reflect", 2, (2, 6, 6, 6), (9, 2, 3, 3), groups=3,
          padding=1, padding_mode="reflect")
# shapes that fill whole vectors and tiles: 16 channels, rows of 8 and more
conv_case("c2d_wide", 2, (1, 4, 4, 19), (16, 4, 3, 5), padding=(1, 2))
conv_case("c2d_wide_stride", 2, (1, 4, 6, 23), (16, 4, 3, 3), stride=2,
          padding=1, bias=False)
conv_case("c1d_seed", 1, (1, 2, 64), (16, 2, 3))
conv_case("c2d_seed_small", 2, (1, 10, 3, 14), (16, 10, 3, 5))
conv_case("c1d_wide_kernel", 1, (2, 3, 40), (4, 3, 11), padding=5,
          padding_mode="reflect")
# 12 and 20 channels: vectors padded to 16 and 24 lanes
conv_case("c2d_padded_lanes", 2, (1, 20, 3, 6), (12, 20, 2, 3), padding=1)
# the only output column reads nothing but padding (issue 13): an empty
# border tile, and no unused parameter
conv_case("c1d_pad_only", 1, (1, 1, 2), (1, 1, 2), padding=1, dilation=3)
conv_case("c2d_pad_only_cols", 2, (1, 2, 3, 2), (2, 2, 2, 2), padding=(0, 1),
          dilation=(1, 3))
# fewer than 8 output channels per group: the row-vector kernels (rows in
# whole vectors and a tail, blocks of 12 / kw channels and the rest)
conv_case("c2d_dw_rows", 2, (2, 5, 6, 21), (5, 1, 3, 3), groups=5,
          padding=1)
conv_case("c2d_dw_stride", 2, (2, 3, 7, 17), (3, 1, 3, 3), groups=3,
          stride=2, padding=1, bias=False)
conv_case("c2d_grouped_dil", 2, (1, 14, 5, 19), (14, 7, 3, 3), groups=2,
          dilation=(1, 2), padding=(1, 2))
conv_case("c2d_vec_k5", 2, (1, 3, 4, 20), (5, 3, 2, 5), padding=(0, 2))
conv_case("c1d_vec_long", 1, (2, 3, 70), (7, 3, 5), padding=2,
          dilation=2)
# 8 and more channels both ways with a stride: the input gradient's tiles
# skip the window rows that fall on the zero-stuffed rows of gy
conv_case("c2d_stride2_tiles", 2, (2, 9, 7, 10), (8, 9, 3, 3), stride=2,
          padding=1)
conv_case("c2d_stride_dil_tiles", 2, (1, 10, 9, 11), (12, 10, 3, 2),
          stride=(3, 2), dilation=(2, 1), padding=(2, 1))

# at least GEMM_MIN_WORK multiply-adds an image (conv.c): the
# register-blocked kernels, with rows, channels and taps past whole tiles
# of 6 x 16, padded and unpadded inputs, strides, dilations and groups
conv_case("c2d_gemm", 2, (2, 7, 12, 13), (20, 7, 3, 3), padding=1)
conv_case("c2d_gemm_s2_dil", 2, (2, 6, 15, 17), (16, 6, 3, 3), stride=2,
          dilation=2, padding=2, bias=False)
conv_case("c2d_gemm_groups", 2, (1, 12, 10, 11), (24, 6, 3, 3), groups=2,
          padding=1)
conv_case("c1d_gemm", 1, (2, 10, 200), (16, 10, 5), padding=2)
conv_case("c2d_gemm_nopad", 2, (1, 8, 10, 40), (12, 8, 3, 4))
# strided input gradients by phases; (3, 2) with a 2-row window leaves
# every third input row out of reach (zero)
conv_case("c2d_gemm_s2", 2, (2, 8, 14, 15), (12, 8, 3, 3), stride=2,
          padding=1)
conv_case("c2d_gemm_s3_k2", 2, (1, 6, 17, 20), (24, 6, 2, 3), stride=(3, 2),
          bias=False)
conv_case("c1d_gemm_s2", 1, (2, 10, 100), (16, 10, 5), stride=2, padding=3)
# the kernels also take the relu as they write: relu(conv + b) and
# relu(conv), the relu's output being what its gradient reads
RELU = """
inputs:
  x: {shape: [2, 7, 12, 13], requires_grad: true}
  w: {shape: [20, 7, 3, 3], requires_grad: true}
  b: {shape: [20], requires_grad: true}
graph:
  y: relu(conv2d(x, w, b, padding=1))
backward: {of: y}
outputs: [y]
"""
add("c2d_gemm_relu", RELU,
    lambda x, w, b: {"y": F.relu(F.conv2d(x, w, b, padding=1))},
    w=init_scale(63), b=init_scale(63))
RELU_NOBIAS = """
inputs:
  x: {shape: [2, 8, 14, 15], requires_grad: true}
  w: {shape: [12, 8, 3, 3], requires_grad: true}
graph:
  y: relu(conv2d(x, w, stride=2, padding=1))
backward: {of: y}
outputs: [y]
"""
add("c2d_gemm_relu_nobias", RELU_NOBIAS,
    lambda x, w: {"y": F.relu(F.conv2d(x, w, stride=2, padding=1))},
    w=init_scale(72))
DW_RELU = """
inputs:
  x: {shape: [2, 5, 6, 21], requires_grad: true}
  w: {shape: [5, 1, 3, 3], requires_grad: true}
  b: {shape: [5], requires_grad: true}
graph:
  y: relu(conv2d(x, w, b, groups=5, padding=1))
backward: {of: y}
outputs: [y]
"""
add("c2d_dw_relu", DW_RELU,
    lambda x, w, b: {"y": F.relu(F.conv2d(x, w, b, groups=5, padding=1))},
    w=init_scale(9), b=init_scale(9))
# float64: panels of 8 channels, the last (12 = 8 + 4) half a panel
conv_case("c2d_gemm_f64", 2, (2, 6, 12, 13), (12, 6, 3, 3), padding=1)

# Winograd F(2x2, 3x3) (conv.c's wino_forward): 3x3, stride 1, 16 or more
# channels in and out, forward and input gradient.  Odd output sizes (a
# last tile of one row and one column), out channels no multiple of 6 or
# 16; no padding, and two blocks of tile rows (in float64: float32 sums
# of this many terms for the weight gradient round past the tests'
# bound); padding 2; the bias and relu fused; float64.
conv_case("c2d_wino", 2, (2, 16, 9, 11), (20, 16, 3, 3), padding=1)
conv_case("c2d_wino_blocks_f64", 2, (1, 17, 49, 18), (16, 17, 3, 3),
          bias=False)
conv_case("c2d_wino_pad2", 2, (1, 16, 5, 6), (16, 16, 3, 3), padding=2)
WINO_RELU = """
inputs:
  x: {shape: [2, 16, 8, 8], requires_grad: true}
  w: {shape: [16, 16, 3, 3], requires_grad: true}
  b: {shape: [16], requires_grad: true}
graph:
  y: relu(conv2d(x, w, b, padding=1))
backward: {of: y}
outputs: [y]
"""
add("c2d_wino_relu", WINO_RELU,
    lambda x, w, b: {"y": F.relu(F.conv2d(x, w, b, padding=1))},
    w=init_scale(144), b=init_scale(144))
conv_case("c2d_wino_f64", 2, (1, 16, 6, 7), (18, 16, 3, 3), padding=1)
# F(2x2, 3x5), F(2x2, 5x3) and F(2x2, 5x5) (float32 runs F(2, 5) in one
# dim at most, and not for the weight gradient): the seed's window, an
# odd batch of images shared out to two slots (one takes two), odd
# output sizes; one image in blocks of tile rows shared out to the slots,
# one slot taking two; 5x5 with padding 2
conv_case("c2d_wino_k35", 2, (3, 20, 6, 9), (16, 20, 3, 5),
          padding=(1, 2))
conv_case("c2d_wino_k53_f64", 2, (1, 16, 75, 9), (18, 16, 5, 3))
conv_case("c2d_wino_k55_f64", 2, (2, 16, 9, 12), (17, 16, 5, 5), padding=2)
# rows of more than 16 tiles (conv.c's WINO_SHORT_ROW): the input
# transform's loop a row of e at a time
conv_case("c2d_wino_long_rows", 2, (1, 16, 4, 38), (16, 16, 3, 3), padding=1)
# no padding, and rows of whole vectors: the blocks read x in place (one
# image, its blocks in two slots; two images, one a slot)
conv_case("c2d_wino_in_place", 2, (1, 16, 10, 16), (16, 16, 3, 3))
conv_case("c2d_wino_k35_in_place", 2, (2, 16, 10, 16), (16, 16, 3, 5))

# enough work for the kernels' images to go to two slots, each padding its
# own and (weight gradient) summing its own, added in order at the end:
# the register-blocked kernels at stride 1 and (input gradient in phases)
# at stride 2; float64, for the weight gradient's long sums
conv_case("c2d_gemm_slots_f64", 2, (4, 8, 16, 16), (24, 8, 3, 3), padding=1)
conv_case("c2d_s2_slots_f64", 2, (4, 16, 18, 18), (32, 16, 3, 3), stride=2,
          padding=1)
# and the row-vector kernels' weight gradient (LeNet's first layer), and
# the depthwise plane kernels
conv_case("c2d_vec_slots_f64", 2, (16, 1, 28, 28), (6, 1, 5, 5))
conv_case("c2d_dw_slots_f64", 2, (4, 32, 32, 32), (32, 1, 3, 3), groups=32,
          padding=1)

# the register-blocked kernels add a bias as they write (emit.c's
# fused_bias): one written first and shaped [1, C, 1, 1]; and a
# convolution read twice, whose bias add stays a loop of its own
BIAS_FIRST = """
inputs:
  x: {shape: [2, 7, 12, 13], requires_grad: true}
  w: {shape: [20, 7, 3, 3], requires_grad: true}
  c: {shape: [1, 20, 1, 1], requires_grad: true}
graph:
  y: c + conv2d(x, w, padding=1)
backward: {of: y}
outputs: [y]
"""
add("c2d_gemm_bias_first", BIAS_FIRST,
    lambda x, w, c: {"y": c + F.conv2d(x, w, padding=1)},
    w=init_scale(63), c=init_scale(63))
BIAS_SHARED = """
inputs:
  x: {shape: [2, 7, 12, 13], requires_grad: true}
  w: {shape: [20, 7, 3, 3], requires_grad: true}
  c: {shape: [20, 1, 1], requires_grad: true}
graph:
  h: conv2d(x, w, padding=1)
  y: h + c
  z: relu(h)
backward: {of: y}
outputs: [y, z]
"""


def bias_shared(x, w, c):
    h = F.conv2d(x, w, padding=1)
    return {"h": h, "y": h + c, "z": F.relu(h)}


add("c2d_gemm_bias_shared", BIAS_SHARED, bias_shared, w=init_scale(63),
    c=init_scale(63))


# --- transposed convolutions -------------------------------------------------

def convt_case(name, sd, x, w, bias=True, **kw):
    """conv_transpose1d/2d(x, w[, b], **kw) against F's; x, w are shapes
    (w [C_in, C_out / groups, k...]); the init scale of
    nn.ConvTranspose's, fan_in = w.size(1) * prod(k)."""
    groups = kw.get("groups", 1)
    spec = """
inputs:
  x: {shape: %s, requires_grad: true}
  w: {shape: %s, requires_grad: true}
%sgraph:
  y: conv_transpose%dd(x, w%s%s)
backward: {of: y}
outputs: [y]
""" % (list(x), list(w), "  b: {shape: [%d], requires_grad: true}\n"
       % (w[1] * groups) if bias else "", sd, ", b" if bias else "",
       ", " + args_text(**kw) if kw else "")
    fn = F.conv_transpose1d if sd == 1 else F.conv_transpose2d

    if bias:
        def ref(x, w, b):
            return {"y": fn(x, w, b, **kw)}
    else:
        def ref(x, w):
            return {"y": fn(x, w, None, **kw)}
    fan_in = 1
    for d in w[1:]:
        fan_in *= d
    draws = {"w": init_scale(fan_in)}
    if bias:
        draws["b"] = init_scale(fan_in)
    add(name, spec, ref, **draws)


def convt_grid():
    """stride x padding x output_padding x groups x dilation, 1-D and 2-D
    (output_padding only where PyTorch allows it: below stride or
    dilation)"""
    combos = itertools.product((1, 2), (1, 2), (0, 1), (0, 1), (1, 2),
                               (1, 3))
    for i, (sd, stride, pad, opad, groups, dil) in enumerate(combos):
        if opad >= stride and opad >= dil:
            continue
        C, O = 4, 6
        if sd == 1:
            x, w = (2, C, 7), (C, O // groups, 3)
        else:
            x, w = (2, C, 5, 4), (C, O // groups, 3, 2)
        kw = dict(stride=stride, padding=pad, output_padding=opad,
                  groups=groups, dilation=dil)
        kw = {k: v for k, v in kw.items()
              if v != (0 if k in ("padding", "output_padding") else 1)}
        name = "ct%dd_s%d_p%d_op%d_g%d_d%d" % (sd, stride, pad, opad, groups,
                                              dil)
        convt_case(name, sd, x, w, i % 2 == 0, **kw)


convt_grid()
convt_case("ct2d_pairs", 2, (2, 3, 4, 5), (3, 2, 3, 4), stride=(2, 3),
           padding=(1, 2), output_padding=(1, 0), dilation=(1, 2))
convt_case("ct1d_unbatched", 1, (3, 6), (3, 2, 4), stride=2, padding=1)
convt_case("ct2d_unbatched", 2, (3, 4, 4), (3, 5, 3, 3), stride=2,
           bias=False)
convt_case("ct2d_decoder", 2, (1, 8, 6, 6), (8, 16, 4, 4), stride=2,
           padding=1)
convt_case("ct2d_pairs_f64", 2, (2, 3, 4, 5), (3, 2, 3, 4), stride=(2, 3),
           padding=(1, 2), output_padding=(1, 0), dilation=(1, 2))
convt_case("ct1d_groups_f64", 1, (2, 4, 6), (4, 3, 3), groups=2, stride=2,
           padding=1, output_padding=1)
convt_case("ct2d_dw", 2, (2, 4, 4, 5), (4, 1, 3, 3), groups=4, stride=2,
           padding=1, output_padding=1)


# --- linear -------------------------------------------------------------------

def linear_case(name, x, w, bias=True):
    spec = """
inputs:
  x: {shape: %s, requires_grad: true}
  w: {shape: %s, requires_grad: true}
%sgraph:
  y: linear(x, w%s)
backward: {of: y}
outputs: [y]
""" % (list(x), list(w), "  b: {shape: [%d], requires_grad: true}\n" % w[0]
       if bias else "", ", b" if bias else "")
    if bias:
        def ref(x, w, b):
            return {"y": F.linear(x, w, b)}
    else:
        def ref(x, w):
            return {"y": F.linear(x, w)}
    draws = {"w": init_scale(w[1])}
    if bias:
        draws["b"] = init_scale(w[1])
    add(name, spec, ref, **draws)


linear_case("linear", (3, 5), (4, 5))
linear_case("linear_nobias", (3, 5), (4, 5), bias=False)
linear_case("linear_vector", (5,), (4, 5))
linear_case("linear_3d", (2, 3, 5), (4, 5))


# --- pools --------------------------------------------------------------------

def pool_case(name, kind, x, draw=None, **kw):
    """max_pool1d/2d or avg_pool1d/2d(x, **kw) against F's; x a shape,
    its values drawn by draw (else the default)."""
    spec = """
inputs:
  x: {shape: %s, requires_grad: true}
graph:
  y: %s(x, %s)
backward: {of: y}
outputs: [y]
""" % (list(x), kind, args_text(**kw))
    fn = getattr(F, kind)

    def ref(x):
        return {"y": fn(x, **kw)}
    add(name, spec, ref, **({"x": draw} if draw else {}))


pool_case("max_pool1d", "max_pool1d", (2, 3, 10), kernel_size=2)
pool_case("max_pool1d_stride_pad", "max_pool1d", (2, 3, 11), kernel_size=3,
          stride=2, padding=1)
pool_case("max_pool1d_unbatched", "max_pool1d", (3, 9), kernel_size=3)
pool_case("max_pool2d", "max_pool2d", (2, 3, 6, 8), kernel_size=2)
pool_case("max_pool2d_pairs", "max_pool2d", (2, 2, 7, 9), kernel_size=(3, 2),
          stride=(2, 1), padding=(1, 1))
# windows that tile the input (conv.c's tiled_maxpool_bwd), values 0 and
# 1: ties everywhere, the gradient to the first maximum of each window
pool_case("max_pool2d_ties", "max_pool2d", (2, 3, 4, 6), kernel_size=2,
          draw=lambda rng, shape: rng.integers(0, 2, size=shape) * 1.0)
pool_case("max_pool2d_k3_ties", "max_pool2d", (1, 2, 6, 9), kernel_size=3,
          draw=lambda rng, shape: rng.integers(0, 2, size=shape) * 1.0)
# a window of one tap tiles the input too, and has no argmax to find (the
# fuzzer's find: the tiled gradient's C used a variable it did not declare)
pool_case("max_pool2d_k1", "max_pool2d", (2, 3, 4, 6), kernel_size=1)
pool_case("max_pool2d_overlap", "max_pool2d", (1, 2, 6, 6), kernel_size=3,
          stride=1, padding=1)
pool_case("max_pool2d_unbatched", "max_pool2d", (3, 6, 5), kernel_size=2,
          stride=1)
pool_case("avg_pool1d", "avg_pool1d", (2, 3, 10), kernel_size=2)
pool_case("avg_pool1d_stride_pad", "avg_pool1d", (2, 3, 11), kernel_size=3,
          stride=2, padding=1)
pool_case("avg_pool2d", "avg_pool2d", (2, 3, 6, 8), kernel_size=2)
pool_case("avg_pool2d_pairs", "avg_pool2d", (2, 2, 7, 9), kernel_size=(3, 2),
          stride=(2, 1), padding=(1, 1))
pool_case("avg_pool2d_unbatched", "avg_pool2d", (3, 6, 5), kernel_size=3,
          stride=2, padding=1)


# every option: ceil_mode x padding x dilation (max) or count_include_pad
# (avg), on sizes where ceil mode adds a window (and, with padding, one
# that it drops for starting in the padding)
def pool_grid():
    opts = itertools.product(("max", "avg"), (1, 2), (False, True), (0, 1),
                             (1, 2))
    for kind, sd, ceil, pad, third in opts:
        fn = "%s_pool%dd" % (kind, sd)
        kw = dict(kernel_size=3, stride=2)
        if pad:
            kw["padding"] = pad
        if ceil:
            kw["ceil_mode"] = "true"
        if kind == "max" and third == 2:
            kw["dilation"] = 2
        if kind == "avg" and third == 2:
            kw["count_include_pad"] = "false"
        x = (2, 2, 8) if sd == 1 else (1, 2, 6, 8)
        name = "%sp%dd_c%d_p%d_%s%d" % (kind, sd, ceil, pad,
                                        "d" if kind == "max" else "i", third)
        pool_words_case(name, fn, x, **kw)


def pool_words_case(name, kind, x, **kw):
    """pool_case with true/false written as agc's words"""
    spec = """
inputs:
  x: {shape: %s, requires_grad: true}
graph:
  y: %s(x, %s)
backward: {of: y}
outputs: [y]
""" % (list(x), kind, args_text(**kw))
    fn = getattr(F, kind)
    tkw = {k: (v == "true") if v in ("true", "false") else v
           for k, v in kw.items()}

    def ref(x):
        return {"y": fn(x, **tkw)}
    add(name, spec, ref)


pool_grid()
pool_words_case("maxp2d_pairs_all", "max_pool2d", (2, 2, 7, 9),
                kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                dilation=(2, 1), ceil_mode="true")
pool_words_case("avgp2d_pairs_all", "avg_pool2d", (2, 2, 7, 9),
                kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                ceil_mode="true", count_include_pad="false")
pool_words_case("avgp1d_ceil_tail", "avg_pool1d", (1, 1, 5), kernel_size=2,
                ceil_mode="true")
pool_words_case("maxp1d_unbatched_dil", "max_pool1d", (3, 11), kernel_size=3,
                dilation=3, padding=1, ceil_mode="true", stride=2)


# adaptive pools: sizes that divide, that do not (overlapping windows),
# and outputs larger than the input
pool_case("adaptive1d", "adaptive_avg_pool1d", (2, 3, 10), output_size=5)
pool_case("adaptive1d_uneven", "adaptive_avg_pool1d", (2, 3, 10),
          output_size=4)
pool_case("adaptive1d_grow", "adaptive_avg_pool1d", (3, 5), output_size=7)
pool_case("adaptive2d_uneven", "adaptive_avg_pool2d", (2, 3, 7, 9),
          output_size=(3, 4))
pool_case("adaptive2d_one", "adaptive_avg_pool2d", (2, 4, 5, 6),
          output_size=1)
pool_case("adaptive1d_one", "adaptive_avg_pool1d", (2, 3, 6), output_size=1)
pool_case("adaptive2d_uneven_f64", "adaptive_avg_pool2d", (2, 3, 7, 9),
          output_size=(3, 4))
pool_words_case("avgp2d_pairs_all_f64", "avg_pool2d", (2, 2, 7, 9),
                kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                ceil_mode="true", count_include_pad="false")
pool_words_case("maxp2d_pairs_all_f64", "max_pool2d", (2, 2, 7, 9),
                kernel_size=(3, 2), stride=(2, 3), padding=(1, 1),
                dilation=(2, 1), ceil_mode="true")
pool_case("adaptive2d_rows_only", "adaptive_avg_pool2d", (1, 2, 7, 5),
          output_size=(3, 5))
pool_case("adaptive2d_unbatched", "adaptive_avg_pool2d", (3, 5, 11),
          output_size=(6, 3))


# --- a small network: conv, relu, pool, flatten, linear, loss ----------------

NET = """
inputs:
  x: {shape: [2, 2, 16], requires_grad: true}
  w1: {shape: [4, 2, 3], requires_grad: true}
  b1: {shape: [4], requires_grad: true}
  w2: {shape: [3, 32], requires_grad: true}
  b2: {shape: [3], requires_grad: true}
graph:
  h: relu(conv1d(x, w1, b1, padding=1, padding_mode=circular))
  p: max_pool1d(h, 2)
  f: flatten(p, start_dim=1)
  y: linear(f, w2, b2)
  loss: mean(y * y)
backward: loss
outputs: [loss]
"""


def net(x, w1, b1, w2, b2):
    conv = nn.Conv1d(2, 4, 3, padding=1, padding_mode="circular")
    h = F.relu(conv._conv_forward(x, w1, b1))
    p = F.max_pool1d(h, 2)
    f = p.flatten(1)
    y = F.linear(f, w2, b2)
    return {"h": h, "p": p, "f": f, "y": y, "loss": (y * y).mean()}


add("net", NET, net, w1=init_scale(6), b1=init_scale(6),
    w2=init_scale(32), b2=init_scale(32))


def main():
    mg.write_cases(CASES, OUT_DIR, "tests/make_golden_conv.py", 0.1, True)


if __name__ == "__main__":
    main()

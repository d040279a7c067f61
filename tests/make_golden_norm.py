#!/usr/bin/python3
"""PyTorch reference data for agc's normalisation layers and layer_norm.

Run with Debian's interpreter (torch 1.13 and numpy live there):

    /usr/bin/python3 tests/make_golden_norm.py

It (re)writes tests/golden/norm/CASE/ as tests/make_golden.py does for
tests/golden/ops (spec.yaml, NAME.npy, Y.seed.npy, OUT.expected.npy,
NAME.grad.expected.npy, grad_fn.txt) and tests/golden/norm/cases.txt, with
three additions for the layers that hold state:

    P.npy                  a layer's parameter (bn.weight...), drawn here
                           and bound by the tests as an input is
    B.expected.npy         a buffer (bn.running_mean, bn.running_var,
                           bn.num_batches_tracked: int64) after one
                           train-mode forward, from the module's buffers
    N.eval.expected.npy    cases with EVAL_STEPS: each output, and
    B.eval.expected.npy    each buffer, after EVAL_STEPS train-mode
                           forwards (the k-th, from 0, on x + k) and then
                           one eval-mode forward of x (test_layers.c)

The references are the modules (nn.BatchNorm1d/2d, nn.LayerNorm) and
F.layer_norm.  Values come from float64 copies, rounded to float32 (as
make_golden_conv.py does: PyTorch's own float32 sums are further from the
truth than the tests' tolerance); the grad_fn graph from the float32 run.
Backward seeds are normal with standard deviation 0.1, as the conv cases':
a convolution's weight gradient sums over the batch, and float32 rounds
such sums by more than the tests' absolute 1e-6 at larger scales.  A case
named *_f64 is float64 throughout.
"""

import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import make_golden as mg

OUT_DIR = os.path.join(mg.HERE, "golden", "norm")
EVAL_STEPS = 3
CASES = []


def add(name, spec, build, eval_steps=0, **draws):
    """A case: spec text; build() returns (modules, forward) where
    forward(**inputs) returns the nodes; the modules' parameters are drawn
    here (a norm's weight near 1, bias near 0; a convolution's at
    PyTorch's init scale)."""
    CASES.append((name, spec, build, eval_steps, draws))


def module_tensors(modules):
    """Every parameter and buffer, by agc's name (layer.what)."""
    params, buffers = {}, {}
    for lname, m in modules.items():
        for what, p in m.named_parameters():
            params["%s.%s" % (lname, what)] = p
        for what, b in m.named_buffers():
            buffers["%s.%s" % (lname, what)] = b
    return params, buffers


def run(build, real, arrays, pvals, inputs):
    """A fresh model (parameters pvals) and one train-mode forward of the
    inputs; returns the nodes, the input leaves, the parameters, the
    buffers, the modules and the forward function."""
    dtype = torch.float64 if real is mg.f64 else torch.float32
    torch.manual_seed(0)
    modules, forward = build()
    for m in modules.values():
        m.to(dtype)
        m.train()
    params, buffers = module_tensors(modules)
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(torch.tensor(pvals[n], dtype=dtype))
    leaves = {n: torch.tensor(arrays[n], dtype=dtype).requires_grad_(
        bool(inputs[n].get("requires_grad", False))) for n in arrays}
    nodes = forward(**leaves)
    return nodes, leaves, params, buffers, modules, forward


def make_case(name, text, build, eval_steps, draws):
    spec = mg.yaml.safe_load(text)
    real = mg.f64 if name.endswith("_f64") else mg.f32
    inputs = spec["inputs"]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = {n: real(draws.get(n, mg.U())(rng, tuple(d["shape"])))
              for n, d in inputs.items()}
    # parameters: drawn once their shapes are known
    modules, _ = build()
    params, _ = module_tensors(modules)
    pvals = {}
    for n, p in params.items():
        lo, hi = (0.5, 1.5) if n.endswith("weight") else (-0.5, 0.5)
        if n.startswith("conv"):    # PyTorch's init scale
            hi = 1 / np.sqrt(np.prod(params["conv.weight"].shape[1:]))
            lo = -hi
        pvals[n] = real(rng.uniform(lo, hi, size=tuple(p.shape)))
    files = {}
    back = spec["backward"]
    of = back if isinstance(back, str) else back["of"]
    # the graph from the float32 run, as a user's would be
    nodes, leaves, params, _, _, _ = run(build, real, arrays, pvals, inputs)
    named = dict(leaves)
    named.update(params)
    graph_text = mg.grad_fn_text(nodes[of].grad_fn, named)
    # the values from float64
    nodes, leaves, params, buffers, modules, forward = run(
        build, mg.f64, arrays, pvals, inputs)
    if isinstance(back, str):
        nodes[back].backward()
    else:
        shape = tuple(nodes[of].shape)
        seed = real(0.1 * rng.standard_normal(shape))
        nodes[of].backward(torch.tensor(seed, dtype=torch.float64))
        files[of + ".seed.npy"] = seed
    for n, a in arrays.items():
        files[n + ".npy"] = a
    for n, a in pvals.items():
        files[n + ".npy"] = a
    for out in spec["outputs"]:
        files[out + ".expected.npy"] = mg.to_numpy(nodes[out], real)
    for n, t in list(leaves.items()) + list(params.items()):
        if t.requires_grad:
            assert t.grad is not None, (name, n)
            files[n + ".grad.expected.npy"] = mg.to_numpy(t.grad, real)
    for n, b in buffers.items():
        files[n + ".expected.npy"] = (np.array(b.item(), dtype=np.int64)
                                      if b.dtype == torch.int64
                                      else mg.to_numpy(b, real))
    if eval_steps:
        # a fresh model: eval_steps train-mode forwards on x + k, then eval
        nodes, leaves, params, buffers, modules, forward = run(
            build, mg.f64, arrays, pvals, inputs)
        x = torch.tensor(arrays["x"], dtype=torch.float64)
        with torch.no_grad():
            for k in range(1, eval_steps):
                forward(**dict(leaves, x=x + k))
            for m in modules.values():
                m.eval()
            nodes = forward(**leaves)
        for out in spec["outputs"]:
            files[out + ".eval.expected.npy"] = mg.to_numpy(nodes[out], real)
        for n, b in buffers.items():
            files[n + ".eval.expected.npy"] = (
                np.array(b.item(), dtype=np.int64) if b.dtype == torch.int64
                else mg.to_numpy(b, real))

    d = os.path.join(OUT_DIR, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "spec.yaml"), "w") as f:
        f.write("# generated by tests/make_golden_norm.py from PyTorch; do "
                "not edit\nname: %s\ndtype: %s\n%s"
                % (name, "float64" if real is mg.f64 else "float32",
                   text.lstrip("\n")))
    for fname, arr in files.items():
        np.save(os.path.join(d, fname), arr)
    with open(os.path.join(d, "grad_fn.txt"), "w") as f:
        f.write(graph_text)


# --- layer_norm, the function -------------------------------------------------

def fn_case(name, x, expr, ref, w=None):
    """y = expr over x (and w, b of shape w), against ref(x[, w, b])."""
    wb = ("  w: {shape: %s, requires_grad: true}\n"
          "  b: {shape: %s, requires_grad: true}\n" % (list(w), list(w))
          if w else "")
    spec = """
inputs:
  x: {shape: %s, requires_grad: true}
%sgraph:
  y: %s
backward: {of: y}
outputs: [y]
""" % (list(x), wb, expr)
    draws = {"w": mg.U(0.5, 1.5), "b": mg.U(-0.5, 0.5)} if w else {}
    add(name, spec, lambda: ({}, ref), **draws)


fn_case("ln_last", (3, 4, 5), "layer_norm(x, w, b)",
        lambda x, w, b: {"y": F.layer_norm(x, (5,), w, b)}, w=(5,))
fn_case("ln_last_f64", (3, 4, 5), "layer_norm(x, w, b)",
        lambda x, w, b: {"y": F.layer_norm(x, (5,), w, b)}, w=(5,))
fn_case("ln_two_eps", (2, 3, 4), "layer_norm(x, w, b, eps=0.001)",
        lambda x, w, b: {"y": F.layer_norm(x, (3, 4), w, b, eps=1e-3)},
        w=(3, 4))
fn_case("ln_all", (3, 4), "layer_norm(x, w, b)",
        lambda x, w, b: {"y": F.layer_norm(x, (3, 4), w, b)}, w=(3, 4))
fn_case("ln_plain", (4, 6), "layer_norm(x)",
        lambda x: {"y": F.layer_norm(x, (6,))})
fn_case("ln_plain_shape", (2, 3, 4),
        "layer_norm(x, normalized_shape=(3, 4), eps=0.01)",
        lambda x: {"y": F.layer_norm(x, (3, 4), eps=0.01)})


# --- the layers ---------------------------------------------------------------

def layer_case(name, x, layers, modules, eval_steps=0):
    """A model of layers (YAML lines) over x, the last one's output y; the
    reference applies modules (name -> nn.Module) in order."""
    spec = """
inputs:
  x: {shape: %s, requires_grad: true}
model:
  input: x
  layers:
%sgraph:
  y: %s * 1
backward: {of: y}
outputs: [%s, y]
""" % (list(x), "".join("    - %s\n" % l for l in layers),
       list(modules())[-1], list(modules())[-1])

    def build():
        mods = modules()

        def forward(x):
            nodes, h = {}, x
            for n, m in mods.items():
                h = m(h)
                nodes[n] = h
            nodes["y"] = h * 1
            return nodes
        return mods, forward
    add(name, spec, build, eval_steps=eval_steps)


layer_case("layernorm_layer", (2, 3, 4, 5),
           ["layernorm: {name: ln, normalized_shape: [4, 5]}"],
           lambda: {"ln": nn.LayerNorm((4, 5))})
layer_case("layernorm_layer_noaffine", (2, 3, 5),
           ["layernorm: {name: ln, normalized_shape: 5, eps: 0.001, "
            "elementwise_affine: false}"],
           lambda: {"ln": nn.LayerNorm(5, eps=1e-3,
                                       elementwise_affine=False)})
layer_case("bn1d_nc", (6, 4), ["batchnorm1d: {name: bn, num_features: 4}"],
           lambda: {"bn": nn.BatchNorm1d(4)})
layer_case("bn1d_ncl", (3, 4, 5),
           ["batchnorm1d: {name: bn, num_features: 4, momentum: 0.3}"],
           lambda: {"bn": nn.BatchNorm1d(4, momentum=0.3)})
layer_case("bn1d_ncl_f64", (3, 4, 5),
           ["batchnorm1d: {name: bn, num_features: 4, momentum: 0.3}"],
           lambda: {"bn": nn.BatchNorm1d(4, momentum=0.3)})
layer_case("bn2d", (2, 3, 4, 5),
           ["batchnorm2d: {name: bn, num_features: 3, eps: 0.001}"],
           lambda: {"bn": nn.BatchNorm2d(3, eps=1e-3)})
layer_case("bn2d_noaffine", (2, 3, 3, 4),
           ["batchnorm2d: {name: bn, num_features: 3, affine: false}"],
           lambda: {"bn": nn.BatchNorm2d(3, affine=False)})
layer_case("bn2d_cumulative", (2, 3, 3, 4),
           ["batchnorm2d: {name: bn, num_features: 3, momentum: null}"],
           lambda: {"bn": nn.BatchNorm2d(3, momentum=None)},
           eval_steps=EVAL_STEPS)
layer_case("bn2d_notrack", (2, 3, 3, 4),
           ["batchnorm2d: {name: bn, num_features: 3, "
            "track_running_stats: false}"],
           lambda: {"bn": nn.BatchNorm2d(3, track_running_stats=False)},
           eval_steps=EVAL_STEPS)
layer_case("bn_eval", (4, 3, 5),
           ["conv1d: {name: conv, in_channels: 3, out_channels: 4, "
            "kernel_size: 3}",
            "batchnorm1d: {name: bn, num_features: 4, momentum: 0.2}",
            "relu: {name: act}",
            "layernorm: {name: ln, normalized_shape: 3}"],
           lambda: {"conv": nn.Conv1d(3, 4, 3), "bn": nn.BatchNorm1d(
               4, momentum=0.2), "act": nn.ReLU(), "ln": nn.LayerNorm(3)},
           eval_steps=EVAL_STEPS)


# transposed convolutions (the state_dict names and weight shapes of
# nn.ConvTranspose1d/2d), and the pools' layers
layer_case("convtranspose_layers", (2, 4, 3, 3),
           ["convtranspose2d: {name: ct, in_channels: 4, out_channels: 6, "
            "kernel_size: 3, stride: 2, padding: 1, output_padding: 1, "
            "groups: 2}",
            "convtranspose2d: {name: ct2, in_channels: 6, out_channels: 2, "
            "kernel_size: [2, 3], dilation: [1, 2], bias: false}"],
           lambda: {"ct": nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1,
                                             output_padding=1, groups=2),
                    "ct2": nn.ConvTranspose2d(6, 2, (2, 3), dilation=(1, 2),
                                              bias=False)})
layer_case("convtranspose1d_layer", (2, 3, 5),
           ["convtranspose1d: {name: ct, in_channels: 3, out_channels: 4, "
            "kernel_size: 4, stride: 3, padding: 2, output_padding: 2}"],
           lambda: {"ct": nn.ConvTranspose1d(3, 4, 4, stride=3, padding=2,
                                             output_padding=2)})


layer_case("pool_layers", (2, 3, 7, 8),
           ["maxpool2d: {name: mp, kernel_size: 3, stride: 2, padding: 1, "
            "dilation: [1, 2], ceil_mode: true}",
            "avgpool2d: {name: ap, kernel_size: 2, padding: 1, "
            "ceil_mode: true, count_include_pad: false}"],
           lambda: {"mp": nn.MaxPool2d(3, 2, 1, dilation=(1, 2),
                                       ceil_mode=True),
                    "ap": nn.AvgPool2d(2, padding=1, ceil_mode=True,
                                       count_include_pad=False)})
layer_case("pool1d_layers", (2, 3, 9),
           ["maxpool1d: {name: mp, kernel_size: 2, dilation: 2, "
            "ceil_mode: true}",
            "avgpool1d: {name: ap, kernel_size: 3, stride: 2, padding: 1, "
            "ceil_mode: true}"],
           lambda: {"mp": nn.MaxPool1d(2, dilation=2, ceil_mode=True),
                    "ap": nn.AvgPool1d(3, 2, 1, ceil_mode=True)})


layer_case("adaptive_layers", (2, 3, 7, 10),
           ["adaptiveavgpool2d: {name: ap, output_size: [3, 4]}",
            "flatten: {name: fl, start_dim: 2}",
            "adaptiveavgpool1d: {name: ap1, output_size: 5}"],
           lambda: {"ap": nn.AdaptiveAvgPool2d((3, 4)),
                    "fl": nn.Flatten(2),
                    "ap1": nn.AdaptiveAvgPool1d(5)})


def main():
    names = [c[0] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case name"
    os.makedirs(OUT_DIR, exist_ok=True)
    for entry in sorted(os.listdir(OUT_DIR)):
        path = os.path.join(OUT_DIR, entry)
        if os.path.isdir(path) and entry not in names:
            shutil.rmtree(path)
    for c in CASES:
        make_case(*c)
    with open(os.path.join(OUT_DIR, "cases.txt"), "w") as f:
        f.write("".join(n + "\n" for n in names))
    print("wrote %d cases to %s" % (len(names), OUT_DIR))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""PyTorch reference trajectories for agc's optimizers (spec section 12).

    /usr/bin/python3 tests/make_golden_optim.py

For every case below it (re)writes tests/golden/optim/CASE/:

    spec.yaml                 a small model (linear 3->4, tanh, linear 4->2,
                              mse_loss) with the case's optimizer
    NAME.npy                  each input and initial parameter, float32
    NAME.steps.npy            each parameter after steps 1..K of
                              torch.optim in float32, shape [K, ...]
    NAME.steps64.npy          the same in float64

and tests/golden/optim/steps.txt with the case names.  tests/test_optim.c
runs NAME_train_step K times and compares the parameters after every step.
Random values come from a numpy generator seeded with the CRC-32 of the
case name.
"""

import os
import shutil
import zlib

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, "golden", "optim")
STEPS = 25

torch.set_num_threads(1)

# name: (agc optimizer line, torch.optim constructor)
CASES = {
    "sgd": ("sgd: {lr: 0.1}",
            lambda p: torch.optim.SGD(p, lr=0.1)),
    "sgd_momentum": ("sgd: {lr: 0.05, momentum: 0.9}",
                     lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    "sgd_dampening_wd": (
        "sgd: {lr: 0.05, momentum: 0.8, dampening: 0.3, weight_decay: 0.01}",
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3,
                                  weight_decay=0.01)),
    "sgd_nesterov": (
        "sgd: {lr: 0.05, momentum: 0.9, nesterov: true}",
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True)),
    "adam": ("adam: {lr: 0.01}",
             lambda p: torch.optim.Adam(p, lr=0.01)),
    "adam_defaults": ("adam",
                      lambda p: torch.optim.Adam(p)),
    "adam_amsgrad_wd": (
        "adam: {lr: 0.02, betas: [0.8, 0.99], eps: 1.0e-6, weight_decay: 0.05,"
        " amsgrad: true}",
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6,
                                   weight_decay=0.05, amsgrad=True)),
    "adamw": ("adamw: {lr: 0.01}",
              lambda p: torch.optim.AdamW(p, lr=0.01)),
    "adamw_amsgrad": (
        "adamw: {lr: 0.02, weight_decay: 0.1, amsgrad: true}",
        lambda p: torch.optim.AdamW(p, lr=0.02, weight_decay=0.1,
                                    amsgrad=True)),
}

SPEC = """\
name: {name}
inputs:
  x: {{shape: [5, 3]}}
  y: {{shape: [5, 2]}}
model:
  input: x
  layers:
    - linear: {{name: fc1, in_features: 3, out_features: 4}}
    - tanh
    - linear: {{name: fc2, in_features: 4, out_features: 2}}
graph:
  loss: mse_loss(fc2, y)
outputs: [loss]
backward: loss
optimizer:
  {opt}
"""


def trajectory(values, make_opt, dtype):
    x = torch.tensor(values["x"], dtype=dtype)
    y = torch.tensor(values["y"], dtype=dtype)
    params = {n: torch.tensor(values[n], dtype=dtype, requires_grad=True)
              for n in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")}
    opt = make_opt(list(params.values()))
    steps = {n: [] for n in params}
    for _ in range(STEPS):
        opt.zero_grad()
        h = torch.tanh(F.linear(x, params["fc1.weight"], params["fc1.bias"]))
        out = F.linear(h, params["fc2.weight"], params["fc2.bias"])
        F.mse_loss(out, y).backward()
        opt.step()
        for n, p in params.items():
            steps[n].append(p.detach().numpy().copy())
    return {n: np.stack(v) for n, v in steps.items()}


def main():
    shutil.rmtree(OUT_DIR, ignore_errors=True)
    os.makedirs(OUT_DIR)
    for name, (line, make_opt) in CASES.items():
        d = os.path.join(OUT_DIR, name)
        os.makedirs(d)
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        shapes = {"x": (5, 3), "y": (5, 2), "fc1.weight": (4, 3),
                  "fc1.bias": (4,), "fc2.weight": (2, 4), "fc2.bias": (2,)}
        values = {n: rng.uniform(-1, 1, s).astype(np.float32)
                  for n, s in shapes.items()}
        with open(os.path.join(d, "spec.yaml"), "w") as f:
            f.write(SPEC.format(name=name, opt=line))
        for n, v in values.items():
            np.save(os.path.join(d, n + ".npy"), v)
        for dtype, suffix in ((torch.float32, "steps"),
                              (torch.float64, "steps64")):
            for n, v in trajectory(values, make_opt, dtype).items():
                np.save(os.path.join(d, "%s.%s.npy" % (n, suffix)), v)
    with open(os.path.join(OUT_DIR, "steps.txt"), "w") as f:
        f.write("".join(n + "\n" for n in CASES))


if __name__ == "__main__":
    main()

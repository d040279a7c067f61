#!/usr/bin/python3
"""Random specs, agc against PyTorch (make difftest N=500 SEED=1).

Usage: /usr/bin/python3 tests/difftest.py [-n N] [--seed S] [--agc ./agc]
                                           [--keep DIR] [-v]

Case i is generated from random.Random(S * 1000003 + i) alone, so any case
can be rerun by number (--first I -n 1).  Each case is one of:

  expr    a few graph nodes of random expressions over 1-3 inputs:
          broadcasting arithmetic, powers, comparisons and where, the
          elementwise functions, reductions with dim/keepdim, matmul and
          .T, softmax, reshape/flatten/transpose/cat/narrow, detach, and
          calls of custom functions (with a correct backward)
  conv    conv1d/conv2d with random stride, padding (numbers, pairs, same,
          valid), dilation, groups, padding_mode and bias, then an
          activation, maybe a pool, and maybe flatten + linear
  loop    a loop node (section 7): a while condition on the value, a body
          reading captured inputs, a count

The spec is written to a directory with each input as NAME.npy (float32 or
float64 as the spec's dtype), and `agc run SPEC --set ... [--grad ...]
--out DIR` runs it.  The reference evaluates the same expressions with
torch in float64 from the same input values, and autograd gives the
gradients.  Every output, loop count and gradient must match within the
golden tolerance |agc - torch| <= 1e-6 + 1e-5 |torch| (float64 specs:
1e-12 + 1e-9 |torch|), widened by twice the difference between torch's own
float32 and float64 results where the reference itself is that sensitive
to rounding.  A float32 case that still differs is run again in float64:
when that matches, the difference is float32 rounding (counted, not a
failure).  Loop counts must match exactly.

A case that torch refuses (a shape it rejects, a backward of what does not
require grad, a loop beyond max_iter) must be refused by agc too, with a
positioned error; a case torch accepts and agc refuses, or the other way
round, is a failure.  Each
failure is printed with its spec, its inputs' values and what differed, so
that it can become a golden case (tests/make_golden.py).
Exit status: 0 when no case failed, 1 otherwise.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import warnings

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError:
    print("difftest: skipped: PyTorch (python3-torch) is not installed")
    sys.exit(0)

torch.set_num_threads(1)
warnings.filterwarnings("ignore")      # torch's hints about padding='same'


class Skip(Exception):
    """The generator could not make a case: not a test."""


class Refused(Exception):
    """PyTorch refuses the case: agc must refuse it too."""


# --- expressions: spec text and a torch function, built together -------------

class Ex:
    """An expression: its spec text, its shape, and fn(env) -> tensor."""

    def __init__(self, text, shape, fn, prec=9):
        self.text, self.shape, self.fn = text, tuple(shape), fn
        self.prec = prec

    def par(self, prec):
        """The text, in parentheses when it binds looser than prec."""
        return self.text if self.prec >= prec else "(" + self.text + ")"


def num(v):
    return ("%.4g" % v) if v != int(v) else "%d" % v


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.inputs = {}            # name -> (shape, requires_grad, draw)
        self.env_shapes = {}        # names in scope -> shape
        self.funcs = {}             # custom functions used: name -> text

    # shapes
    def shape(self, rank=None):
        r = self.r
        if rank is None:
            rank = r.choice([0, 1, 1, 2, 2, 2, 3])
        return tuple(r.randint(1, 4) for _ in range(rank))

    def bcast_operand_shape(self, shape):
        """A shape that broadcasts to shape: a suffix, with some 1s."""
        r = self.r
        k = r.randint(0, len(shape)) if r.random() < 0.4 else len(shape)
        s = list(shape[len(shape) - k:])
        for i in range(len(s)):
            if r.random() < 0.25:
                s[i] = 1
        return tuple(s)

    def new_input(self, shape):
        name = "abcdefgh"[len(self.inputs)]
        self.inputs[name] = (shape, self.r.random() < 0.85)
        self.env_shapes[name] = shape
        return name

    def leaf(self, shape):
        """A constant, a name in scope of this shape, or a new input."""
        r = self.r
        if shape == () and r.random() < 0.2:
            v = r.choice([0.5, 2, 3, -1, 0.25, 1.5, -2.5])
            return Ex(num(v), (), lambda env, v=v:
                      torch.tensor(float(v), dtype=torch.float64),
                      9 if v >= 0 else 7)
        names = [n for n, s in self.env_shapes.items() if s == shape]
        if names and (r.random() < 0.7 or len(self.inputs) >= 6):
            n = r.choice(names)
        elif len(self.inputs) < 6:
            n = self.new_input(shape)
        else:
            raise Skip("too many inputs")
        return Ex(n, shape, lambda env, n=n: env[n], 9)

    def expr(self, shape, depth):
        ex = self.expr1(tuple(shape), depth)
        if ex.shape != tuple(shape):
            raise Skip("generator: shape %s for %s" % (ex.shape, shape))
        return ex

    def expr1(self, shape, depth):
        r = self.r
        if depth <= 0 or r.random() < 0.2:
            return self.leaf(shape)
        kind = r.choices(
            ["bin", "un", "fn", "red", "matmul", "T", "softmax", "shape",
             "cat", "narrow", "where", "pow", "maxmin", "custom", "detach",
             "div", "clamp"],
            [8, 3, 6, 4, 2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 0.5, 1, 1])[0]
        d = depth - 1
        if kind == "bin":
            op = r.choice("+-*")
            sa = sb = shape
            if r.random() < 0.4:
                if r.random() < 0.5:
                    sa = self.bcast_operand_shape(shape)
                else:
                    sb = self.bcast_operand_shape(shape)
            a, b = self.expr(sa, d), self.expr(sb, d)
            prec = 5 if op in "+-" else 6
            fa, fb = a.fn, b.fn
            f = {"+": lambda e: fa(e) + fb(e), "-": lambda e: fa(e) - fb(e),
                 "*": lambda e: fa(e) * fb(e)}[op]
            return Ex("%s %s %s" % (a.par(prec), op, b.par(prec + 1)), shape,
                      f, prec)
        if kind == "div":
            a, b = self.expr(shape, d), self.expr(shape, d)
            fa, fb = a.fn, b.fn
            return Ex("%s / (abs(%s) + 0.5)" % (a.par(6), b.text), shape,
                      lambda e: fa(e) / (torch.abs(fb(e)) + 0.5), 6)
        if kind == "un":
            a = self.expr(shape, d)
            fa = a.fn
            return Ex("-" + a.par(7), shape, lambda e: -fa(e), 7)
        if kind == "fn":
            name, tf = r.choice([
                ("abs", torch.abs), ("exp", lambda t: torch.exp(t)),
                ("sin", torch.sin), ("cos", torch.cos), ("tanh", torch.tanh),
                ("sigmoid", torch.sigmoid), ("relu", torch.relu),
                ("neg", torch.neg),
                ("log", None), ("sqrt", None), ("leaky_relu", None)])
            a = self.expr(shape, d)
            fa = a.fn
            if name == "exp":           # keep values O(1)
                return Ex("exp(tanh(%s))" % a.text, shape,
                          lambda e: torch.exp(torch.tanh(fa(e))))
            if name in ("log", "sqrt"):
                tfn = torch.log if name == "log" else torch.sqrt
                return Ex("%s(sigmoid(%s) + 0.2)" % (name, a.text), shape,
                          lambda e: tfn(torch.sigmoid(fa(e)) + 0.2))
            if name == "leaky_relu":
                s = r.choice([0.01, 0.1, 0.3])
                return Ex("leaky_relu(%s, negative_slope=%s)" % (a.text,
                                                                 num(s)),
                          shape, lambda e: F.leaky_relu(fa(e), s))
            return Ex("%s(%s)" % (name, a.text), shape,
                      lambda e: tf(fa(e)))
        if kind == "clamp":
            a = self.expr(shape, d)
            fa = a.fn
            lo = r.choice([-0.5, -1, 0.1])
            hi = lo + r.choice([0.5, 1, 2])
            which = r.choice(["min", "max", "both"])
            kw = {"min": "min=%s" % num(lo), "max": "max=%s" % num(hi),
                  "both": "min=%s, max=%s" % (num(lo), num(hi))}[which]
            return Ex("clamp(%s, %s)" % (a.text, kw), shape, lambda e:
                      torch.clamp(fa(e), min=lo if which != "max" else None,
                                  max=hi if which != "min" else None))
        if kind == "pow":
            a = self.expr(shape, d)
            fa = a.fn
            if r.random() < 0.5:
                k = r.choice([2, 3])
                return Ex("%s ^ %d" % (a.par(8), k), shape,
                          lambda e: fa(e) ** k, 7)
            k = r.choice([0.5, 1.5, -1])
            return Ex("(sigmoid(%s) + 0.2) ** %s" % (a.text, num(k)), shape,
                      lambda e: (torch.sigmoid(fa(e)) + 0.2) ** k, 7)
        if kind == "maxmin":
            a, b = self.expr(shape, d), self.expr(shape, d)
            fa, fb = a.fn, b.fn
            name = r.choice(["maximum", "minimum"])
            tf = torch.maximum if name == "maximum" else torch.minimum
            return Ex("%s(%s, %s)" % (name, a.text, b.text), shape,
                      lambda e: tf(fa(e), fb(e)))
        if kind == "where":
            c1, c2 = self.expr(shape, d), self.expr(shape, d)
            a, b = self.expr(shape, d), self.expr(shape, d)
            op, tf = r.choice([("<", torch.lt), (">", torch.gt),
                               ("<=", torch.le), (">=", torch.ge)])
            f1, f2, fa, fb = c1.fn, c2.fn, a.fn, b.fn
            return Ex("where(%s %s %s, %s, %s)" % (c1.par(5), op, c2.par(5),
                                                   a.text, b.text), shape,
                      lambda e: torch.where(tf(f1(e), f2(e)), fa(e), fb(e)))
        if kind == "red":
            return self.reduction(shape, d)
        if kind == "matmul" and len(shape) <= 2:
            k = r.randint(1, 4)
            if len(shape) == 2:
                sa, sb = (shape[0], k), (k, shape[1])
            elif len(shape) == 1:
                sa, sb = ((shape[0], k), (k,)) if r.random() < 0.5 else \
                         ((k,), (k, shape[0]))
            else:
                sa, sb = (k,), (k,)
            a, b = self.expr(sa, d), self.expr(sb, d)
            fa, fb = a.fn, b.fn
            return Ex("%s @ %s" % (a.par(6), b.par(7)), shape,
                      lambda e: torch.matmul(fa(e), fb(e)), 6)
        if kind == "T" and len(shape) == 2:
            a = self.expr((shape[1], shape[0]), d)
            fa = a.fn
            if r.random() < 0.5:
                return Ex(a.par(9) + ".T", shape, lambda e: fa(e).T, 9)
            return Ex("transpose(%s, 0, 1)" % a.text, shape,
                      lambda e: torch.transpose(fa(e), 0, 1))
        if kind == "softmax" and len(shape) >= 1:
            a = self.expr(shape, d)
            fa = a.fn
            dim = r.randrange(-len(shape), len(shape))
            name = r.choice(["softmax", "log_softmax"])
            tf = torch.softmax if name == "softmax" else torch.log_softmax
            return Ex("%s(%s, dim=%d)" % (name, a.text, dim), shape,
                      lambda e: tf(fa(e), dim))
        if kind == "shape" and len(shape) >= 1:
            n = int(np.prod(shape))
            src = r.choice([(n,), factor2(r, n)])
            a = self.expr(src, d)
            fa = a.fn
            if len(shape) == 1 and r.random() < 0.5:
                return Ex("flatten(%s)" % a.text, shape,
                          lambda e: torch.flatten(fa(e)))
            dims = list(shape)
            if r.random() < 0.5:
                dims[r.randrange(len(dims))] = -1
            tup = "(%s)" % ", ".join(str(x) for x in dims)
            return Ex("reshape(%s, %s)" % (a.text, tup), shape,
                      lambda e: torch.reshape(fa(e), shape))
        if kind == "cat" and len(shape) >= 1 and max(shape) >= 2:
            dims = [i for i in range(len(shape)) if shape[i] >= 2]
            dim = r.choice(dims)
            k = r.randint(1, shape[dim] - 1)
            sa = list(shape)
            sa[dim] = k
            sb = list(shape)
            sb[dim] = shape[dim] - k
            a, b = self.expr(tuple(sa), d), self.expr(tuple(sb), d)
            fa, fb = a.fn, b.fn
            return Ex("cat((%s, %s), dim=%d)" % (a.text, b.text, dim), shape,
                      lambda e: torch.cat((fa(e), fb(e)), dim))
        if kind == "narrow" and len(shape) >= 1:
            dim = r.randrange(len(shape))
            extra = r.randint(1, 3)
            start = r.randint(0, extra)
            src = list(shape)
            src[dim] += extra
            a = self.expr(tuple(src), d)
            fa = a.fn
            return Ex("narrow(%s, %d, %d, %d)" % (a.text, dim, start,
                                                  shape[dim]), shape,
                      lambda e: torch.narrow(fa(e), dim, start, shape[dim]))
        if kind == "custom":
            return self.custom(shape, d)
        if kind == "detach":
            a = self.expr(shape, d)
            fa = a.fn
            return Ex("detach(%s)" % a.text, shape,
                      lambda e: fa(e).detach())
        return self.leaf(shape)

    def reduction(self, shape, d):
        r = self.r
        name = r.choice(["sum", "mean", "max", "min", "norm", "sum"])
        if name == "norm" or (r.random() < 0.3 and shape == ()):
            if shape != ():
                return self.leaf(shape)
            a = self.expr(self.shape(r.randint(1, 3)), d)
            fa = a.fn
            if name == "norm":
                return Ex("norm(%s)" % a.text, (),
                          lambda e: torch.norm(fa(e)))
            tf = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax,
                  "min": torch.amin}[name]
            return Ex("%s(%s)" % (name, a.text), (), lambda e: tf(fa(e)))
        if len(shape) >= 3:
            return self.leaf(shape)
        keep = r.random() < 0.3
        if keep and len(shape) >= 1:
            dim = r.randrange(len(shape))
            src = list(shape)
            if src[dim] != 1:
                keep = False
            else:
                src[dim] = r.randint(2, 4)
        if not keep or not shape:
            keep = False
            dim = r.randint(0, len(shape))
            src = list(shape)
            src.insert(dim, r.randint(1, 4))
        a = self.expr(tuple(src), d)
        fa = a.fn
        tf = {"sum": torch.sum, "mean": torch.mean, "max": torch.amax,
              "min": torch.amin}[name]
        dtext = str(dim if r.random() < 0.7 else dim - len(src))
        kw = ", keepdim=true" if keep else ""
        return Ex("%s(%s, dim=%s%s)" % (name, a.text, dtext, kw), shape,
                  lambda e: tf(fa(e), dim=dim, keepdim=keep))

    CUSTOM = {
        # name: (args, forward, {arg: backward}, torch forward)
        "f_mul_add": (["p", "q"], "p * q + p",
                      {"p": "grad * q + grad", "q": "grad * p"},
                      lambda p, q: p * q + p),
        "f_sin_x": (["p"], "sin(p) * p", {"p": "grad * (cos(p) * p + sin(p))"},
                    lambda p: torch.sin(p) * p),
        "f_tanh": (["p"], "tanh(p)", {"p": "grad * (1 - out * out)"},
                   torch.tanh),
        "f_sq_ratio": (["p", "q"], "p * p / (q * q + 1)",
                       {"p": "grad * 2 * p / (q * q + 1)",
                        "q": "-grad * 2 * q * p * p / ((q * q + 1) ^ 2)"},
                       lambda p, q: p * p / (q * q + 1)),
    }

    def custom(self, shape, d):
        name = self.r.choice(sorted(self.CUSTOM))
        args, fwd, bwd, tf = self.CUSTOM[name]
        xs = [self.expr(shape, d) for _ in args]
        self.funcs[name] = ("  %s:\n    args: [%s]\n    forward: %s\n"
                            "    backward:\n%s" % (
                                name, ", ".join(args), fwd,
                                "".join("      %s: %s\n" % (a, bwd[a])
                                        for a in args)))
        fs = [x.fn for x in xs]
        return Ex("%s(%s)" % (name, ", ".join(x.text for x in xs)), shape,
                  lambda e: tf(*[f(e) for f in fs]))


def broadcasts(s, to):
    if len(s) > len(to):
        return False
    return all(a in (1, b) for a, b in zip(reversed(s), reversed(to)))


def factor2(r, n):
    ds = [k for k in range(1, n + 1) if n % k == 0]
    k = r.choice(ds)
    return (k, n // k)


# --- cases ------------------------------------------------------------------

class Case:
    """A spec's text, its inputs (name -> (shape, requires_grad, array)),
    the reference fn(leaves) -> {node: tensor} (loop counts as ints), the
    outputs, counts and the backward."""


def inputs_text(inputs):
    return "inputs:\n" + "".join(
        "  %s: {shape: %s%s}\n" % (n, list(s), ", requires_grad: true"
                                   if g else "")
        for n, (s, g) in inputs.items())


def gen_expr(r):
    g = Gen(r)
    nodes, lines = [], []
    nnodes = r.randint(1, 3)
    for i in range(nnodes):
        shape = g.shape()
        ex = g.expr(shape, r.randint(1, 4))
        name = "n%d" % i
        lines.append("  %s: %s\n" % (name, ex.text))
        nodes.append((name, ex))
        g.env_shapes[name] = ex.shape
    last, lex = nodes[-1]
    back, seed = backward_of(r, last, lex.shape, lines, nodes)
    text = ""
    if g.funcs:
        text += "functions:\n" + "".join(g.funcs.values())
    text += inputs_text(g.inputs) + "graph:\n" + "".join(lines)
    outs = [n for n, _ in nodes]

    def ref(leaves):
        env = dict(leaves)
        out = {}
        for n, ex in nodes:
            env[n] = out[n] = ex.fn(env)
        return out
    return finish(g.inputs, text, outs, back, seed, ref, r)


def backward_of(r, last, shape, lines, nodes):
    """Picks the backward: a scalar node itself, a loss added, or {of:}
    with a seed given at run time."""
    if shape == ():
        return last, None
    if r.random() < 0.5:
        lines.append("  loss: sum(%s * %s)\n" % (last, last))
        nodes.append(("loss", Ex("sum(%s * %s)" % (last, last), (),
                                 lambda e: torch.sum(e[last] * e[last]))))
        return "loss", None
    return last, shape


def finish(inputs, text, outs, back, seed_shape, ref, r, counts=()):
    c = Case()
    c.inputs, c.seed_in_spec = {}, False
    for n, (s, g) in inputs.items():
        c.inputs[n] = (s, g, np.array(
            [r.uniform(-1.5, 1.5) for _ in range(int(np.prod(s)))],
            dtype=np.float64).reshape(s))
    c.dtype = "float64" if r.random() < 0.2 else "float32"
    if seed_shape is None:
        text += "backward: %s\n" % back
        c.seed = None
    else:
        c.seed = np.array([float("%.4g" % r.gauss(0, 1)) for _ in range(
            int(np.prod(seed_shape)))]).reshape(seed_shape)
        c.seed_in_spec = r.random() < 0.3
        if c.seed_in_spec:         # a literal, nested as the shape
            text += "backward: {of: %s, grad: %s}\n" % (
                back, str(c.seed.tolist()))
        else:
            text += "backward: {of: %s}\n" % back
    text += "outputs: [%s]\n" % ", ".join(outs)
    c.text = "name: difftest\ndtype: %s\n%s" % (c.dtype, text)
    c.outs, c.back, c.ref, c.counts = outs, back, ref, list(counts)
    return c


def conv_opts(r, sd):
    """Keyword arguments of a conv, as (text, torch kwargs)."""
    kw, t = {}, []

    def one_or_pair(lo, hi):
        if sd == 2 and r.random() < 0.4:
            v = (r.randint(lo, hi), r.randint(lo, hi))
            return v, "(%d, %d)" % v
        v = r.randint(lo, hi)
        return v, str(v)
    if r.random() < 0.4:
        kw["stride"], s = one_or_pair(1, 3)
        t.append("stride=" + s)
    if r.random() < 0.3:
        kw["dilation"], s = one_or_pair(1, 2)
        t.append("dilation=" + s)
    p = r.random()
    if p < 0.15:
        kw["padding"] = "same"
        t.append("padding=same")
    elif p < 0.25:
        kw["padding"] = "valid"
        t.append("padding=valid")
    elif p < 0.6:
        kw["padding"], s = one_or_pair(0, 2)
        t.append("padding=" + s)
    mode = r.choice(["zeros", "zeros", "circular", "reflect", "replicate"])
    if mode != "zeros" or r.random() < 0.2:
        kw["padding_mode"] = mode
        t.append("padding_mode=" + mode)
    return kw, t


def gen_conv(r):
    sd = r.choice([1, 2])
    N = r.choice([1, 2])
    groups = r.choice([1, 1, 2])
    C = groups * r.randint(1, 2)
    O = groups * r.randint(1, 2)
    sp = [r.randint(3, 7) for _ in range(sd)]
    ks = [r.randint(1, 3) for _ in range(sd)]
    x = (N, C) + tuple(sp)
    w = (O, C // groups) + tuple(ks)
    kw, t = conv_opts(r, sd)
    if groups > 1:
        kw["groups"] = groups
        t.append("groups=%d" % groups)
    bias = r.random() < 0.6
    inputs = {"x": (x, r.random() < 0.7), "w": (w, True)}
    if bias:
        inputs["b"] = ((O,), True)
    args = "x, w" + (", b" if bias else "")
    lines = ["  y: conv%dd(%s%s)\n" % (sd, args, "".join(", " + s for s in t))]
    act = r.choice([None, "relu", "tanh", "sigmoid"])
    pool = r.choice([None, None, "max", "avg"])
    pk = r.randint(1, 2)
    ps = r.choice([None, 1, 2])
    pp = r.choice([0, 0, 1]) if pk >= 2 else 0
    if act:
        lines.append("  h: %s(y)\n" % act)
    cur = "h" if act else "y"
    if pool:
        opt = ""
        if ps is not None:
            opt += ", stride=%d" % ps
        if pp:
            opt += ", padding=%d" % pp
        lines.append("  p: %s_pool%dd(%s, %d%s)\n" % (pool, sd, cur, pk, opt))
        cur = "p"
    lin = r.random() < 0.3
    if lin:
        lines.append("  f: flatten(%s, start_dim=1)\n" % cur)
        cur = "f"

    def layers(leaves):
        xv, wv = leaves["x"], leaves["w"]
        bv = leaves.get("b")
        mod = (nn.Conv1d if sd == 1 else nn.Conv2d)(
            C, O, tuple(ks) if sd == 2 else ks[0],
            bias=bias, **{k: v for k, v in kw.items()})
        out = {"y": mod._conv_forward(xv, wv, bv)}
        v = out["y"]
        if act:
            v = out["h"] = getattr(torch, act)(v)
        if pool:
            fn = getattr(F, "%s_pool%dd" % (pool, sd))
            v = out["p"] = fn(v, pk, ps if ps is not None else pk, pp)
        if lin:
            v = out["f"] = torch.flatten(v, 1)
        return out, v
    # the shapes: from torch, to size the linear layer and the seed
    try:
        probe = {k: torch.zeros(s, dtype=torch.float64)
                 for k, (s, g) in inputs.items()}
        _, v = layers(probe)
    except (RuntimeError, ValueError):
        # torch refuses the conv: so must agc (the reference raises again)
        if lin:
            lines.pop()
            cur, lin = ("p" if pool else "h" if act else "y"), False
        v = torch.zeros(())
    outs = ["y"]
    if lin:
        K = r.randint(1, 3)
        inputs["lw"] = ((K, v.shape[1]), True)
        inputs["lb"] = ((K,), True)
        lines.append("  z: linear(f, lw, lb)\n")
        cur = "z"
        outs.append("z")
    shape = tuple(v.shape) if not lin else (v.shape[0], K)
    if not shape or v.dim() == 0:
        shape = (1,)                # a loss below, not a seed
        lines.append("  loss: sum(%s * %s)\n" % (cur, cur))
        back, seed = "loss", None
        text = inputs_text(inputs) + "graph:\n" + "".join(lines)

        def ref(leaves):
            out, v = layers(leaves)
            out["loss"] = torch.sum(v * v)
            return out
        return finish(inputs, text, outs, back, seed, ref, r)
    nodes = []
    back, seed = backward_of(r, cur, shape, lines, nodes)
    text = inputs_text(inputs) + "graph:\n" + "".join(lines)

    def ref(leaves):
        out, v = layers(leaves)
        if lin:
            out["z"] = F.linear(v, leaves["lw"], leaves["lb"])
        if back == "loss":
            out["loss"] = torch.sum(out[cur] * out[cur])
        return out
    return finish(inputs, text, outs + ([cur] if cur not in outs and
                                        cur != "y" else []),
                  back, seed, ref, r)


def gen_loop(r):
    g = Gen(r)
    n = r.randint(1, 4)
    shape = (n,) if r.random() < 0.8 else (2, n)
    x = g.new_input(shape)
    cap = g.new_input(shape if r.random() < 0.5 else ())
    cond, tcond = r.choice([
        ("norm(v) < %s", lambda v, T: torch.norm(v) < T),
        ("sum(abs(v)) < %s", lambda v, T: torch.sum(torch.abs(v)) < T),
        ("max(abs(v)) < %s", lambda v, T: torch.amax(torch.abs(v)) < T)])
    T = r.choice([2, 5, 10, 50])
    body, tbody = r.choice([
        ("v * (abs(%s) + 1.1)", lambda v, c: v * (torch.abs(c) + 1.1)),
        ("v + abs(%s) + 0.1", lambda v, c: v + torch.abs(c) + 0.1),
        ("v * 1.5 + tanh(%s)", lambda v, c: v * 1.5 + torch.tanh(c)),
        ("2 * v - sin(v * %s)", lambda v, c: 2 * v - torch.sin(v * c)),
        ("v + sigmoid(v * %s) + 0.2", lambda v, c: v + torch.sigmoid(v * c)
         + 0.2),
    ])
    init_ex = g.expr(shape, r.randint(0, 2))
    body = body % cap
    if r.random() < 0.5:
        # a random expression of v and of captures (inputs), which the
        # growing term makes the loop end
        g.env_shapes["v"] = shape
        ex = g.expr(shape, r.randint(1, 3))
        del g.env_shapes["v"]
        k = r.choice([1.5, 2])
        body = "v * %s + 0.5 * tanh(%s)" % (num(k), ex.text)
        fe = ex.fn

        def tbody(v, c):
            env = dict(cur_leaves)
            env["v"] = v
            return v * k + 0.5 * torch.tanh(fe(env))
    max_iter = r.choice([8, 20, 60])
    lines = ["  y0: %s\n" % init_ex.text,
             "  y:\n    loop:\n      init: y0\n      as: v\n"
             "      while: %s\n      body: %s\n      max_iter: %d\n"
             "      count: i\n" % (cond % num(T), body, max_iter)]
    cur_leaves = {}
    nodes = []
    back, seed = backward_of(r, "y", shape, lines, nodes)
    text = ""
    if g.funcs:
        text += "functions:\n" + "".join(g.funcs.values())
    text += inputs_text(g.inputs) + "graph:\n" + "".join(lines)
    fi = init_ex.fn

    def ref(leaves):
        cur_leaves.clear()
        cur_leaves.update(leaves)
        env = dict(leaves)
        v = env["y0"] = fi(env)
        count = 0
        while bool(tcond(v, T)):
            if count >= max_iter:
                raise Refused("the loop exceeds max_iter")
            v = tbody(v, env[cap])
            count += 1
        out = {"y0": env["y0"], "y": v, "i": count}
        if back == "loss":
            out["loss"] = torch.sum(v * v)
        return out
    return finish(g.inputs, text, ["y0", "y"], back, seed, ref, r,
                  counts=["i"])


# --- running ----------------------------------------------------------------

def reference(c, dtype):
    leaves = {n: torch.tensor(a, dtype=dtype).requires_grad_(g)
              for n, (s, g, a) in c.inputs.items()}
    out = c.ref(leaves)
    y = out[c.back]
    c.either = False
    if not y.requires_grad:
        if not any(out[n] == 0 for n in c.counts):
            raise Refused("element 0 of tensors does not require grad")
        # a loop that ran zero times passed its init through: torch's y
        # then needs no grad, where agc (its graph is static) may give a
        # capture requiring grad a zero gradient (README, Loops)
        c.either = True
    elif c.seed is None:
        y.backward()
    else:
        y.backward(torch.tensor(c.seed, dtype=dtype))
    res = {}
    for n in c.outs:
        res[n] = out[n].detach().to(torch.float64).numpy()
    for n in c.counts:
        res[n] = np.array(out[n])
    for n, t in leaves.items():
        if t.requires_grad:
            gr = t.grad if t.grad is not None else torch.zeros_like(t)
            res[n + ".grad"] = gr.to(torch.float64).numpy()
    return res


def run_agc(c, agc, d):
    spec = os.path.join(d, "difftest.yaml")
    with open(spec, "w") as f:
        f.write(c.text)
    npdt = np.float64 if c.dtype == "float64" else np.float32
    cmd = [agc, "run", spec, "--out", d]
    for n, (s, g, a) in c.inputs.items():
        np.save(os.path.join(d, n + ".in.npy"), a.astype(npdt))
        cmd += ["--set", "%s=%s" % (n, os.path.join(d, n + ".in.npy"))]
    if c.seed is not None and not c.seed_in_spec:
        np.save(os.path.join(d, "seed.npy"), c.seed.astype(npdt))
        cmd += ["--grad", "%s=%s" % (c.back, os.path.join(d, "seed.npy"))]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    return p


def compare(c, d, ref, ref32):
    """What differs, as lines."""
    bad = []
    f64 = c.dtype == "float64"
    for n, want in ref.items():
        path = os.path.join(d, n + ".npy")
        if not os.path.exists(path):
            bad.append("%s: agc wrote no %s.npy" % (n, n))
            continue
        got = np.load(path)
        if tuple(got.shape) != tuple(want.shape):
            bad.append("%s: shape %s, torch %s" % (n, list(got.shape),
                                                   list(want.shape)))
            continue
        if n in c.counts:
            if int(got) != int(want):
                bad.append("%s: count %d, torch %d" % (n, int(got), int(want)))
            continue
        got = got.astype(np.float64)
        if f64:
            tol = 1e-12 + 1e-9 * np.abs(want)
        else:
            tol = 1e-6 + 1e-5 * np.abs(want)
            if ref32 is not None and n in ref32:
                tol = tol + 2 * np.abs(ref32[n] - want)
        with np.errstate(invalid="ignore"):
            ok = (np.abs(got - want) <= tol) | (np.isnan(got) & np.isnan(want))
        if not ok.all():
            i = np.unravel_index(np.argmax(~ok), ok.shape) if ok.shape else ()
            bad.append("%s: agc %r, torch %r at %s (max |diff| %.3g)" % (
                n, float(got[i]), float(want[i]), list(i),
                float(np.nanmax(np.abs(got - want)))))
    return bad


GENS = [("expr", gen_expr, 6), ("conv", gen_conv, 3), ("loop", gen_loop, 2)]


def make_case(seed):
    r = random.Random(seed)
    kind = r.choices([g[0] for g in GENS], [g[2] for g in GENS])[0]
    return kind, dict((g[0], g[1]) for g in GENS)[kind](r)


def rounding_only(c, agc, d, ref):
    """True when the float32 case that differs passes in float64: the
    reference's sensitivity to rounding, not a wrong formula."""
    c64 = Case()
    c64.__dict__.update(c.__dict__)
    c64.dtype = "float64"
    c64.text = c.text.replace("dtype: float32", "dtype: float64", 1)
    d64 = os.path.join(d, "f64")
    os.makedirs(d64)
    p = run_agc(c64, agc, d64)
    return p.returncode == 0 and not compare(c64, d64, ref, None)


# Defects already filed (issue 13), recognised by agc's message: failures
# still, but labelled so that new ones stand out.
KNOWN = [
    ("does not depend on any input that requires grad",
     "known: issue 13 item 11 (folding decides requires_grad)"),
    ("is greater than max", "known: issue 13 item 11 (clamp min > max)"),
    ("internal error: JIT",
     "known: issue 13 item 1 or 2 (loop backward, names)"),
]


def known(why):
    for pat, label in KNOWN:
        if any(pat in w for w in why):
            return label
    return None


def report(i, kind, c, why):
    label = known(why)
    print("difftest: FAIL case %d (%s)%s" % (i, kind,
                                            " [%s]" % label if label else ""))
    for line in why:
        print("  " + line)
    print("  spec:")
    for line in c.text.splitlines():
        print("    " + line)
    for n, (s, g, a) in c.inputs.items():
        print("  %s = %s" % (n, np.array2string(
            a.astype(np.float32 if c.dtype == "float32" else np.float64),
            separator=", ", precision=9).replace("\n", "")))
    if c.seed is not None:
        print("  seed of %s = %s" % (c.back, np.array2string(
            c.seed, separator=", ", precision=9).replace("\n", "")))
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--agc", default="./agc")
    ap.add_argument("--keep", help="keep the failing cases' files here")
    ap.add_argument("-v", action="store_true", help="print every spec")
    a = ap.parse_args()
    agc = os.path.abspath(a.agc)
    stats = {"pass": 0, "fail": 0, "skip": 0, "known": 0, "refused": 0,
             "rounding": 0}
    kinds = {}
    tmp = tempfile.mkdtemp(prefix="difftest.")
    try:
        for i in range(a.first, a.first + a.n):
            try:
                kind, c = make_case(a.seed * 1000003 + i)
            except Skip:
                stats["skip"] += 1
                continue
            if a.v:
                print("== case %d (%s)\n%s" % (i, kind, c.text))
            d = os.path.join(tmp, str(i))
            os.makedirs(d)
            try:
                try:
                    ref = reference(c, torch.float64)
                    ref32 = reference(c, torch.float32) \
                        if c.dtype == "float32" else None
                except (RuntimeError, ValueError, IndexError) as e:
                    raise Refused(str(e).split("\n")[0])
            except Refused as e:
                # agc must refuse it too, with a positioned error
                p = run_agc(c, agc, d)
                stats["refused"] += 1
                if p.returncode == 0 or ": error: " not in p.stderr:
                    why = ["torch refuses (%s), agc %s" % (
                        e, "accepts" if p.returncode == 0 else
                        "fails without a positioned error: " + p.stderr)]
                    stats["fail"] += 1
                    report(i, kind, c, why)
                elif a.v:
                    print("   both refuse: torch: %s; agc: %s"
                          % (e, p.stderr.strip()))
                shutil.rmtree(d)
                continue
            p = run_agc(c, agc, d)
            if p.returncode != 0 and c.either and ": error: " in p.stderr:
                stats["refused"] += 1
                shutil.rmtree(d)
                continue
            if p.returncode != 0:
                why = ["agc failed (status %d): %s" % (
                    p.returncode, (p.stderr or p.stdout).strip())]
            else:
                why = compare(c, d, ref, ref32)
                if why and c.dtype == "float32" and rounding_only(c, agc, d,
                                                                  ref):
                    stats["rounding"] += 1
                    why = []
            kinds.setdefault(kind, [0, 0])[0] += 1
            if why:
                stats["fail"] += 1
                stats["known"] += known(why) is not None
                kinds[kind][1] += 1
                report(i, kind, c, why)
                if a.keep:
                    shutil.copytree(d, os.path.join(a.keep, str(i)),
                                    dirs_exist_ok=True)
            else:
                stats["pass"] += 1
            shutil.rmtree(d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("difftest: %d cases (seed %d): %d passed (%d of them in float64 "
          "only, float32 rounding), %d refused by both, %d failed (%d of "
          "them known defects), %d not generated" % (
              a.n, a.seed, stats["pass"], stats["rounding"], stats["refused"],
              stats["fail"], stats["known"], stats["skip"]))
    print("difftest: by kind (run, failed): %s" % ", ".join(
        "%s %d/%d" % (k, v[0], v[1]) for k, v in sorted(kinds.items())))
    return 1 if stats["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/sh
# cli.sh AGC: the command line as a user meets it: exit statuses, messages,
# and that a failing command leaves no file behind.
agc=${1:-./agc}
pass=0 failn=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() { failn=$((failn + 1)); echo "FAIL: $*"; }

# expect STATUS CMD...: run CMD, capture stdout+stderr in $tmp/out
expect() {
    want=$1; shift
    "$@" >"$tmp/out" 2>&1
    got=$?
    if [ "$got" = "$want" ]; then ok; else bad "$* exited $got, not $want"; cat "$tmp/out"; fi
}
contains() {
    if grep -qF -- "$1" "$tmp/out"; then ok; else bad "output lacks '$1'"; cat "$tmp/out"; fi
}

expect 0 $agc --version; contains "agc "
expect 0 $agc --help; contains "usage: agc COMMAND"
for c in compile run check info graph; do expect 0 $agc help $c; contains "usage: agc $c"; done
expect 1 $agc frobnicate x.yaml; contains "unknown command 'frobnicate'"
expect 1 $agc run; contains "no spec file given"

# the seed example prints PyTorch's format and values
expect 0 $agc run specs/autograd.yaml
contains "a = tensor(4.5000)"
contains "x.grad = tensor([[-1.5000,  0.0000],"
contains "        [ 1.5000,  3.0000]])"

# compile writes both files; a failing compile writes nothing
mkdir "$tmp/gen"
expect 0 $agc compile specs/autograd.yaml -o "$tmp/gen"
[ -f "$tmp/gen/autograd.h" ] && [ -f "$tmp/gen/autograd.c" ] && ok || bad "compile wrote no files"
mkdir "$tmp/empty"
expect 1 $agc compile specs/fail/no_grad.yaml -o "$tmp/empty"
contains "does not have a grad_fn"
[ -z "$(ls -A "$tmp/empty")" ] && ok || bad "failed compile left files: $(ls -A "$tmp/empty")"
# -o creates a missing directory, and its parents
expect 0 $agc compile specs/autograd.yaml -o "$tmp/missing/dir"
[ -f "$tmp/missing/dir/autograd.c" ] && ok || bad "-o did not create the directory"

# run --out writes .npy files; a failing run writes none
mkdir "$tmp/out1"
expect 0 $agc run specs/autograd.yaml --out "$tmp/out1"
[ -f "$tmp/out1/a.npy" ] && [ -f "$tmp/out1/x.grad.npy" ] && ok || bad "--out wrote no files"
d=tests/golden/ops/seed_vjp
mkdir "$tmp/out2"
expect 1 $agc run $d/spec.yaml --out "$tmp/out2"
contains "has no value: give --set x=FILE.npy"
[ -z "$(ls -A "$tmp/out2")" ] && ok || bad "failed run left files"
expect 1 $agc run $d/spec.yaml --set x=$d/y.seed.npy --set x=tests/golden/ops/add/a.npy
contains "does not match the expected"
expect 1 $agc run $d/spec.yaml --set x=$d/x.npy
contains "needs a seed: give --grad y=FILE.npy"
expect 0 $agc run $d/spec.yaml --set x=$d/x.npy --grad y=$d/y.seed.npy
expect 1 $agc run $d/spec.yaml --set nope=$d/x.npy
contains "has no input 'nope'"
expect 1 $agc run $d/spec.yaml --set x=/nonexistent.npy
contains "cannot open"

# .npy files of the wrong dtype or length are refused with the spec position
cat > "$tmp/f64.yaml" <<'YAML'
dtype: float64
inputs:
  x: {shape: [3], value: [1, 2, 3]}
graph:
  x2: x * 1.5
YAML
mkdir "$tmp/f64"
expect 0 $agc run "$tmp/f64.yaml" --out "$tmp/f64"
expect 1 $agc run $d/spec.yaml --set x="$tmp/f64/x2.npy" --grad y=$d/y.seed.npy
contains "dtype '<f8' does not match the expected '<f4'"
contains "seed_vjp/spec.yaml:"
# check (float64) takes inputs and a runtime seed through --set
expect 0 $agc check $d/spec.yaml --set x="$tmp/f64/x2.npy" --set y.grad="$tmp/f64/x2.npy"
contains "1 passed, 0 failed"
head -c 130 $d/x.npy > "$tmp/short.npy"
expect 1 $agc run $d/spec.yaml --set x="$tmp/short.npy" --grad y=$d/y.seed.npy
contains "truncated"

# loops: the seed's doubling loop prints its count and writes it as <i8
expect 0 $agc run specs/loop.yaml
contains "i = tensor(9)"
contains "x.grad = tensor([1.0240e+02, 1.0240e+03, 1.0240e-01])"
mkdir "$tmp/loop"
expect 0 $agc run specs/loop.yaml --out "$tmp/loop"
grep -q "'descr': '<i8'" "$tmp/loop/i.npy" && ok || bad "i.npy is not <i8"
expect 0 $agc check specs/loop.yaml; contains "1 passed, 0 failed"
expect 0 $agc info specs/loop.yaml; contains "loop y: max_iter 64"
# 9 iterations: fine with max_iter 9, a run-time error with 8 (exit 1,
# no file written)
sed 's/max_iter: 64/max_iter: 9/' specs/loop.yaml > "$tmp/loop9.yaml"
expect 0 $agc run "$tmp/loop9.yaml"; contains "i = tensor(9)"
sed 's/max_iter: 64/max_iter: 8/' specs/loop.yaml > "$tmp/loop8.yaml"
mkdir "$tmp/loop8"
expect 1 $agc run "$tmp/loop8.yaml" --out "$tmp/loop8"
contains "loop8.yaml:13:3: error: forward failed: loop 'y' exceeded its max_iter: the condition still held after 8 iterations"
[ -z "$(ls -A "$tmp/loop8")" ] && ok || bad "failed loop run left files"

# custom functions: the user's backward, summed over every use
expect 0 $agc run specs/custom_split.yaml
contains "loss = tensor(38.)"
contains "x.grad = tensor([ 10.,  18., -14.])"
expect 0 $agc run specs/custom_max.yaml
contains "m = tensor(5.)"

# check, info, graph
expect 0 $agc check specs/autograd.yaml; contains "x.grad"; contains "1 passed, 0 failed"

# check catches a wrong user-written backward, and only that one
for s in custom_add custom_split custom_max; do
    expect 0 $agc check specs/$s.yaml; contains " 0 failed"
done
expect 1 $agc check specs/custom_wrong.yaml
grep -q '^a\.grad .*FAIL$' "$tmp/out" && ok || { bad "a.grad not flagged"; cat "$tmp/out"; }
grep -q '^b\.grad .*ok$' "$tmp/out" && ok || { bad "b.grad not ok"; cat "$tmp/out"; }
grep -q '^c\.grad .*ok$' "$tmp/out" && ok || { bad "c.grad not ok"; cat "$tmp/out"; }
contains "2 passed, 1 failed"
expect 0 $agc run specs/custom_wrong.yaml   # it compiles and runs: only wrong
expect 0 $agc info specs/autograd.yaml; contains "x.grad"
expect 0 $agc graph specs/autograd.yaml; contains "digraph autograd"

# the backward graph as torch's grad_fn chain: the seed lecture's figure
expect 0 $agc graph specs/autograd.yaml --backward
contains "digraph autograd_backward"
for f in MeanBackward0 MulBackward0 PowBackward0 SubBackward0 AccumulateGrad; do
    contains "$f"
done
contains 'label="AccumulateGrad\nx [2, 2]"'
# a.grad_fn -> MeanBackward0 -> MulBackward0 -> PowBackward0 -> SubBackward0 -> x
chain=$(sed -n 's/.*label="\([A-Z][A-Za-z0-9]*\).*/\1/p' "$tmp/out" | tr '\n' ' ')
[ "$chain" = "MeanBackward0 MulBackward0 PowBackward0 SubBackward0 AccumulateGrad " ] && ok ||
    bad "backward chain is '$chain'"
expect 0 $agc graph specs/custom_split.yaml --backward
contains "my_addBackward"; contains "my_copyBackward"
expect 0 $agc graph specs/loop.yaml --backward
contains 'label="LoopBackward\ny: v = v * 2, per iteration"'; contains "MulBackward0"
printf 'inputs:\n  x: {shape: [2], requires_grad: true}\ngraph:\n  y: x * 2\n' >"$tmp/fwd.yaml"
expect 1 $agc graph "$tmp/fwd.yaml" --backward; contains "nothing to draw: the spec has no backward"
expect 1 $agc graph specs/fail/no_grad.yaml --backward

# --unroll: the convolution's window rows written out, or looped
mkdir "$tmp/unroll"
expect 0 $agc compile specs/conv2d_seed.yaml -o "$tmp/unroll"
grep -q 'agc_conv[0-9]*_row(acc, xr + 256, wr + 160);' "$tmp/unroll/conv2d_seed.c" &&
    ok || bad "the default limit does not write out the 3 x 5 window"
expect 0 $agc compile specs/conv2d_seed.yaml -o "$tmp/unroll" --unroll 5
grep -q 'for (long kh = 0; kh < 3; kh++)' "$tmp/unroll/conv2d_seed.c" &&
    ok || bad "--unroll 5 does not loop over the window rows"
expect 0 $agc run specs/conv2d_seed.yaml --unroll 1; contains "loss = tensor("
expect 1 $agc compile specs/conv2d_seed.yaml --unroll 0
contains "--unroll wants a number of taps from 1 to 1048576, not '0'"
expect 1 $agc run specs/conv2d_seed.yaml --unroll x; contains "--unroll wants"
expect 0 $agc info specs/conv2d_seed.yaml; contains "FLOPs: forward 74050817, backward 73804800"

# agc info prints the shapes the seed lecture prints
expect 0 $agc info specs/seed_conv1d.yaml
contains "conv.weight              input      [16, 2, 3]"
contains "conv.bias                input      [16]"
contains "conv                     output     [1, 16, 62]"
expect 0 $agc info specs/seed_conv1d_k5.yaml
contains "conv                     output     [1, 16, 60]"
expect 0 $agc info specs/seed_conv2d.yaml
contains "conv.weight              input      [16, 20, 3, 5]"
contains "conv                     output     [1, 16, 62, 124]"
expect 0 $agc info specs/seed_conv2d_pad.yaml
contains "conv                     output     [1, 16, 64, 128]"

echo "cli: $pass passed, $failn failed"
[ "$failn" = 0 ]

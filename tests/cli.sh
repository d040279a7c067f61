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
expect 1 $agc compile specs/autograd.yaml -o "$tmp/missing/dir"
contains "cannot write into"

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

# named dimensions: -D overrides dims (section 10)
expect 0 $agc info specs/cnn1d.yaml -D B=1
contains "x                        input      [1, 2, 64]"
expect 0 $agc info specs/cnn1d.yaml -DB=2
contains "target_logits            input      [2, 10]"
expect 1 $agc info specs/cnn1d.yaml -D C=3
contains "-D C: the spec has no dimension 'C' (its dims are: B)"
expect 1 $agc info specs/cnn1d.yaml -D B=0
contains "-D wants NAME=N with N a positive integer, not 'B=0'"
expect 1 $agc info specs/cnn1d.yaml -D B=two
contains "-D wants NAME=N with N a positive integer, not 'B=two'"
expect 1 $agc info specs/autograd.yaml -D B=1
contains "-D B: the spec has no dimension 'B' (it has no 'dims')"

# --infer: NAME_infer alone, no backward, no gradients
mkdir "$tmp/inf"
expect 0 $agc compile specs/cnn1d.yaml --infer -D B=1 -o "$tmp/inf"
grep -q 'int cnn1d_infer(cnn1d_t \*m);' "$tmp/inf/cnn1d.h" && ok || bad "--infer: no cnn1d_infer"
grep -q 'cnn1d_backward\|_grad\[' "$tmp/inf/cnn1d.h" && bad "--infer: backward or gradients in the header" || ok
expect 0 $agc info specs/cnn1d.yaml --infer; contains "gradients 0,"
# agc info's struct size is sizeof(NAME_t): every member, the inputs too,
# and the padding before an int64_t loop count (issue 13, item 3)
for n in autograd loop seed_conv2d; do
    mkdir -p "$tmp/sz_$n"
    $agc compile specs/$n.yaml -o "$tmp/sz_$n" >/dev/null 2>&1
    printf '#include <stdio.h>\n#include "%s.h"\nint main(void) { printf("memory: %%zu bytes in struct %s_t,", sizeof(%s_t)); return 0; }\n' \
        $n $n $n > "$tmp/sz_$n/main.c"
    cc -I"$tmp/sz_$n" -o "$tmp/sz_$n/main" "$tmp/sz_$n/main.c" &&
        size=$("$tmp/sz_$n/main") || size="sizeof failed"
    expect 0 $agc info specs/$n.yaml; contains "$size"
done
mkdir "$tmp/big"
expect 1 $agc compile tests/errors/struct_over_2GiB_inputs.yaml -o "$tmp/big"
contains "struct would hold 3221225472 bytes"
[ -z "$(ls -A "$tmp/big")" ] && ok || bad "failed compile left files"

# output grows linearly: comments quote a bounded excerpt of the spec line,
# so a product of 2000 factors gives well under 1 KB of C per factor
# (issue 13, item 5: it was quadratic, 25 MB here)
mkdir "$tmp/chain"
{ printf 'name: chain\ninputs:\n  x: {shape: [2], value: 1, requires_grad: true}\n'
  printf 'graph:\n  y: sum(x'; i=1; while [ $i -lt 2000 ]; do printf '*x'; i=$((i + 1)); done
  printf ')\nbackward: y\n'; } > "$tmp/chain.yaml"
expect 0 $agc compile "$tmp/chain.yaml" -o "$tmp/chain"
size=$(cat "$tmp/chain/chain.c" "$tmp/chain/chain.h" | wc -c)
[ "$size" -lt 2000000 ] && ok || bad "a 2000-factor product gave $size bytes of C"
grep -q '^    /\* y = sum(x \* x .*\.\.\.  \[' "$tmp/chain/chain.c" && ok || bad "no bounded excerpt in comments"

# --weights: parameters from a checkpoint become static const arrays
w=tests/golden/npz/cnn1d_weights.npz
mkdir "$tmp/baked"
expect 0 $agc compile specs/cnn1d.yaml --infer --weights $w -D B=1 -o "$tmp/baked"
grep -q '^static const float cnn1d_conv1_weight\[96\]' "$tmp/baked/cnn1d.c" && ok || bad "--weights: no static const cnn1d_conv1_weight"
grep -q 'conv1_weight\[' "$tmp/baked/cnn1d.h" && bad "--weights: the parameter is still in the struct" || ok
expect 1 $agc compile specs/cnn1d.yaml --weights $w -o "$tmp/empty"
contains "--weights goes with --infer"
expect 1 $agc compile specs/seed_conv1d.yaml --infer --weights $w -o "$tmp/empty"
contains "--weights: $w: missing member 'conv.weight'"
expect 1 $agc compile specs/cnn1d.yaml --infer --weights "$tmp/none.npz" -o "$tmp/empty"
contains "--weights: $tmp/none.npz: cannot open"
[ -z "$(ls "$tmp/empty")" ] && ok || bad "a failed --weights compile wrote files"

# int64 tensors: class indices read as <i8, argmax printed and written as
# int64, and a target out of range a run-time error (exit 1, no file)
d=tests/golden/ops/accuracy
mkdir "$tmp/acc"
expect 0 $agc run $d/spec.yaml --set x=$d/x.npy --set w=$d/w.npy --set y=$d/y.npy --out "$tmp/acc"
contains "pred = tensor(["; contains "acc = tensor("
grep -q "'descr': '<i8'" "$tmp/acc/pred.npy" && ok || bad "argmax not written as <i8"
expect 1 $agc run $d/spec.yaml --set x=$d/x.npy --set w=$d/w.npy --set y=$d/x.npy
contains "error:"
cat > "$tmp/target.yaml" <<'EOF'
inputs:
  x: {shape: [3, 4], requires_grad: true, init: {uniform: [-1, 1]}}
  y: {shape: [3], dtype: int64, value: [1, 7, 0]}
graph:
  loss: cross_entropy(x, y)
backward: loss
EOF
mkdir "$tmp/target"
expect 1 $agc run "$tmp/target.yaml" --out "$tmp/target"
contains "target.yaml:5:9: error: forward failed: Target 7 is out of bounds: class indices must be in [0, 4)"
[ -z "$(ls -A "$tmp/target")" ] && ok || bad "failed target run left files"
sed 's/value: \[1, 7, 0\]/value: [1, -1, 0]/' "$tmp/target.yaml" > "$tmp/neg.yaml"
expect 1 $agc run "$tmp/neg.yaml"; contains "Target -1 is out of bounds"
sed 's/value: \[1, 7, 0\]/value: [1, 3, 0]/' "$tmp/target.yaml" > "$tmp/inb.yaml"
expect 0 $agc run "$tmp/inb.yaml"; contains "x.grad = tensor("
sed 's/loss: cross_entropy(x, y)/loss: sum(one_hot(y, 4) * x)/' "$tmp/target.yaml" > "$tmp/oh.yaml"
expect 1 $agc run "$tmp/oh.yaml"; contains "Target 7 is out of bounds"

echo "cli: $pass passed, $failn failed"
[ "$failn" = 0 ]

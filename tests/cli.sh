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

# --unroll: the convolution's window rows written out, or looped (in a
# layer small enough for the tiles; larger ones loop over the taps)
mkdir "$tmp/unroll"
small=tests/golden/conv/c2d_seed_small/spec.yaml
expect 0 $agc compile $small -o "$tmp/unroll"
grep -q 'agc_conv[0-9]*_row(acc, xr + 28, wr + 160);' "$tmp/unroll/c2d_seed_small.c" &&
    ok || bad "the default limit does not write out the 3 x 5 window"
expect 0 $agc compile $small -o "$tmp/unroll" --unroll 5
grep -q 'for (long kh = 0; kh < 3; kh++)' "$tmp/unroll/c2d_seed_small.c" &&
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
expect 1 env XDG_CACHE_HOME="$tmp/cache_target" $agc run "$tmp/target.yaml" --backend cc
contains "target.yaml:5:9: error: forward failed: Target 7 is out of bounds"

# --backend cc: the system compiler's shared object, cached in a private
# directory; the same values as tcc, a second run loads the cached object
# without compiling, and a damaged or foreign object is rebuilt
cache="$tmp/cache"
cc_run() { env XDG_CACHE_HOME="$cache" "$@"; }
for s in specs/autograd.yaml specs/conv2d_seed.yaml specs/loop.yaml; do
    $agc run $s >"$tmp/tcc.txt" 2>&1
    expect 0 cc_run $agc run $s --backend cc
    cmp -s "$tmp/tcc.txt" "$tmp/out" && ok || bad "--backend cc prints other values than tcc for $s"
done
$agc check specs/loop.yaml >"$tmp/tcc.txt" 2>&1
expect 0 cc_run $agc check specs/loop.yaml --backend cc; contains "0 failed"
cmp -s "$tmp/tcc.txt" "$tmp/out" && ok || bad "check --backend cc differs from tcc"
[ "$(stat -c %a "$cache/agc")" = 700 ] && ok || bad "cache directory mode $(stat -c %a "$cache/agc")"
obj=$(ls "$cache"/agc/conv2d_seed-*.so)
[ -f "$obj" ] && ok || bad "no cached object for conv2d_seed"
$agc run specs/conv2d_seed.yaml >"$tmp/tcc.txt" 2>&1
was=$(stat -c '%i %Y %s' "$obj")
expect 0 cc_run $agc run specs/conv2d_seed.yaml --backend cc
[ "$(stat -c '%i %Y %s' "$obj")" = "$was" ] && ok || bad "the cached object was rebuilt"
truncate -s 4096 "$obj"
expect 0 cc_run $agc run specs/conv2d_seed.yaml --backend cc
cmp -s "$tmp/tcc.txt" "$tmp/out" && ok || bad "wrong values after truncating the cached object"
[ "$(stat -c %s "$obj")" = "${was##* }" ] && ok || bad "the truncated object was not rebuilt"
cp "$(ls "$cache"/agc/autograd-*.so)" "$obj"
expect 0 cc_run $agc run specs/conv2d_seed.yaml --backend cc
cmp -s "$tmp/tcc.txt" "$tmp/out" && ok || bad "wrong values after a foreign cached object"
[ -z "$(ls -A "$cache/agc" | grep build)" ] && ok || bad "build directories left in the cache"
expect 1 cc_run env CC=/nonexistent $agc run specs/autograd.yaml --backend cc
contains "agc: error: --backend cc: cannot run '/nonexistent': No such file or directory"
expect 1 cc_run env CC=false $agc check specs/autograd.yaml --backend cc
contains "agc: error: internal error: --backend cc: 'false' failed (exit status 1)"
chmod 770 "$cache/agc"
expect 1 cc_run $agc run specs/autograd.yaml --backend cc
contains "others may write to the cache directory"
chmod 700 "$cache/agc"
expect 0 env -u HOME -u XDG_CACHE_HOME $agc run specs/autograd.yaml --backend cc
contains "a = tensor(4.5000)"
expect 1 $agc run specs/autograd.yaml --backend gcc; contains "--backend wants tcc or cc, not 'gcc'"

# ---- the command line as GNU tools have it (section 13) ----
agc_abs=$(cd "$(dirname "$agc")" && pwd)/$(basename "$agc")
A=specs/autograd.yaml
# every option before or after SPEC, --opt=value, -oDIR, --, - for stdin
mkdir "$tmp/o1" "$tmp/o2" "$tmp/o3"
expect 0 $agc run --out "$tmp/o1" $A; contains "a = tensor(4.5000)"
[ -f "$tmp/o1/a.npy" ] && ok || bad "run --out DIR SPEC wrote nothing"
expect 0 $agc run $A --out="$tmp/o2"
[ -f "$tmp/o2/x.grad.npy" ] && ok || bad "--out=DIR wrote nothing"
expect 0 $agc run --out="$tmp/o3" -- $A
[ -f "$tmp/o3/a.npy" ] && ok || bad "-- SPEC after --out=DIR wrote nothing"
expect 0 $agc graph --backward $A; contains "digraph autograd_backward"
expect 0 $agc graph --backw $A; contains "digraph autograd_backward"
expect 0 $agc compile -o "$tmp/c1" $A
expect 0 $agc compile -o"$tmp/c2" $A
expect 0 $agc compile $A -o "$tmp/c3"
expect 0 $agc compile --unroll=8 $A -o "$tmp/c4" -q
cmp -s "$tmp/c1/autograd.c" "$tmp/c2/autograd.c" && cmp -s "$tmp/c1/autograd.c" "$tmp/c4/autograd.c" &&
    ok || bad "-o DIR, -oDIR and options after SPEC differ"
d=tests/golden/ops/seed_vjp
expect 0 $agc run --grad=y=$d/y.seed.npy --set x=$d/x.npy $d/spec.yaml --unroll 4
expect 0 $agc check --set=x="$tmp/f64/x2.npy" $d/spec.yaml --set y.grad="$tmp/f64/x2.npy"
contains "1 passed, 0 failed"
expect 0 $agc run --backend tcc $A; contains "a = tensor(4.5000)"
expect 0 $agc check $A --backend=tcc; contains "1 passed, 0 failed"
expect 1 $agc run $A --backend gcc; contains "--backend wants tcc or cc, not 'gcc'"
expect 1 $agc compile $A --backend tcc; contains "agc compile takes no option --backend"
cp $A "$tmp/-dash.yaml"
(cd "$tmp" && "$agc_abs" info -- -dash.yaml) >"$tmp/out" 2>&1 && ok || bad "-- does not end the options"
contains "autograd: float32"
(cd "$tmp" && "$agc_abs" info -dash.yaml) >"$tmp/out" 2>&1 && bad "-dash.yaml taken as SPEC" || ok
contains "unknown option '-d' in '-dash.yaml'"
# SPEC - reads standard input; positions say <stdin>
$agc run - < $A >"$tmp/out" 2>&1 && ok || bad "agc run - < SPEC failed"
contains "a = tensor(4.5000)"
printf 'name: s\ngraph:\n  y: exp(q)\n' | $agc run - >"$tmp/out" 2>&1 && bad "bad stdin spec ran" || ok
contains "<stdin>:3:10: error: undefined name 'q'"
: >"$tmp/emptyin"
$agc info - <"$tmp/emptyin" >"$tmp/out" 2>&1 && bad "empty stdin accepted" || ok
contains "<stdin>:1:1: error: standard input is empty"
sed '/^name:/d' $A | $agc info - >"$tmp/out" 2>&1 && bad "stdin without name: accepted" || ok
contains "a spec read from standard input needs 'name:'"
if command -v script >/dev/null 2>&1; then
    script -qec "$agc_abs info -" "$tmp/typescript" <"$tmp/emptyin" >"$tmp/out" 2>&1
    contains "reads standard input, which is a terminal"
fi
# every option of every command before and after SPEC, and as --opt=value
# (-oVALUE): the same output each way, as GNU getopt_long permutes
perm() {   # perm CMD SPEC "FIXED ARGS" OPT [VALUE]
    c=$1 s=$2 f=$3 o=$4 v=$5
    if [ -n "$v" ]; then
        $agc $c $f $o "$v" $s >"$tmp/p1" 2>&1; r1=$?
        $agc $c $s $o "$v" $f >"$tmp/p2" 2>&1; r2=$?
        case $o in --*) $agc $c $s $f "$o=$v" >"$tmp/p3" 2>&1; r3=$? ;;
                   *) $agc $c $s $f "$o$v" >"$tmp/p3" 2>&1; r3=$? ;; esac
    else
        $agc $c $f $o $s >"$tmp/p1" 2>&1; r1=$?
        $agc $c $s $o $f >"$tmp/p2" 2>&1; r2=$?
        $agc $c $f $o -- $s >"$tmp/p3" 2>&1; r3=$?
    fi
    if [ $r1 = 0 ] && [ $r2 = 0 ] && [ $r3 = 0 ] && cmp -s "$tmp/p1" "$tmp/p2" &&
       cmp -s "$tmp/p1" "$tmp/p3"; then ok; else
        bad "agc $c $o $v: not the same before and after SPEC"; cat "$tmp/p1" "$tmp/p2" "$tmp/p3"; fi
}
seeds="--set x=$d/x.npy --grad y=$d/y.seed.npy"
perm compile $A "-o $tmp/perm" --unroll 7
perm compile specs/cnn1d.yaml "-o $tmp/perm" -D B=2
perm compile $A "-o $tmp/perm" --infer
perm info specs/cnn1d.yaml "" -D B=3
perm compile $A "-o $tmp/perm" -q
perm run $A "" --out "$tmp/perm2"
perm run $A "" --unroll 3
perm run $A "" --backend tcc
perm run $A "" --quiet
perm run $A "" -q
perm run $d/spec.yaml "--grad y=$d/y.seed.npy" --set x=$d/x.npy
perm run $d/spec.yaml "--set x=$d/x.npy" --grad y=$d/y.seed.npy
perm check $d/spec.yaml "--set x=$tmp/f64/x2.npy" --set y.grad="$tmp/f64/x2.npy"
perm check $A "" --backend tcc
perm check $A "" --quiet
perm info $A "" --quiet
perm info $A "" -q
perm graph $A "" --backward
perm graph $A "" --ir
perm graph $A "" -q
# agc CMD --help is agc help CMD, wherever --help stands
for c in compile run check info graph; do
    $agc help $c >"$tmp/h1"
    for form in "$c --help" "$c -h" "$c $A --help" "$c --quiet --help $A"; do
        $agc $form >"$tmp/h2" 2>&1 && cmp -s "$tmp/h1" "$tmp/h2" && ok ||
            bad "agc $form is not agc help $c"
    done
done
# every option of the table is listed in the help of the commands that take it
$agc help compile >"$tmp/out"; contains "--unroll N"; contains "-o DIR"
$agc help run >"$tmp/out"; for o in --set --grad --out --unroll --backend --quiet --verbose; do contains "$o"; done
$agc help graph >"$tmp/out"; for o in --backward --ir; do contains "$o"; done
# bad options: named, with a suggestion; missing values; numbers
expect 1 $agc run $A --sett x=y; contains "agc: error: unknown option '--sett'; did you mean '--set'?"
expect 1 $agc run $A --frobnicate; contains "unknown option '--frobnicate'"
expect 1 $agc compil $A; contains "unknown command 'compil'; did you mean 'compile'?"
expect 1 $agc help gaph; contains "no command 'gaph'; did you mean 'graph'?"
expect 1 $agc run $A --out; contains "option --out needs a value: --out DIR"
expect 1 $agc compile $A -o; contains "option -o needs a value: -o DIR"
expect 1 $agc run $A --set; contains "option --set needs a value"
expect 1 $agc run $A --set x; contains "--set wants NAME=FILE.npy, not 'x'"
expect 1 $agc compile $A --unroll=2x; contains "--unroll wants a number of taps from 1 to 1048576, not '2x'"
expect 1 $agc compile $A --unroll ''; contains "--unroll wants a number"
expect 1 $agc compile $A -o ''; contains "-o wants a directory, not ''"
expect 1 $agc run $A --out=; contains "--out wants a directory, not ''"
expect 1 $agc graph $A --backward=yes; contains "option --backward takes no value"
expect 1 $agc graph $A --backward --ir; contains "exclude each other"
expect 1 $agc compile $A --out "$tmp/x"; contains "agc compile takes no option --out (see 'agc help compile')"
expect 1 $agc run $A $A; contains "unexpected argument"
expect 1 $agc run -q; contains "no spec file given"
expect 0 $agc run --version $A; contains "agc 0.1.0"
expect 1 $agc run $d/spec.yaml --set y=$d/x.npy; contains "has no input 'y'"
expect 1 $agc run $d/spec.yaml --set xx=$d/x.npy; contains "has no input 'xx'; did you mean 'x'?"
expect 1 $agc run $A --grad y=$d/x.npy --grad y=$d/x.npy; contains "--grad is given twice"
# -q, -v: no progress line when stderr is not a terminal; -v times each phase
$agc run $A 2>"$tmp/err" >"$tmp/out"; [ ! -s "$tmp/err" ] && ok || bad "stderr not empty: $(cat "$tmp/err")"
expect 0 $agc run -v $A; contains "agc: compiling: "; contains "agc: JIT-compiling: "; contains "agc: running: "
expect 0 $agc check -qv $A; contains "agc: checking gradients: "
cat > "$tmp/slow.yaml" <<'YAML'
name: slow
dtype: float64
inputs:
  x: {shape: [1], value: [0]}
graph:
  y:
    loop: {init: x, as: v, while: sum(v) < 150000000, body: v + 1, max_iter: 2000000000}
YAML
if command -v script >/dev/null 2>&1; then
    t0=$(date +%s)
    script -qec "$agc_abs run $tmp/slow.yaml" "$tmp/typescript" >"$tmp/out" 2>&1
    t1=$(date +%s)
    contains "y = tensor([1.5000e+08], dtype=torch.float64)"
    if [ $((t1 - t0)) -ge 3 ]; then contains "agc: running... 1 s"; fi
    script -qec "$agc_abs run -q $tmp/slow.yaml" "$tmp/typescript" >"$tmp/out" 2>&1
    grep -q "running\.\.\." "$tmp/out" && bad "-q shows a progress line" || ok
fi

# outputs: created directories; byte-identical for absolute and relative
# SPEC; unchanged files keep their mtime; the spec named relative to DIR
expect 0 $agc compile specs/cnn1d.yaml -o "$tmp/rel"
expect 0 $agc compile "$(pwd)/specs/cnn1d.yaml" -o "$tmp/abs"
(cd / && "$agc_abs" compile "$OLDPWD/specs/cnn1d.yaml" -o "$tmp/root") >/dev/null 2>&1
cmp -s "$tmp/rel/cnn1d.c" "$tmp/abs/cnn1d.c" && cmp -s "$tmp/rel/cnn1d.c" "$tmp/root/cnn1d.c" &&
    cmp -s "$tmp/rel/cnn1d.h" "$tmp/abs/cnn1d.h" && ok || bad "output depends on how SPEC is given"
grep -q "$tmp" "$tmp/rel/cnn1d.c" && bad "the .c names the temp dir" || ok
mkdir -p "$tmp/proj/gen" "$tmp/proj/specs"; cp $A "$tmp/proj/specs/"
(cd "$tmp/proj" && "$agc_abs" compile specs/autograd.yaml -o gen) && ok || bad "compile in proj failed"
grep -q "from ../specs/autograd.yaml; do not edit" "$tmp/proj/gen/autograd.c" && ok || bad "the spec is not named relative to DIR"
touch -d '2001-01-01 00:00' "$tmp/rel/cnn1d.c" "$tmp/rel/cnn1d.h"
before=$(ls -l --time-style=+%s "$tmp/rel")
expect 0 $agc compile specs/cnn1d.yaml -o "$tmp/rel"
[ "$before" = "$(ls -l --time-style=+%s "$tmp/rel")" ] && ok || bad "an unchanged compile rewrote files"
expect 0 $agc run $A --out "$tmp/o1"
touch -d '2001-01-01 00:00' "$tmp/o1/a.npy"
expect 0 $agc run $A --out "$tmp/o1"
[ "$(date -r "$tmp/o1/a.npy" +%Y)" = 2001 ] && ok || bad "an unchanged .npy was rewritten"
expect 0 $agc run $A --out "$tmp/new/deep/dir"
[ -f "$tmp/new/deep/dir/a.npy" ] && ok || bad "--out did not create its directory"
# --out: checked before the run, naming the directory
echo file > "$tmp/afile"
expect 1 $agc run $A --out "$tmp/afile"; contains "--out $tmp/afile: '$tmp/afile' is not a directory"
grep -q "tensor" "$tmp/out" && bad "--out to a file ran the spec" || ok
expect 1 $agc run $A --out "$tmp/afile/sub"; contains "'$tmp/afile' is not a directory"
expect 1 $agc compile $A -o "$tmp/afile"; contains "-o $tmp/afile: '$tmp/afile' is not a directory"
if [ "$(id -u)" != 0 ]; then
    mkdir "$tmp/ro"; chmod 555 "$tmp/ro"
    expect 1 $agc run $A --out "$tmp/ro/x"; contains "cannot write into '$tmp/ro'"
    grep -q "\.part\|\.tmp" "$tmp/out" && bad "the message names a temp file" || ok
fi
# issue 13, item 4: a target that cannot be replaced fails before any file
# is written, and old files stay as they were
mkdir -p "$tmp/oc/autograd.c"
expect 1 $agc compile $A -o "$tmp/oc"; contains "is a directory"
[ "$(ls -A "$tmp/oc")" = "autograd.c" ] && ok || bad "failed compile left: $(ls -A "$tmp/oc")"
mkdir -p "$tmp/op/x.grad.npy"; echo old > "$tmp/op/a.npy"
expect 1 $agc run $A --out "$tmp/op"; contains "'$tmp/op/x.grad.npy' is a directory"
[ "$(cat "$tmp/op/a.npy")" = old ] && ok || bad "failed run changed a.npy"
[ "$(ls -A "$tmp/op" | tr '\n' ' ')" = "a.npy x.grad.npy " ] && ok || bad "failed run left: $(ls -A "$tmp/op")"
# issue 13, item 8: no FIFO, device or huge spec
expect 1 $agc compile /dev/zero; contains "/dev/zero:1:1: error: cannot read file: not a regular file"
mkfifo "$tmp/fifo"
expect 1 $agc info "$tmp/fifo"; contains "not a regular file"
expect 1 $agc run $d/spec.yaml --set x="$tmp/fifo"; contains "'$tmp/fifo' is not a regular file"
expect 1 $agc run $d/spec.yaml --grad y="$tmp/fifo"; contains "'$tmp/fifo' is not a regular file"
expect 1 $agc run $d/spec.yaml --set x=/dev/zero; contains "not a regular file"
head -c 17000000 /dev/zero | tr '\0' '#' > "$tmp/big.yaml"
expect 1 $agc info "$tmp/big.yaml"; contains "the spec is larger than the limit of 16777216 bytes (16 MiB)"
$agc info - < /dev/zero >"$tmp/out" 2>&1; contains "<stdin>:1:1: error: the spec is larger than the limit"

# issue 13, item 11: nothing leaks on error returns (the --set list was)
if command -v valgrind >/dev/null 2>&1 && ! grep -q __asan_init "$agc_abs"; then
    for args in "run $A --set nope=x.npy" "run $A --set x" "compile $A -o $tmp/afile"; do
        valgrind --leak-check=full $agc $args >"$tmp/out" 2>&1
        contains "in use at exit: 0 bytes in 0 blocks"
    done
fi

# agc graph: the spec's boxes by name, layers by name and kind; no dead
# nodes in either graph
expect 0 $agc graph specs/cnn1d.yaml
contains 'label="conv1\nconv1d [4, 16, 62]"'; contains 'label="maxpool1d4\nmaxpool1d [4, 8, 15]"'
contains 'label="fc\nlinear [4, 10]"'; contains 'label="target\n[4, 10]"'
grep -q reshape "$tmp/out" && bad "the spec graph draws IR reshapes" || ok
nodes_ok() {   # every box has an arrow, and reaches an output ellipse
    awk '/\[label=/ { n[$1] = 1 } / -> / { e[$1] = 1; e[$3] = 1; sub(";", "", $3); e[$3] = 1 }
         END { for (k in n) if (!(k in e)) { print "isolated " k; bad = 1 } exit bad }' "$tmp/out"
}
for s in specs/*.yaml; do
    for mode in "" --ir; do
        $agc graph $mode $s >"$tmp/out" 2>&1 && nodes_ok && ok || bad "agc graph $mode $s has dead nodes"
    done
done
expect 0 $agc graph --ir specs/cnn1d.yaml; contains "conv1.weight"; contains 'label="reshape'

# agc train: mini-batches of --data arrays through NAME_train_step, a line
# per epoch, --val in eval mode, --save and --load checkpoints
mkdir "$tmp/tr"
cat > "$tmp/tr/mkdata.yaml" <<'EOF'
name: mkdata
inputs:
  a: {shape: [40, 3], init: {uniform: [-1, 1]}}
  w: {shape: [3, 2], init: {uniform: [-1, 1]}}
graph:
  xs: a + 0.5
  ys: a @ w
outputs: [xs, ys]
EOF
cat > "$tmp/tr/fit.yaml" <<'EOF'
name: fit
dims: {B: 4}
inputs:
  x: {shape: [B, 3]}
  y: {shape: [B, 2]}
model:
  input: x
  layers:
    - linear: {name: fc, in_features: 3, out_features: 2}
graph:
  loss: mse_loss(fc, y)
outputs: [loss]
backward: loss
optimizer:
  adam: {lr: 0.05}
EOF
expect 0 $agc run "$tmp/tr/mkdata.yaml" --out "$tmp/tr/data"
D="--data x=$tmp/tr/data/xs.npy --data y=$tmp/tr/data/ys.npy"
expect 0 $agc train "$tmp/tr/fit.yaml" $D --epochs 3 --shuffle 7 --backend tcc \
    --val x="$tmp/tr/data/xs.npy" --val y="$tmp/tr/data/ys.npy" --save "$tmp/tr/ck.npz"
contains "epoch 3: loss "; contains " val_loss "
[ -f "$tmp/tr/ck.npz" ] && ok || bad "train --save wrote no checkpoint"
l1=$(sed -n 's/^epoch 3: loss \([0-9.]*\).*/\1/p' "$tmp/out")
expect 0 $agc train "$tmp/tr/fit.yaml" $D --epochs 3 --shuffle 7 --backend tcc
[ "$(sed -n 's/^epoch 3: loss \([0-9.]*\).*/\1/p' "$tmp/out")" = "$l1" ] && ok || bad "train --shuffle is not repeatable"
expect 0 $agc train "$tmp/tr/fit.yaml" $D --load "$tmp/tr/ck.npz" --backend tcc
l4=$(sed -n 's/^epoch 1: loss \([0-9.]*\).*/\1/p' "$tmp/out")
awk -v a="$l4" -v b="$l1" 'BEGIN { exit !(a < b) }' && ok || bad "train --load did not continue ($l4 after $l1)"
expect 0 $agc run "$tmp/tr/fit.yaml" --load "$tmp/tr/ck.npz" --eval \
    --set x="$tmp/tr/data/xs.npy" --set y="$tmp/tr/data/ys.npy" -D B=40
contains "loss = tensor("
grep -q 'fc.weight.grad' "$tmp/out" && bad "run --eval printed gradients" || ok
expect 1 $agc train "$tmp/tr/fit.yaml" --epochs 1; contains "train needs --data"
expect 1 $agc train "$tmp/tr/fit.yaml" --data x="$tmp/tr/data/xs.npy" --data y="$tmp/tr/data/xs.npy"
contains "expected an array of <f4 samples of shape (2,) each, found <f4 (40, 3)"
expect 1 $agc train "$tmp/tr/fit.yaml" $D -D B=64; contains "40 samples, fewer than one batch of 64"
expect 1 $agc train "$tmp/tr/fit.yaml" $D --data q="$tmp/tr/data/xs.npy"; contains "the spec has no data input 'q'"
expect 1 $agc train "$tmp/tr/mkdata.yaml" --data a="$tmp/tr/data/xs.npy"; contains "agc train needs an optimizer"
expect 1 $agc train "$tmp/tr/fit.yaml" $D --epochs 0; contains "--epochs wants a number of epochs from 1"
expect 1 $agc train "$tmp/tr/fit.yaml" $D --save /nonexistent/ck.npz; contains "cannot write into '/nonexistent'"
expect 1 $agc run "$tmp/tr/fit.yaml" --load "$tmp/tr/data/xs.npy" --set x="$tmp/tr/data/xs.npy"
contains "--load: "
head -c 200 "$tmp/tr/ck.npz" > "$tmp/tr/cut.npz"
expect 1 $agc train "$tmp/tr/fit.yaml" $D --load "$tmp/tr/cut.npz"; contains "--load: $tmp/tr/cut.npz"

# a loop body reading a capture's transpose through cat (found by
# difftest; issue 13 defect 1): PyTorch's values
expect 0 $agc run tests/fuzz/findings/loop_capture_transpose_cat.yaml
contains "s = tensor(3.0750)"; contains "d.grad = tensor([[5.]])"

# NAME_infer fuses pow(x, 2) where forward stores it for backward: the
# helper it calls is emitted too (found by difftest)
printf 'name: infer_helper\ndtype: float64\ninputs:\n  b: {shape: [4, 3], requires_grad: true, init: {uniform: [-1.5, 1.5]}}\ngraph:\n  n1: sqrt(sigmoid(abs(b) ^ 2) + 0.2)\n  loss: sum(n1 * n1)\nbackward: loss\noutputs: [n1, loss]\n' > "$tmp/infer_helper.yaml"
expect 0 $agc run "$tmp/infer_helper.yaml"; contains "loss = tensor("

# agc train with a label out of range stops with PyTorch's message
cat > "$tmp/tr/cls.yaml" <<'EOF'
name: cls
dims: {B: 4}
inputs:
  x: {shape: [B, 3]}
  y: {shape: [B], dtype: int64}
model:
  input: x
  layers:
    - linear: {name: fc, in_features: 3, out_features: 2}
graph:
  loss: cross_entropy(fc, y)
outputs: [loss]
backward: loss
optimizer:
  sgd: {lr: 0.1}
EOF
cat > "$tmp/tr/mklabels.yaml" <<'EOF'
name: mklabels
inputs:
  r: {shape: [40], dtype: int64, value: 2}
graph:
  labels: argmax(one_hot(r, 3), dim=1)
outputs: [labels]
EOF
expect 0 $agc run "$tmp/tr/mklabels.yaml" --out "$tmp/tr/lab"
expect 1 $agc train "$tmp/tr/cls.yaml" --data x="$tmp/tr/data/xs.npy" --data y="$tmp/tr/lab/labels.npy" --backend tcc
contains "training stopped: Target 2 is out of bounds: class indices must be in [0, 2)"

echo "cli: $pass passed, $failn failed"
[ "$failn" = 0 ]

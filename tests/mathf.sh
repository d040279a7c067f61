#!/bin/sh
# agc's float32 exp, log, max and min against libm and plain loops
# (mathf.c says how), with the C built as make bench builds it
# (vectorised) and at -O0 (scalar).
set -eu
agc=${1:-./agc}
cc=${CC:-cc}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
"$agc" compile tests/mathf.yaml -o "$t"
for flags in "-O3 -march=native" "-O0"; do
    $cc -std=c99 $flags -I"$t" -o "$t/mathf" tests/mathf.c "$t/mathf.c" -lm
    printf '%s: ' "$flags"
    "$t/mathf"
done

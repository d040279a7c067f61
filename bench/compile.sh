#!/bin/sh
# bench/compile.sh: compile time of a stack of identical layers, which
# should grow with the distinct layer shapes, not with the layers
# (section 14 of the contract, issue 8).  For each layer count of
# BENCH_STACKS (default 64 512), the spec of bench/stack.sh (Conv2d(16, 16,
# 3, padding=1) + ReLU layers, forward, backward and infer):
#
#   source     bytes of the .c agc compile writes, and its static functions
#   agc        wall time of agc compile (median of 5)
#   gcc        CPU time (user + system: steadier than the wall time on a
#              shared machine) of $BENCH_CC -O2 -c on that .c (median of 3;
#              once for more than 64 layers) and its maximum resident set
#              (GNU time; without /usr/bin/time, the wall time and no RSS)
#
# run.sh calls it at the end; it can run alone after `make agc`.  Prints a
# markdown table; raw lines go to bench/build/compile.txt.  Never fails.
set -u
cd "$(dirname "$0")/.." || exit 0
B=bench/build
AGC=${AGC:-./agc}
CC=${BENCH_CC:-gcc}
OUT=$B/compile.txt
mkdir -p $B/stack || exit 0
: > $OUT
[ -x "$AGC" ] || { echo "fail stack agc is not built (make agc)" | tee -a $OUT; exit 0; }
$CC -std=c99 -D_POSIX_C_SOURCE=200809L -O2 -o $B/walltime bench/walltime.c \
    2> /dev/null || rm -f $B/walltime

# the median of the numbers on stdin
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for n in ${BENCH_STACKS:-64 512}; do
    spec=$B/stack/stack$n.yaml
    sh bench/stack.sh $n > $spec
    if ! "$AGC" compile $spec -o $B/stack 2> $B/stack/agc.err; then
        echo "fail stack$n agc $(head -n 1 $B/stack/agc.err | cut -c 1-300)" | tee -a $OUT
        continue
    fi
    c=$B/stack/stack$n.c
    echo "source stack$n $(wc -c < $c) $(grep -c '^static [a-z].*(' $c)" >> $OUT
    [ -x $B/walltime ] &&
        $B/walltime stack${n}_agc 5 "$AGC" compile $spec -o $B/stack >> $OUT
    runs=3
    [ $n -gt 64 ] && runs=1
    i=0
    while [ $i -lt $runs ]; do
        if [ -x /usr/bin/time ]; then
            /usr/bin/time -f "gcc stack$n %U %S %M" -a -o $OUT \
                $CC -std=c99 -O2 -c -o $B/stack/stack$n.o $c 2> $B/stack/cc.err ||
                echo "fail stack$n gcc $(head -n 1 $B/stack/cc.err | cut -c 1-300)" >> $OUT
        elif [ -x $B/walltime ]; then
            $B/walltime stack${n}_gcc 1 $CC -std=c99 -O2 -c -o $B/stack/stack$n.o $c |
                awk '{ printf "gcc %s %.2f 0 n/a\n", substr($2, 1, index($2, "_") - 1), $3 / 1e9 }' >> $OUT
        fi
        i=$((i + 1))
    done
done

echo
echo "| identical conv + relu layers | source | static functions | agc compile | $CC -O2, CPU | $CC max RSS |"
echo "|---:|---:|---:|---:|---:|---:|"
for n in ${BENCH_STACKS:-64 512}; do
    grep -q "^source stack$n " $OUT || continue
    set -- $(grep "^source stack$n " $OUT)
    kb=$(awk -v b=$3 'BEGIN { if (b >= 1048576) printf "%.2f MB", b / 1048576
                              else printf "%.0f KB", b / 1024 }')
    fns=$4
    agc=$(awk -v l=stack${n}_agc '$1 == "wall" && $2 == l { printf "%.3f s", $3 / 1e9 }' $OUT)
    gcc=$(awk -v l=stack$n '$1 == "gcc" && $2 == l { print $3 + $4 }' $OUT | median)
    rss=$(awk -v l=stack$n '$1 == "gcc" && $2 == l && $5 != "n/a" { if ($5 > m) m = $5 } END { if (m) printf "%.0f MB", m / 1024 }' $OUT)
    [ -n "$gcc" ] && gcc="$gcc s"
    echo "| $n | $kb | $fns | ${agc:-n/a} | ${gcc:-n/a} | ${rss:-n/a} |"
done
exit 0

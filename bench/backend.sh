#!/bin/sh
# bench/backend.sh: `agc run --backend cc` against an `agc compile` build
# and against --backend tcc, on the seed Conv2d (case conv2d_k35 of
# cases.txt, specs/conv2d_seed.yaml for agc run).  run.sh calls it at the
# end; it can run alone after `make agc`.
#
#   kernel   forward and forward+backward times (median, bench.c) of the
#            agc compile build ($BENCH_CC $BENCH_CFLAGS, as run.sh builds
#            it) and of the same code loaded by --backend cc, in turns
#   start    wall time of `agc run specs/conv2d_seed.yaml` (and of the
#            tiny specs/autograd.yaml, where the start is all there is)
#            with --backend tcc, --backend cc from its cache, and
#            --backend cc from an empty cache (the first run)
#
# The cache is a fresh XDG_CACHE_HOME under bench/build.  Prints a
# markdown table; raw lines go to bench/build/backend.txt.  Never fails.
set -u
cd "$(dirname "$0")/.." || exit 0
# --backend cc builds with -fopenmp: one thread, as the agc compile build
export OMP_NUM_THREADS=1
B=bench/build
AGC=${AGC:-./agc}
CC=${BENCH_CC:-gcc}
CFLAGS=${BENCH_CFLAGS:--O3 -march=native}
ROUNDS=${BENCH_ROUNDS:-3}
W="-std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra"
OUT=$B/backend.txt
CACHE=$(pwd)/$B/cache
c=conv2d_k35
mkdir -p $B/$c || exit 0
: > $OUT
say() { echo "$*" | tee -a $OUT; }

set -- $(awk -v c=$c '!/^#/ && NF == 6 && $1 == c { $1 = ""; print }' bench/cases.txt)
[ $# = 5 ] || { say "fail $c cc no case $c in bench/cases.txt"; exit 0; }
objs=$(ls build/compiler/*.o build/runtime/*.o 2> /dev/null | grep -v '/main\.o$')
[ -x "$AGC" ] && [ -n "$objs" ] || { say "fail $c cc agc is not built (make agc)"; exit 0; }

# the two drivers: the agc compile build, and bench.c linked with agc
# itself through model_cc.c
"$AGC" compile bench/specs/$c.yaml -o $B/$c 2> $B/agc.err &&
    $CC $W $CFLAGS -Ibench -I$B/$c -include $B/$c/$c.h -DMODEL=$c \
        -o $B/$c/bench bench/bench.c bench/naive.c bench/model_static.c \
        $B/$c/$c.c -lm 2> $B/cc.err || rm -f $B/$c/bench
cc -Icompiler -Iruntime -Ibench $W -O2 -o $B/bench_cc bench/bench.c \
    bench/naive.c bench/model_cc.c $objs -lyaml -ltcc -ldl -lm 2> $B/cc.err ||
    rm -f $B/bench_cc
$CC $W -O2 -o $B/walltime bench/walltime.c 2> /dev/null || rm -f $B/walltime

rm -rf "$CACHE"
PIN=                                # pinned to one core, as run.sh's runs
command -v taskset > /dev/null 2>&1 && [ "$(nproc)" -ge 2 ] && PIN="taskset -c 1"
i=0
while [ $i -lt $ROUNDS ]; do        # in turns, against the machine's noise
    [ -x $B/$c/bench ] && $PIN $B/$c/bench $c "$@" | grep '^result' >> $OUT
    [ -x $B/bench_cc ] && XDG_CACHE_HOME="$CACHE" $PIN $B/bench_cc $c "$@" \
        bench/specs/$c.yaml | grep '^result' >> $OUT
    i=$((i + 1))
done

if [ -x $B/walltime ]; then
    for s in conv2d_seed autograd; do
        for b in tcc cc; do
            $B/walltime ${s}_$b 21 /usr/bin/env XDG_CACHE_HOME="$CACHE" \
                "$AGC" run specs/$s.yaml --backend $b >> $OUT
        done
        $B/walltime ${s}_cc_first 5 /bin/sh -c "rm -rf '$CACHE.first'; \
            XDG_CACHE_HOME='$CACHE.first' '$AGC' run specs/$s.yaml --backend cc" >> $OUT
    done
    rm -rf "$CACHE.first"
fi

awk '
function med(list,   n, a, i, j, t) {
    n = split(list, a, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function ms(ns) { return sprintf("%.2f ms", ns / 1e6) }
$1 == "result" { f[$3] = f[$3] " " $4; fb[$3] = fb[$3] " " $5 }
$1 == "wall" { wall[$2] = $3 }
END {
    print ""
    print "| seed Conv2d (conv2d_k35) | forward | forward+backward |"
    print "|---|---:|---:|"
    if ("gcc" in f) printf "| agc compile, gcc -O3 -march=native | %s | %s |\n", ms(med(f["gcc"])), ms(med(fb["gcc"]))
    if ("cc" in f) printf "| agc run --backend cc | %s | %s |\n", ms(med(f["cc"])), ms(med(fb["cc"]))
    if (("gcc" in f) && ("cc" in f))
        printf "| cc / gcc | %.3f | %.3f |\n", med(f["cc"]) / med(f["gcc"]), med(fb["cc"]) / med(fb["gcc"])
    print ""
    print "| agc run, wall time | --backend tcc | --backend cc, cached | --backend cc, first run |"
    print "|---|---:|---:|---:|"
    split("conv2d_seed autograd", s, " ")
    for (i = 1; i <= 2; i++)
        printf "| specs/%s.yaml | %s | %s | %s |\n", s[i], ms(wall[s[i] "_tcc"]),
            ms(wall[s[i] "_cc"]), ms(wall[s[i] "_cc_first"])
}' $OUT
exit 0

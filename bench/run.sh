#!/bin/sh
# bench/run.sh: `make bench`.  Times every case of bench/cases.txt with
#
#   gcc    agc compile's C, built with $BENCH_CC -std=c99 $BENCH_CFLAGS
#          (gcc -O3 -march=native) into bench.c's driver
#   tcc    the same spec compiled by agc and JIT-compiled by libtcc in
#          process (bench/build/bench_jit, built by make)
#   omp    the gcc build with -fopenmp, run on 2 threads (OMP_NUM_THREADS=2)
#   torch  PyTorch, one thread ($BENCH_PYTHON, default /usr/bin/python3)
#   torch2 PyTorch on 2 threads (torch.set_num_threads(2), OpenBLAS's too)
#   naive  plain loop nests (naive.c), same compiler and flags as gcc
#
# agc's builds and PyTorch's taking their samples in turns (lockstep.c),
# then the wall time of `agc run specs/autograd.yaml`, and prints the
# results as markdown tables ready for README.md, with agc's GFLOP/s and
# its share of this core's peak (measured by peak.c's multiply-add loop);
# then bench/backend.sh (agc run --backend cc against the gcc build and
# against tcc), bench/compile.sh (source size and compile time of a 64-
# and a 512-layer conv stack) and bench/train.sh (an epoch of the digits
# CNN against PyTorch).  PyTorch's matmul is libblas.so.3: run.sh installs
# libopenblas0-pthread when it can (as root), else says that PyTorch runs
# the reference BLAS.  Raw lines go to bench/build/results.txt.  It never fails: whatever cannot run is
# reported as n/a with the reason, and the exit status is 0.
#
# Environment: BENCH_BUDGET (seconds per measurement, default 0.5),
# BENCH_ROUNDS (rounds of measurements, default 3: see below), BENCH_CASES
# (case names to run, default all), AGC (default ./agc).
set -u
cd "$(dirname "$0")/.." || exit 0
B=bench/build
AGC=${AGC:-./agc}
CC=${BENCH_CC:-gcc}
CFLAGS=${BENCH_CFLAGS:--O3 -march=native}
PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
CASES=${BENCH_CASES:-}
JIT=$B/bench_jit
OUT=$B/results.txt
W="-std=c99 -D_POSIX_C_SOURCE=200809L -Wall -Wextra"
mkdir -p $B || exit 0
: > $OUT

# the first line of a file, at most 300 characters, on one line
first() { head -n 1 "$1" | cut -c 1-300; }

# run CASE CONTENDER COMMAND...: appends what the command prints to $OUT,
# or a fail line when it prints no result for CASE
# One thread's runs are pinned to one core, two threads' to two (taskset,
# util-linux), the same for agc and PyTorch: on this 2-core VM an unpinned
# process ran 30-50% slower in about one run out of two, whatever the code.
PIN1= PIN2=
if command -v taskset > /dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    PIN1="taskset -c 1" PIN2="taskset -c 0,1"
fi

run() {
    c=$1 who=$2
    shift 2
    timeout 120 "$@" > $B/run.out 2> $B/run.err
    st=$?
    sed 's/^/  /' $B/run.out
    cat $B/run.out >> $OUT
    if ! grep -q "^\(result\|fail\|wall\) $c " $B/run.out; then
        if [ $st = 124 ]; then why="timed out after 120 s"
        else why="exit status $st: $(first $B/run.err)"; fi
        echo "fail $c $who $why" | tee -a $OUT | sed 's/^/  /'
    fi
}

# fail CASE CONTENDER REASON...
fail() { echo "fail $*" | tee -a $OUT | sed 's/^/  /'; }

caseline() { awk -v c="$1" '!/^#/ && NF == 6 && $1 == c' bench/cases.txt; }
cases=$(awk '!/^#/ && NF == 6 { print $1 }' bench/cases.txt)
if [ -n "$CASES" ]; then
    cases=
    for c in $CASES; do
        if [ -n "$(caseline $c)" ]; then cases="$cases $c"
        else echo "bench: no case '$c' in bench/cases.txt"; fi
    done
fi

# the numbers are only as good as the machine is quiet
load=$(cut -d ' ' -f 1 /proc/loadavg 2> /dev/null)
echo "info load $load" >> $OUT
if awk -v l="${load:-0}" 'BEGIN { exit !(l >= 0.5) }'; then
    echo "bench: warning: load average $load before starting: other processes"
    echo "bench: compete for the CPUs, the times will be noisy"
fi

# ---- the naive loops and the helpers ----
echo "bench: building the drivers with $CC $CFLAGS"
if ! $CC $W $CFLAGS -Ibench -o $B/bench_naive bench/bench.c bench/naive.c \
        bench/model_none.c -lm 2> $B/cc.err; then
    cat $B/cc.err >&2
    rm -f $B/bench_naive
fi
$CC $W -O2 -o $B/walltime bench/walltime.c 2> $B/cc.err || rm -f $B/walltime
$CC $W -O2 -o $B/lockstep bench/lockstep.c 2> $B/cc.err || rm -f $B/lockstep
if $CC $W $CFLAGS -ffp-contract=fast -o $B/peak bench/peak.c 2> $B/cc.err; then
    echo "bench: this core's peak (multiply-add loop)"
    $B/peak | tee -a $OUT | sed 's/^/  /'
else
    echo "bench: cannot build bench/peak.c: no % of peak"
fi
[ -x $JIT ] || echo "bench: no $JIT (make builds it): tcc results are n/a"
[ -x "$AGC" ] || echo "bench: no $AGC: agc results are n/a"

# ---- agc compile, then the driver with the generated code: plain (gcc)
# and built with -fopenmp (omp) ----
for c in $cases; do
    spec=bench/specs/$c.yaml
    d=$B/$c
    rm -rf $d && mkdir -p $d
    if [ ! -x "$AGC" ]; then
        fail $c gcc "agc: not built"
    elif ! "$AGC" compile $spec -o $d 2> $B/agc.err; then
        fail $c gcc "agc: $(first $B/agc.err)"
    elif ! timeout 120 $CC $W $CFLAGS -Ibench -I$d -include $d/$c.h -DMODEL=$c \
            -o $d/bench bench/bench.c bench/naive.c bench/model_static.c \
            $d/$c.c -lm 2> $B/cc.err; then
        msg=$(grep -m 1 error $B/cc.err | cut -c 1-300)
        fail $c gcc "$CC: ${msg:-failed or timed out after 120 s}"
    fi
    if [ ! -f $d/$c.c ]; then
        fail $c omp "no generated code (see gcc)"
    elif ! timeout 120 $CC $W $CFLAGS -fopenmp -Ibench -I$d -include $d/$c.h \
            -DMODEL=$c -o $d/bench_omp bench/bench.c bench/naive.c \
            bench/model_static.c $d/$c.c -lm 2> $B/cc.err; then
        msg=$(grep -m 1 error $B/cc.err | cut -c 1-300)
        fail $c omp "$CC -fopenmp: ${msg:-failed or timed out after 120 s}"
    fi
done

# PyTorch's matmul is libblas.so.3's: OpenBLAS's, or the reference BLAS
if ! dpkg-query -W -f '${Status}' libopenblas0-pthread 2> /dev/null |
        grep -q 'ok installed'; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        echo "bench: installing libopenblas0-pthread (PyTorch's matmul)"
        apt-get install -y -q libopenblas0-pthread > $B/apt.out 2>&1 ||
            echo "bench: apt-get install libopenblas0-pthread failed"
    else
        echo "bench: libopenblas0-pthread is not installed: PyTorch's matmul"
        echo "bench: is the reference BLAS, far slower than OpenBLAS"
    fi
fi
torch=0
if "$PYTHON" -c 'import torch' > /dev/null 2>&1; then
    torch=1
else
    for c in $cases; do
        fail $c torch "PyTorch is not installed for $PYTHON"
        fail $c torch2 "PyTorch is not installed for $PYTHON"
    done
fi

# glibc malloc keeps freed memory (no trim, no mmap below 32 MiB, the
# heap grown 256 MiB at a time): PyTorch reuses warm pages instead of
# paying page faults on every call
TORCH_ENV="MALLOC_TRIM_THRESHOLD_=17179869184 MALLOC_MMAP_THRESHOLD_=33554432
MALLOC_TOP_PAD_=268435456"

# run_torch THREADS TAG CASE: PyTorch on THREADS threads, for CASE
run_torch() {
    # OpenBLAS chooses its kernel for this CPU itself (OPENBLAS_CORETYPE /
    # OPENBLAS_L2_SIZE, set on some machines for older builds, would slow
    # it down); torch_bench.py says which kernel runs
    pin=$PIN1
    [ $1 = 2 ] && pin=$PIN2
    # shellcheck disable=SC2086 # the words of the variables
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=$1 \
        $TORCH_ENV OMP_NUM_THREADS=$1 BENCH_TORCH_THREADS=$1 \
        timeout 600 $pin "$PYTHON" bench/torch_bench.py bench/cases.txt $3 \
        > $B/run.out 2> $B/run.err
    sed 's/^/  /' $B/run.out
    cat $B/run.out >> $OUT
    grep -q "^\(result\|fail\) $3 $2 " $B/run.out ||
        fail $3 $2 "torch_bench.py: $(tail -n 1 $B/run.err | cut -c 1-300)"
}

# lockstep CASE ARGS...: agc's builds and PyTorch on 1 and 2 threads, for
# CASE, timed sample by sample in turns (bench/lockstep.c)
lockstep() {
    c=$1
    shift
    env1="env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $TORCH_ENV"
    cmd=
    [ -x $B/$c/bench ] && cmd="$cmd -- $PIN1 $B/$c/bench $c $*"
    [ $torch = 1 ] && cmd="$cmd -- $env1 OPENBLAS_NUM_THREADS=1 \
        OMP_NUM_THREADS=1 BENCH_TORCH_THREADS=1 $PIN1 $PYTHON \
        bench/torch_bench.py bench/cases.txt $c"
    [ -x $B/$c/bench_omp ] &&
        cmd="$cmd -- -t env OMP_NUM_THREADS=2 $PIN2 $B/$c/bench_omp $c $*"
    [ $torch = 1 ] && cmd="$cmd -- -t $env1 OPENBLAS_NUM_THREADS=2 \
        OMP_NUM_THREADS=2 BENCH_TORCH_THREADS=2 $PIN2 $PYTHON \
        bench/torch_bench.py bench/cases.txt $c"
    [ -n "$cmd" ] || return
    # shellcheck disable=SC2086 # the words of the commands
    timeout 600 $B/lockstep "${BENCH_BUDGET:-0.5}" ${cmd# -- } \
        > $B/run.out 2> $B/run.err
    sed 's/^/  /' $B/run.out
    cat $B/run.out >> $OUT
    for who in gcc torch omp torch2; do
        grep -q "^\(result\|fail\) $c $who " $B/run.out ||
            fail $c $who "no result in lockstep: $(first $B/run.err)"
    done
}

# ---- the runs, in rounds ----
# This VM's speed changes from one tenth of a second to the next, as
# other machines use the cores, caches and memory it shares with them: a
# multiply-add loop alone ran between 432 and 775 us a call within one
# second, and slow spells last minutes.  So within a round agc's builds
# and PyTorch's of a case take their samples in turns, sample by sample
# (bench/lockstep.c; one after the other where it cannot be built), and
# the tables give the median of the rounds' medians: the machine's moods
# hit every side of a comparison alike.  The naive loops and tcc, not
# compared for speed with PyTorch, run in the first round only.
ROUNDS=${BENCH_ROUNDS:-3}
r=1
while [ $r -le $ROUNDS ]; do
    echo "bench: round $r of $ROUNDS"
    for c in $cases; do
        set -- $(caseline $c)
        shift                       # the driver's arguments after CASE
        echo "bench: $c"
        if [ $r = 1 ]; then
            if [ -x $B/bench_naive ]; then
                run $c naive $PIN1 $B/bench_naive --naive $c "$@"
            else
                fail $c naive "cannot build the naive driver with $CC"
            fi
            # tcc: the spec through agc's pipeline and libtcc, in process
            if [ -x $JIT ]; then run $c tcc $PIN1 $JIT $c "$@" bench/specs/$c.yaml
            else fail $c tcc "no JIT driver (make bench builds $JIT)"; fi
        fi
        if [ -x $B/lockstep ]; then
            lockstep $c "$@"
        else                        # one after the other
            [ -x $B/$c/bench ] && run $c gcc $PIN1 $B/$c/bench $c "$@"
            if [ $torch = 1 ]; then run_torch 1 torch $c; fi
            [ -x $B/$c/bench_omp ] &&
                OMP_NUM_THREADS=2 run $c omp $PIN2 $B/$c/bench_omp $c "$@"
            if [ $torch = 1 ]; then run_torch 2 torch2 $c; fi
        fi
    done
    r=$((r + 1))
done

# ---- agc run on the seed spec, start to finish ----
echo "bench: wall time of $AGC run specs/autograd.yaml"
if [ -x $B/walltime ] && [ -x "$AGC" ]; then
    run agc_run wall $B/walltime agc_run 21 "$AGC" run specs/autograd.yaml
else
    fail agc_run wall "agc or the walltime helper is not built"
fi

# ---- the machine ----
cpu=$(lscpu 2> /dev/null | sed -n 's/^Model name: *//p' | head -n 1)
hv=$(lscpu 2> /dev/null | sed -n 's/^Hypervisor vendor: *//p' | head -n 1)
echo "info cpu ${cpu:-unknown} ($(nproc 2> /dev/null) cores${hv:+, $hv VM})" >> $OUT
echo "info cc $($CC --version 2> /dev/null | head -n 1) $CFLAGS" >> $OUT
echo "info tcc $(tcc -v 2> /dev/null | head -n 1)" >> $OUT
tv=$(dpkg-query -W -f '${Version}' python3-torch 2> /dev/null)
[ -n "$tv" ] && echo "info torchdeb python3-torch $tv" >> $OUT

echo
awk -v cases="$cases" -f bench/table.awk bench/cases.txt $OUT

# ---- agc run --backend cc against the agc compile build and tcc ----
echo "bench: agc run --backend cc (bench/backend.sh)"
AGC="$AGC" sh bench/backend.sh
# ---- compile time of a stack of identical layers ----
echo "bench: a stack of identical layers: agc compile and $CC -O2 (bench/compile.sh)"
AGC="$AGC" BENCH_CC="$CC" sh bench/compile.sh
# ---- agc train against a PyTorch training loop ----
echo "bench: an epoch of the digits CNN (bench/train.sh)"
AGC="$AGC" BENCH_PYTHON="$PYTHON" sh bench/train.sh
exit 0

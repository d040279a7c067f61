#!/bin/sh
# omp.sh AGC: the generated code built with -fopenmp gives bitwise the same
# outputs and gradients, and the same struct size, at 1, 2 and 3 threads
# as built without it (section 14), for every spec of specs/, bench/specs/,
# the digits example and the golden cases whose code has a parallel loop
# (the others have the same code either way), and a small model; both
# builds warning-free (-Wall -Wextra -pedantic -Werror).  Then a
# ThreadSanitizer run of three models on 2 threads (clang with libomp),
# skipped with a message where that does not build.
# tests/run_generated.c runs each spec's forward and backward and, with
# AGC_DIGEST set, prints its size and a hash of every tensor.
set -e
agc=${1:-./agc}
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
cc=${OMP_CC:-gcc}
if ! printf 'int main(void) { return 0; }\n' >"$t/probe.c" ||
   ! $cc -fopenmp -o "$t/probe" "$t/probe.c" 2>/dev/null; then
    echo "omp.sh: $cc -fopenmp does not build here: skipped"
    exit 0
fi
mkdir "$t/all" "$t/src"
for s in specs/*.yaml bench/specs/*.yaml examples/digits/digits.yaml \
         tests/golden/*/*/spec.yaml; do
    "$agc" compile "$s" -o "$t/all" 2>/dev/null || :
done
for c in "$t"/all/*.c; do
    n=$(basename "$c" .c)
    if [ "$n" = cnn1d ] || grep -q '^ *#pragma omp parallel' "$c"; then
        cp "$c" "$t/all/$n.h" "$t/src/"
    fi
done
set --
for h in "$t"/src/*.h; do
    n=$(basename "$h" .h)
    case $(sed -n '/^typedef struct/,/}/s/^    \(float\|double\) .*/\1/p' \
           "$h") in
    double*) set -- "$@" "$n:f64" ;;
    *) set -- "$@" "$n:f32" ;;
    esac
done

# build DIR FLAGS...: every spec's C and the driver, into DIR/run
build() {
    d=$1
    shift
    mkdir "$t/$d"
    for c in "$t"/src/*.c; do
        $cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror "$@" -c \
            -o "$t/$d/$(basename "$c" .c).o" "$c"
    done
    $cc -O1 "$@" -rdynamic -o "$t/$d/run" tests/run_generated.c \
        "$t/$d"/*.o -ldl -lm
}
build serial
build omp -fopenmp
AGC_DIGEST=1 "$t/serial/run" "$@" | grep -v '^run_generated:' >"$t/serial.txt"
for n in 1 2 3; do
    OMP_NUM_THREADS=$n AGC_DIGEST=1 "$t/omp/run" "$@" |
        grep -v '^run_generated:' >"$t/omp$n.txt"
    if ! cmp -s "$t/serial.txt" "$t/omp$n.txt"; then
        echo "omp.sh: $n threads differ from the serial build:"
        diff "$t/serial.txt" "$t/omp$n.txt" || :
        exit 1
    fi
done
echo "omp.sh: $# specs bitwise identical without OpenMP and at 1, 2, 3 threads"

# ThreadSanitizer on a model at 2 threads
tsan="-fopenmp -fsanitize=thread -g -O1"
if clang $tsan -o "$t/probe" "$t/probe.c" 2>/dev/null &&
   "$t/probe" 2>/dev/null; then
    mkdir "$t/tsan"
    for n in conv2d_b8 conv2d_dw mlp; do
        "$agc" compile bench/specs/$n.yaml -o "$t/tsan"
        clang -std=c99 $tsan -c -o "$t/tsan/$n.o" "$t/tsan/$n.c"
    done
    clang $tsan -rdynamic -o "$t/tsan/run" tests/run_generated.c \
        "$t/tsan"/*.o -ldl -lm
    OMP_NUM_THREADS=2 TSAN_OPTIONS="ignore_noninstrumented_modules=1 \
halt_on_error=1 exitcode=66" "$t/tsan/run" conv2d_b8:f32 conv2d_dw:f32 \
        mlp:f32 >/dev/null
    echo "omp.sh: ThreadSanitizer clean at 2 threads on conv2d_b8," \
         "conv2d_dw and mlp"
else
    echo "omp.sh: clang -fsanitize=thread -fopenmp does not work here:" \
         "ThreadSanitizer run skipped"
fi

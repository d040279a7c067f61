#!/bin/sh
# bench/train.sh: make bench's training row.  An epoch of the digits CNN
# (examples/digits/digits.yaml: Adam, batch 32, shuffled, last partial
# batch dropped) with `agc train` (--backend cc, as it defaults to)
# on one thread against the same loop in PyTorch on one thread (bench/digits_torch.py:
# DataLoader with shuffle and drop_last).  Both run EPOCHS epochs
# (default 10); the row gives the median epoch, with agc's compile time
# (its first run, on an empty cache) apart.  Never fails.
set -u
cd "$(dirname "$0")/.." || exit 0
B=bench/build
AGC=${AGC:-./agc}
PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
EPOCHS=${BENCH_EPOCHS:-10}
D=examples/digits
mkdir -p $B || exit 0
export XDG_CACHE_HOME="$(pwd)/$B/train-cache"
# --backend cc builds with -fopenmp: one thread, as PyTorch's here
export OMP_NUM_THREADS=1
rm -rf "$XDG_CACHE_HOME"
median() { sort -n | awk '{ v[NR] = $1 } END { print NR ? v[int((NR + 1) / 2)] : "n/a" }'; }
data="--data x=$D/data/x_train.npy --data y=$D/data/y_train.npy"
t0=$(date +%s.%N)
"$AGC" train $D/digits.yaml $data --epochs 1 -q > $B/train1.txt 2>&1
t1=$(date +%s.%N)
first=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
"$AGC" train $D/digits.yaml $data --epochs "$EPOCHS" --shuffle 1 -q \
    --val x=$D/data/x_test.npy --val y=$D/data/y_test.npy > $B/train.txt 2>&1
agc=$(sed -n 's/.*(\([0-9.]*\) s)$/\1/p' $B/train.txt | median)
acc=$(tail -n 1 $B/train.txt | sed -n 's/.*val_acc \([0-9.]*\).*/\1/p')
if OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $PYTHON bench/digits_torch.py "$EPOCHS" \
        > $B/train_torch.txt 2>&1; then
    torch=$(awk '/^epoch/ { print $2 }' $B/train_torch.txt | median)
    tacc=$(awk '/^accuracy/ { print $2 }' $B/train_torch.txt)
else
    torch=n/a tacc=n/a
fi
ratio=$(awk -v a="$agc" -v t="$torch" 'BEGIN { if (a > 0 && t > 0) printf "%.1fx", t / a; else print "n/a" }')
echo
echo "| digits CNN, one epoch ($EPOCHS epochs, median) | agc train --backend cc | PyTorch (1 thread) | speed-up |"
echo "|---|--:|--:|--:|"
echo "| 44 batches of 32, Adam | $(awk -v a="$agc" 'BEGIN { printf "%.1f ms", a * 1000 }') | $(awk -v t="$torch" 'BEGIN { if (t > 0) printf "%.1f ms", t * 1000; else print "n/a" }') | $ratio |"
echo
echo "agc train: first run (compile with cc, empty cache, and one epoch) $first s;" \
     "test accuracy after $EPOCHS epochs: agc $acc, PyTorch $tacc"
exit 0

#!/bin/sh
# The embedded check: an inference build of specs/cnn1d.yaml at batch 1,
# weights baked in from a checkpoint, for a Cortex-M4 with a
# single-precision FPU, linked with newlib so that only
# what NAME_infer reaches is kept.  It must reference no double-precision
# helper (__aeabi_d*, __aeabi_f2d...) and no double libm function.
# Prints the sizes the README quotes.  Skips where the cross compiler is
# absent (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi).
set -eu
agc=${1:-./agc}
if ! command -v arm-none-eabi-gcc >/dev/null 2>&1 ||
   ! [ -f /usr/lib/arm-none-eabi/newlib/libc.a ] &&
   ! arm-none-eabi-gcc -print-file-name=libc.a | grep -q /; then
    echo "embedded: skipped: no arm-none-eabi-gcc with newlib" \
         "(apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi)"
    exit 0
fi
t=$(mktemp -d)
trap 'rm -rf "$t"' EXIT
"$agc" compile specs/cnn1d.yaml --infer -D B=1 \
    --weights tests/golden/npz/cnn1d_weights.npz -o "$t"
cat > "$t/main.c" <<'C'
#include "cnn1d.h"
static cnn1d_t model;
int main(void)
{
    return cnn1d_infer(&model);
}
C
flags="-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os"
arm-none-eabi-gcc -std=c99 -Wall -Wextra -pedantic -Werror $flags \
    -ffunction-sections -fdata-sections -c -o "$t/cnn1d.o" "$t/cnn1d.c"
arm-none-eabi-gcc -std=c99 $flags -ffunction-sections -I"$t" \
    -Wl,--gc-sections --specs=nosys.specs -o "$t/m4.elf" "$t/main.c" \
    "$t/cnn1d.o" -lm
bad=$(arm-none-eabi-nm "$t/m4.elf" | awk '{print $NF}' |
      grep -E '^(__aeabi_[dfu]*2d|__aeabi_d|__aeabi_[dfil]*2d)|^(exp|log|sqrt|pow|sin|cos|tanh|fabs|erf|expm1|log1p)$' |
      sort -u | tr '\n' ' ' || true)
bss=$(arm-none-eabi-size -A "$t/m4.elf" | awk '$1 == ".bss" { print $2 }')
sizes=$(arm-none-eabi-size -A "$t/cnn1d.o" | awk '
    $1 ~ /^\.text/ { text += $2 } $1 ~ /^\.rodata/ { ro += $2 }
    $1 ~ /^\.bss/ { bss += $2 } $1 ~ /^\.data/ { data += $2 }
    END { printf ".text %d, .rodata %d, .data %d", text, ro, data }')
arena=$(awk '/cnn1d_ARENA_BYTES/ {print $3}' "$t/cnn1d.h")
echo "embedded: cnn1d --infer --weights -D B=1 for Cortex-M4: $sizes bytes;" \
     "linked, .bss $bss bytes (the struct, arena $arena)"
if [ -n "$bad" ]; then
    echo "embedded: FAIL: NAME_infer reaches double precision: $bad"
    exit 1
fi
echo "embedded: NAME_infer uses single precision only"

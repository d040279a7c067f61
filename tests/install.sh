#!/bin/sh
# install.sh: make install into a temporary prefix (with DESTDIR), the man
# page (man --warnings, every option of agc --help), a CMake project of 10
# lines built with agc_add_model, and make uninstall.  Run from the top
# directory after agc is built.
pass=0 failn=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass + 1)); }
bad() { failn=$((failn + 1)); echo "FAIL: $*"; }
MAKE=${MAKE:-make}

prefix=/opt/agc-test
dest="$tmp/dest"
root="$dest$prefix"
$MAKE -s install DESTDIR="$dest" PREFIX=$prefix >"$tmp/log" 2>&1 && ok ||
    { bad "make install failed"; cat "$tmp/log"; }
for f in bin/agc share/man/man1/agc.1 share/agc/cmake/agc.cmake; do
    [ -f "$root/$f" ] && ok || bad "make install did not install $f"
done
[ -x "$root/bin/agc" ] && ok || bad "bin/agc is not executable"
"$root/bin/agc" run specs/autograd.yaml | grep -q "a = tensor(4.5000)" &&
    ok || bad "the installed agc does not run"

# PREFIX or DESTDIR with spaces: a clear error, nothing installed
$MAKE -s install PREFIX="$tmp/with space" >"$tmp/log" 2>&1 &&
    bad "make install accepted a PREFIX with a space" || ok
grep -q "PREFIX and DESTDIR may not contain spaces" "$tmp/log" && ok ||
    { bad "no clear message for a PREFIX with a space"; cat "$tmp/log"; }
[ ! -e "$tmp/with space" ] && ok || bad "a PREFIX with a space was created"
$MAKE -s install DESTDIR="$tmp/d d" PREFIX=/usr >"$tmp/log" 2>&1 &&
    bad "make install accepted a DESTDIR with a space" || ok

# the man page: no warning from man, every option of agc --help in it
if command -v man >/dev/null 2>&1; then
    MANWIDTH=80 man --warnings -l "$root/share/man/man1/agc.1" \
        >"$tmp/man.txt" 2>"$tmp/warn"
    [ ! -s "$tmp/warn" ] && ok || { bad "man --warnings:"; cat "$tmp/warn"; }
    for o in $(./agc --help | grep -o -- '--[a-z][a-z-]*\|^  -[a-zA-Z]' | sort -u); do
        grep -q -- "$o" "$tmp/man.txt" && ok || bad "agc.1 lacks option $o"
    done
    for c in compile run check info graph help; do
        grep -q "^       $c" "$tmp/man.txt" && ok || bad "agc.1 lacks command $c"
    done
else
    echo "install.sh: man is not installed (apt-get install man-db):" \
        "skipping the man page checks"
fi

# a CMake project of 10 lines builds a model from a spec with agc_add_model
if command -v cmake >/dev/null 2>&1; then
    p="$tmp/consumer"
    mkdir -p "$p"
    cp specs/autograd.yaml "$p/model.yaml"
    cat >"$p/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.13)
project(consumer C)
include($root/share/agc/cmake/agc.cmake)
add_executable(app main.c)
agc_add_model(app model.yaml)
target_link_libraries(app m)
EOF
    cat >"$p/main.c" <<'EOF'
#include <stdio.h>
#include "autograd.h"
static autograd_t m;
int main(void)
{
    autograd_init(&m);
    autograd_forward(&m);
    autograd_backward(&m);
    printf("a = %g, x.grad[3] = %g\n", m.a[0], m.x_grad[3]);
    return 0;
}
EOF
    if cmake -S "$p" -B "$p/build" >"$tmp/log" 2>&1 &&
       cmake --build "$p/build" >>"$tmp/log" 2>&1; then
        ok
        out=$("$p/build/app")
        [ "$out" = "a = 4.5, x.grad[3] = 3" ] && ok ||
            bad "the CMake-built model printed '$out'"
        # a change of the spec regenerates the code
        sed 's/z: 3 \* y^2/z: 6 * y^2/' "$p/model.yaml" >"$p/m2" &&
            mv "$p/m2" "$p/model.yaml"
        cmake --build "$p/build" >>"$tmp/log" 2>&1 && ok || bad "rebuild failed"
        out=$("$p/build/app")
        [ "$out" = "a = 9, x.grad[3] = 6" ] && ok ||
            bad "after a change of the spec the model printed '$out'"
    else
        bad "the CMake consumer project does not build"
        cat "$tmp/log"
    fi
else
    echo "install.sh: cmake is not installed (apt-get install cmake):" \
        "skipping the CMake consumer project"
fi

$MAKE -s uninstall DESTDIR="$dest" PREFIX=$prefix >"$tmp/log" 2>&1 && ok ||
    { bad "make uninstall failed"; cat "$tmp/log"; }
left=$(find "$dest" -type f)
[ -z "$left" ] && ok || bad "make uninstall left $left"

echo "install: $pass passed, $failn failed"
[ "$failn" = 0 ]

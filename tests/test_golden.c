/* test_golden.c: every case of tests/golden/ops (made by make_golden.py
 * with PyTorch) compiled, JIT-run in float32, and compared with PyTorch's
 * outputs and gradients: |agc - torch| <= 1e-6 + 1e-5 |torch|; loop
 * counts exactly. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

#define ROOT "tests/golden/ops"

static void compare(Case *k, const char *name, const char *file, int exact)
{
    long n = 0, m = 0;
    double *want = case_expected(k, file, &n);
    double *got = case_tensor(k, name, &m);
    if (!want || !got)
        fail_msg("%s: %s missing (expected file or tensor)", k->dir, name);
    assert_int_equal(n, m);
    for (long i = 0; i < n; i++)
        if (exact ? got[i] != want[i]
                  : !(fabs(got[i] - want[i]) <= 1e-6 + 1e-5 * fabs(want[i])))
            fail_msg("%s: %s[%ld] = %.9g, PyTorch %.9g", k->dir, name, i,
                     got[i], want[i]);
    free(want);
    free(got);
}

static void test_golden_case(void **state)
{
    char dir[256];
    snprintf(dir, sizeof dir, ROOT "/%s", (const char *)*state);
    Case k;
    const char *err = case_open(&k, dir, 0, 0);
    if (err)
        fail_msg("%s", err);
    assert_int_equal(k.jit->forward(k.jit->m), 0);
    assert_int_equal(k.jit->backward(k.jit->m), 0);
    for (int i = 0; i < k.jit->ntensors; i++) {
        const AgcTensorInfo *t = &k.jit->tensors[i];
        if (t->role == ROLE_OUTPUT || t->role == ROLE_GRAD ||
            t->role == ROLE_COUNT)
            compare(&k, t->name, t->name, t->role == ROLE_COUNT);
    }
    case_close(&k);
}

int main(void)
{
    int n;
    char **cases = read_lines(ROOT "/cases.txt", &n);
    struct CMUnitTest *tests = calloc((size_t)n + 1, sizeof *tests);
    for (int i = 0; i < n; i++) {
        tests[i] = (struct CMUnitTest)cmocka_unit_test(test_golden_case);
        tests[i].name = cases[i];
        tests[i].initial_state = cases[i];
    }
    if (n == 0)
        return 1;
    return _cmocka_run_group_tests("golden", tests, (size_t)n, NULL, NULL);
}

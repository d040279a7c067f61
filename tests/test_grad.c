/* test_grad.c: every golden case (tests/golden/DIR/) compiled in float64
 * and its gradients compared with central finite differences (check.c),
 * independently of PyTorch.  Left out: cases built on purpose around
 * kinks (exact ties, values on a clamp bound), which have no derivative
 * there, and detach, whose gradient differs from the function's
 * derivative by design.
 *
 * At most TEST_CHECK_MAX evenly spaced elements of each gradient, not
 * agc check's 2000 (the golden tests compare every element with
 * PyTorch's; 2000 took most of the suite's time, on the tcc-compiled
 * kernels of the large cases); $AGC_CHECK_MAX sets another number
 * (make test-san: a few, as the sanitizers see agc's code, not the
 * JIT's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static int not_differentiable(const char *path)
{
    const char *name = strrchr(path, '/') + 1;
    return strstr(name, "ties") || strstr(name, "_at") ||
           !strcmp(name, "cmp_all") || !strcmp(name, "cmp_prec") ||
           !strncmp(name, "detach", 6);
}

static void test_grad_case(void **state)
{
    const char *name = *state;
    Case k;
    const char *err = case_open(&k, name, 1, AGC_FOR_CHECK);
    if (err)
        fail_msg("%s", err);
    jmp_buf jb;
    if (setjmp(jb)) {
        agc_error_jmp = NULL;
        fail_msg("%s", agc_errmsg);
    }
    CheckRow *rows;
    int nrows;
    agc_error_jmp = &jb;
    int failed = check_gradients(k.c.prog, k.jit, &rows, &nrows);
    agc_error_jmp = NULL;
    for (int i = 0; i < nrows; i++)
        if (!rows[i].ok)
            print_error("%s: %s off by %.3g (relative %.3g)\n", name,
                        rows[i].tensor, rows[i].max_abs, rows[i].max_rel);
    assert_true(nrows > 0);
    assert_int_equal(failed, 0);
    case_close(&k);
}

enum { TEST_CHECK_MAX = 400 };

int main(void)
{
    const char *max = getenv("AGC_CHECK_MAX");
    check_max = max && atol(max) > 0 ? atol(max) : TEST_CHECK_MAX;
    int n, m = 0;
    char **cases = golden_cases(&n);
    struct CMUnitTest *tests = calloc((size_t)n + 1, sizeof *tests);
    for (int i = 0; i < n; i++) {
        if (not_differentiable(cases[i]))
            continue;
        tests[m] = (struct CMUnitTest)cmocka_unit_test(test_grad_case);
        tests[m].name = cases[i];
        tests[m++].initial_state = cases[i];
    }
    if (m == 0)
        return 1;
    return _cmocka_run_group_tests("finite differences", tests, (size_t)m,
                                   NULL, NULL);
}

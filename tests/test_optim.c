/* test_optim.c: NAME_train_step against torch.optim.  Each case of
 * tests/golden/optim/ (made by make_golden_optim.py) runs 25 steps of a
 * small model; after every step each parameter matches PyTorch's within
 * 1e-5 relative (plus 1e-7) in float32, and 1e-12 relative in float64. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"
#include "npy.h"

static const char *const params[] = {"fc1.weight", "fc1.bias",
                                     "fc2.weight", "fc2.bias"};

static void run(const char *dir, int f64)
{
    Case k;
    const char *err = case_open(&k, dir, f64, 0);
    if (err)
        fail_msg("%s", err);
    NpyArray want[4];
    for (int p = 0; p < 4; p++) {
        char path[512], msg[512];
        snprintf(path, sizeof path, "%s/%s.%s.npy", dir, params[p],
                 f64 ? "steps64" : "steps");
        if (npy_load(path, &want[p], msg, sizeof msg))
            fail_msg("%s", msg);
    }
    long steps = want[0].shape[0];
    double tol = f64 ? 1e-12 : 1e-5, abs_tol = f64 ? 1e-15 : 1e-7;
    double worst = 0;
    for (long s = 0; s < steps; s++) {
        assert_int_equal(k.jit->train_step(k.jit->m), 0);
        for (int p = 0; p < 4; p++) {
            long n;
            double *got = case_tensor(&k, params[p], &n), scale = 0;
            for (long i = 0; i < n; i++) {
                long at = s * n + i;
                double w = f64 ? ((double *)want[p].data)[at]
                               : ((float *)want[p].data)[at];
                scale = fmax(scale, fabs(w));
            }
            for (long i = 0; i < n; i++) {
                long at = s * n + i;
                double w = f64 ? ((double *)want[p].data)[at]
                               : ((float *)want[p].data)[at];
                if (fabs(got[i] - w) > worst * scale)
                    worst = fabs(got[i] - w) / scale;
                if (!(fabs(got[i] - w) <= abs_tol + tol * scale))
                    fail_msg("%s (%s): %s[%ld] after step %ld = %.17g, "
                             "torch.optim %.17g", dir,
                             f64 ? "float64" : "float32", params[p], i, s + 1,
                             got[i], w);
            }
            free(got);
        }
    }
    print_message("%s (%s): %ld steps, largest difference %.2g of the "
                  "tensor's largest element\n", dir, f64 ? "float64" : "float32",
                  steps, worst);
    for (int p = 0; p < 4; p++)
        npy_free(&want[p]);
    case_close(&k);
}

static void test_optim_f32(void **state)
{
    run(*state, 0);
}

static void test_optim_f64(void **state)
{
    run(*state, 1);
}

int main(void)
{
    int n;
    char **names = read_lines("tests/golden/optim/steps.txt", &n);
    struct CMUnitTest *tests = calloc(2 * (size_t)n + 1, sizeof *tests);
    for (int i = 0; i < n; i++) {
        char *dir = malloc(strlen(names[i]) + 32);
        sprintf(dir, "tests/golden/optim/%s", names[i]);
        tests[2 * i] = (struct CMUnitTest)cmocka_unit_test(test_optim_f32);
        tests[2 * i].name = dir;
        tests[2 * i].initial_state = dir;
        tests[2 * i + 1] = (struct CMUnitTest)cmocka_unit_test(test_optim_f64);
        tests[2 * i + 1].name = strcat(strcpy(malloc(strlen(dir) + 9), dir),
                                       " float64");
        tests[2 * i + 1].initial_state = dir;
    }
    if (n == 0)
        return 1;
    return _cmocka_run_group_tests("optim", tests, 2 * (size_t)n, NULL, NULL);
}

/* test_golden.c: every case of tests/golden/DIR/ (ops made by
 * make_golden.py, conv by make_golden_conv.py, both with PyTorch)
 * compiled, JIT-run in float32, and compared with PyTorch's outputs and
 * gradients: |agc - torch| <= 1e-6 + 1e-5 |torch|; loop counts and
 * int64 outputs (argmax) exactly; the buffers after one train-mode
 * forward (running statistics); and the backward graph agc draws
 * (grad_fn records) against the one torch built (grad_fn.txt).  The
 * convolution cases run again with the
 * unroll limit at 1 and 3 taps, which rolls the window loops that the
 * default limit writes out. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

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

/* grad_fn i and what it reaches, as make_golden.py's grad_fn_text: one
 * line per grad_fn, numbered depth first in next_functions order. */
static int fn_text(Program *p, int i, int *ids, int *n, char **lines)
{
    if (ids[i] >= 0)
        return ids[i];
    GradFn *f = &p->fns[i];
    int me = ids[i] = (*n)++;
    char *line = agc_fmt("%d %s%s%s ->", me, f->name, f->leaf ? " " : "",
                         f->leaf ? f->leaf : "");
    lines[me] = line;
    for (int k = 0; k < f->nnext; k++) {
        int id = fn_text(p, f->next[k], ids, n, lines);
        line = agc_fmt("%s %d", line, id);
    }
    lines[me] = agc_fmt("%s\n", line);
    return me;
}

static void compare_grad_fns(Case *k)
{
    char path[300], want[8192] = "";
    if (k->c.prog->nloops)          /* torch unrolls them: no grad_fn.txt */
        return;
    snprintf(path, sizeof path, "%s/grad_fn.txt", k->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("%s missing: regenerate the golden data with "
                 "/usr/bin/python3 tests/make_golden%s.py", path,
                 strstr(k->dir, "/conv/") ? "_conv" : "");
    size_t len = fread(want, 1, sizeof want - 1, f);
    want[len] = 0;
    fclose(f);
    Program *p = k->c.prog;
    int *ids = agc_alloc(sizeof(int) * (size_t)(p->nfns + 1)), n = 0;
    char **lines = agc_alloc(sizeof(char *) * (size_t)(p->nfns + 1));
    for (int i = 0; i < p->nfns; i++)
        ids[i] = -1;
    char *got = "";
    if (p->bwd_fn >= 0)
        fn_text(p, p->bwd_fn, ids, &n, lines);
    for (int i = 0; i < n; i++)
        got = agc_fmt("%s%s", got, lines[i]);
    if (strcmp(got, want))
        fail_msg("%s: agc's backward graph\n%sPyTorch's\n%s", k->dir, got,
                 want);
}

static void run_case(const char *dir, long unroll)
{
    Case k;
    agc_unroll = unroll;
    const char *err = case_open(&k, dir, 0, 0);
    if (err)
        fail_msg("%s", err);
    assert_int_equal(k.jit->forward(k.jit->m), 0);
    assert_int_equal(k.jit->backward(k.jit->m), 0);
    for (int i = 0; i < k.jit->ntensors; i++) {
        const AgcTensorInfo *t = &k.jit->tensors[i];
        if (t->role == ROLE_OUTPUT || t->role == ROLE_GRAD ||
            t->role == ROLE_COUNT)
            compare(&k, t->name, t->name, t->is_int);
        if (t->role == ROLE_BUFFER) {   /* after one train-mode forward */
            long n;
            double *want = case_expected(&k, t->name, &n);
            if (!want)
                fail_msg("%s: %s.expected.npy missing", dir, t->name);
            free(want);
            compare(&k, t->name, t->name, t->is_int);
        }
    }
    compare_grad_fns(&k);
    case_close(&k);
    agc_unroll = 64;
}

static void test_golden_case(void **state)
{
    run_case(*state, 64);
}

static void test_golden_rolled(void **state)
{
    run_case(*state, 1);
    run_case(*state, 3);
}

/* Whether case dir is one of AGC_GOLDEN_ONLY's comma-separated names (or
 * parts of names); all are, without it. */
static int wanted(const char *dir)
{
    const char *only = getenv("AGC_GOLDEN_ONLY");
    if (!only || !*only)
        return 1;
    char *list = strcpy(malloc(strlen(only) + 1), only), *save = NULL;
    int hit = 0;
    for (char *w = strtok_r(list, ",", &save); w && !hit;
         w = strtok_r(NULL, ",", &save))
        hit = strstr(dir, w) != NULL;
    free(list);
    return hit;
}

/* AGC_GOLDEN_BACKEND=cc runs the cases with the system compiler (-O3
 * -march=native: the vector paths of the generated code), as
 * agc run --backend cc does; AGC_GOLDEN_ONLY=a,b runs only the cases
 * whose directory names hold a or b. */
int main(void)
{
    int n, m = 0;
    char **cases = golden_cases(&n), **all = cases;
    const char *backend = getenv("AGC_GOLDEN_BACKEND");
    if (backend && !strcmp(backend, "cc"))
        agc_backend = AGC_BACKEND_CC;
    cases = malloc(sizeof *cases * (size_t)(n + 1));
    int kept = 0;
    for (int i = 0; i < n; i++)
        if (wanted(all[i]))
            cases[kept++] = all[i];
    n = kept;
    struct CMUnitTest *tests = calloc(2 * (size_t)n + 1, sizeof *tests);
    for (int i = 0; i < n; i++) {
        tests[m] = (struct CMUnitTest)cmocka_unit_test(test_golden_case);
        tests[m].name = cases[i];
        tests[m++].initial_state = cases[i];
    }
    for (int i = 0; i < n; i++) {
        if (!strstr(cases[i], "/conv/"))
            continue;
        tests[m] = (struct CMUnitTest)cmocka_unit_test(test_golden_rolled);
        tests[m].name = strcat(strcpy(malloc(strlen(cases[i]) + 8),
                                      cases[i]), " rolled");
        tests[m++].initial_state = cases[i];
    }
    if (n == 0)
        return 1;
    return _cmocka_run_group_tests("golden", tests, (size_t)m, NULL, NULL);
}

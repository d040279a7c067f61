/* test_plan.c: the storage planner.  Every golden case gives bitwise the
 * same outputs and gradients with the arena shared by liveness as with a
 * slot of its own for every temporary, NAME_infer (planned apart) gives
 * bitwise the outputs of NAME_forward where train and eval mode agree,
 * and the arena stays within 1.15x of the lower bound the planner
 * reports, for the golden specs and the example specs. */
#include <glob.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

/* Runs forward and backward; returns a copy of the whole struct's
 * tensors (not the arena), concatenated. */
static char *run(const char *dir, int share, size_t *len)
{
    Case k;
    agc_share_arena = share;
    const char *err = case_open(&k, dir, 0, 0);
    agc_share_arena = 1;
    if (err)
        fail_msg("%s", err);
    assert_int_equal(k.jit->forward(k.jit->m), 0);
    assert_int_equal(k.jit->backward(k.jit->m), 0);
    size_t n = 0;
    for (int i = 0; i < k.jit->ntensors; i++)
        n += (size_t)k.jit->tensors[i].count * 8;
    char *all = malloc(n + 1), *at = all;
    for (int i = 0; i < k.jit->ntensors; i++) {
        const AgcTensorInfo *t = &k.jit->tensors[i];
        size_t b = (size_t)t->count * (t->is_int ? 8 : 4);
        memcpy(at, (char *)k.jit->m + t->offset, b);
        at += b;
    }
    *len = (size_t)(at - all);
    case_close(&k);
    return all;
}

static void test_plan_bitwise(void **state)
{
    size_t n0, n1;
    char *alone = run(*state, 0, &n0), *shared = run(*state, 1, &n1);
    assert_int_equal(n0, n1);
    if (memcmp(alone, shared, n0))
        fail_msg("%s: results differ when the arena is shared",
                 (char *)*state);
    free(alone);
    free(shared);
}

/* NAME_infer computes the outputs as NAME_forward does: bitwise when the
 * two plans fuse alike, else within float rounding. */
static void test_plan_infer(void **state)
{
    Case k;
    const char *err = case_open(&k, *state, 0, 0);
    if (err)
        fail_msg("%s", err);
    if (k.c.prog->has_modes) {      /* eval mode differs: test_layers.c */
        case_close(&k);
        return;
    }
    assert_int_equal(k.jit->forward(k.jit->m), 0);
    size_t n = 0;
    for (int i = 0; i < k.jit->ntensors; i++)
        n += (size_t)k.jit->tensors[i].count * 8;
    char *want = malloc(n + 1);
    for (int pass = 0; pass < 2; pass++) {
        if (pass)
            assert_int_equal(k.jit->infer(k.jit->m), 0);
        char *at = want;
        for (int i = 0; i < k.jit->ntensors; i++) {
            const AgcTensorInfo *t = &k.jit->tensors[i];
            if (t->role != ROLE_OUTPUT && t->role != ROLE_COUNT)
                continue;
            size_t b = (size_t)t->count * (t->is_int ? 8 : 4);
            const char *got = (char *)k.jit->m + t->offset;
            if (!pass) {
                memcpy(at, got, b);
                memset((char *)k.jit->m + t->offset, 0, b);
            } else if (memcmp(at, got, b)) {
                /* its own plan may fuse what forward stores for backward,
                 * and so sum in another order: float rounding only */
                for (size_t e = 0; e < b / 4; e++) {
                    float w = ((float *)(void *)at)[e];
                    float v = ((const float *)(const void *)got)[e];
                    if (t->is_int || !(fabsf(v - w) <= 1e-7f +
                                                       1e-6f * fabsf(w)))
                        fail_msg("%s: %s from NAME_infer differs",
                                 (char *)*state, t->name);
                }
            }
            at += b;
        }
    }
    free(want);
    case_close(&k);
}

static void check_bound(const char *spec)
{
    Compiled c;
    if (agc_compile(spec, -1, 0, &c))
        fail_msg("%s", agc_errmsg);
    if (c.em.arena_bytes * 100 > c.em.arena_bound * 115)
        fail_msg("%s: arena %ld bytes, lower bound %ld", spec,
                 c.em.arena_bytes, c.em.arena_bound);
    agc_arena_free();
}

static void test_plan_bound(void **state)
{
    (void)state;
    int n;
    char **cases = golden_cases(&n);
    for (int i = 0; i < n; i++)
        check_bound(agc_fmt("%s/spec.yaml", cases[i]));
    glob_t g;
    assert_int_equal(glob("specs/*.yaml", 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++)
        check_bound(g.gl_pathv[i]);
    globfree(&g);
}

int main(void)
{
    int n, m = 0;
    char **cases = golden_cases(&n);
    struct CMUnitTest *tests = calloc(2 * (size_t)n + 2, sizeof *tests);
    tests[m++] = (struct CMUnitTest)cmocka_unit_test(test_plan_bound);
    for (int i = 0; i < n; i++) {
        tests[m] = (struct CMUnitTest)cmocka_unit_test(test_plan_bitwise);
        tests[m].name = cases[i];
        tests[m++].initial_state = cases[i];
        tests[m] = (struct CMUnitTest)cmocka_unit_test(test_plan_infer);
        tests[m].name = strcat(strcpy(malloc(strlen(cases[i]) + 8),
                                      cases[i]), " infer");
        tests[m++].initial_state = cases[i];
    }
    return _cmocka_run_group_tests("plan", tests, (size_t)m, NULL, NULL);
}

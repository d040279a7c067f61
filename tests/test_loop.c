/* test_loop.c: loops (section 7) run in process through the JIT.  The trip
 * count follows the data from one forward to the next, backward goes
 * through exactly the iterations the last forward ran, a loop still
 * running after max_iter iterations makes NAME_forward return
 * NAME_ERR_MAX_ITER (1) rather than crash, and the tape is there only
 * when backward reads the iterates.  Specs are written to a fresh
 * directory under /tmp, removed at the end. */
#define _POSIX_C_SOURCE 200809L     /* mkdtemp */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

static char dir[] = "/tmp/agc_test_loop_XXXXXX";

/* The seed lecture's loop: y = 2x doubled while norm(y) < 1000. */
static const char *doubling(long max_iter)
{
    return agc_fmt("inputs:\n"
                   "  x: {shape: [3], requires_grad: true,"
                   " value: [0.6, 0.9, 1.2]}\n"
                   "graph:\n"
                   "  y0: x * 2\n"
                   "  y:\n"
                   "    loop:\n"
                   "      init: y0\n"
                   "      as: v\n"
                   "      while: norm(v) < 1000\n"
                   "      body: v * 2\n"
                   "      max_iter: %ld\n"
                   "      count: i\n"
                   "backward: {of: y, grad: [0.1, 1.0, 0.0001]}\n",
                   max_iter);
}

/* Writes DIR/NAME/spec.yaml and opens it as a case (float32). */
static void open_spec(Case *k, const char *name, const char *text)
{
    char *d = agc_fmt("%s/%s", dir, name);
    mkdir(d, 0700);
    char *path = agc_fmt("%s/spec.yaml", d);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    const char *err = case_open(k, d, 0, 0);
    if (err)
        fail_msg("%s", err);
}

static int64_t count_of(Case *k)
{
    return *(int64_t *)jit_tensor(k->jit, "i", NULL);
}

static void test_loop_exceeds_max_iter(void **state)
{
    (void)state;
    Case k;
    open_spec(&k, "exceeds", doubling(8));  /* 9 iterations are needed */
    assert_int_equal(k.jit->forward(k.jit->m), 1);
    case_close(&k);
}

static void test_loop_stops_at_max_iter(void **state)
{
    (void)state;
    Case k;
    open_spec(&k, "exact", doubling(9));
    assert_int_equal(k.jit->forward(k.jit->m), 0);
    assert_int_equal(count_of(&k), 9);
    assert_int_equal(k.jit->backward(k.jit->m), 0);
    float *g = jit_tensor(k.jit, "x.grad", NULL);
    assert_true(fabsf(g[1] - 1024.0f) < 1e-3f);
    case_close(&k);
}

/* x scaled by s: i iterations, x.grad = seed * 2^(i+1). */
static void run_scaled(Case *k, float s, int64_t want_count, int want_rc)
{
    static const float x0[3] = {0.6f, 0.9f, 1.2f};
    static const float seed[3] = {0.1f, 1.0f, 0.0001f};
    float *x = jit_tensor(k->jit, "x", NULL);
    for (int j = 0; j < 3; j++)
        x[j] = x0[j] * s;
    assert_int_equal(k->jit->forward(k->jit->m), want_rc);
    if (want_rc)
        return;
    assert_int_equal(count_of(k), want_count);
    assert_int_equal(k->jit->backward(k->jit->m), 0);
    float *g = jit_tensor(k->jit, "x.grad", NULL);
    for (int j = 0; j < 3; j++) {
        float want = seed[j] * ldexpf(1.0f, (int)want_count + 1);
        if (!(fabsf(g[j] - want) <= 1e-5f * want))
            fail_msg("scale %g: x.grad[%d] = %g, expected %g", s, j, g[j],
                     want);
    }
}

static void test_loop_count_follows_data(void **state)
{
    (void)state;
    Case k;
    open_spec(&k, "data", doubling(12));
    run_scaled(&k, 1, 9, 0);
    run_scaled(&k, 8, 6, 0);        /* fewer iterations */
    run_scaled(&k, 1000, 0, 0);     /* none: y = 2x */
    run_scaled(&k, 1.0f / 16, 0, 1);   /* 13 needed: max_iter error */
    run_scaled(&k, 1.0f / 8, 12, 0);   /* and fine again after it */
    case_close(&k);
}

static void test_loop_tape_only_when_read(void **state)
{
    (void)state;
    Case k;
    open_spec(&k, "notape", doubling(64));  /* backward of v * 2: no v */
    assert_int_equal(k.c.prog->nloops, 1);
    assert_int_equal(k.c.prog->loops[0]->tape_bytes, 0);
    assert_null(strstr(k.c.em.h, "_tape"));
    case_close(&k);
    open_spec(&k, "tape",
              "inputs:\n"
              "  x: {shape: [2, 3], requires_grad: true, value: 0.5}\n"
              "graph:\n"
              "  h:\n"
              "    loop: {init: x, while: mean(h) < 2,\n"
              "           body: h + tanh(h) * 0.5 + 0.2, max_iter: 50}\n"
              "  loss: sum(h)\n"
              "backward: loss\n");
    assert_int_equal(k.c.prog->loops[0]->tape_bytes, 50 * 6 * 4);
    assert_non_null(strstr(k.c.em.h, "float h_tape[50][6];"));
    assert_int_equal(k.jit->forward(k.jit->m), 0);
    assert_int_equal(k.jit->backward(k.jit->m), 0);
    case_close(&k);
}

static int teardown(void **state)
{
    (void)state;
    const char *names[] = {"exceeds", "exact", "data", "notape", "tape"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s/spec.yaml", dir, names[i]);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        rmdir(path);
    }
    return rmdir(dir);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loop_exceeds_max_iter),
        cmocka_unit_test(test_loop_stops_at_max_iter),
        cmocka_unit_test(test_loop_count_follows_data),
        cmocka_unit_test(test_loop_tape_only_when_read),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

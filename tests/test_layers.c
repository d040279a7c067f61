/* test_layers.c: train and eval mode.
 *
 * BatchNorm: the golden cases with *.eval.expected.npy (make_golden_norm.py)
 * run NAME_forward EVAL_STEPS times, the k-th on x + k, then NAME_infer on
 * x, and compare the outputs and the running statistics with PyTorch's
 * module after as many train-mode forwards and one in eval mode; the same
 * parameters and buffers, saved as a checkpoint and baked into an
 * inference build (--weights), give the same eval-mode outputs.
 *
 * Dropout: its mask follows agc's generator, not PyTorch's, so it is held
 * to what the mask must be: over a large tensor the fraction of zeros is
 * near p and every kept element is x / (1 - p) exactly (float32); the same
 * seed and step give the same mask, another step or seed another; p = 0,
 * eval mode and NAME_infer are the identity, p = 1 gives zeros; the
 * gradient is the mask times the scale, and finite differences agree
 * (check.c rewinds the step for each forward). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"
#include "npz.h"

#define EVAL_STEPS 3                /* make_golden_norm.py's */

static char tmpdir[64];             /* specs and checkpoints made here */

static void compare(Case *k, const char *name, const char *file)
{
    long n = 0, m = 0;
    double *want = case_expected(k, file, &n);
    double *got = case_tensor(k, name, &m);
    if (!want || !got)
        fail_msg("%s: %s missing", k->dir, file);
    assert_int_equal(n, m);
    for (long i = 0; i < n; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-6 + 1e-5 * fabs(want[i])))
            fail_msg("%s: %s[%ld] = %.9g, PyTorch %.9g", k->dir, file, i,
                     got[i], want[i]);
    free(want);
    free(got);
}

/* x += d, elementwise (float32). */
static void shift(Case *k, float d)
{
    const AgcTensorInfo *t;
    float *x = jit_tensor(k->jit, "x", &t);
    assert_non_null(x);
    for (long i = 0; i < t->count; i++)
        x[i] += d;
}

static void test_eval_after_steps(void **state)
{
    const char *dir = *state;
    Case k;
    const char *err = case_open(&k, dir, 0, 0);
    if (err)
        fail_msg("%s", err);
    for (int step = 0; step < EVAL_STEPS; step++) {
        assert_int_equal(k.jit->forward(k.jit->m), 0);
        shift(&k, 1);
    }
    shift(&k, -EVAL_STEPS);
    /* outputs of the train-mode forward are overwritten by eval's */
    for (int i = 0; i < k.jit->ntensors; i++) {
        const AgcTensorInfo *t = &k.jit->tensors[i];
        if (t->role == ROLE_OUTPUT)
            memset((char *)k.jit->m + t->offset, 0xff, (size_t)t->count * 4);
    }
    assert_int_equal(k.jit->infer(k.jit->m), 0);
    for (int i = 0; i < k.jit->ntensors; i++) {
        const AgcTensorInfo *t = &k.jit->tensors[i];
        if (t->role == ROLE_OUTPUT || t->role == ROLE_BUFFER)
            compare(&k, t->name, agc_fmt("%s.eval", t->name));
    }
    case_close(&k);
}

/* A checkpoint of the parameters and buffers after EVAL_STEPS train
 * steps, baked into an inference build (compile --infer --weights): its
 * NAME_infer gives what the training build's gives. */
static void test_weights_buffers(void **state)
{
    const char *dir = *state;
    char npz[128], err[256];
    snprintf(npz, sizeof npz, "%s/w.npz", tmpdir);
    Case k;
    const char *e = case_open(&k, dir, 0, 0);
    if (e)
        fail_msg("%s", e);
    for (int step = 0; step < EVAL_STEPS; step++) {
        assert_int_equal(k.jit->forward(k.jit->m), 0);
        shift(&k, 1);
    }
    shift(&k, -EVAL_STEPS);
    Program *p = k.c.prog;
    NpzEntry *entries = calloc((size_t)p->ntensors, sizeof *entries);
    int n = 0;
    for (int i = 0; i < p->ntensors; i++) {
        const Tensor *t = &p->tensors[i];
        const AgcTensorInfo *info;
        if (t->role != ROLE_BUFFER && (t->role != ROLE_INPUT ||
                                       !p->decls[t->decl].requires_grad))
            continue;
        NpzEntry *en = &entries[n++];
        en->name = t->name;
        en->data = jit_tensor(k.jit, t->name, &info);
        en->kind = info->is_int ? 'i' : 'f';
        en->itemsize = info->is_int ? 8 : 4;
        en->rank = info->rank;
        en->shape = info->shape;
    }
    if (npz_write(npz, entries, n, err, sizeof err))
        fail_msg("%s", err);
    free(entries);
    assert_int_equal(k.jit->infer(k.jit->m), 0);
    long ny;
    double *want = case_tensor(&k, "y", &ny);
    case_close(&k);
    agc_weights = npz;
    e = case_open(&k, dir, 0, AGC_INFER);
    agc_weights = NULL;
    if (e)
        fail_msg("%s", e);
    assert_int_equal(k.jit->infer(k.jit->m), 0);
    long m;
    double *got = case_tensor(&k, "y", &m);
    assert_int_equal(ny, m);
    for (long i = 0; i < m; i++)
        if (!(fabs(got[i] - want[i]) <= 1e-6 + 1e-6 * fabs(want[i])))
            fail_msg("%s: baked y[%ld] = %.9g, trained %.9g", dir, i,
                     got[i], want[i]);
    free(want);
    free(got);
    case_close(&k);
    remove(npz);
}

/* ---- dropout ---- */

/* Compiles spec text (what follows name:, dtype: and seed:) as a case. */
static void open_spec(Case *k, long seed, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "%s/spec.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "name: drop\ndtype: float32\nseed: %ld\n%s", seed, body);
    fclose(f);
    const char *err = case_open(k, tmpdir, 0, 0);
    if (err)
        fail_msg("%s", err);
}

static const char *DROP_SPEC =
    "inputs:\n"
    "  x: {shape: [64, 1000], init: {uniform: [1, 2]}, requires_grad: true}\n"
    "graph:\n"
    "  y: dropout(x, p=%s)\n"
    "backward: {of: y}\n";

/* y and x of one forward (and y.grad's seed set to ones: x.grad). */
static void forward(Case *k, float **y, float **x, long *n)
{
    const AgcTensorInfo *t;
    assert_int_equal(k->jit->forward(k->jit->m), 0);
    *y = jit_tensor(k->jit, "y", &t);
    *x = jit_tensor(k->jit, "x", NULL);
    *n = t->count;
}

static void test_dropout_statistics(void **state)
{
    (void)state;
    static const char *const ps[] = {"0.1", "0.5", "0.8"};
    for (int j = 0; j < 3; j++) {
        double p = atof(ps[j]);
        Case k;
        open_spec(&k, 7, agc_fmt(DROP_SPEC, ps[j]));
        float *y, *x;
        long n, zeros = 0;
        forward(&k, &y, &x, &n);
        assert_int_equal(k.jit->backward(k.jit->m), 0);
        float *gx = jit_tensor(k.jit, "x.grad", NULL);
        float scale = (float)(1 / (1 - p));
        for (long i = 0; i < n; i++) {
            if (y[i] == 0) {
                zeros++;
                assert_true(gx[i] == 0);
            } else if (y[i] != x[i] * scale || gx[i] != scale) {
                fail_msg("p = %g: y[%ld] = %.9g, x * scale = %.9g, "
                         "grad %.9g", p, i, y[i], x[i] * scale, gx[i]);
            }
        }
        /* 64000 Bernoulli(p) draws: 5 standard deviations */
        double frac = (double)zeros / (double)n;
        double sd = sqrt(p * (1 - p) / (double)n);
        if (fabs(frac - p) > 5 * sd)
            fail_msg("p = %g: %.4f of the elements are zero", p, frac);
        case_close(&k);
    }
}

static void test_dropout_determinism(void **state)
{
    (void)state;
    Case k;
    open_spec(&k, 7, agc_fmt(DROP_SPEC, "0.5"));
    float *y, *x;
    long n;
    forward(&k, &y, &x, &n);
    float *first = malloc(sizeof(float) * (size_t)n);
    memcpy(first, y, sizeof(float) * (size_t)n);
    forward(&k, &y, &x, &n);        /* step 1: another mask */
    long same = 0;
    for (long i = 0; i < n; i++)
        same += (y[i] == 0) == (first[i] == 0);
    assert_true(same < n * 6 / 10);
    int64_t *step = jit_tensor(k.jit, "rng.step", NULL);
    assert_non_null(step);
    assert_int_equal(*step, 2);
    *step = 0;                      /* step 0 again: the first mask */
    forward(&k, &y, &x, &n);
    assert_memory_equal(first, y, sizeof(float) * (size_t)n);
    case_close(&k);
    /* a new instance of the same spec: the same masks from step 0 */
    open_spec(&k, 7, agc_fmt(DROP_SPEC, "0.5"));
    forward(&k, &y, &x, &n);
    assert_memory_equal(first, y, sizeof(float) * (size_t)n);
    case_close(&k);
    /* another seed: another mask */
    open_spec(&k, 8, agc_fmt(DROP_SPEC, "0.5"));
    forward(&k, &y, &x, &n);
    same = 0;
    for (long i = 0; i < n; i++)
        same += (y[i] == 0) == (first[i] == 0);
    assert_true(same < n * 6 / 10);
    case_close(&k);
    free(first);
}

/* Two dropouts of one shape draw different masks (their streams). */
static void test_dropout_streams(void **state)
{
    (void)state;
    Case k;
    open_spec(&k, 7,
              "inputs:\n"
              "  x: {shape: [4000], init: {uniform: [1, 2]}}\n"
              "graph:\n"
              "  a: dropout(x)\n"
              "  b: dropout(x)\n"
              "outputs: [a, b]\n");
    assert_int_equal(k.jit->forward(k.jit->m), 0);
    float *a = jit_tensor(k.jit, "a", NULL), *b = jit_tensor(k.jit, "b", NULL);
    long same = 0;
    for (long i = 0; i < 4000; i++)
        same += (a[i] == 0) == (b[i] == 0);
    assert_true(same < 4000 * 6 / 10);
    case_close(&k);
}

static void test_dropout_identity(void **state)
{
    (void)state;
    static const char *const ps[] = {"0", "1", "0.3"};
    for (int j = 0; j < 3; j++) {
        Case k;
        open_spec(&k, 7, agc_fmt(DROP_SPEC, ps[j]));
        float *y, *x;
        long n;
        forward(&k, &y, &x, &n);
        double p = atof(ps[j]);
        for (long i = 0; i < n; i++)
            if ((p == 0 && y[i] != x[i]) || (p == 1 && y[i] != 0))
                fail_msg("p = %s: y[%ld] = %.9g, x %.9g", ps[j], i, y[i],
                         x[i]);
        memset(y, 0, sizeof(float) * (size_t)n);
        assert_int_equal(k.jit->infer(k.jit->m), 0);   /* eval mode */
        assert_memory_equal(x, y, sizeof(float) * (size_t)n);
        case_close(&k);
    }
}

/* The layer, in a model, in float64: finite differences through the mask
 * (check.c starts each forward at the same step). */
static void test_dropout_grad(void **state)
{
    (void)state;
    Case k;
    char path[128];
    snprintf(path, sizeof path, "%s/spec.yaml", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "name: dropgrad\ndtype: float64\nseed: 3\n"
            "inputs:\n  x: {shape: [4, 6], init: {uniform: [-1, 1]}}\n"
            "model:\n  input: x\n  layers:\n"
            "    - linear: {in_features: 6, out_features: 5}\n"
            "    - dropout: {p: 0.4}\n"
            "    - tanh\n"
            "graph:\n  loss: mean(tanh2 * tanh2)\nbackward: loss\n");
    fclose(f);
    const char *err = case_open(&k, tmpdir, 1, AGC_FOR_CHECK);
    if (err)
        fail_msg("%s", err);
    jmp_buf jb;
    if (setjmp(jb)) {
        agc_error_jmp = NULL;
        fail_msg("%s", agc_errmsg);
    }
    agc_error_jmp = &jb;
    CheckRow *rows;
    int nrows;
    int failed = check_gradients(k.c.prog, k.jit, &rows, &nrows);
    agc_error_jmp = NULL;
    assert_int_equal(nrows, 2);
    assert_int_equal(failed, 0);
    case_close(&k);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/agc_layers_XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    int n, m = 0;
    char **cases = golden_cases(&n);
    struct CMUnitTest *tests = calloc(2 * (size_t)n + 8, sizeof *tests);
    for (int i = 0; i < n; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/y.eval.expected.npy", cases[i]);
        if (access(path, R_OK))
            continue;
        tests[m] = (struct CMUnitTest)cmocka_unit_test(test_eval_after_steps);
        tests[m].name = cases[i];
        tests[m++].initial_state = cases[i];
        tests[m] = (struct CMUnitTest)cmocka_unit_test(test_weights_buffers);
        tests[m].name = strcat(strcpy(malloc(strlen(cases[i]) + 16),
                                      cases[i]), " --weights");
        tests[m++].initial_state = cases[i];
    }
    tests[m++] = (struct CMUnitTest)cmocka_unit_test(test_dropout_statistics);
    tests[m++] = (struct CMUnitTest)cmocka_unit_test(test_dropout_determinism);
    tests[m++] = (struct CMUnitTest)cmocka_unit_test(test_dropout_streams);
    tests[m++] = (struct CMUnitTest)cmocka_unit_test(test_dropout_identity);
    tests[m++] = (struct CMUnitTest)cmocka_unit_test(test_dropout_grad);
    int rc = _cmocka_run_group_tests("layers", tests, (size_t)m, NULL, NULL);
    char path[128];
    snprintf(path, sizeof path, "%s/spec.yaml", tmpdir);
    remove(path);
    rmdir(tmpdir);
    return rc;
}

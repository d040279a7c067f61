/* bench.c: times forward and forward+backward of one benchmark case.
 *
 *   DRIVER [--naive] CASE OP INPUT WEIGHT STRIDE PADDING [SPEC]
 *
 * takes one line of cases.txt.  It draws random inputs, weights and (for a
 * conv) a random output gradient, computes the reference with the naive
 * loops, then times either the naive loops (--naive) or the model that
 * this build opens (model_*.c) on the same data, and checks the model's
 * outputs and gradients against the reference.  It prints lines that
 * run.sh collects:
 *
 *   result CASE CONTENDER FWD_NS FWDBWD_NS SAMPLES
 *   check CASE CONTENDER ok|MISMATCH MAX_REL_ERR
 *   fail CASE CONTENDER REASON...
 *
 * Each time is the median over many samples; a sample times a batch of
 * calls long enough (>= 100 us) for the clock not to matter, samples of
 * forward and of forward+backward alternate, and their number is chosen
 * so that each of the two takes about BENCH_BUDGET seconds (default 0.5),
 * with at least 5 samples.  The exit status is 0 unless the arguments are
 * wrong: failures are reported.  Specs are float32 (the default dtype).
 */
#include "bench.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *case_name, *contender = "?";

static void fail(const char *fmt, const char *arg)
{
    printf("fail %s %s ", case_name, contender);
    printf(fmt, arg);
    printf("\n");
    exit(0);
}

/* ---- timing ---- */

static double budget = 0.5;         /* seconds per measurement */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *s, long n)
{
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* The median seconds per call of fn[0](ctx) and of fn[1](ctx) into med[],
 * the samples of the two taken in turn so that a change in the machine's
 * load hits both alike; *nsamples gets the number of samples of each. */
static void measure(int (*fn[2])(void *), void *ctx, double med[2],
                    int *nsamples)
{
    double per[2], t0, t;
    long batch[2];
    for (int f = 0; f < 2; f++) {
        long calls = 0;
        t0 = now();
        do {                        /* warm-up: 50 ms, at least one call */
            fn[f](ctx);
            calls++;
            t = now();
        } while (t - t0 < 0.05);
        per[f] = (t - t0) / (double)calls;
        batch[f] = per[f] >= 1e-4 ? 1 : (long)ceil(1e-4 / per[f]);
    }
    long n = (long)(2 * budget / (per[0] * (double)batch[0] +
                                  per[1] * (double)batch[1]));
    n = n < 5 ? 5 : n > 20000 ? 20000 : n;
    double *s = malloc(sizeof(double) * (size_t)(2 * n));
    if (!s)
        fail("%s", "out of memory");
    for (long i = 0; i < n; i++)
        for (int f = 0; f < 2; f++) {
            t0 = now();
            for (long k = 0; k < batch[f]; k++)
                fn[f](ctx);
            s[f * n + i] = (now() - t0) / (double)batch[f];
        }
    med[0] = median(s, n);
    med[1] = median(s + n, n);
    free(s);
    *nsamples = (int)n;
}

/* ---- the case ---- */

typedef struct Shape {
    int rank;
    long d[8];
} Shape;

typedef struct Case {
    int is_conv;
    Conv k;
    Shape xs, ws, bs, ys;           /* the tensors' shapes */
    long nx, nw, nb, ny;            /* element counts */
    float *x, *w, *b, *gy;          /* inputs, drawn at random */
    float *y, *gx, *gw, *gb;        /* outputs of the naive loops */
    float a;                        /* expr: the output */
} Case;

static int parse_list(const char *s, long *v, int max)
{
    int n = 0;
    char *end;
    for (;;) {
        if (n == max)
            return -1;
        v[n++] = strtol(s, &end, 10);
        if (end == s || v[n - 1] < 0)
            return -1;
        if (!*end)
            return n;
        if (*end != ',')
            return -1;
        s = end + 1;
    }
}

static float *alloc(long n)
{
    float *p = calloc((size_t)n, sizeof(float));
    if (!p)
        fail("%s", "out of memory");
    return p;
}

/* splitmix64, uniform in [lo, hi) */
static void fill(float *p, long n, float lo, float hi)
{
    static uint64_t s = 0x2545F4914F6CDD1DULL;
    for (long i = 0; i < n; i++) {
        uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        p[i] = lo + (hi - lo) * (float)((double)(z >> 40) / 16777216.0);
    }
}

static void setup(Case *c, char **arg)
{
    const char *op = arg[0];
    long x[8], w[8], st[2], pad[2];
    int nx = parse_list(arg[1], x, 8);
    memset(c, 0, sizeof *c);
    if (!strcmp(op, "expr")) {
        if (nx < 1)
            fail("bad input shape '%s'", arg[1]);
        c->nx = 1;
        c->xs.rank = nx;
        for (int i = 0; i < nx; i++)
            c->nx *= c->xs.d[i] = x[i];
        c->x = alloc(c->nx);
        c->gx = alloc(c->nx);
        fill(c->x, c->nx, -1, 1);
        c->a = naive_expr_forward(c->x, c->nx);
        naive_expr_backward(c->x, c->nx, c->gx);
        return;
    }
    int d = !strcmp(op, "conv1d") ? 1 : !strcmp(op, "conv2d") ? 2 : 0;
    if (!d)
        fail("unknown op '%s'", op);
    int nw = parse_list(arg[2], w, 8), ns = parse_list(arg[3], st, 2),
        np = parse_list(arg[4], pad, 2);
    if (nx != d + 2 || nw != d + 2 || ns < 1 || np < 1 || w[1] != x[1])
        fail("bad shapes or arguments for %s", op);
    Conv *k = &c->k;
    c->is_conv = 1;
    k->n = x[0], k->c = x[1], k->o = w[0];
    k->h = d == 2 ? x[2] : 1, k->w = x[d + 1];
    k->kh = d == 2 ? w[2] : 1, k->kw = w[d + 1];
    k->sh = d == 2 ? st[0] : 1, k->sw = st[ns - 1];
    k->ph = d == 2 ? pad[0] : 0, k->pw = pad[np - 1];
    if (k->sh < 1 || k->sw < 1 || k->kh > k->h + 2 * k->ph ||
        k->kw > k->w + 2 * k->pw)
        fail("bad stride or padding for %s", op);
    k->oh = (k->h + 2 * k->ph - k->kh) / k->sh + 1;
    k->ow = (k->w + 2 * k->pw - k->kw) / k->sw + 1;
    c->xs.rank = c->ws.rank = c->ys.rank = d + 2;
    for (int i = 0; i < d + 2; i++)
        c->xs.d[i] = x[i], c->ws.d[i] = w[i];
    c->ys.d[0] = k->n, c->ys.d[1] = k->o, c->ys.d[d + 1] = k->ow;
    if (d == 2)
        c->ys.d[2] = k->oh;
    c->bs.rank = 1, c->bs.d[0] = k->o;
    c->nx = k->n * k->c * k->h * k->w;
    c->nw = k->o * k->c * k->kh * k->kw;
    c->nb = k->o;
    c->ny = k->n * k->o * k->oh * k->ow;
    c->x = alloc(c->nx), c->w = alloc(c->nw), c->b = alloc(c->nb);
    c->gy = alloc(c->ny), c->y = alloc(c->ny);
    c->gx = alloc(c->nx), c->gw = alloc(c->nw), c->gb = alloc(c->nb);
    fill(c->x, c->nx, -1, 1);
    fill(c->w, c->nw, -0.1f, 0.1f);
    fill(c->b, c->nb, -0.1f, 0.1f);
    fill(c->gy, c->ny, -1, 1);
    naive_conv_forward(k, c->x, c->w, c->b, c->y);
    naive_conv_backward(k, c->x, c->w, c->gy, c->gx, c->gw, c->gb);
}

/* ---- the naive loops as a contender ---- */

static int naive_fwd(void *ctx)
{
    Case *c = ctx;
    if (c->is_conv)
        naive_conv_forward(&c->k, c->x, c->w, c->b, c->y);
    else
        c->a = naive_expr_forward(c->x, c->nx);
    return 0;
}

static int naive_fwdbwd(void *ctx)
{
    Case *c = ctx;
    naive_fwd(c);
    if (c->is_conv)
        naive_conv_backward(&c->k, c->x, c->w, c->gy, c->gx, c->gw, c->gb);
    else
        naive_expr_backward(c->x, c->nx, c->gx);
    return 0;
}

/* ---- a model ---- */

static BenchModel bm;

/* The float elements of the model's tensor name, which must have shape. */
static float *tensor(const char *name, const Shape *shape)
{
    for (int i = 0; i < bm.ntensors; i++) {
        const BenchTensor *t = &bm.tensors[i];
        if (strcmp(t->name, name))
            continue;
        int same = !t->is_int && t->rank == shape->rank;
        for (int d = 0; same && d < shape->rank; d++)
            same = t->shape[d] == shape->d[d];
        if (!same)
            fail("the spec's tensor '%s' does not have the shape given in "
                 "cases.txt", name);
        return (float *)((char *)bm.m + t->offset);
    }
    fail("the model has no tensor '%s'", name);
    return NULL;
}

static int model_fwd(void *ctx)
{
    (void)ctx;
    return bm.forward(bm.m);
}

static int model_fwdbwd(void *ctx)
{
    (void)ctx;
    int r = bm.forward(bm.m);
    return r ? r : bm.backward(bm.m);
}

/* max |got - want| / max |want| */
static double rel_err(const float *got, const float *want, long n)
{
    double e = 0, m = 1e-30;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        if (d > e || d != d)
            e = d != d ? INFINITY : d;
        if (fabs((double)want[i]) > m)
            m = fabs((double)want[i]);
    }
    return e / m;
}

int main(int argc, char **argv)
{
    const char *prog = argv[0];
    int naive = argc > 1 && !strcmp(argv[1], "--naive");
    argv += naive, argc -= naive;
    if (argc != 7 && argc != 8) {
        fprintf(stderr, "usage: %s [--naive] CASE OP INPUT WEIGHT STRIDE "
                "PADDING [SPEC]\n", prog);
        return 2;
    }
    case_name = argv[1];
    const char *b = getenv("BENCH_BUDGET");
    if (b && atof(b) > 0)
        budget = atof(b);
    if (naive)
        contender = "naive";

    Case c;
    if (!naive) {
        char err[512] = "";
        int ok = model_open(argc == 8 ? argv[7] : NULL, &bm, err, sizeof err);
        if (bm.contender)
            contender = bm.contender;
        if (ok <= 0)
            fail("%s", ok == 0 ? "this driver has no model" : err);
    }
    setup(&c, argv + 2);

    int n;
    double t[2];
    if (naive) {
        measure((int (*[2])(void *)){naive_fwd, naive_fwdbwd}, &c, t, &n);
        printf("result %s naive %.0f %.0f %d\n", case_name, t[0] * 1e9,
               t[1] * 1e9, n);
        return 0;
    }

    /* bind the case's data, then time, then check what the last call left */
    Shape scalar = {0, {0}};
    float *mx = tensor("x", &c.xs), *ma = NULL, *my = NULL;
    float *mgx = tensor("x.grad", &c.xs), *mgw = NULL, *mgb = NULL;
    memcpy(mx, c.x, sizeof(float) * (size_t)c.nx);
    if (c.is_conv) {
        memcpy(tensor("w", &c.ws), c.w, sizeof(float) * (size_t)c.nw);
        memcpy(tensor("b", &c.bs), c.b, sizeof(float) * (size_t)c.nb);
        memcpy(tensor("y.grad", &c.ys), c.gy, sizeof(float) * (size_t)c.ny);
        my = tensor("y", &c.ys);
        mgw = tensor("w.grad", &c.ws);
        mgb = tensor("b.grad", &c.bs);
    } else {
        ma = tensor("a", &scalar);
    }
    if (model_fwdbwd(NULL))
        fail("%s", "forward or backward returned an error");
    measure((int (*[2])(void *)){model_fwd, model_fwdbwd}, NULL, t, &n);
    printf("result %s %s %.0f %.0f %d\n", case_name, contender, t[0] * 1e9,
           t[1] * 1e9, n);

    double e = rel_err(mgx, c.gx, c.nx);
    if (c.is_conv) {
        e = fmax(e, rel_err(my, c.y, c.ny));
        e = fmax(e, rel_err(mgw, c.gw, c.nw));
        e = fmax(e, rel_err(mgb, c.gb, c.nb));
    } else {
        e = fmax(e, rel_err(ma, &c.a, 1));
    }
    printf("check %s %s %s %.2g\n", case_name, contender,
           e <= 1e-4 ? "ok" : "MISMATCH", e);
    return 0;
}

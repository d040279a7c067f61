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
 * with at least 5 samples.  With BENCH_LOCKSTEP in the environment
 * (bench/lockstep.c sets it) it takes its samples when told to, in turns
 * with the other contenders (see serve()).  The exit status is 0 unless
 * the arguments are wrong: failures are reported.  Specs are float32 (the
 * default dtype).
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

/* Lockstep timing (BENCH_LOCKSTEP set; bench/lockstep.c drives it, with
 * PyTorch and the other builds): say "ready", then for each line "f" or
 * "b" read from stdin, make one call of fn[0] or fn[1] untimed (the other
 * contenders' samples have had the caches) and time one sample of
 * batch[f] calls, and answer "done".  At the end of input, the medians of
 * the samples of each go into med[]. */
static void serve(int (*fn[2])(void *), void *ctx, const long batch[2],
                  double med[2], int *nsamples)
{
    double *s[2] = {NULL, NULL};
    long n[2] = {0, 0}, cap = 0;
    char line[16];
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
        int f = line[0] == 'b';
        if (n[f] == cap) {
            cap = cap ? 2 * cap : 1024;
            for (int i = 0; i < 2; i++)
                if (!(s[i] = realloc(s[i], sizeof(double) * (size_t)cap)))
                    fail("%s", "out of memory");
        }
        fn[f](ctx);
        double t0 = now();
        for (long k = 0; k < batch[f]; k++)
            fn[f](ctx);
        s[f][n[f]++] = (now() - t0) / (double)batch[f];
        printf("done\n");
        fflush(stdout);
    }
    if (!n[0] || !n[1])
        fail("%s", "the lockstep driver asked for no samples");
    med[0] = median(s[0], n[0]);
    med[1] = median(s[1], n[1]);
    *nsamples = (int)(n[0] < n[1] ? n[0] : n[1]);
    free(s[0]);
    free(s[1]);
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
    if (getenv("BENCH_LOCKSTEP")) {
        serve(fn, ctx, batch, med, nsamples);
        return;
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

/* A named array: a model tensor bound before timing (in) or checked
 * after it against the naive loops' result (out), or a naive
 * intermediate (tmp). */
typedef struct Arr {
    const char *name;
    Shape s;
    long n;
    float *v;
} Arr;

enum { IN, OUT, TMP };

#define MAXARR 24

typedef struct Case {
    const char *op;
    Conv k[2];                      /* conv; lenet: its two convolutions */
    long d[8];                      /* linear: m k n; mlp: m widths...; */
    int nd;                         /* softmax: rows cols */
    Arr a[3][MAXARR];               /* IN, OUT, TMP */
    int na[3];
    long *at[2];                    /* lenet: where each pool's max is */
    double flops[2];                /* forward, forward + backward */
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

/* A new array of kind IN, OUT or TMP with the given dims (rank 0: a
 * scalar), filled uniform in [-r, r] for r > 0. */
static float *arr(Case *c, int kind, const char *name, float r, int rank,
                  const long *d)
{
    if (c->na[kind] == MAXARR)
        fail("%s", "too many arrays");
    Arr *a = &c->a[kind][c->na[kind]++];
    a->name = name;
    a->s.rank = rank;
    a->n = 1;
    for (int i = 0; i < rank; i++)
        a->n *= a->s.d[i] = d[i];
    a->v = alloc(a->n);
    if (r > 0)
        fill(a->v, a->n, -r, r);
    return a->v;
}

#define DIMS(...) (sizeof((long[]){__VA_ARGS__}) / sizeof(long)), \
                  (const long[]){__VA_ARGS__}

/* The i-th array of a kind. */
#define V(kind, i) (c->a[kind][i].v)

static long conv_flops(const Conv *k)
{
    return 2 * k->n * k->o * k->oh * k->ow * (k->c / k->g) * k->kh * k->kw;
}

/* The conv of input x and weight w dims, or fails. */
static void conv_of(Conv *k, int d, const long *x, const long *w,
                    const long *st, int ns, const long *pad, int np)
{
    k->n = x[0], k->c = x[1], k->o = w[0];
    k->g = w[1] > 0 && x[1] % w[1] == 0 ? x[1] / w[1] : 0;
    k->h = d == 2 ? x[2] : 1, k->w = x[d + 1];
    k->kh = d == 2 ? w[2] : 1, k->kw = w[d + 1];
    k->sh = d == 2 ? st[0] : 1, k->sw = st[ns - 1];
    k->ph = d == 2 ? pad[0] : 0, k->pw = pad[np - 1];
    if (k->g < 1 || k->o % k->g || k->sh < 1 || k->sw < 1 ||
        k->kh > k->h + 2 * k->ph || k->kw > k->w + 2 * k->pw)
        fail("%s", "bad groups, stride or padding for a convolution");
    k->oh = (k->h + 2 * k->ph - k->kh) / k->sh + 1;
    k->ow = (k->w + 2 * k->pw - k->kw) / k->sw + 1;
}

static void naive_run(Case *c, int backward);

static void setup(Case *c, char **arg)
{
    const char *op = arg[0];
    long x[8], w[8], st[2], pad[2];
    int nx = parse_list(arg[1], x, 8), nw = parse_list(arg[2], w, 8);
    memset(c, 0, sizeof *c);
    c->op = op;
    if (!strcmp(op, "expr")) {
        if (nx < 1)
            fail("bad input shape '%s'", arg[1]);
        long n = 1;
        for (int i = 0; i < nx; i++)
            n *= x[i];
        arr(c, IN, "x", 1, nx, x);
        arr(c, OUT, "a", 0, 0, x);
        arr(c, OUT, "x.grad", 0, nx, x);
        c->flops[0] = 4.0 * (double)n, c->flops[1] = 7.0 * (double)n;
    } else if (!strcmp(op, "conv1d") || !strcmp(op, "conv2d")) {
        int d = op[4] - '0';
        int ns = parse_list(arg[3], st, 2), np = parse_list(arg[4], pad, 2);
        if (nx != d + 2 || nw != d + 2 || ns < 1 || np < 1)
            fail("bad shapes or arguments for %s", op);
        Conv *k = &c->k[0];
        conv_of(k, d, x, w, st, ns, pad, np);
        long y[4] = {k->n, k->o, d == 2 ? k->oh : k->ow, k->ow};
        arr(c, IN, "x", 1, d + 2, x);
        arr(c, IN, "w", 0.1f, d + 2, w);
        arr(c, IN, "b", 0.1f, DIMS(k->o));
        arr(c, IN, "y.grad", 1, d + 2, y);
        arr(c, OUT, "y", 0, d + 2, y);
        arr(c, OUT, "x.grad", 0, d + 2, x);
        arr(c, OUT, "w.grad", 0, d + 2, w);
        arr(c, OUT, "b.grad", 0, DIMS(k->o));
        c->flops[0] = (double)conv_flops(k);
        c->flops[1] = 3 * c->flops[0];
    } else if (!strcmp(op, "linear")) {
        if (nx != 2 || nw != 2 || w[1] != x[1])
            fail("bad shapes for %s", op);
        c->nd = 3, c->d[0] = x[0], c->d[1] = x[1], c->d[2] = w[0];
        arr(c, IN, "x", 1, 2, x);
        arr(c, IN, "w", 0.1f, 2, w);
        arr(c, IN, "b", 0.1f, DIMS(w[0]));
        arr(c, IN, "y.grad", 1, DIMS(x[0], w[0]));
        arr(c, OUT, "y", 0, DIMS(x[0], w[0]));
        arr(c, OUT, "x.grad", 0, 2, x);
        arr(c, OUT, "w.grad", 0, 2, w);
        arr(c, OUT, "b.grad", 0, DIMS(w[0]));
        c->flops[0] = 2.0 * (double)(x[0] * x[1] * w[0]);
        c->flops[1] = 3 * c->flops[0];
    } else if (!strcmp(op, "mlp")) {
        /* x [m, in]; weight: the widths of the layers; relu between */
        static const char *names[4][2] = {{"w1", "w1.grad"},
            {"w2", "w2.grad"}, {"w3", "w3.grad"}, {"w4", "w4.grad"}};
        static const char *bnames[4][2] = {{"b1", "b1.grad"},
            {"b2", "b2.grad"}, {"b3", "b3.grad"}, {"b4", "b4.grad"}};
        if (nx != 2 || nw < 1 || nw > 4)
            fail("bad shapes for %s", op);
        c->nd = nw + 2, c->d[0] = x[0], c->d[1] = x[1];
        arr(c, IN, "x", 1, 2, x);
        arr(c, OUT, "x.grad", 0, 2, x);
        for (int l = 0; l < nw; l++) {
            long in = l ? w[l - 1] : x[1], out = w[l];
            c->d[l + 2] = out;
            arr(c, IN, names[l][0], 0.1f, DIMS(out, in));
            arr(c, IN, bnames[l][0], 0.1f, DIMS(out));
            arr(c, OUT, names[l][1], 0, DIMS(out, in));
            arr(c, OUT, bnames[l][1], 0, DIMS(out));
            arr(c, TMP, "h", 0, DIMS(x[0], out));     /* 2l: the layer's */
            arr(c, TMP, "h.grad", 0, DIMS(x[0], out)); /* output, its grad */
            c->flops[0] += 2.0 * (double)(x[0] * in * out);
        }
        arr(c, IN, "y.grad", 1, DIMS(x[0], w[nw - 1]));
        arr(c, OUT, "y", 0, DIMS(x[0], w[nw - 1]));
        c->flops[1] = 3 * c->flops[0];
    } else if (!strcmp(op, "softmax")) {
        if (nx != 2)
            fail("bad shapes for %s", op);
        c->nd = 2, c->d[0] = x[0], c->d[1] = x[1];
        arr(c, IN, "x", 2, 2, x);
        arr(c, IN, "y.grad", 1, 2, x);
        arr(c, OUT, "y", 0, 2, x);
        arr(c, OUT, "x.grad", 0, 2, x);
        c->flops[0] = 5.0 * (double)(x[0] * x[1]);
        c->flops[1] = 9.0 * (double)(x[0] * x[1]);
    } else if (!strcmp(op, "lenet")) {
        /* x [n, 1, 28, 28]: conv 1->6 k5, relu, max pool 2, conv 6->16 k5,
         * relu, max pool 2, flatten, linear 256->120->84->10 with relu
         * between, cross-entropy against class probabilities t */
        if (nx != 4 || x[1] != 1 || x[2] != 28 || x[3] != 28)
            fail("%s", "lenet takes an input [N, 1, 28, 28]");
        long n = x[0], one[2] = {1, 1}, zero[2] = {0, 0};
        conv_of(&c->k[0], 2, x, (const long[]){6, 1, 5, 5}, one, 1, zero, 1);
        conv_of(&c->k[1], 2, (const long[]){n, 6, 12, 12},
                (const long[]){16, 6, 5, 5}, one, 1, zero, 1);
        arr(c, IN, "x", 1, 4, x);
        float *t = arr(c, IN, "t", 0, DIMS(n, 10));
        for (long i = 0; i < n; i++)        /* one-hot targets */
            t[i * 10 + (i * 7 + 3) % 10] = 1;
        static const char *p[10] = {"c1w", "c1b", "c2w", "c2b", "f1w", "f1b",
                                    "f2w", "f2b", "f3w", "f3b"};
        static const char *g[10] = {"c1w.grad", "c1b.grad", "c2w.grad",
            "c2b.grad", "f1w.grad", "f1b.grad", "f2w.grad", "f2b.grad",
            "f3w.grad", "f3b.grad"};
        const long sh[10][4] = {{6, 1, 5, 5}, {6}, {16, 6, 5, 5}, {16},
            {120, 256}, {120}, {84, 120}, {84}, {10, 84}, {10}};
        const int rk[10] = {4, 1, 4, 1, 2, 1, 2, 1, 2, 1};
        arr(c, OUT, "loss", 0, 0, x);
        for (int i = 0; i < 10; i++) {
            arr(c, IN, p[i], i < 4 ? 0.3f : 0.1f, rk[i], sh[i]);
            arr(c, OUT, g[i], 0, rk[i], sh[i]);
        }
        /* TMP: conv1 out, pool1 out, conv2 out, pool2 out, f1, f2, f3
         * (logits), and a gradient of each */
        const long ts[7] = {n * 6 * 24 * 24, n * 6 * 12 * 12,
                            n * 16 * 8 * 8, n * 256, n * 120, n * 84, n * 10};
        for (int i = 0; i < 7; i++) {
            arr(c, TMP, "a", 0, 1, &ts[i]);
            arr(c, TMP, "a.grad", 0, 1, &ts[i]);
        }
        arr(c, TMP, "x.grad", 0, 4, x);    /* computed, not checked */
        c->at[0] = calloc((size_t)ts[1], sizeof(long));
        c->at[1] = calloc((size_t)ts[3], sizeof(long));
        if (!c->at[0] || !c->at[1])
            fail("%s", "out of memory");
        c->flops[0] = (double)(conv_flops(&c->k[0]) + conv_flops(&c->k[1])) +
                      2.0 * (double)(n * (256 * 120 + 120 * 84 + 84 * 10));
        c->flops[1] = 3 * c->flops[0];
    } else {
        fail("unknown op '%s'", op);
    }
    naive_run(c, 1);                /* the reference */
}

/* ---- the naive loops ---- */

static void relu(float *v, long n)
{
    for (long i = 0; i < n; i++)
        v[i] = v[i] > 0 ? v[i] : 0;
}

/* g *= (h > 0) */
static void relu_back(float *g, const float *h, long n)
{
    for (long i = 0; i < n; i++)
        g[i] = h[i] > 0 ? g[i] : 0;
}

static void naive_lenet(Case *c, int backward)
{
    const Conv *k1 = &c->k[0], *k2 = &c->k[1];
    long n = k1->n;
    const float *x = V(IN, 0), *t = V(IN, 1);
    float *pw[10], *pg[10], *a[7], *ga[7];
    for (int i = 0; i < 10; i++)
        pw[i] = V(IN, 2 + i), pg[i] = V(OUT, 1 + i);
    for (int i = 0; i < 7; i++)
        a[i] = V(TMP, 2 * i), ga[i] = V(TMP, 2 * i + 1);
    naive_conv_forward(k1, x, pw[0], pw[1], a[0]);
    relu(a[0], n * 6 * 576);
    naive_max_pool2_forward(n * 6, 24, 24, a[0], a[1], c->at[0]);
    naive_conv_forward(k2, a[1], pw[2], pw[3], a[2]);
    relu(a[2], n * 16 * 64);
    naive_max_pool2_forward(n * 16, 8, 8, a[2], a[3], c->at[1]);
    naive_linear_forward(n, 256, 120, a[3], pw[4], pw[5], a[4]);
    relu(a[4], n * 120);
    naive_linear_forward(n, 120, 84, a[4], pw[6], pw[7], a[5]);
    relu(a[5], n * 84);
    naive_linear_forward(n, 84, 10, a[5], pw[8], pw[9], a[6]);
    /* loss = -sum(t * log_softmax(logits)) / n */
    float *ls = ga[6];
    naive_log_softmax_forward(n, 10, a[6], ls);
    float loss = 0;
    for (long i = 0; i < n * 10; i++)
        loss -= t[i] * ls[i];
    V(OUT, 0)[0] = loss / (float)n;
    if (!backward)
        return;
    for (long i = 0; i < n; i++) {  /* d loss / d logits */
        float ts = 0;
        for (long j = 0; j < 10; j++)
            ts += t[i * 10 + j];
        for (long j = 0; j < 10; j++)
            ga[6][i * 10 + j] = (expf(ls[i * 10 + j]) * ts - t[i * 10 + j]) /
                                (float)n;
    }
    naive_linear_backward(n, 84, 10, a[5], pw[8], ga[6], ga[5], pg[8], pg[9]);
    relu_back(ga[5], a[5], n * 84);
    naive_linear_backward(n, 120, 84, a[4], pw[6], ga[5], ga[4], pg[6],
                          pg[7]);
    relu_back(ga[4], a[4], n * 120);
    naive_linear_backward(n, 256, 120, a[3], pw[4], ga[4], ga[3], pg[4],
                          pg[5]);
    naive_max_pool2_backward(n * 16, 8, 8, c->at[1], ga[3], ga[2]);
    relu_back(ga[2], a[2], n * 16 * 64);
    naive_conv_backward(k2, a[1], pw[2], ga[2], ga[1], pg[2], pg[3]);
    naive_max_pool2_backward(n * 6, 24, 24, c->at[0], ga[1], ga[0]);
    relu_back(ga[0], a[0], n * 6 * 576);
    naive_conv_backward(k1, x, pw[0], ga[0], V(TMP, 14), pg[0], pg[1]);
}

/* Forward, then backward too when asked, into the OUT (and TMP) arrays. */
static void naive_run(Case *c, int backward)
{
    const char *op = c->op;
    if (!strcmp(op, "expr")) {
        long n = c->a[IN][0].n;
        V(OUT, 0)[0] = naive_expr_forward(V(IN, 0), n);
        if (backward)
            naive_expr_backward(V(IN, 0), n, V(OUT, 1));
    } else if (!strcmp(op, "conv1d") || !strcmp(op, "conv2d")) {
        naive_conv_forward(&c->k[0], V(IN, 0), V(IN, 1), V(IN, 2),
                           V(OUT, 0));
        if (backward)
            naive_conv_backward(&c->k[0], V(IN, 0), V(IN, 1), V(IN, 3),
                                V(OUT, 1), V(OUT, 2), V(OUT, 3));
    } else if (!strcmp(op, "linear")) {
        naive_linear_forward(c->d[0], c->d[1], c->d[2], V(IN, 0), V(IN, 1),
                             V(IN, 2), V(OUT, 0));
        if (backward)
            naive_linear_backward(c->d[0], c->d[1], c->d[2], V(IN, 0),
                                  V(IN, 1), V(IN, 3), V(OUT, 1), V(OUT, 2),
                                  V(OUT, 3));
    } else if (!strcmp(op, "mlp")) {
        /* IN: x, then w and b per layer, then y.grad; OUT: x.grad, then
         * w.grad and b.grad per layer, then y; TMP: h and h.grad */
        long m = c->d[0];
        int layers = c->nd - 2;
        for (int l = 0; l < layers; l++) {
            const float *in = l ? V(TMP, 2 * (l - 1)) : V(IN, 0);
            float *h = l == layers - 1 ? V(OUT, 1 + 2 * layers) : V(TMP, 2 * l);
            naive_linear_forward(m, c->d[l + 1], c->d[l + 2], in,
                                 V(IN, 1 + 2 * l), V(IN, 2 + 2 * l), h);
            if (l < layers - 1)
                relu(h, m * c->d[l + 2]);
        }
        if (!backward)
            return;
        for (int l = layers - 1; l >= 0; l--) {
            const float *in = l ? V(TMP, 2 * (l - 1)) : V(IN, 0);
            const float *g = l == layers - 1 ? V(IN, 1 + 2 * layers)
                                             : V(TMP, 2 * l + 1);
            float *gin = l ? V(TMP, 2 * (l - 1) + 1) : V(OUT, 0);
            naive_linear_backward(m, c->d[l + 1], c->d[l + 2], in,
                                  V(IN, 1 + 2 * l), g, gin, V(OUT, 1 + 2 * l),
                                  V(OUT, 2 + 2 * l));
            if (l)
                relu_back(gin, in, m * c->d[l + 1]);
        }
    } else if (!strcmp(op, "softmax")) {
        naive_log_softmax_forward(c->d[0], c->d[1], V(IN, 0), V(OUT, 0));
        if (backward)
            naive_log_softmax_backward(c->d[0], c->d[1], V(OUT, 0), V(IN, 1),
                                       V(OUT, 1));
    } else {
        naive_lenet(c, backward);
    }
}

/* ---- the naive loops as a contender ---- */

static int naive_fwd(void *ctx)
{
    naive_run(ctx, 0);
    return 0;
}

static int naive_fwdbwd(void *ctx)
{
    naive_run(ctx, 1);
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

    static Case c;
    if (!naive) {
        char err[512] = "";
        int ok = model_open(argc == 8 ? argv[7] : NULL, &bm, err, sizeof err);
        if (bm.contender)
            contender = bm.contender;
        if (ok <= 0)
            fail("%s", ok == 0 ? "this driver has no model" : err);
    }
    setup(&c, argv + 2);
    printf("flops %s %.0f %.0f\n", case_name, c.flops[0], c.flops[1]);

    int n;
    double t[2];
    if (naive) {
        measure((int (*[2])(void *)){naive_fwd, naive_fwdbwd}, &c, t, &n);
        printf("result %s naive %.0f %.0f %d\n", case_name, t[0] * 1e9,
               t[1] * 1e9, n);
        return 0;
    }

    /* bind the case's data, check the model's results against the naive
     * loops' (before timing: the timed calls must not change them), time */
    float *got[MAXARR];
    for (int i = 0; i < c.na[IN]; i++)
        memcpy(tensor(c.a[IN][i].name, &c.a[IN][i].s), c.a[IN][i].v,
               sizeof(float) * (size_t)c.a[IN][i].n);
    for (int i = 0; i < c.na[OUT]; i++)
        got[i] = tensor(c.a[OUT][i].name, &c.a[OUT][i].s);
    if (model_fwdbwd(NULL))
        fail("%s", "forward or backward returned an error");
    double e = 0;
    for (int i = 0; i < c.na[OUT]; i++)
        e = fmax(e, rel_err(got[i], c.a[OUT][i].v, c.a[OUT][i].n));
    measure((int (*[2])(void *)){model_fwd, model_fwdbwd}, NULL, t, &n);
    printf("result %s %s %.0f %.0f %d\n", case_name, contender, t[0] * 1e9,
           t[1] * 1e9, n);
    printf("check %s %s %s %.2g\n", case_name, contender,
           e <= 1e-4 ? "ok" : "MISMATCH", e);
    return 0;
}

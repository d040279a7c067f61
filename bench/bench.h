/* bench.h: what the bench driver (bench.c) needs from the code it times.
 *
 * One driver, three builds: linked with model_static.c and a generated
 * NAME.c (gcc -O3), with model_jit.c and the compiler (libtcc, in process),
 * or with model_none.c (the naive loops alone).  naive.c holds the loops.
 */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>

/* The layout of NAME_tensor in generated code (and of AgcTensorInfo). */
typedef struct BenchTensor {
    const char *name;
    int role;
    int rank;
    long shape[8];
    size_t offset;
    long count;
    int is_int;
} BenchTensor;

typedef struct BenchModel {
    const char *contender;          /* "gcc", "tcc" */
    void *m;                        /* the instance, initialised */
    const BenchTensor *tensors;
    int ntensors;
    int (*forward)(void *m);
    int (*backward)(void *m);
} BenchModel;

/* Opens the model for spec (compiled in, or JIT-compiled now).  Returns 1
 * and fills bm, 0 when this build has no model, or -1 with err set (and
 * bm->contender, the name the results go under). */
int model_open(const char *spec, BenchModel *bm, char *err, size_t errlen);

/* ---- naive.c: plain loop nests, what one writes without thinking ---- */

/* A 2-D convolution; conv1d is the case h = kh = 1, stride_h = 1, pad_h = 0. */
typedef struct Conv {
    long n, c, h, w;                /* input */
    long o, kh, kw;                 /* weight [o, c / g, kh, kw] */
    long g;                         /* groups */
    long sh, sw, ph, pw;            /* stride, zero padding */
    long oh, ow;                    /* output */
} Conv;

void naive_conv_forward(const Conv *k, const float *x, const float *w,
                        const float *b, float *y);
/* Overwrites gx, gw, gb from the output gradient gy. */
void naive_conv_backward(const Conv *k, const float *x, const float *w,
                         const float *gy, float *gx, float *gw, float *gb);

/* y[i][j] = b[j] + sum over k of x[i][k] * w[j][k]; x [m, k], w [n, k] */
void naive_linear_forward(long m, long k, long n, const float *x,
                          const float *w, const float *b, float *y);
/* Overwrites gx = gy w, gw = gy^T x and gb = the column sums of gy. */
void naive_linear_backward(long m, long k, long n, const float *x,
                           const float *w, const float *gy, float *gx,
                           float *gw, float *gb);

/* y = log(softmax(x)) along rows of cols elements */
void naive_log_softmax_forward(long rows, long cols, const float *x,
                               float *y);
/* gx = gy - softmax(x) * (row sum of gy), from y = log(softmax(x)) */
void naive_log_softmax_backward(long rows, long cols, const float *y,
                                const float *gy, float *gx);

/* 2x2 max pooling, stride 2, of planes h x w (even); at[] gets the offset
 * in x of each output's maximum */
void naive_max_pool2_forward(long planes, long h, long w, const float *x,
                             float *y, long *at);
/* Overwrites gx: each gy goes to its window's maximum. */
void naive_max_pool2_backward(long planes, long h, long w, const long *at,
                              const float *gy, float *gx);

/* a = mean(3 * (x - 2)^2) */
float naive_expr_forward(const float *x, long n);
/* gx = d a / d x */
void naive_expr_backward(const float *x, long n, float *gx);

#endif

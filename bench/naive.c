/* naive.c: the baseline, loop nests written the obvious way (direct
 * convolution with a bounds test per tap, no blocking, no unrolling),
 * compiled with the same flags as agc's generated code. */
#include "bench.h"

#include <math.h>
#include <string.h>

/* y[n][o][i][j] = b[o] + sum over c, p, q of
 *                 x[n][c][i*sh - ph + p][j*sw - pw + q] * w[o][c][p][q] */
void naive_conv_forward(const Conv *k, const float *x, const float *w,
                        const float *b, float *y)
{
    for (long n = 0; n < k->n; n++)
        for (long o = 0; o < k->o; o++)
            for (long i = 0; i < k->oh; i++)
                for (long j = 0; j < k->ow; j++) {
                    float acc = b[o];
                    long cg = k->c / k->g, c0 = o / (k->o / k->g) * cg;
                    for (long c = c0; c < c0 + cg; c++)
                        for (long p = 0; p < k->kh; p++)
                            for (long q = 0; q < k->kw; q++) {
                                long r = i * k->sh - k->ph + p;
                                long s = j * k->sw - k->pw + q;
                                if (r < 0 || r >= k->h || s < 0 || s >= k->w)
                                    continue;
                                acc += x[((n * k->c + c) * k->h + r) * k->w + s] *
                                       w[((o * cg + c - c0) * k->kh + p) * k->kw + q];
                            }
                    y[((n * k->o + o) * k->oh + i) * k->ow + j] = acc;
                }
}

/* The same nest run backwards: each output gradient g adds g * w to the
 * input taps it read, g * x to the weights, and g to the bias. */
void naive_conv_backward(const Conv *k, const float *x, const float *w,
                         const float *gy, float *gx, float *gw, float *gb)
{
    memset(gx, 0, sizeof(float) * (size_t)(k->n * k->c * k->h * k->w));
    memset(gw, 0, sizeof(float) * (size_t)(k->o * k->c / k->g * k->kh * k->kw));
    memset(gb, 0, sizeof(float) * (size_t)k->o);
    for (long n = 0; n < k->n; n++)
        for (long o = 0; o < k->o; o++)
            for (long i = 0; i < k->oh; i++)
                for (long j = 0; j < k->ow; j++) {
                    float g = gy[((n * k->o + o) * k->oh + i) * k->ow + j];
                    gb[o] += g;
                    long cg = k->c / k->g, c0 = o / (k->o / k->g) * cg;
                    for (long c = c0; c < c0 + cg; c++)
                        for (long p = 0; p < k->kh; p++)
                            for (long q = 0; q < k->kw; q++) {
                                long r = i * k->sh - k->ph + p;
                                long s = j * k->sw - k->pw + q;
                                if (r < 0 || r >= k->h || s < 0 || s >= k->w)
                                    continue;
                                long xi = ((n * k->c + c) * k->h + r) * k->w + s;
                                long wi = ((o * cg + c - c0) * k->kh + p) * k->kw + q;
                                gw[wi] += g * x[xi];
                                gx[xi] += g * w[wi];
                            }
                }
}

void naive_linear_forward(long m, long k, long n, const float *x,
                          const float *w, const float *b, float *y)
{
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
            float acc = b ? b[j] : 0;
            for (long t = 0; t < k; t++)
                acc += x[i * k + t] * w[j * k + t];
            y[i * n + j] = acc;
        }
}

void naive_linear_backward(long m, long k, long n, const float *x,
                           const float *w, const float *gy, float *gx,
                           float *gw, float *gb)
{
    memset(gx, 0, sizeof(float) * (size_t)(m * k));
    memset(gw, 0, sizeof(float) * (size_t)(n * k));
    memset(gb, 0, sizeof(float) * (size_t)n);
    for (long i = 0; i < m; i++)
        for (long j = 0; j < n; j++) {
            float g = gy[i * n + j];
            gb[j] += g;
            for (long t = 0; t < k; t++) {
                gx[i * k + t] += g * w[j * k + t];
                gw[j * k + t] += g * x[i * k + t];
            }
        }
}

void naive_log_softmax_forward(long rows, long cols, const float *x,
                               float *y)
{
    for (long i = 0; i < rows; i++) {
        const float *r = x + i * cols;
        float mx = -INFINITY, s = 0;
        for (long j = 0; j < cols; j++)
            mx = r[j] > mx ? r[j] : mx;
        for (long j = 0; j < cols; j++)
            s += expf(r[j] - mx);
        for (long j = 0; j < cols; j++)
            y[i * cols + j] = logf(expf(r[j] - mx) / s);
    }
}

void naive_log_softmax_backward(long rows, long cols, const float *y,
                                const float *gy, float *gx)
{
    for (long i = 0; i < rows; i++) {
        float s = 0;
        for (long j = 0; j < cols; j++)
            s += gy[i * cols + j];
        for (long j = 0; j < cols; j++)
            gx[i * cols + j] = gy[i * cols + j] - expf(y[i * cols + j]) * s;
    }
}

void naive_max_pool2_forward(long planes, long h, long w, const float *x,
                             float *y, long *at)
{
    long oh = h / 2, ow = w / 2;
    for (long p = 0; p < planes; p++)
        for (long i = 0; i < oh; i++)
            for (long j = 0; j < ow; j++) {
                long best = (p * h + 2 * i) * w + 2 * j;
                for (long u = 0; u < 2; u++)
                    for (long v = 0; v < 2; v++) {
                        long q = (p * h + 2 * i + u) * w + 2 * j + v;
                        if (x[q] > x[best])
                            best = q;
                    }
                y[(p * oh + i) * ow + j] = x[best];
                at[(p * oh + i) * ow + j] = best;
            }
}

void naive_max_pool2_backward(long planes, long h, long w, const long *at,
                              const float *gy, float *gx)
{
    memset(gx, 0, sizeof(float) * (size_t)(planes * h * w));
    for (long i = 0; i < planes * (h / 2) * (w / 2); i++)
        gx[at[i]] += gy[i];
}

float naive_expr_forward(const float *x, long n)
{
    double acc = 0;
    for (long i = 0; i < n; i++) {
        float y = x[i] - 2;
        acc += 3 * y * y;
    }
    return (float)(acc / (double)n);
}

void naive_expr_backward(const float *x, long n, float *gx)
{
    for (long i = 0; i < n; i++)
        gx[i] = 6 * (x[i] - 2) / (float)n;
}

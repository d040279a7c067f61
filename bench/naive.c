/* naive.c: the baseline, loop nests written the obvious way (direct
 * convolution with a bounds test per tap, no blocking, no unrolling),
 * compiled with the same flags as agc's generated code. */
#include "bench.h"

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
                    for (long c = 0; c < k->c; c++)
                        for (long p = 0; p < k->kh; p++)
                            for (long q = 0; q < k->kw; q++) {
                                long r = i * k->sh - k->ph + p;
                                long s = j * k->sw - k->pw + q;
                                if (r < 0 || r >= k->h || s < 0 || s >= k->w)
                                    continue;
                                acc += x[((n * k->c + c) * k->h + r) * k->w + s] *
                                       w[((o * k->c + c) * k->kh + p) * k->kw + q];
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
    memset(gw, 0, sizeof(float) * (size_t)(k->o * k->c * k->kh * k->kw));
    memset(gb, 0, sizeof(float) * (size_t)k->o);
    for (long n = 0; n < k->n; n++)
        for (long o = 0; o < k->o; o++)
            for (long i = 0; i < k->oh; i++)
                for (long j = 0; j < k->ow; j++) {
                    float g = gy[((n * k->o + o) * k->oh + i) * k->ow + j];
                    gb[o] += g;
                    for (long c = 0; c < k->c; c++)
                        for (long p = 0; p < k->kh; p++)
                            for (long q = 0; q < k->kw; q++) {
                                long r = i * k->sh - k->ph + p;
                                long s = j * k->sw - k->pw + q;
                                if (r < 0 || r >= k->h || s < 0 || s >= k->w)
                                    continue;
                                long xi = ((n * k->c + c) * k->h + r) * k->w + s;
                                long wi = ((o * k->c + c) * k->kh + p) * k->kw + q;
                                gw[wi] += g * x[xi];
                                gx[xi] += g * w[wi];
                            }
                }
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

/* mathf.c: checks agc_expf, agc_logf and the float32 max and min of
 * generated code (built from mathf.yaml) against libm and plain loops.
 *
 * exp and log run over every 4099th float bit pattern (all of them, in
 * steps, with every class: zeros, subnormals, normals, infinities, NaNs
 * of both signs); a finite result must be within 1 ulp of the exact one
 * (computed in double), anything else must equal libm's.  max and min run
 * over rows of random floats, with NaNs, infinities and zeros of both
 * signs in some rows, and must equal a plain loop's result, NaN for a row
 * holding one. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mathf.h"

#define ROWS 256
#define COLS 4096
#define STEP 4099u

static mathf_t m;

static float from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* |got - want| in units of the last place of want, rounded to float */
static double ulps(float got, double want)
{
    float w = (float)want;
    double ulp = (double)nextafterf(fabsf(w), INFINITY) - fabsf(w);
    return fabs((double)got - want) / ulp;
}

/* 0 if got is what want (exact, in double) rounds to within 1 ulp, or
 * equals libm's result where that is not finite */
static int bad(float got, double want, float libm)
{
    if (isfinite(libm) && isfinite(want) && fabs(want) >= 0x1p-126)
        return ulps(got, want) > 1.0;
    if (isnan(libm))
        return !isnan(got);
    if (!isfinite(libm) || libm == 0)
        return got != libm;
    return fabsf(got - libm) > 0x1p-149f * 2;   /* a subnormal result */
}

static float ref_max(const float *r, int n, int min)
{
    float acc = r[0];
    for (int j = 1; j < n; j++)
        if (min ? r[j] < acc : r[j] > acc)
            acc = r[j];
    for (int j = 0; j < n; j++)
        if (isnan(r[j]))
            return r[j];
    return acc;
}

int main(void)
{
    long fails = 0, n = 0;
    double worst_exp = 0, worst_log = 0;
    uint64_t u = 0;
    while (u <= UINT32_MAX) {
        long k = 0;
        for (; k < ROWS * COLS && u + (uint64_t)k * STEP <= UINT32_MAX; k++)
            m.x[k] = from_bits((uint32_t)(u + (uint64_t)k * STEP));
        for (long i = k; i < ROWS * COLS; i++)
            m.x[i] = 1;
        if (mathf_forward(&m) != mathf_OK)
            return 1;
        for (long i = 0; i < k; i++) {
            float x = m.x[i];
            int be = bad(m.e[i], exp((double)x), expf(x));
            int bl = bad(m.l[i], log((double)x), logf(x));
            if (isfinite(m.e[i]) && isfinite(expf(x)) && expf(x) >= 0x1p-126f)
                worst_exp = fmax(worst_exp, ulps(m.e[i], exp((double)x)));
            if (isfinite(m.l[i]) && isfinite(logf(x)))
                worst_log = fmax(worst_log, ulps(m.l[i], log((double)x)));
            if ((be || bl) && fails++ < 10)
                fprintf(stderr, "mathf: x = %a (0x%08x): exp %a (libm %a), "
                        "log %a (libm %a)\n", x, (unsigned)(u + i * STEP),
                        m.e[i], expf(x), m.l[i], logf(x));
        }
        n += k;
        u += (uint64_t)k * STEP;
    }

    /* max and min: random rows, some with specials planted */
    srand(1);
    const float special[] = {NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f};
    for (int round = 0; round < 4; round++) {
        for (long i = 0; i < ROWS * COLS; i++)
            m.x[i] = ((float)rand() / RAND_MAX - 0.5f) * 1e4f;
        for (int r = 0; r < ROWS; r++)
            if (r % 3 == round % 3) {
                int s = rand() % 6;
                m.x[r * COLS + rand() % COLS] = special[s];
            }
        if (mathf_forward(&m) != mathf_OK)
            return 1;
        for (int r = 0; r < ROWS; r++) {
            float hi = ref_max(m.x + r * COLS, COLS, 0);
            float lo = ref_max(m.x + r * COLS, COLS, 1);
            int ok = (isnan(hi) ? isnan(m.hi[r]) : m.hi[r] == hi) &&
                     (isnan(lo) ? isnan(m.lo[r]) : m.lo[r] == lo);
            if (!ok && fails++ < 10)
                fprintf(stderr, "mathf: row %d: max %a (want %a), "
                        "min %a (want %a)\n", r, m.hi[r], hi, m.lo[r], lo);
        }
    }
    printf("mathf: %ld bit patterns, exp within %.2f ulp, log within %.2f "
           "ulp; max and min of %d rows; %ld failures\n", n, worst_exp,
           worst_log, 4 * ROWS, fails);
    return fails != 0;
}

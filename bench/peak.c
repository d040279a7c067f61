/* peak.c: this core's peak float throughput, measured.
 *
 *   peak
 *
 * runs 12 independent chains of vector multiply-adds (acc = acc * a + b,
 * the vector as wide as the target's widest: 16 floats with AVX-512, 8
 * with AVX, else 4) long enough for the clock not to matter, and prints
 *
 *   info peak GFLOPS
 *
 * the best of 20 rounds (the machine is shared: the best is the closest to
 * the core's own rate).  Built by run.sh with the bench's flags and
 * -ffp-contract=fast, so that acc * a + b is one fused multiply-add.
 * 12 chains cover the multiply-add latency times the units of any x86
 * core and most others. */
#include <stdio.h>
#include <time.h>

#if defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__)
#define LANES 8
#else
#define LANES 4
#endif
#define CHAINS 12

typedef float vec __attribute__((vector_size(4 * LANES)));

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* n steps of every chain; returns a sum of them, so that none is dead */
static float chains(long n, float a0, float b0)
{
    vec acc[CHAINS], a = {0}, b = {0};
    for (int l = 0; l < LANES; l++)
        a[l] = a0, b[l] = b0;
    for (int c = 0; c < CHAINS; c++)
        acc[c] = b * (float)(c + 1);
    for (long i = 0; i < n; i++) {
        acc[0] = acc[0] * a + b;
        acc[1] = acc[1] * a + b;
        acc[2] = acc[2] * a + b;
        acc[3] = acc[3] * a + b;
        acc[4] = acc[4] * a + b;
        acc[5] = acc[5] * a + b;
        acc[6] = acc[6] * a + b;
        acc[7] = acc[7] * a + b;
        acc[8] = acc[8] * a + b;
        acc[9] = acc[9] * a + b;
        acc[10] = acc[10] * a + b;
        acc[11] = acc[11] * a + b;
    }
    float s = 0;
    for (int c = 0; c < CHAINS; c++)
        for (int l = 0; l < LANES; l++)
            s += acc[c][l];
    return s;
}

int main(void)
{
    volatile float a = 0.999f, b = 1e-4f;   /* unknown to the compiler */
    long n = 2000000;
    double best = 0;
    float sink = 0;
    for (int r = 0; r < 20; r++) {
        double t0 = now();
        sink += chains(n, a, b);
        double t = now() - t0;
        double gflops = 2.0 * CHAINS * LANES * (double)n / t * 1e-9;
        best = gflops > best ? gflops : best;
    }
    printf("info peak %.1f\n", best + 0 * (double)sink);
    return 0;
}

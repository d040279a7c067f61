/* model_static.c: the generated code of one spec, built into the driver
 * with the driver's compiler and flags.  Build with -DMODEL=NAME and
 * -include NAME.h (the header agc compile wrote). */
#include "bench.h"

#include <stdio.h>

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define SYM(s) CAT(MODEL, s)

static SYM(_t) model;               /* every tensor, zeroed before init */

static int forward(void *m)
{
    return SYM(_forward)(m);
}

static int backward(void *m)
{
    return SYM(_backward)(m);
}

int model_open(const char *spec, BenchModel *bm, char *err, size_t errlen)
{
    (void)spec, (void)err, (void)errlen;
    SYM(_init)(&model);
#ifdef _OPENMP
    bm->contender = "omp";          /* built with -fopenmp: run.sh's
                                     * 2-thread build */
#else
    bm->contender = "gcc";
#endif
    bm->m = &model;
    /* NAME_tensor has BenchTensor's layout member for member */
    bm->tensors = (const BenchTensor *)(const void *)SYM(_tensors);
    bm->ntensors = SYM(_num_tensors);
    bm->forward = forward;
    bm->backward = backward;
    return 1;
}

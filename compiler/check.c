/* check.c: every gradient against central finite differences.
 *
 * The gradient of backward's seed s against the node y it differentiates
 * is that of L = sum(s * y).  For each element x_i of each leaf requiring
 * grad, (L(x_i + h) - L(x_i - h)) / 2h must match the computed gradient.
 * Run in float64, where the difference quotient is good to about 1e-9. */
#include "agc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

long check_max = 2000;              /* elements checked per tensor */
#define RTOL 1e-5
#define ATOL 1e-7

/* Dropout's step counter, when there is one: every forward of the check
 * starts from the same step, so that it draws the same masks. */
static int64_t *rng_step, rng_start;

static double loss(Program *p, Jit *j, const double *y, const double *seed)
{
    if (rng_step)
        *rng_step = rng_start;
    if (j->forward(j->m) != 0)
        return NAN;
    long n = shape_count(&p->bwd_of->shape);
    double l = 0;
    for (long i = 0; i < n; i++)
        l += seed[i] * y[i];
    return l;
}

int check_gradients(Program *p, Jit *j, CheckRow **rows, int *nrows)
{
    const double *y = NULL;
    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].role == ROLE_OUTPUT &&
            p->tensors[i].node == p->bwd_of)
            y = jit_tensor(j, p->tensors[i].name, NULL);
    if (!y)
        agc_error(p->spec->bwd_pos, "internal error: check: '%s' is not "
                  "an output", p->spec->bwd_of);
    long ny = shape_count(&p->bwd_of->shape);
    double *seed = agc_alloc(sizeof(double) * (size_t)ny);
    for (long i = 0; i < ny; i++)
        seed[i] = p->seed->op == OP_INPUT ? 0
                  : p->seed->cdata        ? p->seed->cdata[i]
                                          : p->seed->cval;
    if (p->seed->op == OP_INPUT)
        memcpy(seed, jit_tensor(j, p->seed->name, NULL),
               sizeof(double) * (size_t)ny);

    rng_step = p->rng_step ? jit_tensor(j, p->rng_step->name, NULL) : NULL;
    if (rng_step)
        rng_start = *rng_step;
    if (j->forward(j->m) != 0 || j->backward(j->m) != 0)
        agc_error(p->spec->pos, "check: forward or backward failed");
    int failed = 0;
    *nrows = 0;
    *rows = agc_alloc(sizeof(CheckRow) * (size_t)(p->ntensors + 1));
    for (int t = 0; t < p->ntensors; t++) {
        Tensor *gt = &p->tensors[t];
        if (gt->role != ROLE_GRAD)
            continue;
        const AgcTensorInfo *info;
        const double *g = jit_tensor(j, gt->name, &info);
        double *grad = agc_alloc(sizeof(double) * (size_t)info->count);
        memcpy(grad, g, sizeof(double) * (size_t)info->count);
        double *x = jit_tensor(j, p->decls[gt->decl].name, NULL);
        CheckRow *r = &(*rows)[(*nrows)++];
        r->tensor = gt->name;
        r->count = info->count;
        r->ok = 1;
        long step = info->count > check_max ? info->count / check_max : 1;
        for (long i = 0; i < info->count; i += step) {
            double x0 = x[i], h = 1e-6 * (fabs(x0) > 1 ? fabs(x0) : 1);
            x[i] = x0 + h;
            double lp = loss(p, j, y, seed);
            x[i] = x0 - h;
            double lm = loss(p, j, y, seed);
            x[i] = x0;
            double fd = (lp - lm) / (2 * h);
            double err = fabs(fd - grad[i]);
            double mag = fmax(fabs(fd), fabs(grad[i]));
            double rel = err / fmax(mag, ATOL);
            r->max_abs = fmax(r->max_abs, err);
            r->max_rel = fmax(r->max_rel, rel);
            if (!(err <= ATOL + RTOL * mag))
                r->ok = 0;
            r->checked++;
        }
        failed += !r->ok;
    }
    loss(p, j, y, seed);            /* leave the instance as it was */
    rng_step = NULL;
    return failed;
}

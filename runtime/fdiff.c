/* fdiff.c: central finite differences and an error measure. */
#include "fdiff.h"

#include <math.h>

void fdiff_grad(fdiff_fn f, void *ctx, double *x, long n, double h,
                double *grad_out)
{
    long i;

    for (i = 0; i < n; i++) {
        double xi = x[i], up, down;
        x[i] = xi + h;
        up = f(ctx);
        x[i] = xi - h;
        down = f(ctx);
        x[i] = xi;
        grad_out[i] = (up - down) / (2 * h);
    }
}

FdiffErr fdiff_compare(const double *a, const double *b, long n, double atol)
{
    FdiffErr e = {0, 0, -1};
    long i;

    for (i = 0; i < n; i++) {
        double d = a[i] == b[i] ? 0 : fabs(a[i] - b[i]);  /* inf == inf */
        double scale = fmax(fmax(fabs(a[i]), fabs(b[i])), atol);
        double rel = d == 0 ? 0 : isinf(d) ? d : d / scale;
        if (isnan(d)) {
            e.max_abs = e.max_rel = NAN;
            e.worst = i;
            return e;
        }
        e.max_abs = fmax(e.max_abs, d);
        if (e.worst < 0 || rel > e.max_rel) {
            e.max_rel = rel;
            e.worst = i;
        }
    }
    return e;
}

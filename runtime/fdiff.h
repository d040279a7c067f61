/* fdiff.h: finite-difference gradients, for checking derived ones in tests. */
#ifndef FDIFF_H
#define FDIFF_H

/* A scalar function of some parameters that it reads through ctx. */
typedef double (*fdiff_fn)(void *ctx);

/* Central differences: grad_out[i] = (f(x + h e_i) - f(x - h e_i)) / 2h.
 * x is the array f reads (through ctx); each x[i] is restored exactly. */
void fdiff_grad(fdiff_fn f, void *ctx, double *x, long n, double h,
                double *grad_out);

/* How far a is from b: the largest |a[i] - b[i]| and the largest
 * |a[i] - b[i]| / max(|a[i]|, |b[i]|, atol).  Equal infinities match; a
 * nan anywhere makes both nan (and worst its index). */
typedef struct FdiffErr {
    double max_abs, max_rel;
    long worst;                     /* index of max_rel, -1 when n is 0 */
} FdiffErr;

FdiffErr fdiff_compare(const double *a, const double *b, long n, double atol);

#endif

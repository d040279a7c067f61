/* print.h: tensors printed exactly as PyTorch 1.13 prints them.
 *
 * This follows torch/_tensor_str.py with the default print options
 * (precision 4, threshold 1000, edgeitems 3, linewidth 80): the same choice
 * of integer, fixed or scientific notation, the same column width, line
 * wrapping, "..." summarization and "dtype=" suffix.  The text is what
 * repr(t) gives for a tensor without grad_fn or requires_grad.
 */
#ifndef PRINT_H
#define PRINT_H

#include <stdint.h>

/* Formats a float tensor of the given shape (C order, rank 0 for a 0-d
 * tensor) as "tensor([[-1.5000,  0.0000],\n        [ 1.5000,  3.0000]])".
 * With is_float64 0 the values are those of a float32 tensor (each is
 * rounded to float first); with 1 ", dtype=torch.float64" is appended.
 * Returns a malloc'd string (the caller frees it), or NULL if out of memory. */
char *tensor_format(const double *v, int rank, const long *shape,
                    int is_float64);

/* Formats an int64 tensor: "tensor([1, 0, 3])" (values beyond 2^53 are
 * rounded).  malloc'd, NULL if out of memory. */
char *tensor_format_int64(const int64_t *v, int rank, const long *shape);

/* Formats a 0-d int64 tensor: "tensor(9)". malloc'd, NULL if out of memory. */
char *tensor_format_int(long v);

#endif

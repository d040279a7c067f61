/* print.c: PyTorch's tensor repr, after torch/_tensor_str.py (torch 1.13).
 *
 * _Formatter looks at the nonzero finite values (of the summarized tensor
 * when it is summarized) and picks one notation for all of them:
 *   int_mode  every value is integral: "1.", "-2." (sci if max/min > 1000
 *             or max > 1e8);
 *   sci_mode  max/min > 1000, max > 1e8 or min < 1e-4: "1.0000e+03";
 *   otherwise fixed with 4 decimals: "0.5000".
 * Each element is right-aligned to the widest of those values; nan and inf
 * are printed bare and do not count towards the width.
 */
#include "print.h"

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION 4
#define THRESHOLD 1000              /* more elements than this: summarize */
#define EDGEITEMS 3
#define LINEWIDTH 80
#define PREFIX "tensor("

/* ---- a growing string; after a failed allocation it only counts ---- */

typedef struct Buf {
    char *s;
    size_t len, cap;
    int failed;
} Buf;

static void put_n(Buf *b, const char *s, size_t n)
{
    if (!b->failed && b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->s, cap);
        if (!p)
            b->failed = 1;
        b->s = p ? p : b->s;
        b->cap = p ? cap : b->cap;
    }
    if (!b->failed) {
        memcpy(b->s + b->len, s, n);
        b->s[b->len + n] = '\0';
    }
    b->len += n;
}

static void put(Buf *b, const char *s)
{
    put_n(b, s, strlen(s));
}

static void put_spaces(Buf *b, int n)
{
    while (n-- > 0)
        put_n(b, " ", 1);
}

/* ---- values ---- */

/* x as a float32 tensor holds it: rounded to nearest float. */
static double to_dtype(double x, int is_float64)
{
    if (is_float64 || isnan(x))
        return x;
    if (fabs(x) <= FLT_MAX)
        return (float)x;
    return copysign(fabs(x) < FLT_MAX + 0x1p103 ? FLT_MAX : HUGE_VAL, x);
}

typedef struct Formatter {
    int int_mode, sci_mode, max_width;
    int int64;                      /* an int64 tensor: "3", never "3." */
} Formatter;

/* The text of one value, unpadded, into buf (at least 512 bytes: "%.4f"
 * of 1e308 is 314 characters). */
static void format_value(const Formatter *fm, double x, char *buf, size_t n)
{
    if (fm->int64)
        snprintf(buf, n, "%.0f", x);
    else if (isnan(x))
        snprintf(buf, n, "nan");    /* Python never prints "-nan" */
    else if (isinf(x))
        snprintf(buf, n, x < 0 ? "-inf" : "inf");
    else if (fm->sci_mode)
        snprintf(buf, n, "%.*e", PRECISION, x);
    else if (fm->int_mode)
        snprintf(buf, n, "%.0f.", x);
    else
        snprintf(buf, n, "%.*f", PRECISION, x);
}

static void put_value(Buf *b, const Formatter *fm, double x)
{
    char s[512];

    format_value(fm, x, s, sizeof s);
    put_spaces(b, fm->max_width - (int)strlen(s));
    put(b, s);
}

/* _Formatter.__init__ over the n values v. */
static Formatter make_formatter(const double *v, long n, int int64)
{
    Formatter fm = {1, 0, 1, int64};
    double lo = HUGE_VAL, hi = 0, ratio;
    char s[512];
    long i, nz = 0;

    for (i = 0; int64 && i < n; i++) {  /* every value counts */
        format_value(&fm, v[i], s, sizeof s);
        fm.max_width = (int)strlen(s) > fm.max_width ? (int)strlen(s)
                                                     : fm.max_width;
    }
    if (int64)
        return fm;

    for (i = 0; i < n; i++) {
        double a = fabs(v[i]);
        if (!isfinite(v[i]) || v[i] == 0)
            continue;
        nz++;
        lo = a < lo ? a : lo;
        hi = a > hi ? a : hi;
        if (v[i] != ceil(v[i]))
            fm.int_mode = 0;
    }
    if (nz == 0)
        return fm;
    ratio = hi / lo;
    fm.sci_mode = ratio > 1000.0 || hi > 1.0e8 || (!fm.int_mode && lo < 1.0e-4);
    for (i = 0; i < n; i++) {
        int w;
        if (!isfinite(v[i]) || v[i] == 0)
            continue;
        format_value(&fm, v[i], s, sizeof s);
        w = (int)strlen(s);
        fm.max_width = w > fm.max_width ? w : fm.max_width;
    }
    return fm;
}

/* ---- layout ---- */

/* Along a dimension of size n, the number of items printed: all n, or
 * when summarizing EDGEITEMS, "...", EDGEITEMS. */
static int summarized(long n, int summarize)
{
    return summarize && n > 2 * EDGEITEMS;
}

static long item_count(long n, int summarize)
{
    return summarized(n, summarize) ? 2 * EDGEITEMS + 1 : n;
}

/* The index printed as item j, or -1 for the "...". */
static long item_index(long n, int summarize, long j)
{
    if (!summarized(n, summarize) || j < EDGEITEMS)
        return j;
    return j == EDGEITEMS ? -1 : n - (2 * EDGEITEMS + 1) + j;
}

static long stride_of(int rank, const long *shape)
{
    long s = 1;
    int i;

    for (i = 1; i < rank; i++)
        s *= shape[i];
    return s;
}

/* get_summarized_data: the values the formatter looks at, into out. */
static void collect(const double *v, int rank, const long *shape,
                    int summarize, int is_float64, double *out, long *n)
{
    long j, i, stride = stride_of(rank, shape);

    if (rank == 0) {
        out[(*n)++] = to_dtype(*v, is_float64);
        return;
    }
    for (j = 0; j < item_count(shape[0], summarize); j++)
        if ((i = item_index(shape[0], summarize, j)) >= 0)
            collect(v + i * stride, rank - 1, shape + 1, summarize,
                    is_float64, out, n);
}

typedef struct Printer {
    Buf *b;
    const Formatter *fm;
    int summarize, is_float64;
} Printer;

/* _vector_str: as many elements per line as fit in LINEWIDTH - indent. */
static void vector_str(Printer *p, const double *v, long n, int indent)
{
    long per_line = (LINEWIDTH - indent) / (p->fm->max_width + 2);
    long j, i;

    if (per_line < 1)
        per_line = 1;
    put(p->b, "[");
    for (j = 0; j < item_count(n, p->summarize); j++) {
        if (j > 0 && j % per_line == 0) {
            put(p->b, ",\n");
            put_spaces(p->b, indent + 1);
        } else if (j > 0) {
            put(p->b, ", ");
        }
        i = item_index(n, p->summarize, j);
        if (i < 0)
            put(p->b, " ...");
        else
            put_value(p->b, p->fm, to_dtype(v[i], p->is_float64));
    }
    put(p->b, "]");
}

/* _tensor_str_with_formatter: slices separated by ",", rank-1 newlines
 * and the indentation. */
static void tensor_str(Printer *p, const double *v, int rank,
                       const long *shape, int indent)
{
    long j, i, stride = stride_of(rank, shape);
    int k;

    if (rank == 0) {
        put_value(p->b, p->fm, to_dtype(*v, p->is_float64));
        return;
    }
    if (rank == 1) {
        vector_str(p, v, shape[0], indent);
        return;
    }
    put(p->b, "[");
    for (j = 0; j < item_count(shape[0], p->summarize); j++) {
        if (j > 0) {
            put(p->b, ",");
            for (k = 0; k < rank - 1; k++)
                put(p->b, "\n");
            put_spaces(p->b, indent + 1);
        }
        i = item_index(shape[0], p->summarize, j);
        if (i < 0)
            put(p->b, "...");
        else
            tensor_str(p, v + i * stride, rank - 1, shape + 1, indent + 1);
    }
    put(p->b, "]");
}

/* _add_suffixes: ", SUFFIX", or on a new line when it would pass column 80. */
static void add_suffix(Buf *b, const char *suffix)
{
    const char *nl = b->failed ? NULL : strrchr(b->s, '\n');
    long last_line = (long)b->len - (nl ? nl - b->s : -1) + 1;
    long n = (long)strlen(suffix);

    if (last_line + n + 2 > LINEWIDTH) {
        put(b, ",\n");
        put_spaces(b, (int)strlen(PREFIX));
    } else {
        put(b, ", ");
    }
    put(b, suffix);
}

/* is_float64: 2 for an int64 tensor (values exact, no suffix) */
static char *format_tensor(const double *v, int rank, const long *shape,
                           int is_float64)
{
    Buf b = {NULL, 0, 0, 0};
    long numel = 1;
    int i;

    for (i = 0; i < rank; i++)
        numel *= shape[i];
    put(&b, PREFIX);
    if (numel == 0) {
        put(&b, "[]");
        if (rank != 1) {            /* "size=(2, 0)", like the shape */
            Buf size = {NULL, 0, 0, 0};
            char d[32];
            put(&size, "size=(");
            for (i = 0; i < rank; i++) {
                snprintf(d, sizeof d, "%s%ld", i ? ", " : "", shape[i]);
                put(&size, d);
            }
            put(&size, ")");
            b.failed |= size.failed;
            if (!size.failed)
                add_suffix(&b, size.s);
            free(size.s);
        }
    } else {
        int summarize = numel > THRESHOLD;
        double *seen = malloc(numel * sizeof *seen);
        long n = 0;
        Formatter fm;
        Printer p;

        if (!seen) {
            free(b.s);
            return NULL;
        }
        collect(v, rank, shape, summarize, is_float64, seen, &n);
        fm = make_formatter(seen, n, is_float64 == 2);
        free(seen);
        p.b = &b;
        p.fm = &fm;
        p.summarize = summarize;
        p.is_float64 = is_float64;
        tensor_str(&p, v, rank, shape, (int)strlen(PREFIX));
    }
    if (is_float64 == 1)
        add_suffix(&b, "dtype=torch.float64");
    put(&b, ")");
    if (b.failed) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

char *tensor_format(const double *v, int rank, const long *shape,
                    int is_float64)
{
    return format_tensor(v, rank, shape, is_float64 != 0);
}

char *tensor_format_int64(const int64_t *v, int rank, const long *shape)
{
    long n = 1, i;
    double *d;
    char *s;

    for (i = 0; i < rank; i++)
        n *= shape[i];
    d = malloc((n ? n : 1) * sizeof *d);
    if (!d)
        return NULL;
    for (i = 0; i < n; i++)
        d[i] = (double)v[i];
    s = format_tensor(d, rank, shape, 2);
    free(d);
    return s;
}

char *tensor_format_int(long v)
{
    char *s = malloc(32);

    if (s)
        snprintf(s, 32, "tensor(%ld)", v);
    return s;
}

/* npy.c: .npy reading (versions 1.0, 2.0, 3.0) and atomic writing (1.0).
 *
 * The file is the magic "\x93NUMPY", a major and a minor version byte, the
 * header length (2 bytes little-endian in 1.0, 4 in 2.0 and 3.0), then the
 * header: a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }
 * padded with spaces and a '\n', then the raw data in C order.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L     /* mkstemp, fchmod, fsync */
#endif
#include "npy.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char magic[6] = "\x93NUMPY";

/* Formats "PATH: MESSAGE" into err; returns -1. */
static int fail(char *err, size_t errlen, const char *path,
                const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!err || errlen == 0)
        return -1;
    n = snprintf(err, errlen, "%s: ", path);
    if (n < 0 || (size_t)n >= errlen)
        return -1;
    va_start(ap, fmt);
    vsnprintf(err + n, errlen - n, fmt, ap);
    va_end(ap);
    return -1;
}

static int host_is_little_endian(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

/* The canonical descr of a supported dtype ("<f4", "|b1"), or NULL. */
static const char *descr_of(char kind, int itemsize)
{
    static const char *const table[] = {
        "<f4", "<f8", "|i1", "<i2", "<i4", "<i8",
        "|u1", "<u2", "<u4", "<u8", "|b1",
    };
    size_t i;

    for (i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i][1] == kind && table[i][2] - '0' == itemsize)
            return table[i];
    return NULL;
}

/* Python's tuple repr: "()", "(3,)", "(2, 2)". */
static void shape_str(char *buf, size_t size, int rank, const long *shape)
{
    size_t n = 0;
    int i;

    n += snprintf(buf, size, "(");
    for (i = 0; i < rank && n < size; i++)
        n += snprintf(buf + n, size - n, "%s%ld", i ? ", " : "", shape[i]);
    if (n < size)
        snprintf(buf + n, size - n, rank == 1 ? ",)" : ")");
}

/* Sets *count to the product of shape; -1 if a dimension is negative or
 * count * itemsize does not fit in a long and a size_t. */
static int shape_count(int rank, const long *shape, int itemsize, long *count)
{
    long limit = LONG_MAX / itemsize;
    long c = 1;
    int i;

    if ((unsigned long)limit > SIZE_MAX)
        limit = (long)(SIZE_MAX / itemsize);
    for (i = 0; i < rank; i++) {
        if (shape[i] < 0)
            return -1;
        if (shape[i] > 0 && c > limit / shape[i])
            return -1;
        c *= shape[i];
    }
    *count = c;
    return 0;
}

/* ---- the header: a Python dict literal ---- */

typedef struct Lexer {
    const char *p, *end;
} Lexer;

static void skip_space(Lexer *lx)
{
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' ||
                               *lx->p == '\r' || *lx->p == '\n'))
        lx->p++;
}

/* Skips whitespace, then consumes c if it comes next. */
static int accept(Lexer *lx, char c)
{
    skip_space(lx);
    if (lx->p < lx->end && *lx->p == c) {
        lx->p++;
        return 1;
    }
    return 0;
}

/* string -> "'" chars "'" | '"' chars '"'   (no escapes; at most size-1) */
static int parse_string(Lexer *lx, char *buf, size_t size)
{
    char quote;
    size_t n = 0;

    skip_space(lx);
    if (lx->p >= lx->end || (*lx->p != '\'' && *lx->p != '"'))
        return -1;
    quote = *lx->p++;
    while (lx->p < lx->end && *lx->p != quote) {
        if (*lx->p == '\\' || *lx->p == '\n' || n + 1 >= size)
            return -1;
        buf[n++] = *lx->p++;
    }
    if (lx->p >= lx->end)
        return -1;
    lx->p++;
    buf[n] = '\0';
    return 0;
}

/* Consumes the word w if it comes next and is not followed by a letter. */
static int accept_word(Lexer *lx, const char *w)
{
    size_t n = strlen(w);

    skip_space(lx);
    if ((size_t)(lx->end - lx->p) < n || memcmp(lx->p, w, n) != 0)
        return 0;
    if (lx->p + n < lx->end && (lx->p[n] == '_' || (lx->p[n] >= 'A' &&
        lx->p[n] <= 'Z') || (lx->p[n] >= 'a' && lx->p[n] <= 'z')))
        return 0;
    lx->p += n;
    return 1;
}

/* int -> '0' | [1-9][0-9]*   Returns 0, -1 if malformed, -2 if too large. */
static int parse_int(Lexer *lx, long *v)
{
    long x = 0;

    skip_space(lx);
    if (lx->p >= lx->end || *lx->p < '0' || *lx->p > '9')
        return -1;
    if (*lx->p == '0' && lx->p + 1 < lx->end && lx->p[1] >= '0' &&
        lx->p[1] <= '9')
        return -1;
    while (lx->p < lx->end && *lx->p >= '0' && *lx->p <= '9') {
        int d = *lx->p++ - '0';
        if (x > (LONG_MAX - d) / 10)
            return -2;
        x = 10 * x + d;
    }
    *v = x;
    return 0;
}

/* shape -> '(' ')' | '(' int ',' ')' | '(' int (',' int)+ [','] ')'
 * Returns 0, -1 if malformed, -2 if a value is too large, -3 if there are
 * more than NPY_MAX_RANK values. */
static int parse_shape(Lexer *lx, int *rank, long *shape)
{
    int r;

    *rank = 0;
    if (!accept(lx, '('))
        return -1;
    if (accept(lx, ')'))
        return 0;
    for (;;) {
        long v;
        if ((r = parse_int(lx, &v)) != 0)
            return r;
        if (*rank == NPY_MAX_RANK)
            return -3;
        shape[(*rank)++] = v;
        if (accept(lx, ')'))
            return *rank == 1 ? -1 : 0;      /* (2) is not a tuple */
        if (!accept(lx, ','))
            return -1;
        if (accept(lx, ')'))
            return 0;
    }
}

/* Parses the header dict into a's kind, itemsize, rank, shape and count. */
static int parse_header(const char *path, const char *h, size_t len,
                        NpyArray *a, char *err, size_t errlen)
{
    Lexer lx;
    char key[32], descr[32], order = 0;
    int seen_descr = 0, seen_order = 0, seen_shape = 0, r;

    lx.p = h;
    lx.end = h + len;
    if (!accept(&lx, '{'))
        return fail(err, errlen, path, "malformed header");
    while (!accept(&lx, '}')) {
        if (parse_string(&lx, key, sizeof key) != 0 || !accept(&lx, ':'))
            return fail(err, errlen, path, "malformed header");
        if (strcmp(key, "descr") == 0 && !seen_descr) {
            seen_descr = 1;
            skip_space(&lx);
            if (lx.p < lx.end && *lx.p == '[')
                return fail(err, errlen, path,
                            "structured dtypes are not supported");
            if (parse_string(&lx, descr, sizeof descr) != 0)
                return fail(err, errlen, path, "malformed header");
        } else if (strcmp(key, "fortran_order") == 0 && !seen_order) {
            seen_order = 1;
            if (accept_word(&lx, "True"))
                order = 'F';
            else if (accept_word(&lx, "False"))
                order = 'C';
            else
                return fail(err, errlen, path, "malformed header");
        } else if (strcmp(key, "shape") == 0 && !seen_shape) {
            seen_shape = 1;
            r = parse_shape(&lx, &a->rank, a->shape);
            if (r == -2)
                return fail(err, errlen, path, "shape is too large");
            if (r == -3)
                return fail(err, errlen, path, "more than %d dimensions are "
                            "not supported", NPY_MAX_RANK);
            if (r != 0)
                return fail(err, errlen, path, "malformed header");
        } else {
            return fail(err, errlen, path, "malformed header");
        }
        if (!accept(&lx, ',')) {
            if (!accept(&lx, '}'))
                return fail(err, errlen, path, "malformed header");
            break;
        }
    }
    skip_space(&lx);
    if (lx.p != lx.end || !seen_descr || !seen_order || !seen_shape)
        return fail(err, errlen, path, "malformed header");

    /* descr -> byteorder kind size, e.g. '<f4' */
    for (r = 0; descr[r]; r++)      /* it may be quoted in a message */
        if (descr[r] < ' ' || descr[r] > '~')
            descr[r] = '?';
    if (strlen(descr) == 3 && strchr("<>|", descr[0]) && descr[2] >= '1' &&
        descr[2] <= '8' && descr_of(descr[1], descr[2] - '0')) {
        a->kind = descr[1];
        a->itemsize = descr[2] - '0';
        if (descr[0] == '>' && a->itemsize > 1)
            return fail(err, errlen, path, "big-endian arrays are not "
                        "supported (dtype '%s')", descr);
        if (descr[0] == '|' && a->itemsize > 1)
            return fail(err, errlen, path, "unsupported dtype '%s'", descr);
    } else {
        return fail(err, errlen, path, "unsupported dtype '%s'", descr);
    }
    if (order == 'F')
        return fail(err, errlen, path,
                    "Fortran-order arrays are not supported");
    if (shape_count(a->rank, a->shape, a->itemsize, &a->count) != 0)
        return fail(err, errlen, path, "shape is too large");
    return 0;
}

/* Checks the 8-byte preamble (magic, version) of got bytes; sets *lensize
 * to the size of the header length that follows (2 or 4). */
static int check_preamble(const char *path, const unsigned char *pre,
                          size_t got, size_t *lensize, char *err,
                          size_t errlen)
{
    if (got < 6 || memcmp(pre, magic, 6) != 0)
        return fail(err, errlen, path, "not a .npy file (bad magic)");
    if (got < 8)
        return fail(err, errlen, path, "truncated header");
    if (pre[6] < 1 || pre[6] > 3 || pre[7] != 0)
        return fail(err, errlen, path, "unsupported .npy version %d.%d",
                    pre[6], pre[7]);
    *lensize = pre[6] == 1 ? 2 : 4;
    return 0;
}

/* The header length stored little-endian in lensize bytes at p, checked
 * against NPY_MAX_HEADER. */
static int header_length(const char *path, const unsigned char *p,
                         size_t lensize, unsigned long *hlen, char *err,
                         size_t errlen)
{
    *hlen = p[0] | (unsigned long)p[1] << 8;
    if (lensize == 4)
        *hlen |= (unsigned long)p[2] << 16 | (unsigned long)p[3] << 24;
    if (*hlen > (unsigned long)NPY_MAX_HEADER)
        return fail(err, errlen, path, "header too large (%lu bytes; the "
                    "limit is %ld)", *hlen, NPY_MAX_HEADER);
    return 0;
}

/* Reads the preamble and header of an open file into a (no data). */
static int read_header(FILE *f, const char *path, NpyArray *a,
                       char *err, size_t errlen)
{
    unsigned char pre[12];
    unsigned long hlen;
    size_t lensize = 0, got;    /* lensize: check_preamble sets it (gcc
                                 * -O2 inlined it, and warned) */
    char *h;
    int r;

    got = fread(pre, 1, 8, f);
    if (ferror(f))
        return fail(err, errlen, path, "read error: %s", strerror(errno));
    if (check_preamble(path, pre, got, &lensize, err, errlen) != 0)
        return -1;
    if (fread(pre + 8, 1, lensize, f) != lensize)
        return fail(err, errlen, path, "truncated header");
    if (header_length(path, pre + 8, lensize, &hlen, err, errlen) != 0)
        return -1;
    h = malloc(hlen + 1);
    if (!h)
        return fail(err, errlen, path, "out of memory");
    if (fread(h, 1, hlen, f) != hlen) {
        free(h);
        return fail(err, errlen, path, "truncated header");
    }
    r = parse_header(path, h, hlen, a, err, errlen);
    free(h);
    return r;
}

int npy_parse(const char *path, const void *buf, size_t len, NpyArray *out,
              size_t *offset, char *err, size_t errlen)
{
    const unsigned char *b = buf;
    unsigned long hlen;
    size_t lensize = 0, want;

    memset(out, 0, sizeof *out);
    if (check_preamble(path, b, len < 8 ? len : 8, &lensize, err,
                       errlen) != 0)
        return -1;
    if (len - 8 < lensize)
        return fail(err, errlen, path, "truncated header");
    if (header_length(path, b + 8, lensize, &hlen, err, errlen) != 0)
        return -1;
    if (len - 8 - lensize < hlen)
        return fail(err, errlen, path, "truncated header");
    if (parse_header(path, (const char *)b + 8 + lensize, hlen, out, err,
                     errlen) != 0)
        return -1;
    *offset = 8 + lensize + hlen;
    want = (size_t)out->count * out->itemsize;
    if (len - *offset < want)
        return fail(err, errlen, path, "truncated: expected %lu bytes of "
                    "data, found %lu", (unsigned long)want,
                    (unsigned long)(len - *offset));
    if (len - *offset > want)
        return fail(err, errlen, path, "trailing data after the array");
    return 0;
}

/* When the file is seekable, checks that exactly a's data follows, so that
 * a huge declared shape is reported before anything is allocated. */
static int check_size(FILE *f, const char *path, const NpyArray *a,
                      char *err, size_t errlen)
{
    long pos = ftell(f), end, want = a->count * a->itemsize;

    if (pos < 0 || fseek(f, 0, SEEK_END) != 0)
        return 0;                   /* not seekable: read_data checks */
    end = ftell(f);
    if (fseek(f, pos, SEEK_SET) != 0)
        return fail(err, errlen, path, "read error: %s", strerror(errno));
    if (end >= 0 && end - pos < want)
        return fail(err, errlen, path, "truncated: expected %ld bytes of "
                    "data, found %ld", want, end - pos);
    if (end >= 0 && end - pos > want)
        return fail(err, errlen, path, "trailing data after the array");
    return 0;
}

/* Reads a's data into data and checks that nothing follows it. */
static int read_data(FILE *f, const char *path, const NpyArray *a, void *data,
                     char *err, size_t errlen)
{
    size_t want = (size_t)a->count * a->itemsize;
    size_t got = want ? fread(data, 1, want, f) : 0;

    if (ferror(f))
        return fail(err, errlen, path, "read error: %s", strerror(errno));
    if (got < want)
        return fail(err, errlen, path, "truncated: expected %lu bytes of "
                    "data, found %lu", (unsigned long)want,
                    (unsigned long)got);
    if (fgetc(f) != EOF)
        return fail(err, errlen, path, "trailing data after the array");
    return 0;
}

/* Opens path and reads its header into a. */
static FILE *open_npy(const char *path, NpyArray *a, char *err, size_t errlen)
{
    FILE *f;

    memset(a, 0, sizeof *a);
    if (!host_is_little_endian()) {
        fail(err, errlen, path, "this host is not little-endian");
        return NULL;
    }
    f = fopen(path, "rb");
    if (!f) {
        fail(err, errlen, path, "cannot open: %s", strerror(errno));
        return NULL;
    }
    if (read_header(f, path, a, err, errlen) != 0) {
        fclose(f);
        return NULL;
    }
    return f;
}

int npy_load(const char *path, NpyArray *out, char *err, size_t errlen)
{
    FILE *f = open_npy(path, out, err, errlen);
    int r;

    if (!f)
        return -1;
    if (check_size(f, path, out, err, errlen) != 0) {
        fclose(f);
        return -1;
    }
    out->data = malloc(out->count ? (size_t)out->count * out->itemsize : 1);
    if (!out->data) {
        fclose(f);
        return fail(err, errlen, path, "out of memory");
    }
    r = read_data(f, path, out, out->data, err, errlen);
    fclose(f);
    if (r != 0)
        npy_free(out);
    return r;
}

void npy_free(NpyArray *a)
{
    free(a->data);
    a->data = NULL;
}

int npy_read(const char *path, char kind, int itemsize, int rank,
             const long *shape, void *data, char *err, size_t errlen)
{
    const char *want = descr_of(kind, itemsize);
    char got_s[NPY_MAX_RANK * 24 + 8], want_s[NPY_MAX_RANK * 24 + 8];
    NpyArray a;
    FILE *f;
    int r;

    if (!want)
        return fail(err, errlen, path, "unsupported expected dtype");
    if (rank < 0 || rank > NPY_MAX_RANK)
        return fail(err, errlen, path, "unsupported expected rank %d", rank);
    f = open_npy(path, &a, err, errlen);
    if (!f)
        return -1;
    if (a.kind != kind || a.itemsize != itemsize) {
        fclose(f);
        return fail(err, errlen, path, "dtype '%s' does not match the "
                    "expected '%s'", descr_of(a.kind, a.itemsize), want);
    }
    if (a.rank != rank ||
        (rank > 0 && memcmp(a.shape, shape, rank * sizeof *shape) != 0)) {
        fclose(f);
        shape_str(got_s, sizeof got_s, a.rank, a.shape);
        shape_str(want_s, sizeof want_s, rank, shape);
        return fail(err, errlen, path, "shape %s does not match the "
                    "expected %s", got_s, want_s);
    }
    r = check_size(f, path, &a, err, errlen);
    if (r == 0)
        r = read_data(f, path, &a, data, err, errlen);
    fclose(f);
    return r;
}

/* ---- writing ---- */

/* Builds the 1.0 preamble and header as numpy 1.24's np.save does: the
 * dict, spare room to grow the first axis to 21 digits, then spaces and a
 * '\n' up to a multiple of 64 bytes.  Returns its length. */
static size_t make_header(char *buf, size_t size, const char *descr,
                          int rank, const long *shape)
{
    char s[NPY_MAX_RANK * 24 + 8];
    int n, grow = 0, pad;

    shape_str(s, sizeof s, rank, shape);
    memcpy(buf, magic, 6);
    buf[6] = 1;
    buf[7] = 0;
    n = snprintf(buf + 10, size - 10, "{'descr': '%s', 'fortran_order': "
                 "False, 'shape': %s, }", descr, s);
    if (rank > 0)
        grow = 21 - snprintf(s, sizeof s, "%ld", shape[0]);
    pad = 64 - (10 + n + grow + 1) % 64;
    memset(buf + 10 + n, ' ', grow + pad);
    n += grow + pad;
    buf[10 + n] = '\n';
    n += 1;
    buf[8] = (char)(n & 0xff);
    buf[9] = (char)(n >> 8);
    return 10 + (size_t)n;
}

size_t npy_header(char *buf, size_t size, char kind, int itemsize,
                  int rank, const long *shape)
{
    const char *descr = descr_of(kind, itemsize);
    long count;

    if (!descr || size < NPY_HEADER_BUF || rank < 0 || rank > NPY_MAX_RANK ||
        shape_count(rank, shape, itemsize, &count) != 0)
        return 0;
    return make_header(buf, size, descr, rank, shape);
}

int npy_write_atomic(const char *path, int (*fill)(FILE *f, void *ctx),
                     void *ctx, char *err, size_t errlen)
{
    char *tmp;
    mode_t mask;
    FILE *f;
    int fd, ok, saved;

    tmp = malloc(strlen(path) + 12);
    if (!tmp)
        return fail(err, errlen, path, "out of memory");
    sprintf(tmp, "%s.tmpXXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        saved = errno;
        free(tmp);
        return fail(err, errlen, path, "cannot write: %s", strerror(saved));
    }
    mask = umask(0);                /* mkstemp made it 0600 */
    umask(mask);
    f = fdopen(fd, "wb");
    errno = 0;
    ok = f != NULL && fchmod(fd, 0666 & ~mask) == 0 && fill(f, ctx) == 0 &&
         fflush(f) == 0 && fsync(fd) == 0;
    saved = errno ? errno : EIO;
    if (f ? fclose(f) != 0 : close(fd) != 0) {
        if (ok)
            saved = errno;
        ok = 0;
    }
    if (ok && rename(tmp, path) != 0) {
        saved = errno;
        ok = 0;
    }
    if (!ok)
        remove(tmp);
    free(tmp);
    if (!ok)
        return fail(err, errlen, path, "cannot write: %s", strerror(saved));
    return 0;
}

/* What npy_write's fill writes: the header, then the data. */
typedef struct NpyOut {
    const char *header;
    size_t hlen, nbytes;
    const void *data;
} NpyOut;

static int fill_npy(FILE *f, void *ctx)
{
    const NpyOut *o = ctx;

    if (fwrite(o->header, 1, o->hlen, f) != o->hlen ||
        (o->nbytes > 0 && fwrite(o->data, 1, o->nbytes, f) != o->nbytes))
        return -1;
    return 0;
}

int npy_write(const char *path, char kind, int itemsize, int rank,
              const long *shape, const void *data, char *err, size_t errlen)
{
    char header[NPY_HEADER_BUF];
    NpyOut o;
    long count;

    if (!host_is_little_endian())
        return fail(err, errlen, path, "this host is not little-endian");
    if (!descr_of(kind, itemsize))
        return fail(err, errlen, path, "cannot write: unsupported dtype");
    if (rank < 0 || rank > NPY_MAX_RANK ||
        shape_count(rank, shape, itemsize, &count) != 0)
        return fail(err, errlen, path, "cannot write: unsupported shape");
    o.hlen = npy_header(header, sizeof header, kind, itemsize, rank, shape);
    o.header = header;
    o.nbytes = (size_t)count * itemsize;
    o.data = data;
    return npy_write_atomic(path, fill_npy, &o, err, errlen);
}

const char *npy_descr(char kind, int itemsize)
{
    return descr_of(kind, itemsize);
}

void npy_shape_str(char *buf, size_t size, int rank, const long *shape)
{
    shape_str(buf, size, rank, shape);
}

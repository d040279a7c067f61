/* npy.h: reading and writing NumPy .npy files (C99, libc only).
 *
 * Reads format versions 1.0, 2.0 and 3.0; writes 1.0 exactly as numpy's
 * np.save does.  Only little-endian, C-order arrays of the plain numeric
 * dtypes: '<f4' '<f8' '<i1'..'<i8' '<u1'..'<u8' '|b1' (and '|i1' '|u1').
 * The host must be little-endian; that is checked at run time.
 *
 * Every function returns 0 on success, or -1 with a message in err that
 * starts with the path ("x.npy: shape (3,) does not match the expected
 * (2, 2)") and has no position prefix: the caller adds its own.
 */
#ifndef NPY_H
#define NPY_H

#include <stddef.h>
#include <stdio.h>

#define NPY_MAX_RANK 8
#define NPY_MAX_HEADER (1L << 20)   /* header length limit, bytes */
#define NPY_HEADER_BUF 512          /* room for any header npy_header makes */
#define NPY_SHAPE_BUF (NPY_MAX_RANK * 24 + 8)  /* room for npy_shape_str */

typedef struct NpyArray {
    char kind;                      /* 'f' float, 'i' int, 'u' unsigned, 'b' bool */
    int itemsize;                   /* bytes per element: 1, 2, 4, 8 */
    int rank;                       /* 0 for a 0-d array */
    long shape[NPY_MAX_RANK];
    long count;                     /* product of shape (1 when rank is 0) */
    void *data;                     /* count * itemsize bytes, malloc'd */
} NpyArray;

/* Loads whatever array the file holds.  On success out->data is malloc'd
 * (release it with npy_free); on failure *out holds no allocation. */
int npy_load(const char *path, NpyArray *out, char *err, size_t errlen);
void npy_free(NpyArray *a);

/* Reads a file that must hold exactly the expected dtype (kind 'f' with
 * itemsize 4 is '<f4', 'i' with 8 is '<i8', ...) and shape, into data
 * (product of shape elements). */
int npy_read(const char *path, char kind, int itemsize, int rank,
             const long *shape, void *data, char *err, size_t errlen);

/* Writes a version 1.0 file, atomically: to PATH.tmpXXXXXX in the same
 * directory, then renamed over path.  On failure no file is left behind and
 * an existing file at path is unchanged.  The file gets mode 0666 & ~umask. */
int npy_write(const char *path, char kind, int itemsize, int rank,
              const long *shape, const void *data, char *err, size_t errlen);

/* Parses a whole .npy file held in memory (buf, len bytes): out gets the
 * dtype and shape (out->data is NULL), *offset where the data starts.
 * Exactly count * itemsize bytes must follow the header.  path names the
 * buffer in messages ("ckpt.npz: member 'w'"). */
int npy_parse(const char *path, const void *buf, size_t len, NpyArray *out,
              size_t *offset, char *err, size_t errlen);

/* Builds the version 1.0 preamble and header that npy_write writes, into
 * buf (at least NPY_HEADER_BUF bytes); returns its length, a multiple of
 * 64, or 0 for an unsupported dtype or shape. */
size_t npy_header(char *buf, size_t size, char kind, int itemsize,
                  int rank, const long *shape);

/* Writes path atomically: fill writes the whole content to f (returning 0,
 * or nonzero on failure with errno set); the content goes to a temporary
 * PATH.tmpXXXXXX in the same directory, is flushed and synced, then renamed
 * over path.  On failure no file is left behind and an existing file at
 * path is unchanged ("PATH: cannot write: REASON").  Mode 0666 & ~umask. */
int npy_write_atomic(const char *path, int (*fill)(FILE *f, void *ctx),
                     void *ctx, char *err, size_t errlen);

/* The descr of a supported dtype ("<f4", "<i8", "|b1"), or NULL. */
const char *npy_descr(char kind, int itemsize);

/* Python's repr of a shape tuple: "()", "(3,)", "(2, 2)"; buf should hold
 * NPY_SHAPE_BUF bytes. */
void npy_shape_str(char *buf, size_t size, int rank, const long *shape);

#endif

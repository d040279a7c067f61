/* test_runtime.c: the host runtime (npy, print, fdiff).  Run from the
 * repository root: the print goldens are read from tests/golden/print/
 * (made by tests/print_cases.py with torch); scratch files go to a fresh
 * directory under /tmp that is removed at the end. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L     /* mkdtemp, opendir, umask */
#endif
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

#include "fdiff.h"
#include "npy.h"
#include "print.h"

#define GOLDEN "tests/golden/print/"

static char err[512];

static int setup(void **state)
{
    (void)state;
    return tmpdir_make("agc_test_runtime");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

static void *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *s;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    s = malloc(n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, n, f), (size_t)n);
    s[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return s;
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Writes tmp_path(name): magic, version major.0, header (as given, plus '\n'),
 * then nbytes of data (bytes 0, 1, 2, ...). */
static const char *write_npy(const char *name, int major, const char *header,
                             size_t nbytes)
{
    size_t hlen = strlen(header) + 1, pre = major == 1 ? 10 : 12, i;
    unsigned char *b = malloc(pre + hlen + nbytes);

    assert_non_null(b);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (i = 0; i < pre - 8; i++)
        b[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + pre, header, hlen - 1);
    b[pre + hlen - 1] = '\n';
    for (i = 0; i < nbytes; i++)
        b[pre + hlen + i] = (unsigned char)i;
    write_bytes(tmp_path(name), b, pre + hlen + nbytes);
    free(b);
    return tmp_path(name);
}

/* npy_read of path as (kind, itemsize, shape) fails with "PATH: msg". */
static void expect_read_error(const char *path, char kind, int itemsize,
                              int rank, const long *shape, const char *msg)
{
    char want[512], data[64];
    snprintf(want, sizeof want, "%s: %s", path, msg);
    assert_int_equal(npy_read(path, kind, itemsize, rank, shape, data, err,
                              sizeof err), -1);
    assert_string_equal(err, want);
}

/* npy_load of path fails with "PATH: msg". */
static void expect_load_error(const char *path, const char *msg)
{
    NpyArray a;
    char want[512];
    snprintf(want, sizeof want, "%s: %s", path, msg);
    assert_int_equal(npy_load(path, &a, err, sizeof err), -1);
    assert_string_equal(err, want);
    assert_null(a.data);
}

/* ---- npy ---- */

/* Writes n elements of (kind, itemsize) and reads them back both ways. */
static void roundtrip(char kind, int itemsize, int rank, const long *shape,
                      const void *data, long n)
{
    const char *path = tmp_path("rt.npy");
    unsigned char back[256];
    NpyArray a;

    assert_int_equal(npy_write(path, kind, itemsize, rank, shape, data, err,
                               sizeof err), 0);
    memset(back, 0xee, sizeof back);
    assert_int_equal(npy_read(path, kind, itemsize, rank, shape, back, err,
                              sizeof err), 0);
    assert_memory_equal(back, data, n * itemsize);
    assert_int_equal(back[n * itemsize], 0xee);

    assert_int_equal(npy_load(path, &a, err, sizeof err), 0);
    assert_int_equal(a.kind, kind);
    assert_int_equal(a.itemsize, itemsize);
    assert_int_equal(a.rank, rank);
    assert_int_equal(a.count, n);
    assert_memory_equal(a.shape, shape, rank * sizeof *shape);
    assert_memory_equal(a.data, data, n * itemsize);
    npy_free(&a);
    assert_null(a.data);
    assert_int_equal(tmpdir_count("rt.npy.tmp"), 0);
}

static void test_npy_roundtrip_f4(void **state)
{
    float v[24];
    long s0[1] = {0}, s1[] = {5}, s3[] = {2, 3, 4};
    int i;

    (void)state;
    for (i = 0; i < 24; i++)
        v[i] = (float)i * -0.5f + 0.25f;
    roundtrip('f', 4, 0, s0, v, 1);
    roundtrip('f', 4, 1, s1, v, 5);
    roundtrip('f', 4, 3, s3, v, 24);
}

static void test_npy_roundtrip_f8(void **state)
{
    double v[24];
    long s0[1] = {0}, s1[] = {7}, s3[] = {4, 1, 6};
    int i;

    (void)state;
    for (i = 0; i < 24; i++)
        v[i] = sin(i) * 1e10;
    v[1] = NAN;
    v[2] = -INFINITY;
    roundtrip('f', 8, 0, s0, v, 1);
    roundtrip('f', 8, 1, s1, v, 7);
    roundtrip('f', 8, 3, s3, v, 24);
}

static void test_npy_roundtrip_i8(void **state)
{
    int64_t v[12];
    long s0[1] = {0}, s1[] = {3}, s3[] = {1, 3, 4};
    int i;

    (void)state;
    for (i = 0; i < 12; i++)
        v[i] = (int64_t)i * -1000000007 + 3;
    v[0] = INT64_MIN;
    roundtrip('i', 8, 0, s0, v, 1);
    roundtrip('i', 8, 1, s1, v, 3);
    roundtrip('i', 8, 3, s3, v, 12);
}

/* npy_write's bytes equal np.save's, for files numpy wrote as version 1.0. */
static void test_npy_write_matches_numpy(void **state)
{
    static const char *const names[] = {
        "scalar", "scalar_f64", "scalar_int64", "ints", "mat3x20",
        "n1000", "t10x10x11", "t5d", "empty", "empty_2d", "empty_3d_f64",
    };
    char path[128];
    size_t i, n1, n2;

    (void)state;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        NpyArray a;
        char *want, *got;
        snprintf(path, sizeof path, GOLDEN "%s.npy", names[i]);
        assert_int_equal(npy_load(path, &a, err, sizeof err), 0);
        assert_int_equal(npy_write(tmp_path("w.npy"), a.kind, a.itemsize, a.rank,
                                   a.shape, a.data, err, sizeof err), 0);
        want = read_all(path, &n1);
        got = read_all(tmp_path("w.npy"), &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(want, got, n1);
        free(want);
        free(got);
        npy_free(&a);
    }
}

/* Files numpy wrote as versions 2.0 and 3.0, and a hand-made 2.0 file. */
static void test_npy_read_versions(void **state)
{
    long s22[] = {2, 2}, s234[] = {2, 3, 4};
    float m[4], t[24], want[] = {-1.5f, 0, 1.5f, 3};
    NpyArray a;
    const char *p;

    (void)state;
    assert_int_equal(npy_read(GOLDEN "mat2x2.npy", 'f', 4, 2, s22, m, err,
                              sizeof err), 0);
    assert_memory_equal(m, want, sizeof want);
    assert_int_equal(npy_read(GOLDEN "t2x3x4.npy", 'f', 4, 3, s234, t, err,
                              sizeof err), 0);
    p = write_npy("v2.npy", 2, "{'descr': '<i8', 'fortran_order': False, "
                  "'shape': (2,), }", 16);
    assert_int_equal(npy_load(p, &a, err, sizeof err), 0);
    assert_int_equal(a.kind, 'i');
    assert_int_equal(a.rank, 1);
    assert_int_equal(a.shape[0], 2);
    npy_free(&a);
}

/* Headers written differently from numpy's, which are still valid. */
static void test_npy_header_tolerance(void **state)
{
    static const char *const headers[] = {
        "{'shape': (2, 2), 'fortran_order': False, 'descr': '<f4'}",
        "{\"descr\":\"<f4\",\"fortran_order\":False,\"shape\":(2,2)}",
        ("\n{ 'descr' : '<f4' ,\t'fortran_order' : False ,\n"
         "  'shape' : ( 2 , 2 , ) , }   \r"),
    };
    long s[] = {2, 2};
    float v[4];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        const char *p = write_npy("tol.npy", 1, headers[i], 16);
        assert_int_equal(npy_read(p, 'f', 4, 2, s, v, err, sizeof err), 0);
    }
}

static void test_npy_rejects_mismatch(void **state)
{
    long s22[] = {2, 2}, s3[] = {3}, s1[] = {1};
    const char *p;

    (void)state;
    p = write_npy("f8.npy", 1, "{'descr': '<f8', 'fortran_order': False, "
                  "'shape': (2, 2), }", 32);
    expect_read_error(p, 'f', 4, 2, s22, "dtype '<f8' does not match the "
                      "expected '<f4'");
    expect_read_error(p, 'i', 8, 2, s22, "dtype '<f8' does not match the "
                      "expected '<i8'");
    p = write_npy("s3.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (3,), }", 12);
    expect_read_error(p, 'f', 4, 2, s22, "shape (3,) does not match the "
                      "expected (2, 2)");
    expect_read_error(p, 'f', 4, 0, s22, "shape (3,) does not match the "
                      "expected ()");
    p = write_npy("s0.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (), }", 4);
    expect_read_error(p, 'f', 4, 1, s1, "shape () does not match the "
                      "expected (1,)");
    expect_read_error(p, 'f', 4, 1, s3, "shape () does not match the "
                      "expected (3,)");
}

static void test_npy_rejects_bad_files(void **state)
{
    long s22[] = {2, 2};
    char big[16];
    const char *p;

    (void)state;
    p = write_npy("trunc.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (2, 2), }", 12);
    expect_read_error(p, 'f', 4, 2, s22,
                      "truncated: expected 16 bytes of data, found 12");
    p = write_npy("trail.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (2, 2), }", 17);
    expect_read_error(p, 'f', 4, 2, s22, "trailing data after the array");
    expect_load_error(p, "trailing data after the array");
    p = write_npy("fort.npy", 1, "{'descr': '<f4', 'fortran_order': True, "
                  "'shape': (2, 2), }", 16);
    expect_read_error(p, 'f', 4, 2, s22,
                      "Fortran-order arrays are not supported");
    p = write_npy("be.npy", 1, "{'descr': '>f4', 'fortran_order': False, "
                  "'shape': (2, 2), }", 16);
    expect_read_error(p, 'f', 4, 2, s22,
                      "big-endian arrays are not supported (dtype '>f4')");
    p = write_npy("bar.npy", 1, "{'descr': '|f4', 'fortran_order': False, "
                  "'shape': (2, 2), }", 16);
    expect_read_error(p, 'f', 4, 2, s22, "unsupported dtype '|f4'");
    p = write_npy("f2.npy", 1, "{'descr': '<f2', 'fortran_order': False, "
                  "'shape': (2, 2), }", 8);
    expect_load_error(p, "unsupported dtype '<f2'");
    p = write_npy("rec.npy", 1, "{'descr': [('a', '<f4')], 'fortran_order': "
                  "False, 'shape': (2, 2), }", 16);
    expect_load_error(p, "structured dtypes are not supported");
    p = write_npy("ver.npy", 9, "{}", 0);
    expect_read_error(p, 'f', 4, 2, s22, "unsupported .npy version 9.0");

    write_bytes(tmp_path("magic.npy"), "\x93NUMPZ\x01\x00", 8);
    expect_read_error(tmp_path("magic.npy"), 'f', 4, 2, s22,
                      "not a .npy file (bad magic)");
    write_bytes(tmp_path("empty.npy"), "", 0);
    expect_load_error(tmp_path("empty.npy"), "not a .npy file (bad magic)");
    write_bytes(tmp_path("short.npy"), "\x93NUMPY\x01\x00\x40", 9);
    expect_load_error(tmp_path("short.npy"), "truncated header");
    write_bytes(tmp_path("short2.npy"), "\x93NUMPY\x01\x00\x40\x00{'de", 14);
    expect_load_error(tmp_path("short2.npy"), "truncated header");

    memcpy(big, "\x93NUMPY\x02\x00\xff\xff\xff\xff{}\n", 15);
    write_bytes(tmp_path("hdr.npy"), big, 15);
    expect_read_error(tmp_path("hdr.npy"), 'f', 4, 2, s22, "header too large "
                      "(4294967295 bytes; the limit is 1048576)");
    memcpy(big, "\x93NUMPY\x03\x00\x01\x00\x10\x00{}\n", 15);
    write_bytes(tmp_path("hdr3.npy"), big, 15);
    expect_load_error(tmp_path("hdr3.npy"), "header too large "
                      "(1048577 bytes; the limit is 1048576)");

    expect_load_error(tmp_path("missing.npy"),
                      "cannot open: No such file or directory");
}

static void test_npy_rejects_malformed_header(void **state)
{
    static const char *const headers[] = {
        "",
        "[]",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (02,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}",
        "{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}",
        "{'descr': <f4, 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2,),,}",
        "{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        const char *p = write_npy("mal.npy", 1, headers[i], 8);
        expect_load_error(p, "malformed header");
    }
}

static void test_npy_rejects_huge_shape(void **state)
{
    const char *p;

    (void)state;
    p = write_npy("big1.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (99999999999999999999,), }", 0);
    expect_load_error(p, "shape is too large");
    p = write_npy("big2.npy", 1, "{'descr': '<f8', 'fortran_order': False, "
                  "'shape': (4294967296, 4294967296), }", 0);
    expect_load_error(p, "shape is too large");
    p = write_npy("big3.npy", 1, "{'descr': '<f8', 'fortran_order': False, "
                  "'shape': (1152921504606846976,), }", 0);
    expect_load_error(p, "shape is too large");
    /* Fits, but the file is far too short: reported before allocating. */
    p = write_npy("big4.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (1000000000000,), }", 4);
    expect_load_error(p, "truncated: expected 4000000000000 bytes of data, "
                      "found 4");
    p = write_npy("rank9.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                  "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1), }", 4);
    expect_load_error(p, "more than 8 dimensions are not supported");
}

static void test_npy_write_is_atomic(void **state)
{
    long s[] = {2};
    double v[] = {1, 2}, w[] = {3, 4}, back[2];
    char path[128];
    struct stat st;
    mode_t old = umask(022);

    (void)state;
    /* A missing directory: an error and no file. */
    snprintf(path, sizeof path, "%s/no/such/dir/x.npy", test_tmpdir);
    assert_int_equal(npy_write(path, 'f', 8, 1, s, v, err, sizeof err), -1);
    assert_true(strstr(err, "x.npy: cannot write: No such file or directory")
                != NULL);
    assert_int_equal(tmpdir_count("no"), 0);

    /* The target is a directory: rename fails, the temporary is removed. */
    assert_int_equal(mkdir(tmp_path("isdir.npy"), 0755), 0);
    assert_int_equal(npy_write(tmp_path("isdir.npy"), 'f', 8, 1, s, v, err,
                               sizeof err), -1);
    assert_int_equal(tmpdir_count("isdir.npy"), 1);
    assert_int_equal(rmdir(tmp_path("isdir.npy")), 0);

    /* Bad arguments: nothing is created. */
    assert_int_equal(npy_write(tmp_path("bad.npy"), 'f', 2, 1, s, v, err,
                               sizeof err), -1);
    s[0] = -1;
    assert_int_equal(npy_write(tmp_path("bad.npy"), 'f', 8, 1, s, v, err,
                               sizeof err), -1);
    s[0] = 2;
    assert_int_equal(tmpdir_count("bad.npy"), 0);

    /* Replacing an existing file; the new one has mode 0666 & ~umask. */
    assert_int_equal(npy_write(tmp_path("re.npy"), 'f', 8, 1, s, v, err,
                               sizeof err), 0);
    assert_int_equal(npy_write(tmp_path("re.npy"), 'f', 8, 1, s, w, err,
                               sizeof err), 0);
    assert_int_equal(npy_read(tmp_path("re.npy"), 'f', 8, 1, s, back, err,
                              sizeof err), 0);
    assert_memory_equal(back, w, sizeof w);
    assert_int_equal(stat(tmp_path("re.npy"), &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_int_equal(tmpdir_count("re.npy"), 1);
    umask(old);
}

/* The digits data set of examples/digits/make_data.py reads with the
 * dtypes and shapes it documents: pixels in [0, 1], labels 0..9, 36 test
 * images of each digit. */
static void test_npy_reads_digits(void **state)
{
    static const char *const sets[] = {"train", "test"};
    static const long sizes[] = {1437, 360};
    int s;

    (void)state;
    for (s = 0; s < 2; s++) {
        long xs[] = {sizes[s], 1, 8, 8}, n = sizes[s], i, per[10] = {0};
        float *x = malloc(n * 64 * sizeof *x);
        int64_t *y = malloc(n * sizeof *y);
        char path[128];
        assert_non_null(x);
        assert_non_null(y);
        snprintf(path, sizeof path, "examples/digits/data/x_%s.npy", sets[s]);
        assert_int_equal(npy_read(path, 'f', 4, 4, xs, x, err, sizeof err), 0);
        snprintf(path, sizeof path, "examples/digits/data/y_%s.npy", sets[s]);
        assert_int_equal(npy_read(path, 'i', 8, 1, xs, y, err, sizeof err), 0);
        for (i = 0; i < n * 64; i++)
            assert_true(x[i] >= 0 && x[i] <= 1);
        for (i = 0; i < n; i++) {
            assert_true(y[i] >= 0 && y[i] <= 9);
            per[y[i]]++;
        }
        for (i = 0; i < 10; i++)
            assert_true(s == 0 ? per[i] > 100 : per[i] == 36);
        free(x);
        free(y);
    }
}

/* ---- print ---- */

static void expect_format(const double *v, int rank, const long *shape,
                          int f64, const char *want)
{
    char *s = tensor_format(v, rank, shape, f64);
    assert_non_null(s);
    assert_string_equal(s, want);
    free(s);
}

static void test_print_basic(void **state)
{
    double m[] = {-1.5, 0, 1.5, 3}, x = 0.1, big = 1e39;
    long s22[] = {2, 2}, s0[] = {0};
    char *s;

    (void)state;
    expect_format(m, 2, s22, 0, "tensor([[-1.5000,  0.0000],\n"
                                "        [ 1.5000,  3.0000]])");
    expect_format(m, 2, s22, 1, "tensor([[-1.5000,  0.0000],\n"
                                "        [ 1.5000,  3.0000]], "
                                "dtype=torch.float64)");
    expect_format(&x, 0, NULL, 0, "tensor(0.1000)");
    expect_format(&big, 0, NULL, 0, "tensor(inf)");
    expect_format(&big, 0, NULL, 1, "tensor(1.0000e+39, dtype=torch.float64)");
    expect_format(NULL, 1, s0, 0, "tensor([])");
    s = tensor_format_int(9);
    assert_string_equal(s, "tensor(9)");
    free(s);
}

/* Each "== NAME" block of expected.txt against NAME.npy formatted. */
static void test_print_golden(void **state)
{
    size_t len;
    char *text = read_all(GOLDEN "expected.txt", &len), *p = text;
    int cases = 0, failures = 0;

    (void)state;
    while (strncmp(p, "== ", 3) == 0) {
        char *name = p + 3, *want = strchr(name, '\n') + 1, *end, *got;
        char path[128];
        NpyArray a;
        long i;

        name[want - 1 - name] = '\0';
        end = strstr(want, "\n== ");
        end = end ? end : text + len - 1;
        *end = '\0';
        snprintf(path, sizeof path, GOLDEN "%s.npy", name);
        assert_int_equal(npy_load(path, &a, err, sizeof err), 0);
        if (a.kind == 'i') {
            int64_t n;
            memcpy(&n, a.data, sizeof n);
            got = tensor_format_int((long)n);
        } else {
            double *v = malloc((a.count ? a.count : 1) * sizeof *v);
            assert_non_null(v);
            for (i = 0; i < a.count; i++)
                v[i] = a.itemsize == 4 ? ((float *)a.data)[i]
                                       : ((double *)a.data)[i];
            got = tensor_format(v, a.rank, a.shape, a.itemsize == 8);
            free(v);
        }
        assert_non_null(got);
        if (strcmp(got, want) != 0) {
            print_message("%s: expected\n%s\ngot\n%s\n", name, want, got);
            failures++;
        }
        cases++;
        free(got);
        npy_free(&a);
        p = end + 1;
    }
    free(text);
    assert_true(cases >= 60);
    assert_int_equal(failures, 0);
}

/* ---- fdiff ---- */

typedef struct SinSum {
    double *x;
    long n;
} SinSum;

static double sin_sum(void *ctx)
{
    SinSum *s = ctx;
    double y = 0;
    long i;
    for (i = 0; i < s->n; i++)
        y += sin(s->x[i]);
    return y;
}

static void test_fdiff_sum_of_sin(void **state)
{
    double x[5] = {-2, -0.5, 0, 1, 3.1}, x0[5], g[5], want[5];
    SinSum s = {x, 5};
    FdiffErr e;
    int i;

    (void)state;
    memcpy(x0, x, sizeof x);
    fdiff_grad(sin_sum, &s, x, 5, 1e-5, g);
    assert_memory_equal(x, x0, sizeof x);   /* restored exactly */
    for (i = 0; i < 5; i++)
        want[i] = cos(x[i]);
    e = fdiff_compare(g, want, 5, 1e-6);
    assert_true(e.max_abs < 1e-9);
    assert_true(e.max_rel < 1e-8);
}

static void test_fdiff_compare(void **state)
{
    double a[] = {1, 2, 0, INFINITY}, b[] = {1.1, 2, 0, INFINITY};
    double c[] = {1, NAN};
    FdiffErr e;

    (void)state;
    e = fdiff_compare(a, b, 4, 1e-3);
    assert_true(fabs(e.max_abs - 0.1) < 1e-12);
    assert_true(fabs(e.max_rel - 0.1 / 1.1) < 1e-12);
    assert_int_equal(e.worst, 0);
    e = fdiff_compare(a, c, 2, 1e-3);
    assert_true(isnan(e.max_abs) && isnan(e.max_rel));
    assert_int_equal(e.worst, 1);
    e = fdiff_compare(a, a, 0, 0);
    assert_true(e.max_abs == 0 && e.max_rel == 0 && e.worst == -1);
    a[0] = 1e-9;
    b[0] = 2e-9;
    e = fdiff_compare(a, b, 1, 1e-6);       /* below atol: relative to it */
    assert_true(fabs(e.max_rel - 1e-3) < 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npy_roundtrip_f4),
        cmocka_unit_test(test_npy_roundtrip_f8),
        cmocka_unit_test(test_npy_roundtrip_i8),
        cmocka_unit_test(test_npy_write_matches_numpy),
        cmocka_unit_test(test_npy_read_versions),
        cmocka_unit_test(test_npy_header_tolerance),
        cmocka_unit_test(test_npy_rejects_mismatch),
        cmocka_unit_test(test_npy_rejects_bad_files),
        cmocka_unit_test(test_npy_rejects_malformed_header),
        cmocka_unit_test(test_npy_rejects_huge_shape),
        cmocka_unit_test(test_npy_write_is_atomic),
        cmocka_unit_test(test_npy_reads_digits),
        cmocka_unit_test(test_print_basic),
        cmocka_unit_test(test_print_golden),
        cmocka_unit_test(test_fdiff_sum_of_sin),
        cmocka_unit_test(test_fdiff_compare),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

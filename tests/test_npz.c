/* test_npz.c: runtime/npz.c, the .npz reader and writer.  Run from the
 * repository root: numpy's files are read from tests/golden/npz/ (made by
 * tests/make_npz_fixtures.py); scratch files go to a fresh directory under
 * /tmp that is removed at the end.  Hostile archives are built byte by
 * byte with the Zip builder below. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L     /* mkdtemp, opendir */
#endif
#include <dirent.h>
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

#include "npz.h"

#define GOLDEN "tests/golden/npz/"
#define FIXTURES "/usr/bin/python3 tests/make_npz_fixtures.py"

static char err[1024];

static int setup(void **state)
{
    (void)state;
    return tmpdir_make("agc_test_npz");
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove();
}

static unsigned char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *s;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    rewind(f);
    s = malloc(n + 1);
    assert_non_null(s);
    assert_int_equal(fread(s, 1, n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return s;
}

/* Writes a fresh file (removing the old one first: overwriting a file in
 * place makes ext4 flush it to disk on close, which for the thousands of
 * files test_npz_truncated_and_flipped writes takes seconds). */
static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f;

    remove(path);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* npz_load of path fails with a message "PATH: ..." containing msg, and
 * leaves nothing allocated. */
static void expect_load_error(const char *path, const char *msg)
{
    NpzFile z;

    assert_int_equal(npz_load(path, &z, err, sizeof err), -1);
    if (strncmp(err, path, strlen(path)) != 0 ||
        strncmp(err + strlen(path), ": ", 2) != 0 || !strstr(err, msg))
        fail_msg("error '%s' lacks '%s'", err, msg);
    assert_null(z.members);
    assert_null(z.bytes);
    assert_null(z.path);
}

/* ---- the state_dict of make_npz_fixtures.py ---- */

static const long s_conv_w[] = {2, 1, 3, 3}, s_conv_b[] = {2},
                  s_fc_w[] = {3, 4}, s_y[] = {5}, s_empty[] = {0, 3};

static float conv_w[18], conv_b[2];
static double fc_w[12];
static int64_t nbt = 42, y[5];
static float empty[1];

/* The arrays of make_npz_fixtures.py's state_dict(), in its order. */
static int state_dict(NpzEntry *e)
{
    int i;

    for (i = 0; i < 18; i++)
        conv_w[i] = (float)(i * 0.25 - 1);
    for (i = 0; i < 2; i++)
        conv_b[i] = (float)(i * 0.25 - 1);
    for (i = 0; i < 12; i++)
        fc_w[i] = i * 0.25 - 1;
    for (i = 0; i < 5; i++)
        y[i] = (int64_t)i * 1000003 - 7;
    e[0] = (NpzEntry){"conv1.weight", 'f', 4, 4, s_conv_w, conv_w};
    e[1] = (NpzEntry){"conv1.bias", 'f', 4, 1, s_conv_b, conv_b};
    e[2] = (NpzEntry){"fc.weight", 'f', 8, 2, s_fc_w, fc_w};
    e[3] = (NpzEntry){"bn.num_batches_tracked", 'i', 8, 0, NULL, &nbt};
    e[4] = (NpzEntry){"y", 'i', 8, 1, s_y, y};
    e[5] = (NpzEntry){"empty", 'f', 4, 2, s_empty, empty};
    return 6;
}

/* z holds exactly the n entries e, in order; read each back with
 * npz_read, after which every member is used. */
static void expect_entries(NpzFile *z, const NpzEntry *e, int n)
{
    unsigned char back[256];
    int i;

    assert_int_equal(z->count, n);
    for (i = 0; i < n; i++) {
        const NpzMember *m = &z->members[i];
        size_t nbytes = (size_t)m->count * m->itemsize;
        long count = 1;
        int k;
        assert_string_equal(m->name, e[i].name);
        assert_ptr_equal(npz_find(z, e[i].name), m);
        assert_int_equal(m->kind, e[i].kind);
        assert_int_equal(m->itemsize, e[i].itemsize);
        assert_int_equal(m->rank, e[i].rank);
        for (k = 0; k < m->rank; k++)
            count *= e[i].shape[k];
        assert_int_equal(m->count, count);
        assert_memory_equal(m->shape, e[i].shape, m->rank * sizeof(long));
        assert_true(nbytes < sizeof back);
        memset(back, 0xee, sizeof back);
        assert_int_equal(npz_read(z, e[i].name, e[i].kind, e[i].itemsize,
                                  e[i].rank, e[i].shape, back, err,
                                  sizeof err), 0);
        if (nbytes)
            assert_memory_equal(back, e[i].data, nbytes);
        assert_int_equal(back[nbytes], 0xee);
        assert_int_equal(m->used, 1);
    }
    assert_int_equal(npz_check_used(z, NULL, err, sizeof err), 0);
}

/* ---- round trips and numpy's files ---- */

static void test_npz_crc32(void **state)
{
    (void)state;
    assert_int_equal(npz_crc32(0, "", 0), 0);
    assert_int_equal(npz_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(npz_crc32(npz_crc32(0, "1234", 4), "56789", 5),
                     0xCBF43926u);
    assert_int_equal(npz_crc32(0, "The quick brown fox jumps over the lazy "
                               "dog", 43), 0x414FA339u);
}

static void test_npz_roundtrip(void **state)
{
    NpzEntry e[8];
    int n = state_dict(e);
    NpzFile z;

    (void)state;
    assert_int_equal(npz_write(tmp_path("rt.npz"), e, n, err, sizeof err), 0);
    assert_int_equal(npz_load(tmp_path("rt.npz"), &z, err, sizeof err), 0);
    expect_entries(&z, e, n);
    assert_null(npz_find(&z, "conv1"));
    assert_null(npz_find(&z, "conv1.weight.npy"));
    npz_free(&z);
    assert_null(z.members);
    assert_int_equal(tmpdir_count("rt.npz.tmp"), 0);

    /* no members at all, and one */
    assert_int_equal(npz_write(tmp_path("rt.npz"), e, 0, err, sizeof err), 0);
    assert_int_equal(npz_load(tmp_path("rt.npz"), &z, err, sizeof err), 0);
    assert_int_equal(z.count, 0);
    assert_null(npz_find(&z, "y"));
    npz_free(&z);
    assert_int_equal(npz_write(tmp_path("rt.npz"), e + 4, 1, err, sizeof err), 0);
    assert_int_equal(npz_load(tmp_path("rt.npz"), &z, err, sizeof err), 0);
    expect_entries(&z, e + 4, 1);
    npz_free(&z);
}

/* What numpy.savez wrote (zip64 extra fields in its local headers), and
 * what zipfile writes without them. */
static void test_npz_reads_numpy(void **state)
{
    NpzEntry e[8];
    int n = state_dict(e);
    float arr0[3] = {-1, -0.75f, -0.5f};
    int64_t arr1[4] = {-7, 1000003 - 7, 2000006 - 7, 3000009 - 7};
    long s3[] = {3}, s22[] = {2, 2};
    NpzEntry positional[] = {{"arr_0", 'f', 4, 1, s3, arr0},
                             {"arr_1", 'i', 8, 2, s22, arr1}};
    NpzEntry plain[2];
    NpzFile z;

    (void)state;
    assert_int_equal(npz_load(GOLDEN "state.npz", &z, err, sizeof err), 0);
    expect_entries(&z, e, n);
    npz_free(&z);

    assert_int_equal(npz_load(GOLDEN "positional.npz", &z, err, sizeof err),
                     0);
    expect_entries(&z, positional, 2);
    npz_free(&z);

    plain[0] = e[1];
    plain[1] = e[4];
    assert_int_equal(npz_load(GOLDEN "plain.npz", &z, err, sizeof err), 0);
    expect_entries(&z, plain, 2);
    npz_free(&z);

    assert_int_equal(npz_load(GOLDEN "empty.npz", &z, err, sizeof err), 0);
    assert_int_equal(z.count, 0);
    npz_free(&z);
}

/* The splitmix64 finalizer of i * 0x9E3779B97F4A7C15, as mix() in
 * make_npz_fixtures.py. */
static int64_t mix(uint64_t i)
{
    uint64_t z = i * 0x9E3779B97F4A7C15u;
    int64_t v;

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    memcpy(&v, &z, sizeof v);
    return v;
}

/* numpy.savez_compressed's deflated members (fixed and dynamic Huffman
 * blocks), and zlib's level 0 (stored blocks). */
static void test_npz_reads_deflated(void **state)
{
    static float zeros[64 * 64];
    static int64_t mod7[3000], noise[600];
    static double varied[500];
    long s64[] = {64, 64}, s3000[] = {3000}, s500[] = {500}, s600[] = {600};
    NpzEntry e[8], big[4], two[2];
    int n = state_dict(e), i;
    NpzFile z;

    (void)state;
    assert_int_equal(npz_load(GOLDEN "compressed.npz", &z, err, sizeof err),
                     0);
    expect_entries(&z, e, n);
    npz_free(&z);

    for (i = 0; i < 3000; i++)
        mod7[i] = i % 7;
    for (i = 0; i < 500; i++)
        varied[i] = (i * 37 % 101) * 0.5 - 3;
    for (i = 0; i < 600; i++)
        noise[i] = mix((uint64_t)i);
    big[0] = (NpzEntry){"zeros", 'f', 4, 2, s64, zeros};
    big[1] = (NpzEntry){"mod7", 'i', 8, 1, s3000, mod7};
    big[2] = (NpzEntry){"varied", 'f', 8, 1, s500, varied};
    big[3] = (NpzEntry){"noise", 'i', 8, 1, s600, noise};
    assert_int_equal(npz_load(GOLDEN "compressed_big.npz", &z, err,
                              sizeof err), 0);
    assert_int_equal(z.count, 4);
    for (i = 0; i < 4; i++) {
        const NpzMember *m = npz_find(&z, big[i].name);
        assert_non_null(m);
        assert_int_equal(m->count, big[i].rank == 2 ? 4096 : big[i].shape[0]);
        assert_memory_equal(m->data, big[i].data,
                            (size_t)m->count * m->itemsize);
    }
    npz_free(&z);

    two[0] = e[1];
    two[1] = e[4];
    assert_int_equal(npz_load(GOLDEN "deflate0.npz", &z, err, sizeof err),
                     0);
    expect_entries(&z, two, 2);
    npz_free(&z);
}

/* numpy.load reads what npz_write writes (skipped without numpy). */
static void test_npz_numpy_loads_ours(void **state)
{
    NpzEntry e[8];
    int n = state_dict(e);
    char cmd[512];

    (void)state;
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        printf("skipped: /usr/bin/python3 with numpy is not installed\n");
        skip();
    }
    assert_int_equal(npz_write(tmp_path("ours.npz"), e, n, err, sizeof err), 0);
    snprintf(cmd, sizeof cmd, FIXTURES " --check %s", tmp_path("ours.npz"));
    assert_int_equal(system(cmd), 0);
}

/* load_state_dict(strict=True)'s errors: missing, unexpected, mismatched. */
static void test_npz_read_mismatch(void **state)
{
    NpzEntry e[8];
    int n = state_dict(e);
    long s4[] = {4}, s21[] = {2, 1};
    float f[32];
    int64_t i[8];
    NpzFile z;
    char want[512];

    (void)state;
    assert_int_equal(npz_write(tmp_path("m.npz"), e, n, err, sizeof err), 0);
    assert_int_equal(npz_load(tmp_path("m.npz"), &z, err, sizeof err), 0);

    assert_int_equal(npz_read(&z, "fc.bias", 'f', 4, 1, s4, f, err,
                              sizeof err), -1);
    snprintf(want, sizeof want, "%s: missing member 'fc.bias'",
             tmp_path("m.npz"));
    assert_string_equal(err, want);

    assert_int_equal(npz_read(&z, "conv1.bias", 'f', 4, 1, s4, f, err,
                              sizeof err), -1);
    snprintf(want, sizeof want, "%s: member 'conv1.bias': shape (2,) does "
             "not match the expected (4,)", tmp_path("m.npz"));
    assert_string_equal(err, want);
    assert_int_equal(npz_read(&z, "conv1.bias", 'f', 4, 2, s21, f, err,
                              sizeof err), -1);
    assert_non_null(strstr(err, "shape (2,) does not match the expected "
                           "(2, 1)"));

    assert_int_equal(npz_read(&z, "y", 'f', 4, 1, s_y, f, err, sizeof err),
                     -1);
    snprintf(want, sizeof want, "%s: member 'y': dtype '<i8' does not match "
             "the expected '<f4'", tmp_path("m.npz"));
    assert_string_equal(err, want);
    assert_int_equal(npz_read(&z, "fc.weight", 'f', 4, 2, s_fc_w, f, err,
                              sizeof err), -1);
    assert_non_null(strstr(err, "dtype '<f8' does not match the expected "
                           "'<f4'"));
    assert_int_equal(z.members[2].used, 0);
    assert_int_equal(npz_read(&z, "y", 'c', 8, 1, s_y, i, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "member 'y': unsupported expected dtype"));
    assert_int_equal(npz_read(&z, "y", 'i', 8, 9, s_y, i, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "member 'y': unsupported expected rank 9"));

    /* the rest used: the first unused one is unexpected, unless ignored */
    assert_int_equal(npz_read(&z, "conv1.weight", 'f', 4, 4, s_conv_w, f,
                              err, sizeof err), 0);
    assert_int_equal(npz_read(&z, "y", 'i', 8, 1, s_y, i, err, sizeof err),
                     0);
    assert_int_equal(npz_check_used(&z, NULL, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: unexpected member 'conv1.bias'",
             tmp_path("m.npz"));
    assert_string_equal(err, want);
    z.members[1].used = 1;
    z.members[2].used = 1;
    z.members[5].used = 1;
    assert_int_equal(npz_check_used(&z, NULL, err, sizeof err), -1);
    assert_non_null(strstr(err, "unexpected member 'bn.num_batches_tracked'"));
    assert_int_equal(npz_check_used(&z, "bn.", err, sizeof err), 0);
    npz_free(&z);
}

/* Bad entries are refused before anything is written; an existing file
 * stays as it was. */
static void test_npz_write_errors(void **state)
{
    NpzEntry e[8], bad[2];
    int n = state_dict(e);
    char longname[300], want[512];
    long neg[] = {-1};
    unsigned char *before, *after;
    size_t n1, n2;

    (void)state;
    assert_int_equal(npz_write(tmp_path("w.npz"), e, n, err, sizeof err), 0);
    before = read_all(tmp_path("w.npz"), &n1);

    bad[0] = e[0];
    bad[1] = e[0];
    assert_int_equal(npz_write(tmp_path("w.npz"), bad, 2, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: member 'conv1.weight': cannot write: "
             "the name appears twice", tmp_path("w.npz"));
    assert_string_equal(err, want);

    bad[1].name = "";
    assert_int_equal(npz_write(tmp_path("w.npz"), bad, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot write member name '': it is empty"));
    bad[1].name = "tab\there";
    assert_int_equal(npz_write(tmp_path("w.npz"), bad, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "member name 'tab?here': it has a byte that "
                           "is not printable ASCII"));
    memset(longname, 'a', 256);
    longname[256] = '\0';
    bad[1].name = longname;
    assert_int_equal(npz_write(tmp_path("w.npz"), bad, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "is too long"));
    longname[255] = '\0';           /* 255 is the limit */
    assert_int_equal(npz_write(tmp_path("long.npz"), bad, 2, err, sizeof err), 0);

    bad[1] = e[1];
    bad[1].kind = 'c';
    assert_int_equal(npz_write(tmp_path("w.npz"), bad, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "member 'conv1.bias': cannot write: "
                            "unsupported dtype"));
    bad[1] = e[1];
    bad[1].shape = neg;
    assert_int_equal(npz_write(tmp_path("w.npz"), bad, 2, err, sizeof err), -1);
    assert_non_null(strstr(err, "unsupported shape"));
    bad[1].rank = NPY_MAX_RANK + 1;
    assert_int_equal(npz_write(tmp_path("w.npz"), bad, 2, err, sizeof err), -1);
    assert_int_equal(npz_write(tmp_path("w.npz"), e, -1, err, sizeof err), -1);
    assert_int_equal(npz_write(tmp_path("w.npz"), e, NPZ_MAX_MEMBERS + 1, err,
                               sizeof err), -1);
    assert_non_null(strstr(err, "the limit is 65534"));

    /* a directory that does not exist */
    assert_int_equal(npz_write("/nonexistent/dir/x.npz", e, n, err,
                               sizeof err), -1);
    assert_string_equal(err, "/nonexistent/dir/x.npz: cannot write: No such "
                        "file or directory");

    after = read_all(tmp_path("w.npz"), &n2);
    assert_int_equal(n1, n2);
    assert_memory_equal(before, after, n1);
    assert_int_equal(tmpdir_count("w.npz.tmp"), 0);
    free(before);
    free(after);
}

/* ---- hostile archives ---- */

/* A zip built byte by byte. */
typedef struct Zip {
    unsigned char b[8192];
    size_t n;
} Zip;

static void zput(Zip *z, const void *p, size_t n)
{
    assert_true(z->n + n <= sizeof z->b);
    if (n)
        memcpy(z->b + z->n, p, n);
    z->n += n;
}

static void put16(Zip *z, unsigned v)
{
    unsigned char b[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    zput(z, b, 2);
}

static void put32(Zip *z, uint32_t v)
{
    put16(z, v & 0xffff);
    put16(z, v >> 16);
}

static void set16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void set32(unsigned char *p, uint32_t v)
{
    set16(p, v & 0xffff);
    set16(p + 2, v >> 16);
}

/* A member as the builder writes it; the test may change any field
 * between the local header and the central entry. */
typedef struct Member {
    const char *name;
    const void *data;
    size_t len;
    unsigned flags, method;
    uint32_t crc, csize, size, offset;
    const void *extra;              /* local header's extra field */
    size_t extra_len;
} Member;

static Member member(const char *name, const void *data, size_t len)
{
    Member m;
    memset(&m, 0, sizeof m);
    m.name = name;
    m.data = data;
    m.len = len;
    m.crc = npz_crc32(0, data, len);
    m.csize = m.size = (uint32_t)len;
    return m;
}

static void local_header(Zip *z, Member *m)
{
    m->offset = (uint32_t)z->n;
    put32(z, 0x04034b50);
    put16(z, 20);
    put16(z, m->flags);
    put16(z, m->method);
    put16(z, 0);
    put16(z, 0x21);
    put32(z, m->crc);
    put32(z, m->csize);
    put32(z, m->size);
    put16(z, (unsigned)strlen(m->name));
    put16(z, (unsigned)m->extra_len);
    zput(z, m->name, strlen(m->name));
    zput(z, m->extra, m->extra_len);
    zput(z, m->data, m->len);
}

static void central_entry(Zip *z, const Member *m)
{
    put32(z, 0x02014b50);
    put16(z, 0x0314);
    put16(z, 20);
    put16(z, m->flags);
    put16(z, m->method);
    put16(z, 0);
    put16(z, 0x21);
    put32(z, m->crc);
    put32(z, m->csize);
    put32(z, m->size);
    put16(z, (unsigned)strlen(m->name));
    put16(z, 0);
    put16(z, 0);
    put16(z, 0);
    put16(z, 0);
    put32(z, 0);
    put32(z, m->offset);
    zput(z, m->name, strlen(m->name));
}

static void end_record(Zip *z, int n, uint32_t dir_start)
{
    uint32_t dir_size = (uint32_t)(z->n - dir_start);

    put32(z, 0x06054b50);
    put16(z, 0);
    put16(z, 0);
    put16(z, (unsigned)n);
    put16(z, (unsigned)n);
    put32(z, dir_size);
    put32(z, dir_start);
    put16(z, 0);
}

/* A zip of the n members, local headers then central directory. */
static void build(Zip *z, Member *m, int n)
{
    uint32_t dir;
    int i;

    z->n = 0;
    for (i = 0; i < n; i++)
        local_header(z, &m[i]);
    dir = (uint32_t)z->n;
    for (i = 0; i < n; i++)
        central_entry(z, &m[i]);
    end_record(z, n, dir);
}

/* A version 1.0 .npy of the header dict given, then nbytes of data. */
static size_t npy_bytes(unsigned char *b, const char *dict, size_t nbytes)
{
    size_t h = strlen(dict) + 1;
    memcpy(b, "\x93NUMPY\x01\x00", 8);
    set16(b + 8, (unsigned)h);
    memcpy(b + 10, dict, h - 1);
    b[10 + h - 1] = '\n';
    memset(b + 10 + h, 0x3f, nbytes);
    return 10 + h + nbytes;
}

static unsigned char good_npy[256];
static size_t good_len;

/* Writes z to tmp_path("h.npz") and expects npz_load to fail with msg. */
static void expect_zip_error(const Zip *z, const char *msg)
{
    write_bytes(tmp_path("h.npz"), z->b, z->n);
    expect_load_error(tmp_path("h.npz"), msg);
}

static void test_npz_rejects_bad_zip_fields(void **state)
{
    Member m[2];
    Zip z;
    NpzFile f;

    (void)state;
    good_len = npy_bytes(good_npy, "{'descr': '<f4', 'fortran_order': "
                         "False, 'shape': (2,), }", 8);

    /* the builder's zip is good */
    m[0] = member("a.npy", good_npy, good_len);
    m[1] = member("b.npy", good_npy, good_len);
    build(&z, m, 2);
    write_bytes(tmp_path("h.npz"), z.b, z.n);
    assert_int_equal(npz_load(tmp_path("h.npz"), &f, err, sizeof err), 0);
    assert_int_equal(f.count, 2);
    npz_free(&f);

    m[1].crc ^= 1;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'b': CRC-32 mismatch (stored");
    m[1] = member("b.npy", good_npy, good_len);

    m[0].flags = 1;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': is encrypted");
    m[0].flags = 0x40;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': is encrypted");
    m[0].flags = 8;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': has a data descriptor");
    m[0].flags = 0x0010;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': unsupported zip flags 0x0010");
    m[0].flags = 0x0800;            /* UTF-8 names: harmless */
    build(&z, m, 2);
    write_bytes(tmp_path("h.npz"), z.b, z.n);
    assert_int_equal(npz_load(tmp_path("h.npz"), &f, err, sizeof err), 0);
    npz_free(&f);
    m[0].flags = 0;

    m[0].method = 8;                /* these bytes are no deflate stream */
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': corrupt deflate data: ");
    m[0].method = 14;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': unsupported compression method 14");
    m[0].method = 0;

    /* sizes: huge, zip64's sentinel, disagreeing */
    m[0].csize = m[0].size = 0x7fffffff;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': data (2147483647 bytes at offset 35) "
                     "runs past the members into the central directory");
    m[0].csize = m[0].size = 0xffffffff;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': zip64 archives are not supported");
    m[0].csize = (uint32_t)good_len - 1;
    m[0].size = (uint32_t)good_len;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': stored with a compressed size (75) "
                     "other than its size (76)");
    /* a member shorter than its .npy says */
    m[0].csize = m[0].size = (uint32_t)good_len - 1;
    m[0].len = good_len - 1;
    m[0].crc = npz_crc32(0, good_npy, good_len - 1);
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': truncated: expected 8 bytes of data, "
                     "found 7");
    m[0] = member("a.npy", good_npy, good_len);

    /* local header offsets: past the members, not at a local header */
    build(&z, m, 2);
    set32(z.b + z.n - 22 - 51 + 42, 5000);       /* b's offset */
    expect_zip_error(&z, "member 'b': local header offset 5000 is outside "
                     "the archive's members");
    build(&z, m, 2);
    set32(z.b + z.n - 22 - 51 + 42, 1);
    expect_zip_error(&z, "member 'b': no local header at offset 1");
    /* two entries for one local header */
    build(&z, m, 2);
    set32(z.b + z.n - 22 - 51 + 42, 0);
    expect_zip_error(&z, "member 'b': local header names another member");
}

static void test_npz_rejects_bad_layout(void **state)
{
    unsigned char inner[512], extra[20];
    Member m[2], in;
    Zip z, w;
    size_t dir;

    (void)state;
    m[0] = member("a.npy", good_npy, good_len);
    m[1] = member("b.npy", good_npy, good_len);

    /* b's local header and data inside a's data: overlapping members */
    in = member("b.npy", good_npy, good_len);
    w.n = 0;
    local_header(&w, &in);
    memcpy(inner, w.b, w.n);
    m[0] = member("a.npy", inner, w.n);
    z.n = 0;
    local_header(&z, &m[0]);
    in.offset = 30 + 5;
    dir = z.n;
    central_entry(&z, &m[0]);
    central_entry(&z, &in);
    end_record(&z, 2, (uint32_t)dir);
    expect_zip_error(&z, "member 'b': overlaps member 'a': the file is "
                     "corrupt or hostile");

    /* a gap between members, junk before the first */
    m[0] = member("a.npy", good_npy, good_len);
    z.n = 0;
    local_header(&z, &m[0]);
    zput(&z, "junk", 4);
    local_header(&z, &m[1]);
    dir = z.n;
    central_entry(&z, &m[0]);
    central_entry(&z, &m[1]);
    end_record(&z, 2, (uint32_t)dir);
    expect_zip_error(&z, "member 'b': 4 unexpected bytes before it");
    z.n = 0;
    zput(&z, "junk", 4);
    local_header(&z, &m[0]);
    dir = z.n;
    central_entry(&z, &m[0]);
    end_record(&z, 1, (uint32_t)dir);
    expect_zip_error(&z, "member 'a': 4 unexpected bytes before it");
    z.n = 0;
    local_header(&z, &m[0]);
    zput(&z, "junk", 4);
    dir = z.n;
    central_entry(&z, &m[0]);
    end_record(&z, 1, (uint32_t)dir);
    expect_zip_error(&z, "unexpected bytes before the central directory");

    /* a local header that disagrees with its central entry */
    build(&z, m, 2);
    z.b[14] ^= 1;                   /* a's CRC in its local header */
    expect_zip_error(&z, "member 'a': local header disagrees with the "
                     "central directory");

    /* zip64 extra field in the local header: right (as numpy writes),
     * wrong, malformed */
    memcpy(extra, "\x01\x00\x10\x00", 4);
    memset(extra + 4, 0, 16);
    extra[4] = extra[12] = (unsigned char)good_len;
    m[0].extra = extra;
    m[0].extra_len = 20;
    build(&z, m, 2);
    write_bytes(tmp_path("h.npz"), z.b, z.n);
    {
        NpzFile f;
        assert_int_equal(npz_load(tmp_path("h.npz"), &f, err, sizeof err), 0);
        npz_free(&f);
    }
    extra[12] = 1;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': zip64 extra field disagrees with the "
                     "sizes (corrupt) in the local header");
    m[0].extra_len = 19;
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': malformed extra field in the local "
                     "header");
    m[0].extra_len = 3;
    build(&z, m, 2);
    expect_zip_error(&z, "malformed extra field");
    m[0].extra_len = 0;

    /* names */
    m[1] = member("a.npy", good_npy, good_len);
    build(&z, m, 2);
    expect_zip_error(&z, "member 'a': appears twice");
    m[1] = member("b.txt", good_npy, good_len);
    build(&z, m, 2);
    expect_zip_error(&z, "member 'b.txt' is not a .npy file (its name does "
                     "not end in .npy)");
    m[1] = member("npy", good_npy, good_len);
    build(&z, m, 2);
    expect_zip_error(&z, "member 'npy' is not a .npy file");
    m[1] = member(".npy", good_npy, good_len);
    build(&z, m, 2);
    expect_zip_error(&z, "member name '.npy' is empty");
    m[1] = member("b\033[2J.npy", good_npy, good_len);
    build(&z, m, 2);
    expect_zip_error(&z, "member name 'b?[2J.npy' has a byte that is not "
                     "printable ASCII");
    m[1] = member("b\xc3\xa9.npy", good_npy, good_len);
    build(&z, m, 2);
    expect_zip_error(&z, "member name 'b??.npy' has a byte");
}

static void test_npz_rejects_bad_end_record(void **state)
{
    Member m[2];
    Zip z;
    size_t e;

    (void)state;
    m[0] = member("a.npy", good_npy, good_len);
    m[1] = member("b.npy", good_npy, good_len);
    build(&z, m, 2);
    e = z.n - 22;

    set16(z.b + e + 10, 0xffff);
    set16(z.b + e + 8, 0xffff);
    expect_zip_error(&z, "zip64 archives are not supported");
    build(&z, m, 2);
    set32(z.b + e + 12, 0xffffffff);
    expect_zip_error(&z, "zip64 archives are not supported");
    build(&z, m, 2);
    set16(z.b + e + 4, 1);
    expect_zip_error(&z, "archives split over several disks are not "
                     "supported");
    build(&z, m, 2);
    set16(z.b + e + 8, 1);
    expect_zip_error(&z, "split over several disks");
    build(&z, m, 2);
    set16(z.b + e + 8, 1000);
    set16(z.b + e + 10, 1000);
    expect_zip_error(&z, "the central directory (102 bytes) is too small "
                     "for 1000 members");
    build(&z, m, 2);
    set16(z.b + e + 8, 1);
    set16(z.b + e + 10, 1);
    expect_zip_error(&z, "51 unexpected bytes after the central directory's "
                     "1 entries");
    build(&z, m, 2);
    set16(z.b + e + 8, 3);
    set16(z.b + e + 10, 3);
    expect_zip_error(&z, "too small for 3 members");
    build(&z, m, 2);
    set32(z.b + e + 16, 0);
    expect_zip_error(&z, "does not end where the end record starts");
    build(&z, m, 2);
    set32(z.b + e + 16, 0xfffffff0);
    expect_zip_error(&z, "does not end where the end record starts");
    build(&z, m, 2);
    set32(z.b + e + 12, 0xfffffff0);
    expect_zip_error(&z, "does not end where the end record starts");
    build(&z, m, 2);
    set32(z.b + e - 51 + 0, 0x02014b51);         /* b's entry signature */
    expect_zip_error(&z, "corrupt central directory (entry 2 of 2)");
    build(&z, m, 2);
    set16(z.b + e - 51 + 28, 60);                /* b's name length */
    expect_zip_error(&z, "corrupt central directory (entry 2 of 2)");
    build(&z, m, 2);
    set16(z.b + e - 51 + 30, 0xffff);            /* b's extra length */
    expect_zip_error(&z, "corrupt central directory (entry 2 of 2)");
    build(&z, m, 2);
    set16(z.b + e + 20, 1);         /* a comment that is not there */
    expect_zip_error(&z, "truncated: the zip end record is missing");
    build(&z, m, 2);
    set32(z.b + e - 20, 0x07064b50); /* a zip64 end locator before it */
    expect_zip_error(&z, "zip64 archives are not supported");

    /* an end record with a comment, and junk after it */
    build(&z, m, 2);
    set16(z.b + z.n - 2, 5);
    zput(&z, "hello", 5);
    write_bytes(tmp_path("h.npz"), z.b, z.n);
    {
        NpzFile f;
        assert_int_equal(npz_load(tmp_path("h.npz"), &f, err, sizeof err), 0);
        npz_free(&f);
    }
    zput(&z, "!", 1);
    expect_zip_error(&z, "the zip end record is missing");
}

/* .npy members that are not valid: the npy reader's messages, naming the
 * member. */
static void test_npz_rejects_bad_npy_members(void **state)
{
    static const struct {
        const char *dict;
        size_t nbytes;
        const char *msg;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", 0,
         "member 'a': malformed header"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': "
         "(9223372036854775807, 2), }", 0, "member 'a': shape is too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': "
         "(99999999999999999999,), }", 0, "member 'a': shape is too large"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 8,
         "member 'a': truncated: expected 12 bytes of data, found 8"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 8,
         "member 'a': trailing data after the array"},
        {"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", 8,
         "member 'a': unsupported dtype '|O'"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", 8,
         "member 'a': Fortran-order arrays are not supported"},
    };
    unsigned char b[512];
    Member m[1];
    Zip z;
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        n = npy_bytes(b, cases[i].dict, cases[i].nbytes);
        m[0] = member("a.npy", b, n);
        build(&z, m, 1);
        expect_zip_error(&z, cases[i].msg);
    }

    /* header lengths past the member: 16-bit, and 32-bit in version 2.0 */
    n = npy_bytes(b, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                  "(2,), }", 8);
    set16(b + 8, 0xffff);
    m[0] = member("a.npy", b, n);
    build(&z, m, 1);
    expect_zip_error(&z, "member 'a': truncated header");
    b[6] = 2;
    set32(b + 8, 0xffffffff);
    m[0] = member("a.npy", b, n);
    build(&z, m, 1);
    expect_zip_error(&z, "member 'a': header too large");
    b[6] = 2;
    set32(b + 8, 0x7ffff);
    m[0] = member("a.npy", b, n);
    build(&z, m, 1);
    expect_zip_error(&z, "member 'a': truncated header");
    /* too short for a preamble, and not a .npy at all */
    m[0] = member("a.npy", b, 9);
    build(&z, m, 1);
    expect_zip_error(&z, "member 'a': truncated header");
    m[0] = member("a.npy", "PK", 2);
    build(&z, m, 1);
    expect_zip_error(&z, "member 'a': not a .npy file (bad magic)");
    m[0] = member("a.npy", "", 0);
    build(&z, m, 1);
    expect_zip_error(&z, "member 'a': not a .npy file (bad magic)");
}

/* ---- deflate streams, bit by bit ---- */

typedef struct Bits {
    unsigned char b[1024];
    size_t n;                       /* bytes started */
    int bit;                        /* bits used of the last byte */
} Bits;

/* Appends v's n low bits, least significant first (deflate's order). */
static void bits(Bits *w, unsigned v, int n)
{
    while (n--) {
        if (w->bit == 0) {
            assert_true(w->n < sizeof w->b);
            w->b[w->n++] = 0;
        }
        w->b[w->n - 1] |= (unsigned char)((v & 1) << w->bit);
        w->bit = (w->bit + 1) % 8;
        v >>= 1;
    }
}

/* Appends a Huffman code of len bits, most significant first. */
static void code(Bits *w, unsigned c, int len)
{
    while (len--)
        bits(w, c >> len & 1, 1);
}

/* The canonical codes of n symbols with the given lengths (RFC 1951
 * 3.2.2). */
static void canonical(const unsigned char *len, int n, unsigned *codes)
{
    unsigned next[16] = {0}, c = 0;
    int count[16] = {0}, i, b;

    for (i = 0; i < n; i++)
        count[len[i]]++;
    count[0] = 0;
    for (b = 1; b < 16; b++) {
        c = (c + count[b - 1]) << 1;
        next[b] = c;
    }
    for (i = 0; i < n; i++)
        if (len[i])
            codes[i] = next[len[i]]++;
}

/* A dynamic block's header: the final bit, type 2, HLIT, HDIST, then a
 * code-length code of 19 symbols (0..12 in 4 bits, 13..18 in 5: complete)
 * and nsym code-length symbols sym[k] with their extra bits extra[k]. */
static const unsigned char cl_order[19] = {
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

static void dynamic_header(Bits *w, int nlen, int ndist, const int *sym,
                           const int *extra, int nsym)
{
    static const int extra_bits[19] = {[16] = 2, [17] = 3, [18] = 7};
    unsigned char cl_len[19];
    unsigned cl_code[19];
    int i;

    for (i = 0; i < 19; i++)
        cl_len[i] = i <= 12 ? 4 : 5;
    canonical(cl_len, 19, cl_code);
    bits(w, 1, 1);
    bits(w, 2, 2);
    bits(w, (unsigned)(nlen - 257), 5);
    bits(w, (unsigned)(ndist - 1), 5);
    bits(w, 19 - 4, 4);
    for (i = 0; i < 19; i++)
        bits(w, cl_len[cl_order[i]], 3);
    for (i = 0; i < nsym; i++) {
        code(w, cl_code[sym[i]], cl_len[sym[i]]);
        bits(w, extra ? (unsigned)extra[i] : 0, extra_bits[sym[i]]);
    }
}

/* A dynamic block header stating the given literal/length and distance
 * code lengths one by one (no repeats); codes gets their codes. */
static void dynamic_lengths(Bits *w, const unsigned char *len, int nlen,
                            int ndist, unsigned *codes)
{
    int sym[320], i;

    for (i = 0; i < nlen + ndist; i++)
        sym[i] = len[i];
    dynamic_header(w, nlen, ndist, sym, NULL, nlen + ndist);
    canonical(len, nlen, codes);
    canonical(len + nlen, ndist, codes + nlen);
}

/* Loads a one-member archive of the deflate stream w that inflates to
 * size bytes whose CRC-32 is crc; expects msg (NULL: success). */
static void expect_deflate(const Bits *w, uint32_t size, uint32_t crc,
                           const char *msg)
{
    Member m[1];
    Zip z;
    NpzFile f;

    m[0] = member("a.npy", w->b, w->n);
    m[0].method = 8;
    m[0].size = size;
    m[0].crc = crc;
    build(&z, m, 1);
    if (msg) {
        expect_zip_error(&z, msg);
        return;
    }
    write_bytes(tmp_path("h.npz"), z.b, z.n);
    if (npz_load(tmp_path("h.npz"), &f, err, sizeof err) != 0)
        fail_msg("%s", err);
    assert_int_equal(f.count, 1);
    assert_int_equal(f.members[0].count, 2);
    npz_free(&f);
}

static void test_npz_rejects_bad_deflate(void **state)
{
    uint32_t crc = npz_crc32(0, good_npy, good_len), L = (uint32_t)good_len;
    unsigned char len[320];
    unsigned codes[320];
    int sym[40], extra[40];
    Bits w;
    size_t i, j;

    (void)state;
    /* a stored block; its length check; its length past the input */
    memset(&w, 0, sizeof w);
    bits(&w, 1, 1);
    bits(&w, 0, 2);
    bits(&w, 0, 5);                 /* to the byte boundary */
    bits(&w, L, 16);
    bits(&w, ~L & 0xffff, 16);
    for (i = 0; i < good_len; i++)
        bits(&w, good_npy[i], 8);
    expect_deflate(&w, L, crc, NULL);
    expect_deflate(&w, L - 1, crc, "corrupt deflate data: it inflates to "
                   "more than its size");
    expect_deflate(&w, L + 1, crc, "corrupt deflate data: it inflates to "
                   "less than its size");
    w.b[3] ^= 1;
    expect_deflate(&w, L, crc, "a stored block's length check fails");
    w.b[3] ^= 1;
    w.n--;
    expect_deflate(&w, L, crc, "corrupt deflate data: the deflate data ends "
                   "too early");
    w.n = 3;                        /* half of LEN */
    expect_deflate(&w, L, crc, "the deflate data ends too early");
    w.n = 0;
    expect_deflate(&w, 0, 0, "the deflate data ends too early");
    w.b[0] = 0x07;                  /* final, type 3 */
    w.n = 1;
    expect_deflate(&w, 1, 0, "corrupt deflate data: an invalid block type");
    /* a final block followed by more bytes */
    w.b[0] = 0x03;                  /* final fixed block: end-of-block */
    w.b[1] = 0x00;
    w.b[2] = 0x00;
    w.n = 3;
    expect_deflate(&w, 0, 0, "data follows the end of the deflate stream");
    expect_deflate(&w, 0x7fffffff, 0, "member 'a': claims 2147483647 bytes "
                   "deflated into 3, more than deflate can hold");

    /* fixed codes: 'a', then a copy from before the start; length 286 */
    memset(&w, 0, sizeof w);
    bits(&w, 1, 1);
    bits(&w, 1, 2);
    code(&w, 0x30 + 'a', 8);
    code(&w, 1, 7);                 /* 257: length 3 */
    code(&w, 1, 5);                 /* distance 2 */
    code(&w, 0, 7);
    expect_deflate(&w, 4, 0, "corrupt deflate data: a distance too far "
                   "back");
    memset(&w, 0, sizeof w);
    bits(&w, 1, 1);
    bits(&w, 1, 2);
    code(&w, 0xc0 + 286 - 280, 8);
    expect_deflate(&w, 4, 0, "corrupt deflate data: an invalid length "
                   "symbol");

    /* a dynamic block: good_npy as literals, its eight 0x3f bytes as 0x3f
     * and a copy of 7 at distance 1 */
    memset(len, 0, sizeof len);
    for (i = 0; i < 256; i++)
        len[i] = 9;                 /* 1/2 of the code space */
    len[256] = 2;                   /* 1/4 */
    len[261] = 3;                   /* length 7, 1/8 */
    len[262] = 3;                   /* 1/8 */
    len[263] = 1;                   /* distance 0 (1) and 1 (2) */
    len[264] = 1;
    memset(&w, 0, sizeof w);
    dynamic_lengths(&w, len, 263, 2, codes);
    for (i = 0; i < good_len - 7; i++)
        code(&w, codes[good_npy[i]], 9);
    code(&w, codes[261], 3);
    code(&w, codes[263], 1);
    code(&w, codes[256], 2);
    expect_deflate(&w, L, crc, NULL);
    w.n--;
    expect_deflate(&w, L, crc, "the deflate data ends too early");
    /* j literals, the end of the block, one more byte: for some j it is
     * read ahead with the end-of-block code, and still noticed */
    for (j = 1; j <= 8; j++) {
        memset(&w, 0, sizeof w);
        dynamic_lengths(&w, len, 263, 2, codes);
        for (i = 0; i < j; i++)
            code(&w, codes[good_npy[i]], 9);
        code(&w, codes[256], 2);
        bits(&w, 0, (8 - w.bit) % 8);
        bits(&w, 0, 8);
        expect_deflate(&w, (uint32_t)j, crc, "data follows the end of the "
                       "deflate stream");
    }
    /* a block of the first j bytes, not final, then the rest stored: for
     * some j the bytes the decoder read ahead for the short end-of-block
     * code are the stored block's */
    for (j = 1; j <= 8; j++) {
        memset(&w, 0, sizeof w);
        dynamic_lengths(&w, len, 263, 2, codes);
        w.b[0] &= ~1;
        for (i = 0; i < j; i++)
            code(&w, codes[good_npy[i]], 9);
        code(&w, codes[256], 2);
        bits(&w, 1, 1);
        bits(&w, 0, 2);
        bits(&w, 0, (8 - w.bit) % 8);
        bits(&w, L - j, 16);
        bits(&w, ~(L - j) & 0xffff, 16);
        for (i = j; i < good_len; i++)
            bits(&w, good_npy[i], 8);
        expect_deflate(&w, L, crc, NULL);
    }

    /* oversubscribed and incomplete literal/length codes */
    len[65] = 1;
    memset(&w, 0, sizeof w);
    dynamic_lengths(&w, len, 263, 2, codes);
    expect_deflate(&w, L, crc, "corrupt deflate data: an invalid "
                   "literal/length code");
    memset(len, 0, 256);
    len[65] = 2;                    /* 256, 65 of 2 bits, 261, 262 of 3 */
    memset(&w, 0, sizeof w);
    dynamic_lengths(&w, len, 263, 2, codes);
    expect_deflate(&w, L, crc, "an invalid literal/length code");
    /* one code of one bit is allowed: only an end of block */
    memset(len, 0, sizeof len);
    len[256] = 1;
    memset(&w, 0, sizeof w);
    dynamic_lengths(&w, len, 257, 1, codes);
    code(&w, 0, 1);
    expect_deflate(&w, 0, 0, "member 'a': not a .npy file (bad magic)");
    memset(&w, 0, sizeof w);
    dynamic_lengths(&w, len, 257, 1, codes);
    code(&w, 0xffff, 16);           /* no symbol has a code of 1s */
    expect_deflate(&w, 0, 0, "an invalid Huffman code");
    /* an incomplete distance code of two codes */
    len[257] = 2;
    len[258] = 2;
    memset(&w, 0, sizeof w);
    dynamic_lengths(&w, len, 257, 2, codes);
    expect_deflate(&w, 0, 0, "an invalid distance code");
    len[257] = len[258] = 0;
    /* no end-of-block code */
    len[256] = 0;
    len[65] = 1;
    len[66] = 1;
    memset(&w, 0, sizeof w);
    dynamic_lengths(&w, len, 257, 1, codes);
    expect_deflate(&w, 0, 0, "no end-of-block code");

    /* code-length repeats: of nothing, past the count */
    sym[0] = 16;
    extra[0] = 0;
    memset(&w, 0, sizeof w);
    dynamic_header(&w, 257, 1, sym, extra, 1);
    expect_deflate(&w, 0, 0, "a repeat with no length before it");
    for (i = 0; i < 2; i++) {
        sym[i] = 18;                /* 138 zeros each */
        extra[i] = 127;
    }
    memset(&w, 0, sizeof w);
    dynamic_header(&w, 257, 1, sym, extra, 2);
    expect_deflate(&w, 0, 0, "code lengths run past their count");
    /* too many codes */
    memset(&w, 0, sizeof w);
    bits(&w, 1, 1);
    bits(&w, 2, 2);
    bits(&w, 30, 5);                /* 287 literal/length codes */
    bits(&w, 0, 5);
    bits(&w, 0, 4);
    expect_deflate(&w, 0, 0, "too many codes in a dynamic block");
    /* a code-length code with too many codes of one bit */
    memset(&w, 0, sizeof w);
    bits(&w, 1, 1);
    bits(&w, 2, 2);
    bits(&w, 0, 5);
    bits(&w, 0, 5);
    bits(&w, 0, 4);
    bits(&w, 01111, 12);            /* 16, 17, 18, 0 of one bit each */
    expect_deflate(&w, 0, 0, "an invalid code-length code");
}

static void test_npz_rejects_bad_files(void **state)
{
    (void)state;
    expect_load_error(tmp_path("missing.npz"), "cannot open: No such file or "
                      "directory");
    expect_load_error(test_tmpdir, "not a regular file");
    write_bytes(tmp_path("empty.npz"), "", 0);
    expect_load_error(tmp_path("empty.npz"), "not an .npz file (no zip end "
                      "record)");
    write_bytes(tmp_path("x.npz"), "\x93NUMPY\x01\x00", 8);
    expect_load_error(tmp_path("x.npz"), "not an .npz file (it is a .npy file)");
    write_bytes(tmp_path("x.npz"), "hello, world, this is not a zip file", 36);
    expect_load_error(tmp_path("x.npz"), "not an .npz file (no zip end record)");
}

/* path cut at every length, and with every byte flipped: a clean error
 * or (for fields nobody checks, like the date) success.  Returns how many
 * flips went unnoticed. */
static int cut_and_flip(const char *path)
{
    unsigned char *b;
    size_t len, i;
    int ok = 0;
    NpzFile z;

    b = read_all(path, &len);
    for (i = 0; i < len; i++) {
        write_bytes(tmp_path("cut.npz"), b, i);
        expect_load_error(tmp_path("cut.npz"), "");
    }
    for (i = 0; i < len; i++) {
        b[i] ^= 0xff;
        write_bytes(tmp_path("flip.npz"), b, len);
        if (npz_load(tmp_path("flip.npz"), &z, err, sizeof err) == 0) {
            ok++;
            npz_free(&z);
        } else {
            assert_int_equal(strncmp(err, tmp_path("flip.npz"),
                                     strlen(tmp_path("flip.npz"))), 0);
            assert_null(z.bytes);
        }
        b[i] ^= 0xff;
    }
    free(b);
    return ok;
}

static void test_npz_truncated_and_flipped(void **state)
{
    NpzEntry e[8];
    int n = state_dict(e);

    (void)state;
    assert_int_equal(npz_write(tmp_path("t.npz"), e, n, err, sizeof err), 0);
    /* only the version, time, date, made-by and attribute bytes of the
     * headers may change unnoticed: 2+4 per local header, 2+2+4+2+4 per
     * central entry */
    assert_int_equal(cut_and_flip(tmp_path("t.npz")), n * (6 + 14));
    /* deflated members: the inflater meets every corruption first */
    cut_and_flip(GOLDEN "compressed.npz");
    cut_and_flip(GOLDEN "deflate0.npz");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_npz_crc32),
        cmocka_unit_test(test_npz_roundtrip),
        cmocka_unit_test(test_npz_reads_numpy),
        cmocka_unit_test(test_npz_reads_deflated),
        cmocka_unit_test(test_npz_numpy_loads_ours),
        cmocka_unit_test(test_npz_read_mismatch),
        cmocka_unit_test(test_npz_write_errors),
        cmocka_unit_test(test_npz_rejects_bad_zip_fields),
        cmocka_unit_test(test_npz_rejects_bad_layout),
        cmocka_unit_test(test_npz_rejects_bad_end_record),
        cmocka_unit_test(test_npz_rejects_bad_npy_members),
        cmocka_unit_test(test_npz_rejects_bad_deflate),
        cmocka_unit_test(test_npz_rejects_bad_files),
        cmocka_unit_test(test_npz_truncated_and_flipped),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

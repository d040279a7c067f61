/* npz.c: .npz (a zip of .npy files) reading, strictly, and atomic writing.
 *
 * The zip layout (PKWARE's APPNOTE.TXT), all fields little-endian:
 *
 *   per member:  local header (30 bytes: signature PK\3\4, version, flags,
 *                method, time, date, CRC-32, compressed size, size, name
 *                length, extra length), name, extra fields, the data
 *   then:        one central directory entry per member (46 bytes:
 *                signature PK\1\2, the local header's fields again, comment
 *                length, disk, attributes, the local header's offset),
 *                each followed by its name, extra fields and comment
 *   then:        the end record (22 bytes: signature PK\5\6, disk numbers,
 *                member counts, the central directory's size and offset,
 *                comment length), then the archive comment.
 *
 * The reader loads the whole file, finds the end record, walks the central
 * directory checking every field against the file's size, checks each local
 * header against its central entry, then that the members tile the bytes
 * before the central directory exactly (no gap, no overlap), that no two
 * share a name, then inflates each deflated member and checks each
 * member's CRC-32 and .npy header.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "npz.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOCAL_SIG 0x04034b50u       /* "PK\3\4" */
#define CENTRAL_SIG 0x02014b50u     /* "PK\1\2" */
#define END_SIG 0x06054b50u         /* "PK\5\6" */
#define ZIP64_LOCATOR_SIG 0x07064b50u
#define LOCAL_SIZE 30
#define CENTRAL_SIZE 46
#define END_SIZE 22
#define MAX_COMMENT 65535
#define ZIP64_EXTRA 0x0001          /* extra field id of zip64 sizes */

#define FLAG_ENCRYPTED 0x0001
#define FLAG_DESCRIPTOR 0x0008      /* CRC and sizes follow the data */
#define FLAG_STRONG 0x0040          /* strong encryption */
#define FLAG_CD_ENCRYPTED 0x2000
#define FLAGS_HARMLESS 0x0806       /* deflate options (1, 2), UTF-8 (11) */

#define METHOD_STORED 0
#define METHOD_DEFLATE 8

#define DOS_DATE_1980 0x0021        /* 1980-01-01, as numpy.savez dates */
#define VERSION_20 20               /* 2.0: stored members, no zip64 */
#define MADE_BY_UNIX (3 << 8 | VERSION_20)
#define MODE_0644 (0100644ul << 16) /* regular file rw-r--r-- */

static const char npy_suffix[] = ".npy";
#define SUFFIX_LEN 4

static const char too_big[] = "zip64 archives are not supported (a member "
    "or the archive of 4 GiB or more, or 65535 members or more)";

/* Formats "PATH: MESSAGE", or "PATH: member 'NAME': MESSAGE" when member is
 * not NULL, into err; returns -1. */
static int fail(char *err, size_t errlen, const char *path,
                const char *member, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (!err || errlen == 0)
        return -1;
    if (member)
        n = snprintf(err, errlen, "%s: member '%s': ", path, member);
    else
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

static unsigned get16(const unsigned char *p)
{
    return p[0] | (unsigned)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
    return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get64(const unsigned char *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* CRC-32 with the reflected polynomial 0xEDB88320, eight bytes at a time
 * ("slicing by 8"): t[0] is the usual byte table, t[k][i] the CRC of byte
 * i followed by k zero bytes, so that eight lookups advance over eight
 * bytes.  Byte at a time, CRC was three quarters of loading a checkpoint.
 * The tables (8 KB) are made on each call, which is cheap next to a
 * member, so that nothing mutable is shared between threads. */
uint32_t npz_crc32(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    uint32_t t[8][256];
    unsigned i, k;

    for (i = 0; i < 256; i++) {
        uint32_t c = i;
        for (k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        t[0][i] = c;
    }
    for (i = 0; i < 256; i++)
        for (k = 1; k < 8; k++)
            t[k][i] = t[k - 1][i] >> 8 ^ t[0][t[k - 1][i] & 0xff];
    crc = ~crc;
    for (; n >= 8; n -= 8, b += 8) {
        uint32_t lo = crc ^ get32(b), hi = get32(b + 4);
        crc = t[7][lo & 0xff] ^ t[6][lo >> 8 & 0xff] ^
              t[5][lo >> 16 & 0xff] ^ t[4][lo >> 24] ^
              t[3][hi & 0xff] ^ t[2][hi >> 8 & 0xff] ^
              t[1][hi >> 16 & 0xff] ^ t[0][hi >> 24];
    }
    while (n--)
        crc = t[0][(crc ^ *b++) & 0xff] ^ crc >> 8;
    return ~crc;
}

/* A name as it may be quoted in a message: at most 64 bytes, bytes that
 * are not printable ASCII as '?'. */
static void printable(char *out, const unsigned char *name, size_t len)
{
    size_t i, n = len > 64 ? 64 : len;

    for (i = 0; i < n; i++)
        out[i] = name[i] >= ' ' && name[i] <= '~' ? (char)name[i] : '?';
    strcpy(out + n, len > n ? "..." : "");
}

/* Why a member name (without ".npy") of len bytes cannot be one, or NULL
 * when it can. */
static const char *bad_name(const unsigned char *name, size_t len)
{
    size_t i;

    if (len == 0)
        return "is empty";
    if (len >= NPZ_MAX_NAME)
        return "is too long (the limit is 255 bytes without .npy)";
    for (i = 0; i < len; i++)
        if (name[i] < ' ' || name[i] > '~')
            return "has a byte that is not printable ASCII";
    return NULL;
}

/* ---- inflate (RFC 1951), for numpy.savez_compressed's members ----
 *
 * A plain decoder: bits are read one at a time, least significant first;
 * Huffman codes are canonical, so a table of how many codes each length
 * has and the symbols in code order decode them a bit at a time
 * (RFC 1951 3.2.2); codes of up to FAST_BITS bits, most of them, are
 * looked up in one step instead.  Every read is checked against the
 * input's end and every write against the output's size, which the zip
 * header gives. */

#define MAX_CODE_BITS 15
#define FAST_BITS 9                 /* codes this short decode in one lookup */
#define MAX_LITLEN 286              /* literal/length symbols in use */
#define MAX_DIST 30
#define FIXED_LITLEN 288            /* the fixed code also defines 286, 287 */
#define DEFLATE_MAX_RATIO 1032      /* 258 bytes from 2 bits, at best */

typedef struct Inflate {
    const unsigned char *in;
    size_t inlen, inpos;
    unsigned bitbuf;                /* bits not yet used, low first */
    int bitcnt;
    unsigned char *out;
    size_t outlen, outpos;
    const char *why;                /* the first error, or NULL */
} Inflate;

typedef struct Huffman {
    short count[MAX_CODE_BITS + 1]; /* codes of each length */
    short symbol[FIXED_LITLEN];     /* symbols in canonical code order */
    short fast[1 << FAST_BITS];     /* next FAST_BITS bits -> symbol << 4 |
                                       code length, or -1: a longer code */
} Huffman;

static int inflate_error(Inflate *s, const char *why)
{
    if (!s->why)
        s->why = why;
    return -1;
}

/* The next need bits (need <= 16) as a number; 0 and s->why set when the
 * input ends first. */
static unsigned get_bits(Inflate *s, int need)
{
    unsigned v;

    while (s->bitcnt < need) {
        if (s->inpos == s->inlen) {
            inflate_error(s, "the deflate data ends too early");
            return 0;
        }
        s->bitbuf |= (unsigned)s->in[s->inpos++] << s->bitcnt;
        s->bitcnt += 8;
    }
    v = s->bitbuf & ((1u << need) - 1);
    s->bitbuf >>= need;
    s->bitcnt -= need;
    return v;
}

/* Makes h from the code lengths of n symbols.  Returns 0 for a complete
 * code, > 0 for an incomplete one, < 0 for one with too many codes. */
static int huffman_build(Huffman *h, const unsigned char *length, int n)
{
    short offs[MAX_CODE_BITS + 1];
    int left = 1, len, i, k, b;
    unsigned code, j;

    memset(h->count, 0, sizeof h->count);
    memset(h->fast, 0xff, sizeof h->fast);
    for (i = 0; i < n; i++)
        h->count[length[i]]++;
    if (h->count[0] == n)
        return 0;                   /* no codes: complete, unusable */
    for (len = 1; len <= MAX_CODE_BITS; len++) {
        left = 2 * left - h->count[len];
        if (left < 0)
            return -1;
    }
    offs[1] = 0;
    for (len = 1; len < MAX_CODE_BITS; len++)
        offs[len + 1] = offs[len] + h->count[len];
    for (i = 0; i < n; i++)
        if (length[i] != 0)
            h->symbol[offs[length[i]]++] = (short)i;

    /* every FAST_BITS-bit string that starts with a short code (codes
     * arrive first bit lowest, so reversed) */
    code = 0;
    i = 0;
    for (len = 1; len <= FAST_BITS; len++, code <<= 1)
        for (k = 0; k < h->count[len]; k++, code++, i++) {
            unsigned rev = 0;
            for (b = 0; b < len; b++)
                rev |= (code >> b & 1) << (len - 1 - b);
            for (j = rev; j < 1u << FAST_BITS; j += 1u << len)
                h->fast[j] = (short)(h->symbol[i] << 4 | len);
        }
    return left;
}

/* The next symbol coded with h, or -1 (s->why set). */
static int huffman_decode(Inflate *s, const Huffman *h)
{
    int code = 0, first = 0, index = 0, len, e;

    while (s->bitcnt < FAST_BITS && s->inpos < s->inlen) {
        s->bitbuf |= (unsigned)s->in[s->inpos++] << s->bitcnt;
        s->bitcnt += 8;
    }
    e = h->fast[s->bitbuf & ((1u << FAST_BITS) - 1)];
    if (e >= 0 && (e & 15) <= s->bitcnt) {
        s->bitbuf >>= e & 15;
        s->bitcnt -= e & 15;
        return e >> 4;
    }
    /* a longer code, or the input's last bits: one bit at a time */
    for (len = 1; len <= MAX_CODE_BITS; len++) {
        code |= (int)get_bits(s, 1);
        if (s->why)
            return -1;
        if (code - first < h->count[len])
            return h->symbol[index + code - first];
        index += h->count[len];
        first = (first + h->count[len]) << 1;
        code <<= 1;
    }
    return inflate_error(s, "an invalid Huffman code");
}

/* A stored block: aligned LEN, ~LEN, then LEN bytes. */
static int inflate_stored(Inflate *s)
{
    unsigned len;

    /* the rest of the byte is padding; whole bytes read ahead go back */
    s->inpos -= (size_t)s->bitcnt / 8;
    s->bitbuf = 0;
    s->bitcnt = 0;
    if (s->inlen - s->inpos < 4)
        return inflate_error(s, "the deflate data ends too early");
    len = get16(s->in + s->inpos);
    if (get16(s->in + s->inpos + 2) != (~len & 0xffff))
        return inflate_error(s, "a stored block's length check fails");
    s->inpos += 4;
    if (s->inlen - s->inpos < len)
        return inflate_error(s, "the deflate data ends too early");
    if (s->outlen - s->outpos < len)
        return inflate_error(s, "it inflates to more than its size");
    memcpy(s->out + s->outpos, s->in + s->inpos, len);
    s->inpos += len;
    s->outpos += len;
    return 0;
}

/* Literals and (length, distance) copies until the end-of-block symbol. */
static int inflate_codes(Inflate *s, const Huffman *litlen,
                         const Huffman *dist)
{
    static const short len_base[29] = {
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
        35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
    static const short len_extra[29] = {
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
        3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
    static const unsigned short dist_base[30] = {
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
        257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
        8193, 12289, 16385, 24577};
    static const short dist_extra[30] = {
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
        7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

    for (;;) {
        int sym = huffman_decode(s, litlen);
        size_t len, d, k;
        if (sym < 0)
            return -1;
        if (sym < 256) {
            if (s->outpos == s->outlen)
                return inflate_error(s, "it inflates to more than its size");
            s->out[s->outpos++] = (unsigned char)sym;
            continue;
        }
        if (sym == 256)
            return 0;
        sym -= 257;
        if (sym >= 29)
            return inflate_error(s, "an invalid length symbol");
        len = len_base[sym] + get_bits(s, len_extra[sym]);
        sym = huffman_decode(s, dist);
        if (sym < 0)
            return -1;
        if (sym >= MAX_DIST)
            return inflate_error(s, "an invalid distance symbol");
        d = dist_base[sym] + get_bits(s, dist_extra[sym]);
        if (s->why)
            return -1;
        if (d > s->outpos)
            return inflate_error(s, "a distance too far back");
        if (s->outlen - s->outpos < len)
            return inflate_error(s, "it inflates to more than its size");
        if (d >= len)
            memcpy(s->out + s->outpos, s->out + s->outpos - d, len);
        else if (d == 1)            /* a run of one byte */
            memset(s->out + s->outpos, s->out[s->outpos - 1], len);
        else                        /* overlapping itself: byte by byte */
            for (k = 0; k < len; k++)
                s->out[s->outpos + k] = s->out[s->outpos - d + k];
        s->outpos += len;
    }
}

/* A block with the fixed codes of RFC 1951 3.2.6. */
static int inflate_fixed(Inflate *s)
{
    unsigned char length[FIXED_LITLEN];
    Huffman litlen, dist;
    int i;

    for (i = 0; i < FIXED_LITLEN; i++)
        length[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    huffman_build(&litlen, length, FIXED_LITLEN);
    for (i = 0; i < MAX_DIST; i++)
        length[i] = 5;
    huffman_build(&dist, length, MAX_DIST);
    return inflate_codes(s, &litlen, &dist);
}

/* A block whose codes come first, themselves coded (RFC 1951 3.2.7). */
static int inflate_dynamic(Inflate *s)
{
    static const unsigned char order[19] = {
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    unsigned char length[MAX_LITLEN + MAX_DIST];
    Huffman lencode, litlen, dist;
    int nlen, ndist, ncode, i, r;

    nlen = (int)get_bits(s, 5) + 257;
    ndist = (int)get_bits(s, 5) + 1;
    ncode = (int)get_bits(s, 4) + 4;
    if (s->why)
        return -1;
    if (nlen > MAX_LITLEN || ndist > MAX_DIST)
        return inflate_error(s, "too many codes in a dynamic block");
    memset(length, 0, 19);
    for (i = 0; i < ncode; i++)
        length[order[i]] = (unsigned char)get_bits(s, 3);
    if (s->why)
        return -1;
    if (huffman_build(&lencode, length, 19) != 0)
        return inflate_error(s, "an invalid code-length code");

    for (i = 0; i < nlen + ndist;) {
        int sym = huffman_decode(s, &lencode), rep;
        unsigned char v = 0;
        if (sym < 0)
            return -1;
        if (sym < 16) {
            length[i++] = (unsigned char)sym;
            continue;
        }
        if (sym == 16) {
            if (i == 0)
                return inflate_error(s, "a repeat with no length before it");
            v = length[i - 1];
            rep = 3 + (int)get_bits(s, 2);
        } else if (sym == 17) {
            rep = 3 + (int)get_bits(s, 3);
        } else {
            rep = 11 + (int)get_bits(s, 7);
        }
        if (s->why)
            return -1;
        if (i + rep > nlen + ndist)
            return inflate_error(s, "code lengths run past their count");
        while (rep--)
            length[i++] = v;
    }
    if (length[256] == 0)
        return inflate_error(s, "no end-of-block code");
    /* an incomplete code is allowed only as a single code of one bit */
    r = huffman_build(&litlen, length, nlen);
    if (r < 0 || (r > 0 && nlen != litlen.count[0] + litlen.count[1]))
        return inflate_error(s, "an invalid literal/length code");
    r = huffman_build(&dist, length + nlen, ndist);
    if (r < 0 || (r > 0 && ndist != dist.count[0] + dist.count[1]))
        return inflate_error(s, "an invalid distance code");
    return inflate_codes(s, &litlen, &dist);
}

/* Inflates the raw deflate stream in (inlen bytes) into exactly outlen
 * bytes at out; the stream must end at the input's last byte.  Returns
 * NULL, or what is wrong. */
static const char *inflate_all(const unsigned char *in, size_t inlen,
                               unsigned char *out, size_t outlen)
{
    Inflate s;
    unsigned last;

    memset(&s, 0, sizeof s);
    s.in = in;
    s.inlen = inlen;
    s.out = out;
    s.outlen = outlen;
    do {
        unsigned type;
        last = get_bits(&s, 1);
        type = get_bits(&s, 2);
        if (s.why)
            break;
        if (type == 0)
            inflate_stored(&s);
        else if (type == 1)
            inflate_fixed(&s);
        else if (type == 2)
            inflate_dynamic(&s);
        else
            inflate_error(&s, "an invalid block type");
    } while (!last && !s.why);
    if (!s.why && s.outpos != s.outlen)
        inflate_error(&s, "it inflates to less than its size");
    if (!s.why && s.inpos - (size_t)s.bitcnt / 8 != s.inlen)
        inflate_error(&s, "data follows the end of the deflate stream");
    return s.why;
}

/* ---- reading ---- */

/* Where a member lies, from the central directory and its local header. */
typedef struct Extent {
    uint64_t start, end;            /* local header .. end of data */
    uint32_t crc;
    size_t data, csize;             /* the member's bytes: offset, length */
    size_t size;                    /* the .npy's length (inflated) */
    int deflated;
} Extent;

/* Checks that extra fields (len bytes at p) are well formed: a sequence of
 * (id, size, size bytes).  With sizes non-NULL, a zip64 extra field among
 * them must hold sizes[0] and sizes[1] (the size, then the compressed
 * size), as numpy.savez writes in its local headers. */
static const char *check_extra(const unsigned char *p, size_t len,
                               const uint32_t *sizes)
{
    while (len > 0) {
        unsigned id, n;
        if (len < 4)
            return "malformed extra field";
        id = get16(p);
        n = get16(p + 2);
        if (len - 4 < n)
            return "malformed extra field";
        if (id == ZIP64_EXTRA && sizes &&
            (n != 16 || get64(p + 4) != sizes[0] ||
             get64(p + 12) != sizes[1]))
            return "zip64 extra field disagrees with the sizes (corrupt)";
        p += 4 + n;
        len -= 4 + n;
    }
    return NULL;
}

/* Reads the whole regular file path into *bytes (malloc'd), *size. */
static int read_file(const char *path, unsigned char **bytes, size_t *size,
                     char *err, size_t errlen)
{
    struct stat st;
    FILE *f = fopen(path, "rb");
    size_t got;

    *bytes = NULL;
    if (!f)
        return fail(err, errlen, path, NULL, "cannot open: %s",
                    strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return fail(err, errlen, path, NULL, "not a regular file");
    }
    /* the largest archive without zip64: members and directory under
     * 4 GiB, then the end record and its comment */
    if ((uint64_t)st.st_size > (uint64_t)UINT32_MAX + END_SIZE + MAX_COMMENT ||
        (uint64_t)st.st_size >= SIZE_MAX) {
        fclose(f);
        return fail(err, errlen, path, NULL, "%s", too_big);
    }
    *size = (size_t)st.st_size;
    *bytes = malloc(*size ? *size : 1);
    if (!*bytes) {
        fclose(f);
        return fail(err, errlen, path, NULL, "out of memory");
    }
    got = fread(*bytes, 1, *size, f);
    if (ferror(f) || got != *size) {
        int e = ferror(f) ? errno : 0;
        fclose(f);
        free(*bytes);
        *bytes = NULL;
        return fail(err, errlen, path, NULL, "read error: %s",
                    e ? strerror(e) : "the file changed while read");
    }
    fclose(f);
    return 0;
}

/* Finds the end record: the last "PK\5\6" whose comment ends the file. */
static int find_end(const char *path, const unsigned char *b, size_t size,
                    size_t *end, char *err, size_t errlen)
{
    size_t pos, stop;

    if (size >= END_SIZE) {
        stop = size - END_SIZE > MAX_COMMENT ? size - END_SIZE - MAX_COMMENT
                                             : 0;
        for (pos = size - END_SIZE + 1; pos-- > stop;)
            if (get32(b + pos) == END_SIG &&
                get16(b + pos + 20) == size - pos - END_SIZE) {
                *end = pos;
                return 0;
            }
    }
    if (size >= 6 && memcmp(b, "\x93NUMPY", 6) == 0)
        return fail(err, errlen, path, NULL, "not an .npz file (it is a "
                    ".npy file)");
    if (size >= 4 && get32(b) == LOCAL_SIG)
        return fail(err, errlen, path, NULL, "truncated: the zip end record "
                    "is missing");
    return fail(err, errlen, path, NULL, "not an .npz file (no zip end "
                "record)");
}

/* Checks central directory entry i (at b + at, within the directory that
 * ends at dir_end) and its local header; fills m's name and e. *next is
 * where the following entry starts. */
static int read_entry(const char *path, const unsigned char *b, size_t at,
                      size_t dir_start, size_t dir_end, int i, int n,
                      NpzMember *m, Extent *e, size_t *next, char *err,
                      size_t errlen)
{
    const unsigned char *c = b + at, *l;
    unsigned flags, method, nlen, elen, clen, lnlen, lelen;
    uint32_t size, csize, offset, sizes[2];
    char shown[80];
    const char *why;

    if (dir_end - at < CENTRAL_SIZE || get32(c) != CENTRAL_SIG)
        return fail(err, errlen, path, NULL, "corrupt central directory "
                    "(entry %d of %d)", i + 1, n);
    flags = get16(c + 8);
    method = get16(c + 10);
    e->crc = get32(c + 16);
    csize = get32(c + 20);
    size = get32(c + 24);
    nlen = get16(c + 28);
    elen = get16(c + 30);
    clen = get16(c + 32);
    offset = get32(c + 42);
    if (dir_end - at - CENTRAL_SIZE < (size_t)nlen + elen + clen)
        return fail(err, errlen, path, NULL, "corrupt central directory "
                    "(entry %d of %d)", i + 1, n);
    *next = at + CENTRAL_SIZE + nlen + elen + clen;

    /* the name: NAME.npy */
    printable(shown, c + CENTRAL_SIZE, nlen);
    if (nlen < SUFFIX_LEN ||
        memcmp(c + CENTRAL_SIZE + nlen - SUFFIX_LEN, npy_suffix,
               SUFFIX_LEN) != 0)
        return fail(err, errlen, path, NULL, "member '%s' is not a .npy "
                    "file (its name does not end in .npy)", shown);
    if ((why = bad_name(c + CENTRAL_SIZE, nlen - SUFFIX_LEN)) != NULL)
        return fail(err, errlen, path, NULL, "member name '%s' %s", shown,
                    why);
    memcpy(m->name, c + CENTRAL_SIZE, nlen - SUFFIX_LEN);
    m->name[nlen - SUFFIX_LEN] = '\0';

    if (flags & (FLAG_ENCRYPTED | FLAG_STRONG | FLAG_CD_ENCRYPTED))
        return fail(err, errlen, path, m->name, "is encrypted");
    if (flags & FLAG_DESCRIPTOR)
        return fail(err, errlen, path, m->name, "has a data descriptor "
                    "(the archive was written to a stream), which is not "
                    "supported");
    if (flags & ~FLAGS_HARMLESS)
        return fail(err, errlen, path, m->name, "unsupported zip flags "
                    "0x%04x", flags);
    if (method != METHOD_STORED && method != METHOD_DEFLATE)
        return fail(err, errlen, path, m->name, "unsupported compression "
                    "method %u", method);
    if (csize == UINT32_MAX || size == UINT32_MAX || offset == UINT32_MAX)
        return fail(err, errlen, path, m->name, "%s", too_big);
    if (method == METHOD_STORED && csize != size)
        return fail(err, errlen, path, m->name, "stored with a compressed "
                    "size (%lu) other than its size (%lu): the file is "
                    "corrupt", (unsigned long)csize, (unsigned long)size);
    if (method == METHOD_DEFLATE &&
        (uint64_t)csize * DEFLATE_MAX_RATIO < size)
        return fail(err, errlen, path, m->name, "claims %lu bytes deflated "
                    "into %lu, more than deflate can hold: the file is "
                    "corrupt or hostile", (unsigned long)size,
                    (unsigned long)csize);
    if (get16(c + 34) != 0)
        return fail(err, errlen, path, m->name, "archives split over "
                    "several disks are not supported");
    if ((why = check_extra(c + CENTRAL_SIZE + nlen, elen, NULL)) != NULL)
        return fail(err, errlen, path, m->name, "%s in the central "
                    "directory", why);

    /* its local header, which must repeat the central entry */
    if (offset >= dir_start || dir_start - offset < LOCAL_SIZE)
        return fail(err, errlen, path, m->name, "local header offset %lu is "
                    "outside the archive's members (%lu bytes): the file is "
                    "corrupt", (unsigned long)offset,
                    (unsigned long)dir_start);
    l = b + offset;
    lnlen = get16(l + 26);
    lelen = get16(l + 28);
    if (get32(l) != LOCAL_SIG)
        return fail(err, errlen, path, m->name, "no local header at offset "
                    "%lu: the file is corrupt", (unsigned long)offset);
    if (get16(l + 6) != flags || get16(l + 8) != method ||
        get32(l + 14) != e->crc || get32(l + 18) != csize ||
        get32(l + 22) != size || lnlen != nlen)
        return fail(err, errlen, path, m->name, "local header disagrees with "
                    "the central directory: the file is corrupt");
    if (dir_start - offset - LOCAL_SIZE < (size_t)lnlen + lelen)
        return fail(err, errlen, path, m->name, "local header runs into the "
                    "central directory: the file is corrupt");
    if (memcmp(l + LOCAL_SIZE, c + CENTRAL_SIZE, nlen) != 0)
        return fail(err, errlen, path, m->name, "local header names another "
                    "member: the file is corrupt");
    sizes[0] = size;
    sizes[1] = csize;
    if ((why = check_extra(l + LOCAL_SIZE + nlen, lelen, sizes)) != NULL)
        return fail(err, errlen, path, m->name, "%s in the local header",
                    why);
    e->start = offset;
    e->data = (size_t)offset + LOCAL_SIZE + lnlen + lelen;
    e->size = size;
    e->csize = csize;
    e->deflated = method == METHOD_DEFLATE;
    e->end = (uint64_t)e->data + csize;
    if (e->end > dir_start)
        return fail(err, errlen, path, m->name, "data (%lu bytes at offset "
                    "%lu) runs past the members into the central directory: "
                    "the file is truncated or corrupt", (unsigned long)csize,
                    (unsigned long)e->data);
    return 0;
}

/* What sort_idx compares: members by name, or extents by start. */
typedef struct SortBy {
    const NpzMember *members;
    const Extent *extents;
} SortBy;

static int by_name_cmp(const NpzMember *m, int a, int b)
{
    return strcmp(m[a].name, m[b].name);
}

/* Sorts the indices idx[0..n) by member name (by_name) or by start offset,
 * stably, in n log n (a hostile archive may have 65534 members); tmp holds
 * n ints.  A merge sort rather than qsort, which takes no context. */
static void sort_idx(int *idx, int *tmp, int n, const SortBy *s, int by_name)
{
    int width, i;

    for (width = 1; width < n; width *= 2) {
        for (i = 0; i < n; i += 2 * width) {
            int lo = i, mid = i + width < n ? i + width : n;
            int hi = i + 2 * width < n ? i + 2 * width : n;
            int a = lo, b = mid, k = lo;
            while (a < mid || b < hi) {
                int take_a;
                if (a == mid)
                    take_a = 0;
                else if (b == hi)
                    take_a = 1;
                else if (by_name)
                    take_a = by_name_cmp(s->members, idx[a], idx[b]) <= 0;
                else
                    take_a = s->extents[idx[a]].start <=
                             s->extents[idx[b]].start;
                tmp[k++] = take_a ? idx[a++] : idx[b++];
            }
        }
        memcpy(idx, tmp, (size_t)n * sizeof *idx);
    }
}

/* Checks the whole archive in z->bytes (size bytes) and fills z. */
static int parse(NpzFile *z, size_t size, char *err, size_t errlen)
{
    const unsigned char *b = z->bytes;
    const char *path = z->path;
    size_t end = 0, dir_start, dir_size, at;
    Extent *ext = NULL;
    int *tmp = NULL, *by_start = NULL, n, i, r = -1;
    SortBy s;

    if (find_end(path, b, size, &end, err, errlen) != 0)
        return -1;
    n = (int)get16(b + end + 10);
    dir_size = get32(b + end + 12);
    dir_start = get32(b + end + 16);
    if (n == 0xFFFF || dir_size == UINT32_MAX || dir_start == UINT32_MAX ||
        (end >= 20 && get32(b + end - 20) == ZIP64_LOCATOR_SIG))
        return fail(err, errlen, path, NULL, "%s", too_big);
    if (get16(b + end + 4) != 0 || get16(b + end + 6) != 0 ||
        get16(b + end + 8) != (unsigned)n)
        return fail(err, errlen, path, NULL, "archives split over several "
                    "disks are not supported");
    if ((uint64_t)dir_start + dir_size != end)
        return fail(err, errlen, path, NULL, "the central directory (%lu "
                    "bytes at offset %lu) does not end where the end record "
                    "starts (offset %lu): the file is truncated or corrupt",
                    (unsigned long)dir_size, (unsigned long)dir_start,
                    (unsigned long)end);
    if ((uint64_t)n * CENTRAL_SIZE > dir_size)
        return fail(err, errlen, path, NULL, "the central directory (%lu "
                    "bytes) is too small for %d members: the file is "
                    "corrupt", (unsigned long)dir_size, n);

    z->count = n;
    z->members = calloc(n ? (size_t)n : 1, sizeof *z->members);
    z->sorted = malloc((n ? (size_t)n : 1) * sizeof *z->sorted);
    ext = calloc(n ? (size_t)n : 1, sizeof *ext);
    tmp = malloc((n ? (size_t)n : 1) * sizeof *tmp);
    by_start = malloc((n ? (size_t)n : 1) * sizeof *by_start);
    if (!z->members || !z->sorted || !ext || !tmp || !by_start) {
        fail(err, errlen, path, NULL, "out of memory");
        goto out;
    }
    at = dir_start;
    for (i = 0; i < n; i++)
        if (read_entry(path, b, at, dir_start, end, i, n, &z->members[i],
                       &ext[i], &at, err, errlen) != 0)
            goto out;
    if (at != end) {
        fail(err, errlen, path, NULL, "%lu unexpected bytes after the "
             "central directory's %d entries: the file is corrupt",
             (unsigned long)(end - at), n);
        goto out;
    }

    /* no two members share a name */
    s.members = z->members;
    s.extents = ext;
    for (i = 0; i < n; i++)
        z->sorted[i] = by_start[i] = i;
    sort_idx(z->sorted, tmp, n, &s, 1);
    for (i = 1; i < n; i++)
        if (strcmp(z->members[z->sorted[i - 1]].name,
                   z->members[z->sorted[i]].name) == 0) {
            fail(err, errlen, path, z->members[z->sorted[i]].name,
                 "appears twice");
            goto out;
        }

    /* the members tile [0, dir_start) in offset order */
    sort_idx(by_start, tmp, n, &s, 0);
    for (i = 0; i < n; i++) {
        const Extent *e = &ext[by_start[i]];
        uint64_t prev = i ? ext[by_start[i - 1]].end : 0;
        const char *name = z->members[by_start[i]].name;
        if (e->start < prev) {
            fail(err, errlen, path, name, "overlaps member '%s': the file "
                 "is corrupt or hostile", z->members[by_start[i - 1]].name);
            goto out;
        }
        if (e->start > prev) {
            fail(err, errlen, path, name, "%lu unexpected bytes before it",
                 (unsigned long)(e->start - prev));
            goto out;
        }
    }
    if ((n ? ext[by_start[n - 1]].end : 0) != dir_start) {
        fail(err, errlen, path, NULL, "unexpected bytes before the central "
             "directory");
        goto out;
    }

    /* each member inflated, its CRC-32 and its .npy header */
    for (i = 0; i < n; i++) {
        NpzMember *m = &z->members[i];
        const unsigned char *npy = b + ext[i].data;
        char label[NPZ_MAX_NAME + 1024];
        const char *why;
        uint32_t crc;
        NpyArray a;
        size_t offset;
        if (ext[i].deflated) {
            m->inflated = malloc(ext[i].size ? ext[i].size : 1);
            if (!m->inflated) {
                fail(err, errlen, path, m->name, "out of memory");
                goto out;
            }
            why = inflate_all(npy, ext[i].csize, m->inflated, ext[i].size);
            if (why) {
                fail(err, errlen, path, m->name, "corrupt deflate data: %s",
                     why);
                goto out;
            }
            npy = m->inflated;
        }
        crc = npz_crc32(0, npy, ext[i].size);
        if (crc != ext[i].crc) {
            fail(err, errlen, path, m->name, "CRC-32 mismatch (stored "
                 "0x%08lx, computed 0x%08lx): the file is corrupt",
                 (unsigned long)ext[i].crc, (unsigned long)crc);
            goto out;
        }
        snprintf(label, sizeof label, "%s: member '%s'", path, m->name);
        if (npy_parse(label, npy, ext[i].size, &a, &offset, err,
                      errlen) != 0)
            goto out;
        m->kind = a.kind;
        m->itemsize = a.itemsize;
        m->rank = a.rank;
        memcpy(m->shape, a.shape, sizeof m->shape);
        m->count = a.count;
        m->data = npy + offset;
    }
    r = 0;
out:
    free(ext);
    free(tmp);
    free(by_start);
    return r;
}

int npz_load(const char *path, NpzFile *z, char *err, size_t errlen)
{
    size_t size = 0;

    memset(z, 0, sizeof *z);
    if (!host_is_little_endian())
        return fail(err, errlen, path, NULL, "this host is not "
                    "little-endian");
    z->path = malloc(strlen(path) + 1);
    if (!z->path)
        return fail(err, errlen, path, NULL, "out of memory");
    strcpy(z->path, path);
    if (read_file(path, &z->bytes, &size, err, errlen) != 0 ||
        parse(z, size, err, errlen) != 0) {
        npz_free(z);
        return -1;
    }
    return 0;
}

void npz_free(NpzFile *z)
{
    int i;

    for (i = 0; z->members && i < z->count; i++)
        free(z->members[i].inflated);
    free(z->path);
    free(z->members);
    free(z->sorted);
    free(z->bytes);
    memset(z, 0, sizeof *z);
}

NpzMember *npz_find(const NpzFile *z, const char *name)
{
    int lo = 0, hi = z->count;

    while (lo < hi) {               /* binary search of z->sorted */
        int mid = lo + (hi - lo) / 2;
        int c = strcmp(z->members[z->sorted[mid]].name, name);
        if (c == 0)
            return &z->members[z->sorted[mid]];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int npz_read(NpzFile *z, const char *name, char kind, int itemsize,
             int rank, const long *shape, void *data, char *err,
             size_t errlen)
{
    const char *want = npy_descr(kind, itemsize);
    char got_s[NPY_SHAPE_BUF], want_s[NPY_SHAPE_BUF];
    NpzMember *m = npz_find(z, name);

    if (!want)
        return fail(err, errlen, z->path, name, "unsupported expected "
                    "dtype");
    if (rank < 0 || rank > NPY_MAX_RANK)
        return fail(err, errlen, z->path, name, "unsupported expected rank "
                    "%d", rank);
    if (!m)
        return fail(err, errlen, z->path, NULL, "missing member '%s'", name);
    if (m->kind != kind || m->itemsize != itemsize)
        return fail(err, errlen, z->path, name, "dtype '%s' does not match "
                    "the expected '%s'", npy_descr(m->kind, m->itemsize),
                    want);
    if (m->rank != rank ||
        (rank > 0 && memcmp(m->shape, shape, rank * sizeof *shape) != 0)) {
        npy_shape_str(got_s, sizeof got_s, m->rank, m->shape);
        npy_shape_str(want_s, sizeof want_s, rank, shape);
        return fail(err, errlen, z->path, name, "shape %s does not match "
                    "the expected %s", got_s, want_s);
    }
    if (m->count > 0)
        memcpy(data, m->data, (size_t)m->count * itemsize);
    m->used = 1;
    return 0;
}

int npz_check_used(const NpzFile *z, const char *ignore_prefix, char *err,
                   size_t errlen)
{
    int i;

    for (i = 0; i < z->count; i++) {
        const NpzMember *m = &z->members[i];
        if (!m->used && !(ignore_prefix &&
                          strncmp(m->name, ignore_prefix,
                                  strlen(ignore_prefix)) == 0))
            return fail(err, errlen, z->path, NULL, "unexpected member "
                        "'%s'", m->name);
    }
    return 0;
}

/* ---- writing ---- */

/* One member as it will be written. */
typedef struct Out {
    char header[NPY_HEADER_BUF];
    size_t hlen, nbytes, nlen;      /* .npy header, data, name (with .npy) */
    uint32_t crc, offset;           /* of the .npy bytes; of its local header */
} Out;

typedef struct Writer {
    const NpzEntry *entries;
    Out *out;
    int n;
    uint32_t dir_start, dir_size;
} Writer;

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v & 0xffff);
    put16(p + 2, v >> 16);
}

/* The fields a local header and a central entry share, from "version
 * needed" on (26 bytes). */
static void common_fields(unsigned char *p, const Out *o)
{
    put16(p, VERSION_20);
    put16(p + 2, 0);                /* flags */
    put16(p + 4, METHOD_STORED);
    put16(p + 6, 0);                /* time 00:00 */
    put16(p + 8, DOS_DATE_1980);
    put32(p + 10, o->crc);
    put32(p + 14, (uint32_t)(o->hlen + o->nbytes));
    put32(p + 18, (uint32_t)(o->hlen + o->nbytes));
    put16(p + 22, (unsigned)o->nlen);
    put16(p + 24, 0);               /* extra length */
}

static int put_name(FILE *f, const char *name)
{
    size_t n = strlen(name);
    return fwrite(name, 1, n, f) == n &&
           fwrite(npy_suffix, 1, SUFFIX_LEN, f) == SUFFIX_LEN ? 0 : -1;
}

static int fill_npz(FILE *f, void *ctx)
{
    const Writer *w = ctx;
    unsigned char h[CENTRAL_SIZE];
    int i;

    for (i = 0; i < w->n; i++) {
        const Out *o = &w->out[i];
        put32(h, LOCAL_SIG);
        common_fields(h + 4, o);
        if (fwrite(h, 1, LOCAL_SIZE, f) != LOCAL_SIZE ||
            put_name(f, w->entries[i].name) != 0 ||
            fwrite(o->header, 1, o->hlen, f) != o->hlen ||
            (o->nbytes > 0 &&
             fwrite(w->entries[i].data, 1, o->nbytes, f) != o->nbytes))
            return -1;
    }
    for (i = 0; i < w->n; i++) {
        const Out *o = &w->out[i];
        put32(h, CENTRAL_SIG);
        put16(h + 4, MADE_BY_UNIX);
        common_fields(h + 6, o);
        put16(h + 32, 0);           /* comment length */
        put16(h + 34, 0);           /* disk */
        put16(h + 36, 0);           /* internal attributes */
        put32(h + 38, MODE_0644);
        put32(h + 42, o->offset);
        if (fwrite(h, 1, CENTRAL_SIZE, f) != CENTRAL_SIZE ||
            put_name(f, w->entries[i].name) != 0)
            return -1;
    }
    put32(h, END_SIG);
    put16(h + 4, 0);                /* this disk */
    put16(h + 6, 0);                /* the directory's disk */
    put16(h + 8, (unsigned)w->n);
    put16(h + 10, (unsigned)w->n);
    put32(h + 12, w->dir_size);
    put32(h + 16, w->dir_start);
    put16(h + 20, 0);               /* comment length */
    return fwrite(h, 1, END_SIZE, f) == END_SIZE ? 0 : -1;
}

static int by_entry_name(const void *a, const void *b)
{
    return strcmp((*(const NpzEntry *const *)a)->name,
                  (*(const NpzEntry *const *)b)->name);
}

int npz_write(const char *path, const NpzEntry *entries, int n, char *err,
              size_t errlen)
{
    const NpzEntry **names = NULL;
    uint64_t at = 0, dir = 0;
    Writer w;
    int i, r = -1;

    if (!host_is_little_endian())
        return fail(err, errlen, path, NULL, "this host is not "
                    "little-endian");
    if (n < 0 || n > NPZ_MAX_MEMBERS)
        return fail(err, errlen, path, NULL, "cannot write %d members (the "
                    "limit is %d)", n, NPZ_MAX_MEMBERS);
    w.entries = entries;
    w.n = n;
    w.out = malloc((n ? (size_t)n : 1) * sizeof *w.out);
    names = malloc((n ? (size_t)n : 1) * sizeof *names);
    if (!w.out || !names) {
        fail(err, errlen, path, NULL, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        const NpzEntry *e = &entries[i];
        Out *o = &w.out[i];
        char shown[80];
        const char *why;
        size_t len = strlen(e->name);
        long count = 1;
        int k;

        printable(shown, (const unsigned char *)e->name, len);
        if ((why = bad_name((const unsigned char *)e->name, len)) != NULL) {
            fail(err, errlen, path, NULL, "cannot write member name '%s': "
                 "it %s", shown, why);
            goto out;
        }
        o->hlen = npy_header(o->header, sizeof o->header, e->kind,
                             e->itemsize, e->rank, e->shape);
        if (o->hlen == 0) {
            fail(err, errlen, path, e->name, "cannot write: unsupported %s",
                 npy_descr(e->kind, e->itemsize) ? "shape" : "dtype");
            goto out;
        }
        for (k = 0; k < e->rank; k++)   /* npy_header checked overflow */
            count *= e->shape[k];
        o->nbytes = (size_t)count * e->itemsize;
        o->nlen = len + SUFFIX_LEN;
        o->offset = (uint32_t)at;
        at += LOCAL_SIZE + o->nlen + (uint64_t)o->hlen + o->nbytes;
        dir += CENTRAL_SIZE + o->nlen;
        if (o->hlen + (uint64_t)o->nbytes >= UINT32_MAX ||
            at + dir + END_SIZE > UINT32_MAX) {
            fail(err, errlen, path, e->name, "cannot write: the archive "
                 "would reach 4 GiB (zip64 is not supported)");
            goto out;
        }
        o->crc = npz_crc32(npz_crc32(0, o->header, o->hlen), e->data,
                           o->nbytes);
        names[i] = e;
    }
    qsort(names, (size_t)n, sizeof *names, by_entry_name);
    for (i = 1; i < n; i++)
        if (strcmp(names[i - 1]->name, names[i]->name) == 0) {
            fail(err, errlen, path, names[i]->name, "cannot write: the "
                 "name appears twice");
            goto out;
        }
    w.dir_start = (uint32_t)at;
    w.dir_size = (uint32_t)dir;
    r = npy_write_atomic(path, fill_npz, &w, err, errlen);
out:
    free(w.out);
    free(names);
    return r;
}

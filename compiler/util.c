/* util.c: the arena, error reporting, strings and name validation. */
#include "agc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

jmp_buf *agc_error_jmp;
char agc_errmsg[4096];

/* Every allocation is a block on one list; agc_arena_free drops them all. */
typedef struct Block {
    struct Block *next;
    size_t size;
    union {
        long double ld;
        void *p;
        long long ll;
    } data[];
} Block;

static Block *arena;

void *agc_alloc(size_t size)
{
    Block *b = calloc(1, sizeof(Block) + size);
    if (!b) {
        fprintf(stderr, "agc: error: out of memory\n");
        exit(1);
    }
    b->next = arena;
    b->size = size;
    arena = b;
    return b->data;
}

void *agc_grow(void *p, size_t old_size, size_t new_size)
{
    void *q = agc_alloc(new_size);
    if (p)
        memcpy(q, p, old_size < new_size ? old_size : new_size);
    return q;
}

void agc_arena_free(void)
{
    while (arena) {
        Block *next = arena->next;
        free(arena);
        arena = next;
    }
}

void *agc_reserve(void *p, int n, int *cap, size_t elem)
{
    if (n < *cap)
        return p;
    int c = *cap ? 2 * *cap : 8;
    p = agc_grow(p, (size_t)*cap * elem, (size_t)c * elem);
    *cap = c;
    return p;
}

char *agc_strndup(const char *s, size_t n)
{
    char *t = agc_alloc(n + 1);
    memcpy(t, s, n);
    return t;
}

char *agc_strdup(const char *s)
{
    return agc_strndup(s, strlen(s));
}

char *agc_vfmt(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    char *s = agc_alloc((size_t)n + 1);
    vsnprintf(s, (size_t)n + 1, fmt, again);
    va_end(again);
    return s;
}

char *agc_fmt(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = agc_vfmt(fmt, ap);
    va_end(ap);
    return s;
}

void agc_error(Pos pos, const char *fmt, ...)
{
    int n = pos.file ? snprintf(agc_errmsg, sizeof agc_errmsg,
                                "%s:%d:%d: error: ", pos.file, pos.line,
                                pos.col)
                     : snprintf(agc_errmsg, sizeof agc_errmsg,
                                "agc: error: ");   /* of no spec */
    if (n < 0 || (size_t)n >= sizeof agc_errmsg)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(agc_errmsg + n, sizeof agc_errmsg - (size_t)n, fmt, ap);
    va_end(ap);
    if (!agc_error_jmp) {
        fprintf(stderr, "%s\n", agc_errmsg);
        exit(1);
    }
    longjmp(*agc_error_jmp, 1);
}

Pos pos_at(Pos p, int offset)
{
    if (p.line)
        p.col += offset;
    return p;
}

/* C99/C11 keywords, and the macros or reserved words of the headers the
 * generated code includes (and of compilers in GNU mode), none of which
 * may name a struct member. */
static const char *const reserved[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do",
    "double", "else", "enum", "extern", "float", "for", "goto", "if",
    "inline", "int", "long", "register", "restrict", "return", "short",
    "signed", "sizeof", "static", "struct", "switch", "typedef", "union",
    "unsigned", "void", "volatile", "while", "bool", "true", "false",
    "asm", "typeof", "alignas", "alignof", "noreturn", "static_assert",
    "thread_local", "complex", "imaginary", "errno", "assert", "offsetof",
    "NULL", "EOF", "INFINITY", "NAN", "HUGE_VAL", "HUGE_VALF", "HUGE_VALL",
    "MATH_ERRNO", "MATH_ERREXCEPT", "math_errhandling", "fpclassify",
    "isfinite", "isinf", "isnan", "isnormal", "signbit", "isgreater",
    "isgreaterequal", "isless", "islessequal", "islessgreater",
    "isunordered", "linux", "unix", "i386", "SIZE_MAX", "PTRDIFF_MIN",
    "PTRDIFF_MAX", "WCHAR_MIN", "WCHAR_MAX", "WINT_MIN", "WINT_MAX",
    "SIG_ATOMIC_MIN", "SIG_ATOMIC_MAX", "EXIT_SUCCESS", "EXIT_FAILURE",
    "RAND_MAX", "MB_CUR_MAX",
};

/* The typedef names of C99 <stddef.h> <stdint.h> <stdlib.h> <string.h>
 * <math.h> (and C11's max_align_t), without their "_t"; <stdint.h>'s
 * [u]intN_t, [u]int_leastN_t and [u]int_fastN_t are matched apart.  Then
 * those of the other C99 headers a program using the code may include. */
static const char *const std_types[] = {
    "size", "ptrdiff", "wchar", "max_align", "div", "ldiv", "lldiv",
    "float", "double", "intmax", "uintmax", "intptr", "uintptr",
    "imaxdiv", "time", "clock", "fpos", "wint", "wctrans", "wctype",
    "mbstate", "sig_atomic", "fenv", "fexcept",
};

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

static int has_suffix(const char *s, const char *p)
{
    size_t n = strlen(s), m = strlen(p);
    return n >= m && strcmp(s + n - m, p) == 0;
}

int agc_valid_name(const char *s, const char **why)
{
    size_t n = strlen(s);
    if (n == 0) {
        *why = "is empty";
        return 0;
    }
    if (n > AGC_MAX_NAME) {
        *why = "is longer than 64 characters";
        return 0;
    }
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z'))) {
        *why = "does not start with a letter";
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_')) {
            *why = "is not a C identifier (letters, digits and '_' only)";
            return 0;
        }
    }
    if (strstr(s, "__")) {
        *why = "contains '__', which C reserves";
        return 0;
    }
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strcmp(s, reserved[i]) == 0) {
            *why = "is a C keyword or a standard macro";
            return 0;
        }
    if (has_prefix(s, "agc_") || has_prefix(s, "AGC_")) {
        *why = "starts with agc_ or AGC_, which generated code reserves";
        return 0;
    }
    /* <math.h> FP_* and M_*, <stdint.h> INTn_MAX, UINT64_C and the like */
    if (has_prefix(s, "FP_") || has_prefix(s, "M_") ||
        ((has_prefix(s, "INT") || has_prefix(s, "UINT")) &&
         (has_suffix(s, "_MAX") || has_suffix(s, "_MIN") ||
          has_suffix(s, "_C")))) {
        *why = "is a macro of the C standard library";
        return 0;
    }
    return 1;
}

/* 1 when s followed by digits only (at least one) */
static int digits_after(const char *s, const char *p)
{
    if (!has_prefix(s, p) || !s[strlen(p)])
        return 0;
    return strspn(s + strlen(p), "0123456789") == strlen(s + strlen(p));
}

int agc_valid_prefix(const char *s, const char **why)
{
    if (!agc_valid_name(s, why))
        return 0;
    int std = 0;
    for (size_t i = 0; i < sizeof std_types / sizeof *std_types; i++)
        std |= strcmp(s, std_types[i]) == 0;
    const char *u = s[0] == 'u' ? s + 1 : s;
    std |= digits_after(u, "int") || digits_after(u, "int_least") ||
           digits_after(u, "int_fast");
    if (std) {
        *why = agc_fmt("would make the type name %s_t, which the C library "
                       "declares", s);
        return 0;
    }
    return 1;
}

/* ---- text buffers ---- */

static void put_raw(Out *o, const char *s, size_t len)
{
    if (o->n + len + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (o->n + len + 1 > cap)
            cap *= 2;
        o->s = agc_grow(o->s, o->cap, cap);
        o->cap = cap;
    }
    memcpy(o->s + o->n, s, len);
    o->n += len;
    o->s[o->n] = 0;
}

void put(Out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *t = agc_vfmt(fmt, ap);
    va_end(ap);
    for (char *p = t; *p;) {
        if (o->n == 0 || o->s[o->n - 1] == '\n')   /* not # lines */
            for (int i = 0; i < o->indent && *p != '\n' && *p != '#'; i++)
                put_raw(o, "    ", 4);
        char *nl = strchr(p, '\n');
        size_t k = nl ? (size_t)(nl - p) + 1 : strlen(p);
        put_raw(o, p, k);
        p += k;
    }
}

/* An OpenMP directive, for builds with -fopenmp only (section 14). */
void put_omp(Out *o, const char *directive)
{
    put(o, "#ifdef _OPENMP\n#pragma omp %s\n#endif\n", directive);
}

/* The 6 x 2 vector sums of the matmul and convolution kernels (emit.c,
 * conv.c), for GNU vectors of 32 bytes of T: their declarations; the
 * multiply-adds of one term, row r's value a[i[r]] times the two vectors
 * at b, for the first rows r; and their store into sum[rows][2 * lanes]. */
void put_vec_sums(Out *o, const char *T)
{
    put(o, "typedef %s vec __attribute__((vector_size(32)));\n", T);
    put(o, "vec s00 = {0}, s01 = {0}, s10 = {0}, s11 = {0}, s20 = {0}, "
        "s21 = {0};\n");
    put(o, "vec s30 = {0}, s31 = {0}, s40 = {0}, s41 = {0}, s50 = {0}, "
        "s51 = {0};\n");
}

void put_vec_fma(Out *o, const char *a, const char *i, const char *b,
                 int lanes, int rows)
{
    put(o, "vec b0, b1;\n");
    put(o, "memcpy(&b0, %s, sizeof b0);\n", b);
    put(o, "memcpy(&b1, %s + %d, sizeof b1);\n", b, lanes);
    for (int r = 0; r < rows; r++)
        put(o, "AGC_VFMA(s%d0, %s[%s[%d]], b0);\nAGC_VFMA(s%d1, %s[%s[%d]], b1);"
            "\n", r, a, i, r, r, a, i, r);
}

void put_vec_store(Out *o, int lanes, int rows)
{
    for (int r = 0; r < rows; r++)
        put(o, "memcpy(sum[%d], &s%d0, sizeof s%d0);\n"
            "memcpy(sum[%d] + %d, &s%d1, sizeof s%d1);\n", r, r, r, r, lanes,
            r, r);
}

/* AGC_FMA(a, b, c), a * b + c in T (f32: float), in one rounding where
 * the target has a fast fused multiply-add (C99's FP_FAST_FMA, FP_FAST_FMAF):
 * gcc does not fuse a * b + c in ISO C mode (-std=c99) on its own. */
void put_fma_macro(Out *o, int f32)
{
    const char *F = f32 ? "F" : "", *f = f32 ? "f" : "";
    put(o, "/* a * b + c, in one rounding where the target has a fast fused\n"
        " * multiply-add (C99's FP_FAST_FMA%s): gcc does not fuse a * b + c\n"
        " * in ISO C mode (-std=c99) on its own */\n"
        "#ifdef FP_FAST_FMA%s\n#define AGC_FMA(a, b, c) fma%s(a, b, c)\n"
        "#else\n#define AGC_FMA(a, b, c) ((a) * (b) + (c))\n#endif\n\n", F,
        F, f);
}

/* AGC_VFMA(s, a, b), s += a * b for the kernels' vectors s, b (of type
 * vec) and a scalar a: one fused multiply-add where the target has them.
 * gcc fuses a * b + c on its own in GNU C mode only; in ISO C mode
 * (-std=c99) the kernels ran a third slower.  The builtin is gcc's and
 * clang's (what their _mm256_fmadd_ps is made of), so that the code needs
 * no header beyond the C library's (section 9). */
void put_vfma_macro(Out *o, int f32)
{
    put(o, "/* s += a * b for the kernels' GNU vectors s, b and a scalar a: "
        "one fused\n * multiply-add where the target has them, which gcc "
        "does not fuse on its\n * own in ISO C mode (-std=c99); a - (vec){0} "
        "is a in every lane */\n");
    put(o, "#if defined(__GNUC__) && defined(__AVX__) && defined(__FMA__)\n"
        "#define AGC_VFMA(s, a, b) \\\n"
        "    ((s) = __builtin_ia32_vfmadd%s256((a) - (vec){0}, (b), (s)))\n"
        "#else\n#define AGC_VFMA(s, a, b) ((s) += (a) * (b))\n#endif\n\n",
        f32 ? "ps" : "pd");
}

/* ---- "did you mean" ---- */

/* Edit distance with adjacent transpositions (optimal string alignment),
 * or a number above limit when it is larger. */
static int edit_distance(const char *a, const char *b, int limit)
{
    int n = (int)strlen(a), m = (int)strlen(b);
    if (n > 64 || m > 64 || abs(n - m) > limit)
        return limit + 1;
    int d[65][65];
    for (int i = 0; i <= n; i++)
        d[i][0] = i;
    for (int j = 0; j <= m; j++)
        d[0][j] = j;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < v)
                v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v)
                v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[n][m];
}

const char *agc_suggest(const char *word, const char *const *candidates,
                        int n)
{
    int len = (int)strlen(word);
    int limit = len < 3 ? 1 : len / 3 + 1, best = limit + 1;
    const char *found = NULL;
    for (int i = 0; i < n; i++) {
        if (!candidates[i] || !strcmp(word, candidates[i]))
            continue;
        int d = edit_distance(word, candidates[i], limit);
        int longer = (int)strlen(candidates[i]) > len
                         ? (int)strlen(candidates[i]) : len;
        if (d < best && d < longer) {
            best = d;
            found = candidates[i];
        }
    }
    return found;
}

const char *agc_did_you_mean(const char *word,
                             const char *const *candidates, int n)
{
    const char *s = agc_suggest(word, candidates, n);
    return s ? agc_fmt("; did you mean '%s'?", s) : "";
}

/* conv.c: the kernels of the window ops, C specialised to the shapes.
 *
 * A convolution is a correlation: y[n][o][oh][ow] is the sum, over the
 * input channels c of o's group and the taps (kh, kw) of the window, of
 *     x[n][c][oh*sh - ph + kh*dh][ow*sw - pw + kw*dw] * w[o][c][kh][kw].
 * It runs in tiles.  A tile's innermost loop goes along a channel dim,
 * contiguous in a packed copy, and its body holds the multiply-adds of a
 * few output positions and the taps of one kernel row, the input values
 * being scalars read once at constant offsets:
 *
 *   forward      acc[p][o] += x[p*sw + k*dw] * w[k][o]    p positions, k taps
 *   grad weight  acc[k][o] += x[p*sw + k*dw] * gy[p][o]
 *   grad input   the forward tiles over gy (zero-stuffed when the stride
 *                is not 1), with w flipped and its in and out channels
 *                swapped, padded by d (k - 1) - p
 *
 * gcc and clang vectorise the channel loop, one multiply-add per lane and
 * term, and keep the scalars in registers; tcc compiles it as it stands.
 * The output positions whose window stays inside the input (the
 * interior) run through tiles of whole window rows; each border column
 * through a tile of its own, which leaves out the taps that fall in the
 * padding; and a border row through the window rows that stay inside.  So
 * no tap is tested against the bounds at run time.  Window rows are
 * written out as calls with constant offsets up to the unroll limit
 * (agc_unroll taps), and looped beyond it.
 *
 * Fewer than VEC_MIN_CHANNELS output channels per group (depthwise)
 * would leave the channel vectors empty: those layers run row-vector
 * kernels instead (see there), vectors along the output row.
 *
 * Kernels are shared: each is written once per distinct shape (its
 * signature, corr_sig) and called by every layer that has it, so that the
 * source grows with the distinct layer shapes, not the layers.
 *
 * Padding modes and max pooling are plain loops. */
#include "agc.h"

#include <math.h>
#include <string.h>

/* ---- C text ---- */

/* "base", "base + off" or "base - off" */
static const char *plus(const char *base, long off)
{
    if (off == 0)
        return base;
    return agc_fmt("%s %c %ld", base, off < 0 ? '-' : '+',
                   off < 0 ? -off : off);
}

/* "v * k", "v" or "" for k = 0 */
static const char *times(const char *v, long k)
{
    return k == 0 ? "" : k == 1 ? v : agc_fmt("%s * %ld", v, k);
}

/* The sum of up to three terms as C, e.g. "oh * 2 - 1 + kh". */
static const char *sum3(const char *a, const char *b, long c)
{
    const char *s = *a ? a : "";
    if (*b)
        s = *s ? agc_fmt("%s + %s", s, b) : b;
    return *s ? plus(s, c) : agc_fmt("%ld", c);
}

/* ---- correlations ---- */

/* Row-vector kernels (below) for fewer output channels per group than
 * this (depthwise): the tiles' vectors run along the channels, which
 * would leave their lanes empty.  (Measured: for longer channel rows the
 * tiles win, their sums staying in registers over a whole window.) */
enum { VEC_MIN_CHANNELS = 8 };
enum { VEC_STACK_SUMS = 256 };      /* a row of sums kept on the stack, at
                                     * most, for a kernel run an image a
                                     * thread */

typedef struct Corr {               /* over [N, G*CI, H, W] */
    long N, G, CI, CO;              /* batch, groups, channels per group */
    long H, W, OH, OW;              /* input and output sizes */
    long KH, KW, sh, sw, dh, dw, ph, pw;    /* padding before (or < 0) */
    long r0, r1, c0, c1;            /* the interior rows and columns */
    long np, tp;                    /* positions and taps per tile */
    int unroll_kh;                  /* window rows written out as calls */
    int cols;                       /* border columns get tiles of theirs */
    long CV;                        /* CO rounded up to whole vectors */
    long zh;                        /* > 1: only every zh-th input row is
                                     * not zero (gy zero-stuffed by the
                                     * stride): the others are skipped */
} Corr;

/* The outputs [lo, hi) whose taps all fall inside [0, n). */
static void inside(long n, long k, long s, long d, long p, long out,
                   long *lo, long *hi)
{
    long last = n - 1 + p - (k - 1) * d;    /* o*s must not exceed it */
    *lo = p > 0 ? (p + s - 1) / s : 0;
    *hi = last < 0 ? 0 : last / s + 1;
    if (*hi > out)
        *hi = out;
    if (*lo > *hi)
        *lo = *hi;
}

/* The taps [lo, hi) of window column ow that fall inside the input. */
static void col_taps(const Corr *c, long ow, long *lo, long *hi)
{
    long left = ow * c->sw - c->pw;         /* column of tap 0 */
    *lo = left < 0 ? (c->dw - 1 - left) / c->dw : 0;
    *hi = left + (c->KW - 1) * c->dw < c->W ? c->KW
          : left < c->W ? (c->W - 1 - left) / c->dw + 1 : 0;
    if (*lo > *hi)
        *lo = *hi;
}

/* The head of a border row's loops, for an output row whose window's
 * first row is top: the window rows kh in [lo, hi) that fall inside the
 * input, for each input channel c */
static void border_rows(Out *o, const Corr *c, const char *top)
{
    put(o, "/* a border row: the window rows inside the input */\n");
    put(o, "const long top = %s;\n", top);
    put(o, "const long lo = top < 0 ? (%ld - top) / %ld : 0;\n", c->dh - 1,
        c->dh);
    put(o, "const long hi = top + %ld < %ld ? %ld\n"
        "                : top < %ld ? (%ld - top) / %ld + 1 : 0;\n",
        (c->KH - 1) * c->dh, c->H, c->KH, c->H, c->H - 1, c->dh);
    put(o, "for (long c = 0; c < %ld; c++)\n", c->CI);
    put(o, "    for (long kh = lo; kh < hi; kh++)\n");
}

/* The interior and the tiling: a tile covers a window row (tp = KW), or
 * one tap when the row is wider than the unroll limit, and np positions,
 * so that it writes out at most that many taps times 8 multiply-adds.
 * The border columns (usually a few) get a tile each, with just their
 * taps inside the input; past 16 of them, they loop over their taps. */
static void plan_corr(Corr *c, long unroll)
{
    inside(c->H, c->KH, c->sh, c->dh, c->ph, c->OH, &c->r0, &c->r1);
    inside(c->W, c->KW, c->sw, c->dw, c->pw, c->OW, &c->c0, &c->c1);
    if (unroll < 1)
        unroll = 1;
    c->tp = c->KW <= unroll ? c->KW : 1;
    c->np = unroll / c->tp;
    if (c->np > 8)
        c->np = 8;
    c->unroll_kh = c->tp == c->KW && c->KH * c->KW <= unroll;
    c->cols = c->tp == c->KW && c->c0 + c->OW - c->c1 <= 16;
    /* 20 channels run as 24: 3 whole AVX vectors beat 2 and a remainder,
     * if at most a quarter of the lanes are padding (zeros, never read) */
    long cv = (c->CO + 7) / 8 * 8;
    c->CV = c->CO > 8 && 4 * (cv - c->CO) <= cv ? cv : c->CO;
}

/* Declares "const T a = e, b = f, ...;", six to a line. */
static void decls(Out *o, const char *T, int n, const char **names,
                  const char **vals)
{
    for (int i = 0; i < n; i++)
        put(o, "%s%s = %s%s", i % 6 ? ", " : agc_fmt("const %s ", T),
            names[i], vals[i], i % 6 == 5 || i == n - 1 ? ";\n" : "");
}

/* static void NAME(T *acc, const T *x, const T *v): a tile of np
 * positions and the taps [k0, k1) of a window row, x pointing at tap k0
 * of the first position.  v holds the weights w[k][o] (forward) or the
 * gradient rows g[p][o] (wgrad), V channels apart. */
static void emit_tile(Kernels *K, const char *name, int wgrad, long np,
                      long k0, long k1, const Corr *c)
{
    Out *o = &K->fns;
    const char *T = K->T, *v = wgrad ? "g" : "w";
    long V = c->CV, sw = c->sw, dw = c->dw, tp = k1 - k0;
    long span = (np - 1) * sw + (tp - 1) * dw + 1;
    char *used = agc_alloc((size_t)span);
    size_t most = (size_t)(span + np + k1);
    const char **names = agc_alloc(sizeof(char *) * most);
    const char **vals = agc_alloc(sizeof(char *) * most);
    for (long p = 0; p < np; p++)
        for (long k = 0; k < tp; k++)
            used[p * sw + k * dw] = 1;
    const char *xi = agc_fmt("x[%s + %s]", times("p", sw),
                             times(k0 ? agc_fmt("(k - %ld)", k0) : "k", dw));
    const char *range = tp == 1 ? agc_fmt("k = %ld", k0)
                        : agc_fmt("k = %ld..%ld", k0, k1 - 1);
    if (wgrad)
        put(o, "/* acc[k][o] += %s * g[p][o], p < %ld, %s */\n", xi, np,
            range);
    else
        put(o, "/* acc[p][o] += %s * w[k][o], p < %ld, %s */\n", xi, np,
            range);
    put(o, "static void %s(%s *restrict acc, const %s *restrict x, "
        "const %s *restrict %s)\n{\n", name, T, T, T, v);
    o->indent++;
    int n = 0;
    for (long i = 0; i < span; i++)
        if (used[i]) {
            names[n] = agc_fmt("x%ld", i);
            vals[n++] = agc_fmt("x[%ld]", i);
        }
    decls(o, T, n, names, vals);
    put(o, "for (long o = 0; o < %ld; o++) {\n", V);
    o->indent++;
    n = 0;                          /* the vector operands: v[q][o] */
    for (long q = wgrad ? 0 : k0; q < (wgrad ? np : k1); q++) {
        names[n] = agc_fmt("%s%ld", v, q);
        vals[n++] = agc_fmt("%s[%s]", v, plus("o", q * V));
    }
    decls(o, T, n, names, vals);
    /* acc = fma(xn, vn, ... fma(x1, v1, fma(x0, v0, acc))): one
     * expression, which tcc evaluates in registers */
    for (long r = wgrad ? k0 : 0; r < (wgrad ? k1 : np); r++) {
        const char *a = plus("o", r * V), *e = agc_fmt("acc[%s]", a);
        long nq = wgrad ? np : tp;
        for (long q = 0; q < nq; q++) {
            long p = wgrad ? q : r, k = wgrad ? r - k0 : q;
            e = agc_fmt("AGC_FMA(x%ld, %s%ld,%s%s)", p * sw + k * dw, v,
                        wgrad ? q : q + k0, q && q % 3 == 0 ? "\n    " : " ",
                        e);
        }
        put(o, "acc[%s] = %s;\n", a, e);
    }
    o->indent--;
    put(o, "}\n");
    o->indent--;
    put(o, "}\n\n");
}

/* "base + e", or base when e is empty */
static const char *plus_expr(const char *base, const char *e)
{
    return *e ? agc_fmt("%s + %s", base, e) : base;
}

/* One call of fn, a tile of the whole window row (one = 0), or of the
 * taps [k0, k1) one at a time (one = 1): fn(acc, x, v), the tap's slot
 * added to v (forward) or to acc (wgrad) and its column to x. */
static void emit_call(Out *o, const char *fn, int one, int wgrad,
                      const Corr *c, const char *acc, const char *x,
                      const char *v, long k0, long k1)
{
    if (!one || k1 - k0 == 1) {
        long k = one ? k0 : 0;      /* a row tile has its own offsets */
        put(o, "%s(%s, %s, %s);\n", fn, wgrad ? plus(acc, k * c->CV) : acc,
            plus(x, k * c->dw), wgrad ? v : plus(v, k * c->CV));
        return;
    }
    const char *so = times("kw", c->CV);
    put(o, "for (long kw = %ld; kw < %ld; kw++)\n", k0, k1);
    put(o, "    %s(%s, %s, %s);\n", fn, wgrad ? plus_expr(acc, so) : acc,
        plus_expr(x, times("kw", c->dw)), wgrad ? v : plus_expr(v, so));
}

/* base + (j + k) * scale, or base + k * scale when j is NULL. */
static const char *at_pos(const char *base, const char *j, long k,
                          long scale)
{
    if (!j)
        return plus(base, k * scale);
    return plus_expr(base, times(k ? agc_fmt("(%s + %ld)", j, k) : j,
                                 scale));
}

/* static void NAME_row(T *acc, const T *x, const T *v): one window row
 * over one output row.  Forward: x an input row, v its weights
 * [KW][CO], acc the output row [OW][CO]; wgrad: x an input row, v the
 * gradient row [OW][CO], acc the weights' gradient [KW][CO].  Interior
 * columns by tiles of np, then each border column by a tile of the taps
 * that fall inside the input: no bounds test is left. */
static void emit_row_fn(Kernels *K, const char *name, int wgrad,
                        const Corr *c)
{
    Out *o = &K->fns;
    const char *T = K->T, *v = wgrad ? "g" : "w";
    long ni = c->c1 - c->c0, nfull = ni / c->np * c->np;
    long k1 = c->tp == 1 ? 1 : c->KW;
    long nb = c->c0 + c->OW - c->c1;
    long *lo = agc_alloc(sizeof(long) * (size_t)(2 * nb + 2)), *hi = lo + nb;
    if (nfull)
        emit_tile(K, agc_fmt("%s_tile", name), wgrad, c->np, 0, k1, c);
    if (ni > nfull)
        emit_tile(K, agc_fmt("%s_tail", name), wgrad, ni - nfull, 0, k1, c);
    for (long b = 0; b < nb; b++) {     /* each border column's tile */
        long ow = b < c->c0 ? b : c->c1 + b - c->c0;
        col_taps(c, ow, &lo[b], &hi[b]);
        int seen = 0;
        for (long e = 0; e < b; e++)
            seen |= lo[e] == lo[b] && hi[e] == hi[b];
        if (c->cols && hi[b] > lo[b] && !seen)
            emit_tile(K, agc_fmt("%s_col%ld_%ld", name, lo[b], hi[b]), wgrad,
                      1, lo[b], hi[b], c);
    }
    int nused = 0;                      /* border columns reading x */
    for (long b = 0; b < nb; b++)
        nused += hi[b] > lo[b];
    if (nused && !c->cols)
        emit_tile(K, agc_fmt("%s_one", name), wgrad, 1, 0, 1, c);
    put(o, "static void %s_row(%s *restrict acc, const %s *restrict x, "
        "const %s *restrict %s)\n{\n", name, T, T, T, v);
    o->indent++;
    for (int part = 0; part < 2; part++) {
        long n = part ? ni - nfull : nfull, k = part ? nfull : 0;
        const char *j = !part && nfull > c->np ? "j" : NULL;
        if (n == 0)
            continue;
        if (j) {
            put(o, "for (long j = 0; j < %ld; j += %ld)\n", nfull, c->np);
            o->indent++;
        }
        const char *x = at_pos(plus("x", c->c0 * c->sw - c->pw), j, k,
                               c->sw);
        const char *at = at_pos(wgrad ? v : "acc", j, c->c0 + k, c->CV);
        emit_call(o, agc_fmt("%s_%s", name, part ? "tail" : "tile"),
                  c->tp == 1, wgrad, c, wgrad ? "acc" : at, x,
                  wgrad ? at : v, 0, c->KW);
        if (j)
            o->indent--;
    }
    if (nused)
        put(o, "/* border columns: the taps inside the input */\n");
    else if (nfull == 0 && ni == 0)     /* every column reads padding */
        put(o, "/* every column reads only padding: nothing to add */\n"
            "(void)acc;\n(void)x;\n(void)%s;\n", v);
    for (long b = 0; b < nb; b++) {
        long ow = b < c->c0 ? b : c->c1 + b - c->c0;
        if (hi[b] <= lo[b])
            continue;               /* all its taps in the padding */
        const char *at = plus(wgrad ? v : "acc", ow * c->CV);
        if (c->cols)
            put(o, "%s_col%ld_%ld(%s, %s, %s);\n", name, lo[b], hi[b],
                wgrad ? "acc" : at,
                plus("x", ow * c->sw - c->pw + lo[b] * c->dw),
                wgrad ? at : v);
        else
            emit_call(o, agc_fmt("%s_one", name), 1, wgrad, c,
                      wgrad ? "acc" : at, plus("x", ow * c->sw - c->pw),
                      wgrad ? at : v, lo[b], hi[b]);
    }
    o->indent--;
    put(o, "}\n\n");
}

/* The window rows over output row oh, for each input channel c: in the
 * interior rows all of them, written out with constant offsets (or
 * looped past the unroll limit); in the border rows the range of them
 * that falls inside the input.  acc and v as for NAME_row. */
static void emit_rows(Kernels *K, Out *o, const char *name, int wgrad,
                      const Corr *c)
{
    const char *T = K->T;
    long kk = c->KH * c->KW, slot = c->KW * c->CV, rowoff = c->dh * c->W;
    int interior = c->r1 > c->r0, border = c->r0 > 0 || c->r1 < c->OH;
    const char *top = sum3(times("oh", c->sh), "", -c->ph);
    if (interior && border) {
        put(o, "if (oh >= %ld && oh < %ld) {\n", c->r0, c->r1);
        o->indent++;
    }
    if (interior) {
        put(o, "for (long c = 0; c < %ld; c++) {\n", c->CI);
        o->indent++;
        put(o, "const %s *restrict xr = xg + (%s) * %ld;\n", T,
            plus_expr(times("c", c->H), top), c->W);
        if (wgrad)
            put(o, "%s *restrict ar = %s;\n", T,
                plus_expr("ag", times("c", kk * c->CV)));
        else
            put(o, "const %s *restrict wr = %s;\n", T,
                plus_expr("wg", times("c", kk * c->CV)));
        const char *acc = wgrad ? "ar" : "acc", *v = wgrad ? "gt" : "wr";
        if (c->unroll_kh && c->zh > 1) {
            /* the window rows on rows of gy, by the residue of top */
            put(o, "const long zr = (%s) %% %ld;\n", top, c->zh);
            for (long r = 0, first = 1; r < c->zh; r++) {
                int any = 0;
                for (long kh = 0; kh < c->KH; kh++)
                    any |= (r + kh * c->dh) % c->zh == 0;
                if (!any)
                    continue;
                put(o, "%sif (zr == %ld) {\n", first ? "" : "} else ", r);
                first = 0;
                for (long kh = 0; kh < c->KH; kh++)
                    if ((r + kh * c->dh) % c->zh == 0)
                        put(o, "    %s_row(%s, %s, %s);\n", name, acc,
                            plus("xr", kh * rowoff), plus(v, kh * slot));
            }
            put(o, "}\n");
        } else if (c->unroll_kh) {
            for (long kh = 0; kh < c->KH; kh++)
                put(o, "%s_row(%s, %s, %s);\n", name,
                    wgrad ? plus(acc, kh * slot) : acc,
                    plus("xr", kh * rowoff), wgrad ? v : plus(v, kh * slot));
        } else {
            put(o, "for (long kh = 0; kh < %ld; kh++)\n", c->KH);
            if (c->zh > 1)
                put(o, "    if ((%s) %% %ld == 0)\n    ",
                    plus_expr(top, times("kh", c->dh)), c->zh);
            put(o, "    %s_row(%s, %s, %s);\n", name,
                wgrad ? plus_expr(acc, times("kh", slot)) : acc,
                plus_expr("xr", times("kh", rowoff)),
                wgrad ? v : plus_expr(v, times("kh", slot)));
        }
        o->indent--;
        put(o, "}\n");
    }
    if (interior && border) {
        o->indent--;
        put(o, "} else {\n");
        o->indent++;
    }
    if (border) {
        border_rows(o, c, top);
        if (c->zh > 1)
            put(o, "        if ((top + %s) %% %ld == 0)\n    ",
                times("kh", c->dh), c->zh);
        put(o, "        %s_row(%s, xg + (%s) * %ld, %s);\n", name,
            wgrad ? agc_fmt("ag + (%s) * %ld", plus_expr(times("c", c->KH),
                                                          "kh"), slot)
                  : "acc",
            plus_expr(plus_expr(times("c", c->H), "top"),
                      times("kh", c->dh)), c->W,
            wgrad ? "gt" : agc_fmt("wg + (%s) * %ld",
                                   plus_expr(times("c", c->KH), "kh"), slot));
    }
    if (interior && border) {
        o->indent--;
        put(o, "}\n");
    }
}

/* The static functions of one correlation, and NAME.  Forward, NAME(y,
 * x, wp, acc): y [N, G*CO, OH, OW] from x and the packed weights wp
 * [G][CI][KH][KW][CO], a row at a time in acc [OW][CO].  Wgrad, NAME(sum,
 * acc, x, gy, gt): the packed weight gradient [G][CI][KH][KW][CO] from x
 * and gy, a gy row at a time transposed in gt [OW][CO].  In float32 the
 * sums are blocked, all in float (no double arithmetic): acc holds one
 * output row's sums (one group), img an image's rows, and sum the batch's
 * images, which keeps the rounding of sums over a whole batch down. */
static void emit_corr(Kernels *K, const char *name, int wgrad,
                      const Corr *c)
{
    Out *o = &K->fns;
    const char *T = K->T;
    int dsum = wgrad && strcmp(T, "double");
    long kk = c->KH * c->KW, chw = c->CI * c->H * c->W;
    long ohw = c->CO * c->OH * c->OW, wsize = c->CI * kk * c->CV;
    emit_row_fn(K, name, wgrad, c);
    if (dsum)
        put(o, "static void %s(%s *restrict sum, %s *restrict img, "
            "%s *restrict acc, const %s *restrict x, const %s *restrict gy, "
            "%s *restrict gt)\n{\n", name, T, T, T, T, T, T);
    else if (wgrad)
        put(o, "static void %s(%s *restrict acc, const %s *restrict x, "
            "const %s *restrict gy, %s *restrict gt)\n{\n", name, T, T, T, T);
    else
        put(o, "static void %s(%s *restrict y, const %s *restrict x, "
            "const %s *restrict wp, %s *restrict acc)\n{\n", name, T, T, T,
            T);
    o->indent++;
    const char *gof = c->G > 1 ? agc_fmt("i %% %ld * %ld", c->G, wsize) : "";
    if (dsum)
        put(o, "memset(sum, 0, %ld * sizeof *sum);\n"
            "memset(img, 0, %ld * sizeof *img);\n"
            "memset(acc, 0, %ld * sizeof *acc);\n", c->G * wsize, wsize,
            wsize);
    else if (wgrad)
        put(o, "memset(acc, 0, %ld * sizeof *acc);\n", c->G * wsize);
    put(o, "for (long i = 0; i < %ld; i++) {\n", c->N * c->G);
    o->indent++;
    put(o, "const %s *restrict xg = %s;\n", T, plus_expr("x",
                                                        times("i", chw)));
    if (wgrad) {
        put(o, "const %s *restrict gg = %s;\n", T,
            plus_expr("gy", times("i", ohw)));
        put(o, "%s *restrict ag = %s;\n", T, dsum ? "acc"
                                                  : plus_expr("acc", gof));
        if (dsum)
            put(o, "%s *restrict sg = %s;\n", T, plus_expr("sum", gof));
    } else {
        put(o, "const %s *restrict wg = %s;\n", T, plus_expr("wp", gof));
        put(o, "%s *restrict yg = %s;\n", T, plus_expr("y", times("i", ohw)));
    }
    put(o, "for (long oh = 0; oh < %ld; oh++) {\n", c->OH);
    o->indent++;
    if (wgrad) {
        put(o, "for (long ow = 0; ow < %ld; ow++)\n", c->OW);
        put(o, "    for (long o = 0; o < %ld; o++)\n", c->CO);
        put(o, "        gt[ow * %ld + o] = gg[(o * %ld + oh) * %ld + ow];\n",
            c->CV, c->OH, c->OW);
    } else {
        put(o, "memset(acc, 0, %ld * sizeof *acc);\n", c->OW * c->CV);
    }
    emit_rows(K, o, name, wgrad, c);
    if (dsum) {
        put(o, "for (long k = 0; k < %ld; k++) {\n", wsize);
        put(o, "    img[k] += ag[k];\n    ag[k] = 0;\n}\n");
    } else if (!wgrad) {
        put(o, "for (long o = 0; o < %ld; o++)\n", c->CO);
        put(o, "    for (long ow = 0; ow < %ld; ow++)\n", c->OW);
        put(o, "        yg[(o * %ld + oh) * %ld + ow] = acc[ow * %ld + o];\n",
            c->OH, c->OW, c->CV);
    }
    o->indent--;
    put(o, "}\n");
    if (dsum) {
        put(o, "for (long k = 0; k < %ld; k++) {\n", wsize);
        put(o, "    sg[k] += img[k];\n    img[k] = 0;\n}\n");
    }
    o->indent--;
    put(o, "}\n");
    o->indent--;
    put(o, "}\n\n");
}

/* ---- the convolution ops ---- */

/* The correlation of OP_CONV: x [N, G*CI, H, W], w [G*CO, CI, KH, KW]. */
static Corr conv_corr(const Node *n, const Shape *x, const Shape *w,
                      const Shape *y)
{
    const long *a = n->attr;
    Corr c = {x->d[0], a[CV_GROUPS], x->d[1] / a[CV_GROUPS],
              w->d[0] / a[CV_GROUPS], x->d[2], x->d[3], y->d[2], y->d[3],
              w->d[2], w->d[3], a[CV_SH], a[CV_SW], a[CV_DH], a[CV_DW],
              a[CV_PH], a[CV_PW], 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    return c;
}

/* The comment heading the kernels of spec node n */
static void kernels_comment(Kernels *K, const Node *n, const char *what)
{
    put(&K->fns, "/* ---- %s%s%s  [%s:%d] ---- */\n\n", what,
        n->note ? ": " : "", n->note ? n->note : "", K->path, n->pos.line);
}

/* The kernels written so far.  A kernel's C is a function of its kind
 * (wgrad) and its correlation, so that every layer of the same shape calls
 * the first one's: source size and compile time grow with the distinct
 * shapes, not with the layers (section 14). */
typedef struct Shared {
    const char *sig, *name;         /* what makes the kernel; its C name */
    struct {                        /* the scratch arguments it takes */
        const char *what, *note;
        long count;
    } scr[5];
    int nscr;
    struct Shared *next;
} Shared;

/* Adds a scratch argument of count elements to kernel s. */
static void add_scr(Shared *s, const char *what, long count,
                    const char *note)
{
    s->scr[s->nscr].what = what;
    s->scr[s->nscr].note = note;
    s->scr[s->nscr++].count = count;
}

/* Scratch "pad": images padded copies of an image of count values of
 * what ("x", "gy") */
static void add_pad_scr(Shared *s, long images, long count, const char *of)
{
    add_scr(s, "pad", images * count, images > 1
            ? agc_fmt("%ld images of %s, padded", images, of)
            : agc_fmt("an image of %s, padded", of));
}

/* A call of kernel s on arrays a, b and c, then its scratch arguments,
 * named after it ("conv5_forward_wpack" for agc_conv5_forward): every
 * call uses them while it runs, and the storage plan keeps them from a
 * function's first call to its last. */
static void put_call(Kernels *K, Out *o, const Shared *s, const char *a,
                     const char *b, const char *c)
{
    put(o, "%s(%s, %s, %s", s->name, a, b, c);
    for (int i = 0; i < s->nscr; i++)
        put(o, ", %s", K->scratch(K->ctx, K->T,
                                  agc_fmt("%s_%s", s->name + strlen("agc_"),
                                          s->scr[i].what),
                                  s->scr[i].count, s->scr[i].note));
    put(o, ");\n");
}

/* What makes the kernels of correlation c (wgrad: the weight gradient's) */
static const char *corr_sig(int wgrad, const Corr *c)
{
    return agc_fmt("%d %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld %ld "
                   "%ld %ld %ld %ld %ld %ld %ld %ld %ld %d %d %ld %ld", wgrad,
                   c->N, c->G, c->CI, c->CO, c->H, c->W, c->OH, c->OW, c->KH,
                   c->KW, c->sh, c->sw, c->dh, c->dw, c->ph, c->pw, c->r0,
                   c->r1, c->c0, c->c1, c->np, c->tp, c->unroll_kh, c->cols,
                   c->CV, c->zh);
}

/* The name of the kernel of correlation c, written for n unless a layer
 * before it has the same one. */
static const char *corr_kernel(Kernels *K, const Node *n, const char *what,
                               int wgrad, const Corr *c)
{
    const char *sig = corr_sig(wgrad, c);
    for (Shared *s = K->shared; s; s = s->next)
        if (!strcmp(s->sig, sig))
            return s->name;
    Shared *s = agc_alloc(sizeof *s);
    s->sig = sig;
    s->name = agc_fmt("agc_conv%d", n->id);
    s->next = K->shared;
    K->shared = s;
    kernels_comment(K, n, what);
    emit_corr(K, s->name, wgrad, c);
    return s->name;
}

/* Whether c's kernels run on all threads (built with -fopenmp) */
static int gemm_par(const Corr *c)
{
    return c->N * c->G * c->OH * c->OW * c->CO * c->CI * c->KH * c->KW >=
           AGC_PAR_WORK;
}

/* Loop head, then its body dst = sum, plus bias (an element, or NULL),
 * then the relu when relu: rounded as the separate loops were, sum + b
 * once, then x > 0 ? x : 0 as agc_relu. */
static void put_biased(Out *o, const char *T, const char *head,
                       const char *dst, const char *sum, const char *bias,
                       int relu)
{
    if (!bias && !relu)
        put(o, "%s\n    %s = %s;\n", head, dst, sum);
    else
        put(o, "%s {\n    const %s v = %s%s;\n    %s = %s;\n}\n", head, T,
            sum, bias ? agc_fmt(" + %s", bias) : "", dst,
            relu ? "v > 0 ? v : 0" : "v");
}

/* ---- row-vector correlations (stride 1 along the row) ----
 *
 * The other way round from the tiles above: the innermost loop runs along
 * an output row, contiguous in y [N, G*CO, OH, OW] itself, and the scalars
 * are the weights of a block of OB output channels and one window row:
 *
 *   y[b][ow] += x[ow - pw + k*dw] * w[b][k]      b < OB, k < KW
 *
 * so y needs no transposed copy, w no packing (the weights are read where
 * they are, at constant strides, flipped for the input gradient), and a
 * depthwise layer (one output channel per group) still runs whole
 * vectors.  The interior columns run all the row's taps in one loop; each
 * border column gets the taps inside the input, as constants; rows wider
 * than the unroll limit loop over their taps, each over the columns where
 * it falls inside. */

/* Where the weight of (g, o, c, kh, kw) is: base + g*G + o*O + c*C + kh*H +
 * kw*K (the input gradient reads w flipped and transposed). */
typedef struct WAt {
    long G, O, C, H, K, base;
} WAt;

/* Output channels per block: the weights of a window row, OB * KW, stay
 * at most 12 scalars, for 16 vector registers. */
static long vec_block(const Corr *c)
{
    long ob = 12 / (c->KW < 12 ? c->KW : 12);
    if (ob > 8)
        ob = 8;
    return ob > c->CO ? c->CO : ob < 1 ? 1 : ob;
}

/* static void NAME(T *y, const T *x, const T *w): one window row of nb
 * output channels over one output row, y the rows of acc [nb][OW] (rows
 * of y itself, OH * OW apart, would alias every 4 KiB and stall the
 * loads behind the stores), x at column 0 of the input row, w at tap 0. */
static void emit_vec_row(Kernels *K, const char *name, long nb,
                         const Corr *c, const WAt *wa)
{
    Out *o = &K->fns;
    const char *T = K->T;
    long ohw = c->OW, KW = c->KW;   /* channel rows OW apart in acc */
    int fused = c->tp == KW && c->cols;
    put(o, "/* y[b][ow] += x[ow%s%s] * w[b][k], b < %ld, k < %ld: "
        "row y[b] at y + b * %ld,\n * w[b][k] at w[%s%s] */\n",
        c->pw ? agc_fmt(" - %ld", c->pw) : "",
        c->dw == 1 ? " + k" : agc_fmt(" + k * %ld", c->dw), nb, KW, ohw,
        times("b", wa->O), wa->K < 0 ? " - k" : " + k");
    put(o, "static void %s(%s *restrict y, const %s *restrict x, "
        "const %s *restrict w)\n{\n", name, T, T, T);
    o->indent++;
    if (fused) {
        const char **names = agc_alloc(sizeof(char *) * (size_t)(nb * KW));
        const char **vals = agc_alloc(sizeof(char *) * (size_t)(nb * KW));
        char *used = agc_alloc((size_t)KW);  /* taps that read the input */
        long nbord = c->c0 + c->OW - c->c1, nw = 0;
        for (long k = 0; k < KW; k++)
            used[k] = c->c1 > c->c0;
        for (long i = 0; i < nbord; i++) {
            long ow = i < c->c0 ? i : c->c1 + i - c->c0, lo, hi;
            col_taps(c, ow, &lo, &hi);
            for (long k = lo; k < hi; k++)
                used[k] = 1;
        }
        for (long b = 0; b < nb; b++)
            for (long k = 0; k < KW; k++)
                if (used[k]) {
                    names[nw] = agc_fmt("w%ld_%ld", b, k);
                    vals[nw++] = agc_fmt("w[%ld]", b * wa->O + k * wa->K);
                }
        if (nw)
            decls(o, T, (int)nw, names, vals);
        else                        /* every column reads only padding */
            put(o, "(void)y;\n(void)x;\n(void)w;\n");
        if (c->c1 > c->c0) {
            put(o, "for (long ow = %ld; ow < %ld; ow++) {\n", c->c0, c->c1);
            o->indent++;
            for (long k = 0; k < KW; k++) {
                names[k] = agc_fmt("x%ld", k);
                vals[k] = agc_fmt("x[%s]", plus("ow", k * c->dw - c->pw));
            }
            decls(o, T, (int)KW, names, vals);
            for (long b = 0; b < nb; b++) {
                const char *a = plus("ow", b * ohw), *e = agc_fmt("y[%s]", a);
                for (long k = 0; k < KW; k++)
                    e = agc_fmt("AGC_FMA(x%ld, w%ld_%ld,%s%s)", k, b, k,
                                k && k % 3 == 0 ? "\n    " : " ", e);
                put(o, "y[%s] = %s;\n", a, e);
            }
            o->indent--;
            put(o, "}\n");
        }
        if (nbord && nw)
            put(o, "/* border columns: the taps inside the input */\n");
        for (long i = 0; i < nbord; i++) {
            long ow = i < c->c0 ? i : c->c1 + i - c->c0, lo, hi;
            col_taps(c, ow, &lo, &hi);
            for (long b = 0; b < nb && hi > lo; b++) {
                const char *e = agc_fmt("y[%ld]", ow + b * ohw);
                for (long k = lo; k < hi; k++)
                    e = agc_fmt("AGC_FMA(x[%ld], w%ld_%ld, %s)",
                                ow - c->pw + k * c->dw, b, k, e);
                put(o, "y[%ld] = %s;\n", ow + b * ohw, e);
            }
        }
    } else {
        /* each tap over the columns where it falls inside the input */
        put(o, "for (long k = 0; k < %ld; k++) {\n", KW);
        o->indent++;
        const char *first = sum3("", times("k", -c->dw), c->pw);
        put(o, "const long lo = %s > 0 ? %s : 0;\n", first, first);
        const char *last = sum3("", times("k", -c->dw), c->W + c->pw);
        put(o, "const long hi = %s < %ld ? %s : %ld;\n", last, c->OW, last,
            c->OW);
        put(o, "const %s *restrict xk = %s;\n", T,
            plus_expr(agc_fmt("x - %ld", c->pw), times("k", c->dw)));
        for (long b = 0; b < nb; b++)
            put(o, "const %s w%ld = w[%s];\n", T, b,
                plus_expr(agc_fmt("%ld", b * wa->O),
                          times("k", wa->K)));
        put(o, "for (long ow = lo; ow < hi; ow++) {\n");
        put(o, "    const %s xv = xk[ow];\n", T);
        for (long b = 0; b < nb; b++)
            put(o, "    y[%s] = AGC_FMA(xv, w%ld, y[%s]);\n",
                plus("ow", b * ohw), b, plus("ow", b * ohw));
        put(o, "}\n");
        o->indent--;
        put(o, "}\n");
    }
    o->indent--;
    put(o, "}\n\n");
}

/* The window rows of one output row oh over input channels c: all of
 * them in the interior rows, those inside the input in a border row:
 * calls row(a, the input row, base + c * wa->C + kh * wa->H), base
 * pointing to const T unless wgrad. */
static void emit_vec_rows(Out *o, const char *row, const Corr *c,
                          const WAt *wa, const char *T, int wgrad)
{
    const char *a = wgrad ? "gr" : "acc", *base = wgrad ? "part" : "wo";
    int interior = c->r1 > c->r0, border = c->r0 > 0 || c->r1 < c->OH;
    const char *top = sum3(times("oh", c->sh), "", -c->ph);
    long rowoff = c->dh * c->W;
    if (interior && border) {
        put(o, "if (oh >= %ld && oh < %ld) {\n", c->r0, c->r1);
        o->indent++;
    }
    if (interior) {
        put(o, "for (long c = 0; c < %ld; c++) {\n", c->CI);
        o->indent++;
        put(o, "const %s *restrict xr = xg + (%s) * %ld;\n", T,
            plus_expr(times("c", c->H), top), c->W);
        put(o, "%s%s *restrict wr = %s;\n", wgrad ? "" : "const ", T,
            plus_expr(base, times("c", wa->C)));
        if (c->unroll_kh)
            for (long kh = 0; kh < c->KH; kh++)
                put(o, "%s(%s, %s, %s);\n", row, a, plus("xr", kh * rowoff),
                    plus("wr", kh * wa->H));
        else
            put(o, "for (long kh = 0; kh < %ld; kh++)\n"
                "    %s(%s, %s, %s);\n", c->KH, row, a,
                plus_expr("xr", times("kh", rowoff)),
                plus_expr("wr", times("kh", wa->H)));
        o->indent--;
        put(o, "}\n");
    }
    if (interior && border) {
        o->indent--;
        put(o, "} else {\n");
        o->indent++;
    }
    if (border) {
        border_rows(o, c, top);
        put(o, "        %s(%s, xg + (%s) * %ld, %s);\n", row, a,
            plus_expr(plus_expr(times("c", c->H), "top"),
                      times("kh", c->dh)), c->W,
            plus_expr(plus_expr(base, times("c", wa->C)),
                      times("kh", wa->H)));
    }
    if (interior && border) {
        o->indent--;
        put(o, "}\n");
    }
}

/* static void NAME(T *y, const T *x, const T *w, T *acc): y [N, G*CO, OH,
 * OW] = the correlation of x [N, G*CI, H, W] with the weights where wa
 * says, OB output channels at a time (and a last block of the rest), an
 * output row of them at a time summed in acc [OB][OW]. */
static void emit_vec(Kernels *K, const char *name, const Corr *c,
                     const WAt *wa, int bias, int relu, int par)
{
    Out *o = &K->fns;
    const char *T = K->T;
    long ob = vec_block(c), full = c->CO / ob * ob, rest = c->CO - full;
    long ohw = c->OH * c->OW;
    emit_vec_row(K, agc_fmt("%s_row", name), ob, c, wa);
    if (rest)
        emit_vec_row(K, agc_fmt("%s_rest", name), rest, c, wa);
    put(o, "static void %s(%s *restrict y, const %s *restrict x, "
        "const %s *restrict w%s%s)\n{\n", name, T, T, T,
        bias ? agc_fmt(", const %s *restrict bias", T) : "",
        par ? "" : agc_fmt(", %s *restrict acc", T));
    o->indent++;
    if (par)                        /* an image (and group) a thread */
        put_omp(o, "parallel for schedule(static)");
    put(o, "for (long i = 0; i < %ld; i++) {\n", c->N * c->G);
    o->indent++;
    if (par)
        put(o, "%s acc[%ld];\n", T, ob * c->OW);
    put(o, "const %s *restrict xg = %s;\n", T,
        plus_expr("x", times("i", c->CI * c->H * c->W)));
    put(o, "const %s *restrict wg = %s;\n", T,
        plus_expr(plus("w", wa->base),
                  c->G > 1 ? agc_fmt("i %% %ld * %ld", c->G, wa->G) : ""));
    put(o, "%s *restrict yi = %s;\n", T,
        plus_expr("y", times("i", c->CO * ohw)));
    for (int part = 0; part < 2; part++) {
        if (part ? !rest : !full)
            continue;
        const char *row = agc_fmt("%s_%s", name, part ? "rest" : "row");
        if (part)
            put(o, "/* the last %ld channels */\n{\n", rest);
        else
            put(o, "for (long o = 0; o < %ld; o += %ld) {\n", full, ob);
        o->indent++;
        const char *oc = part ? agc_fmt("%ld", full) : "o";
        put(o, "const %s *restrict wo = %s;\n", T,
            plus_expr("wg", times(oc, wa->O)));
        put(o, "for (long oh = 0; oh < %ld; oh++) {\n", c->OH);
        o->indent++;
        long nb = part ? rest : ob;
        put(o, "%s *restrict yr = yi + (%s) * %ld;\n", T,
            plus_expr(times(oc, c->OH), "oh"), c->OW);
        put(o, "memset(acc, 0, %ld * sizeof *acc);\n", nb * c->OW);
        emit_vec_rows(o, row, c, wa, T, 0);
        put(o, "for (long b = 0; b < %ld; b++)\n", nb);
        o->indent++;
        put_biased(o, T, agc_fmt("for (long ow = 0; ow < %ld; ow++)", c->OW),
                   agc_fmt("yr[b * %ld + ow]", ohw),
                   agc_fmt("acc[b * %ld + ow]", c->OW),
                   bias ? agc_fmt("bias[%s%s + b]", c->G > 1 ? agc_fmt(
                       "i %% %ld * %ld + ", c->G, c->CO) : "", oc) : NULL,
                   relu);
        o->indent--;
        o->indent--;
        put(o, "}\n");
        o->indent--;
        put(o, "}\n");
    }
    o->indent--;
    put(o, "}\n");
    o->indent--;
    put(o, "}\n\n");
}

/* static void NAME(const T *g, const T *x, T *part): the products of nb
 * gradient rows g (OH * OW apart) with one input row x, tap by tap, each
 * over the columns where the tap falls inside the input, added per
 * column into part [nb][KW][OW]. */
static void emit_vec_taps(Kernels *K, const char *name, long nb,
                          const Corr *c)
{
    Out *o = &K->fns;
    const char *T = K->T;
    long ohw = c->OH * c->OW, KW = c->KW, OW = c->OW;
    put(o, "/* part[b][k][ow] += g[b][ow] * x[ow%s%s], b < %ld, k < %ld: "
        "row g[b] at\n * g + b * %ld */\n",
        c->pw ? agc_fmt(" - %ld", c->pw) : "",
        c->dw == 1 ? " + k" : agc_fmt(" + k * %ld", c->dw), nb, KW, ohw);
    put(o, "static void %s(const %s *restrict g, const %s *restrict x, "
        "%s *restrict part)\n{\n", name, T, T, T);
    o->indent++;
    if (c->tp == KW) {
        int any = 0;
        for (long k = 0; k < KW; k++) {
            long off = k * c->dw - c->pw;
            long lo = -off > 0 ? -off : 0, hi = c->W - off < OW ? c->W - off
                                                                : OW;
            any |= hi > lo;
        }
        if (!any)                   /* every tap reads only padding */
            put(o, "(void)g;\n(void)x;\n(void)part;\n");
        for (long k = 0; k < KW; k++) {
            long off = k * c->dw - c->pw;
            long lo = -off > 0 ? -off : 0, hi = c->W - off < OW ? c->W - off
                                                                : OW;
            if (hi <= lo)
                continue;
            put(o, "for (long ow = %ld; ow < %ld; ow++) {\n", lo, hi);
            put(o, "    const %s xv = x[%s];\n", T, plus("ow", off));
            for (long b = 0; b < nb; b++) {
                const char *at = plus("ow", (b * KW + k) * OW);
                put(o, "    part[%s] = AGC_FMA(g[%s], xv, part[%s]);\n", at,
                    plus("ow", b * ohw), at);
            }
            put(o, "}\n");
        }
    } else {                        /* past the unroll limit: a tap loop */
        put(o, "for (long k = 0; k < %ld; k++) {\n", KW);
        o->indent++;
        const char *first = sum3("", times("k", -c->dw), c->pw);
        put(o, "const long lo = %s > 0 ? %s : 0;\n", first, first);
        const char *last = sum3("", times("k", -c->dw), c->W + c->pw);
        put(o, "const long hi = %s < %ld ? %s : %ld;\n", last, OW, last, OW);
        put(o, "const %s *restrict xk = %s;\n", T,
            plus_expr(agc_fmt("x - %ld", c->pw), times("k", c->dw)));
        put(o, "for (long ow = lo; ow < hi; ow++)\n");
        put(o, "    for (long b = 0; b < %ld; b++)\n", nb);
        put(o, "        part[(b * %ld + k) * %ld + ow] = AGC_FMA(g[b * %ld + "
            "ow], xk[ow], part[(b * %ld + k) * %ld + ow]);\n", KW, OW, ohw,
            KW, OW);
        o->indent--;
        put(o, "}\n");
    }
    o->indent--;
    put(o, "}\n\n");
}

/* The parallel region around a kernel's loops, when par: every thread
 * runs them, sharing out the iterations of their omp for loops */
static void par_open(Out *o, int par)
{
    if (par) {
        put_omp(o, "parallel");
        put(o, "{\n");
        o->indent++;
    }
}

static void par_close(Out *o, int par)
{
    if (par) {
        o->indent--;
        put(o, "}\n");
    }
}

/* The loops of a kernel over a batch's images in slots: slot k takes
 * images k, k + slots..., one thread a slot, each slot with scratch of its
 * own; the body goes at the indent this leaves, inside "{" */
static void slots_open(Out *o, long N, long slots, int par)
{
    put(o, "/* the images: image n in slot n %% %ld */\n", slots);
    if (par)
        put_omp(o, "for schedule(static)");
    put(o, "for (long k = 0; k < %ld; k++)\n", slots);
    put(o, "    for (long n = k; n < %ld; n += %ld) {\n", N, slots);
    o->indent += 2;
}

/* static void NAME(T *dw, const T *x, const T *gy, T *part): the weight
 * gradient dw [G*CO, CI, KH, KW] (in place, no unpacking) of the
 * correlation of x with gy, OB output channels at a time.  The sums are
 * blocked in float: per column over an image's rows in part [CI][KH][OB]
 * [KW][OW], then over the columns, then over the batch in dw. */
static void emit_vec_wgrad(Kernels *K, const char *name, const Corr *c,
                           int slots)
{
    Out *o = &K->fns;
    const char *T = K->T;
    long ob = vec_block(c), full = c->CO / ob * ob, rest = c->CO - full;
    long ohw = c->OH * c->OW, kk = c->KH * c->KW;
    emit_vec_taps(K, agc_fmt("%s_taps", name), ob, c);
    if (rest)
        emit_vec_taps(K, agc_fmt("%s_rest", name), rest, c);
    long size = c->G * c->CO * c->CI * kk;
    long psize = c->CI * c->KH * ob * c->KW * c->OW;
    if (slots > 1)
        put(o, "/* the images (and groups) i in slot sl = i %% %d: each sums "
            "its own into dw or\n * dsum, added in order at the end */\n",
            slots);
    put(o, "static void %s(%s *restrict dw, const %s *restrict x, "
        "const %s *restrict gy, %s *restrict part%s%s)\n{\n", name, T, T, T,
        T, slots > 1 ? "s" : "", slots > 1 ? agc_fmt(",\n    %s *restrict "
        "dsum", T) : "");
    o->indent++;
    if (slots > 1) {
        par_open(o, 1);
        put_omp(o, "for schedule(static)");
        put(o, "for (long sl = 0; sl < %d; sl++) {\n", slots);
        o->indent++;
        put(o, "%s *restrict part = parts + sl * %ld;\n", T, psize);
        put(o, "%s *restrict dk = sl ? dsum + (sl - 1) * %ld : dw;\n", T,
            size);
        put(o, "memset(dk, 0, %ld * sizeof *dk);\n", size);
        put(o, "for (long i = sl; i < %ld; i += %d) {\n", c->N * c->G, slots);
    } else {
        put(o, "memset(dw, 0, %ld * sizeof *dw);\n", size);
        put(o, "for (long i = 0; i < %ld; i++) {\n", c->N * c->G);
    }
    o->indent++;
    put(o, "const %s *restrict xg = %s;\n", T,
        plus_expr("x", times("i", c->CI * c->H * c->W)));
    put(o, "const %s *restrict gi = %s;\n", T,
        plus_expr("gy", times("i", c->CO * ohw)));
    put(o, "%s *restrict dg = %s;\n", T,
        plus_expr(slots > 1 ? "dk" : "dw",
                  c->G > 1 ? agc_fmt("i %% %ld * %ld", c->G,
                                     c->CO * c->CI * kk) : ""));
    for (int part = 0; part < 2; part++) {
        if (part ? !rest : !full)
            continue;
        long nb = part ? rest : ob, slot = nb * c->KW * c->OW;
        WAt wa = {0, 0, c->KH * slot, slot, 0, 0};
        const char *row = agc_fmt("%s_%s", name, part ? "rest" : "taps");
        if (part)
            put(o, "/* the last %ld channels */\n{\n", rest);
        else
            put(o, "for (long o = 0; o < %ld; o += %ld) {\n", full, ob);
        o->indent++;
        const char *oc = part ? agc_fmt("%ld", full) : "o";
        put(o, "memset(part, 0, %ld * sizeof *part);\n", c->CI * c->KH *
            slot);
        put(o, "for (long oh = 0; oh < %ld; oh++) {\n", c->OH);
        o->indent++;
        put(o, "const %s *restrict gr = gi + (%s) * %ld;\n", T,
            plus_expr(times(oc, c->OH), "oh"), c->OW);
        emit_vec_rows(o, row, c, &wa, T, 1);
        o->indent--;
        put(o, "}\n");
        put(o, "/* the image's sums over the columns, added into dw */\n");
        put(o, "for (long c = 0; c < %ld; c++)\n", c->CI);
        put(o, "    for (long kh = 0; kh < %ld; kh++)\n", c->KH);
        put(o, "        for (long b = 0; b < %ld; b++)\n", nb);
        put(o, "            for (long k = 0; k < %ld; k++) {\n", c->KW);
        put(o, "                const %s *restrict pk = part + (((c * %ld + kh)"
            " * %ld + b) * %ld + k) * %ld;\n", T, c->KH, nb, c->KW, c->OW);
        put(o, "                %s s = 0;\n", T);
        put(o, "                for (long ow = 0; ow < %ld; ow++)\n", c->OW);
        put(o, "                    s += pk[ow];\n");
        put(o, "                dg[((%s) * %ld + c) * %ld + kh * %ld + k] += "
            "s;\n", plus_expr(oc, "b"), c->CI, kk, c->KW);
        put(o, "            }\n");
        o->indent--;
        put(o, "}\n");
    }
    o->indent--;
    put(o, "}\n");
    if (slots > 1) {
        o->indent--;
        put(o, "}\n");
        put_omp(o, "for schedule(static)");
        put(o, "for (long j = 0; j < %ld; j++)\n", size);
        put(o, "    dw[j] = dw[j]");
        for (int k = 1; k < slots; k++)
            put(o, k > 1 ? " + dsum[%ld + j]" : " + dsum[j]", (k - 1) * size);
        put(o, ";\n");
        par_close(o, 1);
    }
    o->indent--;
    put(o, "}\n\n");
}

/* Row vectors when the row has stride 1 and is long enough for whole
 * vectors, or when too few output channels fill a vector (depthwise). */
static int use_vec(const Corr *c)
{
    return c->sw == 1 && c->CO < VEC_MIN_CHANNELS;
}

/* The row-vector weight gradient of c (shared), with its scratch
 * argument. */
static Shared *vec_wgrad_kernel(Kernels *K, const Node *n, const Corr *c)
{
    const char *sig = agc_fmt("vecw %s", corr_sig(1, c));
    for (Shared *s = K->shared; s; s = s->next)
        if (!strcmp(s->sig, sig))
            return s;
    Shared *s = agc_alloc(sizeof *s);
    s->sig = sig;
    s->name = agc_fmt("agc_conv%d", n->id);
    s->next = K->shared;
    K->shared = s;
    /* images in slots, as gemm_weight's, where there is work to share */
    int slots = gemm_par(c) && c->N * c->G >= 2 ? 2 : 1;
    long part = c->CI * c->KH * vec_block(c) * c->KW * c->OW;
    add_scr(s, "part", slots * part, slots > 1
            ? "products summed per column, a slot's [c][kh][b][k][ow]"
            : "products summed per column [c][kh][b][k][ow]");
    if (slots > 1)
        add_scr(s, "dsum", (slots - 1) * c->G * c->CO * c->CI * c->KH * c->KW,
                "the second slot's sums, as dw");
    kernels_comment(K, n, "gradient of the weight");
    emit_vec_wgrad(K, s->name, c, slots);
    return s;
}

/* The row-vector kernel of c, weights at wa (shared), with its scratch
 * argument. */
static Shared *vec_kernel(Kernels *K, const Node *n, const char *what,
                          const Corr *c, const WAt *wa, int bias, int relu,
                          int may_par)
{
    /* on all threads, an image each, when large enough and its row of
     * sums small enough for the stack; else the sums are scratch */
    int par = may_par && gemm_par(c) && c->N * c->G > 1 &&
              vec_block(c) * c->OW <= VEC_STACK_SUMS;
    const char *sig = agc_fmt("vec %s %ld %ld %ld %ld %ld %ld %d %d %d",
                              corr_sig(0, c), wa->G, wa->O, wa->C, wa->H,
                              wa->K, wa->base, bias, relu, par);
    for (Shared *s = K->shared; s; s = s->next)
        if (!strcmp(s->sig, sig))
            return s;
    Shared *s = agc_alloc(sizeof *s);
    s->sig = sig;
    s->name = agc_fmt("agc_conv%d", n->id);
    s->next = K->shared;
    K->shared = s;
    if (!par)
        add_scr(s, "acc", vec_block(c) * c->OW, "an output row of a block "
                "of channels [b][ow]");
    kernels_comment(K, n, what);
    emit_vec(K, s->name, c, wa, bias, relu, par);
    return s;
}

/* Packs w [G*CO, CI, KH, KW] as wp[g][c][kh][kw][o]; flip: as the
 * weights of the transposed correlation, wp[g][o][kh][kw][c] = w[g*CO +
 * o][c][KH-1-kh][KW-1-kw].  The innermost dim is stride apart (lanes
 * past the channels stay zero, as NAME_init left them). */
static void emit_pack(Out *o, const Corr *c, const char *wp, const char *w,
                      int flip, long stride)
{
    long kk = c->KH * c->KW;
    put(o, "for (long g = 0; g < %ld; g++)\n", c->G);
    put(o, "    for (long o = 0; o < %ld; o++)\n", c->CO);
    put(o, "        for (long c = 0; c < %ld; c++)\n", c->CI);
    put(o, "            for (long t = 0; t < %ld; t++)\n", kk);
    if (flip)
        put(o, "                %s[((g * %ld + o) * %ld + %ld - t) * %ld + c]"
            " = %s[((g * %ld + o) * %ld + c) * %ld + t];\n", wp, c->CO, kk,
            kk - 1, stride, w, c->CO, c->CI, kk);
    else
        put(o, "                %s[((g * %ld + c) * %ld + t) * %ld + o] ="
            " %s[((g * %ld + o) * %ld + c) * %ld + t];\n", wp, c->CI, kk,
            stride, w, c->CO, c->CI, kk);
}

/* The wrapper of an op's kernel: NAME(out, in0, in1, scratch...), which
 * does the packing around the correlation.  Found by what makes it (sig),
 * or NULL, in which case the caller writes it. */
static Shared *find_wrapper(Kernels *K, const char *sig)
{
    for (Shared *s = K->shared; s; s = s->next)
        if (!strcmp(s->sig, sig))
            return s;
    return NULL;
}

static Shared *new_wrapper(Kernels *K, const char *sig, const char *name)
{
    Shared *s = agc_alloc(sizeof *s);
    s->sig = sig;
    s->name = name;
    s->next = K->shared;
    K->shared = s;
    return s;
}

/* ---- register-blocked correlations ----
 *
 * A layer with at least GEMM_MIN_CHANNELS output channels per group runs
 * as a matrix product whose sums stay in registers (as matmul's kernel in
 * emit.c): agc_conv_6x16 computes 6 output positions (running on from
 * one row into the next) by 16 output channels, summing over the input
 * channels and the taps, the
 * input values broadcast from where they are and the weights packed in
 * panels of 16 channels; agc_convw_6x16 computes 6 taps by 16 channels
 * of the weight gradient, summing over the output positions of a block
 * of rows, the gradient packed in panels of 16 channels.  An input with
 * padding is first copied, an image at a time, into a zero-bordered
 * buffer, so that no tap is tested against the bounds.  Where the
 * compiler has GNU vectors and the target AVX, the kernels are written
 * with them (two vectors per position or tap); elsewhere as plain
 * loops.  Positions past the last one, or taps past the end of a row,
 * read the last one again and are not written. */
enum { GEMM_MIN_CHANNELS = 4 };     /* output channels (input gradient) */
enum { GEMM_MIN_WORK = 32768 };     /* multiply-adds an image: smaller
                                     * layers keep the tiles, whose
                                     * scratch is smaller (no padded copy,
                                     * no channels padded to 16) */

/* Columns of a panel: two vectors of 32 bytes. */
static int gemm_nr(const Kernels *K)
{
    return K->f32 ? 16 : 8;
}

/* The forward kernel's path for a panel of at most one vector of
 * channels (the last of 20, say): its taps in pairs, the second of each
 * into the other vector of sums, so that twelve chains of multiply-adds
 * run at once as in a full panel, not six; the two added at the end. */
static void half_panel(Out *o, const char *T, int nr, int lanes)
{
    put(o, "if (no <= %d) {\n", lanes);
    put(o, "    for (long c = 0; c < nc; c++) {\n");
    put(o, "        const %s *restrict xc0 = x + c * xc;\n", T);
    put(o, "        const %s *restrict wc = w + c * nt * %d;\n", T, nr);
    put(o, "        long k = 0;\n");
    put(o, "        for (; k + 1 < nt; k += 2) {\n");
    put(o, "            const %s *restrict xk = xc0 + tap[k];\n", T);
    put(o, "            const %s *restrict xl = xc0 + tap[k + 1];\n", T);
    put(o, "            vec b0, b1;\n");
    put(o, "            memcpy(&b0, wc + k * %d, sizeof b0);\n", nr);
    put(o, "            memcpy(&b1, wc + (k + 1) * %d, sizeof b1);\n", nr);
    for (int r = 0; r < 6; r++)
        put(o, "            AGC_VFMA(s%d0, xk[at[%d]], b0);\n"
            "            AGC_VFMA(s%d1, xl[at[%d]], b1);\n", r, r, r, r);
    put(o, "        }\n");
    put(o, "        if (k < nt) {\n");
    put(o, "            const %s *restrict xk = xc0 + tap[k];\n", T);
    put(o, "            vec b0;\n");
    put(o, "            memcpy(&b0, wc + k * %d, sizeof b0);\n", nr);
    for (int r = 0; r < 6; r++)
        put(o, "            AGC_VFMA(s%d0, xk[at[%d]], b0);\n", r, r);
    put(o, "        }\n    }\n");
    for (int r = 0; r < 6; r++)
        put(o, "%ss%d0 += s%d1;%s", r % 3 ? " " : "    ", r, r,
            r % 3 == 2 ? "\n" : "");
    put(o, "} else {\n");
}

/* The forward kernel or (wgrad) the weight gradient's, written once per
 * program (with a Shared entry as the mark). */
static void gemm_kernel(Kernels *K, int wgrad)
{
    const char *mark = wgrad ? "gemm kernel w" : "gemm kernel";
    if (find_wrapper(K, mark))
        return;
    new_wrapper(K, mark, "");
    const char *T = K->T;
    int nr = gemm_nr(K), lanes = nr / 2;
    Out *o = &K->fns;
    if (!wgrad) {
        put(o, "/* y[j * ldy + (q / qn) * yh + (q %% qn) * ys] = the sum over c "
            "< nc and the\n * taps k < nt of\n *     x[c * xc + tap[k] + "
            "(q / qn) * xh + (q %% qn) * xs] * w[(c * nt + k) * %d + j]\n"
            " * (+ b[j] when b is not null; then its relu, x > 0 ? x : 0, "
            "when relu)\n * for output positions q = q0 + r, r < np <= 6, "
            "of rows of qn, and channels\n * j < no <= %d */\n", nr, nr);
        put(o, "static void agc_conv_6x%d(const %s *restrict x, long xh, "
            "long xs, long nc,\n    long xc, const long *tap, long nt, "
            "const %s *restrict w,\n    const %s *restrict b, int relu, %s "
            "*restrict y, long ldy, long yh,\n    long ys, long q0, long qn, "
            "int np, int no)\n{\n", nr, T, T, T, T);
        put(o, "    %s sum[6][%d];\n    long at[6], to[6];\n", T, nr);
        /* one division: positions past np repeat the last one */
        put(o, "    long qh = q0 / qn, qw = q0 %% qn;\n"
            "    for (int r = 0; r < 6; r++) {\n"
            "        at[r] = qh * xh + qw * xs;\n"
            "        to[r] = qh * yh + qw * ys;\n"
            "        if (r + 1 < np && ++qw == qn) {\n"
            "            qw = 0;\n"
            "            qh++;\n"
            "        }\n"
            "    }\n");
    } else {
        put(o, "/* dw[j * ldw + r] = (first) or += (else) the sum over oh "
            "< noh, ow < now of\n *     x[tap[r] + oh * xh + ow * xs] * "
            "g[(oh * now + ow) * %d + j]\n * for taps r < nt <= 6 and "
            "channels j < no <= %d */\n", nr, nr);
        put(o, "static void agc_convw_6x%d(const %s *restrict x, const "
            "long *tap, long noh,\n    long xh, long now, long xs, const "
            "%s *restrict g, %s *restrict dw,\n    long ldw, int nt, int "
            "no, int first)\n{\n", nr, T, T, T);
        put(o, "    %s sum[6][%d];\n    long at[6];\n", T, nr);
        put(o, "    for (int r = 0; r < 6; r++)\n"
            "        at[r] = tap[r < nt ? r : nt - 1];\n");
    }
    const char *open = wgrad
        ? "    for (long oh = 0; oh < noh; oh++)\n"
          "        for (long ow = 0; ow < now; ow++) {\n"
          "            const %s *restrict xk = x + oh * xh + ow * xs;\n"
          "            const %s *restrict wk = g + (oh * now + ow) * %d;\n"
        : "    for (long c = 0; c < nc; c++)\n"
          "        for (long k = 0; k < nt; k++) {\n"
          "            const %s *restrict xk = x + c * xc + tap[k];\n"
          "            const %s *restrict wk = w + (c * nt + k) * %d;\n";
    put(o, "#if defined(__GNUC__) && defined(__AVX__)\n");
    o->indent++;
    put_vec_sums(o, T);
    if (!wgrad)
        half_panel(o, T, nr, lanes);
    if (wgrad)
        o->indent--;
    put(o, open, T, T, nr);
    o->indent += 3;
    put_vec_fma(o, "xk", "at", "wk", lanes, 6);
    o->indent -= 3;
    put(o, "        }\n");
    if (!wgrad) {
        o->indent--;
        put(o, "    }\n");
    }
    o->indent++;
    put_vec_store(o, lanes, 6);
    o->indent--;
    /* plain C: a position or tap at a time, its sums in scalars (which
     * tcc, compiling a statement at a time, handles best) */
    put(o, "#else\n");
    put(o, "    for (int r = 0; r < %s; r++) {\n", wgrad ? "nt" : "np");
    o->indent++;
    put(o, "    %s s0 = 0", T);
    for (int j = 1; j < nr; j++)
        put(o, ", s%d = 0", j);
    put(o, ";\n");
    put(o, open, T, T, nr);
    put(o, "            const %s a = xk[at[r]];\n", T);
    for (int j = 0; j < nr; j++)
        put(o, "            s%d += a * wk[%d];\n", j, j);
    put(o, "        }\n");
    for (int j = 0; j < nr; j++)
        put(o, "    sum[r][%d] = s%d;\n", j, j);
    o->indent--;
    put(o, "    }\n");
    put(o, "#endif\n");
    if (!wgrad)
        put(o, "    for (int j = 0; j < no; j++)\n"
            "        for (int r = 0; r < np; r++) {\n"
            "            const %s v = b ? sum[r][j] + b[j] : sum[r][j];\n"
            "            y[j * ldy + to[r]] = relu && !(v > 0) ? 0 : v;\n"
            "        }\n}\n\n", T);
    else
        put(o, "    for (int j = 0; j < no; j++)\n"
            "        for (int r = 0; r < nt; r++)\n"
            "            dw[j * ldw + r] = first ? sum[r][j] : "
            "dw[j * ldw + r] + sum[r][j];\n}\n\n");
}

/* Whether c runs as register-blocked products: a forward or weight
 * gradient with enough output channels; an input gradient (flip) also
 * needs stride 1 and a padding of the transposed correlation >= 0. */
static int use_gemm(const Corr *c, int flip)
{
    if (c->CO < (flip ? GEMM_MIN_CHANNELS : VEC_MIN_CHANNELS) ||
        c->OH * c->OW * c->G * c->CO * c->CI * c->KH * c->KW < GEMM_MIN_WORK)
        return 0;
    return !flip || (c->sh == 1 && c->sw == 1 && c->ph >= 0 && c->pw >= 0);
}

/* The rows and columns of c's input that the windows reach: what the
 * padded copy holds. */
static void gemm_extent(const Corr *c, long *hp, long *wp)
{
    *hp = (c->OH - 1) * c->sh + (c->KH - 1) * c->dh + 1;
    *wp = (c->OW - 1) * c->sw + (c->KW - 1) * c->dw + 1;
}

/* Whether c reads its input through a padded copy: any padding, or
 * windows that do not reach the input's end. */
static int gemm_copies(const Corr *c)
{
    long hp, wp;
    gemm_extent(c, &hp, &wp);
    return c->ph || c->pw || wp != c->W;
}

/* xp [C, hp, wp] = src [C, H, W] (an image of c's input) placed at (ph,
 * pw), zero around */
static void emit_pad_copy(Out *o, long C, const char *xp, long hp, long wp,
                          long top, long left, const char *src, long H,
                          long W, int par)
{
    long rows = H < hp - top ? H : hp - top;
    long cols = W < wp - left ? W : wp - left;
    if (par)
        put_omp(o, "for schedule(static)");
    put(o, "for (long c = 0; c < %ld; c++) {\n", C);
    put(o, "    memset(%s + c * %ld, 0, %ld * sizeof *%s);\n", xp, hp * wp,
        hp * wp, xp);
    put(o, "    for (long h = 0; h < %ld; h++)\n", rows);
    put(o, "        memcpy(%s + (c * %ld + h + %ld) * %ld + %ld, %s + (c * %ld "
        "+ h) * %ld, %ld * sizeof *%s);\n}\n", xp, hp, top, wp, left, src,
        H, W, cols, xp);
}

/* y.grad in panels, for the weight gradients: writes NAME_gq(dst, src,
 * q0, q1, no), dst [q][nr channels] = src [no][pos] for positions q0 <=
 * q < q1, zeros past channel no; a function of its own for its restrict
 * pointers (inside an OpenMP region gcc saw none, and the copy took a
 * third of the batched 3 x 3 layer's weight gradient) */
static void gy_panels_fn(Kernels *K, const char *name, long pos)
{
    const char *T = K->T;
    int nr = gemm_nr(K);
    put(&K->fns, "static void %s_gq(%s *restrict dst, const %s *restrict "
        "src, long q0, long q1,\n    long no)\n{\n", name, T, T);
    put(&K->fns, "    for (long q = q0; q < q1; q++)\n"
        "        for (long j = 0; j < %d; j++)\n"
        "            dst[q * %d + j] = j < no ? src[j * %ld + q] : 0;\n}\n\n",
        nr, nr, pos);
}

/* The calls of NAME_gq that put src [CO][pos] into dst [p][q][nr
 * channels], in runs of 64 positions */
static void emit_gy_panels(Out *f, const char *name, const char *dst,
                           const char *src, long CO, long pos, int nr,
                           int par)
{
    long panels = (CO + nr - 1) / nr;
    if (par)
        put_omp(f, "for collapse(2) schedule(static)");
    put(f, "for (long p = 0; p < %ld; p++)\n", panels);
    put(f, "    for (long q = 0; q < %ld; q += 64)\n", pos);
    put(f, "        %s_gq(%s + p * %ld, %s + p * %ld, q, %s, %s);\n", name, dst,
        pos * nr, src, nr * pos,
        pos % 64 ? agc_fmt("q + 64 < %ld ? q + 64 : %ld", pos, pos)
                 : "q + 64",
        CO % nr ? agc_fmt("p < %ld ? %d : %ld", panels - 1, nr,
                          CO - (panels - 1) * nr) : agc_fmt("%d", nr));
}

/* The forward kernel calls of c over image n: xi its (padded) input,
 * wp the packed weights, y the image's output, plus b when bias, then
 * the relu when relu; over every image n when images (one parallel
 * loop, not a loop and a barrier an image), shared out when par. */
static void emit_gemm_calls(Kernels *K, Out *o, const Corr *c,
                            const char *xi, const char *y, int bias, int relu,
                            int images, int par)
{
    long hp, wp;
    int nr = gemm_nr(K);
    if (gemm_copies(c))
        gemm_extent(c, &hp, &wp);
    else
        hp = c->H, wp = c->W;
    long panels = (c->CO + nr - 1) / nr, taps = c->CI * c->KH * c->KW;
    if (par)
        put_omp(o, images ? "for collapse(4) schedule(static)"
                          : "for collapse(3) schedule(static)");
    long npos = c->OH * c->OW;      /* 6 at a time, across the rows */
    if (images) {
        put(o, "for (long n = 0; n < %ld; n++)\n", c->N);
        o->indent++;
    }
    put(o, "for (long g = 0; g < %ld; g++)\n", c->G);
    put(o, "    for (long p = 0; p < %ld; p++)\n", panels);
    put(o, "        for (long q = 0; q < %ld; q += 6)\n", npos);
    put(o, "            agc_conv_6x%d(%s + g * %ld, %ld, %ld, %ld, %ld, tap, "
        "%ld,\n                wp + (g * %ld + p) * %ld, %s, %d,\n"
        "                %s + (g * %ld + p * %d) * %ld,\n"
        "                %ld, %ld, 1, q, %ld, %s, %s);\n", nr,
        xi, c->CI * hp * wp, c->sh * wp, c->sw, c->CI, hp * wp, c->KH * c->KW,
        panels, taps * nr,
        bias ? agc_fmt("b + g * %ld + p * %d", c->CO, nr) : "NULL", relu,
        y, c->CO, nr, npos, npos, c->OW, c->OW,
        npos % 6 ? agc_fmt("q + 6 <= %ld ? 6 : (int)(%ld - q)", npos, npos)
                 : "6",
        c->CO % nr ? agc_fmt("p < %ld ? %d : %ld", panels - 1, nr,
                             c->CO - (panels - 1) * nr)
                   : agc_fmt("%d", nr));
    if (images)
        o->indent--;
}

/* The forward (or, flip, the input gradient's) correlation c as a
 * wrapper: w packed into panels (flipped and transposed for the input
 * gradient), the input padded an image at a time, then the kernels,
 * which add the bias b [G*CO] as they write when bias, then take the
 * relu when relu. */
/* Images padded at once by the forward kernel: one a slot, when there
 * are images enough to share out evenly, each slot padding and running
 * its own; else 1, and each image's calls are shared out. */
enum { GEMM_SLOTS = 2 };

static int gemm_slots(const Corr *c)
{
    return gemm_par(c) && (c->N % GEMM_SLOTS == 0 || c->N >= 4 * GEMM_SLOTS)
           ? GEMM_SLOTS : 1;
}

static Shared *gemm_forward(Kernels *K, const Node *n, const char *what,
                            const Corr *c, int flip, int bias, int relu)
{
    const char *sig = agc_fmt("gemm %d %d %d %s", flip, bias, relu,
                              corr_sig(0, c));
    Shared *s = find_wrapper(K, sig);
    if (s)
        return s;
    gemm_kernel(K, 0);
    const char *T = K->T;
    int nr = gemm_nr(K), copy = gemm_copies(c);
    long panels = (c->CO + nr - 1) / nr, kk = c->KH * c->KW, hp, wp;
    gemm_extent(c, &hp, &wp);
    s = new_wrapper(K, sig, agc_fmt("agc_conv%d_%s", n->id,
                                    flip ? "input" : "forward"));
    add_scr(s, "wpack", c->G * panels * c->CI * kk * nr, flip
            ? "weights flipped, in panels [g][p][o][kh][kw][16 channels]"
            : "weights in panels [g][p][c][kh][kw][16 channels]");
    if (copy)
        add_pad_scr(s, gemm_slots(c), c->G * c->CI * hp * wp,
                    flip ? "gy" : "x");
    kernels_comment(K, n, what);
    Out *f = &K->fns;
    put(f, "/* %s%s%s: w packed in panels of %d channels into wp, %sthen "
        "agc_conv_6x%d */\n", what, bias ? " plus the bias b" : "",
        relu ? ", then its relu" : "", nr,
        copy ? "each image padded into xp, " : "", nr);
    put(f, "static void %s(%s *restrict y, const %s *restrict x, const %s "
        "*restrict w,\n    %s%s *restrict wp%s)\n{\n", s->name, T, T, T,
        bias ? agc_fmt("const %s *restrict b, ", T) : "", T,
        copy ? agc_fmt(", %s *restrict xp", T) : "");
    f->indent++;
    put(f, "static const long tap[%ld] = {", kk);   /* the window's offsets */
    for (long t = 0; t < kk; t++)
        put(f, "%s%ld", t ? ", " : "",
            t / c->KW * c->dh * wp + t % c->KW * c->dw);
    put(f, "};\n");
    int par = gemm_par(c);
    par_open(f, par);
    if (par)
        put_omp(f, "for collapse(3) schedule(static)");
    /* wp[g][p][c][t][j] = w[g][p*nr + j][c][t], or, flipped, the weight of
     * out channel p*nr + j (an input channel of w) and in channel c (an
     * output channel of w) at the mirrored tap */
    put(f, "for (long g = 0; g < %ld; g++)\n", c->G);
    put(f, "    for (long p = 0; p < %ld; p++)\n", panels);
    put(f, "        for (long c = 0; c < %ld; c++)\n", c->CI);
    put(f, "            for (long t = 0; t < %ld; t++)\n", kk);
    put(f, "                for (long j = 0; j < %d; j++) {\n", nr);
    put(f, "                    const long o = p * %d + j;\n", nr);
    put(f, "                    wp[(((g * %ld + p) * %ld + c) * %ld + t) * %d "
        "+ j] = o >= %ld ? 0 :\n", panels, c->CI, kk, nr, c->CO);
    if (flip)
        put(f, "                        w[((g * %ld + c) * %ld + o) * %ld + "
            "%ld - t];\n", c->CI, c->CO, kk, kk - 1);
    else
        put(f, "                        w[((g * %ld + o) * %ld + c) * %ld + "
            "t];\n", c->CO, c->CI, kk);
    put(f, "                }\n");
    const char *src = agc_fmt("x + n * %ld", c->G * c->CI * c->H * c->W);
    const char *yn = agc_fmt("y + n * %ld", c->G * c->CO * c->OH * c->OW);
    if (copy && gemm_slots(c) > 1) {
        /* slot k pads and runs images k, k + slots...: the threads meet
         * only at the end (sharing each image out took 2 barriers an
         * image, and two threads ran the stride-2 layer 1.3 times as fast
         * as one) */
        slots_open(f, c->N, GEMM_SLOTS, par);
        put(f, "%s *restrict xk = xp + k * %ld;\n", T, c->G * c->CI * hp * wp);
        emit_pad_copy(f, c->G * c->CI, "xk", hp, wp, c->ph, c->pw, src,
                      c->H, c->W, 0);
        emit_gemm_calls(K, f, c, "xk", yn, bias, relu, 0, 0);
        f->indent -= 2;
        put(f, "    }\n");
    } else if (copy) {
        put(f, "for (long n = 0; n < %ld; n++) {\n", c->N);
        f->indent++;
        emit_pad_copy(f, c->G * c->CI, "xp", hp, wp, c->ph, c->pw, src,
                      c->H, c->W, par);
        emit_gemm_calls(K, f, c, "xp", yn, bias, relu, 0, par);
        f->indent--;
        put(f, "}\n");
    } else {                        /* the images' calls in one loop */
        emit_gemm_calls(K, f, c, src, yn, bias, relu, 1, par);
    }
    par_close(f, par);
    f->indent--;
    put(f, "}\n\n");
    return s;
}

/* ---- Winograd F(2x2, 3x3), F(2x2, 3x5) and their kin ----
 *
 * A correlation of stride and dilation 1 with a 3 or 5 tap window in each
 * dim computes each 2x2 block of outputs (a tile) from the block of its
 * input under it, (r + 1) x (s + 1) for an r x s window, as (Lavin and
 * Gray, "Fast Algorithms for Convolutional Neural Networks", 2016)
 *
 *     Y = A^T [ the sum over c of (G w_c G'^T) .* (B^T d_c B') ] A'
 *
 * with the matrices of the 1-D algorithms F(2, r) down and F(2, s) across
 * (Wino1 below).  A 3x3 window takes 16 multiply-adds a tile and channel
 * pair where the direct sum takes 36; a 3x5 one 24 where it takes 60.  The
 * elements of the brackets are matrix products over the input channels,
 * which matmul's kernel runs.  The transforms' constants are small
 * integers and fractions, so the result differs from the direct sum's by
 * rounding: a few ulps of the largest terms for F(2, 3), some more for
 * F(2, 5), whose constants reach 5 and 1/24.
 *
 *   the weights, once a call:  u[e][o][c] = (G w G'^T)[e]
 *   each image, padded, then each block of tile rows:
 *       v[e][c][tile] = (B^T d B')[e]           the input's transform
 *       m[e][o][tile] = the sum over c of u[e][o][c] * v[e][c][tile]
 *                       (6 out channels by 16 tiles a call)
 *       y = A^T m A' (plus the bias, then its relu)
 *
 * The input gradient is the same over gy with w flipped; the weight
 * gradient is the algorithm transposed (wino_weight below).  A block holds
 * as many tile rows as keep v and m within its slot's share of
 * WINO_BLOCK_BYTES, for them to stay in the core's cache between the
 * three steps.  A block
 * runs start to end on one thread, in the scratch of its slot: threads
 * meet only between images, or (for fewer images than slots) between an
 * image's padding and its blocks.  (Sharing each step's loop out instead
 * took 4 barriers a block, and two threads ran the batched 3x3 layer only
 * 1.4 times as fast as one.)  Every element is computed by the same
 * operations at any thread count. */
enum { WINO_MIN_CHANNELS = 16 };    /* in and out: fewer, and the
                                     * transforms cost more than the
                                     * products save */
enum { WINO_BLOCK_BYTES = 786432 }; /* the scratch of a kernel's blocks:
                                     * 3/4 of a core's L2 here (1 MB) */
enum { WINO_SHORT_ROW = 16 };       /* tiles a row, at most, that gcc
                                     * unrolls a loop along */
enum { WINO_SLOTS = 2 };            /* blocks with scratch of their own,
                                     * run by as many threads */

/* A 1-D algorithm F(2, r): 2 outputs of an r-tap correlation from a =
 * r + 1 inputs, y = A^T [(G w) .* (B^T d)].  Transposed, it gives the r
 * taps' weight gradient from 2 values of gy: dw = G^T [(A g) .* (B^T d)]
 * (the gradient of y's formula with respect to w). */
typedef struct Wino1 {
    int r, a;                       /* taps, inputs */
    double bt[6][6];                /* B^T [a][a] */
    double g[6][5];                 /* G [a][r] */
    double at[2][6];                /* A^T [2][a] */
} Wino1;

/* F(2, 3), at the points 0, 1, -1 and infinity */
static const Wino1 wino_f23 = {
    3, 4,
    {{1, 0, -1, 0}, {0, 1, 1, 0}, {0, -1, 1, 0}, {0, 1, 0, -1}},
    {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}},
    {{1, 1, 1, 0}, {0, 1, -1, -1}},
};

/* F(2, 5), at the points 0, 1, -1, 2, -2 and infinity: B^T is that of
 * F(4, 3) at the same points, G solves the identity for it */
static const Wino1 wino_f25 = {
    5, 6,
    {{4, 0, -5, 0, 1, 0}, {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
     {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}},
    {{1. / 4, 0, 0, 0, 0}, {-1. / 6, -1. / 6, -1. / 6, -1. / 6, -1. / 6},
     {-1. / 6, 1. / 6, -1. / 6, 1. / 6, -1. / 6},
     {1. / 24, 1. / 12, 1. / 6, 1. / 3, 2. / 3},
     {1. / 24, -1. / 12, 1. / 6, -1. / 3, 2. / 3}, {0, 0, 0, 0, 1}},
    {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 1}},
};

static const Wino1 *wino1(long taps)
{
    return taps == 3 ? &wino_f23 : taps == 5 ? &wino_f25 : NULL;
}

/* The sum over j < n of k[j * ks] * t[j] as C.  The coefficients of
 * each of the tables' sums are whole multiples of the smallest one,
 * which is written once: "(t0 + 2 * t1) * (1.0f / 24)". */
static const char *lin(const Kernels *K, const double *k, int ks, int n,
                       const char *const *t)
{
    double c0 = 0;
    for (int j = 0; j < n; j++) {
        double a = fabs(k[j * ks]);
        if (a != 0 && (c0 == 0 || a < c0))
            c0 = a;
    }
    if (c0 == 0)
        return "0";
    const char *s = "";
    int terms = 0;
    for (int j = 0; j < n; j++) {
        double q = k[j * ks] / c0;
        long m = lround(fabs(q));
        if (m == 0)
            continue;
        const char *term = m == 1 ? t[j] : agc_fmt("%ld * %s", m, t[j]);
        if (terms == 1 && q > 0 && *s == '-')   /* "b - a", not "-a + b" */
            s = agc_fmt("%s - %s", term, s + 1);
        else
            s = *s ? agc_fmt("%s %c %s", s, q < 0 ? '-' : '+', term)
                   : q < 0 ? agc_fmt("-%s", term) : term;
        terms++;
    }
    if (c0 == 1)
        return s;
    long inv = lround(1 / c0);
    const char *f = K->f32 ? "f" : "";
    const char *scale = (inv & (inv - 1)) == 0
                        ? agc_fmt("%g%s", c0, f)      /* 0.5f: exact */
                        : agc_fmt("(1.0%s / %ld)", f, inv);
    return agc_fmt(terms > 1 ? "(%s) * %s" : "%s * %s", s, scale);
}

/* Whether c runs as Winograd products: the forward or input gradient,
 * or (weight) the weight gradient.  F(2, 5)'s constants cost accuracy:
 * in float32, measured against PyTorch, one 5-tap dim keeps the forward
 * within the golden tests' bound (1e-6 + 1e-5 |y|), two do not, and
 * neither does the weight gradient's F(5, 2). */
static int use_wino(const Kernels *K, const Corr *c, int weight)
{
    int fives = (c->KH == 5) + (c->KW == 5);
    if (K->f32 && fives > (weight ? 0 : 1))
        return 0;
    return c->G == 1 && wino1(c->KH) && wino1(c->KW) && c->sh == 1 &&
           c->sw == 1 && c->dh == 1 && c->dw == 1 && c->zh <= 1 &&
           c->ph >= 0 && c->pw >= 0 && c->OH >= 4 && c->OW >= 4 &&
           c->CI >= WINO_MIN_CHANNELS && c->CO >= WINO_MIN_CHANNELS;
}

/* The tiles of c and the blocks of tile rows, for products of cols
 * columns a tile, and the blocks' slots (see wino_images).  More threads
 * than slots idle in these kernels. */
typedef struct Wino {
    const Wino1 *h, *w;             /* the algorithms down and across */
    int e;                          /* elements a tile: h->a * w->a */
    long th, tw;                    /* tiles down and across */
    long hp, wp;                    /* the padded input image */
    long rows;                      /* tile rows a block, at most */
    long slots;                     /* blocks whose scratch is apart */
    int by_image;                   /* slots take whole images */
    int in_place;                   /* the input needs no padding: its
                                     * blocks read it where it is */
    long tb;                        /* tiles a block, whole panels */
    long vs;                        /* from one of v's elements to the
                                     * next */
} Wino;

static Wino wino_plan(const Kernels *K, const Corr *c, long cols)
{
    Wino z;
    int nr = gemm_nr(K), lanes = nr / 2;
    z.h = wino1(c->KH);
    z.w = wino1(c->KW);
    z.e = z.h->a * z.w->a;
    z.th = (c->OH + 1) / 2;
    z.tw = (c->OW + 1) / 2;
    /* rows of whole vectors: the input transform's loop along them has no
     * tail (whose short stores, read back as vectors, stalled it) */
    z.hp = 2 * z.th + z.h->a - 2;
    z.wp = (2 * z.tw + z.w->a - 2 + lanes - 1) / lanes * lanes;
    /* slots where there is work to share: else one, and no more memory */
    long slots = gemm_par(c) ? WINO_SLOTS : 1;
    long tile_bytes = z.e * (c->CI + cols) * (K->f32 ? 4 : 8);
    long rows = WINO_BLOCK_BYTES / slots / tile_bytes / z.tw;
    rows = rows < 1 ? 1 : rows > z.th ? z.th : rows;
    long blocks = (z.th + rows - 1) / rows;
    z.rows = (z.th + blocks - 1) / blocks;
    z.in_place = c->ph == 0 && c->pw == 0 && z.hp == c->H && z.wp == c->W;
    z.by_image = slots > 1 && c->N >= slots;
    z.slots = z.by_image || blocks >= slots ? slots : blocks;
    z.tb = (z.rows * z.tw + nr - 1) / nr * nr;
    /* 64 bytes more than an element's size, so that they do not fall in
     * one cache set */
    z.vs = c->CI * z.tb + 16;
    return z;
}

/* "4 * k", "(4 * k + 1)": element (k, l) of rows of n */
static const char *wino_at(int n, const char *k, int l)
{
    return l ? agc_fmt("(%d * %s + %d)", n, k, l) : agc_fmt("%d * %s", n, k);
}

/* A block's tiles as C: "tiles", or the number for a single block */
static const char *wino_tiles(const Wino *z)
{
    return z->rows < z->th ? "tiles" : agc_fmt("%ld", z->th * z->tw);
}

/* "F(2x2, 3x5)" */
static const char *wino_name(const Wino *z)
{
    return agc_fmt("F(2x2, %dx%d)", z->h->r, z->w->r);
}

/* v: the input's transform, v = B^T d B', for the nty tile rows from ty0
 * of the padded image xp: a tile row's input rows d0, d1... -> e = B^T d
 * (down the columns), then across, tile by tile, e B' -> v.  The loops run
 * along the rows (vectorised). */
static void wino_input(Kernels *K, Out *f, const Corr *c, const Wino *z)
{
    const char *T = K->T;
    int ah = z->h->a, aw = z->w->a;
    long wp = z->wp, vs = z->vs;
    const char *t[6];
    put(f, "/* v: the input's transform */\n");
    put(f, "for (long c = 0; c < %ld; c++)\n", c->CI);
    put(f, "    for (long r = 0; r < nty; r++) {\n");
    f->indent += 2;
    put(f, "const %s *restrict d = xp + (c * %ld + 2 * (ty0 + r)) * %ld;\n",
        T, z->hp, wp);
    /* e's even and odd columns apart: the loop across reads them at unit
     * stride (at stride 2, its loads took shuffles) */
    put(f, "%s e[%d][2][%ld];    /* [row][column parity][column / 2] */\n",
        T, ah, wp / 2);
    put(f, "for (long i = 0; i < %ld; i++) {\n", wp / 2);
    for (int p = 0; p < 2; p++) {
        for (int j = 0; j < ah; j++)
            t[j] = j * wp + p ? agc_fmt("d[%ld + 2 * i]", j * wp + p)
                              : "d[2 * i]";
        for (int k = 0; k < ah; k++)
            put(f, "    e[%d][%d][i] = %s;\n", k, p,
                lin(K, z->h->bt[k], 1, ah, t));
    }
    put(f, "}\n");
    put(f, "%s *restrict vt = v + c * %ld + r * %ld;\n", T, z->tb, z->tw);
    /* short rows of tiles: one loop along them for all of e's rows (with a
     * loop over the rows around it, gcc unrolled the loop along the tiles,
     * and then vectorised neither); long ones: a loop a row (all rows at
     * once, the 3x5 layer's ah * aw streams of stores ran slower) */
    int apart = z->tw > WINO_SHORT_ROW;
    if (apart)
        put(f, "for (int k = 0; k < %d; k++)\n    ", ah);
    put(f, "for (long i = 0; i < %ld; i++) {\n", z->tw);
    f->indent += 1 + apart;
    for (int k = 0; k < (apart ? 1 : ah); k++) {
        const char *row = apart ? "k" : agc_fmt("%d", k);
        for (int j = 0; j < aw; j++)
            t[j] = apart ? agc_fmt("e%d", j) : agc_fmt("e%d%d", k, j);
        for (int j = 0; j < aw; j += 2)
            put(f, "const %s %s = e[%s][0][i%s], %s = e[%s][1][i%s];\n", T,
                t[j], row, j ? agc_fmt(" + %d", j / 2) : "", t[j + 1], row,
                j ? agc_fmt(" + %d", j / 2) : "");
        for (int l = 0; l < aw; l++) {
            int el = aw * k + l;
            put(f, "vt[%s] = %s;\n", apart ? agc_fmt("%s * %ld + i",
                wino_at(aw, "k", l), vs) : el > 1 ? agc_fmt("%d * %ld + i",
                el, vs) : el ? agc_fmt("%ld + i", vs) : "i",
                lin(K, z->w->bt[l], 1, aw, t));
        }
    }
    f->indent -= 1 + apart;
    put(f, "%s}\n", apart ? "    " : "");
    f->indent -= 2;
    put(f, "    }\n");
}

/* The images padded at once (see wino_images) */
static long wino_pads(const Wino *z)
{
    return z->in_place ? 0 : z->by_image ? z->slots : 1;
}

/* The images of gy in panels at once, for the weight gradient */
static long wino_gqs(const Wino *z)
{
    return z->by_image ? z->slots : 1;
}

/* Whether a block of z is its slot's first (see wino_images) */
static const char *wino_first(const Wino *z)
{
    return z->by_image ? "n == k && ty0 == 0"
           : z->slots > 1 ? agc_fmt("n == 0 && ty0 == k * %ld", z->rows)
                          : "n == 0 && ty0 == 0";
}

/* "base + k * size": slot k's scratch, or "base" for a single slot */
static const char *wino_slot(const Wino *z, const char *base, long size)
{
    return z->slots > 1 ? agc_fmt("%s + k * %ld", base, size) : base;
}

/* The loops of the wrapper over the images and their blocks, each block
 * run by call, a format of its number of rows (%s), in variables: k, the
 * slot; n, the image; ty0, the block's first tile row; xk, the image
 * padded; and for the weight gradient (name, that of its kernel: else
 * NULL), gk, gy in panels.  With at least as many images as slots, a slot
 * takes whole images (image n in slot n % slots), padded in scratch of its
 * own; else the images run one by one, padded once, their blocks shared
 * out to the slots. */
static void wino_images(Kernels *K, Out *f, const Corr *c, const Wino *z,
                        int par, const char *name, const char *call)
{
    const char *T = K->T;
    int nr = gemm_nr(K);
    long pad = c->CI * z->hp * z->wp, pos = c->OH * c->OW;
    long gq = (c->CO + nr - 1) / nr * nr * pos;
    const char *x = agc_fmt("x + n * %ld", c->CI * c->H * c->W);
    const char *gy = agc_fmt("gy + n * %ld", c->CO * pos);
    if (z->by_image) {
        slots_open(f, c->N, z->slots, par);
        if (z->in_place)
            put(f, "const %s *restrict xk = %s;\n", T, x);
        else
            put(f, "%s *restrict xk = xp + k * %ld;\n", T, pad);
        if (name) {
            put(f, "%s *restrict gk = gq + k * %ld;\n", T, gq);
            emit_gy_panels(f, name, "gk", gy, c->CO, pos, nr, 0);
        }
        if (!z->in_place)
            emit_pad_copy(f, c->CI, "xk", z->hp, z->wp, c->ph, c->pw, x,
                          c->H, c->W, 0);
        put(f, "for (long ty0 = 0; ty0 < %ld; ty0 += %ld)\n", z->th, z->rows);
    } else {
        put(f, "for (long n = 0; n < %ld; n++) {\n", c->N);
        f->indent++;
        if (name)
            emit_gy_panels(f, name, "gq", gy, c->CO, pos, nr, par);
        if (!z->in_place)
            emit_pad_copy(f, c->CI, "xp", z->hp, z->wp, c->ph, c->pw, x,
                          c->H, c->W, par);
        put(f, "const %s *restrict xk = %s;\n", T, z->in_place ? x : "xp");
        if (name)
            put(f, "const %s *restrict gk = gq;\n", T);
        if (z->slots > 1) {
            put(f, "/* the blocks of tile rows: block i in slot i %% %ld */\n",
                z->slots);
            if (par)
                put_omp(f, "for schedule(static)");
            put(f, "for (long k = 0; k < %ld; k++)\n", z->slots);
        }
        f->indent += z->slots > 1;
        put(f, "for (long ty0 = %s; ty0 < %ld; ty0 += %ld)\n",
            z->slots > 1 ? agc_fmt("k * %ld", z->rows) : "0", z->th,
            z->slots * z->rows);
    }
    put(f, "    %s;\n", agc_fmt(call, agc_fmt("ty0 + %ld <= %ld ? %ld : "
        "%ld - ty0", z->rows, z->th, z->rows, z->th)));
    f->indent -= z->slots > 1 || z->by_image ? 2 : 1;
    put(f, "%s}\n", z->by_image ? "    " : "");
}

/* The forward (or, flip, the input gradient's) correlation c as Winograd
 * products, adding the bias b [CO] when bias, then its relu when relu. */
static Shared *wino_forward(Kernels *K, const Node *n, const char *what,
                            const Corr *c, int flip, int bias, int relu)
{
    const char *sig = agc_fmt("wino %d %d %d %s", flip, bias, relu,
                              corr_sig(0, c));
    Shared *s = find_wrapper(K, sig);
    if (s)
        return s;
    const char *T = K->T, *mm = mm_kernel(K);
    int nr = gemm_nr(K);
    long CI = c->CI, CO = c->CO, OH = c->OH, OW = c->OW;
    Wino z = wino_plan(K, c, CO);
    const Wino1 *wh = z.h, *ww = z.w;
    int ah = wh->a, aw = ww->a, rh = wh->r, rw = ww->r, E = z.e;
    long th = z.th, tw = z.tw, tb = z.tb, vs = z.vs;
    long ms = CO * tb + 16;         /* from one of m's elements to the next */
    const char *t[6];
    s = new_wrapper(K, sig, agc_fmt("agc_conv%d_%s", n->id,
                                    flip ? "input" : "forward"));
    add_scr(s, "u", E * CO * CI, agc_fmt(flip
            ? "weights flipped, transformed: [%d][x channel][y channel]"
            : "weights transformed: [%d][out channel][in channel]", E));
    if (wino_pads(&z))          /* none for an input read in place */
        add_pad_scr(s, wino_pads(&z), CI * z.hp * z.wp, flip ? "gy" : "x");
    add_scr(s, "v", z.slots * E * vs, agc_fmt("blocks' input transformed: "
            "[%ld][%d][channel][tile]", z.slots, E));
    add_scr(s, "m", z.slots * E * ms, agc_fmt("blocks' products: "
            "[%ld][%d][out channel][tile]", z.slots, E));
    kernels_comment(K, n, what);
    Out *f = &K->fns;
    /* u = G g G'^T, down the columns, then across, an out channel at a
     * time: its taps first gathered by channel, for the transform's loop
     * along the channels to vectorise (a channel at a time, its stores
     * were scalars, CO * CI elements apart: the 64-channel layer's
     * forward spent 16% of its time there) */
    long kk = rh * rw;
    put(f, "/* u[e][o][c], the weights' transform, for out channel o */\n");
    put(f, "static void %s_u(%s *restrict u, const %s *restrict w, long o)\n"
        "{\n", s->name, T, T);
    f->indent++;
    put(f, "%s g[%ld][%ld];    /* [tap][channel] */\n", T, kk, CI);
    put(f, "for (long c = 0; c < %ld; c++)\n", CI);
    put(f, "    for (int t = 0; t < %ld; t++)\n", kk);
    if (flip)   /* out channel o is w's in channel, c its out channel */
        put(f, "        g[t][c] = w[(c * %ld + o) * %ld + %ld - t];\n", CO,
            kk, kk - 1);
    else
        put(f, "        g[t][c] = w[(o * %ld + c) * %ld + t];\n", CI, kk);
    put(f, "for (long c = 0; c < %ld; c++) {\n", CI);
    f->indent++;
    put(f, "%s a[%d][%d];\n", T, ah, rw);
    put(f, "for (int j = 0; j < %d; j++) {\n", rw);
    for (int i = 0; i < rh; i++)
        t[i] = i ? agc_fmt("g[%d + j][c]", i * rw) : "g[j][c]";
    for (int k = 0; k < ah; k++)
        put(f, "    a[%d][j] = %s;\n", k, lin(K, wh->g[k], 1, rh, t));
    put(f, "}\n");
    put(f, "%s *restrict uo = u + o * %ld + c;\n", T, CI);
    put(f, "for (int i = 0; i < %d; i++) {\n", ah);
    for (int j = 0; j < rw; j++)
        t[j] = agc_fmt("a[i][%d]", j);
    for (int l = 0; l < aw; l++)
        put(f, "    uo[%s * %ld] = %s;\n", wino_at(aw, "i", l), CO * CI,
            lin(K, ww->g[l], 1, rw, t));
    put(f, "}\n");
    f->indent--;
    put(f, "}\n");
    f->indent--;
    put(f, "}\n\n");
    /* y = A^T m A', a tile row of an out channel at a time, in a function
     * of its own: its pointers restrict (in the wrapper's OpenMP region
     * they would not be, and gcc would not vectorise the loop) */
    put(f, "/* y0, y1: two rows of an out channel's output = the transform of "
        "a row of its\n * tiles' products m[e * %ld + i]%s%s */\n", ms,
        bias ? ", plus bo" : "", relu ? ", then its relu" : "");
    put(f, "static void %s_row(%s *restrict y0, %s *restrict y1, const %s "
        "*restrict mr%s%s)\n{\n", s->name, T, T, T,
        bias ? agc_fmt(", %s bo", T) : "", OH % 2 ? ", int two" : "");
    /* two: the tiles' second row is inside the output (for an odd height,
     * the last tile row's is not) */
    f->indent++;
    put(f, "for (long i = 0; i < %ld; i++) {\n", tw);
    f->indent++;
    put(f, "%s a0[%d], a1[%d];\n", T, aw, aw);
    put(f, "for (int j = 0; j < %d; j++) {\n", aw);
    for (int k = 0; k < ah; k++)
        t[k] = agc_fmt("mr[(%d + j) * %ld + i]", k * aw, ms);
    t[0] = agc_fmt("mr[j * %ld + i]", ms);
    put(f, "    a0[j] = %s;\n", lin(K, wh->at[0], 1, ah, t));
    put(f, "    a1[j] = %s;\n}\n", lin(K, wh->at[1], 1, ah, t));
    for (int p = 0; p < 2; p++) {
        for (int j = 0; j < aw; j++)
            t[j] = agc_fmt("a%d[%d]", p, j);
        put(f, "%s y%d0 = %s;\n", T, p, lin(K, ww->at[0], 1, aw, t));
        put(f, "%s y%d1 = %s;\n", T, p, lin(K, ww->at[1], 1, aw, t));
    }
    if (bias)
        put(f, "y00 = y00 + bo, y01 = y01 + bo, y10 = y10 + bo, "
            "y11 = y11 + bo;\n");
    if (relu)
        put(f, "y00 = !(y00 > 0) ? 0 : y00, y01 = !(y01 > 0) ? 0 : y01;\n"
            "y10 = !(y10 > 0) ? 0 : y10, y11 = !(y11 > 0) ? 0 : y11;\n");
    /* an odd width: the last tile has one column */
    const char *col = OW % 2 ? agc_fmt("if (i < %ld)\n    ", tw - 1) : "";
    put(f, "y0[2 * i] = y00;\n%sy0[2 * i + 1] = y01;\n", col);
    if (OH % 2)
        put(f, "if (two) {\n");
    put(f, "%sy1[2 * i] = y10;\n%s%sy1[2 * i + 1] = y11;\n", OH % 2 ? "    " : "",
        OH % 2 ? "    " : "", OW % 2 ? agc_fmt("if (i < %ld)\n%s    ", tw - 1,
                                                 OH % 2 ? "    " : "") : "");
    if (OH % 2)
        put(f, "}\n");
    f->indent--;
    put(f, "}\n");
    f->indent--;
    put(f, "}\n\n");
    /* m[e] = u[e] v[e]: 6 out channels by a panel of 16 tiles a call, in
     * a function that gcc does not inline: inlined, the transforms'
     * constants held registers through matmul's loop, whose sums then
     * spilled (the 3x5 layer's forward+backward ran 18% slower) */
    const char *nt = wino_tiles(&z);
    put(f, "/* m: a block's %d products over the channels, for %s tiles */\n",
        E, nt);
    put(f, "static AGC_NOINLINE void %s_mm(%s *restrict m, const %s *restrict "
        "u, const %s *restrict v%s)\n{\n", s->name, T, T, T,
        z.rows < th ? ",\n    long tiles" : "");
    f->indent++;
    put(f, "for (long e = 0; e < %d; e++)\n", E);
    put(f, "    for (long o = 0; o < %ld; o += 6)\n", CO);
    put(f, "        for (long t = 0; t < %s; t += %d)\n", nt, nr);
    put(f, "            %s(%ld, u + e * %ld + o * %ld, %ld, 1, v + e * %ld + "
        "t, %ld,\n                m + e * %ld + o * %ld + t, %ld, %s,\n"
        "                %s - t < %d ? (int)(%s - t) : %d, 1);\n",
        mm, CI, CO * CI, CI, CI, vs, tb, ms, tb, tb,
        CO % 6 ? agc_fmt("o + 6 <= %ld ? 6 : (int)(%ld - o)", CO, CO) : "6",
        nt, nr, nt, nr);
    f->indent--;
    put(f, "}\n\n");
    /* a block, start to end, in a function whose pointers restrict */
    put(f, "/* y (an image's): the nty tile rows from ty0, from the padded "
        "image xp, in the\n * block's scratch v, m */\n");
    put(f, "static AGC_NOINLINE void %s_block(%s *restrict y, const %s "
        "*restrict xp, const %s *restrict u,\n    %s%s *restrict v, %s "
        "*restrict m, long ty0, long nty)\n{\n", s->name, T, T, T,
        bias ? agc_fmt("const %s *restrict b, ", T) : "", T, T);
    f->indent++;
    wino_input(K, f, c, &z);
    put(f, "%s_mm(m, u, v%s);\n", s->name,
        z.rows < th ? agc_fmt(", nty * %ld", tw) : "");
    put(f, "/* y: the products' transform%s */\n",
        bias ? (relu ? ", plus b, then its relu" : ", plus b")
             : relu ? ", then its relu" : "");
    put(f, "for (long o = 0; o < %ld; o++)\n", CO);
    put(f, "    for (long r = 0; r < nty; r++) {\n");
    put(f, "        %s *y0 = y + (o * %ld + 2 * (ty0 + r)) * %ld;\n", T, OH,
        OW);
    put(f, "        %s_row(y0, y0 + %ld, m + o * %ld + r * %ld%s%s);\n",
        s->name, OW, tb, tw, bias ? ", b[o]" : "",
        OH % 2 ? agc_fmt(", 2 * (ty0 + r) + 1 < %ld", OH) : "");
    put(f, "    }\n");
    f->indent--;
    put(f, "}\n\n");
    put(f, "/* %s%s%s as Winograd %s products: %ld x %ld tiles, "
        "blocks of %ld rows */\n", what, bias ? " plus the bias b" : "",
        relu ? ", then its relu" : "", wino_name(&z), th, tw, z.rows);
    put(f, "static void %s(%s *restrict y, const %s *restrict x, const %s "
        "*restrict w,\n    %s%s *restrict u, %s%s *restrict v, %s *restrict "
        "m)\n{\n", s->name, T, T, T,
        bias ? agc_fmt("const %s *restrict b, ", T) : "", T,
        z.in_place ? "" : agc_fmt("%s *restrict xp, ", T), T, T);
    f->indent++;
    int par = gemm_par(c);
    par_open(f, par);
    put(f, "/* u: the weights' transform */\n");
    if (par)
        put_omp(f, "for schedule(static)");
    put(f, "for (long o = 0; o < %ld; o++)\n", CO);
    put(f, "    %s_u(u, w, o);\n", s->name);
    wino_images(K, f, c, &z, par, NULL, agc_fmt(
        "%s_block(y + n * %ld, xk, u, %s%s, %s, ty0,\n"
        "        %%s)", s->name, CO * OH * OW, bias ? "b, " : "",
        wino_slot(&z, "v", E * vs), wino_slot(&z, "m", E * ms)));
    par_close(f, par);
    f->indent--;
    put(f, "}\n\n");
    return s;
}

/* The weight gradient of c (stride 1) as Winograd products, F(r x s,
 * 2x2) for an r x s window.  dw[o][c] sums, over the tiles, the
 * correlation of the tile's block of input d with its 2x2 block of gy, g:
 * the forward's algorithm transposed,
 *     dw = G^T [ the sum over tiles of (A g A'^T) .* (B^T d B') ] G'.
 * Each image's gy is first put in panels of 16 channels (gq) as the direct
 * kernel does; then per block of tile rows, v = B^T d B' as in the
 * forward, gt = A g A'^T from gq, a vector of channels at a time, and
 *     s[e][c][o] (=, for the slot's first block, else +=) the sum over the
 *                block's tiles of v[e][c][tile] * gt[e][tile][o]
 * (matmul's kernel, 6 in channels by 16 out channels a call); at the end
 * dw = G^T (the sum of the slots' s) G'. */
static Shared *wino_weight(Kernels *K, const Node *n, const Corr *c)
{
    const char *sig = agc_fmt("winow %s", corr_sig(1, c));
    Shared *s = find_wrapper(K, sig);
    if (s)
        return s;
    const char *T = K->T, *mm = mm_kernel(K);
    int nr = gemm_nr(K);
    long CI = c->CI, CO = c->CO, OH = c->OH, OW = c->OW, pos = OH * OW;
    long panels = (CO + nr - 1) / nr, cop = panels * nr;
    Wino z = wino_plan(K, c, cop);
    const Wino1 *wh = z.h, *ww = z.w;
    int ah = wh->a, aw = ww->a, rh = wh->r, rw = ww->r, E = z.e;
    long tw = z.tw, tb = z.tb, vs = z.vs;
    long gs = tb * cop + 16, ss = CI * cop + 16;    /* as vs, for gt, s */
    const char *t[6];
    s = new_wrapper(K, sig, agc_fmt("agc_conv%d_weight", n->id));
    add_scr(s, "gq", wino_gqs(&z) * panels * pos * nr, wino_gqs(&z) > 1
            ? agc_fmt("%ld images' gy in panels [p][oh][ow][16 channels]",
                      wino_gqs(&z))
            : "an image's gy in panels [p][oh][ow][16 channels]");
    if (wino_pads(&z))
        add_pad_scr(s, wino_pads(&z), CI * z.hp * z.wp, "x");
    add_scr(s, "v", z.slots * E * vs, agc_fmt("blocks' input transformed: "
            "[%ld][%d][channel][tile]", z.slots, E));
    add_scr(s, "gt", z.slots * E * gs, agc_fmt("blocks' gy transformed: "
            "[%ld][%d][tile][out channel]", z.slots, E));
    add_scr(s, "s", z.slots * E * ss, agc_fmt("the slots' sums: "
            "[%ld][%d][in channel][out channel]", z.slots, E));
    kernels_comment(K, n, "gradient of the weight");
    gy_panels_fn(K, s->name, pos);
    Out *f = &K->fns;
    /* gt = A g A'^T for a tile's 16 out channels, in a function of its own
     * for its restrict pointers (see NAME_row above); for an odd size,
     * told whether g's second column (c1), row (r1) is inside gy */
    const char *odd = OW % 2 && OH % 2 ? ", int c1, int r1"
                      : OW % 2 ? ", int c1" : OH % 2 ? ", int r1" : "";
    put(f, "/* gt[e * %ld + j] = (A g A'^T)[e] for the 2x2 block g of gy in "
        "panels at g0\n * (rows %ld apart), channels j < %d%s */\n", gs,
        OW * nr, nr, *odd ? "; its second column when c1, row when r1, "
        "else zeros" : "");
    put(f, "static void %s_gy(%s *restrict gt, const %s *restrict g0%s)\n{\n",
        s->name, T, T, odd);
    f->indent++;
    put(f, "for (int j = 0; j < %d; j++) {\n", nr);
    f->indent++;
    /* g's elements outside gy (an odd size's last tiles) are zeros */
    const char *c01 = OW % 2 ? "c1" : NULL, *c10 = OH % 2 ? "r1" : NULL;
    const char *c11 = c01 && c10 ? "r1 && c1" : c01 ? c01 : c10;
    const char *at[3] = {agc_fmt("g0[%d + j]", nr),
                         agc_fmt("g0[%ld + j]", OW * nr),
                         agc_fmt("g0[%ld + j]", (OW + 1) * nr)};
    const char *cond[3] = {c01, c10, c11};
    for (int k = 0; k < 3; k++)
        if (cond[k])
            at[k] = agc_fmt("%s ? %s : 0", cond[k], at[k]);
    put(f, "const %s g00 = g0[j], g01 = %s;\n", T, at[0]);
    put(f, "const %s g10 = %s, g11 = %s;\n", T, at[1], at[2]);
    /* h = A g, down the columns (A's rows are A^T's columns) */
    put(f, "const %s h[%d][2] = {\n", T, ah);
    for (int a = 0; a < ah; a++) {
        const char *h[2];
        for (int q = 0; q < 2; q++) {
            t[0] = agc_fmt("g0%d", q);
            t[1] = agc_fmt("g1%d", q);
            h[q] = lin(K, &wh->at[0][a], 6, 2, t);
        }
        put(f, "    {%s, %s},\n", h[0], h[1]);
    }
    put(f, "};\n");
    put(f, "for (int a = 0; a < %d; a++) {\n", ah);
    t[0] = "h[a][0]";
    t[1] = "h[a][1]";
    for (int b = 0; b < aw; b++)
        put(f, "    gt[%s * %ld + j] = %s;\n", wino_at(aw, "a", b), gs,
            lin(K, &ww->at[0][b], 6, 2, t));
    put(f, "}\n");
    f->indent--;
    put(f, "}\n");
    f->indent--;
    put(f, "}\n\n");
    /* s[e] (+)= v[e] gt[e]: 6 in channels by 16 out channels a call, in a
     * function gcc does not inline (see wino_forward's) */
    const char *nt = wino_tiles(&z);
    put(f, "/* s (first: =, else +=) a block's %d products over its %s tiles "
        "*/\n", E, nt);
    put(f, "static AGC_NOINLINE void %s_mm(%s *restrict s, const %s *restrict "
        "v, const %s *restrict gt,\n    %sint first)\n{\n", s->name,
        T, T, T, z.rows < z.th ? "long tiles, " : "");
    f->indent++;
    put(f, "for (long e = 0; e < %d; e++)\n", E);
    put(f, "    for (long c = 0; c < %ld; c += 6)\n", CI);
    put(f, "        for (long p = 0; p < %ld; p++)\n", panels);
    put(f, "            %s(%s, v + e * %ld + c * %ld, %ld, 1, gt + e * "
        "%ld + p * %d, %ld,\n                s + e * %ld + c * %ld + p * %d, "
        "%ld, %s, %d, first);\n", mm, nt, vs, tb, tb, gs, nr, cop, ss, cop,
        nr, cop,
        CI % 6 ? agc_fmt("c + 6 <= %ld ? 6 : (int)(%ld - c)", CI, CI) : "6",
        nr);
    f->indent--;
    put(f, "}\n\n");
    put(f, "/* s (first: =, else +=) the sums of the nty tile rows from ty0, "
        "from the padded\n * image xp and gy in panels gq, in the block's "
        "scratch v, gt */\n");
    put(f, "static AGC_NOINLINE void %s_block(%s *restrict s, const %s "
        "*restrict xp, const %s *restrict gq,\n    %s *restrict v, %s "
        "*restrict gt, long ty0, long nty, int first)\n{\n", s->name, T, T,
        T, T, T);
    f->indent++;
    wino_input(K, f, c, &z);
    /* the panels innermost: a run of whole tiles at a time */
    put(f, "/* gt: gy's transform */\n");
    put(f, "for (long r = 0; r < nty; r++)\n");
    put(f, "    for (long i = 0; i < %ld; i++)\n", tw);
    put(f, "        for (long p = 0; p < %ld; p++)\n", panels);
    put(f, "            %s_gy(gt + (r * %ld + i) * %ld + p * %d,\n"
        "                gq + (p * %ld + 2 * (ty0 + r) * %ld + 2 * i) * %d%s);\n",
        s->name, tw, cop, nr, pos, OW, nr,
        agc_fmt("%s%s", OW % 2 ? agc_fmt(", 2 * i + 1 < %ld", OW) : "",
                OH % 2 ? agc_fmt(", 2 * (ty0 + r) + 1 < %ld", OH) : ""));
    put(f, "%s_mm(s, v, gt, %sfirst);\n", s->name,
        z.rows < z.th ? agc_fmt("nty * %ld, ", tw) : "");
    f->indent--;
    put(f, "}\n\n");
    put(f, "/* dw %s as Winograd F(%dx%d, 2x2) products: %ld x %ld tiles, "
        "blocks of %ld rows */\n", shape_str(&n->shape), rh, rw, z.th, tw,
        z.rows);
    put(f, "static void %s(%s *restrict dw, const %s *restrict x, const %s "
        "*restrict gy,\n    %s *restrict gq, %s%s *restrict v, %s *restrict "
        "gt, %s *restrict s)\n{\n", s->name, T, T, T, T,
        z.in_place ? "" : agc_fmt("%s *restrict xp, ", T), T, T, T);
    f->indent++;
    int par = gemm_par(c);
    par_open(f, par);
    wino_images(K, f, c, &z, par, s->name, agc_fmt(
        "%s_block(%s, xk, gk, %s, %s, ty0,\n        %%s, %s)", s->name,
        wino_slot(&z, "s", E * ss), wino_slot(&z, "v", E * vs),
        wino_slot(&z, "gt", E * gs), wino_first(&z)));
    /* dw = G^T s G': down the columns, then across (G^T's rows are G's
     * columns) */
    put(f, "/* dw: the sums' transform */\n");
    if (par)
        put_omp(f, "for collapse(2) schedule(static)");
    put(f, "for (long o = 0; o < %ld; o++)\n", CO);
    put(f, "    for (long c = 0; c < %ld; c++) {\n", CI);
    f->indent += 2;
    put(f, "const %s *restrict so = s + c * %ld + o;\n", T, cop);
    put(f, "%s se[%d], q[%d][%d];\n", T, E, rh, aw);
    put(f, "for (int e = 0; e < %d; e++)%s\n", E,
        z.slots > 1 ? "    /* the slots' sums, in order */" : "");
    const char *sum = agc_fmt("so[e * %ld]", ss);
    for (long k = 1; k < z.slots; k++)
        sum = agc_fmt("%s + so[%ld + e * %ld]", sum, k * E * ss, ss);
    put(f, "    se[e] = %s;\n", sum);
    put(f, "for (int b = 0; b < %d; b++) {\n", aw);
    for (int a = 0; a < ah; a++)
        t[a] = a ? agc_fmt("se[%d + b]", a * aw) : "se[b]";
    for (int k = 0; k < rh; k++)
        put(f, "    q[%d][b] = %s;\n", k, lin(K, &wh->g[0][k], 5, ah, t));
    put(f, "}\n");
    put(f, "%s *restrict d = dw + (o * %ld + c) * %d;\n", T, CI, rh * rw);
    put(f, "for (int k = 0; k < %d; k++) {\n", rh);
    for (int b = 0; b < aw; b++)
        t[b] = agc_fmt("q[k][%d]", b);
    for (int l = 0; l < rw; l++)
        put(f, "    d[%s] = %s;\n", l ? agc_fmt("%d * k + %d", rw, l)
                                       : agc_fmt("%d * k", rw),
            lin(K, &ww->g[0][l], 5, aw, t));
    put(f, "}\n");
    f->indent -= 2;
    put(f, "    }\n");
    par_close(f, par);
    f->indent--;
    put(f, "}\n\n");
    return s;
}

/* x / s rounded down and up, for s > 0 and any x */
static long fdiv(long x, long s)
{
    return x >= 0 ? x / s : -((-x + s - 1) / s);
}

static long cdiv(long x, long s)
{
    return -fdiv(-x, s);
}

/* The phases of one dim of a strided input gradient: for each phase a <
 * s, the indices m of the input i = a - p + s m inside [0, n), and the
 * taps k (k d = a mod s) with their offsets e = (a - k d) / s into gy. */
typedef struct Phase {
    long lo, hi;                    /* m in [lo, hi] */
    long nk, k[32], e[32];
} Phase;

static void phases(long n, long s, long d, long p, long taps, Phase *ph)
{
    for (long a = 0; a < s; a++) {
        Phase *q = &ph[a];
        q->lo = cdiv(p - a, s);
        q->hi = fdiv(n - 1 + p - a, s);
        q->nk = 0;
        for (long k = 0; k < taps; k++)
            if (((k * d - a) % s + s) % s == 0) {
                q->k[q->nk] = k;
                q->e[q->nk++] = (a - k * d) / s;
            }
    }
}

/* Whether the input gradient of forward correlation f, at a stride,
 * runs through gemm_input_phases (whose output channels are f's input
 * channels) */
static int use_gemm_phases(const Corr *f)
{
    return (f->sh > 1 || f->sw > 1) && f->KH <= 32 && f->KW <= 32 &&
           f->sh <= 8 && f->sw <= 8 && f->CI >= GEMM_MIN_CHANNELS &&
           f->OH * f->OW * f->G * f->CO * f->CI * f->KH * f->KW >=
               GEMM_MIN_WORK;
}

/* The input gradient of forward correlation f at a stride (sh, sw), as
 * sh * sw correlations at stride 1, one per phase (a, b): the input rows
 * ih = a - ph + sh m and columns iw = b - pw + sw q, which the taps kh
 * with kh dh = a (mod sh) and kw with kw dw = b (mod sw) reach, from gy
 * rows m + (a - kh dh) / sh and columns q + (b - kw dw) / sw.  gy is
 * copied an image at a time into a buffer zero around it, so that every
 * tap reads inside; a phase that no tap reaches stays zero. */
static Shared *gemm_input_phases(Kernels *K, const Node *n, const char *what,
                                 const Corr *f)
{
    const char *sig = agc_fmt("gemmi %s", corr_sig(0, f));
    Shared *s = find_wrapper(K, sig);
    if (s)
        return s;
    gemm_kernel(K, 0);
    const char *T = K->T;
    int nr = gemm_nr(K), par = gemm_par(f), slots = gemm_slots(f);
    long CO = f->CO, CI = f->CI, kk = f->KH * f->KW;
    long panels = (CI + nr - 1) / nr;
    Phase rp[8], cp[8];
    phases(f->H, f->sh, f->dh, f->ph, f->KH, rp);
    phases(f->W, f->sw, f->dw, f->pw, f->KW, cp);
    /* the rows and columns of gy read: where its copy sits */
    long rmin = 0, rmax = f->OH - 1, cmin = 0, cmax = f->OW - 1;
    int empty = 0;
    for (long a = 0; a < f->sh; a++)
        for (long i = 0; i < rp[a].nk && rp[a].lo <= rp[a].hi; i++) {
            rmin = rp[a].lo + rp[a].e[i] < rmin ? rp[a].lo + rp[a].e[i] : rmin;
            rmax = rp[a].hi + rp[a].e[i] > rmax ? rp[a].hi + rp[a].e[i] : rmax;
        }
    for (long b = 0; b < f->sw; b++)
        for (long i = 0; i < cp[b].nk && cp[b].lo <= cp[b].hi; i++) {
            cmin = cp[b].lo + cp[b].e[i] < cmin ? cp[b].lo + cp[b].e[i] : cmin;
            cmax = cp[b].hi + cp[b].e[i] > cmax ? cp[b].hi + cp[b].e[i] : cmax;
        }
    for (long a = 0; a < f->sh; a++)
        for (long b = 0; b < f->sw; b++)
            empty |= (rp[a].nk == 0 && rp[a].lo <= rp[a].hi) ||
                     (cp[b].nk == 0 && cp[b].lo <= cp[b].hi);
    long th = -rmin, tw = -cmin, hg = rmax - rmin + 1, wg = cmax - cmin + 1;
    s = new_wrapper(K, sig, agc_fmt("agc_conv%d_input", n->id));
    add_scr(s, "wpack", f->G * panels * CO * kk * nr,
            "weights in panels per phase [g][p][o][tap][16 channels]");
    add_pad_scr(s, slots, f->G * CO * hg * wg, "gy");
    kernels_comment(K, n, what);
    Out *o = &K->fns;
    put(o, "/* %s at stride (%ld, %ld): %ld correlations at stride 1, one "
        "per phase of\n * the input's rows and columns, each over the taps "
        "that reach it; w packed\n * in panels of %d channels per phase into "
        "wp, each image of gy padded\n * into gp, then agc_conv_6x%d */\n",
        what, f->sh, f->sw, f->sh * f->sw, nr, nr);
    put(o, "static void %s(%s *restrict dx, const %s *restrict gy, const %s "
        "*restrict w,\n    %s *restrict wp, %s *restrict gp)\n{\n", s->name,
        T, T, T, T, T);
    o->indent++;
    /* per phase: the taps' offsets into gp and into a window of w */
    long wofs[64], nt[64];
    long off = 0;
    for (long a = 0; a < f->sh; a++)
        for (long b = 0; b < f->sw; b++) {
            long P = a * f->sw + b, t = 0;
            nt[P] = rp[a].nk * cp[b].nk;
            wofs[P] = off;
            off += f->G * panels * CO * nt[P] * nr;
            if (!nt[P] || rp[a].lo > rp[a].hi || cp[b].lo > cp[b].hi)
                continue;
            put(o, "static const long tap%ld[%ld] = {", P, nt[P]);
            for (long i = 0; i < rp[a].nk; i++)
                for (long j = 0; j < cp[b].nk; j++)
                    put(o, "%s%ld", t++ ? ", " : "",
                        rp[a].e[i] * wg + cp[b].e[j]);
            put(o, "};\n");
            put(o, "static const long wtap%ld[%ld] = {", P, nt[P]);
            t = 0;
            for (long i = 0; i < rp[a].nk; i++)
                for (long j = 0; j < cp[b].nk; j++)
                    put(o, "%s%ld", t++ ? ", " : "",
                        rp[a].k[i] * f->KW + cp[b].k[j]);
            put(o, "};\n");
        }
    par_open(o, par);
    for (long P = 0; P < f->sh * f->sw; P++) {
        long a = P / f->sw, b = P % f->sw;
        if (!nt[P] || rp[a].lo > rp[a].hi || cp[b].lo > cp[b].hi)
            continue;
        if (par)
            put_omp(o, "for collapse(3) schedule(static)");
        put(o, "for (long g = 0; g < %ld; g++)\n", f->G);
        put(o, "    for (long p = 0; p < %ld; p++)\n", panels);
        put(o, "        for (long o = 0; o < %ld; o++)\n", CO);
        put(o, "            for (long t = 0; t < %ld; t++)\n", nt[P]);
        put(o, "                for (long j = 0; j < %d; j++) {\n", nr);
        put(o, "                    const long c = p * %d + j;\n", nr);
        put(o, "                    wp[%ld + (((g * %ld + p) * %ld + o) * %ld + "
            "t) * %d + j] = c >= %ld ? 0 :\n", wofs[P], panels, CO, nt[P],
            nr, CI);
        put(o, "                        w[((g * %ld + o) * %ld + c) * %ld + "
            "wtap%ld[t]];\n", CO, CI, kk, P);
        put(o, "                }\n");
    }
    /* with slots, as gemm_forward's: slot k pads and runs images k, k +
     * slots... in gk; else the images one by one, each shared out */
    int share = par && slots == 1;
    if (slots > 1) {
        slots_open(o, f->N, slots, par);
        put(o, "%s *restrict gk = gp + k * %ld;\n", T, f->G * CO * hg * wg);
    } else {
        put(o, "for (long n = 0; n < %ld; n++) {\n", f->N);
        o->indent++;
    }
    const char *dxn = agc_fmt("dx + n * %ld", f->G * CI * f->H * f->W);
    if (empty) {
        if (share)
            put_omp(o, "single");
        put(o, "memset(%s, 0, %ld * sizeof *dx);\n", dxn,
            f->G * CI * f->H * f->W);
    }
    const char *gv = slots > 1 ? "gk" : "gp";
    emit_pad_copy(o, f->G * CO, gv, hg, wg, th, tw,
                  agc_fmt("gy + n * %ld", f->G * CO * f->OH * f->OW), f->OH,
                  f->OW, share);
    for (long P = 0; P < f->sh * f->sw; P++) {
        long a = P / f->sw, b = P % f->sw;
        const Phase *r = &rp[a], *q = &cp[b];
        if (!nt[P] || r->lo > r->hi || q->lo > q->hi)
            continue;
        long cols = q->hi - q->lo + 1, npos = (r->hi - r->lo + 1) * cols;
        put(o, "/* phase (%ld, %ld): input rows %ld + %ld m, columns %ld + "
            "%ld q */\n", a, b, a - f->ph, f->sh, b - f->pw, f->sw);
        if (share)
            put_omp(o, "for collapse(3) schedule(static)");
        put(o, "for (long g = 0; g < %ld; g++)\n", f->G);
        put(o, "    for (long p = 0; p < %ld; p++)\n", panels);
        put(o, "        for (long t = 0; t < %ld; t += 6)\n", npos);
        put(o, "            agc_conv_6x%d(%s + g * %ld + %ld, %ld, 1, %ld, %ld, "
            "tap%ld, %ld,\n                wp + %ld + (g * %ld + p) * %ld, NULL, 0,\n"
            "                %s + (g * %ld + p * %d) * %ld + %ld,\n"
            "                %ld, %ld, %ld, t, %ld, %s, %s);\n", nr, gv,
            CO * hg * wg, (r->lo + th) * wg + q->lo + tw, wg, CO, hg * wg, P,
            nt[P], wofs[P], panels, CO * nt[P] * nr, dxn, CI, nr, f->H * f->W,
            (a - f->ph + f->sh * r->lo) * f->W + b - f->pw + f->sw * q->lo,
            f->H * f->W, f->sh * f->W, f->sw, cols,
            npos % 6 ? agc_fmt("t + 6 <= %ld ? 6 : (int)(%ld - t)", npos,
                               npos) : "6",
            CI % nr ? agc_fmt("p < %ld ? %d : %ld", panels - 1, nr,
                              CI - (panels - 1) * nr)
                    : agc_fmt("%d", nr));
    }
    o->indent -= slots > 1 ? 2 : 1;
    put(o, "%s}\n", slots > 1 ? "    " : "");
    par_close(o, par);
    o->indent--;
    put(o, "}\n\n");
    return s;
}

/* ---- depthwise planes ----
 *
 * A layer with one input channel per group at stride 1 (depthwise, with
 * its channel multiplier) runs a plane at a time: each group's input
 * plane is copied with its padding into a zero-bordered buffer, so that
 * every output row is one loop along the row with the window's taps
 * written out (weights as scalars), which compilers vectorise, and no
 * tap is tested against the bounds.  The weight gradient sums each tap's
 * products per column over the rows, then over the columns. */
enum { PLANE_MAX_TAPS = 49 };

static int use_plane(const Corr *c)
{
    return c->CI <= 4 && c->CO < VEC_MIN_CHANNELS && c->sh == 1 &&
           c->sw == 1 && c->ph >= 0 && c->pw >= 0 &&
           c->KH * c->KW <= PLANE_MAX_TAPS && c->G > 1;
}

/* sum over c < CI and the taps of rows r<c>_<kh>[ow + kw dw] * w<c>_<t>,
 * as C */
static const char *plane_sum(const Corr *c)
{
    const char *e = "";
    for (long ci = 0; ci < c->CI; ci++)
        for (long kh = 0; kh < c->KH; kh++)
            for (long kw = 0; kw < c->KW; kw++)
                e = agc_fmt("%s%sr%ld_%ld[ow%s] * w%ld_%ld", e, *e ? " + " : "",
                            ci, kh, kw ? agc_fmt(" + %ld", kw * c->dw) : "",
                            ci, kh * c->KW + kw);
    return e;
}

/* The plane kernels' loop over the images: with slots (gemm_slots), slot
 * k pads images k, k + slots... into its own xk, a thread a slot; else
 * each image padded into xk = xp, its planes shared out */
static void plane_images(Out *o, const Corr *c, int slots, int par,
                         const char *T, long plane, const char *src,
                         long top, long left)
{
    long hp, wp;
    gemm_extent(c, &hp, &wp);
    if (slots > 1) {
        slots_open(o, c->N, slots, par);
        put(o, "%s *restrict xk = xp + k * %ld;\n", T,
            c->G * c->CI * plane);
    } else {
        put(o, "for (long n = 0; n < %ld; n++) {\n", c->N);
        o->indent++;
        put(o, "%s *restrict xk = xp;\n", T);
    }
    emit_pad_copy(o, c->G * c->CI, "xk", hp, wp, top, left, src, c->H, c->W,
                  par && slots == 1);
}

static void plane_images_end(Out *o, int slots)
{
    o->indent -= slots > 1 ? 2 : 1;
    put(o, "%s}\n", slots > 1 ? "    " : "");
}

/* The forward (or, flip, the input gradient's) correlation c by planes */
static Shared *plane_forward(Kernels *K, const Node *n, const char *what,
                             const Corr *c, int flip, int bias, int relu)
{
    const char *sig = agc_fmt("plane %d %d %d %s", flip, bias, relu,
                              corr_sig(0, c));
    Shared *s = find_wrapper(K, sig);
    if (s)
        return s;
    const char *T = K->T;
    long hp, wp, kk = c->KH * c->KW;
    gemm_extent(c, &hp, &wp);
    s = new_wrapper(K, sig, agc_fmt("agc_conv%d_%s", n->id,
                                    flip ? "input" : "forward"));
    int slots = gemm_slots(c);
    add_pad_scr(s, slots, c->G * c->CI * hp * wp, flip ? "gy" : "x");
    kernels_comment(K, n, what);
    Out *o = &K->fns;
    put(o, "/* %s%s%s, a plane at a time: each image padded into xp, then "
        "rows\n * along the row, the window's taps written out */\n",
        what, bias ? " plus the bias b" : "", relu ? ", then its relu" : "");
    put(o, "static void %s(%s *restrict y, const %s *restrict x, const %s "
        "*restrict w,\n    %s%s *restrict xp)\n{\n", s->name, T, T, T,
        bias ? agc_fmt("const %s *restrict b, ", T) : "", T);
    o->indent++;
    int par = gemm_par(c);
    par_open(o, par);
    const char *src = agc_fmt("x + n * %ld", c->G * c->CI * c->H * c->W);
    plane_images(o, c, slots, par, T, hp * wp, src, c->ph, c->pw);
    if (par && slots == 1)
        put_omp(o, "for collapse(2) schedule(static)");
    put(o, "for (long g = 0; g < %ld; g++)\n", c->G);
    put(o, "    for (long o = 0; o < %ld; o++) {\n", c->CO);
    o->indent += 2;
    /* the weight of (out o, in ci) at tap t: w[g][o][ci][t], or flipped,
     * w[g][ci][o][kk - 1 - t] (w's in and out channels swapped) */
    for (long ci = 0; ci < c->CI; ci++) {
        put(o, "const %s *restrict w%ld = w + %s;\n", T, ci, flip
            ? agc_fmt("((g * %ld + %ld) * %ld + o) * %ld", c->CI, ci, c->CO,
                      kk)
            : agc_fmt("((g * %ld + o) * %ld + %ld) * %ld", c->CO, c->CI, ci,
                      kk));
        put(o, "const %s ", T);
        for (long t = 0; t < kk; t++)
            put(o, "%sw%ld_%ld = w%ld[%ld]", t ? ", " : "", ci, t, ci,
                flip ? kk - 1 - t : t);
        put(o, ";\n");
    }
    put(o, "%s *restrict yo = y + ((n * %ld + g) * %ld + o) * %ld;\n", T,
        c->G, c->CO, c->OH * c->OW);
    put(o, "for (long oh = 0; oh < %ld; oh++) {\n", c->OH);
    o->indent++;
    for (long ci = 0; ci < c->CI; ci++)
        for (long kh = 0; kh < c->KH; kh++)
            put(o, "const %s *restrict r%ld_%ld = xk + (g * %ld + %ld) * %ld "
                "+ (oh + %ld) * %ld;\n", T, ci, kh, c->CI, ci, hp * wp,
                kh * c->dh, wp);
    put_biased(o, T, agc_fmt("for (long ow = 0; ow < %ld; ow++)", c->OW),
               agc_fmt("yo[oh * %ld + ow]", c->OW), plane_sum(c),
               bias ? agc_fmt("b[g * %ld + o]", c->CO) : NULL, relu);
    o->indent--;
    put(o, "}\n");
    o->indent -= 2;
    put(o, "    }\n");
    plane_images_end(o, slots);
    par_close(o, par);
    o->indent--;
    put(o, "}\n\n");
    return s;
}

/* The weight gradient of c by planes: per tap, the products summed per
 * column over the rows (part), then over the columns, then the images */
static Shared *plane_weight(Kernels *K, const Node *n, const Corr *c)
{
    const char *sig = agc_fmt("planew %s", corr_sig(1, c));
    Shared *s = find_wrapper(K, sig);
    if (s)
        return s;
    const char *T = K->T;
    long hp, wp, kk = c->KH * c->KW, taps = c->CI * kk;
    gemm_extent(c, &hp, &wp);
    s = new_wrapper(K, sig, agc_fmt("agc_conv%d_weight", n->id));
    int slots = gemm_slots(c);
    long size = c->G * c->CO * taps;
    add_pad_scr(s, slots, c->G * c->CI * hp * wp, "x");
    add_scr(s, "part", slots * size * c->OW, slots > 1
            ? "products summed per column, a slot's [g][o][tap][ow]"
            : "products summed per column [g][o][tap][ow]");
    if (slots > 1)
        add_scr(s, "dsum", size, "the second slot's sums, as dw");
    kernels_comment(K, n, "gradient of the weight");
    Out *o = &K->fns;
    put(o, "/* dw %s a plane at a time: each image padded into xp; per tap "
        "the products\n * summed per column over the rows in part, then over "
        "the columns, then the\n * images */\n", shape_str(&n->shape));
    put(o, "static void %s(%s *restrict dw, const %s *restrict x, const %s "
        "*restrict gy,\n    %s *restrict xp, %s *restrict part%s)\n{\n",
        s->name, T, T, T, T, T, slots > 1
        ? agc_fmt(", %s *restrict dsum", T) : "");
    o->indent++;
    int par = gemm_par(c);
    par_open(o, par);
    plane_images(o, c, slots, par, T, hp * wp,
                 agc_fmt("x + n * %ld", c->G * c->CI * c->H * c->W), c->ph,
                 c->pw);
    if (slots > 1)  /* slot k sums its images into dw or dsum */
        put(o, "%s *restrict dk = k ? dsum : dw;\n", T);
    if (par && slots == 1)
        put_omp(o, "for collapse(2) schedule(static)");
    put(o, "for (long g = 0; g < %ld; g++)\n", c->G);
    put(o, "    for (long o = 0; o < %ld; o++) {\n", c->CO);
    o->indent += 2;
    put(o, "const %s *restrict go = gy + ((n * %ld + g) * %ld + o) * %ld;\n",
        T, c->G, c->CO, c->OH * c->OW);
    put(o, "%s *restrict po = part + %s(g * %ld + o) * %ld;\n", T,
        slots > 1 ? agc_fmt("k * %ld + ", size * c->OW) : "", c->CO,
        taps * c->OW);
    put(o, "memset(po, 0, %ld * sizeof *po);\n", taps * c->OW);
    put(o, "for (long oh = 0; oh < %ld; oh++) {\n", c->OH);
    o->indent++;
    put(o, "const %s *restrict gr = go + oh * %ld;\n", T, c->OW);
    for (long ci = 0; ci < c->CI; ci++)
        for (long kh = 0; kh < c->KH; kh++) {
            put(o, "{\n");
            o->indent++;
            put(o, "const %s *restrict r = xk + (g * %ld + %ld) * %ld + "
                "(oh + %ld) * %ld;\n", T, c->CI, ci, hp * wp, kh * c->dh,
                wp);
            for (long kw = 0; kw < c->KW; kw++)
                put(o, "for (long ow = 0; ow < %ld; ow++)\n"
                    "    po[%ld + ow] += gr[ow] * r[ow%s];\n", c->OW,
                    ((ci * c->KH + kh) * c->KW + kw) * c->OW,
                    kw ? agc_fmt(" + %ld", kw * c->dw) : "");
            o->indent--;
            put(o, "}\n");
        }
    o->indent--;
    put(o, "}\n");
    put(o, "for (long t = 0; t < %ld; t++) {\n", taps);
    put(o, "    %s sum = 0;\n", T);
    put(o, "    for (long ow = 0; ow < %ld; ow++)\n", c->OW);
    put(o, "        sum += po[t * %ld + ow];\n", c->OW);
    put(o, "    %s *restrict d = %s + ((g * %ld + o) * %ld) + t;\n", T,
        slots > 1 ? "dk" : "dw", c->CO, taps);
    put(o, "    *d = n == %s ? sum : *d + sum;\n}\n", slots > 1 ? "k" : "0");
    o->indent -= 2;
    put(o, "    }\n");
    plane_images_end(o, slots);
    if (slots > 1) {
        put(o, "/* dw: the slots' sums, in order */\n");
        if (par)
            put_omp(o, "for schedule(static)");
        put(o, "for (long i = 0; i < %ld; i++)\n", size);
        put(o, "    dw[i] = dw[i] + dsum[i];\n");
    }
    par_close(o, par);
    o->indent--;
    put(o, "}\n\n");
    return s;
}

/* The weight gradient of c as a wrapper: for each image, x padded and
 * gy's channels transposed into panels, then the kernel over blocks of
 * 6 taps, panels and blocks of GEMM_ROWS positions. */
enum { GEMM_ROWS = 512 };           /* positions per block of sums */

static Shared *gemm_weight(Kernels *K, const Node *n, const Corr *c)
{
    const char *sig = agc_fmt("gemmw %s", corr_sig(1, c));
    Shared *s = find_wrapper(K, sig);
    if (s)
        return s;
    gemm_kernel(K, 1);
    const char *T = K->T;
    int nr = gemm_nr(K), copy = gemm_copies(c), slots = gemm_slots(c);
    long panels = (c->CO + nr - 1) / nr, kk = c->KH * c->KW, hp, wp;
    long taps = c->CI * kk, pos = c->OH * c->OW, size = c->G * c->CO * taps;
    if (copy)
        gemm_extent(c, &hp, &wp);
    else
        hp = c->H, wp = c->W;
    long rows = GEMM_ROWS / c->OW > 0 ? GEMM_ROWS / c->OW : 1;
    s = new_wrapper(K, sig, agc_fmt("agc_conv%d_weight", n->id));
    add_scr(s, "gt", slots * panels * pos * nr, slots > 1
            ? agc_fmt("%d images' gy, one group, in panels [p][oh][ow][16 "
                      "channels]", slots)
            : "an image's gy, one group, in panels [p][oh][ow][16 channels]");
    if (copy)
        add_pad_scr(s, slots, c->G * c->CI * hp * wp, "x");
    if (slots > 1)
        add_scr(s, "part", slots * size, agc_fmt("the %d slots' sums, as dw",
                slots));
    kernels_comment(K, n, "gradient of the weight");
    gy_panels_fn(K, s->name, pos);
    Out *f = &K->fns;
    put(f, "/* dw %s: for each image, gy in panels of %d channels in gt, "
        "%sthen agc_convw_6x%d\n * over 6 taps at a time, summed over "
        "blocks of %ld rows%s */\n", shape_str(&n->shape), nr,
        copy ? "x padded into xp, " : "", nr, rows, slots > 1
        ? agc_fmt(";\n * image n summed in slot n %% %d, the slots' sums "
                  "then added in order", slots) : "");
    put(f, "static void %s(%s *restrict dw, const %s *restrict x, const %s "
        "*restrict gy,\n    %s *restrict gt%s%s)\n{\n", s->name, T, T, T, T,
        copy ? agc_fmt(", %s *restrict xp", T) : "",
        slots > 1 ? agc_fmt(", %s *restrict part", T) : "");
    f->indent++;
    int par = gemm_par(c);
    par_open(f, par);
    const char *src = agc_fmt("x + n * %ld", c->G * c->CI * c->H * c->W);
    const char *xi = copy ? "xk" : src, *first = "n == 0 && oh == 0";
    if (slots > 1) {
        slots_open(f, c->N, slots, par);
        put(f, "%s *restrict gk = gt + k * %ld;\n", T, panels * pos * nr);
        put(f, "%s *restrict dk = part + k * %ld;\n", T, size);
        if (copy) {
            put(f, "%s *restrict xk = xp + k * %ld;\n", T,
                c->G * c->CI * hp * wp);
            emit_pad_copy(f, c->G * c->CI, "xk", hp, wp, c->ph, c->pw, src,
                          c->H, c->W, 0);
        }
        first = "n == k && oh == 0";
    } else {
        put(f, "for (long n = 0; n < %ld; n++) {\n", c->N);
        f->indent++;
        put(f, "%s *restrict gk = gt, *restrict dk = dw;\n", T);
        if (copy) {
            put(f, "const %s *restrict xk = xp;\n", T);
            emit_pad_copy(f, c->G * c->CI, "xp", hp, wp, c->ph, c->pw, src,
                          c->H, c->W, par);
        }
    }
    put(f, "for (long g = 0; g < %ld; g++) {\n", c->G);
    f->indent++;
    put(f, "const %s *restrict gi = gy + (n * %ld + g) * %ld;\n", T, c->G,
        c->CO * pos);
    emit_gy_panels(f, s->name, "gk", "gi", c->CO, pos, nr, par && slots == 1);
    if (par && slots == 1)          /* each thread its own taps of dw */
        put_omp(f, "for schedule(static)");
    put(f, "for (long t = 0; t < %ld; t += 6) {\n", taps);
    f->indent++;
    put(f, "long tap[6];\n");
    put(f, "for (int r = 0; r < 6; r++) {\n");
    put(f, "    const long k = t + r < %ld ? t + r : %ld;\n", taps, taps - 1);
    put(f, "    tap[r] = k / %ld * %ld + k %% %ld / %ld * %ld + k %% %ld * "
        "%ld;\n", kk, hp * wp, kk, c->KW, c->dh * wp, c->KW, c->dw);
    put(f, "}\n");
    put(f, "for (long p = 0; p < %ld; p++)\n", panels);
    put(f, "    for (long oh = 0; oh < %ld; oh += %ld)\n", c->OH, rows);
    put(f, "        agc_convw_6x%d(%s + g * %ld + oh * %ld, tap, %s, %ld, "
        "%ld, %ld,\n            gk + (p * %ld + oh * %ld) * %d, dk + (g * "
        "%ld + p * %d) * %ld + t, %ld,\n            %s, %s, %s);\n", nr, xi,
        c->CI * hp * wp, c->sh * wp,
        c->OH % rows ? agc_fmt("oh + %ld <= %ld ? %ld : %ld - oh", rows,
                               c->OH, rows, c->OH) : agc_fmt("%ld", rows),
        c->sh * wp, c->OW, c->sw, pos, c->OW, nr, c->CO, nr, taps, taps,
        taps % 6 ? agc_fmt("t + 6 <= %ld ? 6 : (int)(%ld - t)", taps, taps)
                 : "6",
        c->CO % nr ? agc_fmt("p < %ld ? %d : %ld", panels - 1, nr,
                             c->CO - (panels - 1) * nr)
                   : agc_fmt("%d", nr), first);
    f->indent--;
    put(f, "}\n");
    f->indent--;
    put(f, "}\n");
    f->indent -= slots > 1 ? 2 : 1;
    put(f, "%s}\n", slots > 1 ? "    " : "");
    if (slots > 1) {
        put(f, "/* dw: the slots' sums, in order */\n");
        if (par)
            put_omp(f, "for schedule(static)");
        put(f, "for (long i = 0; i < %ld; i++)\n", size);
        put(f, "    dw[i] = part[i]");
        for (int k = 1; k < slots; k++)
            put(f, " + part[%ld + i]", k * size);
        put(f, ";\n");
    }
    par_close(f, par);
    f->indent--;
    put(f, "}\n\n");
    return s;
}

int conv_adds_bias(const Node *n)
{
    if (n->op != OP_CONV)
        return 0;
    Corr c = conv_corr(n, &n->in[0]->shape, &n->in[1]->shape, &n->shape);
    return use_gemm(&c, 0) || use_plane(&c) || use_vec(&c);
}

void conv_emit(Kernels *K, Out *o, Node *n, const char *y, const char *x,
               const char *w, const char *b, int relu)
{
    const char *T = K->T;
    Corr c = conv_corr(n, &n->in[0]->shape, &n->in[1]->shape, &n->shape);
    plan_corr(&c, K->unroll);
    const char *wb = b ? agc_fmt("%s, %s", w, b) : w;  /* the kernels take */
    if (use_wino(K, &c, 0)) {                            /* the bias after w */
        Shared *g = wino_forward(K, n, "forward", &c, 0, b != NULL, relu);
        put_call(K, o, g, y, x, wb);
        return;
    }
    if (use_gemm(&c, 0)) {
        Shared *g = gemm_forward(K, n, "forward", &c, 0, b != NULL, relu);
        put_call(K, o, g, y, x, wb);
        return;
    }
    if (use_plane(&c)) {
        Shared *g = plane_forward(K, n, "forward", &c, 0, b != NULL, relu);
        put_call(K, o, g, y, x, wb);
        return;
    }
    if (use_vec(&c)) {              /* w read where it is */
        long kk = c.KH * c.KW;
        WAt wa = {c.CO * c.CI * kk, c.CI * kk, kk, c.KW, 1, 0};
        Shared *v = vec_kernel(K, n, "forward", &c, &wa, b != NULL, relu, 1);
        put_call(K, o, v, y, x, wb);
        return;
    }
    if (b || relu)
        agc_error(n->pos, "internal error: no bias or relu in this "
                  "convolution's kernel");
    const char *sig = agc_fmt("forward %s", corr_sig(0, &c));
    Shared *s = find_wrapper(K, sig);
    if (!s) {
        const char *core = corr_kernel(K, n, "forward", 0, &c);
        s = new_wrapper(K, sig, agc_fmt("agc_conv%d_forward", n->id));
        add_scr(s, "wpack", c.G * c.CI * c.KH * c.KW * c.CV,
                "weights packed [g][c][kh][kw][o]");
        add_scr(s, "acc", c.OW * c.CV, "an output row [ow][o]");
        Out *f = &K->fns;
        put(f, "/* y %s = conv(x %s, w %s): w packed as [g][c][kh][kw][o] "
            "into wp, then %s */\n", shape_str(&n->shape),
            shape_str(&n->in[0]->shape), shape_str(&n->in[1]->shape), core);
        put(f, "static void %s(%s *restrict y, const %s *restrict x, "
            "const %s *restrict w, %s *restrict wp, %s *restrict acc)\n{\n",
            s->name, T, T, T, T, T);
        f->indent++;
        emit_pack(f, &c, "wp", "w", 0, c.CV);
        put(f, "%s(y, x, wp, acc);\n", core);
        f->indent--;
        put(f, "}\n\n");
    }
    put_call(K, o, s, y, x, w);
}

/* gz [no, hz, wz] = gy zero-stuffed by the stride of f */
static void emit_stuff(Out *b, const Corr *f, long no, long hz, long wz)
{
    put(b, "/* gz [%ld, %ld, %ld] */\n", no, hz, wz);
    put(b, "memset(gz, 0, %ld * sizeof *gz);\n", no * hz * wz);
    put(b, "for (long i = 0; i < %ld; i++)\n", no);
    put(b, "    for (long oh = 0; oh < %ld; oh++)\n", f->OH);
    put(b, "        for (long ow = 0; ow < %ld; ow++)\n", f->OW);
    put(b, "            gz[(i * %ld + %s) * %ld + %s] = gy[(i * %ld + "
        "oh) * %ld + ow];\n", hz, times("oh", f->sh), wz,
        times("ow", f->sw), f->OH, f->OW);
}

/* dx = conv_bwd_input(gy, w): for every tap, dx[ih] += w * gy[oh] where
 * ih = oh*sh - ph + kh*dh.  With gy zero-stuffed by the stride (a copy
 * when the stride is not 1), that is the forward correlation of gy with
 * w flipped and its channels swapped, stride 1, padded by d (k - 1) - p
 * before (which may be negative), over an output of x's size. */
static void conv_input(Kernels *K, Out *o, Node *n, const char *dx,
                       const char *gy, const char *w)
{
    const char *T = K->T;
    const Shape *gs = &n->in[0]->shape, *ws = &n->in[1]->shape;
    Corr f = conv_corr(n, &n->shape, ws, gs);   /* the forward one */
    long hz = (f.OH - 1) * f.sh + 1, wz = (f.OW - 1) * f.sw + 1;
    Corr c = {f.N, f.G, f.CO, f.CI, hz, wz, f.H, f.W, f.KH, f.KW, 1, 1,
              f.dh, f.dw, f.dh * (f.KH - 1) - f.ph, f.dw * (f.KW - 1) - f.pw,
              0, 0, 0, 0, 0, 0, 0, 0, 0, f.sh};
    plan_corr(&c, K->unroll);
    plan_corr(&f, K->unroll);
    const char *sig = agc_fmt("input %s", corr_sig(0, &f));
    /* in the forward pass: conv_transpose's (build.c) */
    const char *what = n->phase ? "gradient of the input"
                                : "transposed convolution";
    Shared *s = find_wrapper(K, sig);
    int stuff = f.sh != 1 || f.sw != 1;
    long no = f.N * f.G * f.CO, kk = f.KH * f.KW;
    /* the weight of (g, ci, co, kh, kw) is w[g][co][ci][KH-1-kh][KW-1-kw] */
    WAt wa = {f.CO * f.CI * kk, kk, f.CI * kk, -f.KW, -1, kk - 1};
    if (!s && use_gemm_phases(&f)) {
        Shared *g = gemm_input_phases(K, n, what, &f);
        put_call(K, o, g, dx, gy, w);
        return;
    }
    if (!s && use_wino(K, &c, 0) && !stuff) {
        Shared *g = wino_forward(K, n, what, &c, 1, 0, 0);
        put_call(K, o, g, dx, gy, w);
        return;
    }
    if (!s && use_gemm(&c, 1) && !stuff) {
        Shared *g = gemm_forward(K, n, what, &c, 1, 0, 0);
        put_call(K, o, g, dx, gy, w);
        return;
    }
    if (!s && use_plane(&c) && !stuff) {
        Shared *g = plane_forward(K, n, what, &c, 1, 0, 0);
        put_call(K, o, g, dx, gy, w);
        return;
    }
    if (!s && use_vec(&c) && !stuff) {
        Shared *v = vec_kernel(K, n, what, &c, &wa, 0, 0, 0);
        put_call(K, o, v, dx, gy, w);
        return;
    }
    if (!s && use_vec(&c)) {
        Shared *v = vec_kernel(K, n, what, &c, &wa, 0, 0, 0);
        const char *core = v->name;
        s = new_wrapper(K, sig, agc_fmt("agc_conv%d_input", n->id));
        add_scr(s, "gz", no * hz * wz, "gy zero-stuffed by the stride");
        for (int i = 0; i < v->nscr; i++)
            add_scr(s, v->scr[i].what, v->scr[i].count, v->scr[i].note);
        Out *b = &K->fns;
        put(b, "/* dx %s = the gradient of conv(x, w %s) for gy %s: gy "
            "zero-stuffed by\n * the stride into gz, then %s */\n",
            shape_str(&n->shape), shape_str(ws), shape_str(gs), core);
        put(b, "static void %s(%s *restrict dx, const %s *restrict gy, "
            "const %s *restrict w, %s *restrict gz, %s *restrict acc)\n"
            "{\n", s->name, T, T, T, T, T);
        b->indent++;
        emit_stuff(b, &f, no, hz, wz);
        put(b, "%s(dx, gz, w, acc);\n", core);
        b->indent--;
        put(b, "}\n\n");
    }
    if (!s) {
        const char *core = corr_kernel(K, n, what, 0, &c);
        s = new_wrapper(K, sig, agc_fmt("agc_conv%d_input", n->id));
        if (stuff)
            add_scr(s, "gz", no * hz * wz, "gy zero-stuffed by the stride");
        add_scr(s, "wpack", c.G * c.CI * c.KH * c.KW * c.CV,
                "weights flipped, packed [g][o][kh][kw][c]");
        add_scr(s, "acc", c.OW * c.CV, "a row of the input gradient [iw][c]");
        Out *b = &K->fns;
        put(b, "/* dx %s = the gradient of conv(x, w %s) for gy %s: w "
            "flipped, packed as\n * [g][o][kh][kw][c] into wq, %sthen %s "
            "*/\n", shape_str(&n->shape), shape_str(ws), shape_str(gs),
            stuff ? "gy zero-stuffed by the stride into gz, " : "", core);
        put(b, "static void %s(%s *restrict dx, const %s *restrict gy, "
            "const %s *restrict w, %s%s *restrict wq, %s *restrict acc)\n"
            "{\n", s->name, T, T, T, stuff ? agc_fmt("%s *restrict gz, ", T)
                                           : "", T, T);
        b->indent++;
        if (stuff)
            emit_stuff(b, &f, no, hz, wz);
        emit_pack(b, &f, "wq", "w", 1, c.CV);
        put(b, "%s(dx, %s, wq, acc);\n", core, stuff ? "gz" : "gy");
        b->indent--;
        put(b, "}\n\n");
    }
    put_call(K, o, s, dx, gy, w);
}

/* dw = conv_bwd_weight(x, gy): dw[o][c][kh][kw] = sum over the batch and
 * the output positions of gy[o][oh][ow] x[c][ih][iw]. */
static void conv_weight(Kernels *K, Out *o, Node *n, const char *dw,
                        const char *x, const char *gy)
{
    const char *T = K->T;
    Corr c = conv_corr(n, &n->in[0]->shape, &n->shape, &n->in[1]->shape);
    plan_corr(&c, K->unroll);
    if (use_wino(K, &c, 1)) {
        Shared *g = wino_weight(K, n, &c);
        put_call(K, o, g, dw, x, gy);
        return;
    }
    if (use_gemm(&c, 0)) {
        Shared *g = gemm_weight(K, n, &c);
        put_call(K, o, g, dw, x, gy);
        return;
    }
    if (use_plane(&c)) {
        Shared *g = plane_weight(K, n, &c);
        put_call(K, o, g, dw, x, gy);
        return;
    }
    if (use_vec(&c)) {              /* dw written in place */
        Shared *v = vec_wgrad_kernel(K, n, &c);
        put_call(K, o, v, dw, x, gy);
        return;
    }
    const char *sig = agc_fmt("weight %s", corr_sig(1, &c));
    Shared *s = find_wrapper(K, sig);
    if (!s) {
        const char *core = corr_kernel(K, n, "gradient of the weight", 1,
                                       &c);
        s = new_wrapper(K, sig, agc_fmt("agc_conv%d_weight", n->id));
        long kk = c.KH * c.KW, size = c.G * c.CI * kk * c.CV;
        int dsum = strcmp(T, "double") != 0;
        if (dsum) {
            add_scr(s, "sum", size, "the gradient packed [g][c][kh][kw][o]");
            add_scr(s, "img", size / c.G, "an image's share of it, one "
                    "group");
        }
        add_scr(s, "acc", dsum ? size / c.G : size,
                dsum ? "a row's share of it, one group"
                     : "the gradient packed [g][c][kh][kw][o]");
        add_scr(s, "gt", c.OW * c.CV, "a row of gy transposed [ow][o]");
        Out *b = &K->fns;
        put(b, "/* dw %s = the gradient of conv(x %s, w) for gy %s: %s, "
            "then\n * unpacked from [g][c][kh][kw][o] */\n",
            shape_str(&n->shape), shape_str(&n->in[0]->shape),
            shape_str(&n->in[1]->shape), core);
        if (dsum)
            put(b, "static void %s(%s *restrict dw, const %s *restrict x, "
                "const %s *restrict gy,\n    %s *restrict sum, %s *restrict "
                "img, %s *restrict acc, %s *restrict gt)\n{\n", s->name, T,
                T, T, T, T, T, T);
        else
            put(b, "static void %s(%s *restrict dw, const %s *restrict x, "
                "const %s *restrict gy,\n    %s *restrict acc, %s *restrict "
                "gt)\n{\n", s->name, T, T, T, T, T);
        b->indent++;
        if (dsum)
            put(b, "%s(sum, img, acc, x, gy, gt);\n", core);
        else
            put(b, "%s(acc, x, gy, gt);\n", core);
        put(b, "for (long g = 0; g < %ld; g++)\n", c.G);
        put(b, "    for (long o = 0; o < %ld; o++)\n", c.CO);
        put(b, "        for (long c = 0; c < %ld; c++)\n", c.CI);
        put(b, "            for (long t = 0; t < %ld; t++)\n", kk);
        put(b, "                dw[((g * %ld + o) * %ld + c) * %ld + t] = "
            "%s[((g * %ld + c) * %ld + t) * %ld + o];\n", c.CO, c.CI, kk,
            dsum ? "sum" : "acc", c.CI, kk, c.CV);
        b->indent--;
        put(b, "}\n\n");
    }
    put_call(K, o, s, dw, x, gy);
}

/* ---- padding modes ---- */

/* The source index in [0, n) of padded index v (t added before): side
 * -1 when v < t, 1 when v >= t + n, 0 when either may hold. */
static const char *src_index(int mode, const char *v, long t, long n,
                             int side)
{
    const char *lo = mode == PAD_CIRCULAR ? plus(v, n - t)
                     : mode == PAD_REFLECT ? agc_fmt("%ld - %s", t, v) : "0";
    const char *hi = mode == PAD_CIRCULAR ? plus(v, -(t + n))
                     : mode == PAD_REFLECT ? agc_fmt("%ld - %s",
                                                     2 * (n - 1) + t, v)
                     : agc_fmt("%ld", n - 1);
    if (side)
        return side < 0 ? lo : hi;
    return agc_fmt("%s < %ld ? %s : %s < %ld ? %s : %s", v, t, lo, v, t + n,
                   plus(v, -t), hi);
}

static const char *const mode_names[] = {"", "circular", "reflect",
                                         "replicate"};

/* y = padmode(x), or its adjoint dx = padmode_bwd(gy): each padded
 * element's gradient is added to the element it copies. */
static void emit_padmode(Kernels *K, Out *o, Node *n, const char *y,
                         const char *x)
{
    const long *a = n->attr;
    int bwd = n->op == OP_PADMODE_BWD, mode = (int)a[PM_MODE];
    const Shape *src = bwd ? &n->shape : &n->in[0]->shape;
    long nc = src->d[0] * src->d[1], h = src->d[2], w = src->d[3];
    long hp = h + a[PM_TOP] + a[PM_BOTTOM], wp = w + a[PM_LEFT] +
                                                   a[PM_RIGHT];
    long l = a[PM_LEFT];
    const char *T = K->T;
    put(o, "/* %s padding, rows %ld + %ld, columns %ld + %ld%s */\n",
        mode_names[mode], a[PM_TOP], a[PM_BOTTOM], l, a[PM_RIGHT],
        bwd ? ": its adjoint" : "");
    if (bwd)
        put(o, "memset(%s, 0, %ld * sizeof *%s);\n", y, nc * h * w, y);
    put_omp_for(o, nc * hp * wp, nc);   /* each plane its own */
    put(o, "for (long p = 0; p < %ld; p++)\n", nc);
    put(o, "    for (long i = 0; i < %ld; i++) {\n", hp);
    o->indent += 2;
    put(o, "const long si = %s;\n", a[PM_TOP] || a[PM_BOTTOM]
        ? src_index(mode, "i", a[PM_TOP], h, 0) : "i");
    const char *left = src_index(mode, "j", l, w, -1);
    const char *right = src_index(mode, "j", l, w, 1);
    if (bwd) {
        put(o, "%s *dst = %s + (p * %ld + si) * %ld;\n", T, y, h, w);
        put(o, "const %s *src = %s + (p * %ld + i) * %ld;\n", T, x, hp, wp);
        put(o, "for (long j = 0; j < %ld; j++)\n    dst[j] += src[%s];\n",
            w, plus("j", l));
        if (l)
            put(o, "for (long j = 0; j < %ld; j++)\n    dst[%s] += src[j];\n",
                l, left);
        if (a[PM_RIGHT])
            put(o, "for (long j = %ld; j < %ld; j++)\n    dst[%s] += "
                "src[j];\n", l + w, wp, right);
    } else {
        put(o, "const %s *src = %s + (p * %ld + si) * %ld;\n", T, x, h, w);
        put(o, "%s *dst = %s + (p * %ld + i) * %ld;\n", T, y, hp, wp);
        put(o, "memcpy(%s, src, %ld * sizeof *dst);\n", plus("dst", l), w);
        if (l)
            put(o, "for (long j = 0; j < %ld; j++)\n    dst[j] = src[%s];\n",
                l, left);
        if (a[PM_RIGHT])
            put(o, "for (long j = %ld; j < %ld; j++)\n    dst[j] = "
                "src[%s];\n", l + w, wp, right);
    }
    o->indent -= 2;
    put(o, "    }\n");
}

/* ---- max pooling ---- */

/* y = maxpool(x), or dx = maxpool_bwd(x, gy): gy goes to the first
 * maximum of each window in row-major order, as PyTorch's indices; NaN
 * counts as the maximum. */
/* The rest of emit_maxpool's loop body for a dilated window: its taps
 * h0 + i dh, w0 + j dw, those in the input; the argmax starts at the
 * first of them, as PyTorch's. */
static void dilated_window(Kernels *K, Out *o, Node *n, const char *y,
                           const char *const *in)
{
    const long *a = n->attr;
    int bwd = n->op == OP_MAXPOOL_BWD;
    const Shape *xs = &n->in[0]->shape, *ys = bwd ? &n->in[1]->shape
                                                  : &n->shape;
    long h = xs->d[2], w = xs->d[3], nh = ys->d[2], nw = ys->d[3];
    long dh = a[PL_DH], dw = a[PL_DW];
    put(o, "%s top = -INFINITY;\n", K->T);
    if (bwd) {
        put(o, "const long hs = h0 < 0 ? h0 + (%ld - h0) / %ld * %ld : h0;\n",
            dh - 1, dh, dh);
        put(o, "const long ws = w0 < 0 ? w0 + (%ld - w0) / %ld * %ld : w0;\n",
            dw - 1, dw, dw);
        put(o, "long at = (p * %ld + hs) * %ld + ws;\n", h, w);
    }
    put(o, "for (long ki = 0; ki < %ld; ki++) {\n", a[PL_KH]);
    put(o, "    const long i = h0 + ki * %ld;\n", dh);
    put(o, "    if (i < 0 || i >= %ld)\n        continue;\n", h);
    put(o, "    for (long kj = 0; kj < %ld; kj++) {\n", a[PL_KW]);
    put(o, "        const long j = w0 + kj * %ld;\n", dw);
    put(o, "        if (j < 0 || j >= %ld)\n            continue;\n", w);
    put(o, "        const %s v = %s[(p * %ld + i) * %ld + j];\n", K->T, in[0],
        h, w);
    put(o, "        if (v > top || v != v) {\n            top = v;\n");
    if (bwd)
        put(o, "            at = (p * %ld + i) * %ld + j;\n", h, w);
    put(o, "        }\n    }\n}\n");
    if (bwd)
        put(o, "%s[at] += %s[(p * %ld + oh) * %ld + ow];\n", y, in[1], nh,
            nw);
    else
        put(o, "%s[(p * %ld + oh) * %ld + ow] = top;\n", y, nh, nw);
    o->indent -= 3;
    put(o, "        }\n");
}

/* dx = maxpool_bwd(x, gy) for windows that tile x (as the stride, no
 * padding, no dilation, none left over) of 2 to MAXPOOL_TILED taps:
 * each element of dx is in one window, and is written once, gy's value
 * at the window's argmax and 0 elsewhere.  The argmax is the last tap
 * that took the maximum, t[e], in the scan's order.  (Zeroing dx, then
 * adding gy at each argmax, a window at a time, took 17% of the LeNet
 * step; this takes 13%.  gcc does not vectorise it: its selects become
 * masked stores, which it does not do at a stride.) */
enum { MAXPOOL_TILED = 16 };

static int tiled_maxpool(const Node *n)
{
    if (n->op != OP_MAXPOOL_BWD)    /* no gy (in[1]) */
        return 0;
    const long *a = n->attr;
    const Shape *xs = &n->in[0]->shape, *ys = &n->in[1]->shape;
    return a[PL_KH] == a[PL_SH] &&
           a[PL_KW] == a[PL_SW] && a[PL_PH] == 0 && a[PL_PW] == 0 &&
           a[PL_DH] == 1 && a[PL_DW] == 1 &&
           ys->d[2] * a[PL_KH] == xs->d[2] &&
           ys->d[3] * a[PL_KW] == xs->d[3] &&
           a[PL_KH] * a[PL_KW] <= MAXPOOL_TILED &&
           a[PL_KH] * a[PL_KW] > 1;    /* one tap: no argmax to find */
}

static void tiled_maxpool_bwd(Kernels *K, Out *o, Node *n, const char *y,
                              const char *const *in)
{
    const long *a = n->attr;
    const Shape *xs = &n->in[0]->shape, *ys = &n->in[1]->shape;
    long nc = xs->d[0] * xs->d[1], h = xs->d[2], w = xs->d[3];
    long nh = ys->d[2], nw = ys->d[3], kh = a[PL_KH], kw = a[PL_KW];
    int taps = (int)(kh * kw);
    const char *T = K->T;
    put(o, "/* windows that tile the input: each element in one */\n");
    put_omp_for(o, nc * h * w, nc);     /* each plane its own */
    put(o, "for (long p = 0; p < %ld; p++)\n", nc);
    put(o, "    for (long oh = 0; oh < %ld; oh++) {\n", nh);
    o->indent += 2;
    put(o, "const %s *restrict r = %s + (p * %ld + oh * %ld) * %ld;\n", T,
        in[0], h, kh, w);
    put(o, "%s *restrict d = %s + (p * %ld + oh * %ld) * %ld;\n", T, y, h,
        kh, w);
    put(o, "const %s *restrict g = %s + (p * %ld + oh) * %ld;\n", T, in[1],
        nh, nw);
    put(o, "for (long ow = 0; ow < %ld; ow++) {\n", nw);
    o->indent++;
    const char **at = agc_alloc(sizeof *at * (size_t)taps);
    for (int e = 0; e < taps; e++)
        at[e] = agc_fmt("%s%ld * ow%s", e / kw ? agc_fmt("%ld + ", e / kw * w)
                        : "", kw, e % kw ? agc_fmt(" + %ld", e % kw) : "");
    /* top starts as the first tap: PyTorch's scan starts from -INFINITY
     * and takes it (or, for -INFINITY, keeps the same value) */
    put(o, "%s top = r[%s];\n", T, at[0]);
    for (int e = 1; e < taps; e++) {
        put(o, "const %s v%d = r[%s];\n", T, e, at[e]);
        put(o, "const int t%d = (v%d > top) | (v%d != v%d);\n", e, e, e, e);
        if (e + 1 < taps)
            put(o, "top = t%d ? v%d : top;\n", e, e);
    }
    /* later[e]: a tap after e took; + 0: -0 becomes 0, as with dx zeroed
     * and then added to (PyTorch) */
    put(o, "const %s ge = g[ow] + 0;\n", T);
    for (int e = taps - 2; e >= 0; e--)
        put(o, "const int later%d = %s;\n", e, e == taps - 2 ? agc_fmt(
            "t%d", e + 1) : agc_fmt("t%d | later%d", e + 1, e + 1));
    for (int e = 0; e < taps; e++)
        put(o, "d[%s] = %s ? ge : 0;\n", at[e], e == 0 ? "!later0"
            : e == taps - 1 ? agc_fmt("t%d", e)
                            : agc_fmt("t%d && !later%d", e, e));
    o->indent--;
    put(o, "}\n");
    o->indent -= 2;
    put(o, "    }\n");
}

static void emit_maxpool(Kernels *K, Out *o, Node *n, const char *y,
                         const char *const *in)
{
    const long *a = n->attr;
    int bwd = n->op == OP_MAXPOOL_BWD;
    const Shape *xs = &n->in[0]->shape, *ys = bwd ? &n->in[1]->shape
                                                  : &n->shape;
    long nc = xs->d[0] * xs->d[1], h = xs->d[2], w = xs->d[3];
    long nh = ys->d[2], nw = ys->d[3];
    const char *T = K->T, *x = in[0];
    if (tiled_maxpool(n)) {
        tiled_maxpool_bwd(K, o, n, y, in);
        return;
    }
    if (bwd)
        put(o, "memset(%s, 0, %ld * sizeof *%s);\n", y, nc * h * w, y);
    put_omp_for(o, nc * h * w, nc);     /* each plane its own */
    put(o, "for (long p = 0; p < %ld; p++)\n", nc);
    put(o, "    for (long oh = 0; oh < %ld; oh++)\n", nh);
    put(o, "        for (long ow = 0; ow < %ld; ow++) {\n", nw);
    o->indent += 3;
    put(o, "const long h0 = %s, w0 = %s;\n",
        sum3(times("oh", a[PL_SH]), "", -a[PL_PH]),
        sum3(times("ow", a[PL_SW]), "", -a[PL_PW]));
    if (a[PL_DH] > 1 || a[PL_DW] > 1) {
        dilated_window(K, o, n, y, in);
        return;
    }
    put(o, "const long h1 = h0 + %ld < %ld ? h0 + %ld : %ld;\n", a[PL_KH], h,
        a[PL_KH], h);
    put(o, "const long w1 = w0 + %ld < %ld ? w0 + %ld : %ld;\n", a[PL_KW], w,
        a[PL_KW], w);
    put(o, "%s top = -INFINITY;\n", T);
    if (bwd)
        put(o, "long at = (p * %ld + (h0 < 0 ? 0 : h0)) * %ld + (w0 < 0 ? 0 "
            ": w0);\n", h, w);
    put(o, "for (long i = h0 < 0 ? 0 : h0; i < h1; i++)\n");
    put(o, "    for (long j = w0 < 0 ? 0 : w0; j < w1; j++) {\n");
    put(o, "        const %s v = %s[(p * %ld + i) * %ld + j];\n", T, x, h, w);
    /* no branch: which value wins is data, which no predictor guesses */
    put(o, "        const int take = (v > top) | (v != v);\n");
    if (bwd)
        put(o, "        at = take ? (p * %ld + i) * %ld + j : at;\n", h, w);
    put(o, "        top = take ? v : top;\n    }\n");
    if (bwd)
        put(o, "%s[at] += %s[(p * %ld + oh) * %ld + ow];\n", y, in[1], nh,
            nw);
    else
        put(o, "%s[(p * %ld + oh) * %ld + ow] = top;\n", y, nh, nw);
    o->indent -= 3;
    put(o, "        }\n");
}

void kernel_emit(Kernels *K, Out *o, Node *n, const char *out,
                 const char *const *in)
{
    switch (n->op) {
    case OP_CONV:
        conv_emit(K, o, n, out, in[0], in[1], NULL, 0);
        break;
    case OP_CONV_BWD_INPUT:
        conv_input(K, o, n, out, in[0], in[1]);
        break;
    case OP_CONV_BWD_WEIGHT:
        conv_weight(K, o, n, out, in[0], in[1]);
        break;
    case OP_PADMODE:
    case OP_PADMODE_BWD:
        emit_padmode(K, o, n, out, in[0]);
        break;
    case OP_MAXPOOL:
    case OP_MAXPOOL_BWD:
        emit_maxpool(K, o, n, out, in);
        break;
    default:
        agc_error(n->pos, "internal error: %s is not a window op",
                  op_name(n->op));
    }
}

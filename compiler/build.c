/* build.c: lowering a spec into the graph IR.
 *
 * Inputs become leaves, each graph entry's expression is parsed and
 * lowered node by node (so a shape error points at the token that caused
 * it), and the derived functions of section 2 are written in terms of the
 * primitives of graph.c: mean is a sum times 1/n, softmax an exp over a
 * sum, clamp two wheres, and so on.  grad.c then needs one rule per
 * primitive only.  A custom function's call expands inline (custom_call);
 * grad.c lowers its backward expressions through build_lower_scoped. */
#include "agc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct Sym {
    const char *name;
    Node *node;
    Pos pos;
    int fn;                         /* its grad_fn record, -1: None */
} Sym;

typedef struct Operand {            /* a lowered operand and its grad_fn */
    Node *node;
    int fn;
} Operand;

struct Build {
    Program *p;
    Graph *g;                       /* where nodes go: a loop's own graph */
    int nsyms, csyms;               /* while its body is lowered */
    Sym *syms;
    const char *last;               /* the last node defined */
    LoopDef *loop;                  /* the loop being lowered, or NULL */
    const char *where;              /* a function's scope, for errors */
    int nops, cops;                 /* operands of the calls being lowered */
    Operand *ops;
    Node *lowered;                  /* the last expression lowered */
    int lowered_fn;                 /* and its grad_fn */
};

static int node_fn(Build *b, Node *n);

static Sym *lookup(Build *b, const char *name)
{
    for (int i = b->nsyms - 1; i >= 0; i--)
        if (strcmp(b->syms[i].name, name) == 0)
            return &b->syms[i];
    return NULL;
}

/* "; did you mean 'x'?" for a name in scope close to name, or "". */
static const char *name_hint(Build *b, const char *name)
{
    const char **names = agc_alloc(sizeof(char *) * (size_t)(b->nsyms + 1));
    for (int i = 0; i < b->nsyms; i++)
        names[i] = b->syms[i].name;
    return agc_did_you_mean(name, names, b->nsyms);
}

static const char *function_hint(Build *b, const char *name);

static const char *mangle(const char *name)
{
    char *s = agc_strdup(name);
    for (char *c = s; *c; c++)
        if (*c == '.')
            *c = '_';
    return s;
}

/* Defines a name; two names may not be equal once mangled to C. */
static void define(Build *b, const char *name, Node *n, Pos pos)
{
    const char *m = mangle(name);
    for (int i = 0; i < b->nsyms; i++) {
        Sym *s = &b->syms[i];
        if (strcmp(s->name, name) == 0)
            agc_error(pos, "'%s' is already defined (at line %d)", name,
                      s->pos.line);
        if (strcmp(mangle(s->name), m) == 0)
            agc_error(pos, "'%s' collides with '%s' (line %d): both become "
                      "'%s' in C", name, s->name, s->pos.line, m);
    }
    int fn = n == b->lowered ? b->lowered_fn : node_fn(b, n);
    *AGC_PUSH(b->syms, b->nsyms, b->csyms) = (Sym){name, n, pos, fn};
    if (!n->name)
        n->name = name;
    if (n->op == OP_CUSTOM && !n->in[0]->name)
        n->in[0]->name = name;      /* the call's value lives there */
}

Tensor *program_add_tensor(Program *p, const char *name, Role role, Node *n,
                           Pos pos)
{
    Tensor *t = AGC_PUSH(p->tensors, p->ntensors, p->tcap);
    memset(t, 0, sizeof *t);
    t->name = name;
    t->role = role;
    t->node = n;
    t->pos = pos;
    t->decl = -1;
    return t;
}

/* ---- constant arguments ---- */

static int is_num(const Expr *e)
{
    return e->kind == E_NUM ||
           (e->kind == E_UNARY && e->args[0]->kind == E_NUM);
}

static double num_of(const Expr *e)
{
    return e->kind == E_NUM ? e->num : -e->args[0]->num;
}

static double want_num(const Expr *e, const char *what)
{
    if (!is_num(e))
        agc_error(e->pos, "%s must be a number", what);
    return num_of(e);
}

static long want_int(const Expr *e, const char *what)
{
    double v = want_num(e, what);
    if (v != floor(v) || fabs(v) > AGC_MAX_ELEMS)
        agc_error(e->pos, "%s must be an integer, not %g", what, v);
    return (long)v;
}

static int want_bool(const Expr *e, const char *what)
{
    if (e->kind == E_NAME && (!strcmp(e->name, "true") ||
                              !strcmp(e->name, "True")))
        return 1;
    if (e->kind == E_NAME && (!strcmp(e->name, "false") ||
                              !strcmp(e->name, "False")))
        return 0;
    if (is_num(e) && (num_of(e) == 0 || num_of(e) == 1))
        return num_of(e) != 0;
    agc_error(e->pos, "%s must be true or false", what);
}

/* A dim in [-rank, rank), normalised to [0, rank); a 0-d tensor takes
 * dims -1 and 0 as PyTorch does. */
static int want_dim(const Expr *e, const Node *x, const char *what)
{
    long d = want_int(e, what);
    int r = x->shape.rank ? x->shape.rank : 1;
    if (d < -r || d >= r)
        agc_error(e->pos, "%s %ld is out of range for a tensor of shape %s "
                  "(expected %d to %d)", what, d, shape_str(&x->shape), -r,
                  r - 1);
    return (int)(d < 0 ? d + r : d);
}

/* ---- calls: binding arguments as Python does ---- */

#define MAXP 8

/* Binds a call's positional and keyword arguments to params (NULL-ended);
 * the first nreq are required.  Unbound optional parameters stay NULL;
 * out has room for every parameter. */
static void bind(const Expr *e, const char *const *params, int nreq,
                 Expr **out)
{
    int np = 0;
    while (params[np])
        np++;
    memset(out, 0, sizeof(Expr *) * (size_t)np);
    if (e->nargs > np)
        agc_error(e->pos, "%s() takes %s%d argument%s, %d given", e->name,
                  nreq < np ? "at most " : "", np, np == 1 ? "" : "s",
                  e->nargs);
    for (int i = 0; i < e->nargs; i++)
        out[i] = e->args[i];
    for (int k = 0; k < e->nkw; k++) {
        int i = 0;
        while (i < np && strcmp(params[i], e->kwnames[k]))
            i++;
        if (i == np)
            agc_error(e->kwpos[k], "%s() has no argument '%s'", e->name,
                      e->kwnames[k]);
        if (out[i])
            agc_error(e->kwpos[k], "%s() got argument '%s' twice", e->name,
                      e->kwnames[k]);
        out[i] = e->kwargs[k];
    }
    for (int i = 0; i < nreq; i++)
        if (!out[i])
            agc_error(e->pos, "%s() needs argument '%s'", e->name, params[i]);
}

static Node *lower(Build *b, const Expr *e, int depth);

/* An outer node read inside loop L: constants are copied into the loop's
 * graph, any other node becomes a capture, one OP_ARG per node. */
static Node *capture(LoopDef *L, Node *n)
{
    if (n == L->var)
        return n;
    if (n->op == OP_CONST)
        return n->cdata ? g_const_data(L->g, n->shape, n->cdata)
                        : g_const(L->g, n->shape, n->cval);
    for (int i = 0; i < L->ncap; i++)
        if (L->cap[i] == n)
            return L->cap_arg[i];
    int i = L->ncap;
    *AGC_PUSH(L->cap, L->ncap, L->ccap) = n;
    L->cap_arg = agc_grow(L->cap_arg, sizeof(Node *) * (size_t)i,
                          sizeof(Node *) * (size_t)L->ncap);
    L->cap_arg[i] = g_arg(L->g, n->shape, ARG_CAPTURE + i, n->needs_grad);
    L->cap_arg[i]->is_int = n->is_int;
    return L->cap_arg[i];
}

static Node *tensor_arg(Build *b, const Expr *e, int depth)
{
    return lower(b, e, depth + 1);
}

/* The dims of dim= (an int or a tuple) as a bit mask; NULL: all dims. */
static unsigned dims_mask(Build *b, const Expr *e, const Node *x)
{
    (void)b;
    if (!e)
        return x->shape.rank ? (1u << x->shape.rank) - 1 : 0;
    if (e->kind != E_TUPLE)
        return x->shape.rank ? 1u << want_dim(e, x, "dim") : 0;
    unsigned m = 0;
    for (int i = 0; i < e->nargs; i++) {
        int d = want_dim(e->args[i], x, "dim");
        if (m >> d & 1)
            agc_error(e->args[i]->pos, "dim %d is repeated", d);
        m |= 1u << d;
    }
    return x->shape.rank ? m : 0;
}

static long reduced_count(const Node *x, unsigned mask)
{
    long n = 1;
    for (int i = 0; i < x->shape.rank; i++)
        if (mask >> i & 1)
            n *= x->shape.d[i];
    return n;
}

/* softmax and log_softmax along dim, shifted by the detached max: the
 * shift changes nothing mathematically and keeps exp from overflowing. */
static Node *log_softmax(Graph *g, Node *x, int dim, Node **sm)
{
    unsigned m = x->shape.rank ? 1u << dim : 0;
    Node *shift = g_binary(g, OP_SUB, x,
                           g_detach(g, g_reduce(g, OP_AMAX, x, m, 1)));
    Node *e = g_unary(g, OP_EXP, shift);
    Node *s = g_reduce(g, OP_SUM, e, m, 1);
    if (sm)                         /* e times 1 / s, as PyTorch does */
        *sm = g_binary(g, OP_MUL, e, g_binary(g, OP_DIV, g_scalar(g, 1), s));
    return g_binary(g, OP_SUB, shift, g_unary(g, OP_LOG, s));
}

/* ---- nn: convolution, pooling, linear ----
 *
 * The window ops are 2-D in the graph: a 1-D one is a 2-D one of height
 * 1, and an unbatched input a batch of one, so only reshapes (which copy
 * nothing) tell them apart.  Shape errors name the user's shapes. */

/* "3" in 1-D, "(3, 5)" in 2-D: sizes as the user wrote them. */
static const char *dims_str(const long *v, int sd)
{
    return sd == 1 ? agc_fmt("%ld", v[1]) : agc_fmt("(%ld, %ld)", v[0], v[1]);
}

/* An int or a tuple of sd ints, each at least lo, into v[2 - sd..1]
 * (the height of a 1-D window stays as the caller set it). */
static void want_ints(const Expr *e, int sd, long lo, const char *f,
                      const char *what, long *v)
{
    int n = e->kind == E_TUPLE ? e->nargs : 1;
    if (n != 1 && n != sd)
        agc_error(e->pos, "%s(): %s must be an int%s, not %s", f, what,
                  sd == 2 ? " or a pair of ints" : "", expr_str(e));
    for (int i = 0; i < sd; i++) {
        const Expr *d = e->kind == E_TUPLE ? e->args[n == 1 ? 0 : i] : e;
        long x = want_int(d, what);
        if (x < lo)
            agc_error(d->pos, "%s(): %s must be at least %ld, not %ld", f,
                      what, lo, x);
        v[2 - sd + i] = x;
    }
}

/* x as [N, C, H, W]: a batch of one when unbatched, H = 1 in 1-D. */
static Node *to_4d(Graph *g, Node *x, int sd, int batched)
{
    const long *d = x->shape.d;
    int c = batched;                /* the channel dim */
    return g_reshape(g, x, shape_of(4, (long[]){
        batched ? d[0] : 1, d[c], sd == 2 ? d[c + 1] : 1, d[c + sd]}));
}

/* y [N, C, H, W] back to the user's rank. */
static Node *from_4d(Graph *g, Node *y, int sd, int batched)
{
    const long *d = y->shape.d;
    Shape s = {0, {0}};
    if (batched)
        s.d[s.rank++] = d[0];
    s.d[s.rank++] = d[1];
    if (sd == 2)
        s.d[s.rank++] = d[2];
    s.d[s.rank++] = d[3];
    return g_reshape(g, y, s);
}

/* The input's spatial sizes into n[0..1] (n[0] = 1 in 1-D); checks the
 * rank: [N, C, *] or unbatched [C, *].  Returns whether batched. */
static int spatial(const Expr *e, const Node *x, int sd, long *n)
{
    const Shape *s = &x->shape;
    if (s->rank != sd + 1 && s->rank != sd + 2)
        agc_error(e->pos, "%s() takes an input [N, C, %s] or [C, %s], not "
                  "%s", e->name, sd == 1 ? "L" : "H, W",
                  sd == 1 ? "L" : "H, W", shape_str(s));
    n[0] = sd == 2 ? s->d[s->rank - 2] : 1;
    n[1] = s->d[s->rank - 1];
    return s->rank == sd + 2;
}

static const char *const pad_modes[] = {"zeros", "circular", "reflect",
                                        "replicate", NULL};

/* conv1d/conv2d(x, w, b, stride, padding, dilation, groups, padding_mode)
 * as nn.Conv1d/nn.Conv2d apply them: a padding_mode other than zeros is
 * an explicit pad (OP_PADMODE) before a convolution without padding. */
static Node *conv(Build *b, const Expr *e, int sd, int depth)
{
    Graph *g = b->g;
    const char *f = e->name;
    Expr *a[MAXP];
    bind(e, (const char *[]){"x", "w", "b", "stride", "padding", "dilation",
                             "groups", "padding_mode", NULL}, 2, a);
    Node *x = tensor_arg(b, a[0], depth), *w = tensor_arg(b, a[1], depth);
    Node *bias = a[2] ? tensor_arg(b, a[2], depth) : NULL;
    long n[2], k[2] = {1, 1}, st[2] = {1, 1}, dil[2] = {1, 1};
    long p0[2] = {0, 0}, p1[2] = {0, 0}, groups = 1;
    int mode = 0;
    int batched = spatial(e, x, sd, n);
    const char *xs = shape_str(&x->shape), *ws = shape_str(&w->shape);
    if (w->shape.rank != sd + 2)
        agc_error(e->pos, "%s() takes a weight [out_channels, in_channels / "
                  "groups, %s], not %s", f, sd == 1 ? "kL" : "kH, kW", ws);
    k[2 - sd] = w->shape.d[2];
    k[1] = w->shape.d[sd + 1];
    if (a[3])
        want_ints(a[3], sd, 1, f, "stride", st);
    if (a[5])
        want_ints(a[5], sd, 1, f, "dilation", dil);
    if (a[6] && (groups = want_int(a[6], "groups")) < 1)
        agc_error(a[6]->pos, "%s(): groups must be at least 1, not %ld", f,
                  groups);
    if (a[7]) {
        while (a[7]->kind == E_NAME && pad_modes[mode] &&
               strcmp(pad_modes[mode], a[7]->name))
            mode++;
        if (a[7]->kind != E_NAME || !pad_modes[mode])
            agc_error(a[7]->pos, "%s(): padding_mode must be zeros, "
                      "circular, reflect or replicate, not '%s'", f,
                      expr_str(a[7]));
    }
    long C = x->shape.d[batched], O = w->shape.d[0];
    if (C % groups)
        agc_error(e->pos, "%s(): input channels %ld are not divisible by "
                  "groups %ld (input %s, weight %s)", f, C, groups, xs, ws);
    if (O % groups)
        agc_error(e->pos, "%s(): output channels %ld are not divisible by "
                  "groups %ld (input %s, weight %s)", f, O, groups, xs, ws);
    if (w->shape.d[1] * groups != C)
        agc_error(e->pos, "%s(): given groups=%ld, weight %s expects the "
                  "input to have %ld channels, but input %s has %ld", f,
                  groups, ws, w->shape.d[1] * groups, xs, C);
    if (bias && (bias->shape.rank != 1 || bias->shape.d[0] != O))
        agc_error(a[2]->pos, "%s(): bias %s does not match the %ld output "
                  "channels of weight %s", f, shape_str(&bias->shape), O,
                  ws);
    if (a[4] && a[4]->kind == E_NAME && !strcmp(a[4]->name, "same")) {
        if (st[0] != 1 || st[1] != 1)
            agc_error(a[4]->pos, "%s(): padding='same' is not supported for "
                      "strided convolutions (stride %s)", f,
                      dims_str(st, sd));
        for (int i = 0; i < 2; i++) {   /* PyTorch pads the odd one right */
            p0[i] = dil[i] * (k[i] - 1) / 2;
            p1[i] = dil[i] * (k[i] - 1) - p0[i];
        }
    } else if (a[4] && a[4]->kind == E_NAME) {
        if (strcmp(a[4]->name, "valid"))
            agc_error(a[4]->pos, "%s(): padding must be an int%s, 'same' or "
                      "'valid', not '%s'", f, sd == 2 ? ", a pair" : "",
                      a[4]->name);
    } else if (a[4]) {
        want_ints(a[4], sd, 0, f, "padding", p0);
        p1[0] = p0[0];
        p1[1] = p0[1];
    }
    for (int i = 0; i < 2; i++) {
        long span = dil[i] * (k[i] - 1) + 1;
        if (n[i] + p0[i] + p1[i] < span)
            agc_error(e->pos, "%s(): %skernel size %s is larger than the "
                      "padded input size %s (input %s, weight %s)", f,
                      dil[0] * dil[1] > 1 ? "dilated " : "",
                      dims_str((long[]){dil[0] * (k[0] - 1) + 1,
                                        dil[1] * (k[1] - 1) + 1}, sd),
                      dims_str((long[]){n[0] + p0[0] + p1[0],
                                        n[1] + p0[1] + p1[1]}, sd), xs, ws);
        if (mode == PAD_REFLECT && (p0[i] >= n[i] || p1[i] >= n[i]))
            agc_error(e->pos, "%s(): reflect padding %ld must be less than "
                      "the input size %ld (input %s, weight %s)", f,
                      p0[i] > p1[i] ? p0[i] : p1[i], n[i], xs, ws);
        if (mode == PAD_CIRCULAR && (p0[i] > n[i] || p1[i] > n[i]))
            agc_error(e->pos, "%s(): circular padding %ld would wrap around "
                      "the input size %ld more than once (input %s, weight "
                      "%s)", f, p0[i] > p1[i] ? p0[i] : p1[i], n[i], xs, ws);
    }
    g->pos = e->pos;
    Node *x4 = to_4d(g, x, sd, batched);
    Node *w4 = g_reshape(g, w, shape_of(4, (long[]){O, C / groups, k[0],
                                                    k[1]}));
    if (mode && (p0[0] || p0[1] || p1[0] || p1[1])) {
        x4 = g_padmode(g, x4, (long[]){mode, p0[0], p1[0], p0[1], p1[1]});
        memset(p0, 0, sizeof p0);
        memset(p1, 0, sizeof p1);
    }
    Node *y = g_conv(g, x4, w4, (long[]){groups, st[0], st[1], dil[0],
                                         dil[1], p0[0], p0[1], p1[0], p1[1]});
    if (bias)
        y = g_binary(g, OP_ADD, y,
                     g_reshape(g, bias, shape_of(3, (long[]){O, 1, 1})));
    return from_4d(g, y, sd, batched);
}

/* conv_transpose1d/2d(x, w, b, stride, padding, output_padding, groups,
 * dilation) for w [C_in, C_out / groups, k...], as PyTorch: the gradient
 * of the input of the convolution y -> x of weight w (OP_CONV_BWD_INPUT,
 * the weight read as is), over an output of length
 * (n - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1. */
static Node *conv_transpose(Build *b, const Expr *e, int sd, int depth)
{
    Graph *g = b->g;
    const char *f = e->name;
    Expr *a[MAXP];
    bind(e, (const char *[]){"x", "w", "b", "stride", "padding",
                             "output_padding", "groups", "dilation", NULL},
         2, a);
    Node *x = tensor_arg(b, a[0], depth), *w = tensor_arg(b, a[1], depth);
    Node *bias = a[2] ? tensor_arg(b, a[2], depth) : NULL;
    long n[2], k[2] = {1, 1}, st[2] = {1, 1}, dil[2] = {1, 1};
    long p[2] = {0, 0}, op[2] = {0, 0}, out[2], groups = 1;
    int batched = spatial(e, x, sd, n);
    const char *xs = shape_str(&x->shape), *ws = shape_str(&w->shape);
    if (w->shape.rank != sd + 2)
        agc_error(e->pos, "%s() takes a weight [in_channels, out_channels / "
                  "groups, %s], not %s", f, sd == 1 ? "kL" : "kH, kW", ws);
    k[2 - sd] = w->shape.d[2];
    k[1] = w->shape.d[sd + 1];
    if (a[3])
        want_ints(a[3], sd, 1, f, "stride", st);
    if (a[4])
        want_ints(a[4], sd, 0, f, "padding", p);
    if (a[5])
        want_ints(a[5], sd, 0, f, "output_padding", op);
    if (a[6] && (groups = want_int(a[6], "groups")) < 1)
        agc_error(a[6]->pos, "%s(): groups must be at least 1, not %ld", f,
                  groups);
    if (a[7])
        want_ints(a[7], sd, 1, f, "dilation", dil);
    long C = x->shape.d[batched], O = w->shape.d[1] * groups;
    if (C % groups)
        agc_error(e->pos, "%s(): input channels %ld are not divisible by "
                  "groups %ld (input %s, weight %s)", f, C, groups, xs, ws);
    if (w->shape.d[0] != C)
        agc_error(e->pos, "%s(): weight %s expects the input to have %ld "
                  "channels, but input %s has %ld", f, ws, w->shape.d[0],
                  xs, C);
    if (bias && (bias->shape.rank != 1 || bias->shape.d[0] != O))
        agc_error(a[2]->pos, "%s(): bias %s does not match the %ld output "
                  "channels of weight %s with groups=%ld", f,
                  shape_str(&bias->shape), O, ws, groups);
    for (int i = 0; i < 2; i++) {
        if (op[i] >= st[i] && op[i] >= dil[i])
            agc_error(a[5]->pos, "%s(): output padding must be smaller than "
                      "either stride or dilation, but got output_padding "
                      "%s, stride %s, dilation %s", f, dims_str(op, sd),
                      dims_str(st, sd), dims_str(dil, sd));
        out[i] = (n[i] - 1) * st[i] - 2 * p[i] + dil[i] * (k[i] - 1) +
                 op[i] + 1;
        if (out[i] < 1)
            agc_error(e->pos, "%s(): the output size %s is too small "
                      "(input %s, weight %s, padding %s)", f,
                      dims_str(out, sd), xs, ws, dims_str(p, sd));
    }
    if ((double)out[0] * (double)out[1] * (double)O *
            (double)(batched ? x->shape.d[0] : 1) > AGC_MAX_ELEMS)
        agc_error(e->pos, "%s(): the output of input %s and weight %s is "
                  "too large", f, xs, ws);
    g->pos = e->pos;
    Node *x4 = to_4d(g, x, sd, batched);
    Node *w4 = g_reshape(g, w, shape_of(4, (long[]){C, O / groups, k[0],
                                                    k[1]}));
    Node *y = g_conv_bwd(g, OP_CONV_BWD_INPUT, x4, w4,
                         (long[]){groups, st[0], st[1], dil[0], dil[1], p[0],
                                  p[1], p[0], p[1]},
                         shape_of(4, (long[]){x4->shape.d[0], O, out[0],
                                              out[1]}));
    if (bias)
        y = g_binary(g, OP_ADD, y,
                     g_reshape(g, bias, shape_of(3, (long[]){O, 1, 1})));
    return from_4d(g, y, sd, batched);
}

/* PyTorch's pooling output length: windows of span d (k - 1) + 1 every
 * s over n padded by p each side, floor or ceil; in ceil mode a last
 * window that would start in the right padding is dropped. */
static long pool_len(long n, long k, long s, long p, long d, int ceil_mode)
{
    long span = n + 2 * p - d * (k - 1) - 1;
    if (span < 0)
        return 0;
    long out = (span + (ceil_mode ? s - 1 : 0)) / s + 1;
    if (ceil_mode && (out - 1) * s >= n + p)
        out--;
    return out;
}

/* max_pool1d/2d(x, kernel_size, stride=kernel_size, padding=0,
 * dilation=1, ceil_mode=false), avg_pool1d/2d(x, kernel_size,
 * stride=kernel_size, padding=0, ceil_mode=false,
 * count_include_pad=true), as PyTorch: ceil mode pads the bottom and
 * right further (by e) for the last window.  An average pool is a
 * convolution of each channel with a constant window: 1/(kH kW) when
 * every window has that divisor, else ones and then a constant 1/divisor
 * per output position, the divisor of PyTorch's avg_pool2d: the window
 * clipped to the padded input (count_include_pad) or to the input. */
static Node *pool(Build *b, const Expr *e, int sd, int is_max, int depth)
{
    Graph *g = b->g;
    const char *f = e->name;
    Expr *a[MAXP];
    bind(e, is_max ? (const char *[]){"x", "kernel_size", "stride",
                                       "padding", "dilation", "ceil_mode",
                                       NULL}
                   : (const char *[]){"x", "kernel_size", "stride",
                                      "padding", "ceil_mode",
                                      "count_include_pad", NULL}, 2, a);
    Node *x = tensor_arg(b, a[0], depth);
    long n[2], k[2] = {1, 1}, st[2] = {1, 1}, p[2] = {0, 0}, d[2] = {1, 1};
    long out[2], ext[2];
    int batched = spatial(e, x, sd, n);
    const Expr *ce = a[is_max ? 5 : 4];
    int ceil_mode = ce ? want_bool(ce, "ceil_mode") : 0;
    int include_pad = !is_max && a[5] ? want_bool(a[5], "count_include_pad")
                                      : 1;
    want_ints(a[1], sd, 1, f, "kernel_size", k);
    memcpy(st, k, sizeof st);
    if (a[2])
        want_ints(a[2], sd, 1, f, "stride", st);
    if (a[3])
        want_ints(a[3], sd, 0, f, "padding", p);
    if (is_max && a[4])
        want_ints(a[4], sd, 1, f, "dilation", d);
    for (int i = 0; i < 2; i++) {
        if (p[i] > k[i] / 2)
            agc_error(a[3]->pos, "%s(): pad should be at most half of kernel "
                      "size, but got padding %s and kernel_size %s", f,
                      dims_str(p, sd), dims_str(k, sd));
        long span = d[i] * (k[i] - 1) + 1;
        if (n[i] + 2 * p[i] < span)
            agc_error(e->pos, "%s(): %skernel size %s is larger than the "
                      "padded input size %s (input %s)", f,
                      d[0] * d[1] > 1 ? "dilated " : "",
                      dims_str((long[]){d[0] * (k[0] - 1) + 1,
                                        d[1] * (k[1] - 1) + 1}, sd),
                      dims_str((long[]){n[0] + 2 * p[0], n[1] + 2 * p[1]},
                               sd), shape_str(&x->shape));
        out[i] = pool_len(n[i], k[i], st[i], p[i], d[i], ceil_mode);
        /* what the last window reads past the padded input */
        ext[i] = (out[i] - 1) * st[i] + span - (n[i] + 2 * p[i]);
        if (ext[i] < 0)
            ext[i] = 0;
    }
    g->pos = e->pos;
    Node *x4 = to_4d(g, x, sd, batched), *y;
    if (is_max) {
        y = g_maxpool(g, x4, (long[]){k[0], k[1], st[0], st[1], p[0], p[1],
                                      d[0], d[1], ext[0], ext[1]});
        return from_4d(g, y, sd, batched);
    }
    /* the divisor of each output position */
    double *inv = agc_alloc(sizeof(double) * (size_t)(out[0] * out[1]));
    int uniform = 1;
    for (long i = 0; i < out[0]; i++)
        for (long j = 0; j < out[1]; j++) {
            long h0 = i * st[0] - p[0], w0 = j * st[1] - p[1];
            long h1 = h0 + k[0] < n[0] + p[0] ? h0 + k[0] : n[0] + p[0];
            long w1 = w0 + k[1] < n[1] + p[1] ? w0 + k[1] : n[1] + p[1];
            if (!include_pad) {
                h0 = h0 < 0 ? 0 : h0;
                w0 = w0 < 0 ? 0 : w0;
                h1 = h1 < n[0] ? h1 : n[0];
                w1 = w1 < n[1] ? w1 : n[1];
            }
            long div = (h1 - h0) * (w1 - w0);
            inv[i * out[1] + j] = 1.0 / (double)div;
            uniform &= div == k[0] * k[1];
        }
    const long *xd = x4->shape.d;
    Node *xc = g_reshape(g, x4, shape_of(4, (long[]){xd[0] * xd[1], 1,
                                                      xd[2], xd[3]}));
    Node *w = g_const(g, shape_of(4, (long[]){1, 1, k[0], k[1]}),
                      uniform ? 1.0 / (double)(k[0] * k[1]) : 1.0);
    y = g_conv(g, xc, w, (long[]){1, st[0], st[1], 1, 1, p[0], p[1],
                                  p[0] + ext[0], p[1] + ext[1]});
    if (!uniform)
        y = g_binary(g, OP_MUL, y, g_const_data(g, shape_of(2, out), inv));
    y = g_reshape(g, y, shape_of(4, (long[]){xd[0], xd[1], y->shape.d[2],
                                             y->shape.d[3]}));
    return from_4d(g, y, sd, batched);
}

/* The [n, m] matrix of an adaptive average over n into m: column i
 * averages PyTorch's window [floor(i n / m), ceil((i + 1) n / m)). */
static Node *adaptive_matrix(Graph *g, long n, long m)
{
    double *a = agc_alloc(sizeof(double) * (size_t)(n * m));
    for (long i = 0; i < m; i++) {
        long start = i * n / m, end = ((i + 1) * n + m - 1) / m;
        for (long j = start; j < end; j++)
            a[j * m + i] = 1.0 / (double)(end - start);
    }
    return g_const_data(g, shape_of(2, (long[]){n, m}), a);
}

/* adaptive_avg_pool1d/2d(x, output_size), as PyTorch: output position i
 * of a dim n -> m averages [floor(i n / m), ceil((i + 1) n / m)).  The
 * windows are fixed, so each dim is a matmul with a constant matrix
 * (none where m = n). */
static Node *adaptive_pool(Build *b, const Expr *e, int sd, int depth)
{
    Graph *g = b->g;
    const char *f = e->name;
    Expr *a[MAXP];
    bind(e, (const char *[]){"x", "output_size", NULL}, 2, a);
    Node *x = tensor_arg(b, a[0], depth);
    long n[2], m[2] = {1, 1};
    int batched = spatial(e, x, sd, n);
    want_ints(a[1], sd, 1, f, "output_size", m);
    if ((double)m[0] * (double)m[1] * (double)shape_count(&x->shape) /
            (double)(n[0] * n[1]) > AGC_MAX_ELEMS)
        agc_error(a[1]->pos, "%s(): the output of input %s is too large", f,
                  shape_str(&x->shape));
    g->pos = e->pos;
    Node *y = to_4d(g, x, sd, batched);
    long nc = y->shape.d[0] * y->shape.d[1];
    if (m[1] != n[1])               /* along W: [nc h, w] @ [w, mw] */
        y = g_matmul(g, g_reshape(g, y, shape_of(2, (long[]){nc * n[0],
                                                             n[1]})),
                     adaptive_matrix(g, n[1], m[1]));
    if (m[0] != n[0]) {             /* along H, with H made the last dim */
        y = g_transpose(g, g_reshape(g, y, shape_of(3, (long[]){nc, n[0],
                                                                m[1]})),
                        1, 2);
        y = g_matmul(g, g_reshape(g, y, shape_of(2, (long[]){nc * m[1],
                                                             n[0]})),
                     adaptive_matrix(g, n[0], m[0]));
        y = g_transpose(g, g_reshape(g, y, shape_of(3, (long[]){nc, m[1],
                                                                m[0]})),
                        1, 2);
    }
    const long *d = x->shape.d;
    y = g_reshape(g, y, shape_of(4, (long[]){batched ? d[0] : 1,
                                             d[batched], m[0], m[1]}));
    return from_4d(g, y, sd, batched);
}

/* linear(x, w, b) = x @ w.T + b for x [..., in], w [out, in], b [out]. */
static Node *linear(Build *b, const Expr *e, int depth)
{
    Graph *g = b->g;
    Expr *a[MAXP];
    bind(e, (const char *[]){"x", "w", "b", NULL}, 2, a);
    Node *x = tensor_arg(b, a[0], depth), *w = tensor_arg(b, a[1], depth);
    Node *bias = a[2] ? tensor_arg(b, a[2], depth) : NULL;
    const Shape *xs = &x->shape, *ws = &w->shape;
    if (ws->rank != 2)
        agc_error(e->pos, "linear() takes a weight [out_features, "
                  "in_features], not %s", shape_str(ws));
    if (xs->rank < 1 || xs->d[xs->rank - 1] != ws->d[1])
        agc_error(e->pos, "linear(): input %s does not match weight %s: "
                  "expected %ld input features", shape_str(xs),
                  shape_str(ws), ws->d[1]);
    if (bias && (bias->shape.rank != 1 || bias->shape.d[0] != ws->d[0]))
        agc_error(a[2]->pos, "linear(): bias %s does not match the %ld "
                  "output features of weight %s", shape_str(&bias->shape),
                  ws->d[0], shape_str(ws));
    g->pos = e->pos;
    Shape s = *xs;
    s.d[s.rank - 1] = ws->d[0];
    Node *x2 = xs->rank == 1 ? x
               : g_reshape(g, x, shape_of(2, (long[]){
                     shape_count(xs) / ws->d[1], ws->d[1]}));
    Node *y = g_reshape(g, g_matmul(g, x2, g_transpose(g, w, 0, 1)), s);
    return bias ? g_binary(g, OP_ADD, y, bias) : y;
}

/* ---- normalisation and dropout (section 11) ----
 *
 * Written in primitives, so that their gradients are the primitives':
 * the same as PyTorch's native kernels' up to rounding.  Batch norm and
 * dropout differ between train and eval mode: OP_MODE holds both values,
 * NAME_forward computes the first and NAME_infer the second, and the
 * running statistics are updated by OP_ASSIGN nodes, which forward alone
 * runs. */

/* x normalised over the dims in mask (keepdim): (x - mean) / sqrt(var +
 * eps), var biased; *mean_out and *var_out get the statistics. */
static Node *normalise(Graph *g, Node *x, unsigned mask, double eps,
                       Node **mean_out, Node **var_out)
{
    Node *inv_n = g_scalar(g, 1.0 / (double)reduced_count(x, mask));
    Node *mean = g_binary(g, OP_MUL, g_reduce(g, OP_SUM, x, mask, 1), inv_n);
    Node *xc = g_binary(g, OP_SUB, x, mean);
    Node *var = g_binary(g, OP_MUL, g_reduce(g, OP_SUM, g_binary(
                             g, OP_MUL, xc, xc), mask, 1), inv_n);
    Node *rstd = g_binary(g, OP_DIV, g_scalar(g, 1), g_unary(
                              g, OP_SQRT, g_binary(g, OP_ADD, var,
                                                   g_scalar(g, eps))));
    if (mean_out)
        *mean_out = mean;
    if (var_out)
        *var_out = var;
    return g_binary(g, OP_MUL, xc, rstd);
}

/* layer_norm(x, w, b, eps=1e-5, normalized_shape): F.layer_norm over the
 * trailing dims of w's shape (b's, when w is omitted; else
 * normalized_shape, an int or a tuple; else the last dim). */
static Node *layer_norm(Build *b, const Expr *e, int depth)
{
    Graph *g = b->g;
    Expr *a[MAXP];
    bind(e, (const char *[]){"x", "w", "b", "eps", "normalized_shape",
                             NULL}, 1, a);
    Node *x = tensor_arg(b, a[0], depth);
    Node *w = a[1] ? tensor_arg(b, a[1], depth) : NULL;
    Node *bias = a[2] ? tensor_arg(b, a[2], depth) : NULL;
    double eps = a[3] ? want_num(a[3], "eps") : 1e-5;
    const Shape *xs = &x->shape;
    Shape ns = {0, {0}};
    if (w || bias) {
        ns = (w ? w : bias)->shape;
    } else if (a[4]) {
        const Expr *t = a[4];
        int n = t->kind == E_TUPLE ? t->nargs : 1;
        if (n > AGC_MAX_RANK)
            agc_error(t->pos, "layer_norm(): more than %d dims",
                      AGC_MAX_RANK);
        for (int i = 0; i < n; i++) {
            const Expr *d = t->kind == E_TUPLE ? t->args[i] : t;
            if ((ns.d[ns.rank++] = want_int(d, "normalized_shape")) < 1)
                agc_error(d->pos, "layer_norm(): normalized_shape must be "
                          "positive, not %s", expr_str(t));
        }
    } else if (xs->rank) {
        ns = shape_of(1, &xs->d[xs->rank - 1]);
    }
    if (w && bias && !shape_eq(&w->shape, &bias->shape))
        agc_error(a[2]->pos, "layer_norm(): bias %s does not match weight "
                  "%s", shape_str(&bias->shape), shape_str(&w->shape));
    if (a[4] && (w || bias))
        agc_error(a[4]->pos, "layer_norm(): give normalized_shape or a "
                  "weight, not both (the weight's shape is the one "
                  "normalised over)");
    int ok = ns.rank >= 1 && ns.rank <= xs->rank;
    for (int i = 0; ok && i < ns.rank; i++)
        ok = xs->d[xs->rank - ns.rank + i] == ns.d[i];
    if (!ok)
        agc_error(e->pos, "layer_norm(): normalized shape %s does not trail "
                  "the input's shape %s (expected an input [*, %s])",
                  shape_str(&ns), shape_str(xs),
                  agc_strndup(shape_str(&ns) + 1,
                              strlen(shape_str(&ns)) - 2));
    unsigned mask = 0;
    for (int i = xs->rank - ns.rank; i < xs->rank; i++)
        mask |= 1u << i;
    g->pos = e->pos;
    Node *y = normalise(g, x, mask, eps, NULL, NULL);
    if (w)
        y = g_binary(g, OP_MUL, y, w);
    if (bias)
        y = g_binary(g, OP_ADD, y, bias);
    return y;
}

/* The buffer a batch_norm argument names: a layer's own (an input node
 * of a buffer declaration), as in[0] of an OP_ASSIGN. */
static Node *buffer_arg(Build *b, const Expr *e, int depth, const char *what)
{
    Node *n = tensor_arg(b, e, depth);
    if (n->op != OP_INPUT || !b->p->decls[n->decl].buffer)
        agc_error(e->pos, "batch_norm(): %s must be a batchnorm layer's "
                  "buffer, not %s", what, expr_str(e));
    return n;
}

/* batch_norm(x, running_mean, running_var, weight, bias,
 * num_batches_tracked, momentum=0.1, eps=1e-5): what the batchnorm
 * layers lower to.  Train mode normalises with the batch's mean and
 * biased variance over every dim but 1 (the channels) and updates the
 * running statistics as nn.BatchNorm does:
 *   running = (1 - momentum) running + momentum stat
 * with the unbiased variance, momentum none being the cumulative average
 * (momentum = 1 / num_batches_tracked after its increment); eval mode
 * normalises with the running statistics.  Without them, both modes use
 * the batch's (track_running_stats=false). */
static Node *batch_norm(Build *b, const Expr *e, int depth)
{
    Graph *g = b->g;
    Program *p = b->p;
    Expr *a[MAXP];
    bind(e, (const char *[]){"x", "running_mean", "running_var", "weight",
                             "bias", "num_batches_tracked", "momentum",
                             "eps", NULL}, 1, a);
    Node *x = tensor_arg(b, a[0], depth);
    Node *w = a[3] ? tensor_arg(b, a[3], depth) : NULL;
    Node *bias = a[4] ? tensor_arg(b, a[4], depth) : NULL;
    Node *rm = a[1] ? buffer_arg(b, a[1], depth, "running_mean") : NULL;
    Node *rv = a[2] ? buffer_arg(b, a[2], depth, "running_var") : NULL;
    Node *nbt = a[5] ? buffer_arg(b, a[5], depth, "num_batches_tracked")
                     : NULL;
    double eps = a[7] ? want_num(a[7], "eps") : 1e-5, momentum = 0.1;
    int cumulative = 0;
    if (a[6] && a[6]->kind == E_NAME &&
        (!strcmp(a[6]->name, "none") || !strcmp(a[6]->name, "None") ||
         !strcmp(a[6]->name, "null")))
        cumulative = 1;
    else if (a[6])
        momentum = want_num(a[6], "momentum");
    const Shape *xs = &x->shape;
    if (xs->rank < 2)
        agc_error(e->pos, "batch_norm() takes an input [N, C, *], not %s",
                  shape_str(xs));
    long C = xs->d[1], n = shape_count(xs) / C;
    Node *chan[5] = {rm, rv, w, bias, NULL};
    for (int i = 0; i < 4; i++)
        if (chan[i] && (chan[i]->shape.rank != 1 ||
                        chan[i]->shape.d[0] != C))
            agc_error(a[i + 1]->pos, "batch_norm(): %s %s does not match "
                      "the %ld channels of input %s", expr_str(a[i + 1]),
                      shape_str(&chan[i]->shape), C, shape_str(xs));
    if ((rm == NULL) != (rv == NULL) || (nbt && !rm))
        agc_error(e->pos, "batch_norm(): give running_mean, running_var "
                  "and num_batches_tracked together");
    if (b->loop)
        agc_error(e->pos, "batch_norm() is not supported inside a loop");
    if (n < 2)
        agc_error(e->pos, "batch_norm(): expected more than 1 value per "
                  "channel when training, got input %s", shape_str(xs));
    unsigned mask = ((1u << xs->rank) - 1) & ~2u;
    Shape cs = {xs->rank, {1, C, 1, 1, 1, 1, 1, 1}};   /* [1, C, 1...] */
    g->pos = e->pos;
    Node *mean, *var;
    Node *y = normalise(g, x, mask, eps, &mean, &var);
    if (rm) {
        /* train mode: the running statistics' update */
        Shape c1 = shape_of(1, &C);
        Node *f = g_scalar(g, momentum);
        if (cumulative && nbt)
            f = g_binary(g, OP_DIV, g_scalar(g, 1), g_binary(
                             g, OP_ADD, nbt, g_scalar(g, 1)));
        else if (cumulative)
            f = g_scalar(g, 0);     /* no count: as torch, momentum 0 */
        Node *keep = g_binary(g, OP_SUB, g_scalar(g, 1), f);
        Node *unbiased = g_binary(g, OP_MUL, g_reshape(g, var, c1),
                                  g_scalar(g, (double)n / (double)(n - 1)));
        g_assign(g, rm, g_binary(g, OP_ADD, g_binary(g, OP_MUL, rm, keep),
                                 g_binary(g, OP_MUL, g_reshape(g, mean, c1),
                                          f)));
        g_assign(g, rv, g_binary(g, OP_ADD, g_binary(g, OP_MUL, rv, keep),
                                 g_binary(g, OP_MUL, unbiased, f)));
        if (nbt)                    /* after the reads of the count above */
            g_assign(g, nbt, NULL);
        /* eval mode: the running statistics */
        Node *rstd = g_binary(g, OP_DIV, g_scalar(g, 1), g_unary(
                                  g, OP_SQRT, g_binary(g, OP_ADD, g_reshape(
                                      g, rv, cs), g_scalar(g, eps))));
        Node *ye = g_binary(g, OP_MUL, g_binary(g, OP_SUB, x, g_reshape(
                                                    g, rm, cs)), rstd);
        y = g_mode(g, y, ye);
        p->has_modes = 1;
    }
    if (w)
        y = g_binary(g, OP_MUL, y, g_reshape(g, w, cs));
    if (bias)
        y = g_binary(g, OP_ADD, y, g_reshape(g, bias, cs));
    return y;
}

/* The program's dropout step counter, made at the first dropout: an
 * int64 0-d leaf of role ROLE_RNG, "rng.step". */
static Node *rng_step(Build *b)
{
    Program *p = b->p;
    if (p->rng_step)
        return p->rng_step;
    int i = p->ndecls;
    Decl *d = AGC_PUSH(p->decls, p->ndecls, p->dcap);
    memset(d, 0, sizeof *d);
    d->name = "rng.step";
    d->pos = p->spec->pos;
    d->init = INIT_ZEROS;
    d->buffer = 2;
    d->is_int = 1;
    p->leaves = agc_grow(p->leaves, sizeof(Node *) * (size_t)(i + 1),
                         sizeof(Node *) * (size_t)(i + 2));
    Graph *g = p->g;
    Pos pos = g->pos;
    g->pos = d->pos;
    p->rng_step = p->leaves[i] = g_input(g, d->shape, i, 0);
    p->rng_step->name = d->name;
    p->rng_step->is_int = 1;
    g->pos = pos;
    program_add_tensor(p, d->name, ROLE_RNG, p->rng_step, d->pos)->decl = i;
    return p->rng_step;
}

/* dropout(x, p=0.5): in train mode each element is zeroed with
 * probability p and the others scaled by 1 / (1 - p) (p = 1: zeros); in
 * eval mode, and for p = 0, x itself.  The mask comes from agc's
 * generator (emit.c, agc_dropout_keep), not PyTorch's. */
static Node *dropout(Build *b, const Expr *e, int depth)
{
    Graph *g = b->g;
    Program *p = b->p;
    Expr *a[MAXP];
    bind(e, (const char *[]){"x", "p", NULL}, 1, a);
    Node *x = tensor_arg(b, a[0], depth);
    double pr = a[1] ? want_num(a[1], "p") : 0.5;
    if (!(pr >= 0 && pr <= 1))
        agc_error(a[1]->pos, "dropout(): p must be between 0 and 1, not %g",
                  pr);
    if (pr == 0)
        return x;
    if (b->loop || g->phase)
        agc_error(e->pos, "dropout() is not supported inside a loop or a "
                  "function's backward");
    Node *step = rng_step(b);
    g->pos = e->pos;
    long attr[AGC_NATTR] = {0};
    attr[DO_STREAM] = p->ndropouts++;
    attr[DO_DROP] = (long)ceil(pr * 9007199254740992.0);   /* 2^53 */
    Node *mask = g_dropout(g, x->shape, step, attr, pr);
    p->has_modes = 1;
    return g_mode(g, g_binary(g, OP_MUL, x, mask), x);
}

static int is_word(const char *dflt)
{
    char *end;
    strtod(dflt, &end);
    return *end != 0;
}

/* The default of op's parameter `name`, or NULL. */
static const char *param_default(Op op, const char *name)
{
    const char *names[MAXP + 1], *dflt[MAXP];
    int np = op_params(op, names, dflt, MAXP + 1);
    for (int i = 0; i < np; i++)
        if (!strcmp(names[i], name))
            return dflt[i];
    return NULL;
}

/* f(x, ...) for an elementwise op of ops.def that a spec calls by name:
 * tensors, then constants (each an operand, a 0-d scalar) with their
 * defaults.  A word parameter (approximate=none) selects the row: the
 * first of the function's name takes its default, and a row of the same
 * name whose default is the word given takes that word. */
static Node *table_call(Build *b, const Expr *e, Op op, int depth)
{
    Graph *g = b->g;
    const char *names[MAXP + 1], *dflt[MAXP];
    Expr *a[MAXP];
    Node *in[MAXP];
    int np = op_params(op, names, dflt, MAXP + 1), nt = 0, n = 0;
    while (nt < np && !dflt[nt])
        nt++;
    bind(e, names, nt, a);
    for (int i = nt; i < np; i++) {
        if (!is_word(dflt[i]) || !a[i] ||
            (a[i]->kind == E_NAME && !strcmp(a[i]->name, dflt[i])))
            continue;
        const char *words = "";
        for (int k = 0; k < OP_LAST; k++) {
            const char *w = op_info[k].call && !strcmp(op_info[k].name,
                                                       e->name)
                                ? param_default((Op)k, names[i]) : NULL;
            if (!w)
                continue;
            if (a[i]->kind == E_NAME && !strcmp(a[i]->name, w))
                return table_call(b, e, (Op)k, depth);
            words = agc_fmt("%s%s'%s'", words, *words ? ", " : "", w);
        }
        agc_error(a[i]->pos, "%s(): %s='%s' is not supported (expected "
                  "one of: %s)", e->name, names[i], expr_str(a[i]), words);
    }
    for (; n < nt; n++)
        in[n] = tensor_arg(b, a[n], depth);
    g->pos = e->pos;
    for (int i = nt; i < np; i++)
        if (!is_word(dflt[i]))
            in[n++] = g_scalar(g, a[i] ? want_num(a[i], names[i])
                                       : strtod(dflt[i], NULL));
    return g_elementwise(g, op, in, n);
}

/* ---- int64 tensors and the losses and index ops (sections 10, 11) ----
 *
 * An int64 value (an int64 input, argmax's result) is read only by
 * comparisons, where's condition, and through OP_CLASS_INDEX, which
 * checks each class index at run time and gives it as a float: one_hot
 * compares it with 0, 1, ... C-1, and cross_entropy and nll_loss take
 * the one-hot rows as the target, so that no index ever addresses memory.
 * argmax is the first index where x equals its maximum, a float in the
 * graph that is int64 in the struct (exact: at most 2^24 along dim). */

static const char *const int_uses =
    "int64 tensors may be the target of cross_entropy or nll_loss, the "
    "argument of one_hot, an operand of a comparison or the condition of "
    "where";

/* Whether e may take an int64 tensor as its i-th tensor operand. */
static int int_allowed(const Expr *e, int i)
{
    if (e->kind == E_BINARY)
        return e->op == X_LT || e->op == X_LE || e->op == X_GT ||
               e->op == X_GE || e->op == X_EQ || e->op == X_NE;
    if (e->kind != E_CALL)
        return e->kind == E_NAME;
    if (!strcmp(e->name, "where") || !strcmp(e->name, "one_hot"))
        return i == 0;
    if (!strcmp(e->name, "cross_entropy") || !strcmp(e->name, "nll_loss"))
        return i == 1;
    if (!strcmp(e->name, "batch_norm"))     /* its num_batches_tracked */
        return i > 0;
    return 0;
}

static void int_use(const Expr *e, const Operand *op, int nop)
{
    for (int i = 0; i < nop; i++) {
        if (!op[i].node->is_int || int_allowed(e, i))
            continue;
        const char *what = op[i].node->name
                                ? agc_fmt("int64 tensor '%s'",
                                          op[i].node->name)
                                : "an int64 tensor";
        const char *in = e->kind == E_CALL ? agc_fmt("%s()", e->name)
                         : e->kind == E_UNARY ? "unary '-'"
                         : e->kind == E_TRANSPOSE ? "'.T'"
                         : e->op == X_LE ? "'<='" : e->op == X_GE ? "'>='"
                         : e->op == X_EQ ? "'=='" : e->op == X_NE ? "'!='"
                         : agc_fmt("'%c'", e->op);
        agc_error(e->pos, "%s cannot be used in %s; %s", what, in, int_uses);
    }
}

/* The mean over all elements of x. */
static Node *mean_all(Graph *g, Node *x)
{
    unsigned m = x->shape.rank ? (1u << x->shape.rank) - 1 : 0;
    return g_binary(g, OP_MUL, g_reduce(g, OP_SUM, x, m, 0),
                    g_scalar(g, 1.0 / (double)shape_count(&x->shape)));
}

/* x's shape with a dim of size n inserted at dim. */
static Shape insert_dim(Graph *g, Shape s, int dim, long n)
{
    if (s.rank == AGC_MAX_RANK)
        agc_error(g->pos, "more than %d dims", AGC_MAX_RANK);
    for (int k = s.rank; k > dim; k--)
        s.d[k] = s.d[k - 1];
    s.d[dim] = n;
    s.rank++;
    return s;
}

/* 0, 1, ... n-1 along dim of shape ks (1 elsewhere): one node per graph
 * and shape, so that equal argmax or one_hot expressions are one. */
static Node *arange_at(Graph *g, Shape ks, long n)
{
    for (int i = 0; i < g->n; i++) {
        Node *c = g->nodes[i];
        int same = c->op == OP_CONST && c->cdata && shape_eq(&c->shape, &ks);
        for (long k = 0; same && k < n; k++)
            same = c->cdata[k] == (double)k;
        if (same)
            return c;
    }
    double *v = agc_alloc(sizeof(double) * (size_t)n);
    for (long k = 0; k < n; k++)
        v[k] = (double)k;
    return g_const_data(g, ks, v);
}

/* The rows of one_hot(t, classes) along dim of a tensor of shape s
 * (t's shape with classes inserted at dim): 1 where t's index is k. */
static Node *one_hot_at(Graph *g, Node *t, long classes, int dim)
{
    if (classes > (1L << 24))
        agc_error(g->pos, "more than %ld classes", 1L << 24);
    Node *c = g_class_index(g, t, classes);
    Shape s = insert_dim(g, t->shape, dim, classes);
    Shape ks = s;
    for (int k = 0; k < ks.rank; k++)
        ks.d[k] = k == dim ? classes : 1;
    Shape one = insert_dim(g, t->shape, dim, 1);
    return g_binary(g, OP_EQ, g_reshape(g, c, one),
                    arange_at(g, ks, classes));
}

/* The class dim of logits x: 1, or 0 for unbatched [C]. */
static int class_dim(const Expr *e, const Node *x)
{
    if (x->shape.rank < 1)
        agc_error(e->pos, "%s() takes input [C], [N, C] or [N, C, d1, ...], "
                  "not a 0-d scalar", e->name);
    return x->shape.rank == 1 ? 0 : 1;
}

/* The target of cross_entropy or nll_loss as probabilities of x's shape:
 * one-hot rows of int64 class indices t (x's shape without the class
 * dim), or t itself. */
static Node *target_probs(Build *b, const Expr *e, Node *x, Node *t,
                          int cdim)
{
    Graph *g = b->g;
    Shape want = x->shape;
    for (int k = cdim; k < want.rank - 1; k++)
        want.d[k] = want.d[k + 1];
    want.rank--;
    if (!t->is_int) {
        if (!shape_eq(&x->shape, &t->shape))
            agc_error(e->pos, "%s(): input %s takes a target of int64 class "
                      "indices of shape %s or class probabilities of shape "
                      "%s, not %s", e->name, shape_str(&x->shape),
                      shape_str(&want), shape_str(&x->shape),
                      shape_str(&t->shape));
        return t;
    }
    if (!shape_eq(&want, &t->shape))
        agc_error(e->pos, "%s(): input %s expects int64 class indices of "
                  "shape %s, not %s", e->name, shape_str(&x->shape),
                  shape_str(&want), shape_str(&t->shape));
    return one_hot_at(g, t, x->shape.d[cdim], cdim);
}

/* cross_entropy, nll_loss, binary_cross_entropy_with_logits, l1_loss,
 * smooth_l1_loss (means, as PyTorch's reduction='mean'), argmax and
 * one_hot. */
static Node *int_call(Build *b, const Expr *e, int depth)
{
    Graph *g = b->g;
    const char *f = e->name;
    Expr *a[MAXP] = {NULL};
    Node *x, *y;
    if (!strcmp(f, "cross_entropy") || !strcmp(f, "nll_loss")) {
        int ce = f[0] == 'c';
        bind(e, ce ? (const char *[]){"input", "target", "label_smoothing",
                                      NULL}
                   : (const char *[]){"input", "target", NULL}, 2, a);
        x = tensor_arg(b, a[0], depth);
        y = tensor_arg(b, a[1], depth);
        double eps = a[2] ? want_num(a[2], "label_smoothing") : 0;
        if (eps < 0 || eps > 1)
            agc_error(a[2]->pos, "cross_entropy(): label_smoothing must be "
                      "between 0.0 and 1.0, not %g", eps);
        if (!ce && !y->is_int)
            agc_error(a[1]->pos, "nll_loss() takes int64 class indices as "
                      "its target");
        if (x->is_int)
            agc_error(a[0]->pos, "%s() takes a float input, not int64", f);
        g->pos = e->pos;
        int cdim = class_dim(e, x);
        long C = x->shape.d[cdim];
        Node *q = target_probs(b, e, x, y, cdim);
        if (eps > 0)                /* (1 - eps) q + eps / C */
            q = g_binary(g, OP_ADD, g_binary(g, OP_MUL, q,
                                             g_scalar(g, 1 - eps)),
                         g_scalar(g, eps / (double)C));
        Node *lp = ce ? log_softmax(g, x, cdim, NULL) : x;
        Node *s = g_reduce(g, OP_SUM, g_binary(g, OP_MUL, q, lp),
                           dims_mask(b, NULL, x), 0);
        double n = (double)(shape_count(&x->shape) / C);
        return g_binary(g, OP_MUL, s, g_scalar(g, -1.0 / n));
    }
    if (!strcmp(f, "argmax")) {
        bind(e, (const char *[]){"x", "dim", "keepdim", NULL}, 1, a);
        x = tensor_arg(b, a[0], depth);
        if (x->is_int)
            agc_error(a[0]->pos, "argmax() takes a float tensor, not int64");
        int keep = a[2] ? want_bool(a[2], "keepdim") : 0;
        g->pos = e->pos;
        if (!a[1]) {                /* over the flattened tensor */
            x = g_reshape(g, x, shape_of(1, (long[]){shape_count(&x->shape)}));
            keep = 0;
        }
        if (x->shape.rank == 0)
            x = g_reshape(g, x, shape_of(1, (long[]){1}));
        int d = a[1] ? want_dim(a[1], x, "dim") : 0;
        long n = x->shape.d[d];
        if (n > (1L << 24))
            agc_error(e->pos, "argmax() over more than %ld elements",
                      1L << 24);
        unsigned m = 1u << d;
        Shape ks = x->shape;
        for (int k = 0; k < ks.rank; k++)
            ks.d[k] = k == d ? n : 1;
        /* the first index holding the maximum, or a NaN as torch */
        Node *hit = g_binary(g, OP_MAXIMUM,
                             g_binary(g, OP_EQ, x, g_detach(g,
                                      g_reduce(g, OP_AMAX, x, m, 1))),
                             g_binary(g, OP_NE, x, x));
        Node *r = g_reduce(g, OP_AMIN,
                           g_where(g, hit, arange_at(g, ks, n),
                                   g_scalar(g, (double)n)), m, keep);
        if (r->op == OP_CONST)      /* a node of its own, flagged int64 */
            r = g_const_data(g, r->shape, agc_alloc(sizeof(double) *
                                 (size_t)shape_count(&r->shape)));
        r->is_int = 1;
        return r;
    }
    if (!strcmp(f, "one_hot")) {
        bind(e, (const char *[]){"t", "num_classes", NULL}, 1, a);
        x = tensor_arg(b, a[0], depth);
        if (!x->is_int)
            agc_error(a[0]->pos, "one_hot() takes int64 class indices "
                      "(PyTorch: one_hot is only applicable to index "
                      "tensor)");
        long C = a[1] ? want_int(a[1], "num_classes") : -1;
        if (C < 1)
            agc_error(a[1] ? a[1]->pos : e->pos, "one_hot() needs "
                      "num_classes, at least 1 (agc's shapes are known "
                      "when compiling)");
        g->pos = e->pos;
        return one_hot_at(g, x, C, x->shape.rank);
    }
    /* two float tensors of one shape (broadcast as torch does) */
    int smooth = f[0] == 's';
    bind(e, smooth ? (const char *[]){"input", "target", "beta", NULL}
                   : (const char *[]){"input", "target", NULL}, 2, a);
    x = tensor_arg(b, a[0], depth);
    y = tensor_arg(b, a[1], depth);
    double beta = a[2] ? want_num(a[2], "beta") : 1;
    if (beta < 0)
        agc_error(a[2]->pos, "smooth_l1_loss() does not support negative "
                  "values for beta, found %g", beta);
    g->pos = e->pos;
    if (f[0] == 'b') {
        if (!shape_eq(&x->shape, &y->shape))
            agc_error(e->pos, "binary_cross_entropy_with_logits(): target "
                      "size %s must be the same as input size %s",
                      shape_str(&y->shape), shape_str(&x->shape));
        /* (1 - t) x + log(1 + exp(-x)), the log term as softplus(-x): the
         * stable form, whose gradient is exactly sigmoid(x) - t */
        Node *sp = g_elementwise(g, OP_SOFTPLUS, (Node *[]){
            g_unary(g, OP_NEG, x), g_scalar(g, 1), g_scalar(g, 20)}, 3);
        return mean_all(g, g_binary(g, OP_ADD,
                                    g_binary(g, OP_MUL,
                                             g_binary(g, OP_SUB,
                                                      g_scalar(g, 1), y),
                                             x), sp));
    }
    Node *d = g_binary(g, OP_SUB, x, y);
    Node *ad = g_unary(g, OP_ABS, d);
    if (!smooth || beta == 0)
        return mean_all(g, ad);
    /* |d| < beta ? 0.5 d^2 / beta : |d| - 0.5 beta */
    return mean_all(g, g_where(g, g_binary(g, OP_LT, ad, g_scalar(g, beta)),
                               g_binary(g, OP_MUL, g_binary(g, OP_MUL, d, d),
                                        g_scalar(g, 0.5 / beta)),
                               g_binary(g, OP_SUB, ad,
                                        g_scalar(g, 0.5 * beta))));
}

static Node *custom_call(Build *b, const Expr *e, int fi, int depth);

static Node *call(Build *b, const Expr *e, int depth)
{
    Graph *g = b->g;
    const char *f = e->name;
    Expr *a[MAXP];
    Node *x, *y;

    for (int i = 0; i < b->p->nfuncs; i++)
        if (!strcmp(f, b->p->funcs[i].def->name))
            return custom_call(b, e, i, depth);
    for (int op = 0; op < OP_LAST; op++)
        if (op_info[op].call && !strcmp(f, op_info[op].name))
            return table_call(b, e, (Op)op, depth);
    if (!strcmp(f, "leaky_relu")) {
        bind(e, (const char *[]){"x", "negative_slope", NULL}, 1, a);
        x = tensor_arg(b, a[0], depth);
        double s = a[1] ? want_num(a[1], "negative_slope") : 0.01;
        g->pos = e->pos;
        return g_where(g, g_binary(g, OP_GT, x, g_scalar(g, 0)), x,
                       g_binary(g, OP_MUL, x, g_scalar(g, s)));
    }
    if (!strcmp(f, "clamp")) {
        bind(e, (const char *[]){"x", "min", "max", NULL}, 1, a);
        x = tensor_arg(b, a[0], depth);
        if (!a[1] && !a[2])
            agc_error(e->pos, "clamp() needs min=, max= or both");
        g->pos = e->pos;
        /* where, not maximum: PyTorch passes the gradient at the bounds;
         * min above max makes every element max, its gradient 0, as there */
        if (a[1]) {
            Node *lo = g_scalar(g, want_num(a[1], "min"));
            x = g_where(g, g_binary(g, OP_LT, x, lo), lo, x);
        }
        if (a[2]) {
            Node *hi = g_scalar(g, want_num(a[2], "max"));
            x = g_where(g, g_binary(g, OP_GT, x, hi), hi, x);
        }
        return x;
    }
    if (!strcmp(f, "sum") || !strcmp(f, "mean") || !strcmp(f, "max") ||
        !strcmp(f, "min")) {
        bind(e, (const char *[]){"x", "dim", "keepdim", NULL}, 1, a);
        x = tensor_arg(b, a[0], depth);
        unsigned m = dims_mask(b, a[1], x);
        int keep = a[2] ? want_bool(a[2], "keepdim") : 0;
        g->pos = e->pos;
        if (!strcmp(f, "max"))
            return g_reduce(g, OP_AMAX, x, m, keep);
        if (!strcmp(f, "min"))
            return g_reduce(g, OP_AMIN, x, m, keep);
        y = g_reduce(g, OP_SUM, x, m, keep);
        if (f[1] == 'e')
            y = g_binary(g, OP_MUL, y,
                         g_scalar(g, 1.0 / (double)reduced_count(x, m)));
        return y;
    }
    if (!strcmp(f, "norm")) {
        bind(e, (const char *[]){"x", NULL}, 1, a);
        x = tensor_arg(b, a[0], depth);
        g->pos = e->pos;
        return g_reduce(g, OP_NORM, x, dims_mask(b, NULL, x), 0);
    }
    if (!strcmp(f, "reshape")) {
        bind(e, (const char *[]){"x", "shape", NULL}, 2, a);
        x = tensor_arg(b, a[0], depth);
        Shape s = {0, {0}};
        const Expr *t = a[1];
        int n = t->kind == E_TUPLE ? t->nargs : 1, infer = -1;
        if (n > AGC_MAX_RANK)
            agc_error(t->pos, "reshape(): more than %d dims", AGC_MAX_RANK);
        long known = 1;
        for (int i = 0; i < n; i++) {
            const Expr *d = t->kind == E_TUPLE ? t->args[i] : t;
            long v = want_int(d, "a reshape size");
            if (v == -1 && infer < 0)
                infer = i;
            else if (v < 1)
                agc_error(d->pos, "reshape(): invalid size %ld", v);
            else
                known *= v;
            if (known > AGC_MAX_ELEMS)
                agc_error(d->pos, "reshape(): shape too large");
            s.d[s.rank++] = v;
        }
        g->pos = e->pos;
        if (infer >= 0) {
            long total = shape_count(&x->shape);
            if (total % known)
                agc_error(e->pos, "cannot reshape %s into %s",
                          shape_str(&x->shape), expr_str(t));
            s.d[infer] = total / known;
        }
        return g_reshape(g, x, s);
    }
    if (!strcmp(f, "flatten")) {
        bind(e, (const char *[]){"x", "start_dim", "end_dim", NULL}, 1, a);
        x = tensor_arg(b, a[0], depth);
        int s0 = a[1] ? want_dim(a[1], x, "start_dim") : 0;
        int s1 = a[2] ? want_dim(a[2], x, "end_dim")
                      : (x->shape.rank ? x->shape.rank - 1 : 0);
        if (s0 > s1)
            agc_error(e->pos, "flatten(): start_dim %d comes after end_dim "
                      "%d", s0, s1);
        Shape s = {0, {0}};
        for (int i = 0; i < x->shape.rank; i++) {
            if (i > s0 && i <= s1)
                s.d[s.rank - 1] *= x->shape.d[i];
            else
                s.d[s.rank++] = x->shape.d[i];
        }
        if (x->shape.rank == 0)
            s = shape_of(1, (long[]){1});
        g->pos = e->pos;
        return g_reshape(g, x, s);
    }
    if (!strcmp(f, "transpose")) {
        bind(e, (const char *[]){"x", "dim0", "dim1", NULL}, 3, a);
        x = tensor_arg(b, a[0], depth);
        int d0 = want_dim(a[1], x, "dim0"), d1 = want_dim(a[2], x, "dim1");
        g->pos = e->pos;
        return d0 == d1 || x->shape.rank == 0 ? x : g_transpose(g, x, d0, d1);
    }
    if (!strcmp(f, "cat")) {
        bind(e, (const char *[]){"tensors", "dim", NULL}, 1, a);
        if (a[0]->kind != E_TUPLE || a[0]->nargs == 0)
            agc_error(a[0]->pos, "cat() takes a tuple of tensors, "
                      "e.g. cat((a, b), dim=0)");
        Node **xs = agc_alloc(sizeof(Node *) * (size_t)a[0]->nargs);
        for (int i = 0; i < a[0]->nargs; i++) {
            xs[i] = tensor_arg(b, a[0]->args[i], depth);
            if (xs[i]->shape.rank == 0)
                agc_error(a[0]->args[i]->pos, "cat(): zero-dimensional "
                          "tensors cannot be concatenated");
        }
        int d = a[1] ? want_dim(a[1], xs[0], "dim") : 0;
        g->pos = e->pos;
        return g_cat(g, xs, a[0]->nargs, d);
    }
    if (!strcmp(f, "narrow")) {
        bind(e, (const char *[]){"x", "dim", "start", "length", NULL}, 4, a);
        x = tensor_arg(b, a[0], depth);
        if (x->shape.rank == 0)
            agc_error(e->pos, "narrow() needs a tensor of at least one dim");
        int d = want_dim(a[1], x, "dim");
        long start = want_int(a[2], "start"), len = want_int(a[3], "length");
        if (start < 0)              /* PyTorch counts a negative start */
            start += x->shape.d[d]; /* from the end */
        g->pos = e->pos;
        return g_narrow(g, x, d, start, len);
    }
    if (!strcmp(f, "softmax") || !strcmp(f, "log_softmax")) {
        bind(e, (const char *[]){"x", "dim", NULL}, 2, a);
        x = tensor_arg(b, a[0], depth);
        int d = want_dim(a[1], x, "dim");
        g->pos = e->pos;
        Node *sm;
        Node *ls = log_softmax(g, x, d, &sm);
        return f[0] == 's' ? sm : ls;
    }
    if (!strcmp(f, "mse_loss")) {
        bind(e, (const char *[]){"input", "target", NULL}, 2, a);
        x = tensor_arg(b, a[0], depth);
        y = tensor_arg(b, a[1], depth);
        g->pos = e->pos;
        Node *d = g_binary(g, OP_SUB, x, y);
        Node *s = g_reduce(g, OP_SUM, g_binary(g, OP_MUL, d, d),
                           dims_mask(b, NULL, d), 0);
        return g_binary(g, OP_MUL, s,
                        g_scalar(g, 1.0 / (double)shape_count(&d->shape)));
    }
    if (!strcmp(f, "cross_entropy") || !strcmp(f, "nll_loss") ||
        !strcmp(f, "binary_cross_entropy_with_logits") ||
        !strcmp(f, "l1_loss") || !strcmp(f, "smooth_l1_loss") ||
        !strcmp(f, "argmax") || !strcmp(f, "one_hot"))
        return int_call(b, e, depth);
    if (!strcmp(f, "conv1d") || !strcmp(f, "conv2d"))
        return conv(b, e, f[4] - '0', depth);
    if (!strcmp(f, "conv_transpose1d") || !strcmp(f, "conv_transpose2d"))
        return conv_transpose(b, e, f[14] - '0', depth);
    if (!strcmp(f, "adaptive_avg_pool1d") ||
        !strcmp(f, "adaptive_avg_pool2d"))
        return adaptive_pool(b, e, f[17] - '0', depth);
    if (!strcmp(f, "max_pool1d") || !strcmp(f, "max_pool2d"))
        return pool(b, e, f[8] - '0', 1, depth);
    if (!strcmp(f, "avg_pool1d") || !strcmp(f, "avg_pool2d"))
        return pool(b, e, f[8] - '0', 0, depth);
    if (!strcmp(f, "linear"))
        return linear(b, e, depth);
    if (!strcmp(f, "layer_norm"))
        return layer_norm(b, e, depth);
    if (!strcmp(f, "batch_norm"))
        return batch_norm(b, e, depth);
    if (!strcmp(f, "dropout"))
        return dropout(b, e, depth);
    if (!strcmp(f, "detach")) {
        bind(e, (const char *[]){"x", NULL}, 1, a);
        x = tensor_arg(b, a[0], depth);
        g->pos = e->pos;
        return g_detach(g, x);
    }
    agc_error(e->pos, "unknown function '%s'%s", f, function_hint(b, f));
}

static const struct {
    int op;
    Op gop;
} binops[] = {
    {X_ADD, OP_ADD}, {X_SUB, OP_SUB}, {X_MUL, OP_MUL}, {X_DIV, OP_DIV},
    {X_POW, OP_POW}, {X_LT, OP_LT}, {X_LE, OP_LE}, {X_GT, OP_GT},
    {X_GE, OP_GE}, {X_EQ, OP_EQ}, {X_NE, OP_NE},
};

static Node *lower_node(Build *b, const Expr *e, int depth)
{
    Graph *g = b->g;
    Node *x, *y;
    Sym *s;
    if (depth > AGC_MAX_DEPTH)
        agc_error(e->pos, "expression nested deeper than %d levels",
                  AGC_MAX_DEPTH);
    switch (e->kind) {
    case E_NUM:
        g->pos = e->pos;
        return g_scalar(g, e->num);
    case E_NAME:
        s = lookup(b, e->name);
        if (!s && b->where)
            agc_error(e->pos, "undefined name '%s' (%s)%s", e->name, b->where,
                      name_hint(b, e->name));
        if (!s)
            agc_error(e->pos, "undefined name '%s'%s", e->name,
                      name_hint(b, e->name));
        if (s->node->op == OP_LOOP_COUNT)
            agc_error(e->pos, "'%s' is the count of loop '%s', an integer "
                      "output; it cannot be used in an expression", e->name,
                      s->node->in[0]->loop->name);
        return b->loop ? capture(b->loop, s->node) : s->node;
    case E_UNARY:
        x = lower(b, e->args[0], depth + 1);
        g->pos = e->pos;
        return g_unary(g, OP_NEG, x);
    case E_TRANSPOSE:
        x = lower(b, e->args[0], depth + 1);
        g->pos = e->pos;
        if (x->shape.rank > 2)
            agc_error(e->pos, ".T takes a tensor of at most 2 dims, not %s",
                      shape_str(&x->shape));
        return x->shape.rank == 2 ? g_transpose(g, x, 0, 1) : x;
    case E_BINARY:
        /* a chain a + b + c + ... is left-deep: walk it without recursing
         * once per term */
        x = lower(b, e->args[0], depth + (e->args[0]->kind != E_BINARY));
        y = lower(b, e->args[1], depth + 1);
        g->pos = e->pos;
        if (e->op == X_MATMUL)
            return g_matmul(g, x, y);
        for (size_t i = 0; i < sizeof binops / sizeof *binops; i++)
            if (binops[i].op == e->op)
                return g_binary(g, binops[i].gop, x, y);
        break;
    case E_CALL:
        return call(b, e, depth);
    case E_TUPLE:
        agc_error(e->pos, "a tuple is not a tensor");
    }
    agc_error(e->pos, "cannot lower this expression");
}


/* ---- grad_fn records: the backward graph PyTorch would build ----
 *
 * Each lowered expression gets the grad_fn PyTorch 1.13 gives the same
 * operation (torch's name, next_functions without the None entries), or
 * -1 when the value needs no gradient.  The names are those that walking
 * grad_fn.next_functions shows; where torch builds several grad_fns for
 * one operation (2 / x, vector @ matrix, cross_entropy) so does this. */

static int fn_add(Build *b, const char *name, Shape s, const int *next,
                  int n)
{
    Program *p = b->p;
    int *keep = agc_alloc(sizeof(int) * (size_t)(n + 1)), k = 0;
    for (int i = 0; i < n; i++)
        if (next[i] >= 0)
            keep[k++] = next[i];
    if (k == 0)
        return -1;                  /* no input requires grad: None */
    GradFn *f = AGC_PUSH(p->fns, p->nfns, p->cfns);
    memset(f, 0, sizeof *f);
    f->name = name;
    f->shape = s;
    f->nnext = k;
    f->next = keep;
    return p->nfns - 1;
}

static int fn1(Build *b, const char *name, Shape s, int a)
{
    return fn_add(b, name, s, &a, 1);
}

static int fn_leaf(Program *p, int decl)
{
    if (!p->decls[decl].requires_grad)
        return -1;
    GradFn *f = AGC_PUSH(p->fns, p->nfns, p->cfns);
    memset(f, 0, sizeof *f);
    f->name = "AccumulateGrad";
    f->leaf = p->decls[decl].name;
    f->shape = p->decls[decl].shape;
    return p->nfns - 1;
}

/* The named values a node reads, through unnamed nodes. */
static void named_inputs(Build *b, Node *n, char *seen, int **fns, int *k,
                         int *cap)
{
    for (int i = 0; i < n->nin; i++) {
        Node *m = n->in[i];
        if (seen[m->id])
            continue;
        seen[m->id] = 1;
        Sym *s = NULL;
        for (int j = b->nsyms - 1; j >= 0 && !s; j--)
            if (b->syms[j].node == m)
                s = &b->syms[j];
        if (s)
            *AGC_PUSH(*fns, *k, *cap) = s->fn;
        else
            named_inputs(b, m, seen, fns, k, cap);
    }
}

/* The grad_fn of a node defined without lower(): a leaf's
 * AccumulateGrad, else one grad_fn named after its op whose next
 * functions are those of the named values it reads. */
static int node_fn(Build *b, Node *n)
{
    if (n->op == OP_INPUT)
        return fn_leaf(b->p, n->decl);
    if (!n->needs_grad)
        return -1;
    char *seen = agc_alloc((size_t)b->g->n + 1);
    int *fns = NULL, k = 0, cap = 0;
    named_inputs(b, n, seen, &fns, &k, &cap);
    const char *op = op_name(n->op);
    return fn_add(b, agc_fmt("%c%sBackward0", op[0] - 'a' + 'A', op + 1),
                  n->shape, fns, k);
}

/* A loop: PyTorch unrolls it into the body's grad_fns once per
 * iteration, a number known at run time only, so one box stands for them;
 * its next functions are the init's and the captured values'. */
static int loop_fn(Build *b, const LoopDef *L, int init_fn,
                   const GraphEntry *ge)
{
    if (init_fn < 0 && L->body_fn < 0)  /* as PyTorch records it: none */
        return -1;                  /* (e.g. captures read through detach) */
    int *next = agc_alloc(sizeof(int) * (size_t)(L->ncap + 1)), k = 0;
    next[k++] = init_fn;
    for (int i = 0; i < L->ncap; i++)
        for (int j = b->nsyms - 1; j >= 0; j--)
            if (b->syms[j].node == L->cap[i]) {
                next[k++] = b->syms[j].fn;
                break;
            }
    int f = fn_add(b, "LoopBackward", L->node->shape, next, k);
    if (f >= 0)
        b->p->fns[f].detail = agc_fmt("%s: %s = %s, per iteration", L->name,
                                      L->as, ge->body.text);
    return f;
}

/* A Python number in torch: an expression of numbers only. */
static int is_number(const Expr *e)
{
    if (e->kind == E_NUM)
        return 1;
    if (e->kind != E_UNARY && e->kind != E_BINARY)
        return 0;
    for (int i = 0; i < e->nargs; i++)
        if (!is_number(e->args[i]))
            return 0;
    return 1;
}

/* A call's argument at position i or named kw, or NULL. */
static const Expr *arg_of(const Expr *e, int i, const char *kw)
{
    if (e->nargs > i)
        return e->args[i];
    for (int k = 0; k < e->nkw; k++)
        if (!strcmp(e->kwnames[k], kw))
            return e->kwargs[k];
    return NULL;
}

static int given(const Expr *e, int i, const char *kw)
{
    return arg_of(e, i, kw) != NULL;
}

/* An integer of a constant argument (element i of a tuple), or dflt. */
static long int_arg(const Expr *a, int i, long dflt)
{
    if (a && a->kind == E_TUPLE)
        a = i < a->nargs ? a->args[i] : NULL;
    return a && is_num(a) ? (long)num_of(a) : dflt;
}

/* conv1d/conv2d as nn.Conv does them: F.pad first unless padding_mode
 * is zeros (reflect and replicate are one grad_fn; circular copies the
 * centre, then each padded side, as CopySlices), and an unbatched input
 * unsqueezed around the convolution. */
static int conv_fn(Build *b, const Expr *e, Node *n, const Operand *op,
                   int nop)
{
    int k = e->name[4] - '0', x = op[0].fn;
    Shape xs = op[0].node->shape;
    int unbatched = xs.rank == k + 1;
    const Expr *mode = arg_of(e, 7, "padding_mode");
    const Expr *pad = arg_of(e, 4, "padding");
    const char *m = mode && mode->kind == E_NAME ? mode->name : "zeros";
    if (!strcmp(m, "reflect") || !strcmp(m, "replicate")) {
        x = fn1(b, agc_fmt("%sPad%dDBackward0", m[2] == 'f' ? "Reflection"
                           : "Replication", k), xs, x);
    } else if (!strcmp(m, "circular")) {
        int sides = 0;
        for (int i = 0; i < k; i++) {
            long total, ks = op[1].node->shape.rank == k + 2
                                 ? op[1].node->shape.d[2 + i] : 1;
            if (pad && pad->kind == E_NAME)     /* same or valid */
                total = strcmp(pad->name, "same") ? 0
                        : int_arg(arg_of(e, 5, "dilation"), i, 1) * (ks - 1);
            else
                total = 2 * int_arg(pad, i, 0);
            sides += (total / 2 > 0) + (total - total / 2 > 0);
        }
        for (int i = 0; i < k; i++)
            x = fn1(b, "SliceBackward0", xs, x);
        x = fn1(b, "CopySlices", xs, x);
        for (int i = 0; i < sides; i++) {
            int nx[2] = {x, fn1(b, "SliceBackward0", xs, x)};
            x = fn_add(b, "CopySlices", xs, nx, 2);
        }
    }
    if (unbatched)
        x = fn1(b, "UnsqueezeBackward0", xs, x);
    /* padding='same' with an odd total in some dim: the convolution pads
     * the extra row or column (right, bottom) with constant_pad_nd first */
    int same = !strcmp(m, "zeros") && pad && pad->kind == E_NAME &&
               !strcmp(pad->name, "same"), odd = 0;
    for (int i = 0; same && i < k; i++) {
        long ks = op[1].node->shape.rank == k + 2
                      ? op[1].node->shape.d[2 + i] : 1;
        odd |= int_arg(arg_of(e, 5, "dilation"), i, 1) * (ks - 1) % 2;
    }
    if (odd)
        x = fn1(b, "ConstantPadNdBackward0", xs, x);
    int next[3] = {x, op[1].fn, nop > 2 ? op[2].fn : -1};
    int c = fn_add(b, "ConvolutionBackward0", n->shape, next, 3);
    return unbatched ? fn1(b, "SqueezeBackward1", n->shape, c) : c;
}

/* F.linear(x, w, b): addmm for a matrix, mm between an unsqueeze and a
 * squeeze for a vector, addmm between views for more dims. */
static int linear_fn(Build *b, Node *n, const Operand *op, int nop)
{
    Shape xs = op[0].node->shape;
    int x = op[0].fn, wt = fn1(b, "TBackward0", op[1].node->shape, op[1].fn);
    int bias = nop > 2 ? op[2].fn : -1, has_bias = nop > 2;
    int next[3];
    if (xs.rank == 1) {
        next[0] = fn1(b, "UnsqueezeBackward0", xs, x);
        next[1] = wt;
        int y = fn1(b, "SqueezeBackward3", n->shape,
                    fn_add(b, "MmBackward0", n->shape, next, 2));
        next[0] = y;
        next[1] = bias;
        return has_bias ? fn_add(b, "AddBackward0", n->shape, next, 2) : y;
    }
    if (xs.rank > 2)
        x = fn1(b, has_bias ? "ViewBackward0" : "ReshapeAliasBackward0", xs,
                x);
    int y;
    if (has_bias) {
        next[0] = bias;
        next[1] = x;
        next[2] = wt;
        y = fn_add(b, "AddmmBackward0", n->shape, next, 3);
    } else {
        next[0] = x;
        next[1] = wt;
        y = fn_add(b, "MmBackward0", n->shape, next, 2);
    }
    if (xs.rank > 2)
        y = fn1(b, has_bias ? "ViewBackward0" : "UnsafeViewBackward0",
                n->shape, y);
    return y;
}

/* The functions lowered to several primitives (those lowered to one
 * have their grad_fn in ops.def). */
static const struct {
    const char *fn, *torch;
} fn_names[] = {
    {"leaky_relu", "LeakyReluBackward0"}, {"clamp", "ClampBackward1"},
    {"max", "AmaxBackward0"}, {"min", "AminBackward0"},    /* torch.amax */
    {"softmax", "SoftmaxBackward0"},
    {"log_softmax", "LogSoftmaxBackward0"},
    {"mse_loss", "MseLossBackward0"},
    {"binary_cross_entropy_with_logits",
     "BinaryCrossEntropyWithLogitsBackward0"},
    {"smooth_l1_loss", "SmoothL1LossBackward0"},
    {"max_pool2d", "MaxPool2DWithIndicesBackward0"},
    {"avg_pool2d", "AvgPool2DBackward0"},
    {"adaptive_avg_pool2d", "AdaptiveAvgPool2DBackward0"},
    {"layer_norm", "NativeLayerNormBackward0"},
    {"batch_norm", "NativeBatchNormBackward0"},
    {"dropout", "NativeDropoutBackward0"},
};

/* The grad_fn of expression e, lowered to n; its operands' in op[]. */
static int expr_fn(Build *b, const Expr *e, Node *n, const Operand *op,
                   int nop)
{
    Sym *s;
    int *next = agc_alloc(sizeof(int) * (size_t)(nop + 3));
    switch (e->kind) {
    case E_NUM:
    case E_TUPLE:
        return -1;
    case E_NAME:
        s = lookup(b, e->name);
        return s ? s->fn : -1;
    case E_UNARY:
        return fn1(b, "NegBackward0", n->shape, op[0].fn);
    case E_TRANSPOSE:
        return fn1(b, "PermuteBackward0", n->shape, op[0].fn);
    case E_BINARY: {
        int a = op[0].fn, c = op[1].fn;
        int lnum = is_number(e->args[0]), rnum = is_number(e->args[1]);
        next[0] = a;
        next[1] = c;
        switch (e->op) {
        case X_ADD: return fn_add(b, "AddBackward0", n->shape, next, 2);
        case X_SUB:                 /* 2 - x is x.__rsub__(2) */
            return lnum ? fn1(b, "RsubBackward1", n->shape, c)
                        : fn_add(b, "SubBackward0", n->shape, next, 2);
        case X_MUL: return fn_add(b, "MulBackward0", n->shape, next, 2);
        case X_DIV:                 /* 2 / x is x.reciprocal() * 2 */
            if (lnum)
                return fn1(b, "MulBackward0", n->shape,
                           fn1(b, "ReciprocalBackward0", n->shape, c));
            return fn_add(b, "DivBackward0", n->shape, next, 2);
        case X_POW:                 /* pow(Tensor, Scalar) is PowBackward0 */
            return rnum ? fn1(b, "PowBackward0", n->shape, a)
                        : fn_add(b, "PowBackward1", n->shape, next, 2);
        case X_MATMUL: {
            int ra = op[0].node->shape.rank, rb = op[1].node->shape.rank;
            if (ra == 1 && rb == 1)
                return fn_add(b, "DotBackward0", n->shape, next, 2);
            if (ra == 2 && rb == 1)
                return fn_add(b, "MvBackward0", n->shape, next, 2);
            if (ra == 2)
                return fn_add(b, "MmBackward0", n->shape, next, 2);
            /* vector @ matrix: unsqueeze(0), mm, squeeze(0) */
            Shape row = shape_of(2, (long[]){1, op[0].node->shape.d[0]});
            Shape mm = shape_of(2, (long[]){1, n->shape.d[0]});
            next[0] = fn1(b, "UnsqueezeBackward0", row, a);
            return fn1(b, "SqueezeBackward3", n->shape,
                       fn_add(b, "MmBackward0", mm, next, 2));
        }
        default:                    /* comparisons: no gradient */
            return -1;
        }
    }
    case E_CALL:
        break;
    }
    const char *f = e->name;
    for (int i = 0; i < nop + 3; i++)
        next[i] = i < nop ? op[i].fn : -1;
    for (int i = 0; i < b->p->nfuncs; i++)
        if (!strcmp(f, b->p->funcs[i].def->name))  /* MyFnBackward */
            return fn_add(b, agc_fmt("%sBackward", f), n->shape, next, nop);
    if (!strcmp(f, "detach"))
        return -1;
    if (!strcmp(f, "where"))        /* the condition is not differentiable */
        return fn_add(b, "WhereBackward0", n->shape, next + 1, 2);
    if (!strcmp(f, "sum") || !strcmp(f, "mean"))
        return fn1(b, agc_fmt("%sBackward%d", f[0] == 's' ? "Sum" : "Mean",
                              given(e, 1, "dim")), n->shape, next[0]);
    if (!strcmp(f, "flatten")) {    /* nothing to flatten: x itself */
        Shape in = op[0].node->shape;
        if (in.rank > 0 && shape_eq(&in, &n->shape))
            return next[0];
        return fn1(b, "ReshapeAliasBackward0", n->shape, next[0]);
    }
    if (!strcmp(f, "conv1d") || !strcmp(f, "conv2d"))
        return conv_fn(b, e, n, op, nop);
    if (!strncmp(f, "conv_transpose", 14)) {
        /* as conv: an unbatched input unsqueezed around it */
        int unbatched = op[0].node->shape.rank == f[14] - '0' + 1;
        next[0] = unbatched ? fn1(b, "UnsqueezeBackward0",
                                  op[0].node->shape, next[0]) : next[0];
        int c = fn_add(b, "ConvolutionBackward0", n->shape, next, 3);
        return unbatched ? fn1(b, "SqueezeBackward1", n->shape, c) : c;
    }
    if (!strcmp(f, "linear") && nop >= 2)
        return linear_fn(b, n, op, nop);
    /* an adaptive pool to one element is a mean in PyTorch */
    int to_one = !strncmp(f, "adaptive", 8) &&
                 n->shape.d[n->shape.rank - 1] == 1 &&
                 (f[17] == '1' || n->shape.d[n->shape.rank - 2] == 1);
    if (to_one && f[17] == '2')
        return fn1(b, "MeanBackward1", n->shape, next[0]);
    if (!strcmp(f, "max_pool1d") || !strcmp(f, "avg_pool1d") ||
        !strcmp(f, "adaptive_avg_pool1d"))
        /* as a 2-D pool over an unsqueezed input */
        return fn1(b, "SqueezeBackward1", n->shape,
                   fn1(b, f[0] == 'm' ? "MaxPool2DWithIndicesBackward0"
                          : to_one ? "MeanBackward1"
                          : f[0] == 'a' && f[1] == 'd'
                                ? "AdaptiveAvgPool2DBackward0"
                                : "AvgPool2DBackward0", n->shape,
                       fn1(b, "UnsqueezeBackward0", op[0].node->shape,
                           next[0])));
    if (!strcmp(f, "cross_entropy") && !op[1].node->is_int) {
        /* -sum(target * log_softmax(input)) / N, as torch 1.13 computes
         * it for class probabilities */
        Shape s0 = {0, {0}};
        const Expr *ls = arg_of(e, 2, "label_smoothing");
        next[0] = fn1(b, "LogSoftmaxBackward0", op[0].node->shape, next[0]);
        if (ls && is_num(ls) && num_of(ls) != 0)  /* t (1 - eps) + eps / C */
            next[1] = fn1(b, "AddBackward1", op[1].node->shape,
                          fn1(b, "MulBackward1", op[1].node->shape, next[1]));
        int m = fn_add(b, "MulBackward0", op[0].node->shape, next, 2);
        m = fn1(b, "SumBackward0", s0, m);
        return fn1(b, "DivBackward1", s0, fn1(b, "NegBackward0", s0, m));
    }
    if (!strcmp(f, "cross_entropy") || !strcmp(f, "nll_loss")) {
        /* class indices: nll_loss(log_softmax(input)), 2-D for more
         * than 2 dims (a view first for 3); with label_smoothing, torch
         * adds the mean of -sum(log_softmax) over the classes, masked */
        Shape s0 = {0, {0}}, xs = op[0].node->shape;
        int lp = f[0] == 'c' ? fn1(b, "LogSoftmaxBackward0", xs, next[0])
                             : next[0], in = lp;
        if (xs.rank == 3)
            in = fn1(b, "ViewBackward0", xs, in);
        int nll = fn1(b, xs.rank > 2 ? "NllLoss2DBackward0"
                                     : "NllLossBackward0", s0, in);
        const Expr *ls = arg_of(e, 2, "label_smoothing");
        if (f[0] == 'n' || !ls || !is_num(ls) || num_of(ls) == 0)
            return nll;
        int sm = fn1(b, "NegBackward0", xs, fn1(b, "SumBackward1", xs, lp));
        sm = fn1(b, "MaskedSelectBackward0", xs,
                 fn1(b, "IndexPutBackward0", xs, sm));
        int two[2] = {fn1(b, "MulBackward1", s0, nll),
                      fn1(b, "MulBackward1", s0,
                          fn1(b, "MeanBackward0", s0, sm))};
        return fn_add(b, "AddBackward0", s0, two, 2);
    }
    if (!strcmp(f, "l1_loss")) {    /* (input - target).abs().mean() */
        Shape s0 = {0, {0}};
        int d = fn_add(b, "SubBackward0", n->shape, next, 2);
        return fn1(b, "MeanBackward0", s0, fn1(b, "AbsBackward0", s0, d));
    }
    if (!strcmp(f, "argmax") || !strcmp(f, "one_hot"))
        return -1;
    for (size_t i = 0; i < sizeof fn_names / sizeof *fn_names; i++)
        if (!strcmp(f, fn_names[i].fn))
            return fn_add(b, fn_names[i].torch, n->shape, next, nop);
    for (int op = 0; op < OP_LAST; op++)
        if (op_info[op].grad_fn && !strcmp(f, op_info[op].name))
            return fn_add(b, op_info[op].grad_fn, n->shape, next, nop);
    return fn_add(b, agc_fmt("%sBackward", f), n->shape, next, nop);
}

/* Lowers e and records its grad_fn; the tensor operands it lowers on the
 * way (each one call of lower) leave theirs on b->ops. */
static Node *lower(Build *b, const Expr *e, int depth)
{
    int base = b->nops;
    Node *n = lower_node(b, e, depth);
    if (b->ops)
        int_use(e, b->ops + base, b->nops - base);
    /* b->ops is NULL until the first push: NULL + 0 is undefined */
    int fn = expr_fn(b, e, n, b->ops ? b->ops + base : NULL, b->nops - base);
    b->nops = base;
    *AGC_PUSH(b->ops, b->nops, b->cops) = (Operand){n, fn};
    b->lowered = n;
    b->lowered_fn = fn;
    return n;
}

/* ---- custom functions (section 5) ---- */

/* The built-in functions of section 2, which custom functions may not
 * shadow (including those lowered elsewhere or not yet supported), with
 * those of ops.def. */
static const char *const builtins[] = {
    "leaky_relu", "clamp", "sum", "mean", "max", "min", "norm", "reshape",
    "flatten", "transpose", "cat", "narrow", "conv1d", "conv2d", "linear",
    "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "softmax",
    "log_softmax", "mse_loss", "cross_entropy", "detach", "layer_norm",
    "batch_norm", "dropout", "nll_loss", "binary_cross_entropy_with_logits",
    "l1_loss", "smooth_l1_loss", "argmax", "one_hot", "conv_transpose1d",
    "conv_transpose2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d", NULL,
};

/* "; did you mean 'f'?" for a function, built in or custom, close to
 * name, or "". */
static const char *function_hint(Build *b, const char *name)
{
    int n = (int)(sizeof builtins / sizeof *builtins) - 1;
    const char **names = agc_alloc(sizeof(char *) *
                                   (size_t)(n + OP_LAST + b->p->nfuncs));
    memcpy(names, builtins, sizeof(char *) * (size_t)n);
    for (int op = 0; op < OP_LAST; op++)    /* ops.def's functions */
        if (op_info[op].call)
            names[n++] = op_info[op].name;
    for (int i = 0; i < b->p->nfuncs; i++)
        names[n++] = b->p->funcs[i].def->name;
    return agc_did_you_mean(name, names, n);
}

Node *build_lower_scoped(Program *p, Graph *g, const Expr *e, int n,
                         const char *const *names, Node *const *nodes,
                         const char *where, int depth)
{
    Build b;
    memset(&b, 0, sizeof b);
    b.p = p;
    b.g = g;
    b.where = where;
    for (int i = 0; i < n; i++)
        *AGC_PUSH(b.syms, b.nsyms, b.csyms) = (Sym){names[i], nodes[i],
                                                    e->pos, -1};
    return lower(&b, e, depth);
}

/* f(args...): the forward expression lowered on detached copies of the
 * arguments, so that no gradient is derived through it, wrapped in an
 * OP_CUSTOM node whose gradient rule is the user's backward.  Inside a
 * backward expression (phase 1) nothing is differentiated: the value. */
static Node *custom_call(Build *b, const Expr *e, int fi, int depth)
{
    CustomFn *f = &b->p->funcs[fi];
    Graph *g = b->g;
    int na = f->def->nargs;
    Expr **a = agc_alloc(sizeof(Expr *) * (size_t)(na + 1));
    Node **x = agc_alloc(sizeof(Node *) * (size_t)(na + 1));
    Node **d = agc_alloc(sizeof(Node *) * (size_t)(na + 1));
    bind(e, f->params, na, a);
    for (int i = 0; i < na; i++)
        x[i] = tensor_arg(b, a[i], depth);
    /* at the call, before its forward expression meets the int64 value */
    if (na)
        int_use(e, b->ops + b->nops - na, na);
    g->pos = e->pos;
    for (int i = 0; i < na; i++)
        d[i] = g_detach(g, x[i]);
    Node *out = build_lower_scoped(
        b->p, g, f->forward, na, f->params, d,
        agc_fmt("function '%s' sees only its arguments", f->def->name),
        depth + 1);
    g->pos = e->pos;
    return g->phase ? out : g_custom(g, f, fi, out, x, na);
}

/* Calls of custom functions in e, in the order written. */
static void calls_in(const Expr *e, Program *p, int *fns, const Expr **at,
                     int *n)
{
    if (e->kind == E_CALL)
        for (int i = 0; i < p->nfuncs; i++)
            if (!strcmp(e->name, p->funcs[i].def->name)) {
                fns[*n] = i;
                at[(*n)++] = e;
            }
    for (int i = 0; i < e->nargs; i++)
        calls_in(e->args[i], p, fns, at, n);
    for (int i = 0; i < e->nkw; i++)
        calls_in(e->kwargs[i], p, fns, at, n);
}

static int count_calls(const Expr *e)
{
    int n = e->kind == E_CALL;
    for (int i = 0; i < e->nargs; i++)
        n += count_calls(e->args[i]);
    for (int i = 0; i < e->nkw; i++)
        n += count_calls(e->kwargs[i]);
    return n;
}

/* Depth-first search of the forward expressions' call graph: a function
 * met again while it is being expanded is recursive.  Backward
 * expressions may call any function, their own included: they are
 * lowered without expanding a backward again. */
static void no_recursion(Program *p, int fi, int *state, int *path, int depth)
{
    const Expr *fwd = p->funcs[fi].forward;
    int cap = count_calls(fwd) + 1;
    int *fns = agc_alloc(sizeof(int) * (size_t)cap);
    const Expr **at = agc_alloc(sizeof(Expr *) * (size_t)cap);
    int n = 0;
    calls_in(fwd, p, fns, at, &n);
    state[fi] = 1;
    path[depth] = fi;
    for (int k = 0; k < n; k++) {
        if (state[fns[k]] == 1) {
            int from = depth;
            while (path[from] != fns[k])
                from--;
            const char *chain = p->funcs[fns[k]].def->name;
            for (int j = from + 1; j <= depth; j++)
                chain = agc_fmt("%s -> %s", chain,
                                p->funcs[path[j]].def->name);
            agc_error(at[k]->pos, "function '%s' is recursive (%s -> %s); "
                      "recursion is not supported",
                      p->funcs[fns[k]].def->name, chain,
                      p->funcs[fns[k]].def->name);
        }
        if (state[fns[k]] == 0)
            no_recursion(p, fns[k], state, path, depth + 1);
    }
    state[fi] = 2;
}

/* Parses every function once, checks names and recursion up front, so
 * that an error shows even in a function no graph node calls. */
static void build_functions(Program *p)
{
    Spec *s = p->spec;
    p->nfuncs = s->nfuncs;
    p->funcs = agc_alloc(sizeof(CustomFn) * (size_t)(s->nfuncs + 1));
    for (int i = 0; i < s->nfuncs; i++) {
        FuncDef *def = &s->funcs[i];
        CustomFn *f = &p->funcs[i];
        for (int k = 0; builtins[k]; k++)
            if (!strcmp(def->name, builtins[k]))
                agc_error(def->pos, "function '%s' would shadow the "
                          "built-in function '%s'", def->name, def->name);
        for (int op = 0; op < OP_LAST; op++)
            if (op_info[op].call && !strcmp(def->name, op_info[op].name))
                agc_error(def->pos, "function '%s' would shadow the "
                          "built-in function '%s'", def->name, def->name);
        f->prog = p;
        f->def = def;
        f->params = agc_alloc(sizeof(char *) * (size_t)(def->nargs + 1));
        for (int k = 0; k < def->nargs; k++)
            f->params[k] = def->args[k];
        f->forward = expr_parse(def->forward);
        f->backward = agc_alloc(sizeof(Expr *) * (size_t)(def->nargs + 1));
        f->bwd_src = agc_alloc(sizeof(Src) * (size_t)(def->nargs + 1));
        for (int j = 0; j < def->nbwd; j++)
            for (int k = 0; k < def->nargs; k++)
                if (!strcmp(def->bwd_arg[j], def->args[k])) {
                    f->backward[k] = expr_parse(def->bwd[j]);
                    f->bwd_src[k] = def->bwd[j];
                }
    }
    int *state = agc_alloc(sizeof(int) * (size_t)(s->nfuncs + 1));
    int *path = agc_alloc(sizeof(int) * (size_t)(s->nfuncs + 1));
    for (int i = 0; i < s->nfuncs; i++)
        if (state[i] == 0)
            no_recursion(p, i, state, path, 0);
}

/* ---- the spec ---- */

static void check_literal(const Literal *v, const Shape *s, const char *what)
{
    if (v->shape.rank == 0)
        return;                     /* one number fills the tensor */
    if (!shape_eq(&v->shape, s))
        agc_error(v->pos, "%s has shape %s, expected %s", what,
                  shape_str(&v->shape), shape_str(s));
}

static void build_inputs(Build *b)
{
    Program *p = b->p;
    for (int i = 0; i < p->ndecls; i++) {
        Decl *d = &p->decls[i];
        b->g->pos = d->pos;
        b->g->note = agc_fmt("input %s", d->name);
        if (d->init == INIT_VALUE)
            check_literal(&d->value, &d->shape,
                          agc_fmt("the value of '%s'", d->name));
        Node *n = g_input(b->g, d->shape, i, d->requires_grad);
        n->is_int = d->is_int;
        p->leaves[i] = n;
        define(b, d->name, n, d->pos);
        Tensor *t = program_add_tensor(p, d->name, d->buffer ? ROLE_BUFFER
                                                             : ROLE_INPUT,
                                       n, d->pos);
        t->decl = i;
    }
}

/* ---- loops (section 7) ---- */

/* The loop variable is in scope in the condition and the body only; it
 * may not take a name the spec gives to anything else. */
static void check_loop_names(Build *b, const GraphEntry *ge)
{
    Spec *s = b->p->spec;
    const char *as = ge->as;
    if (ge->count && !strcmp(ge->count, as))
        agc_error(ge->count_pos, "loop count '%s' has the name of the loop "
                  "variable", ge->count);
    if (strcmp(as, ge->name)) {
        Sym *sym = lookup(b, as);
        if (sym)
            agc_error(ge->as_pos, "loop variable '%s' shadows '%s' (line "
                      "%d); give it a name of its own", as, as,
                      sym->pos.line);
        for (int i = 0; i < s->ngraph; i++) {
            const GraphEntry *e = &s->graph[i];
            if (!strcmp(e->name, as) || (e->count && !strcmp(e->count, as)))
                agc_error(ge->as_pos, "loop variable '%s' shadows '%s' "
                          "(line %d); give it a name of its own", as, as,
                          !strcmp(e->name, as) ? e->pos.line
                                               : e->count_pos.line);
        }
    }
    if (ge->max_iter > AGC_MAX_ITER)
        agc_error(ge->max_iter_pos, "max_iter must be at most %ld",
                  AGC_MAX_ITER);
}

/* Lowers a loop's condition and body into a graph of their own, in which
 * the loop variable is an OP_ARG that needs grad when var_grad says so
 * and every outer name read becomes a capture. */
static LoopDef *lower_loop(Build *b, const GraphEntry *ge, Node *init,
                           const Expr *cond, const Expr *body, int var_grad)
{
    LoopDef *L = agc_alloc(sizeof *L);
    L->name = ge->name;
    L->as = ge->as;
    L->pos = ge->pos;
    L->max_iter = ge->max_iter;
    L->g = graph_new(b->g->dtype);
    L->g->pos = ge->as_pos;
    L->var = g_arg(L->g, init->shape, ARG_VAR, var_grad);
    Graph *outer = b->g;
    b->g = L->g;
    b->loop = L;
    *AGC_PUSH(b->syms, b->nsyms, b->csyms) = (Sym){ge->as, L->var, ge->as_pos,
                                                   -1};
    L->g->note = agc_fmt("%s: while %s", ge->name, expr_excerpt(cond));
    L->cond = lower(b, cond, 0);
    L->g->note = agc_fmt("%s: %s = %s", ge->name, ge->as,
                         expr_excerpt(body));
    L->body = lower(b, body, 0);
    L->body_fn = b->lowered_fn;
    b->nsyms--;
    b->g = outer;
    b->loop = NULL;
    return L;
}

static void build_loop(Build *b, const GraphEntry *ge)
{
    Program *p = b->p;
    check_loop_names(b, ge);
    Expr *ie = expr_parse(ge->init), *ce = expr_parse(ge->cond),
         *be = expr_parse(ge->body);
    b->g->note = agc_fmt("%s: init %s", ge->name, expr_excerpt(ie));
    Node *init = lower(b, ie, 0);
    int init_fn = b->lowered_fn;
    LoopDef *L = lower_loop(b, ge, init, ce, be, init->needs_grad);
    if (L->body->needs_grad && !L->var->needs_grad)
        L = lower_loop(b, ge, init, ce, be, 1);    /* a capture brings grad */
    if (!shape_eq(&L->body->shape, &init->shape))
        agc_error(ge->body.pos, "the body of loop '%s' has shape %s, but its "
                  "init has shape %s: they must be equal", ge->name,
                  shape_str(&L->body->shape), shape_str(&init->shape));
    if (shape_count(&L->cond->shape) != 1)
        agc_error(ge->cond.pos, "the condition of loop '%s' has shape %s, not "
                  "a scalar (PyTorch: Boolean value of Tensor with more than "
                  "one value is ambiguous)", ge->name,
                  shape_str(&L->cond->shape));
    L->index = p->nloops;
    *AGC_PUSH(p->loops, p->nloops, p->lcap) = L;
    b->g->pos = ge->pos;
    b->g->note = agc_fmt("%s = loop from %s while %s: %s = %s", ge->name,
                         expr_excerpt(ie), expr_excerpt(ce), ge->as,
                         expr_excerpt(be));
    L->node = g_loop(b->g, init, L);
    L->count = g_loop_count(b->g, L->node);
    L->count->name = ge->count ? ge->count : agc_fmt("%s_count", ge->name);
    b->lowered = L->node;
    b->lowered_fn = loop_fn(b, L, init_fn, ge);
    build_define(b, ge->name, L->node, ge->pos);
    if (ge->count)
        define(b, ge->count, L->count, ge->count_pos);
}

static void build_graph(Build *b)
{
    Spec *s = b->p->spec;
    for (int i = 0; i < s->ngraph; i++) {
        GraphEntry *ge = &s->graph[i];
        if (ge->is_loop) {
            build_loop(b, ge);
            continue;
        }
        Expr *e = expr_parse(ge->expr);
        b->g->note = agc_fmt("%s = %s", ge->name, expr_excerpt(e));
        build_define(b, ge->name, lower(b, e, 0), ge->pos);
    }
}

Node *build_expr(Build *b, const Expr *e)
{
    return lower(b, e, 0);
}

void build_define(Build *b, const char *name, Node *n, Pos pos)
{
    define(b, name, n, pos);
    b->last = name;
    Tensor *t = AGC_PUSH(b->p->named, b->p->nnamed, b->p->cnamed);
    memset(t, 0, sizeof *t);
    t->name = name;
    t->node = n;
    t->pos = pos;
}

static void build_outputs(Build *b)
{
    Program *p = b->p;
    Spec *s = p->spec;
    if (s->noutputs == 0) {
        if (!b->last)
            agc_error(s->pos, "the spec defines no graph node to output");
        Sym *last = lookup(b, b->last);
        program_add_tensor(p, last->name, ROLE_OUTPUT, last->node, last->pos);
        return;
    }
    for (int i = 0; i < s->noutputs; i++) {
        Sym *sym = lookup(b, s->outputs[i]);
        if (!sym)
            agc_error(s->output_pos[i], "output '%s' is not defined%s",
                      s->outputs[i], name_hint(b, s->outputs[i]));
        for (int j = 0; j < i; j++)
            if (!strcmp(s->outputs[i], s->outputs[j]))
                agc_error(s->output_pos[i], "output '%s' is listed twice",
                          s->outputs[i]);
        program_add_tensor(p, s->outputs[i], sym->node->op == OP_LOOP_COUNT
                                                  ? ROLE_COUNT
                                                  : ROLE_OUTPUT,
                           sym->node, s->output_pos[i]);
    }
}

/* Every loop count is an output: those not listed come after the rest. */
static void build_counts(Build *b)
{
    Program *p = b->p;
    Spec *s = p->spec;
    for (int i = 0; i < s->ngraph; i++) {
        const GraphEntry *ge = &s->graph[i];
        int listed = 0;
        for (int k = 0; ge->is_loop && ge->count && k < s->noutputs; k++)
            listed |= !strcmp(s->outputs[k], ge->count);
        if (ge->is_loop && ge->count && !listed)
            program_add_tensor(p, ge->count, ROLE_COUNT,
                               lookup(b, ge->count)->node, ge->count_pos);
    }
}

static void build_backward(Build *b)
{
    Program *p = b->p;
    Spec *s = p->spec;
    Graph *g = b->g;
    if (!s->has_backward)
        return;
    Sym *sym = lookup(b, s->bwd_of);
    if (!sym)
        agc_error(s->bwd_pos, "backward of '%s', which is not defined%s",
                  s->bwd_of, name_hint(b, s->bwd_of));
    Node *of = sym->node;
    g->pos = s->bwd_pos;
    g->note = agc_fmt("backward of %s", s->bwd_of);
    /* whether it requires grad is PyTorch's answer (its grad_fn), not the
     * graph's: folding tanh(x) - tanh(x) or 0 * x to a constant leaves it
     * requiring grad, and its gradients zero */
    if (!of->needs_grad && sym->fn < 0)
        agc_error(s->bwd_pos, "'%s' does not depend on any input that "
                  "requires grad (PyTorch: element 0 of tensors does not "
                  "require grad and does not have a grad_fn)", s->bwd_of);
    p->bwd_of = of;
    p->bwd_fn = sym->fn;
    if (s->bwd_has_grad) {
        check_literal(&s->bwd_grad, &of->shape,
                      agc_fmt("the gradient of '%s'", s->bwd_of));
        Literal *v = &s->bwd_grad;
        p->seed = v->shape.rank == 0 ? g_const(g, of->shape, v->v[0])
                                     : g_const_data(g, of->shape, v->v);
    } else if (s->bwd_runtime) {
        /* backward: {of: y}: the seed is a tensor set at run time, ones
         * until then */
        const char *name = agc_fmt("%s.grad", s->bwd_of);
        Decl *d = AGC_PUSH(p->decls, p->ndecls, p->dcap);
        memset(d, 0, sizeof *d);
        d->name = name;
        d->pos = s->bwd_pos;
        d->shape = of->shape;
        d->init = INIT_ONES;
        p->seed = g_input(g, of->shape, p->ndecls - 1, 0);
        p->seed->name = name;
        p->seed_runtime = 1;
        program_add_tensor(p, name, ROLE_SEED, p->seed, s->bwd_pos)->decl =
            p->ndecls - 1;
    } else {
        if (of->shape.rank != 0)
            agc_error(s->bwd_pos, "'%s' has shape %s, not a scalar: give "
                      "backward: {of: %s, grad: [...]} or a seed at run "
                      "time (PyTorch: grad can be implicitly created only "
                      "for scalar outputs)", s->bwd_of,
                      shape_str(&of->shape), s->bwd_of);
        p->seed = g_const(g, of->shape, 1);
    }
    grad_build(p);
}

Program *build_program(Spec *spec)
{
    Program *p = agc_alloc(sizeof *p);
    Build b;
    memset(&b, 0, sizeof b);
    b.p = p;
    b.g = graph_new(spec->dtype);
    p->bwd_fn = -1;
    p->spec = spec;
    p->g = b.g;
    for (int i = 0; i < spec->ndecls; i++)
        *AGC_PUSH(p->decls, p->ndecls, p->dcap) = spec->decls[i];
    if (spec->has_model)
        model_declare(p);
    p->leaves = agc_alloc(sizeof(Node *) * (size_t)(p->ndecls + 1));
    build_functions(p);
    build_inputs(&b);
    if (spec->has_model)
        model_build(&b, p);
    build_graph(&b);
    if (p->rng_step) {              /* after every mask that reads it */
        b.g->pos = spec->pos;
        b.g->note = "dropout's generator: one step per forward";
        g_assign(b.g, p->rng_step, NULL);
    }
    build_outputs(&b);
    build_counts(&b);
    build_backward(&b);
    /* gradients are named NAME.grad; no user name may take their C name */
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        if (t->role != ROLE_GRAD && t->role != ROLE_SEED &&
            t->role != ROLE_RNG)
            continue;
        for (int k = 0; k < b.nsyms; k++)
            if (!strcmp(mangle(b.syms[k].name), mangle(t->name)))
                agc_error(b.syms[k].pos, "'%s' collides with the gradient "
                          "'%s': both become '%s' in C", b.syms[k].name,
                          t->name, mangle(t->name));
    }
    return p;
}

/* emit.c: the C emitter.
 *
 * Planning first: which nodes are live in forward and in backward, how
 * often each is used, and where each one's value lives:
 *   - in a struct member (inputs, outputs, gradients, temporaries);
 *   - in a static const table (constant tensors);
 *   - nowhere: a constant of one value is a literal, and an elementwise
 *     node used once, by an elementwise node or a reduction of its own
 *     shape, is written inside its user's loop (fusion);
 *   - in its operand's storage (reshape and detach copy nothing, nor
 *     does a custom function's call: its value is its forward result).
 * Then one block per stored node, each with a comment naming the spec
 * line it implements.
 *
 * A loop's condition and body have a graph of their own, planned the same
 * way and emitted inside a C loop: forward runs it while the condition
 * holds, keeping the iterates in a tape when backward reads them; backward
 * runs the body's vector-Jacobian product from the last iteration down to
 * the first, recomputing from the tape what it needs of the body. */
#include "agc.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- planning ---- */

enum {
    ST_NONE,
    ST_FIELD,                       /* a struct member */
    ST_TABLE,                       /* a static const table */
    ST_ALIAS,                       /* its operand's storage */
    ST_INLINE,                      /* an expression in its user's loop */
    ST_TRANSPOSED,                  /* a matrix read transposed by matmul */
    ST_FUSED                        /* a convolution, or its bias add, */
                                    /* that a user computes in the */
                                    /* convolution's kernel (Plan.conv) */
};

typedef struct Plan {
    int store;
    const char *field;              /* ST_FIELD: member name */
    const char *table;              /* ST_TABLE: the table's name */
    Node *user;                     /* the only user, when nuses == 1 */
    int depth;                      /* of the fused expression it heads */
    int live;                       /* bit 0: forward, bit 1: backward; */
                                    /* in a loop, bit 2: the condition */
    const char *at;                 /* a loop's OP_ARG: the array it reads */
    unsigned users;                 /* U_* bits: what its users are like */
    Node *conv;                     /* computed by this convolution's */
                                    /* kernel, which adds bias (or NULL) */
    Node *bias;                     /* and then, if relu, takes the relu */
    int relu;
    int val;                        /* in the arena: index + 1 in E->vals */
} Plan;

enum {
    U_NOT_EXPR = 1,                 /* a user reads it from storage */
    U_NOT_MATMUL = 2,               /* a user is not a matmul */
    U_OTHER_SHAPE = 4               /* an elementwise user broadcasts it */
};

/* The emitter's state of one loop's graph. */
typedef struct Region {
    Plan *plan;
    int live;                       /* forward runs the loop */
    int grad;                       /* backward runs it in reverse */
    const char *tape;               /* member keeping the iterates, or NULL */
} Region;

enum { LIVE_FWD = 1, LIVE_BWD = 2, LIVE_COND = 4 };

typedef struct Scratch {            /* a kernel's working memory */
    const char *type;
    const char *field;
    long count;
    const char *note;
} Scratch;

/* A value planned into the arena: a temporary of the program's graph or
 * a kernel's scratch, live from the first block that names it to the
 * last (blocks counted in emitted order, forward then backward). */
typedef struct ArenaVal {
    const char *name;               /* the local pointer naming it */
    long count;                     /* elements */
    int first, last;                /* blocks */
    unsigned phases;                /* bit 0: forward names it; 1: backward */
    long offset;                    /* elements from the arena's start */
    int over;                       /* index + 1 of the value it overwrites */
    int end;                        /* the last block of its slot */
    int local;                      /* a loop body's: computed and used */
                                    /* within each block that names it */
    const char *scratch_of;         /* a kernel's scratch: what conv.c */
                                    /* asked for, for its next calls */
} ArenaVal;

/* A tensor the optimizer updates: its arrays, and its state's members. */
typedef struct OptTensor {
    OptimParam q;
    Shape shape;
    const char *field[3];
} OptTensor;

typedef struct Emitter {
    Program *p;
    Graph *g;
    Plan *plan;
    const char *name;               /* the spec's name: symbol prefix */
    const char *T;                  /* "float" or "double" */
    const char *path;               /* the spec, for comments */
    int f32;
    int nfields, cfields;
    const char **fields;            /* every member name, for uniqueness */
    LoopDef *loop;                  /* the loop being planned */
    unsigned helpers;               /* bit per static helper used */
    Region *regions;                /* per loop of the program */
    Kernels kern;                   /* conv.c: window op kernels */
    int nscratch, cscratch;
    Scratch *scratch;
    int nvals, cvals;
    ArenaVal *vals;
    int block;                      /* the block being emitted */
    int phase;                      /* the function being emitted */
    const char *cur;                /* its node's value name, for scratch */
    int infer;                      /* planning NAME_infer: outputs only */
    int nopt;                       /* the tensors the optimizer updates */
    struct OptTensor *opt;
    int nstate;                     /* state arrays per tensor */
    const char *state_names[3];
    const char *lr, *step;          /* members: learning rate, step count */
    const char *bad_target;         /* member: the class index out of */
                                    /* range, or NULL (no class_index) */
    const char *arena;              /* the arena's member name */
    long arena_count, arena_bound;  /* elements: planned, and lower bound */
    int cblocks;
    Node **block_node;              /* per block: what it computes */
    struct Shares *sh;              /* shared loops, with NAME_infer's */
    struct Outline *ol;             /* writing loops as a shared function */
    const char *last_note;          /* the last block's last comment */
    int whole_notes;                /* comments: the whole expression */
    const char **noted;             /* the notes NAME_forward wrote whole */
    int nnoted, cnoted;
} Emitter;

/* Whether t's member holds int64_t: a loop count, an int64 input or
 * an int64 output (argmax). */
/* int64_t elements: loop counts, int64 inputs and outputs (argmax),
 * buffers such as num_batches_tracked. */
static int tensor_is_int(const Tensor *t)
{
    return t->role == ROLE_COUNT || (t->role != ROLE_GRAD && t->node->is_int);
}

static int taken(Emitter *E, const char *s)
{
    for (int i = 0; i < E->nfields; i++)
        if (!strcmp(E->fields[i], s))
            return 1;
    return 0;
}

/* A member name derived from want, made unique. */
static const char *new_field(Emitter *E, const char *want)
{
    char *s = agc_strdup(want);
    for (char *c = s; *c; c++)
        if (*c == '.')
            *c = '_';
    const char *r = s;
    for (int k = 1; taken(E, r); k++)
        r = agc_fmt("%s_%d", s, k);
    *AGC_PUSH(E->fields, E->nfields, E->cfields) = r;
    return r;
}

static Plan *P(Emitter *E, const Node *n)
{
    return &E->plan[n->id];
}

static int is_splat(const Node *n)
{
    return n->op == OP_CONST && !n->cdata;
}

/* Users that read their operands through expr(): elementwise ops,
 * reductions and the copies into output members. */
static int reads_by_expr(const Node *user)
{
    return !user || op_is_elementwise(user->op) || op_is_reduction(user->op) ||
           user->op == OP_ASSIGN;
}

/* The node whose storage an ST_ALIAS node n shares: its operand, or for
 * OP_MODE the value of the mode being emitted. */
static Node *aliased(const Emitter *E, const Node *n)
{
    return n->in[n->op == OP_MODE ? E->infer : 0];
}

static void mark(Emitter *E, Node *n, int bit)
{
    if (P(E, n)->live & bit)
        return;
    P(E, n)->live |= bit;
    if (n->op == OP_MODE) {         /* train or eval: one of the two */
        mark(E, aliased(E, n), bit);
        return;
    }
    for (int i = 0; i < n->nin; i++)
        mark(E, n->in[i], bit);
}

#define MAX_FUSED 12                 /* ops in one fused expression */

static void plan_storage(Emitter *E, int in_loop);

/* The static const array of a parameter baked in by --weights: NAME_x, or
 * NAME_x_w where NAME_x is one of the generated functions' names. */
static const char *baked_name(Emitter *E, const Decl *d)
{
    static const char *const taken[] = {
        "init", "forward", "backward", "infer", "step", "train_step",
        "tensors", "num_tensors", "size", "t", "tensor", NULL};
    char *s = agc_strdup(d->name);
    for (char *c = s; *c; c++)
        if (*c == '.')
            *c = '_';
    for (int i = 0; taken[i]; i++)
        if (!strcmp(s, taken[i]))
            return agc_fmt("%s_%s_w", E->name, s);
    return agc_fmt("%s_%s", E->name, s);
}

/* Counts each live node's users, and notes what kinds they are. */
static void count_uses(Emitter *E)
{
    for (int i = 0; i < E->g->n; i++) {
        Node *u = E->g->nodes[i];
        if (!P(E, u)->live)
            continue;
        for (int j = 0; j < u->nin; j++) {
            Node *a = u->in[j];
            Plan *pa = P(E, a);
            if (u->op == OP_MODE && a != aliased(E, u))
                continue;           /* the other mode's value */
            a->nuses++;
            pa->user = u;
            if (!reads_by_expr(u))
                pa->users |= U_NOT_EXPR;
            if (u->op != OP_MATMUL)
                pa->users |= U_NOT_MATMUL;
            if (!op_is_reduction(u->op) && !shape_eq(&u->shape, &a->shape))
                pa->users |= U_OTHER_SHAPE;
        }
    }
}

static void plan(Emitter *E)
{
    Program *p = E->p;
    Graph *g = E->g;
    E->plan = agc_alloc(sizeof(Plan) * (size_t)g->n);
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        if (!E->infer || t->role != ROLE_GRAD)
            mark(E, t->node, t->role == ROLE_GRAD ? 2 : 1);
    }
    /* train mode's side effects: running statistics, counters */
    for (int i = 0; i < g->n && !E->infer; i++)
        if (g->nodes[i]->op == OP_ASSIGN)
            mark(E, g->nodes[i], 1);
    /* forward nodes that backward reads are computed in forward */
    for (int i = g->n - 1; i >= 0; i--) {
        Node *n = g->nodes[i];
        if (P(E, n)->live && !n->phase)
            mark(E, n, 1);
    }
    count_uses(E);
    for (int i = 0; i < p->ntensors; i++) {
        Node *n = p->tensors[i].node;
        if (p->tensors[i].role == ROLE_OUTPUT || p->tensors[i].role ==
            ROLE_GRAD) {
            n->nuses++;
            P(E, n)->user = NULL;   /* a copy into the tensor's member */
        }
    }
    plan_storage(E, 0);
}

/* Whether n, used several times, is cheaper to recompute in each user
 * than to store: one arithmetic op on stored operands, read by users that
 * all evaluate it at the same index.  Forward then need not write, nor
 * backward read, a whole array for it (y = x - 2 in the seed example). */
static int recompute(Emitter *E, Node *n)
{
    if (n->op != OP_ADD && n->op != OP_SUB && n->op != OP_MUL &&
        n->op != OP_NEG)
        return 0;
    for (int j = 0; j < n->nin; j++)
        if (P(E, n->in[j])->store == ST_INLINE && !is_splat(n->in[j]))
            return 0;
    return !(P(E, n)->users & (U_NOT_EXPR | U_OTHER_SHAPE));
}

/* Whether c is a convolution whose kernel can do its reader n's work as
 * it writes (conv_adds_bias), n being its only reader. */
static int fusable_conv(const Node *c, const Node *n)
{
    return c->op == OP_CONV && c->nuses == 1 && c->phase == n->phase &&
           shape_eq(&c->shape, &n->shape) && conv_adds_bias(c);
}

/* Plans n as computed by a convolution's kernel, if it is one of
 *     conv + b,  relu(conv + b),  relu(conv)
 * where each inner node has n's chain as its only reader and b is a
 * stored value broadcast along the channels alone, one per channel, such
 * as nn.Conv2d's bias.  The inner nodes then have no storage (ST_FUSED),
 * and the kernel rounds as the separate loops did: sum + b once, then
 * the relu.  Returns whether it did. */
static int plan_fused_conv(Emitter *E, Node *n)
{
    Plan *pl = P(E, n);
    Node *a = n->nin ? n->in[0] : NULL;
    if (n->op == OP_RELU && P(E, a)->conv && a->nuses == 1 &&
        a->phase == n->phase && !P(E, a)->relu) {     /* relu(conv + b) */
        pl->store = ST_FIELD;
        pl->conv = P(E, a)->conv;
        pl->bias = P(E, a)->bias;
        pl->relu = 1;
        P(E, a)->store = ST_FUSED;
        P(E, a)->conv = NULL;
        return 1;
    }
    if (n->op == OP_RELU && fusable_conv(a, n)) {     /* relu(conv) */
        pl->store = ST_FIELD;
        pl->conv = a;
        pl->relu = 1;
        P(E, a)->store = ST_FUSED;
        return 1;
    }
    if (n->op != OP_ADD || n->shape.rank != 4)
        return 0;
    for (int k = 0; k < 2; k++) {                     /* conv + b */
        Node *c = n->in[k], *b = n->in[1 - k], *at = b;
        if (!fusable_conv(c, n))
            continue;
        int off = 4 - b->shape.rank, ok = off >= 0;
        for (int d = 0; ok && d < b->shape.rank; d++)
            ok = b->shape.d[d] == (off + d == 1 ? n->shape.d[1] : 1);
        while (P(E, at)->store == ST_ALIAS)
            at = aliased(E, at);
        if (ok && (P(E, at)->store == ST_FIELD ||
                   P(E, at)->store == ST_TABLE)) {
            pl->store = ST_FIELD;
            pl->conv = c;
            pl->bias = b;
            P(E, c)->store = ST_FUSED;
            return 1;
        }
    }
    return 0;
}

/* Where each live node of E->g lives.  In a loop's graph (in_loop) the
 * nodes backward reads are recomputed there, so phases do not matter. */
static void plan_storage(Emitter *E, int in_loop)
{
    Program *p = E->p;
    Graph *g = E->g;
    for (int i = 0; i < g->n; i++) {
        Node *n = g->nodes[i];
        Plan *pl = P(E, n);
        if (!pl->live)
            continue;
        if (n->op == OP_INPUT && p->decls[n->decl].baked) {
            pl->store = ST_TABLE;   /* --weights: a static const array */
            pl->table = baked_name(E, &p->decls[n->decl]);
        } else if (n->op == OP_INPUT || n->op == OP_ARG) {
            pl->store = ST_FIELD;
        } else if (n->op == OP_RESHAPE || n->op == OP_DETACH ||
                   n->op == OP_CUSTOM || n->op == OP_MODE) {
            pl->store = ST_ALIAS;   /* custom: in[0], its forward result */
        } else if (n->op == OP_TRANSPOSE && n->shape.rank == 2) {
            pl->store = pl->users & U_NOT_MATMUL ? ST_FIELD : ST_TRANSPOSED;
            for (int t = 0; t < p->ntensors; t++)
                if (p->tensors[t].node == n)
                    pl->store = ST_FIELD;
            if (in_loop && n->nuses > 0 && !pl->user)
                pl->store = ST_FIELD;   /* a root: copied out */
        } else if (is_splat(n)) {
            pl->store = pl->users & U_NOT_EXPR ? ST_FIELD : ST_INLINE;
        } else if (n->op == OP_CONST) {    /* named by node: NAME_infer's */
            pl->store = ST_TABLE;          /* plan gives the same names */
            pl->table = in_loop ? agc_fmt("%s_%s_k%d", E->name,
                                          E->loop->name, n->id)
                                : agc_fmt("%s_k%d", E->name, n->id);
        } else if (!in_loop && plan_fused_conv(E, n)) {
            ;                       /* a convolution's kernel computes it */
        } else if (op_is_elementwise(n->op) && n->nuses == 1 &&
                   reads_by_expr(pl->user) &&
                   (!pl->user || ((in_loop || pl->user->phase == n->phase) &&
                                  (op_is_reduction(pl->user->op) ||
                                   shape_eq(&pl->user->shape, &n->shape))))) {
            int own_phase = 1;      /* a copy into an output or a grad */
            if (!pl->user && !in_loop)
                for (int t = 0; t < p->ntensors; t++)
                    if (p->tensors[t].node == n &&
                        (p->tensors[t].role == ROLE_GRAD) != (n->phase == 1))
                        own_phase = 0;
            pl->store = own_phase ? ST_INLINE : ST_FIELD;
            pl->depth = 1;
            for (int j = 0; j < n->nin; j++)
                if (P(E, n->in[j])->store == ST_INLINE &&
                    P(E, n->in[j])->depth >= pl->depth)
                    pl->depth = P(E, n->in[j])->depth + 1;
            if (pl->depth > MAX_FUSED)  /* keep expressions readable and */
                pl->store = ST_FIELD;   /* within compilers' nesting limits */
        } else if (!in_loop && recompute(E, n)) {
            pl->store = ST_INLINE;
            pl->depth = 1;
        } else {
            pl->store = ST_FIELD;
        }
    }
}

/* Plans loop L's graph: the condition and the body run in forward, the
 * body's VJP, and what it reads of the body, in backward. */
static void plan_loop(Emitter *E, LoopDef *L)
{
    Region *R = &E->regions[L->index];
    R->live = P(E, L->node)->live != 0;
    R->grad = L->grad && P(E, L->grad)->live;
    if (!R->live)
        return;
    Graph *outer = E->g;
    Plan *outer_plan = E->plan;
    E->g = L->g;
    E->plan = R->plan = agc_alloc(sizeof(Plan) * (size_t)L->g->n);
    int nroots = 0;
    Node **roots = agc_alloc(sizeof *roots * (size_t)(3 + L->ncap));
    mark(E, L->cond, LIVE_FWD | LIVE_COND);
    mark(E, L->body, LIVE_FWD);
    roots[nroots++] = L->cond;
    roots[nroots++] = L->body;
    if (R->grad) {
        mark(E, L->grad_var, LIVE_BWD);
        roots[nroots++] = L->grad_var;
    }
    /* every root is live before uses are counted: a node that only a
     * capture's gradient reads has users, and of what kind, too */
    for (int i = 0; R->grad && i < L->ncap; i++) {
        Node *c = L->capgrad[i];
        if (c && outer_plan[c->id].live) {
            mark(E, L->grad_cap[i], LIVE_BWD);
            roots[nroots++] = L->grad_cap[i];
        }
    }
    count_uses(E);
    for (int i = 0; i < nroots; i++) {
        roots[i]->nuses++;
        P(E, roots[i])->user = NULL;
    }
    E->loop = L;
    plan_storage(E, 1);
    E->g = outer;
    E->plan = outer_plan;
}

/* ---- expressions ---- */

/* A constant of the spec's dtype.  A float32 one is what float32 rounding
 * makes of it, as in PyTorch: 1e39 is INFINITY, 1e-50 is 0, 1e-45 the
 * nearest subnormal (never a literal the compiler would warn about). */
static const char *lit(Emitter *E, double v)
{
    char buf[64];
    if (E->f32 && fabs(v) > FLT_MAX) {
        /* halfway between FLT_MAX and 2^128 and above: infinity (casting
         * such a double to float would be undefined behaviour) */
        if (fabs(v) >= 0x1.ffffffp127)
            return v < 0 ? "(-INFINITY)" : "INFINITY";
        v = v < 0 ? -FLT_MAX : FLT_MAX;
    }
    if (E->f32 && fabs(v) < FLT_MIN)
        v = (float)v;               /* subnormal or 0, exactly */
    snprintf(buf, sizeof buf, E->f32 ? "%.9g" : "%.17g", v);
    if (!strpbrk(buf, ".e"))
        strcat(buf, ".0");
    const char *s = agc_fmt("%s%s", buf, E->f32 ? "f" : "");
    return v < 0 ? agc_fmt("(%s)", s) : s;
}

static int new_val(Emitter *E, const char *name, long count);

/* The name of arena value v, noting that the current block uses it. */
static const char *use_val(Emitter *E, int v)
{
    ArenaVal *a = &E->vals[v];
    if (a->first < 0 || E->block < a->first)
        a->first = E->block;
    if (E->block > a->last)
        a->last = E->block;
    a->phases |= 1u << E->phase;
    return a->name;
}

static const char *ol_param(Emitter *E, const Node *n, const char *s);

/* Where a stored node's elements are: "m->y", an arena value's local
 * pointer, or a table's name. */
static const char *stored_at(Emitter *E, Node *n)
{
    while (P(E, n)->store == ST_ALIAS)
        n = aliased(E, n);
    Plan *pl = P(E, n);
    if (pl->at)
        return pl->at;
    if (pl->store == ST_TABLE)
        return pl->table;
    if (pl->val)
        return use_val(E, pl->val - 1);
    return agc_fmt("m->%s", pl->field);
}

/* The same, or a shared function's parameter while one is written. */
static const char *base(Emitter *E, Node *n)
{
    const char *s = stored_at(E, n);
    return E->ol ? ol_param(E, n, s) : s;
}

/* The loop an expression is evaluated in: over shape, either with one
 * flat index (a C expression) or with one variable i0, i1... per dim. */
typedef struct Loop {
    Shape shape;
    const char *flat;               /* NULL: nested */
} Loop;

/* The offset of n's element at the loop's index; n broadcasts to it. */
static const char *index_of(const Node *n, const Loop *L)
{
    if (shape_count(&n->shape) == 1)
        return "0";
    if (L->flat && shape_eq(&n->shape, &L->shape))
        return L->flat;
    char *s = "";
    long stride = 1;
    int off = L->shape.rank - n->shape.rank;
    for (int k = n->shape.rank - 1; k >= 0; k--) {
        if (n->shape.d[k] != 1)
            s = stride == 1 ? agc_fmt("i%d%s%s", k + off, *s ? " + " : "", s)
                            : agc_fmt("i%d * %ld%s%s", k + off, stride,
                                      *s ? " + " : "", s);
        stride *= n->shape.d[k];
    }
    return s;
}

/* Whether every stored operand under n is full-shaped or a single value,
 * so that one flat index serves them all. */
static int flat_ok(Emitter *E, Node *n, const Shape *s)
{
    Plan *pl = P(E, n);
    if (is_splat(n) && pl->store == ST_INLINE)
        return 1;
    if (pl->store != ST_INLINE)
        return shape_count(&n->shape) == 1 || shape_eq(&n->shape, s);
    for (int i = 0; i < n->nin; i++)
        if (!flat_ok(E, n->in[i], s))
            return 0;
    return 1;
}

/* The static helpers of ops.def, one bit each in E->helpers (above
 * H_UNIFORM and H_NORMAL). */
enum {
#define HELPER(name, params, body) HELP_##name,
#include "ops.def"
    HELP_NONE
};
#define H_OP(i) (1u << (8 + (i)))

/* Per op: the C expression (ops.def's c column) and its helper. */
static const struct {
    const char *c;
    int helper;
} op_c[OP_LAST] = {
#define OP(e, name, arity, kind, grad_fn, call, layer, fold, c, helper)     \
    [OP_##e] = {c, HELP_##helper},
#include "ops.def"
};

static const struct {
    const char *name, *params, *body;
} helper_fns[] = {
#define HELPER(name, params, body) {#name, params, body},
#include "ops.def"
};
enum { H_ORDER = 4, H_LOGF = 8, H_EXPF = 16 }; /* float32: agc_order, */
                                                /* agc_logf, agc_expf */

static const char *fn(Emitter *E, const char *name)
{
    return E->f32 ? agc_fmt("%sf", name) : name;
}

static const char *expr(Emitter *E, Node *n, const Loop *L);
static const char *bare(const char *v);

/* An ops.def template with $a $b $c (the operands ops[]), $T and $f
 * filled in; an operand alone in parentheses loses its own. */
/* In float32 code, libm's expf( and logf( calls in s become agc_expf( and
 * agc_logf( (vectorisable: see agc_expf_text). */
static const char *with_agc_expf(Emitter *E, const char *s)
{
    if (!E->f32)
        return s;
    const char *r = "";
    for (;;) {
        const char *e = strstr(s, "expf("), *l = strstr(s, "logf(");
        const char *at = !e ? l : !l || e < l ? e : l;
        if (!at)
            break;
        int whole = at == s || !(isalnum((unsigned char)at[-1]) ||
                                 at[-1] == '_');
        r = agc_fmt("%s%.*s%s%.5s", r, (int)(at - s), s, whole ? "agc_" : "",
                    at);
        E->helpers |= !whole ? 0 : at == e ? H_EXPF : H_LOGF;
        s = at + 5;
    }
    return agc_fmt("%s%s", r, s);
}

static const char *subst(Emitter *E, const char *t, const char **ops)
{
    const char *r = "";
    while (*t) {
        size_t n = strcspn(t, "$");
        r = agc_fmt("%s%.*s", r, (int)n, t);
        t += n;
        if (!*t)
            break;
        char c = t[1];
        if (c == 'T') {
            r = agc_fmt("%s%s", r, E->T);
        } else if (c == 'f') {
            r = agc_fmt("%s%s", r, fn(E, ""));
        } else {
            const char *v = ops[c - 'a'];
            size_t len = strlen(r);
            if (len && r[len - 1] == '(' && t[2] == ')')
                v = bare(v);
            r = agc_fmt("%s%s", r, v);
        }
        t += 2;
    }
    return r;
}

/* The C expression of an elementwise op over operand expressions. */
static const char *op_expr(Emitter *E, Node *n, const Loop *L)
{
    const char *ops[3] = {NULL, NULL, NULL};
    for (int i = 0; i < n->nin && i < 3; i++)
        ops[i] = expr(E, n->in[i], L);
    if (n->op == OP_POW && is_splat(n->in[1]) && n->in[1]->cval == 2) {
        if (P(E, n->in[0])->store != ST_INLINE)
            return agc_fmt("(%s * %s)", ops[0], ops[0]);
        E->helpers |= H_OP(HELP_square);
        return agc_fmt("agc_square(%s)", bare(ops[0]));
    }
    if (!op_c[n->op].c)
        return "0";
    if (op_c[n->op].helper != HELP_NONE)
        E->helpers |= H_OP(op_c[n->op].helper);
    return with_agc_expf(E, subst(E, op_c[n->op].c, ops));
}

static const char *expr(Emitter *E, Node *n, const Loop *L)
{
    Plan *pl = P(E, n);
    if (pl->store == ST_INLINE)
        return is_splat(n) ? lit(E, n->cval) : op_expr(E, n, L);
    return agc_fmt("%s[%s]", base(E, n), index_of(n, L));
}

/* ---- statements ---- */

/* The comment that names n's spec node: NAME_forward's gives the whole
 * note, "conv2d3 = conv2d(x, ...)"; NAME_infer's and NAME_backward's the
 * name alone, "conv2d3", "grad of conv2d3", when NAME_forward gave it whole
 * (the same node, or the node of its gradient). */
static void comment(Emitter *E, Out *o, const Node *n)
{
    if (!n->note)
        return;
    const char *eq = strstr(n->note, " = "), *key = n->note;
    int len = (int)strlen(n->note), seen = 0;
    if (!strncmp(key, "grad of ", 8))
        key += 8;
    for (int i = 0; eq && !E->whole_notes && i < E->nnoted && !seen; i++)
        seen = !strcmp(E->noted[i], key);
    if (eq && !E->whole_notes && E->phase == 0 && !E->infer) {
        if (!seen)
            *AGC_PUSH(E->noted, E->nnoted, E->cnoted) = key;
    } else if (seen)
        len = (int)(eq - n->note);
    put(o, "/* %.*s  [%s:%d] */\n", len, n->note, E->path, n->pos.line);
}

/* Comments for n and the nodes fused into its loop, innermost first. */
static void comments(Emitter *E, Out *o, Node *n, const char **last)
{
    for (int i = 0; i < n->nin; i++)
        if (P(E, n->in[i])->store == ST_INLINE && !is_splat(n->in[i]))
            comments(E, o, n->in[i], last);
    if (n->note && (!*last || strcmp(*last, n->note))) {
        comment(E, o, n);
        *last = n->note;
    }
}

/* Threads (section 14): a loop over at least PAR_MIN_ELEMS elements,
 * elementwise or each iteration its own outputs' reduction, runs under
 * OpenMP's parallel for (static schedule) when built with -fopenmp.  Each
 * element is computed as without threads, so the result does not depend
 * on the thread count.  Smaller loops keep their code: a parallel region
 * costs microseconds, more than a loop of fewer elements gains (at
 * 32768, the LeNet step's pool and relu gradients gained from two threads:
 * 928 -> 886 us). */
#define PAR_MIN_ELEMS 32768

/* The pragma for a loop of iters iterations over elems elements, if it
 * is large enough. */
void put_omp_for(Out *o, long elems, long iters)
{
    if (elems >= PAR_MIN_ELEMS && iters >= 2)
        put_omp(o, "parallel for schedule(static)");
}

/* One loop per dim of s; the innermost gets braces when body > 1. */
static void open_loops(Out *o, const Shape *s, int body)
{
    for (int k = 0; k < s->rank; k++) {
        put(o, "for (long i%d = 0; i%d < %ld; i%d++)%s\n", k, k, s->d[k], k,
            k == s->rank - 1 && body > 1 ? " {" : "");
        o->indent++;
    }
}

/* Opens a loop for each dim of s in mask (reduced = 1) or not in it
 * (reduced = 0), with variable i<dim>; brace: "{" after the last one.
 * Returns how many; the caller lowers the indent by as many. */
static int open_dims(Out *o, const Shape *s, unsigned mask, int reduced,
                     int brace)
{
    int n = 0, last = -1;
    for (int k = 0; k < s->rank; k++)
        if ((int)(mask >> k & 1) == reduced)
            last = k;
    for (int k = 0; k <= last; k++)
        if ((int)(mask >> k & 1) == reduced) {
            put(o, "for (long i%d = 0; i%d < %ld; i%d++)%s\n", k, k, s->d[k],
                k, brace && k == last ? " {" : "");
            o->indent++;
            n++;
        }
    return n;
}

static void close_loops(Out *o, const Shape *s, int body)
{
    if (s->rank && body > 1) {
        o->indent--;
        put(o, "}\n");
        o->indent++;
    }
    o->indent -= s->rank;
}

/* v without the parentheses around all of it, if any. */
static const char *bare(const char *v)
{
    size_t n = strlen(v);
    if (n < 2 || v[0] != '(' || v[n - 1] != ')')
        return v;
    int depth = 0;
    for (size_t i = 0; i < n - 1; i++) {
        depth += (v[i] == '(') - (v[i] == ')');
        if (depth == 0)
            return v;               /* "(a) + (b)" */
    }
    return agc_strndup(v + 1, n - 2);
}

/* dst[...] = n over n's shape: n's own op (copy = 0) or n's value as an
 * expression (copy = 1, for outputs and gradients). */
static void assign_op(Emitter *E, Out *o, const char *dst, Node *n, int copy,
                      const char *op)
{
    long cnt = shape_count(&n->shape);
    int flat = 1;
    if (copy)
        flat = flat_ok(E, n, &n->shape);
    else
        for (int i = 0; i < n->nin; i++)
            flat &= flat_ok(E, n->in[i], &n->shape);
    Loop L = {n->shape, cnt == 1 ? "0" : "i"};
    if (!flat)
        L.flat = NULL;
    const char *v = bare(copy ? expr(E, n, &L) : op_expr(E, n, &L));
    if (flat && cnt == 1) {
        put(o, "%s[0] %s %s;\n", dst, op, v);
    } else if (flat) {
        put_omp_for(o, cnt, cnt);
        put(o, "for (long i = 0; i < %ld; i++)\n    %s[i] %s %s;\n", cnt, dst,
            op, v);
    } else {
        put_omp_for(o, cnt, n->shape.d[0]);
        open_loops(o, &n->shape, 1);
        put(o, "%s[%s] %s %s;\n", dst, index_of(n, &L), op, v);
        close_loops(o, &n->shape, 1);
    }
}

static void assign(Emitter *E, Out *o, const char *dst, Node *n, int copy)
{
    assign_op(E, o, dst, n, copy, "=");
}

/* Sums run in T, float in float32 code (no double arithmetic, so that it
 * runs on single-precision FPUs), blocked for accuracy: a contiguous sum
 * keeps RED_LANES partial sums, each over at most RED_BLOCK / RED_LANES
 * elements, which compilers vectorise; the lanes are added pairwise into
 * the block's sum, and the blocks' sums into the total.  A sum over
 * leading dims adds whole rows into the output, in blocks of RED_BLOCK
 * rows; any other runs through a partial sum of RED_BLOCK terms. */
#define RED_LANES 16
#define RED_BLOCK 4096

/* acc += the lanes' sum, added pairwise; the lanes start again at 0 */
static void add_lanes(Out *o)
{
    for (int w = RED_LANES / 2; w >= 1; w /= 2)
        put(o, "for (int l = 0; l < %d; l++)\n    lane[l] += lane[l + %d];\n",
            w, w);
    put(o, "acc += lane[0];\n");
}

/* acc += the sum of a over a row of inner elements, in lanes over blocks
 * of RED_BLOCK: with L->flat, element j of the row is at row + j (row a
 * prefix of a flat index); without, the row runs along the last dim of L,
 * whose index variable is var. */
static void lane_sum(Emitter *E, Out *o, Node *a, Loop *L, long inner,
                     const char *row, const char *var, const char *sq)
{
    const char *last = L->flat ? "" : agc_fmt("long %s = j + l;\n", var);
    long block = inner < RED_BLOCK ? inner / RED_LANES * RED_LANES
                                   : RED_BLOCK;
    const char *T = E->T;
    int flat = L->flat != NULL;
    if (flat)
        L->flat = agc_fmt("%sj + l", row);
    put(o, "%s lane[%d];\n", T, RED_LANES);
    put(o, "long j = 0;\n");
    put(o, "for (long jb = 0; jb + %ld <= %ld; jb += %ld) {\n", block, inner,
        block);
    o->indent++;
    put(o, "for (int l = 0; l < %d; l++)\n    lane[l] = 0;\n", RED_LANES);
    put(o, "for (j = jb; j < jb + %ld; j += %d)\n", block, RED_LANES);
    put(o, "    for (int l = 0; l < %d; l++) {\n", RED_LANES);
    o->indent += 2;
    put(o, "%s%s v = %s;\n", last, T, bare(expr(E, a, L)));
    o->indent -= 2;
    put(o, "        lane[l] += v%s;\n    }\n", sq);
    add_lanes(o);
    o->indent--;
    put(o, "}\n");
    if (inner % block) {            /* the rest, one at a time */
        if (flat)
            L->flat = agc_fmt("%sj", row);
        else
            last = agc_fmt("long %s = j;\n", var);
        put(o, "for (; j < %ld; j++) {\n", inner);
        o->indent++;
        put(o, "%s%s v = %s;\nacc += v%s;\n", last, T, bare(expr(E, a, L)),
            sq);
        o->indent--;
        put(o, "}\n");
    }
}

/* sum, amax, amin, norm over the dims in attr[0]. */
static void emit_reduce(Emitter *E, Out *o, Node *n)
{
    Node *a = n->in[0];
    Shape s = a->shape;
    unsigned mask = (unsigned)n->attr[0];
    int r = s.rank, p = r;
    while (p > 0 && (mask >> (p - 1) & 1))
        p--;
    long outer = 1, inner = 1;
    for (int k = 0; k < r; k++)
        *(k < p ? &outer : &inner) *= s.d[k];
    int suffix = mask == ((r ? (1u << r) - 1 : 0) & ~((1u << p) - 1));
    const char *dst = base(E, n), *T = E->T;
    int sum = n->op == OP_SUM || n->op == OP_NORM;
    const char *init = n->op == OP_AMAX ? "-INFINITY"
                       : n->op == OP_AMIN ? "INFINITY" : "0";
    const char *step = n->op == OP_SUM ? "acc += v;"
                       : n->op == OP_NORM ? "acc += v * v;"
                       : n->op == OP_AMAX ? "if (v > acc || v != v)\n    acc = v;"
                       : "if (v < acc || v != v)\n    acc = v;";
    const char *fin = n->op == OP_NORM ? agc_fmt("%s(acc)", fn(E, "sqrt"))
                                       : "acc";
    const char *sq = n->op == OP_NORM ? " * v" : "";
    if (suffix && flat_ok(E, a, &s) && sum && outer == 1 &&
        inner >= PAR_MIN_ELEMS && inner >= 2 * RED_BLOCK) {
        /* as below, the blocks in parallel (when built with -fopenmp),
         * their sums added into acc in block order: the same sum */
        long full = inner / RED_BLOCK * RED_BLOCK;
        Loop L = {s, "j + l"};
        put(o, "{\n");
        o->indent++;
        put(o, "%s acc = 0;\n", T);
        put(o, "/* %ld blocks, whatever the thread count, added in their "
            "order */\n", full / RED_BLOCK);
        put_omp(o, "parallel for ordered schedule(static, 1)");
        put(o, "for (long jb = 0; jb < %ld; jb += %d) {\n", full, RED_BLOCK);
        o->indent++;
        put(o, "%s lane[%d];\n", T, RED_LANES);
        put(o, "for (int l = 0; l < %d; l++)\n    lane[l] = 0;\n", RED_LANES);
        put(o, "for (long j = jb; j < jb + %d; j += %d)\n", RED_BLOCK,
            RED_LANES);
        put(o, "    for (int l = 0; l < %d; l++) {\n", RED_LANES);
        put(o, "        %s v = %s;\n", T, bare(expr(E, a, &L)));
        put(o, "        lane[l] += v%s;\n    }\n", sq);
        for (int w = RED_LANES / 2; w >= 1; w /= 2)
            put(o, "for (int l = 0; l < %d; l++)\n    lane[l] += "
                "lane[l + %d];\n", w, w);
        put_omp(o, "ordered");
        put(o, "acc += lane[0];\n");
        o->indent--;
        put(o, "}\n");
        if (inner % RED_BLOCK) {    /* the rest, one at a time */
            L.flat = "j";
            put(o, "for (long j = %ld; j < %ld; j++) {\n", full, inner);
            put(o, "    %s v = %s;\n    acc += v%s;\n}\n", T,
                bare(expr(E, a, &L)), sq);
        }
        put(o, "%s[0] = %s;\n", dst, fin);
        o->indent--;
        put(o, "}\n");
        return;
    }
    int flat = flat_ok(E, a, &s);
    if (suffix && sum && inner >= RED_LANES && (flat || p == r - 1)) {
        /* lanes over blocks of RED_BLOCK elements of each row; a row
         * whose operands broadcast runs over the dims, its last one at
         * j + l */
        const char *row = outer == 1 ? "" : agc_fmt("i * %ld + ", inner);
        const char *at = outer == 1 ? "0" : "i", *var = NULL;
        Loop L = {s, row};
        int nk = 0;
        if (flat) {
            put_omp_for(o, outer * inner, outer);
            put(o, outer > 1 ? "for (long i = 0; i < %ld; i++) {\n" : "{\n",
                outer);
        } else {
            Shape kept = s;
            kept.d[r - 1] = 1;
            L.flat = NULL;
            at = index_of(&(Node){.shape = kept}, &L);
            var = agc_fmt("i%d", r - 1);
            for (int k = 0; k < r; k++)     /* the outermost kept dim */
                if (!(mask >> k & 1)) {
                    put_omp_for(o, outer * inner, s.d[k]);
                    break;
                }
            nk = open_dims(o, &s, mask, 0, 1);
            if (!nk)
                put(o, "{\n");
        }
        if (!nk)
            o->indent++;
        put(o, "%s acc = 0;\n", T);
        lane_sum(E, o, a, &L, inner, row, var, sq);
        put(o, "%s[%s] = %s;\n", dst, at, fin);
        o->indent--;
        put(o, "}\n");
        if (nk)
            o->indent -= nk - 1;
        return;
    }
    if (suffix && flat && E->f32 && !sum) {
        /* float32 max and min as a max of agc_order keys, an integer
         * reduction that compilers vectorise (min(x) = -max(-x)) */
        Loop L = {s, outer == 1 ? "j" : agc_fmt("i * %ld + j", inner)};
        const char *neg = n->op == OP_AMIN ? "-" : "";
        E->helpers |= H_ORDER;
        put_omp_for(o, outer * inner, outer);
        put(o, outer > 1 ? "for (long i = 0; i < %ld; i++) {\n" : "{\n",
            outer);
        o->indent++;
        put(o, "int32_t acc = INT32_MIN;\n");
        put(o, "for (long j = 0; j < %ld; j++) {\n", inner);
        put(o, "    int32_t v = agc_order(%s%s);\n", neg,
            n->op == OP_AMIN ? expr(E, a, &L) : bare(expr(E, a, &L)));
        put(o, "    acc = v > acc ? v : acc;\n}\n");
        put(o, "%s[%s] = %sagc_unorder(acc);\n", dst, outer == 1 ? "0" : "i",
            neg);
        o->indent--;
        put(o, "}\n");
        return;
    }
    if (suffix && flat_ok(E, a, &s)) {
        Loop L = {s, outer == 1 ? "j" : agc_fmt("i * %ld + j", inner)};
        put_omp_for(o, outer * inner, outer);
        put(o, outer > 1 ? "for (long i = 0; i < %ld; i++) {\n" : "{\n",
            outer);
        o->indent++;
        put(o, "%s acc = %s;\n", T, init);
        put(o, "for (long j = 0; j < %ld; j++) {\n", inner);
        o->indent++;
        put(o, "%s v = %s;\n%s\n", T, bare(expr(E, a, &L)), step);
        o->indent--;
        put(o, "}\n%s[%s] = %s;\n", dst, outer == 1 ? "0" : "i", fin);
        o->indent--;
        put(o, "}\n");
        return;
    }
    if (sum && flat && p < r && !suffix && inner >= RED_LANES) {
        /* reduced dims before kept ones, and a reduced suffix of inner
         * elements (a bias gradient over [N, C, H, W]): the suffix in
         * lanes, for each kept index and each index of the other dims */
        Shape lead = s;
        lead.rank = p;
        const char *row = "";
        long stride = inner;
        for (int k = p - 1; k >= 0; k--) {
            if (s.d[k] != 1)
                row = agc_fmt("i%d%s + %s", k, stride == 1 ? "" :
                              agc_fmt(" * %ld", stride), row);
            stride *= s.d[k];
        }
        Shape kept = s;
        for (int k = 0; k < r; k++)
            if (mask >> k & 1)
                kept.d[k] = 1;
        Loop L = {s, NULL};
        const char *at = index_of(&(Node){.shape = kept}, &L);
        L.flat = row;
        for (int k = 0; k < p; k++)     /* the outermost kept dim */
            if (!(mask >> k & 1)) {
                put_omp_for(o, outer * inner, s.d[k]);
                break;
            }
        int nk = open_dims(o, &lead, mask, 0, 1);
        if (!nk) {
            put(o, "{\n");
            o->indent++;
        }
        put(o, "%s acc = 0;\n", T);
        int nr = open_dims(o, &lead, mask, 1, 1);
        lane_sum(E, o, a, &L, inner, row, NULL, sq);
        o->indent--;
        put(o, "}\n");
        o->indent -= nr - 1;
        put(o, "%s[%s] = %s;\n", dst, at, fin);
        o->indent--;
        put(o, "}\n");
        if (nk)
            o->indent -= nk - 1;
        return;
    }
    int q = 0;                      /* the leading dims reduced */
    while (q < r && (mask >> q & 1))
        q++;
    int prefix = q > 0 && q < r && mask == (1u << q) - 1 && n->op == OP_SUM;
    long lead = 1;                  /* prefix: the rows added up */
    for (int k = 0; prefix && k < r; k++)
        if (mask >> k & 1)
            lead *= s.d[k];
    if (prefix && flat_ok(E, a, &s) && lead <= RED_BLOCK) {
        /* whole rows added into the output, which compilers vectorise */
        long cols = shape_count(&s) / lead;
        Loop L = {s, agc_fmt("i * %ld + j", cols)};
        put(o, "for (long j = 0; j < %ld; j++)\n    %s[j] = 0;\n", cols, dst);
        put(o, "for (long i = 0; i < %ld; i++)\n", lead);
        put(o, "    for (long j = 0; j < %ld; j++)\n", cols);
        put(o, "        %s[j] += %s;\n", dst, bare(expr(E, a, &L)));
        return;
    }
    /* any other dims: a loop over the kept dims around one over the
     * reduced ones; a sum adds RED_BLOCK terms at a time into part */
    Node kept;
    memset(&kept, 0, sizeof kept);
    kept.shape = s;
    for (int k = 0; k < r; k++)
        if (mask >> k & 1)
            kept.shape.d[k] = 1;
    Loop L = {s, NULL};
    for (int k = 0; k < r; k++)     /* the outermost kept dim */
        if (!(mask >> k & 1)) {
            put_omp_for(o, shape_count(&s), s.d[k]);
            break;
        }
    int nk = open_dims(o, &s, mask, 0, 1);
    if (!nk) {
        put(o, "{\n");
        o->indent++;
    }
    put(o, "%s acc = %s;\n", T, init);
    if (sum)
        put(o, "%s part = 0;\nlong terms = 0;\n", T);
    int nr = open_dims(o, &s, mask, 1, 1);
    if (sum)
        put(o, "%s v = %s;\npart += v%s;\nif (++terms == %d) {\n"
            "    acc += part;\n    part = 0;\n    terms = 0;\n}\n", T,
            bare(expr(E, a, &L)), sq, RED_BLOCK);
    else
        put(o, "%s v = %s;\n%s\n", T, bare(expr(E, a, &L)), step);
    if (nr) {
        o->indent--;
        put(o, "}\n");
        o->indent -= nr - 1;
    }
    if (sum)
        put(o, "acc += part;\n");
    put(o, "%s[%s] = %s;\n", dst, index_of(&kept, &L), fin);
    o->indent--;
    put(o, "}\n");
    if (nk)
        o->indent -= nk - 1;
}

/* Element (r, c) of a matmul operand, which may be a transpose read in
 * place. */
static const char *element(Emitter *E, Node *x, const char *r, const char *c)
{
    if (P(E, x)->store == ST_TRANSPOSED)
        return agc_fmt("%s[%s * %ld + %s]", base(E, x->in[0]), c,
                       x->shape.d[0], r);
    return agc_fmt("%s[%s * %ld + %s]", base(E, x), r, x->shape.d[1], c);
}

/* ---- matmul ----
 *
 * C = A B for A [M, K] and B [K, N], either possibly a transpose read in
 * place.  Small products, and those of fewer than MM_MIN_N columns, run
 * as plain loops.  The others run in blocks, as BLIS does:
 *
 *   for each block of MM_NB columns of C (jb) and of MM_KB_SMALL rows of
 *   B (kb; for a product of MM_BIG multiply-adds or more, as few blocks
 *   of at most MM_KB rows as can be, of even size):
 *       pack B[kb.., jb..] into panels of MM_NR columns (zero past N)
 *       for each MM_MR rows of C (i), for each panel:
 *           kernel: the MR x NR block of C (=, then +=) a[i..][kb..]
 *                   times the panel, summed in registers over kb..
 *
 * The kernel keeps its MR x NR sums in registers, which plain C does not
 * get from gcc 12 (it keeps an array of them in memory): where the
 * compiler has GNU vectors and the target AVX, the kernel is written with
 * them (two vectors a row); elsewhere (tcc, other targets) it is plain
 * loops.  A has no copy: a row block past M reads its last row again and
 * writes only the rows inside C.
 *
 * Where B is a transpose read in place (x W^T, as linear computes) and
 * has more columns than A has rows, the product runs the other way round,
 * C^T = B^T A^T, into a scratch then transposed into C: B^T's rows are the
 * kernel's rows, read where they are, and the panels hold A^T, the
 * smaller copy (nn.Linear's input, not its weight).  Each element of C
 * gets the same multiply-adds in the same order either way. */
#define MM_MR 6                     /* rows of C per kernel call */
#define MM_NB 128                   /* columns of C per block */
#define MM_KB 384                   /* rows of B per packed panel, at most */
#define MM_KB_SMALL 128             /* ... for a product under MM_BIG */
#define MM_BIG (1L << 20)           /* multiply-adds */
#define MM_MIN_N 8                  /* fewer columns: plain loops (a panel
                                     * of 16 half used is still faster) */
#define MM_MIN_WORK 4096            /* fewer multiply-adds: plain loops */
#define MM_PAR_WORK (1L << 18)      /* fewer: one thread (a quarter of
                                     * AGC_PAR_WORK: the LeNet step's
                                     * 256 x 120 layer, at batch 32, gained
                                     * from two threads) */

static const char *add_scratch(void *ctx, const char *type,
                               const char *want, long count, const char *note);

/* Where a matmul operand's element (r, c) is: base[r * rs + c * cs]. */
static const char *operand(Emitter *E, Node *x, long *rs, long *cs)
{
    if (P(E, x)->store == ST_TRANSPOSED) {
        *rs = 1;
        *cs = x->shape.d[0];
        return base(E, x->in[0]);
    }
    *rs = x->shape.d[1];
    *cs = 1;
    return base(E, x);
}

/* Columns of a packed panel: two vectors of 32 bytes. */
static int mm_nr(Emitter *E)
{
    return E->f32 ? 16 : 8;
}

/* The kernel's sums of its first rows (4 or 6) and its loop over k */
static void mm_rows(Out *o, const char *T, int lanes, int rows)
{
    for (int r = 0; r < rows; r++)  /* two lines of declarations */
        put(o, "%s s%d0 = {0}, s%d1 = {0}%s", r % (rows / 2) ? "," : "vec",
            r, r, (r + 1) % (rows / 2) ? "" : ";\n");
    put(o, "for (long k = 0; k < kc; k++) {\n");
    o->indent++;
    put(o, "const %s *restrict ak = a + k * acs;\n", T);
    put_vec_fma(o, "ak", "row", "b + k * ldb", lanes, rows);
    o->indent--;
    put(o, "}\n");
}

/* The kernel, written once per program (conv.c's Winograd products call
 * it too). */
const char *mm_kernel(Kernels *K)
{
    const char *T = K->T, *name = K->f32 ? "agc_mm_6x16" : "agc_mm_6x8";
    int nr = K->f32 ? 16 : 8, lanes = nr / 2;
    if (K->mm_written)
        return name;
    K->mm_written = 1;
    Out *o = &K->fns;
    put(o, "/* c[r][j] = (first) or += (else) the sum over k < kc of\n"
        " * a[r * ars + k * acs] * b[k * ldb + j], for r < mr <= 6 and j < "
        "nr <= %d:\n * b a panel of %d columns (all read), rows of c ldc "
        "apart; inlined into its callers, for their constant arguments "
        "*/\n", nr, nr);
    put(o, "static AGC_INLINE void %s(long kc, const %s *restrict a, long "
        "ars, long acs,\n    const %s *restrict b, long ldb, %s *restrict c, "
        "long ldc, int mr,\n    int nr, int first)\n{\n", name, T, T, T);
    put(o, "    %s sum[6][%d];\n", T, nr);
    put(o, "    long row[6];                /* rows past mr read the last */\n");
    put(o, "    for (int r = 0; r < 6; r++)\n"
        "        row[r] = (r < mr ? r : mr - 1) * ars;\n");
    put(o, "#if defined(__GNUC__) && defined(__AVX__)\n");
    o->indent++;
    put(o, "typedef %s vec __attribute__((vector_size(32)));\n", T);
    /* a block of 4 rows or fewer (a tail) takes 4 rows' multiply-adds,
     * not 6: each element's sum is the same */
    put(o, "if (mr <= 4) {\n");
    o->indent++;
    mm_rows(o, T, lanes, 4);
    put_vec_store(o, lanes, 4);
    o->indent--;
    put(o, "} else {\n");
    o->indent++;
    mm_rows(o, T, lanes, 6);
    /* a whole block, written once: straight from the registers */
    put(o, "if (mr == 6 && nr == %d && first) {\n", nr);
    for (int r = 0; r < 6; r++)
        put(o, "    memcpy(c%s, &s%d0, sizeof s%d0);\n"
            "    memcpy(c + %s%d, &s%d1, sizeof s%d1);\n",
            r ? agc_fmt(" + %d * ldc", r) : "", r, r,
            r ? agc_fmt("%d * ldc + ", r) : "", lanes, r, r);
    put(o, "    return;\n}\n");
    put_vec_store(o, lanes, 6);
    o->indent--;
    put(o, "}\n");
    o->indent--;
    /* plain C: a row at a time, its sums in scalars (which tcc,
     * compiling a statement at a time, handles best) */
    put(o, "#else\n");
    put(o, "    for (int r = 0; r < mr; r++) {\n");
    put(o, "        %s s0 = 0", T);
    for (int j = 1; j < nr; j++)
        put(o, ", s%d = 0", j);
    put(o, ";\n");
    put(o, "        for (long k = 0; k < kc; k++) {\n");
    put(o, "            const %s ark = a[row[r] + k * acs];\n", T);
    put(o, "            const %s *restrict bk = b + k * ldb;\n", T);
    for (int j = 0; j < nr; j++)
        put(o, "            s%d += ark * bk[%d];\n", j, j);
    put(o, "        }\n");
    for (int j = 0; j < nr; j++)
        put(o, "        sum[r][%d] = s%d;\n", j, j);
    put(o, "    }\n");
    put(o, "#endif\n");
    put(o, "    for (int r = 0; r < mr; r++) {\n"
        "        %s *restrict cr = c + r * ldc;\n"
        "        if (nr == %d && first)\n"
        "            for (int j = 0; j < %d; j++)\n"
        "                cr[j] = sum[r][j];\n"
        "        else if (nr == %d)\n"
        "            for (int j = 0; j < %d; j++)\n"
        "                cr[j] += sum[r][j];\n"
        "        else\n"
        "            for (int j = 0; j < nr; j++)\n"
        "                cr[j] = first ? sum[r][j] : cr[j] + sum[r][j];\n"
        "    }\n}\n\n", T, nr, nr, nr, nr);
    return name;
}

static void emit_matmul(Emitter *E, Out *o, Node *n)
{
    Node *a = n->in[0], *b = n->in[1];
    const char *T = E->T;
    long M = n->shape.d[0], N = n->shape.d[1], K = a->shape.d[1];
    long ars, acs, brs, bcs;
    const char *A = operand(E, a, &ars, &acs);
    const char *B = operand(E, b, &brs, &bcs);
    const char *CT = NULL;          /* C^T = B^T A^T, transposed into C */
    if (bcs != 1 && M < N && M >= MM_MIN_N && M * N * K >= MM_MIN_WORK) {
        const char *at = A;
        long m = M, ar = ars, ac = acs;
        A = B, ars = bcs, acs = brs, M = N;
        B = at, brs = ac, bcs = ar, N = m;
        CT = add_scratch(E, T, "mm_ct", M * N, "C^T, for matmul");
    }
    const char *C = CT ? CT : base(E, n);
    if (N >= MM_MIN_N && M * N * K >= MM_MIN_WORK) {
        int nr = mm_nr(E);
        const char *kernel = mm_kernel(&E->kern);
        long nb = N < MM_NB ? (N + nr - 1) / nr * nr : MM_NB;
        long kb = K < MM_KB_SMALL ? K : MM_KB_SMALL;
        if (M * N * K >= MM_BIG) {  /* as few blocks as can be, even */
            kb = (K + MM_KB - 1) / MM_KB;
            kb = (K + kb - 1) / kb;
        }
        const char *bp = add_scratch(E, T, "mm_panel", nb * kb,
                                     "panels of B, packed for matmul");
        if (CT)
            put(o, "/* as C^T = B^T A^T into %s, then transposed */\n", CT);
        put(o, "/* blocked: %ld columns by %ld rows of B at a time, in panels "
            "of %d\n * columns; kernels of %d rows */\n", nb, kb, nr, MM_MR);
        int par = M * N * K >= MM_PAR_WORK;
        if (par) {                  /* each thread runs the blocks, sharing */
            put_omp(o, "parallel"); /* out the panels and the kernel calls */
            put(o, "{\n");
            o->indent++;
        }
        put(o, "for (long jb = 0; jb < %ld; jb += %ld) {\n", N, nb);
        put(o, "    const long nb = %ld - jb < %ld ? %ld - jb : %ld;\n", N, nb,
            N, nb);
        put(o, "    for (long kb = 0; kb < %ld; kb += %ld) {\n", K, kb);
        put(o, "        const long kn = %ld - kb < %ld ? %ld - kb : %ld;\n", K,
            kb, K, kb);
        /* panel p: p[k][j] = B[kb + k][jb + p * nr + j], zero past N */
        const char *src = agc_fmt("%s[(kb + k)%s + (jb + p * %d + j)%s]", B,
                                  brs == 1 ? "" : agc_fmt(" * %ld", brs), nr,
                                  bcs == 1 ? "" : agc_fmt(" * %ld", bcs));
        o->indent += 2;
        if (par)
            put_omp(o, "for schedule(static)");
        put(o, "for (long p = 0; p < (nb + %d) / %d; p++) {\n", nr - 1, nr);
        o->indent++;
        put(o, "%s *restrict panel = %s + p * %d * kn;\n", T, bp, nr);
        if (N % nr) {
            put(o, "const long jn = nb - p * %d < %d ? nb - p * %d : %d;\n",
                nr, nr, nr, nr);
            src = agc_fmt("j < jn ? %s : 0", src);
        }
        put(o, "for (long k = 0; k < kn; k++)\n"
            "    for (long j = 0; j < %d; j++)\n", nr);
        put(o, "        panel[k * %d + j] = %s;\n", nr, src);
        o->indent--;
        put(o, "}\n");
        if (par)                    /* every kernel call one item */
            put_omp(o, "for collapse(2) schedule(static)");
        put(o, "for (long i = 0; i < %ld; i += %d)\n", M, MM_MR);
        put(o, "    for (long j = 0; j < nb; j += %d)\n", nr);
        put(o, "        %s(kn, %s + i%s + kb%s, %ld, %ld, %s + j * kn, %d,\n"
            "            %s + i * %ld + jb + j, %ld, %s, %s, kb == 0);\n",
            kernel, A, ars == 1 ? "" : agc_fmt(" * %ld", ars),
            acs == 1 ? "" : agc_fmt(" * %ld", acs), ars, acs, bp, nr, C, N, N,
            M % MM_MR ? agc_fmt("i + 6 <= %ld ? 6 : (int)(%ld - i)", M, M)
                      : "6",
            N % nr ? agc_fmt("nb - j < %d ? (int)(nb - j) : %d", nr, nr)
                   : agc_fmt("%d", nr));
        o->indent -= 2;
        put(o, "    }\n}\n");
        if (CT) {                   /* C = (C^T)^T, C^T being [M, N] here */
            if (par)
                put_omp(o, "for schedule(static)");
            put(o, "for (long i = 0; i < %ld; i++)\n"
                "    for (long j = 0; j < %ld; j++)\n"
                "        %s[i * %ld + j] = %s[j * %ld + i];\n", N, M,
                base(E, n), M, CT, N);
        }
        if (par) {
            o->indent--;
            put(o, "}\n");
        }
        return;
    }
    if (N == 1) {                   /* matrix-vector: dot products */
        put(o, "for (long i = 0; i < %ld; i++) {\n", M);
        put(o, "    %s acc = 0;\n", T);
        put(o, "    for (long k = 0; k < %ld; k++)\n", K);
        put(o, "        acc += %s * %s;\n", element(E, a, "i", "k"),
            element(E, b, "k", "0"));
        put(o, "    %s[i] = acc;\n}\n", C);
        return;
    }
    /* i-k-j order: the inner loop runs along rows of b and c, which
     * compilers vectorise */
    put(o, "for (long i = 0; i < %ld; i++) {\n", M);
    put(o, "    for (long j = 0; j < %ld; j++)\n", N);
    put(o, "        %s[i * %ld + j] = 0;\n", C, N);
    put(o, "    for (long k = 0; k < %ld; k++) {\n", K);
    put(o, "        %s aik = %s;\n", T, element(E, a, "i", "k"));
    put(o, "        for (long j = 0; j < %ld; j++)\n", N);
    put(o, "            %s[i * %ld + j] += aik * %s;\n", C, N,
        element(E, b, "k", "j"));
    put(o, "    }\n}\n");
}

static void emit_transpose(Emitter *E, Out *o, Node *n)
{
    const Shape *s = &n->shape, *in = &n->in[0]->shape;
    int d0 = (int)n->attr[0], d1 = (int)n->attr[1];
    long stride[AGC_MAX_RANK], st = 1;
    for (int k = in->rank - 1; k >= 0; k--) {
        stride[k] = st;
        st *= in->d[k];
    }
    char *src = "";
    for (int k = 0; k < s->rank; k++) {
        int from = k == d0 ? d1 : k == d1 ? d0 : k;
        if (s->d[k] != 1)
            src = stride[from] == 1
                      ? agc_fmt("%s%si%d", src, *src ? " + " : "", k)
                      : agc_fmt("%s%si%d * %ld", src, *src ? " + " : "", k,
                                stride[from]);
    }
    Loop L = {*s, NULL};
    open_loops(o, s, 1);
    put(o, "%s[%s] = %s[%s];\n", base(E, n), index_of(n, &L),
        base(E, n->in[0]), *src ? src : "0");
    close_loops(o, s, 1);
}

/* Copies of contiguous blocks, for cat, narrow and pad along dim:
 * outer blocks of len rows of inner elements each. */
static void block_copy(Emitter *E, Out *o, const char *dst, long dst_rows,
                       long dst_at, const char *src, long src_rows,
                       long src_at, long rows, long outer, long inner)
{
    const char *sz = agc_fmt("%ld * sizeof(%s)", rows * inner, E->T);
    if (outer == 1) {
        put(o, "memcpy(%s + %ld, %s + %ld, %s);\n", dst, dst_at * inner, src,
            src_at * inner, sz);
        return;
    }
    put(o, "for (long i = 0; i < %ld; i++)\n", outer);
    put(o, "    memcpy(%s + i * %ld + %ld, %s + i * %ld + %ld, %s);\n", dst,
        dst_rows * inner, dst_at * inner, src, src_rows * inner,
        src_at * inner, sz);
}

static void emit_blocks(Emitter *E, Out *o, Node *n)
{
    int dim = (int)n->attr[0];
    long outer = 1, inner = 1;
    for (int k = 0; k < n->shape.rank; k++)
        if (k < dim)
            outer *= n->shape.d[k];
        else if (k > dim)
            inner *= n->shape.d[k];
    const char *dst = base(E, n);
    long rows = n->shape.d[dim];
    if (n->op == OP_CAT) {
        long at = 0;
        for (int i = 0; i < n->nin; i++) {
            long len = n->in[i]->shape.d[dim];
            block_copy(E, o, dst, rows, at, base(E, n->in[i]), len, 0, len,
                       outer, inner);
            at += len;
        }
    } else if (n->op == OP_NARROW) {
        block_copy(E, o, dst, rows, 0, base(E, n->in[0]),
                   n->in[0]->shape.d[dim], n->attr[1], rows, outer, inner);
    } else {                        /* OP_PAD */
        long len = n->in[0]->shape.d[dim];
        put(o, "memset(%s, 0, %ld * sizeof *%s);\n", dst,
            shape_count(&n->shape), dst);
        block_copy(E, o, dst, rows, n->attr[1], base(E, n->in[0]), len, 0,
                   len, outer, inner);
    }
}

static void emit_loop(Emitter *E, Out *o, Node *n);
static void emit_loop_grad(Emitter *E, Out *o, Node *n);

enum { H_UNIFORM = 32, H_NORMAL = 64, H_MIX = 128 };

/* Train mode's update of a buffer: in[0] = in[1], or in[0] += 1. */
static void emit_assign(Emitter *E, Out *o, Node *n)
{
    const char *dst = base(E, n->in[0]);
    put(o, "/* train mode: %s %s */\n", E->p->decls[n->in[0]->decl].name,
        n->nin == 1 ? "+= 1" : "updated");
    if (n->nin == 1)
        put(o, "for (long i = 0; i < %ld; i++)\n    %s[i] += 1;\n",
            shape_count(&n->shape), dst);
    else
        assign(E, o, dst, n->in[1], 1);
}

/* 64-bit odd constants: splitmix64's increment, and the stream's. */
#define GOLDEN 0x9e3779b97f4a7c15ULL

static unsigned long long mix64(unsigned long long z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A dropout mask (README, "Dropout's generator"): element i at step s
 * of stream k keeps when the (s * count + i + 1)-th output of splitmix64
 * from the state key = mix64(mix64(seed) + k * GOLDEN), shifted right by
 * 11 (53 bits), is at least p * 2^53; it then holds 1 / (1 - p). */
static void emit_dropout(Emitter *E, Out *o, Node *n)
{
    long count = shape_count(&n->shape);
    double p = n->cval;
    unsigned long long key = mix64(mix64((unsigned long long)
                                         E->p->spec->seed) +
                                   (unsigned long long)n->attr[DO_STREAM] *
                                       GOLDEN);
    E->helpers |= H_MIX;
    put(o, "/* dropout mask %ld, p = %.17g: agc_mix64 of splitmix64's "
        "state at step * %ld + i + 1 */\n", n->attr[DO_STREAM], p, count);
    put(o, "{\n    uint64_t state = UINT64_C(0x%016llx) + (uint64_t)%s[0] * "
        "UINT64_C(%ld) * UINT64_C(0x%016llx);\n", key, base(E, n->in[0]),
        count, GOLDEN);
    put(o, "    for (long i = 0; i < %ld; i++) {\n", count);
    put(o, "        state += UINT64_C(0x%016llx);\n", GOLDEN);
    put(o, "        %s[i] = agc_mix64(state) >> 11 >= UINT64_C(%ld) ? %s : "
        "0;\n    }\n}\n", base(E, n), n->attr[DO_DROP],
        p < 1 ? lit(E, 1 / (1 - p)) : "0");
}

/* Class indices, as PyTorch checks them ("Target N is out of bounds"):
 * the first out of [0, C) is kept in m->bad_target and the function
 * returns NAME_ERR_TARGET; no index is used as an address. */
static void emit_class_index(Emitter *E, Out *o, Node *n)
{
    const char *src = base(E, n->in[0]), *dst = base(E, n);
    put(o, "for (long i = 0; i < %ld; i++) {\n", shape_count(&n->shape));
    put(o, "    if (!(%s[i] >= 0 && %s[i] < %ld)) {\n", src, src, n->attr[0]);
    put(o, "        m->%s = (int64_t)%s[i];\n", E->bad_target, src);
    put(o, "        return %s_ERR_TARGET;\n    }\n", E->name);
    put(o, "    %s[i] = (%s)%s[i];\n}\n", dst, E->T, src);
}

/* ---- shared loops ----
 * An elementwise or reduction block's loops are a function of its
 * arrays.  Each block's loops are written twice: inline, and with the
 * arrays as parameters (y its result, a, b... what it reads); blocks whose
 * loops are the same (the layers of a stack, NAME_infer's copy of the
 * forward) call one static function, written once, so that the source
 * grows with the distinct blocks, not the layers (section 14).  The
 * blocks are markers in the text until every block is known
 * (shares_resolve).  Loops that fewer than three blocks have stay
 * inline: a layer's forward and NAME_infer's copy of it read better
 * with their loops in place, and save little by a call. */
#define OL_MAX 8                    /* parameters besides y */

typedef struct Outline {            /* the function being written */
    const char *own;                /* the block's own array: y */
    const char *arg[OL_MAX];        /* the arrays it reads, in order */
    int n;
    int bad;                        /* cannot be a function: inline */
} Outline;

typedef struct Shares {
    struct {                        /* the distinct loops */
        const char *sig;            /* parameters and body */
        const char *params, *body, *note, *op;
        int uses;
        const char *name;           /* once called twice */
    } *fn;
    int nfn, cfn;
    struct {                        /* the blocks, by marker */
        int fn, indent;
        const char *plain, *args;
    } *blk;
    int nblk, cblk;
    Out defs;                       /* the functions, in order of naming */
    int named;
} Shares;

static const char *ol_param(Emitter *E, const Node *n, const char *s)
{
    static const char *const names[OL_MAX] = {"a", "b", "c", "d", "e", "f",
                                              "g", "h"};
    Outline *q = E->ol;
    if (n->is_int)
        q->bad = 1;
    if (!strcmp(s, q->own))
        return "y";
    for (int i = 0; i < q->n; i++)
        if (!strcmp(q->arg[i], s))
            return names[i];
    if (q->n == OL_MAX) {
        q->bad = 1;
        return s;
    }
    q->arg[q->n] = s;
    return names[q->n++];
}

static void emit_loops(Emitter *E, Out *o, Node *n)
{
    if (op_is_elementwise(n->op))
        assign(E, o, base(E, n), n, 0);
    else
        emit_reduce(E, o, n);
}

/* A function body that is one compound statement "{ ... }", as a block
 * with locals of its own is, without those braces. */
static char *unbrace(char *s)
{
    size_t n = strlen(s);
    if (strncmp(s, "    {\n", 6) || n < 12 || strcmp(s + n - 6, "    }\n"))
        return s;
    for (const char *l = s + 6; l < s + n - 6; l = strchr(l, '\n') + 1)
        if (!strncmp(l, "    ", 4) && l[4] != ' ' && l[4] != '\n')
            return s;               /* another statement at the top */
    Out r = {0};
    for (const char *l = s + 6; l < s + n - 6;) {
        const char *e = strchr(l, '\n') + 1;
        int cut = strncmp(l, "    ", 4) ? 0 : 4;  /* not a #pragma's */
        put(&r, "%.*s", (int)(e - l - cut), l + cut);
        l = e;
    }
    return r.s;
}

/* Block n's loops, inline or as a call (see above). */
static void emit_shared(Emitter *E, Out *o, Node *n)
{
    Shares *S = E->sh;
    Out plain = {0}, body = {0}, note = {0};
    emit_loops(E, &plain, n);
    Outline q;
    memset(&q, 0, sizeof q);
    q.own = stored_at(E, n);
    q.bad = n->is_int || E->g != E->p->g || !S;
    if (!q.bad) {
        E->ol = &q;
        body.indent = 1;
        emit_loops(E, &body, n);
        E->ol = NULL;
    }
    if (q.bad || strstr(body.s, "m->")) {
        put(o, "%s", plain.s);
        return;
    }
    body.s = unbrace(body.s);
    const char *params = agc_fmt("%s *y", E->T), *args = q.own;
    for (int i = 0; i < q.n; i++) {
        params = agc_fmt("%s, const %s *%c", params, E->T, 'a' + i);
        args = agc_fmt("%s, %s", args, q.arg[i]);
    }
    const char *sig = agc_fmt("%s\n%s", params, body.s);
    int f = 0;
    while (f < S->nfn && strcmp(S->fn[f].sig, sig))
        f++;
    if (f == S->nfn) {
        const char *last = NULL;
        E->whole_notes = 1;
        comments(E, &note, n, &last);
        E->whole_notes = 0;
        AGC_PUSH(S->fn, S->nfn, S->cfn);
        memset(&S->fn[f], 0, sizeof S->fn[f]);
        S->fn[f].sig = sig;
        S->fn[f].params = params;
        S->fn[f].body = body.s;
        S->fn[f].note = note.s ? note.s : "";
        S->fn[f].op = op_name(n->op);
    }
    S->fn[f].uses++;
    AGC_PUSH(S->blk, S->nblk, S->cblk);
    S->blk[S->nblk - 1].fn = f;
    S->blk[S->nblk - 1].indent = o->indent;
    S->blk[S->nblk - 1].plain = plain.s;
    S->blk[S->nblk - 1].args = args;
    int indent = o->indent;
    o->indent = 0;
    put(o, "\001%d\002\n", S->nblk - 1);
    o->indent = indent;
}

/* Text s with its markers replaced: a call of the shared function, or
 * the loops inline; the functions called are added to S->defs. */
static char *shares_resolve(Shares *S, const char *s)
{
    Out r = {0};
    const char *m;
    while (s && (m = strchr(s, '\001')) != NULL) {
        put(&r, "%.*s", (int)(m - s), s);
        int k = atoi(m + 1);
        s = strchr(m, '\002') + 2;      /* and its newline */
        Out b = {0};
        b.indent = S->blk[k].indent;
        int f = S->blk[k].fn;
        if (S->fn[f].uses < 3) {
            put(&b, "%s", S->blk[k].plain);
        } else {
            if (!S->fn[f].name) {
                S->fn[f].name = agc_fmt("agc_%s_loops%d", S->fn[f].op,
                                        ++S->named);
                const char *t = S->fn[f].note, *e;
                put(&S->defs, "/* Shared loops (y the result, a, b... what "
                    "they read), first of");
                while ((e = strstr(t, " */\n")) != NULL) {
                    put(&S->defs, "\n *   %.*s", (int)(e - t - 3), t + 3);
                    t = e + 4;
                }
                put(&S->defs, " */\n");
                put(&S->defs, "static void %s(%s)\n{\n%s}\n\n",
                    S->fn[f].name, S->fn[f].params, S->fn[f].body);
            }
            put(&b, "%s(%s);\n", S->fn[f].name, S->blk[k].args);
        }
        put(&r, "%s", b.s);
    }
    if (s)
        put(&r, "%s", s);
    return r.s;
}

static void emit_node(Emitter *E, Out *o, Node *n)
{
    int top = E->g == E->p->g;      /* a block: comments as the last one's */
    const char *last = top ? E->last_note : NULL;
    comments(E, o, n, &last);
    if (top && last == E->last_note && E->last_note && o->n >= 2 &&
        !strcmp(o->s + o->n - 2, "\n\n"))
        o->s[--o->n] = 0;           /* the same node's: no blank line */
    if (top)
        E->last_note = last;
    if (n->op == OP_CONST)
        put(o, "for (long i = 0; i < %ld; i++)\n    %s[i] = %s;\n",
            shape_count(&n->shape), base(E, n), lit(E, n->cval));
    else if (P(E, n)->conv) {       /* conv, + bias, relu: its kernel */
        Plan *pl = P(E, n);
        conv_emit(&E->kern, o, pl->conv, base(E, n), base(E, pl->conv->in[0]),
                  base(E, pl->conv->in[1]),
                  pl->bias ? base(E, pl->bias) : NULL, pl->relu);
    } else if (op_is_elementwise(n->op) || op_is_reduction(n->op))
        emit_shared(E, o, n);
    else if (n->op == OP_MATMUL)
        emit_matmul(E, o, n);
    else if (n->op == OP_TRANSPOSE)
        emit_transpose(E, o, n);
    else if (n->op == OP_LOOP)
        emit_loop(E, o, n);
    else if (n->op == OP_LOOP_GRAD)
        emit_loop_grad(E, o, n);
    else if (n->op == OP_ASSIGN)
        emit_assign(E, o, n);
    else if (n->op == OP_DROPOUT)
        emit_dropout(E, o, n);
    else if (n->op == OP_CLASS_INDEX)
        emit_class_index(E, o, n);
    else if (n->op >= OP_CONV && n->op <= OP_MAXPOOL_BWD)
        kernel_emit(&E->kern, o, n, base(E, n), (const char *[]){
            base(E, n->in[0]), n->nin > 1 ? base(E, n->in[1]) : NULL});
    else
        emit_blocks(E, o, n);
}

/* Switches E to loop L's graph, whose captures read the outer nodes'
 * arrays; returns the outer plan, for leave_loop. */
static Plan *enter_loop(Emitter *E, LoopDef *L)
{
    const char **at = agc_alloc(sizeof(char *) * (size_t)(L->ncap + 1));
    for (int i = 0; i < L->ncap; i++)
        at[i] = base(E, L->cap[i]);
    Plan *outer = E->plan;
    E->g = L->g;
    E->plan = E->regions[L->index].plan;
    for (int i = 0; i < L->ncap; i++)
        P(E, L->cap_arg[i])->at = at[i];
    return outer;
}

static void leave_loop(Emitter *E, Plan *outer)
{
    E->g = E->p->g;
    E->plan = outer;
}

/* The stored nodes of a loop's graph that are live in `want` and not in
 * `skip`, in order; returns how many. */
static int emit_loop_nodes(Emitter *E, Out *o, int want, int skip)
{
    int k = 0;
    for (int i = 0; i < E->g->n; i++) {
        Node *n = E->g->nodes[i];
        Plan *pl = P(E, n);
        if ((pl->live & want) && !(pl->live & skip) &&
            pl->store == ST_FIELD && n->op != OP_ARG) {
            emit_node(E, o, n);
            k++;
        }
    }
    return k;
}

/* dst = n (op "=") or dst += n, for a root of a loop's graph; its comment
 * unless the blocks just before said the same. */
static void emit_root(Emitter *E, Out *o, const char *dst, Node *n,
                      const char *op, int commented)
{
    const char *last = NULL;
    if (P(E, n)->store == ST_INLINE && !commented)
        comments(E, o, n, &last);
    else if (!strcmp(op, "=") && !strcmp(base(E, n), dst))
        return;                     /* already there */
    assign_op(E, o, dst, n, 1, op);
}

/* The loop's test, a one-element node. */
static const char *loop_test(Emitter *E, Node *c)
{
    static const char *const cmp[] = {"<", "<=", ">", ">=", "==", "!="};
    Loop L = {c->shape, "0"};
    if (P(E, c)->store == ST_INLINE && c->op >= OP_LT && c->op <= OP_NE)
        return agc_fmt("%s %s %s", expr(E, c->in[0], &L), cmp[c->op - OP_LT],
                       expr(E, c->in[1], &L));
    return agc_fmt("%s != 0", expr(E, c, &L));
}

/* y = loop: the variable lives in y's own array.  The condition is tested
 * before each iteration; still true after max_iter iterations, forward
 * fails with NAME_ERR_MAX_ITER. */
static void emit_loop(Emitter *E, Out *o, Node *n)
{
    LoopDef *L = n->loop;
    Region *R = &E->regions[L->index];
    const char *v = base(E, n);
    const char *count = P(E, L->count)->live ? base(E, L->count) : NULL;
    const char *last = NULL;
    assign(E, o, v, n->in[0], 1);
    Plan *outer = enter_loop(E, L);
    P(E, L->var)->at = v;
    put(o, "for (long iter = 0;; iter++) {\n");
    o->indent++;
    if (!emit_loop_nodes(E, o, LIVE_COND, 0) &&
        P(E, L->cond)->store == ST_INLINE)
        comments(E, o, L->cond, &last);
    put(o, "if (!(%s)) {\n", loop_test(E, L->cond));
    if (count)
        put(o, "    %s[0] = iter;\n", count);
    put(o, "    break;\n}\n");
    put(o, "if (iter == %ld)\n    return %s_ERR_MAX_ITER;\n", L->max_iter,
        E->name);
    if (R->tape)
        put(o, "/* %s: keep %s for backward */\nmemcpy(m->%s[iter], %s, "
            "sizeof m->%s[iter]);\n", L->name, L->as, R->tape, v, R->tape);
    int k = emit_loop_nodes(E, o, LIVE_FWD, LIVE_COND);
    emit_root(E, o, v, L->body, "=", k > 0);
    o->indent--;
    put(o, "}\n");
    leave_loop(E, outer);
}

/* The gradient of a loop's init: the body's VJP from the last iteration
 * down to the first, each from the iterate the tape kept; the captures'
 * gradients are summed over the iterations. */
static void emit_loop_grad(Emitter *E, Out *o, Node *n)
{
    LoopDef *L = n->in[0]->loop;
    Region *R = &E->regions[L->index];
    const char *gv = base(E, n);
    const char **cg = agc_alloc(sizeof(char *) * (size_t)(L->ncap + 1));
    for (int i = 0; i < L->ncap; i++)
        if (L->capgrad[i] && P(E, L->capgrad[i])->live) {
            cg[i] = base(E, L->capgrad[i]);
            put(o, "memset(%s, 0, %ld * sizeof *%s);\n", cg[i],
                shape_count(&L->capgrad[i]->shape), cg[i]);
        }
    assign(E, o, gv, n->in[1], 1);
    const char *count = base(E, n->in[2]);
    Plan *outer = enter_loop(E, L);
    P(E, L->grad_in)->at = gv;
    if (R->tape)
        P(E, L->var)->at = agc_fmt("m->%s[iter]", R->tape);
    put(o, "for (long iter = (long)%s[0] - 1; iter >= 0; iter--) {\n",
        count);
    o->indent++;
    int k = emit_loop_nodes(E, o, LIVE_BWD, 0);
    for (int i = 0; i < L->ncap; i++)       /* these read gv: first */
        if (cg[i])
            emit_root(E, o, cg[i], L->grad_cap[i], "+=", k++ > 0);
    emit_root(E, o, gv, L->grad_var, "=", k > 0);
    o->indent--;
    put(o, "}\n");
    leave_loop(E, outer);
}

/* A struct member for a kernel's scratch (Kernels.scratch). */
static const char *add_scratch(void *ctx, const char *type,
                               const char *want, long count, const char *note)
{
    Emitter *E = ctx;
    if (!strcmp(type, E->T)) {      /* the kernel's, made at its first call */
        (void)note;
        for (int i = 0; i < E->nvals; i++)
            if (E->vals[i].scratch_of && !strcmp(E->vals[i].scratch_of,
                                                 want) &&
                E->vals[i].count == count)
                return use_val(E, i);
        int v = new_val(E, new_field(E, want), count);
        E->vals[v].scratch_of = want;
        return use_val(E, v);
    }
    Scratch *s = AGC_PUSH(E->scratch, E->nscratch, E->cscratch);
    s->type = type;
    s->field = new_field(E, want);
    s->count = count;
    s->note = note;
    return agc_fmt("m->%s", s->field);
}

/* Starts the next block, which computes n. */
static void next_block(Emitter *E, Node *n)
{
    E->block++;
    while (E->block >= E->cblocks) {
        int old = E->cblocks;
        E->cblocks = old ? 2 * old : 64;
        E->block_node = agc_grow(E->block_node, sizeof(Node *) * (size_t)old,
                                 sizeof(Node *) * (size_t)E->cblocks);
    }
    E->block_node[E->block] = n;
}

/* The body of NAME_forward (phase 0) or NAME_backward (phase 1). */
static void emit_phase(Emitter *E, Out *o, int phase)
{
    Program *p = E->p;
    E->phase = phase;
    E->last_note = NULL;
    for (int i = 0; i < E->g->n; i++) {
        Node *n = E->g->nodes[i];
        Plan *pl = P(E, n);
        if (pl->live && n->phase == phase && pl->store == ST_FIELD &&
            n->op != OP_INPUT && n->op != OP_LOOP_COUNT &&
            n->op != OP_LOOP_CAPGRAD) {    /* their loops write them */
            if (pl->conv) {         /* what its kernel computes too: empty */
                next_block(E, pl->conv);    /* blocks, for agc info's */
                if (pl->bias && pl->relu)   /* FLOPs */
                    next_block(E, n->in[0]);
            }
            next_block(E, n);
            E->cur = pl->field;
            emit_node(E, o, n);
            E->cur = NULL;
            put(o, "\n");
        }
    }
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        if ((t->role == ROLE_GRAD) != phase ||
            (t->role != ROLE_OUTPUT && t->role != ROLE_GRAD))
            continue;
        const char *dst = agc_fmt("m->%s", t->cname);
        next_block(E, t->node);
        if (!strcmp(dst, base(E, t->node)))
            continue;               /* computed in place */
        if (tensor_is_int(t)) {     /* argmax: its index, held as a float */
            put(o, "/* output %s, int64 */\n", t->name);
            put(o, "for (long i = 0; i < %ld; i++)\n    %s[i] = (int64_t)%s[i];"
                "\n\n", shape_count(&t->node->shape), dst, base(E, t->node));
            continue;
        }
        const char *last = NULL;
        if (P(E, t->node)->store == ST_INLINE)
            comments(E, o, t->node, &last);
        put(o, "/* %s %s */\n", t->role == ROLE_GRAD ? "gradient" : "output",
            t->name);
        assign(E, o, dst, t->node, 1);
        put(o, "\n");
    }
}

/* ---- members, init, table ---- */

/* The optimizer's members: m->lr, the step count, and the state arrays
 * of every tensor that gets a gradient. */
static void name_optimizer(Emitter *E)
{
    Program *p = E->p;
    if (!p->optim)
        return;
    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].cname && !strcmp(p->tensors[i].cname, "lr"))
            agc_error(p->tensors[i].pos, "the optimizer's learning rate is "
                      "the member 'lr' of the struct: rename '%s'",
                      p->tensors[i].name);
    E->lr = new_field(E, "lr");
    E->step = new_field(E, "optimizer_step");
    E->nstate = optim_state(p->optim, E->state_names);
    E->opt = agc_alloc(sizeof(OptTensor) * (size_t)(p->ntensors + 1));
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *g = &p->tensors[i];
        if (g->role != ROLE_GRAD)
            continue;
        Tensor *x = NULL;
        for (int j = 0; j < p->ntensors && !x; j++)
            if (p->tensors[j].role == ROLE_INPUT &&
                p->tensors[j].decl == g->decl)
                x = &p->tensors[j];
        OptTensor *o = &E->opt[E->nopt++];
        o->q.name = x->name;
        o->q.param = agc_fmt("m->%s", x->cname);
        o->q.grad = agc_fmt("m->%s", g->cname);
        o->q.count = shape_count(&x->node->shape);
        o->shape = x->node->shape;
        for (int k = 0; k < E->nstate; k++) {
            o->field[k] = new_field(E, agc_fmt("%s_%s", x->cname,
                                                E->state_names[k]));
            o->q.state[k] = agc_fmt("m->%s", o->field[k]);
        }
    }
}

/* NAME_step and NAME_train_step. */
static void emit_step(Emitter *E, Out *o)
{
    Program *p = E->p;
    const char *N = E->name;
    OptimParam *qs = agc_alloc(sizeof(OptimParam) * (size_t)(E->nopt + 1));
    for (int i = 0; i < E->nopt; i++)
        qs[i] = E->opt[i].q;
    Out body = {0};
    body.indent = 1;
    optim_emit(p->optim, &body, qs, E->nopt, E->T, E->f32,
               agc_fmt("m->%s", E->lr), agc_fmt("m->%s", E->step));
    put(o, "/* optimizer.step(): %s  [%s:%d] */\n", optim_describe(p->optim),
        E->path, p->optim->pos.line);
    put(o, "int %s_step(%s_t *m)\n{\n%s    return %s_OK;\n}\n\n", N, N,
        body.s, N);
    put(o, "int %s_train_step(%s_t *m)\n{\n", N, N);
    put(o, "    int rc = %s_forward(m);\n    if (rc == %s_OK)\n"
        "        rc = %s_backward(m);\n    if (rc == %s_OK)\n"
        "        rc = %s_step(m);\n    return rc;\n}\n\n", N, N, N, N, N);
}

/* A new arena value; returns its index. */
static int new_val(Emitter *E, const char *name, long count)
{
    ArenaVal *a = AGC_PUSH(E->vals, E->nvals, E->cvals);
    memset(a, 0, sizeof *a);
    a->name = name;
    a->count = count;
    a->first = a->last = -1;
    return E->nvals - 1;
}

/* What a temporary's local pointer is called: after the graph node or
 * layer whose spec line made it, and what it holds there: "relu1_out"
 * (the node's own value), "fc_matmul", "conv1_grad_conv_bwd_weight". */
static const char *value_name(Emitter *E, const Node *n)
{
    Program *p = E->p;
    const char *owner = n->name;
    for (int i = 0; !owner && i < p->nnamed; i++)
        if (p->named[i].node->pos.line == n->pos.line &&
            p->named[i].node->pos.file == n->pos.file)
            owner = p->named[i].name;
    for (int i = 0; !owner && i < p->ntensors; i++)
        if (p->tensors[i].role == ROLE_OUTPUT &&
            p->tensors[i].node->pos.line == n->pos.line)
            owner = p->tensors[i].name;
    if (!owner)
        owner = "tmp";
    if (n->name && n->phase == 0)
        return agc_fmt("%s_out", owner);
    return agc_fmt("%s_%s%s", owner, n->phase ? "grad_" : "",
                   op_name(n->op));
}

static void name_fields(Emitter *E)
{
    Program *p = E->p;
    /* names the user chose come first and keep their names */
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        if (t->role == ROLE_INPUT || t->role == ROLE_SEED ||
            t->role == ROLE_BUFFER || t->role == ROLE_RNG) {
            t->cname = new_field(E, t->name);
            P(E, t->node)->field = t->cname;
        }
    }
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        Plan *pl = P(E, t->node);
        if (t->role != ROLE_OUTPUT && t->role != ROLE_GRAD &&
            t->role != ROLE_COUNT)
            continue;
        t->cname = new_field(E, t->name);
        /* computed straight into it, through reshapes used only here */
        Node *n = t->node;
        while (pl->store == ST_ALIAS) {
            n = aliased(E, n);
            pl = P(E, n);
        }
        if (pl->store == ST_FIELD && !pl->field && n->op != OP_INPUT &&
            !t->node->is_int && (t->role == ROLE_GRAD) == (n->phase == 1))
            pl->field = t->cname;
    }
    E->arena = new_field(E, "arena");
    for (int i = 0; i < E->g->n; i++)
        if (E->g->nodes[i]->op == OP_CLASS_INDEX && !E->bad_target)
            E->bad_target = new_field(E, "bad_target");
    for (int k = 0; k < E->p->nloops; k++)
        for (int i = 0; i < E->p->loops[k]->g->n; i++)
            if (E->p->loops[k]->g->nodes[i]->op == OP_CLASS_INDEX &&
                !E->bad_target)
                E->bad_target = new_field(E, "bad_target");
    for (int i = 0; i < E->g->n; i++) {
        Node *n = E->g->nodes[i];
        Plan *pl = P(E, n);
        if (!pl->live || pl->store != ST_FIELD || pl->field)
            continue;
        if (n->op == OP_ASSIGN) {       /* writes its buffer's member */
            pl->field = P(E, n->in[0])->field;
            continue;
        }
        if (n->op == OP_LOOP_COUNT) {   /* int64_t: a member of its own */
            pl->field = new_field(E, n->name ? n->name : agc_fmt("t%d", i));
            continue;
        }
        pl->field = new_field(E, value_name(E, n));
        pl->val = new_val(E, pl->field, shape_count(&n->shape)) + 1;
    }
    for (int k = 0; k < E->p->nloops; k++) {
        LoopDef *L = E->p->loops[k];
        Region *R = &E->regions[k];
        if (!R->live)
            continue;
        for (int i = 0; i < L->g->n; i++) {
            Plan *pl = &R->plan[i];
            if (pl->live && pl->store == ST_FIELD &&
                L->g->nodes[i]->op != OP_ARG) {
                pl->field = new_field(E, agc_fmt("%s_%s", L->name,
                                                 op_name(L->g->nodes[i]->op)));
                pl->val = new_val(E, pl->field,
                                  shape_count(&L->g->nodes[i]->shape)) + 1;
                E->vals[pl->val - 1].local = 1;
            }
        }
        if (R->grad && (R->plan[L->var->id].live & LIVE_BWD))
            R->tape = new_field(E, agc_fmt("%s_tape", L->name));
    }
}

/* Whether a tensor holds int64_t: a loop count, num_batches_tracked,
 * dropout's step. */
static const char *role_name(Role r)
{
    static const char *const names[] = {"INPUT", "OUTPUT", "GRAD", "SEED",
                                        "COUNT", "STATE", "BUFFER", "RNG"};
    return names[r];
}

static void put_numbers(Emitter *E, Out *o, const double *v, long n)
{
    for (long i = 0; i < n; i++)
        put(o, "%s%s%s", i % 8 ? " " : "    ", lit(E, v[i]),
            i == n - 1 ? "\n" : i % 8 == 7 ? ",\n" : ",");
}

/* The shortest %g of v that reads back as v, bit for bit. */
static const char *shortest(double v)
{
    char buf[40];
    for (int prec = 15;; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        double r = strtod(buf, NULL);
        if (prec == 17 || !memcmp(&r, &v, sizeof v))
            return agc_fmt("%s", buf);
    }
}

static void emit_init(Emitter *E, Out *o, Out *tables)
{
    Program *p = E->p;
    const char *T = E->T;
    put(o, "void %s_init(%s_t *m)\n{\n", E->name, E->name);
    o->indent++;
    put(o, "memset(m, 0, sizeof *m);\n");
    Out random = {0};               /* the table of uniform and normal */
    random.indent = 2;
    const char *run = NULL, *run_args = NULL;  /* its last entry: fill */
                                    /* and lo, w of tensors first..end */
    int first = 0, end = 0;
    if (E->lr)
        put(o, "m->%s = %s;   /* the optimizer's learning rate */\n", E->lr,
            lit(E, p->optim->lr));
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        if (t->decl < 0 || (t->role != ROLE_INPUT && t->role != ROLE_SEED &&
                            t->role != ROLE_BUFFER))
            continue;
        Decl *d = &p->decls[t->decl];
        const char *f = agc_fmt("m->%s", t->cname);
        long n = shape_count(&d->shape);
        switch (d->init) {
        case INIT_NONE:
        case INIT_ZEROS:
            continue;
        case INIT_VALUE:
            put(o, "/* %s: value  [%s:%d] */\n", t->name, E->path,
                d->pos.line);
            if (d->is_int && d->value.shape.rank == 0) {
                put(o, "for (long i = 0; i < %ld; i++)\n    %s[i] = %lld;\n",
                    n, f, (long long)d->value.v[0]);
            } else if (d->is_int) {
                put(tables, "static const int64_t %s_%s_value[%ld] = {\n",
                    E->name, t->cname, n);
                for (long i = 0; i < n; i++)
                    put(tables, "%s%lld%s", i % 8 ? " " : "    ",
                        (long long)d->value.v[i], i == n - 1 ? "\n"
                        : i % 8 == 7 ? ",\n" : ",");
                put(tables, "};\n\n");
                put(o, "memcpy(%s, %s_%s_value, sizeof %s);\n", f, E->name,
                    t->cname, f);
            } else if (d->value.shape.rank == 0) {
                put(o, "for (long i = 0; i < %ld; i++)\n    %s[i] = %s;\n",
                    n, f, lit(E, d->value.v[0]));
            } else {
                put(tables, "static const %s %s_%s_value[%ld] = {\n", T,
                    E->name, t->cname, n);
                put_numbers(E, tables, d->value.v, n);
                put(tables, "};\n\n");
                put(o, "memcpy(%s, %s_%s_value, sizeof %s);\n", f, E->name,
                    t->cname, f);
            }
            break;
        case INIT_ONES:
            put(o, "/* %s: ones */\n", t->name);
            put(o, "for (long i = 0; i < %ld; i++)\n    %s[i] = 1;\n", n, f);
            break;
        case INIT_ARANGE:
            put(o, "/* %s: arange */\n", t->name);
            put(o, "for (long i = 0; i < %ld; i++)\n    %s[i] = (%s)i;\n", n,
                f, d->is_int ? "int64_t" : T);
            break;
        case INIT_UNIFORM:
        case INIT_NORMAL:
            E->helpers |= d->init == INIT_UNIFORM ? H_UNIFORM : H_NORMAL;
            f = d->init == INIT_UNIFORM ? "agc_fill_uniform"
                                        : "agc_fill_normal";
            const char *args = agc_fmt("%s, %s", shortest(d->a), shortest(
                d->init == INIT_UNIFORM ? d->b - d->a : d->b));
            if (run && end == i && !strcmp(run, f) &&
                !strcmp(run_args, args)) {
                end++;
                break;
            }
            if (run)
                put(&random, "{%s, %d, %d, %s},\n", run, first, end,
                    run_args);
            run = f;
            run_args = args;
            first = i;
            end = i + 1;
            break;
        }
    }
    if (run)
        put(&random, "{%s, %d, %d, %s},\n", run, first, end, run_args);
    if (random.s) {                 /* a loop, not a call each: fast to compile */
        put(o, "/* random values, seed %ld: uniform(a, b) as a + (b - a) * "
            "agc_uniform, normal(mean,\n * std) as mean + std * agc_normal, "
            "from a stream per tensor, seeded with\n * seed * "
            "0x9e3779b97f4a7c15 ^ agc_fnv1a(its name) */\n", p->spec->seed);
        put(o, "{\n    static const struct {\n        void (*fill)(%s *a, long "
            "n, uint64_t s, double lo, double w);\n        int first, end;"
            "    /* the tensors: %s_tensors[first..end - 1] */\n"
            "        double lo, w;\n    } fills[] = {\n%s    };\n", T,
            E->name, random.s);
        put(o, "    for (size_t k = 0; k < sizeof fills / sizeof *fills; k++)"
            "\n        for (int i = fills[k].first; i < fills[k].end; i++) {"
            "\n            const %s_tensor *t = &%s_tensors[i];\n"
            "            fills[k].fill((%s *)(void *)((char *)m + t->offset), "
            "t->count,\n                          UINT64_C(0x%016llx) ^ "
            "agc_fnv1a(t->name),\n                          fills[k].lo, "
            "fills[k].w);\n        }\n}\n", E->name, E->name, T,
            (unsigned long long)p->spec->seed * 0x9E3779B97F4A7C15ULL);
    }
    o->indent--;
    put(o, "}\n\n");
}

/* expf and logf of float32 code: Cephes' polynomials (within 1 ulp of the
 * exact result, as glibc's), without branches and with the tests made on
 * the bits, so that gcc and clang vectorise a loop of them under the
 * default -ftrapping-math, which libm's calls never are.  They are inline
 * so that gcc inlines them at every call, which vectorising needs. */
static const char agc_expf_bits[] =
"/* a float's bits and back */\n"
"static inline uint32_t agc_bits(float f)\n{\n"
"    union { uint32_t u; float f; } v;\n    v.f = f;\n    return v.u;\n}\n\n"
"static inline float agc_from_bits(uint32_t u)\n{\n"
"    union { uint32_t u; float f; } v;\n    v.u = u;\n    return v.f;\n}\n\n";

static const char agc_pick_text[] =
"/* c ? a : b for c = 0 or 1, on the bits: no branch for a compiler to\n"
" * sink the float arithmetic of a or b into */\n"
"static inline float agc_pick(uint32_t c, float a, float b)\n{\n"
"    uint32_t m = 0u - c;\n"
"    return agc_from_bits((agc_bits(a) & m) | (agc_bits(b) & ~m));\n}\n\n";

static const char agc_expf_text[] =
"/* exp(x) = 2^n exp(r), n = round(x / ln 2), r = x - n ln 2 (ln 2 in two\n"
" * parts), exp(r) by Cephes' polynomial; 2^n as two powers, so that\n"
" * results past the float range come out 0, subnormal or inf */\n"
"static inline float agc_expf(float x)\n{\n"
"    uint32_t u = agc_bits(x), a = u & 0x7fffffffu;\n"
"    uint32_t out = a > 0x42d00000u;             /* |x| > 104, inf, NaN */\n"
"    float c = agc_pick(out, 0.0f, x);\n"
"    int32_t k = (int32_t)AGC_FMA(c, 1.44269504f, 256.5f) - 256;  /* rounded */\n"
"    float n = (float)k;\n"
"    float r = AGC_FMA(-n, 0.693359375f, c);\n"
"    r = AGC_FMA(n, 2.12194440e-4f, r);\n"
"    float p = 1.9875691500e-4f;\n"
"    p = AGC_FMA(p, r, 1.3981999507e-3f);\n"
"    p = AGC_FMA(p, r, 8.3334519073e-3f);\n"
"    p = AGC_FMA(p, r, 4.1665795894e-2f);\n"
"    p = AGC_FMA(p, r, 1.6666665459e-1f);\n"
"    p = AGC_FMA(p, r, 5.0000001201e-1f);\n"
"    p = AGC_FMA(p * r, r, r) + 1.0f;\n"
"    int32_t k1 = k / 2;\n"
"    p = p * agc_from_bits((uint32_t)(k1 + 127) << 23) *\n"
"        agc_from_bits((uint32_t)(k - k1 + 127) << 23);\n"
"    p = agc_pick(out, agc_pick(u >> 31, 0.0f, INFINITY), p);\n"
"    return agc_pick(a > 0x7f800000u, x, p);     /* NaN */\n}\n\n";

static const char agc_order_text[] =
"/* a float's bits as an int that orders as the floats do, NaN above all\n"
" * (negative floats have their magnitude bits flipped), and back */\n"
"static inline int32_t agc_order(float x)\n{\n"
"    uint32_t u = agc_bits(x);\n"
"    int32_t i = (int32_t)(u ^ ((uint32_t)((int32_t)u >> 31) >> 1));\n"
"    int32_t nan = -(int32_t)((u & 0x7fffffffu) > 0x7f800000u);\n"
"    return (i & ~nan) | (INT32_MAX & nan);\n}\n\n"
"static inline float agc_unorder(int32_t i)\n{\n"
"    return agc_from_bits((uint32_t)i ^ ((uint32_t)(i >> 31) >> 1));\n}\n\n";

static const char agc_logf_text[] =
"/* log(x) = e ln 2 + log(m) for x = 2^e m, m in [sqrt(1/2), sqrt(2)) (ln 2\n"
" * in two parts), log(m) by Cephes' polynomial in m - 1; subnormals are\n"
" * scaled by 2^23 first */\n"
"static inline float agc_logf(float x)\n{\n"
"    uint32_t u = agc_bits(x), a = u & 0x7fffffffu;\n"
"    uint32_t sub = u < 0x00800000u;             /* +0, subnormal */\n"
"    uint32_t v = agc_bits(agc_pick(sub, x * 8388608.0f, x));\n"
"    int32_t e = (int32_t)(v >> 23) - 126 - (int32_t)(sub * 23u);\n"
"    float m = agc_from_bits((v & 0x007fffffu) | 0x3f000000u);  /* [1/2, 1) */\n"
"    uint32_t low = m < 0.707106781f;\n"
"    e -= (int32_t)low;\n"
"    m = m - 1.0f + agc_pick(low, m, 0.0f);\n"
"    float z = m * m;\n"
"    float p = 7.0376836292e-2f;\n"
"    p = AGC_FMA(p, m, -1.1514610310e-1f);\n"
"    p = AGC_FMA(p, m, 1.1676998740e-1f);\n"
"    p = AGC_FMA(p, m, -1.2420140846e-1f);\n"
"    p = AGC_FMA(p, m, 1.4249322787e-1f);\n"
"    p = AGC_FMA(p, m, -1.6668057665e-1f);\n"
"    p = AGC_FMA(p, m, 2.0000714765e-1f);\n"
"    p = AGC_FMA(p, m, -2.4999993993e-1f);\n"
"    p = AGC_FMA(p, m, 3.3333331174e-1f);\n"
"    float n = (float)e;\n"
"    float y = m * z * p - 2.12194440e-4f * n - 0.5f * z;\n"
"    y = AGC_FMA(0.693359375f, n, m + y);\n"
"    y = agc_pick(u > 0x7f800000u, agc_from_bits(0x7fc00000u), y);  /* < 0 */\n"
"    y = agc_pick(a > 0x7f800000u || u == 0x7f800000u, x, y);  /* NaN, inf */\n"
"    return agc_pick(a == 0, -INFINITY, y);\n}\n\n";

static void emit_helpers(Emitter *E, Out *o)
{
    Out ops = {0};
    for (int i = 0; i < HELP_NONE; i++)
        if (E->helpers & H_OP(i))
            put(&ops, "static %s agc_%s(%s)\n{\n    %s\n}\n\n", E->T,
                helper_fns[i].name, subst(E, helper_fns[i].params, NULL),
                with_agc_expf(E, subst(E, helper_fns[i].body, NULL)));
    if (E->helpers & (H_ORDER | H_EXPF | H_LOGF)) /* helpers may call them */
        put(o, "%s", agc_expf_bits);
    if (E->helpers & (H_EXPF | H_LOGF))
        put(o, "%s", agc_pick_text);
    if (E->helpers & H_ORDER)
        put(o, "%s", agc_order_text);
    if (E->helpers & H_EXPF)
        put(o, "%s", agc_expf_text);
    if (E->helpers & H_LOGF)
        put(o, "%s", agc_logf_text);
    if (ops.s)
        put(o, "%s", ops.s);
    if (E->helpers & (H_UNIFORM | H_NORMAL)) {
        put(o, "/* FNV-1a of a tensor's name: the seed of its random values "
            "*/\n");
        put(o, "static uint64_t agc_fnv1a(const char *s)\n{\n");
        put(o, "    uint64_t h = UINT64_C(0xcbf29ce484222325);\n");
        put(o, "    for (; *s; s++)\n");
        put(o, "        h = (h ^ (unsigned char)*s) * "
            "UINT64_C(0x100000001b3);\n    return h;\n}\n\n");
        put(o, "/* splitmix64; agc_uniform is in [0, 1) */\n");
        put(o, "static double agc_uniform(uint64_t *s)\n{\n");
        put(o, "    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));\n");
        put(o, "    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);\n");
        put(o, "    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);\n");
        put(o, "    return (double)((z ^ (z >> 31)) >> 11) * "
            "(1.0 / 9007199254740992.0);\n}\n\n");
    }
    if (E->helpers & H_MIX) {
        put(o, "/* splitmix64's output function: dropout's generator */\n");
        put(o, "static uint64_t agc_mix64(uint64_t z)\n{\n");
        put(o, "    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);\n");
        put(o, "    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);\n");
        put(o, "    return z ^ (z >> 31);\n}\n\n");
    }
    if (E->helpers & H_NORMAL) {
        put(o, "/* Box-Muller */\nstatic double agc_normal(uint64_t *s)\n{\n");
        put(o, "    double u = 1 - agc_uniform(s), v = agc_uniform(s);\n");
        put(o, "    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);"
            "\n}\n\n");
    }
    for (int k = 0; k < 2; k++)     /* NAME_init's: a[i] = lo + w * r */
        if (E->helpers & (k ? H_NORMAL : H_UNIFORM))
            put(o, "static void agc_fill_%s(%s *a, long n, uint64_t s, "
                "double lo, double w)\n{\n    for (long i = 0; i < n; i++)\n"
                "        a[i] = (%s)(lo + w * agc_%s(&s));\n}\n\n",
                k ? "normal" : "uniform", E->T, E->T,
                k ? "normal" : "uniform");
}

/* Entries of NAME_tensors: the program's, then the optimizer's. */
static int num_tensors(Emitter *E)
{
    return E->p->ntensors + (E->lr ? 2 : 0) + E->nopt * E->nstate;
}

static void emit_table(Emitter *E, Out *o)
{
    Program *p = E->p;
    put(o, "const %s_tensor %s_tensors[%d] = {\n", E->name, E->name,
        num_tensors(E));
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        const Shape *s = &t->node->shape;
        char *dims = "";
        for (int k = 0; k < s->rank; k++)
            dims = agc_fmt("%s%s%ld", dims, k ? ", " : "", s->d[k]);
        put(o, "    {\"%s\", %s_%s, %d, {%s}, offsetof(%s_t, %s), %ld, %d},\n",
            t->name, E->name, role_name(t->role), s->rank, *dims ? dims : "0",
            E->name, t->cname, shape_count(s), tensor_is_int(t));
    }
    if (E->lr) {
        const char *N = E->name;
        put(o, "    {\"optimizer.lr\", %s_STATE, 0, {0}, offsetof(%s_t, %s), "
            "1, 0},\n", N, N, E->lr);
        put(o, "    {\"optimizer.step\", %s_STATE, 0, {0}, offsetof(%s_t, %s), "
            "1, 1},\n", N, N, E->step);
    }
    for (int i = 0; i < E->nopt; i++) {
        const Shape *s = &E->opt[i].shape;
        char *dims = "";
        for (int k = 0; k < s->rank; k++)
            dims = agc_fmt("%s%s%ld", dims, k ? ", " : "", s->d[k]);
        for (int j = 0; j < E->nstate; j++)
            put(o, "    {\"optimizer.%s.%s\", %s_STATE, %d, {%s}, "
                "offsetof(%s_t, %s), %ld, 0},\n", E->opt[i].q.name,
                E->state_names[j], E->name, s->rank, *dims ? dims : "0",
                E->name, E->opt[i].field[j], E->opt[i].q.count);
    }
    put(o, "};\nconst int %s_num_tensors = %d;\n", E->name, num_tensors(E));
    put(o, "const size_t %s_size = sizeof(%s_t);\n", E->name, E->name);
    if (E->bad_target)
        put(o, "const size_t %s_bad_target_offset = offsetof(%s_t, %s);\n",
            E->name, E->name, E->bad_target);
}

static const char *role_text(Emitter *E, const Tensor *t)
{
    switch (t->role) {
    case ROLE_INPUT:
        return E->p->decls[t->decl].requires_grad ? "input, requires grad"
                                                  : "input";
    case ROLE_OUTPUT: return "output";
    case ROLE_GRAD: return "gradient";
    case ROLE_SEED: return "backward seed (ones unless set)";
    case ROLE_COUNT: return "loop count";
    case ROLE_STATE: return "optimizer state";
    case ROLE_BUFFER: return "buffer, updated in train mode";
    case ROLE_RNG: return "dropout's generator: steps taken";
    }
    return "";
}

static void emit_header(Emitter *E, Out *h)
{
    Program *p = E->p;
    const char *N = E->name, *T = E->T;
    put(h, "/* generated by agc %s from %s; do not edit */\n", AGC_VERSION,
        E->path);
    put(h, "#ifndef AGC_%s_H\n#define AGC_%s_H\n\n", N, N);
    put(h, "#include <stddef.h>\n#include <stdint.h>\n\n");
    put(h, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    put(h, "#ifndef AGC_TENSOR_DEFINED\n#define AGC_TENSOR_DEFINED\n");
    put(h, "/* One tensor of a model's struct: the same type for every model "
        "agc makes. */\n");
    put(h, "typedef struct agc_tensor {\n");
    put(h, "    const char *name;   /* \"x\", \"x.grad\", \"conv1.weight\" */\n");
    put(h, "    int role;           /* AGC_INPUT... */\n    int rank;\n"
        "    long shape[8];\n");
    put(h, "    size_t offset;      /* bytes from the start of the struct */\n");
    put(h, "    long count;         /* elements */\n");
    put(h, "    int is_int;         /* int64_t elements, else the model's "
        "float type */\n");
    put(h, "} agc_tensor;\n\n");
    put(h, "enum { AGC_INPUT, AGC_OUTPUT, AGC_GRAD, AGC_SEED, AGC_COUNT, "
        "AGC_STATE, AGC_BUFFER,\n       AGC_RNG };\n");
    put(h, "#endif\n\n");
    put(h, "/* every tensor of %s, C order */\ntypedef struct %s_t {\n", N, N);
    h->indent++;
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        Shape s = t->node->shape;
        put(h, "%s %s[%ld];%*s/* %s %s */\n",
            tensor_is_int(t) ? "int64_t" : T, t->cname, shape_count(&s),
            1, "", shape_str(&s), role_text(E, t));
    }
    for (int i = 0; i < E->g->n; i++) {
        Node *n = E->g->nodes[i];
        Plan *pl = P(E, n);
        int named = 0;
        for (int j = 0; j < p->ntensors; j++)
            named |= p->tensors[j].cname == pl->field;
        if (pl->live && pl->store == ST_FIELD && !named && !pl->val)
            put(h, "%s %s[%ld];%*s/* %s %s */\n",
                n->op == OP_LOOP_COUNT ? "int64_t" : T, pl->field,
                shape_count(&n->shape), 1, "", shape_str(&n->shape),
                n->op == OP_LOOP_COUNT ? "loop count"
                : n->note              ? n->note
                                       : "temporary");
    }
    for (int k = 0; k < p->nloops; k++) {
        LoopDef *L = p->loops[k];
        Region *R = &E->regions[k];
        if (R->tape) {
            Shape s = L->var->shape;
            put(h, "%s %s[%ld][%ld];%*s/* [%ld%s%s loop %s: %s before each "
                "iteration */\n", T, R->tape, L->max_iter,
                shape_count(&s), 1, "", L->max_iter, s.rank ? ", " : "]",
                shape_str(&s) + 1, L->name, L->as);
        }
    }
    if (E->bad_target)
        put(h, "int64_t %s;%*s/* the class index out of range when a "
            "function returns %s_ERR_TARGET */\n", E->bad_target, 1, "", N);
    if (E->lr) {
        put(h, "%s %s;%*s/* optimizer: learning rate, settable between "
            "steps */\n", T, E->lr, 1, "");
        put(h, "int64_t %s[1];%*s/* optimizer: steps taken */\n", E->step, 1,
            "");
    }
    for (int i = 0; i < E->nopt; i++)
        for (int j = 0; j < E->nstate; j++)
            put(h, "%s %s[%ld];%*s/* optimizer: %s of %s */\n", T,
                E->opt[i].field[j], E->opt[i].q.count, 1, "",
                E->state_names[j], E->opt[i].q.name);
    if (E->arena_count)
        put(h, "%s %s[%ld];%*s/* temporaries and scratch, planned by "
            "liveness */\n", T, E->arena, E->arena_count, 1, "");
    for (int i = 0; i < E->nscratch; i++)
        put(h, "%s %s[%ld];%*s/* scratch: %s */\n", E->scratch[i].type,
            E->scratch[i].field, E->scratch[i].count, 1, "",
            E->scratch[i].note);
    h->indent--;
    put(h, "} %s_t;\n\n", N);
    put(h, "/* roles in %s_tensors[].role */\n", N);
    put(h, "enum { %s_INPUT, %s_OUTPUT, %s_GRAD, %s_SEED, %s_COUNT, "
        "%s_STATE, %s_BUFFER,\n       %s_RNG };\n\n", N, N, N, N, N, N, N,
        N);
    put(h, "/* what %s's functions return */\n", N);
    put(h, "enum { %s_OK = 0, %s_ERR_MAX_ITER = 1, %s_ERR_TARGET = 2 };\n\n",
        N, N, N);
    put(h, "typedef agc_tensor %s_tensor;\n\n", N);
    put(h, "/* sizes, as constant expressions */\n");
    put(h, "#define %s_NUM_TENSORS %d\n", N, num_tensors(E));
    put(h, "#define %s_SIZE sizeof(%s_t)\n", N, N);
    put(h, "#define %s_ARENA_BYTES %ld\n\n", N, E->arena_count * (E->f32 ? 4 : 8));
    put(h, "/* Sets inputs and parameters from the spec, everything else to "
        "0. */\nvoid %s_init(%s_t *m);\n", N, N);
    if (!p->infer_only) {
        put(h, "/* Computes the outputs from the inputs, in training mode, "
            "keeping what\n * backward needs. */\n"
            "int %s_forward(%s_t *m);\n", N, N);
        put(h, "/* Computes the gradients; call after %s_forward. */\n"
            "int %s_backward(%s_t *m);\n", N, N, N);
    }
    put(h, "/* Computes the outputs from the inputs, in eval mode, keeping "
        "nothing\n * for backward. */\nint %s_infer(%s_t *m);\n", N, N);
    if (E->lr) {
        put(h, "/* One optimizer step from the gradients (optimizer.step()). "
            "*/\nint %s_step(%s_t *m);\n", N, N);
        put(h, "/* forward, backward and step: one training step. */\n"
            "int %s_train_step(%s_t *m);\n", N, N);
    }
    put(h, "\n");
    put(h, "extern const %s_tensor %s_tensors[%d];\n", N, N, num_tensors(E));
    put(h, "extern const int %s_num_tensors;\n", N);
    put(h, "extern const size_t %s_size;\n", N);
    if (E->bad_target)
        put(h, "extern const size_t %s_bad_target_offset;\n", N);
    put(h, "\n");
    put(h, "#ifdef __cplusplus\n}\n#endif\n\n#endif\n");
}

static const char *sanitise(const char *path)
{
    char *s = agc_strdup(path);
    for (char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
              (*c >= '0' && *c <= '9') || strchr("._/+-", *c)))
            *c = '_';
    return s;
}

/* Lays out one more member of count elements of esize bytes after *end,
 * as C does: aligned to its element size.  Returns its bytes with the
 * padding before it; none of this overflows, as each array has at most
 * AGC_MAX_ELEMS elements and the running total stays below the limit. */
static long member(long *end, int *align, long count, int esize)
{
    long start = (*end + esize - 1) / esize * esize, b = start - *end;
    *end = start + count * esize;
    if (esize > *align)
        *align = esize;
    return b + count * esize;
}

/* The bytes of the struct (every member the header declares, in its order,
 * with C's padding: sizeof NAME_t once the kernels' scratch is added by
 * emit_program), and of those that hold temporaries (loops' included, and
 * their tapes); a tape above the limit is an error at its loop. */
static void measure(Emitter *E, long *bytes_out, long *temp_out,
                    int *ntemps_out, int *align_out)
{
    Program *p = E->p;
    int esize = E->f32 ? 4 : 8, align = 1, ntemps = 0;
    long bytes = 0, temp_bytes = 0;
    for (int i = 0; i < p->ntensors; i++)
        member(&bytes, &align, shape_count(&p->tensors[i].node->shape),
               tensor_is_int(&p->tensors[i]) ? 8 : esize);
    for (int i = 0; i < E->g->n; i++) {
        Plan *pl = &E->plan[i];
        if (!pl->live || pl->store != ST_FIELD || pl->val)
            continue;               /* the arena is counted once planned */
        Node *n = E->g->nodes[i];
        int named = 0;
        for (int j = 0; j < p->ntensors; j++)
            named |= p->tensors[j].cname == pl->field;
        if (!named) {
            ntemps++;
            temp_bytes += member(&bytes, &align, shape_count(&n->shape),
                                 n->op == OP_LOOP_COUNT ? 8 : esize);
        }
    }
    for (int k = 0; k < p->nloops; k++) {
        LoopDef *L = p->loops[k];
        Region *R = &E->regions[k];
        if (R->tape) {
            long row = shape_count(&L->var->shape) * esize;
            if (L->max_iter > AGC_MAX_BYTES / row)
                agc_error(L->pos, "the tape of loop '%s' would hold %ld x %ld "
                          "bytes (max_iter x one iterate), more than the "
                          "limit of %ld", L->name, L->max_iter, row,
                          AGC_MAX_BYTES);
            L->tape_bytes = L->max_iter * row;
            ntemps++;
            temp_bytes += member(&bytes, &align,
                                 L->max_iter * shape_count(&L->var->shape),
                                 esize);
        }
        if (bytes > AGC_MAX_BYTES)
            break;                  /* emit_program reports it */
    }
    if (E->bad_target)
        member(&bytes, &align, 1, 8);
    *bytes_out = bytes;
    *temp_out = temp_bytes;
    *ntemps_out = ntemps;
    *align_out = align;
}

/* ---- the arena ---- */

static int by_size(const void *a, const void *b)
{
    const ArenaVal *x = *(ArenaVal *const *)a, *y = *(ArenaVal *const *)b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->first - y->first;
}

static int by_offset(const void *a, const void *b)
{
    const ArenaVal *x = *(ArenaVal *const *)a, *y = *(ArenaVal *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Whether value a is live in block b (slot: for the whole slot it heads,
 * including the values written over it in place). */
static int live_in(const ArenaVal *a, int b, int slot)
{
    return a->local ? b == a->first || b == a->last
                    : a->first <= b && b <= (slot ? a->end : a->last);
}

static int overlap(const ArenaVal *a, const ArenaVal *b)
{
    if (a->local)
        return live_in(b, a->first, 1) || live_in(b, a->last, 1);
    if (b->local)
        return live_in(a, b->first, 1) || live_in(a, b->last, 1);
    return a->first <= b->end && b->first <= a->end;
}

/* A stored value of n's shape that n's loop reads at n's own index, and
 * last of all: under n's inline operands, the first such one, or -1. */
static int dying_operand(Emitter *E, Node *n, Node *at, int block)
{
    for (int i = 0; i < at->nin; i++) {
        Node *read = at->in[i], *a = read;  /* read as its reshape */
        while (P(E, a)->store == ST_ALIAS)
            a = aliased(E, a);
        Plan *pa = P(E, a);
        if (pa->store == ST_INLINE && !is_splat(a)) {
            int v = dying_operand(E, n, a, block);
            if (v >= 0)
                return v;
        } else if (pa->val && shape_eq(&read->shape, &n->shape) &&
                   E->vals[pa->val - 1].last == block) {
            return pa->val - 1;
        }
    }
    return -1;
}

/* In place: an elementwise node writes over a same-shaped operand whose
 * last read is its own loop, which reads each element just before
 * writing it.  The two then share one slot, the later one's range. */
static void plan_in_place(Emitter *E)
{
    for (int b = 1; b <= E->block; b++) {
        Node *n = E->block_node[b];
        Plan *pl = P(E, n);
        if (!op_is_elementwise(n->op) || !pl->val ||
            E->vals[pl->val - 1].first != b)
            continue;
        int u = dying_operand(E, n, n, b);
        if (u < 0 || u == pl->val - 1)
            continue;
        ArenaVal *v = &E->vals[pl->val - 1];
        v->over = u + 1;            /* v takes u's slot from b on */
        E->vals[u].last = b - 1;    /* ... so u's range ends before */
        v->first = b;
    }
}

/* Offsets for the arena's values, greedy by size: the largest first, each
 * at the lowest offset where it meets no placed value live at the same
 * time.  Also the lower bound: the most elements live in any one block. */
static void plan_arena(Emitter *E)
{
    int n = E->nvals;
    if (agc_share_arena)
        plan_in_place(E);
    /* a value and those written over it share one slot: the first one
     * places it, for their joint range */
    for (int i = 0; i < n; i++)
        E->vals[i].end = E->vals[i].last;
    for (int i = 0; i < n; i++) {
        ArenaVal *r = &E->vals[i];
        while (r->over)
            r = &E->vals[r->over - 1];
        if (E->vals[i].last > r->end)
            r->end = E->vals[i].last;
    }
    ArenaVal **order = agc_alloc(sizeof(ArenaVal *) * (size_t)(n + 1));
    ArenaVal **met = agc_alloc(sizeof(ArenaVal *) * (size_t)(n + 1));
    int nslots = 0;
    for (int i = 0; i < n; i++)
        if (!E->vals[i].over && E->vals[i].first >= 0)
            order[nslots++] = &E->vals[i];
    qsort(order, (size_t)nslots, sizeof *order, by_size);
    for (int i = 0; i < nslots; i++) {
        ArenaVal *v = order[i];
        int nmet = 0;
        for (int j = 0; j < i; j++)
            if (overlap(v, order[j]))
                met[nmet++] = order[j];
        qsort(met, (size_t)nmet, sizeof *met, by_offset);
        long off = agc_share_arena ? 0 : E->arena_count;
        for (int j = 0; j < nmet && off + v->count > met[j]->offset; j++)
            if (met[j]->offset + met[j]->count > off)
                off = met[j]->offset + met[j]->count;
        v->offset = off;
        if (off + v->count > E->arena_count)
            E->arena_count = off + v->count;
    }
    for (int i = 0; i < n; i++) {
        ArenaVal *r = &E->vals[i];
        while (r->over)
            r = &E->vals[r->over - 1];
        E->vals[i].offset = r->offset;
    }
    for (int b = 0; b <= E->block; b++) {
        long live = 0;
        for (int i = 0; i < n; i++)
            if (E->vals[i].first >= 0 && live_in(&E->vals[i], b, 0))
                live += E->vals[i].count;
        if (live > E->arena_bound)
            E->arena_bound = live;
    }
}

/* The arena values that phase's function names, as local pointers; one
 * written in place over another that the function names is that one. */
static char *arena_locals(Emitter *E, int phase)
{
    Out o = {0};
    o.indent = 1;
    for (int i = 0; i < E->nvals; i++) {
        ArenaVal *v = &E->vals[i], *u = v->over ? &E->vals[v->over - 1] : NULL;
        if (!(v->phases >> phase & 1))
            continue;
        if (u && u < v && u->phases >> phase & 1 && u->count == v->count &&
            u->offset == v->offset)
            put(&o, "%s *const %s = %s;\n", E->T, v->name, u->name);
        else
            put(&o, "%s *const %s = m->%s + %ld;%*s/* [%ld] */\n", E->T,
                v->name, E->arena, v->offset, 1, "", v->count);
    }
    if (o.s)
        put(&o, "\n");
    return o.s ? o.s : "";
}

/* NAME_infer of a build with a backward: the forward once more, planned
 * for the outputs alone, so that it keeps nothing for backward; its
 * arena overlaps the training one.  The kernels it calls are those the
 * forward wrote (the same nodes make the same ones). */
static char *emit_infer(Emitter *T)
{
    Program *p = T->p;
    Emitter E;
    memset(&E, 0, sizeof E);
    E.p = p;
    E.g = p->g;
    E.name = T->name;
    E.f32 = T->f32;
    E.T = T->T;
    E.path = T->path;
    E.infer = 1;
    E.regions = agc_alloc(sizeof(Region) * (size_t)(p->nloops + 1));
    for (int k = -1; k < p->nloops; k++) {
        Graph *g = k < 0 ? p->g : p->loops[k]->g;
        for (int i = 0; i < g->n; i++)
            g->nodes[i]->nuses = 0;
    }
    const char **cnames = agc_alloc(sizeof(char *) * (size_t)(p->ntensors + 1));
    for (int i = 0; i < p->ntensors; i++)
        cnames[i] = p->tensors[i].cname;
    plan(&E);
    for (int k = 0; k < p->nloops; k++)
        plan_loop(&E, p->loops[k]);
    name_fields(&E);
    E.kern = T->kern;
    E.kern.fns = (Out){0};
    E.kern.ctx = &E;
    E.sh = T->sh;
    E.noted = T->noted;
    E.nnoted = T->nnoted;
    Out o = {0};
    o.indent = 1;
    emit_phase(&E, &o, 0);
    if (E.nscratch)
        agc_error(p->spec->pos, "internal error: NAME_infer needs scratch "
                  "of another type");
    plan_arena(&E);
    if (E.arena_count > T->arena_count)
        T->arena_count = E.arena_count;
    T->helpers |= E.helpers;        /* its own fusion may call others */
    for (int i = 0; i < p->ntensors; i++)
        p->tensors[i].cname = cnames[i];
    return agc_fmt("/* Eval mode: the outputs alone, keeping nothing for "
                   "backward (its\n * temporaries overwrite forward's). */\n"
                   "int %s_infer(%s_t *m)\n{\n%s%s    return %s_OK;\n}\n\n",
                   E.name, E.name, arena_locals(&E, 0), o.s ? o.s : "",
                   E.name);
}

Emitted emit_program(Program *p, const char *spec_path)
{
    Emitter E;
    memset(&E, 0, sizeof E);
    E.p = p;
    E.g = p->g;
    E.name = p->spec->name;
    E.f32 = p->spec->dtype == DT_F32;
    E.T = E.f32 ? "float" : "double";
    E.path = sanitise(spec_path);
    E.regions = agc_alloc(sizeof(Region) * (size_t)(p->nloops + 1));
    E.infer = p->infer_only;
    plan(&E);
    for (int k = 0; k < p->nloops; k++)
        plan_loop(&E, p->loops[k]);
    name_fields(&E);
    name_optimizer(&E);

    long bytes, temp_bytes;
    int ntemps, align;
    measure(&E, &bytes, &temp_bytes, &ntemps, &align);
    if (bytes > AGC_MAX_BYTES)
        agc_error(p->spec->pos, "the generated struct would hold %ld bytes, "
                  "more than the limit of %ld", bytes, AGC_MAX_BYTES);

    E.kern = (Kernels){E.T, E.f32, E.path, agc_unroll, {0}, add_scratch,
                       &E, NULL, 0};
    E.sh = agc_alloc(sizeof *E.sh);
    memset(E.sh, 0, sizeof *E.sh);
    Out fwd = {0}, bwd = {0}, init = {0}, tables = {0}, body = {0};
    fwd.indent = bwd.indent = 1;
    emit_phase(&E, &fwd, 0);
    emit_phase(&E, &bwd, 1);
    char *infer = p->infer_only || (!bwd.s && !p->has_modes)
                      ? NULL : emit_infer(&E);
    plan_arena(&E);
    int esize = E.f32 ? 4 : 8;
    if (E.lr) {                     /* the optimizer's members */
        member(&bytes, &align, 1, esize);
        member(&bytes, &align, 1, 8);
        for (int i = 0; i < E.nopt; i++)
            for (int j = 0; j < E.nstate; j++)
                member(&bytes, &align, E.opt[i].q.count, esize);
    }
    temp_bytes += member(&bytes, &align, E.arena_count, esize);
    ntemps += E.nvals;
    /* the kernels' scratch of another type, known once they are written */
    for (int i = 0; i < E.nscratch && bytes <= AGC_MAX_BYTES; i++) {
        temp_bytes += member(&bytes, &align, E.scratch[i].count,
                             strcmp(E.scratch[i].type, "double") && E.f32
                                 ? 4 : 8);
        ntemps++;
    }
    bytes = (bytes + align - 1) / align * align;    /* sizeof NAME_t */
    if (bytes > AGC_MAX_BYTES)
        agc_error(p->spec->pos, "the generated struct would hold %ld bytes, "
                  "more than the limit of %ld", bytes, AGC_MAX_BYTES);
    for (int k = -1; k < p->nloops; k++) {  /* the program, its loops */
        Graph *g = k < 0 ? E.g : p->loops[k]->g;
        Plan *plan = k < 0 ? E.plan : E.regions[k].plan;
        for (int i = 0; plan && i < g->n; i++) {
            Node *n = g->nodes[i];
            if (!plan[i].live || plan[i].store != ST_TABLE)
                continue;
            const Decl *d = n->op == OP_INPUT ? &p->decls[n->decl] : NULL;
            if (d)
                put(&tables, "/* %s, from --weights  [%s:%d] */\n", d->name,
                    E.path, d->pos.line);
            else
                put(&tables, "/* %s  [%s:%d] */\n",
                    n->note ? n->note : "constant", E.path, n->pos.line);
            put(&tables, "static const %s %s[%ld] = {\n", E.T, plan[i].table,
                shape_count(&n->shape));
            put_numbers(&E, &tables, d ? d->baked : n->cdata,
                        shape_count(&n->shape));
            put(&tables, "};\n\n");
        }
    }
    emit_init(&E, &init, &tables);
    fwd.s = shares_resolve(E.sh, fwd.s);
    infer = shares_resolve(E.sh, infer);
    bwd.s = shares_resolve(E.sh, bwd.s);

    put(&body, "\n#include <math.h>\n#include <string.h>\n\n");
    Out helpers = {0};
    emit_helpers(&E, &helpers);     /* first: an op's helper may call agc_expf */
    if ((E.kern.fns.s && strstr(E.kern.fns.s, "AGC_FMA(")) ||
        (E.helpers & (H_EXPF | H_LOGF)))
        put_fma_macro(&body, E.f32);
    if (E.kern.fns.s && strstr(E.kern.fns.s, "AGC_VFMA("))
        put_vfma_macro(&body, E.f32);
    if (E.kern.fns.s && (strstr(E.kern.fns.s, "AGC_INLINE ") ||
                         strstr(E.kern.fns.s, "AGC_NOINLINE ")))
        put(&body, "/* a function always inlined into its callers, or kept "
            "out of them (where\n * their values would crowd its registers) "
            "*/\n#if defined(__GNUC__)\n#define AGC_INLINE inline "
            "__attribute__((always_inline))\n#define AGC_NOINLINE "
            "__attribute__((noinline))\n#else\n#define AGC_INLINE inline\n"
            "#define AGC_NOINLINE\n#endif\n\n");
    if (helpers.s)
        put(&body, "%s", helpers.s);
    if (E.kern.fns.s)
        put(&body, "%s", E.kern.fns.s);
    if (E.sh->defs.s)
        put(&body, "%s", E.sh->defs.s);
    if (tables.s)
        put(&body, "%s", tables.s);
    put(&body, "%s", init.s);
    put(&body, "int %s_%s(%s_t *m)\n{\n%s%s    return %s_OK;\n}\n\n",
        E.name, p->infer_only ? "infer" : "forward", E.name,
        arena_locals(&E, 0), fwd.s ? fwd.s : "", E.name);
    if (!p->infer_only) {
        if (infer)
            put(&body, "%s", infer);
        else
            put(&body, "int %s_infer(%s_t *m)\n{\n    return %s_forward(m);"
                "\n}\n\n", E.name, E.name, E.name);
        put(&body, "int %s_backward(%s_t *m)\n{\n%s%s", E.name, E.name,
            arena_locals(&E, 1), bwd.s ? bwd.s : "");
        if (!bwd.s)
            put(&body, "    (void)m;\n");
        put(&body, "    return %s_OK;\n}\n\n", E.name);
        if (E.lr)
            emit_step(&E, &body);
    }
    emit_table(&E, &body);

    Out h = {0}, c = {0};
    emit_header(&E, &h);
    put(&c, "/* generated by agc %s from %s; do not edit */\n", AGC_VERSION,
        E.path);
    put(&c, "#include \"%s.h\"\n%s", E.name, body.s);
    Emitted em;
    memset(&em, 0, sizeof em);
    em.h = h.s;
    em.c = c.s;
    em.body = body.s;
    em.bytes = bytes;
    em.temp_bytes = temp_bytes;
    em.ntemps = ntemps;
    em.arena_bytes = E.arena_count * esize;
    em.arena_bound = E.arena_bound * esize;
    em.nblocks = E.block;
    em.block_node = E.block_node;
    em.block_live = agc_alloc(sizeof(long) * (size_t)(E.block + 1));
    for (int b = 1; b <= E.block; b++)
        for (int i = 0; i < E.nvals; i++)
            if (E.vals[i].first >= 0 && live_in(&E.vals[i], b, 0))
                em.block_live[b - 1] += E.vals[i].count * esize;
    return em;
}

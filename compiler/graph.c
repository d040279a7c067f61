/* graph.c: the graph IR.  Nodes are made only through the constructors
 * below, which infer shapes, simplify (pass.c) and hash-cons, so that
 * equal expressions become one node: common-subexpression elimination
 * for the forward and backward graphs alike. */
#include "agc.h"

#include <string.h>

const OpInfo op_info[OP_LAST] = {
#define OP(e, name, arity, kind, grad_fn, call, layer, ...)                 \
    [OP_##e] = {name, arity, kind, grad_fn, call, layer},
#include "ops.def"
};

const char *op_name(Op op)
{
    return op_info[op].name;
}

int op_is_elementwise(Op op)
{
    return (op_info[op].kind & K_ELEMENTWISE) != 0;
}

int op_is_reduction(Op op)
{
    return (op_info[op].kind & K_REDUCTION) != 0;
}

int op_params(Op op, const char **names, const char **dflt, int max)
{
    int n = 0;
    for (const char *s = op_info[op].call; s && *s && n < max - 1; n++) {
        size_t len = strcspn(s, ",");
        const char *eq = memchr(s, '=', len);
        names[n] = agc_strndup(s, eq ? (size_t)(eq - s) : len);
        dflt[n] = eq ? agc_strndup(eq + 1, len - (size_t)(eq + 1 - s)) : NULL;
        s += len;
        s += strspn(s, ", ");
    }
    names[n] = NULL;
    return n;
}

Graph *graph_new(DType dtype)
{
    Graph *g = agc_alloc(sizeof *g);
    g->dtype = dtype;
    return g;
}

/* ---- shapes ---- */

Shape shape_of(int rank, const long *d)
{
    Shape s = {rank, {0}};
    for (int i = 0; i < rank; i++)
        s.d[i] = d[i];
    return s;
}

long shape_count(const Shape *s)
{
    long n = 1;
    for (int i = 0; i < s->rank; i++)
        n *= s->d[i];               /* bounded: every shape is checked */
    return n;
}

int shape_eq(const Shape *a, const Shape *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->d[i] != b->d[i])
            return 0;
    return 1;
}

char *shape_str(const Shape *s)
{
    char buf[AGC_MAX_RANK * 24 + 4];
    size_t n = 0;
    buf[n++] = '[';
    for (int i = 0; i < s->rank; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%ld", i ? ", " : "",
                              s->d[i]);
    buf[n++] = ']';
    buf[n] = 0;
    return agc_strdup(buf);
}

/* Every shape a node gets passes here: the element count must stay
 * within AGC_MAX_ELEMS, computed without overflow. */
static void check_size(Graph *g, const Shape *s)
{
    long n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] <= 0 || n > AGC_MAX_ELEMS / s->d[i])
            agc_error(g->pos, "shape %s has more than %ld elements",
                      shape_str(s), AGC_MAX_ELEMS);
        n *= s->d[i];
    }
}

/* ---- hash-consing ---- */

static unsigned long node_hash(const Node *n)
{
    unsigned long h = 1469598103934665603UL;
#define MIX(v) (h = (h ^ (unsigned long)(v)) * 1099511628211UL)
    MIX(n->op);
    MIX(n->shape.rank);
    for (int i = 0; i < n->shape.rank; i++)
        MIX(n->shape.d[i]);
    for (int i = 0; i < n->nin; i++)
        MIX(n->in[i]->id);
    for (int i = 0; i < AGC_NATTR; i++)
        MIX(n->attr[i]);
    unsigned long bits;
    memcpy(&bits, &n->cval, sizeof bits < sizeof n->cval ? sizeof bits
                                                         : sizeof n->cval);
    MIX(bits);
    MIX((unsigned long)(size_t)n->cdata);
    MIX((unsigned long)(size_t)n->loop);
#undef MIX
    return h;
}

static int node_equal(const Node *a, const Node *b)
{
    if (a->op != b->op || a->nin != b->nin || !shape_eq(&a->shape, &b->shape) ||
        a->cdata != b->cdata || a->loop != b->loop ||
        memcmp(&a->cval, &b->cval, sizeof a->cval) ||
        memcmp(a->attr, b->attr, sizeof a->attr))
        return 0;
    for (int i = 0; i < a->nin; i++)
        if (a->in[i] != b->in[i])
            return 0;
    return 1;
}

static void hash_insert(Graph *g, Node *n)
{
    unsigned long i = node_hash(n) & (unsigned long)(g->hcap - 1);
    while (g->hash[i])
        i = (i + 1) & (unsigned long)(g->hcap - 1);
    g->hash[i] = n;
}

/* Adds n (a prototype on the stack) to the graph, or returns its twin.
 * Inputs are never merged: each is its own leaf. */
static Node *add(Graph *g, Node proto)
{
    check_size(g, &proto.shape);
    if (op_info[proto.op].arity >= 0 && proto.nin != op_info[proto.op].arity)
        agc_error(g->pos, "internal error: %s with %d operands",
                  op_name(proto.op), proto.nin);
    Node *s = pass_simplify(g, &proto);
    if (s)
        return s;
    if (proto.op != OP_INPUT && g->hcap) {
        unsigned long i = node_hash(&proto) & (unsigned long)(g->hcap - 1);
        for (; g->hash[i]; i = (i + 1) & (unsigned long)(g->hcap - 1))
            if (node_equal(g->hash[i], &proto))
                return g->hash[i];
    }
    Node *n = agc_alloc(sizeof *n);
    *n = proto;
    n->in = agc_alloc(sizeof(Node *) * (size_t)(proto.nin ? proto.nin : 1));
    if (proto.nin)
        memcpy(n->in, proto.in, sizeof(Node *) * (size_t)proto.nin);
    n->id = g->n;
    n->pos = g->pos;
    n->note = g->note;
    n->phase = g->phase;
    if (op_info[n->op].kind & K_GRAD)
        for (int i = 0; i < n->nin; i++)
            n->needs_grad |= n->in[i]->needs_grad;
    *AGC_PUSH(g->nodes, g->n, g->cap) = n;
    if (2 * g->n >= g->hcap) {      /* rehash at half load */
        g->hcap = g->hcap ? 2 * g->hcap : 256;
        g->hash = agc_alloc(sizeof(Node *) * (size_t)g->hcap);
        for (int i = 0; i < g->n; i++)
            if (g->nodes[i]->op != OP_INPUT)
                hash_insert(g, g->nodes[i]);
    } else if (n->op != OP_INPUT) {
        hash_insert(g, n);
    }
    return n;
}

static Node proto(Op op, Shape s, int nin, Node **in)
{
    Node n;
    memset(&n, 0, sizeof n);
    n.op = op;
    n.shape = s;
    n.nin = nin;
    n.in = in;
    return n;
}

/* ---- constructors ---- */

Node *g_input(Graph *g, Shape s, int decl, int requires_grad)
{
    Node n = proto(OP_INPUT, s, 0, NULL);
    n.decl = decl;
    n.needs_grad = requires_grad;
    return add(g, n);
}

Node *g_const(Graph *g, Shape s, double v)
{
    Node n = proto(OP_CONST, s, 0, NULL);
    n.cval = v == 0 ? 0 : v;        /* one zero, not two */
    return add(g, n);
}

Node *g_scalar(Graph *g, double v)
{
    Shape s = {0, {0}};
    return g_const(g, s, v);
}

Node *g_const_data(Graph *g, Shape s, const double *data)
{
    long n = shape_count(&s);
    for (long i = 1; i < n; i++)
        if (memcmp(&data[i], &data[0], sizeof *data))
            goto table;
    return g_const(g, s, data[0]);
table:;
    Node p = proto(OP_CONST, s, 0, NULL);
    p.cdata = data;
    return add(g, p);
}

Node *g_unary(Graph *g, Op op, Node *a)
{
    Node *in[1] = {a};
    return add(g, proto(op, a->shape, 1, in));
}

/* NumPy broadcasting: align trailing dims; each pair equal or one is 1. */
static Shape broadcast(Graph *g, const Shape *a, const Shape *b)
{
    Shape s;
    s.rank = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < s.rank; i++) {
        int ia = a->rank - s.rank + i, ib = b->rank - s.rank + i;
        long da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
        if (da != db && da != 1 && db != 1)
            agc_error(g->pos, "cannot broadcast shapes %s and %s",
                      shape_str(a), shape_str(b));
        s.d[i] = da == 1 ? db : da;
    }
    return s;
}

Node *g_binary(Graph *g, Op op, Node *a, Node *b)
{
    Node *in[2] = {a, b};
    return add(g, proto(op, broadcast(g, &a->shape, &b->shape), 2, in));
}

Node *g_elementwise(Graph *g, Op op, Node **in, int n)
{
    Shape s = in[0]->shape;
    for (int i = 1; i < n; i++)
        s = broadcast(g, &s, &in[i]->shape);
    return add(g, proto(op, s, n, in));
}

Node *g_where(Graph *g, Node *c, Node *a, Node *b)
{
    Shape s = broadcast(g, &c->shape, &a->shape);
    s = broadcast(g, &s, &b->shape);
    Node *in[3] = {c, a, b};
    return add(g, proto(OP_WHERE, s, 3, in));
}

Node *g_expand(Graph *g, Node *a, Shape s)
{
    Shape t = broadcast(g, &a->shape, &s);
    if (!shape_eq(&t, &s))
        agc_error(g->pos, "cannot broadcast shape %s to %s",
                  shape_str(&a->shape), shape_str(&s));
    Node *in[1] = {a};
    return add(g, proto(OP_COPY, s, 1, in));
}

Node *g_reduce(Graph *g, Op op, Node *a, unsigned mask, int keepdim)
{
    Shape s = {0, {0}};
    for (int i = 0; i < a->shape.rank; i++) {
        if (!(mask >> i & 1))
            s.d[s.rank++] = a->shape.d[i];
        else if (keepdim)
            s.d[s.rank++] = 1;
    }
    Node *in[1] = {a};
    Node n = proto(op, s, 1, in);
    n.attr[0] = mask;
    n.attr[1] = keepdim;
    return add(g, n);
}

Node *g_sum_to(Graph *g, Node *a, Shape s)
{
    if (shape_eq(&a->shape, &s))
        return a;
    unsigned mask = 0;
    int lead = a->shape.rank - s.rank;
    for (int i = 0; i < a->shape.rank; i++)
        if (i < lead || (s.d[i - lead] == 1 && a->shape.d[i] != 1))
            mask |= 1u << i;
    return g_reshape(g, g_reduce(g, OP_SUM, a, mask, 1), s);
}

Node *g_reshape(Graph *g, Node *a, Shape s)
{
    if (shape_count(&s) != shape_count(&a->shape))
        agc_error(g->pos, "cannot reshape %s into %s", shape_str(&a->shape),
                  shape_str(&s));
    Node *in[1] = {a};
    return add(g, proto(OP_RESHAPE, s, 1, in));
}

Node *g_detach(Graph *g, Node *a)
{
    Node *in[1] = {a};
    return add(g, proto(OP_DETACH, a->shape, 1, in));
}

Node *g_class_index(Graph *g, Node *a, long classes)
{
    Node *in[1] = {a};
    Node n = proto(OP_CLASS_INDEX, a->shape, 1, in);
    n.attr[0] = classes;
    return add(g, n);
}

Node *g_transpose(Graph *g, Node *a, int d0, int d1)
{
    if (d0 > d1) {
        int t = d0;
        d0 = d1;
        d1 = t;
    }
    Shape s = a->shape;
    s.d[d0] = a->shape.d[d1];
    s.d[d1] = a->shape.d[d0];
    Node *in[1] = {a};
    Node n = proto(OP_TRANSPOSE, s, 1, in);
    n.attr[0] = d0;
    n.attr[1] = d1;
    return add(g, n);
}

/* torch.matmul for 1-D and 2-D operands: a vector is made a matrix, the
 * product taken, and the added dim removed again. */
Node *g_matmul(Graph *g, Node *a, Node *b)
{
    int ra = a->shape.rank, rb = b->shape.rank;
    if (ra < 1 || ra > 2 || rb < 1 || rb > 2)
        agc_error(g->pos, "'@' takes 1-D or 2-D operands, not %s and %s",
                  shape_str(&a->shape), shape_str(&b->shape));
    long k1 = a->shape.d[ra - 1], k2 = b->shape.d[0];
    if (k1 != k2)
        agc_error(g->pos, "cannot multiply %s by %s: %ld columns against "
                  "%ld rows", shape_str(&a->shape), shape_str(&b->shape),
                  k1, k2);
    long m = ra == 2 ? a->shape.d[0] : 1, n = rb == 2 ? b->shape.d[1] : 1;
    Node *a2 = a, *b2 = b;
    if (ra == 1)
        a2 = g_reshape(g, a, shape_of(2, (long[]){1, k1}));
    if (rb == 1)
        b2 = g_reshape(g, b, shape_of(2, (long[]){k1, 1}));
    Node *in[2] = {a2, b2};
    Node *r = add(g, proto(OP_MATMUL, shape_of(2, (long[]){m, n}), 2, in));
    Shape s = {0, {0}};
    if (ra == 2)
        s.d[s.rank++] = m;
    if (rb == 2)
        s.d[s.rank++] = n;
    return g_reshape(g, r, s);
}

Node *g_cat(Graph *g, Node **xs, int n, int dim)
{
    Shape s = xs[0]->shape;
    for (int i = 1; i < n; i++) {
        const Shape *t = &xs[i]->shape;
        int ok = t->rank == s.rank;
        for (int j = 0; ok && j < s.rank; j++)
            ok = j == dim || t->d[j] == s.d[j];
        if (!ok)
            agc_error(g->pos, "cannot concatenate %s and %s along dim %d",
                      shape_str(&xs[0]->shape), shape_str(t), dim);
        if (s.d[dim] > AGC_MAX_ELEMS)
            agc_error(g->pos, "concatenation too large");
        s.d[dim] += t->d[dim];
    }
    if (n == 1)
        return xs[0];
    Node p = proto(OP_CAT, s, n, xs);
    p.attr[0] = dim;
    return add(g, p);
}

Node *g_narrow(Graph *g, Node *a, int dim, long start, long len)
{
    if (start < 0 || len < 1 || start > a->shape.d[dim] - len)
        agc_error(g->pos, "narrow of %s: start %ld, length %ld is out of "
                  "range for dim %d of size %ld", shape_str(&a->shape),
                  start, len, dim, a->shape.d[dim]);
    if (start == 0 && len == a->shape.d[dim])
        return a;
    Shape s = a->shape;
    s.d[dim] = len;
    Node *in[1] = {a};
    Node n = proto(OP_NARROW, s, 1, in);
    n.attr[0] = dim;
    n.attr[1] = start;
    return add(g, n);
}

Node *g_pad(Graph *g, Node *a, int dim, long start, long full)
{
    if (start == 0 && full == a->shape.d[dim])
        return a;
    Shape s = a->shape;
    s.d[dim] = full;
    Node *in[1] = {a};
    Node n = proto(OP_PAD, s, 1, in);
    n.attr[0] = dim;
    n.attr[1] = start;
    return add(g, n);
}

/* ---- loops ---- */

Node *g_arg(Graph *g, Shape s, int which, int needs_grad)
{
    Node n = proto(OP_ARG, s, 0, NULL);
    n.attr[0] = which;
    n.needs_grad = needs_grad;
    return add(g, n);
}

/* Needs grad when its variable does: init or the body needs grad. */
Node *g_loop(Graph *g, Node *init, LoopDef *L)
{
    Node **in = agc_alloc(sizeof(Node *) * (size_t)(L->ncap + 1));
    in[0] = init;
    for (int i = 0; i < L->ncap; i++)
        in[i + 1] = L->cap[i];
    Node n = proto(OP_LOOP, init->shape, L->ncap + 1, in);
    n.loop = L;
    n.needs_grad = L->var->needs_grad;
    return add(g, n);
}

Node *g_loop_count(Graph *g, Node *loop)
{
    Node *in[1] = {loop};
    return add(g, proto(OP_LOOP_COUNT, shape_of(0, NULL), 1, in));
}

Node *g_loop_grad(Graph *g, Node *loop, Node *gy)
{
    Node *in[3] = {loop, gy, loop->loop->count};
    return add(g, proto(OP_LOOP_GRAD, loop->shape, 3, in));
}

Node *g_loop_capgrad(Graph *g, Node *loop_grad, int i)
{
    Node *in[1] = {loop_grad};
    Node n = proto(OP_LOOP_CAPGRAD, loop_grad->in[0]->loop->cap[i]->shape, 1,
                   in);
    n.attr[0] = i;
    return add(g, n);
}

/* ---- custom functions ---- */

/* The forward result in[0] was computed from detached arguments, so the
 * gradient can only come through the user's backward (grad.c). */
Node *g_custom(Graph *g, struct CustomFn *fn, int index, Node *out,
               Node **args, int nargs)
{
    Node **in = agc_alloc(sizeof(Node *) * (size_t)(nargs + 1));
    in[0] = out;
    for (int i = 0; i < nargs; i++)
        in[i + 1] = args[i];
    Node n = proto(OP_CUSTOM, out->shape, nargs + 1, in);
    n.custom = fn;
    n.attr[0] = index;
    n.attr[1] = g->n;               /* unique: calls are never merged */
    return add(g, n);
}

/* ---- window ops: 4-D [N, C, H, W] ---- */

static Node window(Op op, Shape s, int nin, Node **in, const long *attr,
                   int nattr)
{
    Node n = proto(op, s, nin, in);
    for (int i = 0; i < nattr; i++)
        n.attr[i] = attr[i];
    return n;
}

/* Output length of a window over n (padded by p0 and p1): PyTorch's
 * floor((n + p0 + p1 - d (k - 1) - 1) / s) + 1. */
static long out_len(Graph *g, long n, long p0, long p1, long k, long d,
                    long s)
{
    long span = n + p0 + p1 - d * (k - 1) - 1;
    if (span < 0)
        agc_error(g->pos, "internal error: window larger than its input");
    return span / s + 1;
}

Node *g_conv(Graph *g, Node *x, Node *w, const long *a)
{
    const long *xd = x->shape.d, *wd = w->shape.d;
    if (x->shape.rank != 4 || w->shape.rank != 4 ||
        xd[1] != wd[1] * a[CV_GROUPS] || wd[0] % a[CV_GROUPS])
        agc_error(g->pos, "internal error: conv of %s and %s",
                  shape_str(&x->shape), shape_str(&w->shape));
    Shape s = shape_of(4, (long[]){
        xd[0], wd[0],
        out_len(g, xd[2], a[CV_PH], a[CV_PH1], wd[2], a[CV_DH], a[CV_SH]),
        out_len(g, xd[3], a[CV_PW], a[CV_PW1], wd[3], a[CV_DW], a[CV_SW])});
    Node *in[2] = {x, w};
    return add(g, window(OP_CONV, s, 2, in, a, CV_PW1 + 1));
}

Node *g_conv_bwd(Graph *g, Op op, Node *a, Node *b, const long *attr,
                 Shape s)
{
    Node *in[2] = {a, b};
    return add(g, window(op, s, 2, in, attr, CV_PW1 + 1));
}

Node *g_padmode(Graph *g, Node *x, const long *a)
{
    Shape s = x->shape;
    s.d[2] += a[PM_TOP] + a[PM_BOTTOM];
    s.d[3] += a[PM_LEFT] + a[PM_RIGHT];
    Node *in[1] = {x};
    return add(g, window(OP_PADMODE, s, 1, in, a, PM_RIGHT + 1));
}

Node *g_padmode_bwd(Graph *g, Node *gy, const long *a, Shape s)
{
    Node *in[1] = {gy};
    return add(g, window(OP_PADMODE_BWD, s, 1, in, a, PM_RIGHT + 1));
}

Node *g_maxpool(Graph *g, Node *x, const long *a)
{
    Shape s = x->shape;
    s.d[2] = out_len(g, s.d[2], a[PL_PH], a[PL_PH] + a[PL_EH], a[PL_KH],
                     a[PL_DH], a[PL_SH]);
    s.d[3] = out_len(g, s.d[3], a[PL_PW], a[PL_PW] + a[PL_EW], a[PL_KW],
                     a[PL_DW], a[PL_SW]);
    Node *in[1] = {x};
    return add(g, window(OP_MAXPOOL, s, 1, in, a, PL_EW + 1));
}

Node *g_maxpool_bwd(Graph *g, Node *x, Node *gy, const long *a)
{
    Node *in[2] = {x, gy};
    return add(g, window(OP_MAXPOOL_BWD, x->shape, 2, in, a, PL_EW + 1));
}

/* ---- train and eval mode ---- */

Node *g_mode(Graph *g, Node *train, Node *eval)
{
    if (!shape_eq(&train->shape, &eval->shape))
        agc_error(g->pos, "internal error: mode of %s and %s",
                  shape_str(&train->shape), shape_str(&eval->shape));
    Node *in[2] = {train, eval};
    return add(g, proto(OP_MODE, train->shape, 2, in));
}

Node *g_assign(Graph *g, Node *buffer, Node *value)
{
    if (buffer->op != OP_INPUT ||
        (value && !shape_eq(&buffer->shape, &value->shape)))
        agc_error(g->pos, "internal error: assign to a %s",
                  op_name(buffer->op));
    Node *in[2] = {buffer, value};
    return add(g, proto(OP_ASSIGN, buffer->shape, value ? 2 : 1, in));
}

Node *g_dropout(Graph *g, Shape s, Node *step, const long *attr, double p)
{
    Node *in[1] = {step};
    Node n = proto(OP_DROPOUT, s, 1, in);
    n.attr[DO_STREAM] = attr[DO_STREAM];
    n.attr[DO_DROP] = attr[DO_DROP];
    n.cval = p;
    return add(g, n);
}

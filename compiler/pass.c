/* pass.c: simplification as nodes are made (constant folding and the
 * algebraic identities), and planning before emission (liveness, uses).
 *
 * pass_simplify runs inside every node constructor, so the forward graph,
 * the backward graph and every rule in grad.c get the same clean-up. */
#include "agc.h"

#include <math.h>

static int is_splat(const Node *n)
{
    return n->op == OP_CONST && !n->cdata;
}

static int is_splat_of(const Node *n, double v)
{
    return is_splat(n) && n->cval == v;
}

/* The value of an elementwise op on numbers; what the emitted C computes. */
static double eval(Op op, double a, double b, double c)
{
    switch (op) {
#define OP(e, name, arity, kind, grad_fn, call, layer, fold, ...)           \
    case OP_##e: return fold;
#include "ops.def"
    default: return 0;
    }
}

/* A splat's value may only be folded when it stays finite: 1/0 and
 * log(-1) are left to run time, where they behave as PyTorch's do. */
static Node *fold(Graph *g, Node *n)
{
    double v[3] = {0, 0, 0};
    for (int i = 0; i < n->nin; i++) {
        if (!is_splat(n->in[i]))
            return NULL;
        v[i] = n->in[i]->cval;
    }
    double r = eval(n->op, v[0], v[1], v[2]);
    if (!isfinite(r))
        return NULL;
    return g_const(g, n->shape, r);
}

Node *pass_simplify(Graph *g, Node *n)
{
    Node *a = n->nin > 0 ? n->in[0] : NULL;
    Node *b = n->nin > 1 ? n->in[1] : NULL;
    int same_a = a && shape_eq(&a->shape, &n->shape);

    if (op_is_elementwise(n->op)) {
        Node *f = fold(g, n);
        if (f)
            return f;
    }
    /* a constant operand that does not set the result's shape is a 0-d
     * scalar, so that c * x and x * c meet the rules below */
    if (op_is_elementwise(n->op) && n->op != OP_WHERE && b) {
        Shape s0 = {0, {0}};
        if (is_splat(b) && b->shape.rank && shape_eq(&a->shape, &n->shape))
            return g_binary(g, n->op, a, g_const(g, s0, b->cval));
        if (is_splat(a) && a->shape.rank && shape_eq(&b->shape, &n->shape))
            return g_binary(g, n->op, g_const(g, s0, a->cval), b);
    }
    switch (n->op) {
    case OP_COPY:
        return same_a ? a : NULL;
    case OP_ADD:
        if (a == b)                 /* fan-out of one gradient: x + x */
            return g_binary(g, OP_MUL, a, g_scalar(g, 2));
        if (is_splat_of(b, 0))
            return g_expand(g, a, n->shape);
        if (is_splat_of(a, 0))
            return g_expand(g, b, n->shape);
        break;
    case OP_SUB:
        if (is_splat_of(b, 0))
            return g_expand(g, a, n->shape);
        if (is_splat_of(a, 0))
            return g_expand(g, g_unary(g, OP_NEG, b), n->shape);
        if (a == b)
            return g_const(g, n->shape, 0);
        break;
    case OP_MUL:
        if (is_splat_of(b, 1))
            return g_expand(g, a, n->shape);
        if (is_splat_of(a, 1))
            return g_expand(g, b, n->shape);
        if (is_splat_of(a, 0) || is_splat_of(b, 0))
            return g_const(g, n->shape, 0);
        if (is_splat_of(b, -1))
            return g_expand(g, g_unary(g, OP_NEG, a), n->shape);
        if (is_splat_of(a, -1))
            return g_expand(g, g_unary(g, OP_NEG, b), n->shape);
        /* constants gather on the right: c1 * x -> x * c1, and
         * (x * c1) * c2 -> x * (c1 c2) */
        if (is_splat(a) && !is_splat(b) && a->shape.rank == 0)
            return g_binary(g, OP_MUL, b, a);
        if (is_splat(b) && b->shape.rank == 0 && a->op == OP_MUL &&
            is_splat(a->in[1]) && a->in[1]->shape.rank == 0)
            return g_binary(g, OP_MUL, a->in[0],
                            g_scalar(g, a->in[1]->cval * b->cval));
        break;
    case OP_DIV:
        if (is_splat_of(b, 1))
            return g_expand(g, a, n->shape);
        break;
    case OP_POW:
        if (is_splat_of(b, 1))
            return g_expand(g, a, n->shape);
        if (is_splat_of(b, 0))
            return g_const(g, n->shape, 1);
        break;
    case OP_NEG:
        if (a->op == OP_NEG)
            return a->in[0];
        break;
    case OP_WHERE:
        if (is_splat(a))
            return g_expand(g, a->cval != 0 ? b : n->in[2], n->shape);
        if (b == n->in[2])
            return g_expand(g, b, n->shape);
        break;
    case OP_SUM:
    case OP_AMAX:
    case OP_AMIN:
        if (n->attr[0] == 0)
            return a;
        if (is_splat(a)) {
            double k = (double)shape_count(&a->shape) /
                       (double)shape_count(&n->shape);
            return g_const(g, n->shape, n->op == OP_SUM ? a->cval * k
                                                        : a->cval);
        }
        break;
    case OP_MATMUL:
        if (is_splat_of(a, 0) || is_splat_of(b, 0))
            return g_const(g, n->shape, 0);
        break;
    case OP_RESHAPE:
        if (same_a)
            return a;
        if (is_splat(a))
            return g_const(g, n->shape, a->cval);
        if (a->op == OP_RESHAPE)
            return g_reshape(g, a->in[0], n->shape);
        break;
    case OP_TRANSPOSE:
        if (is_splat(a))
            return g_const(g, n->shape, a->cval);
        if (a->op == OP_TRANSPOSE && a->attr[0] == n->attr[0] &&
            a->attr[1] == n->attr[1])
            return a->in[0];
        break;
    case OP_NARROW:
        if (is_splat(a))
            return g_const(g, n->shape, a->cval);
        break;
    case OP_PAD:
        if (is_splat_of(a, 0))
            return g_const(g, n->shape, 0);
        break;
    case OP_DETACH:
        if (!a->needs_grad)
            return a;
        break;
    case OP_CUSTOM: {               /* no gradient to route: the value */
        int needs = 0;
        for (int i = 1; i < n->nin; i++)
            needs |= n->in[i]->needs_grad;
        if (!needs)
            return a;
        break;
    }
    case OP_CONV:                   /* linear in each operand */
    case OP_CONV_BWD_INPUT:
    case OP_CONV_BWD_WEIGHT:
        if (is_splat_of(a, 0) || is_splat_of(b, 0))
            return g_const(g, n->shape, 0);
        break;
    case OP_MAXPOOL_BWD:            /* linear in the gradient */
        if (is_splat_of(b, 0))
            return g_const(g, n->shape, 0);
        break;
    case OP_PADMODE_BWD:
        if (is_splat_of(a, 0))
            return g_const(g, n->shape, 0);
        break;
    case OP_PADMODE:                /* copies of a constant */
        if (is_splat(a))
            return g_const(g, n->shape, a->cval);
        break;
    default:
        break;
    }
    return NULL;
}

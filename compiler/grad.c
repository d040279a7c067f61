/* grad.c: reverse mode as a graph transformation.
 *
 * Walking the forward nodes in reverse topological order, each node with
 * an incoming gradient hands one gradient expression to every input that
 * needs one; gradients of fan-out are summed.  The walk touches only nodes
 * that need grad, so the backward graph is pruned to what the leaves need.
 * The rules are ordinary node constructors, so the backward graph is the
 * same IR as the forward one and gets the same simplification. */
#include "agc.h"

#include <string.h>

typedef struct Grads {
    Graph *g;
    Node **of;                      /* gradient per node id, or NULL */
} Grads;

static void accumulate(Grads *gr, Node *x, Node *dx)
{
    if (!x->needs_grad || !dx)
        return;
    dx = g_sum_to(gr->g, dx, x->shape);     /* undo broadcasting */
    Node *old = gr->of[x->id];
    gr->of[x->id] = old ? g_binary(gr->g, OP_ADD, old, dx) : dx;
}

/* The keepdim shape of a reduction's output. */
static Shape kept(const Node *n)
{
    Shape s = n->in[0]->shape;
    for (int i = 0; i < s.rank; i++)
        if (n->attr[0] >> i & 1)
            s.d[i] = 1;
    return s;
}

static void loop_vjp(LoopDef *L);

/* A custom function's call y = f(x1, ...): dx_i is the user's backward
 * expression for x_i, with the arguments, out = y and grad = gy in scope;
 * it must have x_i's shape.  Every expression is lowered (and checked),
 * but only arguments that need grad receive one; one that needs grad but
 * has no backward expression is an error at the call. */
static void custom_rule(Grads *gr, Node *n, Node *gy)
{
    CustomFn *f = n->custom;
    int na = f->def->nargs;
    const char **names = agc_alloc(sizeof(char *) * (size_t)(na + 2));
    Node **vals = agc_alloc(sizeof(Node *) * (size_t)(na + 2));
    for (int i = 0; i < na; i++) {
        names[i] = f->def->args[i];
        vals[i] = n->in[i + 1];
        if (!f->backward[i] && vals[i]->needs_grad)
            agc_error(n->pos, "function '%s' has no backward for argument "
                      "'%s', which needs a gradient here", f->def->name,
                      names[i]);
    }
    names[na] = "out";
    vals[na] = n->in[0];
    names[na + 1] = "grad";
    vals[na + 1] = gy;
    const char *where = agc_fmt("the backward of function '%s' sees its "
                                "arguments, out and grad", f->def->name);
    for (int i = 0; i < na; i++) {
        if (!f->backward[i])
            continue;
        Node *dx = build_lower_scoped(f->prog, gr->g, f->backward[i],
                                      na + 2, names, vals, where, 0);
        if (!shape_eq(&dx->shape, &vals[i]->shape))
            agc_error(f->bwd_src[i].pos, "the backward of '%s' in function "
                      "'%s' has shape %s, but '%s' has shape %s",
                      names[i], f->def->name, shape_str(&dx->shape),
                      names[i], shape_str(&vals[i]->shape));
        accumulate(gr, vals[i], dx);
    }
}

/* One rule per primitive: y = n, gy its gradient; the math above each. */
static void rule(Grads *gr, Node *n, Node *gy)
{
    Graph *g = gr->g;
    Node *a = n->nin > 0 ? n->in[0] : NULL;
    Node *b = n->nin > 1 ? n->in[1] : NULL;
    Node *zero = g_scalar(g, 0), *one = g_scalar(g, 1);
#define B(op, x, y) g_binary(g, OP_##op, x, y)
#define U(op, x) g_unary(g, OP_##op, x)
    switch (n->op) {
    case OP_INPUT:
    case OP_CONST:
    case OP_ARG:
    case OP_LOOP_COUNT:
    case OP_LOOP_GRAD:
    case OP_LOOP_CAPGRAD:
    case OP_DETACH:
    case OP_CLASS_INDEX:
    case OP_SIGN:
    case OP_LT: case OP_LE: case OP_GT: case OP_GE: case OP_EQ: case OP_NE:
    case OP_LAST:
        break;
    /* the adjoints only appear in the backward graph: no double backward */
    case OP_CONV_BWD_WEIGHT:
    case OP_PADMODE_BWD: case OP_MAXPOOL_BWD:
        break;
    case OP_COPY:                   /* da = sum_to(gy) */
        accumulate(gr, a, gy);
        break;
    case OP_NEG:                    /* da = -gy */
        accumulate(gr, a, U(NEG, gy));
        break;
    case OP_ABS:                    /* da = gy * sign(a) */
        accumulate(gr, a, B(MUL, gy, U(SIGN, a)));
        break;
    case OP_EXP:                    /* da = gy * y */
        accumulate(gr, a, B(MUL, gy, n));
        break;
    case OP_LOG:                    /* da = gy / a */
        accumulate(gr, a, B(DIV, gy, a));
        break;
    case OP_SQRT:                   /* da = gy / (2 y) */
        accumulate(gr, a, B(DIV, gy, B(MUL, n, g_scalar(g, 2))));
        break;
    case OP_SIN:                    /* da = gy * cos(a) */
        accumulate(gr, a, B(MUL, gy, U(COS, a)));
        break;
    case OP_COS:                    /* da = gy * -sin(a) */
        accumulate(gr, a, B(MUL, gy, U(NEG, U(SIN, a))));
        break;
    case OP_TANH:                   /* da = gy * (1 - y^2) */
        accumulate(gr, a, B(MUL, gy, B(SUB, one, B(MUL, n, n))));
        break;
    case OP_SIGMOID:                /* da = gy * (1 - y) * y */
        accumulate(gr, a, B(MUL, B(MUL, gy, B(SUB, one, n)), n));
        break;
    case OP_RELU:                   /* da = y > 0 ? gy : 0 */
        accumulate(gr, a, g_where(g, B(GT, n, zero), gy, zero));
        break;
    case OP_LOG1P:                  /* da = gy / (1 + a) */
        accumulate(gr, a, B(DIV, gy, B(ADD, a, one)));
        break;
    case OP_EXPM1:                  /* da = gy (y + 1) */
        accumulate(gr, a, B(MUL, gy, B(ADD, n, one)));
        break;
    case OP_ERF:                    /* da = gy 2/sqrt(pi) exp(-a^2) */
        accumulate(gr, a, B(MUL, gy, B(MUL, U(EXP, U(NEG, B(MUL, a, a))),
                                       g_scalar(g, 1.1283791670955126))));
        break;
    case OP_GELU: {
        /* da = gy (Phi(a) + a phi(a)): Phi(a) = (1 + erf(a/sqrt 2)) / 2,
         * phi(a) = exp(-a^2/2) / sqrt(2 pi) */
        Node *cdf = B(MUL, B(ADD, U(ERF, B(MUL, a, g_scalar(g,
                      0.70710678118654752))), one), g_scalar(g, 0.5));
        Node *pdf = B(MUL, U(EXP, B(MUL, B(MUL, a, a), g_scalar(g, -0.5))),
                      g_scalar(g, 0.39894228040143268));
        accumulate(gr, a, B(MUL, gy, B(ADD, cdf, B(MUL, a, pdf))));
        break;
    }
    case OP_GELU_TANH: {
        /* y = a (1 + t) / 2, t = tanh(c (a + k a^3)), c = sqrt(2 / pi),
         * k = 0.044715: da = gy ((1 + t) / 2
         *                        + a (1 - t^2) c (1 + 3 k a^2) / 2) */
        Node *half = g_scalar(g, 0.5), *c = g_scalar(g, 0.79788456080286536);
        Node *a2 = B(MUL, a, a);
        Node *t = U(TANH, B(MUL, B(ADD, a, B(MUL, B(MUL, a2, a),
                                             g_scalar(g, 0.044715))), c));
        Node *left = B(MUL, B(ADD, one, t), half);
        Node *right = B(MUL, B(MUL, B(MUL, a, half),
                               B(SUB, one, B(MUL, t, t))),
                        B(MUL, B(ADD, one, B(MUL, a2, g_scalar(g, 0.134145))),
                          c));
        accumulate(gr, a, B(MUL, gy, B(ADD, left, right)));
        break;
    }
    case OP_SILU: {                 /* da = gy s (1 + a (1 - s)), */
                                    /* s = sigmoid(a) */
        Node *s = U(SIGMOID, a);
        accumulate(gr, a, B(MUL, B(MUL, gy, s),
                            B(ADD, one, B(MUL, a, B(SUB, one, s)))));
        break;
    }
    case OP_ELU:                    /* da = a <= 0 ? gy alpha exp(a) : gy */
        accumulate(gr, a, g_where(g, B(LE, a, zero),
                                  B(MUL, B(MUL, gy, b), U(EXP, a)), gy));
        break;
    case OP_SOFTPLUS: {
        /* da = a beta > threshold ? gy : gy z / (z + 1), z = exp(a beta) */
        Node *z = U(EXP, B(MUL, a, b));
        accumulate(gr, a, g_where(g, B(GT, B(MUL, a, b), n->in[2]), gy,
                                  B(DIV, B(MUL, gy, z), B(ADD, z, one))));
        break;
    }
    case OP_HARDTANH:
        /* da = a <= min_val || a >= max_val ? 0 : gy (0 at the bounds) */
        accumulate(gr, a, g_where(g, B(LE, a, b), zero,
                                  g_where(g, B(GE, a, n->in[2]), zero, gy)));
        break;
    case OP_ADD:                    /* da = gy, db = gy */
        accumulate(gr, a, gy);
        accumulate(gr, b, gy);
        break;
    case OP_SUB:                    /* da = gy, db = -gy */
        accumulate(gr, a, gy);
        if (b->needs_grad)
            accumulate(gr, b, U(NEG, gy));
        break;
    case OP_MUL:                    /* da = gy b, db = gy a */
        if (a->needs_grad)
            accumulate(gr, a, B(MUL, gy, b));
        if (b->needs_grad)
            accumulate(gr, b, B(MUL, gy, a));
        break;
    case OP_DIV:                    /* da = gy / b, db = -gy a / b^2 */
        if (a->needs_grad)
            accumulate(gr, a, B(DIV, gy, b));
        if (b->needs_grad)
            accumulate(gr, b, B(DIV, B(MUL, U(NEG, gy), a), B(MUL, b, b)));
        break;
    case OP_POW:
        /* da = gy b a^(b-1); db = gy y log(a), 0 where a == 0 and b >= 0 */
        if (a->needs_grad)
            accumulate(gr, a, B(MUL, B(MUL, gy, b),
                                B(POW, a, B(SUB, b, one))));
        if (b->needs_grad) {
            Node *zero_base = B(MUL, B(EQ, a, zero), B(GE, b, zero));
            accumulate(gr, b, B(MUL, gy, g_where(g, zero_base, zero,
                                                 B(MUL, n, U(LOG, a)))));
        }
        break;
    case OP_MAXIMUM:
    case OP_MINIMUM: {
        /* da = gy where a wins, gy/2 at ties (PyTorch), db likewise */
        Op wins = n->op == OP_MAXIMUM ? OP_GT : OP_LT;
        Node *half = B(MUL, B(EQ, a, b), g_scalar(g, 0.5));
        if (a->needs_grad)
            accumulate(gr, a, B(MUL, gy, B(ADD, g_binary(g, wins, a, b),
                                           half)));
        if (b->needs_grad)
            accumulate(gr, b, B(MUL, gy, B(ADD, g_binary(g, wins, b, a),
                                           half)));
        break;
    }
    case OP_WHERE:                  /* da = c ? gy : 0, db = c ? 0 : gy */
        if (b->needs_grad)
            accumulate(gr, b, g_where(g, a, gy, zero));
        if (n->in[2]->needs_grad)
            accumulate(gr, n->in[2], g_where(g, a, zero, gy));
        break;
    case OP_SUM:                    /* da = expand(gy) */
        accumulate(gr, a, g_expand(g, g_reshape(g, gy, kept(n)), a->shape));
        break;
    case OP_AMAX:
    case OP_AMIN: {
        /* da = gy (a == y) / count(a == y): ties share it (torch.amax) */
        Node *hit = B(EQ, a, g_reshape(g, n, kept(n)));
        Node *cnt = g_reduce(g, OP_SUM, hit, (unsigned)n->attr[0], 1);
        accumulate(gr, a, B(MUL, B(DIV, g_reshape(g, gy, kept(n)), cnt),
                            hit));
        break;
    }
    case OP_NORM:                   /* da = gy a / y, 0 where y == 0 */
        accumulate(gr, a, B(MUL, a, g_where(g, B(EQ, n, zero), zero,
                                            B(DIV, gy, n))));
        break;
    case OP_MATMUL:                 /* da = gy b^T, db = a^T gy */
        if (a->needs_grad)
            accumulate(gr, a, g_matmul(g, gy, g_transpose(g, b, 0, 1)));
        if (b->needs_grad && b->op == OP_TRANSPOSE)
            /* b = w^T (linear): dw = gy^T a made directly, not as the
             * transpose of a^T gy, which would be copied */
            accumulate(gr, b, g_transpose(g, g_matmul(g, g_transpose(g, gy, 0,
                                              1), a), 0, 1));
        else if (b->needs_grad)
            accumulate(gr, b, g_matmul(g, g_transpose(g, a, 0, 1), gy));
        break;
    case OP_TRANSPOSE:              /* da = transpose(gy) */
        accumulate(gr, a, g_transpose(g, gy, (int)n->attr[0],
                                      (int)n->attr[1]));
        break;
    case OP_RESHAPE:                /* da = reshape(gy, a.shape) */
        accumulate(gr, a, g_reshape(g, gy, a->shape));
        break;
    case OP_CAT: {                  /* da_i = narrow(gy, dim, offset_i) */
        int dim = (int)n->attr[0];
        long off = 0;
        for (int i = 0; i < n->nin; i++) {
            long len = n->in[i]->shape.d[dim];
            if (n->in[i]->needs_grad)
                accumulate(gr, n->in[i], g_narrow(g, gy, dim, off, len));
            off += len;
        }
        break;
    }
    case OP_NARROW:                 /* da = gy padded with zeros */
        accumulate(gr, a, g_pad(g, gy, (int)n->attr[0], n->attr[1],
                                a->shape.d[n->attr[0]]));
        break;
    case OP_PAD:                    /* da = narrow(gy) */
        accumulate(gr, a, g_narrow(g, gy, (int)n->attr[0], n->attr[1],
                                   a->shape.d[n->attr[0]]));
        break;
    case OP_LOOP: {
        /* y = body^count(init), v_k the iterates:
         *   gv = gy; for k = count-1 .. 0: dcap += gv dbody/dcap (v_k),
         *   gv = gv dbody/dv (v_k); dinit = gv.
         * One OP_LOOP_GRAD runs that loop; it gives dinit, and each
         * capture's sum through an OP_LOOP_CAPGRAD. */
        LoopDef *L = n->loop;
        loop_vjp(L);
        Node *lg = g_loop_grad(g, n, gy);
        lg->name = agc_fmt("%s_grad_%s", L->name, L->as);
        L->grad = lg;
        accumulate(gr, a, lg);
        for (int i = 0; i < L->ncap; i++)
            if (L->grad_cap[i]) {
                Node *c = L->cap[i];
                L->capgrad[i] = g_loop_capgrad(g, lg, i);
                L->capgrad[i]->name = agc_fmt("%s_grad_%s", L->name,
                                              c->name ? c->name
                                                      : agc_fmt("c%d", i));
                accumulate(gr, c, L->capgrad[i]);
            }
        break;
    }

    case OP_CUSTOM:                 /* dx_i = the user's expression */
        custom_rule(gr, n, gy);
        break;
    case OP_CONV:
        /* y = x (*) w, a correlation: dx = gy correlated with w flipped
         * (a transposed convolution), dw = x correlated with gy */
        if (a->needs_grad)
            accumulate(gr, a, g_conv_bwd(g, OP_CONV_BWD_INPUT, gy, b,
                                         n->attr, a->shape));
        if (b->needs_grad)
            accumulate(gr, b, g_conv_bwd(g, OP_CONV_BWD_WEIGHT, a, gy,
                                         n->attr, b->shape));
        break;
    case OP_CONV_BWD_INPUT:
        /* y = conv_bwd_input(a, w), a transposed convolution: linear in
         * each, with <conv(z, w), a> = <z, y>.  So da = conv(gy, w) and
         * dw = conv_bwd_weight(gy, a), x and gy of conv's swapped.
         * An output_padding of at least the stride (allowed below the
         * dilation) makes conv's output longer than a: its first rows */
        if (a->needs_grad) {
            Node *c = g_conv(g, gy, b, n->attr);
            for (int d = 2; d < 4; d++)
                if (c->shape.d[d] != a->shape.d[d])
                    c = g_narrow(g, c, d, 0, a->shape.d[d]);
            accumulate(gr, a, c);
        }
        if (b->needs_grad)
            accumulate(gr, b, g_conv_bwd(g, OP_CONV_BWD_WEIGHT, gy, a,
                                         n->attr, b->shape));
        break;
    case OP_PADMODE:                /* da[src(i)] += gy[i]: pad's adjoint */
        accumulate(gr, a, g_padmode_bwd(g, gy, n->attr, a->shape));
        break;
    case OP_MAXPOOL:                /* da[first argmax of window] += gy */
        accumulate(gr, a, g_maxpool_bwd(g, a, gy, n->attr));
        break;
    case OP_MODE:                   /* backward follows train mode: */
        accumulate(gr, a, gy);      /* da = gy, nothing to the eval value */
        break;
    case OP_ASSIGN:                 /* side effects and random masks: */
    case OP_DROPOUT:                /* no gradient */
        break;
    }
#undef B
#undef U
}

/* Walks g backwards from `of`, whose gradient is seed; returns the
 * gradient of each node that was in g before the walk (NULL: none). */
static Node **backprop(Graph *g, Node *of, Node *seed)
{
    Grads gr = {g, agc_alloc(sizeof(Node *) * (size_t)g->n)};
    g->phase = 1;
    gr.of[of->id] = seed;
    for (int i = of->id; i >= 0; i--) {
        Node *n = g->nodes[i];
        if (!gr.of[i] || !n->needs_grad)
            continue;
        g->pos = n->pos;
        g->note = n->note ? agc_fmt("grad of %s", n->note) : NULL;
        rule(&gr, n, gr.of[i]);
    }
    return gr.of;
}

/* The VJP of a loop's body, in the loop's own graph: from grad_in, the
 * gradient of the body's value, to the loop variable and the captures. */
static void loop_vjp(LoopDef *L)
{
    Graph *g = L->g;
    g->phase = 1;
    g->pos = L->body->pos;
    L->grad_in = g_arg(g, L->body->shape, ARG_GRAD, 0);
    Node **of = backprop(g, L->body, L->grad_in);
    g->pos = L->pos;
    g->note = agc_fmt("grad of %s: %s", L->name, L->as);
    L->grad_var = of[L->var->id] ? of[L->var->id]
                                 : g_const(g, L->var->shape, 0);
    L->grad_cap = agc_alloc(sizeof(Node *) * (size_t)(L->ncap + 1));
    L->capgrad = agc_alloc(sizeof(Node *) * (size_t)(L->ncap + 1));
    for (int i = 0; i < L->ncap; i++)
        if (L->cap_arg[i]->needs_grad)
            L->grad_cap[i] = of[L->cap_arg[i]->id];
}

void grad_build(Program *p)
{
    Graph *g = p->g;
    Node **of = backprop(g, p->bwd_of, p->seed);
    for (int i = 0; i < p->ndecls; i++) {
        Node *leaf = p->leaves[i];
        if (!leaf || !p->decls[i].requires_grad)
            continue;
        Node *dx = of[leaf->id];
        g->pos = p->decls[i].pos;
        g->note = agc_fmt("%s.grad", p->decls[i].name);
        if (!dx)                    /* not on the path: zeros */
            dx = g_const(g, leaf->shape, 0);
        Tensor *t = program_add_tensor(p, agc_fmt("%s.grad",
                                                  p->decls[i].name),
                                       ROLE_GRAD, dx, p->decls[i].pos);
        t->decl = i;
    }
}

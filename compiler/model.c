/* model.c: section 6, a layer list as sugar.
 *
 * Each layer becomes its parameters (NAME.weight, NAME.bias: leaves that
 * require grad, uniform in +-1/sqrt(fan_in) as PyTorch initialises them)
 * and one call of the matching function, written as an expression tree
 * and lowered like any graph entry, so that it reads in comments as
 * `conv1 = conv1d(x, conv1.weight, conv1.bias, stride=2)`. */
#include "agc.h"

#include <math.h>
#include <string.h>

/* A layer kind: its YAML key, the function it calls, the arguments it
 * takes (those marked '!' required; those marked '-' consumed here, not
 * passed on), and which parameters it has. */
typedef enum { NO_PARAMS, CONV_PARAMS, LINEAR_PARAMS, BN_PARAMS,
               LN_PARAMS, CONVT_PARAMS } Params;

static const struct LayerKind {
    const char *kind, *fn;
    const char *args[10];
    Params params;
    int spatial;                    /* conv: 1 or 2 */
} kinds[] = {
    {"conv1d", "conv1d", {"!-in_channels", "!-out_channels", "!-kernel_size",
     "stride", "padding", "dilation", "groups", "-bias", "padding_mode"},
     CONV_PARAMS, 1},
    {"conv2d", "conv2d", {"!-in_channels", "!-out_channels", "!-kernel_size",
     "stride", "padding", "dilation", "groups", "-bias", "padding_mode"},
     CONV_PARAMS, 2},
    {"convtranspose1d", "conv_transpose1d", {"!-in_channels",
     "!-out_channels", "!-kernel_size", "stride", "padding", "output_padding",
     "groups", "-bias", "dilation"}, CONVT_PARAMS, 1},
    {"convtranspose2d", "conv_transpose2d", {"!-in_channels",
     "!-out_channels", "!-kernel_size", "stride", "padding", "output_padding",
     "groups", "-bias", "dilation"}, CONVT_PARAMS, 2},
    {"linear", "linear", {"!-in_features", "!-out_features", "-bias"},
     LINEAR_PARAMS, 0},
    {"leakyrelu", "leaky_relu", {"negative_slope"}, NO_PARAMS, 0},
    {"maxpool1d", "max_pool1d", {"!kernel_size", "stride", "padding",
     "dilation", "ceil_mode"}, NO_PARAMS, 0},
    {"maxpool2d", "max_pool2d", {"!kernel_size", "stride", "padding",
     "dilation", "ceil_mode"}, NO_PARAMS, 0},
    {"avgpool1d", "avg_pool1d", {"!kernel_size", "stride", "padding",
     "ceil_mode", "count_include_pad"}, NO_PARAMS, 0},
    {"avgpool2d", "avg_pool2d", {"!kernel_size", "stride", "padding",
     "ceil_mode", "count_include_pad"}, NO_PARAMS, 0},
    {"adaptiveavgpool1d", "adaptive_avg_pool1d", {"!output_size"},
     NO_PARAMS, 0},
    {"adaptiveavgpool2d", "adaptive_avg_pool2d", {"!output_size"},
     NO_PARAMS, 0},
    {"flatten", "flatten", {"start_dim", "end_dim"}, NO_PARAMS, 0},
    {"softmax", "softmax", {"!dim"}, NO_PARAMS, 0},
    {"logsoftmax", "log_softmax", {"!dim"}, NO_PARAMS, 0},
    {"batchnorm1d", "batch_norm", {"!-num_features", "eps", "momentum",
     "-affine", "-track_running_stats"}, BN_PARAMS, 1},
    {"batchnorm2d", "batch_norm", {"!-num_features", "eps", "momentum",
     "-affine", "-track_running_stats"}, BN_PARAMS, 2},
    {"layernorm", "layer_norm", {"!-normalized_shape", "eps",
     "-elementwise_affine"}, LN_PARAMS, 0},
    {"dropout", "dropout", {"p"}, NO_PARAMS, 0},
};

/* The layers above, then the activation layers of ops.def, which take
 * the function's constant parameters as arguments. */
static const struct LayerKind *kind_of(const Layer *l)
{
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        if (!strcmp(kinds[i].kind, l->kind))
            return &kinds[i];
    for (int op = 0; op < OP_LAST; op++)
        if (op_info[op].layer && !strcmp(op_info[op].layer, l->kind)) {
            struct LayerKind *k = agc_alloc(sizeof *k);
            const char *names[11], *dflt[10];
            int n = op_params((Op)op, names, dflt, 11);
            k->kind = op_info[op].layer;
            k->fn = op_info[op].name;
            for (int i = 0, j = 0; i < n; i++)
                if (dflt[i])
                    k->args[j++] = names[i];
            return k;
        }
    char *known = "";
    const char **names = agc_alloc(sizeof(char *) *
                                   (sizeof kinds / sizeof *kinds + OP_LAST));
    int n = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        known = agc_fmt("%s%s%s", known, i ? ", " : "", kinds[i].kind);
        names[n++] = kinds[i].kind;
    }
    for (int op = 0; op < OP_LAST; op++)
        if (op_info[op].layer) {
            known = agc_fmt("%s, %s", known, op_info[op].layer);
            names[n++] = op_info[op].layer;
        }
    agc_error(l->pos, "unknown layer '%s' (expected one of: %s)%s", l->kind,
              known, agc_did_you_mean(l->kind, names, n));
}

static const KwVal *arg(const Layer *l, const char *name)
{
    for (int i = 0; i < l->nargs; i++)
        if (!strcmp(l->keys[i], name))
            return &l->vals[i];
    return NULL;
}

/* Checks a layer's arguments against its kind. */
static void check_args(const Layer *l, const struct LayerKind *k)
{
    for (int i = 0; i < l->nargs; i++) {
        int ok = 0;
        for (int j = 0; k->args[j]; j++)
            ok |= !strcmp(l->keys[i], k->args[j] + strspn(k->args[j], "!-"));
        const char *names[10];
        int n = 0;
        for (int j = 0; k->args[j]; j++)
            names[n++] = k->args[j] + strspn(k->args[j], "!-");
        if (!ok)
            agc_error(l->vals[i].pos, "layer '%s' (%s) has no argument "
                      "'%s'%s", l->name, l->kind, l->keys[i],
                      agc_did_you_mean(l->keys[i], names, n));
    }
    for (int j = 0; k->args[j]; j++)
        if (k->args[j][0] == '!' && !arg(l, k->args[j] + strspn(k->args[j],
                                                                "!-")))
            agc_error(l->pos, "layer '%s' (%s) needs '%s'", l->name, l->kind,
                      k->args[j] + strspn(k->args[j], "!-"));
}

static long positive_int(const Layer *l, const char *name)
{
    const KwVal *v = arg(l, name);
    if (v->kind != KW_NUM || v->num[0] != floor(v->num[0]) ||
        v->num[0] < 1 || v->num[0] > AGC_MAX_ELEMS)
        agc_error(v->pos, "layer '%s': %s must be a positive integer",
                  l->name, name);
    return (long)v->num[0];
}

/* A true/false argument, default true when absent. */
static int flag(const Layer *l, const char *name)
{
    const KwVal *v = arg(l, name);
    if (!v)
        return 1;
    if (v->kind == KW_WORD && (!strcmp(v->word, "true") ||
                               !strcmp(v->word, "false")))
        return v->word[0] == 't';
    agc_error(v->pos, "layer '%s': %s must be true or false", l->name, name);
}

/* Whether the layer has a bias (and, for the norm layers, a weight). */
static int has_bias(const Layer *l)
{
    for (int i = 0; i < l->nargs; i++)
        if (!strcmp(l->keys[i], "elementwise_affine") ||
            !strcmp(l->keys[i], "affine"))
            return flag(l, l->keys[i]);
    return flag(l, "bias");
}

static void add_param(Program *p, const Layer *l, const char *what,
                      Shape s, double bound)
{
    Decl *d = AGC_PUSH(p->decls, p->ndecls, p->dcap);
    memset(d, 0, sizeof *d);
    d->name = agc_fmt("%s.%s", l->name, what);
    d->pos = l->pos;
    d->shape = s;
    d->requires_grad = 1;
    d->init = INIT_UNIFORM;
    d->a = -bound;
    d->b = bound;
    if (shape_count(&s) > AGC_MAX_ELEMS / 2)
        agc_error(l->pos, "layer '%s': %s is too large", l->name, what);
}

/* A parameter or buffer of a norm layer, initialised as PyTorch does:
 * ones (weight, running_var) or zeros. */
static Decl *add_state(Program *p, const Layer *l, const char *what,
                       Shape s, InitKind init, int buffer)
{
    Decl *d = AGC_PUSH(p->decls, p->ndecls, p->dcap);
    memset(d, 0, sizeof *d);
    d->name = agc_fmt("%s.%s", l->name, what);
    d->pos = l->pos;
    d->shape = s;
    d->requires_grad = !buffer;
    d->init = init;
    d->buffer = buffer;
    return d;
}

/* normalized_shape: an int or a list of positive ints. */
static Shape norm_shape(const Layer *l)
{
    const KwVal *v = arg(l, "normalized_shape");
    Shape s = {0, {0}};
    int n = v->kind == KW_TUPLE ? v->n : 1;
    long total = 1;
    for (int i = 0; i < n; i++) {
        double d = v->num[i];
        if (v->kind == KW_WORD || d != floor(d) || d < 1 ||
            d > AGC_MAX_ELEMS || (total *= (long)d) > AGC_MAX_ELEMS)
            agc_error(v->pos, "layer '%s': normalized_shape must be a "
                      "positive integer or a list of them", l->name);
        s.d[s.rank++] = (long)d;
    }
    return s;
}

void model_declare(Program *p)
{
    Spec *s = p->spec;
    for (int i = 0; i < s->nlayers; i++) {
        const Layer *l = &s->layers[i];
        const struct LayerKind *k = kind_of(l);
        check_args(l, k);
        if (k->params == LINEAR_PARAMS) {
            long in = positive_int(l, "in_features");
            long out = positive_int(l, "out_features");
            double bound = 1 / sqrt((double)in);
            add_param(p, l, "weight", shape_of(2, (long[]){out, in}), bound);
            if (has_bias(l))
                add_param(p, l, "bias", shape_of(1, (long[]){out}), bound);
        } else if (k->params == CONV_PARAMS || k->params == CONVT_PARAMS) {
            long in = positive_int(l, "in_channels");
            long out = positive_int(l, "out_channels");
            /* bounded as the other sizes (1e55 made UBSan's
             * float-to-long check fire) */
            long groups = arg(l, "groups") ? positive_int(l, "groups") : 1;
            if (in % groups || out % groups)
                agc_error(l->pos, "layer '%s': in_channels %ld and "
                          "out_channels %ld must be divisible by groups %ld",
                          l->name, in, out, groups);
            /* a transposed one's weight is [in, out / groups, k...], and
             * its fan_in (torch's, from the weight) out / groups * k... */
            int tr = k->params == CONVT_PARAMS;
            const KwVal *kv = arg(l, "kernel_size");
            Shape w = {2, {tr ? in : out, (tr ? out : in) / groups}};
            long fan_in = w.d[1];
            for (int d = 0; d < k->spatial; d++) {
                int n = kv->kind == KW_TUPLE ? kv->n : 1;
                double v = kv->kind == KW_TUPLE ? kv->num[n == 1 ? 0 : d]
                                                : kv->num[0];
                if (kv->kind == KW_WORD || (n != 1 && n != k->spatial) ||
                    v < 1 || v != floor(v) || v > 4096)
                    agc_error(kv->pos, "layer '%s': kernel_size must be %s",
                              l->name, k->spatial == 1
                                           ? "a positive integer"
                                           : "a positive integer or a pair");
                w.d[w.rank++] = (long)v;
                fan_in *= (long)v;
            }
            double bound = 1 / sqrt((double)fan_in);
            add_param(p, l, "weight", w, bound);
            if (has_bias(l))
                add_param(p, l, "bias", shape_of(1, (long[]){out}), bound);
        } else if (k->params == BN_PARAMS || k->params == LN_PARAMS) {
            Shape s = k->params == LN_PARAMS
                          ? norm_shape(l)
                          : shape_of(1, (long[]){positive_int(
                                l, "num_features")});
            if (has_bias(l)) {
                add_state(p, l, "weight", s, INIT_ONES, 0);
                add_state(p, l, "bias", s, INIT_ZEROS, 0);
            }
            if (k->params == BN_PARAMS && flag(l, "track_running_stats")) {
                Shape s0 = {0, {0}};
                add_state(p, l, "running_mean", s, INIT_ZEROS, 1);
                add_state(p, l, "running_var", s, INIT_ONES, 1);
                add_state(p, l, "num_batches_tracked", s0, INIT_ZEROS,
                          1)->is_int = 1;
            }
        }
    }
}

/* ---- expression trees ---- */

static Expr *mk(ExprKind kind, Pos pos)
{
    Expr *e = agc_alloc(sizeof *e);
    e->kind = kind;
    e->pos = pos;
    return e;
}

static Expr *mk_name(const char *name, Pos pos)
{
    Expr *e = mk(E_NAME, pos);
    e->name = name;
    return e;
}

/* Adds name=value to a call. */
static void mk_kw(Expr *call, const char *name, Expr *value)
{
    call->kwnames[call->nkw] = name;
    call->kwpos[call->nkw] = value->pos;
    call->kwargs[call->nkw++] = value;
}

/* A batchnorm layer's input: [N, C] or [N, C, L] (1d), [N, C, H, W] (2d),
 * with num_features channels. */
static void check_bn_input(Build *b, const Layer *l,
                           const struct LayerKind *k, const char *prev,
                           Pos prev_pos)
{
    Node *x = build_expr(b, mk_name(prev, prev_pos));
    int r = x->shape.rank;
    if (k->spatial == 1 ? r != 2 && r != 3 : r != 4)
        agc_error(l->pos, "layer '%s' (%s): expected a %s input, not %s",
                  l->name, l->kind, k->spatial == 1 ? "2-D [N, C] or 3-D "
                  "[N, C, L]" : "4-D [N, C, H, W]", shape_str(&x->shape));
    long c = positive_int(l, "num_features");
    if (x->shape.d[1] != c)
        agc_error(arg(l, "num_features")->pos, "layer '%s': num_features "
                  "%ld does not match the %ld channels of its input %s",
                  l->name, c, x->shape.d[1], shape_str(&x->shape));
}

static Expr *mk_const(const KwVal *v)
{
    if (v->kind == KW_WORD)
        return mk_name(v->word, v->pos);
    if (v->kind == KW_NUM) {
        Expr *e = mk(E_NUM, v->pos);
        e->num = v->num[0];
        return e;
    }
    Expr *t = mk(E_TUPLE, v->pos);
    t->nargs = v->n;
    t->args = agc_alloc(sizeof(Expr *) * (size_t)(v->n ? v->n : 1));
    for (int i = 0; i < v->n; i++) {
        t->args[i] = mk(E_NUM, v->pos);
        t->args[i]->num = v->num[i];
    }
    return t;
}

void model_build(Build *b, Program *p)
{
    Spec *s = p->spec;
    Graph *g = p->g;
    const char *prev = s->model_input;
    Pos prev_pos = s->model_input_pos;
    for (int i = 0; i < s->nlayers; i++) {
        const Layer *l = &s->layers[i];
        const struct LayerKind *k = kind_of(l);
        Expr *call = mk(E_CALL, l->pos);
        call->name = k->fn;
        call->args = agc_alloc(sizeof(Expr *) * 3);
        call->args[call->nargs++] = mk_name(prev, prev_pos);
        call->kwnames = agc_alloc(sizeof(char *) * 10);
        call->kwpos = agc_alloc(sizeof(Pos) * 10);
        call->kwargs = agc_alloc(sizeof(Expr *) * 10);
        if (k->params == BN_PARAMS) {
            check_bn_input(b, l, k, prev, prev_pos);
            static const char *const state[] = {
                "weight", "bias", "running_mean", "running_var",
                "num_batches_tracked"};
            for (int j = 0; j < 5; j++)
                if (j < 2 ? has_bias(l) : flag(l, "track_running_stats"))
                    mk_kw(call, state[j], mk_name(agc_fmt(
                              "%s.%s", l->name, state[j]), l->pos));
        } else if (k->params == LN_PARAMS && !has_bias(l)) {
            KwVal ns = *arg(l, "normalized_shape");
            mk_kw(call, "normalized_shape", mk_const(&ns));
        } else if (k->params) {
            call->args[call->nargs++] =
                mk_name(agc_fmt("%s.weight", l->name), l->pos);
            if (has_bias(l))
                call->args[call->nargs++] =
                    mk_name(agc_fmt("%s.bias", l->name), l->pos);
        }
        for (int j = 0; k->args[j]; j++) {
            const char *a = k->args[j] + strspn(k->args[j], "!");
            const KwVal *v = arg(l, a);
            if (a[0] == '-' || !v)
                continue;
            call->kwnames[call->nkw] = a;
            call->kwpos[call->nkw] = v->pos;
            call->kwargs[call->nkw++] = mk_const(v);
        }
        if (!strcmp(k->kind, "flatten") && !arg(l, "start_dim")) {
            KwVal one = {KW_NUM, 0, {1}, NULL, l->pos};
            call->kwnames[call->nkw] = "start_dim";  /* as nn.Flatten */
            call->kwpos[call->nkw] = l->pos;
            call->kwargs[call->nkw++] = mk_const(&one);
        }
        g->note = agc_fmt("%s = %s", l->name, expr_excerpt(call));
        build_define(b, l->name, build_expr(b, call), l->pos);
        prev = l->name;
        prev_pos = l->pos;
    }

}

/* optim.c: the optimizer (spec section 12).  The spec's `optimizer:`
 * checked into an Optim with torch.optim's defaults and its argument
 * errors, and the C of one step, NAME_step, for emit.c: the update rules
 * of torch.optim 1.13's single-tensor SGD, Adam and AdamW, operation for
 * operation, in the code's own float type. */
#include "agc.h"

#include <math.h>
#include <string.h>

/* The arguments each optimizer takes, with torch.optim's defaults; NAN:
 * required (SGD's lr). */
static const struct {
    const char *kind;
    const char *keys[7];
    double defaults[7];
} kinds[] = {
    [OPT_SGD] = {"sgd", {"lr", "momentum", "dampening", "nesterov",
                         "weight_decay"}, {NAN, 0, 0, 0, 0}},
    [OPT_ADAM] = {"adam", {"lr", "betas", "eps", "weight_decay", "amsgrad"},
                  {1e-3, 0, 1e-8, 0, 0}},
    [OPT_ADAMW] = {"adamw", {"lr", "betas", "eps", "weight_decay", "amsgrad"},
                   {1e-3, 0, 1e-8, 1e-2, 0}},
};

static double number_arg(const KwVal *v, const char *key)
{
    if (v->kind != KW_NUM)
        agc_error(v->pos, "optimizer argument '%s' wants a number", key);
    return v->num[0];
}

static int bool_arg(const KwVal *v, const char *key)
{
    if (v->kind != KW_WORD || (strcmp(v->word, "true") &&
                               strcmp(v->word, "false")))
        agc_error(v->pos, "optimizer argument '%s' wants true or false", key);
    return !strcmp(v->word, "true");
}

Optim *optim_parse(Program *p)
{
    Spec *s = p->spec;
    if (!s->has_optimizer)
        return NULL;
    const Layer *l = &s->optimizer;
    Optim *o = agc_alloc(sizeof *o);
    o->pos = l->pos;
    int k = 0;
    while (k < 3 && strcmp(kinds[k].kind, l->kind))
        k++;
    if (k == 3)
        agc_error(l->pos, "unknown optimizer '%s' (expected sgd, adam or "
                  "adamw)", l->kind);
    o->kind = (OptKind)k;
    double v[7];
    memcpy(v, kinds[k].defaults, sizeof v);
    o->beta1 = 0.9;
    o->beta2 = 0.999;
    for (int i = 0; i < l->nargs; i++) {
        int j = 0;
        while (kinds[k].keys[j] && strcmp(kinds[k].keys[j], l->keys[i]))
            j++;
        const KwVal *a = &l->vals[i];
        if (!kinds[k].keys[j]) {
            const char *list = kinds[k].keys[0];
            for (int m = 1; kinds[k].keys[m]; m++)
                list = agc_fmt("%s, %s", list, kinds[k].keys[m]);
            agc_error(a->pos, "unknown argument '%s' of optimizer %s "
                      "(expected one of: %s)", l->keys[i], l->kind, list);
        }
        const char *key = l->keys[i];
        if (!strcmp(key, "betas")) {
            if (a->kind != KW_TUPLE || a->n != 2)
                agc_error(a->pos, "optimizer argument 'betas' wants two "
                          "numbers, [beta1, beta2]");
            o->beta1 = a->num[0];
            o->beta2 = a->num[1];
        } else if (!strcmp(key, "nesterov") || !strcmp(key, "amsgrad")) {
            v[j] = bool_arg(a, key);
        } else {
            v[j] = number_arg(a, key);
        }
    }
    if (isnan(v[0]))
        agc_error(l->pos, "optimizer sgd needs 'lr' (torch.optim.SGD has no "
                  "default learning rate)");
    o->lr = v[0];
    if (o->kind == OPT_SGD) {
        o->momentum = v[1];
        o->dampening = v[2];
        o->nesterov = (int)v[3];
        o->weight_decay = v[4];
    } else {
        o->eps = v[2];
        o->weight_decay = v[3];
        o->amsgrad = (int)v[4];
    }
    /* torch.optim's own checks, with its words */
    if (o->lr < 0)
        agc_error(l->pos, "Invalid learning rate: %g", o->lr);
    if (o->eps < 0)
        agc_error(l->pos, "Invalid epsilon value: %g", o->eps);
    if (o->momentum < 0)
        agc_error(l->pos, "Invalid momentum value: %g", o->momentum);
    if (o->weight_decay < 0)
        agc_error(l->pos, "Invalid weight_decay value: %g", o->weight_decay);
    if (o->kind != OPT_SGD && !(o->beta1 >= 0 && o->beta1 < 1))
        agc_error(l->pos, "Invalid beta parameter at index 0: %g", o->beta1);
    if (o->kind != OPT_SGD && !(o->beta2 >= 0 && o->beta2 < 1))
        agc_error(l->pos, "Invalid beta parameter at index 1: %g", o->beta2);
    if (o->nesterov && (o->momentum <= 0 || o->dampening != 0))
        agc_error(l->pos, "Nesterov momentum requires a momentum and zero "
                  "dampening");
    if (!p->bwd_of || shape_count(&p->bwd_of->shape) != 1 ||
        p->bwd_of->shape.rank != 0)
        agc_error(l->pos, "an optimizer needs 'backward:' of a scalar (a "
                  "loss) to step from");
    return o;
}

int optim_state(const Optim *o, const char **names)
{
    int n = 0;
    if (o->kind == OPT_SGD && o->momentum != 0)
        names[n++] = "momentum_buffer";
    if (o->kind != OPT_SGD) {
        names[n++] = "exp_avg";
        names[n++] = "exp_avg_sq";
        if (o->amsgrad)
            names[n++] = "max_exp_avg_sq";
    }
    return n;
}

/* A constant of the code's type, as C: 0.1f, 0.999. */
static const char *num(int f32, double v)
{
    char buf[64];
    snprintf(buf, sizeof buf, f32 ? "%.9g" : "%.17g", v);
    if (!strpbrk(buf, ".en"))
        strcat(buf, ".0");
    return agc_fmt("%s%s", buf, f32 ? "f" : "");
}

const char *optim_describe(const Optim *o)
{
    if (o->kind == OPT_SGD)
        return agc_fmt("sgd(lr=%g, momentum=%g, dampening=%g, nesterov=%s, "
                       "weight_decay=%g)", o->lr, o->momentum, o->dampening,
                       o->nesterov ? "True" : "False", o->weight_decay);
    return agc_fmt("%s(lr=%g, betas=(%g, %g), eps=%g, weight_decay=%g, "
                   "amsgrad=%s)", o->kind == OPT_ADAM ? "adam" : "adamw",
                   o->lr, o->beta1, o->beta2, o->eps, o->weight_decay,
                   o->amsgrad ? "True" : "False");
}

void optim_emit(const Optim *o, Out *out, const OptimParam *ps, int n,
                const char *T, int f32, const char *lr, const char *step)
{
    const char *sqrt_ = f32 ? "sqrtf" : "sqrt", *pow_ = f32 ? "powf" : "pow";
    put(out, "%s[0] += 1;\n", step);
    if (o->kind != OPT_SGD) {
        /* bias corrections: 1 - beta^t */
        put(out, "const %s t = (%s)%s[0];\n", T, T, step);
        put(out, "const %s step_size = %s / (1 - %s(%s, t));\n", T, lr, pow_,
            num(f32, o->beta1));
        put(out, "const %s bias_correction2_sqrt = %s(1 - %s(%s, t));\n", T,
            sqrt_, pow_, num(f32, o->beta2));
    }
    if (o->kind == OPT_ADAMW)
        put(out, "const %s decay = 1 - %s * %s;\n", T, lr,
            num(f32, o->weight_decay));
    for (int i = 0; i < n; i++) {
        const OptimParam *q = &ps[i];
        put(out, "\n/* %s */\n", q->name);
        put(out, "for (long i = 0; i < %ld; i++) {\n", q->count);
        out->indent++;
        const char *p = agc_fmt("%s[i]", q->param);
        put(out, "%s g = %s[i];\n", T, q->grad);
        if (o->weight_decay != 0 && o->kind != OPT_ADAMW)
            put(out, "g = g + %s * %s;\n", num(f32, o->weight_decay), p);
        if (o->kind == OPT_SGD) {
            if (o->momentum != 0) {
                const char *b = agc_fmt("%s[i]", q->state[0]);
                put(out, "%s = %s[0] == 1 ? g : %s * %s + %s * g;\n", b, step,
                    b, num(f32, o->momentum), num(f32, 1 - o->dampening));
                if (o->nesterov)
                    put(out, "g = g + %s * %s;\n", num(f32, o->momentum), b);
                else
                    put(out, "g = %s;\n", b);
            }
            put(out, "%s = %s + -%s * g;\n", p, p, lr);
        } else {
            const char *m1 = agc_fmt("%s[i]", q->state[0]);
            const char *m2 = agc_fmt("%s[i]", q->state[1]);
            if (o->kind == OPT_ADAMW)
                put(out, "%s = %s * decay;\n", p, p);
            put(out, "%s = %s * %s + %s * g;\n", m1, m1, num(f32, o->beta1),
                num(f32, 1 - o->beta1));
            put(out, "%s = %s * %s + %s * g * g;\n", m2, m2,
                num(f32, o->beta2), num(f32, 1 - o->beta2));
            const char *v = m2;
            if (o->amsgrad) {
                v = agc_fmt("%s[i]", q->state[2]);
                put(out, "if (%s > %s || %s != %s)\n    %s = %s;\n", m2, v, m2,
                    m2, v, m2);
            }
            put(out, "%s = %s + -step_size * (%s / (%s(%s) / "
                "bias_correction2_sqrt + %s));\n", p, p, m1, sqrt_, v,
                num(f32, o->eps));
        }
        out->indent--;
        put(out, "}\n");
    }
}

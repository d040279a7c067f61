/* spec.c: loads a YAML spec into a Spec (the only file that includes
 * <yaml.h>).
 *
 * Two passes over the text: the event stream first, to reject what the
 * document API would resolve without a word (anchors, aliases, a second
 * document), then yaml_parser_load and a walk over the nodes.  As in
 * netplan's parser, each mapping has a table of key handlers; generic
 * handlers store into a field at an offset, an unknown key is an error at
 * the key naming the allowed ones, a missing required key an error at the
 * mapping.
 *
 * libyaml's parser and document live in statics, and spec_load arms its own
 * jmp_buf so that both are freed when agc_error longjmps out of the walk.
 */
#include "agc.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

static yaml_parser_t parser;
static int parser_live;
static yaml_document_t doc;
static int doc_live;
static const char *path;            /* the spec file, for positions */
static const char *text;            /* its contents */
static size_t text_len;
static Spec *S;                     /* the spec being loaded */

/* ---- nodes and positions ---- */

/* Moves *p, the position of text[*r], on to text[to]: columns count
 * characters, as libyaml's do. */
static void advance(Pos *p, size_t *r, size_t to)
{
    for (; *r < to && *r < text_len; (*r)++) {
        if (text[*r] == '\n')
            p->line++, p->col = 1;
        else if (((unsigned char)text[*r] & 0xC0) != 0x80)
            p->col++;
    }
}

/* The end of the file: just past its last character that is not a line
 * break (libyaml puts it on a line of its own, past the last one). */
static Pos end_pos(void)
{
    size_t n = text_len, r = 0;
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        n--;
    Pos p = {path, 1, 1};
    advance(&p, &r, n);
    return p;
}

static Pos mark_pos(yaml_mark_t m)
{
    if (m.index >= text_len)
        return end_pos();
    Pos p = {path, (int)m.line + 1, (int)m.column + 1};
    return p;
}

static Pos pos_of(yaml_node_t *n) { return mark_pos(n->start_mark); }
static yaml_node_t *node(int i) { return yaml_document_get_node(&doc, i); }

static int seq_len(yaml_node_t *n)
{
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

static yaml_node_t *seq_at(yaml_node_t *n, int i)
{
    return node(n->data.sequence.items.start[i]);
}

static int map_len(yaml_node_t *n)
{
    return (int)(n->data.mapping.pairs.top - n->data.mapping.pairs.start);
}

#define FOR_PAIRS(p, n)                                                       \
    for (yaml_node_pair_t *p = (n)->data.mapping.pairs.start;                 \
         p < (n)->data.mapping.pairs.top; p++)

static int is_plain(yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE &&
           n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

/* The text of a scalar node (libyaml keeps it NUL-terminated). */
static const char *str(yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length)
        agc_error(pos_of(n), "unexpected NUL character in '%s'", s);
    return s;
}

/* What a node is, for "found ..." in messages. */
static const char *describe(yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE)
        return n->type == YAML_SEQUENCE_NODE ? "a list" : "a mapping";
    if (is_plain(n) && n->data.scalar.length == 0)
        return "nothing";
    const char *s = (const char *)n->data.scalar.value;
    const char *q = is_plain(n) ? "" : "the quoted string ";
    if (n->data.scalar.length > 40)
        return agc_fmt("%s'%.37s...'", q, s);
    return agc_fmt("%s'%s'", q, s);
}

static void expect(yaml_node_t *n, yaml_node_type_t t, const char *what)
{
    if (n->type != t)
        agc_error(pos_of(n), "expected %s for %s%s, found %s",
                  t == YAML_MAPPING_NODE ? "a mapping" :
                  t == YAML_SEQUENCE_NODE ? "a list" : "a single value",
                  what, t == YAML_MAPPING_NODE ? " (check indentation)" : "",
                  describe(n));
}

/* A name that must be a valid identifier for generated C; what is "input",
 * "node"... */
static const char *name_of(yaml_node_t *n, const char *what)
{
    const char *why;
    if (n->type != YAML_SCALAR_NODE)
        agc_error(pos_of(n), "expected the %s name, found %s", what,
                  describe(n));
    if (!agc_valid_name(str(n), &why))
        agc_error(pos_of(n), "%s name '%s' is not a valid identifier: it %s",
                  what, str(n), why);
    return agc_strdup(str(n));
}

/* Where the text of a scalar starts: past the quote of a quoted scalar, on
 * the first non-blank line after the indicator of a block scalar. */
static Pos text_pos(yaml_node_t *n)
{
    Pos p = pos_of(n);
    yaml_scalar_style_t st = n->data.scalar.style;
    if (st == YAML_SINGLE_QUOTED_SCALAR_STYLE ||
        st == YAML_DOUBLE_QUOTED_SCALAR_STYLE)
        p.col++;
    if ((st != YAML_LITERAL_SCALAR_STYLE && st != YAML_FOLDED_SCALAR_STYLE) ||
        n->data.scalar.length == 0)
        return p;
    size_t i = 0;
    int line = 1;
    while (i < text_len && line < p.line)
        if (text[i++] == '\n')
            line++;
    while (i < text_len && text[i] != '\n')     /* the indicator's line */
        i++;
    while (i < text_len) {
        int col = 1;
        for (i++, line++; i < text_len && text[i] == ' '; i++)
            col++;
        if (i < text_len && text[i] != '\n' && text[i] != '\r') {
            p.line = line, p.col = col;
            break;
        }
        while (i < text_len && text[i] != '\n')
            i++;
    }
    return p;
}

/* Where each character of scalar n's value v sits in the file, and its
 * end, when v is not the file's text as is: lines folded into spaces, the
 * indentation of a block scalar, escapes and '' in quotes.  NULL when it
 * is: then text_pos and an offset say where. */
static const Pos *value_map(yaml_node_t *n, const char *v, size_t len)
{
    yaml_scalar_style_t st = n->data.scalar.style;
    int dq = st == YAML_DOUBLE_QUOTED_SCALAR_STYLE;
    int sq = st == YAML_SINGLE_QUOTED_SCALAR_STYLE;
    size_t r = n->start_mark.index, end = n->end_mark.index;
    if (end > text_len)
        end = text_len;
    if (r >= end)
        return NULL;
    if (dq || sq)
        r++;
    if (st == YAML_LITERAL_SCALAR_STYLE || st == YAML_FOLDED_SCALAR_STYLE)
        for (; r < end && text[r++] != '\n';)  /* the indicator's line */
            ;
    else if (r + len <= end && !memcmp(text + r, v, len) &&
             !memchr(v, '\n', len))
        return NULL;
    Pos *map = agc_alloc(sizeof(Pos) * (len + 1)), p = mark_pos(
        n->start_mark);
    size_t at = n->start_mark.index;
    for (size_t i = 0; i < len; i++) {
        for (;;) {                  /* what makes no character of v */
            if (r >= end || text[r] == v[i] || (dq && text[r] == '\\' &&
                r + 1 < end && text[r + 1] != '\n' && text[r + 1] != '\r'))
                break;
            if (dq && text[r] == '\\')
                r++;                /* an escaped line break */
            else if (strchr(" \t\r\n", text[r]))
                r++;                /* indentation, a folded line break */
            else
                break;
        }
        advance(&p, &at, r);
        map[i] = p;
        if (r >= end)
            continue;
        if (dq && text[r] == '\\')
            r += text[r + 1] == 'x' ? 4 : text[r + 1] == 'u' ? 6
               : text[r + 1] == 'U' ? 10 : 2;
        else if (sq && text[r] == '\'')
            r += 2;                 /* '' */
        else if (text[r] == v[i])
            r++;
        /* else a space v folded from a line break: no character of its own */
    }
    size_t k = len;                 /* the end: past the last visible one */
    while (k > 0 && strchr(" \t\r\n", v[k - 1]))
        k--;
    map[len] = k ? pos_at(map[k - 1], 1) : (len ? map[0] : text_pos(n));
    return map;
}

/* An expression string. */
static Src src_of(yaml_node_t *n, const char *what)
{
    Src s;
    expect(n, YAML_SCALAR_NODE, what);
    s.text = agc_strdup(str(n));
    s.pos = text_pos(n);
    s.map = value_map(n, s.text, n->data.scalar.length);
    size_t first = strspn(s.text, " \t\r\n");
    if (s.map && s.text[first])
        s.pos = s.map[first];
    if (!*s.text)
        agc_error(pos_of(n), "expected an expression for %s, found nothing",
                  what);
    return s;
}

/* ---- numbers ---- */

/* int -> [+-]? digits
 * num -> [+-]? (digits ('.' digits?)? | '.' digits) ([eE] [+-]? digits)? */
static int is_number(const char *s, int frac)
{
    int digits = 0;
    if (*s == '+' || *s == '-')
        s++;
    for (; *s >= '0' && *s <= '9'; s++)
        digits++;
    if (!frac)
        return digits && !*s;
    if (*s == '.')
        for (s++; *s >= '0' && *s <= '9'; s++)
            digits++;
    if (!digits)
        return 0;
    if (*s == 'e' || *s == 'E') {
        s += s[1] == '+' || s[1] == '-' ? 2 : 1;
        if (!(*s >= '0' && *s <= '9'))
            return 0;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return !*s;
}

/* A number; a tensor value of a float32 spec must also fit a float. */
static double number(yaml_node_t *n, const char *what, int is_value)
{
    if (!is_plain(n) || !is_number(str(n), 1))
        agc_error(pos_of(n), "expected a number for %s, found %s", what,
                  describe(n));
    errno = 0;
    double v = strtod(str(n), NULL);
    if (errno == ERANGE && (v > 1 || v < -1))
        agc_error(pos_of(n), "number '%s' is out of range", str(n));
    if (is_value && S->dtype == DT_F32 && (v > FLT_MAX || v < -FLT_MAX))
        agc_error(pos_of(n), "number '%s' is out of range for float32",
                  str(n));
    return v;
}

static long integer(yaml_node_t *n, const char *what)
{
    if (!is_plain(n) || !is_number(str(n), 0))
        agc_error(pos_of(n), "expected an integer for %s, found %s", what,
                  describe(n));
    errno = 0;
    long v = strtol(str(n), NULL, 10);
    if (errno == ERANGE)
        agc_error(pos_of(n), "integer '%s' is out of range", str(n));
    return v;
}

static int is_word(const char *s);

/* The size a dims name stands for, or 0. */
static long dim_value(yaml_node_t *n)
{
    for (int i = 0; is_plain(n) && i < S->ndims; i++)
        if (!strcmp(str(n), S->dim_names[i]))
            return S->dim_vals[i];
    return 0;
}

static long positive(yaml_node_t *n, const char *what)
{
    if (dim_value(n))
        return dim_value(n);
    if (is_plain(n) && is_word(str(n)))
        agc_error(pos_of(n), "%s must be a positive integer or a name in "
                  "'dims', found '%s'%s", what, str(n),
                  S->ndims ? "" : " (the spec has no 'dims')");
    if (!is_plain(n) || !is_number(str(n), 0) || str(n)[0] == '-' ||
        integer(n, what) == 0)
        agc_error(pos_of(n), "%s must be a positive integer, found %s", what,
                  describe(n));
    return integer(n, what);
}

/* YAML 1.1 booleans: 1 true, 0 false, -1 neither. */
static int bool_word(yaml_node_t *n)
{
    static const char *const words[] = {
        "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF",
        "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    for (int i = 0; is_plain(n) && i < 18; i++)
        if (strcmp(str(n), words[i]) == 0)
            return i >= 9;
    return -1;
}

/* ---- shapes and literals ---- */

static const char *dims_str(Shape sh)
{
    char *s = "[";
    for (int i = 0; i < sh.rank; i++)
        s = agc_fmt("%s%s%ld", s, i ? ", " : "", sh.d[i]);
    return agc_fmt("%s]", s);
}

/* shape -> '[' (positive integer ',')* ']' */
static Shape parse_shape(yaml_node_t *n, const char *what)
{
    Shape sh = {0};
    long count = 1;
    expect(n, YAML_SEQUENCE_NODE, what);
    for (int i = 0; i < seq_len(n); i++) {
        if (i == AGC_MAX_RANK)
            agc_error(pos_of(seq_at(n, i)), "%s has more than %d dimensions",
                      what, AGC_MAX_RANK);
        sh.d[sh.rank++] =
            positive(seq_at(n, i), agc_fmt("each dimension of %s", what));
    }
    for (int i = 0; i < sh.rank; i++) {
        if (sh.d[i] > LONG_MAX / count)
            agc_error(pos_of(n), "shape %s has more than %ld elements, more "
                      "than the limit of %ld", dims_str(sh), LONG_MAX,
                      AGC_MAX_ELEMS);
        count *= sh.d[i];
    }
    if (count > AGC_MAX_ELEMS)
        agc_error(pos_of(n), "shape %s has %ld elements, more than the limit "
                  "of %ld", dims_str(sh), count, AGC_MAX_ELEMS);
    return sh;
}

/* Checks that n has the literal's shape from depth on; counts the numbers
 * in *k and stores them when lit->v is set. */
static void fill(yaml_node_t *n, Literal *lit, int depth, long *k,
                 const char *what)
{
    if (depth == lit->shape.rank) {
        if (n->type == YAML_SEQUENCE_NODE)
            agc_error(pos_of(n), "ragged list in %s: expected a number, "
                      "found a list", what);
        double x = number(n, what, 1);
        if (lit->v)
            lit->v[*k] = x;
        (*k)++;
        return;
    }
    long want = lit->shape.d[depth];
    if (n->type != YAML_SEQUENCE_NODE)
        agc_error(pos_of(n), "ragged list in %s: expected a list of %ld, "
                  "found %s", what, want, describe(n));
    if (seq_len(n) != want)
        agc_error(pos_of(n), "ragged list in %s: expected %ld elements, as "
                  "in the first list at this depth, found %d", what, want,
                  seq_len(n));
    for (int i = 0; i < seq_len(n); i++)
        fill(seq_at(n, i), lit, depth + 1, k, what);
}

/* literal -> number | '[' literal (',' literal)* ']', rectangular.  The
 * shape comes from the first element at each depth; a first fill checks
 * and counts, a second stores. */
static Literal literal(yaml_node_t *n, const char *what)
{
    Literal lit = {{0}, 0, NULL, pos_of(n)};
    long k = 0;
    for (yaml_node_t *m = n; m->type == YAML_SEQUENCE_NODE; m = seq_at(m, 0)) {
        if (lit.shape.rank == AGC_MAX_RANK)
            agc_error(pos_of(m), "%s is nested more than %d deep", what,
                      AGC_MAX_RANK);
        lit.shape.d[lit.shape.rank++] = seq_len(m);
        if (!seq_len(m))
            break;
    }
    fill(n, &lit, 0, &lit.n, what);
    lit.v = agc_alloc((size_t)lit.n * sizeof(double));
    fill(n, &lit, 0, &k, what);
    return lit;
}

/* ---- key handler tables ---- */

typedef struct Key Key;
typedef struct Ctx {                /* what a handler is given */
    const Key *h;                   /* the key's table entry */
    yaml_node_t *key;
    void *obj;                      /* what the mapping fills */
    const char *what;               /* the mapping, for messages */
} Ctx;
typedef void Handler(Ctx *c, yaml_node_t *v);
struct Key {
    const char *key;
    Handler *fn;
    size_t off, pos_off;            /* the fields a generic handler sets */
    const char *desc;               /* h_name: what the name is */
    const char *need;               /* required: what the value is for */
};

#define FIELD(c, off, T) ((T *)(void *)((char *)(c)->obj + (off)))

/* key: expression */
static void h_src(Ctx *c, yaml_node_t *v)
{
    *FIELD(c, c->h->off, Src) =
        src_of(v, agc_fmt("'%s' of %s", c->h->key, c->what));
}

/* key: name */
static void h_name(Ctx *c, yaml_node_t *v)
{
    *FIELD(c, c->h->off, const char *) = name_of(v, c->h->desc);
    *FIELD(c, c->h->pos_off, Pos) = pos_of(v);
}

static yaml_node_pair_t *lookup(yaml_node_t *map, const char *key)
{
    FOR_PAIRS(p, map)
        if (strcmp(str(node(p->key)), key) == 0)
            return p;
    return NULL;
}

/* Calls the handler of each key of mapping n, in order, then checks that
 * the required keys are there. */
static void walk_map(yaml_node_t *n, const char *what, const Key *keys,
                     void *obj)
{
    expect(n, YAML_MAPPING_NODE, what);
    FOR_PAIRS(p, n) {
        Ctx c = {keys, node(p->key), obj, what};
        while (c.h->key && strcmp(c.h->key, str(c.key)) != 0)
            c.h++;
        if (!c.h->key) {
            const char *list = keys->key, *names[32];
            int n = 0;
            for (const Key *h = keys; h->key && n < 32; h++)
                names[n++] = h->key;
            for (const Key *h = keys + 1; h->key; h++)
                list = agc_fmt("%s, %s", list, h->key);
            agc_error(pos_of(c.key), "unknown key '%s' in %s (expected one "
                      "of: %s)%s", str(c.key), what, list,
                      agc_did_you_mean(str(c.key), names, n));
        }
        c.h->fn(&c, node(p->value));
    }
    for (const Key *h = keys; h->key; h++)
        if (h->need && !lookup(n, h->key))
            agc_error(pos_of(n), "%s needs '%s' (%s)", what, h->key, h->need);
}

/* Every mapping key must be a scalar and appear once. */
static void check_keys(void)
{
    for (yaml_node_t *n = doc.nodes.start; n < doc.nodes.top; n++) {
        if (n->type != YAML_MAPPING_NODE)
            continue;
        yaml_node_pair_t *ps = n->data.mapping.pairs.start;
        for (int i = 0; i < map_len(n); i++) {
            yaml_node_t *k = node(ps[i].key);
            if (k->type != YAML_SCALAR_NODE)
                agc_error(pos_of(k), "expected a name as mapping key, found "
                          "%s", describe(k));
            for (int j = 0; j < i; j++) {
                yaml_node_t *o = node(ps[j].key);
                if (o->type == YAML_SCALAR_NODE &&
                    o->data.scalar.length == k->data.scalar.length &&
                    memcmp(o->data.scalar.value, k->data.scalar.value,
                           k->data.scalar.length) == 0)
                    agc_error(pos_of(k), "duplicate key '%s'", str(k));
            }
        }
    }
}

/* ---- inputs: NAME -> {shape, requires_grad, value, init} ---- */

static void decl_shape(Ctx *c, yaml_node_t *v)
{
    Decl *d = c->obj;
    d->shape = parse_shape(v, agc_fmt("the shape of %s", c->what));
}

static void decl_requires_grad(Ctx *c, yaml_node_t *v)
{
    Decl *d = c->obj;
    if ((d->requires_grad = bool_word(v)) < 0)
        agc_error(pos_of(v), "expected true or false for 'requires_grad' of "
                  "%s, found %s", c->what, describe(v));
}

static void decl_value(Ctx *c, yaml_node_t *v)
{
    Decl *d = c->obj;
    d->init = INIT_VALUE;
    d->value = literal(v, agc_fmt("the value of %s", c->what));
}

/* uniform: [lo, hi] | normal: [mean, std]; h->off is the InitKind */
static void init_rule(Ctx *c, yaml_node_t *v)
{
    Decl *d = c->obj;
    const char *rule = c->h->key;
    int uniform = c->h->off == INIT_UNIFORM;
    if (d->init == INIT_UNIFORM || d->init == INIT_NORMAL)
        agc_error(pos_of(c->key), "init takes one rule, uniform or normal");
    if (v->type != YAML_SEQUENCE_NODE || seq_len(v) != 2)
        agc_error(pos_of(v), "expected %s: %s (two numbers), found %s", rule,
                  uniform ? "[lo, hi]" : "[mean, std]",
                  v->type == YAML_SEQUENCE_NODE ?
                  agc_fmt("a list of %d", seq_len(v)) : describe(v));
    d->init = (InitKind)c->h->off;
    d->a = number(seq_at(v, 0), rule, 1);
    d->b = number(seq_at(v, 1), rule, 1);
    if (uniform && !(d->a < d->b))
        agc_error(pos_of(v), "uniform needs lo < hi, found [%g, %g]", d->a,
                  d->b);
    if (!uniform && d->b < 0)
        agc_error(pos_of(seq_at(v, 1)), "normal needs std >= 0, found %g",
                  d->b);
}

static const Key init_keys[] = {
    {.key = "uniform", .fn = init_rule, .off = INIT_UNIFORM},
    {.key = "normal", .fn = init_rule, .off = INIT_NORMAL},
    {.key = NULL}};

static void decl_init(Ctx *c, yaml_node_t *v)
{
    static const char *const words[] = {"zeros", "ones", "arange"};
    static const InitKind kinds[] = {INIT_ZEROS, INIT_ONES, INIT_ARANGE};
    if (v->type == YAML_MAPPING_NODE && map_len(v) > 0) {
        walk_map(v, agc_fmt("the init of %s", c->what), init_keys, c->obj);
        return;
    }
    for (int i = 0; i < 3; i++)
        if (v->type == YAML_SCALAR_NODE && strcmp(str(v), words[i]) == 0) {
            ((Decl *)c->obj)->init = kinds[i];
            return;
        }
    agc_error(pos_of(v), "expected zeros, ones, arange, {uniform: [lo, hi]} "
              "or {normal: [mean, std]} for the init of %s, found %s",
              c->what, describe(v));
}

/* dtype: int64 (section 10); the spec's float dtype is the default */
static void decl_dtype(Ctx *c, yaml_node_t *v)
{
    Decl *d = c->obj;
    const char *dt = v->type == YAML_SCALAR_NODE ? str(v) : "";
    if (strcmp(dt, "int64") && strcmp(dt, S->dtype == DT_F64 ? "float64"
                                                             : "float32"))
        agc_error(pos_of(v), "the dtype of %s must be int64 or the spec's "
                  "dtype %s, found %s", c->what,
                  S->dtype == DT_F64 ? "float64" : "float32", describe(v));
    d->is_int = !strcmp(dt, "int64");
}

static const Key decl_keys[] = {
    {.key = "shape", .fn = decl_shape,
     .need = "e.g. shape: [3], or [] for a scalar"},
    {.key = "requires_grad", .fn = decl_requires_grad},
    {.key = "value", .fn = decl_value},
    {.key = "init", .fn = decl_init},
    {.key = "dtype", .fn = decl_dtype},
    {.key = NULL}};

/* The first node where a literal's shape departs from want. */
static yaml_node_t *mismatch_at(yaml_node_t *n, Shape have, Shape want)
{
    for (int i = 0; i < have.rank && i < want.rank &&
                    have.d[i] == want.d[i] && seq_len(n) > 0; i++)
        n = seq_at(n, 0);
    return n;
}

static void decl(yaml_node_t *k, yaml_node_t *v, Decl *d)
{
    d->name = name_of(k, "input");
    d->pos = pos_of(k);
    const char *what = agc_fmt("input '%s'", d->name);
    walk_map(v, what, decl_keys, d);
    yaml_node_pair_t *value = lookup(v, "value"), *init = lookup(v, "init");
    if (value && init)
        agc_error(pos_of(node((value > init ? value : init)->key)),
                  "%s has both 'value' and 'init' (give one)", what);
    Shape have = d->value.shape, want = d->shape;
    int same = have.rank == want.rank;
    for (int i = 0; same && i < want.rank; i++)
        same = have.d[i] == want.d[i];
    if (value && have.rank > 0 && !same)
        agc_error(pos_of(mismatch_at(node(value->value), have, want)),
                  "the value of %s has shape %s, expected %s or a single "
                  "number", what, dims_str(have), dims_str(want));
    if (!d->is_int)
        return;
    /* int64: never requires grad; integer values only */
    yaml_node_pair_t *rg = lookup(v, "requires_grad");
    if (d->requires_grad)
        agc_error(pos_of(node(rg->value)), "%s is int64 and cannot require "
                  "grad (PyTorch: only Tensors of floating point dtype can "
                  "require gradients)", what);
    if (init && (d->init == INIT_UNIFORM || d->init == INIT_NORMAL))
        agc_error(pos_of(node(init->value)), "%s is int64: init must be "
                  "zeros, ones, arange or a value of integers, not %s", what,
                  d->init == INIT_UNIFORM ? "uniform" : "normal");
    for (long i = 0; value && i < d->value.n; i++) {
        double x = d->value.v[i];
        if (x != floor(x) || fabs(x) > 9007199254740992.0)
            agc_error(d->value.pos, "%s is int64: its value must be "
                      "integers, found %g", what, x);
    }
}

static void top_inputs(Ctx *c, yaml_node_t *v)
{
    expect(v, YAML_MAPPING_NODE, agc_fmt("'%s'", c->h->key));
    S->decls = agc_alloc((size_t)map_len(v) * sizeof(Decl));
    FOR_PAIRS(p, v)
        decl(node(p->key), node(p->value), &S->decls[S->ndecls++]);
}

/* ---- functions: NAME -> {args, forward, backward} ---- */

static void func_args(Ctx *c, yaml_node_t *v)
{
    FuncDef *f = c->obj;
    expect(v, YAML_SEQUENCE_NODE, agc_fmt("the arguments of %s", c->what));
    f->args = agc_alloc((size_t)seq_len(v) * sizeof *f->args);
    f->arg_pos = agc_alloc((size_t)seq_len(v) * sizeof *f->arg_pos);
    for (int i = 0; i < seq_len(v); i++) {
        yaml_node_t *a = seq_at(v, i);
        const char *s = name_of(a, "argument");
        if (strcmp(s, "out") == 0 || strcmp(s, "grad") == 0)
            agc_error(pos_of(a), "argument name '%s' is reserved (backward "
                      "expressions use 'out' and 'grad')", s);
        for (int j = 0; j < f->nargs; j++)
            if (strcmp(f->args[j], s) == 0)
                agc_error(pos_of(a), "duplicate argument '%s'", s);
        f->arg_pos[f->nargs] = pos_of(a);
        f->args[f->nargs++] = s;
    }
}

/* backward -> ARG: expression; read after the walk, when args are known */
static void func_backward(Ctx *c, yaml_node_t *v)
{
    expect(v, YAML_MAPPING_NODE, agc_fmt("the backward of %s", c->what));
}

static void func_bwd(FuncDef *f, yaml_node_t *v, const char *what)
{
    f->bwd_arg = agc_alloc((size_t)map_len(v) * sizeof *f->bwd_arg);
    f->bwd_pos = agc_alloc((size_t)map_len(v) * sizeof *f->bwd_pos);
    f->bwd = agc_alloc((size_t)map_len(v) * sizeof *f->bwd);
    FOR_PAIRS(p, v) {
        yaml_node_t *k = node(p->key);
        int i = 0;
        while (i < f->nargs && strcmp(f->args[i], str(k)) != 0)
            i++;
        if (i == f->nargs) {
            const char *list = f->nargs ? f->args[0] : "none";
            for (int j = 1; j < f->nargs; j++)
                list = agc_fmt("%s, %s", list, f->args[j]);
            agc_error(pos_of(k), "'%s' is not an argument of %s (arguments: "
                      "%s)", str(k), what, list);
        }
        f->bwd_arg[f->nbwd] = f->args[i];
        f->bwd_pos[f->nbwd] = pos_of(k);
        f->bwd[f->nbwd++] = src_of(node(p->value),
            agc_fmt("the gradient of '%s' in %s", f->args[i], what));
    }
}

static const Key func_keys[] = {
    {.key = "args", .fn = func_args, .need = "a list of argument names"},
    {.key = "forward", .fn = h_src, .off = offsetof(FuncDef, forward),
     .need = "an expression of its arguments"},
    {.key = "backward", .fn = func_backward},
    {.key = NULL}};

static void top_functions(Ctx *c, yaml_node_t *v)
{
    expect(v, YAML_MAPPING_NODE, agc_fmt("'%s'", c->h->key));
    S->funcs = agc_alloc((size_t)map_len(v) * sizeof(FuncDef));
    FOR_PAIRS(p, v) {
        FuncDef *f = &S->funcs[S->nfuncs++];
        f->name = name_of(node(p->key), "function");
        f->pos = pos_of(node(p->key));
        const char *what = agc_fmt("function '%s'", f->name);
        walk_map(node(p->value), what, func_keys, f);
        yaml_node_pair_t *bwd = lookup(node(p->value), "backward");
        if (bwd)
            func_bwd(f, node(bwd->value), what);
    }
}

/* ---- model: {input, layers} ---- */

static int is_word(const char *s)
{
    int ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_';
    for (; ok && *s; s++)
        ok = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
             (*s >= '0' && *s <= '9') || *s == '_';
    return ok;
}

/* kwval -> number | '[' number (',' number)* ']' | word */
static KwVal kwval(yaml_node_t *n, const char *what)
{
    KwVal kv = {KW_NUM, 0, {0}, NULL, pos_of(n)};
    if (n->type == YAML_SEQUENCE_NODE) {
        if (seq_len(n) == 0 || seq_len(n) > AGC_MAX_RANK)
            agc_error(pos_of(n), "expected a list of 1 to %d numbers for %s, "
                      "found a list of %d", AGC_MAX_RANK, what, seq_len(n));
        kv.kind = KW_TUPLE;
        for (int i = 0; i < seq_len(n); i++)
            kv.num[kv.n++] = dim_value(seq_at(n, i))
                                 ? (double)dim_value(seq_at(n, i))
                                 : number(seq_at(n, i), what, 0);
        return kv;
    }
    if (is_plain(n) && is_number(str(n), 1)) {
        kv.num[0] = number(n, what, 0);
        return kv;
    }
    if (dim_value(n)) {
        kv.num[0] = (double)dim_value(n);
        return kv;
    }
    if (n->type != YAML_SCALAR_NODE || !is_word(str(n)))
        agc_error(pos_of(n), "expected a number, a list of numbers or a word "
                  "for %s, found %s", what, describe(n));
    int b = bool_word(n);
    kv.kind = KW_WORD;
    kv.word = b == 1 ? "true" : b == 0 ? "false" : agc_strdup(str(n));
    return kv;
}

/* layer -> KIND | KIND: {ARG: kwval, ...} */
static void layer(yaml_node_t *n, int index, Layer *l)
{
    yaml_node_t *kind = n, *args = NULL;
    yaml_node_pair_t *p =
        n->type == YAML_MAPPING_NODE ? n->data.mapping.pairs.start : NULL;
    if (p && map_len(n) > 1)
        agc_error(pos_of(node(p[1].key)), "a layer is one key, KIND: "
                  "{arguments}; found a second key '%s' (indent the "
                  "arguments under '%s')", str(node(p[1].key)),
                  str(node(p[0].key)));
    if (p && map_len(n) == 1)
        kind = node(p->key), args = node(p->value);
    if (kind->type != YAML_SCALAR_NODE)
        agc_error(pos_of(n), "expected a layer (relu, or KIND: {arguments}), "
                  "found %s", describe(n));
    l->pos = pos_of(n);
    l->kind = name_of(kind, "layer kind");
    l->name = agc_fmt("%s%d", l->kind, index);
    if (args && is_plain(args) && (!*str(args) || !strcmp(str(args), "~") ||
                                   !strcmp(str(args), "null")))
        args = NULL;                /* "- relu:" has no arguments */
    if (args) {
        expect(args, YAML_MAPPING_NODE,
               agc_fmt("the arguments of layer '%s'", l->kind));
        l->keys = agc_alloc((size_t)map_len(args) * sizeof *l->keys);
        l->vals = agc_alloc((size_t)map_len(args) * sizeof *l->vals);
    }
    if (args)
        FOR_PAIRS(a, args) {
            const char *key = str(node(a->key));
            if (strcmp(key, "name") == 0) {
                l->name = name_of(node(a->value), "layer");
                continue;
            }
            l->keys[l->nargs] = agc_strdup(key);
            l->vals[l->nargs++] = kwval(node(a->value),
                agc_fmt("'%s' of layer '%s'", key, l->kind));
        }
    const char *why;
    if (!agc_valid_name(l->name, &why))
        agc_error(l->pos, "layer name '%s' is not a valid identifier: it %s "
                  "(give the layer a name)", l->name, why);
}

static void model_layers(Ctx *c, yaml_node_t *v)
{
    expect(v, YAML_SEQUENCE_NODE, agc_fmt("'layers' of %s", c->what));
    if (seq_len(v) == 0)
        agc_error(pos_of(v), "the model has no layers");
    S->layers = agc_alloc((size_t)seq_len(v) * sizeof(Layer));
    for (int i = 0; i < seq_len(v); i++)
        layer(seq_at(v, i), i, &S->layers[S->nlayers++]);
}

static const Key model_keys[] = {
    {.key = "input", .fn = h_name, .off = offsetof(Spec, model_input),
     .pos_off = offsetof(Spec, model_input_pos), .desc = "model input",
     .need = "the name of the tensor it applies to"},
    {.key = "layers", .fn = model_layers, .need = "a list of layers"},
    {.key = NULL}};

static void top_model(Ctx *c, yaml_node_t *v)
{
    S->has_model = 1;
    S->model_pos = pos_of(c->key);
    walk_map(v, "'model'", model_keys, S);
}

/* ---- graph: NAME -> expression | {loop: {...}} ---- */

static void loop_max_iter(Ctx *c, yaml_node_t *v)
{
    GraphEntry *g = c->obj;
    g->max_iter = positive(v, "max_iter");
    g->max_iter_pos = pos_of(v);
}

static const Key loop_keys[] = {
    {.key = "init", .fn = h_src, .off = offsetof(GraphEntry, init),
     .need = "the value before the first iteration"},
    {.key = "as", .fn = h_name, .off = offsetof(GraphEntry, as),
     .pos_off = offsetof(GraphEntry, as_pos), .desc = "loop variable"},
    {.key = "while", .fn = h_src, .off = offsetof(GraphEntry, cond),
     .need = "the condition tested before each iteration"},
    {.key = "body", .fn = h_src, .off = offsetof(GraphEntry, body),
     .need = "the next value"},
    {.key = "max_iter", .fn = loop_max_iter,
     .need = "a bound on the iterations"},
    {.key = "count", .fn = h_name, .off = offsetof(GraphEntry, count),
     .pos_off = offsetof(GraphEntry, count_pos), .desc = "loop count"},
    {.key = NULL}};

static void entry_loop(Ctx *c, yaml_node_t *v)
{
    GraphEntry *g = c->obj;
    g->is_loop = 1;
    walk_map(v, agc_fmt("loop '%s'", g->name), loop_keys, g);
}

static const Key entry_keys[] = {{.key = "loop", .fn = entry_loop},
                                 {.key = NULL}};

static void top_graph(Ctx *c, yaml_node_t *v)
{
    expect(v, YAML_MAPPING_NODE, agc_fmt("'%s'", c->h->key));
    S->graph = agc_alloc((size_t)map_len(v) * sizeof(GraphEntry));
    FOR_PAIRS(p, v) {
        GraphEntry *g = &S->graph[S->ngraph++];
        yaml_node_t *gv = node(p->value);
        g->as = g->name = name_of(node(p->key), "node");
        g->pos = g->as_pos = pos_of(node(p->key));
        const char *what = agc_fmt("node '%s'", g->name);
        if (gv->type == YAML_SCALAR_NODE)
            g->expr = src_of(gv, what);
        else if (gv->type == YAML_MAPPING_NODE && map_len(gv) > 0)
            walk_map(gv, what, entry_keys, g);
        else
            agc_error(pos_of(gv), "expected an expression or {loop: ...} for "
                      "%s, found %s", what, describe(gv));
    }
}

/* ---- the other top-level keys ---- */

static void top_dtype(Ctx *c, yaml_node_t *v)
{
    (void)c;
    if (v->type != YAML_SCALAR_NODE ||
        (strcmp(str(v), "float32") != 0 && strcmp(str(v), "float64") != 0))
        agc_error(pos_of(v), "dtype must be float32 or float64, found %s",
                  describe(v));
    S->dtype = strcmp(str(v), "float64") == 0 ? DT_F64 : DT_F32;
}

/* dims -> {NAME: positive integer, ...}, then -D's overrides */
static void top_dims(Ctx *c, yaml_node_t *v)
{
    (void)c;
    if (S->dim_names)
        return;                     /* read first, before everything */
    expect(v, YAML_MAPPING_NODE, "'dims'");
    S->dim_names = agc_alloc(sizeof(char *) * (size_t)(map_len(v) + 1));
    S->dim_vals = agc_alloc(sizeof(long) * (size_t)(map_len(v) + 1));
    FOR_PAIRS(p, v) {
        const char *name = name_of(node(p->key), "dimension");
        for (int i = 0; i < S->ndims; i++)
            if (!strcmp(S->dim_names[i], name))
                agc_error(pos_of(node(p->key)), "duplicate dimension '%s'",
                          name);
        S->dim_vals[S->ndims] = positive(node(p->value),
                                         agc_fmt("dimension '%s'", name));
        S->dim_names[S->ndims++] = name;
    }
}

static void apply_defines(void)
{
    for (int k = 0; k < agc_ndefines; k++) {
        int i = 0;
        while (i < S->ndims && strcmp(S->dim_names[i], agc_defines[k].name))
            i++;
        if (i == S->ndims) {
            const char *list = S->ndims ? S->dim_names[0] : NULL;
            for (int j = 1; j < S->ndims; j++)
                list = agc_fmt("%s, %s", list, S->dim_names[j]);
            agc_error(S->pos, "-D %s: the spec has no dimension '%s' (%s)",
                      agc_defines[k].name, agc_defines[k].name,
                      list ? agc_fmt("its dims are: %s", list)
                           : "it has no 'dims'");
        }
        S->dim_vals[i] = agc_defines[k].value;
    }
}

static void top_seed(Ctx *c, yaml_node_t *v)
{
    (void)c;
    S->seed = integer(v, "'seed'");
}

/* outputs -> NAME | '[' NAME (',' NAME)* ']' */
static void top_outputs(Ctx *c, yaml_node_t *v)
{
    int n = v->type == YAML_SEQUENCE_NODE ? seq_len(v) : 1;
    (void)c;
    if (n == 0)
        agc_error(pos_of(v), "'outputs' is empty (leave it out to output "
                  "the last node)");
    S->outputs = agc_alloc((size_t)n * sizeof *S->outputs);
    S->output_pos = agc_alloc((size_t)n * sizeof *S->output_pos);
    for (int i = 0; i < n; i++) {
        yaml_node_t *e = v->type == YAML_SEQUENCE_NODE ? seq_at(v, i) : v;
        S->output_pos[i] = pos_of(e);
        S->outputs[i] = name_of(e, "output");
    }
    S->noutputs = n;
}

static void bwd_grad(Ctx *c, yaml_node_t *v)
{
    (void)c;
    S->bwd_has_grad = 1;
    S->bwd_grad = literal(v, "the backward 'grad'");
}

static const Key bwd_keys[] = {
    {.key = "of", .fn = h_name, .off = offsetof(Spec, bwd_of),
     .pos_off = offsetof(Spec, bwd_pos), .desc = "node",
     .need = "the node to differentiate"},
    {.key = "grad", .fn = bwd_grad},
    {.key = NULL}};

/* backward -> NAME | {of: NAME, grad: literal} */
static void top_backward(Ctx *c, yaml_node_t *v)
{
    S->has_backward = 1;
    if (v->type == YAML_SCALAR_NODE) {
        S->bwd_of = name_of(v, "node");
        S->bwd_pos = pos_of(v);
        return;
    }
    if (v->type != YAML_MAPPING_NODE)
        agc_error(pos_of(v), "expected a node name or {of: NODE, grad: "
                  "[...]} for 'backward', found %s", describe(v));
    walk_map(v, "'backward'", bwd_keys, c->obj);
    S->bwd_runtime = !S->bwd_has_grad;
}

static void top_optimizer(Ctx *c, yaml_node_t *v)
{
    (void)c;
    S->has_optimizer = 1;
    layer(v, 0, &S->optimizer);
    if (S->optimizer.nargs == 0 && v->type != YAML_MAPPING_NODE)
        S->optimizer.pos = pos_of(v);
}

static const Key top_keys[] = {
    {.key = "name", .fn = h_name, .off = offsetof(Spec, name),
     .pos_off = offsetof(Spec, name_pos), .desc = "spec"},
    {.key = "dtype", .fn = top_dtype},
    {.key = "dims", .fn = top_dims},
    {.key = "seed", .fn = top_seed},
    {.key = "inputs", .fn = top_inputs},
    {.key = "functions", .fn = top_functions},
    {.key = "model", .fn = top_model},
    {.key = "graph", .fn = top_graph},
    {.key = "outputs", .fn = top_outputs},
    {.key = "backward", .fn = top_backward},
    {.key = "optimizer", .fn = top_optimizer},
    {.key = NULL}};

/* ---- loading ---- */

/* Reads the spec: a regular file, or standard input when the path is
 * "-" (positions then say <stdin>), at most AGC_MAX_SPEC_BYTES. */
static void read_text(void)
{
    Pos p = {path, 1, 1};
    int from_stdin = !strcmp(path, "<stdin>");
    struct stat st;
    if (!from_stdin && stat(path, &st) == 0 && !S_ISREG(st.st_mode))
        agc_error(p, "cannot read file: not a regular file");
    FILE *f = from_stdin ? stdin : fopen(path, "rb");
    if (!f)
        agc_error(p, "cannot read file: %s", strerror(errno));
    size_t cap = 4096, n = 0, got;
    char *buf = agc_alloc(cap);
    while ((got = fread(buf + n, 1, cap - n, f)) > 0)
        if ((n += got) == cap) {
            if (n > (size_t)AGC_MAX_SPEC_BYTES) {
                if (!from_stdin)
                    fclose(f);
                agc_error(p, "the spec is larger than the limit of %ld "
                          "bytes (16 MiB)", AGC_MAX_SPEC_BYTES);
            }
            buf = agc_grow(buf, cap, 2 * cap);
            cap *= 2;
        }
    int err = ferror(f) ? errno : 0;
    if (!from_stdin)
        fclose(f);
    if (err)
        agc_error(p, "cannot read file: %s", strerror(err));
    if (n > (size_t)AGC_MAX_SPEC_BYTES)
        agc_error(p, "the spec is larger than the limit of %ld bytes "
                  "(16 MiB)", AGC_MAX_SPEC_BYTES);
    if (from_stdin && n == 0)
        agc_error(p, "standard input is empty: expected a spec");
    text = buf;
    text_len = n;
}

/* Reports libyaml's error at its position. */
static AGC_NORETURN void yaml_fail(void)
{
    Pos p = mark_pos(parser.problem_mark);
    if (parser.error == YAML_READER_ERROR) {   /* only a byte offset */
        p.line = p.col = 1;
        for (size_t i = 0; i < parser.problem_offset && i < text_len; i++) {
            if (text[i] == '\n')
                p.line++, p.col = 1;
            else if (((unsigned char)text[i] & 0xC0) != 0x80)
                p.col++;
        }
    }
    const char *problem = parser.problem ? parser.problem : "out of memory";
    if (parser.context)
        agc_error(p, "YAML: %s (%s at line %d)", problem, parser.context,
                  (int)parser.context_mark.line + 1);
    agc_error(p, "YAML: %s", problem);
}

static void parser_start(void)
{
    yaml_parser_initialize(&parser);
    parser_live = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text,
                                 text_len);
}

/* Pass 1: anchors, aliases and extra documents, which the document API
 * would resolve or skip without a word. */
static void scan_events(void)
{
    int docs = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            yaml_fail();
        yaml_event_type_t t = ev.type;
        Pos p = mark_pos(ev.start_mark);
        int anchored =
            (t == YAML_SCALAR_EVENT && ev.data.scalar.anchor) ||
            (t == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor) ||
            (t == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor);
        yaml_event_delete(&ev);
        if (t == YAML_ALIAS_EVENT || anchored)
            agc_error(p, "YAML anchors and aliases are not supported");
        if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1)
            agc_error(p, "expected one YAML document, found a second one");
        if (t == YAML_STREAM_END_EVENT)
            return;
    }
}

static const char *file_stem(void)
{
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && strcmp(base + n - 5, ".yaml") == 0)
        n -= 5;
    else if (n > 4 && strcmp(base + n - 4, ".yml") == 0)
        n -= 4;
    return agc_strndup(base, n);
}

static Spec *load(void)
{
    read_text();
    parser_start();
    scan_events();
    yaml_parser_delete(&parser);
    parser_live = 0;
    parser_start();
    if (!yaml_parser_load(&parser, &doc))
        yaml_fail();
    doc_live = 1;

    S = agc_alloc(sizeof *S);
    S->path = path;
    S->pos.file = path, S->pos.line = S->pos.col = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root)
        agc_error(S->pos, "the spec is empty (expected a mapping with a "
                  "'graph' or a 'model')");
    S->pos = pos_of(root);
    expect(root, YAML_MAPPING_NODE, "the spec");
    check_keys();
    yaml_node_pair_t *dt = lookup(root, "dtype");    /* first: for values */
    if (dt)
        top_dtype(NULL, node(dt->value));
    yaml_node_pair_t *dm = lookup(root, "dims");     /* first: for shapes */
    if (dm)
        top_dims(NULL, node(dm->value));
    apply_defines();
    walk_map(root, "the spec", top_keys, S);
    if (!S->has_model && !S->graph)
        agc_error(S->pos, "the spec needs a 'graph' or a 'model'");
    if (!S->has_model && S->ngraph == 0)
        agc_error(S->pos, "the graph has no nodes");
    if (!S->name && !strcmp(path, "<stdin>"))
        agc_error(S->pos, "a spec read from standard input needs 'name:'");
    const char *why;
    if (S->name && !agc_valid_prefix(S->name, &why))
        agc_error(S->name_pos, "spec name '%s' is not usable: it %s",
                  S->name, why);
    if (!S->name) {
        const char *stem = file_stem();
        if (!agc_valid_prefix(stem, &why))
            agc_error(S->pos, "the file name '%s' is not a valid identifier: "
                      "it %s; set 'name:' in the spec", stem, why);
        S->name = stem;
        S->name_pos = S->pos;
    }
    return S;
}

static void cleanup(void)
{
    if (doc_live)
        yaml_document_delete(&doc);
    if (parser_live)
        yaml_parser_delete(&parser);
    doc_live = parser_live = 0;
    S = NULL;
}

Spec *spec_load(const char *file)
{
    jmp_buf here;
    jmp_buf *saved = agc_error_jmp;
    path = agc_strdup(strcmp(file, "-") ? file : "<stdin>");
    agc_error_jmp = &here;
    if (setjmp(here)) {             /* free libyaml's memory, then re-raise */
        cleanup();
        agc_error_jmp = saved;
        if (!saved) {
            fprintf(stderr, "%s\n", agc_errmsg);
            exit(1);
        }
        longjmp(*saved, 1);
    }
    Spec *s = load();
    cleanup();
    agc_error_jmp = saved;
    return s;
}

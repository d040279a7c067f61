/* expr.c: the expression lexer and parser, and expr_str.
 *
 * Recursive descent, one function per precedence level, reading one token
 * ahead (so the first error in the text is the one reported).  Limits: at
 * most EXPR_MAX_TOKENS tokens and AGC_MAX_DEPTH levels of nesting, counted
 * in unary(), which every recursion (parentheses, calls, signs, powers)
 * passes through.  Chains of binary operators and of .T loop instead,
 * building left-deep trees, and expr_str walks those with loops too. */
#include "agc.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXPR_MAX_TOKENS 10000
#define STR_MAX_DEPTH (8 * AGC_MAX_DEPTH)   /* expr_str prints "..." below */

/* Token kinds: an operator is its ExprOp, other punctuation its character. */
enum { T_NUM = 300, T_NAME, T_EOF };

typedef struct Tok {
    int kind, off, len;             /* off, len: where it is in the text */
    double num;                     /* T_NUM */
} Tok;

typedef struct Parser {
    Src src;
    int off, ntoks;                 /* the lexer's position, tokens read */
    Tok tok;                        /* the current token */
    int depth;                      /* current nesting */
} Parser;

/* Precedence, loosest first, and the binary operators with their text. */
enum { P_CMP = 1, P_ADD, P_MUL, P_UNARY, P_POW, P_POSTFIX, P_PRIMARY };

static const struct {
    int op, prec;
    char text[3];
} binops[] = {
    {X_LT, P_CMP, "<"}, {X_LE, P_CMP, "<="}, {X_GT, P_CMP, ">"},
    {X_GE, P_CMP, ">="}, {X_EQ, P_CMP, "=="}, {X_NE, P_CMP, "!="},
    {X_ADD, P_ADD, "+"}, {X_SUB, P_ADD, "-"}, {X_MUL, P_MUL, "*"},
    {X_DIV, P_MUL, "/"}, {X_MATMUL, P_MUL, "@"}, {X_POW, P_POW, "^"},
    {X_POW, P_POW, "**"},
};

/* The index of a binary operator (or token kind) in binops, or -1. */
static int binop(int op)
{
    for (int i = 0; i < (int)(sizeof binops / sizeof *binops); i++)
        if (binops[i].op == op)
            return i;
    return -1;
}

static Pos at(const Parser *p, int off)
{
    if (p->src.map)
        return p->src.map[off];
    return pos_at(p->src.pos, off);
}

/* Makes room for element n of an arena array, doubling at powers of two.
 * (Not AGC_PUSH: it reads and writes cap unsequenced in one call.) */
static void *reserve(void *v, int n, size_t size)
{
    if (n & (n - 1))
        return v;
    return agc_grow(v, (size_t)n * size, (size_t)(n ? 2 * n : 1) * size);
}

/* ---- lexer ---- */

#define is_digit(c) ((c) >= '0' && (c) <= '9')
#define is_alpha(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') \
                     || (c) == '_')
#define is_alnum(c) (is_alpha(c) || is_digit(c))

/* name  -> ident ('.' ident)*, where no ident after a '.' is just T
 * ident -> [A-Za-z_][A-Za-z0-9_]*, of at most AGC_MAX_NAME characters
 * "conv1.weight" is one name, "x.T" a transpose. */
static int name_len(const Parser *p, int off)
{
    const char *s = p->src.text + off;
    for (int n = 0, start = 0;; start = ++n) {
        while (is_alnum(s[n]))
            n++;
        if (n - start > AGC_MAX_NAME)
            agc_error(at(p, off + start), "name '%.16s...' is longer than "
                      "%d characters", s + start, AGC_MAX_NAME);
        if (s[n] != '.' || !is_alpha(s[n + 1]) ||
            (s[n + 1] == 'T' && !is_alnum(s[n + 2])))
            return n;
    }
}

/* Reads the next token; T_EOF at the end, as often as asked. */
static Tok lex(Parser *p)
{
    const char *c = p->src.text + p->off;
    c += strspn(c, " \t\r\n");
    p->off = (int)(c - p->src.text);
    Tok t = {T_EOF, p->off, 0, 0};
    if (!*c)
        return t;
    if (++p->ntoks > EXPR_MAX_TOKENS)
        agc_error(at(p, t.off), "expression too long (more than %d tokens)",
                  EXPR_MAX_TOKENS);
    if (is_digit(c[0]) || (c[0] == '.' && is_digit(c[1]))) {
        /* 2 2.5 1e-3 .5 as strtod reads them, but not its 0x1p3 */
        char *end;
        t.kind = T_NUM;
        t.num = strtod(c, &end);
        t.len = (int)(end - c);
        if (c[0] == '0' && (c[1] == 'x' || c[1] == 'X'))
            agc_error(at(p, t.off), "hexadecimal numbers are not supported");
        if (isinf(t.num))
            agc_error(at(p, t.off), "number out of range");
    } else if (is_alpha(c[0])) {
        t.kind = T_NAME;
        t.len = name_len(p, t.off);
    } else {
        for (int i = 0; i < (int)(sizeof binops / sizeof *binops); i++)
            if (binops[i].text[1] && c[0] == binops[i].text[0] &&
                c[1] == binops[i].text[1]) {
                t.kind = binops[i].op;      /* <= >= == != ** */
                t.len = 2;
            }
        if (!t.len && strchr("+-*/@^<>(),=.", c[0])) {
            t.kind = c[0];
            t.len = 1;
        }
        if (!t.len)
            agc_error(at(p, t.off), "unexpected character '%s'",
                      c[0] >= ' ' && c[0] <= '~' ? agc_strndup(c, 1) :
                      agc_fmt("\\x%02x", (unsigned char)c[0]));
    }
    p->off += t.len;
    return t;
}

/* ---- parser ---- */

/* Returns the current token and reads the next. */
static Tok next(Parser *p)
{
    Tok t = p->tok;
    p->tok = lex(p);
    return t;
}

static int accept(Parser *p, int kind)
{
    if (p->tok.kind != kind)
        return 0;
    next(p);
    return 1;
}

/* A token for a message: 'text' or "end of input". */
static const char *describe(const Parser *p, Tok t)
{
    return t.kind == T_EOF ? "end of input" :
           agc_fmt("'%.*s'", t.len > 40 ? 40 : t.len, p->src.text + t.off);
}

static void expect_close(Parser *p, Tok open)
{
    if (p->tok.kind != ')')
        agc_error(at(p, p->tok.off), "expected ')' to close '(' at column %d",
                  at(p, open.off).col);
    next(p);
}

/* A node for token t, with operands a and b when not NULL. */
static Expr *new_expr(Parser *p, ExprKind kind, Tok t, Expr *a, Expr *b)
{
    Expr *e = agc_alloc(sizeof *e);
    e->kind = kind;
    e->pos = at(p, t.off);
    e->op = kind == E_UNARY || kind == E_BINARY ? t.kind : 0;
    e->nargs = !!a + !!b;
    e->args = agc_alloc(2 * sizeof *e->args);
    e->args[0] = a;
    e->args[1] = b;
    return e;
}

static void push(Expr ***v, int *n, Expr *a)
{
    *v = reserve(*v, *n, sizeof **v);
    (*v)[(*n)++] = a;
}

static Expr *binary(Parser *p, int prec);
static Expr *unary(Parser *p);

/* call -> NAME '(' (arg (',' arg)* ','?)? ')'
 * arg  -> NAME '=' compare | compare
 * An argument is parsed first: a plain name followed by '=' is a keyword.
 * e is the E_NAME of the function, and becomes the E_CALL. */
static Expr *call(Parser *p, Expr *e)
{
    e->kind = E_CALL;
    Tok open = next(p);
    while (p->tok.kind != ')') {
        Tok t = p->tok;
        Expr *a = binary(p, P_CMP);
        if (a->kind == E_NAME && accept(p, '=')) {
            for (int i = 0; i < e->nkw; i++)
                if (strcmp(e->kwnames[i], a->name) == 0)
                    agc_error(a->pos, "duplicate keyword argument '%s'",
                              a->name);
            e->kwnames = reserve(e->kwnames, e->nkw, sizeof *e->kwnames);
            e->kwpos = reserve(e->kwpos, e->nkw, sizeof *e->kwpos);
            e->kwnames[e->nkw] = a->name;
            e->kwpos[e->nkw] = a->pos;
            push(&e->kwargs, &e->nkw, binary(p, P_CMP));
        } else if (e->nkw) {
            agc_error(at(p, t.off), "positional argument after keyword "
                      "argument");
        } else {
            push(&e->args, &e->nargs, a);
        }
        if (!accept(p, ','))
            break;
    }
    expect_close(p, open);
    return e;
}

/* paren -> '(' ')' | '(' compare ')' | '(' compare (',' compare)* ','? ')'
 * An empty tuple, plain grouping, or a tuple: (a,) has one element. */
static Expr *paren(Parser *p)
{
    Tok open = next(p);
    Expr *e = new_expr(p, E_TUPLE, open, NULL, NULL);
    int comma = 0;
    while (p->tok.kind != ')') {
        push(&e->args, &e->nargs, binary(p, P_CMP));
        if (!accept(p, ','))
            break;
        comma = 1;
    }
    expect_close(p, open);
    return e->nargs == 1 && !comma ? e->args[0] : e;
}

/* primary -> NUM | NAME | call | paren */
static Expr *primary(Parser *p)
{
    if (p->tok.kind == '(')
        return paren(p);
    if (p->tok.kind != T_NUM && p->tok.kind != T_NAME)
        agc_error(at(p, p->tok.off), "expected an expression, found %s",
                  describe(p, p->tok));
    Tok t = next(p);
    Expr *e = new_expr(p, t.kind == T_NUM ? E_NUM : E_NAME, t, NULL, NULL);
    e->num = t.num;
    if (t.kind == T_NAME)
        e->name = agc_strndup(p->src.text + t.off, (size_t)t.len);
    return e->name && p->tok.kind == '(' ? call(p, e) : e;
}

/* postfix -> primary ('.' 'T')* */
static Expr *postfix(Parser *p)
{
    Expr *e = primary(p);
    while (accept(p, '.')) {
        Tok t = p->tok;
        if (t.kind != T_NAME || t.len != 1 || p->src.text[t.off] != 'T')
            agc_error(at(p, t.off), "expected 'T' after '.', found %s",
                      describe(p, t));
        e = new_expr(p, E_TRANSPOSE, next(p), e, NULL);
    }
    return e;
}

/* power -> postfix (('^'|'**') unary)?
 * Right-associative through unary: a^b^c is a^(b^c), and 2^-1 works. */
static Expr *power(Parser *p)
{
    Expr *e = postfix(p);
    if (p->tok.kind != X_POW)
        return e;
    Tok t = next(p);
    return new_expr(p, E_BINARY, t, e, unary(p));
}

/* unary -> ('-'|'+') unary | power
 * A unary '+' is dropped; -x^2 is -(x^2).  The nesting is counted here. */
static Expr *unary(Parser *p)
{
    Expr *e;
    if (++p->depth > AGC_MAX_DEPTH)
        agc_error(at(p, p->tok.off), "expression nested deeper than %d "
                  "levels", AGC_MAX_DEPTH);
    if (p->tok.kind == '-' || p->tok.kind == '+') {
        Tok t = next(p);
        e = unary(p);
        if (t.kind == '-')
            e = new_expr(p, E_UNARY, t, e, NULL);
    } else {
        e = power(p);
    }
    p->depth--;
    return e;
}

/* compare -> add (('<'|'<='|'>'|'>='|'=='|'!=') add)*
 * add     -> mul (('+'|'-') mul)*
 * mul     -> unary (('*'|'/'|'@') unary)*
 * binary(p, P_CMP) parses a compare, P_ADD an add, P_MUL a mul. */
static Expr *binary(Parser *p, int prec)
{
    Expr *e = prec == P_MUL ? unary(p) : binary(p, prec + 1);
    for (int i; (i = binop(p->tok.kind)) >= 0 && binops[i].prec == prec;) {
        Tok t = next(p);
        Expr *r = prec == P_MUL ? unary(p) : binary(p, prec + 1);
        e = new_expr(p, E_BINARY, t, e, r);
    }
    return e;
}

Expr *expr_parse(Src src)
{
    Parser p = {.src = src};
    if (!p.src.text)
        p.src.text = "";
    next(&p);
    if (p.tok.kind == T_EOF)
        agc_error(src.pos, "empty expression");
    Expr *e = binary(&p, P_CMP);
    if (p.tok.kind != T_EOF)
        agc_error(at(&p, p.tok.off), "unexpected %s after the end of the "
                  "expression", describe(&p, p.tok));
    return e;
}

/* ---- expr_str ---- */

typedef struct Buf { char *s; size_t n, cap; } Buf;

static void append(Buf *b, const char *s)
{
    size_t m = strlen(s);
    if (b->n + m + 1 > b->cap) {
        size_t cap = 2 * (b->n + m + 1);
        b->s = agc_grow(b->s, b->cap, cap);
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, m + 1);
    b->n += m;
}

static int prec(const Expr *e)
{
    int i = binop(e->op);
    switch (e->kind) {
    case E_BINARY: return i < 0 ? P_CMP : binops[i].prec;
    case E_UNARY: return P_UNARY;
    case E_TRANSPOSE: return P_POSTFIX;
    case E_NUM: return signbit(e->num) ? P_UNARY : P_PRIMARY;
    default: return P_PRIMARY;
    }
}

static void render(Buf *b, const Expr *e, int depth);

/* Renders e, in parentheses when it binds less tightly than min. */
static void operand(Buf *b, const Expr *e, int min, int depth)
{
    int paren = prec(e) < min;
    append(b, paren ? "(" : "");
    render(b, e, depth + 1);
    append(b, paren ? ")" : "");
}

static void render(Buf *b, const Expr *e, int depth)
{
    if (depth > STR_MAX_DEPTH) {
        append(b, "...");
        return;
    }
    switch (e->kind) {
    case E_NUM:
        append(b, agc_fmt("%g", e->num));
        break;
    case E_NAME:
        append(b, e->name);
        break;
    case E_UNARY:                   /* -(-x), -(a * b), but -x^2 */
        append(b, "-");
        operand(b, e->args[0], P_POW, depth);
        break;
    case E_BINARY: {
        int p = prec(e);
        if (p == P_POW) {           /* (a^b)^c, (-a)^b, a^b^c, a^-b */
            operand(b, e->args[0], P_POSTFIX, depth);
            append(b, "^");
            operand(b, e->args[1], P_UNARY, depth);
            break;
        }
        /* A left-deep chain of one level (a + b - c...) has no depth limit
         * in the parser: collect its spine and print it with a loop. */
        const Expr **spine = NULL, *l;
        int n = 0;
        for (l = e; l->kind == E_BINARY && prec(l) == p; l = l->args[0]) {
            spine = reserve(spine, n, sizeof *spine);
            spine[n++] = l;
        }
        operand(b, l, p, depth);
        while (n--) {
            int i = binop(spine[n]->op);
            append(b, agc_fmt(" %s ", i < 0 ? "?" : binops[i].text));
            operand(b, spine[n]->args[1], p + 1, depth);
        }
        break;
    }
    case E_TRANSPOSE: {             /* x.T.T... with a loop, as parsed */
        int n = 0;
        for (; e->kind == E_TRANSPOSE; e = e->args[0])
            n++;
        /* (2).T, since "2.T" would read back as "2." and "T" */
        operand(b, e, e->kind == E_NUM ? P_PRIMARY + 1 : P_POSTFIX, depth);
        while (n--)
            append(b, ".T");
        break;
    }
    case E_CALL:
    case E_TUPLE:
        append(b, e->kind == E_CALL ? agc_fmt("%s(", e->name) : "(");
        for (int i = 0; i < e->nargs + e->nkw; i++) {
            int k = i - e->nargs;       /* keyword k when not negative */
            append(b, i ? ", " : "");
            append(b, k >= 0 ? agc_fmt("%s=", e->kwnames[k]) : "");
            render(b, k >= 0 ? e->kwargs[k] : e->args[i], depth + 1);
        }
        append(b, e->kind == E_TUPLE && e->nargs == 1 ? ",)" : ")");
        break;
    }
}

char *expr_str(const Expr *e)
{
    Buf b = {0};
    append(&b, "");
    if (e)
        render(&b, e, 0);
    return b.s;
}

char *expr_excerpt(const Expr *e)
{
    char *s = expr_str(e);
    if (strlen(s) <= AGC_EXCERPT)
        return s;
    size_t n = AGC_EXCERPT - 3;     /* at a space, when one is near */
    for (size_t i = n; i > AGC_EXCERPT / 2; i--)
        if (s[i] == ' ') {
            n = i;
            break;
        }
    strcpy(s + n, "...");
    return s;
}

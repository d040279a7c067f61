/* test_expr.c: the expression lexer, parser and expr_str (compiler/expr.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agc.h"

static const Pos P0 = {"t.yaml", 1, 1};

/* Parses text at pos with agc_error_jmp armed: the error message, or NULL
 * with the tree in *out. */
static const char *parse_at(const char *text, Pos pos, Expr **out)
{
    jmp_buf jb, *old = agc_error_jmp;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        agc_error_jmp = old;
        return agc_errmsg;
    }
    Src src = {text, pos, NULL};
    Expr *e = expr_parse(src);
    agc_error_jmp = old;
    if (out)
        *out = e;
    return NULL;
}

static Expr *parse(const char *text)
{
    Expr *e = NULL;
    const char *err = parse_at(text, P0, &e);
    if (err)
        fail_msg("parsing \"%s\": %s", text, err);
    return e;
}

/* The error for text, at t.yaml:1:1; fails when it parses. */
static const char *error_of(const char *text)
{
    const char *err = parse_at(text, P0, NULL);
    if (!err)
        fail_msg("\"%s\" parsed, but should not", text);
    return err;
}

static const char *str(const char *text)
{
    return expr_str(parse(text));
}

static const char *xop_name(int op)
{
    switch (op) {
    case X_LE: return "<=";
    case X_GE: return ">=";
    case X_EQ: return "==";
    case X_NE: return "!=";
    default: return agc_fmt("%c", op);
    }
}

/* The tree as an s-expression, every node explicit. */
static char *sx(const Expr *e)
{
    char *s;
    switch (e->kind) {
    case E_NUM: return agc_fmt("%g", e->num);
    case E_NAME: return agc_strdup(e->name);
    case E_UNARY: return agc_fmt("(neg %s)", sx(e->args[0]));
    case E_TRANSPOSE: return agc_fmt("(T %s)", sx(e->args[0]));
    case E_BINARY:
        return agc_fmt("(%s %s %s)", xop_name(e->op), sx(e->args[0]),
                       sx(e->args[1]));
    case E_CALL:
    case E_TUPLE:
        s = e->kind == E_CALL ? agc_fmt("(call %s", e->name) : "(tuple";
        for (int i = 0; i < e->nargs; i++)
            s = agc_fmt("%s %s", s, sx(e->args[i]));
        for (int i = 0; i < e->nkw; i++)
            s = agc_fmt("%s %s=%s", s, e->kwnames[i], sx(e->kwargs[i]));
        return agc_fmt("%s)", s);
    }
    return "?";
}

static const char *tree(const char *text)
{
    return sx(parse(text));
}

static int teardown(void **state)
{
    (void)state;
    agc_arena_free();
    return 0;
}

/* ---- structure ---- */

static void test_expr_precedence(void **state)
{
    (void)state;
    assert_string_equal(tree("a + b * c"), "(+ a (* b c))");
    assert_string_equal(tree("a * b + c"), "(+ (* a b) c)");
    assert_string_equal(tree("(a + b) * c"), "(* (+ a b) c)");
    assert_string_equal(tree("a < b + c"), "(< a (+ b c))");
    assert_string_equal(tree("a + b <= c * d"), "(<= (+ a b) (* c d))");
    assert_string_equal(tree("w @ x + b"), "(+ (@ w x) b)");
    assert_string_equal(tree("a / b @ c"), "(@ (/ a b) c)");
    assert_string_equal(tree("a == b != c"), "(!= (== a b) c)");
    assert_string_equal(tree("a>=b>c"), "(> (>= a b) c)");
    assert_string_equal(tree("x * y ^ 2"), "(* x (^ y 2))");
}

static void test_expr_left_assoc(void **state)
{
    (void)state;
    assert_string_equal(tree("a - b - c"), "(- (- a b) c)");
    assert_string_equal(tree("a - b + c"), "(+ (- a b) c)");
    assert_string_equal(tree("a / b / c"), "(/ (/ a b) c)");
    assert_string_equal(tree("a @ b * c"), "(* (@ a b) c)");
    assert_string_equal(tree("a < b < c"), "(< (< a b) c)");
}

static void test_expr_power_right_assoc(void **state)
{
    (void)state;
    assert_string_equal(tree("a ^ b ^ c"), "(^ a (^ b c))");
    assert_string_equal(tree("a ** b ** c"), "(^ a (^ b c))");
    assert_string_equal(tree("a ** b ^ c"), "(^ a (^ b c))");
    assert_string_equal(tree("(a ^ b) ^ c"), "(^ (^ a b) c)");
    assert_int_equal(parse("a**b")->op, X_POW);
}

static void test_expr_unary_vs_power(void **state)
{
    (void)state;
    assert_string_equal(tree("-x^2"), "(neg (^ x 2))");
    assert_string_equal(tree("-x**2"), "(neg (^ x 2))");
    assert_string_equal(tree("2^-1"), "(^ 2 (neg 1))");
    assert_string_equal(tree("2**-x^2"), "(^ 2 (neg (^ x 2)))");
    assert_string_equal(tree("-x * y"), "(* (neg x) y)");
    assert_string_equal(tree("a - -b"), "(- a (neg b))");
    assert_string_equal(tree("--x"), "(neg (neg x))");
    assert_string_equal(tree("+x"), "x");
    assert_string_equal(tree("-+x"), "(neg x)");
    assert_string_equal(tree("(-x)^2"), "(^ (neg x) 2)");
    Expr *e = parse("-x");
    assert_int_equal(e->kind, E_UNARY);
    assert_int_equal(e->op, '-');
    assert_int_equal(e->nargs, 1);
}

static void test_expr_transpose(void **state)
{
    (void)state;
    assert_string_equal(tree("x.T"), "(T x)");
    assert_string_equal(tree("x.T.T"), "(T (T x))");
    assert_string_equal(tree("(a @ b).T"), "(T (@ a b))");
    assert_string_equal(tree("w.T @ x"), "(@ (T w) x)");
    assert_string_equal(tree("x.T^2"), "(^ (T x) 2)");
    assert_string_equal(tree("-x.T"), "(neg (T x))");
    assert_string_equal(tree("f(x).T"), "(T (call f x))");
    assert_string_equal(tree("x . T"), "(T x)");
    Expr *e = parse("x.T");
    assert_int_equal(e->kind, E_TRANSPOSE);
    assert_int_equal(e->nargs, 1);
    assert_int_equal(e->pos.col, 3);            /* the T */
}

static void test_expr_dotted_names(void **state)
{
    (void)state;
    Expr *e = parse("conv1.weight");
    assert_int_equal(e->kind, E_NAME);
    assert_string_equal(e->name, "conv1.weight");
    assert_string_equal(tree("conv1.weight.T"), "(T conv1.weight)");
    assert_string_equal(tree("a.b.c + d"), "(+ a.b.c d)");
    assert_string_equal(tree("x.Tw"), "x.Tw");
    assert_string_equal(tree("x.T_1"), "x.T_1");
    assert_string_equal(tree("x.T.T"), "(T (T x))");
    assert_string_equal(tree("fc.w @ x.T"), "(@ fc.w (T x))");
    assert_string_equal(tree("_a1"), "_a1");
}

static void test_expr_calls_keywords(void **state)
{
    (void)state;
    Expr *e = parse("sum(x, dim=1, keepdim=true)");
    assert_int_equal(e->kind, E_CALL);
    assert_string_equal(e->name, "sum");
    assert_int_equal(e->nargs, 1);
    assert_string_equal(e->args[0]->name, "x");
    assert_int_equal(e->nkw, 2);
    assert_string_equal(e->kwnames[0], "dim");
    assert_string_equal(e->kwnames[1], "keepdim");
    assert_int_equal(e->kwpos[1].col, 15);
    assert_int_equal(e->kwargs[0]->kind, E_NUM);
    assert_true(e->kwargs[0]->num == 1);
    assert_int_equal(e->kwargs[1]->kind, E_NAME);
    assert_string_equal(e->kwargs[1]->name, "true");

    assert_string_equal(tree("f()"), "(call f)");
    assert_string_equal(tree("f(x,)"), "(call f x)");
    assert_string_equal(tree("f(a + b, g(c))"), "(call f (+ a b) (call g c))");
    assert_string_equal(tree("softmax(x, dim=-1)"),
                        "(call softmax x dim=(neg 1))");
    assert_string_equal(tree("conv2d(x, w, padding=same, stride=(1, 2))"),
                        "(call conv2d x w padding=same stride=(tuple 1 2))");
    assert_string_equal(tree("conv1d(x, w, padding_mode=circular)"),
                        "(call conv1d x w padding_mode=circular)");
    assert_string_equal(tree("clamp(x, min=0, max=a * 2)"),
                        "(call clamp x min=0 max=(* a 2))");
    assert_string_equal(tree("f(x == y)"), "(call f (== x y))");
    assert_string_equal(tree("reshape(x, (a, -1))"),
                        "(call reshape x (tuple a (neg 1)))");
    assert_string_equal(tree("cat((a, b), dim=0)"),
                        "(call cat (tuple a b) dim=0)");
    assert_string_equal(tree("f(k=1,)"), "(call f k=1)");
    e = parse("mean(z)");
    assert_int_equal(e->nkw, 0);
}

static void test_expr_tuples(void **state)
{
    (void)state;
    Expr *e = parse("()");
    assert_int_equal(e->kind, E_TUPLE);
    assert_int_equal(e->nargs, 0);
    e = parse("(a,)");
    assert_int_equal(e->kind, E_TUPLE);
    assert_int_equal(e->nargs, 1);
    e = parse("(a, b + c)");
    assert_int_equal(e->kind, E_TUPLE);
    assert_int_equal(e->nargs, 2);
    assert_string_equal(tree("(1, 2, 3,)"), "(tuple 1 2 3)");
    assert_string_equal(tree("((a, b), (c,))"),
                        "(tuple (tuple a b) (tuple c))");
    assert_int_equal(parse("(a)")->kind, E_NAME);
}

static void test_expr_numbers(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        double v;
    } cases[] = {
        {"2", 2}, {"2.5", 2.5}, {"1e-3", 1e-3}, {".5", .5}, {"1E+2", 100},
        {"3.", 3}, {"0.25e1", 2.5}, {"007", 7}, {"1e-400", 0},
        {"1.7976931348623157e308", 1.7976931348623157e308},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        Expr *e = parse(cases[i].text);
        assert_int_equal(e->kind, E_NUM);
        assert_true(e->num == cases[i].v);
    }
}

/* ---- positions ---- */

static void test_expr_positions(void **state)
{
    (void)state;
    Pos at = {"f.yaml", 3, 6};
    assert_string_equal(parse_at("x + $", at, NULL),
                        "f.yaml:3:10: error: unexpected character '$'");

    Expr *e = NULL;
    assert_null(parse_at("a + f(b, k=(c, d)).T * 2.5", at, &e));
    assert_int_equal(e->pos.line, 3);
    assert_string_equal(e->pos.file, "f.yaml");
    assert_int_equal(e->pos.col, 8);            /* + */
    assert_int_equal(e->args[0]->pos.col, 6);   /* a */
    Expr *mul = e->args[1];
    assert_int_equal(mul->pos.col, 27);         /* * */
    assert_int_equal(mul->args[1]->pos.col, 29);    /* 2.5 */
    Expr *tr = mul->args[0];
    assert_int_equal(tr->kind, E_TRANSPOSE);
    assert_int_equal(tr->pos.col, 25);          /* T */
    Expr *call = tr->args[0];
    assert_int_equal(call->pos.col, 10);        /* f */
    assert_int_equal(call->args[0]->pos.col, 12);   /* b */
    assert_int_equal(call->kwpos[0].col, 15);   /* k */
    assert_int_equal(call->kwargs[0]->kind, E_TUPLE);
    assert_int_equal(call->kwargs[0]->pos.col, 17); /* ( */

    assert_null(parse_at("-x^2", at, &e));
    assert_int_equal(e->pos.col, 6);            /* - */
    assert_int_equal(e->args[0]->pos.col, 8);   /* ^ */
    assert_null(parse_at("a ** b", at, &e));
    assert_int_equal(e->pos.col, 8);            /* ** */

    /* a newline just keeps counting columns */
    assert_string_equal(parse_at("a +\n  $", at, NULL),
                        "f.yaml:3:12: error: unexpected character '$'");
    /* an unknown position stays unknown */
    Pos none = {"f.yaml", 0, 0};
    assert_string_equal(parse_at("a $", none, NULL),
                        "f.yaml:0:0: error: unexpected character '$'");
}

/* ---- expr_str ---- */

static void test_expr_str_canonical(void **state)
{
    (void)state;
    assert_string_equal(str("3*y^2"), "3 * y^2");
    assert_string_equal(str("mean( z )"), "mean(z)");
    assert_string_equal(str("sum(x,dim=1,keepdim=true)"),
                        "sum(x, dim=1, keepdim=true)");
    assert_string_equal(str("w@x"), "w @ x");
    assert_string_equal(str("x.T"), "x.T");
    assert_string_equal(str("(a+b)*c"), "(a + b) * c");
    assert_string_equal(str("a+(b*c)"), "a + b * c");
    assert_string_equal(str("-(x^2)"), "-x^2");
    assert_string_equal(str("(-x)^2"), "(-x)^2");
    assert_string_equal(str("-(-x)"), "-(-x)");
    assert_string_equal(str("-(a*b)"), "-(a * b)");
    assert_string_equal(str("a-(b-c)"), "a - (b - c)");
    assert_string_equal(str("(a-b)-c"), "a - b - c");
    assert_string_equal(str("a^(b^c)"), "a^b^c");
    assert_string_equal(str("(a^b)^c"), "(a^b)^c");
    assert_string_equal(str("x**y"), "x^y");
    assert_string_equal(str("2**-1"), "2^-1");
    assert_string_equal(str("a^(b+c)"), "a^(b + c)");
    assert_string_equal(str("a*-b"), "a * -b");
    assert_string_equal(str("(a<b)==(c>=d)"), "a < b == (c >= d)");
    assert_string_equal(str("a!=b"), "a != b");
    assert_string_equal(str("(a+b).T"), "(a + b).T");
    assert_string_equal(str("(x.T).T"), "x.T.T");
    assert_string_equal(str("(2).T"), "(2).T");
    assert_string_equal(str("(a,)"), "(a,)");
    assert_string_equal(str("()"), "()");
    assert_string_equal(str("(a,b)"), "(a, b)");
    assert_string_equal(str("f()"), "f()");
    assert_string_equal(str("f(k=1)"), "f(k=1)");
    assert_string_equal(str("reshape(x,(a,-1))"), "reshape(x, (a, -1))");
    assert_string_equal(str("1e-3 + .5 + 100000"), "0.001 + 0.5 + 100000");
    assert_string_equal(str("conv1.weight"), "conv1.weight");
    assert_string_equal(expr_str(NULL), "");
}

/* expr_str reads back as the same tree, and is safe inside a C comment. */
static void test_expr_str_roundtrip(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "a / b * c / d", "a * (b / c)", "x / -y * -z", "a/(b*c)",
        "-(-(-x))", "(a ^ b) ^ -c ^ d", "-x ** -y ** 2", "((a,),(),(b,c))",
        "f(g(x, k=(1, 2)), h=-(a - b) @ c.T.T)", "a < b <= c > d >= e",
        "(a == b) != (c < (d + e))", "x.T @ (y.T @ z).T", "2 ^ 3 ^ -x.T",
        "relu(conv1.weight @ x + conv1.bias) * (a - -b)", "(-2)^2", "-2^2",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        Expr *e = parse(texts[i]);
        char *s = expr_str(e);
        assert_string_equal(sx(parse(s)), sx(e));
        assert_string_equal(expr_str(parse(s)), s);
        assert_null(strstr(s, "/*"));
        assert_null(strstr(s, "*/"));
        assert_null(strchr(s, '\n'));
    }
}

/* ---- errors ---- */

static void test_expr_error_unexpected_char(void **state)
{
    (void)state;
    assert_string_equal(error_of("x + $"),
                        "t.yaml:1:5: error: unexpected character '$'");
    assert_string_equal(error_of("a ! b"),
                        "t.yaml:1:3: error: unexpected character '!'");
    assert_string_equal(error_of("a;"),
                        "t.yaml:1:2: error: unexpected character ';'");
    assert_string_equal(error_of("a\x01"),
                        "t.yaml:1:2: error: unexpected character '\\x01'");
    assert_string_equal(error_of("\xc3\xa9"),
                        "t.yaml:1:1: error: unexpected character '\\xc3'");
    assert_string_equal(error_of("x[0]"),
                        "t.yaml:1:2: error: unexpected character '['");
}

static void test_expr_error_expected_expression(void **state)
{
    (void)state;
    assert_string_equal(error_of("a + )"),
                        "t.yaml:1:5: error: expected an expression, found ')'");
    assert_string_equal(error_of("a +"), "t.yaml:1:4: error: expected an "
                        "expression, found end of input");
    assert_string_equal(error_of("* a"),
                        "t.yaml:1:1: error: expected an expression, found '*'");
    assert_string_equal(error_of("f(,)"),
                        "t.yaml:1:3: error: expected an expression, found ','");
    assert_string_equal(error_of("(a,,)"),
                        "t.yaml:1:4: error: expected an expression, found ','");
    assert_string_equal(error_of("f(k=)"),
                        "t.yaml:1:5: error: expected an expression, found ')'");
    assert_string_equal(error_of("x.T.y"), "t.yaml:1:3: error: expected "
                        "'T' after '.', found 'T.y'");
    assert_string_equal(error_of("(a).b"),
                        "t.yaml:1:5: error: expected 'T' after '.', found 'b'");
    assert_string_equal(error_of("x."), "t.yaml:1:3: error: expected 'T' "
                        "after '.', found end of input");
}

static void test_expr_error_unclosed_paren(void **state)
{
    (void)state;
    assert_string_equal(error_of("(a + b"), "t.yaml:1:7: error: expected ')' "
                        "to close '(' at column 1");
    assert_string_equal(error_of("x * (a b)"), "t.yaml:1:8: error: expected "
                        "')' to close '(' at column 5");
    assert_string_equal(error_of("f(a b)"), "t.yaml:1:5: error: expected "
                        "')' to close '(' at column 2");
    assert_string_equal(error_of("f(a + b = 1)"), "t.yaml:1:9: error: "
                        "expected ')' to close '(' at column 2");
    assert_string_equal(error_of("g(f(x)"), "t.yaml:1:7: error: expected "
                        "')' to close '(' at column 2");
}

static void test_expr_error_trailing(void **state)
{
    (void)state;
    assert_string_equal(error_of("x y"), "t.yaml:1:3: error: unexpected 'y' "
                        "after the end of the expression");
    assert_string_equal(error_of("(a))"), "t.yaml:1:4: error: unexpected ')' "
                        "after the end of the expression");
    assert_string_equal(error_of("a = 1"), "t.yaml:1:3: error: unexpected "
                        "'=' after the end of the expression");
    assert_string_equal(error_of("2x"), "t.yaml:1:2: error: unexpected 'x' "
                        "after the end of the expression");
    assert_string_equal(error_of("1.2.3"), "t.yaml:1:4: error: unexpected "
                        "'.3' after the end of the expression");
    assert_string_equal(error_of("2 (x)"), "t.yaml:1:3: error: unexpected "
                        "'(' after the end of the expression");
    /* the first error in the text wins */
    assert_string_equal(error_of("x y $"), "t.yaml:1:3: error: unexpected "
                        "'y' after the end of the expression");
}

static void test_expr_error_empty(void **state)
{
    (void)state;
    assert_string_equal(error_of(""), "t.yaml:1:1: error: empty expression");
    assert_string_equal(error_of("  \t "),
                        "t.yaml:1:1: error: empty expression");
    assert_string_equal(parse_at(NULL, P0, NULL),
                        "t.yaml:1:1: error: empty expression");
}

static char *repeat(const char *s, int n, const char *tail)
{
    size_t m = strlen(s), k = strlen(tail);
    char *t = agc_alloc(m * (size_t)n + k + 1);
    for (int i = 0; i < n; i++)
        memcpy(t + m * (size_t)i, s, m);
    memcpy(t + m * (size_t)n, tail, k + 1);
    return t;
}

static void test_expr_error_depth(void **state)
{
    (void)state;
    const char *msg = "error: expression nested deeper than 200 levels";
    /* the top level counts as one: 199 parentheses are fine, 200 not */
    char *ok = agc_fmt("%sx%s", repeat("(", 199, ""), repeat(")", 199, ""));
    assert_string_equal(tree(ok), "x");
    char *deep = agc_fmt("%sx%s", repeat("(", 200, ""), repeat(")", 200, ""));
    assert_string_equal(error_of(deep), agc_fmt("t.yaml:1:201: %s", msg));

    /* the error points at the token that opens level 201 */
    assert_string_equal(error_of(repeat("(", 100000, "")),
                        agc_fmt("t.yaml:1:201: %s", msg));
    assert_string_equal(error_of(repeat("-", 100000, "x")),
                        agc_fmt("t.yaml:1:201: %s", msg));
    assert_string_equal(error_of(repeat("+", 100000, "x")),
                        agc_fmt("t.yaml:1:201: %s", msg));
    assert_string_equal(error_of(repeat("f(", 5000, "")),
                        agc_fmt("t.yaml:1:401: %s", msg));
    assert_string_equal(error_of(repeat("x^", 5000, "x")),
                        agc_fmt("t.yaml:1:401: %s", msg));
    assert_string_equal(error_of(repeat("(x,", 3000, "")),
                        agc_fmt("t.yaml:1:599: %s", msg));
    assert_int_equal(parse(repeat("-", 199, "x"))->kind, E_UNARY);
    assert_int_equal(parse(repeat("x^", 199, "x"))->op, X_POW);
}

static void test_expr_error_too_long(void **state)
{
    (void)state;
    /* x + x + ... with 5001 terms is 10001 tokens */
    char *s = repeat("x + ", 5000, "x");
    assert_string_equal(error_of(s), "t.yaml:1:20001: error: expression too "
                        "long (more than 10000 tokens)");
    assert_string_equal(error_of(repeat("x", 1, repeat(".T", 100000, ""))),
                        "t.yaml:1:10001: error: expression too long (more "
                        "than 10000 tokens)");
}

static void test_expr_error_names(void **state)
{
    (void)state;
    char *n64 = repeat("a", 64, ""), *n65 = repeat("a", 65, "");
    assert_string_equal(parse(n64)->name, n64);
    assert_string_equal(error_of(agc_fmt("x + %s", n65)),
                        "t.yaml:1:5: error: name 'aaaaaaaaaaaaaaaa...' is "
                        "longer than 64 characters");
    /* each part of a dotted name counts on its own */
    assert_string_equal(parse(agc_fmt("%s.%s", n64, n64))->name,
                        agc_fmt("%s.%s", n64, n64));
    assert_string_equal(error_of(agc_fmt("b.%s", n65)),
                        "t.yaml:1:3: error: name 'aaaaaaaaaaaaaaaa...' is "
                        "longer than 64 characters");
}

static void test_expr_error_keywords(void **state)
{
    (void)state;
    assert_string_equal(error_of("f(x, dim=1, y)"), "t.yaml:1:13: error: "
                        "positional argument after keyword argument");
    assert_string_equal(error_of("f(x, dim=1, dim=2)"), "t.yaml:1:13: "
                        "error: duplicate keyword argument 'dim'");
    assert_string_equal(error_of("f(a, k=1 k=2)"), "t.yaml:1:10: error: "
                        "expected ')' to close '(' at column 2");
}

static void test_expr_error_numbers(void **state)
{
    (void)state;
    assert_string_equal(error_of("x * 1e999"),
                        "t.yaml:1:5: error: number out of range");
    assert_string_equal(error_of(repeat("9", 400, "")),
                        "t.yaml:1:1: error: number out of range");
    assert_string_equal(error_of("0x10"), "t.yaml:1:1: error: hexadecimal "
                        "numbers are not supported");
    assert_string_equal(error_of("1e"), "t.yaml:1:2: error: unexpected 'e' "
                        "after the end of the expression");
}

/* ---- size ---- */

static void test_expr_long_chains(void **state)
{
    (void)state;
    /* 5000 terms, 9999 tokens: a left-deep tree 4999 nodes deep */
    char *sum = repeat("x+", 4999, "x");
    Expr *e = parse(sum);
    int depth = 0;
    for (; e->kind == E_BINARY; e = e->args[0])
        depth++;
    assert_int_equal(depth, 4999);
    char *s = expr_str(parse(sum));
    assert_int_equal(strlen(s), 5000 + 3 * 4999);
    assert_memory_equal(s, "x + x + x", 9);

    char *diff = agc_fmt("(%s) * 2", repeat("a - ", 2000, "a"));
    s = expr_str(parse(diff));
    const char *end = "a - a - a) * 2";
    assert_memory_equal(s, "(a - a - a", 10);
    assert_string_equal(s + strlen(s) - strlen(end), end);

    s = expr_str(parse(repeat("x", 1, repeat(".T", 4999, ""))));
    assert_int_equal(strlen(s), 1 + 2 * 4999);
}

/* expr_str of a tree deeper than the parser allows (built by hand) is cut
 * short with "..." rather than overflowing the stack. */
static void test_expr_str_bounded(void **state)
{
    (void)state;
    Expr *leaf = agc_alloc(sizeof *leaf);
    leaf->kind = E_NAME;
    leaf->name = "x";
    Expr *e = leaf;
    for (int i = 0; i < 100000; i++) {
        Expr *n = agc_alloc(sizeof *n);
        n->kind = E_BINARY;
        n->op = i % 2 ? X_SUB : X_POW;
        n->nargs = 2;
        n->args = agc_alloc(2 * sizeof *n->args);
        n->args[0] = leaf;
        n->args[1] = e;
        e = n;
    }
    char *s = expr_str(e);
    assert_non_null(strstr(s, "..."));
    assert_memory_equal(s, "x - x^(x - x^(", 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expr_precedence),
        cmocka_unit_test(test_expr_left_assoc),
        cmocka_unit_test(test_expr_power_right_assoc),
        cmocka_unit_test(test_expr_unary_vs_power),
        cmocka_unit_test(test_expr_transpose),
        cmocka_unit_test(test_expr_dotted_names),
        cmocka_unit_test(test_expr_calls_keywords),
        cmocka_unit_test(test_expr_tuples),
        cmocka_unit_test(test_expr_numbers),
        cmocka_unit_test(test_expr_positions),
        cmocka_unit_test(test_expr_str_canonical),
        cmocka_unit_test(test_expr_str_roundtrip),
        cmocka_unit_test(test_expr_error_unexpected_char),
        cmocka_unit_test(test_expr_error_expected_expression),
        cmocka_unit_test(test_expr_error_unclosed_paren),
        cmocka_unit_test(test_expr_error_trailing),
        cmocka_unit_test(test_expr_error_empty),
        cmocka_unit_test(test_expr_error_depth),
        cmocka_unit_test(test_expr_error_too_long),
        cmocka_unit_test(test_expr_error_names),
        cmocka_unit_test(test_expr_error_keywords),
        cmocka_unit_test(test_expr_error_numbers),
        cmocka_unit_test(test_expr_long_chains),
        cmocka_unit_test(test_expr_str_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}

/* test_graph.c: shape inference, simplification and CSE of the graph IR,
 * called directly through the node constructors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agc.h"

static Graph *g;
static jmp_buf jb;

static int setup(void **state)
{
    (void)state;
    g = graph_new(DT_F32);
    g->pos = (Pos){"t.yaml", 3, 7};
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    agc_arena_free();
    agc_error_jmp = NULL;
    return 0;
}

static Node *input(int rank, long d0, long d1, long d2)
{
    long d[3] = {d0, d1, d2};
    return g_input(g, shape_of(rank, d), 0, 1);
}

static void assert_shape(const Node *n, const char *want)
{
    assert_string_equal(shape_str(&n->shape), want);
}

/* Runs stmt; err becomes the error it raised, or NULL. */
#define CATCH(stmt, err)                                                      \
    do {                                                                      \
        agc_error_jmp = &jb;                                                  \
        if (setjmp(jb)) {                                                     \
            err = agc_errmsg;                                                 \
        } else {                                                              \
            stmt;                                                             \
            err = NULL;                                                       \
        }                                                                     \
        agc_error_jmp = NULL;                                                 \
    } while (0)

static const char *error_of_binary(Op op, Node *a, Node *b)
{
    const char *e;
    CATCH(g_binary(g, op, a, b), e);
    return e ? e : "";
}

static void test_graph_broadcast(void **state)
{
    (void)state;
    assert_shape(g_binary(g, OP_ADD, input(2, 3, 1, 0), input(1, 4, 0, 0)),
                 "[3, 4]");
    assert_shape(g_binary(g, OP_MUL, input(3, 2, 3, 4), input(2, 3, 1, 0)),
                 "[2, 3, 4]");
    assert_shape(g_binary(g, OP_MUL, input(0, 0, 0, 0), input(1, 5, 0, 0)),
                 "[5]");
    Node *a = input(2, 2, 3, 0), *b = input(1, 4, 0, 0);
    assert_string_equal(error_of_binary(OP_ADD, a, b),
                        "t.yaml:3:7: error: cannot broadcast shapes [2, 3] "
                        "and [4]");
}

static void test_graph_matmul(void **state)
{
    (void)state;
    assert_shape(g_matmul(g, input(1, 5, 0, 0), input(1, 5, 0, 0)), "[]");
    assert_shape(g_matmul(g, input(2, 2, 5, 0), input(1, 5, 0, 0)), "[2]");
    assert_shape(g_matmul(g, input(1, 2, 0, 0), input(2, 2, 7, 0)), "[7]");
    assert_shape(g_matmul(g, input(2, 3, 2, 0), input(2, 2, 7, 0)),
                 "[3, 7]");
    Node *a = input(2, 2, 3, 0), *b = input(2, 4, 5, 0), *c = input(3, 2, 3, 4);
    const char *e;
    CATCH(g_matmul(g, a, b), e);
    assert_non_null(strstr(e, "cannot multiply [2, 3] by [4, 5]"));
    CATCH(g_matmul(g, c, a), e);
    assert_non_null(strstr(e, "1-D or 2-D"));
}

static void test_graph_reduce(void **state)
{
    (void)state;
    Node *x = input(3, 2, 3, 4);
    assert_shape(g_reduce(g, OP_SUM, x, 2, 0), "[2, 4]");
    assert_shape(g_reduce(g, OP_SUM, x, 2, 1), "[2, 1, 4]");
    assert_shape(g_reduce(g, OP_AMAX, x, 7, 0), "[]");
    assert_shape(g_sum_to(g, x, shape_of(2, (long[]){3, 1})), "[3, 1]");
}

static void test_graph_shape_ops(void **state)
{
    (void)state;
    Node *x = input(3, 2, 3, 4);
    assert_shape(g_transpose(g, x, 2, 0), "[4, 3, 2]");
    assert_shape(g_reshape(g, x, shape_of(2, (long[]){6, 4})), "[6, 4]");
    assert_shape(g_narrow(g, x, 2, 1, 2), "[2, 3, 2]");
    assert_shape(g_pad(g, g_narrow(g, x, 2, 1, 2), 2, 1, 4), "[2, 3, 4]");
    Node *xs[2] = {x, input(3, 2, 5, 4)};
    assert_shape(g_cat(g, xs, 2, 1), "[2, 8, 4]");
    const char *e;
    CATCH(g_reshape(g, x, shape_of(1, (long[]){7})), e);
    assert_non_null(strstr(e, "cannot reshape [2, 3, 4] into [7]"));
    CATCH(g_narrow(g, x, 1, 2, 2), e);
    assert_non_null(strstr(e, "out of range"));
    xs[1] = input(3, 2, 5, 5);
    CATCH(g_cat(g, xs, 2, 1), e);
    assert_non_null(strstr(e, "cannot concatenate [2, 3, 4] and [2, 5, 5]"));
}

static void test_graph_size_overflow(void **state)
{
    (void)state;
    Node *a = input(2, 65536, 1, 0), *b = input(1, 65536, 0, 0);
    assert_non_null(strstr(error_of_binary(OP_ADD, a, b),
                           "more than 268435456 elements"));
}

static void test_graph_simplify(void **state)
{
    (void)state;
    Node *x = input(1, 3, 0, 0);
    assert_ptr_equal(g_binary(g, OP_MUL, x, g_scalar(g, 1)), x);
    assert_ptr_equal(g_binary(g, OP_ADD, g_scalar(g, 0), x), x);
    Node *z = g_binary(g, OP_MUL, g_scalar(g, 0), x);
    assert_int_equal(z->op, OP_CONST);
    assert_shape(z, "[3]");
    assert_ptr_equal(g_unary(g, OP_NEG, g_unary(g, OP_NEG, x)), x);
    Node *c = g_binary(g, OP_MUL, g_scalar(g, 3), g_scalar(g, 2));
    assert_int_equal(c->op, OP_CONST);
    assert_true(c->cval == 6);
    /* x * 1 broadcast to a larger shape is an expand, not x */
    Node *e = g_binary(g, OP_MUL, x, g_const(g, shape_of(2, (long[]){2, 3}),
                                             1));
    assert_int_equal(e->op, OP_COPY);
    assert_shape(e, "[2, 3]");
}

static void test_graph_cse(void **state)
{
    (void)state;
    Node *x = input(1, 3, 0, 0), *y = input(1, 3, 0, 0);
    assert_ptr_not_equal(x, y);     /* leaves are never merged */
    Node *a = g_binary(g, OP_ADD, x, y), *b = g_binary(g, OP_ADD, x, y);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, g_binary(g, OP_ADD, y, x));
    assert_ptr_equal(g_unary(g, OP_EXP, a), g_unary(g, OP_EXP, b));
}

static void test_graph_needs_grad(void **state)
{
    (void)state;
    Node *x = input(1, 3, 0, 0);
    Node *c = g_input(g, shape_of(1, (long[]){3}), 1, 0);
    assert_true(g_binary(g, OP_MUL, x, c)->needs_grad);
    assert_false(g_binary(g, OP_LT, x, c)->needs_grad);
    assert_false(g_detach(g, x)->needs_grad);
    assert_false(g_unary(g, OP_EXP, c)->needs_grad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_graph_broadcast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_matmul, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_reduce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_shape_ops, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_graph_size_overflow, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_graph_simplify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_cse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_graph_needs_grad, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

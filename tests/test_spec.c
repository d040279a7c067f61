/* test_spec.c: unit tests of spec.c, the YAML spec loader.
 *
 * Each test writes specs from strings into a temporary directory and loads
 * them with agc_error_jmp armed, so an error comes back as its message. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agc.h"

static char dir[] = "/tmp/agc_test_spec_XXXXXX";
static char *files[256];
static int nfiles;
static Spec *spec;                  /* the last spec loaded */

/* Writes text to DIR/NAME and returns its path. */
static const char *write_spec(const char *name, const char *text)
{
    char *path = agc_fmt("%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    if (nfiles < 256)
        files[nfiles++] = strdup(path);
    return path;
}

/* Loads a spec file: NULL on success (spec set), else the error message. */
static const char *try_load(const char *path)
{
    jmp_buf jb;
    spec = NULL;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        agc_error_jmp = NULL;
        return agc_errmsg;
    }
    spec = spec_load(path);
    agc_error_jmp = NULL;
    return NULL;
}

/* Loads text (as NAME.yaml) and expects success. */
static Spec *load_ok(const char *name, const char *text)
{
    const char *err = try_load(write_spec(agc_fmt("%s.yaml", name), text));
    if (err)
        fail_msg("unexpected error: %s", err);
    return spec;
}

/* Loads text (as NAME.yaml) and expects the error "PATH:" + want, where
 * want is "LINE:COL: error: MESSAGE". */
static void load_err(const char *name, const char *text, const char *want)
{
    const char *path = write_spec(agc_fmt("%s.yaml", name), text);
    const char *err = try_load(path);
    assert_non_null(err);
    assert_string_equal(err, agc_fmt("%s:%s", path, want));
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < nfiles; i++) {
        unlink(files[i]);
        free(files[i]);
    }
    rmdir(dir);
    agc_arena_free();
    return 0;
}

#define GRAPH "graph:\n  y: x * 2\n"

/* ---- happy paths ---- */

static void test_spec_seed_example(void **state)
{
    (void)state;
    Spec *s = load_ok("seed",
        "name: autograd\n"
        "inputs:\n"
        "  x: {shape: [2, 2], requires_grad: true, value: [[1, 2], [3, 4]]}\n"
        "graph:\n"
        "  y: x - 2\n"
        "  z: 3 * y^2\n"
        "  a: mean(z)\n"
        "backward: a\n");
    assert_string_equal(s->name, "autograd");
    assert_int_equal(s->name_pos.line, 1);
    assert_int_equal(s->name_pos.col, 7);
    assert_int_equal(s->dtype, DT_F32);
    assert_int_equal(s->seed, 0);
    assert_int_equal(s->ndecls, 1);
    Decl *x = &s->decls[0];
    assert_string_equal(x->name, "x");
    assert_int_equal(x->pos.line, 3);
    assert_int_equal(x->pos.col, 3);
    assert_int_equal(x->shape.rank, 2);
    assert_int_equal(x->shape.d[0], 2);
    assert_int_equal(x->shape.d[1], 2);
    assert_true(x->requires_grad);
    assert_int_equal(x->init, INIT_VALUE);
    assert_int_equal(x->value.n, 4);
    assert_int_equal(x->value.shape.rank, 2);
    for (int i = 0; i < 4; i++)
        assert_true(x->value.v[i] == i + 1);
    assert_int_equal(x->value.pos.line, 3);
    assert_int_equal(x->value.pos.col, 50);
    assert_int_equal(s->ngraph, 3);
    const char *names[] = {"y", "z", "a"};
    const char *exprs[] = {"x - 2", "3 * y^2", "mean(z)"};
    for (int i = 0; i < 3; i++) {
        GraphEntry *g = &s->graph[i];
        assert_string_equal(g->name, names[i]);
        assert_false(g->is_loop);
        assert_string_equal(g->expr.text, exprs[i]);
        assert_int_equal(g->pos.line, 5 + i);
        assert_int_equal(g->pos.col, 3);
        assert_int_equal(g->expr.pos.line, 5 + i);
        assert_int_equal(g->expr.pos.col, 6);
    }
    assert_false(s->has_model);
    assert_int_equal(s->noutputs, 0);
    assert_true(s->has_backward);
    assert_string_equal(s->bwd_of, "a");
    assert_int_equal(s->bwd_pos.line, 8);
    assert_int_equal(s->bwd_pos.col, 11);
    assert_false(s->bwd_has_grad);
    assert_false(s->bwd_runtime);
}

static void test_spec_default_name_is_file_stem(void **state)
{
    (void)state;
    Spec *s = load_ok("my_net", "inputs:\n  x: {shape: [2]}\n" GRAPH);
    assert_string_equal(s->name, "my_net");
    assert_null(try_load(write_spec("other.yml", GRAPH)));
    assert_string_equal(spec->name, "other");
    assert_int_equal(spec->name_pos.line, 1);
}

static void test_spec_dtype_and_seed(void **state)
{
    (void)state;
    Spec *s = load_ok("dt", "dtype: float64\nseed: -12\n" GRAPH);
    assert_int_equal(s->dtype, DT_F64);
    assert_int_equal(s->seed, -12);
    s = load_ok("dt32", "dtype: float32\n" GRAPH);
    assert_int_equal(s->dtype, DT_F32);
}

static void test_spec_inputs_init_rules(void **state)
{
    (void)state;
    Spec *s = load_ok("init",
        "inputs:\n"
        "  a: {shape: [2], init: zeros}\n"
        "  b: {shape: [2], init: ones}\n"
        "  c: {shape: [2, 3], init: arange}\n"
        "  d: {shape: [16, 2, 3], requires_grad: yes,"
        " init: {uniform: [-0.1, 0.1]}}\n"
        "  e: {shape: [3], init: {normal: [1, 0.5]}}\n"
        "  s: {shape: [], value: 3}\n"
        "  f: {shape: [2, 2], value: 1.5}\n"
        "  v: {shape: [3], requires_grad: false}\n"
        GRAPH);
    assert_int_equal(s->ndecls, 8);
    assert_int_equal(s->decls[0].init, INIT_ZEROS);
    assert_int_equal(s->decls[1].init, INIT_ONES);
    assert_int_equal(s->decls[2].init, INIT_ARANGE);
    assert_int_equal(s->decls[3].init, INIT_UNIFORM);
    assert_true(s->decls[3].requires_grad);
    assert_true(s->decls[3].a == -0.1 && s->decls[3].b == 0.1);
    assert_int_equal(s->decls[3].shape.rank, 3);
    assert_int_equal(s->decls[4].init, INIT_NORMAL);
    assert_true(s->decls[4].a == 1 && s->decls[4].b == 0.5);
    assert_int_equal(s->decls[5].shape.rank, 0);
    assert_int_equal(s->decls[5].value.n, 1);
    assert_true(s->decls[5].value.v[0] == 3);
    assert_int_equal(s->decls[6].value.shape.rank, 0);  /* fills */
    assert_true(s->decls[6].value.v[0] == 1.5);
    assert_int_equal(s->decls[7].init, INIT_NONE);
    assert_false(s->decls[7].requires_grad);
}

static void test_spec_model_layers(void **state)
{
    (void)state;
    Spec *s = load_ok("model",
        "inputs:\n"
        "  x: {shape: [1, 2, 64], init: {uniform: [0, 1]}}\n"
        "model:\n"
        "  input: x\n"
        "  layers:\n"
        "    - conv1d: {in_channels: 2, out_channels: 16, kernel_size: 3}\n"
        "    - relu\n"
        "    - conv1d: {name: conv2, in_channels: 16, out_channels: 8,\n"
        "               kernel_size: [5], stride: 2, padding: same,\n"
        "               padding_mode: circular, bias: no}\n"
        "    - flatten:\n"
        "    - linear: {in_features: 248, out_features: 10}\n");
    assert_true(s->has_model);
    assert_int_equal(s->model_pos.line, 3);
    assert_string_equal(s->model_input, "x");
    assert_int_equal(s->model_input_pos.line, 4);
    assert_int_equal(s->model_input_pos.col, 10);
    assert_int_equal(s->ngraph, 0);
    assert_int_equal(s->nlayers, 5);
    Layer *l = s->layers;
    assert_string_equal(l[0].kind, "conv1d");
    assert_string_equal(l[0].name, "conv1d0");
    assert_int_equal(l[0].nargs, 3);
    assert_string_equal(l[0].keys[2], "kernel_size");
    assert_int_equal(l[0].vals[2].kind, KW_NUM);
    assert_true(l[0].vals[2].num[0] == 3);
    assert_string_equal(l[1].kind, "relu");
    assert_string_equal(l[1].name, "relu1");
    assert_int_equal(l[1].nargs, 0);
    assert_int_equal(l[1].pos.line, 7);
    assert_int_equal(l[1].pos.col, 7);
    assert_string_equal(l[2].name, "conv2");
    assert_int_equal(l[2].nargs, 7);    /* name: is not an argument */
    assert_string_equal(l[2].keys[2], "kernel_size");
    assert_int_equal(l[2].vals[2].kind, KW_TUPLE);
    assert_int_equal(l[2].vals[2].n, 1);
    assert_true(l[2].vals[2].num[0] == 5);
    assert_int_equal(l[2].vals[4].kind, KW_WORD);
    assert_string_equal(l[2].vals[4].word, "same");
    assert_string_equal(l[2].vals[5].word, "circular");
    assert_string_equal(l[2].vals[6].word, "false");   /* no -> false */
    assert_int_equal(l[2].vals[4].pos.line, 9);
    assert_string_equal(l[3].name, "flatten3");
    assert_int_equal(l[3].nargs, 0);
    assert_string_equal(l[4].name, "linear4");
}

static void test_spec_loop(void **state)
{
    (void)state;
    Spec *s = load_ok("loop",
        "inputs:\n"
        "  x: {shape: [3], requires_grad: true}\n"
        "graph:\n"
        "  y0: x * 2\n"
        "  y:\n"
        "    loop:\n"
        "      init: y0\n"
        "      as: v\n"
        "      while: norm(v) < 1000\n"
        "      body: v * 2\n"
        "      max_iter: 64\n"
        "      count: i\n"
        "  w:\n"
        "    loop: {init: y, while: w < 3, body: w + 1, max_iter: 5}\n"
        "backward: {of: w}\n");
    assert_int_equal(s->ngraph, 3);
    GraphEntry *g = &s->graph[1];
    assert_true(g->is_loop);
    assert_string_equal(g->name, "y");
    assert_string_equal(g->init.text, "y0");
    assert_string_equal(g->as, "v");
    assert_int_equal(g->as_pos.line, 8);
    assert_string_equal(g->cond.text, "norm(v) < 1000");
    assert_int_equal(g->cond.pos.line, 9);
    assert_int_equal(g->cond.pos.col, 14);
    assert_string_equal(g->body.text, "v * 2");
    assert_int_equal(g->max_iter, 64);
    assert_int_equal(g->max_iter_pos.line, 11);
    assert_string_equal(g->count, "i");
    assert_int_equal(g->count_pos.line, 12);
    g = &s->graph[2];
    assert_true(g->is_loop);
    assert_string_equal(g->as, "w");    /* default: the node's name */
    assert_null(g->count);
    assert_int_equal(g->max_iter, 5);
    assert_string_equal(s->bwd_of, "w");
    assert_false(s->bwd_has_grad);
    assert_true(s->bwd_runtime);
}

static void test_spec_functions(void **state)
{
    (void)state;
    Spec *s = load_ok("funcs",
        "functions:\n"
        "  my_add:\n"
        "    backward:\n"
        "      x2: grad\n"
        "      x1: grad\n"
        "    args: [x1, x2]\n"
        "    forward: x1 + x2\n"
        "  my_max:\n"
        "    args: [x]\n"
        "    forward: max(x)\n"
        "inputs:\n"
        "  a: {shape: [2]}\n"
        "graph:\n"
        "  y: my_add(a, a)\n");
    assert_int_equal(s->nfuncs, 2);
    FuncDef *f = &s->funcs[0];
    assert_string_equal(f->name, "my_add");
    assert_int_equal(f->pos.line, 2);
    assert_int_equal(f->nargs, 2);
    assert_string_equal(f->args[0], "x1");
    assert_string_equal(f->args[1], "x2");
    assert_int_equal(f->arg_pos[1].line, 6);
    assert_int_equal(f->arg_pos[1].col, 16);
    assert_string_equal(f->forward.text, "x1 + x2");
    assert_int_equal(f->forward.pos.line, 7);
    assert_int_equal(f->forward.pos.col, 14);
    assert_int_equal(f->nbwd, 2);
    assert_string_equal(f->bwd_arg[0], "x2");
    assert_string_equal(f->bwd[0].text, "grad");
    assert_int_equal(f->bwd_pos[0].line, 4);
    assert_int_equal(f->bwd[1].pos.line, 5);
    assert_int_equal(f->bwd[1].pos.col, 11);
    assert_int_equal(s->funcs[1].nbwd, 0);
}

static void test_spec_backward_forms(void **state)
{
    (void)state;
    Spec *s = load_ok("bwd1", GRAPH "backward: y\n");
    assert_true(s->has_backward && !s->bwd_has_grad && !s->bwd_runtime);
    s = load_ok("bwd2", GRAPH "backward: {of: y}\n");
    assert_true(s->has_backward && !s->bwd_has_grad && s->bwd_runtime);
    assert_int_equal(s->bwd_pos.col, 16);
    s = load_ok("bwd3", GRAPH "backward: {of: y, grad: [0.1, 1.0, 0.0001]}\n");
    assert_true(s->bwd_has_grad && !s->bwd_runtime);
    assert_int_equal(s->bwd_grad.shape.rank, 1);
    assert_int_equal(s->bwd_grad.n, 3);
    assert_true(s->bwd_grad.v[2] == 0.0001);
    assert_int_equal(s->bwd_grad.pos.col, 25);
    s = load_ok("bwd4", GRAPH);
    assert_false(s->has_backward);
}

static void test_spec_outputs(void **state)
{
    (void)state;
    Spec *s = load_ok("out1", GRAPH "outputs: [y, x]\n");
    assert_int_equal(s->noutputs, 2);
    assert_string_equal(s->outputs[1], "x");
    assert_int_equal(s->output_pos[1].line, 3);
    assert_int_equal(s->output_pos[1].col, 14);
    s = load_ok("out2", GRAPH "outputs: y\n");
    assert_int_equal(s->noutputs, 1);
    assert_string_equal(s->outputs[0], "y");
}

/* Src.pos is the expression's first character, whatever the style. */
static void test_spec_src_positions(void **state)
{
    (void)state;
    Spec *s = load_ok("src",
        "graph:\n"
        "  a: 'x + 1'\n"
        "  b: \"x + 2\"\n"
        "  c: |\n"
        "    x + 3\n"
        "  d: >-\n"
        "\n"
        "      x +\n"
        "      4\n"
        "  e: 5\n");
    assert_string_equal(s->graph[0].expr.text, "x + 1");
    assert_int_equal(s->graph[0].expr.pos.col, 7);
    assert_int_equal(s->graph[1].expr.pos.col, 7);
    assert_string_equal(s->graph[2].expr.text, "x + 3\n");
    assert_int_equal(s->graph[2].expr.pos.line, 5);
    assert_int_equal(s->graph[2].expr.pos.col, 5);
    assert_int_equal(s->graph[3].expr.pos.line, 8);
    assert_int_equal(s->graph[3].expr.pos.col, 7);
    assert_string_equal(s->graph[4].expr.text, "5");
    assert_int_equal(s->graph[4].expr.pos.col, 6);
}

/* After an error, the next load works and the caller's jmp_buf is back. */
static void test_spec_error_then_load(void **state)
{
    (void)state;
    jmp_buf outer;
    const char *path = write_spec("alias2.yaml",
                                  "graph:\n  y: &a x\n  z: *a\n");
    agc_error_jmp = &outer;
    if (setjmp(outer) == 0) {
        spec_load(path);
        fail_msg("no error");
    }
    assert_ptr_equal(agc_error_jmp, &outer);
    agc_error_jmp = NULL;
    load_ok("after", GRAPH);
}

/* ---- errors ---- */

static void test_spec_unreadable_file(void **state)
{
    (void)state;
    const char *path = agc_fmt("%s/missing.yaml", dir);
    const char *err = try_load(path);
    assert_non_null(err);
    assert_string_equal(err, agc_fmt("%s:1:1: error: cannot read file: No "
                                     "such file or directory", path));
    err = try_load(dir);
    assert_non_null(err);
    assert_non_null(strstr(err, ":1:1: error: cannot read file: "));
}

static void test_spec_malformed_yaml(void **state)
{
    (void)state;
    load_err("bad", "graph:\n  y: x + 1\n  z: a: b\n",
             "3:7: error: YAML: mapping values are not allowed in this "
             "context");
    load_err("badflow", "graph: {y: [1, 2}\n",
             "1:17: error: YAML: did not find expected ',' or ']' (while "
             "parsing a flow sequence at line 1)");
}

static void test_spec_alias_and_anchor(void **state)
{
    (void)state;
    load_err("alias", "inputs:\n  x: &s {shape: [2]}\n  y: *s\n" GRAPH,
             "2:6: error: YAML anchors and aliases are not supported");
    load_err("alias_only", "graph:\n  y: *s\n",
             "2:6: error: YAML anchors and aliases are not supported");
}

static void test_spec_one_document(void **state)
{
    (void)state;
    load_err("docs", GRAPH "---\n" GRAPH,
             "3:1: error: expected one YAML document, found a second one");
    load_ok("doc1", "---\n" GRAPH "...\n");
}

static void test_spec_top_level_shape(void **state)
{
    (void)state;
    load_err("list", "- graph\n",
             "1:1: error: expected a mapping for the spec (check "
             "indentation), found a list");
    load_err("empty", "",
             "1:1: error: the spec is empty (expected a mapping with a "
             "'graph' or a 'model')");
    load_err("nograph", "inputs:\n  x: {shape: [2]}\n",
             "1:1: error: the spec needs a 'graph' or a 'model'");
    load_err("graph_empty", "graph: {}\n",
             "1:1: error: the graph has no nodes");
    load_err("inputs_list", "inputs: [x]\n" GRAPH,
             "1:9: error: expected a mapping for 'inputs' (check "
             "indentation), found a list");
}

static void test_spec_unknown_keys(void **state)
{
    (void)state;
    load_err("top", GRAPH "outputz: [y]\n",
             "3:1: error: unknown key 'outputz' in the spec (expected one "
             "of: name, dtype, dims, seed, inputs, functions, model, graph, "
             "outputs, backward, optimizer); did you mean 'outputs'?");
    load_err("input", "inputs:\n  x: {shape: [2], grad: true}\n" GRAPH,
             "2:19: error: unknown key 'grad' in input 'x' (expected one "
             "of: shape, requires_grad, value, init, dtype)");
    load_err("bwd", GRAPH "backward: {of: y, seed: 1}\n",
             "3:19: error: unknown key 'seed' in 'backward' (expected one "
             "of: of, grad)");
    load_err("loop", "graph:\n  y:\n    loop: {init: a, while: 1, body: 2,"
             " max_iter: 3, step: 4}\n",
             "3:53: error: unknown key 'step' in loop 'y' (expected one "
             "of: init, as, while, body, max_iter, count)");
    load_err("entry", "graph:\n  y: {lop: 1}\n",
             "2:7: error: unknown key 'lop' in node 'y' (expected one of: "
             "loop); did you mean 'loop'?");
    load_err("func", "functions:\n  f: {args: [a], forward: a, fwd: a}\n"
             GRAPH,
             "2:30: error: unknown key 'fwd' in function 'f' (expected one "
             "of: args, forward, backward)");
}

static void test_spec_duplicate_keys(void **state)
{
    (void)state;
    load_err("dup", GRAPH "  y: x * 3\n", "3:3: error: duplicate key 'y'");
    load_err("dup_top", GRAPH "dtype: float32\ndtype: float64\n",
             "4:1: error: duplicate key 'dtype'");
    load_err("dup_nested", "inputs:\n  x: {shape: [2], shape: [3]}\n" GRAPH,
             "2:19: error: duplicate key 'shape'");
}

static void test_spec_invalid_names(void **state)
{
    (void)state;
    load_err("kw", "inputs:\n  int: {shape: [2]}\n" GRAPH,
             "2:3: error: input name 'int' is not a valid identifier: it is "
             "a C keyword or a standard macro");
    load_err("under", "name: my__net\n" GRAPH,
             "1:7: error: spec name 'my__net' is not a valid identifier: it "
             "contains '__', which C reserves");
    load_err("digit", "graph:\n  2y: x\n",
             "2:3: error: node name '2y' is not a valid identifier: it does "
             "not start with a letter");
    load_err("arg", "functions:\n  f: {args: [a-b], forward: a}\n" GRAPH,
             "2:14: error: argument name 'a-b' is not a valid identifier: it "
             "is not a C identifier (letters, digits and '_' only)");
    load_err("bad-stem", GRAPH,
             "1:1: error: the file name 'bad-stem' is not a valid "
             "identifier: it is not a C identifier (letters, digits and '_' "
             "only); set 'name:' in the spec");
    load_err("count", "graph:\n  y:\n    loop: {init: a, while: 1, body: 2,"
             " max_iter: 3, count: NULL}\n",
             "3:60: error: loop count name 'NULL' is not a valid "
             "identifier: it is a C keyword or a standard macro");
}

static void test_spec_shape_errors(void **state)
{
    (void)state;
    load_err("zero", "inputs:\n  x: {shape: [2, 0]}\n" GRAPH,
             "2:18: error: each dimension of the shape of input 'x' must be "
             "a positive integer, found '0'");
    load_err("neg", "inputs:\n  x: {shape: [-2]}\n" GRAPH,
             "2:15: error: each dimension of the shape of input 'x' must be "
             "a positive integer, found '-2'");
    load_err("frac", "inputs:\n  x: {shape: [2.5]}\n" GRAPH,
             "2:15: error: each dimension of the shape of input 'x' must be "
             "a positive integer, found '2.5'");
    load_err("notlist", "inputs:\n  x: {shape: 3}\n" GRAPH,
             "2:14: error: expected a list for the shape of input 'x', found "
             "'3'");
    load_err("overflow", "inputs:\n  x: {shape: [100000, 100000, 100000]}\n"
             GRAPH,
             "2:14: error: shape [100000, 100000, 100000] has "
             "1000000000000000 elements, more than the limit of 268435456");
    load_err("overflow2", "inputs:\n  x: {shape: [4294967296, 4294967296, "
             "4294967296]}\n" GRAPH,
             "2:14: error: shape [4294967296, 4294967296, 4294967296] has "
             "more than 9223372036854775807 elements, more than the limit "
             "of 268435456");
    load_err("rank9", "inputs:\n  x: {shape: [1, 1, 1, 1, 1, 1, 1, 1, 1]}\n"
             GRAPH,
             "2:39: error: the shape of input 'x' has more than 8 "
             "dimensions");
    load_err("noshape", "inputs:\n  x: {requires_grad: true}\n" GRAPH,
             "2:6: error: input 'x' needs 'shape' (e.g. shape: [3], or [] "
             "for a scalar)");
}

static void test_spec_value_errors(void **state)
{
    (void)state;
    load_err("ragged", "inputs:\n  x: {shape: [2, 2], value: [[1, 2], [3]]}"
             "\n" GRAPH,
             "2:38: error: ragged list in the value of input 'x': expected 2 "
             "elements, as in the first list at this depth, found 1");
    load_err("ragged2", "inputs:\n  x: {shape: [2], value: [[1, 2], 3]}\n"
             GRAPH,
             "2:35: error: ragged list in the value of input 'x': expected a "
             "list of 2, found '3'");
    load_err("mismatch", "inputs:\n  x: {shape: [2, 2], value: [1, 2, 3, 4]}"
             "\n" GRAPH,
             "2:29: error: the value of input 'x' has shape [4], expected "
             "[2, 2] or a single number");
    load_err("mismatch_inner", "inputs:\n  x: {shape: [2, 2], value: "
             "[[1, 2, 3], [4, 5, 6]]}\n" GRAPH,
             "2:30: error: the value of input 'x' has shape [2, 3], expected "
             "[2, 2] or a single number");
    load_err("notnum", "inputs:\n  x: {shape: [2], value: [1, two]}\n" GRAPH,
             "2:30: error: expected a number for the value of input 'x', "
             "found 'two'");
    load_err("nan", "inputs:\n  x: {shape: [2], value: [1, .nan]}\n" GRAPH,
             "2:30: error: expected a number for the value of input 'x', "
             "found '.nan'");
    load_err("range", "inputs:\n  x: {shape: [2], value: [1, 1e999]}\n"
             GRAPH, "2:30: error: number '1e999' is out of range");
    load_err("f32", "inputs:\n  x: {shape: [], value: 1e39}\n" GRAPH,
             "2:25: error: number '1e39' is out of range for float32");
    load_ok("f64", "dtype: float64\ninputs:\n  x: {shape: [], value: 1e39}\n"
            GRAPH);
    load_err("both", "inputs:\n  x: {shape: [2], value: 1, init: zeros}\n"
             GRAPH,
             "2:29: error: input 'x' has both 'value' and 'init' (give one)");
    load_err("both2", "inputs:\n  x: {value: 1, init: {normal: [0, 1]}, "
             "shape: []}\n" GRAPH,
             "2:17: error: input 'x' has both 'value' and 'init' (give one)");
}

static void test_spec_init_errors(void **state)
{
    (void)state;
    load_err("word", "inputs:\n  x: {shape: [2], init: twos}\n" GRAPH,
             "2:25: error: expected zeros, ones, arange, {uniform: [lo, hi]} "
             "or {normal: [mean, std]} for the init of input 'x', found "
             "'twos'");
    load_err("uniform", "inputs:\n  x: {shape: [2], init: {uniform: [1, 1]}}"
             "\n" GRAPH,
             "2:35: error: uniform needs lo < hi, found [1, 1]");
    load_err("normal", "inputs:\n  x: {shape: [2], init: {normal: [0, -1]}}"
             "\n" GRAPH, "2:38: error: normal needs std >= 0, found -1");
    load_err("pair", "inputs:\n  x: {shape: [2], init: {normal: 1}}\n" GRAPH,
             "2:34: error: expected normal: [mean, std] (two numbers), found "
             "'1'");
    load_err("rules", "inputs:\n  x: {shape: [2], init: {normal: [0, 1], "
             "uniform: [0, 1]}}\n" GRAPH,
             "2:42: error: init takes one rule, uniform or normal");
}

static void test_spec_scalar_errors(void **state)
{
    (void)state;
    load_err("dtype", "dtype: float16\n" GRAPH,
             "1:8: error: dtype must be float32 or float64, found 'float16'");
    load_err("seed", "seed: 1.5\n" GRAPH,
             "1:7: error: expected an integer for 'seed', found '1.5'");
    load_err("seed_big", "seed: 99999999999999999999\n" GRAPH,
             "1:7: error: integer '99999999999999999999' is out of range");
    load_err("rg", "inputs:\n  x: {shape: [2], requires_grad: 1}\n" GRAPH,
             "2:34: error: expected true or false for 'requires_grad' of "
             "input 'x', found '1'");
    load_err("expr", "graph:\n  y:\n", "2:5: error: expected an expression "
             "for node 'y', found nothing");
    load_err("expr_list", "graph:\n  y: [1]\n", "2:6: error: expected an "
             "expression or {loop: ...} for node 'y', found a list");
    load_err("outputs", GRAPH "outputs: []\n", "3:10: error: 'outputs' is "
             "empty (leave it out to output the last node)");
    load_err("key", "graph:\n  ? [a]\n  : 1\n", "2:5: error: expected a "
             "name as mapping key, found a list");
}

static void test_spec_loop_errors(void **state)
{
    (void)state;
    load_err("missing", "graph:\n  y:\n    loop:\n      init: a\n"
             "      while: y < 1\n      body: y * 2\n",
             "4:7: error: loop 'y' needs 'max_iter' (a bound on the "
             "iterations)");
    load_err("zero", "graph:\n  y:\n    loop: {init: a, while: 1, body: 2, "
             "max_iter: 0}\n",
             "3:50: error: max_iter must be a positive integer, found '0'");
    load_err("neg", "graph:\n  y:\n    loop: {init: a, while: 1, body: 2, "
             "max_iter: -1}\n",
             "3:50: error: max_iter must be a positive integer, found '-1'");
    load_err("noinit", "graph:\n  y:\n    loop: {while: 1, body: 2, "
             "max_iter: 1}\n",
             "3:11: error: loop 'y' needs 'init' (the value before the "
             "first iteration)");
    load_err("notmap", "graph:\n  y:\n    loop: [1]\n",
             "3:11: error: expected a mapping for loop 'y' (check "
             "indentation), found a list");
}

static void test_spec_function_errors(void **state)
{
    (void)state;
    load_err("dupargs", "functions:\n  f: {args: [a, a], forward: a}\n" GRAPH,
             "2:17: error: duplicate argument 'a'");
    load_err("bwdarg", "functions:\n  f:\n    args: [a]\n    forward: a\n"
             "    backward: {b: grad}\n" GRAPH,
             "5:16: error: 'b' is not an argument of function 'f' "
             "(arguments: a)");
    load_err("nofwd", "functions:\n  f: {args: [a]}\n" GRAPH,
             "2:6: error: function 'f' needs 'forward' (an expression of its "
             "arguments)");
    load_err("reserved", "functions:\n  f: {args: [out], forward: out}\n"
             GRAPH, "2:14: error: argument name 'out' is reserved (backward "
             "expressions use 'out' and 'grad')");
}

static void test_spec_model_errors(void **state)
{
    (void)state;
    load_err("noinput", "model:\n  layers: [relu]\n",
             "2:3: error: 'model' needs 'input' (the name of the tensor it "
             "applies to)");
    load_err("nolayers", "model:\n  input: x\n  layers: []\n",
             "3:11: error: the model has no layers");
    load_err("twokeys", "model:\n  input: x\n  layers:\n    - conv1d:\n"
             "      in_channels: 2\n",
             "5:7: error: a layer is one key, KIND: {arguments}; found a "
             "second key 'in_channels' (indent the arguments under "
             "'conv1d')");
    load_err("kw", "model:\n  input: x\n  layers:\n    - conv1d: {padding: "
             "'1 2'}\n",
             "4:25: error: expected a number, a list of numbers or a word "
             "for 'padding' of layer 'conv1d', found the quoted string "
             "'1 2'");
    load_err("kind", "model:\n  input: x\n  layers:\n    - max-pool\n",
             "4:7: error: layer kind name 'max-pool' is not a valid "
             "identifier: it is not a C identifier (letters, digits and "
             "'_' only)");
    load_err("args", "model:\n  input: x\n  layers:\n    - relu: 3\n",
             "4:13: error: expected a mapping for the arguments of layer "
             "'relu' (check indentation), found '3'");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_seed_example),
        cmocka_unit_test(test_spec_default_name_is_file_stem),
        cmocka_unit_test(test_spec_dtype_and_seed),
        cmocka_unit_test(test_spec_inputs_init_rules),
        cmocka_unit_test(test_spec_model_layers),
        cmocka_unit_test(test_spec_loop),
        cmocka_unit_test(test_spec_functions),
        cmocka_unit_test(test_spec_backward_forms),
        cmocka_unit_test(test_spec_outputs),
        cmocka_unit_test(test_spec_src_positions),
        cmocka_unit_test(test_spec_error_then_load),
        cmocka_unit_test(test_spec_unreadable_file),
        cmocka_unit_test(test_spec_malformed_yaml),
        cmocka_unit_test(test_spec_alias_and_anchor),
        cmocka_unit_test(test_spec_one_document),
        cmocka_unit_test(test_spec_top_level_shape),
        cmocka_unit_test(test_spec_unknown_keys),
        cmocka_unit_test(test_spec_duplicate_keys),
        cmocka_unit_test(test_spec_invalid_names),
        cmocka_unit_test(test_spec_shape_errors),
        cmocka_unit_test(test_spec_value_errors),
        cmocka_unit_test(test_spec_init_errors),
        cmocka_unit_test(test_spec_scalar_errors),
        cmocka_unit_test(test_spec_loop_errors),
        cmocka_unit_test(test_spec_function_errors),
        cmocka_unit_test(test_spec_model_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

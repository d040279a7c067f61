/* agc.h: the internal header of the agc compiler, one section per file.
 *
 * The pipeline: spec.c loads the YAML spec into a Spec, expr.c parses each
 * expression string into an Expr tree, build.c lowers the trees into the
 * graph IR of graph.c (shape inference and simplification happen as each
 * node is made), grad.c appends the backward graph, emit.c writes C, and
 * jit.c compiles that C in memory with libtcc (or, with --backend cc, with
 * the system compiler into a cached shared object).  main.c is the command
 * line.
 *
 * Errors anywhere go through agc_error(), which formats
 * "FILE:LINE:COL: error: MESSAGE" and longjmps back to the entry point that
 * armed agc_error_jmp; all memory comes from one arena freed in one go.
 */
#ifndef AGC_H
#define AGC_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define AGC_VERSION "0.1.0"

/* Documented limits (README "Limits"). */
#define AGC_MAX_RANK 8
#define AGC_MAX_ELEMS (1L << 28)    /* elements in one tensor */
#define AGC_MAX_BYTES (1L << 31)    /* bytes in the generated struct */
#define AGC_MAX_DEPTH 200           /* expression nesting */
#define AGC_MAX_NAME 64             /* characters in a name */
#define AGC_MAX_ITER 2147483647L    /* a loop's max_iter */
#define AGC_MAX_SPEC_BYTES (16L << 20)  /* a spec file's size */

/* ---- util.c: arena, errors, strings ---- */

typedef struct Pos {
    const char *file;
    int line, col;                  /* 1-based; 0 when unknown */
} Pos;

extern jmp_buf *agc_error_jmp;      /* armed by each entry point */
extern char agc_errmsg[4096];       /* the last error, formatted */

#if defined(__GNUC__)
#define AGC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define AGC_NORETURN __attribute__((noreturn))
#else
#define AGC_PRINTF(a, b)
#define AGC_NORETURN
#endif

/* Formats "FILE:LINE:COL: error: MSG" into agc_errmsg and longjmps; a
 * Pos with no file gives "agc: error: MSG". */
AGC_NORETURN void agc_error(Pos pos, const char *fmt, ...) AGC_PRINTF(2, 3);
void *agc_alloc(size_t size);       /* zeroed; exits on out-of-memory */
void *agc_grow(void *p, size_t old_size, size_t new_size);
char *agc_strdup(const char *s);
char *agc_strndup(const char *s, size_t n);
char *agc_fmt(const char *fmt, ...) AGC_PRINTF(1, 2);
char *agc_vfmt(const char *fmt, va_list ap);
void agc_arena_free(void);          /* frees everything agc_alloc returned */
Pos pos_at(Pos p, int offset);      /* p moved right by offset columns */

/* Appends one element to a (ptr, n, cap) array and returns its address;
 * agc_reserve returns the array with room for one more. */
void *agc_reserve(void *p, int n, int *cap, size_t elem);
#define AGC_PUSH(ptr, n, cap)                                                 \
    ((ptr) = agc_reserve((ptr), (n), &(cap), sizeof *(ptr)), &(ptr)[(n)++])

/* A growing text buffer: put() appends formatted text, indenting each
 * line that starts with indent levels of four spaces, but for preprocessor
 * lines (emit.c, conv.c). */
typedef struct Out {
    char *s;
    size_t n, cap;
    int indent;
} Out;
void put(Out *o, const char *fmt, ...) AGC_PRINTF(2, 3);
void put_omp(Out *o, const char *directive);
void put_vec_sums(Out *o, const char *T);
void put_fma_macro(Out *o, int f32);
void put_vfma_macro(Out *o, int f32);
void put_vec_fma(Out *o, const char *a, const char *i, const char *b,
                 int lanes, int rows);
void put_vec_store(Out *o, int lanes, int rows);

/* Multiply-adds from which a kernel runs on all threads, when built with
 * -fopenmp: below it, a parallel region costs more than it saves. */
#define AGC_PAR_WORK (1L << 20)

/* 1 when s is a valid identifier for generated C: [A-Za-z][A-Za-z0-9_]*,
 * at most AGC_MAX_NAME characters, no "__", not a C keyword and not a
 * macro of the standard headers the generated code includes.  Otherwise 0
 * and *why says what is wrong. */
int agc_valid_name(const char *s, const char **why);
/* The same for the spec's name, which prefixes every file-scope identifier
 * of generated code (NAME_t, NAME_tensor, NAME_OK...): none of them may be
 * one that C99 <stddef.h> <stdint.h> <stdlib.h> <string.h> <math.h>
 * declare, such as size_t or int_fast16_t. */
int agc_valid_prefix(const char *s, const char **why);

/* The candidate closest to word by edit distance (transpositions count
 * one), when it is close enough to be a likely typo; else NULL. */
const char *agc_suggest(const char *word, const char *const *candidates,
                        int n);
/* "; did you mean 'X'?" for agc_suggest's X, or "" (for error messages). */
const char *agc_did_you_mean(const char *word,
                             const char *const *candidates, int n);

/* ---- spec.c: the YAML spec (the only file that includes <yaml.h>) ---- */

typedef enum { DT_F32, DT_F64 } DType;

typedef struct Shape {
    int rank;
    long d[AGC_MAX_RANK];
} Shape;

/* A number (rank 0) or a rectangular nested list of numbers, flattened. */
typedef struct Literal {
    Shape shape;
    long n;
    double *v;
    Pos pos;
} Literal;

/* A constant argument: a layer argument, or an expression's keyword
 * argument after evaluation.  Words are true/false/none/same/circular... */
typedef enum { KW_NUM, KW_TUPLE, KW_WORD } KwKind;
typedef struct KwVal {
    KwKind kind;
    int n;                          /* KW_TUPLE: elements in num[] */
    double num[AGC_MAX_RANK];       /* KW_NUM: num[0] */
    const char *word;
    Pos pos;
} KwVal;

typedef enum {
    INIT_NONE,                      /* bound at run time (--set) */
    INIT_VALUE,                     /* value: literal */
    INIT_ZEROS, INIT_ONES, INIT_ARANGE,
    INIT_UNIFORM,                   /* a = lo, b = hi */
    INIT_NORMAL                     /* a = mean, b = std */
} InitKind;

typedef struct Decl {               /* inputs: NAME -> tensor declaration */
    const char *name;
    Pos pos;                        /* of the key */
    Shape shape;
    int requires_grad;
    int is_int;                     /* dtype: int64 (section 10) */
    InitKind init;
    double a, b;
    Literal value;                  /* INIT_VALUE; checked against shape */
    const double *baked;            /* --weights: its values, which the */
                                    /* code holds as a static const array */
    int buffer;                     /* 1: a layer's buffer (ROLE_BUFFER), */
                                    /* 2: the generator's step (ROLE_RNG) */
} Decl;

/* An expression string and where its first character sits in the file;
 * map, when not NULL, says where each character and the end sit (a YAML
 * scalar over several lines, or with escapes, is not the file's text). */
typedef struct Src {
    const char *text;
    Pos pos;
    const Pos *map;
} Src;

typedef struct FuncDef {            /* functions: NAME -> custom function */
    const char *name;
    Pos pos;
    int nargs;
    const char **args;
    Pos *arg_pos;
    Src forward;
    int nbwd;                       /* backward: ARG -> expression */
    const char **bwd_arg;
    Pos *bwd_pos;
    Src *bwd;
} FuncDef;

typedef struct Layer {              /* one entry of model.layers */
    const char *kind;               /* conv1d, relu, linear... */
    const char *name;               /* given or kind + index */
    Pos pos;
    int nargs;
    const char **keys;
    KwVal *vals;
} Layer;

typedef struct GraphEntry {         /* graph: NAME -> expression or loop */
    const char *name;
    Pos pos;                        /* of the key */
    int is_loop;
    Src expr;                       /* !is_loop */
    Src init, cond, body;           /* loop */
    const char *as;                 /* loop variable (default: name) */
    Pos as_pos;
    long max_iter;
    Pos max_iter_pos;
    const char *count;              /* NULL when absent */
    Pos count_pos;
} GraphEntry;

typedef struct Spec {
    const char *path;
    int ndims;                      /* dims: NAME -> size (section 10) */
    const char **dim_names;
    long *dim_vals;
    Pos pos;                        /* the document's mapping */
    const char *name;
    Pos name_pos;
    DType dtype;
    long seed;
    int ndecls;
    Decl *decls;
    int nfuncs;
    FuncDef *funcs;
    int has_model;
    Pos model_pos;
    const char *model_input;
    Pos model_input_pos;
    int nlayers;
    Layer *layers;
    int ngraph;
    GraphEntry *graph;
    int noutputs;                   /* 0: the last node defined */
    const char **outputs;
    Pos *output_pos;
    int has_optimizer;              /* optimizer: KIND: {args} */
    Layer optimizer;
    int has_backward;
    const char *bwd_of;
    Pos bwd_pos;
    int bwd_has_grad;               /* grad: given in the spec */
    int bwd_runtime;                /* {of: y} alone: seed set at run time */
    Literal bwd_grad;
} Spec;

/* Loads and validates the structure of a spec; errors via agc_error. */
Spec *spec_load(const char *path);

/* -D NAME=N of the command line: overrides of the spec's dims, checked
 * and applied by spec_load. */
#define AGC_MAX_DEFINES 64
typedef struct AgcDefine {
    const char *name;
    long value;
} AgcDefine;
extern AgcDefine agc_defines[AGC_MAX_DEFINES];
extern int agc_ndefines;

/* ---- expr.c: expression lexer and parser ---- */

typedef enum {
    E_NUM,                          /* num */
    E_NAME,                         /* name (a tensor, or a word like same) */
    E_UNARY,                        /* op: '-' ; args[0] */
    E_BINARY,                       /* op: see ExprOp ; args[0], args[1] */
    E_CALL,                         /* name(args..., kwnames=kwargs...) */
    E_TUPLE,                        /* (args...) with 0 or 2+ elements */
    E_TRANSPOSE                     /* args[0].T */
} ExprKind;

typedef enum {
    X_ADD = '+', X_SUB = '-', X_MUL = '*', X_DIV = '/', X_MATMUL = '@',
    X_POW = '^', X_LT = '<', X_GT = '>',
    X_LE = 256, X_GE, X_EQ, X_NE
} ExprOp;

typedef struct Expr {
    ExprKind kind;
    Pos pos;                        /* the token that names the node */
    int op;
    double num;
    const char *name;
    int nargs;
    struct Expr **args;
    int nkw;
    const char **kwnames;
    Pos *kwpos;
    struct Expr **kwargs;
} Expr;

/* Parses one expression; errors point at the offending token's column. */
Expr *expr_parse(Src src);
/* Writes the expression back as text (for comments in generated code). */
char *expr_str(const Expr *e);
/* The same, cut to at most AGC_EXCERPT characters ending in "...": what a
 * comment of generated code quotes, so that output stays linear. */
#define AGC_EXCERPT 60
char *expr_excerpt(const Expr *e);

/* ---- graph.c: the IR, shape inference; pass.c: simplification ---- */

/* The primitives, one row each in ops.def: what each operand and attr
 * means is written there. */
typedef enum {
#define OP(e, ...) OP_##e,
#include "ops.def"
    OP_LAST
} Op;

/* An op's kind (ops.def), | K_GRAD when its value carries its operands'
 * gradient. */
enum {
    K_LEAF = 1, K_ELEMENTWISE = 2, K_REDUCTION = 4, K_MATMUL = 8,
    K_SHAPE = 16, K_LOOP = 32, K_CUSTOM = 64, K_WINDOW = 128, K_GRAD = 256
};

/* What ops.def says of an op, for every stage. */
typedef struct OpInfo {
    const char *name;
    int arity;                      /* -1: any */
    int kind;
    const char *grad_fn;            /* of the spec function, or NULL */
    const char *call;               /* "x, alpha=1", or NULL */
    const char *layer;              /* the model layer's key, or NULL */
} OpInfo;
extern const OpInfo op_info[OP_LAST];

/* OP_ARG's attr[0]: the loop variable, the gradient coming into the body
 * (its VJP's seed), or capture ARG_CAPTURE + i. */
enum { ARG_VAR, ARG_GRAD, ARG_CAPTURE };

#define AGC_NATTR 16

/* attr[] of OP_CONV and its adjoints: padding before (PH, PW) and after
 * (PH1, PW1) the input, which is zeros. */
enum { CV_GROUPS, CV_SH, CV_SW, CV_DH, CV_DW, CV_PH, CV_PW, CV_PH1, CV_PW1 };
/* attr[] of OP_MAXPOOL(_BWD): window, stride, padding (-inf), dilation,
 * and the extra padding after the input of ceil mode's last window */
enum { PL_KH, PL_KW, PL_SH, PL_SW, PL_PH, PL_PW, PL_DH, PL_DW, PL_EH,
       PL_EW };
/* attr[] of OP_PADMODE(_BWD): the mode and the rows and columns added */
enum { PM_MODE, PM_TOP, PM_BOTTOM, PM_LEFT, PM_RIGHT };
enum { PAD_CIRCULAR = 1, PAD_REFLECT, PAD_REPLICATE };

typedef struct Node {
    Op op;
    int id;                         /* index in Graph.nodes, topological */
    Shape shape;
    int nin;
    struct Node **in;
    long attr[AGC_NATTR];
    double cval;                    /* OP_CONST without cdata */
    const double *cdata;
    int decl;                       /* OP_INPUT: index in Program.decls */
    int needs_grad;                 /* depends on a leaf requiring grad */
    int is_int;                     /* an int64 value (an int64 input, */
                                    /* argmax): see build.c's int_use */
    int phase;                      /* 0 forward, 1 backward */
    Pos pos;                        /* the spec line it implements */
    const char *note;               /* for comments: "y = x - 2" */
    const char *name;               /* a user's name for it, if any */
    struct LoopDef *loop;           /* OP_LOOP: its condition and body */
    struct CustomFn *custom;        /* OP_CUSTOM: the function called */
    int nuses;                      /* filled by pass_plan */
    int live;
} Node;

typedef struct Graph {
    DType dtype;
    int n, cap;
    Node **nodes;
    int hcap;                       /* hash-consing table, for CSE */
    Node **hash;
    Pos pos;                        /* given to nodes made from now on */
    const char *note;
    int phase;
} Graph;

Graph *graph_new(DType dtype);
long shape_count(const Shape *s);
int shape_eq(const Shape *a, const Shape *b);
char *shape_str(const Shape *s);    /* "[2, 3]" */
Shape shape_of(int rank, const long *d);

/* Node constructors: infer the shape (agc_error at g->pos on mismatch),
 * simplify (pass.c), and return an existing equal node when there is one. */
Node *g_input(Graph *g, Shape s, int decl, int requires_grad);
Node *g_const(Graph *g, Shape s, double v);
Node *g_const_data(Graph *g, Shape s, const double *data);
Node *g_unary(Graph *g, Op op, Node *a);
Node *g_binary(Graph *g, Op op, Node *a, Node *b);
Node *g_where(Graph *g, Node *c, Node *a, Node *b);
Node *g_reduce(Graph *g, Op op, Node *a, unsigned mask, int keepdim);
Node *g_matmul(Graph *g, Node *a, Node *b);   /* torch.matmul, 1-D/2-D */
Node *g_transpose(Graph *g, Node *a, int d0, int d1);
Node *g_reshape(Graph *g, Node *a, Shape s);
Node *g_detach(Graph *g, Node *a);
/* int64 class indices a, checked to be in [0, classes) at run time */
Node *g_class_index(Graph *g, Node *a, long classes);
Node *g_cat(Graph *g, Node **xs, int n, int dim);
Node *g_narrow(Graph *g, Node *a, int dim, long start, long len);
Node *g_pad(Graph *g, Node *a, int dim, long start, long full);
Node *g_expand(Graph *g, Node *a, Shape s);    /* broadcast to s */
Node *g_sum_to(Graph *g, Node *a, Shape s);    /* adjoint of g_expand */
Node *g_scalar(Graph *g, double v);            /* a 0-d constant */
/* A call of custom function fn (Program.funcs[index]): the value of out,
 * the gradient of the user's backward; never merged with another call. */
Node *g_custom(Graph *g, struct CustomFn *fn, int index, Node *out,
               Node **args, int nargs);

/* Loops: the outer graph's nodes.  g_loop takes L's init and captures;
 * the others are projections of a loop or of its backward. */
Node *g_arg(Graph *g, Shape s, int which, int needs_grad);
Node *g_loop(Graph *g, Node *init, struct LoopDef *L);
Node *g_loop_count(Graph *g, Node *loop);
Node *g_loop_grad(Graph *g, Node *loop, Node *gy);
Node *g_loop_capgrad(Graph *g, Node *loop_grad, int i);
/* Window ops (attrs as CV_*, PL_*, PM_*; build.c checks the user's shapes
 * first).  The adjoints take the shape of the operand they belong to. */
Node *g_conv(Graph *g, Node *x, Node *w, const long *attr);
Node *g_conv_bwd(Graph *g, Op op, Node *a, Node *b, const long *attr,
                 Shape s);
Node *g_padmode(Graph *g, Node *x, const long *attr);
Node *g_padmode_bwd(Graph *g, Node *gy, const long *attr, Shape s);
Node *g_maxpool(Graph *g, Node *x, const long *attr);
Node *g_maxpool_bwd(Graph *g, Node *x, Node *gy, const long *attr);
/* Train and eval mode (ops.def): the value train in NAME_forward, eval in
 * NAME_infer; buffer := value in train mode (value NULL: buffer += 1);
 * a dropout mask of shape s from the generator at step (attr DO_*). */
Node *g_mode(Graph *g, Node *train, Node *eval);
Node *g_assign(Graph *g, Node *buffer, Node *value);
Node *g_dropout(Graph *g, Shape s, Node *step, const long *attr, double p);
/* attr[] of OP_DROPOUT: the stream (which dropout of the program), and
 * how many of the 2^53 draws per element drop it: p * 2^53, rounded up */
enum { DO_STREAM, DO_DROP };

int op_is_elementwise(Op op);
int op_is_reduction(Op op);
const char *op_name(Op op);
/* The parameters of op's call ("x, alpha=1") into names[] (NULL-ended)
 * and dflt[] (NULL for tensors); returns how many.  Room for max. */
int op_params(Op op, const char **names, const char **dflt, int max);
/* An elementwise op of n operands, broadcast together. */
Node *g_elementwise(Graph *g, Op op, Node **in, int n);

/* pass.c */
Node *pass_simplify(Graph *g, Node *n);  /* n or a simpler equal node */

/* A loop node (section 7).  Its condition and body live in a graph of
 * their own, built with the same constructors, whose leaves are OP_ARG
 * placeholders: the loop variable and the outer nodes the body or the
 * condition read (captures; outer constants are copied in instead).  Once
 * backward reaches the loop, grad.c adds to that graph the body's
 * vector-Jacobian product: from the gradient grad_in of the body's value,
 * the gradients of the variable and of each capture.  Backward runs it
 * once per iteration, in reverse, from the iterates that forward kept. */
typedef struct LoopDef {
    const char *name;               /* the node's name */
    const char *as;                 /* the loop variable's name */
    Pos pos;                        /* of the node's key */
    int index;                      /* in Program.loops */
    long max_iter;
    Graph *g;
    Node *var;                      /* OP_ARG ARG_VAR */
    Node *cond, *body;              /* in g */
    int body_fn;                    /* build.c: the body's grad_fn or -1 */
    int ncap, ccap;
    Node **cap;                     /* captured outer nodes */
    Node **cap_arg;                 /* their OP_ARGs in g */
    Node *node, *count;             /* OP_LOOP, OP_LOOP_COUNT outside */
    /* grad.c: the body's VJP in g (NULL gradients are zero) ... */
    Node *grad_in;                  /* OP_ARG ARG_GRAD */
    Node *grad_var;
    Node **grad_cap;
    /* ... and the nodes outside that run it */
    Node *grad;                     /* OP_LOOP_GRAD */
    Node **capgrad;                 /* OP_LOOP_CAPGRAD per capture */
    long tape_bytes;                /* set by emit.c; 0: no tape */
} LoopDef;

/* ---- build.c: lowering a spec into a Program ---- */

typedef enum {
    ROLE_INPUT,                     /* a leaf: input or parameter */
    ROLE_OUTPUT,
    ROLE_GRAD,                      /* gradient of a leaf requiring grad */
    ROLE_SEED,                      /* backward's seed, set at run time */
    ROLE_COUNT,                     /* a loop's iteration count (int64) */
    ROLE_STATE,                     /* the optimizer's (emit.c's own) */
    ROLE_BUFFER,                    /* a layer's state: running_mean... */
    ROLE_RNG                        /* the dropout generator's step */
} Role;

typedef struct Tensor {
    const char *name;               /* "x", "conv1.weight", "x.grad" */
    Role role;
    Node *node;                     /* its value in the graph */
    int decl;                       /* ROLE_INPUT, ROLE_GRAD: the leaf */
    Pos pos;
    const char *cname;              /* struct member, set by emit.c */
    long offset;                    /* elements; set by emit.c */
} Tensor;

/* A custom function, parsed once: its expressions are lowered at every
 * call (forward) and, when the call needs grad, in grad.c (backward). */
typedef struct CustomFn {
    struct Program *prog;           /* the program it belongs to */
    FuncDef *def;
    const char **params;            /* def->args, NULL-ended (for bind) */
    Expr *forward;
    Expr **backward;                /* per argument; NULL: no backward */
    Src *bwd_src;                   /* per argument: for error positions */
} CustomFn;

/* One grad_fn of the backward graph as PyTorch would build it for the
 * spec, recorded as each spec-level operation is lowered (before mean,
 * softmax... become primitives); `agc graph --backward` draws them. */
typedef struct GradFn {
    const char *name;               /* "MulBackward0", "AccumulateGrad" */
    const char *leaf;               /* AccumulateGrad: the leaf's name */
    const char *detail;             /* a loop's: what it repeats */
    Shape shape;                    /* of the value it belongs to */
    int nnext;
    int *next;                      /* next_functions, None left out */
} GradFn;

typedef struct Program {
    Spec *spec;
    Graph *g;
    int ndecls;                     /* spec inputs, then model parameters */
    Decl *decls;
    int dcap;
    Node **leaves;                  /* per decl */
    int ntensors;
    Tensor *tensors;
    int tcap;
    int nnamed, cnamed;             /* graph nodes and layers, by name */
    Tensor *named;
    Node *bwd_of;                   /* NULL: forward only */
    Node *seed;                     /* the seed's node (input or const) */
    int seed_runtime;               /* the seed is a ROLE_SEED tensor */
    int nloops, lcap;
    LoopDef **loops;
    int nfuncs;                     /* spec->funcs, parsed */
    CustomFn *funcs;
    int nfns, cfns;                 /* the grad_fn records */
    GradFn *fns;
    int bwd_fn;                     /* bwd_of's grad_fn, or -1 (None) */
    int infer_only;                 /* compile --infer: NAME_infer alone */
    struct Optim *optim;            /* NULL: no optimizer */
    Node *rng_step;                 /* dropout's step counter, or NULL */
    int ndropouts;                  /* dropouts lowered: streams */
    int has_modes;                  /* train and eval mode differ */
} Program;

/* Lowers the spec's model and graph, then appends the backward graph. */
Program *build_program(Spec *spec);

typedef struct Build Build;         /* lowering state: names in scope */
Node *build_expr(Build *b, const Expr *e);
void build_define(Build *b, const char *name, Node *n, Pos pos);

/* ---- model.c: section 6, layer lists as sugar ---- */

void model_declare(Program *p);     /* adds NAME.weight, NAME.bias leaves */
void model_build(Build *b, Program *p);  /* lowers the layers */
Tensor *program_add_tensor(Program *p, const char *name, Role role, Node *n,
                           Pos pos);
/* Lowers e into g with only the n names given in scope (a custom
 * function's forward or backward expression); `where` names that scope
 * in errors. */
Node *build_lower_scoped(Program *p, Graph *g, const Expr *e, int n,
                         const char *const *names, Node *const *nodes,
                         const char *where, int depth);

/* ---- optim.c: the optimizer step (section 12) ---- */

typedef enum { OPT_SGD, OPT_ADAM, OPT_ADAMW } OptKind;
typedef struct Optim {
    OptKind kind;
    Pos pos;
    double lr, momentum, dampening, weight_decay, beta1, beta2, eps;
    int nesterov, amsgrad;
} Optim;

/* One tensor the step updates: C expressions of its arrays. */
typedef struct OptimParam {
    const char *name;               /* "conv1.weight" */
    const char *param, *grad;
    const char *state[3];           /* as optim_state names them */
    long count;
} OptimParam;

/* The spec's optimizer with torch.optim's defaults, or NULL; errors as
 * torch.optim's, at the spec's position. */
Optim *optim_parse(Program *p);
/* The arrays of state each tensor has ("exp_avg"...): their count. */
int optim_state(const Optim *o, const char **names);
/* "adam(lr=0.001, betas=(0.9, 0.999), ...)", for comments. */
const char *optim_describe(const Optim *o);
/* The body of NAME_step: lr and step are C expressions of the learning
 * rate and of the int64 step count. */
void optim_emit(const Optim *o, Out *out, const OptimParam *ps, int n,
                const char *T, int f32, const char *lr, const char *step);

/* ---- grad.c: reverse mode as a graph transformation ---- */

void grad_build(Program *p);        /* adds ROLE_GRAD tensors */

/* ---- emit.c: the C emitter ---- */

/* The generated header and source; source includes the header by name.
 * body is the source without that #include line, for the JIT. */
typedef struct Emitted {
    char *h, *c, *body;
    long bytes;                     /* of the struct's arrays */
    long temp_bytes;                /* of those holding temporaries */
    int ntemps;
    long arena_bytes;               /* the planned arena */
    long arena_bound;               /* most bytes live in it at once */
    int nblocks;                    /* emitted blocks, forward then */
    Node **block_node;              /* backward: [1..nblocks] computes */
    long *block_live;               /* [b - 1]: arena bytes live in b */
} Emitted;

/* spec_path is what the banner and comments cite (sanitised). */
Emitted emit_program(Program *p, const char *spec_path);

/* The layout of NAME_tensor in generated code, for host-side tools. */
typedef struct AgcTensorInfo {
    const char *name;
    int role;                       /* Role */
    int rank;
    long shape[AGC_MAX_RANK];
    size_t offset;                  /* bytes from the start of NAME_t */
    long count;
    int is_int;                     /* int64_t (a loop count), else real */
} AgcTensorInfo;

/* ---- conv.c: kernels of the window ops, for emit.c ---- */

typedef struct Kernels {
    const char *T;                  /* "float" or "double" */
    int f32;                        /* T is float */
    const char *path;               /* the spec, for comments */
    long unroll;                    /* kernel taps per unrolled body */
    Out fns;                        /* static functions, before init */
    /* a new struct member of count elements of type (T or "double"),
     * for scratch: its C name */
    const char *(*scratch)(void *ctx, const char *type, const char *want,
                           long count, const char *note);
    void *ctx;
    void *shared;                   /* conv.c: the kernels written so far */
    int mm_written;                 /* emit.c: matmul's kernel written */
} Kernels;

/* The name of matmul's register-blocked kernel (emit.c), written into
 * K's functions the first time:
 *     agc_mm_6x16(kc, a, ars, acs, b, ldb, c, ldc, mr, nr, first)
 * c[r * ldc + j] = (first) or += the sum over k < kc of a[r * ars + k *
 * acs] * b[k * ldb + j], for r < mr <= 6, j < nr <= 16 (6x8 and 8 for
 * double); it reads all 16 columns of b. */
const char *mm_kernel(Kernels *K);

/* Writes the code that computes n (a window op) into out, its operands
 * being in[0..n->nin-1] (C expressions of their element pointers). */
void kernel_emit(Kernels *k, Out *o, Node *n, const char *out,
                 const char *const *in);

/* Whether convolution n's kernel can add a bias and take the relu as it
 * writes its output (conv_emit). */
int conv_adds_bias(const Node *n);

/* y = the convolution n of x and w, plus b (one value per output
 * channel) unless b is NULL, then its relu if relu, for n that
 * conv_adds_bias. */
void conv_emit(Kernels *k, Out *o, Node *n, const char *y, const char *x,
               const char *w, const char *b, int relu);

/* emit.c: OpenMP's parallel for, guarded by #ifdef _OPENMP, before a loop
 * of iters independent iterations over elems elements, when it is large
 * enough to pay (section 14); nothing otherwise. */
void put_omp_for(Out *o, long elems, long iters);

/* ---- jit.c: the same C compiled by libtcc in memory, or by cc ---- */

enum { AGC_BACKEND_TCC, AGC_BACKEND_CC };
extern int agc_backend;            /* jit.c: --backend (tcc or cc) */

typedef struct Jit {
    void *tcc;                      /* TCCState (--backend tcc) */
    void *dl;                       /* dlopen handle (--backend cc) */
    void (*init)(void *m);
    int (*forward)(void *m);
    int (*backward)(void *m);       /* NULL in an --infer build */
    int (*infer)(void *m);
    int (*step)(void *m);           /* with an optimizer, else NULL */
    int (*train_step)(void *m);
    const AgcTensorInfo *tensors;
    int ntensors;
    size_t size;
    long bad_target_offset;         /* of int64_t bad_target, or -1 */
    void *m;                        /* one instance, initialised */
} Jit;

/* Compiles em->body (with em->h) for p with agc_backend's compiler;
 * agc_error on failure. */
Jit *jit_new(Program *p, const Emitted *em);
void jit_free(Jit *j);
/* The element pointer of a named tensor, or NULL. */
void *jit_tensor(Jit *j, const char *name, const AgcTensorInfo **info);

/* ---- driver.c: the pipeline as one call ---- */

typedef struct Compiled {
    Spec *spec;
    Program *prog;
    Emitted em;
} Compiled;

/* Loads, builds and emits a spec.  Returns 0, or 1 with agc_errmsg set.
 * dtype_override: -1, or DT_F64 to compile in float64.  AGC_FOR_CHECK
 * also exposes the node that backward differentiates as an output;
 * AGC_INFER builds inference only (agc compile --infer). */
enum { AGC_FOR_CHECK = 1, AGC_INFER = 2 };
/* Kernel taps written out per unrolled body (--unroll N; default 64). */
extern long agc_unroll;
/* What generated files call the spec (main.c: its path relative to the
 * output directory); NULL: the path as given. */
extern const char *agc_cite_path;
/* 0: every temporary gets arena bytes of its own (tests compare). */
extern int agc_share_arena;
/* --weights FILE.npz (with AGC_INFER): parameters baked into the code. */
extern const char *agc_weights;
int agc_compile(const char *path, int dtype_override, int flags,
                Compiled *out);

/* ---- train.c: checkpoints and agc train ---- */

/* --save / --load: parameters, buffers and optimizer state as an .npz of
 * state_dict names; agc_error on any failure (the file is untouched). */
void ckpt_save(Program *p, Jit *j, const char *path);
void ckpt_load(Program *p, Jit *j, const char *path);

typedef struct TrainArg {           /* --data NAME=FILE.npy */
    const char *name, *path;
} TrainArg;

typedef struct TrainOpts {
    const TrainArg *data, *val;
    int ndata, nval;
    long epochs;
    int shuffle;                    /* --shuffle SEED given */
    uint64_t seed;
    void (*tick)(long done, long total);  /* progress; -1: clear */
} TrainOpts;

/* Trains with NAME_train_step, printing a line per epoch; returns 0 or
 * the generated code's error code. */
int train_run(Program *p, Jit *j, const TrainOpts *o);

/* ---- check.c: gradients against central finite differences ---- */

typedef struct CheckRow {
    const char *tensor;             /* "x.grad" */
    long count, checked;            /* elements, and how many were checked */
    double max_abs, max_rel;
    int ok;
} CheckRow;

/* Checks every gradient of a float64 JIT instance whose inputs are bound,
 * at most check_max evenly spaced elements of each (2000; the tests take
 * fewer); rows gets one entry per gradient.  Returns the number that
 * failed. */
extern long check_max;
int check_gradients(Program *p, Jit *j, CheckRow **rows, int *nrows);

#endif

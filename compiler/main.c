/* main.c: the command line of section 8. */
#include "agc.h"

#include "npy.h"
#include "print.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const usage_text =
    "usage: agc COMMAND SPEC [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  compile SPEC [-o DIR]          write DIR/NAME.h and DIR/NAME.c\n"
    "  run SPEC [--set NAME=FILE.npy]... [--grad NAME=FILE.npy] [--out DIR]\n"
    "                                 JIT-compile with libtcc, run forward "
    "and\n"
    "                                 backward, print outputs and gradients\n"
    "  check SPEC                     finite-difference gradient check "
    "(float64)\n"
    "  info SPEC                      every tensor's shape, parameter count,\n"
    "                                 FLOPs, memory\n"
    "  graph SPEC [--backward]        Graphviz DOT of the forward (or "
    "backward)\n"
    "                                 graph\n"
    "  help COMMAND                   help on one command\n"
    "\n"
    "  compile and run also take --unroll N: convolution window taps "
    "written out\n"
    "  per unrolled body (default 64); every command takes -D NAME=N, a "
    "size of the\n"
    "  spec's dims\n"
    "\n"
    "  agc --help | agc --version\n";

static const struct {
    const char *cmd, *help;
} helps[] = {
    {"compile", "usage: agc compile SPEC [-o DIR] [--unroll N] [--infer]\n\n"
                "Writes DIR/NAME.h and DIR/NAME.c (DIR defaults to '.'), "
                "where NAME is the spec's\nname. The files are plain C99 "
                "with no dependency beyond the C library: one\nstruct "
                "NAME_t holding every tensor, NAME_init, NAME_forward, "
                "NAME_backward,\nand the table NAME_tensors describing each "
                "tensor. On any error nothing is\nwritten.\n\n"
                "  --unroll N   write out at most N taps of a convolution "
                "window in one\n"
                "               unrolled body (default 64); wider windows "
                "loop over smaller\n"
                "               bodies, which bounds the code's size\n"
                "  --infer      inference only: NAME_infer, and no backward, "
                "gradients or\n"
                "               optimizer; the struct holds inputs, "
                "parameters, outputs and\n"
                "               the arena\n"
                "  --weights FILE.npz  with --infer: parameters from the "
                "checkpoint, as\n"
                "               static const arrays in NAME.c (flash on a "
                "microcontroller)\n"},
    {"run", "usage: agc run SPEC [--set NAME=FILE.npy]... "
            "[--grad NAME=FILE.npy] [--out DIR]\n"
            "               [--unroll N]\n\n"
            "Compiles the spec in memory with libtcc, runs forward and "
            "backward, and prints\neach output and then each gradient "
            "(NAME.grad) as PyTorch prints tensors.\n\n"
            "  --set NAME=FILE.npy   the value of input NAME (an input with "
            "no value or init\n"
            "                        in the spec must be set); dtype and "
            "shape must match\n"
            "  --grad NAME=FILE.npy  the seed of backward: {of: NAME}\n"
            "  --out DIR             also write NAME.npy and NAME.grad.npy "
            "files into DIR\n"
            "  --unroll N            as for agc compile (default 64)\n"},
    {"check", "usage: agc check SPEC [--set NAME=FILE.npy]...\n\n"
              "Compiles the spec in float64 and compares every gradient "
              "with central finite\ndifferences of sum(seed * y), where y "
              "is the node backward differentiates.\nPrints a table; exits "
              "1 when any gradient is off by more than 1e-5 relative.\n"
              "Tensors above 2000 elements are checked at 2000 evenly "
              "spaced elements.\n"},
    {"info", "usage: agc info SPEC [--infer]\n\n"
             "Prints every tensor with its shape and role, the parameter "
             "count, the FLOPs\nof forward and backward, and the memory of "
             "the generated struct.\n"},
    {"graph", "usage: agc graph SPEC [--backward]\n\n"
              "Prints the forward graph in Graphviz DOT: one node per "
              "operation of the IR.\nWith --backward, prints the backward "
              "graph as PyTorch builds it: one box per\ngrad_fn "
              "(MulBackward0, MeanBackward0...) of each operation of the "
              "spec, an\narrow to each of its next_functions, and an "
              "AccumulateGrad box per leaf\nrequiring grad. Render it "
              "with: agc graph SPEC | dot -Tsvg > graph.svg\n"},
};

static int usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "agc: error: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(run 'agc --help' for usage)\n");
    return 1;
}

static int fail(void)
{
    fprintf(stderr, "%s\n", agc_errmsg);
    return 1;
}

/* ---- compile ---- */

/* Writes text to dir/name through a temporary file; returns the temporary
 * path so that the caller can rename all files at once. */
static char *write_temp(const char *dir, const char *name, const char *text)
{
    char *tmp = agc_fmt("%s/.%s.XXXXXX", dir, name);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return NULL;
    FILE *f = fdopen(fd, "w");
    size_t n = strlen(text);
    if (!f || fwrite(text, 1, n, f) != n || fclose(f) != 0) {
        if (!f)
            close(fd);
        unlink(tmp);
        return NULL;
    }
    chmod(tmp, 0644);
    return tmp;
}

static int compile_flags;           /* AGC_INFER with --infer */

static int cmd_compile(const char *spec, const char *dir)
{
    Compiled c;
    if (agc_compile(spec, -1, compile_flags, &c))
        return fail();
    const char *name = c.spec->name;
    char *h = agc_fmt("%s.h", name), *cf = agc_fmt("%s.c", name);
    char *th = write_temp(dir, h, c.em.h);
    char *tc = th ? write_temp(dir, cf, c.em.c) : NULL;
    if (!th || !tc) {
        int e = errno;
        if (th)
            unlink(th);
        fprintf(stderr, "agc: error: cannot write into '%s': %s\n", dir,
                strerror(e));
        return 1;
    }
    if (rename(th, agc_fmt("%s/%s", dir, h)) ||
        rename(tc, agc_fmt("%s/%s", dir, cf))) {
        fprintf(stderr, "agc: error: cannot write into '%s': %s\n", dir,
                strerror(errno));
        unlink(th);
        unlink(tc);
        return 1;
    }
    return 0;
}

/* ---- run ---- */

typedef struct Binding {
    const char *name, *file;
} Binding;

static const Tensor *find_tensor(Program *p, const char *name, Role role)
{
    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].role == role && !strcmp(p->tensors[i].name, name))
            return &p->tensors[i];
    return NULL;
}

static int dtype_size(Program *p)
{
    return p->spec->dtype == DT_F32 ? 4 : 8;
}

/* Reads file into the tensor's member; errors cite the spec position. */
static void bind_npy(Program *p, Jit *j, const Tensor *t, const char *file)
{
    const AgcTensorInfo *info;
    void *data = jit_tensor(j, t->name, &info);
    char err[512];
    if (npy_read(file, info->is_int ? 'i' : 'f',
                 info->is_int ? 8 : dtype_size(p), info->rank, info->shape,
                 data, err, sizeof err))
        agc_error(t->pos, "%s (for '%s')", err, t->name);
}

/* --set NAME=FILE for each binding; NAME may also be a seed ("y.grad"),
 * which agc check takes this way. */
static void bind_sets(Program *p, Jit *j, const Binding *sets, int nsets)
{
    for (int i = 0; i < nsets; i++) {
        const Tensor *t = find_tensor(p, sets[i].name, ROLE_INPUT);
        if (!t)
            t = find_tensor(p, sets[i].name, ROLE_SEED);
        if (!t)
            agc_error(p->spec->pos, "--set %s: the spec has no input '%s'",
                      sets[i].name, sets[i].name);
        bind_npy(p, j, t, sets[i].file);
    }
}

static double element(Program *p, const void *data, long i)
{
    return dtype_size(p) == 4 ? ((const float *)data)[i]
                              : ((const double *)data)[i];
}

static void print_tensor(Program *p, Jit *j, const char *label,
                         const Tensor *t)
{
    const AgcTensorInfo *info;
    void *data = jit_tensor(j, t->name, &info);
    char *s;
    if (info->is_int) {
        s = tensor_format_int64(data, info->rank, info->shape);
    } else {
        double *v = malloc(sizeof(double) * (size_t)info->count);
        if (!v)
            agc_error(t->pos, "out of memory");
        for (long i = 0; i < info->count; i++)
            v[i] = element(p, data, i);
        s = tensor_format(v, info->rank, info->shape,
                          p->spec->dtype == DT_F64);
        free(v);
    }
    if (!s)
        agc_error(t->pos, "out of memory");
    printf("%s = %s\n", label, s);
    free(s);
}

static int cmd_run(const char *spec, Binding *sets, int nsets,
                   const Binding *grad, const char *outdir)
{
    Compiled c;
    Jit *volatile j = NULL;         /* read after longjmp */
    if (agc_compile(spec, -1, 0, &c))
        return fail();
    Program *p = c.prog;
    jmp_buf jb;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        jit_free(j);
        return fail();
    }
    j = jit_new(p, &c.em);
    bind_sets(p, j, sets, nsets);
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        int set = 0;
        for (int k = 0; k < nsets; k++)
            set |= !strcmp(sets[k].name, t->name);
        if (t->role == ROLE_INPUT && p->decls[t->decl].init == INIT_NONE &&
            !set)
            agc_error(t->pos, "input '%s' has no value: give --set "
                      "%s=FILE.npy", t->name, t->name);
    }
    if (grad) {
        const Tensor *t = p->seed_runtime
                              ? find_tensor(p, agc_fmt("%s.grad", grad->name),
                                            ROLE_SEED)
                              : NULL;
        if (!t)
            agc_error(p->spec->pos, "--grad %s: the spec has no backward: "
                      "{of: %s} taking a seed at run time", grad->name,
                      grad->name);
        bind_npy(p, j, t, grad->file);
    } else if (p->seed_runtime && p->bwd_of->shape.rank != 0) {
        agc_error(p->spec->bwd_pos, "backward of '%s' needs a seed: give "
                  "--grad %s=FILE.npy", p->spec->bwd_of, p->spec->bwd_of);
    }
    int rc = j->forward(j->m);
    if (rc == 2 && j->bad_target_offset >= 0) { /* NAME_ERR_TARGET */
        long long bad = *(int64_t *)((char *)j->m + j->bad_target_offset);
        Node *at = NULL;            /* the one check, if there is one */
        int nchecks = 0;
        for (int i = 0; i < p->g->n; i++)
            if (p->g->nodes[i]->op == OP_CLASS_INDEX && nchecks++ == 0)
                at = p->g->nodes[i];
        if (nchecks == 1 && p->nloops == 0)
            agc_error(at->pos, "forward failed: Target %lld is out of "
                      "bounds: class indices must be in [0, %ld)", bad,
                      at->attr[0]);
        agc_error(p->spec->pos, "forward failed: Target %lld is out of "
                  "bounds: class indices (int64 targets of cross_entropy "
                  "and nll_loss, one_hot's argument) must be in [0, number "
                  "of classes)", bad);
    }
    if (rc != 0) {                  /* NAME_ERR_MAX_ITER */
        if (p->nloops == 1)
            agc_error(p->loops[0]->pos, "forward failed: loop '%s' exceeded "
                      "its max_iter: the condition still held after %ld "
                      "iterations", p->loops[0]->name, p->loops[0]->max_iter);
        agc_error(p->spec->pos, "forward failed: a loop exceeded its "
                  "max_iter");
    }
    if (p->bwd_of && j->backward(j->m) != 0)
        agc_error(p->spec->pos, "backward failed");

    /* write every file to a temporary first: all of them or none */
    int nfiles = 0;
    char **tmps = agc_alloc(sizeof(char *) * (size_t)(p->ntensors + 1));
    char **finals = agc_alloc(sizeof(char *) * (size_t)(p->ntensors + 1));
    for (int i = 0; outdir && i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        if (t->role != ROLE_OUTPUT && t->role != ROLE_GRAD &&
            t->role != ROLE_COUNT)
            continue;
        const AgcTensorInfo *info;
        void *data = jit_tensor(j, t->name, &info);
        char err[512];
        finals[nfiles] = agc_fmt("%s/%s.npy", outdir, t->name);
        tmps[nfiles] = agc_fmt("%s/.%s.npy.part", outdir, t->name);
        if (npy_write(tmps[nfiles], info->is_int ? 'i' : 'f',
                      info->is_int ? 8 : dtype_size(p), info->rank,
                      info->shape, data, err, sizeof err)) {
            for (int k = 0; k < nfiles; k++)
                unlink(tmps[k]);
            agc_error(p->spec->pos, "--out: %s", err);
        }
        nfiles++;
    }
    for (int k = 0; k < nfiles; k++)
        if (rename(tmps[k], finals[k]))
            agc_error(p->spec->pos, "--out: cannot write '%s': %s", finals[k],
                      strerror(errno));

    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].role == ROLE_OUTPUT ||
            p->tensors[i].role == ROLE_COUNT)
            print_tensor(p, j, p->tensors[i].name, &p->tensors[i]);
    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].role == ROLE_GRAD)
            print_tensor(p, j, p->tensors[i].name, &p->tensors[i]);
    jit_free(j);
    agc_error_jmp = NULL;
    return 0;
}

static int parse_binding(const char *arg, Binding *b)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1])
        return 0;
    b->name = agc_strndup(arg, (size_t)(eq - arg));
    b->file = eq + 1;
    return 1;
}

/* ---- check ---- */

static int cmd_check(const char *spec, Binding *sets, int nsets)
{
    Compiled c;
    Jit *volatile j = NULL;         /* read after longjmp */
    if (agc_compile(spec, DT_F64, AGC_FOR_CHECK, &c))
        return fail();
    Program *p = c.prog;
    jmp_buf jb;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        jit_free(j);
        return fail();
    }
    if (!p->bwd_of)
        agc_error(p->spec->pos, "nothing to check: the spec has no "
                  "backward");
    j = jit_new(p, &c.em);
    bind_sets(p, j, sets, nsets);
    CheckRow *rows;
    int nrows;
    int failed = check_gradients(p, j, &rows, &nrows);
    printf("%-24s %12s %12s %10s  %s\n", "tensor", "max abs err",
           "max rel err", "checked", "verdict");
    for (int i = 0; i < nrows; i++)
        printf("%-24s %12.3e %12.3e %10ld  %s\n", rows[i].tensor,
               rows[i].max_abs, rows[i].max_rel, rows[i].checked,
               rows[i].ok ? "ok" : "FAIL");
    printf("%d passed, %d failed\n", nrows - failed, failed);
    jit_free(j);
    agc_error_jmp = NULL;
    return failed ? 1 : 0;
}

/* ---- info ---- */

static long node_flops(const Node *n)
{
    long out = shape_count(&n->shape);
    if (op_is_elementwise(n->op))
        return n->op == OP_COPY ? 0 : out;
    if (op_is_reduction(n->op))
        return shape_count(&n->in[0]->shape) * (n->op == OP_NORM ? 2 : 1);
    if (n->op == OP_MATMUL)
        return 2 * out * n->in[0]->shape.d[1];
    if (n->op >= OP_CONV && n->op <= OP_CONV_BWD_WEIGHT) {
        /* a multiply-add per output of the forward one and window tap */
        const Node *y = n->op == OP_CONV ? n
                        : n->op == OP_CONV_BWD_INPUT ? n->in[0] : n->in[1];
        const Shape *w = n->op == OP_CONV_BWD_WEIGHT ? &n->shape
                                                     : &n->in[1]->shape;
        return 2 * shape_count(&y->shape) * w->d[1] * w->d[2] * w->d[3];
    }
    if (n->op == OP_MAXPOOL || n->op == OP_MAXPOOL_BWD)   /* comparisons */
        return shape_count(&(n->op == OP_MAXPOOL ? n : n->in[1])->shape) *
               n->attr[PL_KH] * n->attr[PL_KW];
    return 0;
}

static const char *role_label(Role r)
{
    static const char *const names[] = {"input", "output", "gradient",
                                        "seed", "count", "state"};
    return names[r];
}

/* The blocks the generated code runs, a row per spec line and phase:
 * FLOPs, and the arena's bytes live meanwhile (the most of its blocks);
 * then the struct's bytes by role, and the arena against its bound. */
static void info_memory(const Compiled *c)
{
    const Emitted *em = &c->em;
    Program *p = c->prog;
    printf("%-34s %12s %12s\n", "block", "FLOPs", "arena live");
    for (int b = 1; b <= em->nblocks;) {
        const Node *n = em->block_node[b];
        long flops = 0, live = 0;
        int e = b;
        for (; e <= em->nblocks && em->block_node[e]->phase == n->phase &&
               em->block_node[e]->pos.line == n->pos.line; e++) {
            flops += node_flops(em->block_node[e]);
            if (em->block_live[e - 1] > live)
                live = em->block_live[e - 1];
        }
        const char *what = n->note ? n->note : op_name(n->op);
        if (!strncmp(what, "grad of ", 8))
            what += 8;
        int len = (int)strcspn(what, " =");
        printf("%-34s %12ld %12ld\n",
               agc_fmt("%.*s (%s, line %d)", len > 20 ? 20 : len, what,
                       n->phase ? "backward" : "forward", n->pos.line),
               flops, live);
        b = e;
    }
    long esize = p->spec->dtype == DT_F32 ? 4 : 8, role[5] = {0};
    long params = 0;
    for (int i = 0; i < p->ntensors; i++) {
        const Tensor *t = &p->tensors[i];
        int is_int = t->role == ROLE_COUNT ||   /* int64_t members */
                     (t->role != ROLE_GRAD && t->node->is_int);
        long b = shape_count(&t->node->shape) * (is_int ? 8 : esize);
        if (t->role == ROLE_INPUT && p->decls[t->decl].requires_grad)
            params += b;
        else
            role[t->role] += b;
    }
    long other = em->bytes - em->arena_bytes - params;
    for (int r = 0; r < 5; r++)
        other -= role[r];
    printf("memory: %ld bytes in struct %s_t, of which inputs %ld, "
           "parameters %ld, "
           "outputs %ld, gradients %ld, seeds and counts %ld, arena %ld, "
           "other %ld (optimizer state, tapes, loop counts, kernel scratch "
           "of another type, padding)\n", em->bytes, p->spec->name,
           role[ROLE_INPUT], params, role[ROLE_OUTPUT], role[ROLE_GRAD],
           role[ROLE_SEED] + role[ROLE_COUNT], em->arena_bytes, other);
    printf("arena: %ld bytes; lower bound %ld bytes (the most live at once)"
           "\n", em->arena_bytes, em->arena_bound);
}

static int cmd_info(const char *spec)
{
    Compiled c;
    if (agc_compile(spec, -1, compile_flags, &c))
        return fail();
    Program *p = c.prog;
    printf("%s: %s\n", p->spec->name,
           p->spec->dtype == DT_F32 ? "float32" : "float64");
    printf("%-24s %-10s %s\n", "tensor", "role", "shape");
    long params = 0;
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        const char *extra = "";
        if (t->role == ROLE_INPUT && p->decls[t->decl].requires_grad) {
            params += shape_count(&t->node->shape);
            extra = "  requires grad";
        }
        printf("%-24s %-10s %s%s\n", t->name, role_label(t->role),
               shape_str(&t->node->shape), extra);
    }
    for (int i = 0; i < p->nnamed; i++)
        if (!find_tensor(p, p->named[i].name, ROLE_OUTPUT))
            printf("%-24s %-10s %s\n", p->named[i].name, "node",
                   shape_str(&p->named[i].node->shape));
    long flops[2] = {0, 0};
    for (int i = 0; i < p->g->n; i++)
        flops[p->g->nodes[i]->phase] += node_flops(p->g->nodes[i]);
    printf("parameters (inputs requiring grad): %ld\n", params);
    printf("FLOPs: forward %ld, backward %ld", flops[0], flops[1]);
    printf(p->nloops ? " (loops: once per iteration)\n" : "\n");
    for (int k = 0; k < p->nloops; k++) {
        LoopDef *L = p->loops[k];
        long f[2] = {0, 0};
        for (int i = 0; i < L->g->n; i++)
            f[L->g->nodes[i]->phase] += node_flops(L->g->nodes[i]);
        printf("loop %s: max_iter %ld; per iteration %ld FLOPs forward, %ld "
               "backward; tape %ld bytes%s\n", L->name, L->max_iter, f[0],
               f[1], L->tape_bytes,
               L->tape_bytes ? agc_fmt(" (%ld iterates of %s)", L->max_iter,
                                       shape_str(&L->var->shape))
               : L->grad ? " (backward does not read the iterates)"
                         : " (no backward through it)");
    }
    info_memory(&c);
    return 0;
}

/* ---- graph ---- */

/* s inside a DOT string: quotes and backslashes escaped. */
static const char *dot_escape(const char *s)
{
    char *r = agc_alloc(2 * strlen(s) + 1), *o = r;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *o++ = '\\';
        *o++ = *s == '\n' ? ' ' : *s;
    }
    return r;
}

/* Declares grad_fn i and, depth first, what it reaches; an edge from
 * each grad_fn to each of its next_functions, in the direction the
 * gradient flows (torch.autograd.grad_fn.next_functions). */
static void draw_fn(Program *p, int i, char *drawn)
{
    GradFn *f = &p->fns[i];
    if (drawn[i])
        return;
    drawn[i] = 1;
    if (f->leaf)
        printf("  f%d [label=\"%s\\n%s %s\", fillcolor=lightblue];\n", i,
               f->name, f->leaf, shape_str(&f->shape));
    else if (f->detail)
        printf("  f%d [label=\"%s\\n%s\"];\n", i, f->name,
               dot_escape(f->detail));
    else
        printf("  f%d [label=\"%s\"];\n", i, f->name);
    for (int k = 0; k < f->nnext; k++)
        printf("  f%d -> f%d;\n", i, f->next[k]);
    for (int k = 0; k < f->nnext; k++)
        draw_fn(p, f->next[k], drawn);
}

/* The backward graph as PyTorch builds it (and torchviz draws it): the
 * differentiated value, its grad_fn, and every grad_fn reachable through
 * next_functions down to an AccumulateGrad per leaf requiring grad. */
static void graph_backward(Program *p)
{
    if (!p->bwd_of)
        agc_error(p->spec->pos, "nothing to draw: the spec has no "
                  "backward");
    printf("digraph %s_backward {\n  node [shape=box, style=filled, "
           "fillcolor=lightgrey, fontname=\"Helvetica\"];\n", p->spec->name);
    printf("  out [label=\"%s\\n%s\", fillcolor=darkolivegreen1];\n",
           p->spec->bwd_of, shape_str(&p->bwd_of->shape));
    if (p->bwd_fn >= 0) {
        printf("  out -> f%d;\n", p->bwd_fn);
        draw_fn(p, p->bwd_fn, agc_alloc((size_t)p->nfns));
    }
    printf("}\n");
}

static int cmd_graph(const char *spec, int backward)
{
    Compiled c;
    if (agc_compile(spec, -1, 0, &c))
        return fail();
    Program *p = c.prog;
    Graph *g = p->g;
    if (backward) {
        jmp_buf jb;
        agc_error_jmp = &jb;
        if (setjmp(jb))
            return fail();
        graph_backward(p);
        agc_error_jmp = NULL;
        return 0;
    }
    printf("digraph %s {\n  rankdir=LR;\n  node [shape=box, "
           "fontname=\"Helvetica\"];\n", p->spec->name);
    for (int i = 0; i < g->n; i++) {
        Node *n = g->nodes[i];
        if (n->phase)
            continue;
        const char *label = n->op == OP_INPUT ? p->decls[n->decl].name
                                              : op_name(n->op);
        if (n->op == OP_CONST && !n->cdata)
            label = agc_fmt("%g", n->cval);
        printf("  n%d [label=\"%s\\n%s\"%s];\n", n->id, label,
               shape_str(&n->shape),
               n->op == OP_INPUT ? ", style=filled, fillcolor=lightblue"
                                 : "");
        for (int k = 0; k < n->nin; k++)
            printf("  n%d -> n%d;\n", n->in[k]->id, n->id);
    }
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        if (t->role == ROLE_INPUT || t->role == ROLE_GRAD)
            continue;
        printf("  t%d [label=\"%s\", shape=ellipse];\n  n%d -> t%d;\n", i,
               t->name, t->node->id, i);
    }
    printf("}\n");
    return 0;
}

/* ---- main ---- */

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("no command given", "");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("agc %s\n", AGC_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            fputs(usage_text, stdout);
            return 0;
        }
        for (size_t i = 0; i < sizeof helps / sizeof *helps; i++)
            if (!strcmp(argv[2], helps[i].cmd)) {
                fputs(helps[i].help, stdout);
                return 0;
            }
        return usage_error("no command '%s'", argv[2]);
    }
    int known = 0;
    for (size_t i = 0; i < sizeof helps / sizeof *helps; i++)
        known |= !strcmp(cmd, helps[i].cmd);
    if (!known)
        return usage_error("unknown command '%s'", cmd);
    if (argc < 3)
        return usage_error("%s: no spec file given", cmd);
    const char *spec = argv[2];
    const char *dir = ".", *outdir = NULL;
    int backward = 0, nsets = 0;
    Binding *sets = calloc((size_t)argc, sizeof *sets), grad, *gradp = NULL;
    if (!sets)
        return usage_error("out of memory%s", "");
    for (int i = 3; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(cmd, "compile") && !strcmp(a, "-o") && more)
            dir = argv[++i];
        else if ((!strcmp(cmd, "run") || !strcmp(cmd, "check")) &&
                 !strcmp(a, "--set") && more) {
            if (!parse_binding(argv[++i], &sets[nsets++]))
                return usage_error("--set wants NAME=FILE.npy, not '%s'",
                                   argv[i]);
        } else if (!strcmp(cmd, "run") && !strcmp(a, "--grad") && more) {
            if (gradp || !parse_binding(argv[++i], &grad))
                return usage_error("--grad wants one NAME=FILE.npy, not '%s'",
                                   argv[i]);
            gradp = &grad;
        } else if (!strcmp(cmd, "run") && !strcmp(a, "--out") && more)
            outdir = argv[++i];
        else if (!strcmp(cmd, "graph") && !strcmp(a, "--backward"))
            backward = 1;
        else if ((!strcmp(cmd, "compile") || !strcmp(cmd, "info")) &&
                 !strcmp(a, "--infer"))
            compile_flags |= AGC_INFER;
        else if ((!strcmp(cmd, "compile") || !strcmp(cmd, "info")) &&
                 !strcmp(a, "--weights") && more)
            agc_weights = argv[++i];
        else if (!strncmp(a, "-D", 2) && (a[2] || more)) {
            const char *d = a[2] ? a + 2 : argv[++i], *eq = strchr(d, '=');
            char *end;
            errno = 0;
            long v = eq ? strtol(eq + 1, &end, 10) : 0;
            if (!eq || eq == d || errno || *end || end == eq + 1 || v < 1 ||
                v > AGC_MAX_ELEMS)
                return usage_error("-D wants NAME=N with N a positive "
                                   "integer, not '%s'", d);
            if (agc_ndefines == AGC_MAX_DEFINES)
                return usage_error("more than 64 -D options%s", "");
            agc_defines[agc_ndefines++] =
                (AgcDefine){agc_strndup(d, (size_t)(eq - d)), v};
        }
        else if ((!strcmp(cmd, "compile") || !strcmp(cmd, "run")) &&
                 !strcmp(a, "--unroll") && more) {
            char *end;
            errno = 0;
            agc_unroll = strtol(argv[++i], &end, 10);
            if (errno || *end || end == argv[i] || agc_unroll < 1 ||
                agc_unroll > 1 << 20)
                return usage_error("--unroll wants a number of taps from 1 "
                                   "to 1048576, not '%s'", argv[i]);
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (agc_weights && !(compile_flags & AGC_INFER))
        return usage_error("--weights goes with --infer (parameters baked "
                           "into the code cannot train)%s", "");
    int rc;
    if (!strcmp(cmd, "compile"))
        rc = cmd_compile(spec, dir);
    else if (!strcmp(cmd, "run"))
        rc = cmd_run(spec, sets, nsets, gradp, outdir);
    else if (!strcmp(cmd, "check"))
        rc = cmd_check(spec, sets, nsets);
    else if (!strcmp(cmd, "info"))
        rc = cmd_info(spec);
    else
        rc = cmd_graph(spec, backward);
    free(sets);
    agc_arena_free();
    return rc;
}

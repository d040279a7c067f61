/* fuzz.c: a libFuzzer target of the whole pipeline.
 *
 * Each input is a spec: it is written to a file (spec_load reads files),
 * compiled to C text by agc_compile (one input in eight in float64 with
 * AGC_FOR_CHECK, as agc check compiles), and, when it compiles and is small,
 * JIT-compiled with libtcc, initialised, and run forward and backward with
 * every unset input filled with a few distinct values.  AGC_FUZZ_MODE picks
 * what is done:
 *
 *   compile   spec text -> C text only
 *   jit       also JIT and run every small spec that compiles
 *   both      (the default) compile every input, JIT and run one in four
 *             of the small specs that compile (picked by a hash of the
 *             bytes, so that an input always does the same), as the JIT
 *             costs five compiles
 *
 * A positioned error is the expected answer to bad input.  An error whose
 * message says "internal error", a crash, a sanitizer report, a leak or a
 * hang are findings: the first aborts, libFuzzer catches the others.
 * The arena is freed after every input. */
#include "agc.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Limits on what the JIT runs, so that one input takes milliseconds. */
#define JIT_MAX_BYTES (1L << 20)    /* the struct, inputs counted */
#define JIT_MAX_WORK 4000000.0      /* element operations, loops unrolled */

static char dir[256], file[300];
static int jit_every = 4;           /* JIT one input in jit_every */

static void remove_file(void)
{
    unlink(file);
    rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *mode = getenv("AGC_FUZZ_MODE");
    if (mode && !strcmp(mode, "compile"))
        jit_every = 0;
    else if (mode && !strcmp(mode, "jit"))
        jit_every = 1;
    else if (mode && strcmp(mode, "jit") && strcmp(mode, "both")) {
        fprintf(stderr, "AGC_FUZZ_MODE: expected compile, jit or both\n");
        exit(2);
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/agc-fuzz-%ld", tmp && *tmp ? tmp : "/tmp",
             (long)getpid());
    snprintf(file, sizeof file, "%s/fuzz.yaml", dir);
    if (mkdir(dir, 0700) && access(dir, W_OK)) {
        perror(dir);
        exit(2);
    }
    atexit(remove_file);
    return 0;
}

/* Aborts when agc_errmsg, "FILE:LINE:COL: error: MESSAGE", reports an
 * internal error (MESSAGE may quote the spec's text: only its start counts;
 * FILE is ours and holds no " error: "). */
static void check_error(void)
{
    const char *m = strstr(agc_errmsg, " error: ");
    if (m && !strncmp(m + 8, "internal error", 14)) {
        fprintf(stderr, "agc fuzz: finding: %s\n", agc_errmsg);
        abort();
    }
}

/* An upper bound of the element operations of one pass over g's nodes. */
static double work(const Graph *g)
{
    double w = 0;
    for (int i = 0; i < g->n; i++) {
        const Node *n = g->nodes[i];
        double out = (double)shape_count(&n->shape) + 1, per = 1;
        if (op_is_reduction(n->op))
            out = (double)shape_count(&n->in[0]->shape) + 1;
        else if (n->op == OP_MATMUL && n->in[0]->shape.rank)
            per = (double)n->in[0]->shape.d[n->in[0]->shape.rank - 1];
        else if (n->op >= OP_CONV && n->op <= OP_CONV_BWD_WEIGHT) {
            const Node *y = n->op == OP_CONV ? n
                            : n->op == OP_CONV_BWD_INPUT ? n->in[0]
                                                         : n->in[1];
            const Shape *k = n->op == OP_CONV_BWD_WEIGHT ? &n->shape
                                                         : &n->in[1]->shape;
            out = (double)shape_count(&y->shape) + 1;
            per = (double)k->d[1] * (double)k->d[2] * (double)k->d[3];
        } else if (n->op == OP_MAXPOOL || n->op == OP_MAXPOOL_BWD) {
            out = (double)shape_count(&n->in[n->op == OP_MAXPOOL_BWD]->shape);
            per = (double)n->attr[PL_KH] * (double)n->attr[PL_KW];
        } else if (n->op == OP_LOOP || n->op == OP_LOOP_GRAD) {
            const LoopDef *L = n->op == OP_LOOP ? n->loop : n->in[0]->loop;
            per = L ? (work(L->g) + 1) * (double)(L->max_iter + 1) : 1;
        }
        w += out * per;
    }
    return w;
}

static int small_enough(const Program *p, const Emitted *em)
{
    double bytes = (double)em->bytes;
    for (int i = 0; i < p->ntensors; i++)
        bytes += 8.0 * (double)shape_count(&p->tensors[i].node->shape);
    return bytes <= JIT_MAX_BYTES && work(p->g) <= JIT_MAX_WORK;
}

/* Unset inputs and a run-time seed get values in [-1.25, 1.25]. */
static void fill_inputs(Program *p, Jit *j)
{
    for (int i = 0; i < p->ntensors; i++) {
        const Tensor *t = &p->tensors[i];
        if (!(t->role == ROLE_SEED ||
              (t->role == ROLE_INPUT && t->decl >= 0 &&
               p->decls[t->decl].init == INIT_NONE)))
            continue;
        const AgcTensorInfo *info;
        void *m = jit_tensor(j, t->name, &info);
        if (!m || info->is_int)
            continue;
        for (long k = 0; k < info->count; k++) {
            double v = (double)((k * 7 + i) % 11 - 5) / 4;
            if (p->spec->dtype == DT_F32)
                ((float *)m)[k] = (float)v;
            else
                ((double *)m)[k] = v;
        }
    }
}

static void run(Program *p, const Emitted *em)
{
    Jit *volatile j = NULL;         /* read after longjmp */
    jmp_buf jb;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        jit_free(j);
        agc_error_jmp = NULL;
        check_error();
        return;
    }
    j = jit_new(p, em);
    fill_inputs(p, j);
    if (j->forward(j->m) == 0 && p->bwd_of)
        j->backward(j->m);
    jit_free(j);
    agc_error_jmp = NULL;
}

/* FNV-1a: picks the inputs that the JIT runs in mode both */
static unsigned hash(const uint8_t *data, size_t size)
{
    unsigned h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(file, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f)) {
        perror(file);
        exit(2);
    }
    Compiled c;
    agc_errmsg[0] = 0;
    unsigned h = hash(data, size);
    /* one input in eight as agc check compiles it: float64, and the node
     * backward differentiates an output */
    int as_check = (h >> 8) % 8 == 0;
    if (agc_compile(file, as_check ? DT_F64 : -1, as_check ? AGC_FOR_CHECK : 0,
                    &c))
        check_error();
    else if (jit_every && h % (unsigned)jit_every == 0 &&
             small_enough(c.prog, &c.em)) {
        run(c.prog, &c.em);
    }
    agc_arena_free();
    return 0;
}

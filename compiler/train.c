/* train.c: checkpoints and agc train's loop (spec sections 12 and 13).
 *
 * A checkpoint is an .npz whose members are the state_dict names: every
 * parameter (an input that requires grad), every buffer, and with an
 * optimizer its state under optimizer.* (lr, step, and each tensor's
 * moments).  Loading is strict like load_state_dict(strict=True); the
 * optimizer's members are restored when they are exactly the spec's, and
 * ignored otherwise (another optimizer, or none).
 *
 * agc train runs NAME_train_step over mini-batches of --data arrays: an
 * input of shape [B, ...] takes B consecutive rows of an array [S, ...],
 * rows in order or shuffled each epoch (Fisher-Yates driven by splitmix64
 * from the seed and the epoch), the last partial batch dropped, as
 * DataLoader(drop_last=True).  Each epoch prints the mean over its
 * batches of every scalar output, and with --val the same over NAME_infer
 * on the validation arrays, prefixed val_. */
#include "agc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "npy.h"
#include "npz.h"

static Pos nowhere(void)
{
    return (Pos){NULL, 0, 0};
}

/* Whether a table entry belongs in a checkpoint: parameters (inputs that
 * require grad), buffers, optimizer state. */
static int in_state(Program *p, const AgcTensorInfo *t)
{
    if (t->role == ROLE_STATE)
        return 1;
    for (int i = 0; i < p->ntensors; i++)
        if (!strcmp(p->tensors[i].name, t->name))
            return p->tensors[i].role == ROLE_BUFFER ||
                   (p->tensors[i].role == ROLE_INPUT &&
                    p->decls[p->tensors[i].decl].requires_grad);
    return 0;
}

static int esize(Program *p, const AgcTensorInfo *t)
{
    return t->is_int ? 8 : p->spec->dtype == DT_F32 ? 4 : 8;
}

void ckpt_save(Program *p, Jit *j, const char *path)
{
    NpzEntry *e = agc_alloc(sizeof(NpzEntry) * (size_t)(j->ntensors + 1));
    int n = 0;
    for (int i = 0; i < j->ntensors; i++) {
        const AgcTensorInfo *t = &j->tensors[i];
        if (!in_state(p, t))
            continue;
        e[n++] = (NpzEntry){t->name, t->is_int ? 'i' : 'f', esize(p, t),
                            t->rank, t->shape, (char *)j->m + t->offset};
    }
    char err[1024];
    if (npz_write(path, e, n, err, sizeof err))
        agc_error(nowhere(), "--save: %s", err);
}

void ckpt_load(Program *p, Jit *j, const char *path)
{
    NpzFile z;
    char err[1024];
    if (npz_load(path, &z, err, sizeof err))
        agc_error(nowhere(), "--load: %s", err);
    /* the optimizer's state: all of the spec's, or none */
    int restore = 1, nstate = 0;
    for (int i = 0; i < j->ntensors; i++) {
        const AgcTensorInfo *t = &j->tensors[i];
        if (t->role != ROLE_STATE)
            continue;
        nstate++;
        NpzMember *m = npz_find(&z, t->name);
        int same = m && m->rank == t->rank && m->count == t->count;
        for (int k = 0; same && k < t->rank; k++)
            same = m->shape[k] == t->shape[k];
        restore &= same;
    }
    for (int i = 0; i < j->ntensors; i++) {
        const AgcTensorInfo *t = &j->tensors[i];
        if (!in_state(p, t) || (t->role == ROLE_STATE && !restore))
            continue;
        if (npz_read(&z, t->name, t->is_int ? 'i' : 'f', esize(p, t),
                     t->rank, t->shape, (char *)j->m + t->offset, err,
                     sizeof err)) {
            npz_free(&z);
            agc_error(nowhere(), "--load: %s", err);
        }
    }
    int bad = npz_check_used(&z, "optimizer.", err, sizeof err);
    npz_free(&z);
    if (bad)
        agc_error(nowhere(), "--load: %s (not in the spec's state)", err);
    (void)nstate;
}

/* ---- agc train ---- */

typedef struct Feed {               /* one --data or --val array */
    const char *name;
    const AgcTensorInfo *t;         /* the input it feeds */
    NpyArray a;
    size_t row;                     /* bytes of one sample */
} Feed;

/* Reads the arrays; each feeds an input [B, ...] with rows [...]; all
 * have the same number of rows, at least one batch.  Returns that. */
static long open_feeds(Program *p, Jit *j, const TrainArg *args, int n,
                       Feed *f, const char *opt)
{
    long rows = -1;
    char err[1024];
    for (int i = 0; i < n; i++) {
        const AgcTensorInfo *t;
        f[i].name = args[i].name;
        if (!jit_tensor(j, args[i].name, &t) || t->role != ROLE_INPUT ||
            in_state(p, t))
            agc_error(nowhere(), "%s %s=%s: the spec has no data input '%s'",
                      opt, args[i].name, args[i].path, args[i].name);
        if (t->rank < 1)
            agc_error(nowhere(), "%s %s: input '%s' is a scalar, not a batch",
                      opt, args[i].name, args[i].name);
        f[i].t = t;
        if (npy_load(args[i].path, &f[i].a, err, sizeof err))
            agc_error(nowhere(), "%s %s: %s", opt, args[i].name, err);
        NpyArray *a = &f[i].a;
        int want_int = t->is_int, size = esize(p, t);
        int ok = a->rank == t->rank && a->itemsize == size &&
                 a->kind == (want_int ? 'i' : 'f');
        for (int k = 1; ok && k < t->rank; k++)
            ok = a->shape[k] == t->shape[k];
        if (!ok) {
            char want[NPY_SHAPE_BUF], got[NPY_SHAPE_BUF];
            npy_shape_str(want, sizeof want, t->rank - 1, t->shape + 1);
            npy_shape_str(got, sizeof got, a->rank, a->shape);
            agc_error(nowhere(), "%s %s=%s: expected an array of %s samples "
                      "of shape %s each, found %s %s", opt, args[i].name,
                      args[i].path, want_int ? "<i8" : npy_descr('f', size),
                      want, npy_descr(a->kind, a->itemsize), got);
        }
        f[i].row = (size_t)(t->count / t->shape[0]) * (size_t)size;
        if (rows >= 0 && a->shape[0] != rows)
            agc_error(nowhere(), "%s arrays hold different numbers of "
                      "samples: %s has %ld, %s has %ld", opt, f[0].name, rows,
                      args[i].name, a->shape[0]);
        rows = a->shape[0];
        if (rows < t->shape[0])
            agc_error(nowhere(), "%s %s: %ld samples, fewer than one batch "
                      "of %ld", opt, args[i].name, rows, t->shape[0]);
    }
    return rows;
}

/* splitmix64: the shuffle's generator */
static uint64_t mix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void shuffle(long *order, long n, uint64_t seed, long epoch)
{
    uint64_t s = seed * UINT64_C(0x9e3779b97f4a7c15) + (uint64_t)epoch;
    for (long i = n - 1; i > 0; i--) {
        long k = (long)(mix(&s) % (uint64_t)(i + 1));
        long tmp = order[i];
        order[i] = order[k];
        order[k] = tmp;
    }
}

static double scalar(Program *p, Jit *j, const AgcTensorInfo *t)
{
    const char *at = (char *)j->m + t->offset;
    if (t->is_int)
        return (double)*(const int64_t *)(const void *)at;
    return p->spec->dtype == DT_F32 ? *(const float *)(const void *)at
                                    : *(const double *)(const void *)at;
}

/* Runs every batch of the feeds through step (train) or infer; sums of
 * the scalar outputs into sums[], per output of the table. */
static long run_epoch(Program *p, Jit *j, Feed *f, int n, long rows,
                      const long *order, int train, double *sums,
                      void (*tick)(long done, long total))
{
    long B = f[0].t->shape[0], batches = rows / B;
    for (long b = 0; b < batches; b++) {
        for (int i = 0; i < n; i++) {
            char *dst = (char *)j->m + f[i].t->offset;
            for (long r = 0; r < B; r++)
                memcpy(dst + (size_t)r * f[i].row,
                       (char *)f[i].a.data + (size_t)order[b * B + r] *
                                                 f[i].row, f[i].row);
        }
        int rc = train ? j->train_step(j->m) : j->infer(j->m);
        if (rc)
            return -rc;
        for (int k = 0; k < j->ntensors; k++)
            if (j->tensors[k].role == ROLE_OUTPUT &&
                j->tensors[k].count == 1)
                sums[k] += scalar(p, j, &j->tensors[k]);
        if (tick)
            tick(b + 1, batches);
    }
    return batches;
}

int train_run(Program *p, Jit *j, const TrainOpts *o)
{
    if (!j->train_step)
        agc_error(p->spec->pos, "agc train needs an optimizer: add "
                  "'optimizer:' to the spec (section 12)");
    Feed *f = agc_alloc(sizeof(Feed) * (size_t)(o->ndata + 1));
    Feed *v = agc_alloc(sizeof(Feed) * (size_t)(o->nval + 1));
    long rows = open_feeds(p, j, o->data, o->ndata, f, "--data");
    long vrows = o->nval ? open_feeds(p, j, o->val, o->nval, v, "--val") : 0;
    long *order = agc_alloc(sizeof(long) * (size_t)(rows + 1));
    long *vorder = agc_alloc(sizeof(long) * (size_t)(vrows + 1));
    for (long i = 0; i < vrows; i++)
        vorder[i] = i;
    double *sums = agc_alloc(sizeof(double) * (size_t)(j->ntensors + 1));
    int rc = 0;
    for (long e = 1; e <= o->epochs && !rc; e++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long i = 0; i < rows; i++)
            order[i] = i;
        if (o->shuffle)
            shuffle(order, rows, o->seed, e);
        memset(sums, 0, sizeof(double) * (size_t)j->ntensors);
        long nb = run_epoch(p, j, f, o->ndata, rows, order, 1, sums,
                            o->tick);
        if (nb < 0) {
            rc = (int)-nb;
            break;
        }
        char *line = agc_fmt("epoch %ld:", e);
        for (int k = 0; k < j->ntensors; k++)
            if (j->tensors[k].role == ROLE_OUTPUT && j->tensors[k].count == 1)
                line = agc_fmt("%s %s %.4f", line, j->tensors[k].name,
                               sums[k] / (double)nb);
        if (o->nval) {
            memset(sums, 0, sizeof(double) * (size_t)j->ntensors);
            nb = run_epoch(p, j, v, o->nval, vrows, vorder, 0, sums, NULL);
            if (nb < 0) {
                rc = (int)-nb;
                break;
            }
            for (int k = 0; k < j->ntensors; k++)
                if (j->tensors[k].role == ROLE_OUTPUT &&
                    j->tensors[k].count == 1)
                    line = agc_fmt("%s val_%s %.4f", line, j->tensors[k].name,
                                   sums[k] / (double)nb);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (o->tick)
            o->tick(-1, 0);          /* clear the progress bar */
        printf("%s (%.2f s)\n", line, (double)(t1.tv_sec - t0.tv_sec) +
                                          (double)(t1.tv_nsec - t0.tv_nsec) *
                                              1e-9);
        fflush(stdout);
    }
    for (int i = 0; i < o->ndata; i++)
        npy_free(&f[i].a);
    for (int i = 0; i < o->nval; i++)
        npy_free(&v[i].a);
    return rc;
}

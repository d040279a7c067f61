/* driver.c: the pipeline as one call, with errors caught in one place. */
#include "agc.h"

#include <stdlib.h>
#include <string.h>

#include "npz.h"

long agc_unroll = 64;
const char *agc_cite_path;
int agc_share_arena = 1;
const char *agc_weights;
AgcDefine agc_defines[AGC_MAX_DEFINES];
int agc_ndefines;

/* --weights: every parameter (a leaf that requires grad) takes its
 * values from the checkpoint, strictly as load_state_dict(strict=True):
 * a missing, extra or mis-shaped member is an error naming it.  Baked
 * parameters leave the struct and its tensor table. */
static void bake_weights(Program *p, const char *file)
{
    NpzFile z;
    char err[1024];
    if (npz_load(file, &z, err, sizeof err))
        agc_error(p->spec->pos, "--weights: %s", err);
    int esize = p->spec->dtype == DT_F32 ? 4 : 8;
    for (int i = 0; i < p->ndecls; i++) {
        Decl *d = &p->decls[i];
        if (!d->requires_grad)
            continue;
        long n = shape_count(&d->shape);
        char *raw = malloc((size_t)(n ? n : 1) * (size_t)esize);
        if (!raw || npz_read(&z, d->name, 'f', esize, d->shape.rank,
                             d->shape.d, raw, err, sizeof err)) {
            free(raw);
            npz_free(&z);
            agc_error(d->pos, "--weights: %s", raw ? err : "out of memory");
        }
        double *v = agc_alloc(sizeof(double) * (size_t)(n ? n : 1));
        for (long k = 0; k < n; k++)
            v[k] = esize == 4 ? ((float *)(void *)raw)[k]
                              : ((double *)(void *)raw)[k];
        free(raw);
        d->baked = v;
    }
    int bad = npz_check_used(&z, "optimizer.", err, sizeof err);
    npz_free(&z);
    if (bad)
        agc_error(p->spec->pos, "--weights: %s (not a parameter of the "
                  "spec)", err);
    int k = 0;
    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].role != ROLE_INPUT ||
            !p->decls[p->tensors[i].decl].baked)
            p->tensors[k++] = p->tensors[i];
    p->ntensors = k;
}

int agc_compile(const char *path, int dtype_override, int flags,
                Compiled *out)
{
    jmp_buf jb, *saved = agc_error_jmp;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        agc_error_jmp = saved;
        if (agc_ndefines && !strstr(agc_errmsg, "-D ")) {
            /* the shapes were not all the spec's: say which dims ruled */
            const char *note = "";
            for (int i = 0; i < agc_ndefines; i++)
                note = agc_fmt("%s%s-D %s=%ld", note, i ? ", " : " (with ",
                               agc_defines[i].name, agc_defines[i].value);
            size_t n = strlen(agc_errmsg);
            snprintf(agc_errmsg + n, sizeof agc_errmsg - n, "%s)", note);
        }
        return 1;
    }
    out->spec = spec_load(path);
    if (dtype_override >= 0)
        out->spec->dtype = (DType)dtype_override;
    Spec *s = out->spec;
    if ((flags & AGC_FOR_CHECK) && s->has_backward) {
        int listed = 0;
        for (int i = 0; i < s->noutputs; i++)
            listed |= !strcmp(s->outputs[i], s->bwd_of);
        if (!listed && s->noutputs) {
            s->outputs = agc_grow(s->outputs, sizeof(char *) *
                                  (size_t)s->noutputs, sizeof(char *) *
                                  (size_t)(s->noutputs + 1));
            s->output_pos = agc_grow(s->output_pos, sizeof(Pos) *
                                     (size_t)s->noutputs, sizeof(Pos) *
                                     (size_t)(s->noutputs + 1));
            s->outputs[s->noutputs] = s->bwd_of;
            s->output_pos[s->noutputs++] = s->bwd_pos;
        }
    }
    if (flags & AGC_INFER)
        s->has_backward = 0;
    out->prog = build_program(out->spec);
    out->prog->infer_only = (flags & AGC_INFER) != 0;
    if (!out->prog->infer_only)
        out->prog->optim = optim_parse(out->prog);
    if (agc_weights)
        bake_weights(out->prog, agc_weights);
    out->em = emit_program(out->prog, agc_cite_path ? agc_cite_path : path);
    agc_error_jmp = saved;
    return 0;
}

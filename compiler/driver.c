/* driver.c: the pipeline as one call, with errors caught in one place. */
#include "agc.h"

#include <string.h>

long agc_unroll = 64;
const char *agc_cite_path;
int agc_share_arena = 1;
AgcDefine agc_defines[AGC_MAX_DEFINES];
int agc_ndefines;

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
    out->em = emit_program(out->prog, agc_cite_path ? agc_cite_path : path);
    agc_error_jmp = saved;
    return 0;
}

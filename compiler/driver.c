/* driver.c: the pipeline as one call, with errors caught in one place. */
#include "agc.h"

#include <string.h>

long agc_unroll = 64;
const char *agc_cite_path;

int agc_compile(const char *path, int dtype_override, int flags,
                Compiled *out)
{
    jmp_buf jb, *saved = agc_error_jmp;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        agc_error_jmp = saved;
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
    out->prog = build_program(out->spec);
    out->em = emit_program(out->prog, agc_cite_path ? agc_cite_path : path);
    agc_error_jmp = saved;
    return 0;
}

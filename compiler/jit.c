/* jit.c: the generated C compiled in memory by libtcc, the only file that
 * includes <libtcc.h>.  libtcc keeps global state: one compile at a time. */
#include "agc.h"

#include <libtcc.h>
#include <stdlib.h>
#include <string.h>

static char tcc_msg[2048];

static void on_tcc_error(void *opaque, const char *msg)
{
    (void)opaque;
    if (!tcc_msg[0])
        snprintf(tcc_msg, sizeof tcc_msg, "%s", msg);
}

static void *symbol(Jit *j, Program *p, const char *what)
{
    void *s = tcc_get_symbol(j->tcc, agc_fmt("%s_%s", p->spec->name, what));
    if (!s) {
        jit_free(j);
        agc_error(p->spec->pos, "internal error: JIT: no symbol %s_%s",
                  p->spec->name, what);
    }
    return s;
}

Jit *jit_new(Program *p, const Emitted *em)
{
    Jit *j = calloc(1, sizeof *j);
    TCCState *s = tcc_new();
    if (!j || !s) {
        free(j);
        agc_error(p->spec->pos, "cannot start the JIT (libtcc)");
    }
    j->tcc = s;
    tcc_msg[0] = 0;
    tcc_set_error_func(s, NULL, on_tcc_error);
    tcc_set_output_type(s, TCC_OUTPUT_MEMORY);
    char *src = agc_fmt("%s\n%s", em->h, em->body);
    if (tcc_compile_string(s, src) < 0 || tcc_add_library(s, "m") < 0 ||
        tcc_relocate(s, TCC_RELOCATE_AUTO) < 0) {
        jit_free(j);
        agc_error(p->spec->pos, "internal error: JIT: %s", tcc_msg);
    }
    union {
        void *p;
        void (*init)(void *);
        int (*run)(void *);
    } f;                            /* object to function pointer */
    f.p = symbol(j, p, "init");
    j->init = f.init;
    f.p = symbol(j, p, "infer");
    j->infer = j->forward = f.run;
    if (!p->infer_only) {
        f.p = symbol(j, p, "forward");
        j->forward = f.run;
        f.p = symbol(j, p, "backward");
        j->backward = f.run;
    }
    if (p->optim) {
        f.p = symbol(j, p, "step");
        j->step = f.run;
        f.p = symbol(j, p, "train_step");
        j->train_step = f.run;
    }
    j->tensors = symbol(j, p, "tensors");
    j->ntensors = *(const int *)symbol(j, p, "num_tensors");
    j->size = *(const size_t *)symbol(j, p, "size");
    const size_t *bad = tcc_get_symbol(j->tcc, agc_fmt("%s_bad_target_offset",
                                                       p->spec->name));
    j->bad_target_offset = bad ? (long)*bad : -1;
    j->m = calloc(1, j->size);
    if (!j->m) {
        jit_free(j);
        agc_error(p->spec->pos, "out of memory for the model's %zu bytes",
                  j->size);
    }
    j->init(j->m);
    return j;
}

void jit_free(Jit *j)
{
    if (!j)
        return;
    if (j->tcc)
        tcc_delete(j->tcc);
    free(j->m);
    free(j);
}

void *jit_tensor(Jit *j, const char *name, const AgcTensorInfo **info)
{
    for (int i = 0; i < j->ntensors; i++)
        if (!strcmp(j->tensors[i].name, name)) {
            if (info)
                *info = &j->tensors[i];
            return (char *)j->m + j->tensors[i].offset;
        }
    return NULL;
}

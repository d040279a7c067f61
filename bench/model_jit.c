/* model_jit.c: the spec compiled by agc's own pipeline and JIT-compiled in
 * this process by libtcc through the Jit API, as `agc run` does. */
#include "agc.h"
#include "bench.h"

#include <string.h>

int model_open(const char *spec, BenchModel *bm, char *err, size_t errlen)
{
    Compiled c;
    bm->contender = "tcc";
    if (!spec) {
        snprintf(err, errlen, "no spec given");
        return -1;
    }
    if (agc_compile(spec, -1, 0, &c)) {
        snprintf(err, errlen, "agc: %s", agc_errmsg);
        return -1;
    }
    jmp_buf jb;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        agc_error_jmp = NULL;
        snprintf(err, errlen, "agc: %s", agc_errmsg);
        return -1;
    }
    Jit *j = jit_new(c.prog, &c.em);
    agc_error_jmp = NULL;
    bm->m = j->m;
    bm->tensors = (const BenchTensor *)(const void *)j->tensors;
    bm->ntensors = j->ntensors;
    bm->forward = j->forward;
    bm->backward = j->backward;
    return 1;                       /* j lives until the process ends */
}

/* model_cc.c: model_jit.c's model built by `agc run --backend cc`: the
 * system compiler into a cached shared object, loaded with dlopen. */
#define model_open model_open_tcc
#include "model_jit.c"
#undef model_open

int model_open(const char *spec, BenchModel *bm, char *err, size_t errlen)
{
    agc_backend = AGC_BACKEND_CC;
    int rc = model_open_tcc(spec, bm, err, errlen);
    bm->contender = "cc";
    return rc;
}

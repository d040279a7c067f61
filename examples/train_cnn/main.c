/* main.c: trains the 1-D CNN of specs/cnn1d.yaml with plain SGD, using
 * nothing but the code agc generated (build/cnn1d.h, build/cnn1d.c).
 *
 * The tensor table pairs every gradient "NAME.grad" with its parameter
 * "NAME", so the update below needs no knowledge of the model's layers. */
#include <stdio.h>
#include <string.h>

#include "cnn1d.h"

static cnn1d_t model;              /* every tensor: about 100 KB, static */

static float *tensor(const char *name, long *count)
{
    for (int i = 0; i < cnn1d_num_tensors; i++)
        if (strcmp(cnn1d_tensors[i].name, name) == 0) {
            *count = cnn1d_tensors[i].count;
            return (float *)((char *)&model + cnn1d_tensors[i].offset);
        }
    return NULL;
}

/* p -= lr * p.grad for every parameter */
static void sgd_step(float lr)
{
    for (int i = 0; i < cnn1d_num_tensors; i++) {
        const cnn1d_tensor *g = &cnn1d_tensors[i];
        if (g->role != cnn1d_GRAD)
            continue;
        char name[64];
        size_t n = strlen(g->name) - strlen(".grad");
        memcpy(name, g->name, n);
        name[n] = 0;
        long count = 0;
        float *p = tensor(name, &count);
        const float *d = (const float *)((const char *)&model + g->offset);
        for (long k = 0; k < count; k++)
            p[k] -= lr * d[k];
    }
}

int main(void)
{
    cnn1d_init(&model);
    for (int step = 0; step <= 50; step++) {
        if (cnn1d_forward(&model) != cnn1d_OK ||
            cnn1d_backward(&model) != cnn1d_OK) {
            fprintf(stderr, "train: the model failed\n");
            return 1;
        }
        if (step % 10 == 0)
            printf("step %2d: loss %.4f\n", step, model.loss[0]);
        sgd_step(0.5f);
    }
    return 0;
}

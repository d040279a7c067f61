/* Trains the digits CNN with the C that agc generates from digits.yaml:
 * 20 epochs of Adam over the training split, then the test accuracy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digits.h"
#include "npy.h"

static digits_t m;

static NpyArray load(const char *path)
{
    NpyArray a;
    char err[512];
    if (npy_load(path, &a, err, sizeof err))
        fprintf(stderr, "%s\n", err), exit(1);
    return a;
}

/* Runs batch b of (x, y) through step; returns the batch's accuracy. */
static float batch(NpyArray x, NpyArray y, long b, int (*step)(digits_t *))
{
    memcpy(m.x, (float *)x.data + b * sizeof m.x / 4, sizeof m.x);
    memcpy(m.y, (int64_t *)y.data + b * sizeof m.y / 8, sizeof m.y);
    return step(&m) == digits_OK ? m.acc[0] : -1;
}

int main(void)
{
    NpyArray x = load("data/x_train.npy"), y = load("data/y_train.npy");
    NpyArray tx = load("data/x_test.npy"), ty = load("data/y_test.npy");
    long n = x.shape[0] / 32, tn = tx.shape[0] / 32;
    digits_init(&m);
    for (int epoch = 1; epoch <= 20; epoch++) {
        float loss = 0;
        for (long b = 0; b < n; b++)
            batch(x, y, b, digits_train_step), loss += m.loss[0];
        printf("epoch %d: loss %.4f\n", epoch, loss / n);
    }
    float acc = 0;
    for (long b = 0; b < tn; b++)
        acc += batch(tx, ty, b, digits_infer);
    printf("test accuracy %.4f (%ld images)\n", acc / tn, tn * 32);
    return 0;
}

// A C++17 program built against a generated model: the header's extern "C"
// guards let it link, and its size macros are constant expressions.
#include <array>
#include <cstdio>
#include <cstring>

#include "cnn1d.h"

static cnn1d_t model;                                   // static storage
static_assert(cnn1d_SIZE == sizeof(cnn1d_t), "size macro");
static_assert(cnn1d_ARENA_BYTES <= cnn1d_SIZE, "arena inside the struct");
static std::array<const agc_tensor *, cnn1d_NUM_TENSORS> by_index;

int main()
{
    cnn1d_init(&model);
    for (int i = 0; i < cnn1d_NUM_TENSORS; i++)
        by_index[i] = &cnn1d_tensors[i];
    if (cnn1d_forward(&model) != cnn1d_OK || cnn1d_backward(&model) != cnn1d_OK)
        return 1;
    for (const agc_tensor *t : by_index)
        if (t->role == AGC_OUTPUT && std::strcmp(t->name, "loss") == 0) {
            const float *loss = reinterpret_cast<const float *>(
                reinterpret_cast<const char *>(&model) + t->offset);
            std::printf("C++ consumer: loss %.4f\n", loss[0]);
            return loss[0] > 0 ? 0 : 1;
        }
    return 1;
}

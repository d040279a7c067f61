/* run_generated.c: runs generated code under the sanitizers (make test-san).
 *
 * Linked (with -rdynamic) with the generated .c files of many specs, it
 * takes arguments NAME:f32 or NAME:f64 and, for each, finds NAME_init,
 * NAME_forward, NAME_backward, NAME_tensors and NAME_size by name,
 * allocates exactly NAME_size bytes, initialises them, gives each input
 * that init left at zero, and a run-time seed, a few distinct values, and
 * runs forward and then backward.  A sanitizer report aborts; otherwise a
 * nonzero status from forward (a loop exceeding its max_iter) is fine.
 * With AGC_DIGEST set in the environment it then prints, per spec, its
 * struct's size and a hash of every tensor's bytes (tests/omp.sh compares
 * them across builds and thread counts). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The layout of every generated NAME_tensor (section 9). */
typedef struct Tensor {
    const char *name;
    int role;                       /* 0 input, 3 seed */
    int rank;
    long shape[8];
    size_t offset;
    long count;
    int is_int;
} Tensor;

static void *sym(const char *name, const char *what)
{
    char s[256];
    snprintf(s, sizeof s, "%s_%s", name, what);
    void *p = dlsym(RTLD_DEFAULT, s);
    if (!p) {
        fprintf(stderr, "run_generated: no symbol %s\n", s);
        exit(1);
    }
    return p;
}

static int all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void fill(char *m, const Tensor *t, int f64, int i)
{
    size_t size = f64 ? 8 : 4;
    char *data = m + t->offset;
    if (t->is_int || (t->role == 0 && !all_zero((unsigned char *)data,
                                                 size * (size_t)t->count)))
        return;
    for (long k = 0; k < t->count; k++) {
        double v = (double)((k * 7 + i) % 11 - 5) / 4;
        if (f64)
            ((double *)data)[k] = v;
        else
            ((float *)data)[k] = (float)v;
    }
}

int main(int argc, char **argv)
{
    for (int a = 1; a < argc; a++) {
        char name[200];
        const char *colon = strchr(argv[a], ':');
        if (!colon || (size_t)(colon - argv[a]) >= sizeof name) {
            fprintf(stderr, "run_generated: expected NAME:f32 or NAME:f64, "
                    "got '%s'\n", argv[a]);
            return 1;
        }
        memcpy(name, argv[a], (size_t)(colon - argv[a]));
        name[colon - argv[a]] = 0;
        int f64 = !strcmp(colon + 1, "f64");
        union {
            void *p;
            void (*init)(void *);
            int (*run)(void *);
        } init, forward, backward;  /* object to function pointer */
        init.p = sym(name, "init");
        forward.p = sym(name, "forward");
        backward.p = sym(name, "backward");
        const Tensor *tensors = sym(name, "tensors");
        int ntensors = *(const int *)sym(name, "num_tensors");
        size_t size = *(const size_t *)sym(name, "size");
        char *m = malloc(size);
        if (!m) {
            fprintf(stderr, "run_generated: %s: out of memory\n", name);
            return 1;
        }
        init.init(m);
        for (int i = 0; i < ntensors; i++)
            if (tensors[i].role == 0 || tensors[i].role == 3)
                fill(m, &tensors[i], f64, i);
        if (forward.run(m) == 0)
            backward.run(m);
        if (getenv("AGC_DIGEST")) {     /* FNV-1a over the tensors */
            unsigned long long h = 14695981039346656037ULL;
            for (int i = 0; i < ntensors; i++) {
                const unsigned char *p =
                    (const unsigned char *)m + tensors[i].offset;
                size_t n = (size_t)tensors[i].count *
                           (tensors[i].is_int ? 8 : f64 ? 8 : 4);
                for (size_t k = 0; k < n; k++)
                    h = (h ^ p[k]) * 1099511628211ULL;
            }
            printf("%s %zu %016llx\n", name, size, h);
        }
        free(m);
    }
    printf("run_generated: %d specs ran forward and backward\n", argc - 1);
    return 0;
}

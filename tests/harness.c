/* harness.c: see harness.h. */
#include "harness.h"

#include "npy.h"

#include <dirent.h>
#include <unistd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char msg[1024];

static const char *bind_file(Case *k, const AgcTensorInfo *t, void *data,
                             const char *path)
{
    NpyArray a;
    char err[512];
    if (npy_load(path, &a, err, sizeof err))
        return snprintf(msg, sizeof msg, "%s", err), msg;
    if (a.count != t->count || a.kind != (t->is_int ? 'i' : 'f')) {
        npy_free(&a);
        return snprintf(msg, sizeof msg, "%s: wrong size or kind", path), msg;
    }
    if (t->is_int) {                /* int64 class indices, <i8 */
        memcpy(data, a.data, sizeof(int64_t) * (size_t)a.count);
        npy_free(&a);
        return NULL;
    }
    for (long i = 0; i < a.count; i++) {
        double v = a.itemsize == 4 ? ((float *)a.data)[i]
                                   : ((double *)a.data)[i];
        if (k->c.spec->dtype == DT_F32)
            ((float *)data)[i] = (float)v;
        else
            ((double *)data)[i] = v;
    }
    npy_free(&a);
    return NULL;
}

const char *case_open(Case *k, const char *dir, int f64, int flags)
{
    memset(k, 0, sizeof *k);
    snprintf(k->dir, sizeof k->dir, "%s", dir);
    char path[512];
    snprintf(path, sizeof path, "%s/spec.yaml", dir);
    if (agc_compile(path, f64 ? DT_F64 : -1, flags, &k->c))
        return agc_errmsg;
    jmp_buf jb;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        agc_error_jmp = NULL;
        return agc_errmsg;
    }
    k->jit = jit_new(k->c.prog, &k->c.em);
    agc_error_jmp = NULL;
    for (int i = 0; i < k->jit->ntensors; i++) {
        const AgcTensorInfo *t = &k->jit->tensors[i];
        if (t->role != ROLE_INPUT && t->role != ROLE_SEED)
            continue;
        char base[128];
        snprintf(base, sizeof base, "%s", t->name);
        if (t->role == ROLE_SEED)   /* "y.grad" is read from y.seed.npy */
            snprintf(strstr(base, ".grad"), 6, ".seed");
        snprintf(path, sizeof path, "%s/%s.npy", dir, base);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;               /* the spec gives its value */
        fclose(f);
        const char *e = bind_file(k, t, (char *)k->jit->m + t->offset, path);
        if (e)
            return e;
    }
    return NULL;
}

void case_close(Case *k)
{
    jit_free(k->jit);
    k->jit = NULL;
    agc_arena_free();
}

double *case_expected(const Case *k, const char *name, long *count)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/%s.expected.npy", k->dir, name);
    NpyArray a;
    if (npy_load(path, &a, err, sizeof err))
        return NULL;
    double *v = malloc(sizeof(double) * (size_t)(a.count ? a.count : 1));
    for (long i = 0; i < a.count; i++)
        v[i] = a.kind == 'i' ? (double)((int64_t *)a.data)[i]  /* <i8 */
               : a.itemsize == 4 ? ((float *)a.data)[i]
                                 : ((double *)a.data)[i];
    *count = a.count;
    npy_free(&a);
    return v;
}

double *case_tensor(const Case *k, const char *name, long *count)
{
    const AgcTensorInfo *t;
    void *data = jit_tensor(k->jit, name, &t);
    if (!data)
        return NULL;
    double *v = malloc(sizeof(double) * (size_t)t->count);
    for (long i = 0; i < t->count; i++)
        v[i] = t->is_int ? (double)((int64_t *)data)[i]
               : k->c.spec->dtype == DT_F32 ? ((float *)data)[i]
                                            : ((double *)data)[i];
    *count = t->count;
    return v;
}

char **read_lines(const char *path, int *n)
{
    FILE *f = fopen(path, "r");
    char buf[512], **lines = calloc(1, sizeof *lines);
    *n = 0;
    while (f && fgets(buf, sizeof buf, f)) {
        buf[strcspn(buf, "\r\n")] = 0;
        if (!buf[0])
            continue;
        lines = realloc(lines, sizeof *lines * (size_t)(*n + 2));
        lines[(*n)++] = strdup(buf);
        lines[*n] = NULL;
    }
    if (f)
        fclose(f);
    return lines;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **golden_cases(int *n)
{
    DIR *d = opendir("tests/golden");
    struct dirent *e;
    char **dirs = NULL, **all = calloc(1, sizeof *all);
    int ndirs = 0;
    *n = 0;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        dirs = realloc(dirs, sizeof *dirs * (size_t)(ndirs + 1));
        dirs[ndirs++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    if (ndirs)
        qsort(dirs, (size_t)ndirs, sizeof *dirs, by_name);
    for (int i = 0; i < ndirs; i++) {
        char path[512];
        int m;
        snprintf(path, sizeof path, "tests/golden/%s/cases.txt", dirs[i]);
        char **lines = read_lines(path, &m);
        all = realloc(all, sizeof *all * (size_t)(*n + m + 1));
        for (int k = 0; k < m; k++) {
            snprintf(path, sizeof path, "tests/golden/%s/%s", dirs[i],
                     lines[k]);
            all[(*n)++] = strdup(path);
            free(lines[k]);
        }
        all[*n] = NULL;
        free(lines);
        free(dirs[i]);
    }
    free(dirs);
    return all;
}

/* ---- a temporary directory per test group ---- */

char test_tmpdir[64];

int tmpdir_make(const char *stem)
{
    snprintf(test_tmpdir, sizeof test_tmpdir, "/tmp/%s.XXXXXX", stem);
    return mkdtemp(test_tmpdir) ? 0 : -1;
}

int tmpdir_remove(void)
{
    DIR *d = opendir(test_tmpdir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", test_tmpdir, e->d_name);
        if (remove(path) != 0) {
            closedir(d);
            return -1;
        }
    }
    if (d)
        closedir(d);
    return rmdir(test_tmpdir);
}

const char *tmp_path(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", test_tmpdir, name);
    return path;
}

int tmpdir_count(const char *prefix)
{
    DIR *d = opendir(test_tmpdir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

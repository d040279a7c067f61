/* jit.c: the generated C compiled and loaded into this process by one of
 * two backends (agc_backend, --backend):
 *
 *   tcc  libtcc compiles it in memory, in milliseconds.  This is the only
 *        file that includes <libtcc.h>; libtcc keeps global state, so one
 *        compile at a time.
 *   cc   the system's C compiler ($CC, else cc) builds it at full
 *        optimisation for this machine into a shared object, kept in a
 *        cache, which dlopen loads.
 *
 * Both give the same Jit: the model's functions, its tensor table and one
 * initialised instance.
 *
 * The cache of --backend cc is $XDG_CACHE_HOME/agc, else ~/.cache/agc,
 * made mode 0700, and refused when another user owns it or others may
 * write to it.  With neither variable set there is no cache: the object
 * is built in a temporary directory and removed once loaded.  An object
 * is named NAME-KEY.so, where KEY is a 64-bit FNV-1a hash of everything
 * its code depends on: the source, $CC's words, the compiler's path and
 * its binary's size and time of change, the flags, and this CPU's model
 * and feature flags (for -march=native).  Whether the compiler takes
 * -fopenmp is found out once per compiler and kept there too.
 *
 * The compiler writes into a private temporary directory inside the
 * cache; the object gets a trailer "\nagc-object KEY SUM\n" appended, SUM
 * being the hash of the bytes before it, is loaded and checked from
 * there, and is then renamed into place: no reader sees a half-written
 * file.  A cached object is loaded only when it is a regular file of this
 * user's that no one else may write, whose trailer names KEY and whose
 * bytes sum to SUM (a truncated ELF file can kill dlopen with SIGBUS, so
 * it must not get that far), and its function agc_cache_key() must then
 * return KEY.  Anything else is rebuilt and replaced. */
#include "agc.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libtcc.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef RTLD_NODELETE
#define RTLD_NODELETE 0
#endif

extern char **environ;

int agc_backend = AGC_BACKEND_TCC;

/* ---- --backend tcc ---- */

static char tcc_msg[2048];

static void on_tcc_error(void *opaque, const char *msg)
{
    (void)opaque;
    if (!tcc_msg[0])
        snprintf(tcc_msg, sizeof tcc_msg, "%s", msg);
}

static TCCState *tcc_build(Program *p, const char *src)
{
    TCCState *s = tcc_new();
    if (!s)
        agc_error(p->spec->pos, "cannot start the JIT (libtcc)");
    tcc_msg[0] = 0;
    tcc_set_error_func(s, NULL, on_tcc_error);
    tcc_set_output_type(s, TCC_OUTPUT_MEMORY);
    if (tcc_compile_string(s, src) < 0 || tcc_add_library(s, "m") < 0 ||
        tcc_relocate(s, TCC_RELOCATE_AUTO) < 0) {
        tcc_delete(s);
        agc_error(p->spec->pos, "internal error: JIT: %s", tcc_msg);
    }
    return s;
}

/* ---- --backend cc ---- */

static const Pos nopos;             /* errors of no spec: "agc: error: " */

#define FNV_BASIS 14695981039346656037ULL

/* 64-bit FNV-1a of n bytes, going on from h. */
static unsigned long long fnv(unsigned long long h, const void *data,
                              size_t n)
{
    const unsigned char *s = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

/* h going on over s and its NUL, which keeps a key's pieces apart. */
static unsigned long long fnv_str(unsigned long long h, const char *s)
{
    return fnv(h, s, strlen(s) + 1);
}

/* The compiler: $CC, else "cc", split at blanks as make splits it (so
 * "ccache gcc" and "gcc -m64" work; there is no quoting). */
typedef struct Cc {
    char **argv;                    /* $CC's words, room for the rest */
    int n;                          /* how many words $CC has */
    const char *path;               /* argv[0] found through PATH */
    unsigned long long id;          /* the compiler and this CPU */
} Cc;

enum { CC_MAX_ARGS = 16 };          /* arguments agc adds to $CC's */

/* The first processor's model and feature flags, which -march=native
 * compiles for: an object built on another machine (a shared home) may
 * not run here. */
static unsigned long long cpu_id(unsigned long long h)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 1)    /* to the first blank */
        if (!strncmp(line, "model name", 10) || !strncmp(line, "flags", 5))
            h = fnv_str(h, line);
    free(line);
    if (f)
        fclose(f);
    return h;
}

/* Finds the compiler; one that cannot run is an error. */
static void cc_find(Cc *cc)
{
    const char *env = getenv("CC");
    char *words = agc_strdup(env && env[strspn(env, " \t")] ? env : "cc");
    cc->argv = agc_alloc(sizeof(char *) * (strlen(words) + CC_MAX_ARGS));
    for (char *w = words; *(w += strspn(w, " \t"));) {
        cc->argv[cc->n++] = w;
        w += strcspn(w, " \t");
        if (*w)
            *w++ = 0;
    }
    const char *cmd = cc->argv[0], *path = NULL;
    int err = ENOENT;
    if (strchr(cmd, '/')) {
        path = cmd;
        err = access(cmd, X_OK) ? errno : 0;
    } else {
        const char *dirs = getenv("PATH");
        for (const char *d = dirs ? dirs : "/usr/bin:/bin"; !path; d++) {
            size_t len = strcspn(d, ":");
            char *file = len ? agc_fmt("%.*s/%s", (int)len, d, cmd)
                             : agc_fmt("./%s", cmd);
            if (!access(file, X_OK))
                path = file, err = 0;
            else if (errno != ENOENT && errno != ENOTDIR)
                err = errno;
            d += len;
            if (!*d)
                break;
        }
    }
    struct stat st;                 /* of the binary, through symlinks */
    if (!err && stat(path, &st))
        err = errno;
    if (!err && !S_ISREG(st.st_mode))
        err = S_ISDIR(st.st_mode) ? EISDIR : EACCES;
    if (err)
        agc_error(nopos, "--backend cc: cannot run '%s': %s", cmd,
                  strerror(err));
    cc->path = path;
    unsigned long long h = fnv_str(FNV_BASIS, "agc-cc 1");
    for (int i = 0; i < cc->n; i++)
        h = fnv_str(h, cc->argv[i]);
    h = fnv_str(h, agc_fmt("%s %lld %lld.%09ld", path, (long long)st.st_size,
                           (long long)st.st_mtim.tv_sec,
                           (long)st.st_mtim.tv_nsec));
    cc->id = cpu_id(h);
}

/* Runs the compiler with args (NULL-terminated) after $CC's words, its
 * output into *out (the first 16 KB); returns its wait status, or -1 with
 * errno set when it cannot start. */
static int cc_run(Cc *cc, const char *const *args, char **out)
{
    int n = cc->n, fd[2];
    for (; *args && n < cc->n + CC_MAX_ARGS - 1; args++)
        cc->argv[n++] = (char *)*args;
    cc->argv[n] = NULL;
    if (pipe(fd))
        return -1;
    fcntl(fd[0], F_SETFD, FD_CLOEXEC);
    fcntl(fd[1], F_SETFD, FD_CLOEXEC);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, cc->path, &fa, NULL, cc->argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    if (rc) {
        close(fd[0]);
        errno = rc;
        return -1;
    }
    size_t len = 0, cap = 16384;
    char *text = agc_alloc(cap + 1), buf[4096];
    for (;;) {
        ssize_t k = read(fd[0], buf, sizeof buf);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        size_t keep = (size_t)k < cap - len ? (size_t)k : cap - len;
        memcpy(text + len, buf, keep);
        len += keep;
    }
    close(fd[0]);
    while (len && text[len - 1] == '\n')      /* agc_error ends the line */
        text[--len] = 0;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    *out = text;
    return status;
}

/* The cache directory, made when missing; NULL when neither
 * XDG_CACHE_HOME (absolute, as the XDG spec asks) nor HOME is set. */
static char *cache_dir(void)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir;
    if (xdg && xdg[0] == '/')
        dir = agc_fmt("%s/agc", xdg);
    else if (home && home[0])
        dir = agc_fmt("%s/.cache/agc", home);
    else
        return NULL;
    for (char *s = dir + 1; *s; s++)        /* the parents, as mkdir -p */
        if (*s == '/') {
            *s = 0;
            mkdir(dir, 0700);
            *s = '/';
        }
    int err = mkdir(dir, 0700) && errno != EEXIST ? errno : 0;
    struct stat st;
    if (!err && stat(dir, &st))
        err = errno;
    if (!err && !S_ISDIR(st.st_mode))
        err = ENOTDIR;
    if (err)
        agc_error(nopos, "--backend cc: cannot make the cache directory "
                  "'%s': %s", dir, strerror(err));
    if (st.st_uid != geteuid())
        agc_error(nopos, "--backend cc: the cache directory '%s' belongs to "
                  "another user: set XDG_CACHE_HOME to a directory of "
                  "yours", dir);
    if (st.st_mode & 022)
        agc_error(nopos, "--backend cc: others may write to the cache "
                  "directory '%s': make it private (chmod 700)", dir);
    return dir;
}

/* A new private directory to build in: inside the cache, else in
 * $TMPDIR or /tmp. */
static char *build_dir(const char *cache)
{
    const char *tmp = getenv("TMPDIR");
    char *dir = cache ? agc_fmt("%s/.build-XXXXXX", cache)
                      : agc_fmt("%s/agc-XXXXXX", tmp && tmp[0] == '/' ? tmp
                                                                      : "/tmp");
    if (!mkdtemp(dir))
        agc_error(nopos, "--backend cc: cannot make a directory to build "
                  "in: '%s': %s", dir, strerror(errno));
    return dir;
}

/* Removes the build directory and what is in it. */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(agc_fmt("%s/%s", dir, e->d_name));
    if (d)
        closedir(d);
    rmdir(dir);
}

static int write_file(const char *path, const char *text, size_t n)
{
    FILE *f = fopen(path, "w");
    int ok = f && fwrite(text, 1, n, f) == n;
    return (f && fclose(f)) || !ok ? -1 : 0;
}

/* Why the last step below failed, and whether that is agc's fault (the
 * compiler refused the generated code) rather than the machine's. */
static const char *why;
static int why_internal;

/* Compiles src into the shared object out with flags (NULL-terminated);
 * 0, or -1 with why set. */
static int cc_compile(Cc *cc, const char *const *flags, const char *src,
                      const char *out)
{
    char *cfile = agc_fmt("%.*s.c", (int)(strlen(out) - 3), out), *text;
    const char *args[CC_MAX_ARGS];
    int n = 0;
    for (; *flags; flags++)
        args[n++] = *flags;
    const char *tail[] = {"-o", out, "-x", "c", cfile, "-lm", NULL};
    memcpy(args + n, tail, sizeof tail);
    why_internal = 0;
    if (write_file(cfile, src, strlen(src))) {
        why = agc_fmt("cannot write '%s': %s", cfile, strerror(errno));
        return -1;
    }
    int status = cc_run(cc, args, &text);
    if (status < 0) {
        why = agc_fmt("cannot run '%s': %s", cc->argv[0], strerror(errno));
    } else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
        why_internal = 1;
        why = agc_fmt("'%s' failed (%s %d) on the generated code:\n%s",
                      cc->argv[0], WIFEXITED(status) ? "exit status"
                                                     : "signal",
                      WIFEXITED(status) ? WEXITSTATUS(status)
                                        : WTERMSIG(status), text);
    } else if (chmod(out, 0700)) {  /* whatever the umask: ours alone */
        why = agc_fmt("cannot chmod '%s': %s", out, strerror(errno));
    } else {
        return 0;
    }
    return -1;
}

/* Whether the compiler takes -fopenmp: asked once per compiler (building
 * a small OpenMP object in *tmp, made when NULL) and the answer kept in
 * the cache as openmp-ID, "1" or "0". */
static int cc_openmp(Cc *cc, const char *cache, char **tmp,
                     const char *const *flags)
{
    char *keep = cache ? agc_fmt("%s/openmp-%016llx", cache, cc->id) : NULL;
    char have[4] = "";
    FILE *f = keep ? fopen(keep, "r") : NULL;
    if (f) {
        if (!fgets(have, sizeof have, f))
            have[0] = 0;
        fclose(f);
        if (!strcmp(have, "1\n") || !strcmp(have, "0\n"))
            return have[0] == '1';
    }
    const char *omp[CC_MAX_ARGS];
    int n = 0;
    for (; *flags; flags++)
        omp[n++] = *flags;
    omp[n++] = "-fopenmp";
    omp[n] = NULL;
    if (!*tmp)
        *tmp = build_dir(cache);
    int yes = !cc_compile(cc, omp,
                          "#include <omp.h>\n"
                          "int agc_probe(void);\n"
                          "int agc_probe(void)\n{\n    int n = 0;\n"
                          "#pragma omp parallel reduction(+ : n)\n"
                          "    n += omp_get_num_threads() > 0;\n"
                          "    return n;\n}\n",
                          agc_fmt("%s/openmp.so", *tmp));
    char *part = agc_fmt("%s/openmp", *tmp);
    if (keep && (yes || why_internal) &&     /* not when the disk is full */
        !write_file(part, yes ? "1\n" : "0\n", 2))
        rename(part, keep);
    return yes;
}

/* The object at path, dlopened, when it is safe and right (see the top
 * of the file); NULL otherwise, with why set. */
static void *cc_load(const char *path, const char *key)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    why = "it is not a regular file of yours that only you may write";
    if (fd < 0)
        return NULL;
    char *trailer = agc_fmt("\nagc-object %s %016llx\n", key, 0ULL);
    size_t tlen = strlen(trailer);
    if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 022) || st.st_size < (off_t)tlen ||
        st.st_size > AGC_MAX_BYTES) {
        close(fd);
        return NULL;
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *data = malloc(n);
    while (data && got < n) {
        ssize_t k = read(fd, data + got, n - got);
        if (k <= 0 && !(k < 0 && errno == EINTR))
            break;
        got += k > 0 ? (size_t)k : 0;
    }
    close(fd);
    if (data && got == n)
        sprintf(trailer, "\nagc-object %s %016llx\n", key,
                fnv(FNV_BASIS, data, n - tlen));
    int ok = data && got == n && !memcmp(data + n - tlen, trailer, tlen);
    free(data);
    why = "its trailer does not name its key and checksum";
    if (!ok)
        return NULL;
    /* never unmapped: with -fopenmp, libgomp's idle threads outlive it */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
        why = agc_strdup(dlerror());
        return NULL;
    }
    union {
        void *p;
        const char *(*fn)(void);
    } f = {dlsym(h, "agc_cache_key")};
    if (!f.p || strcmp(f.fn(), key)) {
        dlclose(h);
        why = "its agc_cache_key() does not return its key";
        return NULL;
    }
    return h;
}

/* Appends the trailer naming key and the sum of what is there. */
static int add_trailer(const char *path, const char *key)
{
    FILE *f = fopen(path, "rb+");
    unsigned long long sum = FNV_BASIS;
    char buf[8192];
    size_t k;
    if (!f)
        return -1;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        sum = fnv(sum, buf, k);
    int bad = ferror(f) || fseek(f, 0, SEEK_END) ||
              fprintf(f, "\nagc-object %s %016llx\n", key, sum) < 0;
    return fclose(f) || bad ? -1 : 0;
}

/* The model built by the system compiler: a dlopen handle. */
static void *cc_build(Program *p, const char *src)
{
    Cc cc = {0};
    cc_find(&cc);
    char *cache = cache_dir(), *tmp = NULL;
    const char *flags[8] = {"-std=c99", "-O3", "-march=native", "-fPIC",
                            "-shared"};
    if (cc_openmp(&cc, cache, &tmp, flags))
        flags[5] = "-fopenmp";
    unsigned long long h = fnv(FNV_BASIS, &cc.id, sizeof cc.id);
    for (int i = 0; flags[i]; i++)
        h = fnv_str(h, flags[i]);
    char *key = agc_fmt("%016llx", fnv_str(h, src));
    char *name = agc_fmt("%s-%s.so", p->spec->name, key);
    void *dl = cache ? cc_load(agc_fmt("%s/%s", cache, name), key) : NULL;
    if (dl) {
        if (tmp)
            remove_dir(tmp);
        return dl;
    }

    /* build, load and check in the private directory, then publish */
    if (!tmp)
        tmp = build_dir(cache);
    char *obj = agc_fmt("%s/%s", tmp, name);
    char *full = agc_fmt("%s\nconst char *agc_cache_key(void);\n"
                         "const char *agc_cache_key(void)\n{\n"
                         "    return \"%s\";\n}\n", src, key);
    if (cc_compile(&cc, flags, full, obj) == 0) {
        if (add_trailer(obj, key))
            why = agc_fmt("cannot write '%s': %s", obj, strerror(errno));
        else if (!(dl = cc_load(obj, key)))
            why = agc_fmt("cannot load what '%s' built: %s", cc.argv[0],
                          why);
        else if (cache)
            rename(obj, agc_fmt("%s/%s", cache, name));  /* else: no cache */
    }
    remove_dir(tmp);
    if (!dl)
        agc_error(nopos, "%s--backend cc: %s",
                  why_internal ? "internal error: " : "", why);
    return dl;
}

/* ---- the model's entry points, whichever backend built them ---- */

static void *symbol(Jit *j, Program *p, const char *what)
{
    const char *name = agc_fmt("%s_%s", p->spec->name, what);
    void *s = j->dl ? dlsym(j->dl, name) : tcc_get_symbol(j->tcc, name);
    if (!s) {
        jit_free(j);
        agc_error(p->spec->pos, "internal error: JIT: no symbol %s", name);
    }
    return s;
}

Jit *jit_new(Program *p, const Emitted *em)
{
    char *src = agc_fmt("%s\n%s", em->h, em->body);
    int cc = agc_backend == AGC_BACKEND_CC;
    void *code = cc ? cc_build(p, src) : (void *)tcc_build(p, src);
    Jit *j = calloc(1, sizeof *j);
    if (!j) {
        if (cc)
            dlclose(code);
        else
            tcc_delete(code);
        agc_error(p->spec->pos, "out of memory");
    }
    if (cc)
        j->dl = code;
    else
        j->tcc = code;
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
    /* only a spec with class indices has it (NAME_ERR_TARGET) */
    const char *bn = agc_fmt("%s_bad_target_offset", p->spec->name);
    const size_t *bad = j->dl ? dlsym(j->dl, bn) : tcc_get_symbol(j->tcc, bn);
    j->bad_target_offset = bad ? (long)*bad : -1;
    /* at a cache line: calloc's large blocks start 16 bytes past a page,
     * and the kernels' vectors then straddled lines (the seed Conv2d's
     * Winograd forward ran 19% slower than the agc compile build) */
    void *m = NULL;
    if (posix_memalign(&m, 64, j->size ? j->size : 1) == 0) {
        memset(m, 0, j->size);
        j->m = m;
    }
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
    if (j->dl)
        dlclose(j->dl);
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

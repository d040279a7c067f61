/* main.c: the command line of sections 8 and 13.
 *
 * Options are parsed as GNU getopt_long does: options and SPEC in any
 * order, --opt=value or --opt value, -oDIR or -o DIR, short flags
 * bundled (-qv), a unique prefix of a long option, "--" ending the
 * options and "-" as SPEC for standard input.  Every option is one row
 * of the table `options`; `agc help CMD` and `agc CMD --help` print the
 * rows that apply to CMD. */
#define _XOPEN_SOURCE 700             /* realpath */
#include "agc.h"

#include "npy.h"
#include "print.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* ---- commands and options ---- */

enum {
    CMD_COMPILE = 1, CMD_RUN = 2, CMD_CHECK = 4, CMD_INFO = 8, CMD_GRAPH = 16,
    CMD_TRAIN = 32, CMD_ALL = 63
};

static const struct Command {
    const char *name;
    unsigned bit;
    const char *synopsis;           /* after "agc NAME " */
    const char *about;
} commands[] = {
    {"compile", CMD_COMPILE, "SPEC [-o DIR] [--unroll N] [--infer] "
     "[--weights FILE.npz]",
     "Writes DIR/NAME.h and DIR/NAME.c (DIR defaults to '.', and is created\n"
     "when missing), where NAME is the spec's name. The files are plain C99\n"
     "with no dependency beyond the C library: one struct NAME_t holding\n"
     "every tensor, NAME_init, NAME_forward, NAME_backward, and the table\n"
     "NAME_tensors describing each tensor. They name the spec by its path\n"
     "relative to DIR; a file whose content would not change is not\n"
     "rewritten. On any error nothing is written."},
    {"run", CMD_RUN, "SPEC [--set NAME=FILE.npy]... [--grad NAME=FILE.npy] "
     "[--out DIR]",
     "Compiles the spec in memory with libtcc, runs forward and backward,\n"
     "and prints each output and then each gradient (NAME.grad) as PyTorch\n"
     "prints tensors."},
    {"train", CMD_TRAIN, "SPEC --data NAME=FILE.npy... [--val NAME=FILE.npy]"
     "... [--epochs N]\n          [--shuffle SEED] [--load FILE.npz] "
     "[--save FILE.npz]",
     "Trains the spec's parameters with its optimizer: each epoch runs\n"
     "NAME_train_step on consecutive mini-batches of the --data arrays (each\n"
     "array [S, ...] feeds the input of shape [B, ...] of the same name;\n"
     "shuffled each epoch with --shuffle; a last partial batch is dropped),\n"
     "and prints the epoch's mean of every scalar output, then with --val\n"
     "the same of NAME_infer (eval mode) on the validation arrays, prefixed\n"
     "val_. --save writes the parameters, buffers and optimizer state once,\n"
     "at the end. The code is built with the system's C compiler when\n"
     "there is one (--backend cc), else with libtcc."},
    {"check", CMD_CHECK, "SPEC [--set NAME=FILE.npy]...",
     "Compiles the spec in float64 and compares every gradient with central\n"
     "finite differences of sum(seed * y), where y is the node backward\n"
     "differentiates. Prints a table; exits 1 when any gradient is off by\n"
     "more than 1e-5 relative. Tensors above 2000 elements are checked at\n"
     "2000 evenly spaced elements."},
    {"info", CMD_INFO, "SPEC [--infer]",
     "Prints every tensor with its shape and role, the parameter count, the\n"
     "FLOPs of forward and backward, and the memory of the generated struct."},
    {"graph", CMD_GRAPH, "SPEC [--backward | --ir]",
     "Prints the forward graph in Graphviz DOT: one box per input, graph\n"
     "node and model layer of the spec, by name. With --ir, one box per\n"
     "operation of agc's IR instead. With --backward, the backward graph as\n"
     "PyTorch builds it: one box per grad_fn (MulBackward0, MeanBackward0...)\n"
     "of each operation of the spec, an arrow to each of its\n"
     "next_functions, and an AccumulateGrad box per leaf requiring grad.\n"
     "Render it with: agc graph SPEC | dot -Tsvg > graph.svg"},
};

typedef struct Binding {
    const char *name, *file;
} Binding;

/* What the options set. */
typedef struct Opts {
    const struct Command *cmd;
    const char *spec;
    const char *dir;                /* -o */
    const char *outdir;             /* --out */
    Binding *sets;
    int nsets;
    Binding grad;
    int has_grad;
    int backward, ir;
    int quiet, verbose, help, version;
    int flags;                      /* AGC_INFER with --infer */
    TrainArg *data, *val;           /* train: --data, --val */
    int ndata, nval;
    long epochs;
    int shuffle;
    uint64_t seed;
    const char *load, *save;        /* --load, --save */
    int eval;                       /* run --eval */
    int backend_set;                /* --backend given */
} Opts;

static int opt_dir(Opts *o, const char *opt, const char *v);
static int opt_out(Opts *o, const char *opt, const char *v);
static int opt_set(Opts *o, const char *opt, const char *v);
static int opt_grad(Opts *o, const char *opt, const char *v);
static int opt_flag(Opts *o, const char *opt, const char *v);
static int opt_unroll(Opts *o, const char *opt, const char *v);
static int opt_backend(Opts *o, const char *opt, const char *v);
static int opt_define(Opts *o, const char *opt, const char *v);
static int opt_weights(Opts *o, const char *opt, const char *v);
static int opt_data(Opts *o, const char *opt, const char *v);
static int opt_count(Opts *o, const char *opt, const char *v);
static int opt_file(Opts *o, const char *opt, const char *v);

/* One row per option: adding an option is adding a row (and its handler
 * when no existing one fits).  arg is the value's name, NULL for a flag. */
static const struct Option {
    char short_name;                /* 0: none */
    const char *long_name;          /* without "--"; NULL: none */
    const char *arg;
    unsigned cmds;                  /* the commands that take it */
    int (*set)(Opts *o, const char *opt, const char *value);
    const char *help;
} options[] = {
    {'o', NULL, "DIR", CMD_COMPILE, opt_dir,
     "write the files into DIR (default '.'); created when\n"
     "missing"},
    {0, "set", "NAME=FILE.npy", CMD_RUN | CMD_CHECK, opt_set,
     "the value of input NAME (an input with no value or\n"
     "init in the spec must be set), or of a seed NAME.grad;\n"
     "dtype and shape must match"},
    {0, "grad", "NAME=FILE.npy", CMD_RUN, opt_grad,
     "the seed of backward: {of: NAME}"},
    {0, "out", "DIR", CMD_RUN, opt_out,
     "also write NAME.npy for each output and NAME.grad.npy\n"
     "for each gradient into DIR; created when missing"},
    {'D', NULL, "NAME=N", CMD_ALL, opt_define,
     "the size of the spec's named dimension NAME (its dims)"},
    {0, "infer", NULL, CMD_COMPILE | CMD_INFO, opt_flag,
     "inference only: NAME_infer, and no backward, gradients\n"
     "or optimizer; the struct holds inputs, parameters,\n"
     "outputs and the arena"},
    {0, "weights", "FILE.npz", CMD_COMPILE | CMD_INFO, opt_weights,
     "with --infer: parameters from the checkpoint, as static\n"
     "const arrays in NAME.c (flash on a microcontroller)"},
    {0, "unroll", "N", CMD_COMPILE | CMD_RUN, opt_unroll,
     "write out at most N taps of a convolution window in\n"
     "one unrolled body (default 64); wider windows loop\n"
     "over smaller bodies"},
    {0, "backend", "tcc|cc", CMD_RUN | CMD_CHECK | CMD_TRAIN, opt_backend,
     "compile the generated C with libtcc (default), or with\n"
     "the system's C compiler ($CC, else cc) into a cached\n"
     "shared object"},
    {0, "data", "NAME=FILE.npy", CMD_TRAIN, opt_data,
     "the training samples of input NAME: an array of S\n"
     "samples of the input's shape without its batch dim"},
    {0, "val", "NAME=FILE.npy", CMD_TRAIN, opt_data,
     "the validation samples of input NAME, as --data"},
    {0, "epochs", "N", CMD_TRAIN, opt_count,
     "passes over the data (default 1)"},
    {0, "shuffle", "SEED", CMD_TRAIN, opt_count,
     "shuffle the samples each epoch (splitmix64 from SEED\n"
     "and the epoch, then Fisher-Yates)"},
    {0, "load", "FILE.npz", CMD_RUN | CMD_TRAIN, opt_file,
     "start from a checkpoint: parameters, buffers and, when\n"
     "it is the same optimizer, its state (strictly, as\n"
     "load_state_dict)"},
    {0, "save", "FILE.npz", CMD_RUN | CMD_TRAIN, opt_file,
     "write the parameters, buffers and optimizer state\n"
     "after the run, atomically"},
    {0, "eval", NULL, CMD_RUN, opt_flag,
     "eval mode: run NAME_infer (running statistics, no\n"
     "dropout) and print the outputs, no gradients"},
    {0, "backward", NULL, CMD_GRAPH, opt_flag,
     "draw the backward graph, as PyTorch's grad_fn chain"},
    {0, "ir", NULL, CMD_GRAPH, opt_flag,
     "draw agc's IR: one box per operation"},
    {'q', "quiet", NULL, CMD_ALL, opt_flag,
     "no progress line on standard error"},
    {'v', "verbose", NULL, CMD_ALL, opt_flag,
     "print the time each phase takes on standard error"},
    {'h', "help", NULL, CMD_ALL, opt_flag, "print this help and exit"},
    {0, "version", NULL, CMD_ALL, opt_flag, "print agc's version and exit"},
};
#define NOPTIONS ((int)(sizeof options / sizeof *options))
#define NCOMMANDS ((int)(sizeof commands / sizeof *commands))

static int usage_error(const char *fmt, ...) AGC_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "agc: error: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    return 1;
}

static int fail(void)
{
    fprintf(stderr, "%s\n", agc_errmsg);
    return 1;
}

/* "-o" or "--out", as the user wrote it. */
static const char *option_str(const struct Option *op)
{
    return op->long_name ? agc_fmt("--%s", op->long_name)
                         : agc_fmt("-%c", op->short_name);
}

static void print_option(const struct Option *op)
{
    char head[64];
    if (op->short_name && op->long_name)
        snprintf(head, sizeof head, "-%c, --%s%s%s", op->short_name,
                 op->long_name, op->arg ? " " : "", op->arg ? op->arg : "");
    else
        snprintf(head, sizeof head, "%s%s%s", option_str(op),
                 op->arg ? " " : "", op->arg ? op->arg : "");
    printf("  %-22s", head);
    if (strlen(head) > 22)
        printf("\n  %-22s", "");
    for (const char *s = op->help; *s; s++) {
        putchar(*s);
        if (*s == '\n')
            printf("  %-22s", "");
    }
    putchar('\n');
}

static void print_usage(void)
{
    printf("usage: agc COMMAND [OPTIONS] SPEC\n\ncommands:\n");
    for (int i = 0; i < NCOMMANDS; i++)
        printf("  agc %s %s\n", commands[i].name, commands[i].synopsis);
    printf("  agc help COMMAND\n  agc --help | agc --version\n\n"
           "options (each says the commands that take it):\n");
    for (int i = 0; i < NOPTIONS; i++) {
        const struct Option *op = &options[i];
        print_option(op);
        if (op->cmds != CMD_ALL) {
            printf("  %-22s(", "");
            for (int k = 0, first = 1; k < NCOMMANDS; k++)
                if (op->cmds & commands[k].bit) {
                    printf("%s%s", first ? "" : ", ", commands[k].name);
                    first = 0;
                }
            printf(")\n");
        }
    }
    printf("\nOptions may come before or after SPEC; --opt=value is --opt "
           "value; -- ends\nthe options; SPEC '-' reads standard input. "
           "'agc CMD --help' is 'agc help CMD'.\n");
}

static void print_help(const struct Command *c)
{
    printf("usage: agc %s %s\n\n%s\n\noptions:\n", c->name, c->synopsis,
           c->about);
    for (int i = 0; i < NOPTIONS; i++)
        if (options[i].cmds & c->bit)
            print_option(&options[i]);
}

static const struct Command *find_command(const char *name)
{
    for (int i = 0; i < NCOMMANDS; i++)
        if (!strcmp(name, commands[i].name))
            return &commands[i];
    return NULL;
}

/* " (did you mean 'compile'?)" when a command is close to name. */
static const char *command_hint(const char *name)
{
    const char *names[NCOMMANDS + 1];
    for (int i = 0; i < NCOMMANDS; i++)
        names[i] = commands[i].name;
    names[NCOMMANDS] = "help";
    return agc_did_you_mean(name, names, NCOMMANDS + 1);
}

/* ---- option handlers: 0, or 1 after printing the error ---- */

static int opt_dir(Opts *o, const char *opt, const char *v)
{
    if (!*v)
        return usage_error("%s wants a directory, not ''", opt);
    o->dir = v;
    return 0;
}

static int opt_out(Opts *o, const char *opt, const char *v)
{
    if (!*v)
        return usage_error("%s wants a directory, not ''", opt);
    o->outdir = v;
    return 0;
}

/* NAME=FILE, FILE a regular file when it exists (a FIFO or a device would
 * block or never end; a missing file is reported when it is read). */
static int parse_binding(const char *opt, const char *v, Binding *b)
{
    const char *eq = strchr(v, '=');
    if (!eq || eq == v || !eq[1])
        return usage_error("%s wants NAME=FILE.npy, not '%s'", opt, v);
    b->name = agc_strndup(v, (size_t)(eq - v));
    b->file = eq + 1;
    struct stat st;
    if (stat(b->file, &st) == 0 && !S_ISREG(st.st_mode))
        return usage_error("%s %s: '%s' is not a regular file", opt, v,
                           b->file);
    return 0;
}

static int opt_set(Opts *o, const char *opt, const char *v)
{
    return parse_binding(opt, v, &o->sets[o->nsets++]);
}

static int opt_grad(Opts *o, const char *opt, const char *v)
{
    if (o->has_grad)
        return usage_error("%s is given twice: backward has one seed", opt);
    o->has_grad = 1;
    return parse_binding(opt, v, &o->grad);
}

static int opt_flag(Opts *o, const char *opt, const char *v)
{
    (void)v;
    if (!strcmp(opt, "--backward"))
        o->backward = 1;
    else if (!strcmp(opt, "--ir"))
        o->ir = 1;
    else if (!strcmp(opt, "--infer"))
        o->flags |= AGC_INFER;
    else if (!strcmp(opt, "--eval"))
        o->eval = 1;
    else if (!strcmp(opt, "--quiet"))
        o->quiet = 1;
    else if (!strcmp(opt, "--verbose"))
        o->verbose = 1;
    else if (!strcmp(opt, "--help"))
        o->help = 1;
    else if (!strcmp(opt, "--version"))
        o->version = 1;
    return 0;
}

static int opt_unroll(Opts *o, const char *opt, const char *v)
{
    char *end;
    (void)o;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || *end || end == v || n < 1 || n > 1 << 20)
        return usage_error("%s wants a number of taps from 1 to 1048576, "
                           "not '%s'", opt, v);
    agc_unroll = n;
    return 0;
}

static int opt_backend(Opts *o, const char *opt, const char *v)
{
    static const char *const names[] = {"tcc", "cc"};
    o->backend_set = 1;
    if (!strcmp(v, "tcc"))
        agc_backend = AGC_BACKEND_TCC;
    else if (!strcmp(v, "cc"))
        agc_backend = AGC_BACKEND_CC;
    else
        return usage_error("%s wants tcc or cc, not '%s'%s", opt, v,
                           agc_did_you_mean(v, names, 2));
    return 0;
}

static int opt_define(Opts *o, const char *opt, const char *d)
{
    const char *eq = strchr(d, '=');
    char *end;
    (void)o;
    errno = 0;
    long v = eq ? strtol(eq + 1, &end, 10) : 0;
    if (!eq || eq == d || errno || *end || end == eq + 1 || v < 1 ||
        v > AGC_MAX_ELEMS)
        return usage_error("%s wants NAME=N with N a positive integer, not "
                           "'%s'", opt, d);
    if (agc_ndefines == AGC_MAX_DEFINES)
        return usage_error("more than %d %s options", AGC_MAX_DEFINES, opt);
    agc_defines[agc_ndefines++] =
        (AgcDefine){agc_strndup(d, (size_t)(eq - d)), v};
    return 0;
}

static int opt_data(Opts *o, const char *opt, const char *v)
{
    Binding b;
    if (parse_binding(opt, v, &b))
        return 1;
    TrainArg *a = !strcmp(opt, "--data") ? &o->data[o->ndata++]
                                         : &o->val[o->nval++];
    a->name = b.name;
    a->path = b.file;
    return 0;
}

/* --epochs N (N >= 1), --shuffle SEED (SEED >= 0) */
static int opt_count(Opts *o, const char *opt, const char *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    int epochs = !strcmp(opt, "--epochs");
    if (errno || *end || end == v || n < (epochs ? 1 : 0) ||
        (epochs && n > 1000000000))
        return usage_error("%s wants %s, not '%s'", opt,
                           epochs ? "a number of epochs from 1"
                                  : "a seed, an integer from 0", v);
    if (epochs)
        o->epochs = (long)n;
    else
        o->shuffle = 1, o->seed = (uint64_t)n;
    return 0;
}

static int opt_file(Opts *o, const char *opt, const char *v)
{
    if (!strcmp(opt, "--load"))
        o->load = v;
    else
        o->save = v;
    return 0;
}

static int opt_weights(Opts *o, const char *opt, const char *v)
{
    (void)o;
    (void)opt;
    agc_weights = v;
    return 0;
}

/* ---- parsing ---- */

/* The option --name (or a unique prefix of one); NULL after an error. */
static const struct Option *find_long(const char *arg, const char *name,
                                      size_t len, unsigned cmd)
{
    const struct Option *found = NULL;
    int nfound = 0;
    for (int i = 0; i < NOPTIONS; i++) {
        const char *l = options[i].long_name;
        if (!l || strncmp(l, name, len))
            continue;
        if (strlen(l) == len)
            return &options[i];
        if (options[i].cmds & cmd) {  /* a prefix: only the command's own */
            found = &options[i];
            nfound++;
        }
    }
    if (nfound == 1)
        return found;
    if (nfound > 1) {
        usage_error("option '%s' is ambiguous", arg);
        return NULL;
    }
    const char *names[NOPTIONS];
    int n = 0;
    for (int i = 0; i < NOPTIONS; i++)
        if (options[i].long_name && (options[i].cmds & cmd))
            names[n++] = agc_fmt("--%s", options[i].long_name);
    usage_error("unknown option '%.*s'%s", (int)len + 2, arg,
                agc_did_you_mean(agc_strndup(arg, len + 2), names, n));
    return NULL;
}

static const struct Option *find_short(char c)
{
    for (int i = 0; i < NOPTIONS; i++)
        if (options[i].short_name == c)
            return &options[i];
    return NULL;
}

/* Applies option op with value v (NULL for a flag). */
static int apply(Opts *o, const struct Option *op, const char *v)
{
    const char *name = option_str(op);
    if (!(op->cmds & o->cmd->bit))
        return usage_error("agc %s takes no option %s (see 'agc help %s')",
                           o->cmd->name, name, o->cmd->name);
    return op->set(o, name, v);
}

/* Parses argv[2..]; 0, or 1 after printing the error. */
static int parse(Opts *o, int argc, char **argv)
{
    int npos = 0, dashdash = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (dashdash || a[0] != '-' || !a[1]) {      /* SPEC, or "-" */
            if (npos++)
                return usage_error("unexpected argument '%s': agc %s takes "
                                   "one SPEC (it has '%s')", a, o->cmd->name,
                                   o->spec);
            o->spec = a;
        } else if (!strcmp(a, "--")) {
            dashdash = 1;
        } else if (a[1] == '-') {                   /* --name[=value] */
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            const struct Option *op = find_long(a, a + 2, len, o->cmd->bit);
            if (!op)
                return 1;
            if (!op->arg && eq)
                return usage_error("option --%s takes no value (given '%s')",
                                   op->long_name, eq + 1);
            const char *v = NULL;
            if (op->arg) {
                if (eq)
                    v = eq + 1;
                else if (i + 1 < argc)
                    v = argv[++i];
                else
                    return usage_error("option --%s needs a value: --%s %s",
                                       op->long_name, op->long_name,
                                       op->arg);
            }
            if (apply(o, op, v))
                return 1;
        } else {                                    /* -x, -xy, -oDIR */
            for (const char *c = a + 1; *c; c++) {
                const struct Option *op = find_short(*c);
                if (!op)
                    return usage_error("unknown option '-%c'%s", *c,
                                       strlen(a) == 2 ? ""
                                       : agc_fmt(" in '%s'", a));
                if (!op->arg) {
                    if (apply(o, op, NULL))
                        return 1;
                    continue;
                }
                const char *v = c[1] ? c + 1 : i + 1 < argc ? argv[++i]
                                                            : NULL;
                if (!v)
                    return usage_error("option -%c needs a value: -%c %s",
                                       *c, *c, op->arg);
                if (apply(o, op, v))
                    return 1;
                break;
            }
        }
    }
    if (o->help || o->version)
        return 0;
    if (!o->spec)
        return usage_error("agc %s: no spec file given (usage: agc %s %s)",
                           o->cmd->name, o->cmd->name, o->cmd->synopsis);
    if (agc_weights && !(o->flags & AGC_INFER))
        return usage_error("--weights goes with --infer (parameters baked "
                           "into the code cannot train)");
    if (o->backward && o->ir)
        return usage_error("agc graph: --backward and --ir exclude each "
                           "other");
    return 0;
}

/* ---- feedback: a progress line, and -v's timings ---- */

static struct {
    int verbose, tty;               /* -v; stderr is a terminal, no -q */
    const char *what;               /* the phase running */
    struct timespec start;
    volatile sig_atomic_t shown;    /* the progress line is on screen */
    volatile sig_atomic_t seconds;
} phase;

static double now_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) +
           1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

/* Once a second while a phase runs: "\ragc: running... 3 s". */
static void on_tick(int sig)
{
    char buf[96];
    size_t n = 0;
    (void)sig;
    phase.seconds++;
    const char *s = "\ragc: ";
    while (*s)
        buf[n++] = *s++;
    for (s = phase.what; *s && n < 60; s++)
        buf[n++] = *s;
    s = "... ";
    while (*s)
        buf[n++] = *s++;
    char digits[16];
    int k = 0;
    for (long v = phase.seconds; v || !k; v /= 10)
        digits[k++] = (char)('0' + v % 10);
    while (k)
        buf[n++] = digits[--k];
    buf[n++] = ' ';
    buf[n++] = 's';
    phase.shown = 1;
    ssize_t w = write(STDERR_FILENO, buf, n);
    (void)w;
}

static void set_timer(long seconds)
{
    struct itimerval t = {{seconds, 0}, {seconds, 0}};
    setitimer(ITIMER_REAL, &t, NULL);
}

static void phase_begin(const char *what)
{
    phase.what = what;
    phase.shown = 0;
    phase.seconds = 0;
    clock_gettime(CLOCK_MONOTONIC, &phase.start);
    if (phase.tty)
        set_timer(1);
}

static void phase_end(void)
{
    if (!phase.what)
        return;
    if (phase.tty) {
        set_timer(0);
        if (phase.shown)
            fputs("\r\033[K", stderr);
    }
    if (phase.verbose)
        fprintf(stderr, "agc: %s: %.3f s\n", phase.what,
                now_since(&phase.start));
    phase.what = NULL;
}

static void feedback_init(const Opts *o)
{
    phase.verbose = o->verbose;
    phase.tty = !o->quiet && isatty(STDERR_FILENO);
    if (phase.tty) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_tick;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGALRM, &sa, NULL);
    }
}

/* agc_compile as a phase. */
static int compile_spec(const char *spec, int dtype, int flags, Compiled *c)
{
    phase_begin("compiling");
    int rc = agc_compile(spec, dtype, flags, c);
    phase_end();
    return rc;
}

static Jit *jit_phase(Program *p, const Emitted *em)
{
    phase_begin(agc_backend == AGC_BACKEND_CC ? "building with cc"
                                              : "JIT-compiling");
    Jit *j = jit_new(p, em);
    phase_end();
    return j;
}

/* ---- paths ---- */

/* p made absolute and normalised, whether or not it exists: realpath of
 * its longest existing prefix, and the rest with "." and ".." resolved. */
static char *abs_path(const char *p)
{
    char *real = realpath(p, NULL);
    if (real) {
        char *r = agc_strdup(real);
        free(real);
        return r;
    }
    char *copy = agc_strdup(p);
    size_t n = strlen(copy);
    while (n > 1 && copy[n - 1] == '/')
        copy[--n] = 0;
    char *slash = strrchr(copy, '/');
    const char *base = slash ? slash + 1 : copy;
    char *parent = slash ? (slash == copy ? "/" : (*slash = 0, copy)) : ".";
    char *dir = abs_path(parent);
    if (!strcmp(base, ".") || !*base)
        return dir;
    if (!strcmp(base, "..")) {
        char *s = strrchr(dir, '/');
        if (s && s != dir)
            *s = 0;
        else
            dir = "/";
        return dir;
    }
    return agc_fmt("%s%s%s", dir, strcmp(dir, "/") ? "/" : "", base);
}

/* The spec as generated files name it: its path relative to the output
 * directory dir, so that output does not depend on where agc runs. */
static const char *cite_path(const char *spec, const char *dir)
{
    if (!strcmp(spec, "-"))
        return "<stdin>";
    char *to = abs_path(spec), *from = abs_path(dir);
    if (!strcmp(from, "/"))
        return to + 1;
    size_t common = 0;              /* the shared leading components */
    for (size_t i = 0;; i++) {
        if ((from[i] == 0 || from[i] == '/') && (to[i] == '/' || !to[i]))
            common = i;
        if (!from[i] || from[i] != to[i])
            break;
    }
    char *up = "";
    for (const char *s = from + common; *s; s++)
        if (*s == '/')
            up = agc_fmt("%s../", up);
    return agc_fmt("%s%s", up, to + common + (to[common] == '/'));
}

/* ---- outputs: all of them, or none ---- */

/* Files are written into a hidden directory inside the output directory,
 * then renamed over their targets once all are written; an existing
 * target is kept as a hard link until every rename has succeeded, so that
 * a failure puts back every file as it was.  A target whose content would
 * not change is left alone (its mtime too). */
typedef struct Stage {
    const char *opt;                /* "-o" or "--out", for messages */
    const char *dir, *tmp;
    int n, cap;
    const char **names;
    int nmade;                      /* directories made, to undo */
    const char *made[64];
} Stage;

static int stage_error(Stage *s, const char *fmt, ...) AGC_PRINTF(2, 3);

/* Checks, before anything runs, that dir (created when missing) will be a
 * writable directory. */
static int check_outdir(const char *opt, const char *dir)
{
    struct stat st;
    const char *p = dir;
    for (;;) {
        if (stat(p, &st) == 0) {
            if (!S_ISDIR(st.st_mode))
                return usage_error("%s %s: '%s' is not a directory", opt, dir,
                                   p);
            if (access(p, W_OK | X_OK))
                return usage_error("%s %s: cannot write into '%s': %s", opt,
                                   dir, p, strerror(errno));
            return 0;
        }
        if (errno != ENOENT && errno != ENOTDIR)
            return usage_error("%s %s: '%s': %s", opt, dir, p,
                               strerror(errno));
        char *parent = agc_strdup(p);
        size_t n = strlen(parent);
        while (n > 1 && parent[n - 1] == '/')
            parent[--n] = 0;
        char *slash = strrchr(parent, '/');
        p = !slash ? "." : slash == parent ? "/" : (*slash = 0, parent);
    }
}

/* Checks that no target DIR/NAME is something a file cannot replace. */
static int check_target(const char *opt, const char *dir, const char *name)
{
    struct stat st;
    const char *path = agc_fmt("%s/%s", dir, name);
    if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return usage_error("%s %s: '%s' is a directory; nothing was written",
                           opt, dir, path);
    return 0;
}

static void mkdir_p(Stage *s, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0 || errno != ENOENT)
        return;
    char *parent = agc_strdup(dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = 0;
        mkdir_p(s, parent);
    }
    if (mkdir(dir, 0777) == 0 && s->nmade < 64)
        s->made[s->nmade++] = dir;
}

static void stage_clean(Stage *s)
{
    if (!s->tmp)
        return;
    DIR *d = opendir(s->tmp);
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            unlink(agc_fmt("%s/%s", s->tmp, e->d_name));
    if (d)
        closedir(d);
    rmdir(s->tmp);
    s->tmp = NULL;
}

/* Undoes everything: the staged files, the directories made. */
static int stage_error(Stage *s, const char *fmt, ...)
{
    int e = errno;
    stage_clean(s);
    while (s->nmade > 0)
        rmdir(s->made[--s->nmade]);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "agc: error: %s %s: ", s->opt, s->dir);
    errno = e;
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "; nothing was written\n");
    return 1;
}

/* Creates dir (and its parents) and the hidden directory. */
static int stage_begin(Stage *s, const char *opt, const char *dir)
{
    memset(s, 0, sizeof *s);
    s->opt = opt;
    s->dir = dir;
    mkdir_p(s, dir);
    char *tmp = agc_fmt("%s/.agc-XXXXXX", dir);
    if (!mkdtemp(tmp))
        return stage_error(s, "cannot write into '%s': %s", dir,
                           strerror(errno));
    s->tmp = tmp;
    return 0;
}

static const char *staged(Stage *s, const char *name)
{
    return agc_fmt("%s/%s", s->tmp, name);
}

static int stage_text(Stage *s, const char *name, const char *text)
{
    const char *path = staged(s, name);
    FILE *f = fopen(path, "w");
    size_t n = strlen(text);
    int ok = f && fwrite(text, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    if (!ok)
        return stage_error(s, "cannot write '%s': %s", name, strerror(errno));
    *AGC_PUSH(s->names, s->n, s->cap) = name;
    return 0;
}

/* 1 when files a and b hold the same bytes. */
static int same_content(const char *a, const char *b)
{
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    int same = fa && fb;
    while (same) {
        char x[8192], y[8192];
        size_t na = fread(x, 1, sizeof x, fa), nb = fread(y, 1, sizeof y, fb);
        same = na == nb && !memcmp(x, y, na);
        if (na < sizeof x)
            break;
    }
    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same;
}

/* Renames every staged file over its target, or puts everything back. */
static int stage_commit(Stage *s)
{
    char *skip = agc_alloc((size_t)s->n + 1);
    char *kept = agc_alloc((size_t)s->n + 1);
    for (int i = 0; i < s->n; i++) {
        const char *target = agc_fmt("%s/%s", s->dir, s->names[i]);
        struct stat st;
        if (lstat(target, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            return stage_error(s, "'%s' is a directory", target);
        skip[i] = S_ISREG(st.st_mode) &&
                  same_content(staged(s, s->names[i]), target);
    }
    for (int i = 0; i < s->n; i++) {
        if (skip[i])
            continue;
        const char *target = agc_fmt("%s/%s", s->dir, s->names[i]);
        const char *old = agc_fmt("%s.old", staged(s, s->names[i]));
        kept[i] = link(target, old) == 0;
        if (rename(staged(s, s->names[i]), target)) {
            int e = errno;
            for (int k = i; k >= 0; k--) {     /* put back what was there */
                const char *t = agc_fmt("%s/%s", s->dir, s->names[k]);
                const char *o = agc_fmt("%s.old", staged(s, s->names[k]));
                if (skip[k] || k == i)
                    continue;
                if (kept[k])
                    rename(o, t);
                else
                    unlink(t);
            }
            errno = e;
            return stage_error(s, "cannot write '%s': %s", target,
                               strerror(e));
        }
    }
    stage_clean(s);
    return 0;
}

/* ---- compile ---- */

static int cmd_compile(const Opts *o)
{
    Compiled c;
    const char *dir = o->dir ? o->dir : ".";
    if (check_outdir("-o", dir))
        return 1;
    agc_cite_path = cite_path(o->spec, dir);
    if (compile_spec(o->spec, -1, o->flags, &c))
        return fail();
    const char *h = agc_fmt("%s.h", c.spec->name);
    const char *cf = agc_fmt("%s.c", c.spec->name);
    Stage s;
    if (check_target("-o", dir, h) || check_target("-o", dir, cf) ||
        stage_begin(&s, "-o", dir) || stage_text(&s, h, c.em.h) ||
        stage_text(&s, cf, c.em.c))
        return 1;
    return stage_commit(&s);
}

/* ---- run ---- */

static const Tensor *find_tensor(Program *p, const char *name, Role role)
{
    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].role == role && !strcmp(p->tensors[i].name, name))
            return &p->tensors[i];
    return NULL;
}

static int dtype_size(Program *p)
{
    return p->spec->dtype == DT_F32 ? 4 : 8;
}

/* Reads file into the tensor's member; errors cite the spec position. */
static void bind_npy(Program *p, Jit *j, const Tensor *t, const char *file)
{
    const AgcTensorInfo *info;
    void *data = jit_tensor(j, t->name, &info);
    char err[512];
    if (npy_read(file, info->is_int ? 'i' : 'f',
                 info->is_int ? 8 : dtype_size(p), info->rank, info->shape,
                 data, err, sizeof err))
        agc_error(t->pos, "%s (for '%s')", err, t->name);
}

/* --set NAME=FILE for each binding; NAME may also be a seed ("y.grad"),
 * which agc check takes this way. */
static void bind_sets(Program *p, Jit *j, const Binding *sets, int nsets)
{
    for (int i = 0; i < nsets; i++) {
        const Tensor *t = find_tensor(p, sets[i].name, ROLE_INPUT);
        if (!t)
            t = find_tensor(p, sets[i].name, ROLE_SEED);
        if (!t) {
            const char **names = agc_alloc(sizeof(char *) *
                                           (size_t)(p->ntensors + 1));
            int n = 0;
            for (int k = 0; k < p->ntensors; k++)
                if (p->tensors[k].role == ROLE_INPUT ||
                    p->tensors[k].role == ROLE_SEED)
                    names[n++] = p->tensors[k].name;
            agc_error(p->spec->pos, "--set %s: the spec has no input '%s'%s",
                      sets[i].name, sets[i].name,
                      agc_did_you_mean(sets[i].name, names, n));
        }
        bind_npy(p, j, t, sets[i].file);
    }
}

static double element(Program *p, const void *data, long i)
{
    return dtype_size(p) == 4 ? ((const float *)data)[i]
                              : ((const double *)data)[i];
}

static void print_tensor(Program *p, Jit *j, const char *label,
                         const Tensor *t)
{
    const AgcTensorInfo *info;
    void *data = jit_tensor(j, t->name, &info);
    char *s;
    if (info->is_int) {
        s = tensor_format_int64(data, info->rank, info->shape);
    } else {
        double *v = malloc(sizeof(double) * (size_t)info->count);
        if (!v)
            agc_error(t->pos, "out of memory");
        for (long i = 0; i < info->count; i++)
            v[i] = element(p, data, i);
        s = tensor_format(v, info->rank, info->shape,
                          p->spec->dtype == DT_F64);
        free(v);
    }
    if (!s)
        agc_error(t->pos, "out of memory");
    printf("%s = %s\n", label, s);
    free(s);
}

static int eval_mode;                /* run --eval: no gradients */

static int is_written(const Tensor *t)
{
    return t->role == ROLE_OUTPUT || (t->role == ROLE_GRAD && !eval_mode) ||
           t->role == ROLE_COUNT;
}

/* Writes every output and gradient into the stage. */
static int stage_npys(Stage *s, Program *p, Jit *j)
{
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        if (!is_written(t))
            continue;
        const AgcTensorInfo *info;
        void *data = jit_tensor(j, t->name, &info);
        char err[512];
        const char *name = agc_fmt("%s.npy", t->name);
        if (npy_write(staged(s, name), info->is_int ? 'i' : 'f',
                      info->is_int ? 8 : dtype_size(p), info->rank,
                      info->shape, data, err, sizeof err))
            return stage_error(s, "cannot write '%s': %s", name,
                               strstr(err, ": ") ? strstr(err, ": ") + 2
                                                 : err);
        *AGC_PUSH(s->names, s->n, s->cap) = name;
    }
    return 0;
}

/* NAME_ERR_TARGET: a class index out of range, as PyTorch says it. */
static void target_error(Program *p, Jit *j, const char *what)
{
    long long bad = j->bad_target_offset >= 0
                        ? *(int64_t *)((char *)j->m + j->bad_target_offset)
                        : -1;
    Node *at = NULL;                /* the one check, if there is one */
    int nchecks = 0;
    for (int i = 0; i < p->g->n; i++)
        if (p->g->nodes[i]->op == OP_CLASS_INDEX && nchecks++ == 0)
            at = p->g->nodes[i];
    if (nchecks == 1 && p->nloops == 0)
        agc_error(at->pos, "%s: Target %lld is out of bounds: class indices "
                  "must be in [0, %ld)", what, bad, at->attr[0]);
    agc_error(p->spec->pos, "%s: Target %lld is out of bounds: class "
              "indices (int64 targets of cross_entropy and nll_loss, "
              "one_hot's argument) must be in [0, number of classes)", what,
              bad);
}

static int cmd_run(const Opts *o)
{
    Compiled c;
    Jit *volatile j = NULL;         /* read after longjmp */
    if (o->outdir && check_outdir("--out", o->outdir))
        return 1;
    if (compile_spec(o->spec, -1, 0, &c))
        return fail();
    Program *p = c.prog;
    for (int i = 0; o->outdir && i < p->ntensors; i++)
        if (is_written(&p->tensors[i]) &&
            check_target("--out", o->outdir,
                         agc_fmt("%s.npy", p->tensors[i].name)))
            return 1;
    jmp_buf jb;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        phase_end();
        jit_free(j);
        return fail();
    }
    j = jit_phase(p, &c.em);
    if (o->load)
        ckpt_load(p, j, o->load);
    bind_sets(p, j, o->sets, o->nsets);
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        int set = o->load && t->role == ROLE_INPUT &&
                  p->decls[t->decl].requires_grad;  /* from the checkpoint */
        for (int k = 0; k < o->nsets; k++)
            set |= !strcmp(o->sets[k].name, t->name);
        if (t->role == ROLE_INPUT && p->decls[t->decl].init == INIT_NONE &&
            !set)
            agc_error(t->pos, "input '%s' has no value: give --set "
                      "%s=FILE.npy", t->name, t->name);
    }
    if (o->has_grad) {
        const Binding *grad = &o->grad;
        const Tensor *t = p->seed_runtime
                              ? find_tensor(p, agc_fmt("%s.grad", grad->name),
                                            ROLE_SEED)
                              : NULL;
        if (!t)
            agc_error(p->spec->pos, "--grad %s: the spec has no backward: "
                      "{of: %s} taking a seed at run time", grad->name,
                      grad->name);
        bind_npy(p, j, t, grad->file);
    } else if (p->seed_runtime && p->bwd_of->shape.rank != 0) {
        agc_error(p->spec->bwd_pos, "backward of '%s' needs a seed: give "
                  "--grad %s=FILE.npy", p->spec->bwd_of, p->spec->bwd_of);
    }
    phase_begin("running");
    int rc = (o->eval ? j->infer : j->forward)(j->m);
    if (rc == 2)                    /* NAME_ERR_TARGET */
        target_error(p, j, "forward failed");
    if (rc != 0) {                  /* NAME_ERR_MAX_ITER */
        if (p->nloops == 1)
            agc_error(p->loops[0]->pos, "forward failed: loop '%s' exceeded "
                      "its max_iter: the condition still held after %ld "
                      "iterations", p->loops[0]->name, p->loops[0]->max_iter);
        agc_error(p->spec->pos, "forward failed: a loop exceeded its "
                  "max_iter");
    }
    if (p->bwd_of && !o->eval && j->backward(j->m) != 0)
        agc_error(p->spec->pos, "backward failed");
    phase_end();
    if (o->save)
        ckpt_save(p, j, o->save);
    agc_error_jmp = NULL;

    Stage s;
    if (o->outdir && (stage_begin(&s, "--out", o->outdir) ||
                      stage_npys(&s, p, j) || stage_commit(&s))) {
        jit_free(j);
        return 1;
    }
    if (setjmp(jb)) {               /* out of memory while printing */
        jit_free(j);
        return fail();
    }
    agc_error_jmp = &jb;
    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].role == ROLE_OUTPUT ||
            p->tensors[i].role == ROLE_COUNT)
            print_tensor(p, j, p->tensors[i].name, &p->tensors[i]);
    for (int i = 0; i < p->ntensors && !o->eval; i++)
        if (p->tensors[i].role == ROLE_GRAD)
            print_tensor(p, j, p->tensors[i].name, &p->tensors[i]);
    jit_free(j);
    agc_error_jmp = NULL;
    return 0;
}

/* ---- check ---- */

static int cmd_check(const Opts *o)
{
    Compiled c;
    Jit *volatile j = NULL;         /* read after longjmp */
    if (compile_spec(o->spec, DT_F64, AGC_FOR_CHECK, &c))
        return fail();
    Program *p = c.prog;
    jmp_buf jb;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        phase_end();
        jit_free(j);
        return fail();
    }
    if (!p->bwd_of)
        agc_error(p->spec->pos, "nothing to check: the spec has no "
                  "backward");
    j = jit_phase(p, &c.em);
    bind_sets(p, j, o->sets, o->nsets);
    CheckRow *rows;
    int nrows;
    phase_begin("checking gradients");
    int failed = check_gradients(p, j, &rows, &nrows);
    phase_end();
    printf("%-24s %12s %12s %10s  %s\n", "tensor", "max abs err",
           "max rel err", "checked", "verdict");
    for (int i = 0; i < nrows; i++)
        printf("%-24s %12.3e %12.3e %10ld  %s\n", rows[i].tensor,
               rows[i].max_abs, rows[i].max_rel, rows[i].checked,
               rows[i].ok ? "ok" : "FAIL");
    printf("%d passed, %d failed\n", nrows - failed, failed);
    jit_free(j);
    agc_error_jmp = NULL;
    return failed ? 1 : 0;
}

/* ---- info ---- */

static long node_flops(const Node *n)
{
    long out = shape_count(&n->shape);
    if (op_is_elementwise(n->op))
        return n->op == OP_COPY ? 0 : out;
    if (op_is_reduction(n->op))
        return shape_count(&n->in[0]->shape) * (n->op == OP_NORM ? 2 : 1);
    if (n->op == OP_MATMUL)
        return 2 * out * n->in[0]->shape.d[1];
    if (n->op >= OP_CONV && n->op <= OP_CONV_BWD_WEIGHT) {
        /* a multiply-add per output of the forward one and window tap */
        const Node *y = n->op == OP_CONV ? n
                        : n->op == OP_CONV_BWD_INPUT ? n->in[0] : n->in[1];
        const Shape *w = n->op == OP_CONV_BWD_WEIGHT ? &n->shape
                                                     : &n->in[1]->shape;
        return 2 * shape_count(&y->shape) * w->d[1] * w->d[2] * w->d[3];
    }
    if (n->op == OP_MAXPOOL || n->op == OP_MAXPOOL_BWD)   /* comparisons */
        return shape_count(&(n->op == OP_MAXPOOL ? n : n->in[1])->shape) *
               n->attr[PL_KH] * n->attr[PL_KW];
    return 0;
}

static const char *role_label(Role r)
{
    static const char *const names[] = {"input", "output", "gradient",
                                        "seed", "count", "state"};
    return names[r];
}

/* The blocks the generated code runs, a row per spec line and phase:
 * FLOPs, and the arena's bytes live meanwhile (the most of its blocks);
 * then the struct's bytes by role, and the arena against its bound. */
static void info_memory(const Compiled *c)
{
    const Emitted *em = &c->em;
    Program *p = c->prog;
    printf("%-34s %12s %12s\n", "block", "FLOPs", "arena live");
    for (int b = 1; b <= em->nblocks;) {
        const Node *n = em->block_node[b];
        long flops = 0, live = 0;
        int e = b;
        for (; e <= em->nblocks && em->block_node[e]->phase == n->phase &&
               em->block_node[e]->pos.line == n->pos.line; e++) {
            flops += node_flops(em->block_node[e]);
            if (em->block_live[e - 1] > live)
                live = em->block_live[e - 1];
        }
        const char *what = n->note ? n->note : op_name(n->op);
        if (!strncmp(what, "grad of ", 8))
            what += 8;
        int len = (int)strcspn(what, " =");
        printf("%-34s %12ld %12ld\n",
               agc_fmt("%.*s (%s, line %d)", len > 20 ? 20 : len, what,
                       n->phase ? "backward" : "forward", n->pos.line),
               flops, live);
        b = e;
    }
    long esize = p->spec->dtype == DT_F32 ? 4 : 8, role[ROLE_RNG + 1] = {0};
    long params = 0;
    for (int i = 0; i < p->ntensors; i++) {
        const Tensor *t = &p->tensors[i];
        int is_int = t->role == ROLE_COUNT ||   /* int64_t members */
                     (t->role != ROLE_GRAD && t->node->is_int);
        long b = shape_count(&t->node->shape) * (is_int ? 8 : esize);
        if (t->role == ROLE_INPUT && p->decls[t->decl].requires_grad)
            params += b;
        else
            role[t->role] += b;
    }
    long other = em->bytes - em->arena_bytes - params;
    for (int r = 0; r < 5; r++)
        other -= role[r];
    printf("memory: %ld bytes in struct %s_t, of which inputs %ld, "
           "parameters %ld, "
           "outputs %ld, gradients %ld, seeds and counts %ld, arena %ld, "
           "other %ld (optimizer state, tapes, loop counts, kernel scratch "
           "of another type, padding)\n", em->bytes, p->spec->name,
           role[ROLE_INPUT], params, role[ROLE_OUTPUT], role[ROLE_GRAD],
           role[ROLE_SEED] + role[ROLE_COUNT], em->arena_bytes, other);
    printf("arena: %ld bytes; lower bound %ld bytes (the most live at once)"
           "\n", em->arena_bytes, em->arena_bound);
}

/* ---- train ---- */

/* Whether the system's C compiler ($CC's first word, else cc) is on PATH:
 * agc train then builds with it (--backend cc). */
static int have_cc(void)
{
    const char *cc = getenv("CC");
    char *name = agc_strndup(cc && *cc ? cc : "cc",
                             strcspn(cc && *cc ? cc : "cc", " \t"));
    if (strchr(name, '/'))
        return access(name, X_OK) == 0;
    const char *path = getenv("PATH");
    for (const char *d = path ? path : ""; *d;) {
        size_t n = strcspn(d, ":");
        if (n && access(agc_fmt("%.*s/%s", (int)n, d, name), X_OK) == 0)
            return 1;
        d += n + (d[n] == ':');
    }
    return 0;
}

/* The progress bar of agc train, on a terminal: done of total batches;
 * done < 0 clears it. */
static void train_tick(long done, long total)
{
    enum { WIDTH = 30 };
    if (!phase.tty)
        return;
    if (done < 0) {
        fprintf(stderr, "\r%*s\r", WIDTH + 40, "");
        return;
    }
    int k = (int)(done * WIDTH / total);
    fprintf(stderr, "\ragc: training [%.*s%*s] %ld/%ld batches", k,
            "##############################", WIDTH - k, "", done, total);
}

static int cmd_train(const Opts *o)
{
    Compiled c;
    Jit *volatile j = NULL;         /* read after longjmp */
    if (!o->ndata)
        return usage_error("train needs --data NAME=FILE.npy for the inputs "
                           "it feeds");
    if (o->save) {                  /* fail now, not after the training */
        char *dir = agc_strdup(o->save), *slash = strrchr(dir, '/');
        if (slash)
            *slash = 0;
        if (access(slash ? (*dir ? dir : "/") : ".", W_OK) != 0)
            return usage_error("--save %s: cannot write into '%s': %s",
                               o->save, slash ? dir : ".", strerror(errno));
    }
    if (!o->backend_set && have_cc())
        agc_backend = AGC_BACKEND_CC;
    if (compile_spec(o->spec, -1, 0, &c))
        return fail();
    Program *p = c.prog;
    jmp_buf jb;
    agc_error_jmp = &jb;
    if (setjmp(jb)) {
        phase_end();
        jit_free(j);
        return fail();
    }
    j = jit_phase(p, &c.em);
    if (o->load)
        ckpt_load(p, j, o->load);
    TrainOpts t = {o->data, o->val, o->ndata, o->nval, o->epochs,
                   o->shuffle, o->seed, train_tick};
    int rc = train_run(p, j, &t);
    if (rc == 2)
        target_error(p, j, "training stopped");
    if (rc)
        agc_error(p->spec->pos, "training stopped: the generated code "
                  "returned %s_%s", p->spec->name,
                  rc == 1 ? "ERR_MAX_ITER (a loop exceeded its max_iter)"
                          : agc_fmt("error %d", rc));
    if (o->save)
        ckpt_save(p, j, o->save);
    agc_error_jmp = NULL;
    jit_free(j);
    return 0;
}

static int cmd_info(const Opts *o)
{
    Compiled c;
    if (compile_spec(o->spec, -1, o->flags, &c))
        return fail();
    Program *p = c.prog;
    printf("%s: %s\n", p->spec->name,
           p->spec->dtype == DT_F32 ? "float32" : "float64");
    printf("%-24s %-10s %s\n", "tensor", "role", "shape");
    long params = 0;
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        const char *extra = "";
        if (t->role == ROLE_INPUT && p->decls[t->decl].requires_grad) {
            params += shape_count(&t->node->shape);
            extra = "  requires grad";
        }
        printf("%-24s %-10s %s%s\n", t->name, role_label(t->role),
               shape_str(&t->node->shape), extra);
    }
    for (int i = 0; i < p->nnamed; i++)
        if (!find_tensor(p, p->named[i].name, ROLE_OUTPUT))
            printf("%-24s %-10s %s\n", p->named[i].name, "node",
                   shape_str(&p->named[i].node->shape));
    long flops[2] = {0, 0};
    for (int i = 0; i < p->g->n; i++)
        flops[p->g->nodes[i]->phase] += node_flops(p->g->nodes[i]);
    printf("parameters (inputs requiring grad): %ld\n", params);
    printf("FLOPs: forward %ld, backward %ld", flops[0], flops[1]);
    printf(p->nloops ? " (loops: once per iteration)\n" : "\n");
    for (int k = 0; k < p->nloops; k++) {
        LoopDef *L = p->loops[k];
        long f[2] = {0, 0};
        for (int i = 0; i < L->g->n; i++)
            f[L->g->nodes[i]->phase] += node_flops(L->g->nodes[i]);
        printf("loop %s: max_iter %ld; per iteration %ld FLOPs forward, %ld "
               "backward; tape %ld bytes%s\n", L->name, L->max_iter, f[0],
               f[1], L->tape_bytes,
               L->tape_bytes ? agc_fmt(" (%ld iterates of %s)", L->max_iter,
                                       shape_str(&L->var->shape))
               : L->grad ? " (backward does not read the iterates)"
                         : " (no backward through it)");
    }
    info_memory(&c);
    return 0;
}

/* ---- graph ---- */

/* s inside a DOT string: quotes and backslashes escaped. */
static const char *dot_escape(const char *s)
{
    char *r = agc_alloc(2 * strlen(s) + 1), *o = r;
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            *o++ = '\\';
        *o++ = *s == '\n' ? ' ' : *s;
    }
    return r;
}

/* Declares grad_fn i and, depth first, what it reaches; an edge from
 * each grad_fn to each of its next_functions, in the direction the
 * gradient flows (torch.autograd.grad_fn.next_functions). */
static void draw_fn(Program *p, int i, char *drawn)
{
    GradFn *f = &p->fns[i];
    if (drawn[i])
        return;
    drawn[i] = 1;
    if (f->leaf)
        printf("  f%d [label=\"%s\\n%s %s\", fillcolor=lightblue];\n", i,
               f->name, f->leaf, shape_str(&f->shape));
    else if (f->detail)
        printf("  f%d [label=\"%s\\n%s\"];\n", i, f->name,
               dot_escape(f->detail));
    else
        printf("  f%d [label=\"%s\"];\n", i, f->name);
    for (int k = 0; k < f->nnext; k++)
        printf("  f%d -> f%d;\n", i, f->next[k]);
    for (int k = 0; k < f->nnext; k++)
        draw_fn(p, f->next[k], drawn);
}

/* The backward graph as PyTorch builds it (and torchviz draws it): the
 * differentiated value, its grad_fn, and every grad_fn reachable through
 * next_functions down to an AccumulateGrad per leaf requiring grad. */
static void graph_backward(Program *p)
{
    if (!p->bwd_of)
        agc_error(p->spec->pos, "nothing to draw: the spec has no "
                  "backward");
    printf("digraph %s_backward {\n  node [shape=box, style=filled, "
           "fillcolor=lightgrey, fontname=\"Helvetica\"];\n", p->spec->name);
    printf("  out [label=\"%s\\n%s\", fillcolor=darkolivegreen1];\n",
           p->spec->bwd_of, shape_str(&p->bwd_of->shape));
    if (p->bwd_fn >= 0) {
        printf("  out -> f%d;\n", p->bwd_fn);
        draw_fn(p, p->bwd_fn, agc_alloc((size_t)p->nfns));
    }
    printf("}\n");
}

/* Marks in live[] the forward nodes the outputs (and backward's node)
 * read: the rest is dead and not drawn. */
static char *live_nodes(Program *p)
{
    Graph *g = p->g;
    char *live = agc_alloc((size_t)g->n);
    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].role == ROLE_OUTPUT ||
            p->tensors[i].role == ROLE_COUNT)
            live[p->tensors[i].node->id] = 1;
    if (p->bwd_of)
        live[p->bwd_of->id] = 1;
    for (int i = g->n - 1; i >= 0; i--)     /* ids are topological */
        if (live[i])
            for (int k = 0; k < g->nodes[i]->nin; k++)
                live[g->nodes[i]->in[k]->id] = 1;
    return live;
}

/* The IR: one box per live forward node. */
static void graph_ir(Program *p)
{
    Graph *g = p->g;
    char *live = live_nodes(p);
    printf("digraph %s {\n  rankdir=LR;\n  node [shape=box, "
           "fontname=\"Helvetica\"];\n", p->spec->name);
    for (int i = 0; i < g->n; i++) {
        Node *n = g->nodes[i];
        if (n->phase || !live[i])
            continue;
        const char *label = n->op == OP_INPUT ? p->decls[n->decl].name
                                              : op_name(n->op);
        if (n->op == OP_CONST && !n->cdata)
            label = agc_fmt("%g", n->cval);
        printf("  n%d [label=\"%s\\n%s\"%s];\n", n->id, label,
               shape_str(&n->shape),
               n->op == OP_INPUT ? ", style=filled, fillcolor=lightblue"
                                 : "");
        for (int k = 0; k < n->nin; k++)
            printf("  n%d -> n%d;\n", n->in[k]->id, n->id);
    }
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        if (t->role == ROLE_INPUT || t->role == ROLE_GRAD ||
            t->role == ROLE_SEED)
            continue;
        printf("  t%d [label=\"%s\", shape=ellipse];\n  n%d -> t%d;\n", i,
               t->name, t->node->id, i);
    }
    printf("}\n");
}

/* A box of the spec's own graph: an input, a model layer or a graph
 * entry (or a loop's count), and the boxes it reads. */
typedef struct Box {
    const char *name, *label;
    int is_input, live, ndeps, cdeps;
    int *deps;
} Box;

static int box_index(Box *boxes, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(boxes[i].name, name))
            return i;
    return -1;
}

/* Adds to box i an arrow from every box that e names. */
static void expr_deps(Box *boxes, int n, int i, const Expr *e,
                      const char *local)
{
    if (e->kind == E_NAME && (!local || strcmp(e->name, local))) {
        int d = box_index(boxes, n, e->name);
        int dup = d < 0 || d == i;
        for (int k = 0; k < boxes[i].ndeps; k++)
            dup |= boxes[i].deps[k] == d;
        if (!dup)
            *AGC_PUSH(boxes[i].deps, boxes[i].ndeps, boxes[i].cdeps) = d;
    }
    for (int k = 0; k < e->nargs; k++)
        expr_deps(boxes, n, i, e->args[k], local);
    for (int k = 0; k < e->nkw; k++)
        expr_deps(boxes, n, i, e->kwargs[k], local);
}

static void mark_live(Box *boxes, int i)
{
    if (i < 0 || boxes[i].live)
        return;
    boxes[i].live = 1;
    for (int k = 0; k < boxes[i].ndeps; k++)
        mark_live(boxes, boxes[i].deps[k]);
}

/* The spec's own graph: a box per input, model layer (name and kind) and
 * graph entry, by name, with an arrow from each name an entry reads (a
 * layer reads the layer before it); a layer's parameters are part of its
 * box.  Only what the outputs and backward's node read is drawn. */
static void graph_spec(Program *p)
{
    Spec *s = p->spec;
    int n = 0, cap = 0;
    Box *boxes = NULL;
    const char *shape;
    for (int i = 0; i < s->ndecls; i++) {
        Box *b = AGC_PUSH(boxes, n, cap);
        memset(b, 0, sizeof *b);
        b->name = s->decls[i].name;
        b->label = agc_fmt("%s\\n%s", b->name, shape_str(&s->decls[i].shape));
        b->is_input = 1;
    }
    for (int i = 0; i < s->nlayers; i++) {
        Box *b = AGC_PUSH(boxes, n, cap);
        memset(b, 0, sizeof *b);
        b->name = s->layers[i].name;
        shape = "";
        for (int k = 0; k < p->nnamed; k++)
            if (!strcmp(p->named[k].name, b->name))
                shape = shape_str(&p->named[k].node->shape);
        b->label = agc_fmt("%s\\n%s %s", b->name, s->layers[i].kind, shape);
        int d = box_index(boxes, n - 1, i ? s->layers[i - 1].name
                                          : s->model_input);
        if (d >= 0)
            *AGC_PUSH(b->deps, b->ndeps, b->cdeps) = d;
    }
    for (int i = 0; i < s->ngraph; i++) {
        const GraphEntry *ge = &s->graph[i];
        Box *b = AGC_PUSH(boxes, n, cap);
        memset(b, 0, sizeof *b);
        b->name = ge->name;
        shape = "";
        for (int k = 0; k < p->nnamed; k++)
            if (!strcmp(p->named[k].name, b->name))
                shape = shape_str(&p->named[k].node->shape);
        b->label = agc_fmt("%s\\n%s%s", b->name, ge->is_loop ? "loop " : "",
                           shape);
        if (ge->is_loop) {
            expr_deps(boxes, n, n - 1, expr_parse(ge->init), NULL);
            expr_deps(boxes, n, n - 1, expr_parse(ge->cond), ge->as);
            expr_deps(boxes, n, n - 1, expr_parse(ge->body), ge->as);
        } else {
            expr_deps(boxes, n, n - 1, expr_parse(ge->expr), NULL);
        }
        if (ge->is_loop && ge->count) {
            Box *c = AGC_PUSH(boxes, n, cap);
            memset(c, 0, sizeof *c);
            c->name = ge->count;
            c->label = agc_fmt("%s\\ncount of %s", ge->count, ge->name);
            *AGC_PUSH(c->deps, c->ndeps, c->cdeps) = n - 2;
        }
    }
    for (int i = 0; i < p->ntensors; i++)
        if (p->tensors[i].role == ROLE_OUTPUT ||
            p->tensors[i].role == ROLE_COUNT)
            mark_live(boxes, box_index(boxes, n, p->tensors[i].name));
    if (s->has_backward)
        mark_live(boxes, box_index(boxes, n, s->bwd_of));

    printf("digraph %s {\n  rankdir=LR;\n  node [shape=box, "
           "fontname=\"Helvetica\"];\n", s->name);
    for (int i = 0; i < n; i++) {
        if (!boxes[i].live)
            continue;
        printf("  b%d [label=\"%s\"%s];\n", i, boxes[i].label,
               boxes[i].is_input ? ", style=filled, fillcolor=lightblue"
                                 : "");
        for (int k = 0; k < boxes[i].ndeps; k++)
            printf("  b%d -> b%d;\n", boxes[i].deps[k], i);
    }
    for (int i = 0; i < p->ntensors; i++) {
        Tensor *t = &p->tensors[i];
        int b = box_index(boxes, n, t->name);
        if ((t->role == ROLE_OUTPUT || t->role == ROLE_COUNT) && b >= 0)
            printf("  t%d [label=\"%s\", shape=ellipse];\n  b%d -> t%d;\n",
                   i, t->name, b, i);
    }
    printf("}\n");
}

static int cmd_graph(const Opts *o)
{
    Compiled c;
    if (compile_spec(o->spec, -1, 0, &c))
        return fail();
    jmp_buf jb;
    agc_error_jmp = &jb;
    if (setjmp(jb))
        return fail();
    if (o->backward)
        graph_backward(c.prog);
    else if (o->ir)
        graph_ir(c.prog);
    else
        graph_spec(c.prog);
    agc_error_jmp = NULL;
    return 0;
}

/* ---- main ---- */

static int agc_main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("no command given (run 'agc --help' for usage)");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        print_usage();
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("agc %s\n", AGC_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "help")) {
        if (argc < 3) {
            print_usage();
            return 0;
        }
        const struct Command *c = find_command(argv[2]);
        if (!c)
            return usage_error("no command '%s'%s", argv[2],
                               command_hint(argv[2]));
        print_help(c);
        return 0;
    }
    Opts o;
    memset(&o, 0, sizeof o);
    o.cmd = find_command(cmd);
    if (!o.cmd && *command_hint(cmd))
        return usage_error("unknown command '%s'%s", cmd, command_hint(cmd));
    if (!o.cmd)
        return usage_error("unknown command '%s' (run 'agc --help' for "
                           "usage)", cmd);
    for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_help(o.cmd);
            return 0;
        }
    o.sets = agc_alloc(sizeof *o.sets * (size_t)argc);
    o.data = agc_alloc(sizeof *o.data * (size_t)argc);
    o.val = agc_alloc(sizeof *o.val * (size_t)argc);
    o.epochs = 1;
    if (parse(&o, argc, argv))
        return 1;
    if (o.help || o.version) {
        if (o.help)
            print_help(o.cmd);
        else
            printf("agc %s\n", AGC_VERSION);
        return 0;
    }
    if (!strcmp(o.spec, "-") && isatty(STDIN_FILENO))
        return usage_error("SPEC '-' reads standard input, which is a "
                           "terminal: pipe a spec in or name a file");
    feedback_init(&o);
    eval_mode = o.eval;
    switch (o.cmd->bit) {
    case CMD_COMPILE: return cmd_compile(&o);
    case CMD_RUN: return cmd_run(&o);
    case CMD_CHECK: return cmd_check(&o);
    case CMD_INFO: return cmd_info(&o);
    case CMD_TRAIN: return cmd_train(&o);
    default: return cmd_graph(&o);
    }
}

int main(int argc, char **argv)
{
    int rc = agc_main(argc, argv);
    if (fflush(stdout) != 0 && !rc) {
        fprintf(stderr, "agc: error: cannot write the output: %s\n",
                strerror(errno));
        rc = 1;
    }
    agc_arena_free();               /* everything, on every path */
    return rc;
}

/* lockstep.c: times the contenders of one case in turns, sample by sample.
 *
 *   lockstep SECONDS [-t] COMMAND... [-- [-t] COMMAND...]...
 *
 * This VM's speed changes from one tenth of a second to the next (a
 * multiply-add loop alone ran between 432 and 775 us a call within one
 * second), so two contenders timed one after the other see different
 * machines.  lockstep starts every COMMAND (bench.c's driver, or
 * torch_bench.py for one case) with BENCH_LOCKSTEP=1 in its environment
 * and pipes to its stdin and from its stdout, and waits until each has
 * printed "ready".  Then it takes rounds: in a round each contender in
 * turn times one sample of its forward (it is sent "f") and one of its
 * forward+backward ("b"), the others waiting, and answers "done".  So all
 * the contenders' medians are taken over the same stretch of time, sample
 * for sample.  The rounds go on until each contender has had about
 * SECONDS for each of the two (at least 5 rounds, at most 20000); then
 * lockstep closes their stdin, and each prints its medians.  Whatever the
 * commands print but the protocol's lines goes to stdout; a contender that
 * exits early is left out of the later rounds.  Exit status: 0, or 2 for
 * wrong arguments.
 *
 * After a sample of a contender marked -t (one that runs threads),
 * lockstep waits until its threads stop running (their CPU time, in
 * /proc/PID/task/.../schedstat, grows by less than 0.1 ms in 1 ms; 200 ms
 * at most): an OpenMP runtime's idle threads spin for milliseconds after
 * their work ends (OpenBLAS's for up to 2^28 cycles), and took the next
 * contenders' cores (PyTorch's LeNet step on 2 threads ran 4x slower with
 * a fixed wait of 5 ms).  Without /proc it waits BENCH_LOCKSTEP_GAP ms
 * (default 50).  The rounds' time counts the waits.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAXC 8

typedef struct Contender {
    pid_t pid;
    FILE *to, *from;
    int live;
} Contender;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* The CPU time in ns that process pid's threads have used, or -1 where
 * Linux's /proc/PID/task/TID/schedstat cannot tell. */
static long long cpu_ns(pid_t pid)
{
    char path[96];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    long long sum = 0, ns;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof path, "/proc/%d/task/%.20s/schedstat",
                     (int)pid, e->d_name);
            FILE *f = fopen(path, "r");
            if (f && fscanf(f, "%lld", &ns) == 1)
                sum += ns;
            if (f)
                fclose(f);
        }
    closedir(d);
    return sum;
}

/* Returns when pid's threads have stopped running, or after gap where
 * that cannot be told. */
static void settle(pid_t pid, const struct timespec *gap)
{
    long long t = cpu_ns(pid), u;
    if (t < 0) {
        nanosleep(gap, NULL);
        return;
    }
    const struct timespec ms = {0, 1000000};
    for (int i = 0; i < 200; i++, t = u) {
        nanosleep(&ms, NULL);
        u = cpu_ns(pid);
        if (u < 0 || u - t < 100000)
            return;
    }
}

/* Starts argv[0] with pipes to and from it; 0, or -1. */
static int start(Contender *c, char **argv)
{
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]), close(in[1]), close(out[0]), close(out[1]);
        execvp(argv[0], argv);
        printf("lockstep: cannot run %s\n", argv[0]);
        _exit(127);
    }
    close(in[0]), close(out[1]);
    /* the later contenders must not hold this one's pipes open */
    fcntl(in[1], F_SETFD, FD_CLOEXEC);
    fcntl(out[0], F_SETFD, FD_CLOEXEC);
    c->pid = pid;
    c->to = fdopen(in[1], "w");
    c->from = fdopen(out[0], "r");
    c->live = c->to && c->from;
    return c->live ? 0 : -1;
}

/* Copies c's lines to stdout until one is word (returns 1) or its output
 * ends (returns 0, and c is out). */
static int wait_for(Contender *c, const char *word)
{
    char line[4096];
    while (fgets(line, sizeof line, c->from)) {
        if (!strncmp(line, word, strlen(word)) && line[strlen(word)] == '\n')
            return 1;
        fputs(line, stdout);
        fflush(stdout);
    }
    c->live = 0;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || atof(argv[1]) <= 0) {
        fprintf(stderr, "usage: lockstep SECONDS [-t] COMMAND... "
                "[-- [-t] COMMAND...]...\n");
        return 2;
    }
    double budget = atof(argv[1]);
    const char *g = getenv("BENCH_LOCKSTEP_GAP");
    long gms = g ? atol(g) : 50;
    struct timespec gap = {gms / 1000, gms % 1000 * 1000000L};
    signal(SIGPIPE, SIG_IGN);
    setenv("BENCH_LOCKSTEP", "1", 1);

    Contender c[MAXC] = {{0}};
    int threads[MAXC], n = 0;
    for (int i = 2; i < argc && n < MAXC; n++) {
        threads[n] = !strcmp(argv[i], "-t");
        i += threads[n];
        int j = i;
        while (j < argc && strcmp(argv[j], "--"))
            j++;
        argv[j < argc ? j : argc] = NULL;
        if (i == j || start(&c[n], argv + i))
            c[n].live = 0;
        i = j + 1;
    }
    for (int k = 0; k < n; k++)
        if (c[k].live)
            wait_for(&c[k], "ready");

    double spent = 0;
    for (long round = 0; round < 20000; round++) {
        int live = 0;
        for (int k = 0; k < n; k++)
            for (int f = 0; f < 2 && c[k].live; f++) {
                double t0 = now();
                fputs(f ? "b\n" : "f\n", c[k].to);
                fflush(c[k].to);
                if (wait_for(&c[k], "done"))
                    live++;
                if (threads[k])
                    settle(c[k].pid, &gap);
                spent += now() - t0;
            }
        if (!live || (round >= 4 && spent >= budget * live))
            break;
    }
    for (int k = 0; k < n; k++) {
        if (c[k].to)
            fclose(c[k].to);
        if (c[k].from) {
            wait_for(&c[k], "");
            fclose(c[k].from);
        }
        if (c[k].pid > 0)
            waitpid(c[k].pid, NULL, 0);
    }
    return 0;
}

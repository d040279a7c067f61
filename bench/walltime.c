/* walltime.c: the median wall time of a command.
 *
 *   walltime LABEL RUNS COMMAND [ARG]...
 *
 * runs COMMAND RUNS times (after one untimed run that warms the page
 * cache), its output thrown away, and prints
 *
 *   wall LABEL MEDIAN_NS RUNS
 *
 * or "fail LABEL wall REASON" when a run does not exit with status 0.
 */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 4 || atoi(argv[2]) < 1) {
        fprintf(stderr, "usage: walltime LABEL RUNS COMMAND [ARG]...\n");
        return 2;
    }
    int n = atoi(argv[2]);
    double *s = malloc(sizeof(double) * (size_t)n);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (!s)
        return 1;
    for (int i = -1; i < n; i++) {
        double t0 = now();
        pid_t pid;
        int st;
        if (posix_spawn(&pid, argv[3], &fa, NULL, argv + 3, environ) ||
            waitpid(pid, &st, 0) != pid || !WIFEXITED(st) ||
            WEXITSTATUS(st)) {
            printf("fail %s wall %s does not run (exit status not 0)\n",
                   argv[1], argv[3]);
            return 0;
        }
        if (i >= 0)
            s[i] = now() - t0;
    }
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    double med = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    printf("wall %s %.0f %d\n", argv[1], med * 1e9, n);
    return 0;
}

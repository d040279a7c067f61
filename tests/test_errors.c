/* test_errors.c: the error corpus.  Each tests/errors/NAME.yaml must fail
 * to compile with exactly the message in NAME.expected. */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "harness.h"

static void test_errors_case(void **state)
{
    const char *yaml = *state;
    char want[4096] = "", path[512];
    snprintf(path, sizeof path, "%.*s.expected", (int)(strlen(yaml) - 5),
             yaml);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    if (!fgets(want, sizeof want, f))
        want[0] = 0;
    fclose(f);
    want[strcspn(want, "\n")] = 0;
    Compiled c;
    int rc = agc_compile(yaml, -1, 0, &c);
    agc_arena_free();
    if (rc == 0)
        fail_msg("%s compiled, expected: %s", yaml, want);
    if (strcmp(agc_errmsg, want))
        fail_msg("%s\n  got:      %s\n  expected: %s", yaml, agc_errmsg,
                 want);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct CMUnitTest *)a)->name,
                  ((const struct CMUnitTest *)b)->name);
}

int main(void)
{
    DIR *d = opendir("tests/errors");
    struct dirent *e;
    int n = 0;
    struct CMUnitTest *tests = NULL;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".yaml"))
            continue;
        tests = realloc(tests, sizeof *tests * (size_t)(n + 1));
        char *path = malloc(len + 16);
        snprintf(path, len + 16, "tests/errors/%s", e->d_name);
        tests[n] = (struct CMUnitTest)cmocka_unit_test(test_errors_case);
        tests[n].name = path;
        tests[n++].initial_state = path;
    }
    if (d)
        closedir(d);
    if (n == 0)
        return 1;
    qsort(tests, (size_t)n, sizeof *tests, by_name);
    return _cmocka_run_group_tests("errors", tests, (size_t)n, NULL, NULL);
}

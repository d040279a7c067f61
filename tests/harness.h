/* harness.h: running a golden case (tests/golden/.../CASE/) through the
 * compiler and the JIT, for the golden and finite-difference tests. */
#ifndef HARNESS_H
#define HARNESS_H

#include "agc.h"

typedef struct Case {
    char dir[256];
    Compiled c;
    Jit *jit;
} Case;

/* Compiles DIR/spec.yaml (in float64 when f64; flags as agc_compile's),
 * binds every input and seed from DIR/NAME.npy and DIR/Y.seed.npy
 * (converted to the spec's dtype).  Returns NULL, or the error message. */
const char *case_open(Case *k, const char *dir, int f64, int flags);
void case_close(Case *k);

/* Reads DIR/NAME.expected.npy (float32, float64 or int64) as doubles;
 * count set. */
double *case_expected(const Case *k, const char *name, long *count);

/* The elements of a tensor, real or int64, as doubles (malloc'd). */
double *case_tensor(const Case *k, const char *name, long *count);

/* Lines of a text file (malloc'd, NULL-ended). */
char **read_lines(const char *path, int *n);

/* Every golden case: "tests/golden/DIR/CASE" for each line of each
 * tests/golden/DIR/cases.txt, DIRs in name order (malloc'd, NULL-ended). */
char **golden_cases(int *n);

/* A temporary directory for a test group: tmpdir_make("agc_test_x") in
 * cmocka's setup makes /tmp/agc_test_x.XXXXXX, tmpdir_remove in its
 * teardown empties and removes it. */
extern char test_tmpdir[64];
int tmpdir_make(const char *stem);
int tmpdir_remove(void);
/* test_tmpdir/name, in a static buffer (one at a time). */
const char *tmp_path(const char *name);
/* Entries of test_tmpdir whose name starts with prefix. */
int tmpdir_count(const char *prefix);

#endif

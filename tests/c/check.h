/* The C tests' one assertion: CHECK(cond) reports a failed condition with its file and line, counts it in
 * `failures` and carries on, so one run lists every failure; each test's main returns failures != 0.
 * (test_radix.c keeps its own CHECK that also returns from the test function: its tests build on each step.) */
#ifndef RAFTSTORE_TESTS_CHECK_H
#define RAFTSTORE_TESTS_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)

#endif

// The native unit tests' one check: counts passes and failures and names the
// failing condition with its file and line, so each *_test.cc ends by printing
// "N passed, N failed" (scripts/test-native.sh reads that line). Each test
// program is one translation unit, so the counters live here.
#pragma once

#include <cstdio>

static int passed = 0, failed = 0;
#define CHECK(cond)                                                        \
  do {                                                                     \
    if (cond) {                                                            \
      passed++;                                                            \
    } else {                                                               \
      failed++;                                                            \
      std::fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                      \
  } while (0)

/*
 * C unit tests for csrc/bloom.c, run by ctest (and under AddressSanitizer / UndefinedBehaviorSanitizer in CI).
 * The one property that matters: a key that was added is never reported absent. Then: the false-positive rate of
 * a full filter stays near its design point, `full` flips exactly past capacity, and references are counted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "bloom.h"


static size_t key_of(char *buf, const char *tag, unsigned i) { return (size_t)sprintf(buf, "%s/%08u", tag, i); }

static void test_no_false_negatives_and_rate(void) {
    enum { N = 100000 };
    char key[64];
    rx_bloom *b = rx_bloom_new(N);
    unsigned false_positives = 0;
    CHECK(b != NULL);
    for (unsigned i = 0; i < N; i++) rx_bloom_add(b, (const uint8_t *)key, key_of(key, "present", i));
    CHECK(rx_bloom_added(b) == N);
    CHECK(!rx_bloom_full(b));
    for (unsigned i = 0; i < N; i++) CHECK(rx_bloom_may_contain(b, (const uint8_t *)key, key_of(key, "present", i)));
    for (unsigned i = 0; i < N; i++)
        false_positives += (unsigned)rx_bloom_may_contain(b, (const uint8_t *)key, key_of(key, "absent", i));
    /* 12 bits per key, 6 probes in a 512-bit block: about 1% when full; allow 3%. */
    CHECK(false_positives < N * 3 / 100);
    printf("false positives at capacity: %.2f%%\n", 100.0 * false_positives / N);
    rx_bloom_add(b, (const uint8_t *)"one more", 8);
    CHECK(rx_bloom_full(b));
    CHECK(rx_bloom_bytes(b) >= (size_t)N * 12 / 8);
    rx_bloom_decref(b);
}

static void test_edge_keys_and_refcount(void) {
    uint8_t binary[300];
    rx_bloom *b = rx_bloom_new(0); /* one block at least */
    CHECK(b != NULL);
    CHECK(!rx_bloom_may_contain(b, (const uint8_t *)"", 0));
    rx_bloom_add(b, (const uint8_t *)"", 0);
    CHECK(rx_bloom_may_contain(b, (const uint8_t *)"", 0));
    for (size_t len = 1; len < sizeof binary; len++) {
        memset(binary, (int)len, len);
        binary[len - 1] = 0;
        rx_bloom_add(b, binary, len);
        CHECK(rx_bloom_may_contain(b, binary, len));
    }
    rx_bloom_incref(b);
    rx_bloom_decref(b);
    CHECK(rx_bloom_may_contain(b, (const uint8_t *)"", 0)); /* still alive: one reference left */
    rx_bloom_decref(b);
    rx_bloom_decref(NULL);
}

int main(void) {
    test_no_false_negatives_and_rate();
    test_edge_keys_and_refcount();
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("test_bloom: all checks passed\n");
    return 0;
}

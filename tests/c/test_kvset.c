/* kv_parse_set: the fast form is recognised with its fields; other ops, extra bytes, ext types, signed integers and
 * unhashable map keys are not; every truncation and every single-byte change of a valid body is handled without
 * reading outside the buffer (run under ASan in CI). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kvset.h"


/* {"Op": "set", "DirEnt": {"Key": "a/b", "Value": "xyz", "Flags": 300, "LockIndex": 2}} in the old spec. */
static const uint8_t SET[] = {
    0x82, 0xa2, 'O', 'p', 0xa3, 's', 'e', 't', 0xa6, 'D', 'i', 'r', 'E', 'n', 't', 0x84, 0xa3, 'K', 'e', 'y', 0xa3,
    'a', '/', 'b', 0xa5, 'V', 'a', 'l', 'u', 'e', 0xa3, 'x', 'y', 'z', 0xa5, 'F', 'l', 'a', 'g', 's', 0xcd, 0x01,
    0x2c, 0xa9, 'L', 'o', 'c', 'k', 'I', 'n', 'd', 'e', 'x', 0x02,
};

/* Returns a heap copy, so that ASan sees any read past the end. */
static int parse_copy(const uint8_t *body, size_t length, kv_set_cmd *cmd) {
    uint8_t *copy = malloc(length ? length : 1);
    memcpy(copy, body, length);
    int ok = kv_parse_set(copy, length, cmd);
    free(copy);
    return ok;
}

int main(void) {
    kv_set_cmd cmd;
    CHECK(kv_parse_set(SET, sizeof SET, &cmd) == 1);
    CHECK(cmd.key_len == 3 && memcmp(cmd.key, "a/b", 3) == 0);
    CHECK(cmd.value != NULL && cmd.value_len == 3 && memcmp(cmd.value, "xyz", 3) == 0);
    CHECK(cmd.flags == 300 && cmd.lock_index == 2);

    /* Trailing bytes: msgpack would refuse them (ExtraData). */
    uint8_t longer[sizeof SET + 1];
    memcpy(longer, SET, sizeof SET);
    longer[sizeof SET] = 0xc0;
    CHECK(kv_parse_set(longer, sizeof longer, &cmd) == 0);

    /* Another op ("sex" is not "set"). */
    uint8_t other[sizeof SET];
    memcpy(other, SET, sizeof SET);
    other[7] = 'x';
    CHECK(kv_parse_set(other, sizeof other, &cmd) == 0);

    /* Flags as a signed int16 (0xd1) and as an ext: the general path decides. */
    memcpy(other, SET, sizeof SET);
    other[40] = 0xd1;
    CHECK(kv_parse_set(other, sizeof other, &cmd) == 0);

    /* An extra top-level field whose key is an array (unhashable for msgpack-python): not the fast form. */
    static const uint8_t array_key[] = {0x83, 0x91, 0x01, 0x02};
    uint8_t body[sizeof SET + sizeof array_key];
    memcpy(body, SET, sizeof SET);
    body[0] = 0x83;
    memcpy(body + sizeof SET, array_key + 1, sizeof array_key - 1);
    CHECK(kv_parse_set(body, sizeof SET + sizeof array_key - 1, &cmd) == 0);

    /* Nil Value and an absent DirEnt. */
    static const uint8_t nil_value[] = {0x82, 0xa2, 'O', 'p', 0xa3, 's', 'e', 't', 0xa6, 'D', 'i', 'r', 'E', 'n',
                                        't', 0x82, 0xa3, 'K', 'e', 'y', 0xa1, 'k', 0xa5, 'V', 'a', 'l', 'u', 'e', 0xc0};
    CHECK(kv_parse_set(nil_value, sizeof nil_value, &cmd) == 1 && cmd.value == NULL && cmd.key_len == 1);
    static const uint8_t no_dirent[] = {0x81, 0xa2, 'O', 'p', 0xa3, 's', 'e', 't'};
    CHECK(kv_parse_set(no_dirent, sizeof no_dirent, &cmd) == 0);

    /* Deep nesting is refused, never recursed into without bound. */
    uint8_t deep[4 + 200];
    size_t n = 0;
    deep[n++] = 0x81;
    deep[n++] = 0xa1;
    deep[n++] = 'x';
    for (int i = 0; i < 200; i++) deep[n++] = 0x91;
    deep[n++] = 0xc0;
    CHECK(kv_parse_set(deep, n, &cmd) == 0);

    /* Every truncation and every single-byte change: no out-of-bounds read, and truncations are never accepted. */
    for (size_t cut = 0; cut < sizeof SET; cut++) CHECK(parse_copy(SET, cut, &cmd) == 0);
    for (size_t at = 0; at < sizeof SET; at++) {
        for (int b = 0; b < 256; b++) {
            memcpy(other, SET, sizeof SET);
            other[at] = (uint8_t)b;
            (void)parse_copy(other, sizeof other, &cmd);
        }
    }
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("test_kvset: ok\n");
    return 0;
}

/* The FSM's fast path for Consul KV `set` commands: recognise a KVSRequest body without building Python objects.
 *
 * A command is `[type byte][msgpack KVSRequest]` (raftstore.fsm.codec). Almost every command a KV workload commits
 * is a plain `set`, and decoding each one into nested dicts only to read five fields is most of the cost of
 * applying it. `kv_parse_set` walks the msgpack bytes once and reports the fields a `set` uses.
 *
 * Contract (the pure-Python reference is raftstore.fsm.kvset.parse_set; tests/test_fsm_kvset.py checks that both
 * agree, and that what they accept decodes to the same request through msgpack):
 * - It accepts only what the general path (msgpack.unpackb, then DirEntry.from_record) would apply without error:
 *   one msgpack map, nothing after it, `Op` a string equal to "set", `DirEnt` a map whose known fields have the
 *   types from_record takes (strings for Key/Session, raw or bin or nil for Value, unsigned integers or nil for
 *   Flags/LockIndex/CreateIndex/ModifyIndex). Later duplicates of a key win, as in a decoded dict.
 * - Anything else returns 0: unknown shapes, other ops, ext types, signed integer encodings, map keys that would not
 *   be hashable, nesting deeper than KV_MAX_DEPTH. 0 never means "invalid", only "take the general path", which
 *   decides (and reports errors) exactly as for any command.
 * - It never reads outside [body, body + length).
 */
#ifndef RAFTSTORE_KVSET_H
#define RAFTSTORE_KVSET_H

#include <stddef.h>
#include <stdint.h>

#define KV_MAX_DEPTH 32

typedef struct {
    const uint8_t *key;   /* the Key's raw bytes (length key_len); key_len 0 when absent or nil */
    size_t key_len;
    const uint8_t *value; /* the Value's bytes, or NULL when absent or nil (an empty value) */
    size_t value_len;
    uint64_t flags;       /* 0 when absent or nil */
    uint64_t lock_index;  /* 0 when absent or nil */
} kv_set_cmd;

/* 1 when `body` (the command without its type byte) is a plain `set` as described above, filling `out`; else 0. */
int kv_parse_set(const uint8_t *body, size_t length, kv_set_cmd *out);

#endif

/*
 * bloom.h — a blocked Bloom filter over byte-string keys, the radix tree's fast path for absent keys.
 *
 * A lookup of an absent key in a large radix tree walks ~7 levels, one cache miss each; the filter answers most
 * such lookups with one cache miss (all of a key's bits live in one 64-byte block). It is shared by a family of tree
 * versions and only ever gains bits, so it always describes a superset of every version's keys: "absent" is always
 * right, "maybe present" sends the lookup on to the tree. Deleting keys leaves their bits set; the owner rebuilds
 * the filter from a tree's keys once `rx_bloom_full` says too many keys were added since it was built.
 *
 * Plain C99, no allocation on the query path, not thread-safe on its own (the radix binding holds the GIL).
 */
#ifndef RAFTSTORE_BLOOM_H
#define RAFTSTORE_BLOOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct rx_bloom rx_bloom;

/* A filter sized for `capacity` keys (at least one block); NULL when out of memory. Reference count 1. */
rx_bloom *rx_bloom_new(size_t capacity);
void rx_bloom_incref(rx_bloom *b);
void rx_bloom_decref(rx_bloom *b); /* NULL is allowed */

/* Records key as present (counts toward `rx_bloom_full`). */
void rx_bloom_add(rx_bloom *b, const uint8_t *key, size_t len);

/* 0 when key was never added (it is certainly absent), 1 when it may have been. */
int rx_bloom_may_contain(const rx_bloom *b, const uint8_t *key, size_t len);

/* Whether more keys have been added than the filter was sized for (its false-positive rate is rising). */
int rx_bloom_full(const rx_bloom *b);

size_t rx_bloom_capacity(const rx_bloom *b);
size_t rx_bloom_added(const rx_bloom *b);
size_t rx_bloom_bytes(const rx_bloom *b);

#endif

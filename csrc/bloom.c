/*
 * bloom.c — see bloom.h. Layout: `nblocks` blocks of 512 bits (8 x uint64_t, one cache line when the array is
 * 64-byte aligned). A key's 64-bit hash picks its block (multiply-shift range reduction, no division) and a
 * second mix of the hash picks K bit positions inside it. At BITS_PER_KEY = 12 and K = 6 a full filter answers
 * "maybe" for about 1% of absent keys.
 */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS under -std=c99 */
#include "bloom.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { WORDS_PER_BLOCK = 8, BITS_PER_KEY = 12, K = 6, BLOCK_BITS = 512 };

struct rx_bloom {
    uint32_t refcnt;
    uint32_t nblocks;
    size_t capacity;
    size_t added;
    void *allocation;  /* what to free: `words` is aligned inside it */
    size_t allocation_size; /* nonzero: the words were mapped (munmap), not allocated from the heap */
    uint64_t *words;   /* nblocks * WORDS_PER_BLOCK */
};

static inline uint64_t fmix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static uint64_t hash_key(const uint8_t *key, size_t len) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)len * 0x87c37b91114253d5ULL);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0x4cf5ad432745937fULL;
        h ^= h >> 29;
    }
    if (i < len) {
        uint64_t w = 0;
        memcpy(&w, key + i, len - i);
        h = (h ^ w) * 0x4cf5ad432745937fULL;
        h ^= h >> 29;
    }
    return fmix64(h);
}

static inline const uint64_t *block_of(const rx_bloom *b, uint64_t h) {
    uint64_t index = ((h >> 32) * (uint64_t)b->nblocks) >> 32;
    return b->words + index * WORDS_PER_BLOCK;
}

rx_bloom *rx_bloom_new(size_t capacity) {
    size_t bits = capacity * BITS_PER_KEY, nblocks = (bits + BLOCK_BITS - 1) / BLOCK_BITS;
    rx_bloom *b;
    uintptr_t aligned;
    if (nblocks == 0) nblocks = 1;
    if (nblocks > UINT32_MAX) return NULL;
    b = malloc(sizeof(rx_bloom));
    if (!b) return NULL;
    {
        /* Large filters are mapped directly: freeing big heap chunks makes glibc consolidate its free lists,
         * which costs every allocation of the radix nodes around them. Mapped pages arrive zeroed. */
        size_t size = (nblocks * WORDS_PER_BLOCK + 8) * sizeof(uint64_t);
        b->allocation_size = 0;
        if (size >= (64 << 10)) {
            void *mapped = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (mapped != MAP_FAILED) {
                b->allocation = mapped;
                b->allocation_size = size;
            } else {
                b->allocation = NULL;
            }
        } else {
            b->allocation = calloc(nblocks * WORDS_PER_BLOCK + 8, sizeof(uint64_t));
        }
    }
    if (!b->allocation) {
        free(b);
        return NULL;
    }
    aligned = ((uintptr_t)b->allocation + 63) & ~(uintptr_t)63;
    b->words = (uint64_t *)aligned;
    b->refcnt = 1;
    b->nblocks = (uint32_t)nblocks;
    b->capacity = capacity;
    b->added = 0;
    return b;
}

void rx_bloom_incref(rx_bloom *b) { b->refcnt++; }

void rx_bloom_decref(rx_bloom *b) {
    if (!b || --b->refcnt) return;
    if (b->allocation_size)
        munmap(b->allocation, b->allocation_size);
    else
        free(b->allocation);
    free(b);
}

void rx_bloom_add(rx_bloom *b, const uint8_t *key, size_t len) {
    uint64_t h = hash_key(key, len), bits = fmix64(h ^ 0x2545f4914f6cdd1dULL);
    uint64_t *block = (uint64_t *)block_of(b, h);
    for (int i = 0; i < K; i++, bits >>= 9) block[(bits >> 6) & 7] |= (uint64_t)1 << (bits & 63);
    b->added++;
}

int rx_bloom_may_contain(const rx_bloom *b, const uint8_t *key, size_t len) {
    uint64_t h = hash_key(key, len), bits = fmix64(h ^ 0x2545f4914f6cdd1dULL);
    const uint64_t *block = block_of(b, h);
    for (int i = 0; i < K; i++, bits >>= 9)
        if (!(block[(bits >> 6) & 7] & ((uint64_t)1 << (bits & 63)))) return 0;
    return 1;
}

int rx_bloom_full(const rx_bloom *b) { return b->added > b->capacity; }
size_t rx_bloom_capacity(const rx_bloom *b) { return b->capacity; }
size_t rx_bloom_added(const rx_bloom *b) { return b->added; }
size_t rx_bloom_bytes(const rx_bloom *b) {
    return sizeof(rx_bloom) + ((size_t)b->nblocks * WORDS_PER_BLOCK + 8) * sizeof(uint64_t);
}

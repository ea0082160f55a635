/*
 * radix.h — a persistent (immutable) radix tree over byte-string keys with opaque values.
 *
 * After hashicorp/go-immutable-radix: every committed tree is immutable and shares its untouched subtrees with the
 * trees it was derived from; a transaction copies the nodes on the path of each change (path copying).
 *
 * Ownership and in-place writes. Nodes are reference counted. A transaction may change a node in place exactly when
 * the node's reference count is 1 and every node above it on the path is also exclusively owned: then nothing but
 * the transaction can reach it (a node created by the running transaction is the common case). This is the
 * "generation tag" of the design made exact: a generation tag says "created by this txn", the reference count says
 * "reachable only from this txn", which also covers a txn that hands out a snapshot and then keeps writing (the
 * snapshot holds a reference, so the next write copies). A bulk load into one transaction copies nothing.
 *
 * Values and watches are opaque pointers owned through the callbacks in rx_ops (the Python binding passes
 * PyObject* with Py_INCREF / Py_DECREF). Watches are created lazily, only when asked for, and fired by
 * rx_txn_commit through ops->fire (see rx_watch_key for when).
 *
 * Threads: no function here takes a lock. A tree (rx_node root) may be read from any number of threads at once as
 * long as every reference-count change is serialised by the caller; a txn belongs to one thread at a time. Nodes
 * come from process-wide free lists (see rx_node_cache_trim), so every call that may allocate or free a node -- any
 * txn function, rx_root_new, rx_node_decref, rx_iter_clear, rx_iter_seek_* and rx_node_cache_* -- must be
 * serialised process-wide, on whatever trees and threads. The Python binding holds the GIL for every call.
 *
 * Errors: functions that allocate return RX_ENOMEM on allocation failure and leave the txn unchanged as far as the
 * caller can observe (the failed operation did not happen).
 */
#ifndef RAFTSTORE_RADIX_H
#define RAFTSTORE_RADIX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RX_OK 0
#define RX_ENOMEM (-1)

typedef struct rx_node rx_node;

/* Callbacks for the opaque values and watches a tree holds. retain/release may be NULL (values not owned). */
typedef struct rx_ops {
    void (*retain)(void *obj);
    void (*release)(void *obj);
    void *(*new_watch)(void *ctx); /* returns a new, retained watch object, or NULL on failure */
    void (*fire)(void *watch);     /* fires a watch (idempotent); called by rx_txn_commit */
    void *ctx;                     /* passed to new_watch */
} rx_ops;

/* ---- nodes and trees -------------------------------------------------------------------------------------------- */

/* A new empty root (reference count 1), or NULL on allocation failure. */
rx_node *rx_root_new(void);
void rx_node_incref(rx_node *n);
/* Drops one reference; frees the node and, iteratively, every node only it kept alive (no recursion). */
void rx_node_decref(const rx_ops *ops, rx_node *n);

/* The node allocator keeps freed node blocks (of up to ~1 KiB) on per-size free lists for reuse, up to a limit of
 * 64 MiB by default: a batched txn frees and allocates nodes in bursts that glibc's malloc handles slowly.
 * rx_node_cache_trim returns every cached block to malloc; rx_node_cache_bytes is what the lists hold;
 * rx_node_cache_set_limit changes the limit (0 disables the cache) and returns the previous one. */
void rx_node_cache_trim(void);
size_t rx_node_cache_bytes(void);
size_t rx_node_cache_set_limit(size_t limit);

/* Point lookup: 1 and *value_out set when found, 0 when absent. */
int rx_get(const rx_node *root, const uint8_t *key, size_t len, void **value_out);

/* A cache warm-up for a batch of point operations on several trees (e.g. one record's keys in each index): walks
 * the path of keys[i] in roots[i] for every i in lockstep, prefetching each node, so that the cache misses of all
 * the walks overlap and the inserts or lookups that follow find their paths in the cache. Reads only. */
void rx_prefetch_paths(rx_node *const *roots, const uint8_t *const *keys, const size_t *lens, size_t n);

/* The stored key that is the longest prefix of key. Returns 1 and fills key_len_out (a prefix of key, so no bytes
 * are copied) and value_out when one exists, 0 otherwise. */
int rx_longest_prefix(const rx_node *root, const uint8_t *key, size_t len, size_t *key_len_out, void **value_out);

/* Watches. Every node version has one watch, created lazily by ops->new_watch, that fires when a committed txn
 * replaces that version (copies it, merges it away or removes it); path copying replaces every node on the path of a
 * change, so the watch of a node fires on any change at or below it. A watch asked of a node that a committed txn
 * has already replaced is born fired. rx_watch_key returns the watch of the node holding key, or when key is absent
 * of the deepest node on its path (which an insert of key would replace); rx_watch_prefix that of the shallowest node
 * covering every key with the prefix (or the deepest node on its path). Both return a borrowed pointer, NULL when
 * ops->new_watch failed. */
void *rx_watch_key(const rx_ops *ops, rx_node *root, const uint8_t *key, size_t len);
void *rx_watch_prefix(const rx_ops *ops, rx_node *root, const uint8_t *prefix, size_t len);

/* Number of nodes and bytes allocated for the tree reachable from root (shared nodes counted once per path that
 * reaches them: the figure is exact for a tree that shares nothing). For tests and memory reports. */
void rx_stats(const rx_node *root, size_t *nodes_out, size_t *bytes_out);

/* Calls fn(value, arg) for each value held by a node that the holder of root owns exclusively (root's count equals
 * the root_refs references the holder has, and every other node on the path has a count of 1); stops at and returns
 * the first non-zero result. For a cycle collector, which must see each reference exactly once: values in nodes
 * shared between holders are not reported, so cycles through them are not collected while the sharing lasts. */
int rx_visit_owned(const rx_node *root, uint32_t root_refs, int (*fn)(void *value, void *arg), void *arg);

/* ---- transactions ----------------------------------------------------------------------------------------------- */

typedef struct rx_txn {
    const rx_ops *ops;
    rx_node *root;      /* owned reference; exclusively owned nodes below it may be written in place */
    size_t size;        /* number of keys */
    void **notify;      /* retained watches detached from exclusively owned nodes, to fire on commit */
    size_t notify_len, notify_cap;
    rx_node **replaced; /* references to the shared nodes this txn replaced: their watches fire on commit */
    size_t replaced_len, replaced_cap;
} rx_txn;

/* Starts a txn on root (which gains a reference). */
void rx_txn_init(rx_txn *txn, const rx_ops *ops, rx_node *root, size_t size);
/* Releases everything the txn holds without firing anything (abort). The txn must be re-initialised to be reused. */
void rx_txn_clear(rx_txn *txn);

/* Inserts or replaces. Returns 1 when a value was replaced (the old value is moved to *old_out: the caller now owns
 * that reference), 0 when the key is new, RX_ENOMEM on failure. The new value is retained. */
int rx_txn_insert(rx_txn *txn, const uint8_t *key, size_t len, void *value, void **old_out);
/* Deletes. Returns 1 when the key was present (its value reference moved to *old_out), 0 when absent (nothing
 * changes, no node is copied), RX_ENOMEM on failure. */
int rx_txn_delete(rx_txn *txn, const uint8_t *key, size_t len, void **old_out);
/* Deletes every key starting with prefix in one step (the covering subtree is unlinked). Returns 0 and the number of
 * removed keys in *count_out, or RX_ENOMEM. */
int rx_txn_delete_prefix(rx_txn *txn, const uint8_t *prefix, size_t len, size_t *count_out);
/* The current root as a new reference: a snapshot of the txn's contents. Later writes copy what it shares. */
rx_node *rx_txn_snapshot(rx_txn *txn);
/* Commits: returns a new reference to the root (the committed tree), then fires and releases the queued watches.
 * The txn stays usable; its next writes copy the nodes the committed tree now shares. */
rx_node *rx_txn_commit(rx_txn *txn);

/* ---- iteration -------------------------------------------------------------------------------------------------- */

typedef struct rx_frame {
    const rx_node *node;
    size_t key_len;   /* length of the key through this node's prefix */
    int next_edge;    /* next child to visit: ascending index forward, descending index (-1 = none) in reverse */
    int leaf_pending; /* the node's own leaf is still to be emitted */
} rx_frame;

typedef struct rx_iter {
    rx_node *root;      /* owned reference: the tree cannot go away under the iterator */
    rx_frame *stack;
    size_t depth, stack_cap;
    uint8_t *key;       /* the current key; valid until the next call */
    size_t key_cap;
    int reverse;
    int oom;            /* set when a step could not allocate; the iterator then reports RX_ENOMEM */
} rx_iter;

/* The seek functions start a zeroed (or rx_iter_clear'ed) iterator on root, which gains a reference; they return
 * RX_OK or RX_ENOMEM (call rx_iter_clear in either case when done). */
int rx_iter_seek_prefix(rx_iter *it, rx_node *root, const uint8_t *prefix, size_t len, int reverse);
/* Forward from the first key >= key. */
int rx_iter_seek_lower_bound(rx_iter *it, rx_node *root, const uint8_t *key, size_t len);
/* Backward from the last key <= key. */
int rx_iter_seek_reverse_lower_bound(rx_iter *it, rx_node *root, const uint8_t *key, size_t len);
/* Next key in the iterator's direction: 1 (key_out/len/value set; key bytes valid until the next call), 0 at the
 * end, RX_ENOMEM on failure. */
int rx_iter_next(rx_iter *it, const uint8_t **key_out, size_t *len_out, void **value_out);
/* Releases the iterator's memory and its reference to the tree. Safe to call twice and on a zeroed iterator. */
void rx_iter_clear(const rx_ops *ops, rx_iter *it);

/* Minimum and maximum are a prefix seek on b"" (forward or reverse) followed by one rx_iter_next. */

/* Walk-path: calls fn for every stored key that is a prefix of key, shortest first; stops early when fn returns
 * non-zero (and returns that value). Key bytes passed to fn are a prefix of key. */
typedef int (*rx_path_fn)(void *arg, size_t key_len, void *value);
int rx_walk_path(const rx_node *root, const uint8_t *key, size_t len, rx_path_fn fn, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* RAFTSTORE_RADIX_H */

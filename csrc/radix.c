/*
 * radix.c — persistent radix tree; see radix.h for the contract.
 *
 * Node layout: one allocation per node, header then three arrays:
 *     [rx_node header][uint8_t prefix[plen]][uint8_t labels[ecap]][pad to 8][rx_node *children[ecap]]
 * Children are sorted by label; a child's label is the first byte of its prefix. A lookup reads a node's prefix and
 * labels, which sit right after the header and share its cache line for the common small node, and then one child
 * pointer: about one or two cache lines per level. The prefix length is fixed for the life of an allocation (a
 * shorter or longer prefix means a new node), the edge capacity grows by reallocation of exclusively owned nodes.
 *
 * Shape invariants (the tree for a key set is canonical, and the pure-Python reference builds the same one):
 *   - the root has an empty prefix and is never removed or merged;
 *   - every other node has a non-empty prefix, and holds a leaf or has at least two children.
 * They are restored at the end of every delete (remove_empty_and_merge) and hold after every insert by construction.
 * (Only an allocation failure during a merge may leave a leafless node with one child; lookups and iteration do not
 * depend on the invariant, and the next delete below it repairs what it can.)
 */
#include "radix.h"

#include <stdlib.h>
#include <string.h>

/* A watched node's slot points to one of these, which then also holds the node's value: the common unwatched node
 * pays nothing for watches, which keeps the header at 24 bytes and a small leaf in a 48-byte allocation. */
typedef struct rx_watches {
    void *value;
    void *watch; /* fires when this version of the node is replaced: copied, merged away or removed */
} rx_watches;

struct rx_node {
    uint32_t refcnt;
    uint32_t plen;
    uint16_t nedges;
    uint16_t ecap;
    uint8_t has_leaf;
    uint8_t watched;    /* slot is an rx_watches (created lazily, when a watch is first asked for) */
    uint8_t superseded; /* a committed txn replaced this node: a watch asked of it now is born fired */
    void *slot;         /* the value, or the rx_watches holding it */
};

static inline void *VALUE(const rx_node *n) { return n->watched ? ((rx_watches *)n->slot)->value : n->slot; }
static inline void SET_VALUE(rx_node *n, void *v) {
    if (n->watched)
        ((rx_watches *)n->slot)->value = v;
    else
        n->slot = v;
}
static inline rx_watches *WATCHES(const rx_node *n) { return n->watched ? (rx_watches *)n->slot : NULL; }

#define RX_MAX_EDGES 256

#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(addr) __builtin_prefetch(addr)
#else
#define PREFETCH(addr) ((void)0)
#endif

/* ---- layout helpers ------------------------------------------------------------------------------------------- */

static inline uint8_t *pfx(const rx_node *n) { return (uint8_t *)((rx_node *)n + 1); }
static inline uint8_t *labels(const rx_node *n) { return pfx(n) + n->plen; }
static inline size_t align8(size_t x) { return (x + 7) & ~(size_t)7; }
static inline rx_node **kids(const rx_node *n) {
    return (rx_node **)(void *)(pfx(n) + align8((size_t)n->plen + n->ecap));
}

static inline size_t node_bytes(uint32_t plen, uint32_t ecap) {
    return sizeof(rx_node) + (ecap ? align8((size_t)plen + ecap) + (size_t)ecap * sizeof(rx_node *) : plen);
}

static void retain(const rx_ops *ops, void *obj) {
    if (obj && ops && ops->retain) ops->retain(obj);
}
static void release(const rx_ops *ops, void *obj) {
    if (obj && ops && ops->release) ops->release(obj);
}

/* ---- the node allocator -------------------------------------------------------------------------------------- *
 *
 * A batch of writes in a txn copies every node on the path of each change, and its commit (with the release of the
 * tree it replaced) frees the originals in one burst: glibc handles ~100k-node bursts of frees followed by the next
 * batch's allocations badly (malloc_consolidate, unlink_chunk and _int_malloc were ~27% of a batched memdb insert).
 * So node blocks of up to NODE_CACHE_MAX_BLOCK bytes come in size classes of 16 k + 8 bytes (exactly what a glibc
 * chunk of 16 (k + 1) bytes holds, so the rounding costs no memory), and a freed block goes onto its
 * class's free list (LIFO, so the next allocation reuses a block that is likely still cached) instead of back to
 * malloc, up to node_cache_limit bytes in all; beyond that, and for bigger nodes, plain malloc/free.
 *
 * Thread-safety: the free lists are process-wide and take no lock. This relies on the rule stated in radix.h: every
 * call into this file that may allocate or free a node (any txn function, rx_root_new, rx_node_decref,
 * rx_iter_clear, rx_node_cache_*) is serialised process-wide by the caller, whichever thread it runs on. The Python
 * binding enforces it by making every call with the GIL held (a node may be freed from any thread that drops the
 * last reference, but only while holding the GIL).
 *
 * Under AddressSanitizer a cached block is poisoned while it sits on a free list, so a use of a freed node is still
 * reported (as a use-after-poison). */
#if defined(__SANITIZE_ADDRESS__)
#define RX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RX_ASAN 1
#endif
#endif
#ifdef RX_ASAN
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
#define POISON(addr, size) __asan_poison_memory_region((addr), (size))
#define UNPOISON(addr, size) __asan_unpoison_memory_region((addr), (size))
#else
#define POISON(addr, size) ((void)(addr), (void)(size))
#define UNPOISON(addr, size) ((void)(addr), (void)(size))
#endif

enum { NODE_CLASSES = 64, NODE_CACHE_MAX_BLOCK = (NODE_CLASSES << 4) + 8 };

typedef struct free_block {
    struct free_block *next;
} free_block;

static free_block *node_cache[NODE_CLASSES + 1]; /* by class k: blocks of class_bytes(k) bytes */
static size_t node_cache_bytes;                  /* bytes held on the free lists */
static size_t node_cache_limit = (size_t)64 << 20;

/* The size class of a node of `bytes` (>= 24) bytes, or 0 when it is too big to be cached; and a class's block size. */
static inline size_t node_class(size_t bytes) { return bytes <= NODE_CACHE_MAX_BLOCK ? (bytes + 7) >> 4 : 0; }
static inline size_t class_bytes(size_t cls) { return (cls << 4) + 8; }

static void *block_alloc(size_t bytes) {
    size_t cls = node_class(bytes);
    free_block *b;
    if (!cls) return malloc(bytes);
    b = node_cache[cls];
    if (!b) return malloc(class_bytes(cls)); /* the whole class, so that any block of it fits any node */
    UNPOISON(b, class_bytes(cls));
    node_cache[cls] = b->next;
    node_cache_bytes -= class_bytes(cls);
    /* The blocks on a list went cold since they were freed (at the last commit, typically): start loading the next
     * one now, so the next allocation of this class finds it (and its link) in the cache. */
    if (b->next) PREFETCH(b->next);
    return b;
}

static void block_free(void *p, size_t bytes) {
    size_t cls = node_class(bytes);
    free_block *b = p;
    if (!cls || node_cache_bytes + class_bytes(cls) > node_cache_limit) {
        free(p);
        return;
    }
    b->next = node_cache[cls];
    node_cache[cls] = b;
    node_cache_bytes += class_bytes(cls);
    POISON(b, class_bytes(cls));
}

static void node_free(rx_node *n) { block_free(n, node_bytes(n->plen, n->ecap)); }

void rx_node_cache_trim(void) {
    for (size_t cls = 1; cls <= NODE_CLASSES; cls++) {
        while (node_cache[cls]) {
            free_block *b = node_cache[cls];
            UNPOISON(b, class_bytes(cls));
            node_cache[cls] = b->next;
            free(b);
        }
    }
    node_cache_bytes = 0;
}

size_t rx_node_cache_bytes(void) { return node_cache_bytes; }

size_t rx_node_cache_set_limit(size_t limit) {
    size_t previous = node_cache_limit;
    node_cache_limit = limit;
    if (node_cache_bytes > limit) rx_node_cache_trim();
    return previous;
}

static rx_node *node_alloc(uint32_t plen, uint32_t ecap) {
    rx_node *n = block_alloc(node_bytes(plen, ecap));
    if (!n) return NULL;
    n->refcnt = 1;
    n->plen = plen;
    n->nedges = 0;
    n->ecap = (uint16_t)ecap;
    n->has_leaf = 0;
    n->watched = 0;
    n->superseded = 0;
    n->slot = NULL;
    return n;
}

rx_node *rx_root_new(void) { return node_alloc(0, 0); }

void rx_node_incref(rx_node *n) { n->refcnt++; }

/* Releases what n holds itself (value, watches), not its children, and leaves its slot free. */
static void node_release_own(const rx_ops *ops, rx_node *n) {
    rx_watches *w = WATCHES(n);
    if (n->has_leaf) release(ops, VALUE(n));
    if (w) {
        release(ops, w->watch);
        free(w);
    }
    n->has_leaf = 0;
    n->watched = 0;
    n->slot = NULL;
}

void rx_node_decref(const rx_ops *ops, rx_node *n) {
    /* Iterative: a tree can be as deep as its longest key. Nodes whose count drops to zero are chained through their
     * (already released) slot, so freeing needs no allocation. */
    rx_node *pending;
    if (!n || --n->refcnt) return;
    node_release_own(ops, n);
    pending = n;
    while (pending) {
        rx_node *cur = pending;
        pending = (rx_node *)cur->slot;
        for (uint32_t i = 0; i < cur->nedges; i++) {
            rx_node *c = kids(cur)[i];
            if (--c->refcnt == 0) {
                node_release_own(ops, c);
                c->slot = pending;
                pending = c;
            }
        }
        node_free(cur);
    }
}

/* Index of the first label >= b (binary search); *found says whether it equals b. */
static inline uint32_t edge_search(const rx_node *n, uint8_t b, int *found) {
    const uint8_t *l = labels(n);
    uint32_t lo = 0, hi = n->nedges;
    while (lo < hi) {
        uint32_t mid = (lo + hi) >> 1;
        if (l[mid] < b)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < n->nedges && l[lo] == b;
    return lo;
}

/* memcmp(a, b, n) == 0 for the short prefixes that dominate lookups, without a library call. */
static inline int bytes_eq(const uint8_t *a, const uint8_t *b, size_t n) {
    if (n > 16) return memcmp(a, b, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static inline size_t common_prefix(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
    size_t m = alen < blen ? alen : blen, i = 0;
    while (i < m && a[i] == b[i]) i++;
    return i;
}

/* ---- watches -------------------------------------------------------------------------------------------------- */

/* n's watches, created on first use (the value moves into them). NULL when out of memory. */
static rx_watches *watches_of(rx_node *n) {
    rx_watches *w;
    if (n->watched) return (rx_watches *)n->slot;
    w = calloc(1, sizeof(rx_watches));
    if (!w) return NULL;
    w->value = n->slot;
    n->slot = w;
    n->watched = 1;
    return w;
}

/* The node's watch, created on first request; born fired when the node has already been replaced by a committed
 * txn, so that a reader of an outdated tree is never left waiting for a change that has already happened. */
static void *get_watch(const rx_ops *ops, rx_node *n) {
    rx_watches *w;
    if (!ops || !ops->new_watch || !(w = watches_of(n))) return NULL;
    if (!w->watch) {
        w->watch = ops->new_watch(ops->ctx);
        if (w->watch && n->superseded && ops->fire) ops->fire(w->watch);
    }
    return w->watch;
}

/* Queues a watch (taking over the caller's reference) to fire at commit. If the queue cannot grow, the watch fires
 * now: an early, spurious wake-up is harmless to a waiter, a lost one is not. */
static void queue_watch(rx_txn *t, void *w) {
    if (!w) return;
    if (t->notify_len == t->notify_cap) {
        size_t cap = t->notify_cap ? t->notify_cap * 2 : 8;
        void **grown = realloc(t->notify, cap * sizeof(void *));
        if (!grown) {
            if (t->ops && t->ops->fire) t->ops->fire(w);
            release(t->ops, w);
            return;
        }
        t->notify = grown;
        t->notify_cap = cap;
    }
    t->notify[t->notify_len++] = w;
}

/* Detaches the watch of an exclusively owned node that is about to change in place or go away, to fire at commit.
 * (Such a node has a watch only if a snapshot handed it out and was dropped since.) */
static void detach_watch(rx_txn *t, rx_node *n) {
    rx_watches *w = WATCHES(n);
    if (!w || !w->watch) return;
    queue_watch(t, w->watch);
    w->watch = NULL;
}

/* Makes room for `extra` more entries in the replaced list, so that recording a replaced node cannot fail after
 * the tree has been changed. */
static int reserve_replaced(rx_txn *t, size_t extra) {
    size_t cap;
    rx_node **grown;
    if (t->replaced_len + extra <= t->replaced_cap) return RX_OK;
    cap = t->replaced_cap ? t->replaced_cap * 2 : 16;
    if (cap < t->replaced_len + extra) cap = t->replaced_len + extra;
    grown = realloc(t->replaced, cap * sizeof(rx_node *));
    if (!grown) return RX_ENOMEM;
    t->replaced = grown;
    t->replaced_cap = cap;
    return RX_OK;
}

/* Records that the txn replaced n, a node other trees still hold, taking over one reference to it (room must have
 * been reserved). At commit its watch fires, or, if it has none yet, it is marked superseded; an abort just drops
 * the reference. Marking at commit, never earlier, keeps an aborted txn from disturbing the live tree's watchers. */
static void queue_replaced(rx_txn *t, rx_node *n) { t->replaced[t->replaced_len++] = n; }

/* ---- copy-on-write -------------------------------------------------------------------------------------------- */

/* A copy of n with room for `extra` more edges and without the first `skip` bytes of its prefix. The copy shares
 * n's children and value, not its watch: that one belongs to the version of the node that n is. */
static rx_node *node_clone(const rx_ops *ops, const rx_node *n, uint32_t extra, uint32_t skip) {
    uint32_t ecap = n->nedges + extra;
    rx_node *c;
    if (ecap > RX_MAX_EDGES) ecap = RX_MAX_EDGES;
    c = node_alloc(n->plen - skip, ecap);
    if (!c) return NULL;
    c->nedges = n->nedges;
    c->has_leaf = n->has_leaf;
    SET_VALUE(c, VALUE(n));
    if (c->has_leaf) retain(ops, VALUE(c));
    for (uint32_t i = 0; i < n->nedges; i++) {
        kids(c)[i] = kids(n)[i];
        kids(n)[i]->refcnt++;
    }
    memcpy(labels(c), labels(n), n->nedges);
    memcpy(pfx(c), pfx(n) + skip, n->plen - skip);
    return c;
}

/* Moves an exclusively owned node into a new allocation with room for `extra` more edges and without the first
 * `skip` bytes of its prefix; everything it holds moves with it (no reference changes). */
static rx_node *node_move(rx_node *n, uint32_t extra, uint32_t skip) {
    uint32_t want = n->nedges + extra, ecap = n->ecap;
    rx_node *g;
    if (want > ecap) {
        ecap = ecap < 4 ? want : ecap + ecap / 2; /* exact for small fan-out, 1.5x beyond */
        if (ecap < want) ecap = want;
        if (ecap > RX_MAX_EDGES) ecap = RX_MAX_EDGES;
    }
    g = node_alloc(n->plen - skip, ecap);
    if (!g) return NULL;
    g->refcnt = n->refcnt;
    g->nedges = n->nedges;
    g->has_leaf = n->has_leaf;
    g->watched = n->watched;
    g->slot = n->slot;
    memcpy(kids(g), kids(n), n->nedges * sizeof(rx_node *));
    memcpy(labels(g), labels(n), n->nedges);
    memcpy(pfx(g), pfx(n) + skip, n->plen - skip);
    node_free(n);
    return g;
}

/*
 * Makes *slot writable by the txn, with room for `extra` more edges and without the first `skip` bytes of its
 * prefix (a split), and returns it.
 * Invariant relied on: the caller has already made the node holding `slot` writable (or slot is &txn->root), so a
 * reference count of 1 means nothing outside this txn can reach the node. A shared node is copied, the copy
 * replaces it in the slot, and the slot's reference to the original goes to the replaced list (the original lives
 * on in the trees that share it, and its watch fires at commit).
 */
static rx_node *make_writable(rx_txn *t, rx_node **slot, uint32_t extra, uint32_t skip) {
    rx_node *n = *slot;
    if (n->refcnt == 1) {
        rx_node *g = n;
        detach_watch(t, n);
        if (skip || n->nedges + extra > n->ecap) g = node_move(n, extra, skip);
        if (g) *slot = g;
        return g;
    }
    {
        rx_node *c;
        if (reserve_replaced(t, 1) != RX_OK) return NULL;
        c = node_clone(t->ops, n, extra, skip);
        if (!c) return NULL;
        *slot = c;
        queue_replaced(t, n); /* the slot's reference; n->refcnt was >= 2 */
        return c;
    }
}

/* A new leaf node holding key[0:len) as its prefix. */
static rx_node *leaf_new(const rx_ops *ops, const uint8_t *key, size_t len, void *value) {
    rx_node *n = node_alloc((uint32_t)len, 0);
    if (!n) return NULL;
    memcpy(pfx(n), key, len);
    n->has_leaf = 1;
    SET_VALUE(n, value);
    retain(ops, value);
    return n;
}

static void edge_insert(rx_node *n, uint32_t idx, rx_node *child) {
    rx_node **k = kids(n);
    uint8_t *l = labels(n);
    memmove(k + idx + 1, k + idx, (n->nedges - idx) * sizeof(rx_node *));
    memmove(l + idx + 1, l + idx, n->nedges - idx);
    k[idx] = child;
    l[idx] = pfx(child)[0];
    n->nedges++;
}

static void edge_remove(rx_node *n, uint32_t idx) {
    rx_node **k = kids(n);
    uint8_t *l = labels(n);
    memmove(k + idx, k + idx + 1, (n->nedges - idx - 1) * sizeof(rx_node *));
    memmove(l + idx, l + idx + 1, n->nedges - idx - 1);
    n->nedges--;
}

/* ---- transactions --------------------------------------------------------------------------------------------- */

void rx_txn_init(rx_txn *txn, const rx_ops *ops, rx_node *root, size_t size) {
    txn->ops = ops;
    txn->root = root;
    root->refcnt++;
    txn->size = size;
    txn->notify = NULL;
    txn->notify_len = txn->notify_cap = 0;
    txn->replaced = NULL;
    txn->replaced_len = txn->replaced_cap = 0;
}

void rx_txn_clear(rx_txn *txn) {
    for (size_t i = 0; i < txn->notify_len; i++) release(txn->ops, txn->notify[i]);
    for (size_t i = 0; i < txn->replaced_len; i++) rx_node_decref(txn->ops, txn->replaced[i]);
    free(txn->notify);
    free(txn->replaced);
    txn->notify = NULL;
    txn->replaced = NULL;
    txn->notify_len = txn->notify_cap = txn->replaced_len = txn->replaced_cap = 0;
    if (txn->root) rx_node_decref(txn->ops, txn->root);
    txn->root = NULL;
}

rx_node *rx_txn_snapshot(rx_txn *txn) {
    txn->root->refcnt++;
    return txn->root;
}

rx_node *rx_txn_commit(rx_txn *txn) {
    rx_node *root = rx_txn_snapshot(txn);
    /* Fire after the new root exists, so that a woken reader finds the new tree. Take the queues out first: a fire
     * callback, or a value released with a replaced node, may run arbitrary code, even on this txn. */
    size_t nlen = txn->notify_len, rlen = txn->replaced_len;
    void **notify = txn->notify;
    rx_node **replaced = txn->replaced;
    int can_fire = txn->ops && txn->ops->fire;
    txn->notify = NULL;
    txn->replaced = NULL;
    txn->notify_len = txn->notify_cap = txn->replaced_len = txn->replaced_cap = 0;
    for (size_t i = 0; i < rlen; i++) { /* mark all before firing any: a woken reader may ask for new watches */
        replaced[i]->superseded = 1;
    }
    for (size_t i = 0; i < rlen; i++) {
        rx_watches *w = WATCHES(replaced[i]);
        if (w && w->watch && can_fire) txn->ops->fire(w->watch);
    }
    for (size_t i = 0; i < nlen; i++) {
        if (can_fire) txn->ops->fire(notify[i]);
        release(txn->ops, notify[i]);
    }
    for (size_t i = 0; i < rlen; i++) rx_node_decref(txn->ops, replaced[i]);
    free(notify);
    free(replaced);
    return root;
}

int rx_txn_insert(rx_txn *t, const uint8_t *key, size_t len, void *value, void **old_out) {
    rx_node **slot = &t->root;
    size_t depth = 0;
    *old_out = NULL;
    for (;;) {
        rx_node *n = *slot, *child;
        uint32_t idx;
        size_t common;
        int found;
        if (depth == len) {
            n = make_writable(t, slot, 0, 0);
            if (!n) return RX_ENOMEM;
            if (n->has_leaf) { /* (make_writable has queued the watch of the node's previous version) */
                *old_out = VALUE(n);
                SET_VALUE(n, value);
                retain(t->ops, value);
                return 1;
            }
            n->has_leaf = 1;
            SET_VALUE(n, value);
            retain(t->ops, value);
            t->size++;
            return 0;
        }
        idx = edge_search(n, key[depth], &found);
        if (!found) {
            rx_node *leaf = leaf_new(t->ops, key + depth, len - depth, value);
            if (!leaf) return RX_ENOMEM;
            n = make_writable(t, slot, 1, 0);
            if (!n) {
                rx_node_decref(t->ops, leaf);
                return RX_ENOMEM;
            }
            edge_insert(n, idx, leaf);
            t->size++;
            return 0;
        }
        child = kids(n)[idx];
        common = common_prefix(pfx(child), child->plen, key + depth, len - depth);
        if (common == child->plen) {
            n = make_writable(t, slot, 0, 0);
            if (!n) return RX_ENOMEM;
            slot = &kids(n)[idx];
            depth += common;
            continue;
        }
        /* The key diverges inside the child's prefix (or ends there): split the child under a new node holding the
         * common part. Allocate everything first so that a failure leaves the tree as it was. */
        {
            int key_ends = depth + common == len;
            rx_node *split = node_alloc((uint32_t)common, 2), *leaf = NULL, *c;
            if (!split) return RX_ENOMEM;
            if (!key_ends) {
                leaf = leaf_new(t->ops, key + depth + common, len - depth - common, value);
                if (!leaf) {
                    node_free(split);
                    return RX_ENOMEM;
                }
            }
            n = make_writable(t, slot, 0, 0);
            if (n) memcpy(pfx(split), pfx(kids(n)[idx]), common);
            c = n ? make_writable(t, &kids(n)[idx], 0, (uint32_t)common) : NULL;
            if (!c) {
                node_free(split);
                if (leaf) rx_node_decref(t->ops, leaf);
                return RX_ENOMEM;
            }
            edge_insert(split, 0, c);
            if (key_ends) {
                split->has_leaf = 1;
                SET_VALUE(split, value);
                retain(t->ops, value);
            } else {
                int dummy;
                edge_insert(split, edge_search(split, pfx(leaf)[0], &dummy), leaf);
            }
            kids(n)[idx] = split; /* the label (first byte of the common part) is unchanged */
            t->size++;
            return 0;
        }
    }
}

/* A small stack of slots on the path from the root, for the fix-ups a delete needs on its way back up. */
typedef struct slot_path {
    rx_node ***slots;
    size_t len, cap;
    rx_node **local[64];
} slot_path;

static void path_init(slot_path *p) {
    p->slots = p->local;
    p->len = 0;
    p->cap = 64;
}
static void path_free(slot_path *p) {
    if (p->slots != p->local) free(p->slots);
}
static int path_push(slot_path *p, rx_node **slot) {
    if (p->len == p->cap) {
        size_t cap = p->cap * 2;
        rx_node ***grown = malloc(cap * sizeof(*grown));
        if (!grown) return RX_ENOMEM;
        memcpy(grown, p->slots, p->len * sizeof(*grown));
        if (p->slots != p->local) free(p->slots);
        p->slots = grown;
        p->cap = cap;
    }
    p->slots[p->len++] = slot;
    return RX_OK;
}

/* Replaces the exclusively owned, leafless, single-child node in *slot by one node that joins its prefix with the
 * child's. The child is gone from the new tree, so its watch fires (iradix forgets to close the child's channel
 * here, which strands watchers of prefixes under it). */
static void merge_child(rx_txn *t, rx_node **slot) {
    rx_node *n = *slot, *c = kids(n)[0], *m;
    if (reserve_replaced(t, 1) != RX_OK) return; /* see the note at the top of the file */
    m = node_alloc(n->plen + c->plen, c->nedges);
    if (!m) return;
    memcpy(pfx(m), pfx(n), n->plen);
    memcpy(pfx(m) + n->plen, pfx(c), c->plen);
    m->has_leaf = c->has_leaf;
    SET_VALUE(m, VALUE(c));
    if (m->has_leaf) retain(t->ops, VALUE(m));
    m->nedges = c->nedges;
    for (uint32_t i = 0; i < c->nedges; i++) {
        kids(m)[i] = kids(c)[i];
        kids(c)[i]->refcnt++;
    }
    memcpy(labels(m), labels(c), c->nedges);
    if (c->refcnt == 1) {
        detach_watch(t, c);
    } else {
        c->refcnt++;
        queue_replaced(t, c);
    }
    *slot = m;
    rx_node_decref(t->ops, n); /* n was exclusively owned: frees n and drops its reference to c */
}

/* Restores the shape invariants bottom-up along a path of writable nodes whose last node may have lost its leaf or
 * a child: an empty non-root node is unlinked from its parent (and the parent checked in turn), a leafless non-root
 * node with one child is merged with it. */
static void remove_empty_and_merge(rx_txn *t, slot_path *p) {
    size_t i = p->len;
    while (i-- > 1) {
        rx_node **slot = p->slots[i], *n = *slot;
        if (n->has_leaf || n->nedges > 1) return;
        if (n->nedges == 1) {
            merge_child(t, slot);
            return;
        }
        {
            rx_node *parent = *p->slots[i - 1];
            detach_watch(t, n);
            edge_remove(parent, (uint32_t)(slot - kids(parent)));
            rx_node_decref(t->ops, n);
        }
    }
}

/* Walks down to the node whose full path equals key, making every node on the way writable and recording the
 * slots. The key must be present (callers check first, so that an absent key copies nothing). */
static int descend_writable(rx_txn *t, const uint8_t *key, size_t len, slot_path *p) {
    rx_node **slot = &t->root;
    size_t depth = 0;
    for (;;) {
        rx_node *n = make_writable(t, slot, 0, 0);
        int found;
        uint32_t idx;
        if (!n || path_push(p, slot) != RX_OK) return RX_ENOMEM;
        if (depth == len) return RX_OK;
        idx = edge_search(n, key[depth], &found);
        slot = &kids(n)[idx];
        depth += (*slot)->plen;
    }
}

int rx_txn_delete(rx_txn *t, const uint8_t *key, size_t len, void **old_out) {
    slot_path p;
    rx_node *n;
    void *unused;
    *old_out = NULL;
    if (!rx_get(t->root, key, len, &unused)) return 0;
    path_init(&p);
    if (descend_writable(t, key, len, &p) != RX_OK) {
        path_free(&p);
        return RX_ENOMEM;
    }
    n = *p.slots[p.len - 1];
    *old_out = VALUE(n);
    SET_VALUE(n, NULL);
    n->has_leaf = 0;
    t->size--;
    remove_empty_and_merge(t, &p);
    path_free(&p);
    return 1;
}

/* A growable array of node pointers; the low bit of an entry is a flag (nodes are at least 8-byte aligned). */
typedef struct node_list {
    uintptr_t *items;
    size_t len, cap;
} node_list;

static int list_push(node_list *l, const rx_node *n, uintptr_t flag) {
    if (l->len == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        uintptr_t *grown = realloc(l->items, cap * sizeof(uintptr_t));
        if (!grown) return RX_ENOMEM;
        l->items = grown;
        l->cap = cap;
    }
    l->items[l->len++] = (uintptr_t)n | flag;
    return RX_OK;
}

/* Counts the keys of the subtree under target and records everything that leaves the tree with it: nodes that other
 * trees also hold (the target itself or anything below a shared node) go to the replaced list, so that their watches
 * fire at commit; the watches of nodes only this txn holds are detached. All or nothing: on failure nothing is
 * recorded. The caller unlinks the target afterwards. */
static int collect_subtree(rx_txn *t, rx_node *target, size_t *count_out) {
    node_list stack = {NULL, 0, 0}, shared = {NULL, 0, 0};
    size_t count = 0;
    int rc = list_push(&stack, target, target->refcnt > 1);
    while (rc == RX_OK && stack.len) {
        uintptr_t top = stack.items[--stack.len];
        rx_node *cur = (rx_node *)(top & ~(uintptr_t)1);
        int is_shared = (int)(top & 1);
        count += cur->has_leaf;
        if (is_shared)
            rc = list_push(&shared, cur, 0);
        else if (WATCHES(cur) && WATCHES(cur)->watch)
            rc = list_push(&shared, cur, 1);
        for (uint32_t i = 0; rc == RX_OK && i < cur->nedges; i++) {
            rx_node *c = kids(cur)[i];
            rc = list_push(&stack, c, is_shared || c->refcnt > 1);
        }
    }
    if (rc == RX_OK) rc = reserve_replaced(t, shared.len);
    if (rc == RX_OK) {
        for (size_t i = 0; i < shared.len; i++) {
            rx_node *n = (rx_node *)(shared.items[i] & ~(uintptr_t)1);
            if (shared.items[i] & 1) {
                detach_watch(t, n);
            } else {
                n->refcnt++;
                queue_replaced(t, n);
            }
        }
        *count_out = count;
    }
    free(stack.items);
    free(shared.items);
    return rc;
}

int rx_txn_delete_prefix(rx_txn *t, const uint8_t *prefix, size_t len, size_t *count_out) {
    const rx_node *n = t->root;
    size_t depth = 0, count = 0, target_depth;
    slot_path p;
    rx_node *parent, *target;
    uint32_t tidx;
    int found;
    *count_out = 0;
    if (len == 0) { /* everything: the root stays, empty */
        rx_node *root;
        if (t->size == 0) return RX_OK;
        root = make_writable(t, &t->root, 0, 0);
        if (!root) return RX_ENOMEM;
        for (uint32_t i = 0; i < root->nedges; i++) {
            size_t c = 0;
            /* (a failure part way leaves the earlier subtrees recorded: at worst spurious wake-ups if committed) */
            if (collect_subtree(t, kids(root)[i], &c) != RX_OK) return RX_ENOMEM;
        }
        {
            /* Unlink everything first and release last (see the note at the end of this function). The children
             * are parked in a new root-sized node that is then dropped as a whole. */
            rx_node *removed = node_alloc(0, root->nedges);
            void *value = root->has_leaf ? VALUE(root) : NULL;
            if (!removed) return RX_ENOMEM;
            memcpy(kids(removed), kids(root), root->nedges * sizeof(rx_node *));
            removed->nedges = root->nedges;
            root->nedges = 0;
            SET_VALUE(root, NULL);
            root->has_leaf = 0;
            *count_out = t->size;
            t->size = 0;
            rx_node_decref(t->ops, removed);
            release(t->ops, value);
        }
        return RX_OK;
    }
    /* Find the covering node: the shallowest whose full path starts with prefix. */
    for (;;) {
        uint32_t idx = edge_search(n, prefix[depth], &found);
        const rx_node *c;
        size_t rem = len - depth;
        if (!found) return RX_OK;
        c = kids(n)[idx];
        if (rem <= c->plen) {
            if (memcmp(pfx(c), prefix + depth, rem) != 0) return RX_OK;
            break;
        }
        if (memcmp(pfx(c), prefix + depth, c->plen) != 0) return RX_OK;
        depth += c->plen;
        n = c;
    }
    target_depth = depth; /* the parent's full path is prefix[0:depth] */
    path_init(&p);
    if (descend_writable(t, prefix, target_depth, &p) != RX_OK) {
        path_free(&p);
        return RX_ENOMEM;
    }
    parent = *p.slots[p.len - 1];
    tidx = edge_search(parent, prefix[target_depth], &found);
    target = kids(parent)[tidx];
    if (collect_subtree(t, target, &count) != RX_OK) {
        path_free(&p);
        return RX_ENOMEM;
    }
    edge_remove(parent, tidx);
    t->size -= count;
    remove_empty_and_merge(t, &p);
    path_free(&p);
    *count_out = count;
    /* Last, with the txn consistent again: releasing the removed values may run arbitrary code (a Python __del__)
     * that could look at this very txn. */
    rx_node_decref(t->ops, target);
    return RX_OK;
}

/* ---- reads ---------------------------------------------------------------------------------------------------- */

/* Follows key from root. Returns the node whose full path equals key, or NULL; *deepest is the last node whose full
 * path is a prefix of key (the node a new key would be attached under). */
static rx_node *lookup(const rx_node *root, const uint8_t *key, size_t len, const rx_node **deepest) {
    const rx_node *n = root;
    size_t depth = 0;
    for (;;) {
        int found;
        uint32_t idx;
        const rx_node *c;
        *deepest = n;
        if (depth == len) return (rx_node *)n;
        PREFETCH(&kids(n)[n->nedges >> 1]); /* the child pointers' line loads while the labels are searched */
        idx = edge_search(n, key[depth], &found);
        if (!found) return NULL;
        c = kids(n)[idx];
        if (c->plen > len - depth || !bytes_eq(pfx(c), key + depth, c->plen)) return NULL;
        depth += c->plen;
        n = c;
    }
}

void rx_prefetch_paths(rx_node *const *roots, const uint8_t *const *keys, const size_t *lens, size_t n) {
    /* Each walk alternates two half-steps, and every live walk takes its half-step before any takes the next, so
     * that the cache misses of all walks overlap instead of queueing: (a) in a node that an earlier half-step
     * prefetched, skip its prefix (unchecked: a mismatch only prefetches nodes that will not be needed, which is
     * harmless, as every pointer followed is a live child) and find the child's slot, prefetching the slot's line;
     * (b) read the child pointer and prefetch the child. Nothing is written. */
    enum { WALKS = 16 };
    for (size_t base = 0; base < n; base += WALKS) {
        const rx_node *node[WALKS];
        size_t depth[WALKS];
        uint32_t slot[WALKS];
        size_t count = n - base < WALKS ? n - base : WALKS, live = count;
        int phase[WALKS]; /* 0: (a) next, 1: (b) next, -1: done */
        for (size_t i = 0; i < count; i++) {
            node[i] = roots[base + i];
            depth[i] = 0;
            phase[i] = 0;
        }
        while (live) {
            for (size_t i = 0; i < count; i++) {
                const uint8_t *key = keys[base + i];
                size_t len = lens[base + i];
                const rx_node *nd = node[i];
                if (phase[i] < 0) continue;
                if (phase[i] == 0) {
                    int found;
                    size_t d = depth[i];
                    if (nd->plen > len - d || d + nd->plen == len) {
                        phase[i] = -1;
                        live--;
                        continue;
                    }
                    d += nd->plen;
                    slot[i] = edge_search(nd, key[d], &found);
                    if (!found) {
                        phase[i] = -1;
                        live--;
                        continue;
                    }
                    depth[i] = d;
                    PREFETCH(&kids(nd)[slot[i]]);
                    phase[i] = 1;
                } else {
                    const rx_node *c = kids(nd)[slot[i]];
                    PREFETCH(c);
                    node[i] = c;
                    phase[i] = 0;
                }
            }
        }
    }
}

int rx_get(const rx_node *root, const uint8_t *key, size_t len, void **value_out) {
    const rx_node *deepest;
    const rx_node *n = lookup(root, key, len, &deepest);
    if (!n || !n->has_leaf) return 0;
    *value_out = VALUE(n);
    return 1;
}

int rx_walk_path(const rx_node *root, const uint8_t *key, size_t len, rx_path_fn fn, void *arg) {
    const rx_node *n = root;
    size_t depth = 0;
    for (;;) {
        int found, rc;
        uint32_t idx;
        const rx_node *c;
        if (n->has_leaf && (rc = fn(arg, depth, VALUE(n))) != 0) return rc;
        if (depth == len) return 0;
        idx = edge_search(n, key[depth], &found);
        if (!found) return 0;
        c = kids(n)[idx];
        if (c->plen > len - depth || memcmp(pfx(c), key + depth, c->plen) != 0) return 0;
        depth += c->plen;
        n = c;
    }
}

typedef struct longest_state {
    size_t len;
    void *value;
    int found;
} longest_state;

static int keep_longest(void *arg, size_t key_len, void *value) {
    longest_state *s = arg;
    s->len = key_len;
    s->value = value;
    s->found = 1;
    return 0;
}

int rx_longest_prefix(const rx_node *root, const uint8_t *key, size_t len, size_t *key_len_out, void **value_out) {
    longest_state s = {0, NULL, 0};
    rx_walk_path(root, key, len, keep_longest, &s);
    if (s.found) {
        *key_len_out = s.len;
        *value_out = s.value;
    }
    return s.found;
}

void *rx_watch_key(const rx_ops *ops, rx_node *root, const uint8_t *key, size_t len) {
    const rx_node *deepest;
    lookup(root, key, len, &deepest); /* the key's node when present, else the deepest node on its path */
    return get_watch(ops, (rx_node *)deepest);
}

void *rx_watch_prefix(const rx_ops *ops, rx_node *root, const uint8_t *prefix, size_t len) {
    rx_node *n = root;
    size_t depth = 0;
    while (depth < len) {
        int found;
        uint32_t idx = edge_search(n, prefix[depth], &found);
        rx_node *c;
        size_t rem = len - depth, m;
        if (!found) break;
        c = kids(n)[idx];
        m = rem < c->plen ? rem : c->plen;
        if (memcmp(pfx(c), prefix + depth, m) != 0) break;
        n = c; /* covers the prefix (m == rem) or is on the way to it */
        depth += c->plen;
    }
    return get_watch(ops, n);
}

int rx_visit_owned(const rx_node *root, uint32_t root_refs, int (*fn)(void *value, void *arg), void *arg) {
    /* Visits the values of the nodes that the holder of root owns alone: root when all of its root_refs references
     * are the holder's, then children with a count of 1 below it. A node shared with another holder is skipped with
     * its subtree: reporting its values from each holder would count one reference several times, which could make
     * a cycle collector free an object that is still in use. */
    size_t cap = 64, len = 0;
    int rc = 0;
    const rx_node **stack;
    if (root->refcnt != root_refs) return 0;
    stack = malloc(cap * sizeof(*stack));
    if (!stack) return 0;
    stack[len++] = root;
    while (len && !rc) {
        const rx_node *n = stack[--len];
        if (n->has_leaf && VALUE(n) && (rc = fn(VALUE(n), arg)) != 0) break;
        if (len + n->nedges > cap) {
            size_t ncap = (len + n->nedges) * 2;
            const rx_node **grown = realloc(stack, ncap * sizeof(*stack));
            if (!grown) break;
            stack = grown;
            cap = ncap;
        }
        for (uint32_t i = 0; i < n->nedges; i++)
            if (kids(n)[i]->refcnt == 1) stack[len++] = kids(n)[i];
    }
    free(stack);
    return rc;
}

void rx_stats(const rx_node *root, size_t *nodes_out, size_t *bytes_out) {
    size_t nodes = 0, bytes = 0, cap = 64, len = 0;
    const rx_node **stack = malloc(cap * sizeof(*stack));
    *nodes_out = *bytes_out = 0;
    if (!stack) return;
    stack[len++] = root;
    while (len) {
        const rx_node *n = stack[--len];
        nodes++;
        bytes += node_bytes(n->plen, n->ecap) + (WATCHES(n) ? sizeof(rx_watches) : 0);
        if (len + n->nedges > cap) {
            size_t ncap = (len + n->nedges) * 2;
            const rx_node **grown = realloc(stack, ncap * sizeof(*stack));
            if (!grown) break;
            stack = grown;
            cap = ncap;
        }
        for (uint32_t i = 0; i < n->nedges; i++) stack[len++] = kids(n)[i];
    }
    free(stack);
    *nodes_out = nodes;
    *bytes_out = bytes;
}

/* ---- iteration ------------------------------------------------------------------------------------------------ */

/* Positions a zeroed (or cleared) iterator at the start of root; see radix.h. */
static int iter_reset(rx_iter *it, rx_node *root, int reverse) {
    root->refcnt++;
    it->root = root;
    it->depth = 0;
    it->reverse = reverse;
    it->oom = 0;
    if (!it->stack) {
        it->stack_cap = 16;
        it->stack = malloc(it->stack_cap * sizeof(rx_frame));
        if (!it->stack) return RX_ENOMEM;
    }
    if (!it->key) {
        it->key_cap = 64;
        it->key = malloc(it->key_cap);
        if (!it->key) return RX_ENOMEM;
    }
    return RX_OK;
}

/* Writes n's prefix into the key buffer at offset at; returns the new key length or 0 with it->oom set. */
static size_t key_put(rx_iter *it, size_t at, const rx_node *n) {
    size_t need = at + n->plen;
    if (need > it->key_cap) {
        size_t cap = need * 2;
        uint8_t *grown = realloc(it->key, cap);
        if (!grown) {
            it->oom = 1;
            return 0;
        }
        it->key = grown;
        it->key_cap = cap;
    }
    if (n->plen <= 16) { /* the short prefixes of leaves under a scan: no library call */
        const uint8_t *src = pfx(n);
        uint8_t *dst = it->key + at;
        for (uint32_t i = 0; i < n->plen; i++) dst[i] = src[i];
    } else {
        memcpy(it->key + at, pfx(n), n->plen);
    }
    return need;
}

static int push(rx_iter *it, const rx_node *n, size_t key_len, int next_edge, int leaf_pending) {
    rx_frame *f;
    if (it->depth == it->stack_cap) {
        size_t cap = it->stack_cap * 2;
        rx_frame *grown = realloc(it->stack, cap * sizeof(rx_frame));
        if (!grown) {
            it->oom = 1;
            return RX_ENOMEM;
        }
        it->stack = grown;
        it->stack_cap = cap;
    }
    f = &it->stack[it->depth++];
    f->node = n;
    f->key_len = key_len;
    f->next_edge = next_edge;
    f->leaf_pending = leaf_pending;
    return RX_OK;
}

/* A frame that will visit all of n's subtree in the iterator's direction. */
static int push_whole(rx_iter *it, const rx_node *n, size_t key_len) {
    return push(it, n, key_len, it->reverse ? (int)n->nedges - 1 : 0, n->has_leaf);
}

int rx_iter_seek_prefix(rx_iter *it, rx_node *root, const uint8_t *prefix, size_t len, int reverse) {
    const rx_node *n = root;
    size_t depth = 0;
    if (iter_reset(it, root, reverse) != RX_OK) return RX_ENOMEM;
    for (;;) {
        int found;
        uint32_t idx;
        const rx_node *c;
        size_t rem;
        if (depth == len) return push_whole(it, n, depth);
        idx = edge_search(n, prefix[depth], &found);
        if (!found) return RX_OK;
        c = kids(n)[idx];
        rem = len - depth;
        if (rem <= c->plen) {
            if (memcmp(pfx(c), prefix + depth, rem) != 0) return RX_OK;
            if (!key_put(it, depth, c)) return RX_ENOMEM;
            return push_whole(it, c, depth + c->plen);
        }
        if (memcmp(pfx(c), prefix + depth, c->plen) != 0) return RX_OK;
        if (!key_put(it, depth, c)) return RX_ENOMEM;
        depth += c->plen;
        n = c;
    }
}

int rx_iter_seek_lower_bound(rx_iter *it, rx_node *root, const uint8_t *key, size_t len) {
    const rx_node *n = root;
    size_t depth = 0;
    if (iter_reset(it, root, 0) != RX_OK) return RX_ENOMEM;
    for (;;) {
        int found, cmp;
        uint32_t idx;
        const rx_node *c;
        size_t rem, m;
        if (depth == len) return push_whole(it, n, depth); /* n's key equals key; everything below is greater */
        /* n's own key is a proper prefix of key, so smaller: skip its leaf; children labelled above key[depth]
         * are all greater and stay in n's frame, the child labelled key[depth] (if any) is examined next. */
        idx = edge_search(n, key[depth], &found);
        if (push(it, n, depth, (int)idx + found, 0) != RX_OK) return RX_ENOMEM;
        if (!found) return RX_OK;
        c = kids(n)[idx];
        rem = len - depth;
        m = rem < c->plen ? rem : c->plen;
        cmp = memcmp(pfx(c), key + depth, m);
        if (cmp < 0) return RX_OK; /* all of c is smaller */
        if (!key_put(it, depth, c)) return RX_ENOMEM;
        if (cmp > 0 || rem <= c->plen) return push_whole(it, c, depth + c->plen); /* all of c is >= key */
        depth += c->plen;
        n = c;
    }
}

int rx_iter_seek_reverse_lower_bound(rx_iter *it, rx_node *root, const uint8_t *key, size_t len) {
    const rx_node *n = root;
    size_t depth = 0;
    if (iter_reset(it, root, 1) != RX_OK) return RX_ENOMEM;
    for (;;) {
        int found, cmp;
        uint32_t idx;
        const rx_node *c;
        size_t rem, m;
        if (depth == len) return push(it, n, depth, -1, n->has_leaf); /* n's key equals key; children greater */
        /* n's own key is smaller than key, and so are the children labelled below key[depth]. */
        idx = edge_search(n, key[depth], &found);
        if (push(it, n, depth, (int)idx - 1, n->has_leaf) != RX_OK) return RX_ENOMEM;
        if (!found) return RX_OK;
        c = kids(n)[idx];
        rem = len - depth;
        m = rem < c->plen ? rem : c->plen;
        cmp = memcmp(pfx(c), key + depth, m);
        if (cmp > 0 || (cmp == 0 && rem < c->plen)) return RX_OK; /* all of c is greater */
        if (!key_put(it, depth, c)) return RX_ENOMEM;
        if (cmp < 0) return push_whole(it, c, depth + c->plen); /* all of c is smaller */
        depth += c->plen;
        n = c;
    }
}

int rx_iter_next(rx_iter *it, const uint8_t **key_out, size_t *len_out, void **value_out) {
    if (it->oom) return RX_ENOMEM;
    while (it->depth) {
        rx_frame *f = &it->stack[it->depth - 1];
        const rx_node *n = f->node;
        if (!it->reverse && f->leaf_pending) {
            f->leaf_pending = 0;
            goto emit;
        }
        if (it->reverse ? f->next_edge >= 0 : f->next_edge < (int)n->nedges) {
            const rx_node *c = kids(n)[f->next_edge];
            size_t at = f->key_len;
            f->next_edge += it->reverse ? -1 : 1;
            if (!key_put(it, at, c)) return RX_ENOMEM;
            if (c->nedges == 0) { /* a leaf without children, the common case: emit it without a frame */
                if (!c->has_leaf) continue; /* (only after a failed merge; see the top of the file) */
                *key_out = it->key;
                *len_out = at + c->plen;
                *value_out = VALUE(c);
                return 1;
            }
            if (push_whole(it, c, at + c->plen) != RX_OK) return RX_ENOMEM;
            continue;
        }
        if (it->reverse && f->leaf_pending) {
            f->leaf_pending = 0;
            goto emit;
        }
        it->depth--;
        continue;
    emit:
        *key_out = it->key;
        *len_out = f->key_len;
        *value_out = VALUE(n);
        return 1;
    }
    return 0;
}

void rx_iter_clear(const rx_ops *ops, rx_iter *it) {
    free(it->stack);
    free(it->key);
    it->stack = NULL;
    it->key = NULL;
    it->depth = it->stack_cap = it->key_cap = 0;
    if (it->root) rx_node_decref(ops, it->root);
    it->root = NULL;
}

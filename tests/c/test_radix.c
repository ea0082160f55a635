/*
 * C unit tests for csrc/radix.c, run by ctest (and under AddressSanitizer / UndefinedBehaviorSanitizer in CI, where
 * LeakSanitizer also fails the run on any leaked node, value or watch).
 *
 * Values and watches are counted objects, so every test can check that each retain is matched by a release.
 * A randomized differential test drives the tree and a sorted-array model with the same operations, keeping old
 * trees alive to check snapshot isolation.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radix.h"

static int failures = 0;
#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond)) {                                                                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                                   \
            failures++;                                                                                                \
            return;                                                                                                    \
        }                                                                                                              \
    } while (0)

/* ---- counted objects for values and watches ------------------------------------------------------------------- */

typedef struct obj {
    long refs;
    long id;
    int fired;
} obj;

static long live_objs = 0;

static obj *obj_new(long id) {
    obj *o = calloc(1, sizeof(obj));
    o->refs = 1;
    o->id = id;
    live_objs++;
    return o;
}
static void obj_retain(void *p) { ((obj *)p)->refs++; }
static void obj_release(void *p) {
    obj *o = p;
    if (--o->refs == 0) {
        live_objs--;
        free(o);
    }
}
static void *watch_new(void *ctx) {
    (void)ctx;
    return obj_new(-1);
}
static void watch_fire(void *p) { ((obj *)p)->fired = 1; }

static const rx_ops OPS = {obj_retain, obj_release, watch_new, watch_fire, NULL};

/* ---- helpers -------------------------------------------------------------------------------------------------- */

static int put(rx_txn *t, const char *k, long id) {
    obj *v = obj_new(id), *old = NULL;
    int rc = rx_txn_insert(t, (const uint8_t *)k, strlen(k), v, (void **)&old);
    obj_release(v);
    if (old) obj_release(old);
    return rc;
}

static int del(rx_txn *t, const char *k) {
    obj *old = NULL;
    int rc = rx_txn_delete(t, (const uint8_t *)k, strlen(k), (void **)&old);
    if (old) obj_release(old);
    return rc;
}

static long get_id(const rx_node *root, const char *k) {
    void *v;
    if (!rx_get(root, (const uint8_t *)k, strlen(k), &v)) return -1;
    return ((obj *)v)->id;
}

/* Collects an iterator's keys joined by ',' into buf. */
static void collect(rx_iter *it, char *buf, size_t cap) {
    const uint8_t *k;
    size_t len, at = 0;
    void *v;
    int first = 1;
    buf[0] = 0;
    while (rx_iter_next(it, &k, &len, &v) == 1) {
        if (at + len + 2 >= cap) break;
        if (!first) buf[at++] = ',';
        first = 0;
        memcpy(buf + at, k, len);
        at += len;
        buf[at] = 0;
    }
}

static void scan(rx_node *root, const char *prefix, int reverse, char *buf, size_t cap) {
    rx_iter it;
    memset(&it, 0, sizeof(it));
    rx_iter_seek_prefix(&it, root, (const uint8_t *)prefix, strlen(prefix), reverse);
    collect(&it, buf, cap);
    rx_iter_clear(&OPS, &it);
}

static void lower(rx_node *root, const char *key, int reverse, char *buf, size_t cap) {
    rx_iter it;
    memset(&it, 0, sizeof(it));
    if (reverse)
        rx_iter_seek_reverse_lower_bound(&it, root, (const uint8_t *)key, strlen(key));
    else
        rx_iter_seek_lower_bound(&it, root, (const uint8_t *)key, strlen(key));
    collect(&it, buf, cap);
    rx_iter_clear(&OPS, &it);
}

/* ---- tests ---------------------------------------------------------------------------------------------------- */

static void test_basic(void) {
    rx_node *empty = rx_root_new(), *t1;
    rx_txn txn;
    char buf[256];
    rx_txn_init(&txn, &OPS, empty, 0);
    CHECK(put(&txn, "foo", 1) == 0);
    CHECK(put(&txn, "foobar", 2) == 0);
    CHECK(put(&txn, "fob", 3) == 0);
    CHECK(put(&txn, "", 4) == 0);
    CHECK(put(&txn, "foo", 5) == 1);
    CHECK(txn.size == 4);
    t1 = rx_txn_commit(&txn);
    rx_txn_clear(&txn);
    CHECK(get_id(t1, "foo") == 5);
    CHECK(get_id(t1, "foob") == -1);
    CHECK(get_id(t1, "") == 4);
    CHECK(get_id(empty, "foo") == -1); /* the original tree never changes */
    scan(t1, "", 0, buf, sizeof buf);
    CHECK(strcmp(buf, ",fob,foo,foobar") == 0);
    scan(t1, "", 1, buf, sizeof buf);
    CHECK(strcmp(buf, "foobar,foo,fob,") == 0);
    scan(t1, "foo", 0, buf, sizeof buf);
    CHECK(strcmp(buf, "foo,foobar") == 0);
    scan(t1, "fooba", 0, buf, sizeof buf);
    CHECK(strcmp(buf, "foobar") == 0);
    scan(t1, "fz", 0, buf, sizeof buf);
    CHECK(strcmp(buf, "") == 0);
    lower(t1, "foa", 0, buf, sizeof buf);
    CHECK(strcmp(buf, "fob,foo,foobar") == 0);
    lower(t1, "foo", 0, buf, sizeof buf);
    CHECK(strcmp(buf, "foo,foobar") == 0);
    lower(t1, "fooc", 0, buf, sizeof buf);
    CHECK(strcmp(buf, "") == 0);
    lower(t1, "foo", 1, buf, sizeof buf);
    CHECK(strcmp(buf, "foo,fob,") == 0);
    lower(t1, "fooa", 1, buf, sizeof buf);
    CHECK(strcmp(buf, "foo,fob,") == 0);
    lower(t1, "a", 1, buf, sizeof buf);
    CHECK(strcmp(buf, "") == 0);
    lower(t1, "zzz", 1, buf, sizeof buf);
    CHECK(strcmp(buf, "foobar,foo,fob,") == 0);
    {
        size_t kl;
        void *v;
        CHECK(rx_longest_prefix(t1, (const uint8_t *)"foobaz", 6, &kl, &v) == 1 && kl == 3);
        CHECK(rx_longest_prefix(t1, (const uint8_t *)"x", 1, &kl, &v) == 1 && kl == 0);
    }
    rx_node_decref(&OPS, t1);
    rx_node_decref(&OPS, empty);
    CHECK(live_objs == 0);
}

static void test_delete_and_merge(void) {
    rx_node *root = rx_root_new(), *t1, *t2;
    rx_txn txn;
    char buf[256];
    size_t n;
    rx_txn_init(&txn, &OPS, root, 0);
    rx_node_decref(&OPS, root); /* the txn now owns the only reference: writes go in place */
    put(&txn, "ab1", 1);
    put(&txn, "ab2", 2);
    put(&txn, "ac", 3);
    put(&txn, "b", 4);
    t1 = rx_txn_commit(&txn);
    CHECK(del(&txn, "zz") == 0);
    CHECK(del(&txn, "a") == 0);
    CHECK(del(&txn, "ac") == 1);
    CHECK(rx_txn_delete_prefix(&txn, (const uint8_t *)"ab", 2, &n) == RX_OK && n == 2);
    CHECK(rx_txn_delete_prefix(&txn, (const uint8_t *)"q", 1, &n) == RX_OK && n == 0);
    CHECK(txn.size == 1);
    t2 = rx_txn_commit(&txn);
    scan(t2, "", 0, buf, sizeof buf);
    CHECK(strcmp(buf, "b") == 0);
    scan(t1, "", 0, buf, sizeof buf);
    CHECK(strcmp(buf, "ab1,ab2,ac,b") == 0);
    CHECK(rx_txn_delete_prefix(&txn, (const uint8_t *)"", 0, &n) == RX_OK && n == 1 && txn.size == 0);
    rx_txn_clear(&txn);
    rx_node_decref(&OPS, t1);
    rx_node_decref(&OPS, t2);
    CHECK(live_objs == 0);
}

static void test_watches(void) {
    rx_node *root = rx_root_new(), *t1, *t2;
    rx_txn txn;
    obj *wk, *wmiss, *wpre, *wother, *late;
    rx_txn_init(&txn, &OPS, root, 0);
    put(&txn, "ab1", 1);
    put(&txn, "ab2", 2);
    put(&txn, "ac", 3);
    put(&txn, "x", 4);
    t1 = rx_txn_commit(&txn);
    rx_txn_clear(&txn);
    wk = rx_watch_key(&OPS, t1, (const uint8_t *)"ab1", 3);
    CHECK(wk == rx_watch_key(&OPS, t1, (const uint8_t *)"ab1", 3));
    wmiss = rx_watch_key(&OPS, t1, (const uint8_t *)"ab3", 3); /* absent: the watch of node "b" */
    wpre = rx_watch_prefix(&OPS, t1, (const uint8_t *)"ab", 2);
    CHECK(wmiss == wpre);
    wother = rx_watch_key(&OPS, t1, (const uint8_t *)"x", 1);
    /* delete ac: "a" merges with "b" into "ab"; the old "b" node's watch must fire */
    rx_txn_init(&txn, &OPS, t1, 4);
    del(&txn, "ac");
    CHECK(!wpre->fired); /* nothing fires before commit */
    t2 = rx_txn_commit(&txn);
    CHECK(wpre->fired);
    CHECK(!wk->fired && !wother->fired);
    /* a watch asked of the outdated tree for a replaced node is born fired; for an untouched one it is not */
    late = rx_watch_key(&OPS, t1, (const uint8_t *)"ac", 2);
    CHECK(late->fired);
    CHECK(!((obj *)rx_watch_prefix(&OPS, t1, (const uint8_t *)"x", 1))->fired);
    rx_node_decref(&OPS, t2);
    put(&txn, "ab3", 5);
    t2 = rx_txn_commit(&txn);
    put(&txn, "ab1", 6);
    rx_txn_clear(&txn); /* an abort fires nothing, and marks nothing */
    CHECK(!wk->fired);
    CHECK(!((obj *)rx_watch_key(&OPS, t2, (const uint8_t *)"ab1", 3))->fired);
    rx_txn_init(&txn, &OPS, t2, 5);
    put(&txn, "ab1", 7);
    rx_node_decref(&OPS, rx_txn_commit(&txn));
    CHECK(wk->fired && !wother->fired);
    rx_txn_clear(&txn);
    rx_node_decref(&OPS, root);
    rx_node_decref(&OPS, t1);
    rx_node_decref(&OPS, t2);
    CHECK(live_objs == 0);
}

static void test_deep_keys(void) {
    /* nested keys a, aa, aaa, ... make a chain as deep as the longest key: nothing may recurse */
    enum { DEPTH = 20000 };
    char *key = malloc(DEPTH + 1);
    rx_node *root = rx_root_new(), *t1;
    rx_txn txn;
    rx_iter it;
    const uint8_t *k;
    size_t len, count = 0, n;
    void *v;
    memset(key, 'a', DEPTH);
    rx_txn_init(&txn, &OPS, root, 0);
    for (size_t i = 1; i <= DEPTH; i++) {
        obj *o = obj_new((long)i), *old;
        rx_txn_insert(&txn, (const uint8_t *)key, i, o, (void **)&old);
        obj_release(o);
    }
    t1 = rx_txn_commit(&txn);
    memset(&it, 0, sizeof(it));
    rx_iter_seek_prefix(&it, t1, NULL, 0, 1);
    while (rx_iter_next(&it, &k, &len, &v) == 1) count++;
    rx_iter_clear(&OPS, &it);
    if (count != DEPTH) fprintf(stderr, "count=%zu\n", count);
    CHECK(count == DEPTH);
    CHECK(rx_txn_delete_prefix(&txn, (const uint8_t *)key, 10, &n) == RX_OK && n == DEPTH - 9);
    rx_txn_clear(&txn);
    rx_node_decref(&OPS, t1);
    rx_node_decref(&OPS, root);
    free(key);
    CHECK(live_objs == 0);
}

/* ---- randomized differential test against a sorted array ------------------------------------------------------ */

#define MAXK 6
typedef struct entry {
    char key[MAXK + 1];
    long id;
} entry;
typedef struct model {
    entry e[4096];
    size_t n;
} model;

static unsigned long long rng = 88172645463325252ULL;
static unsigned long rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned long)(rng >> 11);
}
static void rand_key(char *k) {
    static const char alphabet[] = "ab\x7f";
    size_t len = rnd() % (MAXK + 1);
    for (size_t i = 0; i < len; i++) k[i] = alphabet[rnd() % 3];
    k[len] = 0;
}
static int find(const model *m, const char *k, size_t *at) {
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(m->e[mid].key, k);
        if (c == 0) {
            *at = mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *at = lo;
    return 0;
}

static void check_against(rx_node *root, const model *m) {
    rx_iter it;
    const uint8_t *k;
    size_t len, i = 0;
    void *v;
    memset(&it, 0, sizeof(it));
    rx_iter_seek_prefix(&it, root, NULL, 0, 0);
    while (rx_iter_next(&it, &k, &len, &v) == 1) {
        if (i >= m->n || len != strlen(m->e[i].key) || memcmp(k, m->e[i].key, len) != 0 || ((obj *)v)->id != m->e[i].id) {
            rx_iter_clear(&OPS, &it);
            CHECK(0 && "tree differs from model");
        }
        i++;
    }
    rx_iter_clear(&OPS, &it);
    CHECK(i == m->n);
}

static void test_random(void) {
    enum { ROUNDS = 40, OPS_PER_ROUND = 300, KEEP = 8 };
    for (int round = 0; round < ROUNDS; round++) {
        rx_node *root = rx_root_new();
        rx_node *kept[KEEP];
        model *models = calloc(KEEP + 1, sizeof(model));
        model *m = &models[KEEP];
        size_t nkept = 0;
        rx_txn txn;
        rx_txn_init(&txn, &OPS, root, 0);
        rx_node_decref(&OPS, root);
        for (int step = 0; step < OPS_PER_ROUND; step++) {
            char k[MAXK + 1];
            size_t at;
            unsigned long op = rnd() % 100;
            rand_key(k);
            if (op < 55) {
                long id = (long)rnd();
                int rc = put(&txn, k, id);
                int had = find(m, k, &at);
                CHECK(rc == had);
                if (!had) {
                    memmove(&m->e[at + 1], &m->e[at], (m->n - at) * sizeof(entry));
                    m->n++;
                    strcpy(m->e[at].key, k);
                }
                m->e[at].id = id;
            } else if (op < 80) {
                int had = find(m, k, &at);
                CHECK(del(&txn, k) == had);
                if (had) {
                    memmove(&m->e[at], &m->e[at + 1], (m->n - at - 1) * sizeof(entry));
                    m->n--;
                }
            } else if (op < 85) {
                size_t n, plen = strlen(k) > 2 ? 2 : strlen(k), removed = 0, w = 0;
                CHECK(rx_txn_delete_prefix(&txn, (const uint8_t *)k, plen, &n) == RX_OK);
                for (size_t i = 0; i < m->n; i++) {
                    if (strncmp(m->e[i].key, k, plen) == 0)
                        removed++;
                    else
                        m->e[w++] = m->e[i];
                }
                m->n = w;
                CHECK(n == removed);
            } else if (op < 95) {
                if (nkept < KEEP) {
                    kept[nkept] = rx_txn_commit(&txn);
                    models[nkept] = *m;
                    nkept++;
                }
            } else {
                long want = find(m, k, &at) ? m->e[at].id : -1;
                CHECK(get_id(txn.root, k) == want);
            }
            CHECK(txn.size == m->n);
        }
        check_against(txn.root, m);
        for (size_t i = 0; i < nkept; i++) {
            check_against(kept[i], &models[i]);
            rx_node_decref(&OPS, kept[i]);
        }
        rx_txn_clear(&txn);
        free(models);
        CHECK(live_objs == 0);
    }
}

/* The node allocator's free lists: freed nodes are kept for reuse up to the limit, reused by later allocations, and
 * given back by a trim or a lower limit; the tree behaves the same with the cache off. */
static void build_and_drop(int n, size_t *cached_after) {
    rx_node *root = rx_root_new(), *done;
    rx_txn t;
    char key[32];
    rx_txn_init(&t, &OPS, root, 0);
    rx_node_decref(&OPS, root);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "node-%05d/svc-%d", (i * 7919) % n, i % 13);
        put(&t, key, i);
    }
    done = rx_txn_commit(&t);
    rx_txn_clear(&t);
    for (int i = 0; i < n; i += 97) {
        snprintf(key, sizeof key, "node-%05d/svc-%d", (i * 7919) % n, i % 13);
        if (get_id(done, key) < 0) failures++; /* (a lookup through reused blocks) */
    }
    rx_node_decref(&OPS, done);
    *cached_after = rx_node_cache_bytes();
}

static void test_node_cache(void) {
    size_t limit = rx_node_cache_set_limit((size_t)64 << 20), first, second, small;
    rx_node_cache_trim();
    CHECK(rx_node_cache_bytes() == 0);
    build_and_drop(2000, &first);
    CHECK(first > 2000 * 24); /* every node of the dropped tree went onto a free list */
    build_and_drop(2000, &second);
    CHECK(second == first); /* the same shapes again: every block came from the lists and went back */
    rx_node_cache_set_limit(4096);
    CHECK(rx_node_cache_bytes() == 0); /* a limit below what is held trims */
    build_and_drop(2000, &small);
    CHECK(small <= 4096 && small > 0);
    rx_node_cache_set_limit(0); /* off: plain malloc and free */
    build_and_drop(500, &small);
    CHECK(small == 0);
    rx_node_cache_set_limit(limit);
    CHECK(live_objs == 0);
}

/* rx_prefetch_paths reads only, whatever the keys (present, absent, prefixes of stored keys, longer than any path,
 * empty), for more walks than it runs at once (ASan checks every read). */
static void test_prefetch_paths(void) {
    static const char *stored[] = {"a", "ab", "abc1", "abc2", "abd", "foo/bar", "foo/baz", "foo/qux/1", "\xff"};
    static const char *probe[] = {"", "a", "abc", "abc1", "abc1/longer/than/any/stored/key", "abx", "f", "foo/",
                                  "foo/qux/1", "zzz", "\xff\xff", "ab", "abd", "b", "foo/bar", "foo/baz", "abc2",
                                  "x/y"};
    enum { NPROBE = sizeof probe / sizeof probe[0] };
    rx_node *empty = rx_root_new(), *root, *roots[NPROBE];
    const uint8_t *keys[NPROBE];
    size_t lens[NPROBE];
    rx_txn t;
    rx_txn_init(&t, &OPS, empty, 0);
    for (size_t i = 0; i < sizeof stored / sizeof stored[0]; i++) put(&t, stored[i], (long)i);
    root = rx_txn_commit(&t);
    for (size_t i = 0; i < NPROBE; i++) {
        roots[i] = i % 5 == 4 ? empty : root; /* some walks in another (empty) tree */
        keys[i] = (const uint8_t *)probe[i];
        lens[i] = strlen(probe[i]);
    }
    rx_prefetch_paths(roots, keys, lens, NPROBE);
    rx_prefetch_paths(roots, keys, lens, 0);
    for (size_t i = 0; i < sizeof stored / sizeof stored[0]; i++) CHECK(get_id(root, stored[i]) == (long)i);
    CHECK(t.size == sizeof stored / sizeof stored[0]);
    rx_txn_clear(&t);
    rx_node_decref(&OPS, root);
    rx_node_decref(&OPS, empty);
    CHECK(live_objs == 0);
}

int main(void) {
    test_node_cache();
    test_prefetch_paths();
    test_basic();
    test_delete_and_merge();
    test_watches();
    test_deep_keys();
    test_random();
    rx_node_cache_trim();
    if (failures) {
        fprintf(stderr, "test_radix: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_radix: all passed\n");
    return 0;
}

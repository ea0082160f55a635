/* The C WAL on its own: appends, reads, reopen, head/tail truncation, rotation, stable store, encoded frames, torn
 * tails and corruption. Run by ctest (and under ASan/UBSan in CI). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "wal.h"

#define CHECK_RC(expr, want)                                                                                   \
    do {                                                                                                       \
        wal_error e_ = {0};                                                                                    \
        int rc_ = (expr);                                                                                      \
        (void)e_;                                                                                              \
        if (rc_ != (want)) {                                                                                   \
            fprintf(stderr, "%s:%d: %s returned %d, wanted %d\n", __FILE__, __LINE__, #expr, rc_, (want));     \
            failures++;                                                                                        \
        }                                                                                                      \
    } while (0)

static char dir[256];
static wal_error err;

static void rm_dir(const char *path) {
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

static uint8_t payload[4096];

static wal_entry entry(uint64_t index, uint64_t term, size_t len) {
    wal_entry e = {index, term, 0.5 * (double)index, (uint8_t)(index % 6), payload + index % 64, len % 4000,
                   (const uint8_t *)"ext", index % 2 ? 3 : 0};
    return e;
}

static int append_range(wal *w, uint64_t lo, uint64_t hi, uint64_t term, size_t len) {
    wal_entry *es = calloc(hi - lo + 1, sizeof *es);
    for (uint64_t i = lo; i <= hi; i++) es[i - lo] = entry(i, term, len + i % 7);
    int rc = wal_append(w, es, hi - lo + 1, &err);
    free(es);
    return rc;
}

typedef struct {
    uint64_t index, term;
    size_t data_len;
    uint8_t data0;
} seen;

static int emit(void *arg, const wal_entry *e) {
    seen *s = arg;
    s->index = e->index;
    s->term = e->term;
    s->data_len = e->data_len;
    s->data0 = e->data_len ? e->data[0] : 0;
    return WAL_OK;
}

static int check_entry(wal *w, uint64_t index, uint64_t term, size_t len) {
    seen s = {0};
    int rc = wal_get(w, index, emit, &s, &err);
    if (rc != WAL_OK) return rc;
    wal_entry want = entry(index, term, len + index % 7);
    return s.index == index && s.term == term && s.data_len == want.data_len &&
                   (!want.data_len || s.data0 == want.data[0])
               ? WAL_OK
               : -1;
}

static wal *open_wal(int expect) {
    wal_options o;
    wal_default_options(&o);
    o.segment_size = 64 << 10;
    o.sync = 0;
    wal *w = NULL;
    int rc = wal_open(dir, &o, &w, &err);
    if (rc != expect) {
        fprintf(stderr, "open returned %d (%s), wanted %d\n", rc, err.msg, expect);
        failures++;
    }
    return w;
}

/* wal_encode_frames (checksums three frames at a time) writes the bytes of wal_encode_frame entry by entry, for runs
 * of equal and of mixed sizes; wal_append_frames finds damage in every position of a checksum group and in the
 * ungrouped tail, and reports it as damage (EINVAL) before the index sequence (these indexes never follow `w`'s). */
static void test_batch_checksums(wal *w) {
    enum { N = 11 };
    static const size_t lens[] = {100, 100, 100, 100, 37, 100, 100, 0, 0, 0, 5};
    wal_entry es[N];
    size_t total = 0;
    for (size_t i = 0; i < N; i++) {
        es[i] = entry(i + 1, 1, lens[i]);
        es[i].ext_len = 0;
        total += wal_frame_size(es[i].data_len, 0);
    }
    size_t step = wal_frame_size(64, 0), flen = N * step;
    uint8_t *one = malloc(total), *all = malloc(total > flen ? total : flen);
    size_t pos = 0;
    for (size_t i = 0; i < N; i++) {
        wal_encode_frame(one + pos, &es[i]);
        pos += wal_frame_size(es[i].data_len, 0);
    }
    wal_encode_frames(all, es, N);
    CHECK(memcmp(one, all, total) == 0);
    for (size_t i = 0; i < N; i++) es[i].data_len = 64; /* all equal: groups of three and a tail of two */
    wal_encode_frames(all, es, N);
    CHECK_RC(wal_append_frames(w, all, flen, &err), WAL_EINDEX);
    for (size_t victim = 0; victim < N; victim++) {
        size_t data_at = victim * step + WAL_FRAME_HEADER + WAL_ENTRY_HEADER + 3, index_at = victim * step + 8;
        all[data_at] ^= 0x40;
        CHECK_RC(wal_append_frames(w, all, flen, &err), WAL_EINVAL);
        all[data_at] ^= 0x40;
        all[index_at] ^= 0x02;
        CHECK_RC(wal_append_frames(w, all, flen, &err), WAL_EINVAL);
        all[index_at] ^= 0x02;
    }
    CHECK_RC(wal_append_frames(w, all, flen, &err), WAL_EINDEX);
    free(one);
    free(all);
}

static void test_basic(void) {
    wal *w = open_wal(WAL_OK);
    CHECK(wal_first_index(w) == 0 && wal_last_index(w) == 0);
    CHECK_RC(wal_get(w, 1, emit, NULL, &err), WAL_ENOTFOUND);
    for (uint64_t lo = 1; lo <= 3000; lo += 100) CHECK_RC(append_range(w, lo, lo + 99, 1, 100), WAL_OK);
    CHECK(wal_first_index(w) == 1 && wal_last_index(w) == 3000);
    wal_stats st;
    wal_get_stats(w, &st);
    CHECK(st.segments > 3); /* 64 KiB segments: rotation happened */
    for (uint64_t i = 1; i <= 3000; i += 37) CHECK_RC(check_entry(w, i, 1, 100), WAL_OK);
    /* gaps and rewinds */
    CHECK_RC(append_range(w, 3002, 3002, 1, 10), WAL_EINDEX);
    CHECK_RC(append_range(w, 2999, 3001, 1, 10), WAL_EINDEX);
    /* encoded frames round trip */
    uint8_t *frames;
    size_t len;
    uint64_t next;
    CHECK_RC(wal_read_frames(w, 2990, 5000, (size_t)-1, &frames, &len, &next, &err), WAL_OK);
    CHECK(next == 3001);
    wal_entry dec;
    size_t used;
    CHECK_RC(wal_decode_frame(frames, len, &dec, &used, &err), WAL_OK);
    CHECK(dec.index == 2990);
    CHECK_RC(wal_append_frames(w, frames, len, &err), WAL_EINDEX); /* 2990.. does not follow 3000 */
    frames[20] ^= 1;                                                  /* damage a frame: refused */
    CHECK_RC(wal_append_frames(w, frames, len, &err), WAL_EINVAL);
    frames[20] ^= 1;
    test_batch_checksums(w);
    free(frames);
    CHECK_RC(wal_read_frames(w, 1, 3000, 1000, &frames, &len, &next, &err), WAL_OK);
    CHECK(next > 1 && next < 3000 && len <= 1000);
    free(frames);
    /* head and tail truncation */
    CHECK_RC(wal_delete_range(w, 100, 200, &err), WAL_EINDEX);
    CHECK_RC(wal_delete_range(w, 1, 1500, &err), WAL_OK);
    CHECK(wal_first_index(w) == 1501);
    CHECK_RC(wal_get(w, 1500, emit, NULL, &err), WAL_ENOTFOUND);
    CHECK_RC(wal_delete_range(w, 2500, 9000, &err), WAL_OK);
    CHECK(wal_last_index(w) == 2499);
    CHECK_RC(append_range(w, 2500, 2600, 2, 50), WAL_OK);
    CHECK_RC(check_entry(w, 2550, 2, 50), WAL_OK);
    CHECK_RC(check_entry(w, 2499, 1, 100), WAL_OK);
    /* stable store */
    CHECK_RC(wal_stable_set(w, (const uint8_t *)"CurrentTerm", 11, (const uint8_t *)"\0\0\0\0\0\0\0\7", 8, &err),
             WAL_OK);
    CHECK_RC(wal_stable_set(w, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1, &err), WAL_OK);
    CHECK_RC(wal_stable_set(w, (const uint8_t *)"k", 1, (const uint8_t *)"v2", 2, &err), WAL_OK);
    wal_close(w);

    w = open_wal(WAL_OK);
    CHECK(wal_first_index(w) == 1501 && wal_last_index(w) == 2600);
    CHECK_RC(check_entry(w, 1501, 1, 100), WAL_OK);
    CHECK_RC(check_entry(w, 2600, 2, 50), WAL_OK);
    uint8_t *v;
    size_t vl;
    CHECK_RC(wal_stable_get(w, (const uint8_t *)"k", 1, &v, &vl, &err), WAL_OK);
    CHECK(vl == 2 && memcmp(v, "v2", 2) == 0);
    free(v);
    CHECK_RC(wal_stable_get(w, (const uint8_t *)"nope", 4, &v, &vl, &err), WAL_ENOTFOUND);
    /* a second open of the same directory is refused */
    wal *w2 = open_wal(WAL_ELOCKED);
    CHECK(w2 == NULL);
    CHECK_RC(wal_delete_range(w, 1, 10000, &err), WAL_OK);
    CHECK(wal_first_index(w) == 0 && wal_last_index(w) == 0);
    CHECK_RC(append_range(w, 777, 800, 3, 10), WAL_OK);
    wal_close(w);
    w = open_wal(WAL_OK);
    CHECK(wal_first_index(w) == 777 && wal_last_index(w) == 800);
    wal_close(w);
}

static char *tail_path(void) {
    static char p[600];
    DIR *d = opendir(dir);
    struct dirent *e;
    char best[300] = "";
    while ((e = readdir(d)) != NULL)
        if (strlen(e->d_name) == 41 && strcmp(e->d_name, best) > 0) snprintf(best, sizeof best, "%s", e->d_name);
    closedir(d);
    snprintf(p, sizeof p, "%s/%s", dir, best);
    return p;
}

static void poke(const char *path, long off, uint8_t xor_mask) {
    int fd = open(path, O_RDWR);
    uint8_t b;
    CHECK(pread(fd, &b, 1, off) == 1);
    b ^= xor_mask;
    CHECK(pwrite(fd, &b, 1, off) == 1);
    close(fd);
}

static void test_recovery(void) {
    rm_dir(dir);
    wal *w = open_wal(WAL_OK);
    CHECK_RC(append_range(w, 1, 10, 1, 20), WAL_OK);
    CHECK_RC(append_range(w, 11, 20, 1, 20), WAL_OK);
    wal_close(w);
    /* the final batch garbled: discarded as a torn write */
    const char *tp = tail_path();
    struct stat stt;
    stat(tp, &stt);
    /* find the second batch: the first entry frame of index 11 is after batch 1; damage the last commit frame */
    int fd = open(tp, O_RDONLY);
    uint8_t *buf = malloc((size_t)stt.st_size);
    CHECK(pread(fd, buf, (size_t)stt.st_size, 0) == stt.st_size);
    close(fd);
    long commits[4];
    int nc = 0;
    for (long p = 32; p + 16 <= stt.st_size && nc < 4; p += 8)
        if (buf[p] == 3 && memcmp(buf + p + 1, "CMT", 3) == 0) commits[nc++] = p;
    free(buf);
    CHECK(nc == 2);
    poke(tp, commits[1] + 5, 0x40);
    w = open_wal(WAL_OK);
    CHECK(wal_last_index(w) == 10);
    wal_stats st;
    wal_get_stats(w, &st);
    CHECK(st.discarded_tail > 0);
    CHECK_RC(append_range(w, 11, 12, 2, 20), WAL_OK); /* overwrites the torn batch */
    wal_close(w);
    w = open_wal(WAL_OK);
    CHECK(wal_last_index(w) == 12);
    CHECK_RC(check_entry(w, 12, 2, 20), WAL_OK);
    wal_close(w);
    /* damage in the first batch, with a valid batch after it: corruption, refused */
    poke(tp, commits[0] - 3, 0x01);
    w = open_wal(WAL_ECORRUPT);
    CHECK(w == NULL && strstr(err.msg, tp) != NULL && strstr(err.msg, "offset") != NULL);
    /* the metadata damaged: refused */
    poke(tp, commits[0] - 3, 0x01);
    char mp[512];
    snprintf(mp, sizeof mp, "%s/wal-meta", dir);
    poke(mp, 20, 0x10);
    w = open_wal(WAL_ECORRUPT);
    CHECK(w == NULL && strstr(err.msg, "wal-meta") != NULL);
    poke(mp, 20, 0x10);
    w = open_wal(WAL_OK);
    CHECK(wal_last_index(w) == 12);
    wal_close(w);
}

/* Readers race appends, rotations and head truncations (the segment array is replaced while they walk it). */
static volatile int stop_readers;
static void *reader_thread(void *arg) {
    wal *w = arg;
    unsigned seed = 1;
    uint64_t reads = 0;
    while (!__atomic_load_n(&stop_readers, __ATOMIC_ACQUIRE)) {
        uint64_t first = wal_first_index(w), last = wal_last_index(w);
        if (!last) continue;
        seed = seed * 1103515245u + 12345u;
        uint64_t i = first + seed % (last - first + 1);
        seen sn = {0};
        wal_error e;
        int rc = wal_get(w, i, emit, &sn, &e);
        if (rc == WAL_OK && sn.index != i) __atomic_store_n(&failures, failures + 1, __ATOMIC_RELAXED);
        if (rc != WAL_OK && rc != WAL_ENOTFOUND) __atomic_store_n(&failures, failures + 1, __ATOMIC_RELAXED);
        uint8_t *frames;
        size_t len;
        uint64_t next;
        if (wal_read_frames(w, i, i + 20, (size_t)-1, &frames, &len, &next, &e) == WAL_OK) free(frames);
        reads++;
    }
    return (void *)(uintptr_t)reads;
}

static void test_concurrent_readers(void) {
    rm_dir(dir);
    wal *w = open_wal(WAL_OK);
    pthread_t t[2];
    stop_readers = 0;
    for (int k = 0; k < 2; k++) pthread_create(&t[k], NULL, reader_thread, w);
    for (uint64_t lo = 1; lo <= 20000; lo += 50) {
        CHECK_RC(append_range(w, lo, lo + 49, 1, 100), WAL_OK);
        if (lo % 2000 == 1 && lo > 1) CHECK_RC(wal_delete_range(w, 1, lo - 1000, &err), WAL_OK);
    }
    __atomic_store_n(&stop_readers, 1, __ATOMIC_RELEASE);
    for (int k = 0; k < 2; k++) pthread_join(t[k], NULL);
    CHECK(wal_last_index(w) == 20000);
    wal_close(w);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/raftstore-test-wal-%d", (int)getpid());
    rm_dir(dir);
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 7 + 3);
    test_basic();
    test_recovery();
    test_concurrent_readers();
    rm_dir(dir);
    printf("wal: %d failures\n", failures);
    return failures ? 1 : 0;
}

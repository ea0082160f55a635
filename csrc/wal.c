/* Segmented write-ahead log: see wal.h for the format and the concurrency rules. */
#define _GNU_SOURCE
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "crc32c.h"

#define META_NAME "wal-meta"
#define META_TMP "wal-meta.tmp"
#define SPARE_NAME "spare.seg"
#define SPARE_TMP "spare.tmp"
#define META_MAGIC "RSWALMT1"
#define SEG_MAGIC "RSWL"
#define SEG_VERSION 1
#define ZERO_CHUNK (1u << 20)

/* ------------------------------------------------------------------------------------------------ small helpers */

static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) { return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32; }
static void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}
static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static int fail(wal_error *err, int code, int sys_errno, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
        err->sys_errno = sys_errno;
        if (sys_errno) {
            size_t used = strlen(err->msg);
            snprintf(err->msg + used, sizeof err->msg - used, ": %s", strerror(sys_errno));
        }
    }
    return code;
}
#define SYSFAIL(err, ...) fail(err, WAL_EIO, errno, __VA_ARGS__)

static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off) {
    while (len) {
        ssize_t k = pwrite(fd, buf, len, (off_t)off);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += k;
        len -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

static int read_all(int fd, uint8_t *buf, size_t len) {
    while (len) {
        ssize_t k = read(fd, buf, len);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (k == 0) return -1;
        buf += k;
        len -= (size_t)k;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------ structures */

typedef struct {
    uint64_t id, base, min, max; /* max: the last index (for the tail, kept equal to the last published one) */
    uint64_t index_start;        /* offset of the index frame; 0 while the segment is the tail */
    uint64_t min_size;           /* the size it was created with: a shorter file was truncated behind our back */
} seg_desc;

typedef struct {
    seg_desc d;
    char *path;
    int fd; /* the tail's write descriptor; -1 once sealed */
    uint8_t *map;
    size_t map_len;
    /* Entry frame offsets, entry base + i at slot i. A sealed segment's come from its index frame (le_offsets points
     * into the mapping); the tail's live in `offsets`, grown under the write lock and filled beyond `count` by the
     * writer only (readers never look past the published count). */
    const uint8_t *le_offsets;
    uint32_t *offsets;
    size_t count, cap;
} segment;

typedef struct {
    uint8_t *k, *v;
    size_t kl, vl;
} kv_pair;

struct wal {
    char *dir;
    int dirfd;
    wal_options o;
    pthread_rwlock_t lock; /* readers; the writer takes it exclusively only to publish */
    pthread_mutex_t wmu;   /* one writer at a time (appends, truncations, stable-store sets) */
    segment **segs;
    size_t nseg;
    uint64_t next_id;
    kv_pair *kv;
    size_t nkv;
    uint64_t tail_off; /* where the tail's next batch goes */
    uint8_t *buf;
    size_t bufcap;
    int failed;
    wal_stats st;
    /* background preallocation of the next segment */
    pthread_t thr;
    int thr_started;
    pthread_mutex_t smu;
    pthread_cond_t scv;
    int spare_ready, spare_want, spare_busy, stop;
};

static uint64_t seg_last(const segment *s) { return s->d.index_start ? s->d.max : s->d.base + s->count - 1; }

static uint32_t seg_offset(const segment *s, uint64_t i) {
    return s->le_offsets ? get32(s->le_offsets + 4 * i) : s->offsets[i];
}

static void seg_free(segment *s) {
    if (!s) return;
    if (s->map) munmap(s->map, s->map_len);
    if (s->fd >= 0) close(s->fd);
    free(s->offsets);
    free(s->path);
    free(s);
}

static char *join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static char *seg_path(const char *dir, uint64_t base, uint64_t id) {
    char name[64];
    snprintf(name, sizeof name, "%020llu-%016llx.wal", (unsigned long long)base, (unsigned long long)id);
    return join(dir, name);
}

static int sync_fd(wal *w, int fd) {
    if (!w->o.sync) return 0;
    w->st.syncs++;
    return fdatasync(fd);
}

static int sync_dir(wal *w, wal_error *err) {
    if (!w->o.sync) return WAL_OK;
    w->st.syncs++;
    if (fsync(w->dirfd) != 0) return SYSFAIL(err, "fsync of directory %s", w->dir);
    return WAL_OK;
}

/* ------------------------------------------------------------------------------------------------ frame codec */

size_t wal_frame_size(size_t data_len, size_t ext_len) {
    return WAL_FRAME_HEADER + pad8(WAL_ENTRY_HEADER + ext_len + data_len);
}

static uint32_t entry_crc(const uint8_t *frame, size_t payload_len) {
    uint32_t c = crc32c_extend(0, frame, WAL_FRAME_HEADER + 28);
    return crc32c_extend(c, frame + WAL_FRAME_HEADER + WAL_ENTRY_HEADER, payload_len - WAL_ENTRY_HEADER);
}

/* Everything of an entry frame but its CRC (bytes 28..31 of the entry header, written by the caller). */
static void encode_frame_body(uint8_t *dst, const wal_entry *e) {
    size_t payload = WAL_ENTRY_HEADER + e->ext_len + e->data_len;
    size_t total = wal_frame_size(e->data_len, e->ext_len);
    dst[0] = WAL_ENTRY_FRAME;
    dst[1] = e->type;
    dst[2] = dst[3] = 0;
    put32(dst + 4, (uint32_t)payload);
    uint8_t *p = dst + WAL_FRAME_HEADER;
    put64(p, e->index);
    put64(p + 8, e->term);
    uint64_t bits;
    memcpy(&bits, &e->appended_at, 8);
    put64(p + 16, bits);
    put32(p + 24, (uint32_t)e->ext_len);
    if (e->ext_len) memcpy(p + 32, e->ext, e->ext_len);
    if (e->data_len) memcpy(p + 32 + e->ext_len, e->data, e->data_len);
    memset(dst + WAL_FRAME_HEADER + payload, 0, total - WAL_FRAME_HEADER - payload);
}

void wal_encode_frame(uint8_t *dst, const wal_entry *e) {
    encode_frame_body(dst, e);
    put32(dst + WAL_FRAME_HEADER + 28, entry_crc(dst, WAL_ENTRY_HEADER + e->ext_len + e->data_len));
}

/* The CRCs of the entry frames filling batch[0, len) (their lengths already checked): written into each frame when
 * `verify` is 0, else compared with the stored ones. Consecutive frames of equal payload length are checksummed three
 * at a time (crc32c_extend3), most of the CPU of a large batch; every CRC equals entry_crc() of its frame. Returns
 * len, or the offset of the first frame whose stored CRC differs. */
static size_t frame_crcs(uint8_t *batch, size_t len, int verify) {
    size_t pos = 0;
    while (pos < len) {
        uint8_t *f[3];
        size_t payload = get32(batch + pos + 4), step = WAL_FRAME_HEADER + pad8(payload), k = 0;
        while (k < 3 && pos + k * step < len && get32(batch + pos + k * step + 4) == payload) {
            f[k] = batch + pos + k * step;
            k++;
        }
        uint32_t c[3] = {0, 0, 0};
        if (k == 3) {
            const void *head[3] = {f[0], f[1], f[2]};
            crc32c_extend3(c, head, WAL_FRAME_HEADER + 28);
            const void *body[3] = {f[0] + WAL_FRAME_HEADER + WAL_ENTRY_HEADER,
                                   f[1] + WAL_FRAME_HEADER + WAL_ENTRY_HEADER,
                                   f[2] + WAL_FRAME_HEADER + WAL_ENTRY_HEADER};
            crc32c_extend3(c, body, payload - WAL_ENTRY_HEADER);
        } else {
            k = 1;
            c[0] = entry_crc(f[0], payload);
        }
        for (size_t j = 0; j < k; j++) {
            uint8_t *field = f[j] + WAL_FRAME_HEADER + 28;
            if (!verify)
                put32(field, c[j]);
            else if (get32(field) != c[j])
                return pos + j * step;
        }
        pos += k * step;
    }
    return len;
}

void wal_encode_frames(uint8_t *dst, const wal_entry *entries, size_t n) {
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        encode_frame_body(dst + pos, &entries[i]);
        pos += wal_frame_size(entries[i].data_len, entries[i].ext_len);
    }
    frame_crcs(dst, pos, 0);
}

/* wal_decode_frame() without the CRC check (for a batch whose CRCs are checked together by frame_crcs()). */
static int decode_frame(const uint8_t *buf, size_t len, wal_entry *e, size_t *consumed, int check_crc,
                        wal_error *err);

int wal_decode_frame(const uint8_t *buf, size_t len, wal_entry *e, size_t *consumed, wal_error *err) {
    return decode_frame(buf, len, e, consumed, 1, err);
}

static int decode_frame(const uint8_t *buf, size_t len, wal_entry *e, size_t *consumed, int check_crc,
                        wal_error *err) {
    if (len < WAL_FRAME_HEADER + WAL_ENTRY_HEADER) return fail(err, WAL_ECORRUPT, 0, "entry frame truncated");
    if (buf[0] != WAL_ENTRY_FRAME || buf[2] || buf[3])
        return fail(err, WAL_ECORRUPT, 0, "not an entry frame (type byte %u)", buf[0]);
    size_t payload = get32(buf + 4);
    const uint8_t *p = buf + WAL_FRAME_HEADER;
    size_t ext_len = get32(p + 24);
    if (payload < WAL_ENTRY_HEADER || payload > WAL_MAX_PAYLOAD || ext_len > payload - WAL_ENTRY_HEADER)
        return fail(err, WAL_ECORRUPT, 0, "entry frame with a bad length (%zu, extensions %zu)", payload, ext_len);
    size_t total = WAL_FRAME_HEADER + pad8(payload);
    if (total > len) return fail(err, WAL_ECORRUPT, 0, "entry frame of %zu bytes truncated to %zu", total, len);
    if (check_crc && get32(p + 28) != entry_crc(buf, payload)) return fail(err, WAL_ECORRUPT, 0, "entry frame checksum mismatch");
    e->index = get64(p);
    e->term = get64(p + 8);
    uint64_t bits = get64(p + 16);
    memcpy(&e->appended_at, &bits, 8);
    e->type = buf[1];
    e->ext = p + 32;
    e->ext_len = ext_len;
    e->data = p + 32 + ext_len;
    e->data_len = payload - WAL_ENTRY_HEADER - ext_len;
    *consumed = total;
    return WAL_OK;
}

/* The commit frame closing the batch [start, at): its CRC chains from the segment header's CRC. */
static void encode_commit(uint8_t *dst, const uint8_t *batch, size_t batch_len, uint32_t seed, uint64_t start,
                          uint32_t count) {
    dst[0] = WAL_COMMIT_FRAME;
    memcpy(dst + 1, "CMT", 3);
    put32(dst + 8, (uint32_t)start);
    put32(dst + 12, count);
    uint32_t c = crc32c_extend(seed, batch, batch_len);
    put32(dst + 4, crc32c_extend(c, dst + 8, 8));
}

static int commit_valid(const uint8_t *map, uint64_t at, uint32_t seed) {
    const uint8_t *f = map + at;
    if (f[0] != WAL_COMMIT_FRAME || memcmp(f + 1, "CMT", 3) != 0) return 0;
    uint64_t start = get32(f + 8);
    if (start < WAL_HEADER_SIZE || start > at || (start & 7)) return 0;
    uint32_t c = crc32c_extend(seed, map + start, at - start);
    return crc32c_extend(c, f + 8, 8) == get32(f + 4);
}

/* ------------------------------------------------------------------------------------------------ metadata */

static int write_meta(wal *w, const seg_desc *segs, size_t nseg, uint64_t next_id, const kv_pair *kv, size_t nkv,
                      wal_error *err) {
    size_t plen = 8 + 4 + nseg * 48 + 4;
    for (size_t i = 0; i < nkv; i++) plen += 8 + kv[i].kl + kv[i].vl;
    uint8_t *b = malloc(16 + plen);
    if (!b) return fail(err, WAL_ENOMEM, 0, "out of memory");
    memcpy(b, META_MAGIC, 8);
    put32(b + 8, (uint32_t)plen);
    uint8_t *p = b + 16;
    put64(p, next_id);
    put32(p + 8, (uint32_t)nseg);
    p += 12;
    for (size_t i = 0; i < nseg; i++, p += 48) {
        put64(p, segs[i].id);
        put64(p + 8, segs[i].base);
        put64(p + 16, segs[i].min);
        put64(p + 24, segs[i].index_start ? segs[i].max : 0);
        put64(p + 32, segs[i].index_start);
        put64(p + 40, segs[i].min_size);
    }
    put32(p, (uint32_t)nkv);
    p += 4;
    for (size_t i = 0; i < nkv; i++) {
        put32(p, (uint32_t)kv[i].kl);
        memcpy(p + 4, kv[i].k, kv[i].kl);
        p += 4 + kv[i].kl;
        put32(p, (uint32_t)kv[i].vl);
        memcpy(p + 4, kv[i].v, kv[i].vl);
        p += 4 + kv[i].vl;
    }
    put32(b + 12, crc32c_extend(0, b + 16, plen));
    int rc = WAL_OK;
    int fd = openat(w->dirfd, META_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = SYSFAIL(err, "create %s/%s", w->dir, META_TMP);
    } else {
        if (pwrite_all(fd, b, 16 + plen, 0) != 0 || sync_fd(w, fd) != 0)
            rc = SYSFAIL(err, "write %s/%s", w->dir, META_TMP);
        close(fd);
        if (rc == WAL_OK && renameat(w->dirfd, META_TMP, w->dirfd, META_NAME) != 0)
            rc = SYSFAIL(err, "rename %s/%s", w->dir, META_TMP);
        if (rc == WAL_OK) rc = sync_dir(w, err);
    }
    free(b);
    return rc;
}

static seg_desc *current_descs(wal *w) {
    seg_desc *d = malloc((w->nseg + 1) * sizeof *d);
    if (!d) return NULL;
    for (size_t i = 0; i < w->nseg; i++) d[i] = w->segs[i]->d;
    return d;
}

static int read_meta(wal *w, seg_desc **out, size_t *nout, int *exists, wal_error *err) {
    char *path = join(w->dir, META_NAME);
    if (!path) return fail(err, WAL_ENOMEM, 0, "out of memory");
    *exists = 0;
    *out = NULL;
    *nout = 0;
    int rc = WAL_OK;
    uint8_t *b = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno != ENOENT) rc = SYSFAIL(err, "open %s", path);
        free(path);
        return rc;
    }
    *exists = 1;
    struct stat stt;
    if (fstat(fd, &stt) != 0) {
        rc = SYSFAIL(err, "stat %s", path);
        goto done;
    }
    size_t size = (size_t)stt.st_size;
    b = malloc(size ? size : 1);
    if (!b) {
        rc = fail(err, WAL_ENOMEM, 0, "out of memory");
        goto done;
    }
    if (size && read_all(fd, b, size) != 0) {
        rc = SYSFAIL(err, "read %s", path);
        goto done;
    }
    if (size < 16 || memcmp(b, META_MAGIC, 8) != 0) {
        rc = fail(err, WAL_ECORRUPT, 0, "%s at offset 0: not a WAL metadata file (size %zu)", path, size);
        goto done;
    }
    size_t plen = get32(b + 8);
    if (plen != size - 16) {
        rc = fail(err, WAL_ECORRUPT, 0, "%s at offset 8: payload length %zu but %zu bytes follow", path, plen,
                  size - 16);
        goto done;
    }
    if (crc32c_extend(0, b + 16, plen) != get32(b + 12)) {
        rc = fail(err, WAL_ECORRUPT, 0, "%s at offset 12: checksum mismatch", path);
        goto done;
    }
    const uint8_t *p = b + 16, *end = b + size;
    if (end - p < 12) goto bad;
    w->next_id = get64(p);
    size_t nseg = get32(p + 8);
    p += 12;
    if ((size_t)(end - p) / 48 < nseg) goto bad;
    seg_desc *d = calloc(nseg + 1, sizeof *d);
    if (!d) {
        rc = fail(err, WAL_ENOMEM, 0, "out of memory");
        goto done;
    }
    *out = d;
    *nout = nseg;
    for (size_t i = 0; i < nseg; i++, p += 48) {
        d[i].id = get64(p);
        d[i].base = get64(p + 8);
        d[i].min = get64(p + 16);
        d[i].max = get64(p + 24);
        d[i].index_start = get64(p + 32);
        d[i].min_size = get64(p + 40);
        int last = i + 1 == nseg;
        if (d[i].id >= w->next_id || d[i].base == 0 || d[i].min < d[i].base) goto bad;
        if (i && (d[i].id <= d[i - 1].id || d[i].base != d[i - 1].max + 1 || d[i].min != d[i].base)) goto bad;
        if (d[i].index_start && (d[i].max < d[i].min || d[i].index_start < WAL_HEADER_SIZE)) goto bad;
        if (!d[i].index_start && (!last || d[i].max != 0)) goto bad;
    }
    if (end - p < 4) goto bad;
    size_t nkv = get32(p);
    p += 4;
    w->kv = calloc(nkv + 1, sizeof *w->kv);
    if (!w->kv) {
        rc = fail(err, WAL_ENOMEM, 0, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < nkv; i++) {
        kv_pair *kv = &w->kv[w->nkv];
        if (end - p < 4) goto bad;
        kv->kl = get32(p);
        p += 4;
        if ((size_t)(end - p) < kv->kl + 4) goto bad;
        kv->k = malloc(kv->kl + 1);
        if (!kv->k) goto oom;
        memcpy(kv->k, p, kv->kl);
        p += kv->kl;
        kv->vl = get32(p);
        p += 4;
        if ((size_t)(end - p) < kv->vl) {
            free(kv->k);
            goto bad;
        }
        kv->v = malloc(kv->vl + 1);
        if (!kv->v) {
            free(kv->k);
            goto oom;
        }
        memcpy(kv->v, p, kv->vl);
        p += kv->vl;
        w->nkv++;
    }
    if (p != end) goto bad;
    goto done;
oom:
    rc = fail(err, WAL_ENOMEM, 0, "out of memory");
    goto done;
bad:
    rc = fail(err, WAL_ECORRUPT, 0, "%s at offset %zu: inconsistent metadata", path, (size_t)(p - b));
done:
    close(fd);
    free(b);
    free(path);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ segment files */

/* Writes zeros over [0, size) of fd in chunks; *stop (may be NULL) aborts between chunks. */
static int zero_fill(int fd, uint64_t size, const int *stop) {
    static const uint8_t zeros[ZERO_CHUNK];
    for (uint64_t off = 0; off < size; off += ZERO_CHUNK) {
        if (stop && __atomic_load_n(stop, __ATOMIC_RELAXED)) return 1;
        size_t n = size - off < ZERO_CHUNK ? (size_t)(size - off) : ZERO_CHUNK;
        if (pwrite_all(fd, zeros, n, off) != 0) return -1;
    }
    return 0;
}

static void *spare_thread(void *arg) {
    wal *w = arg;
    pthread_mutex_lock(&w->smu);
    for (;;) {
        while (!w->stop && (w->spare_ready || !w->spare_want)) pthread_cond_wait(&w->scv, &w->smu);
        if (w->stop) break;
        w->spare_want = 0;
        w->spare_busy = 1;
        pthread_mutex_unlock(&w->smu);
        int ok = 0;
        int fd = openat(w->dirfd, SPARE_TMP, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            ok = zero_fill(fd, w->o.segment_size, &w->stop) == 0 && (!w->o.sync || fdatasync(fd) == 0);
            close(fd);
            ok = ok && renameat(w->dirfd, SPARE_TMP, w->dirfd, SPARE_NAME) == 0;
            if (!ok) unlinkat(w->dirfd, SPARE_TMP, 0);
            if (ok && w->o.sync) fsync(w->dirfd);
        }
        pthread_mutex_lock(&w->smu);
        w->spare_busy = 0;
        w->spare_ready = ok;
        /* A failed attempt is not retried until the next rotation asks again; that rotation then zero-fills a
         * segment itself. */
        pthread_cond_broadcast(&w->scv);
    }
    pthread_mutex_unlock(&w->smu);
    return NULL;
}

static void want_spare(wal *w) {
    if (!w->thr_started) return;
    pthread_mutex_lock(&w->smu);
    if (!w->spare_ready) {
        w->spare_want = 1;
        pthread_cond_signal(&w->scv);
    }
    pthread_mutex_unlock(&w->smu);
}

/* Takes the prepared spare as `path` (1), or 0 when none is ready. Waits for one being written right now. */
static int take_spare(wal *w, const char *path) {
    if (!w->thr_started) return 0;
    int took = 0;
    pthread_mutex_lock(&w->smu);
    while (w->spare_busy) pthread_cond_wait(&w->scv, &w->smu);
    if (w->spare_ready) {
        char *sp = join(w->dir, SPARE_NAME);
        if (sp && rename(sp, path) == 0) took = 1;
        free(sp);
        w->spare_ready = 0;
    }
    pthread_mutex_unlock(&w->smu);
    return took;
}

static int map_segment(segment *s, int fd, wal_error *err) {
    struct stat stt;
    if (fstat(fd, &stt) != 0) return SYSFAIL(err, "stat %s", s->path);
    size_t size = (size_t)stt.st_size;
    if (size < WAL_HEADER_SIZE || (uint64_t)size < s->d.min_size)
        return fail(err, WAL_ECORRUPT, 0, "%s at offset %zu: segment truncated (expected at least %llu bytes)",
                    s->path, size, (unsigned long long)s->d.min_size);
    void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) return SYSFAIL(err, "mmap %s", s->path);
    if (s->map) munmap(s->map, s->map_len);
    s->map = m;
    s->map_len = size;
    return WAL_OK;
}

static void encode_header(uint8_t *h, uint64_t id, uint64_t base) {
    memset(h, 0, WAL_HEADER_SIZE);
    memcpy(h, SEG_MAGIC, 4);
    h[4] = SEG_VERSION;
    put64(h + 8, id);
    put64(h + 16, base);
    put32(h + 28, crc32c_extend(0, h, 28));
}

static uint32_t header_seed(const segment *s) { return get32(s->map + 28); }

static int check_header(const segment *s, wal_error *err) {
    const uint8_t *h = s->map;
    if (memcmp(h, SEG_MAGIC, 4) != 0 || h[4] != SEG_VERSION)
        return fail(err, WAL_ECORRUPT, 0, "%s at offset 0: bad segment magic or version", s->path);
    if (crc32c_extend(0, h, 28) != get32(h + 28))
        return fail(err, WAL_ECORRUPT, 0, "%s at offset 28: segment header checksum mismatch", s->path);
    if (get64(h + 8) != s->d.id || get64(h + 16) != s->d.base)
        return fail(err, WAL_ECORRUPT, 0, "%s at offset 8: segment header names another segment", s->path);
    return WAL_OK;
}

/* Looks for any valid commit frame in [from, size): one after a damaged batch proves the damage is not a torn
 * final write but corruption of acknowledged data. */
static int later_commit_exists(const segment *s, uint64_t from, uint32_t seed) {
    const uint8_t *m = s->map;
    for (uint64_t p = pad8(from); p + WAL_COMMIT_SIZE <= s->map_len; p += 8)
        if (m[p] == WAL_COMMIT_FRAME && m[p + 1] == 'C' && commit_valid(m, p, seed)) return 1;
    return 0;
}

static int push_offset(segment *s, uint32_t off) {
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        uint32_t *o = realloc(s->offsets, cap * sizeof *o);
        if (!o) return -1;
        s->offsets = o;
        s->cap = cap;
    }
    s->offsets[s->count++] = off;
    return 0;
}

/* Recovery of the tail: keeps every batch whose commit frame checks out, discards a torn or garbled final batch,
 * refuses damage followed by a valid batch. */
static int scan_tail(wal *w, segment *s, wal_error *err) {
    const uint8_t *m = s->map;
    uint64_t size = s->map_len, off = WAL_HEADER_SIZE;
    uint32_t seed = header_seed(s);
    for (;;) {
        uint64_t start = off;
        size_t n0 = s->count;
        int ok = 0;
        while (off + WAL_FRAME_HEADER <= size) {
            uint8_t type = m[off];
            uint64_t len = get32(m + off + 4);
            if (type == WAL_ENTRY_FRAME || type == WAL_INDEX_FRAME) {
                uint64_t total = WAL_FRAME_HEADER + pad8(len);
                if (off + total > size) break;
                if (type == WAL_ENTRY_FRAME) {
                    if (len < WAL_ENTRY_HEADER || get64(m + off + 8) != s->d.base + s->count) break;
                    if (push_offset(s, (uint32_t)off) != 0) return fail(err, WAL_ENOMEM, 0, "out of memory");
                }
                off += total;
            } else if (type == WAL_COMMIT_FRAME) {
                if (off + WAL_COMMIT_SIZE > size || get32(m + off + 8) != start ||
                    get32(m + off + 12) != s->count - n0 || !commit_valid(m, off, seed))
                    break;
                off += WAL_COMMIT_SIZE;
                ok = 1;
                break;
            } else {
                break;
            }
        }
        if (ok) continue;
        s->count = n0;
        if (later_commit_exists(s, start + 8, seed))
            return fail(err, WAL_ECORRUPT, 0, "%s at offset %llu: damaged batch followed by valid ones", s->path,
                        (unsigned long long)start);
        for (uint64_t p = start; p < size && p < off + WAL_FRAME_HEADER; p++)
            if (m[p]) {
                w->st.discarded_tail = off + WAL_FRAME_HEADER - start;
                break;
            }
        w->tail_off = start;
        return WAL_OK;
    }
}

static int load_sealed(segment *s, wal_error *err) {
    const uint8_t *m = s->map;
    uint64_t at = s->d.index_start;
    if (at + WAL_FRAME_HEADER > s->map_len || m[at] != WAL_INDEX_FRAME)
        return fail(err, WAL_ECORRUPT, 0, "%s at offset %llu: index frame missing", s->path, (unsigned long long)at);
    uint64_t len = get32(m + at + 4), commit = at + WAL_FRAME_HEADER + pad8(len);
    uint64_t count = len / 4;
    if (len % 4 || commit + WAL_COMMIT_SIZE > s->map_len || count < s->d.max - s->d.base + 1 ||
        get32(m + commit + 8) != at || get32(m + commit + 12) != 0 || !commit_valid(m, commit, header_seed(s)))
        return fail(err, WAL_ECORRUPT, 0, "%s at offset %llu: damaged index frame", s->path, (unsigned long long)at);
    s->le_offsets = m + at + WAL_FRAME_HEADER;
    s->count = count;
    return WAL_OK;
}

static int open_segment(wal *w, const seg_desc *d, segment **out, wal_error *err) {
    segment *s = calloc(1, sizeof *s);
    if (!s) return fail(err, WAL_ENOMEM, 0, "out of memory");
    s->d = *d;
    s->fd = -1;
    s->path = seg_path(w->dir, d->base, d->id);
    if (!s->path) {
        free(s);
        return fail(err, WAL_ENOMEM, 0, "out of memory");
    }
    int rc;
    int fd = open(s->path, (d->index_start ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        rc = errno == ENOENT ? fail(err, WAL_ECORRUPT, 0, "%s at offset 0: segment file missing", s->path)
                             : SYSFAIL(err, "open %s", s->path);
        seg_free(s);
        return rc;
    }
    rc = map_segment(s, fd, err);
    if (rc == WAL_OK) rc = check_header(s, err);
    if (rc == WAL_OK) rc = d->index_start ? load_sealed(s, err) : scan_tail(w, s, err);
    if (d->index_start || rc != WAL_OK)
        close(fd);
    else
        s->fd = fd;
    if (rc != WAL_OK) {
        seg_free(s);
        return rc;
    }
    *out = s;
    return WAL_OK;
}

/* Creates a new, empty tail segment starting at `base`, large enough for `need` bytes of frames, and registers it
 * in the metadata. Called with wmu held. */
static int create_tail(wal *w, uint64_t base, uint64_t need, wal_error *err) {
    seg_desc d = {w->next_id, base, base, 0, 0, w->o.segment_size};
    uint64_t size = WAL_HEADER_SIZE + need;
    if (size < w->o.segment_size) size = w->o.segment_size;
    if (size > WAL_MAX_SEGMENT_SIZE) return fail(err, WAL_EINVAL, 0, "batch of %llu bytes too large for a segment",
                                                 (unsigned long long)need);
    segment *s = calloc(1, sizeof *s);
    if (!s) return fail(err, WAL_ENOMEM, 0, "out of memory");
    s->d = d;
    s->fd = -1;
    s->path = seg_path(w->dir, base, d.id);
    if (!s->path) {
        free(s);
        return fail(err, WAL_ENOMEM, 0, "out of memory");
    }
    int rc = WAL_OK;
    if (take_spare(w, s->path)) {
        w->st.spares_used++;
        s->fd = open(s->path, O_RDWR | O_CLOEXEC);
        if (s->fd < 0) rc = SYSFAIL(err, "open %s", s->path);
    } else {
        s->fd = open(s->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (s->fd < 0)
            rc = SYSFAIL(err, "create %s", s->path);
        else if (zero_fill(s->fd, w->o.segment_size, NULL) != 0)
            rc = SYSFAIL(err, "preallocate %s", s->path);
    }
    uint8_t h[WAL_HEADER_SIZE];
    encode_header(h, d.id, base);
    if (rc == WAL_OK && size > w->o.segment_size && ftruncate(s->fd, (off_t)size) != 0)
        rc = SYSFAIL(err, "extend %s", s->path);
    if (rc == WAL_OK && (pwrite_all(s->fd, h, WAL_HEADER_SIZE, 0) != 0 || sync_fd(w, s->fd) != 0))
        rc = SYSFAIL(err, "write %s", s->path);
    if (rc == WAL_OK) rc = sync_dir(w, err);
    if (rc == WAL_OK) rc = map_segment(s, s->fd, err);
    seg_desc *descs = NULL;
    segment **segs = NULL;
    if (rc == WAL_OK) {
        descs = current_descs(w);
        /* A new array, swapped in under the write lock: readers may be walking the old one right now. */
        segs = malloc((w->nseg + 1) * sizeof *segs);
        if (!descs || !segs) rc = fail(err, WAL_ENOMEM, 0, "out of memory");
    }
    int meta_attempted = 0;
    if (rc == WAL_OK) {
        descs[w->nseg] = d;
        meta_attempted = 1;
        rc = write_meta(w, descs, w->nseg + 1, w->next_id + 1, w->kv, w->nkv, err);
    }
    free(descs);
    if (rc != WAL_OK) {
        /* Before the metadata update the file is not part of the log: remove it. After a failed update, whichever
         * metadata is on disk decides at the next open (an unlisted file is removed then): leave it, stop writing. */
        if (!meta_attempted && s->fd >= 0) unlink(s->path);
        seg_free(s);
        free(segs);
        w->failed = 1;
        return rc;
    }
    if (w->nseg) memcpy(segs, w->segs, w->nseg * sizeof *segs);
    segs[w->nseg] = s;
    pthread_rwlock_wrlock(&w->lock);
    segment **old = w->segs;
    w->segs = segs;
    w->nseg++;
    w->next_id++;
    pthread_rwlock_unlock(&w->lock);
    free(old);
    w->tail_off = WAL_HEADER_SIZE;
    want_spare(w);
    return WAL_OK;
}

/* Writes the tail's index frame (and its commit) and syncs it; the caller updates the metadata. */
static int write_index(wal *w, segment *s, uint64_t *at_out, wal_error *err) {
    uint64_t len = 4 * s->count, total = WAL_FRAME_HEADER + pad8(len) + WAL_COMMIT_SIZE;
    uint8_t *b = calloc(1, total);
    if (!b) return fail(err, WAL_ENOMEM, 0, "out of memory");
    b[0] = WAL_INDEX_FRAME;
    put32(b + 4, (uint32_t)len);
    for (size_t i = 0; i < s->count; i++) put32(b + WAL_FRAME_HEADER + 4 * i, s->offsets[i]);
    uint64_t at = w->tail_off;
    encode_commit(b + total - WAL_COMMIT_SIZE, b, total - WAL_COMMIT_SIZE, header_seed(s), at, 0);
    int rc = WAL_OK;
    if (pwrite_all(s->fd, b, total, at) != 0 || sync_fd(w, s->fd) != 0) {
        rc = SYSFAIL(err, "write index frame of %s", s->path);
        w->failed = 1;
    }
    free(b);
    if (rc == WAL_OK) {
        *at_out = at;
        w->tail_off = at + total;
    }
    return rc;
}

/* Publishes a segment as sealed (index frame at `at`, last index `max`) and closes its write descriptor. */
static void seal(wal *w, segment *s, uint64_t at, uint64_t max) {
    pthread_rwlock_wrlock(&w->lock);
    s->d.index_start = at;
    s->d.max = max;
    pthread_rwlock_unlock(&w->lock);
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
}

/* ------------------------------------------------------------------------------------------------ open / close */

void wal_default_options(wal_options *o) {
    o->segment_size = 64u << 20;
    o->sync = 1;
    o->background_prealloc = 1;
}

static int parse_seg_name(const char *name, uint64_t *base, uint64_t *id) {
    unsigned long long b, i;
    char tail[8];
    if (strlen(name) != 41 || sscanf(name, "%20llu-%16llx%4s", &b, &i, tail) != 3 || strcmp(tail, ".wal") != 0)
        return 0;
    *base = b;
    *id = i;
    return 1;
}

static int remove_strays(wal *w, const seg_desc *d, size_t n, int *spare_present, wal_error *err) {
    DIR *dir = fdopendir(dup(w->dirfd));
    if (!dir) return SYSFAIL(err, "list %s", w->dir);
    struct dirent *e;
    int removed = 0;
    while ((e = readdir(dir)) != NULL) {
        uint64_t base, id;
        if (strcmp(e->d_name, SPARE_TMP) == 0 || strcmp(e->d_name, META_TMP) == 0) {
            unlinkat(w->dirfd, e->d_name, 0);
            removed = 1;
        } else if (strcmp(e->d_name, SPARE_NAME) == 0) {
            struct stat stt;
            if (fstatat(w->dirfd, SPARE_NAME, &stt, 0) == 0 && (uint64_t)stt.st_size == w->o.segment_size)
                *spare_present = 1;
            else
                unlinkat(w->dirfd, SPARE_NAME, 0); /* made for another segment size */
        } else if (parse_seg_name(e->d_name, &base, &id)) {
            int known = 0;
            for (size_t i = 0; i < n; i++) known |= d[i].id == id && d[i].base == base;
            /* Created by a rotation or truncation that crashed before its metadata update, or dropped by one that
             * crashed before unlinking: never part of the log. */
            if (!known) {
                unlinkat(w->dirfd, e->d_name, 0);
                removed = 1;
            }
        }
    }
    closedir(dir);
    return removed ? sync_dir(w, err) : WAL_OK;
}

static int any_segment_files(wal *w, int *found, wal_error *err) {
    DIR *dir = fdopendir(dup(w->dirfd));
    if (!dir) return SYSFAIL(err, "list %s", w->dir);
    struct dirent *e;
    uint64_t base, id;
    *found = 0;
    while ((e = readdir(dir)) != NULL) *found |= parse_seg_name(e->d_name, &base, &id);
    closedir(dir);
    return WAL_OK;
}

int wal_open(const char *dirname, const wal_options *opts, wal **out, wal_error *err) {
    if (err) err->code = WAL_OK;
    wal_options o;
    if (opts)
        o = *opts;
    else
        wal_default_options(&o);
    if (o.segment_size < WAL_MIN_SEGMENT_SIZE || o.segment_size > WAL_MAX_SEGMENT_SIZE)
        return fail(err, WAL_EINVAL, 0, "segment size %llu out of range", (unsigned long long)o.segment_size);
    o.segment_size = pad8(o.segment_size);
    if (mkdir(dirname, 0755) != 0 && errno != EEXIST) return SYSFAIL(err, "mkdir %s", dirname);
    wal *w = calloc(1, sizeof *w);
    if (!w) return fail(err, WAL_ENOMEM, 0, "out of memory");
    w->o = o;
    w->dirfd = -1;
    w->dir = strdup(dirname);
    pthread_rwlock_init(&w->lock, NULL);
    pthread_mutex_init(&w->wmu, NULL);
    pthread_mutex_init(&w->smu, NULL);
    pthread_cond_init(&w->scv, NULL);
    int rc = WAL_OK;
    seg_desc *d = NULL;
    size_t n = 0;
    int exists = 0, spare = 0;
    if (!w->dir) {
        rc = fail(err, WAL_ENOMEM, 0, "out of memory");
        goto out;
    }
    w->dirfd = open(dirname, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        rc = SYSFAIL(err, "open %s", dirname);
        goto out;
    }
    if (flock(w->dirfd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK ? fail(err, WAL_ELOCKED, 0, "%s is in use by another WAL", dirname)
                                  : SYSFAIL(err, "lock %s", dirname);
        goto out;
    }
    w->next_id = 1;
    rc = read_meta(w, &d, &n, &exists, err);
    if (rc != WAL_OK) goto out;
    if (!exists) {
        int found = 0;
        rc = any_segment_files(w, &found, err);
        if (rc == WAL_OK && found)
            rc = fail(err, WAL_ECORRUPT, 0, "%s/%s at offset 0: metadata missing but segments present", dirname,
                      META_NAME);
        if (rc != WAL_OK) goto out;
        w->kv = calloc(1, sizeof *w->kv);
    }
    rc = remove_strays(w, d, n, &spare, err);
    if (rc != WAL_OK) goto out;
    w->segs = calloc(n + 1, sizeof *w->segs);
    if (!w->segs || !w->kv) {
        rc = fail(err, WAL_ENOMEM, 0, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        rc = open_segment(w, &d[i], &w->segs[i], err);
        if (rc != WAL_OK) goto out;
        w->nseg++;
    }
    if (n) {
        segment *t = w->segs[n - 1];
        if (!t->d.index_start && t->count && t->d.min > seg_last(t))
            rc = fail(err, WAL_ECORRUPT, 0, "%s at offset %llu: acknowledged entries up to %llu missing", t->path,
                      (unsigned long long)w->tail_off, (unsigned long long)t->d.min);
        if (rc != WAL_OK) goto out;
    }
    if (o.background_prealloc) {
        w->spare_ready = spare;
        if (pthread_create(&w->thr, NULL, spare_thread, w) == 0) w->thr_started = 1;
        if (n && !spare) want_spare(w);
    } else if (spare) {
        unlinkat(w->dirfd, SPARE_NAME, 0);
    }
out:
    free(d);
    if (rc != WAL_OK) {
        wal_close(w);
        return rc;
    }
    *out = w;
    return WAL_OK;
}

void wal_close(wal *w) {
    if (!w) return;
    if (w->thr_started) {
        pthread_mutex_lock(&w->smu);
        __atomic_store_n(&w->stop, 1, __ATOMIC_RELAXED);
        pthread_cond_broadcast(&w->scv);
        pthread_mutex_unlock(&w->smu);
        pthread_join(w->thr, NULL);
    }
    for (size_t i = 0; i < w->nseg; i++) seg_free(w->segs[i]);
    free(w->segs);
    for (size_t i = 0; i < w->nkv; i++) {
        free(w->kv[i].k);
        free(w->kv[i].v);
    }
    free(w->kv);
    free(w->buf);
    if (w->dirfd >= 0) close(w->dirfd); /* releases the flock */
    free(w->dir);
    pthread_rwlock_destroy(&w->lock);
    pthread_mutex_destroy(&w->wmu);
    pthread_mutex_destroy(&w->smu);
    pthread_cond_destroy(&w->scv);
    free(w);
}

/* ------------------------------------------------------------------------------------------------ reads */

/* Both called with the lock held (either mode). */
static int log_empty(const wal *w) {
    return w->nseg == 0 || (w->nseg == 1 && !w->segs[0]->d.index_start && w->segs[0]->d.min > seg_last(w->segs[0]));
}
static uint64_t first_locked(const wal *w) { return log_empty(w) ? 0 : w->segs[0]->d.min; }
static uint64_t last_locked(const wal *w) {
    if (log_empty(w)) return 0;
    const segment *t = w->segs[w->nseg - 1];
    if (!t->d.index_start && t->count == 0) return t->d.base - 1; /* a fresh tail after a rotation */
    return seg_last(t);
}

uint64_t wal_first_index(wal *w) {
    pthread_rwlock_rdlock(&w->lock);
    uint64_t v = first_locked(w);
    pthread_rwlock_unlock(&w->lock);
    return v;
}

uint64_t wal_last_index(wal *w) {
    pthread_rwlock_rdlock(&w->lock);
    uint64_t v = last_locked(w);
    pthread_rwlock_unlock(&w->lock);
    return v;
}

static const segment *find_segment(const wal *w, uint64_t index) {
    size_t lo = 0, hi = w->nseg;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (w->segs[mid]->d.base <= index)
            lo = mid;
        else
            hi = mid;
    }
    return w->nseg ? w->segs[lo] : NULL;
}

/* The entry frame of `index` (lock held, index within [first, last]). */
static int locate(const wal *w, uint64_t index, const segment **sp, const uint8_t **frame, size_t *avail,
                  wal_error *err) {
    const segment *s = find_segment(w, index);
    if (!s || index < s->d.min || index > seg_last(s) || index - s->d.base >= s->count)
        return fail(err, WAL_ENOTFOUND, 0, "log entry %llu not found", (unsigned long long)index);
    uint64_t off = seg_offset(s, index - s->d.base);
    uint64_t limit = s->d.index_start ? s->d.index_start : s->map_len;
    if (off < WAL_HEADER_SIZE || off >= limit)
        return fail(err, WAL_ECORRUPT, 0, "%s at offset %llu: index frame points outside the segment", s->path,
                    (unsigned long long)(s->d.index_start + WAL_FRAME_HEADER + 4 * (index - s->d.base)));
    *sp = s;
    *frame = s->map + off;
    *avail = (size_t)(limit - off);
    return WAL_OK;
}

static int decode_at(const segment *s, const uint8_t *frame, size_t avail, uint64_t index, wal_entry *e,
                     size_t *consumed, wal_error *err) {
    int rc = wal_decode_frame(frame, avail, e, consumed, err);
    uint64_t off = (uint64_t)(frame - s->map);
    if (rc != WAL_OK) {
        char why[WAL_ERRMSG_LEN];
        snprintf(why, sizeof why, "%s", err ? err->msg : "");
        return fail(err, WAL_ECORRUPT, 0, "%s at offset %llu: %s", s->path, (unsigned long long)off, why);
    }
    if (e->index != index)
        return fail(err, WAL_ECORRUPT, 0, "%s at offset %llu: entry %llu found where %llu belongs", s->path,
                    (unsigned long long)off, (unsigned long long)e->index, (unsigned long long)index);
    return WAL_OK;
}

int wal_get(wal *w, uint64_t index, wal_emit_fn emit, void *arg, wal_error *err) {
    pthread_rwlock_rdlock(&w->lock);
    const segment *s;
    const uint8_t *frame;
    size_t avail, used;
    wal_entry e;
    int rc;
    if (log_empty(w) || index < first_locked(w) || index > last_locked(w))
        rc = fail(err, WAL_ENOTFOUND, 0, "log entry %llu not found", (unsigned long long)index);
    else
        rc = locate(w, index, &s, &frame, &avail, err);
    if (rc == WAL_OK) rc = decode_at(s, frame, avail, index, &e, &used, err);
    if (rc == WAL_OK) rc = emit(arg, &e);
    pthread_rwlock_unlock(&w->lock);
    return rc;
}

int wal_read_frames(wal *w, uint64_t lo, uint64_t hi, size_t max_bytes, uint8_t **out, size_t *out_len,
                    uint64_t *out_next, wal_error *err) {
    *out = NULL;
    *out_len = 0;
    *out_next = lo;
    pthread_rwlock_rdlock(&w->lock);
    int rc = WAL_OK;
    uint64_t first = first_locked(w), last = last_locked(w);
    if (log_empty(w) || hi < first || lo > last || lo > hi) goto done;
    if (lo < first) rc = fail(err, WAL_ENOTFOUND, 0, "log entry %llu not found", (unsigned long long)lo);
    if (rc != WAL_OK) goto done;
    if (hi > last) hi = last;
    /* Pass 1: sizes from the frame headers (checked by decode in pass 2). */
    size_t total = 0;
    uint64_t end = lo;
    for (; end <= hi; end++) {
        const segment *s;
        const uint8_t *frame;
        size_t avail;
        rc = locate(w, end, &s, &frame, &avail, err);
        if (rc != WAL_OK) goto done;
        size_t sz = avail >= 8 ? WAL_FRAME_HEADER + pad8(get32(frame + 4)) : avail + 1;
        if (sz > avail) sz = avail; /* damaged: decode reports it */
        if (end > lo && total + sz > max_bytes) break;
        total += sz;
    }
    uint8_t *b = malloc(total ? total : 1);
    if (!b) {
        rc = fail(err, WAL_ENOMEM, 0, "out of memory");
        goto done;
    }
    size_t pos = 0;
    for (uint64_t i = lo; i < end; i++) {
        const segment *s;
        const uint8_t *frame;
        size_t avail, used;
        wal_entry e;
        rc = locate(w, i, &s, &frame, &avail, err);
        if (rc == WAL_OK) rc = decode_at(s, frame, avail, i, &e, &used, err);
        if (rc != WAL_OK || pos + used > total) {
            if (rc == WAL_OK) rc = fail(err, WAL_ECORRUPT, 0, "%s: frame size changed while reading", s->path);
            free(b);
            goto done;
        }
        memcpy(b + pos, frame, used);
        pos += used;
    }
    *out = b;
    *out_len = pos;
    *out_next = end;
done:
    pthread_rwlock_unlock(&w->lock);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ writes */

static int check_writable(wal *w, wal_error *err) {
    if (w->failed) return fail(err, WAL_EFAILED, 0, "an earlier write to %s failed: reopen the log", w->dir);
    return WAL_OK;
}

/* Drops everything; called with wmu held. */
static int drop_all(wal *w, wal_error *err);

/* Writes the batch already encoded in w->buf[0, len) (entry frames, room for the commit frame after them):
 * the entries' indexes start at `first` and number `count`; offsets[] are their frame offsets within the batch. */
static int commit_batch(wal *w, uint64_t first, size_t count, size_t len, const uint32_t *rel, wal_error *err) {
    int rc;
    uint64_t last;
    pthread_rwlock_rdlock(&w->lock);
    int empty = log_empty(w);
    last = last_locked(w);
    pthread_rwlock_unlock(&w->lock);
    if (first == 0) return fail(err, WAL_EINVAL, 0, "log index 0 is reserved");
    if (!empty && first != last + 1)
        return fail(err, WAL_EINDEX, 0, "log entry %llu does not follow the last index %llu",
                    (unsigned long long)first, (unsigned long long)last);
    if (empty && w->nseg) {
        /* Only an empty tail (e.g. a crash before its first batch): start over at `first`. */
        segment *t = w->segs[0];
        if (t->d.base != first || t->d.min != first) {
            rc = drop_all(w, err);
            if (rc != WAL_OK) return rc;
        }
    }
    uint64_t need = len + WAL_COMMIT_SIZE;
    segment *t = w->nseg ? w->segs[w->nseg - 1] : NULL;
    if (t && !t->d.index_start && t->count && w->tail_off + need > t->map_len) {
        /* Seal the full tail: index frame, then the new tail is registered with the sealed segment's new state. */
        uint64_t at_index;
        rc = write_index(w, t, &at_index, err);
        if (rc != WAL_OK) return rc;
        seal(w, t, at_index, t->d.base + t->count - 1);
        rc = create_tail(w, first, need, err);
        if (rc != WAL_OK) return rc;
    } else if (!t || t->d.index_start) {
        rc = create_tail(w, first, need, err);
        if (rc != WAL_OK) return rc;
    }
    t = w->segs[w->nseg - 1];
    uint64_t at = w->tail_off;
    int remap = 0;
    if (at + need > t->map_len) { /* an empty tail and a batch larger than the segment: grow the file */
        if (ftruncate(t->fd, (off_t)(at + need)) != 0) {
            w->failed = 1;
            return SYSFAIL(err, "extend %s", t->path);
        }
        remap = 1;
    }
    if (at + need > WAL_MAX_SEGMENT_SIZE) return fail(err, WAL_EINVAL, 0, "batch too large for one segment");
    encode_commit(w->buf + len, w->buf, len, header_seed(t), at, (uint32_t)count);
    if (t->count + count > t->cap) {
        size_t cap = t->cap ? t->cap : 1024;
        while (cap < t->count + count) cap *= 2;
        pthread_rwlock_wrlock(&w->lock);
        uint32_t *o = realloc(t->offsets, cap * sizeof *o);
        if (o) {
            t->offsets = o;
            t->cap = cap;
        }
        pthread_rwlock_unlock(&w->lock);
        if (!o) return fail(err, WAL_ENOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < count; i++) t->offsets[t->count + i] = (uint32_t)(at + rel[i]);
    /* The write and the sync run without the readers' lock: readers only see the batch once it is durable. */
    if (pwrite_all(t->fd, w->buf, need, at) != 0 || sync_fd(w, t->fd) != 0) {
        w->failed = 1;
        return SYSFAIL(err, "write to %s", t->path);
    }
    w->st.batches++;
    pthread_rwlock_wrlock(&w->lock);
    rc = remap ? map_segment(t, t->fd, err) : WAL_OK;
    if (rc == WAL_OK) t->count += count;
    pthread_rwlock_unlock(&w->lock);
    if (rc != WAL_OK) {
        w->failed = 1;
        return rc;
    }
    w->tail_off = at + need;
    return WAL_OK;
}

static int reserve(wal *w, size_t len, wal_error *err) {
    if (len <= w->bufcap) return WAL_OK;
    size_t cap = w->bufcap ? w->bufcap : 65536;
    while (cap < len) cap *= 2;
    uint8_t *b = realloc(w->buf, cap);
    if (!b) return fail(err, WAL_ENOMEM, 0, "out of memory");
    w->buf = b;
    w->bufcap = cap;
    return WAL_OK;
}

int wal_append(wal *w, const wal_entry *entries, size_t n, wal_error *err) {
    if (n == 0) return WAL_OK;
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (entries[i].data_len + entries[i].ext_len > WAL_MAX_PAYLOAD - WAL_ENTRY_HEADER)
            return fail(err, WAL_EINVAL, 0, "log entry %llu too large (%zu bytes)",
                        (unsigned long long)entries[i].index, entries[i].data_len + entries[i].ext_len);
        if (i && entries[i].index != entries[i - 1].index + 1)
            return fail(err, WAL_EINDEX, 0, "log entry %llu follows %llu in the batch",
                        (unsigned long long)entries[i].index, (unsigned long long)entries[i - 1].index);
        len += wal_frame_size(entries[i].data_len, entries[i].ext_len);
        if (len > WAL_MAX_SEGMENT_SIZE) return fail(err, WAL_EINVAL, 0, "batch too large for one segment");
    }
    pthread_mutex_lock(&w->wmu);
    int rc = check_writable(w, err);
    uint32_t *rel = NULL;
    if (rc == WAL_OK) rc = reserve(w, len + WAL_COMMIT_SIZE, err);
    if (rc == WAL_OK && !(rel = malloc(n * sizeof *rel))) rc = fail(err, WAL_ENOMEM, 0, "out of memory");
    if (rc == WAL_OK) {
        size_t pos = 0;
        for (size_t i = 0; i < n; i++) {
            rel[i] = (uint32_t)pos;
            pos += wal_frame_size(entries[i].data_len, entries[i].ext_len);
        }
        wal_encode_frames(w->buf, entries, n);
        rc = commit_batch(w, entries[0].index, n, len, rel, err);
    }
    free(rel);
    pthread_mutex_unlock(&w->wmu);
    return rc;
}

int wal_append_frames(wal *w, const uint8_t *frames, size_t len, wal_error *err) {
    if (len == 0) return WAL_OK;
    if (len > WAL_MAX_SEGMENT_SIZE) return fail(err, WAL_EINVAL, 0, "batch too large for one segment");
    /* Count and check the frames first. */
    size_t n = 0, pos = 0;
    uint64_t first = 0, prev = 0, gap_at = 0, gap_prev = 0;
    while (pos < len) {
        wal_entry e;
        size_t used = 0;
        memset(&e, 0, sizeof e);
        int rc = decode_frame(frames + pos, len - pos, &e, &used, 0, err);
        if (rc != WAL_OK) {
            char why[WAL_ERRMSG_LEN];
            snprintf(why, sizeof why, "%s", err ? err->msg : "");
            return fail(err, WAL_EINVAL, 0, "encoded batch at byte %zu: %s", pos, why);
        }
        if (n == 0)
            first = e.index;
        else if (e.index != prev + 1 && !gap_at)
            gap_at = e.index, gap_prev = prev;
        prev = e.index;
        pos += used;
        n++;
    }
    /* The frames' CRCs, three at a time (the structure is checked above, so the walk stays inside the buffer); a
     * damaged frame is reported as such even when the damage also broke the index sequence. frames is only read. */
    size_t bad = frame_crcs((uint8_t *)frames, len, 1);
    if (bad != len) return fail(err, WAL_EINVAL, 0, "encoded batch at byte %zu: entry frame checksum mismatch", bad);
    if (gap_at)
        return fail(err, WAL_EINDEX, 0, "log entry %llu follows %llu in the batch", (unsigned long long)gap_at,
                    (unsigned long long)gap_prev);
    pthread_mutex_lock(&w->wmu);
    int rc = check_writable(w, err);
    uint32_t *rel = NULL;
    if (rc == WAL_OK) rc = reserve(w, len + WAL_COMMIT_SIZE, err);
    if (rc == WAL_OK && !(rel = malloc(n * sizeof *rel))) rc = fail(err, WAL_ENOMEM, 0, "out of memory");
    if (rc == WAL_OK) {
        memcpy(w->buf, frames, len);
        pos = 0;
        for (size_t i = 0; i < n; i++) {
            rel[i] = (uint32_t)pos;
            pos += WAL_FRAME_HEADER + pad8(get32(w->buf + pos + 4));
        }
        rc = commit_batch(w, first, n, len, rel, err);
    }
    free(rel);
    pthread_mutex_unlock(&w->wmu);
    return rc;
}

/* Installs `keep` (segments [from, to) of the current list) under the write lock, then frees and unlinks the rest. */
static int install_range(wal *w, size_t from, size_t to, wal_error *err) {
    size_t old_n = w->nseg;
    segment **old = malloc((old_n + 1) * sizeof *old);
    if (!old) return fail(err, WAL_ENOMEM, 0, "out of memory"); /* metadata already written: caller marks failed */
    memcpy(old, w->segs, old_n * sizeof *old);
    pthread_rwlock_wrlock(&w->lock);
    memmove(w->segs, w->segs + from, (to - from) * sizeof *w->segs);
    w->nseg = to - from;
    pthread_rwlock_unlock(&w->lock);
    int removed = 0;
    for (size_t i = 0; i < old_n; i++) {
        if (i >= from && i < to) continue;
        unlink(old[i]->path);
        seg_free(old[i]);
        removed = 1;
    }
    free(old);
    return removed ? sync_dir(w, err) : WAL_OK;
}

static int drop_all(wal *w, wal_error *err) {
    int rc = write_meta(w, NULL, 0, w->next_id, w->kv, w->nkv, err);
    if (rc != WAL_OK) {
        w->failed = 1;
        return rc;
    }
    return install_range(w, 0, 0, err);
}

int wal_delete_range(wal *w, uint64_t lo, uint64_t hi, wal_error *err) {
    pthread_mutex_lock(&w->wmu);
    int rc = check_writable(w, err);
    if (rc != WAL_OK) goto out;
    pthread_rwlock_rdlock(&w->lock);
    int empty = log_empty(w);
    uint64_t first = first_locked(w), last = last_locked(w);
    pthread_rwlock_unlock(&w->lock);
    if (empty || lo > hi || hi < first || lo > last) goto out;
    if (lo <= first && hi >= last) {
        rc = drop_all(w, err);
        goto out;
    }
    seg_desc *d = current_descs(w);
    if (!d) {
        rc = fail(err, WAL_ENOMEM, 0, "out of memory");
        goto out;
    }
    if (lo <= first) {
        /* Head: drop whole segments below hi + 1, move the first kept segment's min. Nothing is rewritten. */
        uint64_t new_first = hi + 1;
        size_t k = 0;
        while (k < w->nseg && seg_last(w->segs[k]) < new_first && w->segs[k]->d.index_start) k++;
        d[k].min = new_first;
        rc = write_meta(w, d + k, w->nseg - k, w->next_id, w->kv, w->nkv, err);
        if (rc == WAL_OK) {
            pthread_rwlock_wrlock(&w->lock);
            w->segs[k]->d.min = new_first;
            pthread_rwlock_unlock(&w->lock);
            rc = install_range(w, k, w->nseg, err);
        }
    } else if (hi >= last) {
        /* Tail (Raft's conflict case): seal the segment holding lo - 1 at lo - 1, drop the later ones; the next
         * append starts a new segment, so no byte of earlier data is rewritten. */
        uint64_t keep = lo - 1;
        size_t k = 0;
        while (k + 1 < w->nseg && w->segs[k + 1]->d.base <= keep) k++;
        segment *s = w->segs[k];
        if (!s->d.index_start) rc = write_index(w, s, &d[k].index_start, err);
        d[k].max = keep;
        if (rc == WAL_OK) rc = write_meta(w, d, k + 1, w->next_id, w->kv, w->nkv, err);
        if (rc == WAL_OK) {
            seal(w, s, d[k].index_start, keep);
            rc = install_range(w, 0, k + 1, err);
        }
    } else {
        rc = fail(err, WAL_EINDEX, 0, "cannot delete %llu..%llu from the middle of the log %llu..%llu",
                  (unsigned long long)lo, (unsigned long long)hi, (unsigned long long)first,
                  (unsigned long long)last);
        free(d);
        goto out;
    }
    free(d);
    if (rc != WAL_OK) w->failed = 1;
out:
    pthread_mutex_unlock(&w->wmu);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ stable store */

int wal_stable_set(wal *w, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, wal_error *err) {
    if (klen > (1u << 20) || vlen > (1u << 24))
        return fail(err, WAL_EINVAL, 0, "stable-store key or value too large");
    pthread_mutex_lock(&w->wmu);
    int rc = check_writable(w, err);
    kv_pair *kv = NULL;
    uint8_t *k = NULL, *v = NULL;
    if (rc == WAL_OK) {
        kv = malloc((w->nkv + 1) * sizeof *kv);
        k = malloc(klen + 1);
        v = malloc(vlen + 1);
        if (!kv || !k || !v) rc = fail(err, WAL_ENOMEM, 0, "out of memory");
    }
    size_t n = w->nkv, at = n;
    if (rc == WAL_OK) {
        memcpy(kv, w->kv, n * sizeof *kv);
        memcpy(k, key, klen);
        memcpy(v, val, vlen);
        for (size_t i = 0; i < n; i++)
            if (kv[i].kl == klen && memcmp(kv[i].k, key, klen) == 0) at = i;
        kv[at] = (kv_pair){k, v, klen, vlen};
    }
    if (rc == WAL_OK) {
        seg_desc *d = current_descs(w);
        rc = d ? write_meta(w, d, w->nseg, w->next_id, kv, at == n ? n + 1 : n, err)
               : fail(err, WAL_ENOMEM, 0, "out of memory");
        free(d);
    }
    if (rc == WAL_OK) {
        kv_pair *old = w->kv;
        uint8_t *oldk = at < n ? old[at].k : NULL, *oldv = at < n ? old[at].v : NULL;
        pthread_rwlock_wrlock(&w->lock);
        w->kv = kv;
        w->nkv = at == n ? n + 1 : n;
        pthread_rwlock_unlock(&w->lock);
        free(old);
        free(oldk);
        free(oldv);
    } else {
        free(kv);
        free(k);
        free(v);
    }
    pthread_mutex_unlock(&w->wmu);
    return rc;
}

int wal_stable_get(wal *w, const uint8_t *key, size_t klen, uint8_t **out, size_t *out_len, wal_error *err) {
    *out = NULL;
    *out_len = 0;
    int rc = WAL_ENOTFOUND;
    pthread_rwlock_rdlock(&w->lock);
    for (size_t i = 0; i < w->nkv; i++) {
        if (w->kv[i].kl == klen && memcmp(w->kv[i].k, key, klen) == 0) {
            *out = malloc(w->kv[i].vl + 1);
            if (!*out) {
                rc = fail(err, WAL_ENOMEM, 0, "out of memory");
            } else {
                memcpy(*out, w->kv[i].v, w->kv[i].vl);
                *out_len = w->kv[i].vl;
                rc = WAL_OK;
            }
            break;
        }
    }
    pthread_rwlock_unlock(&w->lock);
    return rc;
}

void wal_get_stats(wal *w, wal_stats *out) {
    pthread_rwlock_rdlock(&w->lock);
    *out = w->st;
    out->segments = w->nseg;
    pthread_rwlock_unlock(&w->lock);
    pthread_mutex_lock(&w->smu);
    out->spare_ready = (uint64_t)w->spare_ready;
    pthread_mutex_unlock(&w->smu);
}

/* Segmented write-ahead log for Raft entries (after hashicorp/raft-wal), plus the stable store kept beside it.
 *
 * Directory layout:
 *   wal-meta                 metadata: segment list and stable-store values; replaced atomically
 *                            (write wal-meta.tmp, fdatasync, rename, fsync the directory)
 *   <base:020>-<id:016x>.wal segments, preallocated (zero-filled) to segment_size; a batch never spans two
 *   spare.seg                a zero-filled segment prepared in the background for the next rotation
 *
 * Segment: a 32-byte header, then frames, each 8-byte aligned:
 *   header  "RSWL", version 1, 3 zero bytes, segment id u64, base index u64, 4 zero bytes, crc32c(header[0:28])
 *   entry   [1][log type][0 0][payload length u32] payload: index u64, term u64, appended_at f64, ext_len u32,
 *           crc u32 (over the frame header, payload[0:28] and payload[32:]), extensions, data; zero padding
 *   commit  [3]"CMT"[crc u32][batch start offset u32][frame count u32]: the CRC, seeded with the header's CRC,
 *           covers every byte from the batch start to the commit frame, then the commit frame's last 8 bytes
 *   index   [2][0 0 0][4 * count u32] the file offset of each entry frame, then its own commit frame; written
 *           when a segment is sealed
 * All integers are little-endian. One batch = its frames + one commit frame, written with one pwrite and made
 * durable with one fdatasync.
 *
 * Concurrency: one writer at a time (appends, truncations and stable-store sets serialise on a mutex); any number of
 * readers. The writer writes and syncs without holding the lock readers take, and publishes the new last index only
 * after the batch is durable, so readers never wait for an fsync. */
#ifndef RAFTSTORE_WAL_H
#define RAFTSTORE_WAL_H

#include <stddef.h>
#include <stdint.h>

enum {
    WAL_OK = 0,
    WAL_EIO = 1,        /* an operating-system call failed (errno in wal_error.sys_errno) */
    WAL_ECORRUPT = 2,   /* a damaged file: the message names the file and the offset */
    WAL_EINDEX = 3,     /* a gap or a rewind in the appended indexes, or a truncation in the middle of the log */
    WAL_ENOTFOUND = 4,  /* no entry at that index */
    WAL_EINVAL = 5,     /* a bad argument (an oversized entry, a malformed encoded frame, index 0) */
    WAL_ENOMEM = 6,
    WAL_EFAILED = 7,    /* an earlier write or sync failed: the log refuses writes until it is reopened */
    WAL_ELOCKED = 8,    /* another WAL holds the directory */
};

#define WAL_ERRMSG_LEN 400
typedef struct {
    int code;
    int sys_errno;
    char msg[WAL_ERRMSG_LEN];
} wal_error;

#define WAL_ENTRY_FRAME 1
#define WAL_INDEX_FRAME 2
#define WAL_COMMIT_FRAME 3
#define WAL_HEADER_SIZE 32
#define WAL_FRAME_HEADER 8
#define WAL_ENTRY_HEADER 32 /* the fixed part of an entry payload */
#define WAL_COMMIT_SIZE 16
#define WAL_MAX_PAYLOAD (1u << 30) /* extensions + data of one entry, at most 1 GiB - 32 */
#define WAL_MAX_SEGMENT_SIZE (1ull << 32)
#define WAL_MIN_SEGMENT_SIZE (64u << 10)

typedef struct {
    uint64_t segment_size; /* the preallocated size of a new segment (a batch larger than that gets its own) */
    int sync;              /* 0: no fdatasync at all (UNSAFE: for tests and benchmarks only) */
    int background_prealloc; /* 1: a helper thread zero-fills the next segment ahead of time */
} wal_options;

/* One entry to append (the pointers are only read during the call). */
typedef struct {
    uint64_t index, term;
    double appended_at;
    uint8_t type;
    const uint8_t *data;
    size_t data_len;
    const uint8_t *ext;
    size_t ext_len;
} wal_entry;

typedef struct wal wal;

void wal_default_options(wal_options *opts);
int wal_open(const char *dir, const wal_options *opts, wal **out, wal_error *err);
/* Closes the files and frees everything; no call may be running on other threads. */
void wal_close(wal *w);

uint64_t wal_first_index(wal *w); /* 0 when empty */
uint64_t wal_last_index(wal *w);  /* 0 when empty */

/* Appends a batch (one commit, one fdatasync). The first index must be last_index + 1 (any index >= 1 when the
 * log is empty) and the indexes consecutive. */
int wal_append(wal *w, const wal_entry *entries, size_t n, wal_error *err);
/* The same with entries already encoded as entry frames (wal_encode_frame / wal_read_frames): each frame's CRC and
 * index are checked, then the bytes are written as they are ("encode once"). */
int wal_append_frames(wal *w, const uint8_t *frames, size_t len, wal_error *err);

/* Entry `index` copied out by callback: `emit` gets pointers valid only during the call (made while a read lock is
 * held, so `emit` must not call back into this WAL). Its return value is returned (WAL_OK on success). */
typedef int (*wal_emit_fn)(void *arg, const wal_entry *entry);
int wal_get(wal *w, uint64_t index, wal_emit_fn emit, void *arg, wal_error *err);

/* Entry frames lo..hi (inclusive, clamped to the log) copied into one malloc'd buffer, stopping before the buffer
 * would pass max_bytes (at least one frame is always copied). *out_next is the first index not copied. Each frame is
 * checked (CRC and index) before it is copied. The caller frees *out. */
int wal_read_frames(wal *w, uint64_t lo, uint64_t hi, size_t max_bytes, uint8_t **out, size_t *out_len,
                    uint64_t *out_next, wal_error *err);

/* Deletes lo..hi inclusive: a prefix (head truncation: whole segments dropped, metadata updated), a suffix (tail
 * truncation: the segment holding lo - 1 is sealed, later ones dropped) or everything. Ranges that miss the log
 * are no-ops; a hole in the middle is WAL_EINDEX. */
int wal_delete_range(wal *w, uint64_t lo, uint64_t hi, wal_error *err);

/* Stable store: each set rewrites the metadata atomically (durable on return). get copies the value into a
 * malloc'd buffer (*out NULL and WAL_ENOTFOUND when the key is absent). */
int wal_stable_set(wal *w, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, wal_error *err);
int wal_stable_get(wal *w, const uint8_t *key, size_t klen, uint8_t **out, size_t *out_len, wal_error *err);

/* Frame codec, shared with the binding. */
size_t wal_frame_size(size_t data_len, size_t ext_len);
/* Writes one entry frame (wal_frame_size bytes, padding included) at dst. */
void wal_encode_frame(uint8_t *dst, const wal_entry *e);

/* The n entries as consecutive frames at dst (sum of their wal_frame_size() bytes): the same bytes as
 * wal_encode_frame() entry by entry, with the checksums computed three frames at a time. */
void wal_encode_frames(uint8_t *dst, const wal_entry *entries, size_t n);
/* Parses and checks the entry frame at buf (len bytes available): *consumed is its padded size. The entry's
 * pointers point into buf. */
int wal_decode_frame(const uint8_t *buf, size_t len, wal_entry *e, size_t *consumed, wal_error *err);

/* Counters for tests and stats. */
typedef struct {
    uint64_t segments;       /* segments in the log */
    uint64_t batches;        /* batches appended since open */
    uint64_t syncs;          /* fdatasync calls since open (files and directory) */
    uint64_t spares_used;    /* rotations that took a prepared spare segment */
    uint64_t discarded_tail; /* bytes of a torn final batch discarded at open */
    uint64_t spare_ready;    /* 1 while a preallocated segment waits for the next rotation */
} wal_stats;
void wal_get_stats(wal *w, wal_stats *out);

#endif

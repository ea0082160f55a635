/* See kvset.h for the contract. Every reader checks its bounds before it reads; a failed check means "not the fast
 * form" (return 0), never an out-of-bounds read. */
#include "kvset.h"

#include <string.h>

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} reader;

static int need(const reader *r, size_t n) { return (size_t)(r->end - r->p) >= n; }

static uint64_t be(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* Reads an n-byte big-endian length or value after the current type byte (already consumed). */
static int read_be(reader *r, int n, uint64_t *out) {
    if (!need(r, (size_t)n)) return 0;
    *out = be(r->p, n);
    r->p += n;
    return 1;
}

/* Consumes `n` payload bytes, reporting where they start. */
static int take(reader *r, uint64_t n, const uint8_t **start) {
    if ((uint64_t)(r->end - r->p) < n) return 0;
    *start = r->p;
    r->p += n;
    return 1;
}

/* A raw string (fixstr, str8/16/32): what Go's codec writes for strings and byte slices in the old spec. On
 * failure (not a raw string, or a truncated one) nothing is consumed. */
static int read_raw(reader *r, const uint8_t **s, size_t *len) {
    const uint8_t *at = r->p;
    if (!need(r, 1)) return 0;
    uint8_t b = *r->p;
    uint64_t n;
    if ((b & 0xe0) == 0xa0) {
        r->p++;
        n = b & 0x1f;
    } else if (b >= 0xd9 && b <= 0xdb) {
        r->p++;
        if (!read_be(r, 1 << (b - 0xd9), &n)) goto fail;
    } else {
        return 0;
    }
    if (!take(r, n, s)) goto fail;
    *len = (size_t)n;
    return 1;
fail:
    r->p = at;
    return 0;
}

/* A bin (bin8/16/32), which msgpack decodes to bytes: from_record takes it for Value. Consumes nothing on failure. */
static int read_bin(reader *r, const uint8_t **s, size_t *len) {
    const uint8_t *at = r->p;
    if (!need(r, 1)) return 0;
    uint8_t b = *r->p;
    uint64_t n;
    if (b < 0xc4 || b > 0xc6) return 0;
    r->p++;
    if (read_be(r, 1 << (b - 0xc4), &n) && take(r, n, s)) {
        *len = (size_t)n;
        return 1;
    }
    r->p = at;
    return 0;
}

static int read_nil(reader *r) {
    if (need(r, 1) && *r->p == 0xc0) {
        r->p++;
        return 1;
    }
    return 0;
}

/* An unsigned integer (positive fixint, uint8..uint64) or nil (0), as from_record's uint fields take them. Signed
 * encodings of non-negative values are valid too, but rare: they take the general path. */
static int read_uint(reader *r, uint64_t *out) {
    if (!need(r, 1)) return 0;
    uint8_t b = *r->p;
    if (b <= 0x7f) {
        r->p++;
        *out = b;
        return 1;
    }
    if (b == 0xc0) {
        r->p++;
        *out = 0;
        return 1;
    }
    if (b >= 0xcc && b <= 0xcf) {
        r->p++;
        return read_be(r, 1 << (b - 0xcc), out);
    }
    return 0;
}

/* A map header: the number of pairs, or -1 when the next object is not a map. */
static int64_t read_map(reader *r) {
    if (!need(r, 1)) return -1;
    uint8_t b = *r->p;
    uint64_t n;
    if ((b & 0xf0) == 0x80) {
        r->p++;
        return b & 0x0f;
    }
    if (b == 0xde || b == 0xdf) {
        r->p++;
        if (!read_be(r, b == 0xde ? 2 : 4, &n)) return -1;
        return (int64_t)n;
    }
    return -1;
}

static int skip(reader *r, int depth);

/* A map key: any scalar msgpack would decode to a hashable value; a map or array key makes msgpack fail. */
static int skip_key(reader *r, int depth) {
    if (!need(r, 1)) return 0;
    uint8_t b = *r->p;
    if ((b & 0xf0) == 0x80 || (b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd || b == 0xde || b == 0xdf) return 0;
    return skip(r, depth);
}

static int skip_pairs(reader *r, uint64_t pairs, int depth) {
    for (uint64_t i = 0; i < pairs; i++)
        if (!skip_key(r, depth) || !skip(r, depth)) return 0;
    return 1;
}

/* Skips one complete object. Ext types (and the reserved byte 0xc1) are refused: msgpack gives them meanings
 * (timestamps) with their own validity rules that this reader does not repeat. */
static int skip(reader *r, int depth) {
    if (depth > KV_MAX_DEPTH || !need(r, 1)) return 0;
    uint8_t b = *r->p++;
    uint64_t n;
    const uint8_t *ignored;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) return 1;
    if ((b & 0xe0) == 0xa0) return take(r, b & 0x1f, &ignored);
    if ((b & 0xf0) == 0x80) return skip_pairs(r, b & 0x0f, depth + 1);
    if ((b & 0xf0) == 0x90) {
        for (int i = 0; i < (b & 0x0f); i++)
            if (!skip(r, depth + 1)) return 0;
        return 1;
    }
    switch (b) {
    case 0xc4: case 0xc5: case 0xc6: /* bin */
        return read_be(r, 1 << (b - 0xc4), &n) && take(r, n, &ignored);
    case 0xd9: case 0xda: case 0xdb: /* str */
        return read_be(r, 1 << (b - 0xd9), &n) && take(r, n, &ignored);
    case 0xca: return take(r, 4, &ignored);
    case 0xcb: return take(r, 8, &ignored);
    case 0xcc: case 0xcd: case 0xce: case 0xcf: return take(r, 1u << (b - 0xcc), &ignored);
    case 0xd0: case 0xd1: case 0xd2: case 0xd3: return take(r, 1u << (b - 0xd0), &ignored);
    case 0xdc: case 0xdd:
        if (!read_be(r, b == 0xdc ? 2 : 4, &n)) return 0;
        for (uint64_t i = 0; i < n; i++)
            if (!skip(r, depth + 1)) return 0;
        return 1;
    case 0xde: case 0xdf:
        if (!read_be(r, b == 0xde ? 2 : 4, &n)) return 0;
        return skip_pairs(r, n, depth + 1);
    default: /* 0xc1 (never used), ext 0xc7-0xc9 and fixext 0xd4-0xd8 */
        return 0;
    }
}

static int is_name(const uint8_t *s, size_t len, const char *name) {
    size_t n = strlen(name);
    return len == n && memcmp(s, name, n) == 0;
}

/* A string field that may also be nil (from_record's _string): Key, Session. */
static int read_string_or_nil(reader *r, const uint8_t **s, size_t *len) {
    if (read_nil(r)) {
        *s = NULL;
        *len = 0;
        return 1;
    }
    return read_raw(r, s, len);
}

/* The DirEnt map: the fields of a DirEntry, each of the type from_record takes; other keys are skipped. The
 * command's own CreateIndex/ModifyIndex/Session are overwritten by a set, but their types are still checked. */
static int read_dirent(reader *r, kv_set_cmd *out) {
    int64_t pairs = read_map(r);
    if (pairs < 0) return 0;
    memset(out, 0, sizeof *out);
    for (int64_t i = 0; i < pairs; i++) {
        const uint8_t *name, *s;
        size_t name_len, len;
        uint64_t ignored;
        if (!read_raw(r, &name, &name_len)) {
            if (!skip_key(r, 2) || !skip(r, 2)) return 0;
            continue;
        }
        if (is_name(name, name_len, "Key")) {
            if (!read_string_or_nil(r, &s, &len)) return 0;
            out->key = s;
            out->key_len = len;
        } else if (is_name(name, name_len, "Value")) {
            if (read_nil(r)) {
                out->value = NULL;
                out->value_len = 0;
            } else if (read_raw(r, &s, &len) || read_bin(r, &s, &len)) {
                out->value = s;
                out->value_len = len;
            } else {
                return 0;
            }
        } else if (is_name(name, name_len, "Flags")) {
            if (!read_uint(r, &out->flags)) return 0;
        } else if (is_name(name, name_len, "LockIndex")) {
            if (!read_uint(r, &out->lock_index)) return 0;
        } else if (is_name(name, name_len, "CreateIndex") || is_name(name, name_len, "ModifyIndex")) {
            if (!read_uint(r, &ignored)) return 0;
        } else if (is_name(name, name_len, "Session")) {
            if (!read_string_or_nil(r, &s, &len)) return 0;
        } else if (!skip(r, 2)) {
            return 0;
        }
    }
    return 1;
}

int kv_parse_set(const uint8_t *body, size_t length, kv_set_cmd *out) {
    reader r = {body, body + length};
    int64_t pairs = read_map(&r);
    int op_is_set = 0, have_dirent = 0;
    if (pairs < 0) return 0;
    for (int64_t i = 0; i < pairs; i++) {
        const uint8_t *name, *s;
        size_t name_len, len;
        if (!read_raw(&r, &name, &name_len)) {
            if (!skip_key(&r, 1) || !skip(&r, 1)) return 0;
            continue;
        }
        if (is_name(name, name_len, "Op")) {
            if (!read_raw(&r, &s, &len)) return 0;
            op_is_set = is_name(s, len, "set");
        } else if (is_name(name, name_len, "DirEnt")) {
            if (!read_dirent(&r, out)) return 0;
            have_dirent = 1;
        } else if (!skip(&r, 1)) {
            return 0;
        }
    }
    return op_is_set && have_dirent && r.p == r.end;
}

# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, embedsignature=True
"""The C segmented WAL (csrc/wal.c) as a log store and stable store: `WALCore`, subclassed by `WALStore`.

Every call that writes or syncs runs with the GIL released (the batch is first gathered into a C array while the
entries' bytes objects are kept alive), and so does the copy of a range of entries (`get_logs`); a single `get_log`
copies one entry out of the memory-mapped segment with the GIL held (cheaper than releasing it). The C side never
holds the readers' lock during an fsync, so readers in other threads never wait for a sync.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Calloc, PyMem_Free, PyMem_Malloc
from cpython.ref cimport Py_INCREF, Py_XDECREF, PyObject
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free

from raftstore.logstore.errors import (
    CorruptionError,
    InvalidEntryError,
    LogNotFoundError,
    LogStoreError,
    LogStoreIOError,
    NonContiguousError,
    StoreClosedError,
    StoreFailedError,
    StoreLockedError,
)
from raftstore.logstore.log import Log, LogType

cdef extern from "wal.h" nogil:
    ctypedef struct wal:
        pass
    ctypedef struct wal_error:
        int code
        int sys_errno
        char msg[400]
    ctypedef struct wal_options:
        uint64_t segment_size
        int sync
        int background_prealloc
    ctypedef struct wal_entry:
        uint64_t index
        uint64_t term
        double appended_at
        uint8_t type
        const uint8_t *data
        size_t data_len
        const uint8_t *ext
        size_t ext_len
    ctypedef struct wal_stats:
        uint64_t segments
        uint64_t batches
        uint64_t syncs
        uint64_t spares_used
        uint64_t discarded_tail
        uint64_t spare_ready

    int WAL_OK, WAL_EIO, WAL_ECORRUPT, WAL_EINDEX, WAL_ENOTFOUND, WAL_EINVAL, WAL_ENOMEM, WAL_EFAILED, WAL_ELOCKED

    void wal_default_options(wal_options *opts)
    int wal_open(const char *dir, const wal_options *opts, wal **out, wal_error *err)
    void wal_close(wal *w)
    uint64_t wal_first_index(wal *w)
    uint64_t wal_last_index(wal *w)
    int wal_append(wal *w, const wal_entry *entries, size_t n, wal_error *err)
    int wal_append_frames(wal *w, const uint8_t *frames, size_t len, wal_error *err)
    int wal_read_frames(wal *w, uint64_t lo, uint64_t hi, size_t max_bytes, uint8_t **out, size_t *out_len,
                        uint64_t *out_next, wal_error *err)
    int wal_delete_range(wal *w, uint64_t lo, uint64_t hi, wal_error *err)
    int wal_stable_set(wal *w, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen, wal_error *err)
    int wal_stable_get(wal *w, const uint8_t *key, size_t klen, uint8_t **out, size_t *out_len, wal_error *err)
    size_t wal_frame_size(size_t data_len, size_t ext_len)
    void wal_encode_frame(uint8_t *dst, const wal_entry *e)
    void wal_encode_frames(uint8_t *dst, const wal_entry *entries, size_t n)
    int wal_decode_frame(const uint8_t *buf, size_t len, wal_entry *e, size_t *consumed, wal_error *err)
    void wal_get_stats(wal *w, wal_stats *out)

cdef extern from "crc32c.h" nogil:
    uint32_t crc32c_extend(uint32_t crc, const void *data, size_t len)

cdef extern from "wal.h":
    # Called with the GIL held (wal_get runs under the GIL): the callback builds Python objects.
    ctypedef int (*wal_emit_fn)(void *arg, const wal_entry *entry) noexcept
    int wal_get(wal *w, uint64_t index, wal_emit_fn emit, void *arg, wal_error *err)

cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        Py_ssize_t offset

cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member


cdef Py_ssize_t _slot_offset(str name) except -1:
    """The byte offset of one of Log's slots (Log is a slots dataclass): read straight from the object, a field costs
    a load instead of a generic attribute lookup, which is most of the per-entry CPU of an append."""
    descr = Log.__dict__[name]
    if type(descr).__name__ != "member_descriptor":
        raise TypeError(f"Log.{name} is not a slot")
    return (<PyMemberDescrObject *><PyObject *>descr).d_member.offset


cdef Py_ssize_t _OFF_INDEX = _slot_offset("index")
cdef Py_ssize_t _OFF_TERM = _slot_offset("term")
cdef Py_ssize_t _OFF_TYPE = _slot_offset("type")
cdef Py_ssize_t _OFF_DATA = _slot_offset("data")
cdef Py_ssize_t _OFF_EXT = _slot_offset("extensions")
cdef Py_ssize_t _OFF_AT = _slot_offset("appended_at")
cdef type _LOG = Log


cdef inline object _field(object log, Py_ssize_t offset, str name):
    """A slot of an exact Log instance (AttributeError when unset, like the attribute)."""
    cdef PyObject *value = (<PyObject **>((<char *><PyObject *>log) + offset))[0]
    if value == NULL:
        return getattr(log, name)
    return <object>value


cdef tuple _TYPES = tuple(LogType)
cdef Py_ssize_t _N_TYPES = len(_TYPES)
cdef size_t _NO_LIMIT = <size_t>-1
cdef int _PY_ERROR = -1000  # an emit callback failed with a Python exception (already set)


cdef object _error(wal_error *err):
    cdef int code = err.code
    msg = err.msg.decode("utf-8", "replace")
    if code == WAL_ECORRUPT:
        return CorruptionError(msg)
    if code == WAL_ENOTFOUND:
        return LogNotFoundError(msg)
    if code == WAL_EINDEX:
        return NonContiguousError(msg)
    if code == WAL_EINVAL:
        return InvalidEntryError(msg)
    if code == WAL_ENOMEM:
        return MemoryError(msg)
    if code == WAL_EFAILED:
        return StoreFailedError(msg)
    if code == WAL_ELOCKED:
        return StoreLockedError(msg)
    if code == WAL_EIO:
        return LogStoreIOError(err.sys_errno, msg)
    return LogStoreError(msg)


cdef inline object _make_log(const wal_entry *e):
    if e.type >= len(_TYPES):
        raise CorruptionError(f"log entry {e.index} has the unknown type {e.type}")
    return Log(
        e.index,
        e.term,
        _TYPES[e.type],
        PyBytes_FromStringAndSize(<const char *>e.data, e.data_len),
        PyBytes_FromStringAndSize(<const char *>e.ext, e.ext_len),
        e.appended_at,
    )


cdef class _Got:
    cdef wal_entry entry
    cdef object data, ext


cdef int _emit_copy(void *arg, const wal_entry *e) noexcept:
    """Copies the entry's bytes out while the C side holds its read lock (bytes objects have no finalizers and
    never trigger the cyclic collector, so nothing here can call back into the WAL)."""
    cdef _Got got = <_Got>arg
    try:
        got.data = PyBytes_FromStringAndSize(<const char *>e.data, e.data_len)
        got.ext = PyBytes_FromStringAndSize(<const char *>e.ext, e.ext_len)
    except BaseException:
        return _PY_ERROR
    got.entry = e[0]
    return 0


cdef int _fill_entry(wal_entry *dst, object log, PyObject **keep) except -1:
    """Points `dst` at the entry's fields. Conversions happen in C (no Python-level comparisons): this loop runs once
    per appended entry with the GIL held, so it is the CPU cost of a durable append.

    keep[0] and keep[1] receive new references to the data and extensions bytes `dst` points into (NULL until then),
    so that they stay alive until the GIL-free append returns even if another thread rebinds log.data; the caller
    releases them with _batch_free(). A C array rather than a list: list appends, growth and deallocation were a
    measurable share of the per-entry cost."""
    cdef long long t
    cdef bint exact = type(log) is _LOG
    data = _field(log, _OFF_DATA, "data") if exact else log.data
    if type(data) is not bytes:
        data = bytes(data)
    ext = _field(log, _OFF_EXT, "extensions") if exact else log.extensions
    if type(ext) is not bytes:
        ext = bytes(ext)
    Py_INCREF(data)
    keep[0] = <PyObject *>data
    Py_INCREF(ext)
    keep[1] = <PyObject *>ext
    try:
        if exact:
            t = _field(log, _OFF_TYPE, "type")
            dst.index = _field(log, _OFF_INDEX, "index")
            dst.term = _field(log, _OFF_TERM, "term")
        else:
            t = log.type
            dst.index = log.index
            dst.term = log.term
    except (OverflowError, TypeError):
        raise InvalidEntryError(f"log entry {log.index!r}: index, term or type outside its range") from None
    if t < 0 or t >= _N_TYPES:
        raise InvalidEntryError(f"log entry {log.index}: unknown log type {log.type!r}")
    if dst.index == 0:
        raise InvalidEntryError("log index 0 is reserved (indexes start at 1)")
    dst.appended_at = _field(log, _OFF_AT, "appended_at") if exact else log.appended_at
    dst.type = <uint8_t>t
    dst.data = <const uint8_t *>PyBytes_AS_STRING(data)
    dst.data_len = PyBytes_GET_SIZE(data)
    dst.ext = <const uint8_t *>PyBytes_AS_STRING(ext)
    dst.ext_len = PyBytes_GET_SIZE(ext)
    return 0


cdef struct _Batch:
    # The C entry array of a batch of Log objects, and the references that keep the bytes its entries point into
    # alive until a GIL-free append returns (keep[2 * i] and keep[2 * i + 1]: entry i's data and extensions).
    wal_entry *entries
    PyObject **keep
    Py_ssize_t n


cdef int _batch_fill(_Batch *batch, object logs) except -1:
    """Points batch's entries at the Logs' fields (_fill_entry), the one loop every append from Log objects runs.
    Whatever it took before an error stays in `batch`: the caller always ends with _batch_free."""
    cdef Py_ssize_t i
    batch.n = len(logs)
    batch.entries = <wal_entry *>PyMem_Malloc(max(batch.n, 1) * sizeof(wal_entry))
    batch.keep = <PyObject **>PyMem_Calloc(max(2 * batch.n, 1), sizeof(PyObject *))
    if batch.entries == NULL or batch.keep == NULL:
        raise MemoryError()
    for i in range(batch.n):
        _fill_entry(&batch.entries[i], logs[i], &batch.keep[2 * i])
    return 0


cdef void _batch_free(_Batch *batch):
    """Drops the references _batch_fill took (the slots it did not reach are NULL) and frees both arrays."""
    cdef Py_ssize_t i
    if batch.keep != NULL:
        for i in range(2 * batch.n):
            Py_XDECREF(batch.keep[i])
    PyMem_Free(batch.keep)
    PyMem_Free(batch.entries)
    batch.keep = NULL
    batch.entries = NULL


def crc32c(data, uint32_t crc=0):
    """CRC-32C of `data` continued from `crc` (the WAL's checksum, in C: the SSE4.2 instruction where the CPU has it;
    `raftstore.logstore.codec.crc32c` is the pure-Python reference). The GIL is released for the computation."""
    cdef const uint8_t[::1] view = data
    cdef size_t length = view.shape[0]
    if length == 0:
        return crc
    with nogil:
        crc = crc32c_extend(crc, &view[0], length)
    return crc


def read_entries(logs):
    """Reads the entries into the C entry array exactly as `WALCore.store_logs` does (the same checks, the same
    references taken and dropped) and returns how many; nothing is encoded or written.

    For the benchmarks: this is the CPU a durable append spends only because it is handed Python `Log` objects. The
    floor it is compared with writes prepared bytes and pays none of it, so floor / (floor + this) bounds the ratio
    any `store_logs` can reach, however fast its encoding, checksum and write (README, log store section)."""
    cdef _Batch batch = _Batch(NULL, NULL, 0)
    try:
        _batch_fill(&batch, logs)
        return batch.n
    finally:
        _batch_free(&batch)


def encode_logs(logs):
    """The entries as concatenated WAL entry frames: the bytes `WALStore.store_encoded` appends (and a follower can
    receive) without building a Python object per entry."""
    cdef _Batch batch = _Batch(NULL, NULL, 0)
    cdef Py_ssize_t i
    cdef size_t total = 0
    try:
        _batch_fill(&batch, logs)
        for i in range(batch.n):
            total += wal_frame_size(batch.entries[i].data_len, batch.entries[i].ext_len)
        out = PyBytes_FromStringAndSize(NULL, total)
        buf = <uint8_t *>PyBytes_AS_STRING(out)
        with nogil:
            wal_encode_frames(buf, batch.entries, batch.n)
        return out
    finally:
        _batch_free(&batch)


def decode_logs(frames):
    """The entries in a buffer of WAL entry frames; InvalidEntryError on a damaged or truncated frame."""
    cdef const uint8_t[::1] view = frames
    cdef size_t pos = 0, used, length = view.shape[0]
    cdef wal_entry e
    cdef wal_error err
    out = []
    while pos < length:
        if wal_decode_frame(&view[pos], length - pos, &e, &used, &err) != WAL_OK:
            raise InvalidEntryError(f"encoded batch at byte {pos}: " + err.msg.decode("utf-8", "replace"))
        out.append(_make_log(&e))
        pos += used
    return out


cdef class WALCore:
    """The C WAL's log store and stable store (see WALStore for the documented API)."""

    cdef wal *w
    cdef int busy
    cdef bint closing
    cdef readonly object directory
    cdef readonly bint sync

    def __cinit__(self, directory, segment_size=64 << 20, sync=True, *, background_prealloc=True):
        cdef wal_options opts
        cdef wal_error err
        cdef int rc
        wal_default_options(&opts)
        if segment_size < 64 << 10 or segment_size > 1 << 32:
            raise InvalidEntryError(f"segment_size {segment_size} outside 64 KiB .. 4 GiB")
        opts.segment_size = segment_size
        opts.sync = 1 if sync else 0
        opts.background_prealloc = 1 if background_prealloc else 0
        self.directory = str(directory)
        self.sync = bool(sync)
        path = self.directory.encode()
        cdef const char *cpath = path
        with nogil:
            rc = wal_open(cpath, &opts, &self.w, &err)
        if rc != WAL_OK:
            self.w = NULL
            raise _error(&err)

    def __dealloc__(self):
        if self.w != NULL:
            wal_close(self.w)
            self.w = NULL

    cdef inline wal *_enter(self) except NULL:
        """Marks a call in progress: close() defers freeing the WAL until the last call (GIL released) returns."""
        if self.w == NULL or self.closing:
            raise StoreClosedError(f"log store {self.directory} is closed")
        self.busy += 1
        return self.w

    cdef inline void _leave(self):
        self.busy -= 1
        if self.closing and self.busy == 0 and self.w != NULL:
            wal_close(self.w)
            self.w = NULL

    def close(self):
        """Closes the store (idempotent). Calls still running in other threads finish first."""
        if self.w == NULL or self.closing:
            return
        self.closing = True
        if self.busy == 0:
            with nogil:
                wal_close(self.w)
            self.w = NULL

    @property
    def closed(self):
        return self.w == NULL or self.closing

    def first_index(self):
        cdef wal *w = self._enter()
        try:
            return wal_first_index(w)
        finally:
            self._leave()

    def last_index(self):
        cdef wal *w = self._enter()
        try:
            return wal_last_index(w)
        finally:
            self._leave()

    def is_monotonic(self):
        return True

    def get_log(self, index):
        if index <= 0:
            raise LogNotFoundError(f"log entry {index} not found")
        cdef wal *w = self._enter()
        cdef wal_error err
        cdef _Got got = _Got.__new__(_Got)
        cdef int rc
        try:
            rc = wal_get(w, index, _emit_copy, <void *>got, &err)
            if rc == _PY_ERROR:
                raise MemoryError()
            if rc != WAL_OK:
                raise _error(&err)
            if got.entry.type >= len(_TYPES):
                raise CorruptionError(f"{self.directory}: log entry {index} has the unknown type {got.entry.type}")
            return Log(index, got.entry.term, _TYPES[got.entry.type], got.data, got.ext, got.entry.appended_at)
        finally:
            self._leave()

    def get_encoded(self, lo, hi, max_bytes=None):
        """Entries lo..hi (inclusive, clamped to the log's end) as WAL entry frames, stopping before `max_bytes`
        (at least one entry): a replication batch read without building a Python object per entry."""
        return self._read_frames(lo, hi, max_bytes)[0]

    cdef tuple _read_frames(self, lo, hi, max_bytes):
        cdef wal *w = self._enter()
        cdef wal_error err
        cdef uint8_t *buf = NULL
        cdef size_t length = 0
        cdef size_t limit = _NO_LIMIT if max_bytes is None else max_bytes
        cdef uint64_t next_index = 0, clo = max(lo, 0), chi = max(hi, 0)
        cdef int rc
        try:
            with nogil:
                rc = wal_read_frames(w, clo, chi, limit, &buf, &length, &next_index, &err)
            if rc != WAL_OK:
                raise _error(&err)
            try:
                return PyBytes_FromStringAndSize(<const char *>buf, length), next_index
            finally:
                free(buf)
        finally:
            self._leave()

    def get_logs(self, lo, hi, max_bytes=None):
        """Entries lo..hi inclusive (LogNotFoundError when one is missing); with `max_bytes`, a prefix of them whose
        frames fit in that many bytes (at least one entry)."""
        if lo > hi:
            return []
        if lo <= 0:
            raise LogNotFoundError(f"log entry {lo} not found")
        frames, next_index = self._read_frames(lo, hi, max_bytes)
        if next_index <= hi and max_bytes is None:
            raise LogNotFoundError(f"log entry {max(next_index, lo)} not found")
        if next_index == lo:
            raise LogNotFoundError(f"log entry {lo} not found")
        return decode_logs(frames)

    def store_log(self, log):
        self.store_logs((log,))

    def store_logs(self, logs):
        if len(logs) == 0:
            return
        cdef _Batch batch = _Batch(NULL, NULL, 0)
        cdef wal_error err
        cdef int rc
        cdef wal *w
        try:
            _batch_fill(&batch, logs)
            w = self._enter()
            try:
                with nogil:
                    rc = wal_append(w, batch.entries, batch.n, &err)
            finally:
                self._leave()
            if rc != WAL_OK:
                raise _error(&err)
        finally:
            _batch_free(&batch)

    def store_encoded(self, frames):
        """Appends a batch given as WAL entry frames (from `encode_logs` or `get_encoded`); each frame's checksum and
        index are checked, then the bytes are written unchanged."""
        cdef const uint8_t[::1] view = frames
        cdef size_t length = view.shape[0]
        cdef wal_error err
        cdef int rc
        if length == 0:
            return
        cdef wal *w = self._enter()
        try:
            with nogil:
                rc = wal_append_frames(w, &view[0], length, &err)
        finally:
            self._leave()
        if rc != WAL_OK:
            raise _error(&err)

    def delete_range(self, lo, hi):
        cdef wal_error err
        cdef int rc
        cdef uint64_t clo = max(lo, 0), chi = max(hi, 0)
        if hi < lo or hi <= 0:
            return
        cdef wal *w = self._enter()
        try:
            with nogil:
                rc = wal_delete_range(w, clo, chi, &err)
        finally:
            self._leave()
        if rc != WAL_OK:
            raise _error(&err)

    def set(self, key, value):
        cdef bytes k = bytes(key), v = bytes(value)
        cdef wal_error err
        cdef int rc
        cdef wal *w = self._enter()
        cdef const uint8_t *kp = <const uint8_t *>PyBytes_AS_STRING(k)
        cdef const uint8_t *vp = <const uint8_t *>PyBytes_AS_STRING(v)
        cdef size_t kl = len(k), vl = len(v)
        try:
            with nogil:
                rc = wal_stable_set(w, kp, kl, vp, vl, &err)
        finally:
            self._leave()
        if rc != WAL_OK:
            raise _error(&err)

    def get(self, key):
        cdef bytes k = bytes(key)
        cdef wal_error err
        cdef uint8_t *out = NULL
        cdef size_t length = 0
        cdef wal *w = self._enter()
        cdef int rc
        try:
            rc = wal_stable_get(w, <const uint8_t *>PyBytes_AS_STRING(k), len(k), &out, &length, &err)
            if rc == WAL_ENOTFOUND:
                return None
            if rc != WAL_OK:
                raise _error(&err)
            try:
                return PyBytes_FromStringAndSize(<const char *>out, length)
            finally:
                free(out)
        finally:
            self._leave()

    def stats(self):
        """Counters since open: segments, batches, syncs, spares_used, discarded_tail (bytes), and spare_ready (1
        while a zero-filled segment is ready for the next rotation)."""
        cdef wal_stats st
        cdef wal *w = self._enter()
        try:
            wal_get_stats(w, &st)
        finally:
            self._leave()
        return {
            "segments": st.segments,
            "batches": st.batches,
            "syncs": st.syncs,
            "spares_used": st.spares_used,
            "discarded_tail": st.discarded_tail,
            "spare_ready": st.spare_ready,
        }

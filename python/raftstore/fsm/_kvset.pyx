# cython: language_level=3, boundscheck=False, wraparound=False
"""The FSM's fast path for runs of Consul KV `set` commands, in C (csrc/kvset.c): the same API and results as the
pure-Python reference raftstore.fsm.kvset, whose docstring states the contract; tests/test_fsm_kvset.py runs one
suite over both and compares them on random command streams."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_FromUnsignedLongLong
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.stdint cimport uint8_t, uint64_t
from libc.string cimport memcpy

from raftstore.fsm.kvset import KVS_TYPE, SetCommand
from raftstore.state.records import DirEntry


cdef extern from "Python.h":
    void PyObject_GC_UnTrack(void *op)


cdef extern from "kvset.h":
    ctypedef struct kv_set_cmd:
        const uint8_t *key
        size_t key_len
        const uint8_t *value
        size_t value_len
        uint64_t flags
        uint64_t lock_index

    int kv_parse_set(const uint8_t *body, size_t length, kv_set_cmd *out)


cdef object _new_entry = object.__new__
cdef object _EMPTY = b""


cdef inline object _value(const kv_set_cmd *cmd):
    if cmd.value == NULL:
        return None
    return PyBytes_FromStringAndSize(<const char *>cmd.value, cmd.value_len)


cdef inline object _primary_key(const kv_set_cmd *cmd):
    """The `kvs` id index key: the Key's bytes and a NUL terminator (raftstore.state.schema._kv_key)."""
    cdef object pk = PyBytes_FromStringAndSize(NULL, cmd.key_len + 1)
    cdef char *out = PyBytes_AS_STRING(pk)
    if cmd.key_len:
        memcpy(out, cmd.key, cmd.key_len)
    out[cmd.key_len] = 0
    return pk


def parse_set(bytes body):
    """The fields of a plain `set` command's body (without its type byte), or None when it is not in the fast form."""
    cdef kv_set_cmd cmd
    if not kv_parse_set(<const uint8_t *>PyBytes_AS_STRING(body), <size_t>PyBytes_GET_SIZE(body), &cmd):
        return None
    key = PyBytes_FromStringAndSize(<const char *>cmd.key, cmd.key_len) if cmd.key_len else _EMPTY
    return SetCommand(
        key, _value(&cmd), PyLong_FromUnsignedLongLong(cmd.flags), PyLong_FromUnsignedLongLong(cmd.lock_index)
    )


def apply_set_run(list logs, Py_ssize_t start, id_txn):
    """See raftstore.fsm.kvset.apply_set_run."""
    cdef Py_ssize_t i = start, n = len(logs)
    cdef kv_set_cmd cmd
    cdef const uint8_t *data_ptr
    cdef Py_ssize_t data_len
    cdef object log, data, pk, existing, value, flags, lock_index, entry, index, create_index, key
    cdef object last = 0
    get = id_txn.get
    insert = id_txn.insert
    while i < n:
        log = logs[i]
        if log.type != 0:  # LogType.COMMAND; other entries are not applied to the FSM
            i += 1
            continue
        data = log.data
        if type(data) is not bytes:
            break
        data_ptr = <const uint8_t *>PyBytes_AS_STRING(data)
        data_len = PyBytes_GET_SIZE(data)
        if data_len < 1 or (data_ptr[0] & 0x7F) != KVS_TYPE:
            break
        if not kv_parse_set(data_ptr + 1, <size_t>(data_len - 1), &cmd):
            break
        pk = _primary_key(&cmd)
        existing = get(pk)
        value = PyBytes_FromStringAndSize(<const char *>cmd.value, cmd.value_len) if cmd.value != NULL else _EMPTY
        flags = PyLong_FromUnsignedLongLong(cmd.flags)
        lock_index = PyLong_FromUnsignedLongLong(cmd.lock_index)
        index = log.index
        if existing is not None:
            if existing.Session:
                break  # the session index would change: the general path maintains it
            if existing.Value == value and existing.Flags == flags and existing.LockIndex == lock_index:
                i += 1
                continue  # Consul skips a set that changes nothing: ModifyIndex stays
            create_index = existing.CreateIndex
        else:
            create_index = index
        if cmd.key_len:
            key = PyUnicode_DecodeUTF8(<const char *>cmd.key, cmd.key_len, "surrogateescape")
        else:
            key = ""
        # DirEntry's own __init__ is a Python call with seven arguments; filling its slots directly is several
        # times cheaper and gives the same object.
        entry = _new_entry(DirEntry)
        entry.Key = key
        entry.Value = value
        entry.Flags = flags
        entry.Session = ""
        entry.LockIndex = lock_index
        entry.CreateIndex = create_index
        entry.ModifyIndex = index
        # Its fields are str, bytes and int only, and records are never mutated once stored (raftstore.state.records):
        # it can never be part of a reference cycle, so the cycle collector need not track it. CPython does the same
        # for tuples of atomic values. Without this, a store of a million entries makes every full collection walk
        # all of them, and the collections come more often the more entries are written: a third of apply time.
        PyObject_GC_UnTrack(<void *>entry)
        insert(pk, entry)
        last = index
        i += 1
    return i, last


def untrack_entry(entry):
    """Stop the cycle collector tracking a stored DirEntry whose fields are all str, bytes or int (such a record
    can be in no reference cycle; see apply_set_run). Anything else is left as it is. Returns `entry`."""
    if type(entry) is DirEntry and all(type(getattr(entry, name)) in (str, bytes, int) for name in _SLOTS):
        PyObject_GC_UnTrack(<void *>entry)
    return entry


cdef tuple _SLOTS = tuple(DirEntry.__slots__)

# cython: language_level=3, boundscheck=False, wraparound=False, embedsignature=True
"""C version of raftstore.memdb.keyenc (see there for the contract): the write path's key encoding and insert loop.

Only the plain cases are computed here: a ``str`` field (or a list/tuple of ``str``) read from a dict or from an
object that is not a mapping; every other case calls the spec's reference ``keys_fn``, so results (and errors)
are the reference's by construction.
"""

from collections.abc import Mapping

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.ref cimport PyObject
from libc.string cimport memcpy

from raftstore.radix._radix import prefetch_inserts as _prefetch_inserts

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object s, Py_ssize_t *size) except NULL
    bint PyUnicode_CheckExact(object o)
    bint PyDict_CheckExact(object o)
    bint PyList_CheckExact(object o)
    bint PyTuple_CheckExact(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)

cdef enum:
    GENERIC = 0
    STRING = 1
    STRING_SLICE = 2

cdef object _MISSING = object()
cdef dict _is_mapping = {}  # type -> whether it is a Mapping (a field is then a key, not an attribute)


cdef inline object _field(object obj, str name):
    """The field's value, or _MISSING when this fast path should not decide (the reference will)."""
    cdef PyObject *found
    if PyDict_CheckExact(obj):
        found = PyDict_GetItem(obj, name)
        return _MISSING if found == NULL else <object>found
    tp = type(obj)
    mapping = _is_mapping.get(tp)
    if mapping is None:
        mapping = _is_mapping[tp] = isinstance(obj, Mapping)
    if mapping:
        return _MISSING
    return getattr(obj, name, _MISSING)


cdef inline bytes _key(object value, bint lowercase, bytes suffix):
    """value's UTF-8 + NUL (+ suffix), or None for an empty string (no value: the reference decides)."""
    cdef Py_ssize_t n, m
    cdef const char *utf8
    cdef char *out
    if PyUnicode_GET_LENGTH(value) == 0:
        return None
    if lowercase:
        value = value.lower()
    utf8 = PyUnicode_AsUTF8AndSize(value, &n)
    m = PyBytes_GET_SIZE(suffix) if suffix is not None else 0
    key = PyBytes_FromStringAndSize(NULL, n + 1 + m)
    out = PyBytes_AS_STRING(key)
    memcpy(out, utf8, n)
    out[n] = 0
    if m:
        memcpy(out + n + 1, PyBytes_AS_STRING(suffix), m)
    return key


cdef object _fast(tuple spec, object obj, bytes pk):
    """The keys for one spec, or _MISSING to defer to the reference."""
    cdef int kind = spec[0]
    cdef bint lowercase = spec[2]
    cdef bytes suffix = None if spec[3] else pk
    if kind == STRING:
        value = _field(obj, spec[1])
        if not PyUnicode_CheckExact(value):
            return _MISSING
        key = _key(value, lowercase, suffix)
        return _MISSING if key is None else [key]
    if kind == STRING_SLICE:
        value = _field(obj, spec[1])
        if not (PyList_CheckExact(value) or PyTuple_CheckExact(value)):
            return _MISSING
        out = []
        for item in value:
            if not PyUnicode_CheckExact(item):
                return _MISSING
            if PyUnicode_GET_LENGTH(item) == 0:
                continue
            key = _key(item, lowercase, suffix)
            if key is None:
                return _MISSING
            out.append(key)
        return out if out else None
    return _MISSING


def object_keys(specs, obj):
    cdef tuple spec = specs[0]
    keys = _fast(spec, obj, None)
    if keys is _MISSING:
        keys = spec[4](obj, b"")
    if keys is None:
        return [None]
    cdef bytes pk = keys[0]
    cdef list result = [keys]
    cdef Py_ssize_t i
    for i in range(1, len(specs)):
        spec = specs[i]
        keys = _fast(spec, obj, pk)
        if keys is _MISSING:
            keys = spec[4](obj, pk)
        result.append(keys)
    return result


def insert_keys(txns, keys, obj):
    # The record's paths in all the index trees are fetched into the cache together (their misses overlap) before
    # the inserts walk them one after another. A hint only: it changes nothing, and skips trees that are not C ones.
    _prefetch_inserts(txns, keys)
    existing = txns[0].insert(keys[0][0], obj)
    if existing is not None:
        return existing
    cdef Py_ssize_t i
    for i in range(1, len(keys)):
        index_keys = keys[i]
        if index_keys:
            insert = txns[i].insert
            for k in index_keys:
                insert(k, obj)
    return None

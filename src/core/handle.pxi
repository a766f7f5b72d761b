# Who owns a handle: each uv handle is its own heap block. Once libuv holds the pointer, the
# owning Python object holds one extra reference to itself (handle.data); the close callback
# frees the block and drops that reference, so nothing is freed while libuv can call back and
# an open socket lives with no user reference, as in Node.

from cpython.mem cimport PyMem_RawMalloc, PyMem_RawFree
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.string cimport memset


cdef extern from "debug.h":
    ctypedef struct iotnet_counters_t:
        long handles
        long requests
        long buffers
    iotnet_counters_t iotnet_counters
    int IOTNET_DEBUG_BUILD
    void IOTNET_COUNT_HANDLES(long delta) nogil
    void IOTNET_COUNT_REQUESTS(long delta) nogil
    void IOTNET_COUNT_BUFFERS(long delta) nogil


cdef void* _new_handle(size_t size) except NULL:
    cdef void* block = PyMem_RawMalloc(size)
    if block == NULL:
        raise MemoryError()
    memset(block, 0, size)
    IOTNET_COUNT_HANDLES(1)
    return block


cdef void _free_handle(void* block) noexcept nogil:
    PyMem_RawFree(block)
    IOTNET_COUNT_HANDLES(-1)


cdef void _own_handle(uv_handle_t* handle, object owner):
    """After a successful uv_*_init: libuv may now call back into `owner`."""
    handle.data = <void*>owner
    Py_INCREF(owner)


cdef object _take_closed_handle(uv_handle_t* handle):
    """In a close callback: frees the block, returns its owner (None for an orphan).

    The reference the owner held for libuv moves to the caller.
    """
    cdef void* owner = handle.data
    _free_handle(handle)
    if owner == NULL:
        return None
    result = <object>owner
    Py_DECREF(result)
    return result


cdef void _on_quiet_handle_close(uv_handle_t* handle) noexcept:
    _hold_gil()
    _take_closed_handle(handle)


cdef void _close_owned_handle(uv_handle_t* handle):
    """Closes a handle whose owner needs no event when it is gone."""
    uv_close(handle, _on_quiet_handle_close)


cdef void _close_orphan_handle(uv_handle_t* handle):
    """__dealloc__'s fallback: libuv still has the block, nobody owns it any more."""
    handle.data = NULL
    uv_close(handle, _on_quiet_handle_close)


def debug_counters():
    """Live handles/requests/buffers in a debug build (`make debug`); None in a release build."""
    if not IOTNET_DEBUG_BUILD:
        return None
    return {'handles': iotnet_counters.handles, 'requests': iotnet_counters.requests,
            'buffers': iotnet_counters.buffers}


cdef void _collect_handle_owner(uv_handle_t* handle, void* owners) noexcept with gil:
    if handle.data != NULL and not uv_is_closing(handle):
        (<list>owners).append(<object>handle.data)


def _close_all_handles():
    """Closes every Socket, Server and Timer still open (the test suite's clean-up)."""
    owners = []
    uv_walk(_uv_loop, _collect_handle_owner, <void*>owners)
    for owner in owners:
        if isinstance(owner, Timer):
            (<Timer>owner).disarm()
        elif isinstance(owner, Server):
            owner.close()
        elif isinstance(owner, Stream):
            owner.destroy()

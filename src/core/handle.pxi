# Who owns a handle: each uv handle is its own heap block. Once libuv holds the pointer, the
# owning Python object holds one extra reference to itself (handle.data); the close callback
# frees the block and drops that reference, so nothing is freed while libuv can call back and
# an open socket lives with no user reference, as in Node.
#
# The block is not embedded in the object, though the self-reference would make that safe: a
# uv_tcp_t (248 bytes) in the Socket (200 bytes with its GC header) makes a 448-byte block,
# where today the two take 208 (pymalloc's 16-byte steps) + 256 (malloc's 8-byte header):
# 16 bytes, 3 % of an idle connection.
# And a socket that tries the next address of a name after a failed connect needs a new handle
# before libuv has let go of the old one, which one embedded handle cannot give.
#
# Handle is the base of every class that owns a uv handle (Stream, Server, Timer): the block,
# ref()/unref()/hasRef(), closing, and the __dealloc__ fallback live here once.

from cpython.mem cimport PyMem_RawMalloc, PyMem_RawFree
from cpython.ref cimport Py_INCREF, Py_DECREF


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


cdef inline object _owner(uv_handle_t* handle):
    """The object a callback's handle belongs to; None once that object is gone (an orphan)."""
    if handle.data == NULL:
        return None
    return <object>handle.data


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


cdef void _close_owned_handle(uv_handle_t* handle):
    """Closes a handle (the object's own or a secondary one) with no event when it is gone."""
    uv_close(handle, _on_quiet_handle_close)


cdef class Handle(EventEmitter):
    """What every object that owns a uv handle shares: ref(), unref(), hasRef()."""

    def __cinit__(self, *args, **kwargs):
        self.refed = True

    def __dealloc__(self):
        # Only reachable without an open handle (the handle holds a reference to self); the
        # fallback never frees a block libuv still holds: the orphan is closed, then freed.
        if self.uv_handle != NULL:
            self.uv_handle.data = NULL
            uv_close(self.uv_handle, _on_quiet_handle_close)

    cdef int _own(self, uv_handle_t* handle) except -1:
        """Takes a block after its successful uv_*_init."""
        _own_handle(handle, self)
        if not self.refed:
            uv_unref(handle)
        self.uv_handle = handle
        return 0

    cdef void _close(self):
        """Closes the handle; _handle_closed() runs once libuv is done with it."""
        if self.uv_handle != NULL:
            uv_close(self.uv_handle, _on_handle_close)
            self.uv_handle = NULL

    cdef void _close_quietly(self):
        """Closes the handle with no event (a failed connect attempt, a cleared timer)."""
        if self.uv_handle != NULL:
            _close_owned_handle(self.uv_handle)
            self.uv_handle = NULL

    # Hooks for the kinds of handle.

    cdef void _handle_closed(self) except *:
        """After _close(): libuv has let go of the handle."""
        pass

    cdef void _force_close(self) except *:
        """Closes whatever the object has open (the test suite's clean-up)."""
        self._close_quietly()

    cdef void _lookup_done(self, _Lookup lookup, int status, list addresses) except *:
        """A name resolution started by this object has its answer."""
        pass

    cdef void _child_destroyed(self):
        """A stream this handle accepted was destroyed."""
        pass

    cdef void _child_closed(self) except *:
        """A stream this handle accepted emitted its 'close'."""
        pass

    def ref(self):
        """Lets the handle keep run() alive (the default)."""
        _check_loop_thread()
        self.refed = True
        if self.uv_handle != NULL:
            uv_ref(self.uv_handle)
        return self

    def unref(self):
        """run() may return while only unref'd handles are active."""
        _check_loop_thread()
        self.refed = False
        if self.uv_handle != NULL:
            uv_unref(self.uv_handle)
        return self

    def hasRef(self):
        return bool(self.refed)

    has_ref = hasRef


cdef void _on_handle_close(uv_handle_t* handle) noexcept:
    _enter_callback()
    owner = _take_closed_handle(handle)
    if owner is not None:
        try:
            (<Handle>owner)._handle_closed()
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()


cdef void _on_quiet_handle_close(uv_handle_t* handle) noexcept:
    _enter_callback()
    _take_closed_handle(handle)
    _loop.after_callback()


def debug_counters():
    """Live handles/requests/buffers in a debug build (`make debug`); None in a release build."""
    if not IOTNET_DEBUG_BUILD:
        return None
    return {'handles': iotnet_counters.handles, 'requests': iotnet_counters.requests,
            'buffers': iotnet_counters.buffers}


cdef void _collect_handle_owner(uv_handle_t* handle, void* owners) noexcept:
    _enter_callback()
    if handle.data != NULL and not uv_is_closing(handle):
        owner = <object>handle.data
        if isinstance(owner, Handle) and owner not in <list>owners:
            (<list>owners).append(owner)


def _open_handles():
    """Every Socket, Server and Timer still open and not closing (a worker's graceful stop)."""
    owners = []
    uv_walk(_uv_loop, _collect_handle_owner, <void*>owners)
    return owners


def _close_all_handles():
    """Closes every Socket, Server and Timer still open (the test suite's clean-up)."""
    for owner in _open_handles():
        (<Handle>owner)._force_close()

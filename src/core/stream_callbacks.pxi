# The C entries that call into a Stream: its tick-queue entries, and the libuv callbacks of
# stream handles (each in the one shape of loop.pxi).

# -- tick entries ---------------------------------------------------------------------------------

cdef int _later_deliver_held(object stream, object unused) except -1:
    (<Stream>stream)._deliver_held()
    return 0


cdef int _later_finish_unconnected(object stream, object unused) except -1:
    (<Stream>stream)._finish_unconnected()
    return 0


cdef int _later_emit_error(object stream, object err) except -1:
    if not (<Stream>stream).closed:
        (<Stream>stream)._emit_event1('error', err)
    return 0


cdef int _later_emit_close(object stream, object unused) except -1:
    (<Stream>stream)._emit_close()
    return 0


# -- libuv callbacks of streams -------------------------------------------------------------------

cdef void _on_read_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept nogil:
    # Reads are handled one at a time, and the read callback is done with the buffer before
    # any other read can start: every read shares the loop's one buffer.
    buf.base = _read_buffer
    buf.len = READ_BUFFER_BYTES


cdef int _stream_read_done(Stream stream, ssize_t nread, const uv_buf_t* buf) except -1:
    return stream._read_done(nread, buf)


# The same function, called without Cython's check: the read callback tests the result itself,
# so its hot path has no try block (which saves and restores the exception state every time).
ctypedef int (*_unchecked_read_done)(Stream, ssize_t, const uv_buf_t*) noexcept


cdef void _on_stream_read(uv_stream_t* handle, ssize_t nread, const uv_buf_t* buf) noexcept:
    # The shape of loop.pxi, with the try block replaced by a test of the result.
    _enter_callback()
    owner = _owner(<uv_handle_t*>handle)
    if owner is not None:
        if (<_unchecked_read_done>_stream_read_done)(<Stream>owner, nread, buf) < 0:
            _report_raised()
    _loop.after_callback()


cdef void _on_stream_write(uv_write_t* req, int status) noexcept:
    _enter_callback()
    owner = <object>req.data
    _free_write_req(<WriteReq*>req)
    try:
        (<Stream>owner)._write_done(status)
    except BaseException as exc:
        _loop.report(exc)
    _loop.after_callback()


cdef void _on_stream_shutdown(uv_shutdown_t* req, int status) noexcept:
    _enter_callback()
    owner = <object>req.data
    _free_request(req)
    try:
        (<Stream>owner)._shutdown_done(status)
    except BaseException as exc:
        _loop.report(exc)
    _loop.after_callback()


cdef void _on_stream_connect(uv_connect_t* req, int status) noexcept:
    _enter_callback()
    owner = <object>req.data
    cdef bint current = <uv_handle_t*>req.handle == (<Stream>owner).uv_handle
    _free_request(req)
    if current:         # else its handle was closed (destroy, or a failed attempt) and replaced
        try:
            (<Stream>owner)._connect_done(status)
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()

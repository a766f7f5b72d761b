# Stream: what TCP and Unix-socket Sockets share: reading into the loop's one buffer and calling
# the cached 'data' listeners from C; writing with uv_try_write and queueing only the rest as
# one uv_write of many buffers; end/shutdown, destroy/close, pause/resume, idle timeouts, pipe.

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_SIMPLE
from libc.stdint cimport uint64_t

cdef extern from "Python.h":
    ctypedef struct Py_buffer:
        void* buf
        Py_ssize_t len
    Py_buffer* PyMemoryView_GET_BUFFER(object mview)

from iotnet import _encoding


# -- write requests: uv_write_t plus a few buffers, reused from a freelist ------------------------

ctypedef struct WriteReq:
    uv_write_t req                       # first member: a uv_write_t* is a WriteReq*
    uv_buf_t* bufs
    uv_buf_t inline_bufs[INLINE_WRITE_BUFS]

cdef WriteReq* _write_req_freelist[WRITE_REQ_FREELIST_MAX]
cdef int _write_req_free_count = 0


cdef WriteReq* _new_write_req(Py_ssize_t nbufs) except NULL:
    global _write_req_free_count
    cdef WriteReq* req
    if _write_req_free_count:
        _write_req_free_count -= 1
        req = _write_req_freelist[_write_req_free_count]
    else:
        req = <WriteReq*>PyMem_RawMalloc(sizeof(WriteReq))
        if req == NULL:
            raise MemoryError()
    IOTNET_COUNT_REQUESTS(1)
    if nbufs <= INLINE_WRITE_BUFS:
        req.bufs = req.inline_bufs
    else:
        req.bufs = <uv_buf_t*>PyMem_RawMalloc(nbufs * sizeof(uv_buf_t))
        if req.bufs == NULL:
            _free_write_req(req)
            raise MemoryError()
        IOTNET_COUNT_BUFFERS(1)
    return req


cdef void _free_write_req(WriteReq* req) noexcept:
    global _write_req_free_count
    if req.bufs != req.inline_bufs and req.bufs != NULL:
        PyMem_RawFree(req.bufs)
        IOTNET_COUNT_BUFFERS(-1)
    req.bufs = NULL
    IOTNET_COUNT_REQUESTS(-1)
    if _write_req_free_count < WRITE_REQ_FREELIST_MAX:
        _write_req_freelist[_write_req_free_count] = req
        _write_req_free_count += 1
    else:
        PyMem_RawFree(req)


cdef void* _new_request(size_t size) except NULL:
    cdef void* req = PyMem_RawMalloc(size)
    if req == NULL:
        raise MemoryError()
    IOTNET_COUNT_REQUESTS(1)
    return req


cdef void _free_request(void* req) noexcept:
    PyMem_RawFree(req)
    IOTNET_COUNT_REQUESTS(-1)


cdef inline bytes _as_bytes(object data, object encoding):
    """The bytes to send for write(data, encoding); mutable buffers are copied."""
    if type(data) is bytes:
        return <bytes>data
    if isinstance(data, str):
        if encoding is None or encoding == 'utf8' or encoding == 'utf-8':
            return (<str>data).encode('utf-8')
        return _encoding.encode(data, _encoding.normalize(encoding))
    if isinstance(data, (bytearray, memoryview)) or _has_buffer(data):
        return bytes(memoryview(data).cast('B'))
    raise TypeError('data must be bytes, bytearray, memoryview, another buffer or str, '
                    f'not {type(data).__name__}')


cdef bint _has_buffer(object data):
    try:
        memoryview(data)
        return True
    except TypeError:
        return False


cdef void _call_each(list callbacks, object arg) noexcept:
    """Calls every callback with arg; one that raises does not keep the others from running."""
    for callback in callbacks:
        if callback is not None:
            try:
                callback(arg)
            except BaseException as exc:
                _loop.report(exc)


def _call_each_later(list callbacks, object arg):
    _call_each(callbacks, arg)


cdef class Stream(EventEmitter):
    """The part of Socket that moves bytes (see Socket)."""
    # What a read -> 'data' -> write() round touches comes first, so it shares cache lines.
    cdef uv_stream_t* handle
    cdef tuple data_listeners        # the 'data' listeners, cached for the read callback
    cdef object decoder
    cdef list held_chunks            # chunks read while no 'data' listener exists
    cdef list queued                 # bytes/memoryviews for the next uv_write
    cdef uint64_t bytes_read
    cdef uint64_t bytes_written
    cdef uint64_t idle_timeout_ms
    cdef Py_ssize_t high_water_mark
    cdef unsigned char connected
    cdef unsigned char ending                 # end() was called: no more writes
    cdef unsigned char is_destroyed           # destroy() ran: no more I/O, 'close' is on its way
    cdef unsigned char write_in_flight
    # the connection's life
    cdef unsigned char is_pipe
    cdef unsigned char refed
    cdef unsigned char allow_half_open
    cdef unsigned char is_connecting
    cdef unsigned char closed                 # 'close' was emitted
    cdef unsigned char emit_close_when_handle_closed
    cdef unsigned char had_error
    cdef object server               # the Server that accepted this socket
    # reading
    cdef unsigned char reading                # uv_read_start is in effect
    cdef unsigned char paused                 # pause() (by the user or by pipe backpressure)
    cdef unsigned char flowing                # resume() ran: chunks flow even with no 'data' listener
    cdef unsigned char readable_ended         # the peer's EOF was read
    cdef unsigned char end_emitted
    cdef unsigned char held_delivery_scheduled
    cdef Py_ssize_t held_bytes
    # writing
    cdef unsigned char shutdown_started
    cdef unsigned char finished               # 'finish' was emitted
    cdef unsigned char need_drain
    cdef unsigned char idle_timer_fired
    cdef list queued_callbacks       # parallel to queued
    cdef Py_ssize_t queued_bytes
    cdef list inflight               # kept alive while libuv writes them
    cdef list inflight_callbacks
    cdef Py_ssize_t inflight_bytes
    cdef list end_callbacks
    # idle timeout
    cdef uv_timer_t* idle_timer
    cdef uint64_t last_activity_ms
    cdef list pipes                  # the _Pipe of each pipe() (usually none or one)

    def __cinit__(self, *args, **kwargs):
        self.refed = True
        self.high_water_mark = DEFAULT_HIGH_WATER_MARK_BYTES

    def __dealloc__(self):
        # Only reachable without an open handle (the handle holds a reference to self);
        # kept as the fallback that never frees a block libuv still holds.
        if self.handle != NULL:
            _close_orphan_handle(<uv_handle_t*>self.handle)
        if self.idle_timer != NULL:
            _close_orphan_handle(<uv_handle_t*>self.idle_timer)

    # -- handle ---------------------------------------------------------------------------------

    cdef int _create_handle(self) except -1:
        cdef int status
        cdef uv_handle_t* handle
        if self.is_pipe:
            handle = <uv_handle_t*>_new_handle(sizeof(uv_pipe_t))
            status = uv_pipe_init(_uv_loop, <uv_pipe_t*>handle, 0)
        else:
            handle = <uv_handle_t*>_new_handle(sizeof(uv_tcp_t))
            status = uv_tcp_init(_uv_loop, <uv_tcp_t*>handle)
        if status < 0:
            _free_handle(handle)
            raise uv_error(status, 'socket')
        _own_handle(handle, self)
        if not self.refed:
            uv_unref(handle)
        self.handle = <uv_stream_t*>handle
        return 0

    cdef void _close_handle_quietly(self):
        """Drops the current handle without any event (a failed connect attempt)."""
        if self.handle != NULL:
            _close_owned_handle(<uv_handle_t*>self.handle)
            self.handle = NULL
            self.reading = False

    cdef void _handle_closed(self) except *:
        """The stream's handle is gone: now 'error' (if any) and 'close' may be emitted."""
        if self.emit_close_when_handle_closed:
            self.emit_close_when_handle_closed = False
            self._emit_close()

    # -- reading --------------------------------------------------------------------------------

    cdef void _listeners_changed(self, object name):
        if name != 'data':
            return
        listeners = self._get('data')
        self.data_listeners = listeners if listeners else None
        if listeners and self.held_chunks:
            self._schedule_held_delivery()

    cdef void _schedule_held_delivery(self):
        if not self.held_delivery_scheduled:
            self.held_delivery_scheduled = True
            _loop.ticks.append((self._deliver_held, ()))

    def _deliver_held(self):
        """Delivers, in order, what was read before the first 'data' listener came."""
        self.held_delivery_scheduled = False
        while (self.held_chunks and (self.data_listeners is not None or self.flowing)
               and not self.paused and not self.is_destroyed):
            chunk = self.held_chunks.pop(0)
            self.held_bytes -= len(chunk)
            if self.data_listeners is not None:
                self._emit_event1('data', chunk)
        if not self.held_chunks:
            self.held_chunks = None
            if self.readable_ended and not self.end_emitted and not self.is_destroyed:
                self._emit_end()
        self._update_reading()

    cdef void _update_reading(self) except *:
        """Reads from the kernel exactly when the socket is open, unpaused and below its mark."""
        cdef bint should = (self.handle != NULL and self.connected and not self.is_destroyed
                            and not self.paused and not self.readable_ended
                            and (self.held_chunks is None
                                 or self.held_bytes < self.high_water_mark))
        cdef int status
        if should and not self.reading:
            status = uv_read_start(self.handle, _on_read_alloc, _on_stream_read)
            if status < 0:
                self._destroy(uv_error(status, 'read'))
                return
            self.reading = True
        elif not should and self.reading:
            uv_read_stop(self.handle)
            self.reading = False

    cdef int _on_data(self, object chunk, Py_ssize_t nread) except -1:
        self.bytes_read += nread
        if self.idle_timeout_ms:
            self._touch()
        if self.decoder is not None:
            chunk = self.decoder.decode(chunk)
            if not chunk:
                return 0
        cdef tuple listeners = self.data_listeners
        if listeners is None or self.held_chunks:
            if listeners is None and self.flowing:
                return 0        # resume() without a 'data' listener discards, as in Node
            self._hold(chunk)
            return 0
        if len(listeners) == 1:
            listeners[0](chunk)      # an exception ends this read callback, nothing else
        else:
            self._emit_event1('data', chunk)
        return 0

    cdef void _hold(self, object chunk) except *:
        if self.held_chunks is None:
            self.held_chunks = []
        self.held_chunks.append(chunk)
        self.held_bytes += len(chunk)
        if self.held_bytes >= self.high_water_mark:
            self._update_reading()

    cdef void _on_eof(self) except *:
        self.readable_ended = True
        self._update_reading()
        if self.held_chunks:
            return        # 'end' follows the held chunks (_deliver_held)
        self._emit_end()

    cdef void _emit_end(self) except *:
        self.end_emitted = True
        if self.decoder is not None:
            tail = self.decoder.decode(b'', True)
            if tail and self.data_listeners is not None:
                self._emit_event1('data', tail)
        self._emit_event0('end')
        if self.is_destroyed:
            return
        if not self.allow_half_open and not self.ending:
            self.end()
        elif self.finished:
            self._destroy(None)

    # -- writing --------------------------------------------------------------------------------

    cdef Py_ssize_t _writable_length(self):
        cdef Py_ssize_t n = self.queued_bytes
        if self.handle != NULL:
            n += self.handle.write_queue_size
        return n

    cdef bint _write_data(self, bytes data, object callback) except -1:
        """write() after its arguments are checked: True while below the high-water mark."""
        if self.ending or self.is_destroyed or not (self.connected or self.is_connecting):
            self._write_refused(callback)
            return False
        cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
        cdef Py_ssize_t written
        cdef uv_buf_t buf
        if self.connected and not self.write_in_flight and self.queued is None:
            buf.base = PyBytes_AS_STRING(data)
            buf.len = size
            written = uv_try_write(self.handle, &buf, 1)
            if written == size:
                self.bytes_written += size
                if self.idle_timeout_ms:
                    self._touch()
                if callback is not None:
                    _loop.ticks.append((callback, (None,)))
                return True
            if written < 0:
                if written != UV_EAGAIN:
                    err = uv_error(<int>written, 'write')
                    if callback is not None:
                        _loop.ticks.append((callback, (err,)))
                    self._destroy(err)
                    return False
                written = 0
            self.bytes_written += written
            self._queue(memoryview(data)[written:] if written else data, size - written,
                        callback)
            self._flush_queue()
        else:
            self._queue(data, size, callback)
            self._flush_queue()
        if self._writable_length() >= self.high_water_mark:
            self.need_drain = True
            return False
        return True

    cdef void _queue(self, object data, Py_ssize_t size, object callback) except *:
        if self.queued is None:
            self.queued = []
            self.queued_callbacks = []
        self.queued.append(data)
        self.queued_callbacks.append(callback)
        self.queued_bytes += size

    cdef int _flush_queue(self) except -1:
        """Hands everything queued to libuv as one uv_write (writev); one write at a time."""
        if self.write_in_flight or self.queued is None or not self.connected:
            return 0
        cdef list buffers = self.queued
        cdef Py_ssize_t i, nbufs = len(buffers)
        cdef WriteReq* req = _new_write_req(nbufs)
        cdef Py_buffer* view
        for i in range(nbufs):
            data = buffers[i]
            if type(data) is bytes:
                req.bufs[i].base = PyBytes_AS_STRING(data)
                req.bufs[i].len = PyBytes_GET_SIZE(data)
            else:
                view = PyMemoryView_GET_BUFFER(data)
                req.bufs[i].base = <char*>view.buf
                req.bufs[i].len = view.len
        self.inflight = buffers
        self.inflight_callbacks = self.queued_callbacks
        self.inflight_bytes = self.queued_bytes
        self.queued = None
        self.queued_callbacks = None
        self.queued_bytes = 0
        req.req.data = <void*>self
        cdef int status = uv_write(&req.req, self.handle, req.bufs, <unsigned int>nbufs,
                                   _on_stream_write)
        if status < 0:
            _free_write_req(req)
            self._write_done(status)
            return 0
        self.write_in_flight = True
        return 0

    cdef void _write_done(self, int status) except *:
        callbacks = self.inflight_callbacks
        cdef Py_ssize_t nbytes = self.inflight_bytes
        self.inflight = None
        self.inflight_callbacks = None
        self.inflight_bytes = 0
        self.write_in_flight = False
        if self.is_destroyed:
            return          # cancelled by destroy(), which has called back already
        if status < 0:
            if status == UV_ECANCELED:
                err = net_error('ERR_STREAM_DESTROYED')
            else:
                err = uv_error(status, 'write')
            _call_each(callbacks, err)
            self._destroy(err)
            return
        self.bytes_written += nbytes
        if self.idle_timeout_ms:
            self._touch()
        _call_each(callbacks, None)
        if self.is_destroyed:
            return
        if self.queued is not None:
            self._flush_queue()
        elif self.ending:
            self._shutdown()
        if self.need_drain and not self._writable_length():
            self.need_drain = False
            self._emit_event0('drain')

    cdef void _write_refused(self, object callback) except *:
        """A write after end(), after destroy(), or on a socket that never connected: the
        callback hears why on a later tick, and an open socket is destroyed with it."""
        if self.ending:         # Node checks "ending" before "destroyed"
            code = 'ERR_STREAM_WRITE_AFTER_END'
        elif self.is_destroyed:
            code = 'ERR_STREAM_DESTROYED'
        else:
            code = 'ERR_SOCKET_CLOSED'
        err = net_error(code)
        if callback is not None:
            _loop.ticks.append((callback, (err,)))
        if not self.is_destroyed:
            self._destroy(err)

    cdef void _shutdown(self) except *:
        """Shuts down the sending side once everything queued has reached the kernel."""
        if self.shutdown_started or not self.connected or self.is_destroyed:
            return
        if self.write_in_flight or self.queued:
            return          # _write_done comes back here
        self.shutdown_started = True
        cdef uv_shutdown_t* req = <uv_shutdown_t*>_new_request(sizeof(uv_shutdown_t))
        req.data = <void*>self
        cdef int status = uv_shutdown(req, self.handle, _on_stream_shutdown)
        if status < 0:
            _free_request(req)
            self._shutdown_done(status)

    cdef void _shutdown_done(self, int status) except *:
        if self.is_destroyed:
            return
        if status < 0 and status != UV_ENOTCONN:
            self._destroy(uv_error(status, 'shutdown'))
            return
        self._finish()

    cdef void _finish(self) except *:
        """Our sending side is shut down: end() callbacks, then 'finish' (Node's order)."""
        self.finished = True
        callbacks = self.end_callbacks
        self.end_callbacks = None
        if callbacks:
            _call_each(callbacks, None)
        self._emit_event0('finish')
        if self.end_emitted and not self.is_destroyed:
            self._destroy(None)

    def _finish_unconnected(self):
        """end() on a socket that never connected: 'finish', then it closes (as in Node)."""
        if not self.is_destroyed and not self.is_connecting and not self.connected:
            self._finish()
            self._destroy(None)

    # -- closing --------------------------------------------------------------------------------

    cdef void _destroy(self, object error) except *:
        """Closes now. On later ticks: 'error' (if given), the dropped writes' and end()'s
        callbacks, and 'close' once the handle is closed; so 'close' is always last."""
        if self.is_destroyed:
            return
        self.is_destroyed = True
        cdef bint was_connected = self.connected
        self._abandon_connect()
        if error is not None:
            self.had_error = True
            _loop.ticks.append((self._emit_error, (error,)))
        # What user space still holds is dropped, and the write libuv has is cancelled (its
        # buffers stay alive until its callback): their callbacks hear why, after 'error'.
        callbacks = ((self.inflight_callbacks or []) + (self.queued_callbacks or [])
                     + (self.end_callbacks or []))
        self.inflight_callbacks = None
        self.queued = None
        self.queued_callbacks = None
        self.queued_bytes = 0
        self.end_callbacks = None
        if any(cb is not None for cb in callbacks):
            if error is None:
                error_for_callbacks = net_error('ERR_STREAM_DESTROYED' if was_connected else
                                                'ERR_SOCKET_CLOSED_BEFORE_CONNECTION')
            else:
                error_for_callbacks = error
            _loop.ticks.append((_call_each_later, (callbacks, error_for_callbacks)))
        if self.server is not None:
            (<Server>self.server).connections -= 1      # getConnections() counts the living
        if self.idle_timer != NULL:
            _close_owned_handle(<uv_handle_t*>self.idle_timer)
            self.idle_timer = NULL
        if self.handle != NULL:
            # libuv cancels a write/connect/shutdown in flight before the close callback.
            self.emit_close_when_handle_closed = True
            uv_close(<uv_handle_t*>self.handle, _on_stream_close)
            self.handle = NULL
            self.reading = False
        else:
            _loop.ticks.append((self._emit_close, ()))

    cdef void _abandon_connect(self):
        """Socket forgets a connect attempt in progress (its name lookup, a pending connect())."""
        self.is_connecting = False

    def _emit_error(self, err):
        if not self.closed:
            self._emit_event1('error', err)

    def _emit_close(self):
        """'close'(had_error): once, and last."""
        if self.closed:
            return
        self.closed = True
        self.connected = False
        server = self.server
        self.server = None
        self._emit_event1('close', bool(self.had_error))
        if server is not None:
            (<Server>server)._connection_closed()
        self._after_close()

    cdef void _after_close(self) except *:
        """Socket starts a connect() that was asked for while this one was closing."""
        pass

    # -- idle timeout ---------------------------------------------------------------------------

    cdef void _touch(self):
        self.last_activity_ms = uv_now(_uv_loop)
        if self.idle_timer_fired and self.idle_timer != NULL:
            self.idle_timer_fired = False
            uv_timer_start(self.idle_timer, _on_socket_idle_timer, self.idle_timeout_ms, 0)

    cdef void _idle_timer_fired(self) except *:
        if not self.idle_timeout_ms or self.is_destroyed:
            return
        cdef uint64_t idle_ms = uv_now(_uv_loop) - self.last_activity_ms
        if idle_ms >= self.idle_timeout_ms:
            self.idle_timer_fired = True     # re-armed by the next activity
            self._emit_event0('timeout')
        else:
            uv_timer_start(self.idle_timer, _on_socket_idle_timer,
                           self.idle_timeout_ms - idle_ms, 0)

    # -- public API -----------------------------------------------------------------------------

    def write(self, data, encoding='utf8', callback=None):
        """Sends data (bytes-like or str); False once the queued bytes reach highWaterMark."""
        _check_loop_thread()
        if callback is None and callable(encoding):
            callback, encoding = encoding, 'utf8'
        if callback is not None and not callable(callback):
            raise TypeError(f'callback must be callable, not {type(callback).__name__}')
        return self._write_data(_as_bytes(data, encoding), callback)

    def end(self, data=None, encoding='utf8', callback=None):
        """Writes data, then shuts down the sending side once everything is flushed."""
        _check_loop_thread()
        if callback is None and callable(encoding):
            callback, encoding = encoding, 'utf8'
        if callback is None and callable(data):
            callback, data = data, None
        if callback is not None and not callable(callback):
            raise TypeError(f'callback must be callable, not {type(callback).__name__}')
        if data is not None:
            self.write(data, encoding)
        if callback is not None:
            if self.finished:
                _loop.ticks.append((callback, (net_error('ERR_STREAM_ALREADY_FINISHED'),)))
            elif self.is_destroyed:
                _loop.ticks.append((callback, (net_error('ERR_STREAM_DESTROYED'),)))
            else:
                if self.end_callbacks is None:
                    self.end_callbacks = []
                self.end_callbacks.append(callback)
        if self.ending or self.is_destroyed:
            return self
        self.ending = True
        if self.connected:
            self._shutdown()
        elif not self.is_connecting:
            _loop.ticks.append((self._finish_unconnected, ()))
        return self

    def destroy(self, error=None):
        """Closes now, dropping what is queued; 'error'(error) first if given, then 'close'."""
        _check_loop_thread()
        if error is not None and not isinstance(error, BaseException):
            raise TypeError(f'error must be an exception, not {type(error).__name__}')
        if self.is_destroyed:
            self._abandon_connect()      # destroy() again drops a connect() asked for meanwhile
        self._destroy(error)
        return self

    def destroySoon(self):
        """Closes once everything queued has been written."""
        _check_loop_thread()
        if self.finished or not (self.connected or self.is_connecting):
            self._destroy(None)
        else:
            self.end()
            self.once('finish', self.destroy)
        return self

    def pause(self):
        """Stops reading from the kernel until resume()."""
        _check_loop_thread()
        self.paused = True
        self._update_reading()
        return self

    def resume(self):
        """Starts reading again after pause(); chunks flow even with no 'data' listener."""
        _check_loop_thread()
        self.paused = False
        self.flowing = True
        if self.held_chunks:
            self._schedule_held_delivery()
        self._update_reading()
        return self

    def isPaused(self):
        return bool(self.paused)

    def setEncoding(self, encoding='utf8'):
        """From now on 'data' gives str (None means 'utf8'); characters split across reads are
        kept whole, and chunks still held for the first 'data' listener are converted too."""
        _check_loop_thread()
        self.decoder = _encoding.decoder(_encoding.normalize(
            'utf8' if encoding is None else encoding))
        if self.held_chunks:
            converted = [self.decoder.decode(chunk) if not isinstance(chunk, str) else chunk
                         for chunk in self.held_chunks]
            self.held_chunks = [chunk for chunk in converted if chunk]
            self.held_bytes = sum([len(chunk) for chunk in self.held_chunks])
        return self

    def setTimeout(self, ms, callback=None):
        """Emits 'timeout' once after ms without reads or writes (0 turns it off)."""
        _check_loop_thread()
        if isinstance(ms, bool) or not isinstance(ms, (int, float)):
            raise TypeError(f'the timeout must be a number of milliseconds, not '
                            f'{type(ms).__name__}')
        if ms != ms or ms < 0 or ms > TIMER_MAX_DELAY_MS:
            raise ValueError(f'the timeout must be a number of ms in 0..{TIMER_MAX_DELAY_MS}, '
                             f'not {ms!r}')
        if callback is not None:
            _check_callable(callback, 'callback')
        if ms == 0:
            self.idle_timeout_ms = 0
            if self.idle_timer != NULL:
                uv_timer_stop(self.idle_timer)
            if callback is not None:
                self.off('timeout', callback)
            return self
        if callback is not None:
            self.once('timeout', callback)
        if self.is_destroyed:
            return self
        self.idle_timeout_ms = max(<uint64_t>ms, 1)
        if self.idle_timer == NULL:
            timer = <uv_timer_t*>_new_handle(sizeof(uv_timer_t))
            uv_timer_init(_uv_loop, timer)
            _own_handle(<uv_handle_t*>timer, self)
            uv_unref(<uv_handle_t*>timer)     # a socket's timeout never keeps run() alive
            self.idle_timer = timer
        self.last_activity_ms = uv_now(_uv_loop)
        self.idle_timer_fired = False
        uv_timer_start(self.idle_timer, _on_socket_idle_timer, self.idle_timeout_ms, 0)
        return self

    def ref(self):
        _check_loop_thread()
        self.refed = True
        if self.handle != NULL:
            uv_ref(<uv_handle_t*>self.handle)
        return self

    def unref(self):
        _check_loop_thread()
        self.refed = False
        if self.handle != NULL:
            uv_unref(<uv_handle_t*>self.handle)
        return self

    def pipe(self, destination, end=True):
        """Writes every chunk read to destination, pausing while it is full; returns it."""
        _check_loop_thread()
        if not callable(getattr(destination, 'write', None)):
            raise TypeError('destination must have a write() method')
        cdef _Pipe link = _Pipe.__new__(_Pipe)
        link.source = self
        link.destination = destination
        link.end_destination = bool(end)
        if self.pipes is None:
            self.pipes = []
        self.pipes.append(link)
        destination.on('drain', link.on_drain)
        self.on('end', link.on_end)
        self.on('data', link.on_data)
        return destination

    def unpipe(self, destination=None):
        """Stops pipe(destination) (every pipe when None)."""
        _check_loop_thread()
        if not self.pipes:
            return self
        cdef _Pipe link
        for link in list(self.pipes):
            if destination is None or link.destination is destination:
                self.pipes.remove(link)
                link.detach()
        return self

    # -- properties -----------------------------------------------------------------------------

    @property
    def bytesRead(self):
        return self.bytes_read

    @property
    def bytesWritten(self):
        """Bytes written, counting those still queued (before the connection too), as Node."""
        return self.bytes_written + self.inflight_bytes + self.queued_bytes

    @property
    def writableLength(self):
        return self._writable_length()

    @property
    def connecting(self):
        return bool(self.is_connecting)

    @property
    def pending(self):
        return bool(not self.connected or self.is_connecting)

    @property
    def destroyed(self):
        return bool(self.is_destroyed)

    @property
    def allowHalfOpen(self):
        return bool(self.allow_half_open)

    @property
    def readable(self):
        return not self.readable_ended and not self.is_destroyed

    @property
    def writable(self):
        return not self.ending and not self.is_destroyed

    @property
    def readyState(self):
        if self.is_connecting:
            return 'opening'
        if self.is_destroyed or not self.connected:
            return 'closed'
        readable = not self.readable_ended
        writable = not self.ending
        if readable and writable:
            return 'open'
        if readable:
            return 'readOnly'
        if writable:
            return 'writeOnly'
        return 'closed'

    @property
    def writableNeedDrain(self):
        return bool(self.need_drain)

    destroy_soon = destroySoon
    is_paused = isPaused
    set_encoding = setEncoding
    set_timeout = setTimeout


cdef class _Pipe:
    """One pipe(): its 'data' listener is a C method (called with vectorcall: no Python frame,
    no argument tuple per chunk)."""
    cdef Stream source
    cdef object destination
    cdef unsigned char end_destination
    cdef unsigned char paused_source

    def on_data(self, chunk):
        cdef bint flowing
        if isinstance(self.destination, Stream):
            flowing = (<Stream>self.destination)._write_data(
                chunk if type(chunk) is bytes else _as_bytes(chunk, None), None)
        else:
            flowing = self.destination.write(chunk) is not False
        if not flowing and not self.source.paused:
            self.paused_source = True
            self.source.pause()

    def on_drain(self):
        if self.paused_source:
            self.paused_source = False
            self.source.resume()

    def on_end(self):
        if self.end_destination:
            self.destination.end()

    cdef void detach(self):
        self.source.off('data', self.on_data)
        self.source.off('end', self.on_end)
        self.destination.off('drain', self.on_drain)


# -- libuv callbacks of streams -------------------------------------------------------------------

cdef void _on_read_alloc(uv_handle_t* handle, size_t suggested, uv_buf_t* buf) noexcept nogil:
    global _read_buffer_in_use
    if not _read_buffer_in_use:
        _read_buffer_in_use = True
        buf.base = _read_buffer
        buf.len = READ_BUFFER_BYTES
        return
    # Not reached while reads are handled one at a time; kept so a nested read never shares.
    buf.base = <char*>PyMem_RawMalloc(READ_BUFFER_BYTES)
    buf.len = READ_BUFFER_BYTES if buf.base != NULL else 0
    if buf.base != NULL:
        IOTNET_COUNT_BUFFERS(1)


cdef inline void _release_read_buffer(const uv_buf_t* buf) noexcept nogil:
    global _read_buffer_in_use
    if buf.base == _read_buffer:
        _read_buffer_in_use = False
    elif buf.base != NULL:
        PyMem_RawFree(buf.base)
        IOTNET_COUNT_BUFFERS(-1)


cdef void _on_stream_read(uv_stream_t* handle, ssize_t nread, const uv_buf_t* buf) noexcept:
    _hold_gil()
    cdef Stream stream = <Stream>handle.data
    try:
        if nread > 0:
            try:
                chunk = PyBytes_FromStringAndSize(buf.base, nread)
            finally:
                _release_read_buffer(buf)
            stream._on_data(chunk, nread)
        else:
            _release_read_buffer(buf)
            if nread == UV_EOF:
                stream._on_eof()
            elif nread < 0:
                stream._destroy(uv_error(<int>nread, 'read'))
    except BaseException as exc:
        _loop.report(exc)
    _loop.after_callback()


cdef void _on_stream_write(uv_write_t* req, int status) noexcept:
    _hold_gil()
    cdef Stream stream = <Stream>req.data
    _free_write_req(<WriteReq*>req)
    try:
        stream._write_done(status)
    except BaseException as exc:
        _loop.report(exc)
    _loop.after_callback()


cdef void _on_stream_shutdown(uv_shutdown_t* req, int status) noexcept:
    _hold_gil()
    cdef Stream stream = <Stream>req.data
    _free_request(req)
    try:
        stream._shutdown_done(status)
    except BaseException as exc:
        _loop.report(exc)
    _loop.after_callback()


cdef void _on_stream_close(uv_handle_t* handle) noexcept:
    _hold_gil()
    owner = _take_closed_handle(handle)
    if owner is not None:
        try:
            (<Stream>owner)._handle_closed()
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()


cdef void _on_socket_idle_timer(uv_timer_t* timer) noexcept:
    _hold_gil()
    cdef Stream stream = <Stream>timer.data
    try:
        stream._idle_timer_fired()
    except BaseException as exc:
        _loop.report(exc)
    _loop.after_callback()

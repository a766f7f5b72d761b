# Stream: what TCP and Unix-socket Sockets share: reading into the loop's one buffer and calling
# the cached 'data' listeners from C; writing with uv_try_write and queueing only the rest as
# one uv_write of many buffers; end/shutdown, destroy/close, pause/resume, idle timeouts.

from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING, PyBytes_GET_SIZE

cdef extern from "Python.h":
    ctypedef struct Py_buffer:
        void* buf
        Py_ssize_t len
        int readonly
    Py_buffer* PyMemoryView_GET_BUFFER(object mview)

from iotnet import _encoding

# The loop's one read buffer: handed out by the alloc callback, released by the read callback
# before any Python code runs. A heap block of its own (glibc maps it apart), not a static
# array: next to the module's other globals a static one made echo throughput swing between two
# levels from run to run.
cdef char* _read_buffer = <char*>PyMem_RawMalloc(READ_BUFFER_BYTES)
if _read_buffer == NULL:
    raise MemoryError('iotnet: no memory for the read buffer')


cdef inline bytes _as_bytes(object data, object encoding):
    """The bytes to send for write(data, encoding); mutable buffers are copied."""
    if type(data) is bytes:
        return <bytes>data
    if isinstance(data, str):
        if encoding is None or encoding == 'utf8' or encoding == 'utf-8':
            return (<str>data).encode('utf-8')
        return _encoding.encode(data, _encoding.normalize(encoding))
    try:
        view = memoryview(data)
    except TypeError:
        raise TypeError('data must be bytes, bytearray, memoryview, another buffer or str, '
                        f'not {type(data).__name__}') from None
    return bytes(view.cast('B'))


cdef inline _Pipe _forwarding_pipe(Stream stream):
    """The pipe whose chunks the read callback may forward in C: the only 'data' listener is
    a pipe into a Stream, and chunks are bytes (no setEncoding()). Else None: chunks become
    objects for the listeners."""
    listener = stream.data_listeners
    if (type(listener) is _Pipe and (<_Pipe>listener).to_stream
            and (stream.cold is None or stream.cold.decoder is None)):
        return <_Pipe>listener
    return None


cdef _OnRead _new_onread(tuple spec, bint gets_socket):
    """spec is (buffer or a function returning one, callback), checked by iotnet._args."""
    cdef _OnRead onread = _OnRead.__new__(_OnRead)
    onread.buffer, onread.callback = spec
    onread.view = None if callable(onread.buffer) else memoryview(onread.buffer)
    onread.gets_socket = gets_socket
    return onread


cdef extern from "Python.h":
    PyObject* PyMethod_GET_FUNCTION(object method)     # borrowed
    PyObject* PyMethod_GET_SELF(object method)         # borrowed

from types import MethodType as _MethodType
# Socket.write's function object (tcp.pxi sets it once the class exists): a bound method of it
# as the 'data' listener is a forward the read path makes in C.
cdef object _socket_write = None


cdef inline bint _any_callback(list callbacks):
    for callback in callbacks:
        if callback is not None:
            return True
    return False


cdef inline bint _reaches_mark(Py_ssize_t size, unsigned int mark) noexcept:
    """size >= a highWaterMark, compared as 64-bit signed numbers: on 32-bit ARM Py_ssize_t is
    an int, and C would compare it with the unsigned mark as unsigned."""
    return <long long>size >= <long long>mark


cdef inline bint _has_queue(Stream stream):
    """Bytes wait for the next uv_write."""
    return stream.cold is not None and stream.cold.queued is not None


cdef class Stream(Handle):
    """The part of Socket that moves bytes (see Socket)."""

    def __cinit__(self, *args, **kwargs):
        self.high_water_mark = DEFAULT_HIGH_WATER_MARK_BYTES

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
        self._own(handle)
        self.reading = False
        return 0

    @cython.final
    cdef _StreamCold _cold(self):
        if self.cold is None:
            self.cold = _StreamCold.__new__(_StreamCold)
        return self.cold

    cdef void _handle_closed(self) except *:
        """The stream's handle is gone: now 'close' may be emitted."""
        if self.emit_close_when_handle_closed:
            self.emit_close_when_handle_closed = False
            self._emit_close()

    cdef void _force_close(self) except *:
        self._destroy(None)

    # -- reading --------------------------------------------------------------------------------

    # 'data' is kept in data_listeners only, where the read callback looks (eventNames() lists
    # it first): a connection whose other listeners are for one name needs no tuple at all.

    cdef object _entry(self, object name):
        if _same_name(name, u'data'):
            return self.data_listeners
        return EventEmitter._entry(self, name)

    cdef void _set_listeners(self, object name, tuple listeners) except *:
        if not _same_name(name, u'data'):
            EventEmitter._set_listeners(self, name, listeners)
            return
        self.data_listeners = _entry_of(listeners)
        if self.data_listeners is not None and self.cold is not None and self.cold.held_chunks:
            self._schedule_held_delivery()

    cdef void _schedule_held_delivery(self):
        if not self.held_delivery_scheduled:
            self.held_delivery_scheduled = True
            _call_later(_later_deliver_held, self)

    cdef void _deliver_held(self) except *:
        """Delivers, in order, what was read before the first 'data' listener came."""
        self.held_delivery_scheduled = False
        cdef _StreamCold cold = self._cold()
        cdef bint onread = cold.onread is not None
        while (cold.held_chunks and (self.data_listeners is not None or self.flowing or onread)
               and not self.paused and not self.is_destroyed):
            chunk = cold.held_chunks.pop(0)
            cold.held_bytes -= len(chunk)
            if onread:
                self._deliver_to_onread(PyBytes_AS_STRING(chunk), PyBytes_GET_SIZE(chunk))
            elif self.data_listeners is not None:
                self._emit_event1('data', chunk)
        if not cold.held_chunks:
            cold.held_chunks = None
            if self.readable_ended and not self.end_emitted and not self.is_destroyed:
                self._emit_end()
        self._update_reading()

    cdef void _update_reading(self) except *:
        """Reads from the kernel exactly when the socket is open, unpaused and below its mark."""
        cdef bint should = (self.uv_handle != NULL and self.connected and not self.is_destroyed
                            and not self.paused and not self.readable_ended
                            and (self.cold is None or self.cold.held_chunks is None
                                 or not _reaches_mark(self.cold.held_bytes, self.high_water_mark)))
        cdef int status
        if should and not self.reading:
            status = uv_read_start(<uv_stream_t*>self.uv_handle, _on_read_alloc, _on_stream_read)
            if status < 0:
                self._destroy(uv_error(status, 'read'))
                return
            self.reading = True
        elif not should and self.reading:
            uv_read_stop(<uv_stream_t*>self.uv_handle)
            self.reading = False

    cdef int _read_done(self, ssize_t nread, const uv_buf_t* buf) except -1:
        cdef _Pipe pipe
        if nread > 0:
            if self.cold is not None and self.cold.onread is not None:
                return self._read_into_onread(buf.base, nread)
            pipe = _forwarding_pipe(self)
            if pipe is not None:
                return pipe.forward(buf.base, nread)
            self._on_data(PyBytes_FromStringAndSize(buf.base, nread), nread)
        elif nread == UV_EOF:
            self._on_eof()
        elif nread < 0:
            self._destroy(uv_error(<int>nread, 'read'))
        return 0

    # -- onread (Node's option): reads go into the user's buffer, and no object is made ----------

    cdef int _read_into_onread(self, const char* data, Py_ssize_t size) except -1:
        self.bytes_read += size
        if self.idle is not None:
            self.idle.touch()
        return self._deliver_to_onread(data, size)

    cdef int _deliver_to_onread(self, const char* data, Py_ssize_t size) except -1:
        """One callback per bufferful. A callback that returns False pauses the socket (as in
        Node); the rest of this read is held and delivered the same way at resume()."""
        cdef _OnRead onread = self.cold.onread
        cdef Py_buffer* target
        cdef Py_ssize_t n
        while size > 0 and not self.is_destroyed:
            buffer = onread.buffer
            view = onread.view
            if view is None:                # a function gives the buffer for each read
                buffer = buffer()
                view = memoryview(buffer)
            target = PyMemoryView_GET_BUFFER(view)
            if target.readonly or target.len == 0:
                raise TypeError("onread['buffer'] gave a read-only or empty buffer")
            n = min(size, target.len)
            memcpy(target.buf, data, n)
            data += n
            size -= n
            if onread.gets_socket:
                result = onread.callback(n, buffer, self)
            else:
                result = onread.callback(n, buffer)
            if result is False:
                self._set_paused(True)
                if size > 0:
                    self._hold(PyBytes_FromStringAndSize(data, size))
                break
        return 0

    cdef int _on_data(self, object chunk, Py_ssize_t nread) except -1:
        self.bytes_read += nread
        if self.idle is not None:
            self.idle.touch()
        cdef _StreamCold cold = self.cold
        if cold is not None and cold.decoder is not None:
            chunk = cold.decoder.decode(chunk)
            if not chunk:
                return 0
        listeners = self.data_listeners
        if listeners is None or (cold is not None and cold.held_chunks):
            if listeners is None and self.flowing:
                return 0        # resume() without a 'data' listener discards, as in Node
            self._hold(chunk)
            return 0
        if (type(listeners) is _MethodType
                and PyMethod_GET_FUNCTION(listeners) == <PyObject*>_socket_write
                and isinstance(<object>PyMethod_GET_SELF(listeners), Stream)):
            # sock.on('data', other.write): write() called in C, as it would run (no Python
            # call, argument parsing or thread check per chunk). A subclass that overrides
            # write() has another function there, and is called as any listener.
            (<Stream><object>PyMethod_GET_SELF(listeners))._write_data(
                chunk if type(chunk) is bytes else _as_bytes(chunk, None), None)
        elif type(listeners) is not tuple:
            listeners(chunk)         # an exception ends this read callback, nothing else
        else:
            self._emit_event1('data', chunk)
        return 0

    cdef void _hold(self, object chunk) except *:
        cdef _StreamCold cold = self._cold()
        if cold.held_chunks is None:
            cold.held_chunks = []
        cold.held_chunks.append(chunk)
        cold.held_bytes += len(chunk)
        if _reaches_mark(cold.held_bytes, self.high_water_mark):
            self._update_reading()

    cdef void _on_eof(self) except *:
        self.readable_ended = True
        self._update_reading()
        if self.cold is not None and self.cold.held_chunks:
            return        # 'end' follows the held chunks (_deliver_held)
        self._emit_end()

    cdef void _emit_end(self) except *:
        self.end_emitted = True
        if self.cold is not None and self.cold.decoder is not None:
            tail = self.cold.decoder.decode(b'', True)
            if tail and self.data_listeners is not None:
                self._emit_event1('data', tail)
        if self.pipes is not None:
            _pipes_source_ended(self)
        self._emit_event0('end')
        if self.is_destroyed:
            return
        if not self.allow_half_open and not self.ending:
            self._end()
        elif self.finished:
            self._destroy(None)

    # -- writing --------------------------------------------------------------------------------

    cdef Py_ssize_t _writable_length(self):
        cdef Py_ssize_t n = self.cold.queued_bytes if self.cold is not None else 0
        if self.uv_handle != NULL:
            n += (<uv_stream_t*>self.uv_handle).write_queue_size
        return n

    cdef bint _write_data(self, bytes data, object callback) except -1:
        """write() after its arguments are checked: True while below the high-water mark.
        (TLSSocket encrypts here, then sends the ciphertext.)"""
        if self.ending or self.is_destroyed or not (self.connected or self.is_connecting):
            self._write_refused(callback)
            return False
        return self._send(data, callback)

    @cython.final
    cdef bint _send(self, bytes data, object callback) except -1:
        """Puts bytes on the handle: uv_try_write now, the rest queued as one uv_write."""
        return self._send_buffer(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), data,
                                 callback)

    @cython.final
    cdef bint _send_buffer(self, const char* data, Py_ssize_t size, object owner,
                           object callback) except -1:
        """_send() of `size` bytes at `data`. `owner` is the bytes object they live in, kept
        while queued; None when they are in a buffer reused after the call (then the unsent
        tail is copied)."""
        cdef Py_ssize_t written
        cdef uv_buf_t buf
        if self.connected and not self.write_in_flight and not _has_queue(self):
            buf.base = <char*>data
            buf.len = size
            written = uv_try_write(<uv_stream_t*>self.uv_handle, &buf, 1)
            if written == size:
                self.bytes_written += size
                if self.idle is not None:
                    self.idle.touch()
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
            if owner is None:
                tail = PyBytes_FromStringAndSize(data + written, size - written)
            elif written:
                tail = memoryview(owner)[written:]
            else:
                tail = owner
            self._queue(tail, size - written, callback)
        else:
            self._queue(PyBytes_FromStringAndSize(data, size) if owner is None else owner, size,
                        callback)
        self._flush_queue()
        if _reaches_mark(self._writable_length(), self.high_water_mark):
            self.need_drain = True
            return False
        return True

    cdef bint _write_from_buffer(self, const char* data, Py_ssize_t size,
                                 object callback) except -1:
        """write() of bytes in a buffer that may change after the call (pipe()'s forwarding
        from the read buffer, a bytearray or memoryview), with no bytes object unless some
        must wait. (A TLSSocket encrypts them instead.)"""
        if self.ending or self.is_destroyed or not (self.connected or self.is_connecting):
            self._write_refused(callback)
            return False
        return self._send_buffer(data, size, None, callback)

    cdef void _queue(self, object data, Py_ssize_t size, object callback) except *:
        cdef _StreamCold cold = self._cold()
        if cold.queued is None:
            cold.queued = []
            cold.queued_callbacks = []
        cold.queued.append(data)
        cold.queued_callbacks.append(callback)
        cold.queued_bytes += size

    cdef int _flush_queue(self) except -1:
        """Hands everything queued to libuv as one uv_write (writev); one write at a time."""
        if self.write_in_flight or not _has_queue(self) or not self.connected:
            return 0
        cdef _StreamCold cold = self.cold
        cdef list buffers = cold.queued
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
        cold.inflight = buffers
        cold.inflight_callbacks = cold.queued_callbacks
        cold.inflight_bytes = cold.queued_bytes
        cold.queued = None
        cold.queued_callbacks = None
        cold.queued_bytes = 0
        req.req.data = <void*>self
        cdef int status = uv_write(&req.req, <uv_stream_t*>self.uv_handle, req.bufs,
                                   <unsigned int>nbufs, _on_stream_write)
        if status < 0:
            _free_write_req(req)
            self._write_done(status)
            return 0
        self.write_in_flight = True
        return 0

    cdef void _write_done(self, int status) except *:
        cdef _StreamCold cold = self.cold
        callbacks = cold.inflight_callbacks
        cdef Py_ssize_t nbytes = cold.inflight_bytes
        cold.inflight = None
        cold.inflight_callbacks = None
        cold.inflight_bytes = 0
        self.write_in_flight = False
        if self.is_destroyed:
            return          # cancelled by destroy(), which has called back already
        if status < 0:
            err = uv_error(status, 'write')
            _call_each(callbacks, err)
            self._destroy(err)
            return
        self.bytes_written += nbytes
        if self.idle is not None:
            self.idle.touch()
        _call_each(callbacks, None)
        if self.is_destroyed:
            return
        if _has_queue(self):
            self._flush_queue()
        elif self.shutdown_wanted:
            self._shutdown()
        if self.need_drain and not self._writable_length():
            self.need_drain = False
            self._emit_drain()

    @cython.final
    cdef void _emit_drain(self) except *:
        self._emit_event0('drain')
        if self.feeders is not None:
            _pipes_drained(self)

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

    # -- ending ---------------------------------------------------------------------------------

    cdef void _end(self) except *:
        """end() without data or callback: no more writes; the sending side shuts down."""
        if self.ending or self.is_destroyed:
            return
        self.ending = True
        self._end_writing()

    cdef void _end_writing(self) except *:
        """After what was written so far, shut down the sending side (TLSSocket sends its
        close_notify first, after the handshake)."""
        if self.connected:
            self.shutdown_wanted = True
            self._shutdown()
        elif not self.is_connecting:
            _call_later(_later_finish_unconnected, self)

    cdef void _shutdown(self) except *:
        """Shuts down the sending side once everything queued has reached the kernel."""
        if (self.shutdown_started or not self.shutdown_wanted or not self.connected
                or self.is_destroyed):
            return
        if self.write_in_flight or _has_queue(self):
            return          # _write_done comes back here
        self.shutdown_started = True
        cdef uv_shutdown_t* req = <uv_shutdown_t*>_new_request(sizeof(uv_shutdown_t))
        req.data = <void*>self
        cdef int status = uv_shutdown(req, <uv_stream_t*>self.uv_handle, _on_stream_shutdown)
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
        callbacks = None
        if self.cold is not None:
            callbacks = self.cold.end_callbacks
            self.cold.end_callbacks = None
        if callbacks:
            _call_each(callbacks, None)
        self._emit_event0('finish')
        if self.end_emitted and not self.is_destroyed:
            self._destroy(None)

    cdef void _finish_unconnected(self) except *:
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
            _call_later(_later_emit_error, self, error)
        # What user space still holds is dropped, and the write libuv has is cancelled (its
        # buffers stay alive until its callback): their callbacks hear why, after 'error'.
        cdef _StreamCold cold = self.cold
        callbacks = []
        if cold is not None:
            callbacks = ((cold.inflight_callbacks or []) + (cold.queued_callbacks or [])
                         + (cold.end_callbacks or []))
            cold.inflight_callbacks = cold.queued_callbacks = cold.end_callbacks = None
            cold.queued = None
            cold.queued_bytes = 0
        if _any_callback(callbacks):
            if error is None:
                error = net_error('ERR_STREAM_DESTROYED' if was_connected else
                                  'ERR_SOCKET_CLOSED_BEFORE_CONNECTION')
            _call_later(_later_call_each, callbacks, error)
        if self.parent is not None:
            self.parent._child_destroyed()
        if self.pipes is not None or self.feeders is not None:
            _pipes_destroyed(self, error)
        self._set_idle_timeout(0)
        if self.uv_handle != NULL:
            # libuv cancels a write/connect/shutdown in flight before the close callback.
            self.emit_close_when_handle_closed = True
            self._close()
            self.reading = False
        else:
            _call_later(_later_emit_close, self)

    cdef void _abandon_connect(self):
        """Socket forgets a connect attempt in progress (its name lookup, a pending connect())."""
        self.is_connecting = False

    cdef void _emit_close(self) except *:
        """'close'(had_error): once, and last."""
        if self.closed:
            return
        self.closed = True
        self.connected = False
        parent = self.parent
        self.parent = None
        self._emit_event1('close', bool(self.had_error))
        if parent is not None:
            parent._child_closed()
        self._after_close()

    cdef void _after_close(self) except *:
        """Socket starts a connect() that was asked for while this one was closing."""
        pass

    cdef void _connect_done(self, int status) except *:
        """Socket: the connect request has its answer."""
        pass

    cdef void _accepted(self) except *:
        """A Server accepted this stream and emitted 'connection' (TLSSocket starts here)."""
        pass

    cdef void _set_paused(self, bint paused) except *:
        self.paused = paused
        if not paused:
            self.flowing = True
            if self.cold is not None and self.cold.held_chunks:
                self._schedule_held_delivery()
        self._update_reading()

    cdef void _set_idle_timeout(self, uint64_t timeout_ms) except *:
        """Emits 'timeout' after timeout_ms without reads or writes; 0 turns it off."""
        if timeout_ms == 0:
            if self.idle is not None:
                self.idle._close_quietly()
                self.idle = None
            return
        if self.idle is None:
            self.idle = _IdleTimeout.__new__(_IdleTimeout)
            self.idle.stream = self
        self.idle.start(timeout_ms)

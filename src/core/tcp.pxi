# Socket: Node's net.Socket on a uv_tcp_t (or a uv_pipe_t for `path`): connect with name
# resolution trying every address in order, TCP options, addresses and the properties.

import os as _os


cdef class _Dial:
    """What a connect() needs while it runs (a socket a server accepted has none)."""


cdef class Socket(Stream):
    """A TCP or Unix-domain stream connection: Node's net.Socket."""

    def __init__(self, options=None, **kwargs):
        opts = _args.socket_options(options, kwargs)
        self.allow_half_open = opts['allowHalfOpen']
        self.high_water_mark = opts['highWaterMark']
        if opts['onread'] is not None:
            self._cold().onread = _new_onread(opts['onread'], False)

    # -- connecting -----------------------------------------------------------------------------

    def connect(self, *args, **kwargs):
        """connect(port, host='localhost', listener) or connect(options, listener)."""
        _check_loop_thread()
        options, listener = _args.connect_args(args, kwargs)    # once: iotnet.connect()'s
                                                                # options come back as they are
        if (self.is_connecting or (self.dial is not None and self.dial.pending_options is not None)
                or (self.connected and not self.is_destroyed)):
            raise NetError('ERR_SOCKET_CONNECTING', 'the socket is already connecting or '
                           'connected')
        if listener is not None:
            self.once('connect', listener)
        if self.is_destroyed and not self.closed:
            # destroy() then connect(): this connection's 'close' comes first (_after_close).
            if self.dial is None:
                self.dial = _Dial.__new__(_Dial)
            self.dial.pending_options = options
            self.is_connecting = True
            return self
        self._start_connect(options)
        return self

    cdef void _start_connect(self, object options) except *:
        if self.closed:
            self._reset()
        if options['timeout']:
            self._set_idle_timeout(options['timeout'])
        if options['noDelay']:
            self.no_delay = True
        if options['keepAlive']:
            self.keep_alive = True
            self.keep_alive_delay_ms = _delay_ms32(options['keepAliveInitialDelay'])
        cdef _Dial dial = _Dial.__new__(_Dial)
        dial.local_address = options['localAddress']
        dial.local_port = options['localPort']
        self.dial = dial
        self.is_connecting = True
        if options['path'] is not None:
            self._connect_pipe(options['path'])
            return
        dial.host = options['host']
        dial.port = options['port']
        dial.lookup = _lookup(self, dial.host, options['family'])

    cdef void _after_close(self) except *:
        if self.dial is not None and self.dial.pending_options is not None:
            options = self.dial.pending_options
            self.dial.pending_options = None
            self._start_connect(options)

    cdef void _abandon_connect(self):
        self.is_connecting = False
        if self.dial is not None:
            self.dial.lookup = None
            self.dial.pending_options = None

    cdef void _reset(self) except *:
        """A closed socket connects again from scratch (counters from zero), as in Node."""
        self.is_destroyed = self.closed = self.had_error = False
        self.connected = self.readable_ended = self.end_emitted = False
        self.ending = self.shutdown_started = self.finished = self.need_drain = False
        self.shutdown_wanted = False
        self.bytes_read = self.bytes_written = 0
        if self.cold is not None:
            self.cold.held_chunks = None
            self.cold.held_bytes = 0
        self.remote_cache = self.local_cache = None

    cdef void _lookup_done(self, _Lookup lookup, int status, list addresses) except *:
        cdef _Dial dial = self.dial
        if dial is None or lookup is not dial.lookup:
            return          # an abandoned attempt: destroy() came first
        dial.lookup = None
        host = dial.host
        if status < 0 or not addresses:
            err = uv_error(status if status < 0 else UV_EAI_NONAME, 'getaddrinfo', None,
                           dial.port, host)
            self._emit_event('lookup', (err, None, None, host))
            self._destroy(err)
            return
        family, address = addresses[0]
        self._emit_event('lookup', (None, address, family, host))
        if not self.is_destroyed:
            dial.addresses = addresses
            self._connect_next()

    cdef void _connect_next(self) except *:
        cdef sockaddr_storage addr
        cdef uv_connect_t* req
        cdef _Dial dial = self.dial
        family, address = dial.addresses.pop(0)
        dial.current_address = address
        self.is_pipe = False
        self._create_handle()
        cdef int status = self._bind_local(family)
        if status < 0:
            self._bind_failed(status)
            return
        _parse_ip(address, dial.port, &addr)
        req = <uv_connect_t*>_new_request(sizeof(uv_connect_t))
        req.data = <void*>self
        status = uv_tcp_connect(req, <uv_tcp_t*>self.uv_handle, <sockaddr*>&addr,
                                _on_stream_connect)
        if status < 0:
            _free_request(req)
            self._connect_failed(status, 'connect')

    cdef void _bind_failed(self, int status) except *:
        """A local address or port that cannot be bound: no other address is tried."""
        self.dial.addresses = None
        self._destroy(uv_error(status, 'bind', address=self.dial.local_address or None,
                               port=self.dial.local_port or None))

    cdef int _bind_local(self, int family) except? -1:
        cdef sockaddr_storage addr
        cdef _Dial dial = self.dial
        if not dial.local_address and not dial.local_port:
            return 0
        local = dial.local_address or ('0.0.0.0' if family == 4 else '::')
        if not _parse_ip(local, dial.local_port, &addr):
            return UV_EINVAL
        return uv_tcp_bind(<uv_tcp_t*>self.uv_handle, <sockaddr*>&addr, 0)

    cdef void _connect_pipe(self, object path) except *:
        cdef bytes raw = _os.fsencode(path)
        self.is_pipe = True
        self.dial.current_address = path
        self._create_handle()
        cdef uv_connect_t* req = <uv_connect_t*>_new_request(sizeof(uv_connect_t))
        req.data = <void*>self
        uv_pipe_connect(req, <uv_pipe_t*>self.uv_handle, raw, _on_stream_connect)

    cdef void _connect_failed(self, int status, str syscall) except *:
        cdef _Dial dial = self.dial
        if status == UV_EADDRINUSE and (dial.local_address or dial.local_port):
            self._bind_failed(status)     # libuv reports a bind's EADDRINUSE at connect
            return
        if dial.addresses:
            self._close_quietly()
            self._connect_next()
            return
        self._destroy(uv_error(status, syscall, address=dial.current_address,
                               port=None if self.is_pipe else dial.port))

    cdef void _connect_done(self, int status) except *:
        if status < 0:
            self._connect_failed(status, 'connect')
            return
        self.is_connecting = False
        self.connected = True
        self.dial.addresses = None
        self._apply_tcp_options()
        if self.idle is not None:
            self.idle.touch()
        self._emit_event0('connect')
        self._emit_event0('ready')      # also when a 'connect' listener destroyed it, as Node
        if self.is_destroyed:
            return
        self._update_reading()
        if _has_queue(self):
            self._flush_queue()     # writes made before the connection was up
        if self.ending:
            self._end_writing()

    cdef void _apply_tcp_options(self) except *:
        if self.is_pipe or self.uv_handle == NULL:
            return
        if self.no_delay:
            uv_tcp_nodelay(<uv_tcp_t*>self.uv_handle, 1)
        if self.keep_alive:
            _set_keepalive(<uv_tcp_t*>self.uv_handle, True, self.keep_alive_delay_ms)

    # -- writing, ending, reading: Node's stream methods ------------------------------------------

    def write(self, data, encoding='utf8', callback=None):
        """Sends data (bytes-like or str); False once the queued bytes reach highWaterMark."""
        _check_loop_thread()
        if callback is None and callable(encoding):
            callback, encoding = encoding, 'utf8'
        if callback is not None and not callable(callback):
            raise TypeError(f'callback must be callable, not {type(callback).__name__}')
        cdef Py_buffer* view
        if type(data) is memoryview or type(data) is bytearray:
            # Sent from its memory; only what the kernel does not take at once is copied.
            mview = data if type(data) is memoryview else memoryview(data)
            if mview.c_contiguous:
                view = PyMemoryView_GET_BUFFER(mview)
                return self._write_from_buffer(<const char*>view.buf, view.len, callback)
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
                cold = self._cold()
                if cold.end_callbacks is None:
                    cold.end_callbacks = []
                cold.end_callbacks.append(callback)
        self._end()
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
            self._end()
            self.once('finish', self.destroy)
        return self

    def pause(self):
        """Stops reading from the kernel until resume()."""
        _check_loop_thread()
        self._set_paused(True)
        return self

    def resume(self):
        """Starts reading again after pause(); chunks flow even with no 'data' listener."""
        _check_loop_thread()
        self._set_paused(False)
        return self

    def isPaused(self):
        return bool(self.paused)

    def setEncoding(self, encoding='utf8'):
        """From now on 'data' gives str (None means 'utf8'); characters split across reads are
        kept whole, and chunks still held for the first 'data' listener are converted too."""
        _check_loop_thread()
        cdef _StreamCold cold = self._cold()
        cold.decoder = _encoding.decoder(_encoding.normalize(
            'utf8' if encoding is None else encoding))
        if cold.held_chunks:
            converted = [cold.decoder.decode(chunk) if not isinstance(chunk, str) else chunk
                         for chunk in cold.held_chunks]
            cold.held_chunks = [chunk for chunk in converted if chunk]
            cold.held_bytes = sum([len(chunk) for chunk in cold.held_chunks])
        return self

    def setTimeout(self, ms, callback=None):
        """Emits 'timeout' once after ms without reads or writes (0 turns it off)."""
        _check_loop_thread()
        cdef uint64_t timeout_ms = _args.idle_timeout(ms)
        if callback is not None:
            _check_callable(callback, 'callback')
            if timeout_ms:
                self.once('timeout', callback)
            else:
                self.off('timeout', callback)
        if timeout_ms == 0 or not self.is_destroyed:
            self._set_idle_timeout(timeout_ms)
        return self

    def pipe(self, destination, end=True):
        """Writes every chunk read to destination, pausing while it is full; returns it."""
        _check_loop_thread()
        return _pipe(self, destination, end)

    def unpipe(self, destination=None):
        """Stops pipe(destination) (every pipe when None)."""
        _check_loop_thread()
        _unpipe(self, destination)
        return self


    # -- options --------------------------------------------------------------------------------

    def setNoDelay(self, noDelay=True):
        """Disables (True) or enables Nagle's algorithm."""
        _check_loop_thread()
        self.no_delay = bool(noDelay)
        if self.connected and not self.is_pipe and self.uv_handle != NULL:
            uv_tcp_nodelay(<uv_tcp_t*>self.uv_handle, self.no_delay)
        return self

    def setKeepAlive(self, enable=False, initialDelay=0):
        """TCP keep-alive; initialDelay in ms, rounded down to seconds (0: the system's)."""
        _check_loop_thread()
        self.keep_alive = bool(enable)
        self.keep_alive_delay_ms = _delay_ms32(_args.milliseconds(initialDelay, 'initialDelay'))
        if self.connected and not self.is_pipe and self.uv_handle != NULL:
            _set_keepalive(<uv_tcp_t*>self.uv_handle, self.keep_alive, self.keep_alive_delay_ms)
        return self

    # -- addresses ------------------------------------------------------------------------------

    cdef tuple _remote(self):
        cdef sockaddr_storage addr
        cdef int size = sizeof(addr)
        if (self.remote_cache is None and self.uv_handle != NULL and self.connected
                and not self.is_pipe):
            if uv_tcp_getpeername(<uv_tcp_t*>self.uv_handle, <sockaddr*>&addr, &size) == 0:
                self.remote_cache = _sockaddr_tuple(<sockaddr*>&addr)
        return self.remote_cache

    cdef tuple _local(self):
        cdef sockaddr_storage addr
        cdef int size = sizeof(addr)
        if self.local_cache is None and self.uv_handle != NULL and not self.is_pipe:
            if uv_tcp_getsockname(<uv_tcp_t*>self.uv_handle, <sockaddr*>&addr, &size) == 0:
                self.local_cache = _sockaddr_tuple(<sockaddr*>&addr)
        return self.local_cache

    cdef dict _endpoints(self):
        """Both ends, as the data of Server's 'drop' event."""
        local = self._local() or (None, None, None)
        remote = self._remote() or (None, None, None)
        return {'localAddress': local[0], 'localPort': local[2], 'localFamily': local[1],
                'remoteAddress': remote[0], 'remotePort': remote[2], 'remoteFamily': remote[1]}

    def address(self):
        """{'address', 'family', 'port'} of the local end ({} when there is none)."""
        local = self._local()
        if local is None:
            return {}
        return {'address': local[0], 'family': local[1], 'port': local[2]}

    @property
    def remoteAddress(self):
        remote = self._remote()
        return None if remote is None else remote[0]

    @property
    def remoteFamily(self):
        remote = self._remote()
        return None if remote is None else remote[1]

    @property
    def remotePort(self):
        remote = self._remote()
        return None if remote is None else remote[2]

    @property
    def localAddress(self):
        local = self._local()
        return None if local is None else local[0]

    @property
    def localFamily(self):
        local = self._local()
        return None if local is None else local[1]

    @property
    def localPort(self):
        local = self._local()
        return None if local is None else local[2]

    # -- properties -----------------------------------------------------------------------------

    @property
    def bytesRead(self):
        return self.bytes_read

    @property
    def bytesWritten(self):
        """Bytes written, counting those still queued (before the connection too), as Node."""
        if self.cold is None:
            return self.bytes_written
        return self.bytes_written + self.cold.inflight_bytes + self.cold.queued_bytes

    @property
    def writableLength(self):
        return self._writable_length()

    @property
    def writableNeedDrain(self):
        return bool(self.need_drain)

    @property
    def readableHighWaterMark(self):
        return self.high_water_mark

    @property
    def writableHighWaterMark(self):
        return self.high_water_mark

    # -- inside asyncio (iotnet.aio) --------------------------------------------------------------

    def __aiter__(self):
        """`async for chunk in sock`, with backpressure: see iotnet.aio.iterate."""
        return _aio().iterate(self)

    def drain(self):
        """`await sock.drain()`: at once below highWaterMark, else at 'drain' (iotnet.aio)."""
        return _aio().drain(self)

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

    destroy_soon = destroySoon
    is_paused = isPaused
    set_encoding = setEncoding
    set_timeout = setTimeout
    set_no_delay = setNoDelay
    set_keep_alive = setKeepAlive


cdef inline unsigned int _delay_ms32(uint64_t ms):
    return <unsigned int>(ms if ms < 0xFFFFFFFF else 0xFFFFFFFF)


cdef void _set_keepalive(uv_tcp_t* handle, bint enable, uint64_t initial_delay_ms) except *:
    """Keep-alive; a delay under one second keeps the system's idle time (the kernel rejects 0)."""
    cdef unsigned int delay_s = <unsigned int>(initial_delay_ms // 1000)
    cdef uv_os_fd_t fd
    cdef int on = 1
    if enable and delay_s == 0:
        if uv_fileno(<uv_handle_t*>handle, &fd) == 0:
            setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on))
        return
    uv_tcp_keepalive(handle, enable, delay_s)


cdef object _aio_module = None


cdef object _aio():
    """iotnet.aio, imported on first use (it imports asyncio)."""
    global _aio_module
    if _aio_module is None:
        from iotnet import aio
        _aio_module = aio
    return _aio_module


_socket_write = Socket.__dict__['write']

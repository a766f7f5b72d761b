# Socket: Node's net.Socket on a uv_tcp_t (or a uv_pipe_t for `path`): connect with name
# resolution trying every address in order, TCP options, and addresses.

from iotnet import _args


cdef class Socket(Stream):
    """A TCP or Unix-domain stream connection: Node's net.Socket."""
    cdef tuple remote_cache          # (address, family, port), fetched once when asked
    cdef tuple local_cache
    cdef list connect_addresses      # [(family, address)] not yet tried
    cdef object connect_host
    cdef int connect_port
    cdef object current_address
    cdef object local_address
    cdef int local_port
    cdef unsigned char no_delay
    cdef unsigned char keep_alive
    cdef uint64_t keep_alive_delay_ms
    cdef _Lookup pending_lookup      # the name resolution this connect() waits for
    cdef dict pending_connect        # connect() while a destroyed connection is still closing

    def __init__(self, options=None, **kwargs):
        opts = _args.socket_options(options, kwargs)
        self.allow_half_open = opts['allowHalfOpen']
        self.high_water_mark = opts['highWaterMark']

    # -- connecting -----------------------------------------------------------------------------

    def connect(self, *args, **kwargs):
        """connect(port, host='localhost', listener) or connect(options, listener)."""
        _check_loop_thread()
        options, listener = _args.connect_args(args, kwargs)
        if (self.is_connecting or self.pending_connect is not None
                or (self.connected and not self.is_destroyed)):
            raise NetError('ERR_SOCKET_CONNECTING', 'the socket is already connecting or '
                           'connected')
        if listener is not None:
            self.once('connect', listener)
        if self.is_destroyed and not self.closed:
            # destroy() then connect(): this connection's 'close' comes first (_after_close).
            self.pending_connect = options
            self.is_connecting = True
            return self
        self._start_connect(options)
        return self

    cdef void _start_connect(self, dict options) except *:
        if self.closed:
            self._reset()
        if options['timeout']:
            self.setTimeout(options['timeout'])
        if options['noDelay']:
            self.no_delay = True
        if options['keepAlive']:
            self.keep_alive = True
            self.keep_alive_delay_ms = options['keepAliveInitialDelay']
        self.local_address = options['localAddress']
        self.local_port = options['localPort']
        self.is_connecting = True
        if options['path'] is not None:
            self._connect_pipe(options['path'])
            return
        self.connect_host = options['host']
        self.connect_port = options['port']
        self.pending_lookup = _lookup(self.connect_host, options['family'], self._on_lookup)

    cdef void _after_close(self) except *:
        if self.pending_connect is not None:
            options = self.pending_connect
            self.pending_connect = None
            self._start_connect(options)

    cdef void _abandon_connect(self):
        self.is_connecting = False
        self.pending_lookup = None
        self.pending_connect = None

    cdef void _reset(self) except *:
        """A closed socket connects again from scratch (counters from zero), as in Node."""
        self.is_destroyed = self.closed = self.had_error = False
        self.connected = self.readable_ended = self.end_emitted = False
        self.ending = self.shutdown_started = self.finished = self.need_drain = False
        self.bytes_read = self.bytes_written = 0
        self.held_chunks = None
        self.held_bytes = 0
        self.remote_cache = self.local_cache = None
        self.idle_timeout_ms = 0

    def _on_lookup(self, _Lookup lookup, int status, list addresses):
        if lookup is not self.pending_lookup:
            return          # an abandoned attempt: destroy() came first
        self.pending_lookup = None
        host = self.connect_host
        if status < 0 or not addresses:
            err = uv_error(status if status < 0 else UV_EAI_NONAME, 'getaddrinfo', None,
                           self.connect_port, host)
            self._emit_event('lookup', (err, None, None, host))
            self._destroy(err)
            return
        family, address = addresses[0]
        self._emit_event('lookup', (None, address, family, host))
        if not self.is_destroyed:
            self.connect_addresses = addresses
            self._connect_next()

    cdef void _connect_next(self) except *:
        cdef sockaddr_storage addr
        cdef uv_connect_t* req
        family, address = self.connect_addresses.pop(0)
        self.current_address = address
        self.is_pipe = False
        self._create_handle()
        cdef int status = self._bind_local(family)
        if status < 0:
            self._bind_failed(status)
            return
        _parse_ip(address, self.connect_port, &addr)
        req = <uv_connect_t*>_new_request(sizeof(uv_connect_t))
        req.data = <void*>self
        status = uv_tcp_connect(req, <uv_tcp_t*>self.handle, <sockaddr*>&addr, _on_stream_connect)
        if status < 0:
            _free_request(req)
            self._connect_failed(status, 'connect')

    cdef void _bind_failed(self, int status) except *:
        """A local address or port that cannot be bound: no other address is tried."""
        self.connect_addresses = None
        self._destroy(uv_error(status, 'bind', address=self.local_address or None,
                               port=self.local_port or None))

    cdef int _bind_local(self, int family) except? -1:
        cdef sockaddr_storage addr
        if not self.local_address and not self.local_port:
            return 0
        local = self.local_address or ('0.0.0.0' if family == 4 else '::')
        if not _parse_ip(local, self.local_port, &addr):
            return UV_EINVAL
        return uv_tcp_bind(<uv_tcp_t*>self.handle, <sockaddr*>&addr, 0)

    cdef void _connect_pipe(self, object path) except *:
        cdef bytes raw = _os_for_paths.fsencode(path)
        self.is_pipe = True
        self.current_address = path
        self.connect_port = 0
        self.connect_addresses = None
        self._create_handle()
        cdef uv_connect_t* req = <uv_connect_t*>_new_request(sizeof(uv_connect_t))
        req.data = <void*>self
        uv_pipe_connect(req, <uv_pipe_t*>self.handle, raw, _on_stream_connect)

    cdef void _connect_failed(self, int status, str syscall) except *:
        if status == UV_EADDRINUSE and (self.local_address or self.local_port):
            self._bind_failed(status)     # libuv reports a bind's EADDRINUSE at connect
            return
        if self.connect_addresses:
            self._close_handle_quietly()
            self._connect_next()
            return
        self._destroy(uv_error(status, syscall, address=self.current_address,
                               port=None if self.is_pipe else self.connect_port))

    cdef void _connect_done(self, int status) except *:
        if status < 0:
            self._connect_failed(status, 'connect')
            return
        self.is_connecting = False
        self.connected = True
        self.connect_addresses = None
        self._apply_tcp_options()
        if self.idle_timeout_ms:
            self._touch()
        self._emit_event0('connect')
        self._emit_event0('ready')      # also when a 'connect' listener destroyed it, as Node
        if self.is_destroyed:
            return
        self._update_reading()
        if self.queued is not None:
            self._flush_queue()     # writes made before the connection was up
        elif self.ending:
            self._shutdown()

    cdef void _apply_tcp_options(self) except *:
        if self.is_pipe or self.handle == NULL:
            return
        if self.no_delay:
            uv_tcp_nodelay(<uv_tcp_t*>self.handle, 1)
        if self.keep_alive:
            _set_keepalive(<uv_tcp_t*>self.handle, True, self.keep_alive_delay_ms)

    # -- options --------------------------------------------------------------------------------

    def setNoDelay(self, noDelay=True):
        """Disables (True) or enables Nagle's algorithm."""
        _check_loop_thread()
        self.no_delay = bool(noDelay)
        if self.connected and not self.is_pipe and self.handle != NULL:
            uv_tcp_nodelay(<uv_tcp_t*>self.handle, self.no_delay)
        return self

    def setKeepAlive(self, enable=False, initialDelay=0):
        """TCP keep-alive; initialDelay in ms, rounded down to seconds (0: the system's)."""
        _check_loop_thread()
        self.keep_alive = bool(enable)
        self.keep_alive_delay_ms = _args.milliseconds(initialDelay, 'initialDelay')
        if self.connected and not self.is_pipe and self.handle != NULL:
            _set_keepalive(<uv_tcp_t*>self.handle, self.keep_alive, self.keep_alive_delay_ms)
        return self

    # -- addresses ------------------------------------------------------------------------------

    cdef tuple _remote(self):
        cdef sockaddr_storage addr
        cdef int size = sizeof(addr)
        if (self.remote_cache is None and self.handle != NULL and self.connected
                and not self.is_pipe):
            if uv_tcp_getpeername(<uv_tcp_t*>self.handle, <sockaddr*>&addr, &size) == 0:
                self.remote_cache = _sockaddr_tuple(<sockaddr*>&addr)
        return self.remote_cache

    cdef tuple _local(self):
        cdef sockaddr_storage addr
        cdef int size = sizeof(addr)
        if self.local_cache is None and self.handle != NULL and not self.is_pipe:
            if uv_tcp_getsockname(<uv_tcp_t*>self.handle, <sockaddr*>&addr, &size) == 0:
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

    set_no_delay = setNoDelay
    set_keep_alive = setKeepAlive


cdef void _on_stream_connect(uv_connect_t* req, int status) noexcept:
    _hold_gil()
    cdef Socket sock = <Socket>req.data
    cdef bint current = <uv_stream_t*>req.handle == sock.handle
    _free_request(req)
    if current:         # else its handle was closed (destroy, or a failed attempt) and replaced
        try:
            sock._connect_done(status)
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()

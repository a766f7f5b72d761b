# Server: Node's net.Server on a listening uv_tcp_t (or uv_pipe_t for `path`).

# In a worker of `python -m iotnet --workers N` every TCP listen() sets SO_REUSEPORT, so the
# kernel spreads the connections over the workers (set once by iotnet/__init__.py).
cdef bint _reuse_port_always = False


def _set_reuse_port_always(bint on):
    global _reuse_port_always
    _reuse_port_always = on


# A graceful stop's drain (_drain_close): closing a listener that shares its port resets
# the connections already queued in its own accept backlog, so the backlog is accepted first,
# here, with no loop iteration between the last accept and the close. The accepted fd is handed
# to libuv as its own uv__server_io does (stream->accepted_fd), so that uv_accept() and the
# usual Server._accept path take it.
cdef extern from *:
    """
    #include <errno.h>
    #include <fcntl.h>
    #include <sys/socket.h>
    static int iotnet_accept_queued(uv_stream_t* server) {
        uv_os_fd_t fd;
        int client;
        if (server->accepted_fd != -1 || uv_fileno((uv_handle_t*)server, &fd) != 0)
            return -1;
        do {
    #ifdef __linux__
            client = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    #else
            client = accept(fd, NULL, NULL);
            if (client >= 0) {
                fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK);
                fcntl(client, F_SETFD, FD_CLOEXEC);
            }
    #endif
        } while (client < 0 && errno == EINTR);
        if (client < 0)
            return -1;          /* EAGAIN: the backlog is empty */
        server->accepted_fd = client;
        return 0;
    }
    """
    int iotnet_accept_queued(uv_stream_t* server)


cdef class Server(Handle):
    """A TCP or Unix-domain listening socket: Node's net.Server."""

    def __cinit__(self, *args, **kwargs):
        self.high_water_mark = DEFAULT_HIGH_WATER_MARK_BYTES

    def __init__(self, options=None, connectionListener=None, **kwargs):
        opts, listener = _args.server_args(options, connectionListener, kwargs)
        self.allow_half_open = opts['allowHalfOpen']
        self.pause_on_connect = opts['pauseOnConnect']
        self.no_delay = opts['noDelay']
        self.keep_alive = opts['keepAlive']
        self.keep_alive_delay_ms = opts['keepAliveInitialDelay']
        self.high_water_mark = opts['highWaterMark']
        if opts['onread'] is not None:
            self.onread = _new_onread(opts['onread'], True)
        self.proxy_protocol = opts['proxyProtocol']
        self.header_timeout_ms = opts['headerTimeout']
        if listener is not None:
            self.on('connection', listener)

    # -- listening ------------------------------------------------------------------------------

    def listen(self, *args, **kwargs):
        """listen(port=0, host=None, backlog=511, listener) or listen(options, listener)."""
        _check_loop_thread()
        spec, listener = _args.listen_args(args, kwargs)
        if self.uv_handle != NULL or self.pending_listen is not None:
            raise net_error('ERR_SERVER_ALREADY_LISTEN')
        if listener is not None:
            self.once('listening', listener)
        self.close_requested = False
        host = spec['host']
        cdef int family
        cdef int status
        if spec['path'] is not None:
            self._listen_pipe(spec)
        elif host is None:
            # Dual stack where IPv6 exists, else IPv4 only.
            status = self._listen_on(spec, 6, '::')
            if status == UV_EAFNOSUPPORT:
                status = self._listen_on(spec, 4, '0.0.0.0')
            if status < 0:
                self._listen_failed(status, '::', spec['port'])
        else:
            family = _ip_family(host)
            if family:
                status = self._listen_on(spec, family, host)
                if status < 0:
                    self._listen_failed(status, host, spec['port'])
            else:
                self.pending_listen = spec
                self.pending_lookup = _lookup(self, host, 0)
        return self

    cdef int _listen_on(self, dict spec, int family, str address) except? -9999:
        """Binds and listens on an IP literal; a negative libuv status when it fails."""
        cdef sockaddr_storage addr
        cdef uv_os_fd_t fd
        cdef int on = 1
        _parse_ip(address, spec['port'], &addr)
        cdef uv_tcp_t* handle = <uv_tcp_t*>_new_handle(sizeof(uv_tcp_t))
        # The socket exists from init on, so SO_REUSEPORT can be set before bind on every
        # libuv version (UV_TCP_REUSEPORT only exists from libuv 1.49).
        cdef int status = uv_tcp_init_ex(_uv_loop, handle, AF_INET if family == 4 else AF_INET6)
        if status < 0:
            _free_handle(handle)
            return status
        self._own(<uv_handle_t*>handle)
        self.is_pipe = False
        if (spec['reusePort'] or _reuse_port_always) and uv_fileno(<uv_handle_t*>handle, &fd) == 0:
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on))
        status = uv_tcp_bind(handle, <sockaddr*>&addr,
                             UV_TCP_IPV6ONLY if spec['ipv6Only'] and family == 6 else 0)
        if status == 0:
            status = uv_listen(<uv_stream_t*>handle, spec['backlog'], _on_server_connection)
        if status < 0:
            self._close_quietly()
            return status
        self._listening()
        return 0

    cdef void _listen_pipe(self, dict spec) except *:
        path = spec['path']
        cdef bytes raw = _os.fsencode(path)
        cdef uv_pipe_t* handle = <uv_pipe_t*>_new_handle(sizeof(uv_pipe_t))
        cdef int status = uv_pipe_init(_uv_loop, handle, 0)
        if status < 0:
            _free_handle(handle)
            raise uv_error(status, 'listen', address=path)
        self._own(<uv_handle_t*>handle)
        self.is_pipe = True
        self.pipe_path = path
        status = uv_pipe_bind(handle, raw)    # libuv removes the file when the handle closes
        if status == 0:
            status = uv_listen(<uv_stream_t*>handle, spec['backlog'], _on_server_connection)
        if status < 0:
            self._close_quietly()
            self._listen_failed(status, path, None)
            return
        self._listening()

    cdef void _listening(self) except *:
        self.is_listening = True
        _call_later(_later_emit_listening, self)

    cdef void _lookup_done(self, _Lookup lookup, int status, list addresses) except *:
        if lookup is not self.pending_lookup:
            return          # close() came first
        spec = self.pending_listen
        self.pending_listen = None
        self.pending_lookup = None
        host = spec['host']
        if status < 0 or not addresses:
            self._emit_event1('error', uv_error(status if status < 0 else UV_EAI_NONAME,
                                                'getaddrinfo', None, None, host))
            return
        family, address = addresses[0]
        status = self._listen_on(spec, family, address)
        if status < 0:
            self._listen_failed(status, address, spec['port'])

    cdef void _listen_failed(self, int status, object address, object port) except *:
        """A listen error is emitted as 'error' on a later tick, never raised from listen()."""
        _call_later(_later_emit_server_error, self,
                    uv_error(status, 'listen', address=address, port=port))

    # -- connections ----------------------------------------------------------------------------

    cdef void _accept(self, int status) except *:
        if status < 0:
            self._emit_event1('error', uv_error(status, 'accept'))
            return
        cdef Socket sock = self._new_connection()
        sock.is_pipe = self.is_pipe
        sock._create_handle()
        status = uv_accept(<uv_stream_t*>self.uv_handle, <uv_stream_t*>sock.uv_handle)
        if status < 0:
            sock._close_quietly()
            self._emit_event1('error', uv_error(status, 'accept'))
            return
        sock.connected = True
        if self.connection_limit and self.connections >= self.connection_limit:
            # Over the limit: closed at once, and 'drop' tells who it was (Node 18+).
            if self._get('drop'):
                self._emit_event1('drop', sock._endpoints())
            sock._close_quietly()
            return
        sock.allow_half_open = self.allow_half_open
        sock.high_water_mark = self.high_water_mark
        if self.onread is not None:
            sock._cold().onread = self.onread
        sock.no_delay = self.no_delay
        sock.keep_alive = self.keep_alive
        sock.keep_alive_delay_ms = _delay_ms32(self.keep_alive_delay_ms)
        sock._apply_tcp_options()
        sock.parent = self
        self.connections += 1
        self.open_connections += 1
        sock.paused = self.pause_on_connect
        if self.proxy_protocol:
            # The PROXY header comes first; 'connection' follows it (proxy_protocol.pxi).
            # Until then the socket counts in getConnections() and maxConnections.
            _proxy_start(self, sock)
            return
        sock._update_reading()
        self._emit_event1('connection', sock)
        sock._accepted()

    cdef Socket _new_connection(self):
        """The Socket for an accepted connection (TLSServer makes a TLSSocket)."""
        return Socket.__new__(Socket)

    cdef void _child_destroyed(self):
        self.connections -= 1             # getConnections() counts the living

    cdef void _child_closed(self) except *:
        self.open_connections -= 1
        if self.close_requested:
            self._emit_close_if_drained()

    # -- closing --------------------------------------------------------------------------------

    def close(self, callback=None):
        """Stops accepting now; 'close' follows the last open connection's 'close'.

        On a server that is not listening, callback gets ERR_SERVER_NOT_RUNNING on a later tick.
        """
        _check_loop_thread()
        cdef bint running = self.uv_handle != NULL or self.pending_listen is not None
        if callback is not None:
            _check_callable(callback, 'callback')
            if running:
                self.once('close', callback)
            else:
                _call_later(_later_closed_while_not_running, self, callback)
        self.close_requested = True
        self.pending_listen = None
        self.pending_lookup = None
        if self.uv_handle != NULL:
            self.is_listening = False
            self.handle_closing = True
            self._close()
        elif running or callback is None:
            _call_later(_later_emit_close_if_drained, self)
        return self

    cdef void _handle_closed(self) except *:
        self.handle_closing = False
        self._emit_close_if_drained()

    cdef void _force_close(self) except *:
        self.close()

    cdef void _emit_close_if_drained(self) except *:
        # As in Node, every close() on a server with nothing open ends in a 'close'.
        if (self.uv_handle == NULL and not self.handle_closing and self.pending_listen is None
                and self.open_connections == 0):
            if self.header_deadlines is not None:     # no header can be pending now
                self.header_deadlines._close_quietly()
                self.header_deadlines = None
            self._emit_event0('close')

    # -- the rest of the API --------------------------------------------------------------------

    def address(self):
        """{'address', 'family', 'port'} (the path for a Unix socket); None when not listening."""
        cdef sockaddr_storage addr
        cdef int size = sizeof(addr)
        if not self.is_listening or self.uv_handle == NULL:
            return None
        if self.is_pipe:
            return self.pipe_path
        if uv_tcp_getsockname(<uv_tcp_t*>self.uv_handle, <sockaddr*>&addr, &size) < 0:
            return None
        info = _sockaddr_tuple(<sockaddr*>&addr)
        return {'address': info[0], 'family': info[1], 'port': info[2]}

    def getConnections(self, callback):
        """callback(None, count) on a later tick; count: accepted sockets not destroyed."""
        _check_loop_thread()
        _loop.ticks.append((_check_callable(callback, 'callback'), (None, self.connections)))
        return self

    @property
    def listening(self):
        return bool(self.is_listening)

    @property
    def maxConnections(self):
        """Connections above this many are closed at once ('drop'); None or 0: no limit."""
        return self.max_connections_value

    @maxConnections.setter
    def maxConnections(self, value):
        self.connection_limit = _args.max_connections(value)
        self.max_connections_value = value

    get_connections = getConnections


def _drain_close(Server server):
    """server.close(), after accepting (with 'connection' events) what its backlog holds."""
    _check_loop_thread()
    while server.uv_handle != NULL and server.is_listening:
        if iotnet_accept_queued(<uv_stream_t*>server.uv_handle) < 0:
            break
        server._accept(0)
    return server.close()


# -- tick entries ---------------------------------------------------------------------------------

cdef int _later_emit_listening(object server, object unused) except -1:
    if (<Server>server).is_listening:
        (<Server>server)._emit_event0('listening')
    return 0


cdef int _later_emit_server_error(object server, object err) except -1:
    (<Server>server)._emit_event1('error', err)
    return 0


cdef int _later_emit_close_if_drained(object server, object unused) except -1:
    (<Server>server)._emit_close_if_drained()
    return 0


cdef int _later_closed_while_not_running(object server, object callback) except -1:
    """close(callback) before listen(): 'close' (unless a listen() came since), then
    callback(ERR_SERVER_NOT_RUNNING), whatever happened in between."""
    (<Server>server)._emit_close_if_drained()
    callback(net_error('ERR_SERVER_NOT_RUNNING'))
    return 0


# -- libuv callbacks of servers -------------------------------------------------------------------

cdef void _on_server_connection(uv_stream_t* handle, int status) noexcept:
    _enter_callback()
    owner = _owner(<uv_handle_t*>handle)
    if owner is not None:
        try:
            (<Server>owner)._accept(status)
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()

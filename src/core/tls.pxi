# TLS: a TLSSocket is a Socket whose bytes pass through an ssl.SSLObject over two MemoryBIOs,
# driven here on the loop thread, as uvloop's sslproto does. Ciphertext moves on the ordinary
# stream path: the loop's one read buffer in, uv_try_write out. The hot path calls the C object
# behind the SSLObject (_ssl._SSLSocket) and the BIOs directly, so a message costs a few C calls
# into `ssl` and no Python frame: per read, incoming.write + read (+ two pending checks); per
# write, write + outgoing.read.
#
# States: handshaking (writes wait in pending_plain), open, and close_notify sent by end().

import ssl as _ssl
from iotnet import _tls

cdef extern from "Python.h":
    object PyMemoryView_FromMemory(char* mem, Py_ssize_t size, int flags)
    enum:
        PyBUF_READ
        PyBUF_WRITE

cdef enum:
    TLS_NOT_STARTED = 0
    TLS_HANDSHAKING = 1
    TLS_OPEN = 2

# Plaintext is decrypted into the loop's read buffer (its ciphertext is in the incoming BIO by
# then), then copied into the one bytes object the 'data' listeners get.
cdef object _read_buffer_view = PyMemoryView_FromMemory(_read_buffer, READ_BUFFER_BYTES,
                                                        PyBUF_WRITE)
cdef object _SSLWantReadError = _ssl.SSLWantReadError
cdef object _SSLError = _ssl.SSLError
cdef object _SSLZeroReturnError = _ssl.SSLZeroReturnError


cdef class TLSSocket(Socket):
    """Node's tls.TLSSocket: a Socket whose 'data' and write() carry plaintext."""

    def __init__(self, options=None, **kwargs):
        Socket.__init__(self, _tls.socket_options(options, kwargs))
        settings = _tls.client_settings(options, kwargs)
        self.context = settings.context
        self.settings = settings

    # -- starting -------------------------------------------------------------------------------

    cdef void _start_tls(self) except *:
        """The TCP connection is up: make the SSLObject and begin the handshake."""
        self.incoming = _ssl.MemoryBIO()
        self.outgoing = _ssl.MemoryBIO()
        if self.server_side:
            self.ssl_object = self.context.wrap_bio(self.incoming, self.outgoing,
                                                    server_side=True)
        else:
            host = self.settings.servername or self.dial.host
            self.tls_servername = host if host and not _ip_family(host) else None
            # An IP literal is checked against the certificate too; SNI only carries names.
            self.ssl_object = self.context.wrap_bio(self.incoming, self.outgoing,
                                                    server_hostname=host)
        self.tls = getattr(self.ssl_object, '_sslobj', self.ssl_object)
        self.tls_read = self.tls.read
        self.tls_write = self.tls.write
        self.incoming_write = self.incoming.write
        self.outgoing_read = self.outgoing.read
        self.tls_state = TLS_HANDSHAKING
        self._tls_pump()

    cdef void _connect_done(self, int status) except *:
        Socket._connect_done(self, status)
        if self.connected and not self.is_destroyed:
            self._start_tls()

    cdef void _accepted(self) except *:
        if self.is_destroyed:
            return
        timeout_ms = self.settings.handshake_timeout_ms
        if timeout_ms:
            self.handshake_timer = _start_timer(_HandshakeTimeout(self), timeout_ms, (), False)
            self.handshake_timer.unref()
        self._start_tls()

    # -- reading: ciphertext in, plaintext out ---------------------------------------------------

    cdef int _read_done(self, ssize_t nread, const uv_buf_t* buf) except -1:
        if nread > 0:
            # A small read is cheaper copied than viewed (one object instead of two).
            self.incoming_write(PyBytes_FromStringAndSize(buf.base, nread)
                                if nread <= SMALL_READ_BYTES
                                else PyMemoryView_FromMemory(buf.base, nread, PyBUF_READ))
            self._tls_pump()
        elif nread == 0:
            return 0                # libuv's "nothing this time"
        elif self.tls_state == TLS_HANDSHAKING:
            # EOF or a reset before the handshake ended: a server's socket goes with
            # 'tlsClientError', and no 'error' of its own.
            self._tls_failed(_tls.disconnected_error() if nread == UV_EOF
                             else uv_error(<int>nread, 'read'))
        elif nread == UV_EOF:
            self._on_eof()          # also without close_notify, as Node
        elif nread < 0:
            self._destroy(uv_error(<int>nread, 'read'))
        return 0

    cdef void _tls_pump(self) except *:
        """Drives the handshake, then delivers what plaintext the incoming BIO holds."""
        cdef Py_ssize_t n
        if self.tls_state == TLS_HANDSHAKING:
            try:
                self.tls.do_handshake()
            except _SSLWantReadError:
                self._tls_flush()
                return
            except _SSLError as err:
                self._tls_flush()           # the alert, if OpenSSL made one
                self._tls_failed(_tls.error(err))
                return
            self._tls_flush()
            self._handshake_done()
        # While plaintext is delivered, what the listeners write collects in the outgoing BIO
        # and goes out in one send at the end (an echo costs one write() per read, not one per
        # record).
        self.pumping = True
        try:
            self._deliver_plaintext()
        finally:
            self.pumping = False
        self._tls_flush()                   # the answers, and what reading made: tickets

    cdef void _deliver_plaintext(self) except *:
        cdef Py_ssize_t n
        cdef _Pipe pipe
        while self.tls_state == TLS_OPEN and not self.is_destroyed and not self.readable_ended:
            if self.paused:
                return                      # resume() pumps again
            try:
                n = self.tls_read(READ_BUFFER_BYTES, _read_buffer_view)
            except _SSLWantReadError:
                break
            except _SSLZeroReturnError:     # the peer's close_notify
                self._on_eof()
                break
            except _SSLError as err:
                self._destroy(_tls.error(err))
                return
            if n == 0:
                self._on_eof()
                break
            pipe = _forwarding_pipe(self)
            if self.cold is not None and self.cold.onread is not None:
                self._read_into_onread(_read_buffer, n)
            elif pipe is not None:
                pipe.forward(_read_buffer, n)
            else:
                self._on_data(PyBytes_FromStringAndSize(_read_buffer, n), n)
            # One read returns at most one record, and the read buffer is larger than any
            # record: nothing stays inside the SSLObject, what is left is in the BIO.
            if not self.incoming.pending:
                break

    cdef void _tls_flush(self) except *:
        """Sends the ciphertext the SSLObject has made, with the callbacks of the writes in it."""
        callbacks = self.unflushed_callbacks
        self.unflushed_callbacks = None
        self.unflushed_bytes = 0
        if self.uv_handle == NULL or self.is_destroyed:
            if callbacks:
                _call_later(_later_call_each, callbacks, net_error('ERR_STREAM_DESTROYED'))
            return
        if not self.outgoing.pending:
            if callbacks:
                _call_later(_later_call_each, callbacks, None)
            return
        if callbacks and len(callbacks) == 1:
            callback = callbacks[0]
        elif callbacks:
            callback = _CallEach(callbacks)
        else:
            callback = None
        self._send(self.outgoing_read(), callback)
        if self.need_drain and not self._writable_length() and self.pending_plain is None:
            self.need_drain = False         # a write during the pump said "full", all went out
            self._emit_drain()

    cdef void _set_paused(self, bint paused) except *:
        Socket._set_paused(self, paused)
        if (not paused and self.tls_state == TLS_OPEN
                and (self.incoming.pending or self.tls.pending())):
            _call_later(_later_tls_pump, self)

    # -- the handshake's end ---------------------------------------------------------------------

    cdef void _handshake_done(self) except *:
        self.tls_state = TLS_OPEN
        self._stop_handshake_timer()
        settings = self.settings
        if self.server_side:
            self.is_authorized = bool(settings.request_cert and self.ssl_object.getpeercert())
        else:
            err = settings.check_identity(self.ssl_object, self.tls_servername
                                          or self.dial.host)
            if err is not None:
                self._destroy(err)
                return
            self.is_authorized = settings.reject_unauthorized
        if self.server_side:
            if self.parent is not None:
                self.parent._emit_event1('secureConnection', self)
        else:
            self._emit_event0('secureConnect')
        if self.is_destroyed:
            return
        pending = self.pending_plain
        self.pending_plain = None
        self.pending_plain_bytes = 0
        if pending:
            for data, callback in pending:
                self._encrypt(data, callback)
            if self.is_destroyed:
                return
            if self.need_drain and not self._writable_length():
                self.need_drain = False     # all of it went out at once
                self._emit_drain()
        if self.ending:
            self._end_writing()

    cdef void _tls_failed(self, object err) except *:
        """The handshake failed: a server's socket goes with 'tlsClientError' on the server
        (and no 'error' of its own), a client's with 'error'."""
        self._stop_handshake_timer()
        if self.server_side:
            self.had_error = True
            parent = self.parent
            self._destroy(None)
            if parent is not None:
                parent._emit_event('tlsClientError', (err, self))
        else:
            self._destroy(err)

    cdef void _stop_handshake_timer(self):
        if self.handshake_timer is not None:
            self.handshake_timer.clear()
            self.handshake_timer = None

    # -- writing: plaintext in, ciphertext out ---------------------------------------------------

    cdef bint _write_data(self, bytes data, object callback) except -1:
        if self.ending or self.is_destroyed or not (self.connected or self.is_connecting):
            self._write_refused(callback)
            return False
        if self.tls_state != TLS_OPEN:
            if self.pending_plain is None:
                self.pending_plain = []
            self.pending_plain.append((data, callback))
            self.pending_plain_bytes += PyBytes_GET_SIZE(data)
            if _reaches_mark(self.pending_plain_bytes, self.high_water_mark):
                self.need_drain = True      # _handshake_done or _write_done emits 'drain'
                return False
            return True
        return self._encrypt(data, callback)

    cdef bint _write_from_buffer(self, const char* data, Py_ssize_t size,
                                 object callback) except -1:
        return self._write_data(PyBytes_FromStringAndSize(data, size), callback)

    cdef bint _encrypt(self, bytes data, object callback) except -1:
        self.plain_bytes_written += PyBytes_GET_SIZE(data)
        try:
            self.tls_write(data)
        except _SSLError as err:
            err = _tls.error(err)
            if callback is not None:
                _loop.ticks.append((callback, (err,)))
            self._destroy(err)
            return False
        if not self.pumping:
            return self._send(self.outgoing_read(), callback)
        # Inside the pump: sent by its _tls_flush, with the others.
        if callback is not None:
            if self.unflushed_callbacks is None:
                self.unflushed_callbacks = []
            self.unflushed_callbacks.append(callback)
        self.unflushed_bytes += PyBytes_GET_SIZE(data)
        if _reaches_mark(self._writable_length() + self.unflushed_bytes, self.high_water_mark):
            self.need_drain = True
            return False
        return True

    cdef void _end_writing(self) except *:
        if self.tls_state < TLS_OPEN and not self.is_destroyed:
            return                          # _handshake_done comes back here
        if self.tls_state == TLS_OPEN and not self.close_notify_sent:
            self.close_notify_sent = True
            try:
                self.tls.shutdown()         # waits for the peer's; ours is in outgoing now
            except _SSLError:
                pass
            self._tls_flush()
        Socket._end_writing(self)           # then FIN, once everything is flushed

    cdef void _destroy(self, object error) except *:
        if self.is_destroyed:
            return
        self._stop_handshake_timer()
        pending = self.pending_plain
        self.pending_plain = None
        self.pending_plain_bytes = 0
        cdef bint was_connected = self.connected
        Socket._destroy(self, error)
        callbacks = [callback for data, callback in pending or () if callback is not None]
        if callbacks:
            if error is None:
                error = net_error('ERR_STREAM_DESTROYED' if was_connected else
                                  'ERR_SOCKET_CLOSED_BEFORE_CONNECTION')
            _call_later(_later_call_each, callbacks, error)

    cdef void _reset(self) except *:
        Socket._reset(self)
        self.tls_state = TLS_NOT_STARTED
        self.close_notify_sent = self.is_authorized = False
        self.plain_bytes_written = 0
        self.ssl_object = self.tls = self.incoming = self.outgoing = self.tls_servername = None
        self.tls_read = self.tls_write = self.incoming_write = self.outgoing_read = None
        self.unflushed_callbacks = None
        self.unflushed_bytes = 0

    # -- what Node's TLSSocket tells ------------------------------------------------------------

    @property
    def encrypted(self):
        return True

    @property
    def authorized(self):
        return bool(self.is_authorized)

    @property
    def authorizationError(self):
        if self.tls_state != TLS_OPEN or self.is_authorized:
            return None
        return self.settings.authorization_error(self.ssl_object)

    @property
    def alpnProtocol(self):
        if self.ssl_object is None:
            return False
        return self.ssl_object.selected_alpn_protocol() or False

    @property
    def servername(self):
        if self.server_side:
            return None if self.ssl_object is None else _tls.received_servername(self.ssl_object)
        return self.tls_servername

    @property
    def bytesWritten(self):
        """Plaintext bytes written, counting those waiting for the handshake."""
        return self.plain_bytes_written + self.pending_plain_bytes

    @property
    def writableLength(self):
        return self._writable_length() + self.pending_plain_bytes

    def getPeerCertificate(self):
        """The peer's certificate as ssl.SSLObject.getpeercert() gives it; {} if none."""
        if self.ssl_object is None:
            return {}
        return self.ssl_object.getpeercert() or {}

    def getProtocol(self):
        return None if self.ssl_object is None else self.ssl_object.version()

    def getCipher(self):
        cipher = None if self.ssl_object is None else self.ssl_object.cipher()
        if cipher is None:
            return None
        return {'name': cipher[0], 'standardName': cipher[0], 'version': cipher[1]}

    get_peer_certificate = getPeerCertificate
    get_protocol = getProtocol
    get_cipher = getCipher


cdef class _HandshakeTimeout:
    """handshakeTimeout's timer callback (a C object: nothing internal shows on TLSSocket)."""
    cdef TLSSocket sock

    def __cinit__(self, TLSSocket sock):
        self.sock = sock

    def __call__(self):
        self.sock.handshake_timer = None
        if self.sock.tls_state == TLS_HANDSHAKING and not self.sock.is_destroyed:
            self.sock._tls_failed(net_error('ERR_TLS_HANDSHAKE_TIMEOUT'))


cdef class _CallEach:
    """One write callback standing for several: the writes sent together in one flush."""
    cdef list callbacks

    def __cinit__(self, list callbacks):
        self.callbacks = callbacks

    def __call__(self, error):
        _call_each(self.callbacks, error)


cdef int _later_tls_pump(object sock, object unused) except -1:
    (<TLSSocket>sock)._tls_pump()
    return 0


cdef class TLSServer(Server):
    """Node's tls.Server: a Server whose connections are TLSSockets."""

    def __init__(self, options=None, secureConnectionListener=None, **kwargs):
        Server.__init__(self, _tls.server_net_options(options, kwargs))
        self.settings = _tls.server_settings(options, kwargs)
        if secureConnectionListener is not None:
            self.on('secureConnection', _check_callable(secureConnectionListener,
                                                        'secureConnectionListener'))

    cdef Socket _new_connection(self):
        cdef TLSSocket sock = TLSSocket.__new__(TLSSocket)
        sock.server_side = True
        sock.settings = self.settings
        sock.context = self.settings.context
        return sock

# The PROXY protocol (HAProxy's proxy-protocol.txt, v1 and v2): createServer({'proxyProtocol':
# True}) reads a header at the start of each accepted connection before anything else sees it.
#
# While the header is read the socket has its own read callback (_on_proxy_read), so the
# ordinary read path pays nothing for the feature; the state (a _ProxyHeader: a small buffer
# and the headerTimeout timer) hangs off the socket's cold block and is dropped once the header
# is done. Then the remote address comes from the header, the server emits 'connection' (a
# TLSSocket starts its handshake), and what followed the header in the same read is delivered
# as the first data. A bad, truncated or late header destroys the connection and the server
# emits 'clientError'(err, socket) with err.code 'ERR_PROXY_PROTOCOL'.
#
# The header's bytes are parsed one at a time in C (a v1 line is at most 107 bytes); v2's TLVs
# are skipped in bulk, never stored. A v2 length above PROXY_V2_MAX_LENGTH is refused.

from libc.string cimport strcmp

cdef enum:
    PROXY_V1_MAX = 107               # "PROXY" ... CRLF, the spec's limit
    PROXY_V2_FIXED = 16              # signature, ver/cmd, fam/proto, length
    PROXY_V2_MAX_LENGTH = 4096       # addresses + TLVs: far above what balancers send
    PROXY_STORED = 108               # sizeof(_ProxyHeader.buf)

# v2's signature: \r\n\r\n\0\r\nQUIT\n
cdef const char* _PROXY_V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
cdef const char* _PROXY_V1_SIG = b"PROXY "

cdef enum:
    PROXY_MORE = -1                  # feed(): every byte taken, the header goes on
    PROXY_BAD = -2                   # feed(): not a valid header (the reason is in `error`)


# Why _proxy_feed() returned PROXY_BAD: a module global, since the loop thread parses one
# read at a time and a reason per header object would cost every connection a field.
cdef str _proxy_error
_proxy_error = ''


cdef class _ProxyHeader(Handle):
    """The header's parser and its headerTimeout timer (never keeps run() alive)."""

    cdef void start(self, uint64_t timeout_ms) except *:
        cdef uv_handle_t* handle = <uv_handle_t*>_new_handle(sizeof(uv_timer_t))
        uv_timer_init(_uv_loop, <uv_timer_t*>handle)         # cannot fail
        self.refed = False
        self._own(handle)
        uv_timer_start(<uv_timer_t*>handle, _on_proxy_timeout, timeout_ms, 0)

    cdef void finish(self) except *:
        """The header is done (or failed): the timer goes, and the socket's cold block too
        when nothing else uses it (only the server's onread can have been set by now)."""
        self._close_quietly()
        cdef Stream stream = self.stream
        self.stream = None
        if stream is None:
            return
        cdef _StreamCold cold = stream.cold
        if cold is not None:
            cold.proxy = None
            if cold.onread is None:
                stream.cold = None
        if stream.reading and stream.uv_handle != NULL:
            uv_read_stop(<uv_stream_t*>stream.uv_handle)
        stream.reading = False

    cdef void _force_close(self) except *:
        if self.stream is not None:
            self.stream._destroy(None)
        self.finish()


cdef Py_ssize_t _proxy_feed(_ProxyHeader h, const unsigned char* data,
                            Py_ssize_t size) except -3:
    """Takes header bytes from data: how many the header used once it is complete (the rest
    is payload), PROXY_MORE when all were taken and more must come, PROXY_BAD."""
    global _proxy_error
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t n
    cdef unsigned char c
    cdef unsigned int length
    while i < size:
        if h.total:                       # v2's address block and TLVs
            n = min(size - i, h.total - h.seen)
            if h.seen < PROXY_STORED:
                memcpy(&h.buf[h.seen], &data[i], min(n, PROXY_STORED - h.seen))
            h.seen += n
            i += n
            if h.seen == h.total:
                return i
            continue
        c = data[i]
        h.buf[h.seen] = c
        h.seen += 1
        i += 1
        if h.buf[0] == c'P':              # v1: "PROXY ..." up to CRLF
            if h.seen <= 6:
                if c != <unsigned char>_PROXY_V1_SIG[h.seen - 1]:
                    _proxy_error = 'not a PROXY protocol header'
                    return PROXY_BAD
            elif c == c'\n':
                return i
            elif h.seen >= PROXY_V1_MAX:
                _proxy_error = 'v1 header without CRLF within 107 bytes'
                return PROXY_BAD
        else:                             # v2: the binary signature, then 4 fixed bytes
            if h.seen <= 12:
                if c != <unsigned char>_PROXY_V2_SIG[h.seen - 1]:
                    _proxy_error = 'not a PROXY protocol header'
                    return PROXY_BAD
            elif h.seen == PROXY_V2_FIXED:
                length = (<unsigned int>h.buf[14] << 8) | h.buf[15]
                if (h.buf[12] >> 4) != 2:
                    _proxy_error = 'v2 header of an unknown version'
                    return PROXY_BAD
                if (h.buf[12] & 0xF) > 1:
                    _proxy_error = 'v2 header with an unknown command'
                    return PROXY_BAD
                if length > PROXY_V2_MAX_LENGTH:
                    _proxy_error = f'v2 header longer than {PROXY_V2_MAX_LENGTH} bytes'
                    return PROXY_BAD
                if (h.buf[12] & 0xF) == 1:    # PROXY: TCP over IPv4 or IPv6, or UNSPEC
                    if h.buf[13] == 0x11 and length < 12 or h.buf[13] == 0x21 and length < 36:
                        _proxy_error = 'v2 header too short for its addresses'
                        return PROXY_BAD
                    if h.buf[13] != 0x11 and h.buf[13] != 0x21 and h.buf[13] != 0x00:
                        _proxy_error = 'v2 header of an unsupported family or protocol'
                        return PROXY_BAD
                h.total = PROXY_V2_FIXED + length
                if h.seen == h.total:
                    return i
    return PROXY_MORE


cdef object _proxy_address(int family, const void* binary, unsigned int port):
    """(address, 'IPv4'|'IPv6', port) as remote_cache holds it."""
    cdef char name[64]
    uv_inet_ntop(family, binary, name, sizeof(name))
    return (name.decode(), 'IPv4' if family == AF_INET else 'IPv6', port)


cdef Py_ssize_t _v1_token(const unsigned char* line, Py_ssize_t pos, Py_ssize_t end,
                          char* out, Py_ssize_t out_size):
    """Copies the token at pos (up to a space or end) into out, NUL-ended: the position after
    it, or -1 when it is empty or too long."""
    cdef Py_ssize_t n = 0
    while pos < end and line[pos] != c' ':
        if n + 1 >= out_size:
            return -1
        out[n] = <char>line[pos]
        n += 1
        pos += 1
    out[n] = 0
    return pos if n else -1


cdef int _v1_port(const char* text) noexcept:
    """A decimal port 0..65535, else -1."""
    cdef int value = 0
    cdef int n = 0
    while text[n]:
        if not c'0' <= text[n] <= c'9' or n >= 5:
            return -1
        value = value * 10 + (text[n] - c'0')
        n += 1
    return value if 0 < n and value <= 65535 else -1


cdef object _proxy_v1_remote(_ProxyHeader h):
    """The v1 line's source (None for UNKNOWN), or False when the line is malformed."""
    cdef const unsigned char* line = h.buf
    cdef Py_ssize_t end = h.seen - 2          # before CRLF
    cdef char proto[8]
    cdef char src[48]
    cdef char dst[48]
    cdef char sport[8]
    cdef char dport[8]
    cdef unsigned char binary[16]
    cdef int family
    cdef int port
    cdef Py_ssize_t pos
    if end < 6 or line[end] != c'\r':
        return False
    pos = _v1_token(line, 6, end, proto, sizeof(proto))
    if pos < 0:
        return False
    if strcmp(proto, b'UNKNOWN') == 0:
        return None                            # the rest of the line is ignored
    if strcmp(proto, b'TCP4') == 0:
        family = AF_INET
    elif strcmp(proto, b'TCP6') == 0:
        family = AF_INET6
    else:
        return False
    # " src dst sport dport", one space apart
    if pos >= end or line[pos] != c' ':
        return False
    pos = _v1_token(line, pos + 1, end, src, sizeof(src))
    if pos < 0 or pos >= end or line[pos] != c' ':
        return False
    pos = _v1_token(line, pos + 1, end, dst, sizeof(dst))
    if pos < 0 or pos >= end or line[pos] != c' ':
        return False
    pos = _v1_token(line, pos + 1, end, sport, sizeof(sport))
    if pos < 0 or pos >= end or line[pos] != c' ':
        return False
    pos = _v1_token(line, pos + 1, end, dport, sizeof(dport))
    if pos != end:
        return False
    port = _v1_port(sport)
    if port < 0 or _v1_port(dport) < 0:
        return False
    if uv_inet_pton(family, dst, binary) != 0 or uv_inet_pton(family, src, binary) != 0:
        return False
    return _proxy_address(family, binary, port)


cdef object _proxy_v2_remote(_ProxyHeader h):
    """The v2 header's source; None for LOCAL and UNSPEC (the real peer stays)."""
    if (h.buf[12] & 0xF) == 0:
        return None
    if h.buf[13] == 0x11:
        return _proxy_address(AF_INET, &h.buf[16], (<unsigned int>h.buf[24] << 8) | h.buf[25])
    if h.buf[13] == 0x21:
        return _proxy_address(AF_INET6, &h.buf[16], (<unsigned int>h.buf[48] << 8) | h.buf[49])
    return None


# -- the accept side ------------------------------------------------------------------------------

cdef void _proxy_start(Server server, Socket sock) except *:
    """_accept(): the socket reads its header before the server emits 'connection'."""
    cdef _ProxyHeader h = _ProxyHeader.__new__(_ProxyHeader)
    h.stream = sock
    sock._cold().proxy = h
    h.start(server.header_timeout_ms)
    cdef int status = uv_read_start(<uv_stream_t*>sock.uv_handle, _on_read_alloc, _on_proxy_read)
    if status < 0:
        _proxy_failed(h, 'read: ' + uv_err_name(status).decode())
        return
    sock.reading = True


cdef void _proxy_failed(_ProxyHeader h, str reason) except *:
    """The connection goes, with no 'error' of its own; the server hears of it."""
    cdef Stream sock = h.stream
    h.finish()
    if sock is None or sock.is_destroyed:
        return
    err = NetError('ERR_PROXY_PROTOCOL', 'PROXY protocol: ' + reason)
    server = sock.parent
    sock.had_error = True
    sock._destroy(None)
    if server is not None:
        server._emit_event('clientError', (err, sock))


cdef void _proxy_done(_ProxyHeader h, object remote, bytes rest) except *:
    """The header is read: the socket becomes an ordinary accepted one."""
    cdef Socket sock = <Socket>h.stream
    cdef uv_buf_t buf
    h.finish()
    if remote is not None:
        sock.remote_cache = remote
    server = <Server>sock.parent
    sock._update_reading()        # the ordinary read callback, unless pauseOnConnect
    server._emit_event1('connection', sock)
    sock._accepted()
    if rest is None or sock.is_destroyed:
        return
    # What followed the header is the first data, as if just read. A paused socket holds it
    # (a TLSSocket's ciphertext always goes to TLS, which holds plaintext itself).
    if sock.paused and not isinstance(sock, TLSSocket):
        sock.bytes_read += len(rest)
        sock._hold(rest)
        return
    buf.base = PyBytes_AS_STRING(rest)
    buf.len = PyBytes_GET_SIZE(rest)
    sock._read_done(PyBytes_GET_SIZE(rest), &buf)


cdef int _proxy_read(Stream sock, ssize_t nread, const uv_buf_t* buf) except -1:
    cdef _ProxyHeader h = sock.cold.proxy if sock.cold is not None else None
    cdef Py_ssize_t used
    if h is None:                 # cannot happen: the callback goes with the header
        return sock._read_done(nread, buf)
    if nread == 0:
        return 0
    if nread == UV_EOF:
        _proxy_failed(h, 'the connection ended before the header was complete')
        return 0
    if nread < 0:
        _proxy_failed(h, 'read: ' + uv_err_name(<int>nread).decode())
        return 0
    used = _proxy_feed(h, <const unsigned char*>buf.base, nread)
    if used == PROXY_MORE:
        return 0
    if used == PROXY_BAD:
        _proxy_failed(h, _proxy_error)
        return 0
    remote = _proxy_v2_remote(h) if h.total else _proxy_v1_remote(h)
    if remote is False:
        _proxy_failed(h, 'malformed v1 header')
        return 0
    # Copied now: 'connection' listeners run before it is delivered, and the loop's read
    # buffer is not theirs to keep.
    rest = PyBytes_FromStringAndSize(buf.base + used, nread - used) if used < nread else None
    _proxy_done(h, remote, rest)
    return 0


# -- libuv callbacks ------------------------------------------------------------------------------

cdef void _on_proxy_read(uv_stream_t* handle, ssize_t nread, const uv_buf_t* buf) noexcept:
    _enter_callback()
    owner = _owner(<uv_handle_t*>handle)
    if owner is not None:
        try:
            _proxy_read(<Stream>owner, nread, buf)
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()


cdef void _on_proxy_timeout(uv_timer_t* handle) noexcept:
    _enter_callback()
    owner = _owner(<uv_handle_t*>handle)
    if owner is not None:
        try:
            _proxy_failed(<_ProxyHeader>owner, 'no complete header within headerTimeout')
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()

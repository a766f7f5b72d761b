# The PROXY protocol (HAProxy's proxy-protocol.txt, v1 and v2): createServer({'proxyProtocol':
# True}) reads a header at the start of each accepted connection before anything else sees it.
#
# While the header is read the socket has its own read callback (_on_proxy_read), so the
# ordinary read path pays nothing for the feature; the state (a _ProxyHeader: a small buffer,
# and its place in the server's headerTimeout list) hangs off the socket's cold block and is
# dropped once the header is done. Then the remote address comes from the header, the read
# callback becomes the ordinary one, the server emits 'connection' (a TLSSocket starts its
# handshake), and what followed the header in the same read is delivered as the first data.
# A bad, truncated or late header destroys the connection and the server emits
# 'clientError'(err, socket) with err.code 'ERR_PROXY_PROTOCOL'.
#
# A v1 line (at most 107 bytes) is copied up to its LF and parsed once whole; v2's 16 fixed
# bytes are checked one at a time, its TLVs skipped in bulk, never stored. A v2 length above
# PROXY_V2_MAX_LENGTH is refused. Addresses are parsed and written here, not with inet_pton and
# inet_ntop, whose digit lookups and printf cost more than the rest of the header.

from libc.string cimport memchr, memcmp

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


cdef class _ProxyHeader:
    """The header's parser, in its server's headerTimeout list until it is done."""

    cdef void finish(self) except *:
        """The header is done (or failed): it leaves the timeout list, and the socket's cold
        block goes too when nothing else uses it (only the server's onread can be set by now)."""
        if self.deadlines is not None:
            self.deadlines.remove(self)
        cdef Stream stream = self.stream
        self.stream = None
        if stream is None:
            return
        cdef _StreamCold cold = stream.cold
        if cold is not None:
            cold.proxy = None
            if cold.onread is None:
                stream.cold = None


cdef class _HeaderDeadlines(Handle):
    """headerTimeout for all of a server's connections with one timer, not one each (a timer
    handle per connection cost about a thousand instructions). Every header gets the same
    timeout, so arrival order is deadline order: the list is a queue, and the timer waits for
    its oldest. A header done early only leaves the list; the timer, once it fires, waits again
    for the new oldest. It never keeps run() alive (the sockets do)."""

    cdef void add(self, _ProxyHeader h) except *:
        h.deadlines = self
        h.deadline_ms = uv_now(_uv_loop) + self.timeout_ms
        h.older = self.newest
        if self.newest is not None:
            self.newest.newer = h
        else:
            self.oldest = h
        self.newest = h
        # An armed timer is due no later than this deadline (it waits for an older one).
        if not uv_is_active(self.uv_handle):
            uv_timer_start(<uv_timer_t*>self.uv_handle, _on_header_deadline, self.timeout_ms, 0)

    cdef void remove(self, _ProxyHeader h):
        if h.older is not None:
            h.older.newer = h.newer
        else:
            self.oldest = h.newer
        if h.newer is not None:
            h.newer.older = h.older
        else:
            self.newest = h.older
        h.older = h.newer = None
        h.deadlines = None

    cdef void expire(self) except *:
        """The timer fired: every header past its deadline fails, oldest first."""
        cdef uint64_t now = uv_now(_uv_loop)
        while self.oldest is not None and self.oldest.deadline_ms <= now:
            _proxy_failed(self.oldest, 'no complete header within headerTimeout')
        if self.oldest is not None and self.uv_handle != NULL:
            uv_timer_start(<uv_timer_t*>self.uv_handle, _on_header_deadline,
                           self.oldest.deadline_ms - now, 0)


cdef _HeaderDeadlines _new_header_deadlines(uint64_t timeout_ms):
    cdef _HeaderDeadlines deadlines = _HeaderDeadlines.__new__(_HeaderDeadlines)
    cdef uv_handle_t* handle = <uv_handle_t*>_new_handle(sizeof(uv_timer_t))
    uv_timer_init(_uv_loop, <uv_timer_t*>handle)         # cannot fail
    deadlines.refed = False
    deadlines._own(handle)
    deadlines.timeout_ms = timeout_ms
    return deadlines


cdef Py_ssize_t _proxy_feed(_ProxyHeader h, const unsigned char* data,
                            Py_ssize_t size) except -3:
    """Takes header bytes from data: how many the header used once it is complete (the rest
    is payload), PROXY_MORE when all were taken and more must come, PROXY_BAD."""
    global _proxy_error
    cdef Py_ssize_t i = 0
    cdef Py_ssize_t n
    cdef unsigned char c
    cdef unsigned int length
    if not h.total and (h.buf[0] if h.seen else data[0]) == c'P':
        return _proxy_feed_v1(h, data, size)
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
        # v2: the binary signature, then 4 fixed bytes
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


cdef Py_ssize_t _proxy_feed_v1(_ProxyHeader h, const unsigned char* data,
                               Py_ssize_t size) except -3:
    """_proxy_feed() of a v1 line: copies up to its LF (or all there is), then checks it."""
    global _proxy_error
    cdef Py_ssize_t n = min(size, PROXY_V1_MAX - h.seen)
    cdef const unsigned char* lf = <const unsigned char*>memchr(data, c'\n', n)
    if lf != NULL:
        n = lf - data + 1
    memcpy(&h.buf[h.seen], data, n)
    h.seen += n
    if memcmp(h.buf, _PROXY_V1_SIG, min(h.seen, 6)) != 0:
        _proxy_error = 'not a PROXY protocol header'
        return PROXY_BAD
    if lf != NULL:
        return n
    if h.seen >= PROXY_V1_MAX:
        _proxy_error = 'v1 header without CRLF within 107 bytes'
        return PROXY_BAD
    return PROXY_MORE


cdef bint _ipv4_parse(const unsigned char* text, Py_ssize_t length, unsigned char* out) noexcept:
    """A dotted quad as proxy-protocol.txt writes it (1-3 digits, no leading zero) into 4 bytes."""
    cdef int part = 0
    cdef int digits = 0
    cdef int value = 0
    cdef Py_ssize_t pos
    for pos in range(length):
        if text[pos] == c'.':
            if not digits or part == 3:
                return False
            out[part] = <unsigned char>value
            part += 1
            digits = value = 0
        elif c'0' <= text[pos] <= c'9' and digits < 3 and (value or not digits):
            value = value * 10 + (text[pos] - c'0')
            digits += 1
        else:
            return False
    if part != 3 or not digits or value > 255:
        return False
    out[3] = <unsigned char>value
    return True


cdef object _proxy_address(int family, const unsigned char* binary, unsigned int port):
    """(address, 'IPv4'|'IPv6', port) as remote_cache holds it."""
    cdef char name[64]
    cdef Py_ssize_t n = 0
    cdef int i, value
    if family == AF_INET6:
        uv_inet_ntop(family, binary, name, sizeof(name))
        return (name.decode(), 'IPv6', port)
    for i in range(4):
        value = binary[i]
        if value >= 100:
            name[n] = <char>(c'0' + value // 100)
            n += 1
        if value >= 10:
            name[n] = <char>(c'0' + value // 10 % 10)
            n += 1
        name[n] = <char>(c'0' + value % 10)
        name[n + 1] = c'.'
        n += 2
    return (name[:n - 1].decode('ascii'), 'IPv4', port)


cdef int _v1_port(const unsigned char* text, Py_ssize_t length) noexcept:
    """A decimal port 0..65535 (at most 5 digits), else -1."""
    cdef int value = 0
    cdef Py_ssize_t pos
    if not 0 < length <= 5:
        return -1
    for pos in range(length):
        if not c'0' <= text[pos] <= c'9':
            return -1
        value = value * 10 + (text[pos] - c'0')
    return value if value <= 65535 else -1


cdef object _proxy_v1_remote(_ProxyHeader h):
    """The v1 line's source (None for UNKNOWN), or False when the line is malformed."""
    cdef const unsigned char* line = h.buf
    cdef Py_ssize_t end = h.seen - 2          # before CRLF
    # "PROXY " proto " " src " " dst " " sport " " dport: five fields, one space apart
    cdef Py_ssize_t start[5]
    cdef Py_ssize_t size[5]
    cdef int fields = 0
    cdef Py_ssize_t pos = 6
    cdef const unsigned char* space
    cdef char address[48]
    cdef unsigned char binary[16]
    cdef unsigned char ignored[16]
    cdef unsigned char* out
    cdef int port, i
    if end < 6 or line[end] != c'\r':
        return False
    if end >= 13 and memcmp(line + 6, b'UNKNOWN', 7) == 0 and (end == 13 or line[13] == c' '):
        return None                            # the rest of the line is ignored
    while True:
        space = <const unsigned char*>memchr(&line[pos], c' ', end - pos)
        if fields == 5:
            return False                       # more than five
        start[fields] = pos
        size[fields] = (space - line if space != NULL else end) - pos
        if not size[fields]:
            return False
        fields += 1
        if space == NULL:
            break
        pos = space - line + 1
    if fields != 5 or size[0] != 4 or memcmp(line + 6, b'TCP', 3) != 0 or line[9] not in b'46':
        return False
    port = _v1_port(line + start[3], size[3])
    if port < 0 or _v1_port(line + start[4], size[4]) < 0:
        return False
    if line[9] == c'4':
        if not _ipv4_parse(line + start[2], size[2], ignored) or \
                not _ipv4_parse(line + start[1], size[1], binary):
            return False
        return _proxy_address(AF_INET, binary, port)
    for i in (2, 1):                           # TCP6: the destination checked, then the source
        if size[i] >= <Py_ssize_t>sizeof(address):
            return False
        memcpy(address, line + start[i], size[i])
        address[size[i]] = 0
        out = &binary[0] if i == 1 else &ignored[0]
        if uv_inet_pton(AF_INET6, address, out) != 0:
            return False
    return _proxy_address(AF_INET6, binary, port)


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
    if server.header_deadlines is None:
        server.header_deadlines = _new_header_deadlines(server.header_timeout_ms)
    server.header_deadlines.add(h)
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
    # Reading goes on with the ordinary callback, swapped in place: a uv_read_stop() and
    # uv_read_start() would cost two more epoll_ctl calls per connection. pauseOnConnect stops it.
    (<uv_stream_t*>sock.uv_handle).read_cb = _on_stream_read
    sock._update_reading()
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


cdef void _on_header_deadline(uv_timer_t* handle) noexcept:
    _enter_callback()
    owner = _owner(<uv_handle_t*>handle)
    if owner is not None:
        try:
            (<_HeaderDeadlines>owner).expire()
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()

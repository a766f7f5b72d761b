# asyncio streams over iotnet Sockets (iotnet.aio.open_connection and start_server): a
# StreamReader and a StreamWriter with asyncio's interface and exceptions, as the running
# Python's asyncio/streams.py defines them, but fed from the core: the Socket's 'data' listener
# is the reader's C method, and write() goes straight to the Socket. A message costs the
# coroutine's own frame and one future when it has to wait; no Python frame of a protocol or
# a transport sits in between.

import weakref as _weakref
import warnings as _warnings

cdef object _weakref_ref = _weakref.ref
cdef object _aio_exceptions = None      # asyncio.exceptions, imported with the first stream
cdef object _aio_sleep = None
cdef object _aio_future = None          # asyncio.Future


cdef _import_asyncio():
    global _aio_exceptions, _aio_sleep, _aio_future
    if _aio_exceptions is None:
        import asyncio
        _aio_exceptions = asyncio.exceptions
        _aio_sleep = asyncio.sleep
        _aio_future = asyncio.Future


cdef class StreamReader:
    """asyncio.StreamReader's reading side, fed by an iotnet Socket."""

    def __cinit__(self, Socket sock, object loop, Py_ssize_t limit):
        if limit <= 0:
            raise ValueError('Limit cannot be <= 0')
        _import_asyncio()
        self.sock = sock
        self.loop = loop
        self.limit = limit
        self.chunks = []

    def __repr__(self):
        info = ['StreamReader']
        if self.size:
            info.append(f'{self.size} bytes')
        if self.eof:
            info.append('eof')
        if self.exc is not None:
            info.append(f'exception={self.exc!r}')
        if self.paused:
            info.append('paused')
        return '<{}>'.format(' '.join(info))

    # -- fed by the socket ----------------------------------------------------------------------

    def feed_data(self, bytes data):
        """The socket's 'data' listener."""
        if not data:
            return
        self.chunks.append(data)
        self.size += PyBytes_GET_SIZE(data)
        self._wake(None)
        if not self.paused and self.size > 2 * self.limit:
            self.paused = True
            self.sock._set_paused(True)

    def feed_eof(self):
        self.eof = True
        self._wake(None)

    def exception(self):
        return self.exc

    def set_exception(self, exc):
        self.exc = exc
        self._wake(exc)

    def at_eof(self):
        """True once the buffer is empty and the peer's end was read."""
        return self.eof and not self.size

    cdef void _wake(self, object exc) except *:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.cancelled():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)

    cdef void _maybe_resume(self) except *:
        if self.paused and self.size <= self.limit:
            self.paused = False
            _check_loop_thread()        # asks for a pass: reading starts again in it
            self.sock._set_paused(False)

    # -- the buffer: a list of the chunks read, the first one consumed up to `offset` ------------

    cdef bytes _take(self, Py_ssize_t n):
        """Removes and returns the first n buffered bytes (n <= size)."""
        cdef bytes first = self.chunks[0]
        cdef Py_ssize_t first_len = PyBytes_GET_SIZE(first)
        cdef bytes data
        if self.offset == 0 and n == first_len:
            del self.chunks[0]              # the common case: one read, handed on as it came
        elif self.offset + n <= first_len:
            data = first[self.offset:self.offset + n]
            self.offset += n
            if self.offset == first_len:
                del self.chunks[0]
                self.offset = 0
            self.size -= n
            return data
        else:
            self._coalesce()
            return self._take(n)
        self.size -= n
        return first

    cdef bytes _coalesce(self):
        """Makes the buffer one chunk; returns it."""
        cdef bytes whole
        if len(self.chunks) == 1 and self.offset == 0:
            return self.chunks[0]
        if not self.chunks:
            return b''
        parts = self.chunks
        if self.offset:
            parts[0] = parts[0][self.offset:]
        whole = b''.join(parts)
        self.chunks = [whole]
        self.offset = 0
        return whole

    cdef void _clear(self):
        self.chunks = []
        self.size = 0
        self.offset = 0

    # -- reading --------------------------------------------------------------------------------

    async def read(self, Py_ssize_t n=-1):
        """Up to n bytes (at least one, b'' at EOF); n < 0: everything until EOF."""
        if self.exc is not None:
            raise self.exc
        if n == 0:
            return b''
        if n < 0:
            blocks = []
            while True:
                block = await self.read(self.limit)
                if not block:
                    break
                blocks.append(block)
            return b''.join(blocks)
        if not self.size and not self.eof:
            await _wait_for_data(self, 'read')
        if not self.size:
            return b''
        data = self._take(n if n < self.size else self.size)
        self._maybe_resume()
        return data

    async def readexactly(self, Py_ssize_t n):
        """Exactly n bytes; IncompleteReadError if the stream ends before."""
        if n < 0:
            raise ValueError('readexactly size can not be less than zero')
        if self.exc is not None:
            raise self.exc
        if n == 0:
            return b''
        while self.size < n:
            if self.eof:
                incomplete = self._coalesce()
                self._clear()
                raise _aio_exceptions.IncompleteReadError(incomplete, n)
            await _wait_for_data(self, 'readexactly')
        data = self._take(n)
        self._maybe_resume()
        return data

    async def readuntil(self, separator=b'\n'):
        """Everything up to and including separator; LimitOverrunError when it is not within
        limit bytes (the data stays buffered), IncompleteReadError at EOF without it."""
        cdef Py_ssize_t seplen = len(separator)
        cdef Py_ssize_t offset = 0
        cdef Py_ssize_t isep
        if seplen == 0:
            raise ValueError('Separator should be at least one-byte string')
        if self.exc is not None:
            raise self.exc
        while True:
            if self.size - offset >= seplen:
                isep = self._coalesce().find(separator, offset)
                if isep != -1:
                    break
                offset = self.size + 1 - seplen
                if offset > self.limit:
                    raise _aio_exceptions.LimitOverrunError(
                        'Separator is not found, and chunk exceed the limit', offset)
            if self.eof:
                chunk = self._coalesce()
                self._clear()
                raise _aio_exceptions.IncompleteReadError(chunk, None)
            await _wait_for_data(self, 'readuntil')
        if isep > self.limit:
            raise _aio_exceptions.LimitOverrunError(
                'Separator is found, but chunk is longer than limit', isep)
        data = self._take(isep + seplen)
        self._maybe_resume()
        return data

    async def readline(self):
        """A line with its b'\\n'; at EOF what is left (b'' when nothing); ValueError when the
        line is longer than limit (that line, or the whole buffer, is dropped)."""
        try:
            return await self.readuntil(b'\n')
        except _aio_exceptions.IncompleteReadError as e:
            return e.partial
        except _aio_exceptions.LimitOverrunError as e:
            whole = self._coalesce()
            if whole.startswith(b'\n', e.consumed):
                self._take(e.consumed + 1)
            else:
                self._clear()
            self._maybe_resume()
            raise ValueError(e.args[0])

    def __aiter__(self):
        return self

    async def __anext__(self):
        line = await self.readline()
        if line == b'':
            raise StopAsyncIteration
        return line


async def _wait_for_data(StreamReader reader, str func_name):
    """Until the reader is fed data, its EOF or an exception."""
    if reader.waiter is not None:
        raise RuntimeError(f'{func_name}() called while another coroutine is already '
                           f'waiting for incoming data')
    if reader.paused:               # waiting while paused would wait forever
        reader.paused = False
        _check_loop_thread()
        reader.sock._set_paused(False)
    reader.waiter = _aio_future(loop=reader.loop)     # as loop.create_future(), one frame less
    try:
        await reader.waiter
    finally:
        reader.waiter = None


cdef enum:
    SOCKET_ERROR = 0
    SOCKET_END = 1
    SOCKET_DRAIN = 2
    SOCKET_CLOSE = 3


cdef class _WriterEvent:
    """A listener that hands one of the socket's events to its StreamWriter's C method. It
    holds the writer weakly, as asyncio's transport does not keep a StreamWriter alive: a
    writer dropped unclosed closes its connection (StreamWriter.__del__)."""
    cdef object writer_ref
    cdef int kind

    def __cinit__(self, StreamWriter writer, int kind):
        self.writer_ref = _weakref_ref(writer)
        self.kind = kind

    def __call__(self, *args):
        writer = self.writer_ref()
        if writer is not None:
            (<StreamWriter>writer)._event(self.kind, args[0] if args else None)


cdef class _DestroyAfterFlush:
    """close()'s write callback: the socket closes once what was queued before is out (held
    strongly: the writer may be gone by then)."""
    cdef Socket sock

    def __cinit__(self, Socket sock):
        self.sock = sock

    def __call__(self, error):
        self.sock.destroy()


cdef class StreamWriter:
    """asyncio.StreamWriter over an iotnet Socket: write() goes straight to the socket."""

    def __cinit__(self, Socket sock, StreamReader reader, object loop):
        _import_asyncio()
        self.sock = sock
        self.reader = reader
        self.loop = loop
        self.closed_future = loop.create_future()
        self.drain_waiters = []
        self._listen()
        sock._remote()              # both addresses are kept for get_extra_info() after close
        sock._local()

    def __repr__(self):
        return f'<StreamWriter socket={self.sock!r}>'

    def __del__(self):
        # As asyncio's StreamWriter: dropped while its connection is open, it closes it and
        # says so.
        if not self.closing and not self.sock.is_destroyed:
            if self.loop.is_closed():
                _warnings.warn('loop is closed', ResourceWarning)
            else:
                self.close()
                _warnings.warn(f'unclosed {self!r}', ResourceWarning)

    # -- the socket's events --------------------------------------------------------------------

    cdef void _listen(self) except *:
        sock = self.sock
        sock.on('error', _WriterEvent(self, SOCKET_ERROR))
        sock.on('end', _WriterEvent(self, SOCKET_END))
        sock.on('drain', _WriterEvent(self, SOCKET_DRAIN))
        sock.on('close', _WriterEvent(self, SOCKET_CLOSE))

    cdef void _event(self, int kind, object arg) except *:
        if kind == SOCKET_ERROR:
            self.error = arg
        elif kind == SOCKET_END:
            if self.reader is not None:
                self.reader.feed_eof()
        elif kind == SOCKET_DRAIN:
            self._wake_drain_waiters(None)
        elif kind == SOCKET_CLOSE:
            self._connection_lost(self.error)

    cdef void _connection_lost(self, object exc) except *:
        """asyncio's connection_lost(exc): exc is the socket's error, if it had one."""
        self.connection_lost = True
        if self.reader is not None:
            if exc is None:
                self.reader.feed_eof()
            else:
                self.reader.set_exception(exc)
        if not self.closed_future.done():
            if exc is None:
                self.closed_future.set_result(None)
            else:
                self.closed_future.set_exception(exc)
                self.closed_future.exception()      # seen: asyncio does not log it either
        self._wake_drain_waiters(exc)

    cdef void _wake_drain_waiters(self, object exc) except *:
        for waiter in self.drain_waiters:
            if not waiter.done():
                if exc is None:
                    waiter.set_result(None)
                else:
                    waiter.set_exception(exc)

    # -- writing --------------------------------------------------------------------------------

    def write(self, data):
        if self.eof_written:
            raise RuntimeError('Cannot call write() after write_eof()')
        if type(data) is not bytes:
            if not isinstance(data, (bytearray, memoryview)):
                raise TypeError(f'data argument must be a bytes-like object, '
                                f'not {type(data).__name__!r}')
            data = bytes(data)
        if not PyBytes_GET_SIZE(data) or self.closing or self.sock.is_destroyed:
            return          # asyncio drops writes once the connection is lost
        _check_thread()
        sock = self.sock
        sock._write_data(<bytes>data, None)
        # A write that went out whole changed nothing libuv must see; one that was queued (or
        # failed, closing the socket) needs a pass.
        if (_loop.attached and not _loop.in_pass
                and (sock.write_in_flight or _has_queue(sock) or sock.is_destroyed)):
            _loop.request_pass()

    def writelines(self, data):
        for chunk in data:
            self.write(chunk)

    def write_eof(self):
        """Shuts down the sending side once what is written is out (the reader goes on)."""
        if self.closing or self.eof_written:
            return
        self.eof_written = True
        self.sock.end()

    def can_write_eof(self):
        return True

    async def drain(self):
        """Waits while the socket holds highWaterMark bytes or more; raises the reader's
        exception, or ConnectionResetError once the connection is lost."""
        if self.reader is not None:
            exc = self.reader.exc
            if exc is not None:
                raise exc
        if self.closing or self.sock.is_destroyed:
            await _aio_sleep(0)     # lets the close finish, as asyncio does
        if self.connection_lost:
            raise ConnectionResetError('Connection lost')
        if not self.sock.need_drain:
            return
        waiter = self.loop.create_future()
        self.drain_waiters.append(waiter)
        try:
            await waiter
        finally:
            self.drain_waiters.remove(waiter)

    # -- closing --------------------------------------------------------------------------------

    def close(self):
        """Closes the connection once what is written is out; reading stops now."""
        if self.closing:
            return
        self.closing = True
        sock = self.sock
        if sock.is_destroyed:
            return
        sock._set_paused(True)
        if sock._writable_length() == 0:
            sock.destroy()
        else:
            sock.write(b'', _DestroyAfterFlush(sock))

    def is_closing(self):
        return bool(self.closing or self.sock.is_destroyed)

    async def wait_closed(self):
        await self.closed_future

    def abort(self):
        """Closes at once; what is queued is dropped (asyncio's transport.abort())."""
        self.closing = True
        self.sock.destroy()

    def get_extra_info(self, name, default=None):
        return _aio().extra_info(self.sock, name, default)

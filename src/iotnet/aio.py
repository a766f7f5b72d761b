"""iotnet.aio: iotnet inside asyncio programs, in the same thread as their tasks.

    import asyncio, iotnet, iotnet.aio

    async def main():
        server = iotnet.createServer(lambda sock: sock.pipe(sock))   # iotnet's C echo
        server.listen(8080)
        await iotnet.once(server, 'listening')
        reader, writer = await iotnet.aio.open_connection('127.0.0.1', 8080)
        ...

    iotnet.aio.run(main())

`run(coro)` is asyncio.run(coro) with iotnet's loop driven by the asyncio loop; `attach()` and
`detach()` do the same by hand. libuv is embedded the way it documents: its backend fd watched
with add_reader, its next timer scheduled with call_at, one uv_run(UV_RUN_NOWAIT) pass when
either fires, and a pass scheduled with call_soon after an iotnet call from asyncio code.
Nothing polls: an idle process sleeps in the asyncio loop's selector.

Also here: the awaitables (`once`, `connect`, `drain`, `async for` over a Socket), and asyncio
streams backed by iotnet sockets (`open_connection`, `start_server`).
"""
import asyncio
import collections

from . import _core
from ._core import Socket

__all__ = ["run", "attach", "detach", "once", "connect", "drain", "open_connection",
           "start_server"]

# -- the embedded loop ----------------------------------------------------------------------------


class _Driver:
    """Runs iotnet's passes from one asyncio loop."""

    def __init__(self, loop):
        self.loop = loop
        self.timer = None
        self.timer_due = None
        self.fd = _core._embed_attach(self.request_pass)
        loop.add_reader(self.fd, self.run_pass)

    def request_pass(self):
        self.loop.call_soon(self.run_pass)

    def run_pass(self):
        errors, timeout_ms = _core._embed_run_pass()
        self.schedule_timer(timeout_ms)
        for exc in errors:
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise exc       # asyncio lets these end the loop
            self.loop.call_exception_handler({
                "message": f"Exception in an iotnet callback: {exc!r}",
                "exception": exc,
            })

    def schedule_timer(self, timeout_ms):
        """Keeps one asyncio timer at libuv's next timer (-1: none)."""
        if timeout_ms < 0:
            self.cancel_timer()
            return
        due = self.loop.time() + timeout_ms / 1000
        if self.timer is not None:
            if abs(self.timer_due - due) < 0.001:
                return
            self.timer.cancel()
        self.timer_due = due
        self.timer = self.loop.call_at(due, self.on_timer)

    def on_timer(self):
        self.timer = None
        self.run_pass()

    def cancel_timer(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self):
        self.cancel_timer()
        self.loop.remove_reader(self.fd)
        _core._embed_detach()


_driver = None


def attach():
    """Drives iotnet from the running asyncio loop (RuntimeError with none, or if already
    attached). iotnet.run() raises RuntimeError until detach()."""
    global _driver
    loop = asyncio.get_running_loop()
    driver = _Driver(loop)
    _driver = driver


def detach():
    """Stops driving iotnet from asyncio; nothing happens when it is not attached."""
    global _driver
    if _driver is not None:
        driver, _driver = _driver, None
        driver.close()


def run(main, *, debug=None):
    """asyncio.run(main) with iotnet attached to its loop for the whole run."""
    async def attached():
        attach()
        try:
            return await main
        finally:
            detach()
    return asyncio.run(attached(), debug=debug)


# -- awaitables -----------------------------------------------------------------------------------

async def once(emitter, name):
    """Node's events.once: the tuple of the arguments of the next `name` event. An 'error'
    emitted first raises it; cancelling the await removes the listeners."""
    future = asyncio.get_running_loop().create_future()

    def on_event(*args):
        if not future.done():
            future.set_result(args)

    def on_error(err):
        if not future.done():
            future.set_exception(err)

    emitter.on(name, on_event)
    if name != "error":
        emitter.on("error", on_error)
    try:
        return await future
    finally:
        emitter.removeListener(name, on_event)
        if name != "error":
            emitter.removeListener("error", on_error)


async def connect(*args, **kwargs):
    """iotnet.connect(*args, **kwargs), awaited: the connected Socket, or the connect error."""
    from . import connect as net_connect
    sock = net_connect(*args, **kwargs)
    await once(sock, "connect")
    return sock


def _closed_error(sock):
    return ConnectionResetError("the socket closed" if sock.destroyed else "the socket is closing")


async def drain(sock):
    """Returns at once while fewer than highWaterMark bytes wait to be written, else at
    'drain'; raises the socket's error, or ConnectionResetError if it closes without one."""
    if sock.destroyed:
        raise _closed_error(sock)
    if not sock.writableNeedDrain:
        return
    future = asyncio.get_running_loop().create_future()

    def on_drain():
        if not future.done():
            future.set_result(None)

    def on_error(err):
        if not future.done():
            future.set_exception(err)

    def on_close(had_error):
        if not future.done():
            future.set_exception(_closed_error(sock))

    sock.on("drain", on_drain)
    sock.on("error", on_error)
    sock.on("close", on_close)
    try:
        await future
    finally:
        sock.removeListener("drain", on_drain)
        sock.removeListener("error", on_error)
        sock.removeListener("close", on_close)


async def iterate(sock):
    """`async for chunk in sock`: what 'data' gives, until 'end'. Reading pauses while
    highWaterMark bytes wait for the consumer; a socket error is raised here; 'close' without
    'end' raises ConnectionResetError; leaving early (break) destroys the socket."""
    loop = asyncio.get_running_loop()
    chunks = collections.deque()
    state = {"bytes": 0, "ended": False, "closed": False, "error": None, "waiter": None}
    high_water_mark = sock.readableHighWaterMark

    def wake():
        waiter = state["waiter"]
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_data(chunk):
        chunks.append(chunk)
        state["bytes"] += len(chunk)
        if state["bytes"] >= high_water_mark:
            sock.pause()
        wake()

    def on_end():
        state["ended"] = True
        wake()

    def on_error(err):
        state["error"] = err
        wake()

    def on_close(had_error):
        state["closed"] = True
        wake()

    listeners = (("data", on_data), ("end", on_end), ("error", on_error), ("close", on_close))
    for name, listener in listeners:
        sock.on(name, listener)
    finished = False
    try:
        while True:
            if chunks:
                chunk = chunks.popleft()
                state["bytes"] -= len(chunk)
                if state["bytes"] < high_water_mark and sock.isPaused():
                    sock.resume()
                yield chunk
                continue
            if state["error"] is not None:
                finished = True
                raise state["error"]
            if state["ended"]:
                finished = True
                return
            if state["closed"]:
                finished = True
                raise ConnectionResetError("the socket closed before its end")
            state["waiter"] = loop.create_future()
            await state["waiter"]
            state["waiter"] = None
    finally:
        for name, listener in listeners:
            sock.removeListener(name, listener)
        if not finished:
            sock.destroy()


# -- asyncio streams backed by iotnet -------------------------------------------------------------

_DEFAULT_LIMIT = 2 ** 16      # asyncio's: readline's limit, and half the reader's buffer


def _running_attached_loop(what):
    loop = asyncio.get_running_loop()
    if _driver is None or _driver.loop is not loop:
        raise RuntimeError(f"iotnet.aio.{what}() needs iotnet attached to the running asyncio "
                           f"loop: use iotnet.aio.run(), or iotnet.aio.attach()")
    return loop


def _ip_tuple(address, port):
    if address is None:
        return None
    return (address, port, 0, 0) if ":" in address else (address, port)


def extra_info(sock, name, default=None):
    """StreamWriter.get_extra_info(): 'peername', 'sockname', and for TLS 'peercert'."""
    if name == "peername":
        info = _ip_tuple(sock.remoteAddress, sock.remotePort)
    elif name == "sockname":
        info = _ip_tuple(sock.localAddress, sock.localPort)
    elif name == "peercert" and sock.encrypted:
        info = sock.getPeerCertificate()
    else:
        info = None
    return default if info is None else info


def _ssl_client_context(ssl_option):
    import ssl as ssl_module
    if ssl_option is True:
        return ssl_module.create_default_context()
    if isinstance(ssl_option, ssl_module.SSLContext):
        return ssl_option
    raise TypeError(f"ssl must be an ssl.SSLContext, True or None, not {type(ssl_option).__name__}")


async def open_connection(host=None, port=None, *, limit=_DEFAULT_LIMIT, ssl=None,
                          server_hostname=None, ssl_handshake_timeout=None):
    """asyncio.open_connection() on an iotnet socket: (reader, writer)."""
    loop = _running_attached_loop("open_connection")
    _check_limit(limit)
    if host is None or port is None:
        raise ValueError("host and port was not specified and no sock specified")
    if ssl is None and (server_hostname is not None or ssl_handshake_timeout is not None):
        raise ValueError("server_hostname and ssl_handshake_timeout are only meaningful "
                         "with ssl")
    if ssl:
        from . import tls
        options = {"context": _ssl_client_context(ssl), "allowHalfOpen": True}
        if server_hostname is not None:
            options["servername"] = server_hostname
        sock = tls.connect(port, host, options)
        connected = once(sock, "secureConnect")
        if ssl_handshake_timeout is not None:
            connected = asyncio.wait_for(connected, ssl_handshake_timeout)
    else:
        sock = Socket(allowHalfOpen=True)
        sock.connect(port, host)
        connected = once(sock, "connect")
    try:
        await connected
    except BaseException:
        sock.destroy()
        raise
    return _streams(sock, loop, limit)


def _check_limit(limit):
    if limit <= 0:
        raise ValueError("Limit cannot be <= 0")


def _streams(sock, loop, limit):
    reader = _core.StreamReader(sock, loop, limit)
    sock.on("data", reader.feed_data)
    return reader, _core.StreamWriter(sock, reader, loop)


class _ListeningSocket:
    """What Server.sockets holds: the listening address (as asyncio's TransportSocket
    answers getsockname())."""

    def __init__(self, address):
        self._address = address
        import socket
        self.family = socket.AF_INET6 if address["family"] == "IPv6" else socket.AF_INET
        self.type = socket.SOCK_STREAM

    def getsockname(self):
        return _ip_tuple(self._address["address"], self._address["port"])

    def __repr__(self):
        return f"<iotnet listening socket {self.getsockname()}>"


class Server:
    """asyncio.Server over an iotnet Server (what iotnet.aio.start_server returns)."""

    def __init__(self, loop, net_server, listen_args):
        self._loop = loop
        self._server = net_server
        self._listen_args = listen_args
        self._closed = False
        self._serving_forever = None
        self._close_waiters = []
        net_server.on("close", self._on_close)

    def __repr__(self):
        return f"<iotnet.aio.Server sockets={self.sockets!r}>"

    def _on_close(self):
        for waiter in self._close_waiters:
            if not waiter.done():
                waiter.set_result(None)

    def get_loop(self):
        return self._loop

    def is_serving(self):
        return self._server.listening

    @property
    def sockets(self):
        if self._closed or not self._server.listening:
            return ()
        return (_ListeningSocket(self._server.address()),)

    def close(self):
        """Stops listening; the connections go on (asyncio's Server.close())."""
        if self._closed:
            return
        self._closed = True
        self._server.close()
        if self._serving_forever is not None and not self._serving_forever.done():
            self._serving_forever.cancel()

    async def start_serving(self):
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        if not self._server.listening:
            self._server.listen(*self._listen_args)
            await once(self._server, "listening")

    async def serve_forever(self):
        if self._serving_forever is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._closed:
            raise RuntimeError(f"server {self!r} is closed")
        await self.start_serving()
        self._serving_forever = self._loop.create_future()
        try:
            await self._serving_forever
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever = None

    async def wait_closed(self):
        """Until the server is closed and its connections are gone; at once if close() was
        called already (as asyncio's Server.wait_closed() of this Python)."""
        if self._closed:
            return
        waiter = self._loop.create_future()
        self._close_waiters.append(waiter)
        try:
            await waiter
        finally:
            self._close_waiters.remove(waiter)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info):
        self.close()
        await self.wait_closed()


def _client_task_done(loop, task, tasks, writer):
    """As asyncio: a client_connected_cb coroutine that raised is reported, and its
    connection closed."""
    tasks.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        loop.call_exception_handler({
            "message": "Unhandled exception in client_connected_cb",
            "exception": exc,
        })
        writer.close()


async def start_server(client_connected_cb, host=None, port=None, *, limit=_DEFAULT_LIMIT,
                       ssl=None, ssl_handshake_timeout=None, backlog=100, reuse_port=None):
    """asyncio.start_server() on an iotnet server: client_connected_cb(reader, writer) for
    each connection (a coroutine function's coroutine becomes a task)."""
    loop = _running_attached_loop("start_server")
    _check_limit(limit)
    if not callable(client_connected_cb):
        raise TypeError("client_connected_cb must be callable")
    if ssl is None and ssl_handshake_timeout is not None:
        raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
    options = {"allowHalfOpen": True}
    if ssl:
        import ssl as ssl_module
        from . import tls
        if not isinstance(ssl, ssl_module.SSLContext):
            raise TypeError(f"ssl must be an ssl.SSLContext, not {type(ssl).__name__}")
        options["context"] = ssl
        if ssl_handshake_timeout is not None:
            options["handshakeTimeout"] = int(ssl_handshake_timeout * 1000)
        net_server = tls.createServer(options)
        event = "secureConnection"
    else:
        from . import createServer
        net_server = createServer(options)
        event = "connection"

    tasks = set()

    def on_connection(sock):
        reader, writer = _streams(sock, loop, limit)
        result = client_connected_cb(reader, writer)
        if asyncio.iscoroutine(result):
            task = loop.create_task(result)
            tasks.add(task)
            task.add_done_callback(lambda task: _client_task_done(loop, task, tasks, writer))

    net_server.on(event, on_connection)
    listen_args = ({"port": port or 0, "host": host, "backlog": backlog,
                    "reusePort": bool(reuse_port)},)
    server = Server(loop, net_server, listen_args)
    await server.start_serving()
    return server

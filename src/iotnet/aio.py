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

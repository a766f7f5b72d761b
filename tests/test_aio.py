"""iotnet inside asyncio (iotnet.aio): the embedded loop, and the awaitables (once, connect,
drain, async for). The asyncio streams backed by iotnet: test_aio_streams.py.

Each test is one iotnet.aio.run(); asyncio.wait_for bounds what could hang."""
import asyncio
import threading
import time

import pytest

import iotnet
import iotnet.aio
from helpers import HOST, KIB, READ_BUFFER_BYTES, TIME_SCALE

BOUND_S = 20 * TIME_SCALE


def aio_run(coro):
    """iotnet.aio.run(coro), bounded."""
    async def bounded():
        return await asyncio.wait_for(coro, BOUND_S)
    return iotnet.aio.run(bounded())


async def echo_server(**options):
    server = iotnet.createServer(options, lambda sock: sock.pipe(sock))
    server.listen(0, HOST)
    await iotnet.once(server, "listening")
    return server, server.address()["port"]


async def close(server):
    server.close()
    await iotnet.once(server, "close")


def test_an_iotnet_server_and_an_asyncio_client_talk_in_one_thread():
    """An iotnet server, listened from a coroutine, answers asyncio's own streams client."""
    async def main():
        server, port = await echo_server()
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"hello from asyncio")
        writer.write_eof()
        data = await reader.read()
        writer.close()
        await writer.wait_closed()
        await close(server)
        return data
    assert aio_run(main()) == b"hello from asyncio"


def test_an_asyncio_server_and_an_iotnet_client_talk_in_one_thread():
    """An iotnet client, connected from a coroutine, talks to asyncio.start_server."""
    async def handle(reader, writer):
        writer.write((await reader.read()).upper())
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        sock = await iotnet.aio.connect(port, HOST)
        sock.end(b"hello from iotnet")
        chunks = [chunk async for chunk in sock]
        server.close()
        await server.wait_closed()
        return b"".join(chunks)
    assert aio_run(main()) == b"HELLO FROM IOTNET"


def test_attach_and_detach_rules():
    """attach() needs a running asyncio loop and is refused twice; iotnet.run() is refused
    while attached; detach() when detached does nothing; after detach, iotnet.run() runs."""
    with pytest.raises(RuntimeError):
        iotnet.aio.attach()
    iotnet.aio.detach()
    seen = []

    async def main():
        with pytest.raises(RuntimeError):
            iotnet.aio.attach()             # aio.run() attached already
        with pytest.raises(RuntimeError):
            iotnet.run()
        seen.append("checked")
    aio_run(main())
    iotnet.setTimeout(seen.append, 1, "iotnet.run ran")
    iotnet.run()
    assert seen == ["checked", "iotnet.run ran"]


def test_attach_by_hand_inside_asyncio_run():
    """attach()/detach() by hand in asyncio.run(): iotnet timers run while attached."""
    fired = []

    async def main():
        iotnet.aio.attach()
        try:
            iotnet.setTimeout(fired.append, 10, "timer")
            while not fired:
                await asyncio.sleep(0.005)
        finally:
            iotnet.aio.detach()
    asyncio.run(asyncio.wait_for(main(), BOUND_S))
    assert fired == ["timer"]


def test_iotnet_timers_keep_their_time_among_asyncio_ones():
    """iotnet timers and asyncio timers fire in the order of their due times."""
    order = []

    async def main():
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        iotnet.setTimeout(order.append, 50, "iotnet 50")
        loop.call_later(0.150, order.append, "asyncio 150")
        iotnet.setTimeout(order.append, 250, "iotnet 250")
        loop.call_later(0.350, done.set_result, None)
        await done
    aio_run(main())
    assert order == ["iotnet 50", "asyncio 150", "iotnet 250"]


def test_an_idle_attached_process_uses_no_cpu():
    """With a listening iotnet server and a far iotnet timer, an idle asyncio program sleeps:
    the process uses (almost) no CPU while it waits (nothing polls)."""
    async def main():
        server, port = await echo_server()
        far = iotnet.setTimeout(lambda: None, 60000)
        before = time.process_time()
        await asyncio.sleep(0.5)
        used = time.process_time() - before
        iotnet.clearTimeout(far)
        await close(server)
        return used
    assert aio_run(main()) < 0.05


def test_a_write_from_a_coroutine_does_not_wait_for_a_timer():
    """4 MiB written from a coroutine (most of it queued in libuv) reach the peer while the
    coroutine awaits only the peer's answer: the queued write got its pass at once."""
    async def main():
        server, port = await echo_server()
        sock = await iotnet.aio.connect(port, HOST)
        payload = b"w" * (4 * 1024 * KIB)
        sock.write(payload)
        sock.end()
        total = 0
        async for chunk in sock:
            total += len(chunk)
        await close(server)
        return total
    assert aio_run(main()) == 4 * 1024 * KIB


def test_an_exception_in_an_iotnet_callback_goes_to_asyncios_handler():
    """A raising iotnet listener: asyncio's exception handler gets 'message' and
    'exception'; the program goes on. With on_uncaught_exception set, that handler gets it."""
    contexts, uncaught = [], []

    async def main():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, context: contexts.append(context))
        iotnet.setTimeout(lambda: 1 / 0, 1)
        await asyncio.sleep(0.05)
        iotnet.on_uncaught_exception(uncaught.append)
        try:
            iotnet.setTimeout(lambda: {}["missing"], 1)
            await asyncio.sleep(0.05)
        finally:
            iotnet.on_uncaught_exception(None)
    aio_run(main())
    assert len(contexts) == 1
    assert isinstance(contexts[0]["exception"], ZeroDivisionError)
    assert "iotnet" in contexts[0]["message"]
    assert len(uncaught) == 1 and isinstance(uncaught[0], KeyError)


def test_an_unhandled_error_event_goes_to_asyncios_handler():
    """A connection refused with no 'error' listener: the OSError reaches asyncio's handler."""
    contexts = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, c: contexts.append(c))
        server, port = await echo_server()
        await close(server)
        closed = asyncio.get_running_loop().create_future()
        sock = iotnet.connect(port, HOST)
        sock.on("close", closed.set_result)
        await closed
    aio_run(main())
    assert [getattr(c["exception"], "code", None) for c in contexts] == ["ECONNREFUSED"]


def test_call_soon_threadsafe_reaches_an_attached_loop():
    """Another thread's call_soon_threadsafe runs on the attached loop's thread."""
    async def main():
        future = asyncio.get_running_loop().create_future()
        ran_on = []

        def on_loop():
            ran_on.append(threading.get_ident())
            future.set_result(None)
        keep_alive = iotnet.setInterval(lambda: None, 1000)   # as a server would
        thread = threading.Thread(target=iotnet.call_soon_threadsafe, args=(on_loop,))
        thread.start()
        await future
        thread.join()
        iotnet.clearInterval(keep_alive)
        return ran_on
    assert aio_run(main()) == [threading.get_ident()]


# -- once -----------------------------------------------------------------------------------------

def test_once_gives_the_arguments_and_raises_an_error_emitted_first():
    """Node's events.once: the arguments as a tuple; 'error' first raises it; once(e, 'error')
    gives (err,); a cancelled await leaves no listener behind."""
    async def main():
        emitter = iotnet.EventEmitter()
        iotnet.nextTick(emitter.emit, "thing", 1, "two")
        got = await iotnet.once(emitter, "thing")
        failure = ValueError("bad")
        iotnet.nextTick(emitter.emit, "error", failure)
        with pytest.raises(ValueError) as raised:
            await iotnet.once(emitter, "thing")
        iotnet.nextTick(emitter.emit, "error", failure)
        as_event = await iotnet.once(emitter, "error")
        waiting = asyncio.ensure_future(iotnet.once(emitter, "never"))
        await asyncio.sleep(0)
        counts = (emitter.listenerCount("never"), emitter.listenerCount("error"))
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        after = (emitter.listenerCount("never"), emitter.listenerCount("error"))
        return got, raised.value, as_event, counts, after
    got, raised, as_event, counts, after = aio_run(main())
    assert got == (1, "two")
    assert str(raised) == "bad" and as_event[0] is raised
    assert counts == (1, 1) and after == (0, 0)


# -- connect and drain ----------------------------------------------------------------------------

def test_aio_connect_raises_the_connect_error():
    """iotnet.aio.connect to a closed port raises ECONNREFUSED (an OSError with code)."""
    async def main():
        server, port = await echo_server()
        await close(server)
        with pytest.raises(ConnectionRefusedError) as raised:
            await iotnet.aio.connect(port, HOST)
        return raised.value
    assert aio_run(main()).code == "ECONNREFUSED"


def test_drain_returns_at_once_below_the_mark_and_at_drain_above_it():
    """drain() below highWaterMark completes without suspending; above it, at 'drain'."""
    async def main():
        server, port = await echo_server()
        sock = await iotnet.aio.connect(port, HOST)
        sock.resume()                              # the echo is dropped
        sock.write(b"small")
        step = sock.drain().__await__()
        with pytest.raises(StopIteration):         # finished without yielding
            step.send(None)
        above = not sock.write(b"x" * (8 * 1024 * KIB))
        await sock.drain()
        after = sock.writableLength
        sock.destroy()
        with pytest.raises(ConnectionResetError):
            await sock.drain()
        await close(server)
        return above, after
    above, after = aio_run(main())
    assert above and after < 64 * KIB


def test_drain_raises_when_the_socket_closes_while_waiting():
    """A socket destroyed with an error while drain() waits: drain() raises that error."""
    async def main():
        accepted = []
        server = iotnet.createServer({"pauseOnConnect": True}, accepted.append)  # never reads
        server.listen(0, HOST)
        await iotnet.once(server, "listening")
        sock = await iotnet.aio.connect(server.address()["port"], HOST)
        while sock.write(b"y" * (1024 * KIB)):
            pass
        failure = OSError("gone")
        iotnet.setTimeout(sock.destroy, 20, failure)
        with pytest.raises(OSError) as raised:
            await sock.drain()
        for each in accepted:
            each.destroy()
        await close(server)
        return raised.value is failure
    assert aio_run(main())


# -- async for ------------------------------------------------------------------------------------

def test_async_for_pauses_reading_while_the_consumer_lags():
    """A consumer slower than the sender: reading pauses while highWaterMark bytes wait for the
    consumer, so what was read and not yet consumed stays under the mark plus one read (the
    sender has 16 MiB ready); everything arrives, in order, ending at 'end'."""
    async def main():
        payload = bytes(range(256)) * (64 * 1024)          # 16 MiB
        server = iotnet.createServer(lambda sock: sock.end(payload))
        server.listen(0, HOST)
        await iotnet.once(server, "listening")
        sock = await iotnet.aio.connect(server.address()["port"], HOST, highWaterMark=64 * KIB)
        received, consumed, most_ahead = [], 0, 0
        async for chunk in sock:
            received.append(chunk)
            consumed += len(chunk)
            most_ahead = max(most_ahead, sock.bytesRead - consumed)
            await asyncio.sleep(0.0005)
        await close(server)
        return b"".join(received) == payload, most_ahead
    intact, most_ahead = aio_run(main())
    assert intact
    assert most_ahead < 64 * KIB + READ_BUFFER_BYTES


def test_async_for_raises_the_socket_error_and_not_as_uncaught():
    """A socket error ends `async for` by raising it; asyncio's handler does not see it."""
    contexts = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(lambda loop, c: contexts.append(c))
        server, port = await echo_server()
        sock = await iotnet.aio.connect(port, HOST)
        failure = OSError("boom")
        iotnet.setTimeout(sock.destroy, 10, failure)
        with pytest.raises(OSError) as raised:
            async for chunk in sock:
                pass
        await close(server)
        return raised.value is failure
    assert aio_run(main()) and contexts == []


def test_async_for_raises_connection_reset_on_close_without_end():
    """'close' without 'end' (destroy() with no error) raises ConnectionResetError."""
    async def main():
        server, port = await echo_server()
        sock = await iotnet.aio.connect(port, HOST)
        iotnet.setTimeout(sock.destroy, 10)
        with pytest.raises(ConnectionResetError):
            async for chunk in sock:
                pass
        await close(server)
    aio_run(main())


def test_breaking_out_of_async_for_destroys_the_socket():
    """Leaving `async for` early destroys the socket, as in Node."""
    async def main():
        server = iotnet.createServer(lambda sock: sock.write(b"first"))
        server.listen(0, HOST)
        await iotnet.once(server, "listening")
        sock = await iotnet.aio.connect(server.address()["port"], HOST)
        async for chunk in sock:
            break
        await iotnet.once(sock, "close")
        await close(server)
        return sock.destroyed
    assert aio_run(main())


def test_the_aio_examples_run():
    """examples/aio_two_servers.py answers examples/aio_echo_client.py on both of its servers,
    with the client on asyncio's streams and on iotnet's."""
    import pathlib
    import signal
    import subprocess
    import sys
    from helpers import CHILD_TIMEOUT_S, subprocess_env
    examples = pathlib.Path(__file__).resolve().parent.parent / "examples"
    server = subprocess.Popen([sys.executable, str(examples / "aio_two_servers.py"), "0", "0"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=subprocess_env())
    answers = []
    try:
        ports = server.stdout.readline().split()[2:]
        for port in ports:
            for provider in ("asyncio", "iotnet"):
                client = subprocess.run(
                    [sys.executable, str(examples / "aio_echo_client.py"), port, provider,
                     f"{provider} says hi"],
                    capture_output=True, text=True, env=subprocess_env(),
                    timeout=CHILD_TIMEOUT_S)
                answers.append((client.returncode, client.stdout, client.stderr))
    finally:
        server.send_signal(signal.SIGTERM)
        server_out, server_err = server.communicate(timeout=CHILD_TIMEOUT_S)
    assert len(ports) == 2
    assert answers == [(0, "asyncio says hi\n", ""), (0, "iotnet says hi\n", "")] * 2
    assert server.returncode == 0 and server_err == ""

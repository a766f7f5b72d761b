"""asyncio streams backed by iotnet (iotnet.aio.open_connection / iotnet.aio.start_server),
checked against asyncio's own streams.

Every test runs on two providers of `open_connection` and `start_server`: "asyncio" (the
reference: asyncio's streams) and "iotnet" (iotnet.aio's). Both run under iotnet.aio.run, on
real sockets on 127.0.0.1 port 0. The facts are those of CPython 3.11's
Lib/test/test_asyncio/test_streams.py (and test_server.py), each test's docstring names the
CPython test(s) whose facts it checks. CPython drives a bare StreamReader with feed_data() and
feed_eof(); here a peer writes the same bytes on a real connection, with pauses where the chunk
boundaries matter and with events where the order of the two ends matters.

The peer of a reader or writer under test is asyncio's own streams (the reference) unless the
test is about both ends; servers under test are the provider's. Nothing reaches the loop's
exception handler unless a test expects it; each test is bounded by asyncio.wait_for.
"""
import asyncio
import contextlib
import gc
import inspect
import pickle
import socket
import ssl
import struct
import warnings

import pytest

import iotnet.aio
from helpers import HOST, KIB, TIME_SCALE
from tls_certs import certs

BOUND_S = 20 * TIME_SCALE
# A pause between chunks whose boundaries matter, so that each arrives in a read of its own, and
# the wait that lets bytes already sent reach the reader's buffer before a read is called.
PAUSE_S = 0.05 * TIME_SCALE
DATA = b"line1\nline2\nline3\n"
MIB = 1024 * KIB

# Where iotnet's streams still differ from asyncio's: test name -> reason, a strict xfail on the
# "iotnet" provider only.
IOTNET_XFAIL = {
    "test_start_tls_on_both_ends":
        "iotnet's StreamWriter has no start_tls() (asyncio's upgrades the connection in place)",
}


@pytest.fixture(params=["asyncio", "iotnet"])
def streams(request):
    """The provider of open_connection and start_server: asyncio, or iotnet.aio."""
    if request.param == "iotnet":
        reason = IOTNET_XFAIL.get(request.function.__name__)
        if reason:
            request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))
        return iotnet.aio
    return asyncio


def run(coro, messages=None):
    """iotnet.aio.run(coro), bounded; what reaches the loop's exception handler is collected
    in `messages` if given, and otherwise fails the test."""
    seen = [] if messages is None else messages

    async def main():
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: seen.append(context))
        return await asyncio.wait_for(coro, BOUND_S)
    result = iotnet.aio.run(main())
    if messages is None:
        assert seen == [], seen
    return result


# -- helpers --------------------------------------------------------------------------------------

@contextlib.asynccontextmanager
async def connected(streams, peer, rcvbuf=None, peer_ssl=None, **options):
    """The provider's (reader, writer) from open_connection(**options), connected to a peer:
    asyncio's own start_server on 127.0.0.1 port 0, whose handler runs `peer(reader, writer)`.

    On leaving: the writer is closed and waited for, the peer's run awaited (its exception
    raised here), the server closed. With rcvbuf, the peer's socket has that SO_RCVBUF; with
    peer_ssl (an SSLContext), the peer speaks TLS."""
    loop = asyncio.get_running_loop()
    peer_done = loop.create_future()

    async def handle(reader, writer):
        try:
            await peer(reader, writer)
        except Exception as exc:
            peer_done.set_exception(exc)
        else:
            peer_done.set_result(None)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    listener = socket.socket()
    if rcvbuf is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    listener.bind((HOST, 0))
    server = await asyncio.start_server(handle, sock=listener, ssl=peer_ssl)
    try:
        port = server.sockets[0].getsockname()[1]
        reader, writer = await streams.open_connection(HOST, port, **options)
        try:
            yield reader, writer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        await peer_done
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def serving(streams, handler, **options):
    """The provider's start_server(handler, 127.0.0.1, 0, **options); yields (server, port) and
    closes it on leaving."""
    server = await streams.start_server(handler, HOST, 0, **options)
    try:
        yield server, server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def tracked(handler):
    """(client_connected_cb, runs): a coroutine callback running `handler`, and the list of
    futures of its runs (`await asyncio.gather(*runs)` waits for them, raising a failure)."""
    runs = []

    async def callback(reader, writer):
        done = asyncio.get_running_loop().create_future()
        runs.append(done)
        try:
            await handler(reader, writer)
        except Exception as exc:
            done.set_exception(exc)
        else:
            done.set_result(None)
    return callback, runs


async def send_chunks(writer, *chunks):
    """Writes each chunk on its own, with a pause after each (one read per chunk)."""
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(PAUSE_S)


async def settle():
    """Lets what the peer has sent reach the reader's buffer before the next read is called."""
    await asyncio.sleep(PAUSE_S)


def reset(writer):
    """Ends the peer's (asyncio) connection with a TCP RST instead of a FIN."""
    writer.get_extra_info("socket").setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def error_seen(reader):
    """Waits until the reader has taken the connection's error; returns it."""
    while reader.exception() is None:
        await asyncio.sleep(0.005)
    return reader.exception()


def closed_port():
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def tls_contexts():
    """(server context, client context) from the test certificates."""
    made = certs()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(made.server.cert_path, made.server.key_path)
    client_ctx = ssl.create_default_context(cafile=made.ca.cert_path)
    return server_ctx, client_ctx


async def http_like_peer(reader, writer):
    """Reads a request up to its blank line, answers with a status line, headers and a body
    (as CPython's test HTTP server does); connected() closes the connection afterwards."""
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nTest message")
    await writer.drain()


async def http_like_peer_closing(reader, writer):
    """http_like_peer, then close() and wait_closed() (as a start_server handler)."""
    await http_like_peer(reader, writer)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


# -- connections and whole exchanges --------------------------------------------------------------

def test_open_connection_request_and_response(streams):
    """Port of test_streams.StreamTests.test_open_connection and test_async_writer_api: a
    request written, the status line by readline(), the rest by read() up to the peer's close,
    then close() and wait_closed(); nothing reaches the loop's exception handler."""
    async def main():
        async with connected(streams, http_like_peer) as (reader, writer):
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            status = await reader.readline()
            rest = await reader.read()
            writer.close()
            await writer.wait_closed()
        return status, rest
    status, rest = run(main())
    assert status == b"HTTP/1.0 200 OK\r\n"
    assert rest.endswith(b"\r\n\r\nTest message")


@pytest.mark.parametrize("kind", ["coroutine", "function"])
def test_start_server_with_a_coroutine_or_a_plain_function(streams, kind):
    """Port of test_streams.StreamTests.test_start_server: a client_connected_cb that is a
    coroutine function (run as a task) or a plain function (which starts a task itself); the
    server echoes a line to the provider's own client; no exception-handler message."""
    async def main():
        loop = asyncio.get_running_loop()
        handler_done = loop.create_future()

        async def echo_line(reader, writer):
            try:
                writer.write(await reader.readline())
                await writer.drain()
                writer.close()
                await writer.wait_closed()
            finally:
                handler_done.set_result(None)

        tasks = []

        def plain(reader, writer):
            tasks.append(loop.create_task(echo_line(reader, writer)))

        async with serving(streams, echo_line if kind == "coroutine" else plain) as (_, port):
            reader, writer = await streams.open_connection(HOST, port)
            writer.write(b"hello world!\n")
            back = await reader.readline()
            writer.close()
            await writer.wait_closed()
            await handler_done
            await asyncio.gather(*tasks)
        return back
    assert run(main()) == b"hello world!\n"


def test_open_connection_with_ssl(streams):
    """Port of test_streams.StreamTests.test_open_connection_no_loop_ssl: open_connection with
    ssl= (a context trusting the peer's CA) and server_hostname= to a TLS server; the request
    and the whole answer pass through TLS."""
    server_ctx, client_ctx = tls_contexts()

    async def main():
        async with connected(streams, http_like_peer, peer_ssl=server_ctx, ssl=client_ctx,
                             server_hostname="localhost") as (reader, writer):
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            answer = await reader.read()
        return answer
    assert run(main()).endswith(b"\r\n\r\nTest message")


def test_start_server_with_ssl(streams):
    """Port of the TLS server side of test_streams.StreamTests.test_open_connection_no_loop_ssl:
    the provider's start_server(ssl=context) answers asyncio's TLS client."""
    server_ctx, client_ctx = tls_contexts()

    async def main():
        handler, runs = tracked(http_like_peer_closing)
        async with serving(streams, handler, ssl=server_ctx) as (_, port):
            reader, writer = await asyncio.open_connection(
                HOST, port, ssl=client_ctx, server_hostname="localhost")
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            answer = await reader.read()
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
            await asyncio.gather(*runs)
        return answer
    assert run(main()).endswith(b"\r\n\r\nTest message")


def test_start_tls_on_both_ends(streams):
    """Port of test_streams.StreamTests.test_start_tls: a line echoed in clear, then both
    writers upgrade the connection with start_tls() and a second line is echoed through TLS."""
    server_ctx, client_ctx = tls_contexts()

    async def main():
        async def handle(reader, writer):
            writer.write(await reader.readline())
            await writer.drain()
            await writer.start_tls(server_ctx)
            writer.write(await reader.readline())
            await writer.drain()
            writer.close()
            await writer.wait_closed()

        handler, runs = tracked(handle)
        async with serving(streams, handler) as (_, port):
            reader, writer = await streams.open_connection(HOST, port)
            writer.write(b"hello world 1!\n")
            await writer.drain()
            first = await reader.readline()
            await writer.start_tls(client_ctx, server_hostname="localhost")
            writer.write(b"hello world 2!\n")
            await writer.drain()
            second = await reader.readline()
            writer.close()
            await writer.wait_closed()
            await asyncio.gather(*runs)
        return first, second
    assert run(main()) == (b"hello world 1!\n", b"hello world 2!\n")


def test_open_connection_refused(streams):
    """No CPython 3.11 test_streams test (open_connection's connect error): a port where
    nothing listens raises ConnectionRefusedError."""
    async def main():
        with pytest.raises(ConnectionRefusedError):
            await streams.open_connection(HOST, closed_port())
    run(main())


# -- read -----------------------------------------------------------------------------------------

def test_read_zero(streams):
    """Port of test_streams.StreamTests.test_read_zero: read(0) returns b'' at once, with
    nothing buffered and with bytes buffered, and consumes nothing."""
    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            await go.wait()
            writer.write(DATA)
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            empty_before = await reader.read(0)      # nothing sent yet: does not wait
            go.set()
            await settle()
            empty_after = await reader.read(0)
            rest = await reader.readexactly(len(DATA))
        return empty_before, empty_after, rest
    assert run(main()) == (b"", b"", DATA)


def test_read_waits_for_data(streams):
    """Port of test_streams.StreamTests.test_read: read(30) called before anything arrives
    waits, then returns the 18 bytes that came (fewer than asked for)."""
    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            await go.wait()
            writer.write(DATA)
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            reading = asyncio.ensure_future(reader.read(30))
            await asyncio.sleep(0)
            go.set()
            data = await reading
        return data
    assert run(main()) == DATA


def test_read_returns_at_most_n_bytes(streams):
    """Port of test_streams.StreamTests.test_read_line_breaks: after b'line1' and b'line2'
    arrive, read(5) gives b'line1' and leaves b'line2' for the next read."""
    async def main():
        async def peer(reader, writer):
            await send_chunks(writer, b"line1", b"line2")
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            await settle()
            first = await reader.read(5)
            second = await reader.read(5)
        return first, second
    assert run(main()) == (b"line1", b"line2")


def test_read_at_eof_returns_empty_bytes(streams):
    """Port of test_streams.StreamTests.test_read_eof: a read(1024) waiting when the peer
    sends EOF without data returns b''; at_eof() is then true; later reads return b''."""
    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            await go.wait()
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            reading = asyncio.ensure_future(reader.read(1024))
            await asyncio.sleep(0)
            go.set()
            data = await reading
            eof = reader.at_eof()
            again = await reader.read(1024)
        return data, eof, again
    assert run(main()) == (b"", True, b"")


def test_read_all_until_eof(streams):
    """Port of test_streams.StreamTests.test_read_until_eof: read(-1), and read() with no
    argument, return everything up to EOF, across chunks."""
    async def main():
        results = []
        for call in (lambda r: r.read(-1), lambda r: r.read()):
            async def peer(reader, writer):
                await send_chunks(writer, b"chunk1\n", b"chunk2")
                writer.write_eof()
                await reader.read()

            async with connected(streams, peer) as (reader, writer):
                results.append(await call(reader))
                results.append(reader.at_eof())
        return results
    assert run(main()) == [b"chunk1\nchunk2", True, b"chunk1\nchunk2", True]


def test_read_is_not_bounded_by_limit(streams):
    """Port of test_streams.StreamTests.test_read_limit and the facts of
    test_read_all_from_pipe_reader: with limit=3, read(5) returns 5 buffered bytes; with
    limit=1, read(-1) returns all the bytes up to EOF."""
    async def main():
        async def peer(reader, writer):
            writer.write(b"chunk")
            await reader.read()

        async with connected(streams, peer, limit=3) as (reader, writer):
            await settle()
            five = await reader.read(5)

        async def peer_then_eof(reader, writer):
            writer.write(b"data")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer_then_eof, limit=1) as (reader, writer):
            everything = await reader.read(-1)
        return five, everything
    assert run(main()) == (b"chunk", b"data")


def test_a_limit_of_zero_or_less_is_a_value_error(streams):
    """Port of test_streams.StreamTests.test_invalid_limit: open_connection(limit=0) and
    limit=-1 raise ValueError (message mentioning the limit), and leave no connection open."""
    async def main():
        accepted = []

        async def peer(reader, writer):
            accepted.append(reader)
            await reader.read()
            writer.close()

        server = await asyncio.start_server(peer, HOST, 0)
        try:
            for limit in (0, -1):
                with pytest.raises(ValueError, match="imit"):
                    await streams.open_connection(
                        HOST, server.sockets[0].getsockname()[1], limit=limit)
            await settle()
            left_open = [r for r in accepted if not r.at_eof()]
            assert left_open == [], "a failed open_connection left its connection open"
        finally:
            server.close()
            await server.wait_closed()
    run(main())


# -- readline -------------------------------------------------------------------------------------

def test_readline_waits_across_chunks(streams):
    """Port of test_streams.StreamTests.test_readline: with b'chunk1 ' buffered, readline()
    waits through b'chunk2 ', b'chunk3 ', b'\\n chunk4' and returns the line up to and with
    the newline; b' chunk4' stays for the next read."""
    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            writer.write(b"chunk1 ")
            await go.wait()
            await send_chunks(writer, b"chunk2 ", b"chunk3 ", b"\n chunk4")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            await settle()
            reading = asyncio.ensure_future(reader.readline())
            await asyncio.sleep(0)
            go.set()
            line = await reading
            rest = await reader.read()
        return line, rest
    assert run(main()) == (b"chunk1 chunk2 chunk3 \n", b" chunk4")


def test_readline_limit_with_data_already_buffered(streams):
    """Port of test_streams.StreamTests.test_readline_limit_with_existing_data: limit=3.
    Buffered b'line1\\nline2\\n': readline() raises ValueError and drops the long line with its
    newline, b'line2\\n' stays. Buffered b'line1li' (no newline): ValueError and all of it is
    dropped; what arrives later is read as new."""
    async def main():
        async def peer(reader, writer):
            writer.write(b"line1\nline2\n")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer, limit=3) as (reader, writer):
            await settle()
            with pytest.raises(ValueError):
                await reader.readline()
            kept = await reader.read()

        go = asyncio.Event()

        async def peer_partial(reader, writer):
            writer.write(b"line1li")
            await go.wait()
            writer.write(b"ne2\n")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer_partial, limit=3) as (reader, writer):
            await settle()
            with pytest.raises(ValueError):
                await reader.readline()
            go.set()
            later = await reader.read()
        return kept, later
    assert run(main()) == (b"line2\n", b"ne2\n")


def test_readline_limit_while_waiting(streams):
    """Port of test_streams.StreamTests.test_readline_limit: limit=7.
    A readline() waiting while b'chunk1', b'chunk2' arrive raises ValueError once the buffer
    passes the limit with no newline, and drops those bytes (b'chunk3\\n' sent afterwards is the
    next line). b'chunk1chunk2\\nchunk3\\n' arriving at once: ValueError drops the long line and
    its newline, b'chunk3\\n' stays. The limit is strict: b'1234567\\n' is a line;
    b'12345678\\n' and b'12345678' raise ValueError and are dropped."""
    async def main():
        results = []
        resume = asyncio.Event()

        async def peer(reader, writer):
            await send_chunks(writer, b"chunk1", b"chunk2")
            await resume.wait()
            writer.write(b"chunk3\n")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer, limit=7) as (reader, writer):
            with pytest.raises(ValueError):
                await reader.readline()
            resume.set()
            results.append(await reader.readline())
            results.append(await reader.readline())

        async def peer_whole(reader, writer):
            writer.write(b"chunk1chunk2\nchunk3\n")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer_whole, limit=7) as (reader, writer):
            await settle()
            with pytest.raises(ValueError):
                await reader.readline()
            results.append(await reader.read())

        steps = [asyncio.Event() for _ in range(3)]

        async def peer_strict(reader, writer):
            writer.write(b"1234567\n")
            await steps[0].wait()
            writer.write(b"12345678\n")
            await steps[1].wait()
            writer.write(b"12345678")
            await steps[2].wait()
            writer.write(b"end\n")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer_strict, limit=7) as (reader, writer):
            results.append(await reader.readline())
            steps[0].set()
            with pytest.raises(ValueError):
                await reader.readline()
            steps[1].set()
            with pytest.raises(ValueError):
                await reader.readline()
            steps[2].set()
            results.append(await reader.read())
        return results
    assert run(main()) == [b"chunk3\n", b"", b"chunk3\n", b"1234567\n", b"end\n"]


def test_readline_from_buffered_lines(streams):
    """Port of test_streams.StreamTests.test_readline_nolimit_nowait: with three lines
    buffered (sent as b'line1\\n' and b'line2\\nline3\\n'), readline() returns the first and
    leaves the others."""
    async def main():
        async def peer(reader, writer):
            writer.writelines([DATA[:6], DATA[6:]])
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            await settle()
            first = await reader.readline()
            rest = await reader.read()
        return first, rest
    assert run(main()) == (b"line1\n", b"line2\nline3\n")


def test_readline_at_eof(streams):
    """Port of test_streams.StreamTests.test_readline_eof and test_readline_empty_eof: a last
    line without newline comes back as it is at EOF; at EOF with nothing buffered, b''."""
    async def main():
        async def peer(reader, writer):
            writer.write(b"some data")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            last = await reader.readline()
            empty = await reader.readline()

        async def peer_eof_only(reader, writer):
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer_eof_only) as (reader, writer):
            only_eof = await reader.readline()
        return last, empty, only_eof
    assert run(main()) == (b"some data", b"", b"")


def test_readline_then_read(streams):
    """Port of test_streams.StreamTests.test_readline_read_byte_count: after readline(),
    read(7) returns the next 7 bytes, b'line2\\nl', and b'ine3\\n' stays."""
    async def main():
        async def peer(reader, writer):
            writer.write(DATA)
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            await settle()
            await reader.readline()
            seven = await reader.read(7)
            rest = await reader.read()
        return seven, rest
    assert run(main()) == (b"line2\nl", b"ine3\n")


def test_async_iteration_by_lines(streams):
    """No CPython 3.11 test_streams test (StreamReader's `async for`): iterating over the
    reader yields lines as readline() would, across chunk boundaries, the last one without its
    newline, and stops at EOF."""
    async def main():
        async def peer(reader, writer):
            await send_chunks(writer, b"line1\nli", b"ne2\n", b"line3")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            lines = [line async for line in reader]
        return lines
    assert run(main()) == [b"line1\n", b"line2\n", b"line3"]


def test_at_eof(streams):
    """Port of test_streams.StreamTests.test_at_eof: at_eof() is false on a new connection,
    after a line is read with more to come, and while bytes are buffered after EOF arrived;
    true once the last buffered line is read after EOF."""
    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            writer.write(b"some data\n")
            await go.wait()
            writer.write(b"some data\n")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            seen = [reader.at_eof()]
            await reader.readline()
            seen.append(reader.at_eof())
            go.set()
            await settle()
            seen.append(reader.at_eof())        # EOF arrived, a line still buffered
            await reader.readline()
            seen.append(reader.at_eof())
        return seen
    assert run(main()) == [False, False, False, True]


# -- readuntil ------------------------------------------------------------------------------------

def test_readuntil_with_an_empty_separator_is_a_value_error(streams):
    """Port of test_streams.StreamTests.test_readuntil_separator: readuntil(separator=b'')
    raises ValueError ('Separator should be at least one-byte string')."""
    async def main():
        async def peer(reader, writer):
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            with pytest.raises(ValueError, match="Separator should be"):
                await reader.readuntil(separator=b"")
    run(main())


def test_readuntil_multi_byte_separator(streams):
    """Port of test_streams.StreamTests.test_readuntil_multi_chunks: readuntil(b'AAA')
    (also given as separator=) returns the data with the separator; bytes after it stay."""
    async def main():
        steps = [asyncio.Event() for _ in range(2)]

        async def peer(reader, writer):
            writer.write(b"lineAAA")
            await steps[0].wait()
            writer.write(b"lineAAA")
            await steps[1].wait()
            writer.write(b"lineAAAxxx")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            got = [await reader.readuntil(separator=b"AAA")]
            steps[0].set()
            got.append(await reader.readuntil(b"AAA"))
            steps[1].set()
            await settle()
            got.append(await reader.readuntil(b"AAA"))
            got.append(await reader.read())
        return got
    assert run(main()) == [b"lineAAA", b"lineAAA", b"lineAAA", b"xxx"]


def test_readuntil_separator_split_across_chunks(streams):
    """Port of test_streams.StreamTests.test_readuntil_multi_chunks_1: readuntil(b'aaa') finds
    the separator when its bytes arrive in different chunks (b'QWEaa' b'XYaa' b'a',
    b'QWEaa' b'XYa' b'aa', b'XXX' b'a' b'a' b'a'), and when a chunk is just it or ends with it;
    a partial match earlier in the data (b'aa' before b'XY') is not taken for it."""
    messages = [
        [b"QWEaa", b"XYaa", b"a"],
        [b"QWEaa", b"XYa", b"aa"],
        [b"aaa"],
        [b"Xaaa"],
        [b"XXX", b"a", b"a", b"a"],
    ]

    async def main():
        steps = [asyncio.Event() for _ in messages]

        async def peer(reader, writer):
            for chunks, step in zip(messages, steps):
                await step.wait()
                await send_chunks(writer, *chunks)
            writer.write_eof()
            await reader.read()

        got = []
        async with connected(streams, peer) as (reader, writer):
            for step in steps:
                reading = asyncio.ensure_future(reader.readuntil(b"aaa"))
                await asyncio.sleep(0)
                step.set()
                got.append(await reading)
            got.append(await reader.read())
        return got
    assert run(main()) == [b"QWEaaXYaaa", b"QWEaaXYaaa", b"aaa", b"Xaaa", b"XXXaaa", b""]


def test_readuntil_at_eof_is_an_incomplete_read(streams):
    """Port of test_streams.StreamTests.test_readuntil_eof: b'some dataAA' then EOF:
    readuntil(b'AAA') raises IncompleteReadError ('undefined expected bytes') with partial the
    whole data (the separator's start included) and expected None; the buffer is emptied."""
    async def main():
        async def peer(reader, writer):
            writer.write(b"some dataAA")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            with pytest.raises(asyncio.IncompleteReadError,
                               match="undefined expected bytes") as raised:
                await reader.readuntil(b"AAA")
            rest = await reader.read()
        return raised.value, rest
    error, rest = run(main())
    assert (error.partial, error.expected, rest) == (b"some dataAA", None, b"")


def test_readuntil_limit_overrun(streams):
    """Port of test_streams.StreamTests.test_readuntil_limit_found_sep: limit=3. b'some dataAA'
    buffered: readuntil(b'AAA') raises LimitOverrunError ('not found', consumed 9) and leaves
    the data buffered (a later read gets it, with the b'A' sent afterwards). b'some dataAAA'
    buffered: LimitOverrunError ('is found', consumed 9), the data still buffered."""
    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            writer.write(b"some dataAA")
            await go.wait()
            writer.write(b"A")
            await reader.read()

        async with connected(streams, peer, limit=3) as (reader, writer):
            await settle()
            with pytest.raises(asyncio.LimitOverrunError, match="not found") as not_found:
                await reader.readuntil(b"AAA")
            go.set()
            first = await reader.readexactly(12)

        async def peer_whole(reader, writer):
            writer.write(b"some dataAAA")
            await reader.read()

        async with connected(streams, peer_whole, limit=3) as (reader, writer):
            await settle()
            with pytest.raises(asyncio.LimitOverrunError, match="is found") as found:
                await reader.readuntil(b"AAA")
            second = await reader.readexactly(12)
        return not_found.value.consumed, first, found.value.consumed, second
    assert run(main()) == (9, b"some dataAAA", 9, b"some dataAAA")


# -- readexactly ----------------------------------------------------------------------------------

def test_readexactly_zero_or_negative(streams):
    """Port of test_streams.StreamTests.test_readexactly_zero_or_less: readexactly(0) returns
    b'' and readexactly(-1) raises ValueError ('less than zero'), both consuming nothing."""
    async def main():
        async def peer(reader, writer):
            writer.write(DATA)
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            await settle()
            zero = await reader.readexactly(0)
            with pytest.raises(ValueError, match="less than zero"):
                await reader.readexactly(-1)
            rest = await reader.readexactly(len(DATA))
        return zero, rest
    assert run(main()) == (b"", DATA)


def test_readexactly_waits_for_all_the_bytes(streams):
    """Port of test_streams.StreamTests.test_readexactly: readexactly(36) waits while DATA
    arrives three times (18 bytes each), returns 36 bytes, and the third DATA stays."""
    async def main():
        async def peer(reader, writer):
            await send_chunks(writer, DATA, DATA, DATA)
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            two = await reader.readexactly(2 * len(DATA))
            rest = await reader.read()
        return two, rest
    assert run(main()) == (DATA + DATA, DATA)


def test_readexactly_beyond_limit(streams):
    """Port of test_streams.StreamTests.test_readexactly_limit: limit=3, readexactly(5) returns
    b'chunk'; readexactly of 4 MiB, far beyond twice the limit (where reading pauses), also
    completes."""
    big = bytes(range(256)) * (16 * KIB)

    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            writer.write(b"chunk")
            await go.wait()
            writer.write(big)
            await writer.drain()
            await reader.read()

        async with connected(streams, peer, limit=3) as (reader, writer):
            five = await reader.readexactly(5)
            go.set()
            large = await reader.readexactly(len(big))
        return five, large == big
    assert run(main()) == (b"chunk", True)


def test_readexactly_at_eof_is_an_incomplete_read(streams):
    """Port of test_streams.StreamTests.test_readexactly_eof: readexactly(36) with 18 bytes
    then EOF raises IncompleteReadError with partial the 18 bytes, expected 36, the message
    '18 bytes read on a total of 36 expected bytes'; the buffer is emptied."""
    async def main():
        async def peer(reader, writer):
            writer.write(DATA)
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            with pytest.raises(asyncio.IncompleteReadError) as raised:
                await reader.readexactly(2 * len(DATA))
            rest = await reader.read()
        return raised.value, rest
    error, rest = run(main())
    assert (error.partial, error.expected, rest) == (DATA, 2 * len(DATA), b"")
    assert str(error) == "18 bytes read on a total of 36 expected bytes"


def test_errors_raised_by_the_reader_pickle(streams):
    """Port of test_streams.StreamTests.test_IncompleteReadError_pickleable and
    test_LimitOverrunError_pickleable, on errors a reader raised: asyncio's own classes, which
    survive pickling with every protocol (message, partial/expected, consumed)."""
    async def main():
        async def peer(reader, writer):
            writer.write(b"0123456789")
            writer.write_eof()
            await reader.read()

        async with connected(streams, peer, limit=8) as (reader, writer):
            await settle()
            with pytest.raises(asyncio.LimitOverrunError) as overrun:
                await reader.readuntil(b"\n")
            with pytest.raises(asyncio.IncompleteReadError) as incomplete:
                await reader.readexactly(20)
        return overrun.value, incomplete.value
    overrun, incomplete = run(main())
    assert type(overrun) is asyncio.LimitOverrunError
    assert type(incomplete) is asyncio.IncompleteReadError
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        copy = pickle.loads(pickle.dumps(incomplete, protocol=protocol))
        assert (str(copy), copy.partial, copy.expected) == (
            str(incomplete), incomplete.partial, incomplete.expected)
        copy = pickle.loads(pickle.dumps(overrun, protocol=protocol))
        assert (str(copy), copy.consumed) == (str(overrun), overrun.consumed)


# -- the connection's error -----------------------------------------------------------------------

def test_a_reset_makes_reads_drain_and_wait_closed_raise(streams):
    """Port of test_streams.StreamTests.test_open_connection_error, test_exception,
    test_read_exception, test_readline_exception and test_readexactly_exception: exception() is
    None on a live connection; after the peer's reset it is a ConnectionResetError, and read(),
    readline(), readexactly(), readuntil() raise that same error though bytes are still
    buffered; drain() after a write raises it too (the reader's exception), and so does
    wait_closed() after close()."""
    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            writer.write(b"line\n")
            await go.wait()
            reset(writer)

        async with connected(streams, peer) as (reader, writer):
            before = reader.exception()
            two = await reader.read(2)
            go.set()
            error = await error_seen(reader)
            raised = []
            for call in (lambda: reader.read(2), reader.readline, lambda: reader.readexactly(2),
                         lambda: reader.readuntil(b"\n")):
                with pytest.raises(ConnectionResetError) as caught:
                    await call()
                raised.append(caught.value)
            with pytest.raises(ConnectionResetError) as caught:
                writer.write(b"x")
                await writer.drain()
            raised.append(caught.value)
            writer.close()
            with pytest.raises(ConnectionResetError) as caught:
                await writer.wait_closed()
            raised.append(caught.value)
        return before, two, error, raised
    before, two, error, raised = run(main())
    assert before is None and two == b"li"
    assert isinstance(error, ConnectionResetError)
    assert all(exc is error for exc in raised), raised


def test_a_reset_wakes_a_waiting_readline(streams):
    """Port of test_streams.StreamTests.test_exception_waiter: a readline() waiting for data
    raises ConnectionResetError when the peer resets the connection."""
    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            await go.wait()
            reset(writer)

        async with connected(streams, peer) as (reader, writer):
            reading = asyncio.ensure_future(reader.readline())
            await asyncio.sleep(0)
            go.set()
            with pytest.raises(ConnectionResetError):
                await reading
    run(main())


def test_a_cancelled_readline_leaves_the_reader_usable(streams):
    """Port of test_streams.StreamTests.test_exception_cancel: a waiting readline() cancelled;
    a new readline() then gets the next line, and a reset after that raises from the next read
    with no message to the loop's exception handler."""
    async def main():
        steps = [asyncio.Event() for _ in range(2)]

        async def peer(reader, writer):
            await steps[0].wait()
            writer.write(b"line\n")
            await steps[1].wait()
            reset(writer)

        async with connected(streams, peer) as (reader, writer):
            waiting = asyncio.ensure_future(reader.readline())
            await asyncio.sleep(0)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            steps[0].set()
            line = await reader.readline()
            steps[1].set()
            with pytest.raises(ConnectionResetError):
                await reader.read()
        return line
    assert run(main()) == b"line\n"


def test_drain_raises_once_the_peer_has_closed(streams):
    """Port of test_streams.StreamTests.test_drain_raises: the peer (a plain socket) accepts and
    closes; a client writing and draining in a loop gets ConnectionResetError,
    ConnectionAbortedError or BrokenPipeError instead of looping for ever; nothing reaches the
    loop's exception handler."""
    async def main():
        loop = asyncio.get_running_loop()
        listener = socket.create_server((HOST, 0))
        listener.setblocking(False)

        async def accept_and_close():
            sock, _ = await loop.sock_accept(listener)
            sock.close()
        try:
            closing = asyncio.ensure_future(accept_and_close())
            reader, writer = await streams.open_connection(*listener.getsockname())
            await closing
            assert await reader.read() == b""           # the peer's FIN has arrived
            try:
                with pytest.raises((ConnectionResetError, ConnectionAbortedError,
                                    BrokenPipeError)):
                    for _ in range(100_000):
                        writer.write(b"foo\n")
                        await writer.drain()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
        finally:
            listener.close()
    run(main())


# -- the writer -----------------------------------------------------------------------------------

def test_write_writelines_and_empty_writes(streams):
    """Port of test_streams.StreamTests.test_feed_empty_data and test_feed_nonempty_data, on
    the writing side: write() and writelines() send their bytes in order; an empty write sends
    nothing."""
    async def main():
        async def peer(reader, writer):
            writer.write(await reader.read())

        async with connected(streams, peer) as (reader, writer):
            writer.write(b"")
            writer.write(b"abc")
            writer.writelines([b"de", b"", b"f"])
            writer.write(b"")
            writer.writelines([])
            await writer.drain()
            writer.write_eof()
            echoed = await reader.read()
        return echoed
    assert run(main()) == b"abcdef"


def test_write_eof_then_read_the_answer(streams):
    """Half-open, the writing side (no CPython 3.11 test_streams test; StreamWriter.write_eof and
    can_write_eof): can_write_eof() is true; after write_eof() the peer reads to EOF, and the
    client's reader still gets the peer's answer."""
    async def main():
        async def peer(reader, writer):
            request = await reader.read()
            writer.write(request.upper())

        async with connected(streams, peer) as (reader, writer):
            can = writer.can_write_eof()
            writer.write(b"hello")
            writer.write_eof()
            answer = await reader.read()
        return can, answer
    assert run(main()) == (True, b"HELLO")


def test_the_writer_works_after_the_reader_sees_eof(streams):
    """Half-open, the reading side (no CPython 3.11 test_streams test): after the reader sees the
    peer's EOF, the writer is not closing and what it writes reaches the peer."""
    async def main():
        async def peer(reader, writer):
            writer.write_eof()
            got = await reader.readexactly(5)
            assert got == b"later"
            assert await reader.read() == b""

        async with connected(streams, peer) as (reader, writer):
            eof = await reader.read()
            closing = writer.is_closing()
            writer.write(b"later")
            await writer.drain()
            writer.write_eof()
        return eof, reader.at_eof(), closing
    assert run(main()) == (b"", True, False)


def test_close_and_wait_closed(streams):
    """Port of test_streams.StreamTests.test_wait_closed_on_close: after the whole answer is
    read, is_closing() is false; close() makes it true; wait_closed() completes."""
    async def main():
        async with connected(streams, http_like_peer) as (reader, writer):
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            status = await reader.readline()
            rest = await reader.read()
            states = [writer.is_closing()]
            writer.close()
            states.append(writer.is_closing())
            await writer.wait_closed()
            states.append(writer.is_closing())
        return status, rest, states
    status, rest, states = run(main())
    assert status == b"HTTP/1.0 200 OK\r\n" and rest.endswith(b"Test message")
    assert states == [False, True, True]


def test_close_with_unread_data(streams):
    """Port of test_streams.StreamTests.test_wait_closed_on_close_with_unread_data: close() and
    wait_closed() with part of the answer unread complete."""
    async def main():
        async with connected(streams, http_like_peer) as (reader, writer):
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            status = await reader.readline()
            await settle()
            writer.close()
            await writer.wait_closed()
        return status
    assert run(main()) == b"HTTP/1.0 200 OK\r\n"


def test_the_reader_is_at_eof_once_the_writer_is_closed(streams):
    """Port of test_streams.StreamTests.test_eof_feed_when_closing_writer: close() and
    wait_closed() on a connection never read: the reader is then at EOF and read() gives b''."""
    async def main():
        async def peer(reader, writer):
            await reader.read()

        async with connected(streams, peer) as (reader, writer):
            writer.close()
            await writer.wait_closed()
            eof = reader.at_eof()
            data = await reader.read()
        return eof, data
    assert run(main()) == (True, b"")


def test_write_and_drain_after_close_raise_connection_reset(streams):
    """Port of test_streams.StreamTests.test_async_writer_api_exception_after_close: after the
    answer is read and close() called, write() then drain() raises ConnectionResetError."""
    async def main():
        async with connected(streams, http_like_peer) as (reader, writer):
            writer.write(b"GET / HTTP/1.0\r\n\r\n")
            await reader.readline()
            await reader.read()
            writer.close()
            with pytest.raises(ConnectionResetError):
                writer.write(b"data")
                await writer.drain()
    run(main())


def test_close_sends_what_is_queued(streams):
    """No CPython 3.11 test_streams test (StreamWriter.close flushes the transport's buffer): 16
    MiB written and close() called at once all reach the peer, then its EOF."""
    payload = bytes(range(256)) * (64 * KIB)

    async def main():
        received = []

        async def peer(reader, writer):
            received.append(await reader.read())

        async with connected(streams, peer) as (reader, writer):
            writer.write(payload)
            writer.close()
            await writer.wait_closed()
        return received[0] == payload
    assert run(main()) is True


def test_concurrent_drains_all_complete(streams):
    """Port of test_streams.StreamTests.test_multiple_drain: with the writer above its
    high-water mark (16 MiB to a peer that does not read yet), ten concurrent drain() calls
    wait; when the peer reads everything, all ten complete."""
    payload = b"d" * (16 * MIB)

    async def main():
        go = asyncio.Event()

        async def peer(reader, writer):
            await go.wait()
            assert await reader.readexactly(len(payload)) == payload

        async with connected(streams, peer, rcvbuf=64 * KIB) as (reader, writer):
            writer.write(payload)
            drains = [asyncio.ensure_future(writer.drain()) for _ in range(10)]
            await settle()
            waiting = sum(not d.done() for d in drains)
            go.set()
            await asyncio.gather(*drains)
        return waiting
    assert run(main()) == 10


def test_get_extra_info_peername_and_sockname(streams):
    """No CPython 3.11 test_streams test (StreamWriter.get_extra_info): on the provider's client
    and server writers, 'peername' of one end is 'sockname' of the other, the server's port
    is the one listened on; an unknown name gives the default."""
    async def main():
        server_side = asyncio.get_running_loop().create_future()

        async def handle(reader, writer):
            server_side.set_result((writer.get_extra_info("sockname"),
                                    writer.get_extra_info("peername")))
            await reader.read()
            writer.close()
            await writer.wait_closed()

        handler, runs = tracked(handle)
        async with serving(streams, handler) as (server, port):
            reader, writer = await streams.open_connection(HOST, port)
            client = (writer.get_extra_info("sockname"), writer.get_extra_info("peername"))
            other = writer.get_extra_info("no such thing", "default")
            server_sock, server_peer = await server_side
            writer.close()
            await writer.wait_closed()
            await asyncio.gather(*runs)
        return port, client, (server_sock, server_peer), other
    port, (c_sock, c_peer), (s_sock, s_peer), other = run(main())
    assert tuple(c_peer) == tuple(s_sock) == (HOST, port)
    assert tuple(c_sock) == tuple(s_peer) and c_sock[0] == HOST
    assert other == "default"


def test_an_unclosed_writer_warns_when_collected(streams):
    """Port of test_streams.StreamTests.test_unclosed_resource_warnings: a writer dropped
    without close() gives a ResourceWarning 'unclosed ...' when collected, and the
    connection is closed (the peer reads EOF)."""
    if streams is asyncio and not hasattr(asyncio.StreamWriter, "__del__"):
        pytest.skip("this Python's asyncio StreamWriter does not warn when collected "
                    "(CPython 3.11.3 and later do); the iotnet case still runs")

    async def main():
        peer_read = asyncio.get_running_loop().create_future()

        async def handle(reader, writer):
            peer_read.set_result(await reader.read())
            writer.close()
            await writer.wait_closed()

        server = await asyncio.start_server(handle, HOST, 0)
        try:
            reader, writer = await streams.open_connection(
                HOST, server.sockets[0].getsockname()[1])
            writer.write(b"bye")
            await writer.drain()
            gc.collect()        # earlier tests' garbage warns now, not in the block below
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                del writer
                gc.collect()
            caught = [(w.category, str(w.message)) for w in caught]
            assert [c for c, m in caught if m.startswith("unclosed")] == [ResourceWarning], \
                caught
            data = await peer_read
        finally:
            server.close()
            await server.wait_closed()
        return data
    assert run(main()) == b"bye"


# -- the server -----------------------------------------------------------------------------------

def test_serve_forever_cancelled_closes_the_server(streams):
    """Port of test_server.BaseStartServer.test_start_server_1: `async with server` around
    serve_forever(); the handler, given a 5 KiB line, cancels the serving task and answers
    one byte; the task ends with CancelledError, the server is closed: sockets is (),
    is_serving() false, and serve_forever() again raises RuntimeError ('is closed')."""
    hello = b"1" * 5 * KIB + b"\n"

    async def main():
        loop = asyncio.get_running_loop()
        serving_task = None

        async def serve(reader, writer):
            await reader.readline()
            serving_task.cancel()
            writer.write(b"1")
            writer.close()
            await writer.wait_closed()

        handler, runs = tracked(serve)
        server = await streams.start_server(handler, HOST, 0)

        async def main_task(srv):
            async with srv:
                await srv.serve_forever()

        serving_task = loop.create_task(main_task(server))
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(hello)
        one = await reader.readexactly(1)
        with pytest.raises(asyncio.CancelledError):
            await serving_task
        writer.close()
        await writer.wait_closed()
        await asyncio.gather(*runs)
        state = (server.sockets, server.is_serving())
        with pytest.raises(RuntimeError, match="is closed"):
            await server.serve_forever()
        return one, state
    one, (sockets, is_serving) = run(main())
    assert one == b"1"
    assert tuple(sockets) == () and is_serving is False


def test_server_state_close_and_wait_closed(streams):
    """Port of the server facts of test_server.BaseStartServer.test_start_server_1 and
    test_streams.StreamTests.test_unhandled_exceptions: a server from start_server is serving,
    start_serving() on it changes nothing, sockets[0].getsockname() is (127.0.0.1, port).
    After close(): is_serving() is false, sockets is (), the port refuses connections, and a
    connection accepted before still works; a wait_closed() started before close() completes
    once that connection is closed too."""
    async def main():
        async def echo(reader, writer):
            async for line in reader:
                writer.write(line)
            writer.close()
            await writer.wait_closed()

        handler, runs = tracked(echo)
        server = await streams.start_server(handler, HOST, 0)
        name = server.sockets[0].getsockname()
        port = name[1]
        states = [server.is_serving()]
        await server.start_serving()
        states.append(server.is_serving())
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"before\n")
        first = await reader.readline()
        waiting = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0)
        pending = [not waiting.done()]
        server.close()
        states.append(server.is_serving())
        after_sockets = server.sockets
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(HOST, port)
        writer.write(b"after\n")
        second = await reader.readline()
        pending.append(not waiting.done())      # a connection is still open
        writer.close()
        await writer.wait_closed()
        await asyncio.gather(*runs)
        await waiting
        return tuple(name), port, states, pending, tuple(after_sockets), first, second
    name, port, states, pending, after_sockets, first, second = run(main())
    assert name == (HOST, port)
    assert states == [True, True, False] and pending == [True, True]
    assert after_sockets == ()
    assert (first, second) == (b"before\n", b"after\n")


def test_async_with_closes_the_server(streams):
    """Port of the `async with srv` of test_server.BaseStartServer.test_start_server_1:
    entering gives the server itself; leaving closes it (is_serving() false, sockets ())."""
    async def main():
        async def handle(reader, writer):
            writer.close()

        server = await streams.start_server(handle, HOST, 0)
        async with server as entered:
            same = entered is server
            inside = server.is_serving()
        return same, inside, server.is_serving(), tuple(server.sockets)
    assert run(main()) == (True, True, False, ())


def test_start_server_and_open_connection_keywords(streams):
    """Port of test_streams' use of limit= (test_readline_limit and co.) on the server side, and
    of start_server's keywords: backlog= and reuse_port= are taken; limit= bounds the server's
    readers (readline() raises ValueError on a longer line, the next line is read); an unknown
    keyword is a TypeError, from start_server and from open_connection."""
    async def main():
        async def handle(reader, writer):
            try:
                await reader.readline()
            except ValueError:
                writer.write(b"too long\n")
            writer.write(await reader.readline())
            writer.close()
            await writer.wait_closed()

        handler, runs = tracked(handle)
        async with serving(streams, handler, limit=4, backlog=5, reuse_port=True) as (_, port):
            reader, writer = await streams.open_connection(HOST, port, limit=1024)
            writer.write(b"123456\nok\n")
            answer = await reader.read()
            writer.close()
            await writer.wait_closed()
            await asyncio.gather(*runs)
            with pytest.raises(TypeError):
                await streams.open_connection(HOST, port, no_such_keyword=1)
        with pytest.raises(TypeError):
            await streams.start_server(handler, HOST, 0, no_such_keyword=1)
        return answer
    assert run(main()) == b"too long\nok\n"


def test_an_exception_in_client_connected_cb_is_reported(streams):
    """Port of test_streams.StreamTests.test_unhandled_exceptions: a coroutine
    client_connected_cb that raises: the loop's exception handler gets 'Unhandled exception in
    client_connected_cb' with that exception, and the connection is closed (the client reads
    EOF). start_serving() on a serving server is harmless."""
    if streams is asyncio and "Unhandled exception in client_connected_cb" not in inspect.getsource(
            asyncio.streams.StreamReaderProtocol.connection_made):
        pytest.skip("this Python's asyncio neither reports nor closes on an exception in "
                    "client_connected_cb (CPython 3.11.3 and later do); the iotnet case still runs")
    messages = []

    async def main():
        failure = Exception("test")

        async def handle(reader, writer):
            raise failure

        async with serving(streams, handle) as (server, port):
            await server.start_serving()
            reader, writer = await streams.open_connection(HOST, port)
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
        return failure, data
    failure, data = run(main(), messages)
    assert data == b""
    assert [m["message"] for m in messages] == ["Unhandled exception in client_connected_cb"]
    assert messages[0]["exception"] is failure

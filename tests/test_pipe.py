"""pipe() and unpipe() (docs/reference): a socket piped into a writable or into another socket, the
end of the source ending the destination, backpressure through a pipe, and unpipe()."""
import pathlib
import signal
import socket
import struct
import subprocess
import sys

import iotnet
from helpers import (CHILD_TIMEOUT_S, HOST, KIB, READ_BUFFER_BYTES, listen_local, port_of,
                     record_error_end_close, run_bounded, subprocess_env, wait_until)


def test_stream_pipe_socket_to_writable_then_unpipe():
    """Port of the 'net.Socket source piping' case of IoT.js test/run_pass/test_stream_pipe.js:
    a client socket piped (before it connects) into a writable gets the server's greeting there;
    unpipe() from 'end' is harmless.
    (The Readable/Duplex cases of that test are about IoT.js's stream module, not 'net'.)"""

    class Collector(iotnet.EventEmitter):
        def __init__(self):
            super().__init__()
            self.chunks, self.ended = [], False

        def write(self, chunk, *args):
            self.chunks.append(bytes(chunk))
            return True

        def end(self, *args):
            self.ended = True

    dest = Collector()
    server = iotnet.createServer({}, lambda sock: sock.write('Hello from the server'))

    def on_listening():
        client = iotnet.Socket()
        assert client.pipe(dest) is dest
        client.on('data', lambda data: client.end())

        def on_end():
            client.unpipe(dest)
            server.close()
        client.on('end', on_end)
        client.connect({'port': server.address()['port'], 'host': HOST})

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert b''.join(dest.chunks) == b'Hello from the server'


def test_stream_pipe_socket_into_socket():
    """Port of the 'net.Socket destination piping' case of IoT.js
    test/run_pass/test_stream_pipe.js: data piped into a connected socket reaches its server,
    and the source's 'end' ends the destination (pipe's end=True)."""
    greeting = b'Hello from the socket'
    received, server_ends = [], []
    source_server = iotnet.createServer(lambda sock: sock.end(greeting))
    sink_server = iotnet.createServer()

    def on_sink_connection(sock):
        sock.on('data', received.append)

        def on_end():
            server_ends.append(True)
            sink_server.close()
        sock.on('end', on_end)

    def on_both_listening():
        sink = iotnet.connect(sink_server.address()['port'], HOST)
        source = iotnet.connect(source_server.address()['port'], HOST)
        source.pipe(sink)
        source.on('end', source_server.close)

    sink_server.on('connection', on_sink_connection)
    sink_server.listen(0, HOST, lambda: source_server.listen(0, HOST, on_both_listening))
    run_bounded(10)

    assert b''.join(received) == greeting
    assert server_ends == [True]


def test_pipe_keeps_memory_bounded_against_a_slow_reader():
    """source.pipe(dest) pauses the source while dest is full: dest's queue stays near its mark."""
    total = 8 * 1024 * KIB
    max_queued = [0]
    received = [0]
    upstream = iotnet.createServer()
    downstream = iotnet.createServer()

    def on_upstream(sock):           # the producer: sends `total` bytes as fast as it can
        chunk = b"p" * 64 * KIB
        sent = [0]

        def pump():
            while sent[0] < total:
                sent[0] += len(chunk)
                if not sock.write(chunk):
                    return
            sock.end()

        sock.on("drain", pump)
        pump()

    def on_downstream(sock):         # the slow consumer: reads 64 KiB every 2 ms
        def on_data(chunk):
            received[0] += len(chunk)
            sock.pause()
            iotnet.setTimeout(sock.resume, 2)
        sock.on("data", on_data)
        sock.on("end", lambda: (upstream.close(), downstream.close()))

    upstream.on("connection", on_upstream)
    downstream.on("connection", on_downstream)

    def start(_port):
        source = iotnet.connect(upstream.address()["port"], "127.0.0.1")
        dest = iotnet.connect(downstream.address()["port"], "127.0.0.1")
        source.pipe(dest)
        watch = iotnet.setInterval(lambda: max_queued.__setitem__(
            0, max(max_queued[0], dest.writableLength)), 1)
        watch.unref()
        dest.on("close", lambda had_error: iotnet.clearInterval(watch))

    listen_local(upstream, lambda port: listen_local(downstream, start))
    run_bounded(60)
    assert received[0] == total
    # The mark, plus the chunk that crossed it, plus one more read.
    assert max_queued[0] < 64 * KIB + 2 * READ_BUFFER_BYTES


def test_unpipe_stops_forwarding():
    forwarded = []

    class Sink(iotnet.EventEmitter):
        def write(self, chunk):
            forwarded.append(chunk)
            return True

        def end(self):
            forwarded.append("end")

    server = iotnet.createServer()
    sink = Sink()
    clients = []

    def on_connection(sock):
        sock.pipe(sink)

        def first(chunk):
            sock.unpipe(sink)
            sock.off("data", first)
            sock.on("data", lambda chunk: None)
            clients[0].end(b"second")      # sent once the unpipe is done, not after a delay

        sock.on("data", first)
        sock.on("close", lambda had_error: server.close())

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        clients.append(client)
        client.on("connect", lambda: client.write(b"first"))

    listen_local(server, on_listening)
    run_bounded(10)
    assert forwarded == [b"first"]


def _proxy_pair(on_ready):
    """A 'far' server whose accepted socket the test writes on, a 'sink' server that collects
    what reaches it, and in between a source socket (connected to far) piped into a
    destination socket (connected to sink). on_ready(far_sock, source, dest, sink_received)
    runs once all four ends are connected."""
    state = {"far": None, "sink": None, "source": None, "dest": None}
    sink_received = []
    far = iotnet.createServer()
    sink = iotnet.createServer()

    def maybe_ready():
        if all(state.values()) and not state.get("started"):
            state["started"] = True
            on_ready(state["far"], state["source"], state["dest"], sink_received)

    def on_far(sock):
        state["far"] = sock
        maybe_ready()

    def on_sink(sock):
        state["sink"] = sock
        sock.on("data", sink_received.append)
        sock.on("error", lambda err: None)
        sock.on("close", lambda had_error: (far.close(), sink.close()))
        maybe_ready()

    far.on("connection", on_far)
    sink.on("connection", on_sink)

    def start(_port):
        source = iotnet.connect(far.address()["port"], HOST)
        dest = iotnet.connect(sink.address()["port"], HOST)
        source.pipe(dest)
        source.on("connect", lambda: (state.__setitem__("source", source), maybe_ready()))
        dest.on("connect", lambda: (state.__setitem__("dest", dest), maybe_ready()))

    listen_local(far, lambda port: listen_local(sink, start))
    return sink_received


def _when_received(received, size, then):
    """then() once the chunks in `received` add up to size bytes."""
    def check():
        if sum(len(c) for c in received) >= size:
            iotnet.clearInterval(timer)
            then()
    timer = iotnet.setInterval(check, 1)


def test_a_data_listener_added_mid_pipe_sees_every_byte_after_it():
    """While a pipe forwards socket to socket, a 'data' listener added between two sends gets
    exactly the second, and the destination still gets both."""
    part1, part2 = b"1" * 300000, b"2" * 300000
    seen = []

    def on_ready(far, source, dest, sink_received):
        far.write(part1)

        def add_listener():
            source.on("data", seen.append)
            far.end(part2)
        _when_received(sink_received, len(part1), add_listener)

    sink_received = _proxy_pair(on_ready)
    run_bounded(20)
    assert b"".join(seen) == part2
    assert b"".join(sink_received) == part1 + part2


def test_unpipe_mid_stream_between_two_sockets():
    """unpipe() in the middle of a socket-to-socket pipe: the destination has exactly what came
    before; what follows goes to the source's 'data' listener only."""
    part1, part2 = b"a" * 200000, b"b" * 200000
    after = []

    def on_ready(far, source, dest, sink_received):
        far.write(part1)

        def unpipe():
            source.unpipe(dest)
            source.on("data", after.append)
            source.on("end", dest.end)
            far.end(part2)
        _when_received(sink_received, len(part1), unpipe)

    sink_received = _proxy_pair(on_ready)
    run_bounded(20)
    assert b"".join(sink_received) == part1
    assert b"".join(after) == part2


def test_bytes_counts_through_a_socket_to_socket_pipe():
    """bytesRead of the source and bytesWritten of the destination count what the pipe moved."""
    payload = b"c" * 1000003
    counts = {}

    def on_ready(far, source, dest, sink_received):
        def done():
            counts["read"], counts["written"] = source.bytesRead, dest.bytesWritten
            source.destroy()
            dest.end()
        far.write(payload)
        _when_received(sink_received, len(payload), done)

    sink_received = _proxy_pair(on_ready)
    run_bounded(20)
    assert counts == {"read": len(payload), "written": len(payload)}
    assert b"".join(sink_received) == payload


def test_10000_connections_through_c_forwarding_leave_nothing_behind():
    """10,000 connections, 100 at a time, each echoed by sock.pipe(sock) (forwarded from the
    read buffer in C): every echo is intact, and (debug build) the counters go back to zero
    after the test."""
    state = {"started": 0, "done": 0, "bytes": 0}
    server = iotnet.createServer(lambda sock: sock.pipe(sock))
    total = 10000

    def on_listening(port):
        def start_one():
            state["started"] += 1
            client = iotnet.connect(port, HOST)
            client.on("connect", lambda: client.end(b"ping-" * 20))
            client.on("data", lambda d: state.__setitem__("bytes", state["bytes"] + len(d)))
            client.on("close", finished)

        def finished(had_error):
            state["done"] += 1
            if state["started"] < total:
                start_one()
            elif state["done"] == total:
                server.close()

        for _ in range(100):
            start_one()

    listen_local(server, on_listening)
    run_bounded(120)
    assert state["done"] == total and state["bytes"] == total * 100



def _bidirectional_proxy(on_ready, raw_client=False):
    """A client -> proxy -> backend chain in which the proxy does inbound.pipe(outbound) and
    outbound.pipe(inbound). on_ready(client, inbound, outbound, backend_sock, backend_log) runs
    once every end is connected; backend_log records what the backend's socket hears. The
    client is an iotnet socket, or with raw_client a plain Python socket (it can reset)."""
    state = {}
    backend_log = []
    backend = iotnet.createServer()
    proxy = iotnet.createServer()

    def maybe_ready():
        if len(state) == 4 and "backend connected" not in backend_log:
            backend_log.append("backend connected")
            on_ready(state["client"], state["inbound"], state["outbound"], state["backend"],
                     backend_log)

    def on_backend(sock):
        state["backend"] = sock
        sock.on("data", lambda chunk: backend_log.append(("data", chunk)))
        sock.on("end", lambda: backend_log.append("end"))
        sock.on("error", lambda err: backend_log.append(("error", err.code)))
        sock.on("close", lambda had_error: (backend_log.append("close"), backend.close()))
        maybe_ready()

    def on_proxy(inbound):
        state["inbound"] = inbound
        outbound = iotnet.connect(port_of(backend), HOST)
        state["outbound"] = outbound
        inbound.pipe(outbound)
        outbound.pipe(inbound)
        proxy.close()
        outbound.on("connect", maybe_ready)

    backend.on("connection", on_backend)
    proxy.on("connection", on_proxy)

    def start(port):
        if raw_client:
            client = socket.create_connection((HOST, port))
            client.setblocking(False)
            state["client"] = client
        else:
            client = iotnet.connect(port, HOST)
            client.on("connect", lambda: (state.__setitem__("client", client), maybe_ready()))

    listen_local(backend, lambda port: listen_local(proxy, start))
    return backend_log


def test_a_reset_on_the_client_side_of_a_proxy_ends_the_backend_side():
    """The client resets its connection (SO_LINGER 0): the proxy's inbound socket gets
    ECONNRESET, and its pipe ends the outbound one, so the backend sees what was sent, then
    'end', and both proxy sockets close. (Node's pipe() would leave the outbound one open.)"""
    events = {"inbound": [], "outbound": []}

    def on_ready(client, inbound, outbound, backend_sock, backend_log):
        for name, sock in (("inbound", inbound), ("outbound", outbound)):
            record_error_end_close(sock, events[name])
        client.send(b"before the reset")

        def reset():
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()
        wait_until(lambda: ("data", b"before the reset") in backend_log, reset)

    backend_log = _bidirectional_proxy(on_ready, raw_client=True)
    run_bounded(10)
    assert backend_log == ["backend connected", ("data", b"before the reset"), "end", "close"]
    assert [e[0] for e in events["inbound"]] == ["error", "close"]
    assert events["inbound"][0][1].code == "ECONNRESET"
    assert events["outbound"][-1] == ("close", False)


def test_an_error_on_the_backend_side_of_a_proxy_ends_the_client_side():
    """The proxy's outbound socket is destroyed with an error after the backend answered:
    the client gets the answer, then 'end', and every socket closes."""
    client_log = []

    def on_ready(client, inbound, outbound, backend_sock, backend_log):
        client.on("data", lambda chunk: client_log.append(("data", chunk)))
        client.on("end", lambda: client_log.append("end"))
        client.on("close", lambda had_error: client_log.append(("close", had_error)))
        outbound.on("error", lambda err: client_log.append(("outbound error", err.code)))
        backend_sock.write(b"answer")

        def fail():
            outbound.destroy(iotnet.NetError("EPROTO", "the backend spoke nonsense"))
        wait_until(lambda: ("data", b"answer") in client_log, fail)

    backend_log = _bidirectional_proxy(on_ready)
    run_bounded(10)
    assert client_log == [("data", b"answer"), ("outbound error", "EPROTO"), "end",
                          ("close", False)]
    assert backend_log[-1] == "close"


def test_the_proxy_example_forwards_to_the_echo_example():
    """examples/proxy.py in front of examples/echo_server.py, with examples/client.py through
    both, as the proxy's docstring runs them; both servers end cleanly on SIGTERM."""
    examples = pathlib.Path(__file__).resolve().parent.parent / "examples"
    started = []

    def start(script, *args):
        child = subprocess.Popen([sys.executable, str(examples / script), "0", HOST, *args],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=subprocess_env())
        started.append(child)
        return child.stdout.readline().split()[-1]

    try:
        echo_port = start("echo_server.py")
        proxy_port = start("proxy.py", echo_port)
        client = subprocess.run([sys.executable, str(examples / "client.py"), proxy_port, HOST,
                                 "hi through the proxy"], capture_output=True, text=True,
                                env=subprocess_env(), timeout=CHILD_TIMEOUT_S)
    finally:
        for child in reversed(started):
            child.send_signal(signal.SIGTERM)
        ends = [child.communicate(timeout=CHILD_TIMEOUT_S) for child in reversed(started)]
    assert (client.returncode, client.stdout, client.stderr) == (0, "hi through the proxy\n", "")
    assert [child.returncode for child in started] == [0, 0]
    assert [err for out, err in ends] == ["", ""]

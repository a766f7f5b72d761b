"""API.md §3–§4 items not covered by the ported tests: flow control, options, aliases."""
import socket

import pytest

import iotnet
from helpers import listen_local, run_bounded

KIB = 1024
READ_BUFFER_BYTES = 256 * KIB      # one read() fills at most the loop's read buffer


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_write_returns_false_at_the_high_water_mark_and_drain_follows():
    """A peer that does not read: write() turns False once writableLength reaches the mark."""
    results, drains, lengths = [], [], []
    server = iotnet.createServer({"pauseOnConnect": True})

    def on_connection(sock):
        # Resume only after the client saw backpressure, so the client's queue really fills.
        iotnet.setTimeout(sock.resume, 50)
        sock.on("data", lambda chunk: None)
        sock.on("end", lambda: server.close())

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect({"port": port, "host": "127.0.0.1", "highWaterMark": 16 * KIB})

        def flood():
            while True:
                ok = client.write(b"w" * 4096)
                results.append(ok)
                if not ok:
                    lengths.append(client.writableLength)
                    break

        client.on("connect", flood)
        client.on("drain", lambda: (drains.append(client.writableLength), client.end()))

    listen_local(server, on_listening)
    run_bounded(30)
    assert results[-1] is False and all(results[:-1])
    assert lengths[0] >= 16 * KIB
    assert drains == [0]


def test_bytes_read_before_a_data_listener_are_held_then_delivered_in_order():
    received, order = [], []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.on("end", lambda: order.append("end"))
        # The 'data' listener arrives only after the peer's data and EOF were read.
        iotnet.setTimeout(lambda: sock.on("data", lambda c: (order.append("data"),
                                                              received.append(c))), 100)
        sock.on("close", lambda had_error: server.close())

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        client.on("connect", lambda: (client.write(b"one,"), client.write(b"two,"),
                                      client.end(b"three")))
        client.resume()

    listen_local(server, on_listening)
    run_bounded(10)
    assert b"".join(received) == b"one,two,three"
    assert order[-1] == "end" and set(order[:-1]) == {"data"}


def test_reading_stops_at_the_high_water_mark_while_no_listener_exists():
    """Held bytes stop at highWaterMark (plus at most one read); TCP flow control does the rest."""
    held_at_peek = []
    sent = []
    server = iotnet.createServer({"highWaterMark": 32 * KIB})

    def on_connection(sock):
        def peek():
            held_at_peek.append(sock.bytesRead)
            total = []
            sock.on("data", lambda chunk: total.append(len(chunk)))
            sock.on("end", lambda: (held_at_peek.append(sum(total)), server.close()))
        iotnet.setTimeout(peek, 200)

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")

        def pump():
            while len(sent) < 256 and client.write(b"h" * 16 * KIB):
                sent.append(1)
            if len(sent) >= 256:
                client.end()
            else:
                sent.append(1)

        client.on("connect", pump)
        client.on("drain", pump)
        client.resume()

    listen_local(server, on_listening)
    run_bounded(30)
    bytes_read_while_held, delivered = held_at_peek
    assert bytes_read_while_held < 32 * KIB + READ_BUFFER_BYTES     # the mark plus one read
    assert delivered == len(sent) * 16 * KIB


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

    def on_connection(sock):
        sock.pipe(sink)

        def first(chunk):
            sock.unpipe(sink)
            sock.off("data", first)
            sock.on("data", lambda chunk: None)

        sock.on("data", first)
        sock.on("close", lambda had_error: server.close())

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        client.on("connect", lambda: client.write(b"first"))
        iotnet.setTimeout(lambda: client.end(b"second"), 50)

    listen_local(server, on_listening)
    run_bounded(10)
    assert forwarded == [b"first"]


def test_destroy_soon_flushes_then_closes():
    received = []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.write(b"x" * 1024 * KIB)
        sock.destroySoon()

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        client.on("data", lambda chunk: received.append(len(chunk)))
        client.on("close", lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(10)
    assert sum(received) == 1024 * KIB


def test_ready_state_and_flags_through_a_connection_life():
    states = []
    server = iotnet.createServer({"allowHalfOpen": True})

    def on_connection(sock):
        sock.resume()
        sock.on("end", lambda: iotnet.setTimeout(sock.end, 20))

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.Socket({"allowHalfOpen": True})
        states.append(("new", client.readyState, client.pending, client.connecting))
        client.connect(port, "127.0.0.1")
        states.append(("connecting", client.readyState, client.pending, client.connecting))

        def on_connect():
            states.append(("open", client.readyState, client.pending, client.connecting))
            client.end()
            states.append(("ended", client.readyState))

        client.on("connect", on_connect)
        client.on("end", lambda: states.append(("peer-ended", client.readyState)))
        client.resume()
        client.on("close", lambda had_error: (states.append(("closed", client.readyState,
                                                              client.destroyed)),
                                              server.close()))

    listen_local(server, on_listening)
    run_bounded(10)
    assert states == [
        ("new", "closed", True, False),
        ("connecting", "opening", True, True),
        ("open", "open", False, False),
        ("ended", "readOnly"),
        ("peer-ended", "closed"),
        ("closed", "closed", True),
    ]


def test_unrefed_server_and_socket_do_not_keep_run_alive():
    # pauseOnConnect: the accepted side does not read, so it does not keep run() alive either.
    accepted = []
    server = iotnet.createServer({"pauseOnConnect": True}, accepted.append)
    assert server.listen(0, "127.0.0.1").unref() is server
    run_bounded(5)                    # returns: only the unref'd server is left
    assert server.listening
    sock = iotnet.connect(server.address()["port"], "127.0.0.1")
    assert sock.unref() is sock
    run_bounded(5)
    sock.ref().destroy()
    for each in accepted:
        each.destroy()
    server.ref().close()
    run_bounded(5)
    assert not server.listening


def test_reuse_port_lets_two_servers_share_a_port():
    servers = [iotnet.createServer(), iotnet.createServer()]
    ports = []

    def second_listening():
        ports.append(servers[1].address()["port"])
        for server in servers:
            server.close()

    def first_listening():
        ports.append(servers[0].address()["port"])
        servers[1].listen({"port": ports[0], "host": "127.0.0.1", "reusePort": True},
                          second_listening)

    servers[0].listen({"port": 0, "host": "127.0.0.1", "reusePort": True}, first_listening)
    run_bounded(10)
    assert len(ports) == 2 and ports[0] == ports[1]


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_ipv6_only_refuses_ipv4_and_dual_stack_accepts_it():
    results = {}
    v6only = iotnet.createServer(lambda sock: sock.end())
    dual = iotnet.createServer(lambda sock: sock.end())

    def try_ipv4(name, port, done):
        client = iotnet.connect(port, "127.0.0.1")
        client.on("error", lambda err: results.__setitem__(name, err.code))
        client.on("connect", lambda: results.__setitem__(name, "connected"))
        client.resume()
        client.on("close", lambda had_error: done())

    def on_v6only():
        try_ipv4("ipv6Only", v6only.address()["port"], v6only.close)

    def on_dual():
        assert dual.address()["address"] == "::"
        try_ipv4("dual", dual.address()["port"], dual.close)

    v6only.listen({"port": 0, "host": "::", "ipv6Only": True}, on_v6only)
    dual.listen(0, on_dual)               # host omitted: '::' dual stack
    run_bounded(10)
    assert results == {"ipv6Only": "ECONNREFUSED", "dual": "connected"}


def test_keep_alive_and_no_delay_options_reach_the_socket():
    seen = []
    server = iotnet.createServer({"keepAlive": True, "keepAliveInitialDelay": 3000,
                                  "noDelay": True})

    def on_connection(sock):
        seen.append("server")
        sock.end()

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect({"port": port, "host": "127.0.0.1", "keepAlive": True,
                                 "noDelay": True})
        assert client.setKeepAlive(True, 0) is client     # 0 keeps the system's idle time
        assert client.setNoDelay() is client
        client.resume()
        client.on("close", lambda had_error: (seen.append(("client", had_error)),
                                              server.close()))

    listen_local(server, on_listening)
    run_bounded(10)
    assert seen == ["server", ("client", False)]


def test_pep8_aliases_are_the_same_objects():
    assert iotnet.create_server is iotnet.createServer
    assert iotnet.create_connection is iotnet.createConnection is iotnet.connect
    assert iotnet.is_ip is iotnet.isIP and iotnet.is_ipv6 is iotnet.isIPv6
    S = iotnet.Socket
    assert S.set_keep_alive is S.setKeepAlive and S.set_no_delay is S.setNoDelay
    assert S.set_encoding is S.setEncoding and S.set_timeout is S.setTimeout
    assert S.destroy_soon is S.destroySoon
    assert iotnet.Server.get_connections is iotnet.Server.getConnections


def test_snake_case_option_names_are_accepted():
    server = iotnet.createServer(allow_half_open=True, pause_on_connect=True)
    sock = iotnet.Socket({"allow_half_open": True, "high_water_mark": 1024})
    assert sock.allowHalfOpen is True
    server.close()
    run_bounded(5)


@pytest.mark.parametrize("bad, error", [
    ({"port": -1}, ValueError), ({"port": 65536}, ValueError), ({"port": "abc"}, ValueError),
    ({"port": 80, "host": 12}, TypeError), ({"port": 80, "family": 5}, ValueError),
    ({"port": 80, "timeout": -5}, ValueError),
])
def test_bad_connect_arguments_fail_at_the_call_and_leave_nothing_open(bad, error):
    with pytest.raises(error):
        iotnet.connect(bad)
    run_bounded(5)


def test_bad_write_and_encoding_arguments():
    sock = iotnet.Socket()
    with pytest.raises(TypeError):
        sock.write(42)
    with pytest.raises(ValueError):
        sock.write("text", "no-such-encoding")
    with pytest.raises(ValueError):
        sock.setEncoding("no-such-encoding")
    with pytest.raises(TypeError):
        sock.write(b"x", "utf8", "not callable")
    with pytest.raises(TypeError):
        iotnet.createServer().listen(0, "127.0.0.1", 511, "not callable")
    sock.destroy()
    run_bounded(5)


def test_echo_round_passes_through_no_python_frame_of_iotnet():
    """The hot path read -> 'data' listeners -> write() lives in C: while 2,000 chunks are echoed
    (by `sock.on('data', sock.write)` and by `sock.pipe(sock)`), no Python function of the iotnet
    package runs."""
    import os
    import sys

    package_dir = os.path.dirname(iotnet.__file__)
    iotnet_frames = []
    rounds = 1000

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(package_dir):
            iotnet_frames.append(frame.f_code.co_name)

    def on_connection(sock):
        if len(connections) == 0:
            sock.on("data", sock.write)
        else:
            sock.pipe(sock)
        connections.append(sock)

    connections = []
    server = iotnet.createServer(on_connection)

    def run_client(port, done):
        client = iotnet.connect(port, "127.0.0.1")
        count = [0]

        def on_data(chunk):
            count[0] += 1
            if count[0] == rounds:
                sys.setprofile(None)
                client.end()
            else:
                client.write(b"ping")

        def on_connect():
            sys.setprofile(profiler)
            client.write(b"ping")

        client.on("connect", on_connect)
        client.on("data", on_data)
        client.on("close", lambda had_error: done())

    def second_client():
        run_client(server.address()["port"], server.close)

    listen_local(server, lambda port: run_client(port, second_client))
    run_bounded(30)
    sys.setprofile(None)
    assert len(connections) == 2
    assert iotnet_frames == []

"""Faults on the wire: a peer that resets the connection or goes away while we read or write.
Most peers are plain Python `socket`s on a thread (helpers.RawPeer). Each fault ends in the
events the reference names ('error' with an OSError carrying .code, then 'close'(True)) — no crash, no
hang."""
import socket
import struct
import threading

import iotnet
from helpers import (HOST, RawPeer, assert_error_then_close, listen_local, port_of,
                     record_error_end_close, run_bounded)

RESET_CODES = ("ECONNRESET", "EPIPE")


def _reset(sock):
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_peer_resets_mid_transfer_while_we_send():
    """A reader resets after 64 KiB of a large stream: our writes fail with EPIPE/ECONNRESET."""
    events, write_results = [], []

    def peer(conn):
        got = 0
        while got < 65536:
            got += len(conn.recv(65536))
        _reset(conn)

    raw = RawPeer(peer)
    raw.start()
    client = iotnet.connect(raw.port, "127.0.0.1")
    record_error_end_close(client, events)

    def pump():
        while client.write(b"x" * 65536, write_results.append):
            pass

    client.on("connect", pump)
    client.on("drain", pump)
    run_bounded(30)
    raw.join(10)
    assert raw.error is None
    assert_error_then_close([e for e in events if e[0] != "end"], RESET_CODES)
    assert any(result is not None for result in write_results)


def test_peer_resets_while_we_read():
    """A read error (ECONNRESET) emits 'error' and then closes the socket (IoT.js leaked it)."""
    events, data = [], []

    def peer(conn):
        conn.sendall(b"partial")
        conn.recv(1)          # waits for our go-ahead, so 'partial' is read first
        _reset(conn)

    raw = RawPeer(peer)
    raw.start()
    client = iotnet.connect(raw.port, "127.0.0.1")
    record_error_end_close(client, events)

    def on_data(chunk):
        data.append(chunk)
        client.write(b"!")

    client.on("data", on_data)
    run_bounded(30)
    raw.join(10)
    assert raw.error is None
    assert b"".join(data) == b"partial"
    assert_error_then_close(events, ("ECONNRESET",))
    assert client.destroyed and client.readyState == "closed"


def test_server_socket_reset_by_its_client():
    """The server side sees the client's RST as 'error' (ECONNRESET) then 'close'(True)."""
    events = []
    server = iotnet.createServer()

    def on_connection(sock):
        record_error_end_close(sock, events)
        sock.on("data", lambda chunk: None)
        sock.on("close", lambda had_error: server.close())
        sock.write(b"go")      # the peer resets only once the connection is accepted here

    server.on("connection", on_connection)

    def on_listening(port):
        # No data rides with the RST: libuv turns a short read followed by a hang-up into EOF.
        def peer(conn):
            conn.recv(2)
            _reset(conn)

        RawPeer(peer, port=port).start()

    listen_local(server, on_listening)
    run_bounded(30)
    assert_error_then_close(events, ("ECONNRESET",))


def test_peer_closes_while_our_writes_are_queued():
    """Megabytes are queued in user space when the peer goes away: every write callback runs,
    the failures carry an error, and the socket ends in 'error' then 'close'(True)."""
    events, callbacks = [], []
    # Set by the loop once the writes are queued. The peer resets only then: a reset that came
    # first (on a slow machine it can) would fail the writes while they are made.
    writes_queued = threading.Event()

    def peer(conn):
        if not writes_queued.wait(30):
            raise AssertionError("the loop never queued its writes")
        conn.recv(1024)       # reads almost nothing, so our writes stay piled up
        _reset(conn)

    raw = RawPeer(peer)
    raw.start()
    client = iotnet.connect(raw.port, "127.0.0.1")
    record_error_end_close(client, events)
    writes = 64
    queued = []

    def flood():
        for _ in range(writes):
            client.write(b"y" * 262144, callbacks.append)
        queued.append(client.writableLength)
        writes_queued.set()     # also when nothing was queued: the assertion below says so

    client.on("connect", flood)
    run_bounded(30)
    raw.join(10)
    assert raw.error is None
    assert queued and queued[0] > 262144
    assert len(callbacks) == writes
    assert any(isinstance(err, (OSError, iotnet.NetError)) for err in callbacks)
    assert_error_then_close([e for e in events if e[0] != "end"], RESET_CODES)


def test_error_emitted_once_when_peer_is_gone():
    """Port of Node test/parallel/test-net-error-twice.js: the client destroys itself and the
    server then writes 10 MB: the server socket emits one 'error' (EPIPE or ECONNRESET), then
    close(True)."""
    buf = b'b' * (10 * 1024 * 1024)
    errors, closes = [], []
    pair = {}

    def ready():
        if 'client' in pair and 'server' in pair:
            pair['client'].destroy()
            pair['server'].write(buf)

    def on_connection(conn):
        conn.on('error', errors.append)

        def on_close(had_error):
            closes.append(had_error)
            server.close()
        conn.on('close', on_close)
        pair['server'] = conn
        ready()

    server = iotnet.createServer(on_connection)

    def on_listening():
        client = iotnet.connect({'port': port_of(server), 'host': HOST})

        def on_connect():
            pair['client'] = client
            ready()
        client.on('connect', on_connect)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert len(errors) == 1
    assert isinstance(errors[0], (BrokenPipeError, ConnectionResetError))
    assert errors[0].code in ('EPIPE', 'ECONNRESET')
    assert closes == [True]

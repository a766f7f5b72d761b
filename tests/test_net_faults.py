"""Faults on the wire, made by plain Python `socket` peers in a thread: each ends in the events
API.md names ('error' with an OSError carrying .code, then 'close'(True)) — no crash, no hang."""
import errno
import socket
import struct
import threading

import iotnet
from helpers import listen_local, run_bounded

RESET_CODES = ("ECONNRESET", "EPIPE")


def _reset(sock):
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _record(sock, events):
    sock.on("error", lambda err: events.append(("error", err)))
    sock.on("end", lambda: events.append(("end",)))
    sock.on("close", lambda had_error: events.append(("close", had_error)))


def _assert_error_then_close(events, codes):
    names = [event[0] for event in events]
    assert names.count("close") == 1 and names[-1] == "close", names
    assert events[-1][1] is True
    errors = [event[1] for event in events if event[0] == "error"]
    assert len(errors) == 1, names
    assert isinstance(errors[0], OSError) and errors[0].code in codes, errors[0]
    assert names.index("error") < names.index("close")


class RawPeer(threading.Thread):
    """A blocking Python socket peer running `script(sock)` on its own thread."""

    def __init__(self, script, port=None):
        super().__init__(daemon=True)
        self.script = script
        self.port = port
        self.listener = None
        if port is None:
            self.listener = socket.create_server(("127.0.0.1", 0))
            self.port = self.listener.getsockname()[1]
        self.error = None

    def run(self):
        try:
            if self.listener is not None:
                self.listener.settimeout(30)
                conn, _ = self.listener.accept()
                self.listener.close()
            else:
                conn = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            conn.settimeout(30)
            self.script(conn)
        except BaseException as exc:    # surfaced by the test after the loop
            self.error = exc


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
    _record(client, events)

    def pump():
        while client.write(b"x" * 65536, write_results.append):
            pass

    client.on("connect", pump)
    client.on("drain", pump)
    run_bounded(30)
    raw.join(10)
    assert raw.error is None
    _assert_error_then_close([e for e in events if e[0] != "end"], RESET_CODES)
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
    _record(client, events)

    def on_data(chunk):
        data.append(chunk)
        client.write(b"!")

    client.on("data", on_data)
    run_bounded(30)
    raw.join(10)
    assert raw.error is None
    assert b"".join(data) == b"partial"
    _assert_error_then_close(events, ("ECONNRESET",))
    assert client.destroyed and client.readyState == "closed"


def test_server_socket_reset_by_its_client():
    """The server side sees the client's RST as 'error' (ECONNRESET) then 'close'(True)."""
    events = []
    server = iotnet.createServer()

    def on_connection(sock):
        _record(sock, events)
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
    _assert_error_then_close(events, ("ECONNRESET",))


def test_peer_closes_while_our_writes_are_queued():
    """Megabytes are queued in user space when the peer goes away: every write callback runs,
    the failures carry an error, and the socket ends in 'error' then 'close'(True)."""
    events, callbacks = [], []
    accepted = threading.Event()

    def peer(conn):
        accepted.set()
        conn.recv(1024)       # reads almost nothing, so our writes pile up
        _reset(conn)

    raw = RawPeer(peer)
    raw.start()
    client = iotnet.connect(raw.port, "127.0.0.1")
    _record(client, events)
    writes = 64
    queued = []

    def flood():
        for _ in range(writes):
            client.write(b"y" * 262144, callbacks.append)
        queued.append(client.writableLength)

    client.on("connect", flood)
    run_bounded(30)
    raw.join(10)
    assert queued and queued[0] > 262144
    assert len(callbacks) == writes
    assert any(isinstance(err, (OSError, iotnet.NetError)) for err in callbacks)
    _assert_error_then_close([e for e in events if e[0] != "end"], RESET_CODES)


def test_connect_to_a_closed_port_is_error_then_close():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    events = []
    order = []
    client = iotnet.connect(port, "127.0.0.1")
    client.on("lookup", lambda *args: order.append("lookup"))
    client.on("connect", lambda: order.append("connect"))
    _record(client, events)
    run_bounded(10)
    assert order == ["lookup"]
    _assert_error_then_close(events, ("ECONNREFUSED",))
    err = events[0][1]
    assert isinstance(err, ConnectionRefusedError) and err.errno == errno.ECONNREFUSED
    assert (err.syscall, err.address, err.port) == ("connect", "127.0.0.1", port)


def test_listen_on_a_port_taken_by_another_socket():
    taken = socket.create_server(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    errors, listening = [], []
    server = iotnet.createServer()
    server.on("error", errors.append)
    server.on("listening", lambda: listening.append(True))
    result = server.listen(port, "127.0.0.1")
    assert result is server          # never raised from listen()
    run_bounded(10)
    taken.close()
    assert listening == []
    (err,) = errors
    assert isinstance(err, OSError) and not isinstance(err, int)
    assert (err.code, err.syscall, err.port) == ("EADDRINUSE", "listen", port)
    assert server.listening is False and server.address() is None


def test_write_after_end_errors_and_destroys():
    events, callback_errors = [], []
    server = iotnet.createServer(lambda sock: sock.resume())

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        _record(client, events)

        def on_connect():
            client.end(b"last")
            assert client.write(b"too late", callback_errors.append) is False

        client.on("connect", on_connect)
        client.on("close", lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(10)
    (err,) = callback_errors
    assert isinstance(err, iotnet.NetError) and err.code == "ERR_STREAM_WRITE_AFTER_END"
    names = [event[0] for event in events]
    assert names == ["error", "close"]
    assert events[0][1] is err and events[1] == ("close", True)


def test_destroy_with_pending_writes_drops_them_and_closes_without_error():
    events, callbacks = [], []
    received = []

    def peer(conn):
        conn.settimeout(10)
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received.append(len(chunk))
        except OSError:
            pass

    raw = RawPeer(peer)
    raw.start()
    client = iotnet.connect(raw.port, "127.0.0.1")
    _record(client, events)

    def on_connect():
        for _ in range(32):
            client.write(b"z" * 1048576, callbacks.append)
        client.destroy()
        assert client.destroyed

    client.on("connect", on_connect)
    run_bounded(30)
    raw.join(15)
    assert events == [("close", False)] and events[0][1] is False
    assert len(callbacks) == 32
    assert all(err is None or getattr(err, "code", None) == "ERR_STREAM_DESTROYED"
               for err in callbacks)
    assert any(err is not None for err in callbacks)
    assert sum(received) < 32 * 1048576


def test_destroy_with_an_error_emits_it_then_close():
    events = []
    sock = iotnet.Socket()
    _record(sock, events)
    boom = ValueError("boom")
    sock.destroy(boom)
    sock.destroy()                 # twice is harmless
    run_bounded(5)
    assert events == [("error", boom), ("close", True)]


def test_a_half_closed_peer_gets_our_reply_with_allow_half_open():
    """The peer shuts down its sending side; with allowHalfOpen the server still answers."""
    server = iotnet.createServer({"allowHalfOpen": True})
    answers = []

    def on_connection(sock):
        parts = []
        sock.on("data", parts.append)
        sock.on("end", lambda: sock.end(b"got " + b"".join(parts)))
        sock.on("close", lambda had_error: server.close())

    server.on("connection", on_connection)
    peers = []

    def on_listening(port):
        def peer(conn):
            conn.sendall(b"question")
            conn.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = conn.recv(100)
                if not chunk:
                    break
                data += chunk
            answers.append(data)
            conn.close()

        peers.append(RawPeer(peer, port=port))
        peers[0].start()

    listen_local(server, on_listening)
    run_bounded(10)
    peers[0].join(10)
    assert peers[0].error is None
    assert answers == [b"got question"]


def test_listen_on_a_privileged_port_without_privileges_is_eacces():
    """EACCES: port 80 from a child without CAP_NET_BIND_SERVICE (root drops it with setpriv)."""
    import os
    import shutil
    import subprocess
    import sys
    import textwrap

    import pytest

    from helpers import subprocess_env

    command = [sys.executable]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv (util-linux) is needed to drop CAP_NET_BIND_SERVICE as root")
        command = [setpriv, "--bounding-set=-net_bind_service", sys.executable]
    script = textwrap.dedent("""
        import iotnet
        server = iotnet.createServer()
        server.on("error", lambda err: print(type(err).__name__, err.code, err.syscall, err.port))
        server.on("listening", lambda: (print("listening"), server.close()))
        server.listen(80, "127.0.0.1")
        iotnet.run()
    """)
    child = subprocess.run(command + ["-c", script], capture_output=True, text=True,
                           env=subprocess_env(), timeout=20)
    if child.stdout.strip() == "listening":
        pytest.skip("this machine lets unprivileged processes bind port 80")
    assert child.stdout.split() == ["PermissionError", "EACCES", "listen", "80"], child.stderr

"""iotnet.tls between two iotnet ends: event orders, the net guarantees over plaintext
(backpressure, pipe(), pause/resume, setTimeout, half-open, destroy), what a TLSSocket tells,
integrity, and no leak. Interop with other peers: test_tls_interop.py; failures:
test_tls_failures.py."""
import hashlib
import random
import resource

import pytest

import iotnet
from iotnet import tls
from helpers import KIB, listen_local, log_events, odd_chunks, run_bounded, wait_until
from tls_certs import certs

MIB = 1024 * 1024


def server_options(**extra):
    c = certs()
    return {"key": c.server.key, "cert": c.server.cert, **extra}


def client_options(**extra):
    return {"ca": certs().ca.cert, **extra}


def tls_server(listener=None, **extra):
    return tls.createServer(server_options(**extra), listener)


def test_event_orders_and_echo_with_end():
    """Client: 'connect', 'secureConnect', 'data', 'end', 'close'(False). Server: 'connection'
    at the TCP accept, then 'secureConnection'; the socket's 'data', 'end', 'close'(False)."""
    client_log, server_log, received = [], [], []
    server = tls_server()
    server.on("connection", lambda sock: server_log.append(("connection",)))

    def on_secure(sock):
        server_log.append(("secureConnection", sock.encrypted, sock.authorized,
                           sock.getProtocol()))
        log_events(sock, ("data", "end", "close"), server_log)
        sock.on("data", lambda data: sock.write(data.upper()))
        sock.on("end", sock.end)
        sock.on("close", lambda had_error: server.close())
    server.on("secureConnection", on_secure)

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())
        log_events(client, ("connect", "secureConnect", "end", "close", "error"), client_log)
        client.on("data", received.append)
        client.on("secureConnect", lambda: client.end(b"hello tls"))

    listen_local(server, on_listening)
    run_bounded(10)
    assert client_log == [("connect",), ("secureConnect",), ("end",), ("close", False)]
    assert b"".join(received) == b"HELLO TLS"
    assert server_log[0] == ("connection",)
    assert server_log[1] == ("secureConnection", True, False, "TLSv1.3")
    assert b"".join(e[1] for e in server_log if e[0] == "data") == b"hello tls"
    assert [e[0] for e in server_log if e[0] != "data"] == ["connection", "secureConnection",
                                                            "end", "close"]
    assert server_log[-1] == ("close", False)


def test_writes_before_the_handshake_are_queued_both_sides():
    """Writes made at 'connection' (server) and right after connect() (client) wait for the
    handshake, then go in order; write callbacks run; bytesWritten counts plaintext."""
    got_client, got_server, callbacks, written = [], [], [], []
    server = tls_server()

    def on_connection(sock):
        sock.write(b"server-1,", lambda err: callbacks.append(("server", err)))
        sock.write("server-2")
        written.append(sock.bytesWritten)
        sock.on("data", got_server.append)
        sock.on("end", sock.end)
        sock.on("close", lambda had_error: server.close())
    server.on("connection", on_connection)

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())
        client.write(b"client-1,", lambda err: callbacks.append(("client", err)))
        client.end(b"client-2")
        client.on("data", got_client.append)

    listen_local(server, on_listening)
    run_bounded(10)
    assert b"".join(got_server) == b"client-1,client-2"
    assert b"".join(got_client) == b"server-1,server-2"
    assert sorted(callbacks) == [("client", None), ("server", None)]
    assert written == [len(b"server-1,server-2")]


def test_properties_of_a_tls_socket():
    """encrypted, authorized, authorizationError, alpnProtocol, servername, getProtocol,
    getCipher, getPeerCertificate on both ends, before and after the handshake."""
    seen = {}
    server = tls_server(ALPNProtocols=["mqtt", "h2"])

    def on_secure(sock):
        seen["server"] = (sock.alpnProtocol, sock.servername, sock.authorized,
                          sock.getPeerCertificate())
        sock.end()
        server.close()
    server.on("secureConnection", on_secure)

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options(ALPNProtocols=["h2"]))
        seen["before"] = (client.encrypted, client.authorized, client.alpnProtocol,
                          client.getPeerCertificate(), client.getProtocol(), client.getCipher())

        def on_secure_connect():
            cert = client.getPeerCertificate()
            seen["client"] = (client.authorized, client.authorizationError,
                              client.alpnProtocol, client.servername, client.getProtocol(),
                              client.getCipher(), dict(x[0] for x in cert["subject"]))
        client.on("secureConnect", on_secure_connect)
        client.resume()

    listen_local(server, on_listening)
    run_bounded(10)
    assert seen["before"] == (True, False, False, {}, None, None)
    authorized, error, alpn, servername, protocol, cipher, subject = seen["client"]
    assert (authorized, error, alpn, servername, protocol) == (True, None, "h2", "localhost",
                                                               "TLSv1.3")
    assert set(cipher) >= {"name", "version"} and cipher["version"] == "TLSv1.3"
    assert subject["commonName"] == "localhost"
    assert seen["server"] == ("h2", "localhost", False, {})


def test_no_servername_is_sent_for_an_ip_literal():
    """servername defaults to host unless host is an IP literal; the certificate is still
    checked against the IP address."""
    names = []
    server = tls_server()
    server.on("secureConnection", lambda sock: (names.append(sock.servername), sock.end(),
                                                server.close()))

    def on_listening(port):
        client = tls.connect(port, "127.0.0.1", client_options())
        client.on("secureConnect", lambda: names.append((client.servername, client.authorized)))
        client.resume()

    listen_local(server, on_listening)
    run_bounded(10)
    assert len(names) == 2 and None in names and (None, True) in names


def test_backpressure_counts_plaintext_and_drain_comes():
    """write() returns False above highWaterMark (in plaintext bytes) and 'drain' follows;
    writableLength counts what waits, including writes queued for the handshake."""
    seen = {}
    server = tls_server(highWaterMark=16 * KIB)

    def on_connection(sock):
        ok = sock.write(b"x" * (32 * KIB))
        seen["queued"] = (ok, sock.writableLength)
        sock.on("drain", lambda: (seen.setdefault("drain", sock.writableLength), sock.end()))
        sock.on("close", lambda had_error: server.close())
    server.on("connection", on_connection)

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())
        total = []
        client.on("data", lambda d: total.append(len(d)))
        client.on("end", lambda: seen.setdefault("received", sum(total)))

    listen_local(server, on_listening)
    run_bounded(10)
    assert seen["queued"] == (False, 32 * KIB)
    assert seen["drain"] == 0
    assert seen["received"] == 32 * KIB


def test_end_right_after_a_large_write_delivers_it_all_then_close_notify():
    """One 8 MiB write() and end() in the same callback, while the reader is slower: every byte
    arrives, then 'end' (close_notify comes after the data, and FIN after close_notify), and
    the writer's 'finish' follows. (uvloop's users hit lost data and hangs here: shutdown while
    writing, and large writes.)"""
    payload = random.Random(3).randbytes(8 * MIB)
    received, order = hashlib.sha256(), []
    server = tls_server()

    def on_secure(sock):
        count = {"n": 0}

        def on_data(data):
            received.update(data)
            count["n"] += len(data)
            sock.pause()                    # a slow reader: the writer's queue fills
            iotnet.setImmediate(sock.resume)
        sock.on("data", on_data)
        sock.on("end", lambda: (order.append(("server end", count["n"])), sock.end()))
        sock.on("close", lambda had_error: server.close())
    server.on("secureConnection", on_secure)

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())

        def on_secure_connect():
            client.write(payload)
            client.end()
        client.on("secureConnect", on_secure_connect)
        client.on("finish", lambda: order.append("client finish"))
        client.on("close", lambda had_error: order.append(("client close", had_error)))
        client.resume()

    listen_local(server, on_listening)
    run_bounded(60)
    assert ("server end", len(payload)) in order
    assert order[-1] == ("client close", False) and "client finish" in order
    assert received.hexdigest() == hashlib.sha256(payload).hexdigest()


# Odd sizes, around TLS records (16 KiB) too, so record and chunk boundaries fall anywhere.
ODD_CHUNK_SIZES = (1, 7, 333, 4093, 16385, 65537, 131071, 1000003)


def test_32_mib_each_way_arrive_intact():
    """32 MiB from the client to a pipe(sock) echo server and back, in odd chunks with
    backpressure: the hashes match both ways."""
    payload = random.Random(12).randbytes(32 * MIB)
    received = hashlib.sha256()
    counts = {"received": 0}
    closes = []
    chunks = odd_chunks(payload, 7, ODD_CHUNK_SIZES)
    server = tls_server(lambda sock: sock.pipe(sock))

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())

        def send_more():
            for chunk in chunks:
                if not client.write(chunk):
                    return
            client.end()

        def on_data(chunk):
            received.update(chunk)
            counts["received"] += len(chunk)
        client.on("secureConnect", send_more)
        client.on("drain", send_more)
        client.on("data", on_data)
        client.on("close", lambda had_error: (closes.append(had_error), server.close()))

    listen_local(server, on_listening)
    run_bounded(120)
    assert closes == [False]
    assert counts["received"] == len(payload)
    assert received.hexdigest() == hashlib.sha256(payload).hexdigest()


def test_slow_reader_with_pipe_keeps_memory_bounded():
    """A server pipes 64 MiB from a fast TLS sender to a TLS reader that pauses most of the
    time: the server's queue never goes far past highWaterMark (plus a read), and memory stays
    bounded."""
    total = 64 * MIB
    chunk = b"p" * (64 * KIB)
    state = {"max_queued": 0, "received": 0, "sent": 0}
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sink_server = tls_server()
    relay = tls_server()

    def on_sink(sock):
        def read(data):
            state["received"] += len(data)
            sock.pause()
            iotnet.setTimeout(sock.resume, 1)
        sock.on("data", read)
        sock.on("end", lambda: (sock.end(), sink_server.close(), relay.close()))
    sink_server.on("secureConnection", on_sink)

    def on_relay(sock):
        upstream = tls.connect(sink_server.address()["port"], "localhost", client_options())
        sock.pipe(upstream)

        def watch():
            state["max_queued"] = max(state["max_queued"], upstream.writableLength)
        timer = iotnet.setInterval(watch, 5)
        upstream.on("close", lambda had_error: iotnet.clearInterval(timer))
    relay.on("secureConnection", on_relay)

    def on_listening(port):
        sender = tls.connect(port, "localhost", client_options())

        def pump():
            while state["sent"] < total:
                state["sent"] += len(chunk)
                if not sender.write(chunk):
                    return
            sender.end()
        sender.on("secureConnect", pump)
        sender.on("drain", pump)
        sender.resume()

    sink_server.listen(0, "127.0.0.1", lambda: listen_local(relay, on_listening))
    run_bounded(120)
    assert state["received"] == total
    # pipe() stops reading above highWaterMark (16 KiB); what one read decrypts can overshoot.
    assert state["max_queued"] < 2 * MIB
    rss_growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert rss_growth_kib < 48 * 1024


def test_pause_holds_plaintext_and_resume_delivers_it():
    """A paused TLSSocket gets no 'data' while the client sends everything and ends; resume()
    delivers it all in order, then 'end'."""
    order, received = [], []
    client_finished = []
    server = tls_server()

    def on_secure(sock):
        sock.pause()
        sock.on("data", lambda d: (order.append("data"), received.append(d)))
        sock.on("end", lambda: (order.append("end"), sock.end(), server.close()))
        # Resume once the client's bytes are all out, and a moment later, so that a paused
        # socket that delivered anyway would have done so by then.
        wait_until(lambda: client_finished,
                   lambda: iotnet.setTimeout(lambda: (order.append("resume"), sock.resume()),
                                             50))
    server.on("secureConnection", on_secure)

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())
        client.on("secureConnect", lambda: (client.write(b"a" * 100000), client.end(b"z")))
        client.on("finish", lambda: client_finished.append(True))
        client.resume()

    listen_local(server, on_listening)
    run_bounded(10)
    assert order[0] == "resume" and order[-1] == "end"
    assert b"".join(received) == b"a" * 100000 + b"z"


def test_half_open_with_allow_half_open():
    """allowHalfOpen: the server gets 'end' (the client's close_notify + FIN) and can still
    write; the client reads that, then its own 'end' and 'close'."""
    got = []
    server = tls_server(allowHalfOpen=True)

    def on_secure(sock):
        sock.on("end", lambda: iotnet.setTimeout(lambda: sock.end(b"after your end"), 20))
        sock.on("close", lambda had_error: server.close())
        sock.resume()
    server.on("secureConnection", on_secure)

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())
        client.on("secureConnect", client.end)
        client.on("data", got.append)
        client.on("end", lambda: got.append("end"))
        client.on("close", lambda had_error: got.append(("close", had_error)))

    listen_local(server, on_listening)
    run_bounded(10)
    assert got == [b"after your end", "end", ("close", False)]


def test_set_timeout_fires_on_an_idle_tls_socket():
    """setTimeout(ms) on a TLSSocket: 'timeout' after idleness; destroy() from it closes."""
    events = []
    server = tls_server()
    server.on("secureConnection", lambda sock: (sock.on("close", lambda e: server.close()),
                                                sock.resume()))

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())
        client.setTimeout(50)
        client.on("timeout", lambda: (events.append("timeout"), client.destroy()))
        client.on("close", lambda had_error: events.append(("close", had_error)))

    listen_local(server, on_listening)
    run_bounded(10)
    assert events == ["timeout", ("close", False)]


def test_destroy_during_the_handshake_fails_queued_write_callbacks():
    """destroy() before 'secureConnect': the queued write's callback gets an error, 'close'
    comes once, and no 'secureConnect'."""
    events = []
    server = tls_server()
    server.on("connection", lambda sock: sock.on("close", lambda e: server.close()))

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())
        client.write(b"never", lambda err: events.append(("write", getattr(err, "code", err))))
        client.on("secureConnect", lambda: events.append("secureConnect"))
        client.on("close", lambda had_error: events.append(("close", had_error)))
        client.on("connect", client.destroy)

    listen_local(server, on_listening)
    run_bounded(10)
    assert events == [("write", "ERR_STREAM_DESTROYED"), ("close", False)]


def test_unref_lets_run_return_and_ref_keeps_it():
    """An unref'd TLS server does not keep run() alive."""
    server = tls_server()
    server.listen(0, "127.0.0.1")
    server.unref()
    run_bounded(5)
    assert server.listening
    server.close()
    run_bounded(5)


def test_1000_tls_connections_leave_no_descriptor_behind():
    """1,000 TLS connections, each a handshake, an echo and a close_notify, 50 at a time; then
    no descriptor is left open (the debug build's counters also check handles, requests and
    buffers after the test)."""
    import os
    fds_before = len(os.listdir("/proc/self/fd"))
    state = {"started": 0, "done": 0, "echoed": 0}
    server = tls_server(lambda sock: sock.pipe(sock))

    def on_listening(port):
        def start_one():
            state["started"] += 1
            client = tls.connect(port, "localhost", client_options())
            client.on("secureConnect", lambda: client.end(b"ping"))
            client.on("data", lambda d: state.__setitem__("echoed", state["echoed"] + len(d)))
            client.on("close", finished)

        def finished(had_error):
            state["done"] += 1
            if state["started"] < 1000:
                start_one()
            elif state["done"] == 1000:
                server.close()

        for _ in range(50):
            start_one()

    listen_local(server, on_listening)
    run_bounded(120)
    assert state["done"] == 1000 and state["echoed"] == 4000
    assert len(os.listdir("/proc/self/fd")) <= fds_before


def test_a_python_m_iotnet_script_uses_tls_like_node(tmp_path):
    """`from iotnet import tls` in a `python -m iotnet` script, as `require('tls')` in Node."""
    from helpers import run_script
    c = certs()
    status, out, err = run_script(tmp_path, f"""
        from iotnet import tls
        server = tls.createServer({{'key': open({c.server.key_path!r}).read(),
                                    'cert': open({c.server.cert_path!r}).read()}},
                                  lambda sock: sock.pipe(sock))
        def listening():
            client = tls.connect(server.address()['port'], 'localhost',
                                 {{'ca': {c.ca.cert_path!r}}},
                                 lambda: client.end(b'over tls'))
            client.on('data', lambda d: print(d.decode()))
            client.on('close', lambda had_error: server.close())
        server.listen(0, '127.0.0.1', listening)
    """)
    assert (status, out, err) == (0, "over tls\n", "")


@pytest.mark.parametrize("options, error", [
    ({"minVersion": "TLSv9"}, ValueError),
    ({"ALPNProtocols": "h2"}, TypeError),
    ({"handshakeTimeout": -1}, ValueError),
    ({"requestCert": "yes"}, TypeError),
    ({"SNICallback": 3}, TypeError),
    ({"key": 5}, TypeError),
])
def test_bad_server_options_fail_at_the_call(options, error):
    """A bad option of tls.createServer raises at the call; nothing is created."""
    with pytest.raises(error):
        tls.createServer(server_options(**options))


@pytest.mark.parametrize("options, error", [
    ({"servername": 5}, TypeError),
    ({"rejectUnauthorized": "no"}, TypeError),
    ({"checkServerIdentity": "x"}, TypeError),
    ({"ca": "/no/such/file.pem"}, ValueError),
    ({"context": object()}, TypeError),
])
def test_bad_connect_options_fail_at_the_call(options, error):
    """A bad option of tls.connect raises at the call."""
    with pytest.raises(error):
        tls.connect(443, "localhost", options)


def test_the_tls_examples_talk_to_each_other():
    """examples/tls_echo_server.py and examples/tls_client.py, as their docstrings run them."""
    import pathlib
    import signal
    import subprocess
    import sys
    from helpers import CHILD_TIMEOUT_S, subprocess_env
    examples = pathlib.Path(__file__).resolve().parent.parent / "examples"
    c = certs()
    server = subprocess.Popen([sys.executable, str(examples / "tls_echo_server.py"), "0",
                               "127.0.0.1", c.server.cert_path, c.server.key_path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=subprocess_env())
    try:
        port = server.stdout.readline().split()[-1]
        client = subprocess.run([sys.executable, str(examples / "tls_client.py"), port,
                                 "localhost", "hi over tls", c.ca.cert_path],
                                capture_output=True, text=True, env=subprocess_env(),
                                timeout=CHILD_TIMEOUT_S)
    finally:
        server.send_signal(signal.SIGTERM)
        server_out, server_err = server.communicate(timeout=CHILD_TIMEOUT_S)
    assert (client.returncode, client.stdout) == (0, "hi over tls\n")
    assert "authorized: True" in client.stderr
    assert server.returncode == 0 and server_err == ""


def test_writes_from_a_data_listener_call_back_in_order_and_drain_follows_a_full_write():
    """Writes made inside 'data' (sent together after the read): every callback runs once,
    in order, with None; a write past highWaterMark returns False and 'drain' follows."""
    calls, results, drains, received = [], [], [], []
    server = tls_server(highWaterMark=16 * KIB)

    def on_secure(sock):
        def on_data(data):
            for i in range(3):
                sock.write(b"%d," % i, lambda err, i=i: calls.append((i, err)))
            results.append(sock.write(b"x" * (32 * KIB)))
            sock.end()
        sock.once("data", on_data)
        sock.on("drain", lambda: drains.append(sock.writableLength))
        sock.on("close", lambda had_error: server.close())
    server.on("secureConnection", on_secure)

    def on_listening(port):
        client = tls.connect(port, "localhost", client_options())
        client.on("secureConnect", lambda: client.write(b"go"))
        client.on("data", received.append)

    listen_local(server, on_listening)
    run_bounded(10)
    assert calls == [(0, None), (1, None), (2, None)]
    assert results == [False] and drains == [0]
    assert b"".join(received) == b"0,1,2," + b"x" * (32 * KIB)


def test_onread_on_both_ends_gets_the_plaintext():
    """onread on tls.connect() and tls.createServer(): each side's callback gets the decrypted
    bytes in its own buffer; the server's echoes them from there."""
    payload = bytes(range(256)) * 1000
    received = []
    server_buffer = bytearray(16 * KIB)
    client_buffer = bytearray(10 * KIB)

    def server_read(nread, buf, sock):
        sock.write(memoryview(buf)[:nread])

    server = tls_server(onread={"buffer": server_buffer, "callback": server_read})
    server.on("secureConnection", lambda sock: sock.on("end", sock.end))

    def start(port):
        client = tls.connect(port, "127.0.0.1", client_options(onread={
            "buffer": client_buffer, "callback": lambda n, buf: received.append(bytes(buf[:n]))}))
        client.on("secureConnect", lambda: client.end(payload))
        client.on("close", lambda had_error: server.close())

    listen_local(server, start)
    run_bounded(10)
    assert b"".join(received) == payload

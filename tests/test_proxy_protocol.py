"""createServer({'proxyProtocol': True}): PROXY protocol v1/v2 headers through real connections;
malformed, truncated, late and random headers; TLS after the header; HAProxy in front."""
import os
import shutil
import socket
import ssl
import struct
import subprocess
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import iotnet
from iotnet import tls
from helpers import HOST, RawPeer, run_bounded, wait_until
from tls_certs import certs

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
PAYLOAD = b"hello after the header\n"


def v2(cmd, fam, body):
    return V2_SIG + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(body)) + body


def v2_tcp4(src, dst, sport, dport, tlvs=b""):
    return v2(1, 0x11, socket.inet_pton(socket.AF_INET, src) + socket.inet_pton(socket.AF_INET, dst)
              + struct.pack("!HH", sport, dport) + tlvs)


def v2_tcp6(src, dst, sport, dport, tlvs=b""):
    return v2(1, 0x21, socket.inet_pton(socket.AF_INET6, src)
              + socket.inet_pton(socket.AF_INET6, dst) + struct.pack("!HH", sport, dport) + tlvs)


TLVS = (bytes([0x01, 0, 2]) + b"h2" + bytes([0x04, 0, 0])      # ALPN, NOOP
        + bytes([0xE0, 0, 40]) + b"x" * 40)                     # a custom one
REAL = "real peer"     # LOCAL/UNKNOWN: remoteAddress stays the connection's own

VALID = [
    ("v1 tcp4", b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 443\r\n", ("192.0.2.7", 56324, "IPv4")),
    ("v1 tcp6", b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n", ("2001:db8::1", 4000, "IPv6")),
    ("v1 tcp6 long form", b"PROXY TCP6 2001:0db8:0000:0000:0000:0000:0000:0009 ::1 65535 1\r\n",
     ("2001:db8::9", 65535, "IPv6")),
    ("v1 unknown", b"PROXY UNKNOWN\r\n", REAL),
    ("v1 unknown with addresses", b"PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n", REAL),
    ("v1 tcp4 edge values", b"PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", ("0.0.0.0", 0, "IPv4")),
    ("v2 tcp4", v2_tcp4("203.0.113.9", "10.0.0.1", 1234, 80), ("203.0.113.9", 1234, "IPv4")),
    ("v2 tcp4 tlvs", v2_tcp4("203.0.113.9", "10.0.0.1", 1, 80, TLVS), ("203.0.113.9", 1, "IPv4")),
    ("v2 tcp6", v2_tcp6("2001:db8::5", "::1", 5555, 443), ("2001:db8::5", 5555, "IPv6")),
    ("v2 tcp6 tlvs", v2_tcp6("2001:db8::5", "::1", 5555, 443, TLVS), ("2001:db8::5", 5555, "IPv6")),
    ("v2 local", v2(0, 0x00, b""), REAL),
    ("v2 local with addresses", v2(0, 0x11, bytes(12)), REAL),
    ("v2 proxy unspec", v2(1, 0x00, b""), REAL),
]

MALFORMED = [
    ("garbage", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("lower case v1", b"proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n"),
    ("v1 without CRLF in 107 bytes", b"PROXY TCP4 " + b"1" * 120 + b"\r\n"),
    ("v1 LF only", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
    ("v1 bad address", b"PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n"),
    ("v1 v6 address as TCP4", b"PROXY TCP4 ::1 ::1 1 2\r\n"),
    ("v1 bad port", b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
    ("v1 port not a number", b"PROXY TCP4 1.2.3.4 5.6.7.8 1x 2\r\n"),
    ("v1 missing port", b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),
    ("v1 double space", b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n"),
    ("v1 unknown protocol", b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
    ("v1 UNKNOWN run on", b"PROXY UNKNOWNX\r\n"),
    ("v1 leading zero", b"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n"),
    ("v1 three octets", b"PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n"),
    ("v1 five octets", b"PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2\r\n"),
    ("v1 empty octet", b"PROXY TCP4 1..3.4 5.6.7.8 1 2\r\n"),
    ("v1 bad destination", b"PROXY TCP4 1.2.3.4 5.6.7 1 2\r\n"),
    ("v1 six fields", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n"),
    ("v1 bad tcp6 address", b"PROXY TCP6 2001:db8:::1 ::1 1 2\r\n"),
    ("v1 protocol only", b"PROXY TCP4\r\n"),
    ("truncated v1", b"PROXY TCP4 1.2.3.4 5.6"),
    ("truncated v2 signature", V2_SIG[:7]),
    ("truncated v2 addresses", v2_tcp4("1.2.3.4", "5.6.7.8", 1, 2)[:20]),
    ("oversized v2 length", V2_SIG + b"\x21\x11\xff\xff" + bytes(64)),
    ("v2 bad version", V2_SIG + b"\x11\x11\x00\x0c" + bytes(12)),
    ("v2 bad command", V2_SIG + b"\x22\x11\x00\x0c" + bytes(12)),
    ("v2 udp", v2(1, 0x12, bytes(12))),
    ("v2 unix", v2(1, 0x31, bytes(216))),
    ("v2 bad family", v2(1, 0x51, bytes(12))),
    ("v2 tcp6 too short", v2(1, 0x21, bytes(12))),
    ("bad v2 signature", b"\r\n\r\n\x00\r\nQUIT!" + bytes(20)),
]


def _serve(opts=None, make_server=iotnet.createServer, on_ready=None):
    """A proxyProtocol server that records each connection's remote end and data (echoing
    nothing), and each clientError's code; closes once `expected` connections are settled."""
    state = {"connections": [], "errors": [], "settled": 0, "expected": None}
    server = make_server({"proxyProtocol": True, **(opts or {})})

    def settle():
        state["settled"] += 1
        if state["settled"] == state["expected"]:
            server.close()

    def on_connection(sock):
        rec = {"remote": (sock.remoteAddress, sock.remotePort, sock.remoteFamily),
               "data": bytearray(), "local": None}
        state["connections"].append(rec)
        sock.on("data", rec["data"].extend)
        sock.on("end", sock.end)
        sock.on("error", lambda err: None)
        sock.on("close", lambda had_error: settle())

    def on_client_error(err, sock):
        state["errors"].append(err.code)
        assert sock.destroyed
        settle()

    server.on("secureConnection" if make_server is tls.createServer else "connection",
              on_connection)
    server.on("clientError", on_client_error)
    return server, state


def _sender(s, pieces, shut):
    """A timer callback sending the next piece on s (then shutting its sending side down)."""
    def step():
        try:
            if pieces:
                s.send(pieces.pop(0))
                iotnet.setTimeout(step, 1)
            elif shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass            # the server refused the header and dropped the connection
    return step


def _clients(port, sends, per_byte=False, shut=True):
    """Plain sockets connected now; each sends its bytes from loop timers (one byte per timer
    with per_byte), then shuts down its sending side. Returns the sockets."""
    socks = []
    for data in sends:
        s = socket.create_connection((HOST, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        socks.append(s)
        pieces = [data[i:i + 1] for i in range(len(data))] if per_byte else [data]
        step = _sender(s, pieces, shut)
        iotnet.setTimeout(step, 1)
    return socks


def _exchange(sends, per_byte=False, opts=None, shut=True):
    server, state = _serve(opts)
    state["expected"] = len(sends)
    server.listen(0, HOST)
    socks = _clients(server.address()["port"], sends, per_byte, shut)
    run_bounded(30)
    names = [s.getsockname() for s in socks]
    for s in socks:
        s.close()
    return state, names


def _expected(remote, name):
    return (name[0], name[1], "IPv4") if remote is REAL else remote


@pytest.mark.parametrize("per_byte", [False, True], ids=["whole", "byte-per-write"])
def test_valid_headers_set_the_remote_end_and_keep_the_payload(per_byte):
    """Every valid form, on connections of one server at once (whole, or one byte per write):
    each gets 'connection' with the header's remote end (the real peer's for LOCAL/UNKNOWN)
    and the payload after the header exactly once."""
    sends = [header + PAYLOAD + name.encode() for name, header, _ in VALID]
    state, names = _exchange(sends, per_byte)
    assert state["errors"] == []
    got = sorted((bytes(c["data"]), c["remote"]) for c in state["connections"])
    want = sorted((PAYLOAD + name.encode(), _expected(remote, names[i]))
                  for i, (name, _, remote) in enumerate(VALID))
    assert got == want


@pytest.mark.parametrize("name, data", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_headers_are_client_errors(name, data):
    """A malformed, truncated or oversized header: 'clientError' ERR_PROXY_PROTOCOL and no
    'connection' for it; a valid connection beside it is served as usual."""
    good = v2_tcp4("192.0.2.1", "192.0.2.2", 7, 8) + PAYLOAD
    state, _ = _exchange([data + PAYLOAD if not name.startswith("truncated") else data, good])
    assert state["errors"] == ["ERR_PROXY_PROTOCOL"]
    assert [(c["remote"], bytes(c["data"])) for c in state["connections"]] == [
        (("192.0.2.1", 7, "IPv4"), PAYLOAD)]


def test_all_malformed_one_byte_at_a_time():
    """The malformed forms sent one byte per write fail the same way."""
    sends = [data if name.startswith("truncated") else data + PAYLOAD for name, data in MALFORMED]
    state, _ = _exchange(sends, per_byte=True)
    assert state["errors"] == ["ERR_PROXY_PROTOCOL"] * len(MALFORMED)
    assert state["connections"] == []


def test_header_timeout():
    """A client that sends nothing (and one that stops mid-header) is dropped after
    headerTimeout with 'clientError'; getConnections counts none afterwards."""
    state, _ = _exchange([b"", b"PROXY TCP4 1.2"], opts={"headerTimeout": 50}, shut=False)
    assert state["errors"] == ["ERR_PROXY_PROTOCOL"] * 2
    assert state["connections"] == []


def test_header_timeouts_go_in_arrival_order_and_spare_the_finished():
    """One server's headerTimeout with connections arriving over time (the loop's own timers
    set the times, so the order holds on a slow machine): A (silent) and B (stops mid-header)
    fail at their own deadlines; C (whole header) is served; D sends half its header, and the
    rest after A's deadline but before its own, and is served too."""
    server, state = _serve({"headerTimeout": 400})
    state["expected"] = 4
    server.listen(0, HOST)
    port = server.address()["port"]
    socks = []
    half = b"PROXY TCP4 192.0.2.4 192.0.2.9 "

    def client(data, shut):
        s = socket.create_connection((HOST, port))
        s.setblocking(False)
        socks.append(s)
        _sender(s, [data] if data else [], shut)()
        return s

    def d_rest(s):
        _sender(s, [b"4444 80\r\n" + PAYLOAD], True)()

    iotnet.setTimeout(client, 0, b"", False)                                 # A
    iotnet.setTimeout(client, 100, b"PROXY TCP4 1.2", False)                 # B
    iotnet.setTimeout(client, 150, b"PROXY TCP4 192.0.2.3 192.0.2.9 3333 80\r\n" + PAYLOAD, True)
    iotnet.setTimeout(lambda: iotnet.setTimeout(d_rest, 250, client(half, False)), 200)
    run_bounded(30)
    for s in socks:
        s.close()
    assert state["errors"] == ["ERR_PROXY_PROTOCOL"] * 2
    assert sorted((c["remote"], bytes(c["data"])) for c in state["connections"]) == [
        (("192.0.2.3", 3333, "IPv4"), PAYLOAD), (("192.0.2.4", 4444, "IPv4"), PAYLOAD)]


def test_pause_on_connect_holds_the_payload():
    """With pauseOnConnect the bytes after the header wait for resume()."""
    server = iotnet.createServer({"proxyProtocol": True, "pauseOnConnect": True})
    got = []

    def on_connection(sock):
        assert sock.isPaused()
        sock.on("data", got.append)
        sock.on("end", lambda: server.close())
        iotnet.setTimeout(sock.resume, 5)

    server.on("connection", on_connection)
    server.listen(0, HOST)
    socks = _clients(server.address()["port"], [b"PROXY UNKNOWN\r\n" + PAYLOAD])
    run_bounded(30)
    socks[0].close()
    assert b"".join(got) == PAYLOAD


def test_onread_gets_the_payload():
    """With the server's onread option the bytes after the header go to its callback."""
    got = bytearray()
    server = iotnet.createServer({"proxyProtocol": True, "onread": {
        "buffer": bytearray(8), "callback": lambda n, buf, sock: got.extend(buf[:n])}})
    server.on("connection", lambda sock: sock.on("end", lambda: server.close()))
    server.listen(0, HOST)
    socks = _clients(server.address()["port"], [v2(0, 0, b"") + PAYLOAD])
    run_bounded(30)
    socks[0].close()
    assert bytes(got) == PAYLOAD


def test_get_connections_counts_connections_reading_their_header():
    """A connection still reading its header counts in getConnections (it holds a socket);
    once it fails it is gone."""
    server = iotnet.createServer({"proxyProtocol": True, "headerTimeout": 100})
    counts = []
    server.on("clientError", lambda err, sock: server.getConnections(
        lambda err, n: (counts.append(n), server.close())))
    server.listen(0, HOST)
    socks = _clients(server.address()["port"], [b"PROXY"], shut=False)
    iotnet.setTimeout(lambda: server.getConnections(lambda err, n: counts.append(n)), 20)
    run_bounded(30)
    socks[0].close()
    assert counts == [1, 0]


def test_options_are_checked():
    with pytest.raises(TypeError):
        iotnet.createServer({"proxyProtocol": "yes"})
    with pytest.raises(TypeError):
        iotnet.createServer({"proxyProtocol": True, "headerTimeout": 1.5})
    with pytest.raises(ValueError):
        iotnet.createServer({"proxyProtocol": True, "headerTimeout": 0})
    with pytest.raises(ValueError):
        tls.createServer({"proxyProtocol": True, "headerTimeout": -1})


# -- fuzzing -------------------------------------------------------------------------------------

_PREFIXES = [header for _, header, _ in VALID] + [data for _, data in MALFORMED]


@st.composite
def _first_bytes(draw):
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(st.binary(max_size=120))
    base = bytearray(draw(st.sampled_from(_PREFIXES)) + PAYLOAD)
    if kind == 1:        # a few bytes changed
        for _ in range(draw(st.integers(1, 4))):
            base[draw(st.integers(0, len(base) - 1))] = draw(st.integers(0, 255))
    else:                # cut short, or with random bytes spliced in
        cut = draw(st.integers(0, len(base)))
        base = base[:cut] + draw(st.binary(max_size=20))
    return bytes(base)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=_first_bytes(), per_byte=st.booleans())
def test_fuzz_first_bytes(data, per_byte):
    """Any first bytes: the connection ends in exactly one of 'connection' or 'clientError'."""
    state, _ = _exchange([data], per_byte=per_byte and len(data) < 40)
    assert len(state["connections"]) + len(state["errors"]) == 1
    assert set(state["errors"]) <= {"ERR_PROXY_PROTOCOL"}


# -- TLS -----------------------------------------------------------------------------------------

def test_tls_handshake_after_the_header():
    """tls.createServer with proxyProtocol: a v2 header, then a Python ssl client's handshake
    on the same connection; the server sees the header's address and the plaintext."""
    c = certs()
    server, state = _serve({"key": c.server.key, "cert": c.server.cert},
                           make_server=tls.createServer)
    state["expected"] = 1
    server.listen(0, HOST)
    header = v2_tcp6("2001:db8::42", "::1", 4242, 443, TLVS)

    def client(conn):
        conn.sendall(header)
        context = ssl.create_default_context(cafile=c.ca.cert_path)
        with context.wrap_socket(conn, server_hostname="localhost") as tls_sock:
            tls_sock.sendall(PAYLOAD)
            tls_sock.unwrap().close()

    peer = RawPeer(client, port=server.address()["port"])
    peer.start()
    run_bounded(30)
    peer.join(30)
    assert peer.error is None, peer.error
    assert state["errors"] == []
    assert [(c["remote"], bytes(c["data"])) for c in state["connections"]] == [
        (("2001:db8::42", 4242, "IPv6"), PAYLOAD)]


def test_tls_bad_header_is_a_client_error():
    c = certs()
    server, state = _serve({"key": c.server.key, "cert": c.server.cert},
                           make_server=tls.createServer)
    state["expected"] = 1
    server.listen(0, HOST)
    socks = _clients(server.address()["port"], [b"\x16\x03\x01\x02\x00\x01"])
    run_bounded(30)
    socks[0].close()
    assert state["errors"] == ["ERR_PROXY_PROTOCOL"]
    assert state["connections"] == []


# -- HAProxy in front ----------------------------------------------------------------------------

def _haproxy():
    path = shutil.which("haproxy") or next(
        (p for p in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if os.path.exists(p)), None)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is not installed (make test installs it)")
        pytest.skip("haproxy is not installed: `make test` installs it (Debian package haproxy)")
    return path


def _free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def test_haproxy_send_proxy_v1_and_v2():
    """HAProxy (mode tcp) in front of two servers, `send-proxy` and `send-proxy-v2`: each
    server sees the client's own address and port, and the bytes arrive exactly."""
    haproxy = _haproxy()
    servers = [_serve() for _ in range(2)]
    for server, state in servers:
        state["expected"] = 2
        server.listen(0, HOST)
    fronts = [_free_port(), _free_port()]
    config = f"""
global
    maxconn 100
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend f1
    bind {HOST}:{fronts[0]}
    default_backend b1
backend b1
    server s1 {HOST}:{servers[0][0].address()['port']} send-proxy
frontend f2
    bind {HOST}:{fronts[1]}
    default_backend b2
backend b2
    server s2 {HOST}:{servers[1][0].address()['port']} send-proxy-v2
"""
    folder = tempfile.mkdtemp(prefix="iotnet-haproxy-")
    cfg = os.path.join(folder, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(config)
    child = subprocess.Popen([haproxy, "-db", "-f", cfg], stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    clients = []

    def connected():
        """Connects the next client once haproxy listens (the first connect that works is
        already a client, so no probe reaches the servers); True when all four are."""
        if child.poll() is not None:
            iotnet.stop()
            return False
        port = fronts[len(clients) // 2]
        try:
            clients.append(socket.create_connection((HOST, port), timeout=5))
        except ConnectionRefusedError:
            return False          # haproxy is starting
        return len(clients) == 4

    def send_all():
        for i, s in enumerate(clients):
            s.sendall(PAYLOAD * (i + 1))
            s.shutdown(socket.SHUT_WR)

    try:
        wait_until(connected, send_all)
        run_bounded(30)
    finally:
        child.terminate()
        output = child.communicate(timeout=10)[0].decode(errors="replace")
        shutil.rmtree(folder, True)
    assert len(clients) == 4, output
    names = [s.getsockname() for s in clients]
    for s in clients:
        s.close()
    for k, (server, state) in enumerate(servers):
        assert state["errors"] == []
        got = sorted((c["remote"], bytes(c["data"])) for c in state["connections"])
        want = sorted(((names[i][0], names[i][1], "IPv4"), PAYLOAD * (i + 1))
                      for i in (2 * k, 2 * k + 1))
        assert got == want

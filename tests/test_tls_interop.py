"""TLS interoperability (API §7): iotnet.tls against peers it did not write, both ways — Python's
blocking `ssl` sockets on a thread, `openssl s_client` / `openssl s_server`, and Node's `tls`
(`node -e`). Each test checks the bytes exactly (sha256 for megabytes), the events in Node's
order (client: 'connect', 'secureConnect', 'data'..., 'end', 'close'(False); server:
'connection', 'secureConnection', 'data'..., 'end', 'close'(False)), and what both sides tell
of ALPN, SNI and client certificates. The last tests check that end() sends close_notify before
FIN, as the peer sees it.

Subprocess peers are started before run() and waited for (or killed) in a finally; a server
peer's port is read from its first lines before run(), with a deadline."""
import contextlib
import hashlib
import json
import os
import random
import re
import select
import shutil
import ssl
import subprocess
import threading
import time

import pytest

from helpers import HOST, RawPeer, odd_chunks, run_bounded
from iotnet import tls
from tls_certs import certs

MIB = 1024 * 1024
ALPN_SERVER = ["h2", "echo/1"]
ALPN_CLIENT = ["echo/1"]
SNI_NAMES = ["localhost", "other.example"]
PROTOCOL_NAMES = {ssl.TLSVersion.TLSv1_3: "TLSv1.3", ssl.TLSVersion.TLSv1_2: "TLSv1.2"}
# (servername, the Python peer's highest TLS version)
PYTHON_CASES = [pytest.param(name, version, id=f"{name}-{PROTOCOL_NAMES[version]}")
                for name, version in [("localhost", ssl.TLSVersion.TLSv1_3),
                                      ("other.example", ssl.TLSVersion.TLSv1_3),
                                      ("localhost", ssl.TLSVersion.TLSv1_2)]]
PEER_START_S = 20           # a subprocess peer prints its readiness line within this
PEER_EXIT_S = 20            # and exits within this once the loop is done
# Odd sizes, from one byte to more than the loop's read buffer, so record and read boundaries
# fall anywhere.
ODD_CHUNK_SIZES = (1, 7, 333, 4093, 16385, 65537, 262147, 1000003)

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None,
                                   reason="no openssl command on this machine")
needs_node = pytest.mark.skipif(shutil.which("node") is None,
                                reason="no node command on this machine")


# -- helpers ---------------------------------------------------------------------------------------

def _sha(data):
    return hashlib.sha256(data).hexdigest()




def _common_name(cert):
    """The commonName in the subject of a getpeercert()/getPeerCertificate() dict."""
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return value
    return None


def _track(sock, log):
    """Appends sock's events to log in order: the name, one 'data' for a run of chunks,
    ('error', code) and ('close', had_error)."""
    def data(chunk):
        if not log or log[-1] != "data":
            log.append("data")
    sock.on("connect", lambda: log.append("connect"))
    sock.on("secureConnect", lambda: log.append("secureConnect"))
    sock.on("data", data)
    sock.on("end", lambda: log.append("end"))
    sock.on("error", lambda err: log.append(("error", getattr(err, "code", err))))
    sock.on("close", lambda had_error: log.append(("close", had_error)))


def _tls_facts(sock):
    """What a TLSSocket tells of its session, taken when the handshake is done."""
    return {
        "encrypted": sock.encrypted,
        "authorized": sock.authorized,
        "authorizationError": sock.authorizationError,
        "alpnProtocol": sock.alpnProtocol,
        "servername": sock.servername,
        "peer_cn": _common_name(sock.getPeerCertificate()),
        "protocol": sock.getProtocol(),
    }


def _sni_other_context(alpn=ALPN_SERVER, verify_mode=ssl.CERT_REQUIRED):
    """The server context SNICallback picks for 'other.example': its certificate, the CA that
    verifies client certificates after the switch, ALPN, and (as Python's ssl wants it for
    getpeercert() to report the client's certificate) the verify mode."""
    c = certs()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(c.sni_other.cert_path, c.sni_other.key_path)
    context.load_verify_locations(c.ca.cert_path)
    context.verify_mode = verify_mode
    if alpn:
        context.set_alpn_protocols(alpn)
    return context


def _iotnet_server(sni_calls=None):
    """A TLS server for 'localhost' that asks for client certificates signed by the test CA,
    offers ALPN_SERVER, and whose SNICallback picks the 'other.example' context."""
    c = certs()
    other = _sni_other_context()

    def sni_callback(servername, cb):
        if sni_calls is not None:
            sni_calls.append(servername)
        cb(None, other if servername == "other.example" else None)

    return tls.createServer({"key": c.server.key, "cert": c.server.cert, "ca": c.ca.cert,
                             "requestCert": True, "ALPNProtocols": ALPN_SERVER,
                             "SNICallback": sni_callback})


def _serve_once(server, log, facts, on_secure):
    """Logs the server's 'connection' and 'secureConnection' and the socket's events into log,
    takes the socket's TLS facts at 'secureConnection', calls on_secure(sock), and closes the
    server once that socket has closed."""
    def on_connection(sock):
        log.append("connection")
        _track(sock, log)
        sock.on("close", lambda had_error: server.close())

    def on_secure_connection(sock):
        log.append("secureConnection")
        facts.update(_tls_facts(sock))
        on_secure(sock)

    server.on("connection", on_connection)
    server.on("secureConnection", on_secure_connection)
    server.on("tlsClientError", lambda err, sock: log.append(("tlsClientError", err)))


def _send_then_end(sock, payload, seed):
    """Writes payload in odd chunks, waiting for 'drain' whenever write() returns False, then
    end(). Returns the function that starts it."""
    chunks = odd_chunks(payload, seed, ODD_CHUNK_SIZES)
    ended = []

    def more():
        for chunk in chunks:
            if not sock.write(chunk):
                return                  # 'drain' comes back here
        if not ended:
            ended.append(True)
            sock.end()

    sock.on("drain", more)
    return more


def _client_options(servername="localhost", **extra):
    c = certs()
    options = {"ca": c.ca.cert, "cert": c.client.cert, "key": c.client.key,
               "servername": servername, "ALPNProtocols": ALPN_CLIENT}
    options.update(extra)
    return options


@contextlib.contextmanager
def _child(args, **kwargs):
    """A subprocess peer, killed if it still runs when the block is left."""
    child = subprocess.Popen(args, **kwargs)
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        try:
            child.communicate(timeout=PEER_EXIT_S)
        except (ValueError, OSError):
            child.wait(PEER_EXIT_S)


def _read_until(child, pattern, timeout=PEER_START_S):
    """Reads the child's stdout until pattern (bytes regex) matches; the match. Fails (never
    hangs) when the child prints nothing matching within timeout or exits."""
    fd = child.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while True:
        match = re.search(pattern, seen)
        if match:
            return match
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise AssertionError(f"the peer printed no {pattern!r} in {timeout} s: {seen!r}")
        chunk = os.read(fd, 65536)
        if not chunk:
            raise AssertionError(f"the peer exited before printing {pattern!r}: {seen!r}")
        seen += chunk


def _feed(pipe, data):
    """A thread writing data to a child's stdin and leaving it open (stdin EOF would make
    s_client quit); a child that goes away early only ends the thread."""
    def write():
        with contextlib.suppress(OSError, ValueError):    # ValueError: closed by the test
            pipe.write(data)
            pipe.flush()
    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


# -- Python's ssl module, both ways ----------------------------------------------------------------

@pytest.mark.parametrize("servername, version", PYTHON_CASES)
def test_iotnet_server_with_python_ssl_client(servername, version):
    """A Python blocking ssl client (client certificate, ALPN 'echo/1', SNI; TLS 1.3, or at most
    TLS 1.2) echoes 3 MiB in odd chunks through an iotnet TLS server, lockstep, and closes with
    close_notify: the bytes come back exactly; the server sees 'connection',
    'secureConnection', 'data'..., 'end', 'close'(False), the client's certificate
    (authorized), ALPN, servername and protocol; SNICallback picks the 'other.example'
    certificate, which the client verifies."""
    c = certs()
    payload = random.Random(1).randbytes(3 * MIB)
    log, facts, sni_calls, result = [], {}, [], {}
    server = _iotnet_server(sni_calls)
    _serve_once(server, log, facts, lambda sock: sock.on("data", sock.write))
    server.listen(0, HOST)

    def client(conn):
        context = ssl.create_default_context(cafile=c.ca.cert_path)
        context.load_cert_chain(c.client.cert_path, c.client.key_path)
        context.set_alpn_protocols(ALPN_CLIENT)
        context.maximum_version = version
        with context.wrap_socket(conn, server_hostname=servername,
                                 suppress_ragged_eofs=False) as tls_sock:
            result["alpn"] = tls_sock.selected_alpn_protocol()
            result["peer_cn"] = _common_name(tls_sock.getpeercert())
            echoed = hashlib.sha256()
            for chunk in odd_chunks(payload, 2, ODD_CHUNK_SIZES):
                tls_sock.sendall(chunk)
                left = len(chunk)
                while left:
                    data = tls_sock.recv(min(left, 262144))
                    assert data, "the server ended the stream early"
                    echoed.update(data)
                    left -= len(data)
            result["echoed"] = echoed.hexdigest()
            plain = tls_sock.unwrap()   # our close_notify; returns on the server's
            result["after_close_notify"] = plain.recv(1)
            plain.close()

    peer = RawPeer(client, port=server.address()["port"])
    peer.start()
    run_bounded(60)
    peer.join(30)
    assert peer.error is None, peer.error
    assert result["echoed"] == _sha(payload)
    assert result["alpn"] == "echo/1"
    assert result["peer_cn"] == servername
    assert result["after_close_notify"] == b""        # FIN after the server's close_notify
    assert log == ["connection", "secureConnection", "data", "end", ("close", False)]
    assert sni_calls == [servername]
    assert facts == {"encrypted": True, "authorized": True, "authorizationError": None,
                     "alpnProtocol": "echo/1", "servername": servername,
                     "peer_cn": "iotnet test client", "protocol": PROTOCOL_NAMES[version]}


def test_writes_at_connection_reach_a_python_client_after_the_handshake():
    """Writes made in the server's 'connection' listener, before the handshake, are queued and
    reach a Python ssl client first, in order, once the handshake is done; the client's reply
    then arrives as 'data' after 'secureConnection'."""
    c = certs()
    log, facts, result, replies = [], {}, {}, []
    server = _iotnet_server()

    def on_connection(sock):
        assert sock.write(b"early ") is True
        sock.write(b"hello")
        sock.on("data", lambda chunk: (replies.append(chunk), sock.end()))

    server.on("connection", on_connection)
    _serve_once(server, log, facts, lambda sock: None)
    server.listen(0, HOST)

    def client(conn):
        context = ssl.create_default_context(cafile=c.ca.cert_path)
        context.load_cert_chain(c.client.cert_path, c.client.key_path)
        with context.wrap_socket(conn, server_hostname="localhost") as tls_sock:
            received = b""
            while len(received) < len(b"early hello"):
                received += tls_sock.recv(64)
            tls_sock.sendall(b"reply")
            result["received"] = received
            result["eof"] = tls_sock.recv(64)

    peer = RawPeer(client, port=server.address()["port"])
    peer.start()
    run_bounded(30)
    peer.join(30)
    assert peer.error is None, peer.error
    assert result == {"received": b"early hello", "eof": b""}
    assert replies == [b"reply"]
    assert log[:3] == ["connection", "secureConnection", "data"]


def test_sni_context_with_only_certificate_and_ca_keeps_request_cert():
    """requestCert is the server's, as in Node: an SNICallback context made like Node's
    tls.createSecureContext({key, cert, ca}) — certificate and CA, no verify mode of its own —
    still gives the server the client's certificate: authorized True and getPeerCertificate()
    with its subject, for a Python ssl client that sent 'other.example' and a certificate."""
    c = certs()
    log, facts, result = [], {}, {}
    other = _sni_other_context(alpn=None, verify_mode=ssl.CERT_NONE)
    server = tls.createServer({
        "key": c.server.key, "cert": c.server.cert, "ca": c.ca.cert, "requestCert": True,
        "SNICallback": lambda servername, cb: cb(None, other)})
    _serve_once(server, log, facts, lambda sock: sock.end())
    server.listen(0, HOST)

    def client(conn):
        context = ssl.create_default_context(cafile=c.ca.cert_path)
        context.load_cert_chain(c.client.cert_path, c.client.key_path)
        with context.wrap_socket(conn, server_hostname="other.example") as tls_sock:
            result["peer_cn"] = _common_name(tls_sock.getpeercert())
            result["eof"] = tls_sock.recv(1)

    peer = RawPeer(client, port=server.address()["port"])
    peer.start()
    run_bounded(30)
    peer.join(30)
    assert peer.error is None, peer.error
    assert result == {"peer_cn": "other.example", "eof": b""}
    assert log[:2] == ["connection", "secureConnection"]
    assert facts["authorized"] is True
    assert facts["peer_cn"] == "iotnet test client"


@pytest.mark.parametrize("servername, version", PYTHON_CASES)
def test_iotnet_client_with_python_ssl_server(servername, version):
    """An iotnet TLS client (client certificate, ALPN, servername) sends 3 MiB with backpressure
    to a Python blocking ssl echo server that requires client certificates and picks its
    'other.example' context by SNI, then end(): the echo comes back exactly; the client sees
    'connect', 'secureConnect', 'data'..., 'end', 'close'(False), authorized, the server's
    certificate, ALPN and protocol (TLS 1.3, or 1.2 when that is the server's most); the server
    sees the client's certificate, the SNI name, our close_notify (not a bare FIN), then FIN."""
    c = certs()
    payload = random.Random(3).randbytes(3 * MIB)
    result = {}
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(c.server.cert_path, c.server.key_path)
    server_context.load_verify_locations(c.ca.cert_path)
    server_context.verify_mode = ssl.CERT_REQUIRED
    server_context.set_alpn_protocols(ALPN_SERVER)
    server_context.maximum_version = version
    other = _sni_other_context()
    other.maximum_version = version

    def on_servername(ssl_sock, name, context):
        result["sni"] = name
        if name == "other.example":
            ssl_sock.context = other

    server_context.sni_callback = on_servername

    def serve(conn):
        with server_context.wrap_socket(conn, server_side=True,
                                        suppress_ragged_eofs=False) as tls_sock:
            result["alpn"] = tls_sock.selected_alpn_protocol()
            result["peer_cn"] = _common_name(tls_sock.getpeercert())
            received = hashlib.sha256()
            while True:
                data = tls_sock.recv(262144)
                if not data:
                    break           # close_notify (a bare FIN raises SSLEOFError)
                received.update(data)
                tls_sock.sendall(data)
            result["received"] = received.hexdigest()
            plain = tls_sock.unwrap()
            result["after_close_notify"] = plain.recv(1)
            plain.close()

    peer = RawPeer(serve)
    peer.start()
    log, facts, echoed = [], {}, hashlib.sha256()
    client = tls.connect(peer.port, HOST, _client_options(servername))
    _track(client, log)
    start = _send_then_end(client, payload, seed=4)
    client.on("secureConnect", lambda: (facts.update(_tls_facts(client)), start()))
    client.on("data", echoed.update)
    run_bounded(60)
    peer.join(30)
    assert peer.error is None, peer.error
    assert result["received"] == _sha(payload)
    assert echoed.hexdigest() == _sha(payload)
    assert result["sni"] == servername
    assert result["alpn"] == "echo/1"
    assert result["peer_cn"] == "iotnet test client"
    assert result["after_close_notify"] == b""
    assert log == ["connect", "secureConnect", "data", "end", ("close", False)]
    assert facts == {"encrypted": True, "authorized": True, "authorizationError": None,
                     "alpnProtocol": "echo/1", "servername": servername,
                     "peer_cn": servername, "protocol": PROTOCOL_NAMES[version]}
    assert client.bytesWritten == len(payload)


# -- openssl s_client / s_server -------------------------------------------------------------------

@needs_openssl
@pytest.mark.parametrize("servername", SNI_NAMES)
def test_iotnet_server_with_openssl_s_client(tmp_path, servername):
    """`openssl s_client` (client certificate, -alpn echo/1, -servername, verifying the server
    against the test CA and the name) sends 2 MiB from its stdin; the iotnet server echoes every
    byte and end()s once it has them all: s_client prints exactly the payload, reports
    "Verification: OK" for the expected certificate and exits 0 (it quits on the server's
    close_notify); the server sees the events in order, the client certificate (authorized),
    ALPN 'echo/1' and the SNI name."""
    c = certs()
    payload = random.Random(5).randbytes(2 * MIB)
    log, facts, sni_calls = [], {}, []
    server = _iotnet_server(sni_calls)

    def on_secure(sock):
        counted = [0]

        def on_data(chunk):
            sock.write(chunk)
            counted[0] += len(chunk)
            if counted[0] == len(payload):
                sock.end()
        sock.on("data", on_data)

    _serve_once(server, log, facts, on_secure)
    server.listen(0, HOST)
    out_path, err_path = tmp_path / "s_client.out", tmp_path / "s_client.err"
    args = ["openssl", "s_client", "-connect", f"{HOST}:{server.address()['port']}",
            "-servername", servername, "-verify_hostname", servername, "-alpn", "echo/1",
            "-CAfile", c.ca.cert_path, "-cert", c.client.cert_path, "-key", c.client.key_path,
            "-verify_return_error", "-brief", "-nocommands"]
    with open(out_path, "wb") as out, open(err_path, "wb") as err, \
            _child(args, stdin=subprocess.PIPE, stdout=out, stderr=err) as child:
        _feed(child.stdin, payload)
        run_bounded(60)
        child.wait(PEER_EXIT_S)
    report = err_path.read_text()
    assert child.returncode == 0, report
    received = out_path.read_bytes()
    assert len(received) == len(payload) and _sha(received) == _sha(payload)
    assert "Verification: OK" in report
    assert f"Peer certificate: CN = {servername}" in report
    assert log == ["connection", "secureConnection", "data", "end", ("close", False)]
    assert sni_calls == [servername]
    assert facts["authorized"] is True
    assert facts["peer_cn"] == "iotnet test client"
    assert facts["alpnProtocol"] == "echo/1"
    assert facts["servername"] == servername


def _s_server(mode, *extra, cwd=None):
    """`openssl s_server` on 127.0.0.1, a port of its choice, for one connection, with the
    'localhost' certificate, the 'other.example' one for that SNI name (-cert2), ALPN echo/1 and
    client certificates required (-Verify)."""
    c = certs()
    args = ["openssl", "s_server", mode, "-accept", f"{HOST}:0", "-naccept", "1",
            "-cert", c.server.cert_path, "-key", c.server.key_path,
            "-servername", "other.example",
            "-cert2", c.sni_other.cert_path, "-key2", c.sni_other.key_path,
            "-alpn", "echo/1", "-Verify", "1", "-CAfile", c.ca.cert_path, *extra]
    return _child(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                  cwd=cwd)


def _s_server_port(child):
    return int(_read_until(child, rb"ACCEPT 127\.0\.0\.1:(\d+)\n").group(1))


@needs_openssl
@pytest.mark.parametrize("servername", SNI_NAMES)
def test_iotnet_client_with_openssl_s_server_rev(servername):
    """`openssl s_server -rev` (client certificates required, ALPN echo/1, a second certificate
    for SNI 'other.example') sends each line back reversed: an iotnet client with a client
    certificate writes 1 MiB of lines with backpressure and end()s: every reversed line comes
    back exactly; 'connect', 'secureConnect', 'data'..., 'end', 'close'(False); authorized, the
    certificate of the SNI name; s_server verified our certificate and exits 0. (s_server gives
    its second context no ALPN, so 'other.example' negotiates none.)"""
    rng = random.Random(6)
    lines, size = [], 0
    while size < MIB:
        line = rng.randbytes(rng.randint(1, 2000)).hex().encode()
        lines.append(line + b"\n")
        size += len(line) + 1
    payload = b"".join(lines)
    expected = b"".join(line[:-1][::-1] + b"\n" for line in lines)
    log, facts, echoed = [], {}, hashlib.sha256()
    with _s_server("-rev") as child:
        port = _s_server_port(child)
        client = tls.connect(port, HOST, _client_options(servername))
        _track(client, log)
        start = _send_then_end(client, payload, seed=7)
        client.on("secureConnect", lambda: (facts.update(_tls_facts(client)), start()))
        client.on("data", echoed.update)
        run_bounded(60)
        child.wait(PEER_EXIT_S)
        report = child.stderr.read().decode()
    assert child.returncode == 0, report
    assert echoed.hexdigest() == _sha(expected)
    assert log == ["connect", "secureConnect", "data", "end", ("close", False)]
    assert facts["authorized"] is True
    assert facts["peer_cn"] == servername
    assert facts["servername"] == servername
    assert facts["alpnProtocol"] == ("echo/1" if servername == "localhost" else False)
    assert "Peer certificate: CN = iotnet test client" in report
    assert "Verification: OK" in report


@needs_openssl
def test_iotnet_client_downloads_4_mib_from_openssl_s_server_www(tmp_path):
    """`openssl s_server -WWW` serves a 4 MiB file to an iotnet client's GET: the body arrives
    byte for byte; s_server's close_notify gives 'end', then 'close'(False)."""
    body = random.Random(8).randbytes(4 * MIB)
    (tmp_path / "payload.bin").write_bytes(body)
    log, facts, parts = [], {}, []
    with _s_server("-WWW", cwd=tmp_path) as child:
        port = _s_server_port(child)
        client = tls.connect(port, HOST, _client_options())
        _track(client, log)
        client.on("secureConnect", lambda: (facts.update(_tls_facts(client)),
                                            client.write(b"GET /payload.bin HTTP/1.0\r\n\r\n")))
        client.on("data", parts.append)
        run_bounded(60)
        child.wait(PEER_EXIT_S)
        report = child.stderr.read().decode()
    assert child.returncode == 0, report
    head, _, received = b"".join(parts).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200")
    assert len(received) == len(body) and _sha(received) == _sha(body)
    assert log == ["connect", "secureConnect", "data", "end", ("close", False)]
    assert facts["authorized"] is True and facts["alpnProtocol"] == "echo/1"


# -- Node's tls ------------------------------------------------------------------------------------

# A Node TLS client: sends the payload file with end(), hashes what comes back, and prints one
# JSON line of what it saw at 'close'.
NODE_CLIENT = r"""
const tls = require('tls'), fs = require('fs'), crypto = require('crypto');
const cfg = JSON.parse(process.argv[1]);
const events = [], hash = crypto.createHash('sha256');
let received = 0, facts = {};
const sock = tls.connect({
  host: cfg.host, port: cfg.port, servername: cfg.servername, ALPNProtocols: cfg.alpn,
  ca: fs.readFileSync(cfg.ca), cert: fs.readFileSync(cfg.cert), key: fs.readFileSync(cfg.key),
});
sock.on('secureConnect', () => {
  events.push('secureConnect');
  const peer = sock.getPeerCertificate();
  facts = {authorized: sock.authorized, alpnProtocol: sock.alpnProtocol,
           peer_cn: peer.subject ? peer.subject.CN : null, protocol: sock.getProtocol()};
  sock.end(fs.readFileSync(cfg.payload));
});
sock.on('data', (d) => {
  if (events[events.length - 1] !== 'data') events.push('data');
  received += d.length; hash.update(d);
});
sock.on('end', () => events.push('end'));
sock.on('error', (e) => events.push('error ' + (e.code || e.message)));
sock.on('close', (hadError) => {
  events.push('close ' + hadError);
  console.log(JSON.stringify({...facts, events, received, sha256: hash.digest('hex')}));
});
"""

# A Node TLS echo server for one connection: prints {"port"} once listening, then one JSON line
# of what it saw at the connection's 'close'. SNICallback picks the 'other.example' context.
NODE_SERVER = r"""
const tls = require('tls'), fs = require('fs'), crypto = require('crypto');
const cfg = JSON.parse(process.argv[1]);
const other = tls.createSecureContext({
  key: fs.readFileSync(cfg.other_key), cert: fs.readFileSync(cfg.other_cert),
  ca: fs.readFileSync(cfg.ca)});
const events = [], hash = crypto.createHash('sha256');
let received = 0, facts = {};
const server = tls.createServer({
  key: fs.readFileSync(cfg.key), cert: fs.readFileSync(cfg.cert), ca: fs.readFileSync(cfg.ca),
  requestCert: true, rejectUnauthorized: true, ALPNProtocols: cfg.alpn,
  SNICallback: (name, cb) => cb(null, name === 'other.example' ? other : undefined),
}, (sock) => {
  events.push('secureConnection');
  const peer = sock.getPeerCertificate();
  facts = {authorized: sock.authorized, alpnProtocol: sock.alpnProtocol,
           servername: sock.servername, peer_cn: peer.subject ? peer.subject.CN : null};
  sock.on('data', (d) => {
    if (events[events.length - 1] !== 'data') events.push('data');
    received += d.length; hash.update(d);
  });
  sock.pipe(sock);
  sock.on('end', () => events.push('end'));
  sock.on('error', (e) => events.push('error ' + (e.code || e.message)));
  sock.on('close', (hadError) => {
    events.push('close ' + hadError);
    console.log(JSON.stringify({...facts, events, received, sha256: hash.digest('hex')}));
    server.close();
  });
});
server.on('tlsClientError', (e) => console.log(JSON.stringify({tlsClientError: e.code})));
server.listen(0, cfg.host, () => console.log(JSON.stringify({port: server.address().port})));
"""


def _node_summary(out):
    """The last JSON line a Node peer printed."""
    lines = [line for line in out.decode().splitlines() if line.startswith("{")]
    assert lines, out
    return json.loads(lines[-1])


@needs_node
@pytest.mark.parametrize("servername", SNI_NAMES)
def test_iotnet_server_with_node_tls_client(tmp_path, servername):
    """A Node tls client (client certificate, ALPN, servername) end()s 3 MiB to an iotnet
    server that echoes with pipe(): Node gets the bytes back exactly, authorized, ALPN
    'echo/1' and the SNI name's certificate, and sees 'secureConnect', 'data'..., 'end',
    'close false'; the iotnet server sees its events in order, the client certificate, ALPN and
    the SNI name."""
    c = certs()
    payload = random.Random(9).randbytes(3 * MIB)
    (tmp_path / "payload.bin").write_bytes(payload)
    log, facts, sni_calls = [], {}, []
    server = _iotnet_server(sni_calls)
    _serve_once(server, log, facts, lambda sock: sock.pipe(sock))
    server.listen(0, HOST)
    config = {"host": HOST, "port": server.address()["port"], "servername": servername,
              "alpn": ALPN_CLIENT, "ca": c.ca.cert_path, "cert": c.client.cert_path,
              "key": c.client.key_path, "payload": str(tmp_path / "payload.bin")}
    with _child(["node", "-e", NODE_CLIENT, json.dumps(config)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        run_bounded(60)
        out, err = child.communicate(timeout=PEER_EXIT_S)
    assert child.returncode == 0, err.decode()
    seen = _node_summary(out)
    assert seen == {"authorized": True, "alpnProtocol": "echo/1", "peer_cn": servername,
                    "protocol": "TLSv1.3",
                    "events": ["secureConnect", "data", "end", "close false"],
                    "received": len(payload), "sha256": _sha(payload)}
    assert log == ["connection", "secureConnection", "data", "end", ("close", False)]
    assert sni_calls == [servername]
    assert facts["authorized"] is True
    assert facts["peer_cn"] == "iotnet test client"
    assert facts["alpnProtocol"] == "echo/1"
    assert facts["servername"] == servername


@needs_node
@pytest.mark.parametrize("servername", SNI_NAMES)
def test_iotnet_client_with_node_tls_server(servername):
    """An iotnet TLS client (client certificate, ALPN, servername) sends 3 MiB with
    backpressure to a Node tls echo server (requestCert, rejectUnauthorized, SNICallback), then
    end(): the echo comes back exactly; 'connect', 'secureConnect', 'data'..., 'end',
    'close'(False); authorized, ALPN, the SNI name's certificate; Node saw the client
    certificate (authorized), the ALPN and SNI name, all the bytes, and a clean 'end'."""
    c = certs()
    payload = random.Random(10).randbytes(3 * MIB)
    config = {"host": HOST, "alpn": ALPN_SERVER, "ca": c.ca.cert_path,
              "cert": c.server.cert_path, "key": c.server.key_path,
              "other_cert": c.sni_other.cert_path, "other_key": c.sni_other.key_path}
    log, facts, echoed = [], {}, hashlib.sha256()
    with _child(["node", "-e", NODE_SERVER, json.dumps(config)],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE) as child:
        port = json.loads(_read_until(child, rb'\{"port":\d+\}').group(0))["port"]
        client = tls.connect(port, HOST, _client_options(servername))
        _track(client, log)
        start = _send_then_end(client, payload, seed=11)
        client.on("secureConnect", lambda: (facts.update(_tls_facts(client)), start()))
        client.on("data", echoed.update)
        run_bounded(60)
        out, err = child.communicate(timeout=PEER_EXIT_S)
    assert child.returncode == 0, err.decode()
    seen = _node_summary(out)
    assert seen == {"authorized": True, "alpnProtocol": "echo/1", "servername": servername,
                    "peer_cn": "iotnet test client",
                    "events": ["secureConnection", "data", "end", "close false"],
                    "received": len(payload), "sha256": _sha(payload)}
    assert echoed.hexdigest() == _sha(payload)
    assert log == ["connect", "secureConnect", "data", "end", ("close", False)]
    assert facts["authorized"] is True
    assert facts["peer_cn"] == servername
    assert facts["alpnProtocol"] == "echo/1"


# -- end() sends close_notify, then FIN ------------------------------------------------------------

def test_server_end_sends_close_notify_then_fin_to_python_client():
    """Port of Node test/parallel/test-tls-close-notify.js, the peer being Python's ssl: the
    iotnet server's end(b'bye') reaches a Python client (suppress_ragged_eofs=False) as 'bye'
    then a clean close — recv() returns b'' for close_notify, where a bare FIN would raise
    SSLEOFError — and the TCP FIN follows; the server sees 'finish', then the client's
    close_notify as 'end', then 'close'(False)."""
    c = certs()
    log, facts, result = [], {}, {}
    server = _iotnet_server()
    _serve_once(server, log, facts, lambda sock: sock.end(b"bye"))
    server.on("secureConnection", lambda sock: sock.on("finish", lambda: log.append("finish")))
    server.listen(0, HOST)

    def client(conn):
        context = ssl.create_default_context(cafile=c.ca.cert_path)
        context.load_cert_chain(c.client.cert_path, c.client.key_path)
        with context.wrap_socket(conn, server_hostname="localhost",
                                 suppress_ragged_eofs=False) as tls_sock:
            received = b""
            try:
                while True:
                    data = tls_sock.recv(1024)
                    if not data:
                        result["close_notify"] = True
                        break
                    received += data
            except ssl.SSLEOFError:
                result["close_notify"] = False     # FIN without close_notify
            result["received"] = received
            plain = tls_sock.unwrap()
            result["after_close_notify"] = plain.recv(1)
            plain.close()

    peer = RawPeer(client, port=server.address()["port"])
    peer.start()
    run_bounded(30)
    peer.join(30)
    assert peer.error is None, peer.error
    assert result == {"received": b"bye", "close_notify": True, "after_close_notify": b""}
    assert log == ["connection", "secureConnection", "finish", "end", ("close", False)]


@needs_openssl
def test_client_end_with_data_to_openssl_s_server():
    """An iotnet client's end(b'ping\\n') to `openssl s_server -rev`: the line goes out before
    close_notify and FIN, s_server answers it and then takes our close as the end of input and
    exits 0; the client sees 'gnip', then 'end' and 'close'(False)."""
    log, parts = [], []
    with _s_server("-rev") as child:
        port = _s_server_port(child)
        client = tls.connect(port, HOST, _client_options())
        _track(client, log)
        client.on("secureConnect", lambda: client.end(b"ping\n"))
        client.on("data", parts.append)
        run_bounded(30)
        child.wait(PEER_EXIT_S)
        report = child.stderr.read().decode()
    assert child.returncode == 0, report
    assert b"".join(parts) == b"gnip\n"
    assert log == ["connect", "secureConnect", "data", "end", ("close", False)]
    assert "CONNECTION CLOSED" in report

"""TLS failures (API §7): a certificate the client cannot trust, a host name it does not match,
checkServerIdentity, a server that requires client certificates, garbage or silence instead of
a ClientHello, a peer that closes TCP without close_notify, and options that are wrong at the
call. Each gives the result §7 names — a client's 'error' then 'close'(True) before any
plaintext; the server's 'tlsClientError'(err, tlsSocket) and never 'error' — and a server goes
on: after the failure, a good client still connects and echoes."""
import socket
import ssl

import pytest

import iotnet
from helpers import HOST, RawPeer, run_bounded
from iotnet import tls
from tls_certs import certs

PING = b"ping"


def _track(sock, log):
    """Appends sock's events to log: names, ('data', chunk), ('error', err) and
    ('close', had_error)."""
    sock.on("connect", lambda: log.append("connect"))
    sock.on("secureConnect", lambda: log.append("secureConnect"))
    sock.on("data", lambda chunk: log.append(("data", chunk)))
    sock.on("end", lambda: log.append("end"))
    sock.on("error", lambda err: log.append(("error", err)))
    sock.on("close", lambda had_error: log.append(("close", had_error)))


def _names(log):
    return [entry if isinstance(entry, str) else entry[0] for entry in log]


def _errors(log):
    return [entry[1] for entry in log if not isinstance(entry, str) and entry[0] == "error"]


def _received(log):
    return b"".join(entry[1] for entry in log if not isinstance(entry, str)
                    and entry[0] == "data")


def _echo_server(entry=None, **options):
    """An iotnet TLS echo server (pipe) with entry's certificate, listening; returns it and the
    list its 'secureConnection', 'tlsClientError' and 'error' events go to, with the 'error's of
    its secure sockets as 'socketError' (a client that goes away at once may leave the server's
    post-handshake writes with EPIPE or ECONNRESET)."""
    entry = entry or certs().server
    server = tls.createServer({"key": entry.key, "cert": entry.cert, **options})
    seen = []

    def on_secure_connection(sock):
        seen.append(("secureConnection", sock))
        sock.on("error", lambda err: seen.append(("socketError", err)))
        sock.pipe(sock)

    server.on("secureConnection", on_secure_connection)
    server.on("tlsClientError", lambda err, sock: seen.append(("tlsClientError", err, sock)))
    server.on("error", lambda err: seen.append(("error", err)))
    server.listen(0, HOST)
    return server, seen


def _seen(seen, name):
    """The arguments of each event called name in seen."""
    return [entry[1:] for entry in seen if entry[0] == name]


def _good_client(server, log, options=None, host=HOST):
    """A client that trusts the test CA (unless options say otherwise), end()s PING and logs its
    events; the server closes after its 'close'. Nothing if the server no longer listens (a
    failed test's leftovers being closed)."""
    if not server.listening:
        return None
    port = server.address()["port"]
    client = tls.connect(port, host, {"ca": certs().ca.cert, **(options or {})})
    _track(client, log)
    client.on("secureConnect", lambda: log.append(("authorized", client.authorized)))
    client.end(PING)
    client.on("close", lambda had_error: server.close())
    return client


def _assert_echoed(log, authorized=True):
    assert _names(log) == ["connect", "secureConnect", "authorized", "data", "end", "close"], log
    assert ("authorized", authorized) in log
    assert _received(log) == PING
    assert log[-1] == ("close", False)


def _assert_rejected_before_plaintext(log, codes):
    """'error' with a code in codes then 'close'(True); no 'secureConnect', no 'data'."""
    assert _names(log) == ["connect", "error", "close"], log
    assert getattr(_errors(log)[0], "code", None) in codes, _errors(log)[0]
    assert log[-1] == ("close", True)


# -- the client does not trust the server ----------------------------------------------------------

def _bad_server_cases():
    c = certs()
    return {
        # server certificate, client options, code, a good client's options
        "self-signed": (c.self_signed, {}, "DEPTH_ZERO_SELF_SIGNED_CERT",
                        {"ca": c.self_signed.cert}),
        "unknown CA": (c.unknown_issuer, {}, "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
                       {"ca": c.other_ca.cert}),
        "expired": (c.expired, {}, "CERT_HAS_EXPIRED", {"rejectUnauthorized": False}),
        "wrong servername": (c.server, {"servername": "wrong.example"},
                             "ERR_TLS_CERT_ALTNAME_INVALID", {"servername": "localhost"}),
        "host not in the certificate": (c.sni_other, {"host": "localhost"},
                                        "ERR_TLS_CERT_ALTNAME_INVALID",
                                        {"servername": "other.example"}),
    }


BAD_SERVER_CASES = ["self-signed", "unknown CA", "expired", "wrong servername",
                    "host not in the certificate"]


@pytest.mark.parametrize("case", BAD_SERVER_CASES)
def test_client_rejects_untrusted_server(case):
    """Port of Node test/parallel/test-tls-client-reject.js: a client (trusting the test CA)
    meets a server certificate that is self-signed, from an unknown CA, expired, or for another
    name: 'connect', then 'error' with Node's code, then 'close'(True) — no 'secureConnect', no
    'data', and what it wrote before the handshake never reaches the server. The server gets
    'tlsClientError' (the client's alert), no 'error', and then echoes for a good client."""
    entry, bad_options, code, good_options = _bad_server_cases()[case]
    server, seen = _echo_server(entry)
    bad_log, good_log = [], []
    options = {"ca": certs().ca.cert, **bad_options}
    host = options.pop("host", HOST)
    client = tls.connect(server.address()["port"], host, options)
    _track(client, bad_log)
    client.write(b"secret")
    client.on("close", lambda had_error: _good_client(server, good_log, good_options))
    run_bounded(20)
    _assert_rejected_before_plaintext(bad_log, (code,))
    assert isinstance(_errors(bad_log)[0], Exception)
    _assert_echoed(good_log, authorized=good_options.get("rejectUnauthorized", True))
    assert len(_seen(seen, "secureConnection")) == 1       # only the good client's
    assert _seen(seen, "error") == []
    client_errors = _seen(seen, "tlsClientError")
    assert len(client_errors) == 1
    assert client_errors[0][0].code.startswith("ERR_SSL_"), client_errors[0][0]


@pytest.mark.parametrize("case", BAD_SERVER_CASES)
def test_client_with_reject_unauthorized_false_proceeds(case):
    """The same servers with rejectUnauthorized=False: the connection proceeds — 'connect',
    'secureConnect', the echo, 'end', 'close'(False) — with authorized False."""
    entry, bad_options, _, _ = _bad_server_cases()[case]
    server, seen = _echo_server(entry)
    log = []
    options = {"rejectUnauthorized": False, **bad_options}
    host = options.pop("host", HOST)
    _good_client(server, log, options, host=host)
    run_bounded(20)
    _assert_echoed(log, authorized=False)
    assert _seen(seen, "tlsClientError") == [] and _seen(seen, "error") == []


def test_check_server_identity_returning_an_error_rejects_with_it():
    """checkServerIdentity(hostname, cert) gets the name checked and the server's certificate
    dict; the error it returns is the client's 'error' (the same object), then 'close'(True),
    with no 'secureConnect' and no 'data'. The server then echoes for a good client."""
    server, seen = _echo_server()
    calls, bad_log, good_log = [], [], []
    refusal = RuntimeError("not the server I want")

    def check(hostname, cert):
        calls.append((hostname, cert))
        return refusal

    client = tls.connect(server.address()["port"], HOST,
                         {"ca": certs().ca.cert, "servername": "localhost",
                          "checkServerIdentity": check})
    _track(client, bad_log)
    client.on("close", lambda had_error: _good_client(server, good_log))
    run_bounded(20)
    assert _names(bad_log) == ["connect", "error", "close"], bad_log
    assert _errors(bad_log)[0] is refusal
    assert bad_log[-1] == ("close", True)
    assert len(calls) == 1
    hostname, cert = calls[0]
    assert hostname == "localhost"
    assert ((("commonName", "localhost"),),) == cert["subject"]
    assert ("DNS", "localhost") in cert["subjectAltName"]
    _assert_echoed(good_log)
    assert _seen(seen, "error") == []


def test_check_server_identity_returning_none_accepts():
    """A checkServerIdentity that returns None replaces the built-in name check: a certificate
    for 'localhost' is accepted for servername 'wrong.example' (the chain is still verified, so
    authorized is True), and the echo comes back."""
    server, seen = _echo_server()
    calls, log = [], []
    _good_client(server, log, {"servername": "wrong.example",
                               "checkServerIdentity": lambda host, cert: calls.append(host)})
    run_bounded(20)
    _assert_echoed(log, authorized=True)
    assert calls == ["wrong.example"]


# -- the server asks for client certificates -------------------------------------------------------

def test_server_requiring_a_certificate_rejects_a_client_without_one():
    """requestCert=True, rejectUnauthorized=True, a client without a certificate: the server
    emits 'tlsClientError'(err, tlsSocket) with an ERR_SSL_ code, the tlsSocket is destroyed, no
    'secureConnection' and no 'error' on the server; the client gets no 'data' and ends in
    'close' (with 'error' first if it saw the alert). A client with a certificate then
    connects, authorized, and echoes."""
    c = certs()
    server, seen = _echo_server(requestCert=True, ca=c.ca.cert)
    bad_log, good_log = [], []
    client = tls.connect(server.address()["port"], HOST, {"ca": c.ca.cert})
    _track(client, bad_log)
    client.on("close", lambda had_error: _good_client(
        server, good_log, {"cert": c.client.cert, "key": c.client.key}))
    run_bounded(20)
    names = _names(bad_log)
    assert names[-1] == "close" and names.count("close") == 1, bad_log
    assert "data" not in names
    if "error" in names:
        assert names.index("error") < names.index("close")
        assert bad_log[-1] == ("close", True)
    client_errors = _seen(seen, "tlsClientError")
    assert len(client_errors) == 1
    err, tls_socket = client_errors[0]
    assert err.code.startswith("ERR_SSL_"), err
    assert isinstance(tls_socket, tls.TLSSocket) and tls_socket.destroyed
    assert _seen(seen, "error") == []
    secure = _seen(seen, "secureConnection")
    assert len(secure) == 1 and secure[0][0] is not tls_socket
    _assert_echoed(good_log)


def test_server_requesting_a_certificate_without_rejecting_lets_a_client_without_one_in():
    """requestCert=True, rejectUnauthorized=False, a client without a certificate: the
    connection proceeds and echoes; on the server authorized is False, authorizationError is
    set (a code) and getPeerCertificate() is {}."""
    c = certs()
    server, seen = _echo_server(requestCert=True, rejectUnauthorized=False, ca=c.ca.cert)
    facts, log = {}, []
    server.on("secureConnection", lambda sock: facts.update(
        authorized=sock.authorized, authorizationError=sock.authorizationError,
        peer=sock.getPeerCertificate()))
    _good_client(server, log)
    run_bounded(20)
    _assert_echoed(log)
    assert facts["authorized"] is False
    assert isinstance(facts["authorizationError"], str) and facts["authorizationError"]
    assert facts["peer"] == {}
    assert _seen(seen, "tlsClientError") == [] and _seen(seen, "error") == []


def test_server_not_rejecting_still_fails_a_client_certificate_it_cannot_verify():
    """requestCert=True, rejectUnauthorized=False, a client certificate the server cannot verify
    (self-signed). Python's ssl has no verify callback to overrule OpenSSL, so — unlike Node,
    which lets it in with authorized False; docs/porting.md says so — the handshake fails: the
    server emits 'tlsClientError' with the verification's code (DEPTH_ZERO_SELF_SIGNED_CERT)
    and no 'error'; the client gets no
    'data' and ends in 'close' ('error' first if it read the alert). A client without a
    certificate is then let in, with authorized False."""
    c = certs()
    server, seen = _echo_server(requestCert=True, rejectUnauthorized=False, ca=c.ca.cert)
    authorized, bad_log, good_log = [], [], []
    server.on("secureConnection", lambda sock: authorized.append(sock.authorized))
    client = tls.connect(server.address()["port"], HOST,
                         {"ca": c.ca.cert, "cert": c.self_signed.cert, "key": c.self_signed.key})
    _track(client, bad_log)
    client.on("close", lambda had_error: _good_client(server, good_log))
    run_bounded(20)
    names = _names(bad_log)
    assert names[-1] == "close" and names.count("close") == 1 and "data" not in names, bad_log
    if "error" in names:
        assert bad_log[-1] == ("close", True)
    client_errors = _seen(seen, "tlsClientError")
    assert len(client_errors) == 1
    assert client_errors[0][0].code == "DEPTH_ZERO_SELF_SIGNED_CERT", client_errors[0][0]
    assert _seen(seen, "error") == []
    _assert_echoed(good_log)
    assert authorized == [False]


def test_no_common_protocol_version():
    """A server with minVersion 'TLSv1.3' and a client whose context (the context option) goes
    no higher than TLS 1.2: the client gets 'error' with an ERR_SSL_ code and 'close'(True), no
    'secureConnect'; the server 'tlsClientError' with an ERR_SSL_ code and no 'error'; then a
    TLS 1.3 client echoes."""
    server, seen = _echo_server(minVersion="TLSv1.3")
    old_client = ssl.create_default_context(cafile=certs().ca.cert_path)
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    bad_log, good_log = [], []
    client = tls.connect(server.address()["port"], HOST,
                         {"context": old_client, "servername": "localhost"})
    _track(client, bad_log)
    client.on("close", lambda had_error: _good_client(server, good_log))
    run_bounded(20)
    assert _names(bad_log) == ["connect", "error", "close"], bad_log
    assert _errors(bad_log)[0].code.startswith("ERR_SSL_"), _errors(bad_log)[0]
    assert bad_log[-1] == ("close", True)
    client_errors = _seen(seen, "tlsClientError")
    assert len(client_errors) == 1
    assert client_errors[0][0].code.startswith("ERR_SSL_"), client_errors[0][0]
    assert _seen(seen, "error") == []
    _assert_echoed(good_log)


# -- no ClientHello --------------------------------------------------------------------------------

def test_garbage_instead_of_a_client_hello():
    """Port of Node test/parallel/test-tls-junk-closes-server.js: a plain TCP client writes an
    HTTP request to the TLS server: 'tlsClientError' with an ERR_SSL_ code, the socket is
    destroyed and the plain client sees its connection close; no 'error' on the server, which
    then echoes for a good client."""
    server, seen = _echo_server()
    plain_log, good_log = [], []
    plain = iotnet.connect(server.address()["port"], HOST)
    _track(plain, plain_log)
    plain.on("connect", lambda: plain.write(b"GET / HTTP/1.1\r\n\r\n"))
    plain.on("close", lambda had_error: _good_client(server, good_log))
    run_bounded(20)
    names = _names(plain_log)
    assert names[0] == "connect" and names[-1] == "close" and names.count("close") == 1
    client_errors = _seen(seen, "tlsClientError")
    assert len(client_errors) == 1
    err, tls_socket = client_errors[0]
    assert err.code.startswith("ERR_SSL_"), err
    assert tls_socket.destroyed
    assert _seen(seen, "error") == []
    _assert_echoed(good_log)


def test_handshake_that_never_starts_times_out():
    """Port of Node test/parallel/test-tls-timeout-server.js: with handshakeTimeout=200 a plain
    TCP client that connects and stays silent gets 'tlsClientError' with code
    ERR_TLS_HANDSHAKE_TIMEOUT, and (unlike Node 20) that connection is destroyed: the silent
    client sees 'end' and 'close'. The server then echoes for a good client."""
    server, seen = _echo_server(handshakeTimeout=200)
    silent_log, good_log = [], []
    silent = iotnet.connect(server.address()["port"], HOST)
    _track(silent, silent_log)
    silent.on("close", lambda had_error: _good_client(server, good_log))
    run_bounded(20)
    assert _names(silent_log) == ["connect", "end", "close"], silent_log
    assert silent_log[-1] == ("close", False)
    client_errors = _seen(seen, "tlsClientError")
    assert len(client_errors) == 1
    err, tls_socket = client_errors[0]
    assert err.code == "ERR_TLS_HANDSHAKE_TIMEOUT"
    assert tls_socket.destroyed
    assert _seen(seen, "error") == []
    _assert_echoed(good_log)


# -- no close_notify -------------------------------------------------------------------------------

def _drain_raw(sock):
    """Reads what the peer sends until its FIN."""
    while sock.recv(65536):
        pass


def test_server_closing_tcp_without_close_notify_gives_end_on_the_client():
    """Port of Node test/parallel/test-tls-close-notify.js's other half: a Python ssl server
    sends 'hello' and then a bare TCP FIN, no close_notify: the iotnet client sees 'data',
    'end' (not 'error') and 'close'(False)."""
    c = certs()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(c.server.cert_path, c.server.key_path)

    def serve(conn):
        tls_sock = context.wrap_socket(conn, server_side=True)
        tls_sock.sendall(b"hello")
        tls_sock.shutdown(socket.SHUT_WR)   # FIN; Python's ssl sends no close_notify here
        _drain_raw(tls_sock)
        tls_sock.close()

    peer = RawPeer(serve)
    peer.start()
    log = []
    client = tls.connect(peer.port, HOST, {"ca": c.ca.cert})
    _track(client, log)
    run_bounded(20)
    peer.join(20)
    assert peer.error is None, peer.error
    assert _names(log) == ["connect", "secureConnect", "data", "end", "close"], log
    assert _received(log) == b"hello"
    assert log[-1] == ("close", False)


def test_client_closing_tcp_without_close_notify_gives_end_on_the_server():
    """A Python ssl client sends 'hello' and then a bare TCP FIN, no close_notify: the iotnet
    server's socket sees 'data', 'end' (not 'error') and 'close'(False); no 'tlsClientError'."""
    c = certs()
    server = tls.createServer({"key": c.server.key, "cert": c.server.cert})
    log = []

    def on_secure_connection(sock):
        _track(sock, log)
        sock.on("close", lambda had_error: server.close())

    server.on("secureConnection", on_secure_connection)
    server.on("tlsClientError", lambda err, sock: log.append(("tlsClientError", err)))
    server.listen(0, HOST)
    context = ssl.create_default_context(cafile=c.ca.cert_path)

    def client(conn):
        tls_sock = context.wrap_socket(conn, server_hostname="localhost")
        tls_sock.sendall(b"hello")
        tls_sock.shutdown(socket.SHUT_WR)
        _drain_raw(tls_sock)
        tls_sock.close()

    peer = RawPeer(client, port=server.address()["port"])
    peer.start()
    run_bounded(20)
    peer.join(20)
    assert peer.error is None, peer.error
    assert _names(log) == ["data", "end", "close"], log
    assert _received(log) == b"hello"
    assert log[-1] == ("close", False)


# -- options that fail at the call -----------------------------------------------------------------

def _server_options(**extra):
    c = certs()
    return {"key": c.server.key, "cert": c.server.cert, **extra}


def test_unknown_min_version_fails_at_the_call():
    """minVersion outside TLSv1..TLSv1.3 is a ValueError from createServer() and connect(),
    and nothing is left to run."""
    with pytest.raises(ValueError):
        tls.createServer(_server_options(minVersion="TLSv9"))
    with pytest.raises(ValueError):
        tls.connect(1, HOST, {"minVersion": "SSLv3"})
    run_bounded(5)


def test_unreadable_key_path_fails_at_create_server(tmp_path):
    """A key given as a path that cannot be read fails at createServer(), not later."""
    with pytest.raises((ValueError, OSError)):
        tls.createServer({"cert": certs().server.cert_path,
                          "key": str(tmp_path / "no-such-key.pem")})
    run_bounded(5)


def test_context_of_the_wrong_side_fails_at_the_call():
    """A client-side ssl.SSLContext given to createServer(), or a server-side one to connect(),
    is a ValueError at the call."""
    with pytest.raises(ValueError):
        tls.createServer({"context": ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)})
    with pytest.raises(ValueError):
        tls.connect(1, HOST, {"context": ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)})
    run_bounded(5)


@pytest.mark.parametrize("protocols", ["h2", b"h2", 7], ids=["str", "bytes", "int"])
def test_alpn_protocols_not_a_list_fails_at_the_call(protocols):
    """ALPNProtocols that is not a list of str is a TypeError from createServer() and
    connect()."""
    with pytest.raises(TypeError):
        tls.createServer(_server_options(ALPNProtocols=protocols))
    with pytest.raises(TypeError):
        tls.connect(1, HOST, {"ALPNProtocols": protocols})
    run_bounded(5)

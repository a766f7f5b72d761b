"""Errors (docs/reference): OSError subclasses with code/syscall/address; NetError codes."""
import socket

import pytest

import iotnet
from helpers import BAD_HOST, DNS_CODES, run_bounded


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_connection_refused_is_a_connection_refused_error_with_node_fields():
    errors, closes = [], []
    port = _closed_port()
    sock = iotnet.connect(port, "127.0.0.1")
    sock.on("error", errors.append)
    sock.on("close", closes.append)
    run_bounded(5)
    (err,) = errors
    assert isinstance(err, ConnectionRefusedError)
    assert err.errno == 111 or err.code == "ECONNREFUSED"
    assert err.code == "ECONNREFUSED"
    assert err.syscall == "connect"
    assert err.address == "127.0.0.1" and err.port == port
    assert err.strerror
    assert closes == [True]


def test_address_in_use_is_an_oserror_from_listen():
    errors = []
    first = iotnet.createServer()

    def on_listening():
        port = first.address()["port"]
        second = iotnet.createServer()
        second.on("error", lambda err: (errors.append(err), first.close()))
        second.listen(port, "127.0.0.1")

    first.listen(0, "127.0.0.1", on_listening)
    run_bounded(5)
    (err,) = errors
    assert type(err) is OSError
    assert err.code == "EADDRINUSE" and err.syscall == "listen"
    assert err.address == "127.0.0.1" and isinstance(err.port, int)


def test_unknown_host_is_enotfound():
    errors = []
    sock = iotnet.connect(80, "no-such-host.invalid")
    sock.on("error", errors.append)
    run_bounded(20)
    (err,) = errors
    assert isinstance(err, OSError)
    assert err.code in DNS_CODES       # ENOTFOUND; EAI_AGAIN where no resolver answers
    assert err.syscall == "getaddrinfo"
    assert err.hostname == "no-such-host.invalid"


def test_net_error_codes_are_runtime_errors():
    errors = []
    server = iotnet.createServer()
    server.close(errors.append)
    run_bounded(5)
    (err,) = errors
    assert isinstance(err, iotnet.NetError) and isinstance(err, RuntimeError)
    assert err.code == "ERR_SERVER_NOT_RUNNING"


def test_listen_twice_raises_err_server_already_listen():
    server = iotnet.createServer()
    server.listen(0, "127.0.0.1")
    with pytest.raises(iotnet.NetError) as info:
        server.listen(0, "127.0.0.1")
    assert info.value.code == "ERR_SERVER_ALREADY_LISTEN"
    server.close()
    run_bounded(5)


def test_dns_error_names_port_and_hostname():
    """Port of Node test/parallel/test-net-better-error-messages-port-hostname.js: the DNS
    error carries code ENOTFOUND, syscall 'getaddrinfo', the port and the hostname."""
    errors, events = [], []
    client = iotnet.createConnection(4242, BAD_HOST)
    client.on('connect', lambda: events.append('connect'))
    client.on('error', errors.append)
    run_bounded(10)

    assert events == []
    assert len(errors) == 1
    err = errors[0]
    assert isinstance(err, OSError)
    assert err.code in DNS_CODES
    assert err.syscall == 'getaddrinfo'
    assert err.hostname == BAD_HOST
    assert err.port == 4242

"""Argument checking (docs/reference): a call with an argument of the wrong type or value raises
TypeError or ValueError at the call, before anything is created, and leaves nothing open:
constructors and options, listen(), the connect forms, and the socket's methods."""
import pytest

import iotnet
from helpers import HOST, connect_forms, listen_local, run_bounded


# -- constructors and options ---------------------------------------------------------------------

def test_issue_223_bad_constructor_argument_raises():
    """Port of IoT.js test/run_pass/issue/issue-223.js: IoT.js called an internal constructor
    with a bare number and expected an Error; the public equivalent is a number where the options
    go, which must fail at the call with TypeError and leave nothing open."""
    with pytest.raises(TypeError):
        iotnet.createServer(375)
    with pytest.raises(TypeError):
        iotnet.Socket(375)
    run_bounded(5)


@pytest.mark.parametrize('make', [
    lambda: iotnet.Socket({'highWaterMark': 2 ** 70}),
    lambda: iotnet.createServer({'highWaterMark': 2 ** 70}),
    lambda: iotnet.connect({'port': 80, 'highWaterMark': 2 ** 70}),
    lambda: iotnet.connect({'port': 2 ** 70}),
    lambda: iotnet.connect({'port': 80, 'localPort': 2 ** 70}),
    lambda: iotnet.connect({'port': 80, 'timeout': 2 ** 70}),
    lambda: iotnet.Socket().setTimeout(2 ** 70),
    lambda: iotnet.Socket().setKeepAlive(True, 2 ** 70),
    lambda: iotnet.setTimeout(lambda: None, 2 ** 70),
])
def test_huge_numbers_are_value_errors_not_overflow_errors(make):
    with pytest.raises(ValueError) as info:
        make()
    assert not isinstance(info.value, OverflowError)
    run_bounded(5)


@pytest.mark.parametrize('value', ['abc', [], True, object()])
def test_max_connections_of_a_wrong_type_is_a_type_error_at_assignment(value):
    server = iotnet.createServer()
    with pytest.raises(TypeError):
        server.maxConnections = value
    with pytest.raises(ValueError):
        server.max_connections = -1
    assert server.maxConnections is None


# -- listen ---------------------------------------------------------------------------------------

@pytest.mark.parametrize('port', [-1, 65536, 1 << 20])
def test_listen_port_out_of_range_raises_value_error(port):
    """Port of Node test/parallel/test-net-server-listen-options.js (invalid ports, which Node
    rejects with RangeError ERR_SOCKET_BAD_PORT): a port outside 0..65535, positional or in
    options, raises ValueError at the call and leaves nothing listening."""
    for listen in (lambda s: s.listen(port, lambda: None),
                   lambda s: s.listen({'port': port}, lambda: None),
                   lambda s: s.listen(port, HOST, lambda: None)):
        server = iotnet.createServer()
        with pytest.raises(ValueError):
            listen(server)
        assert server.listening is False
    run_bounded(5)


@pytest.mark.parametrize('port', ['abc', 1.5, [], {}])
def test_listen_port_of_wrong_kind_raises(port):
    """Port of Node test/parallel/test-net-server-listen-options.js (invalid ports such as
    123.456 and non-numbers): the call fails with TypeError or ValueError (docs/reference) and leaves
    nothing listening."""
    server = iotnet.createServer()
    with pytest.raises((TypeError, ValueError)):
        server.listen(port, lambda: None)
    with pytest.raises((TypeError, ValueError)):
        server.listen({'port': port}, lambda: None)
    assert server.listening is False
    run_bounded(5)


@pytest.mark.parametrize('options', [{}, {'host': 'localhost'}, {'backlog': 5},
                                     {'port': -1, 'path': '/tmp/iotnet-never-used.sock'}])
def test_listen_options_without_valid_port_or_path_raise(options):
    """Port of Node test/parallel/test-net-server-listen-options.js (shouldFailToListen, and
    "port takes precedence over path"): an options dict without port or path, or with a bad
    port, raises ValueError (docs/reference) at the call."""
    server = iotnet.createServer()
    with pytest.raises(ValueError):
        server.listen(options, lambda: None)
    assert server.listening is False
    run_bounded(5)


@pytest.mark.parametrize('call', [
    lambda s: s.listen(0, '127.0.0.1', 2 ** 40),
    lambda s: s.listen({'port': 0, 'host': '127.0.0.1', 'backlog': 2 ** 31}),
    lambda s: s.listen('', '127.0.0.1'),
    lambda s: s.listen(80.5, '127.0.0.1'),
    lambda s: s.listen('\uff18\uff10', '127.0.0.1'),
    lambda s: s.listen(2 ** 64, '127.0.0.1'),
])
def test_listen_checks_every_argument_before_anything_is_created(call):
    """A huge backlog, an empty, fractional or non-ASCII port: ValueError at the call, no fd
    bound, and the server can still listen afterwards."""
    server = iotnet.createServer()
    with pytest.raises(ValueError):
        call(server)
    assert not server.listening and server.address() is None
    ports = []
    listen_local(server, lambda port: (ports.append(port), server.close()))
    run_bounded(5)
    assert ports and ports[0] > 0


# -- connect --------------------------------------------------------------------------------------

@pytest.mark.parametrize('port,exc,options_only', [
    (-1, ValueError, False),
    (65536, ValueError, False),
    (1.5, (TypeError, ValueError), False),
    (float('nan'), (TypeError, ValueError), False),
    ('abc', (TypeError, ValueError), False),
    ('', (TypeError, ValueError), False),
    ([], TypeError, True),
    ({}, TypeError, True),
])
def test_connect_bad_port_fails_at_the_call(port, exc, options_only):
    """Port of Node test/parallel/test-net-connect-options-port.js (syncFailToConnect): a port
    of the wrong type or out of range fails synchronously (TypeError / ValueError, the reference (docs/reference)
    in every connect form, with and without a listener, and leaves nothing open."""
    arg_sets = [[{'port': port}], [{'port': port, 'host': 'localhost'}]]
    if not options_only:
        arg_sets += [[port], [port, 'localhost']]
    for args in arg_sets:
        for listener in (None, lambda: pytest.fail('connected')):
            for make in connect_forms(args, listener):
                with pytest.raises(exc):
                    make()
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


def test_connect_without_arguments():
    """Port of Node test/parallel/test-net-connect-no-arg.js: connect() and createConnection()
    without arguments, and Socket().connect(), raise TypeError; connect({}) (no port or path)
    fails at the call too."""
    with pytest.raises(TypeError):
        iotnet.connect()
    with pytest.raises(TypeError):
        iotnet.createConnection()
    with pytest.raises(TypeError):
        iotnet.Socket().connect()
    with pytest.raises((TypeError, ValueError)):
        iotnet.connect({})
    run_bounded(5)


@pytest.mark.parametrize('call', [
    lambda: iotnet.connect({}),
    lambda: iotnet.connect({'host': '127.0.0.1'}),
    lambda: iotnet.Socket().connect({'host': 'localhost'}),
    lambda: iotnet.connect(),
])
def test_connect_without_port_or_path_is_err_missing_args(call):
    """Port of Node test/parallel/test-net-connect-options-port.js (missing arguments)."""
    with pytest.raises(TypeError) as info:
        call()
    assert info.value.code == 'ERR_MISSING_ARGS'


def test_bad_local_address_or_port_fails_at_the_call():
    """Port of Node test/parallel/test-net-localerror.js: localAddress 'foobar' (not an IP) is
    a bad value (ValueError; Node's ERR_INVALID_IP_ADDRESS) and localPort 'foobar' a wrong type
    (TypeError), both at the call."""
    with pytest.raises(ValueError):
        iotnet.connect({'host': 'localhost', 'port': 9, 'localAddress': 'foobar'})
    with pytest.raises(TypeError):
        iotnet.connect({'host': 'localhost', 'port': 9, 'localPort': 'foobar'})
    run_bounded(5)


# -- socket methods -------------------------------------------------------------------------------

@pytest.mark.parametrize('value', [None, True, False, 1, 1.0, float('inf'), [], {}, object()])
def test_write_of_wrong_type_raises_type_error(value):
    """Port of Node test/parallel/test-net-write-arguments.js: write() of anything but a buffer
    or a str raises TypeError at the call, and emits no 'error'."""
    errors = []
    sock = iotnet.Socket()
    sock.on('error', errors.append)
    with pytest.raises(TypeError):
        sock.write(value)
    sock.destroy()
    run_bounded(5)
    assert errors == []


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


def test_set_timeout_argument_validation():
    """Port of Node test/parallel/test-net-socket-timeout.js (argument checks): non-numeric
    delays and non-callable callbacks raise TypeError; negative, infinite and NaN delays raise
    ValueError; 0, 0.001, 1 and 1e6 are accepted and return the socket."""
    sock = iotnet.Socket()
    for delay in ('100', '', None, {}, [], lambda: None):
        with pytest.raises(TypeError):
            sock.setTimeout(delay, lambda: None)
    for delay in (-0.001, -1, float('-inf'), float('inf'), float('nan')):
        with pytest.raises(ValueError):
            sock.setTimeout(delay, lambda: None)
    for delay in (0, 0.001, 1, 1e6):
        assert sock.setTimeout(delay, lambda: None) is sock
    for callback in (1, '100', True, {}, []):
        for delay in (0, 1):
            with pytest.raises(TypeError):
                sock.setTimeout(delay, callback)
    sock.setTimeout(0)
    sock.destroy()
    run_bounded(5)

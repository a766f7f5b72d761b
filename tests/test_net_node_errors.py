"""Ports of Node's test/parallel/test-net-*.js about errors: listen and connect failures, DNS
errors, writes after end/close/destroy, argument validation, isIP. Each test names the Node
file it ports. Unresolvable host names use the reserved .invalid domain (RFC 6761)."""
import errno

import iotnet
import pytest

from helpers import run_bounded

HOST = '127.0.0.1'
BAD_HOST = 'no.way.you.will.resolve.this.invalid'
# ENOTFOUND is what API.md promises for a name that does not exist; EAI_AGAIN is what a resolver
# says when it cannot reach a name server at all (an offline machine), also a resolver failure.
DNS_CODES = ('ENOTFOUND', 'EAI_AGAIN')


def port_of(server):
    return server.address()['port']


def with_closed_port(callback):
    """Call callback(port) on the loop with a port that was just listening and is now closed."""
    server = iotnet.createServer()

    def on_listening():
        port = port_of(server)
        server.close(lambda *args: callback(port))
    server.listen(0, HOST, on_listening)


def test_listen_error_is_emitted_not_raised():
    """Port of Node test/parallel/test-net-listen-error.js: listen(1, '1.1.1.1') (not a local
    address, or a privileged port) returns normally; 'error' follows with an OSError carrying
    code, syscall 'listen', address and port; the listen callback never runs."""
    events = []
    server = iotnet.createServer(lambda sock: events.append('connection'))
    server.on('error', lambda err: events.append(err))
    server.listen(1, '1.1.1.1', lambda: events.append('listening'))
    events.append('listen returned')
    run_bounded(10)

    assert len(events) == 2 and events[0] == 'listen returned'
    err = events[1]
    assert isinstance(err, OSError)
    assert err.code in ('EADDRNOTAVAIL', 'EACCES')
    assert err.errno == getattr(errno, err.code)
    assert err.syscall == 'listen'
    assert err.address == '1.1.1.1'
    assert err.port == 1
    assert server.listening is False


def test_eaddrinuse_on_default_host():
    """Port of Node test/parallel/test-net-eaddrinuse.js: a second server on the same port (both
    on the default host) gets 'error' with a plain OSError whose code is EADDRINUSE."""
    errors, ports = [], []
    server1 = iotnet.createServer()
    server2 = iotnet.createServer()

    def on_error(err):
        errors.append(err)
        server1.close()

    def on_listening():
        ports.append(port_of(server1))
        server2.on('error', on_error)
        server2.listen(port_of(server1))

    server1.listen(0, on_listening)
    run_bounded(10)

    assert len(errors) == 1
    err = errors[0]
    assert type(err) is OSError
    assert err.errno == errno.EADDRINUSE
    assert err.code == 'EADDRINUSE'
    assert err.syscall == 'listen'
    assert err.port == ports[0]
    assert server2.listening is False


def test_end_right_after_connect_to_unresolvable_host():
    """Port of Node test/parallel/test-net-connect-immediate-finish.js: connect() to a name
    that does not resolve, then end() at once: 'error' (a DNS error) comes, then close(True)."""
    events = []
    client = iotnet.connect({'host': BAD_HOST, 'port': 80})
    client.once('error', lambda err: events.append(err))
    client.on('close', lambda had_error: events.append(('close', had_error)))
    assert client.end() is client
    run_bounded(10)

    assert len(events) == 2
    assert isinstance(events[0], OSError) and events[0].code in DNS_CODES
    assert events[1] == ('close', True)


def test_dns_error_lookup_then_error_then_close():
    """Port of Node test/parallel/test-net-dns-error.js: for a name that does not resolve,
    'lookup' gets (err, None, None, host) with code ENOTFOUND, then 'error' once with the same
    code, then close(True); the connect listener never runs."""
    events = []
    sock = iotnet.Socket()
    sock.on('lookup', lambda *args: events.append(('lookup',) + args))
    sock.on('error', lambda err: events.append(('error', err)))
    sock.on('close', lambda had_error: events.append(('close', had_error)))
    sock.connect(42, BAD_HOST, lambda: events.append('connect'))
    run_bounded(10)

    assert [e[0] for e in events] == ['lookup', 'error', 'close']
    _, lookup_err, address, family, host = events[0]
    assert isinstance(lookup_err, OSError) and lookup_err.code in DNS_CODES
    assert (address, family, host) == (None, None, BAD_HOST)
    assert events[1][1].code == lookup_err.code
    assert events[2] == ('close', True)


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


ISIP_CASES = [
    ('127.0.0.1', 4), ('x127.0.0.1', 0), ('example.com', 0),
    ('0000:0000:0000:0000:0000:0000:0000:0000', 6),
    ('0000:0000:0000:0000:0000:0000:0000:0000::0000', 0),
    ('1050:0:0:0:5:600:300c:326b', 6), ('2001:252:0:1::2008:6', 6),
    ('2001:dead:beef:1::2008:6', 6), ('2001::', 6), ('2001:dead::', 6),
    ('2001:dead:beef::', 6), ('2001:dead:beef:1::', 6),
    ('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 6), (':2001:252:0:1::2008:6:', 0),
    (':2001:252:0:1::2008:6', 0), ('2001:252:0:1::2008:6:', 0), ('2001:252::1::2008:6', 0),
    ('::2001:252:1:2008:6', 6), ('::2001:252:1:1.1.1.1', 6), ('::2001:252:1:255.255.255.255', 6),
    ('::2001:252:1:255.255.255.255.76', 0), ('::anything', 0), ('::1', 6), ('::', 6),
    ('0000:0000:0000:0000:0000:0000:12345:0000', 0), ('0', 0), ('', 0),
    ('fe80::1%eth0', 6),
]


@pytest.mark.parametrize('text,version', ISIP_CASES)
def test_isip_strings(text, version):
    """Port of Node test/parallel/test-net-isip.js (string cases), plus API.md's '%zone' suffix
    on IPv6: isIP gives 0, 4 or 6; isIPv4/isIPv6 agree; the PEP 8 aliases are the same object."""
    assert iotnet.isIP(text) == version
    assert iotnet.isIPv4(text) is (version == 4)
    assert iotnet.isIPv6(text) is (version == 6)
    assert iotnet.is_ip is iotnet.isIP
    assert iotnet.is_ipv4 is iotnet.isIPv4
    assert iotnet.is_ipv6 is iotnet.isIPv6


@pytest.mark.parametrize('value', [None, 123, True, {}, [], 1.5, object()])
def test_isip_non_strings_give_zero(value):
    """Port of Node test/parallel/test-net-isip.js (null, 123, true, {} ...; also
    test-net-isipv4.js and test-net-isipv6.js): anything that is not a string gives 0 / False
    and never raises."""
    assert iotnet.isIP(value) == 0
    assert iotnet.isIPv4(value) is False
    assert iotnet.isIPv6(value) is False


def test_connect_refused_then_destroy_again():
    """Port of Node test/parallel/test-net-socket-destroy-twice.js: connect to a closed port;
    destroy() from the 'error' listener; one 'error' (ConnectionRefusedError, code ECONNREFUSED,
    syscall 'connect', address and port) and one close(True)."""
    errors, closes = [], []

    def connect(port):
        conn = iotnet.createConnection(port, HOST)

        def on_error(err):
            errors.append((err, port))
            conn.destroy()
        conn.on('error', on_error)
        conn.on('close', closes.append)

    with_closed_port(connect)
    run_bounded(10)

    assert len(errors) == 1
    err, port = errors[0]
    assert isinstance(err, ConnectionRefusedError)
    assert err.errno == errno.ECONNREFUSED and err.code == 'ECONNREFUSED'
    assert err.syscall == 'connect'
    assert err.address == HOST and err.port == port
    assert closes == [True]


def test_write_after_close_goes_to_callback_only():
    """Port of Node test/parallel/test-net-write-after-close.js: the server socket writes after
    its 'close' (the peer ended it): the write callback gets the error on a later tick and no
    'error' is emitted (nothing is emitted after 'close')."""
    events = []

    def on_connection(sock):
        sock.on('data', lambda data: None)
        sock.on('error', lambda err: events.append(('error', err)))

        def on_close(had_error):
            events.append(('close', had_error))
            sock.write('test', lambda err: events.append(('write cb', err)))
            events.append('write returned')
            server.close()
        sock.on('close', on_close)

    server = iotnet.createServer(on_connection)
    server.listen(0, HOST, lambda: iotnet.connect(port_of(server), HOST).end())
    run_bounded(10)

    assert [e if isinstance(e, str) else e[0] for e in events] == [
        'close', 'write returned', 'write cb']
    assert events[0] == ('close', False)
    err = events[2][1]
    assert isinstance(err, iotnet.NetError)
    assert err.code in ('ERR_STREAM_WRITE_AFTER_END', 'ERR_STREAM_DESTROYED')


def test_write_after_end_errors_on_a_later_tick():
    """Port of Node test/parallel/test-net-write-after-end-nt.js: write() after end() on an
    open socket returns False; the error (NetError, code ERR_STREAM_WRITE_AFTER_END) reaches the
    write callback and 'error' on a later tick, never inside write(); then close(True)."""
    events = []

    def on_connection(sock):
        sock.on('data', lambda data: None)
        sock.on('error', lambda err: None)
        sock.on('close', lambda had_error: server.close())

    server = iotnet.createServer(on_connection)

    def on_listening():
        def on_connect():
            client.end()
            returned = client.write('hello', lambda err: events.append(('write cb', err)))
            events.append(('write returned', returned))
        client = iotnet.connect(port_of(server), HOST, on_connect)
        client.on('error', lambda err: events.append(('error', err)))
        client.on('close', lambda had_error: events.append(('close', had_error)))

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    names = [e[0] for e in events]
    assert names[0] == 'write returned' and events[0][1] is False
    assert sorted(names[1:3]) == ['error', 'write cb']
    assert events[-1] == ('close', True)
    assert len(events) == 4
    for name, err in events[1:3]:
        assert isinstance(err, iotnet.NetError)
        assert err.code == 'ERR_STREAM_WRITE_AFTER_END'


def test_write_after_destroy():
    """Port of Node test/parallel/test-net-socket-destroy-send.js: destroy() returns the socket,
    also when called twice; a write after it gives its callback a NetError with code
    ERR_STREAM_DESTROYED (as current Node does) and emits no 'error'; close(False) once."""
    events = []
    server = iotnet.createServer()

    def on_listening():
        def on_connect():
            events.append(conn.destroy().destroy() is conn)
            conn.on('error', lambda err: events.append(('error', err)))
            conn.write(b'kaboom', lambda err: events.append(('write cb', err)))
            server.close()
        conn = iotnet.createConnection(port_of(server), HOST)
        conn.on('connect', on_connect)
        conn.on('close', lambda had_error: events.append(('close', had_error)))

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events[0] is True
    assert sorted(e[0] for e in events[1:]) == ['close', 'write cb']
    assert ('close', False) in events
    err = [e[1] for e in events[1:] if e[0] == 'write cb'][0]
    assert isinstance(err, iotnet.NetError) and err.code == 'ERR_STREAM_DESTROYED'


def test_write_callback_when_destroyed_before_connect():
    """Port of Node test/parallel/test-net-write-cb-on-destroy-before-connect.js: a write queued
    while connecting, then destroy(): its callback gets a NetError with code
    ERR_SOCKET_CLOSED_BEFORE_CONNECTION; no 'connect', no 'error'."""
    events = []
    server = iotnet.createServer()

    def on_listening():
        sock = iotnet.Socket()
        sock.on('connect', lambda: events.append('connect'))
        sock.on('error', lambda err: events.append(('error', err)))
        sock.on('close', lambda had_error: events.append(('close', had_error)))
        sock.connect({'port': port_of(server), 'host': HOST})
        events.append(('connecting', sock.connecting))
        sock.write('foo', lambda err: events.append(('write cb', err)))
        sock.destroy()
        server.close()

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events[0] == ('connecting', True)
    assert sorted(e[0] for e in events[1:]) == ['close', 'write cb']
    assert ('close', False) in events
    err = [e[1] for e in events[1:] if e[0] == 'write cb'][0]
    assert isinstance(err, iotnet.NetError)
    assert err.code == 'ERR_SOCKET_CLOSED_BEFORE_CONNECTION'


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


def connect_forms(args, listener=None):
    """createConnection, connect and Socket().connect with args (and listener if given), as
    thunks: with and without a listener, the six ways test-net-connect-options-port.js uses."""
    extra = [listener] if listener else []
    return [
        lambda: iotnet.createConnection(*args, *extra),
        lambda: iotnet.connect(*args, *extra),
        lambda: iotnet.Socket().connect(*args, *extra),
    ]


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
    of the wrong type or out of range fails synchronously (TypeError / ValueError, API.md §5)
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


def test_connect_to_closed_port_errors_in_every_form():
    """Port of Node test/parallel/test-net-connect-options-port.js (asyncFailToConnect): each
    connect form to a port that is closed ends in 'error' with a system error (ECONNREFUSED,
    syscall 'connect') and never runs the connect listener."""
    errors, connects = [], []

    def try_all(port):
        for args in ([port, HOST], [{'port': port, 'host': HOST}]):
            for listener in (None, lambda: connects.append(True)):
                for make in connect_forms(args, listener):
                    make().on('error', errors.append)

    with_closed_port(try_all)
    run_bounded(10)

    assert connects == []
    assert len(errors) == 12
    for err in errors:
        assert isinstance(err, ConnectionRefusedError)
        assert err.code == 'ECONNREFUSED' and err.syscall == 'connect'


def test_bad_local_address_or_port_fails_at_the_call():
    """Port of Node test/parallel/test-net-localerror.js: localAddress 'foobar' (not an IP) is
    a bad value (ValueError; Node's ERR_INVALID_IP_ADDRESS) and localPort 'foobar' a wrong type
    (TypeError), both at the call."""
    with pytest.raises(ValueError):
        iotnet.connect({'host': 'localhost', 'port': 9, 'localAddress': 'foobar'})
    with pytest.raises(TypeError):
        iotnet.connect({'host': 'localhost', 'port': 9, 'localPort': 'foobar'})
    run_bounded(5)


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


def test_address_properties_while_connecting_and_server_closed():
    """Port of Node test/parallel/test-net-during-close.js: remoteAddress, remoteFamily and
    remotePort can be read while the socket is still connecting and the server already closed;
    the client is then destroyed and everything closes."""
    read = []
    server = iotnet.createServer(lambda sock: sock.end())

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST)
        client.on('error', lambda err: None)
        server.close()
        client.remoteAddress
        client.remoteFamily
        client.remotePort
        read.append(True)
        client.destroy()

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert read == [True]

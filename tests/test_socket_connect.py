"""Connecting a net.Socket (docs/reference): the connect forms, 'connect' and 'ready', 'lookup',
reconnecting the same Socket, local and remote addresses, and connect errors (refused, DNS,
bind)."""
import errno
import socket

import pytest

import iotnet
from helpers import (BAD_HOST, DNS_CODES, HAS_IPV6, HOST, assert_error_then_close,
                     connect_forms, listen_local, log_events, port_of, record_error_end_close,
                     run_bounded)


def with_closed_port(callback):
    """Call callback(port) on the loop with a port that was just listening and is now closed."""
    server = iotnet.createServer()

    def on_listening():
        port = port_of(server)
        server.close(lambda *args: callback(port))
    server.listen(0, HOST, on_listening)


# -- connect forms --------------------------------------------------------------------------------

def test_net_connect_module_connect_with_listener():
    """Port of IoT.js test/run_pass/test_net_connect.js: listen() returns the server (chained),
    net.connect(port, host, listener) ends with a message that the half-open server echoes."""
    results = []
    server = iotnet.createServer({'allowHalfOpen': True})

    def on_connection(sock):
        chunks = []
        sock.on('data', chunks.append)
        sock.on('end', lambda: sock.end(b''.join(chunks)))

    def on_listening():
        def on_connect():
            chunks = []
            client.on('data', chunks.append)

            def on_end():
                results.append(b''.join(chunks))
                server.close()
            client.on('end', on_end)
            client.end('Hello IoT.js')
        client = iotnet.connect(server.address()['port'], HOST, on_connect)

    server.on('connection', on_connection)
    assert server.listen(0, HOST, on_listening) is server
    run_bounded(10)

    assert results == [b'Hello IoT.js']


def test_net_3_create_connection_forms_and_drain_driven_writer():
    """Port of IoT.js test/run_pass/test_net_3.js: a server writes 200 one-byte chunks to each
    client, going on at 'drain' whenever write() returns False, then ends; four clients made by
    createConnection(port), ({port}), ({port, host}) and ({port}, connectListener) all get
    the whole stream."""
    limit = 200
    expected = ''.join(str(i % 10) for i in range(limit)).encode()
    messages = {name: [] for name in ('port', 'options', 'options+host', 'options+listener')}
    connect_listener_ran = []
    ended = []
    server = iotnet.createServer()

    def on_connection(sock):
        count = [0]

        def writing():
            ok = True
            while ok:
                ok = sock.write(str(count[0] % 10))
                count[0] += 1
                if count[0] == limit:
                    sock.end()
                    ok = False
        sock.on('drain', writing)
        writing()

    def client_ended(name):
        ended.append(name)
        if len(ended) == len(messages):
            server.close()

    def on_listening():
        port = server.address()['port']
        clients = {
            'port': iotnet.createConnection(port),
            'options': iotnet.createConnection({'port': port}),
            'options+host': iotnet.createConnection({'port': port, 'host': HOST}),
            'options+listener': iotnet.createConnection(
                {'port': port}, lambda: connect_listener_ran.append(True)),
        }
        for name, client in clients.items():
            client.on('data', messages[name].append)
            client.on('end', lambda name=name: client_ended(name))

    server.on('connection', on_connection)
    server.listen({'port': 0}, on_listening)
    run_bounded(10)

    for name, chunks in messages.items():
        assert b''.join(chunks) == expected, name
    assert connect_listener_ran == [True]


def test_connect_port_and_options_forms():
    """Port of Node test/parallel/test-net-connect-options-port.js (canConnect): connect(port),
    connect(port, host), connect({port}) and connect({port, host}), each through
    createConnection, connect and Socket().connect, with and without a connect listener: all
    24 connect, and resume() and on() chain. (A 'data' listener is added to each: the reference holds
    unread bytes until one exists, where Node's resume() alone would discard them.)"""
    connects = []
    server_conns = [0]
    expected = 24

    def on_connection(sock):
        sock.end('ok')
        server_conns[0] += 1
        if server_conns[0] == expected:
            server.close()

    server = iotnet.createServer(on_connection)

    def forms(args):
        def listener():
            connects.append(repr(args))
        return [
            lambda: iotnet.createConnection(*args, listener).resume(),
            lambda: iotnet.createConnection(*args).resume().on('connect', listener),
            lambda: iotnet.connect(*args, listener).resume(),
            lambda: iotnet.connect(*args).resume().on('connect', listener),
            lambda: iotnet.Socket().connect(*args, listener).resume(),
            lambda: iotnet.Socket().connect(*args).resume().on('connect', listener),
        ]

    def on_listening():
        port = port_of(server)
        for args in ([port], [port, 'localhost'], [{'port': port}],
                     [{'port': port, 'host': 'localhost'}]):
            for make in forms(args):
                client = make()
                assert isinstance(client, iotnet.Socket)
                client.on('data', lambda data: None)

    server.listen(0, 'localhost', on_listening)
    run_bounded(10)

    assert len(connects) == expected
    assert server_conns[0] == expected


def test_connecting_pending_ready_state():
    """Port of Node test/parallel/test-net-socket-connecting.js: `connecting` (and `pending`,
    readyState 'opening') right after connect(), all cleared in the connect listener."""
    states = []

    def on_connection(conn):
        conn.end()
        server.close()

    server = iotnet.createServer(on_connection)

    def on_listening():
        def on_connect():
            states.append((client.connecting, client.pending, client.readyState))
            client.end()
        client = iotnet.connect(port_of(server), HOST, on_connect)
        states.append((client.connecting, client.pending, client.readyState))

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert states == [(True, True, 'opening'), (False, False, 'open')]


def test_ready_without_connect_listener():
    """Port of Node test/parallel/test-net-socket-ready-without-cb.js: connect(options) with no
    callback; 'ready' comes after 'connect'."""
    events = []

    def on_connection(conn):
        conn.end()
        server.close()

    server = iotnet.createServer(on_connection)

    def on_listening():
        client = iotnet.Socket()
        client.on('connect', lambda: events.append('connect'))

        def on_ready():
            events.append('ready')
            client.end()
        client.on('ready', on_ready)
        client.connect({'port': port_of(server), 'host': HOST})

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events == ['connect', 'ready']


def test_ready_follows_connect_when_a_connect_listener_destroys_the_socket():
    log = []
    server = iotnet.createServer()

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        log_events(sock, ['connect', 'ready', 'close'], log)
        sock.on('connect', sock.destroy)
        sock.on('close', lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(5)
    assert log == [('connect',), ('ready',), ('close', False)]


def test_connect_family_6_half_open():
    """Port of Node test/parallel/test-net-connect-options-ipv6.js: an allowHalfOpen Socket
    connects with {host: '::1', family: 6}; 'lookup' and the remote are IPv6; after the
    server's FIN the client is still writable ('writeOnly') and ends later."""
    if not HAS_IPV6:
        pytest.skip('no IPv6 loopback')
    seen, server_ends = [], []

    def on_connection(sock):
        sock.on('data', lambda data: None)
        sock.on('end', lambda: server_ends.append(True))
        sock.end()

    server = iotnet.createServer({'allowHalfOpen': True}, on_connection)

    def on_listening():
        def on_connect():
            seen.append((client.remoteAddress, client.remoteFamily))
            client.on('data', lambda data: None)

            def on_end():
                seen.append(client.readyState)
                iotnet.setTimeout(client.end, 10)
            client.on('end', on_end)
            client.on('close', lambda had_error: server.close())
        client = iotnet.Socket({'allowHalfOpen': True})
        client.on('lookup', lambda err, address, family, host: seen.append((address, family)))
        client.connect({'host': '::1', 'port': port_of(server), 'family': 6}, on_connect)

    server.listen(0, '::1', on_listening)
    run_bounded(10)

    assert seen == [('::1', 6), ('::1', 'IPv6'), 'writeOnly']
    assert server_ends == [True]


def test_family_does_not_apply_to_an_ip_literal():
    log = []
    server = iotnet.createServer(lambda s: s.end())

    def on_listening(port):
        sock = iotnet.connect({'host': '127.0.0.1', 'port': port, 'family': 6})
        sock.on('lookup', lambda *args: log.append(('lookup',) + args))
        sock.on('connect', lambda: log.append(('connect',)))
        sock.on('data', lambda c: None)
        sock.on('end', lambda: server.close())

    listen_local(server, on_listening)
    run_bounded(5)
    assert log == [('lookup', None, '127.0.0.1', 4, '127.0.0.1'), ('connect',)]


# -- lookup ---------------------------------------------------------------------------------------

def test_dns_lookup_event_for_host_name():
    """Port of IoT.js test/run_pass/test_dns.js: connecting to "localhost" emits 'lookup' (with
    no error and a resolved address) before the echo exchange completes."""
    lookups, received = [], []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.on('data', lambda data: sock.end('Hello IoT.js'))
        sock.on('close', lambda had_error: server.close())

    def on_listening():
        client = iotnet.Socket()
        client.on('lookup', lambda *args: lookups.append(args))
        client.connect(server.address()['port'], 'localhost')
        client.write('Hello IoT.js')
        client.on('data', received.append)
        client.on('end', client.end)

    server.on('connection', on_connection)
    server.listen(0, on_listening)          # default host: dual stack, so any localhost works
    run_bounded(10)

    assert b''.join(received) == b'Hello IoT.js'
    assert len(lookups) == 1
    err, address, family, host = lookups[0]
    assert err is None
    assert address in ('127.0.0.1', '::1')
    assert family == iotnet.isIP(address)
    assert host == 'localhost'


def test_lookup_event_for_host_name():
    """Port of Node test/parallel/test-net-dns-lookup.js: 'lookup'(err, address, family, host)
    once per connect to 'localhost', with no error."""
    lookups = []
    server = iotnet.createServer(lambda sock: sock.end())

    def on_listening():
        client = iotnet.Socket()
        client.on('lookup', lambda *args: lookups.append(args))
        client.on('close', lambda had_error: server.close())
        client.connect(port_of(server), 'localhost')

    server.listen(0, on_listening)
    run_bounded(10)

    assert len(lookups) == 1
    err, address, family, host = lookups[0]
    assert err is None and host == 'localhost'
    assert address in ('127.0.0.1', '::1') and family == iotnet.isIP(address)


def test_lookup_event_also_for_ip_literal():
    """Port of Node test/parallel/test-net-dns-lookup-skip.js, with the opposite expectation:
    Node skips 'lookup' for an IP literal, but the reference keeps IoT.js's behaviour: 'lookup' is
    emitted once, also for an IP literal."""
    lookups = []
    server = iotnet.createServer(lambda sock: sock.end())

    def on_listening():
        client = iotnet.Socket()
        client.on('lookup', lambda *args: lookups.append(args))
        client.on('close', lambda had_error: server.close())
        client.connect(port_of(server), HOST)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert lookups == [(None, HOST, 4, HOST)]


# -- reconnect and destroy while connecting -------------------------------------------------------

def test_reconnect_same_socket_many_times():
    """Port of Node test/parallel/test-net-reconnect.js (N = 20): one Socket reconnects from its
    'close' N times; every round gets 'hello\\r\\n', an 'end', and close(had_error=False)."""
    n = 20
    recv, ends, client_closes, server_closes = [], [], [], []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.on('data', lambda data: None)
        sock.write('hello\r\n')
        sock.on('end', sock.end)
        sock.on('close', server_closes.append)

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST)
        client.setEncoding('utf8')

        def on_data(chunk):
            recv.append(chunk)
            client.end()

        def on_close(had_error):
            client_closes.append(had_error)
            if len(client_closes) <= n:
                client.connect(port_of(server), HOST)
            else:
                server.close()
        client.on('data', on_data)
        client.on('end', lambda: ends.append(True))
        client.on('close', on_close)

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(20)

    assert recv == ['hello\r\n'] * (n + 1)
    assert ends == [True] * (n + 1)
    assert client_closes == [False] * (n + 1)
    assert server_closes == [False] * (n + 1)


def test_destroy_while_connecting():
    """Port of Node test/parallel/test-net-connect-immediate-destroy.js: destroy() right after
    connect(): no 'connect', no 'error', one close(had_error=False)."""
    events = []
    server = iotnet.createServer()

    def on_listening():
        client = iotnet.connect(port_of(server), HOST, lambda: events.append('connect'))
        client.on('error', lambda err: events.append(('error', err)))
        client.on('close', lambda had_error: events.append(('close', had_error)))
        server.close()
        client.destroy()

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events == [('close', False)]


def test_destroy_during_lookup_then_reconnect_makes_exactly_one_connection():
    """A Socket destroyed while its name lookup runs and connected again from its 'close'
    listener makes one connection: the stale lookup answer connects nothing."""
    accepted = []
    log = []
    server = iotnet.createServer(accepted.append)

    def on_listening(port):
        sock = iotnet.Socket()
        log_events(sock, ['lookup', 'connect', 'close'], log)

        def on_first_close(had_error):
            sock.connect(port, '127.0.0.1', lambda: iotnet.setTimeout(finish, 50, sock))
        sock.once('close', on_first_close)
        sock.connect(port, 'localhost')     # a name: resolved in libuv's thread pool
        sock.destroy()

    def finish(sock):
        sock.destroy()
        for each in accepted:
            each.destroy()
        server.close()

    listen_local(server, on_listening)
    run_bounded(10)
    assert len(accepted) == 1
    assert [entry[0] for entry in log] == ['close', 'lookup', 'connect', 'close']


def test_destroy_then_connect_in_the_same_tick_reconnects():
    """Node 20: the first connection's 'close', then the new connection's events."""
    log = []
    accepted = []
    server = iotnet.createServer(accepted.append)

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        log_events(sock, ['lookup', 'connect', 'ready', 'close'], log)

        def first_connect():
            sock.destroy()
            assert sock.connect(port, '127.0.0.1') is sock
            assert sock.connecting
            sock.once('connect', second_connect)

        def second_connect():
            sock.destroy()
            for each in accepted:
                each.destroy()
            server.close()
        sock.once('connect', first_connect)

    listen_local(server, on_listening)
    run_bounded(5)
    assert [entry[0] for entry in log] == ['lookup', 'connect', 'ready', 'close', 'lookup',
                                           'connect', 'ready', 'close']
    assert len(accepted) == 2


def test_destroy_again_drops_a_connect_asked_for_while_closing():
    log = []
    server = iotnet.createServer()

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        log_events(sock, ['connect', 'close'], log)

        def first_connect():
            sock.destroy()
            sock.connect(port, '127.0.0.1')
            sock.destroy()
            server.close()
        sock.once('connect', first_connect)

    listen_local(server, on_listening)
    run_bounded(5)
    assert log == [('connect',), ('close', False)]


# -- local and remote addresses -------------------------------------------------------------------

def test_local_address_and_port():
    """Port of Node test/parallel/test-net-local-address-port.js: on the accepted socket
    localAddress is 127.0.0.1 and localPort the server's port; the client's localPort is the
    server socket's remotePort."""
    seen = {}
    server = iotnet.createServer()

    def on_connection(sock):
        seen['server'] = (sock.localAddress, sock.localFamily, sock.localPort == port_of(server))
        seen['server remotePort'] = sock.remotePort
        sock.on('end', server.close)
        sock.on('data', lambda data: None)

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST)

        def on_connect():
            seen['client'] = (client.localAddress, client.localFamily)
            seen['client localPort'] = client.localPort
            client.end()
        client.on('connect', on_connect)

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert seen['server'] == ('127.0.0.1', 'IPv4', True)
    assert seen['client'] == ('127.0.0.1', 'IPv4')
    assert seen['client localPort'] == seen['server remotePort']


def test_local_port_across_reconnects():
    """Port of Node test/parallel/test-net-socket-local-address.js: one Socket connects twice;
    its localPort each time equals the remotePort the server saw."""
    client_ports, server_ports = [], []
    client = iotnet.Socket()

    def on_connection(sock):
        server_ports.append(sock.remotePort)
        sock.end()

    server = iotnet.createServer(on_connection)

    def connect(*args):
        if len(client_ports) == 2:
            server.close()
            return
        client.once('close', connect)
        client.connect(port_of(server), HOST, lambda: client_ports.append(client.localPort))

    server.listen(0, HOST, connect)
    run_bounded(10)

    assert len(client_ports) == 2
    assert client_ports == server_ports


def test_remote_address_and_port():
    """Port of Node test/parallel/test-net-remote-address-port.js: remoteAddress, remoteFamily
    and remotePort on both ends (connecting by 'localhost' and by the default host), still
    readable at 'close'."""
    server_seen, client_seen = [], []
    server = iotnet.createServer()
    ends = [0]

    def on_connection(sock):
        server_seen.append((sock.remoteAddress, sock.remoteFamily,
                            sock.remotePort not in (0, None, port_of(server))))

        def on_end():
            ends[0] += 1
            if ends[0] == 2:
                server.close()
        sock.on('end', on_end)
        sock.on('close', lambda had_error: server_seen.append(
            ('close', sock.remoteAddress, sock.remoteFamily)))

    def watch(client):
        def on_connect():
            client_seen.append((client.remoteAddress, client.remoteFamily,
                                client.remotePort == port_of(server)))
            client.end()
        client.on('connect', on_connect)
        client.on('close', lambda had_error: client_seen.append(
            ('close', client.remoteAddress, client.remoteFamily)))

    def on_listening():
        watch(iotnet.createConnection(port_of(server), 'localhost'))
        watch(iotnet.createConnection(port_of(server)))

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert sorted(server_seen, key=repr) == sorted(
        [('127.0.0.1', 'IPv4', True)] * 2 + [('close', '127.0.0.1', 'IPv4')] * 2, key=repr)
    assert sorted(client_seen, key=repr) == sorted(
        [('127.0.0.1', 'IPv4', True)] * 2 + [('close', '127.0.0.1', 'IPv4')] * 2, key=repr)


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


def test_a_local_address_not_on_this_host_emits_lookup_then_a_bind_error():
    log = []
    sock = iotnet.connect({'host': '127.0.0.1', 'port': 9, 'localAddress': '192.0.2.1'})
    log_events(sock, ['lookup', 'error', 'close'], log)
    run_bounded(5)
    assert [entry[0] for entry in log] == ['lookup', 'error', 'close']
    err = log[1][1]
    assert err.code == 'EADDRNOTAVAIL' and err.syscall == 'bind'
    assert err.address == '192.0.2.1'


def test_a_local_port_in_use_gives_a_bind_error_with_address_and_port():
    log = []
    ports = []
    server = iotnet.createServer()

    def on_listening(port):
        ports.append(port)
        sock = iotnet.connect({'host': '127.0.0.1', 'port': port, 'localAddress': '127.0.0.1',
                               'localPort': port})
        sock.on('error', log.append)
        sock.on('close', lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(5)
    err = log[0]
    assert err.code in ('EADDRINUSE', 'EINVAL') and err.syscall == 'bind'
    assert err.address == '127.0.0.1' and err.port == ports[0]


# -- connect errors -------------------------------------------------------------------------------

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
    record_error_end_close(client, events)
    run_bounded(10)
    assert order == ["lookup"]
    assert_error_then_close(events, ("ECONNREFUSED",))
    err = events[0][1]
    assert isinstance(err, ConnectionRefusedError) and err.errno == errno.ECONNREFUSED
    assert (err.syscall, err.address, err.port) == ("connect", "127.0.0.1", port)


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

"""Ports of Node's test/parallel/test-net-*.js about net.Server: listen forms, close, counts,
maxConnections, pauseOnConnect, ref/unref. Each test names the Node file it ports."""
import errno

import iotnet
import pytest

from helpers import run_bounded

HOST = '127.0.0.1'


def port_of(server):
    return server.address()['port']


def test_server_close_comes_after_its_connections_close():
    """Port of Node test/parallel/test-net-server-close.js: close() with two open connections,
    then destroy both; the server's 'close' comes after both connections' 'close' (API.md fixes
    this order), and getConnections counted them (Node checked server.connections)."""
    events, counts, sockets = [], [], []
    server = iotnet.createServer()

    def on_connection(conn):
        conn.on('close', lambda had_error: events.append('client'))
        sockets.append(conn)
        if len(sockets) == 2:
            server.getConnections(lambda err, count: counts.append((err, count)))
            server.close()
            for sock in sockets:
                sock.destroy()

    def on_listening():
        for _ in range(2):
            client = iotnet.createConnection(port_of(server), HOST)
            client.on('error', lambda err: None)     # the peer's destroy may reset

    server.on('connection', on_connection)
    server.on('close', lambda: events.append('server'))
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events == ['client', 'client', 'server']
    assert counts == [(None, 2)]


def test_max_connections_closes_connections_beyond_it():
    """Port of Node test/parallel/test-net-server-max-connections.js (with 6 connections and
    maxConnections 3 instead of 20 and 10): connections beyond maxConnections are closed at once
    and never get data; the first ones get data and close when the server ends them."""
    total, limit = 6, 3
    server = iotnet.createServer()
    server.maxConnections = limit
    accepted, waits, closes = [], [], []
    got_data = {}

    def on_connection(conn):
        accepted.append(conn)
        conn.write('hello')
        waits.append(conn.end)

    def make_connection(index):
        client = iotnet.createConnection(port_of(server), HOST)
        got_data[index] = False

        def on_connect():
            if index + 1 < total:
                make_connection(index + 1)

        def on_close(had_error):
            closes.append(index)
            if len(closes) == total - limit:
                while waits:
                    waits.pop(0)()
                server.close()

        def on_data(chunk):
            got_data[index] = True
        client.on('connect', on_connect)
        client.on('close', on_close)
        client.on('data', on_data)
        client.on('error', lambda err: None)     # a refused extra connection may be reset

    server.on('connection', on_connection)
    server.listen(0, HOST, lambda: make_connection(0))
    run_bounded(10)

    assert server.maxConnections == limit
    assert len(accepted) == limit
    assert got_data == {i: i < limit for i in range(total)}
    assert sorted(closes[:total - limit]) == list(range(limit, total))
    assert sorted(closes) == list(range(total))


def test_listen_forms_all_emit_listening():
    """Port of Node test/parallel/test-net-server-listen-options.js (valid forms): listen(),
    listen(cb), listen(port), listen({port}), listen({port}, cb), listen(port, cb),
    listen(port, host, cb), listen(port, host, backlog, cb) and an options dict with host and
    backlog all listen once; listen() returns the server."""
    listened = []

    def make(name):
        server = iotnet.createServer()

        def on_listening():
            listened.append(name)
            server.close()
        return server, on_listening

    server, cb = make('listen()')
    assert server.listen() is server
    server.on('listening', cb)
    server, cb = make('listen(cb)')
    server.listen(cb)
    server, cb = make('listen(0)')
    server.listen(0)
    server.on('listening', cb)
    server, cb = make('listen({port})')
    server.listen({'port': 0})
    server.on('listening', cb)
    server, cb = make('listen({port}, cb)')
    server.listen({'port': 0}, cb)
    server, cb = make('listen(0, cb)')
    server.listen(0, cb)
    server, cb = make('listen(0, host, cb)')
    server.listen(0, HOST, cb)
    server, cb = make('listen(0, host, backlog, cb)')
    server.listen(0, HOST, 16, cb)
    server, cb = make('listen({port, host, backlog}, cb)')
    server.listen({'port': 0, 'host': HOST, 'backlog': 16}, cb)
    run_bounded(10)

    assert sorted(listened) == sorted([
        'listen()', 'listen(cb)', 'listen(0)', 'listen({port})', 'listen({port}, cb)',
        'listen(0, cb)', 'listen(0, host, cb)', 'listen(0, host, backlog, cb)',
        'listen({port, host, backlog}, cb)'])


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
    123.456 and non-numbers): the call fails with TypeError or ValueError (API.md §5) and leaves
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
    port, raises ValueError (API.md §3) at the call."""
    server = iotnet.createServer()
    with pytest.raises(ValueError):
        server.listen(options, lambda: None)
    assert server.listening is False
    run_bounded(5)


def test_listen_again_after_eaddrinuse_error():
    """Port of Node test/parallel/test-net-server-call-listen-multiple-times.js (first case):
    after a listen 'error' (EADDRINUSE) the same server can listen again right away."""
    events = []
    dummy = iotnet.createServer()
    server = iotnet.createServer()

    def on_listening_again():
        events.append('listening')
        dummy.close()
        server.close()

    def on_error(err):
        events.append(err.code)
        server.listen(0, HOST, on_listening_again)

    server.on('error', on_error)
    dummy.listen(0, HOST, lambda: server.listen(port_of(dummy), HOST))
    run_bounded(10)

    assert events == ['EADDRINUSE', 'listening']


def test_listen_while_listening_raises_already_listen():
    """Port of Node test/parallel/test-net-server-call-listen-multiple-times.js (second case):
    listen() on a listening server raises NetError with code ERR_SERVER_ALREADY_LISTEN, and the
    server keeps its first address."""
    results = []
    server = iotnet.createServer()

    def on_listening():
        port = port_of(server)
        with pytest.raises(iotnet.NetError) as info:
            server.listen(0, HOST)
        results.append(info.value.code)
        results.append(isinstance(info.value, RuntimeError))
        results.append(port_of(server) == port)
        server.close()

    server.on('listening', lambda: results.append('listening'))
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert results == ['listening', 'ERR_SERVER_ALREADY_LISTEN', True, True]


def test_listen_again_right_after_close():
    """Port of Node test/parallel/test-net-server-call-listen-multiple-times.js (third case):
    close() and then listen() at once from the 'listening' callback works."""
    events = []
    server = iotnet.createServer()

    def second():
        events.append('second')
        server.close()

    def first():
        events.append('first')
        server.close()
        server.listen(0, HOST, second)

    server.listen(0, HOST, first)
    run_bounded(10)

    assert events == ['first', 'second']
    assert server.listening is False


def test_listening_property_and_close_when_not_running():
    """Port of Node test/parallel/test-net-listening.js: `listening` is False before listen,
    True in the listen callback and False in the close callback. Extended with API.md §3: a
    close(callback) on a server that is not listening gives the callback an error with code
    ERR_SERVER_NOT_RUNNING."""
    states, errors = [], []
    server = iotnet.createServer()
    states.append(server.listening)

    def on_closed(*args):
        states.append(server.listening)
        server.close(lambda *args: errors.extend(args))

    def on_listening():
        states.append(server.listening)
        server.close(on_closed)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert states == [False, True, False]
    assert len(errors) == 1
    assert isinstance(errors[0], iotnet.NetError)
    assert errors[0].code == 'ERR_SERVER_NOT_RUNNING'


def test_unrefd_server_does_not_keep_run_going():
    """Port of Node test/parallel/test-net-server-unref.js: a listening server that is unref'd
    does not keep run() going (a hang fails the bounded run); ref() is back afterwards."""
    server = iotnet.createServer()
    server.listen(0, HOST)
    assert server.unref() is server
    run_bounded(5)

    assert server.listening is True
    assert server.ref() is server
    server.close()
    run_bounded(5)
    assert server.listening is False


def test_listen_then_close_at_once():
    """Port of Node test/parallel/test-net-listen-close-server.js: listen(0, cb) followed at
    once by close(): neither the listen callback nor 'error' runs, and run() returns."""
    events = []
    server = iotnet.createServer(lambda sock: events.append('connection'))
    server.listen(0, HOST, lambda: events.append('listening'))
    server.on('error', lambda err: events.append(('error', err)))
    server.close()
    run_bounded(5)

    assert 'listening' not in events
    assert not [e for e in events if isinstance(e, tuple)]
    assert server.listening is False


def test_listen_callback_runs_once_per_listen():
    """Port of Node test/parallel/test-net-server-listen-remove-callback.js: the listen callback
    is a one-shot 'listening' listener: none are left at 'close', and a second listen() with a
    new callback runs only that one."""
    calls = []
    server = iotnet.createServer()

    def first():
        calls.append('listen1')
        server.close()

    def second():
        calls.append('listen2')
        server.close()

    server.on('close', lambda: calls.append(('close', server.listenerCount('listening'))))
    server.listen(0, HOST, first)
    server.once('close', lambda: server.listen(0, HOST, second))
    run_bounded(10)

    assert calls == ['listen1', ('close', 0), 'listen2', ('close', 0)]


def test_pause_on_connect_holds_data_until_resume():
    """Port of Node test/parallel/test-net-server-pause-on-connect.js: with pauseOnConnect the
    accepted socket reads nothing (bytesRead stays 0) until resume(); a server without it gets
    its data at once."""
    events = []
    stopped = [True]
    paused_socks = []

    def on_server1(sock):
        paused_socks.append(sock)

        def on_data(data):
            events.append(('server1 data', data, stopped[0]))
            sock.end()
            server1.close()
        sock.on('data', on_data)

    def on_server2(sock):
        def on_data(data):
            events.append(('server2 data', data, paused_socks[0].bytesRead))
            sock.end()
            server2.close()
            stopped[0] = False
            paused_socks[0].resume()
        sock.on('data', on_data)

    server1 = iotnet.createServer({'pauseOnConnect': True}, on_server1)
    server2 = iotnet.createServer({'pauseOnConnect': False}, on_server2)

    def start_server2(err):
        server2.listen(0, HOST, lambda: iotnet.createConnection(
            {'port': port_of(server2), 'host': HOST}).write('test'))

    server1.listen(0, HOST, lambda: iotnet.createConnection(
        {'port': port_of(server1), 'host': HOST}).write('test', start_server2))
    run_bounded(10)

    assert events == [('server2 data', b'test', 0), ('server1 data', b'test', False)]


def test_paused_client_and_unrefd_server_let_run_return():
    """Port of Node test/parallel/test-net-connect-paused-connection.js: with the server and its
    accepted socket unref'd, a connected but paused client does not keep run() going."""
    accepted, clients = [], []

    def on_connection(conn):
        conn.unref()
        accepted.append(conn)

    server = iotnet.createServer(on_connection)
    server.listen(0, HOST, lambda: clients.append(
        iotnet.connect(port_of(server), 'localhost').pause()))
    server.unref()
    run_bounded(5)

    assert len(clients) == 1 and clients[0].destroyed is False
    for sock in clients + accepted:
        sock.destroy()
    server.close()
    run_bounded(5)


def test_socket_timeouts_do_not_hold_unrefd_sockets():
    """Port of Node test/parallel/test-net-socket-timeout-unref.js: unref'd sockets with pending
    2..8 s timeouts do not keep run() going, and no 'timeout' fires."""
    accepted, clients, timeouts = [], [], []

    def on_connection(conn):
        conn.write('hello')
        conn.unref()
        accepted.append(conn)

    server = iotnet.createServer(on_connection)

    def on_listening():
        for seconds in (8, 5, 3, 6, 2, 4):
            sock = iotnet.createConnection(port_of(server), 'localhost')
            sock.setTimeout(seconds * 1000, lambda: timeouts.append(True))
            sock.unref()
            clients.append(sock)

    server.listen(0, HOST, on_listening)
    server.unref()
    run_bounded(1.5)

    assert timeouts == []
    assert len(clients) == 6
    for sock in clients + accepted:
        sock.destroy()
    server.close()
    run_bounded(5)
    assert timeouts == []


def test_connection_count_back_to_zero_after_peer_destroys_mid_transfer():
    """Port of Node test/parallel/test-net-stream.js (the server part, with 4 x 1 MB instead of
    10 x 2 MB): the peer destroys while the server still has writes queued; the server socket
    closes (an 'error' first if the kernel reports one) and the connection count is 0 at the
    server's 'close' (Node checked server.connections at exit)."""
    size, count = 1_000_000, 4
    buf = b'a' * size
    errors, closes, counts = [], [], []

    def on_connection(sock):
        sock.setNoDelay()
        sock.on('error', errors.append)

        def on_close(had_error):
            closes.append(had_error)
            server.close()
        sock.on('close', on_close)
        for _ in range(count):
            sock.write(buf)
        sock.end()

    server = iotnet.createServer(on_connection)
    server.on('close', lambda: server.getConnections(lambda err, n: counts.append((err, n))))

    def on_listening():
        conn = iotnet.connect(port_of(server), HOST)

        def on_data(chunk):
            conn.pause()
            iotnet.setTimeout(conn.destroy, 20)
        conn.on('data', on_data)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert closes == [bool(errors)]
    assert len(errors) <= 1
    for err in errors:
        assert isinstance(err, OSError) and err.errno in (errno.EPIPE, errno.ECONNRESET)
    assert counts == [(None, 0)]

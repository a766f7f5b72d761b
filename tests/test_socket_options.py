"""A socket's settings and properties (docs/reference): setTimeout and 'timeout', keep-alive and
no-delay, ref/unref, readyState and the flags, the byte counters, and the snake_case aliases of
every camelCase name."""
import iotnet
import pytest

from helpers import HOST, listen_local, port_of, record, run_bounded


def _camel_to_snake(name):
    return ''.join('_' + c.lower() if c.isupper() else c for c in name)


# -- timeouts -------------------------------------------------------------------------------------

def test_net_5_activity_rearms_the_timeout():
    """Port of IoT.js test/run_pass/test_net_5.js: the server sets a socket timeout; the client
    writes before it expires; when 'timeout' comes the data has arrived, and the server ends."""
    seen_at_timeout, timeouts = [], []
    server = iotnet.createServer()

    def on_connection(sock):
        received = []

        def on_timeout():
            timeouts.append(True)
            seen_at_timeout.append(b''.join(received))
            sock.end()
        sock.setTimeout(500, on_timeout)
        sock.on('data', received.append)
        sock.on('close', lambda had_error: server.close())

    def on_listening():
        client = iotnet.Socket()
        client.connect(server.address()['port'], HOST)
        client.on('end', client.end)
        client.on('connect', lambda: iotnet.setTimeout(client.write, 50, 'Hello IoT.js'))

    server.on('connection', on_connection)
    server.listen(0, HOST, 5, on_listening)
    run_bounded(10)

    assert timeouts == [True]
    assert seen_at_timeout == [b'Hello IoT.js']


def test_net_10_idle_timeout_then_destroy_both_sides():
    """Port of IoT.js test/run_pass/test_net_10.js: backlog 1; the accepted socket gets a
    timeout; on 'timeout' both sockets are destroyed and the server closed; no 'error'."""
    events = []
    server = iotnet.createServer()
    clients = []

    def on_connection(sock):
        events.append('connection')
        sock.on('error', lambda err: events.append(('server socket error', err)))
        sock.setTimeout(100)

        def on_timeout():
            events.append('timeout')
            sock.destroy()
            clients[0].destroy()
            server.close()
        sock.on('timeout', on_timeout)

    def on_listening():
        client = iotnet.createConnection(server.address()['port'], HOST)
        client.on('error', lambda err: events.append(('client error', err)))
        clients.append(client)

    server.on('connection', on_connection)
    server.listen(0, HOST, 1, on_listening)
    run_bounded(10)

    assert events == ['connection', 'timeout']


def test_settimeout_then_disable():
    """Port of Node test/parallel/test-net-settimeout.js: setTimeout(T, cb) returns the socket,
    and setTimeout(0) right after turns it off: no 'timeout' within 2 T."""
    timeouts, returned = [], []
    server = iotnet.createServer(lambda conn: conn.write('hello'))

    def on_listening():
        client = iotnet.createConnection(port_of(server), 'localhost')
        client.on('data', lambda data: None)
        returned.append(client.setTimeout(100, lambda: timeouts.append(True)) is client)
        client.setTimeout(0)

        def finish():
            client.destroy()
            server.close()
        iotnet.setTimeout(finish, 200)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert returned == [True]
    assert timeouts == []


def test_socket_timeout_fires_once_and_chains():
    """Port of Node test/parallel/test-net-socket-timeout.js (the connection part): setTimeout(1,
    cb) returns the socket; the callback runs once; after destroy() setTimeout still returns the
    socket and never fires."""
    events = []
    server = iotnet.createServer()

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST)

        def on_timeout():
            events.append('timeout')
            client.destroy()
            events.append(client.setTimeout(1, lambda: events.append('late timeout')) is client)
            server.close()
        events.append(client.setTimeout(1, on_timeout) is client)
        client.on('error', lambda err: events.append(('error', err)))

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events == [True, 'timeout', True]


def test_write_from_timeout_rearms_it():
    """Port of Node test/parallel/test-net-can-reset-timeout.js: a write from the 'timeout'
    listener is activity; the peer answers by ending and the connection closes before a second
    'timeout'."""
    timeouts = []
    server = iotnet.createServer()

    def on_connection(stream):
        stream.setTimeout(200)
        stream.on('data', lambda data: None)

        def on_timeout():
            timeouts.append(True)
            stream.write('WHAT.')
        stream.on('timeout', on_timeout)
        stream.on('end', stream.end)

    def on_listening():
        c = iotnet.createConnection(port_of(server), HOST)
        c.on('data', lambda data: c.end())
        c.on('end', server.close)

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert timeouts == [True]


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
    # Not bounded by the shortest timeout (2 s): a run() held by the timeouts would show in
    # `timeouts`, and a tighter bound only fails a slow machine.
    run_bounded(10)

    assert timeouts == []
    assert len(clients) == 6
    for sock in clients + accepted:
        sock.destroy()
    server.close()
    run_bounded(5)
    assert timeouts == []


# -- keep-alive and no-delay ----------------------------------------------------------------------

def test_node_keepalive_on_accepted_socket():
    """Port of IoT.js test/node/parallel/test-net-keepalive.js: setTimeout(0) and
    setKeepAlive(True, 50) on the accepted socket (both chain), the client sets setTimeout(0);
    after 100 ms both ends end and everything closes without 'timeout' or 'error'."""
    events = []
    server = iotnet.createServer()
    clients = []

    def on_connection(conn):
        assert conn.setTimeout(0) is conn
        assert conn.setKeepAlive(True, 50) is conn
        conn.on('end', conn.end)
        record(conn, events, names=('timeout', 'error'))
        conn.on('close', lambda had_error: events.append(('server close', had_error)))

        def finish():
            conn.end()
            clients[0].end()
            server.close()
        iotnet.setTimeout(finish, 100)

    def on_listening():
        client = iotnet.createConnection(server.address()['port'], HOST)
        client.setTimeout(0)
        record(client, events, names=('timeout', 'error'))
        client.on('close', lambda had_error: events.append(('client close', had_error)))
        clients.append(client)

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert sorted(events) == [('client close', False), ('server close', False)]


def test_keep_alive_and_no_delay_options_reach_the_socket():
    seen = []
    server = iotnet.createServer({"keepAlive": True, "keepAliveInitialDelay": 3000,
                                  "noDelay": True})

    def on_connection(sock):
        seen.append("server")
        sock.end()

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect({"port": port, "host": "127.0.0.1", "keepAlive": True,
                                 "noDelay": True})
        assert client.setKeepAlive(True, 0) is client     # 0 keeps the system's idle time
        assert client.setNoDelay() is client
        client.resume()
        client.on("close", lambda had_error: (seen.append(("client", had_error)),
                                              server.close()))

    listen_local(server, on_listening)
    run_bounded(10)
    assert seen == ["server", ("client", False)]


# -- ref and unref --------------------------------------------------------------------------------

def test_unref_then_ref_keeps_run_going():
    """Port of Node test/parallel/test-net-persistent-ref-unref.js: unref() then ref() before
    connect(): the socket keeps run() going until the server's 'end' arrives (the server itself
    is unref'd here, so only the socket can keep run() going)."""
    ends = []
    server = iotnet.createServer(lambda conn: conn.end())

    def on_listening():
        sock = iotnet.Socket()
        assert sock.unref() is sock
        assert sock.ref() is sock
        sock.connect(port_of(server), HOST)

        def on_end():
            ends.append(True)
            server.close()
        sock.on('end', on_end)

    server.listen(0, HOST, on_listening)
    server.unref()
    run_bounded(10)

    assert ends == [True]
    server.close()
    run_bounded(5)


# -- readyState, flags and byte counters ----------------------------------------------------------

def test_ready_state_and_flags_through_a_connection_life():
    states = []
    server = iotnet.createServer({"allowHalfOpen": True})

    def on_connection(sock):
        sock.resume()
        sock.on("end", lambda: iotnet.setTimeout(sock.end, 20))

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.Socket({"allowHalfOpen": True})
        states.append(("new", client.readyState, client.pending, client.connecting))
        client.connect(port, "127.0.0.1")
        states.append(("connecting", client.readyState, client.pending, client.connecting))

        def on_connect():
            states.append(("open", client.readyState, client.pending, client.connecting))
            client.end()
            states.append(("ended", client.readyState))

        client.on("connect", on_connect)
        client.on("end", lambda: states.append(("peer-ended", client.readyState)))
        client.resume()
        client.on("close", lambda had_error: (states.append(("closed", client.readyState,
                                                              client.destroyed)),
                                              server.close()))

    listen_local(server, on_listening)
    run_bounded(10)
    assert states == [
        ("new", "closed", True, False),
        ("connecting", "opening", True, True),
        ("open", "open", False, False),
        ("ended", "readOnly"),
        ("peer-ended", "closed"),
        ("closed", "closed", True),
    ]


def test_node_after_close_methods_still_callable():
    """Port of IoT.js test/node/parallel/test-net-after-close.js: after 'close', setKeepAlive,
    pause, resume, address, remoteAddress and remotePort do not raise (and the methods still
    return the socket, as the reference says)."""
    checked = []
    server = iotnet.createServer(lambda sock: sock.end())

    def on_listening():
        client = iotnet.createConnection(server.address()['port'], HOST)

        def on_close(had_error):
            assert client.setKeepAlive() is client
            assert client.pause() is client
            assert client.resume() is client
            client.address()
            client.remoteAddress
            client.remotePort
            checked.append(had_error)
            server.close()
        client.on('close', on_close)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert checked == [False]


def test_bytes_stats_reset_on_reconnect():
    """Port of Node test/parallel/test-net-bytes-stats.js: write('foo', cb) then end('bar');
    bytesWritten at 'finish' and the server's bytesRead at 'end' are 6 for each of two
    connections of the same Socket (the counters start from zero on reconnect)."""
    bytes_read, bytes_written, connects = [], [], []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.on('data', lambda data: None)
        sock.on('end', lambda: bytes_read.append(sock.bytesRead))

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST)

        def on_connect():
            connects.append(True)
            client.write('foo', lambda err: client.end('bar'))

        def on_close(had_error):
            if len(connects) < 2:
                client.connect(port_of(server), HOST)
            else:
                server.close()
        client.on('connect', on_connect)
        client.on('finish', lambda: bytes_written.append(client.bytesWritten))
        client.on('close', on_close)

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert bytes_read == [6, 6]
    assert bytes_written == [6, 6]


def test_bytes_read_grows_with_each_chunk():
    """Port of Node test/parallel/test-net-bytes-read.js: while 1 MiB arrives, bytesRead grows
    at every 'data' and equals 1 MiB at 'end' and at 'close'."""
    big = bytes(1024 * 1024)
    seen, at_end, at_close = [], [], []

    def on_connection(sock):
        sock.end(big)
        server.close()

    server = iotnet.createServer(on_connection)

    def on_listening():
        client = iotnet.connect(port_of(server), HOST)
        client.on('data', lambda chunk: seen.append(client.bytesRead))
        client.on('end', lambda: at_end.append(client.bytesRead))
        client.on('close', lambda had_error: at_close.append(client.bytesRead))
        client.end()

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert seen == sorted(set(seen))
    assert seen[-1] == len(big)
    assert at_end == [len(big)]
    assert at_close == [len(big)]


def test_bytes_written_counts_encoded_bytes():
    """Port of Node test/parallel/test-net-socket-byteswritten.js: 'one' and 'tw\u00f8' (utf8,
    4 bytes) written while connecting make bytesWritten 7 (Node's cork/writev case)."""
    values = []
    server = iotnet.createServer(lambda sock: sock.end())

    def on_listening():
        client = iotnet.connect(port_of(server), HOST)
        client.write('one')
        client.write('tw\u00f8'.encode('utf8'))

        def on_end():
            values.append(client.bytesWritten)
            server.close()
        client.on('end', on_end)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert values == [7]


def test_bytes_written_counts_bytes_queued_before_connect():
    seen = []
    server = iotnet.createServer(lambda s: (s.on('data', lambda c: None), s.on('end', s.end)))

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        sock.write(b'hello')
        seen.append(sock.bytesWritten)
        sock.on('connect', lambda: seen.append(sock.bytes_written))
        sock.end()
        sock.on('data', lambda c: None)
        sock.on('close', lambda had_error: (seen.append(sock.bytesWritten), server.close()))

    listen_local(server, on_listening)
    run_bounded(5)
    assert seen == [5, 5, 5]


# -- aliases --------------------------------------------------------------------------------------

def test_pep8_aliases_are_the_same_objects():
    assert iotnet.create_server is iotnet.createServer
    assert iotnet.create_connection is iotnet.createConnection is iotnet.connect
    assert iotnet.is_ip is iotnet.isIP and iotnet.is_ipv6 is iotnet.isIPv6
    S = iotnet.Socket
    assert S.set_keep_alive is S.setKeepAlive and S.set_no_delay is S.setNoDelay
    assert S.set_encoding is S.setEncoding and S.set_timeout is S.setTimeout
    assert S.destroy_soon is S.destroySoon
    assert iotnet.Server.get_connections is iotnet.Server.getConnections


def test_snake_case_option_names_are_accepted():
    server = iotnet.createServer(allow_half_open=True, pause_on_connect=True)
    sock = iotnet.Socket({"allow_half_open": True, "high_water_mark": 1024})
    assert sock.allowHalfOpen is True
    server.close()
    run_bounded(5)


@pytest.mark.parametrize('cls', [iotnet.Socket, iotnet.Server, iotnet.EventEmitter])
def test_every_camel_case_attribute_has_its_snake_case_alias_as_the_same_object(cls):
    camel = [name for name in dir(cls)
             if not name.startswith('_') and name != name.lower() and name[0].islower()]
    assert camel
    missing = [name for name in camel if _camel_to_snake(name) not in dir(cls)]
    assert missing == []
    for name in camel:
        assert cls.__dict__.get(name, getattr(cls, name)) is not None
        assert getattr(cls, _camel_to_snake(name)) is getattr(cls, name), name


def test_properties_read_the_same_through_both_names():
    server = iotnet.createServer()
    seen = {}

    def on_connection(sock):
        for name in ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress',
                     'localPort', 'localFamily', 'bytesRead', 'bytesWritten', 'writableLength',
                     'readyState', 'allowHalfOpen']:
            seen[name] = (getattr(sock, name), getattr(sock, _camel_to_snake(name)))
        sock.end()
        server.close()
    server.on('connection', on_connection)
    listen_local(server, lambda port: iotnet.connect(port, '127.0.0.1').on('end', lambda: None))
    run_bounded(5)
    assert seen and all(a == b for a, b in seen.values()), seen
    assert seen['remoteAddress'][0] == '127.0.0.1' and seen['readyState'][0] == 'open'


@pytest.mark.parametrize('cls', [iotnet.Socket, iotnet.Server, iotnet.Timer, iotnet.Immediate,
                                 iotnet.EventEmitter])
def test_public_classes_show_no_internal_names(cls):
    """The core's internals are C methods and C tick entries: nothing with a leading underscore
    (but Python's own dunder names) is reachable from a public class."""
    assert [name for name in dir(cls) if name.startswith('_') and not name.startswith('__')] == []

"""Ports of Node's test/parallel/test-net-*.js about net.Socket: data flow and encodings,
half-open, pause/resume, timeouts, counters, addresses, connect forms, ref/unref.
Each test names the Node file it ports."""
import socket

import iotnet
import pytest

from helpers import run_bounded

HOST = '127.0.0.1'


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(('::1', 0))
        return True
    except OSError:
        return False


HAS_IPV6 = _has_ipv6_loopback()


def port_of(server):
    return server.address()['port']


@pytest.mark.parametrize('host', ['127.0.0.1', 'localhost', '::1'])
def test_pingpong(host):
    """Port of Node test/parallel/test-net-pingpong.js (N = 100, over 127.0.0.1, localhost and
    ::1): one PING in flight at a time, each answered by PONG; the last PING goes with end();
    the allowHalfOpen server is 'writeOnly' at its 'end' and ends then; the client is 'readOnly'
    after its end(). setEncoding gives str chunks."""
    if host == '::1' and not HAS_IPV6:
        pytest.skip('no IPv6 loopback')
    n = 100
    pings, pongs, pongs_flushed, states, closes = [], [], [], [], []
    server = iotnet.createServer({'allowHalfOpen': True})

    def on_connection(sock):
        states.append(('server allowHalfOpen', sock.allowHalfOpen))
        sock.setNoDelay()
        sock.setEncoding('utf8')

        def on_data(data):
            pings.append(data)
            sock.write('PONG', lambda err: pongs_flushed.append(err))

        def on_end():
            states.append(('server at end', sock.readyState))
            sock.end()
        sock.on('data', on_data)
        sock.on('end', on_end)
        sock.on('close', lambda had_error: server.close())

    def on_listening():
        client = iotnet.createConnection(port_of(server), host)
        client.setEncoding('ascii')
        client.on('connect', lambda: client.write('PING'))

        def on_data(data):
            pongs.append(data)
            if len(pongs) < n:
                client.write('PING')
            elif len(pongs) == n:
                client.write('PING')
                client.end()
                states.append(('client after end', client.readyState))
        client.on('data', on_data)
        client.on('close', closes.append)

    server.on('connection', on_connection)
    server.listen(0, host, on_listening)
    run_bounded(20)

    assert pings == ['PING'] * (n + 1)
    assert pongs == ['PONG'] * (n + 1)
    assert pongs_flushed == [None] * (n + 1)
    assert closes == [False]
    assert states == [('server allowHalfOpen', True), ('client after end', 'readOnly'),
                      ('server at end', 'writeOnly')]


def test_large_string_with_split_multibyte_characters():
    """Port of Node test/parallel/test-net-large-string.js: 40 Ki three-byte characters written
    as one str; the receiver's setEncoding('utf8') delivers exactly 40 Ki characters (none
    broken at a read boundary)."""
    data = '\u3042' * (40 * 1024)
    received = []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.setEncoding('utf8')
        sock.on('data', received.append)
        sock.on('end', sock.end)

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST)
        client.on('end', server.close)
        client.write(data, 'utf-8')
        client.end()

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert all(isinstance(chunk, str) for chunk in received)
    assert sum(len(chunk) for chunk in received) == 40 * 1024
    assert ''.join(received) == data


def test_binary_latin1_echo():
    """Port of Node test/parallel/test-net-binary.js: all 256 latin1 characters (reversed) go
    through a latin1 echo server, then one by one in order; what comes back is both sequences."""
    binary = ''.join(chr(i) for i in range(255, -1, -1))
    recv = []
    server = iotnet.createServer()

    def on_connection(conn):
        conn.setEncoding('latin1')
        conn.on('data', lambda chunk: conn.write(chunk, 'latin1'))
        conn.on('end', conn.end)

    def on_listening():
        c = iotnet.createConnection({'port': port_of(server), 'host': HOST})
        c.setEncoding('latin1')
        sent = [0]

        def on_data(chunk):
            n = sent[0] + len(chunk)
            if sent[0] < 256:
                while sent[0] < n and sent[0] < 256:
                    c.write(chr(sent[0]), 'latin1')
                    sent[0] += 1
                if sent[0] == 256:
                    c.end()
            recv.append(chunk)
        c.on('data', on_data)
        c.on('connect', lambda: c.write(binary, 'latin1'))
        c.on('close', lambda had_error: server.close())

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    text = ''.join(recv)
    assert len(text) == 2 * 256
    assert text[:256] == binary
    assert text[256:] == binary[::-1]


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


def test_allow_half_open_false_shuts_down_properly():
    """Port of Node test/parallel/test-net-allow-half-open.js: with allowHalfOpen False the
    client, after the server's end(data), is not destroyed at 'end' (nor on the next tick) nor
    at 'finish': it ends its side first; the order is 'end', 'finish', 'close'."""
    events, later = [], []

    def on_connection(sock):
        sock.end(bytes(1024))

    server = iotnet.createServer(on_connection)

    def on_listening():
        client = iotnet.connect(port_of(server), HOST)
        events.append(('allowHalfOpen', client.allowHalfOpen))
        client.on('data', lambda data: None)

        def on_end():
            events.append(('end', client.destroyed))

            def next_tick():
                later.append(client.destroyed)
                server.close()
            iotnet.nextTick(next_tick)
        client.on('end', on_end)
        client.on('finish', lambda: events.append(('finish', client.destroyed)))
        client.on('close', lambda had_error: events.append(('close', had_error)))

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events == [('allowHalfOpen', False), ('end', False), ('finish', False),
                      ('close', False)]
    assert later == [False]


def test_connect_options_allow_half_open():
    """Port of Node test/parallel/test-net-connect-options-allowhalfopen.js: six ways of
    connecting with allowHalfOpen True; after the server's FIN each client is 'writeOnly',
    write() still succeeds and reaches the server, then end() closes both sides."""
    variants = 6
    server_data, write_results, states, closes = {}, [], [], []
    server_ends = [0]
    server = iotnet.createServer({'allowHalfOpen': True})

    def on_connection(sock):
        chunks = server_data.setdefault(len(server_data), [])
        sock.on('data', chunks.append)

        def on_end():
            server_ends[0] += 1
            if server_ends[0] == variants:
                server.close()
        sock.on('end', on_end)
        sock.end()

    def watch(client, index):
        def on_end():
            states.append(client.readyState)

            def write_later():
                write_results.append(client.write(str(index)))
                client.end()
            iotnet.setTimeout(write_later, 10)
        client.on('data', lambda data: None)
        client.on('end', on_end)
        client.on('close', lambda had_error: closes.append((index, had_error)))

    def on_listening():
        opts = {'allowHalfOpen': True, 'host': HOST, 'port': port_of(server)}
        plain = {'host': HOST, 'port': port_of(server)}
        clients = {}
        clients[1] = iotnet.connect(opts, lambda: watch(clients[1], 1))
        clients[2] = iotnet.connect(opts)
        clients[2].on('connect', lambda: watch(clients[2], 2))
        clients[3] = iotnet.createConnection(opts, lambda: watch(clients[3], 3))
        clients[4] = iotnet.createConnection(opts)
        clients[4].on('connect', lambda: watch(clients[4], 4))
        clients[5] = iotnet.Socket({'allowHalfOpen': True})
        clients[5].connect(plain, lambda: watch(clients[5], 5))
        clients[6] = iotnet.Socket({'allowHalfOpen': True})
        clients[6].connect(plain)
        clients[6].on('connect', lambda: watch(clients[6], 6))
        for client in clients.values():
            assert client.allowHalfOpen is True

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert states == ['writeOnly'] * variants
    assert write_results == [True] * variants
    assert sorted(b''.join(chunks) for chunks in server_data.values()) == [
        str(i).encode() for i in range(1, variants + 1)]
    assert sorted(closes) == [(i, False) for i in range(1, variants + 1)]


def test_pause_resume_before_connect():
    """Port of Node test/parallel/test-net-pause-resume-connecting.js: pause()/resume() called
    while connecting; the last call wins: resumed clients get data, paused ones get none until
    the teardown after 100 ms swaps their 'data' listener and resumes them."""
    got_data = set()
    clients = {}
    connections = [0]

    def on_connection(conn):
        connections[0] += 1
        conn.end('This was the year he fell to pieces.')
        if connections[0] == 5:
            server.close()

    server = iotnet.createServer(on_connection)

    def teardown():
        for i in (3, 5):
            clients[i].removeAllListeners('data')
            clients[i].on('data', lambda data: None)
            clients[i].resume()

    def on_listening():
        for i in range(1, 6):
            clients[i] = iotnet.createConnection(port_of(server), HOST)
        clients[1].resume()
        clients[2].pause().resume()
        clients[3].pause()
        clients[4].resume().pause().resume()
        clients[5].resume().resume().pause()
        for i, client in clients.items():
            client.on('data', lambda data, i=i: got_data.add(i))
        iotnet.setTimeout(teardown, 100)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert connections[0] == 5
    assert got_data == {1, 2, 4}


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


def test_write_slow_reader():
    """Port of Node test/parallel/test-net-write-slow.js: ten 200 kB writes (callbacks counted)
    and end() to a reader that pauses 20 ms after every chunk; everything arrives, every write
    callback runs, and the 1 s idle timeout never fires."""
    size, n = 200_000, 10
    buf = b'a' * size
    flushed, received, timeouts = [], [0], []

    def on_connection(sock):
        sock.setNoDelay()
        sock.setTimeout(1000)
        sock.on('timeout', lambda: timeouts.append(received[0]))

        def on_flushed(err):
            flushed.append(err)
            if len(flushed) == n:
                sock.setTimeout(0)
        for _ in range(n):
            sock.write(buf, on_flushed)
        sock.end()

    server = iotnet.createServer(on_connection)

    def on_listening():
        conn = iotnet.connect(port_of(server), HOST)

        def on_data(chunk):
            received[0] += len(chunk)
            conn.pause()
            iotnet.setTimeout(conn.resume, 20)
        conn.on('data', on_data)
        conn.on('end', server.close)

    server.listen(0, HOST, on_listening)
    run_bounded(30)

    assert received[0] == size * n
    assert flushed == [None] * n
    assert timeouts == []


def test_writable_length_counts_queued_bytes():
    """Port of Node test/parallel/test-net-buffersize.js: writes made while connecting are
    queued: writableLength (Node's bufferSize) counts them one by one, and is 0 at 'finish'."""
    lengths, at_finish = [], []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.on('data', lambda data: None)
        sock.on('end', server.close)

    def on_listening():
        client = iotnet.connect(port_of(server), HOST)
        client.on('finish', lambda: at_finish.append(client.writableLength))
        for _ in range(1, 10):
            client.write('a')
            lengths.append(client.writableLength)
        client.end()

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert lengths == list(range(1, 10))
    assert at_finish == [0]


def test_write_from_end_listener_before_auto_end():
    """Port of Node test/parallel/test-net-writable.js: with allowHalfOpen False the socket ends
    its side only after the 'end' listeners; a write made from 'end' still goes out."""
    server_received, write_errors, client_errors = [], [], []

    def on_connection(sock):
        server.close()
        sock.on('data', server_received.append)
        sock.end()

    server = iotnet.createServer(on_connection)

    def on_listening():
        client = iotnet.connect(port_of(server), 'localhost')
        client.on('end', lambda: client.write('hello world', write_errors.append))
        client.on('error', client_errors.append)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert b''.join(server_received) == b'hello world'
    assert write_errors == [None]
    assert client_errors == []


def test_not_destroyed_at_end():
    """Port of Node test/parallel/test-net-end-destroyed.js: after our own end(), the peer's
    FIN gives 'end' while the socket is not yet destroyed."""
    seen = []
    server = iotnet.createServer(lambda sock: seen.append('connection'))

    def on_listening():
        client = iotnet.createConnection({'port': port_of(server), 'host': HOST})

        def on_connect():
            def on_end():
                seen.append(('destroyed at end', client.destroyed))
                server.close()
            client.on('end', on_end)
            client.end()
        client.on('connect', on_connect)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert seen == ['connection', ('destroyed at end', False)]


def test_end_is_emitted_before_close_when_reading_late():
    """Port of Node test/parallel/test-net-socket-close-after-end.js: both sides end('foo');
    the server reads only 100 ms later (paused until then), and still gets 'end' before
    'close'."""
    events = []

    def on_connection(sock):
        sock.pause()
        iotnet.setTimeout(sock.resume, 100)
        sock.on('data', lambda data: events.append(('data', data)))
        sock.on('end', lambda: events.append('end'))

        def on_close(had_error):
            events.append(('close', had_error))
            server.close()
        sock.on('close', on_close)
        sock.end('foo')

    server = iotnet.createServer(on_connection)

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST, lambda: client.end('foo'))
        client.on('data', lambda data: None)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events == [('data', b'foo'), 'end', ('close', False)]


def test_end_before_connect():
    """Port of Node test/parallel/test-net-socket-end-before-connect.js: end() right after
    createConnection(); the socket connects, ends and closes once without error."""
    closes = []
    server = iotnet.createServer()

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST)

        def on_close(had_error):
            closes.append(had_error)
            server.close()
        client.on('close', on_close)
        client.end()

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert closes == [False]


def test_end_callback_forms():
    """Port of Node test/parallel/test-net-socket-end-callback.js: end(cb), end(data, cb) and
    end(data, encoding, cb) all call cb (with None) once."""
    calls = []
    closed = [0]

    def on_connection(sock):
        sock.on('data', lambda data: None)

        def on_close(had_error):
            closed[0] += 1
            if closed[0] == 3:
                server.close()
        sock.on('close', on_close)

    server = iotnet.createServer(on_connection)

    def connect(*args):
        client = iotnet.createConnection(port_of(server), HOST, lambda: client.end(*args))

    def on_listening():
        connect(lambda *err: calls.append(('end(cb)',) + err))
        connect('foo', lambda *err: calls.append(('end(data, cb)',) + err))
        connect('foo', 'utf8', lambda *err: calls.append(('end(data, enc, cb)',) + err))

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert sorted(calls) == [('end(cb)', None), ('end(data, cb)', None),
                             ('end(data, enc, cb)', None)]


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


def test_connect_port_and_options_forms():
    """Port of Node test/parallel/test-net-connect-options-port.js (canConnect): connect(port),
    connect(port, host), connect({port}) and connect({port, host}), each through
    createConnection, connect and Socket().connect, with and without a connect listener: all
    24 connect, and resume() and on() chain. (A 'data' listener is added to each: API.md holds
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


def test_end_then_close_and_resume_chains():
    """Port of Node test/parallel/test-net-end-close.js: a peer that only sends FIN gives 'end'
    then 'close' (Node drives a fake handle; here it is a real server); resume() returns the
    socket."""
    events = []
    server = iotnet.createServer(lambda sock: sock.end())

    def on_listening():
        client = iotnet.createConnection(port_of(server), HOST)
        events.append(client.resume() is client)
        client.on('end', lambda: events.append('end'))

        def on_close(had_error):
            events.append(('close', had_error))
            server.close()
        client.on('close', on_close)

    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events == [True, 'end', ('close', False)]


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
    Node skips 'lookup' for an IP literal, but API.md keeps IoT.js's behaviour: 'lookup' is
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

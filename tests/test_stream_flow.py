"""The reading side and the life of a connection (docs/reference): 'data', pause/resume, bytes held
while no 'data' listener exists, highWaterMark on reading, half-open connections, the order of
'end', 'finish' and 'close', and destroy()."""
import os
import socket

import pytest

import iotnet
from helpers import (HAS_IPV6, HOST, KIB, READ_BUFFER_BYTES, RawPeer, listen_local, port_of,
                     record, record_error_end_close, run_bounded, wait_until)


def squash(events):
    """Collapse runs of the same event ('data', 'data' -> 'data') so orders can be compared."""
    out = []
    for event in events:
        if not out or out[-1] != event:
            out.append(event)
    return out


# -- reading, pause/resume, held bytes, highWaterMark ---------------------------------------------

def test_net_6_pause_holds_data_until_resume():
    """Port of IoT.js test/run_pass/test_net_6.js: the server pauses a new socket at once; the
    client's "1" is delivered only after resume(), so a "2" appended meanwhile comes first."""
    msg = []
    server = iotnet.createServer()

    def on_connection(sock):
        def on_data(data):
            msg.append(data.decode())
            sock.end()
        sock.on('data', on_data)
        sock.on('close', lambda had_error: server.close())
        sock.pause()
        iotnet.setTimeout(msg.append, 100, '2')
        iotnet.setTimeout(sock.resume, 300)

    def on_listening():
        client = iotnet.Socket()
        client.connect(server.address()['port'], HOST)
        client.on('connect', lambda: client.write('1'))
        client.on('end', client.end)

    server.on('connection', on_connection)
    server.listen(0, HOST, 5, on_listening)
    run_bounded(10)

    assert ''.join(msg) == '21'


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


def test_bytes_read_before_a_data_listener_are_held_then_delivered_in_order():
    received, order = [], []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.on("end", lambda: order.append("end"))
        # The 'data' listener arrives only after the peer's data and EOF were read (`readable`
        # turns False when the peer's end is read, held or not).
        wait_until(lambda: sock.bytesRead == len(b"one,two,three") and not sock.readable,
                   lambda: sock.on("data", lambda c: (order.append("data"), received.append(c))))
        sock.on("close", lambda had_error: server.close())

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        client.on("connect", lambda: (client.write(b"one,"), client.write(b"two,"),
                                      client.end(b"three")))
        client.resume()

    listen_local(server, on_listening)
    run_bounded(10)
    assert b"".join(received) == b"one,two,three"
    assert order[-1] == "end" and set(order[:-1]) == {"data"}


def test_reading_stops_at_the_high_water_mark_while_no_listener_exists():
    """Held bytes stop at highWaterMark (plus at most one read); TCP flow control does the rest."""
    held_at_peek = []
    sent = []
    client_state = {"client": None, "finished": False}
    server = iotnet.createServer({"highWaterMark": 32 * KIB})

    def on_connection(sock):
        def peek():
            held_at_peek.append(sock.bytesRead)
            total = []
            sock.on("data", lambda chunk: total.append(len(chunk)))
            sock.on("end", lambda: (held_at_peek.append(sum(total)), server.close()))

        def reading_has_stopped():
            # The mark is reached, and the client can send no more: bytes wait in its queue
            # (the kernel's buffers are full, only our reading would empty them), or every
            # write is out.
            client = client_state["client"]
            return sock.bytesRead >= 32 * KIB and (client.writableLength > 0
                                                   or client_state["finished"])
        # Not before 200 ms either, so that a server that kept reading past the mark would
        # have read far past it by the time we look.
        iotnet.setTimeout(wait_until, 200, reading_has_stopped, peek)

    server.on("connection", on_connection)

    def on_listening(port):
        client = client_state["client"] = iotnet.connect(port, "127.0.0.1")

        def pump():
            while len(sent) < 256 and client.write(b"h" * 16 * KIB):
                sent.append(1)
            if len(sent) >= 256:
                client.end()
            else:
                sent.append(1)

        client.on("connect", pump)
        client.on("drain", pump)
        client.on("finish", lambda: client_state.__setitem__("finished", True))
        client.resume()

    listen_local(server, on_listening)
    run_bounded(30)
    bytes_read_while_held, delivered = held_at_peek
    assert bytes_read_while_held < 32 * KIB + READ_BUFFER_BYTES     # the mark plus one read
    assert delivered == len(sent) * 16 * KIB


def test_high_water_mark_zero_with_a_data_listener_keeps_reading():
    """Node keeps a highWaterMark: 0 socket flowing: every byte, then 'end'."""
    payload = os.urandom(1 << 20)
    received = []
    server = iotnet.createServer({'highWaterMark': 0})

    def on_connection(sock):
        sock.on('data', received.append)
        sock.on('end', lambda: (sock.end(), server.close()))
    server.on('connection', on_connection)
    listen_local(server, lambda port: iotnet.connect(port, '127.0.0.1').end(payload))
    run_bounded(10)
    assert b''.join(received) == payload


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


# -- half-open ------------------------------------------------------------------------------------

def test_net_2_half_open_server_echoes_on_end():
    """Port of IoT.js test/run_pass/test_net_2.js: an allowHalfOpen server collects the data and
    answers with end(msg) only after the client's 'end'."""
    echoed, ends = [], []
    server = iotnet.createServer({'allowHalfOpen': True})

    def on_connection(sock):
        chunks = []
        sock.on('data', chunks.append)

        def on_end():
            sock.end(b''.join(chunks))
            server.close()
        sock.on('end', on_end)

    def on_listening():
        client = iotnet.Socket()
        client.connect(server.address()['port'], HOST, lambda: client.end('Hello IoT.js'))
        client.on('data', echoed.append)
        client.on('end', lambda: ends.append(b''.join(echoed)))

    server.on('connection', on_connection)
    server.listen(0, HOST, 5, on_listening)
    run_bounded(10)

    assert ends == [b'Hello IoT.js']


def test_net_7_forty_half_open_clients():
    """Port of IoT.js test/run_pass/test_net_7.js: 40 clients connect to 'localhost', each sends
    its number with end(data, callback); the allowHalfOpen server echoes on 'end'. IoT.js sent
    them in batches of 40 from an interval; on Linux that is a single batch, sent here at once."""
    count = 40
    echoes = {}
    finished = []
    server = iotnet.createServer({'allowHalfOpen': True})
    ends = [0]

    def on_connection(sock):
        chunks = []
        sock.on('data', chunks.append)

        def on_end():
            sock.end(b''.join(chunks))
            ends[0] += 1
            if ends[0] == count:
                server.close()
        sock.on('end', on_end)

    def connect_client(i):
        client = iotnet.Socket()
        chunks = echoes.setdefault(i, [])
        client.connect(server.address()['port'], 'localhost')
        client.on('connect', lambda: client.end(str(i), finished.append))
        client.on('data', chunks.append)

    def on_listening():
        for i in range(count):
            connect_client(i)

    server.on('connection', on_connection)
    server.listen(0, on_listening)
    run_bounded(20)

    assert {i: b''.join(chunks) for i, chunks in echoes.items()} == {
        i: str(i).encode() for i in range(count)}
    assert finished == [None] * count


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


def test_a_half_closed_peer_gets_our_reply_with_allow_half_open():
    """The peer shuts down its sending side; with allowHalfOpen the server still answers."""
    server = iotnet.createServer({"allowHalfOpen": True})
    answers = []

    def on_connection(sock):
        parts = []
        sock.on("data", parts.append)
        sock.on("end", lambda: sock.end(b"got " + b"".join(parts)))
        sock.on("close", lambda had_error: server.close())

    server.on("connection", on_connection)
    peers = []

    def on_listening(port):
        def peer(conn):
            conn.sendall(b"question")
            conn.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                chunk = conn.recv(100)
                if not chunk:
                    break
                data += chunk
            answers.append(data)
            conn.close()

        peers.append(RawPeer(peer, port=port))
        peers[0].start()

    listen_local(server, on_listening)
    run_bounded(10)
    peers[0].join(10)
    assert peers[0].error is None
    assert answers == [b"got question"]


# -- 'end', 'finish' and 'close' ------------------------------------------------------------------

def test_net_1_write_before_connect_and_reply_with_end():
    """Port of IoT.js test/run_pass/test_net_1.js: a client writes right after connect() (the
    write is queued), the server answers with end(data), the client ends on 'end'."""
    received, client_events = [], []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.on('data', lambda data: sock.end('Hello IoT.js'))
        sock.on('close', lambda had_error: server.close())

    def on_listening():
        client = iotnet.Socket()
        client.connect(server.address()['port'], HOST)
        client.write('Hello IoT.js')
        record(client, client_events)
        client.on('data', received.append)
        client.on('end', client.end)

    server.on('connection', on_connection)
    server.listen(0, HOST, 5, on_listening)
    run_bounded(10)

    assert b''.join(received) == b'Hello IoT.js'
    assert squash(client_events) == ['connect', 'data', 'end', ('close', False)]


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


def test_node_end_without_connect():
    """Port of IoT.js test/node/parallel/test-net-end-without-connect.js: end() on a socket that
    never connected does not raise, and leaves nothing that keeps the loop running."""
    sock = iotnet.Socket()
    assert sock.end() is sock
    run_bounded(5)


# -- destroy --------------------------------------------------------------------------------------

def test_issue_266_destroy_three_times_from_finish():
    """Port of IoT.js test/run_pass/issue/issue-266.js: destroy() called three times from the
    server socket's 'finish' emits 'close' once, and the server still closes (no socket leaks;
    IoT.js checked server._socketCount == 0)."""
    events = []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.on('data', lambda data: server.close())

        def on_finish():
            events.append('finish')
            sock.destroy()
            sock.destroy()
            sock.destroy()
        sock.on('finish', on_finish)
        sock.on('close', lambda had_error: events.append(('close', had_error)))

    def on_listening():
        client = iotnet.Socket()
        client.connect(server.address()['port'], HOST)
        client.end('test')

    server.on('close', lambda: events.append('server close'))
    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert events == ['finish', ('close', False), 'server close']


def test_destroy_with_an_error_emits_it_then_close():
    events = []
    sock = iotnet.Socket()
    record_error_end_close(sock, events)
    boom = ValueError("boom")
    sock.destroy(boom)
    sock.destroy()                 # twice is harmless
    run_bounded(5)
    assert events == [("error", boom), ("close", True)]

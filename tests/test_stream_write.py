"""The writing side (docs/reference): write() and its callback, writableLength, highWaterMark and
'drain', end() and its callback, writes after end, close or destroy (their error codes and the
order they come in), and what destroy() and destroySoon() do with queued writes."""
import iotnet
from helpers import (HOST, KIB, RawPeer, event_codes, listen_local, log_events, port_of, record,
                     record_error_end_close, run_bounded)


# -- write, writableLength and drain --------------------------------------------------------------

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


def test_write_returns_false_at_the_high_water_mark_and_drain_follows():
    """A peer that does not read: write() turns False once writableLength reaches the mark."""
    results, drains, lengths = [], [], []
    accepted, saw_backpressure = [], []
    server = iotnet.createServer({"pauseOnConnect": True})

    def resume_once_the_client_saw_backpressure():
        # Resume only after the client saw backpressure, so the client's queue really fills.
        if accepted and saw_backpressure:
            accepted[0].resume()

    def on_connection(sock):
        accepted.append(sock)
        sock.on("data", lambda chunk: None)
        sock.on("end", lambda: server.close())
        resume_once_the_client_saw_backpressure()

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect({"port": port, "host": "127.0.0.1", "highWaterMark": 16 * KIB})

        def flood():
            while True:
                ok = client.write(b"w" * 4096)
                results.append(ok)
                if not ok:
                    lengths.append(client.writableLength)
                    break
            saw_backpressure.append(True)
            resume_once_the_client_saw_backpressure()

        client.on("connect", flood)
        client.on("drain", lambda: (drains.append(client.writableLength), client.end()))

    listen_local(server, on_listening)
    run_bounded(30)
    assert results[-1] is False and all(results[:-1])
    assert lengths[0] >= 16 * KIB
    assert drains == [0]


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


def test_net_http_response_twice_raw_server_side():
    """Port of the 'net' side of IoT.js test/run_pass/test_net_http_response_twice.js: a raw
    server answers a request with write(response) then end(response); the peer gets both copies
    in order and then 'end'. (The http client of that test is not part of this package.)"""
    response = b'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 14\r\n\r\nHello IoT.js\r\n'
    received, ends = [], []
    server = iotnet.createServer()

    def on_connection(sock):
        request = []

        def on_data(chunk):
            request.append(chunk)
            if b'\r\n' in b''.join(request):
                sock.write(response)
                sock.end(response)
        sock.on('data', on_data)
        sock.on('error', lambda err: None)

    def on_listening():
        client = iotnet.connect(server.address()['port'], HOST)
        client.write('GET / HTTP/1.1\r\n\r\n')
        client.on('data', received.append)

        def on_end():
            ends.append(True)
            server.close()
        client.on('end', on_end)

    server.on('connection', on_connection)
    server.listen(0, HOST, on_listening)
    run_bounded(10)

    assert b''.join(received) == response * 2
    assert ends == [True]


# -- end() and its callback -----------------------------------------------------------------------

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


def test_end_callbacks_run_before_finish_and_end_after_finish_is_already_finished():
    log = []
    server = iotnet.createServer(lambda s: (s.on('data', lambda c: None),
                                            s.on('end', s.end)))

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        sock.on('data', lambda c: None)
        sock.on('connect', lambda: sock.end(lambda err: log.append(('cb1', err))))

        def on_finish():
            log.append(('finish',))
            sock.end(lambda err: log.append(('cb2', err.code)))
        sock.on('finish', on_finish)
        sock.on('close', lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(5)
    assert log == [('cb1', None), ('finish',), ('cb2', 'ERR_STREAM_ALREADY_FINISHED')]


# -- writes after end, close or destroy -----------------------------------------------------------

def test_net_4_write_after_peer_timed_out_the_connection():
    """Port of IoT.js test/run_pass/test_net_4.js: the server ends an idle connection from its
    socket 'timeout'; the client (allowHalfOpen false) ends and closes, and a later write fails.
    IoT.js expected write() to throw; iotnet gives the error to the write callback on a later
    tick (code ERR_STREAM_WRITE_AFTER_END, as Node; ERR_STREAM_DESTROYED is accepted too since the
    socket is also destroyed) and nothing is emitted after 'close'."""
    server_events, client_events, write_errors = [], [], []
    server = iotnet.createServer()

    def on_connection(sock):
        def on_timeout():
            server_events.append('timeout')
            sock.end()
        sock.setTimeout(100, on_timeout)
        sock.on('data', lambda data: sock.end())
        sock.on('close', lambda had_error: server.close())

    def on_listening():
        client = iotnet.Socket()
        client.connect(server.address()['port'], HOST)
        record(client, client_events)

        def write_late():
            client.write('Hello IoT.js', write_errors.append)
            client_events.append('written')
        client.on('close', lambda had_error: iotnet.setImmediate(write_late))

    server.on('connection', on_connection)
    server.listen(0, HOST, 5, on_listening)
    run_bounded(10)

    assert server_events == ['timeout']
    assert client_events == ['connect', 'end', ('close', False), 'written']
    assert len(write_errors) == 1
    assert isinstance(write_errors[0], iotnet.NetError)
    assert write_errors[0].code in ('ERR_STREAM_WRITE_AFTER_END', 'ERR_STREAM_DESTROYED')


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


def test_write_after_end_errors_and_destroys():
    events, callback_errors = [], []
    server = iotnet.createServer(lambda sock: sock.resume())

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        record_error_end_close(client, events)

        def on_connect():
            client.end(b"last")
            assert client.write(b"too late", callback_errors.append) is False

        client.on("connect", on_connect)
        client.on("close", lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(10)
    (err,) = callback_errors
    assert isinstance(err, iotnet.NetError) and err.code == "ERR_STREAM_WRITE_AFTER_END"
    names = [event[0] for event in events]
    assert names == ["error", "close"]
    assert events[0][1] is err and events[1] == ("close", True)


def test_an_error_from_a_call_comes_on_a_later_tick_after_ready():
    """A 'connect' listener that calls end(b'x') then write(b'y'): Node 20 gives connect, ready,
    the write's callback, error, close."""
    log = []
    server = iotnet.createServer(lambda s: (s.on('error', lambda e: None),
                                            s.on('data', lambda c: None)))

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        log_events(sock, ['connect', 'ready', 'error', 'close'], log)

        def on_connect():
            sock.end(b'x')
            log.append(('write-returned', sock.write(b'y', lambda err: log.append(('cb', err)))))
        sock.on('connect', on_connect)
        sock.on('close', lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(5)
    assert event_codes(log) == [('connect', None), ('write-returned', False), ('ready', None),
                           ('cb', 'ERR_STREAM_WRITE_AFTER_END'),
                           ('error', 'ERR_STREAM_WRITE_AFTER_END'), ('close', True)]


def test_write_after_end_keeps_its_code_once_the_socket_has_closed():
    results = []
    server = iotnet.createServer(lambda s: (s.on('data', lambda c: None), s.end()))

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1', lambda: sock.end(b'x'))
        sock.on('data', lambda c: None)

        def on_close(had_error):
            sock.write(b'late', results.append)
            server.close()
        sock.on('close', on_close)

    listen_local(server, on_listening)
    run_bounded(5)
    assert [err.code for err in results] == ['ERR_STREAM_WRITE_AFTER_END']


def test_write_on_a_socket_that_never_connected():
    """Node 20: write() returns False, its callback gets ERR_SOCKET_CLOSED, then 'error' with the
    same code and 'close' (iotnet passes had_error True where Node passes nothing)."""
    log = []
    sock = iotnet.Socket()
    log_events(sock, ['error', 'close', 'finish'], log)
    returned = sock.write(b'y', lambda err: log.append(('cb', err)))
    log.append(('returned', returned))
    run_bounded(5)
    assert event_codes(log) == [('returned', False), ('cb', 'ERR_SOCKET_CLOSED'),
                           ('error', 'ERR_SOCKET_CLOSED'), ('close', True)]


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


# -- destroy() and destroySoon() with queued writes -----------------------------------------------

def test_destroy_with_pending_writes_drops_them_and_closes_without_error():
    events, callbacks = [], []
    received = []

    def peer(conn):
        conn.settimeout(10)
        try:
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                received.append(len(chunk))
        except OSError:
            pass

    raw = RawPeer(peer)
    raw.start()
    client = iotnet.connect(raw.port, "127.0.0.1")
    record_error_end_close(client, events)

    def on_connect():
        for _ in range(32):
            client.write(b"z" * 1048576, callbacks.append)
        client.destroy()
        assert client.destroyed

    client.on("connect", on_connect)
    run_bounded(30)
    raw.join(15)
    assert events == [("close", False)] and events[0][1] is False
    assert len(callbacks) == 32
    assert all(err is None or getattr(err, "code", None) == "ERR_STREAM_DESTROYED"
               for err in callbacks)
    assert any(err is not None for err in callbacks)
    assert sum(received) < 32 * 1048576


def test_destroy_with_an_error_emits_it_before_the_pending_writes_callbacks():
    """Node 20: 'error', then the dropped writes' callbacks, then 'close'(True)."""
    log = []
    boom = ValueError('boom')
    server = iotnet.createServer({'pauseOnConnect': True})

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')

        def on_connect():
            sock.write(b'x' * (16 << 20), lambda err: log.append(('cb1', err)))
            sock.write(b'y', lambda err: log.append(('cb2', err)))
            sock.destroy(boom)
        sock.on('connect', on_connect)
        sock.on('error', lambda err: log.append(('error', err)))
        sock.on('close', lambda had_error: (log.append(('close', had_error)), server.close(),
                                            [s.destroy() for s in accepted]))

    accepted = []
    server.on('connection', accepted.append)
    listen_local(server, on_listening)
    run_bounded(10)
    assert log == [('error', boom), ('cb1', boom), ('cb2', boom), ('close', True)]


def test_destroy_soon_flushes_then_closes():
    received = []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.write(b"x" * 1024 * KIB)
        sock.destroySoon()

    server.on("connection", on_connection)

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")
        client.on("data", lambda chunk: received.append(len(chunk)))
        client.on("close", lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(10)
    assert sum(received) == 1024 * KIB


def test_a_sockets_write_as_data_listener_forwards_every_chunk_and_str():
    """sock.on('data', other.write) (the core calls write() in C for it): bytes arrive exactly,
    and after setEncoding() the str chunks are written as UTF-8, as other.write(chunk) would."""
    text = "né ✓ " * 20000
    received = []
    sink = iotnet.createServer(lambda sock: (sock.on("data", received.append),
                                             sock.on("end", sink.close)))
    source = iotnet.createServer()

    def on_source_connection(sock):
        out = iotnet.connect(port_of(sink), "127.0.0.1")
        sock.setEncoding("utf8")
        sock.on("data", out.write)
        sock.on("end", out.end)
        source.close()

    source.on("connection", on_source_connection)

    def start(port):
        client = iotnet.connect(port, "127.0.0.1")
        client.on("connect", lambda: client.end(text.encode()))

    listen_local(sink, lambda _: listen_local(source, start))
    run_bounded(10)
    assert b"".join(received) == text.encode()


def test_a_subclass_write_as_data_listener_is_called():
    """A Socket subclass that overrides write(): its own write() is what the listener calls."""
    seen = []

    class Recording(iotnet.Socket):
        def write(self, data, *args):
            seen.append(bytes(data))
            return super().write(data, *args)

    server = iotnet.createServer(lambda sock: (sock.on("data", recorder.write),
                                               sock.on("end", recorder.end)))
    sink = iotnet.createServer(lambda sock: (sock.resume(), sock.on("end", sink.close)))
    recorder = Recording()

    def start(port):
        recorder.connect(port_of(sink), "127.0.0.1")
        client = iotnet.connect(port, "127.0.0.1")
        client.on("connect", lambda: client.end(b"through the subclass"))
        client.on("close", lambda had_error: server.close())

    listen_local(sink, lambda _: listen_local(server, start))
    run_bounded(10)
    assert b"".join(seen) == b"through the subclass"

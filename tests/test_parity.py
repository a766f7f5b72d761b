"""Node parity: the behaviours where iotnet once differed from Node 20, each checked against the
same scenario run with `node`, and the choices iotnet makes where it differs on purpose."""
import os
import tempfile
import threading

import pytest

import iotnet
from helpers import listen_local, run_bounded


def _events(sock, names, log, tag=None):
    """Appends (name, *args) of every event in `names` to log."""
    for name in names:
        sock.on(name, lambda *args, name=name: log.append((name,) + args if tag is None
                                                          else (tag, name) + args))


def _codes(log):
    return [(entry[0], getattr(entry[1], 'code', entry[1]) if len(entry) > 1 else None)
            for entry in log]


def _wait_until(condition, then, every_ms=1):
    """Calls then() once condition() holds, polling on a loop timer."""
    def check():
        if condition():
            iotnet.clearInterval(timer)
            then()
    timer = iotnet.setInterval(check, every_ms)


# -- hangs and leaks ------------------------------------------------------------------------------

def test_destroy_during_lookup_then_reconnect_makes_exactly_one_connection():
    """A Socket destroyed while its name lookup runs and connected again from its 'close'
    listener makes one connection: the stale lookup answer connects nothing."""
    accepted = []
    log = []
    server = iotnet.createServer(accepted.append)

    def on_listening(port):
        sock = iotnet.Socket()
        _events(sock, ['lookup', 'connect', 'close'], log)

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


def test_held_bytes_then_a_raising_data_listener_still_end_and_close():
    """Bytes held while no 'data' listener existed, then a listener that raises: run() raises it
    once, and the next run() delivers the rest, 'end' and 'close'."""
    log = []
    server = iotnet.createServer(lambda s: s.end(b'abc'))

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        _events(sock, ['end', 'close'], log)

        def add_listener():
            def listener(chunk):
                log.append(('data', chunk))
                raise ValueError('from a data listener')
            sock.on('data', listener)
            server.close()
        _wait_until(lambda: sock.bytesRead == 3, add_listener)

    listen_local(server, on_listening)
    with pytest.raises(ValueError, match='from a data listener'):
        run_bounded(10)
    run_bounded(10)
    assert log == [('data', b'abc'), ('end',), ('close', False)]


@pytest.mark.parametrize('value', ['abc', [], True, object()])
def test_max_connections_of_a_wrong_type_is_a_type_error_at_assignment(value):
    server = iotnet.createServer()
    with pytest.raises(TypeError):
        server.maxConnections = value
    with pytest.raises(ValueError):
        server.max_connections = -1
    assert server.maxConnections is None


def test_max_connections_zero_is_no_limit_and_above_the_limit_drop_tells_who():
    """Port of Node test/parallel/test-net-server-drop-connections.js: a connection above
    maxConnections is closed at once and the server emits 'drop' with both ends."""
    drops = []
    closes = []
    accepted = []
    server = iotnet.createServer(accepted.append)
    server.maxConnections = 0
    assert server.max_connections == 0
    server.on('drop', drops.append)

    def on_listening(port):
        first = iotnet.connect(port, '127.0.0.1')
        second = iotnet.connect(port, '127.0.0.1')
        first.on('close', closes.append)
        second.on('close', closes.append)
        _wait_until(lambda: len(accepted) == 2, lambda: limit_and_connect_third(port))

    def limit_and_connect_third(port):
        server.maxConnections = 2
        third = iotnet.connect(port, '127.0.0.1')
        third.on('data', lambda chunk: None)
        third.on('end', lambda: (close_all(), third.end()))

    def close_all():
        for each in accepted:
            each.end()
        server.close()

    listen_local(server, on_listening)
    run_bounded(10)
    assert len(accepted) == 2 and len(drops) == 1
    drop = drops[0]
    assert drop['localAddress'] == '127.0.0.1' and drop['remoteAddress'] == '127.0.0.1'
    assert drop['localFamily'] == drop['remoteFamily'] == 'IPv4'
    assert drop['localPort'] == server_port(drop) and isinstance(drop['remotePort'], int)


def server_port(drop):
    return drop['localPort']


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


# -- exceptions in callbacks leave nothing stranded -----------------------------------------------

def test_with_an_uncaught_handler_the_tick_queue_keeps_draining():
    caught = []
    ran = []

    def boom():
        raise KeyError('tick')
    iotnet.on_uncaught_exception(caught.append)
    try:
        iotnet.nextTick(boom)
        iotnet.nextTick(ran.append, 'second')
        iotnet.nextTick(ran.append, 'third')
        iotnet.run()
        assert ran == ['second', 'third'] and len(caught) == 1
    finally:
        iotnet.on_uncaught_exception(None)


def test_with_an_uncaught_handler_a_raising_close_listener_leaves_the_rest_in_the_same_run():
    """A raising 'connection' listener, with the handler installed: the write callback and
    'close' arrive in the same run()."""
    caught = []
    log = []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.write(b'x', lambda err: log.append(('write-cb', err)))
        sock.on('close', lambda had_error: log.append(('close', had_error)))
        sock.end()
        raise KeyError('listener')
    server.on('connection', on_connection)

    def on_listening(port):
        client = iotnet.connect(port, '127.0.0.1')
        client.on('data', lambda chunk: None)
        client.on('end', lambda: (client.end(), server.close()))

    iotnet.on_uncaught_exception(caught.append)
    try:
        listen_local(server, on_listening)
        iotnet.run()
    finally:
        iotnet.on_uncaught_exception(None)
    assert log == [('write-cb', None), ('close', False)] and len(caught) == 1


def test_a_raising_finish_listener_keeps_the_end_callback_and_the_close():
    """end(cb) with a 'finish' listener that raises: cb still runs (before 'finish', as Node),
    and a socket whose peer had ended closes by itself."""
    log = []
    server = iotnet.createServer({'allowHalfOpen': True})

    def on_connection(sock):
        sock.on('data', lambda chunk: None)
        sock.on('end', lambda: (sock.end(lambda err: log.append(('end-cb', err))),
                                server.close()))

        def on_finish():
            log.append(('finish',))
            raise KeyError('finish')
        sock.on('finish', on_finish)
        sock.on('close', lambda had_error: log.append(('close', had_error)))
    server.on('connection', on_connection)

    def on_listening(port):
        client = iotnet.connect(port, '127.0.0.1', lambda: client.end())
        client.on('data', lambda chunk: None)

    listen_local(server, on_listening)
    with pytest.raises(KeyError):
        run_bounded(10)
    run_bounded(10)
    assert log == [('end-cb', None), ('finish',), ('close', False)]


# -- semantics ------------------------------------------------------------------------------------

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


def _camel_to_snake(name):
    return ''.join('_' + c.lower() if c.isupper() else c for c in name)


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


def test_an_error_from_a_call_comes_on_a_later_tick_after_ready():
    """A 'connect' listener that calls end(b'x') then write(b'y'): Node 20 gives connect, ready,
    the write's callback, error, close."""
    log = []
    server = iotnet.createServer(lambda s: (s.on('error', lambda e: None),
                                            s.on('data', lambda c: None)))

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        _events(sock, ['connect', 'ready', 'error', 'close'], log)

        def on_connect():
            sock.end(b'x')
            log.append(('write-returned', sock.write(b'y', lambda err: log.append(('cb', err)))))
        sock.on('connect', on_connect)
        sock.on('close', lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(5)
    assert _codes(log) == [('connect', None), ('write-returned', False), ('ready', None),
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


def test_set_encoding_converts_chunks_held_before_it_and_keeps_split_characters_whole():
    """The first two bytes of '€' are held (no 'data' listener yet); setEncoding then turns
    held and later bytes into whole characters."""
    received = []
    server = iotnet.createServer()

    def on_connection(sock):
        sock.write(b'\xe2\x82')
        sock.on('data', lambda chunk: sock.end(b'\xacA'))   # the client's go-ahead
    server.on('connection', on_connection)

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')

        def go():
            sock.setEncoding('utf8')
            sock.on('data', received.append)
            sock.on('end', lambda: server.close())
            sock.write(b'go')
        _wait_until(lambda: sock.bytesRead == 2, go)

    listen_local(server, on_listening)
    run_bounded(5)
    assert ''.join(received) == '\u20acA' and all(isinstance(c, str) for c in received)


def test_set_encoding_none_is_utf8_and_an_unknown_name_is_a_value_error_with_node_code():
    sock = iotnet.Socket()
    assert sock.setEncoding(None) is sock
    with pytest.raises(ValueError) as info:
        sock.setEncoding('no-such-encoding')
    assert info.value.code == 'ERR_UNKNOWN_ENCODING'


def test_write_of_an_unencodable_str_is_a_value_error_at_the_call():
    sock = iotnet.Socket()
    with pytest.raises(ValueError):
        sock.write('\u20ac', 'ascii')
    sock.destroy()
    run_bounded(5)


def test_refresh_after_clear_timeout_does_nothing():
    fired = []
    timer = iotnet.setTimeout(fired.append, 5, 'fired')
    iotnet.clearTimeout(timer)
    assert timer.refresh() is timer
    iotnet.setTimeout(lambda: None, 30)
    run_bounded(5)
    assert fired == []


def test_refresh_after_a_timeout_fired_starts_it_again():
    fired = []
    timer = iotnet.setTimeout(lambda: (fired.append(1), len(fired) < 2 and timer.refresh()), 1)
    run_bounded(5)
    assert fired == [1, 1]


def test_write_on_a_socket_that_never_connected():
    """Node 20: write() returns False, its callback gets ERR_SOCKET_CLOSED, then 'error' with the
    same code and 'close' (iotnet passes had_error True where Node passes nothing)."""
    log = []
    sock = iotnet.Socket()
    _events(sock, ['error', 'close', 'finish'], log)
    returned = sock.write(b'y', lambda err: log.append(('cb', err)))
    log.append(('returned', returned))
    run_bounded(5)
    assert _codes(log) == [('returned', False), ('cb', 'ERR_SOCKET_CLOSED'),
                           ('error', 'ERR_SOCKET_CLOSED'), ('close', True)]


def test_server_close_before_listen_calls_back_with_not_running_on_a_later_tick():
    log = []
    server = iotnet.createServer()
    server.on('close', lambda: log.append(('close',)))
    server.close(lambda err: log.append(('cb', err.code)))
    log.append(('returned',))
    run_bounded(5)
    assert log == [('returned',), ('close',), ('cb', 'ERR_SERVER_NOT_RUNNING')]


def test_server_close_then_listen_at_once_does_not_hold_the_callback():
    log = []
    server = iotnet.createServer()
    server.on('close', lambda: log.append(('close',)))
    server.close(lambda err: log.append(('cb', err.code)))
    listen_local(server, lambda port: (log.append(('listening',)), server.close()))
    run_bounded(5)
    assert log == [('cb', 'ERR_SERVER_NOT_RUNNING'), ('listening',), ('close',)]


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


def test_destroy_then_connect_in_the_same_tick_reconnects():
    """Node 20: the first connection's 'close', then the new connection's events."""
    log = []
    accepted = []
    server = iotnet.createServer(accepted.append)

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        _events(sock, ['lookup', 'connect', 'ready', 'close'], log)

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
        _events(sock, ['connect', 'close'], log)

        def first_connect():
            sock.destroy()
            sock.connect(port, '127.0.0.1')
            sock.destroy()
            server.close()
        sock.once('connect', first_connect)

    listen_local(server, on_listening)
    run_bounded(5)
    assert log == [('connect',), ('close', False)]


def test_listen_with_port_and_path_listens_on_the_port():
    addresses = []
    server = iotnet.createServer()
    path = os.path.join(tempfile.mkdtemp(), 'unused.sock')
    server.listen({'port': 0, 'host': '127.0.0.1', 'path': path},
                  lambda: (addresses.append(server.address()), server.close()))
    run_bounded(5)
    assert addresses[0]['port'] > 0 and not os.path.exists(path)


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


def test_a_local_address_not_on_this_host_emits_lookup_then_a_bind_error():
    log = []
    sock = iotnet.connect({'host': '127.0.0.1', 'port': 9, 'localAddress': '192.0.2.1'})
    _events(sock, ['lookup', 'error', 'close'], log)
    run_bounded(5)
    assert [entry[0] for entry in log] == ['lookup', 'error', 'close']
    err = log[1][1]
    assert err.code == 'EADDRNOTAVAIL' and err.syscall == 'bind'
    assert err.address == '192.0.2.1'


def test_a_local_port_in_use_gives_a_bind_error_with_address_and_port():
    log = []
    server = iotnet.createServer()

    def on_listening(port):
        sock = iotnet.connect({'host': '127.0.0.1', 'port': port, 'localAddress': '127.0.0.1',
                               'localPort': port})
        sock.on('error', log.append)
        sock.on('close', lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(5)
    err = log[0]
    assert err.code in ('EADDRINUSE', 'EINVAL') and err.syscall == 'bind'
    assert err.address == '127.0.0.1' and err.port == server_port({'localPort': err.port})


def test_get_connections_counts_sockets_not_destroyed():
    counts = []
    accepted = []
    server = iotnet.createServer()

    def on_connection(sock):
        accepted.append(sock)
        if len(accepted) == 2:
            accepted[0].destroy()
            server.getConnections(lambda err, n: (counts.append(n), close_all()))

    def close_all():
        for each in accepted:
            each.destroy()
        server.close()
    server.on('connection', on_connection)

    def on_listening(port):
        for _ in range(2):
            iotnet.connect(port, '127.0.0.1').on('error', lambda e: None)

    listen_local(server, on_listening)
    run_bounded(5)
    assert counts == [1]


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


def test_ready_follows_connect_when_a_connect_listener_destroys_the_socket():
    log = []
    server = iotnet.createServer()

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        _events(sock, ['connect', 'ready', 'close'], log)
        sock.on('connect', sock.destroy)
        sock.on('close', lambda had_error: server.close())

    listen_local(server, on_listening)
    run_bounded(5)
    assert log == [('connect',), ('ready',), ('close', False)]


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


# -- threads --------------------------------------------------------------------------------------

def test_loop_calls_from_another_thread_raise_at_once_and_change_nothing():
    outcomes = {}
    server = iotnet.createServer()
    other_server = iotnet.createServer()
    sock = iotnet.Socket()
    calls = {
        'setTimeout': lambda: iotnet.setTimeout(lambda: None, 1),
        'setImmediate': lambda: iotnet.setImmediate(lambda: None),
        'nextTick': lambda: iotnet.nextTick(lambda: None),
        'listen': lambda: other_server.listen(0, '127.0.0.1'),
        'close': lambda: server.close(),
        'write': lambda: sock.write(b'x'),
        'connect': lambda: sock.connect(9, '127.0.0.1'),
        'destroy': lambda: sock.destroy(),
        'on': lambda: sock.on('data', print),
    }

    def worker():
        for name, call in calls.items():
            try:
                call()
                outcomes[name] = 'returned'
            except RuntimeError as exc:
                outcomes[name] = 'RuntimeError' if 'call_soon_threadsafe' in str(exc) else exc
        iotnet.call_soon_threadsafe(server.close)

    listen_local(server, lambda port: threading.Thread(target=worker).start())
    run_bounded(10)
    assert outcomes == {name: 'RuntimeError' for name in calls}
    assert not other_server.listening and not sock.destroyed
    assert sock.listenerCount('data') == 0


def test_call_soon_threadsafe_posted_before_run_runs_in_that_run():
    ran = []
    thread = threading.Thread(target=iotnet.call_soon_threadsafe, args=(ran.append, 'posted'))
    thread.start()
    thread.join()
    iotnet.run()
    assert ran == ['posted']


def test_run_from_another_thread_while_running_says_so():
    messages = []
    server = iotnet.createServer()

    def worker():
        try:
            iotnet.run()
        except RuntimeError as exc:
            messages.append(str(exc))
        iotnet.call_soon_threadsafe(server.close)

    listen_local(server, lambda port: threading.Thread(target=worker).start())
    run_bounded(10)
    assert len(messages) == 1 and 'another thread' in messages[0]


# -- EventEmitter ---------------------------------------------------------------------------------

def test_new_listener_and_remove_listener_events_follow_node():
    """The same calls in Node 20 print this sequence (events.EventEmitter)."""
    log = []
    emitter = iotnet.EventEmitter()
    emitter.on('newListener', lambda name, fn: log.append(('new', name,
                                                           emitter.listenerCount(name))))
    emitter.on('removeListener', lambda name, fn: log.append(('removed', name,
                                                              emitter.listenerCount(name))))

    def f():
        pass
    emitter.on('x', f)
    emitter.once('y', f)
    emitter.emit('y')
    emitter.off('x', f)
    emitter.removeAllListeners()
    assert log == [('new', 'removeListener', 0), ('new', 'x', 0), ('new', 'y', 0),
                   ('removed', 'y', 0), ('removed', 'x', 0), ('removed', 'newListener', 0)]
    assert emitter.eventNames() == []


def test_new_listener_gets_the_function_given_to_once():
    seen = []
    emitter = iotnet.EventEmitter()
    emitter.on('newListener', lambda name, fn: seen.append(fn))

    def f():
        pass
    emitter.once('x', f)
    assert seen == [f]


def test_a_subclass_emit_override_does_not_see_core_events():
    """Documented: the core calls listeners from C, not through a Python emit()."""
    seen = []

    class Tracing(iotnet.Server):
        def emit(self, name, *args):
            seen.append(name)
            return super().emit(name, *args)

    server = Tracing()
    listening = []
    server.on('listening', lambda: (listening.append(1), server.close()))
    server.listen(0, '127.0.0.1')
    run_bounded(5)
    assert listening == [1] and seen == []

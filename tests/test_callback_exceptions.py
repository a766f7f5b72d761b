"""An exception from a callback leaves the callback it came from, is reported once (raised from
run() or given to on_uncaught_exception), and changes nothing else: every queued callback still
runs once and every socket still reaches 'close', exactly once and last.

A property-based test: hypothesis draws random sequences of calls on a server and its sockets,
with listeners and callbacks that raise now and then."""
import iotnet
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import listen_local, log_events, run_bounded, wait_until

EVENTS = ('lookup', 'connect', 'ready', 'data', 'end', 'finish', 'drain', 'timeout', 'error',
          'close')
RAISING_EVENTS = ('connect', 'ready', 'data', 'end', 'finish', 'drain', 'timeout', 'close')


class Injected(Exception):
    """Raised on purpose by the test's listeners and callbacks."""


class Scenario:
    def __init__(self):
        self.sockets = []            # every client and accepted socket
        self.logs = {}               # socket -> [event names]
        self.raised = 0              # Injected exceptions thrown
        self.reported = 0            # Injected exceptions seen by run() or the handler
        self.unexpected = []
        self.server = None
        self.port = None

    def track(self, sock):
        self.sockets.append(sock)
        log = self.logs[sock] = []
        for name in EVENTS:
            sock.on(name, lambda *args, name=name: log.append(name))
        sock.on('error', lambda err: None)

    def raiser(self, what):
        def raise_it(*args):
            self.raised += 1
            raise Injected(what)
        return raise_it

    def report(self, exc):
        if isinstance(exc, Injected):
            self.reported += 1
        else:
            self.unexpected.append(exc)


def _socket_op(name):
    return st.tuples(st.just(name), st.integers(0, 7))


OPERATIONS = st.one_of(
    _socket_op('write'),
    _socket_op('write_raising_callback'),
    _socket_op('big_write'),
    _socket_op('end'),
    _socket_op('end_raising_callback'),
    _socket_op('destroy'),
    _socket_op('destroy_with_error'),
    _socket_op('pause'),
    _socket_op('resume'),
    _socket_op('set_encoding'),
    _socket_op('set_timeout'),
    st.tuples(st.just('raising_listener'), st.integers(0, 7),
              st.sampled_from(RAISING_EVENTS)),
    st.tuples(st.just('raising_tick'), st.just(0)),
    st.tuples(st.just('raising_immediate'), st.just(0)),
    st.tuples(st.just('connect'), st.just(0)),
    st.tuples(st.just('close_server'), st.just(0)),
)


def _apply(scenario, op):
    kind, index = op[0], op[1]
    if kind == 'raising_tick':
        iotnet.nextTick(scenario.raiser('tick'))
        return
    if kind == 'raising_immediate':
        iotnet.setImmediate(scenario.raiser('immediate'))
        return
    if kind == 'connect':
        sock = iotnet.Socket({'allowHalfOpen': bool(len(scenario.sockets) % 2)})
        scenario.track(sock)
        sock.connect(scenario.port, '127.0.0.1')
        return
    if kind == 'close_server':
        scenario.server.close()
        return
    if not scenario.sockets:
        return
    sock = scenario.sockets[index % len(scenario.sockets)]
    if kind == 'write':
        sock.write(b'w' * (index + 1))
    elif kind == 'write_raising_callback':
        sock.write(b'c', scenario.raiser('write callback'))
    elif kind == 'big_write':
        sock.write(b'b' * (1 << 20))
    elif kind == 'end':
        sock.end()
    elif kind == 'end_raising_callback':
        sock.end(scenario.raiser('end callback'))
    elif kind == 'destroy':
        sock.destroy()
    elif kind == 'destroy_with_error':
        sock.destroy(ValueError('destroyed'))
    elif kind == 'pause':
        sock.pause()
    elif kind == 'resume':
        sock.resume()
    elif kind == 'set_encoding':
        sock.setEncoding('latin1')
    elif kind == 'set_timeout':
        sock.setTimeout(1 + index)
    elif kind == 'raising_listener':
        sock.once(op[2], scenario.raiser(op[2]))


def _run_until_done(scenario, handler):
    """run() until it returns normally; every exception it raises must be an injected one."""
    if handler:
        iotnet.on_uncaught_exception(scenario.report)
    try:
        for _ in range(1000):
            try:
                run_bounded(20)
                return
            except Injected as exc:
                scenario.report(exc)
        raise AssertionError('run() kept raising')
    finally:
        iotnet.on_uncaught_exception(None)


def _finish(scenario):
    """The graceful end: let everything flow, end every socket, close the server."""
    for sock in scenario.sockets:
        sock.setTimeout(0)
        sock.resume()
        sock.on('data', lambda chunk: None)
        sock.end()
    scenario.server.close()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=25), handler=st.booleans())
def test_exceptions_from_callbacks_strand_nothing(operations, handler):
    scenario = Scenario()
    server = scenario.server = iotnet.createServer({'allowHalfOpen': handler})
    server.on('connection', scenario.track)
    steps = list(operations)

    def step():
        if steps:
            _apply(scenario, steps.pop(0))
            iotnet.setTimeout(step, 1)
        else:
            _finish(scenario)

    def on_listening():
        scenario.port = server.address()['port']
        _apply(scenario, ('connect', 0))
        step()

    server.listen(0, '127.0.0.1', on_listening)
    _run_until_done(scenario, handler)

    assert scenario.unexpected == []
    assert scenario.reported == scenario.raised
    for sock, log in scenario.logs.items():
        assert log.count('close') == 1 and log[-1] == 'close', log
        assert sock.destroyed
    assert not server.listening
    iotnet.run()        # the bounding timer's close callback
    counters = iotnet._core.debug_counters()
    if counters is not None:
        assert counters == {name: 0 for name in counters}, counters


@pytest.mark.parametrize('handler', [False, True])
def test_an_exception_in_an_immediate_leaves_the_others_to_run(handler):
    ran = []
    caught = []

    def boom():
        raise Injected('immediate')
    iotnet.setImmediate(ran.append, 1)
    iotnet.setImmediate(boom)
    iotnet.setImmediate(ran.append, 2)
    if handler:
        iotnet.on_uncaught_exception(caught.append)
        try:
            iotnet.run()
        finally:
            iotnet.on_uncaught_exception(None)
    else:
        with pytest.raises(Injected):
            iotnet.run()
        iotnet.run()
    assert ran == [1, 2]


def test_two_exceptions_in_one_loop_iteration_are_raised_by_two_runs():
    """Each exception is reported once: the second waits for the next run(), it is not lost."""
    def boom(what):
        raise Injected(what)
    iotnet.setTimeout(boom, 1, 'first timer')
    iotnet.setTimeout(boom, 1, 'second timer')     # due in the same iteration
    raised = []
    for _ in range(3):
        try:
            iotnet.run()
            break
        except Injected as exc:
            raised.append(str(exc))
    assert raised == ['first timer', 'second timer']


# -- exceptions in socket listeners and callbacks -------------------------------------------------

def test_held_bytes_then_a_raising_data_listener_still_end_and_close():
    """Bytes held while no 'data' listener existed, then a listener that raises: run() raises it
    once, and the next run() delivers the rest, 'end' and 'close'."""
    log = []
    server = iotnet.createServer(lambda s: s.end(b'abc'))

    def on_listening(port):
        sock = iotnet.connect(port, '127.0.0.1')
        log_events(sock, ['end', 'close'], log)

        def add_listener():
            def listener(chunk):
                log.append(('data', chunk))
                raise ValueError('from a data listener')
            sock.on('data', listener)
            server.close()
        wait_until(lambda: sock.bytesRead == 3, add_listener)

    listen_local(server, on_listening)
    with pytest.raises(ValueError, match='from a data listener'):
        run_bounded(10)
    run_bounded(10)
    assert log == [('data', b'abc'), ('end',), ('close', False)]


def test_with_an_uncaught_handler_a_raising_connection_listener_leaves_the_rest_in_the_same_run():
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
        run_bounded(10)
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

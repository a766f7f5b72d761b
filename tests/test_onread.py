"""Node's onread option (docs/reference/socket.md): reads go into the user's buffer and the
callback gets (nread, buf); no 'data' event; a callback that returns False pauses the socket.
iotnet's createServer() takes it too, and then the callback also gets the socket."""
import pytest

import iotnet
from helpers import HOST, KIB, listen_local, run_bounded

PATTERN = bytes(range(251)) * 800          # 200,800 bytes: several reads, odd sizes


def _serve_pattern_then_close(port_listener):
    """A server that sends PATTERN to its one client and ends; port_listener(port) once up."""
    server = iotnet.createServer(lambda sock: (sock.end(PATTERN), server.close()))
    listen_local(server, port_listener)
    return server


def test_onread_static_buffer_gets_every_byte_and_no_data_event():
    """Port of Node's test/parallel/test-net-onread-static-buffer.js (its first case): the
    client's static buffer is filled, the callback gets (nread, buf) with buf that same
    buffer, no 'data' event is emitted, and 'end' and 'close' come as usual."""
    buffer = bytearray(16 * KIB)
    received, events, seen_buffers = [], [], set()

    def on_read(nread, buf):
        seen_buffers.add(id(buf))
        assert 0 < nread <= len(buffer)
        received.append(bytes(buf[:nread]))

    def start(port):
        client = iotnet.connect({"port": port, "host": HOST,
                                 "onread": {"buffer": buffer, "callback": on_read}})
        client.on("data", lambda chunk: events.append("data"))
        client.on("end", lambda: events.append("end"))
        client.on("close", lambda had_error: events.append(("close", had_error, client.bytesRead)))

    _serve_pattern_then_close(start)
    run_bounded(10)
    assert b"".join(received) == PATTERN
    assert seen_buffers == {id(buffer)}
    assert events == ["end", ("close", False, len(PATTERN))]


def test_onread_buffer_smaller_than_a_read_is_filled_several_times():
    buffer = bytearray(1000)
    sizes, received = [], []

    def on_read(nread, buf):
        sizes.append(nread)
        received.append(bytes(buf[:nread]))

    def start(port):
        iotnet.Socket({"onread": {"buffer": memoryview(buffer), "callback": on_read}}).connect(
            port, HOST)

    _serve_pattern_then_close(start)
    run_bounded(10)
    assert b"".join(received) == PATTERN
    assert max(sizes) == 1000 and len(sizes) >= len(PATTERN) // 1000


def test_onread_callback_returning_false_pauses_until_resume():
    """Port of the pause case of Node's test-net-onread-static-buffer.js: returning False
    pauses the socket; after resume() the rest arrives in order."""
    buffer = bytearray(4 * KIB)
    received, pauses = [], []
    state = {}

    def on_read(nread, buf):
        received.append(bytes(buf[:nread]))
        if len(received) in (3, 10):
            pauses.append(len(received))
            iotnet.setTimeout(lambda: (pauses.append(state["client"].isPaused()),
                                       state["client"].resume()), 5)
            return False
        return True

    def start(port):
        state["client"] = iotnet.connect({"port": port, "host": HOST,
                                          "onread": {"buffer": buffer, "callback": on_read}})

    _serve_pattern_then_close(start)
    run_bounded(10)
    assert b"".join(received) == PATTERN
    assert pauses == [3, True, 10, True]


def test_onread_buffer_function_is_asked_for_each_fill():
    made, received = [], []

    def new_buffer():
        made.append(bytearray(8 * KIB))
        return made[-1]

    def on_read(nread, buf):
        assert buf is made[-1]
        received.append(bytes(buf[:nread]))

    def start(port):
        iotnet.connect({"port": port, "host": HOST,
                        "onread": {"buffer": new_buffer, "callback": on_read}})

    _serve_pattern_then_close(start)
    run_bounded(10)
    assert b"".join(received) == PATTERN
    assert len(made) == len(received)


def test_server_onread_echo_gets_the_socket_and_writes_from_the_buffer():
    """createServer({'onread': ...}): one buffer for every accepted socket; the callback gets
    the socket as a third argument and echoes straight from the buffer."""
    buffer = bytearray(64 * KIB)
    view = memoryview(buffer)
    echoed = {}

    def on_read(nread, buf, sock):
        assert buf is buffer
        sock.write(view[:nread])

    server = iotnet.createServer({"onread": {"buffer": buffer, "callback": on_read}})

    def start(port):
        for name in ("a", "b"):
            client = iotnet.connect(port, HOST)
            chunks = echoed[name] = []
            client.on("data", chunks.append)
            client.on("connect", lambda client=client: client.end(PATTERN))
            client.on("close", lambda had_error: (len(echoed) == 2 and all(
                b"".join(c) == PATTERN for c in echoed.values()) and server.close()))

    server.on("connection", lambda sock: sock.on("end", sock.end))
    listen_local(server, start)
    run_bounded(10)
    assert {name: b"".join(chunks) for name, chunks in echoed.items()} == {
        "a": PATTERN, "b": PATTERN}


def test_write_of_a_bytearray_changed_after_the_call_sends_what_it_held_then():
    """write(bytearray) sends from the caller's memory; what the kernel does not take at once
    is copied, so changing the bytearray after write() returns changes nothing sent."""
    payload = bytearray(b"x" * (4 * 1024 * KIB))     # more than the kernel takes at once
    received = []
    server = iotnet.createServer(lambda sock: sock.on("data", received.append))

    def start(port):
        client = iotnet.connect(port, HOST)

        def on_connect():
            client.write(payload)
            payload[:] = b"y" * len(payload)
            client.end()
        client.on("connect", on_connect)
        client.on("close", lambda had_error: server.close())

    listen_local(server, start)
    run_bounded(20)
    assert b"".join(received) == b"x" * len(payload)


@pytest.mark.parametrize("onread, error", [
    ("not a dict", TypeError),
    ({"buffer": bytearray(10)}, TypeError),
    ({"buffer": bytearray(10), "callback": 42}, TypeError),
    ({"buffer": b"read-only", "callback": print}, TypeError),
    ({"buffer": 12, "callback": print}, TypeError),
    ({"buffer": bytearray(0), "callback": print}, ValueError),
])
def test_bad_onread_fails_at_the_call(onread, error):
    with pytest.raises(error):
        iotnet.Socket({"onread": onread})
    with pytest.raises(error):
        iotnet.connect({"port": 80, "onread": onread})
    with pytest.raises(error):
        iotnet.createServer({"onread": onread})


def test_onread_function_giving_a_read_only_buffer_raises_from_run():
    """The function's buffer is checked at each read: a read-only one raises from run() (as a
    raising listener does), and nothing is written into it."""
    frozen = b"\0" * 100

    def start(port):
        client = iotnet.connect({"port": port, "host": HOST,
                                 "onread": {"buffer": lambda: frozen, "callback": print}})
        client.on("close", lambda had_error: None)

    _serve_pattern_then_close(start)
    with pytest.raises(TypeError, match="read-only"):
        run_bounded(10)
    assert frozen == b"\0" * 100

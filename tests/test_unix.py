"""Unix domain sockets (docs/reference) listen({'path'}), §4 connect({'path'}))."""
import os

import iotnet
from helpers import run_bounded


def test_echo_over_a_unix_socket_and_the_file_is_removed_on_close(tmp_path):
    path = str(tmp_path / "echo.sock")
    received, events = [], []
    server = iotnet.createServer(lambda sock: sock.pipe(sock))

    def on_listening():
        assert server.address() == path
        assert os.path.exists(path)
        client = iotnet.connect({"path": path})
        client.on("connect", lambda: (events.append("connect"), client.end(b"over unix")))
        client.on("data", received.append)
        client.on("end", lambda: events.append("end"))
        client.on("close", lambda had_error: (events.append(("close", had_error)),
                                              server.close()))

    server.listen({"path": path}, on_listening)
    run_bounded(10)
    assert b"".join(received) == b"over unix"
    assert events == ["connect", "end", ("close", False)]
    assert not os.path.exists(path)


def test_connect_to_a_missing_unix_socket_is_an_error(tmp_path):
    path = str(tmp_path / "missing.sock")
    errors, closes = [], []
    client = iotnet.connect({"path": path})
    client.on("error", errors.append)
    client.on("close", closes.append)
    run_bounded(10)
    (err,) = errors
    assert isinstance(err, FileNotFoundError) and err.code == "ENOENT"
    assert err.syscall == "connect" and err.address == path
    assert closes == [True]


def test_listen_on_a_path_in_use_is_eaddrinuse(tmp_path):
    path = str(tmp_path / "busy.sock")
    errors = []
    first = iotnet.createServer()

    def on_listening():
        second = iotnet.createServer()
        second.on("error", lambda err: (errors.append(err), first.close()))
        second.listen({"path": path})

    first.listen({"path": path}, on_listening)
    run_bounded(10)
    (err,) = errors
    assert err.code == "EADDRINUSE" and err.syscall == "listen" and err.address == path

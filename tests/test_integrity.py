"""Integrity under load: every byte comes back, in order, through the echo paths users write
(sock.pipe(sock) and sock.on('data', sock.write)); and a round trip through them runs no Python
code of the package."""
import hashlib
import random
import resource

import pytest

import iotnet
from helpers import listen_local, odd_chunks, run_bounded

MIB = 1024 * 1024
# Odd sizes, from single bytes to more than the read buffer, so chunk boundaries fall anywhere.
ODD_CHUNK_SIZES = (1, 7, 333, 4093, 65537, 131071, 1000003)




def _echo_and_check(payload, on_connection, seed):
    """Sends payload in odd chunks with backpressure; returns (sha256 sent, sha256 received)."""
    received = hashlib.sha256()
    counts = {"received": 0, "drains": 0}
    closes = []
    chunks = odd_chunks(payload, seed, ODD_CHUNK_SIZES)
    server = iotnet.createServer(on_connection)

    def on_listening(port):
        client = iotnet.connect(port, "127.0.0.1")

        def send_more():
            for chunk in chunks:
                if not client.write(chunk):
                    return          # 'drain' comes back here
            client.end()

        def on_data(chunk):
            received.update(chunk)
            counts["received"] += len(chunk)

        def on_drain():
            counts["drains"] += 1
            send_more()

        client.on("connect", send_more)
        client.on("drain", on_drain)
        client.on("data", on_data)
        client.on("close", lambda had_error: (closes.append(had_error), server.close()))

    listen_local(server, on_listening)
    run_bounded(120)
    assert closes == [False]
    assert counts["received"] == len(payload)
    return hashlib.sha256(payload).hexdigest(), received.hexdigest(), counts


def test_32_mib_through_a_pipe_echo_server_sha256():
    payload = random.Random(1).randbytes(32 * MIB)
    sent, received, counts = _echo_and_check(payload, lambda sock: sock.pipe(sock), seed=2)
    assert received == sent
    assert counts["drains"] > 0          # the client's writes really met backpressure


def test_8_mib_through_a_data_listener_echo_server_sha256():
    payload = random.Random(3).randbytes(8 * MIB)
    sent, received, _ = _echo_and_check(payload, lambda sock: sock.on("data", sock.write),
                                        seed=4)
    assert received == sent


@pytest.fixture
def many_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, 8192) if hard != resource.RLIM_INFINITY else 8192
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < 2200:
        pytest.skip("cannot raise RLIMIT_NOFILE to 2,200 descriptors")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_1000_concurrent_connections_all_echoed_exactly(many_fds):
    clients_count = 1000
    echoed = {}
    closes = []
    server = iotnet.createServer(lambda sock: sock.on("data", sock.write))
    server.maxConnections = None

    def on_listening(port):
        for index in range(clients_count):
            message = f"client {index:04d} ".encode() * 8
            client = iotnet.connect(port, "127.0.0.1")
            parts = []

            def on_data(chunk, client=client, parts=parts, message=message, index=index):
                parts.append(chunk)
                if sum(map(len, parts)) >= len(message):
                    echoed[index] = b"".join(parts) == message
                    client.end()

            def on_close(had_error):
                closes.append(had_error)
                if len(closes) == clients_count:
                    server.close()

            client.on("connect", lambda client=client, message=message: client.write(message))
            client.on("data", on_data)
            client.on("close", on_close)

    server.listen(0, "127.0.0.1", 2048, lambda: on_listening(server.address()["port"]))
    run_bounded(120)
    assert len(echoed) == clients_count
    assert all(echoed.values())
    assert closes == [False] * clients_count


# -- the hot path ---------------------------------------------------------------------------------

def test_echo_round_passes_through_no_python_frame_of_iotnet():
    """The hot path read -> 'data' listeners -> write() lives in C: while 2,000 chunks are echoed
    (by `sock.on('data', sock.write)` and by `sock.pipe(sock)`), no Python function of the iotnet
    package runs."""
    import os
    import sys

    package_dir = os.path.dirname(iotnet.__file__)
    iotnet_frames = []
    rounds = 1000

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code.co_filename.startswith(package_dir):
            iotnet_frames.append(frame.f_code.co_name)

    def on_connection(sock):
        if len(connections) == 0:
            sock.on("data", sock.write)
        else:
            sock.pipe(sock)
        connections.append(sock)

    connections = []
    server = iotnet.createServer(on_connection)

    def run_client(port, done):
        client = iotnet.connect(port, "127.0.0.1")
        count = [0]

        def on_data(chunk):
            count[0] += 1
            if count[0] == rounds:
                sys.setprofile(None)
                client.end()
            else:
                client.write(b"ping")

        def on_connect():
            sys.setprofile(profiler)
            client.write(b"ping")

        client.on("connect", on_connect)
        client.on("data", on_data)
        client.on("close", lambda had_error: done())

    def second_client():
        run_client(server.address()["port"], server.close)

    listen_local(server, lambda port: run_client(port, second_client))
    run_bounded(30)
    sys.setprofile(None)
    assert len(connections) == 2
    assert iotnet_frames == []


def test_byte_counters_go_past_4_gib():
    """bytesWritten and bytesRead are 64-bit counters on every platform: on 32-bit ARM, where
    size_t is 32 bits, a connection that moves more than 4 GiB still counts every byte
    (make test-armv7l runs this). The server reads with onread, so no bytes object is made per
    chunk."""
    total = 4 * 1024 * MIB + 3 * MIB + 5            # past 2**32
    chunk = bytes(MIB)
    state = {"sent": 0, "read": 0, "server_read": None}

    def on_read(nread, buf, sock):
        state["read"] += nread

    def on_connection(sock):
        def on_end():
            state["server_read"] = sock.bytesRead
            sock.end()
            server.close()
        sock.on("end", on_end)

    server = iotnet.createServer({"onread": {"buffer": bytearray(256 * 1024), "callback": on_read}},
                                 on_connection)

    def start(port):
        client = iotnet.connect(port, "127.0.0.1")
        state["client"] = client

        def pump():
            while state["sent"] < total:
                size = min(MIB, total - state["sent"])
                state["sent"] += size
                flowing = client.write(chunk if size == MIB else chunk[:size])
                if state["sent"] == total:
                    client.end()
                elif not flowing:
                    return                          # 'drain' calls pump again
        client.on("connect", pump)
        client.on("drain", pump)

    listen_local(server, start)
    run_bounded(120)
    assert state["client"].bytesWritten == total
    assert state["server_read"] == state["read"] == total

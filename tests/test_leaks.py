"""Leaks: after thousands of connect/echo/close cycles no Socket object is left and the
process's memory has stopped growing."""
import gc
import os

import iotnet
from helpers import run_bounded

CYCLES_PER_BATCH = 1000
BATCHES = 5
IN_FLIGHT = 20
# Allowed RSS growth between the first batch and the last one: a leak of even a few hundred
# bytes per connection over 4,000 connections would exceed it.
RSS_GROWTH_LIMIT_BYTES = 1024 * 1024


def _rss_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _live_sockets():
    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, iotnet.Socket))


def _run_cycles(count):
    """`count` connect -> 64-byte echo -> close cycles, IN_FLIGHT at a time."""
    done = {"started": 0, "echoed": 0, "closed": 0}
    message = b"m" * 64
    server = iotnet.createServer(lambda sock: sock.on("data", sock.write))

    def start_one(port):
        done["started"] += 1
        client = iotnet.connect(port, "127.0.0.1")
        client.on("connect", lambda: client.write(message))

        def on_data(chunk):
            done["echoed"] += len(chunk)
            client.end()

        def on_close(had_error):
            assert not had_error
            done["closed"] += 1
            if done["started"] < count:
                start_one(port)
            elif done["closed"] == count:
                server.close()

        client.on("data", on_data)
        client.on("close", on_close)

    def on_listening():
        for _ in range(IN_FLIGHT):
            start_one(server.address()["port"])

    server.listen(0, "127.0.0.1", on_listening)
    run_bounded(120)
    assert done["closed"] == count
    assert done["echoed"] == count * len(message)


def test_5000_cycles_leave_no_socket_and_no_growth():
    sockets_before = _live_sockets()
    _run_cycles(CYCLES_PER_BATCH)
    gc.collect()
    rss_after_first_batch = _rss_bytes()
    for _ in range(BATCHES - 1):
        _run_cycles(CYCLES_PER_BATCH)
    assert _live_sockets() == sockets_before
    growth = _rss_bytes() - rss_after_first_batch
    assert growth < RSS_GROWTH_LIMIT_BYTES, growth

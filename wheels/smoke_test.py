"""Smoke test for an installed iotnet wheel: import, versions, one TCP echo round trip.

Run it with the interpreter the wheel is installed in, from outside the source tree
(cibuildwheel's test-command, `make wheel`, `make wheel-aarch64`).  Exits non-zero on failure.
"""
import os
import platform
import sys

import iotnet

PAYLOAD = b"ping"
GUARD_MS = 20000  # generous: under QEMU the whole loop runs emulated

pkg_dir = os.path.dirname(os.path.abspath(iotnet.__file__))
print(f"iotnet {iotnet.__version__} (libuv {iotnet.libuv_version()}) "
      f"on Python {platform.python_version()} {platform.machine()}")
print(f"imported from {pkg_dir}")
if os.path.exists("/proc/self/maps"):   # Linux (also under QEMU): which libuv file is loaded
    with open("/proc/self/maps") as maps:
        libuv = sorted({line.split()[-1] for line in maps if "libuv" in line})
    print(f"libuv loaded from {', '.join(libuv) or '(statically linked)'}")
# A wheel test that imports the source tree proves nothing about the wheel.
if os.path.exists(os.path.join(pkg_dir, os.pardir, os.pardir, "setup.py")):
    sys.exit("smoke test: iotnet was imported from the source tree, not from an installed wheel")

received = bytearray()
closed = []


def on_guard():
    raise TimeoutError(f"smoke test: no echo within {GUARD_MS} ms (received {bytes(received)!r})")


def on_listening():
    port = server.address()["port"]
    client = iotnet.connect(port, "127.0.0.1")
    client.on("connect", lambda: client.write(PAYLOAD))

    def on_data(chunk):
        received.extend(chunk)
        if len(received) >= len(PAYLOAD):
            client.end()   # the server side ends too (allowHalfOpen is off), then both close
            server.close()

    client.on("data", on_data)
    client.on("close", lambda had_error: closed.append(("client", had_error)))


server = iotnet.createServer(lambda sock: sock.on("data", sock.write))
server.on("close", lambda: closed.append(("server", False)))
server.listen(0, "127.0.0.1", on_listening)

# An unref'd guard fails the run if the echo never comes, without keeping the loop alive.
guard = iotnet.setTimeout(on_guard, GUARD_MS)
guard.unref()
iotnet.run()
iotnet.clearTimeout(guard)

if bytes(received) != PAYLOAD:
    sys.exit(f"smoke test: echoed {bytes(received)!r}, expected {PAYLOAD!r}")
if sorted(closed) != [("client", False), ("server", False)]:
    sys.exit(f"smoke test: expected a clean close of client and server, got {closed}")
print(f"echo round trip OK: {bytes(received)!r}; client and server closed")

"""An iotnet echo server on Node's onread option: every accepted socket reads into one shared
buffer, and the callback echoes straight from it (write() of a memoryview sends from that
memory; no bytes object per read).

    python bench/servers/iotnet_onread.py PORT [HOST]
"""
import signal
import sys

import iotnet

BUFFER = bytearray(256 * 1024)
VIEW = memoryview(BUFFER)


def on_read(nread, buf, sock):
    sock.write(VIEW[:nread])


def ignore_error(err):
    """A peer's reset: 'close' follows and the server goes on."""


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    signal.signal(signal.SIGTERM, lambda signum, frame: iotnet.stop())
    server = iotnet.createServer({"noDelay": True,
                                  "onread": {"buffer": BUFFER, "callback": on_read}},
                                 lambda sock: sock.on("error", ignore_error))
    server.listen(port, host, lambda: print("listening on", server.address()["port"], flush=True))
    try:
        iotnet.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

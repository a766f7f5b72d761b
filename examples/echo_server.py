"""An echo server: every byte a client sends comes back.

    python examples/echo_server.py [PORT] [HOST]      (defaults: 8080, 127.0.0.1; port 0 = any)

Prints `listening on PORT` once it accepts connections; Ctrl-C or SIGTERM stops it.
"""
import signal
import sys

import iotnet


def ignore_error(err):
    """A peer's reset: 'close' follows and the server goes on."""


def on_connection(sock):
    sock.on("error", ignore_error)
    sock.pipe(sock)          # memory-safe echo: pauses reading while the peer is slow


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    # SIGTERM ends the loop cleanly; SIGINT raises KeyboardInterrupt even when the shell that
    # started us in the background had it ignored.
    signal.signal(signal.SIGTERM, lambda signum, frame: iotnet.stop())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = iotnet.createServer({"noDelay": True}, on_connection)
    server.listen(port, host, lambda: print("listening on", server.address()["port"], flush=True))
    try:
        iotnet.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

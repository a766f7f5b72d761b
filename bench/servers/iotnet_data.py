"""Echo server: iotnet with the naive Node-style echo, a 'data' listener that writes each chunk
back. Otherwise the same as examples/echo_server.py (which uses sock.pipe(sock)).

usage: python iotnet_data.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)

Unlike pipe(), this never pauses reading while writes are queued: it is the echo as it is most
often written, and its rows show what the 'data' event and write() cost without pipe()'s help.
"""
import signal
import sys

import iotnet


def ignore_error(err):
    """A peer's reset: 'close' follows and the server goes on."""


def on_connection(sock):
    sock.on("error", ignore_error)
    # The socket's own bound write() is the listener: no Python frame per chunk, and one small
    # object per connection (a lambda closing over sock costs about 200 bytes more each).
    sock.on("data", sock.write)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
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

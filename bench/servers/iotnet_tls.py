"""TLS echo server on iotnet.tls: examples/echo_server.py with a certificate.

usage: python iotnet_tls.py PORT HOST CERT KEY   (prints "listening on PORT"; SIGTERM/SIGINT end it)
CERT and KEY are PEM files; their text is passed as Node's `cert` and `key` options.
"""
import signal
import sys

import iotnet
from iotnet import tls


def ignore_error(err):
    """A peer's reset: 'close' follows and the server goes on."""


def on_secure_connection(sock):
    sock.on("error", ignore_error)
    sock.pipe(sock)          # memory-safe echo: pauses reading while the peer is slow


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: iotnet_tls.py PORT HOST CERT KEY")
    port, host = int(sys.argv[1]), sys.argv[2]
    with open(sys.argv[3]) as f:
        cert = f.read()
    with open(sys.argv[4]) as f:
        key = f.read()
    signal.signal(signal.SIGTERM, lambda signum, frame: iotnet.stop())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = tls.createServer({"key": key, "cert": cert, "noDelay": True}, on_secure_connection)
    server.on("tlsClientError", ignore_error)   # a client that fails its handshake is dropped
    server.listen(port, host, lambda: print("listening on", server.address()["port"], flush=True))
    try:
        iotnet.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

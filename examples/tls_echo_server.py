"""A TLS echo server: every byte a client sends comes back, encrypted.

    python examples/tls_echo_server.py [PORT] [HOST] [CERT] [KEY]
        (defaults: 8443, 127.0.0.1, cert.pem, key.pem; port 0 = any)

A throw-away certificate for trying it (ECDSA P-256, for 'localhost' and 127.0.0.1, one day):

    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -keyout key.pem -out cert.pem -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1

Then, in another shell: `python examples/tls_client.py 8443 localhost hi cert.pem`, or
`openssl s_client -connect 127.0.0.1:8443 -CAfile cert.pem`.
Prints `listening on PORT` once it accepts connections; Ctrl-C or SIGTERM stops it.
"""
import signal
import sys

import iotnet
from iotnet import tls


def on_secure_connection(sock):
    sock.on("error", lambda err: None)   # a client's reset: 'close' follows, the server goes on
    sock.pipe(sock)


def on_tls_client_error(err, sock):
    """A handshake that failed (a plain-TCP client, an untrusted client certificate, ...)."""
    print("TLS handshake failed:", getattr(err, "code", err), file=sys.stderr, flush=True)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8443
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    cert = sys.argv[3] if len(sys.argv) > 3 else "cert.pem"
    key = sys.argv[4] if len(sys.argv) > 4 else "key.pem"
    signal.signal(signal.SIGTERM, lambda signum, frame: iotnet.stop())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # cert and key are file paths here; PEM text (str or bytes) works as well.
    server = tls.createServer({"cert": cert, "key": key, "noDelay": True}, on_secure_connection)
    server.on("tlsClientError", on_tls_client_error)
    server.listen(port, host, lambda: print("listening on", server.address()["port"], flush=True))
    try:
        iotnet.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

"""A TLS client: sends a line to a server and prints what comes back.

    python examples/tls_client.py PORT [HOST] [MESSAGE] [CA]

HOST is checked against the server's certificate (default 'localhost'); CA is a PEM file of the
certificates to trust instead of the system's (for a self-signed test server: its cert.pem).
"""
import sys

import iotnet
from iotnet import tls


def main():
    port = int(sys.argv[1])
    host = sys.argv[2] if len(sys.argv) > 2 else "localhost"
    message = sys.argv[3] if len(sys.argv) > 3 else "hello from iotnet over TLS"
    options = {"ca": sys.argv[4]} if len(sys.argv) > 4 else {}

    sock = tls.connect(port, host, options)
    sock.setEncoding("utf8")
    sock.setTimeout(5000, lambda: sock.destroy(TimeoutError("no answer within 5 s")))

    def on_secure_connect():
        print(f"# {sock.getProtocol()}, {sock.getCipher()['name']}, authorized: "
              f"{sock.authorized}", file=sys.stderr)
        sock.write(message + "\n")

    def on_data(text):
        print(text, end="", flush=True)
        if text.endswith("\n"):
            sock.end()          # close_notify, then FIN

    sock.on("secureConnect", on_secure_connect)
    sock.on("data", on_data)
    sock.on("error", lambda err: print("error:", getattr(err, "code", None), err,
                                       file=sys.stderr))
    iotnet.run()


if __name__ == "__main__":
    main()

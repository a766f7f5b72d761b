"""Echo server: examples/echo_server.py behind a balancer, with proxyProtocol on. Every
connection must start with a PROXY protocol header (the loadgen's --proxy-v1 sends a v1 line),
which iotnet reads before the first 'data'.

usage: python iotnet_proxy_protocol.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)

Its connrate against examples/echo_server.py's is what the header costs the server per connection.
"""
import signal
import sys

import iotnet


def ignore_error(err):
    """A peer's reset: 'close' follows and the server goes on."""


def on_connection(sock):
    sock.on("error", ignore_error)
    sock.pipe(sock)


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    signal.signal(signal.SIGTERM, lambda signum, frame: iotnet.stop())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = iotnet.createServer({"noDelay": True, "proxyProtocol": True}, on_connection)
    server.listen(port, host, lambda: print("listening on", server.address()["port"], flush=True))
    try:
        iotnet.run()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

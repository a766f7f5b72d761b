"""A TCP proxy: each client's connection is passed on to a backend server, and what the backend
answers comes back to the client.

    python examples/proxy.py [PORT] [HOST] [BACKEND_PORT] [BACKEND_HOST]
        (defaults: 8081, 127.0.0.1, 8080, HOST; port 0 = any)

For example, with `python examples/echo_server.py 8080` running, `python examples/proxy.py` and
then `python examples/client.py 8081 127.0.0.1 hi` prints "hi", echoed through the proxy.
Prints `listening on PORT` once it accepts connections; Ctrl-C or SIGTERM stops it.
"""
import signal
import sys

import iotnet


def ignore_error(err):
    """A reset or a refused backend: the pipes end the other side, and 'close' follows."""


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    backend_port = int(sys.argv[3]) if len(sys.argv) > 3 else 8080
    backend_host = sys.argv[4] if len(sys.argv) > 4 else host

    def on_connection(sock):
        # One connection to the backend per client; what the client sends before it is up waits
        # in the backend socket's write queue.
        up = iotnet.connect({"port": backend_port, "host": backend_host, "noDelay": True})
        # Two pipes: each direction pauses reading while the other side is slow to take the
        # data, and each side's end is passed on to the other.
        sock.pipe(up)
        up.pipe(sock)
        # A reset or a refused backend on either side ends the other: pipe() passes an error
        # on as an end. The listeners only keep an 'error' from stopping the proxy.
        sock.on("error", ignore_error)
        up.on("error", ignore_error)

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

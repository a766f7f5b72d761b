"""What the iotnet bench servers share (iotnet_data.py, iotnet_onread.py, iotnet_proxy_protocol.py):
the command line `PORT [HOST]`, "listening on PORT" once up, SIGTERM/SIGINT to end. Each server
script differs only in its createServer() options and connection listener."""
import signal
import sys

import iotnet


def ignore_error(err):
    """A peer's reset: 'close' follows and the server goes on."""


def serve(options, on_connection):
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8080
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    signal.signal(signal.SIGTERM, lambda signum, frame: iotnet.stop())
    signal.signal(signal.SIGINT, signal.default_int_handler)
    server = iotnet.createServer({"noDelay": True, **options}, on_connection)
    server.listen(port, host, lambda: print("listening on", server.address()["port"], flush=True))
    try:
        iotnet.run()
    except KeyboardInterrupt:
        pass

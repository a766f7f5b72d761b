"""Echo server: the asyncio-streams echo of asyncio_streams.py, on iotnet.aio's streams.

usage: python iotnet_aio_streams.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
The same coroutine as asyncio_streams.py (read, write, drain); only start_server comes from
iotnet.aio, and iotnet.aio.run() drives the asyncio loop with iotnet attached.
"""
import sys

import iotnet.aio

from asyncio_proto import serve_until_signal
from asyncio_streams import echo


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    iotnet.aio.run(serve_until_signal(
        lambda: iotnet.aio.start_server(echo, host, port, backlog=511)))


if __name__ == "__main__":
    main()

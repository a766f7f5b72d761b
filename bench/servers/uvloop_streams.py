"""Echo server: the asyncio-streams echo of asyncio_streams.py, run on uvloop.

usage: python uvloop_streams.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
"""
import uvloop

from asyncio_proto import main
from asyncio_streams import start_streams_server

if __name__ == "__main__":
    main(start_streams_server, loop_factory=uvloop.new_event_loop)

"""Echo server: the asyncio Protocol of asyncio_proto.py, run on uvloop.

usage: python uvloop_proto.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
"""
import uvloop

from asyncio_proto import main

if __name__ == "__main__":
    main(loop_factory=uvloop.new_event_loop)

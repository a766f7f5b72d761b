"""Echo server: the asyncio Protocol of asyncio_proto.py, run on uvloop.

usage: python uvloop_proto.py PORT [HOST [CERT KEY]]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
"""
import uvloop

from asyncio_proto import main, start_protocol_server

if __name__ == "__main__":
    main(start_protocol_server, loop_factory=uvloop.new_event_loop)

"""Echo server: an asyncio Protocol on the standard event loop.

usage: python asyncio_proto.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
uvloop_proto.py runs this same protocol on uvloop.
"""
import asyncio
import signal
import sys


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)

    # Flow control: stop reading while the write buffer is over its high-water mark, so a
    # client that does not read its echo cannot grow the server's memory.
    def pause_writing(self):
        self.transport.pause_reading()

    def resume_writing(self):
        self.transport.resume_reading()


async def serve(port, host):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # backlog 511, as libuv and Node use; asyncio's own default (100) overflows under connect storms.
    # asyncio sets TCP_NODELAY on accepted sockets itself, as the other servers do explicitly.
    server = await loop.create_server(EchoProtocol, host, port, backlog=511)
    print("listening on", server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    server.close()


def main(loop_factory=None):
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve(port, host))


if __name__ == "__main__":
    main()

"""Echo server: an asyncio Protocol on the standard event loop.

usage: python asyncio_proto.py PORT [HOST [CERT KEY]]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
With CERT and KEY (PEM files) it speaks TLS: the same protocol behind asyncio's ssl=.
uvloop_proto.py runs this same protocol on uvloop.
"""
import asyncio
import signal
import ssl
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


async def serve_until_signal(start_server):
    """Starts a server with `await start_server()`, prints its port, runs until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await start_server()
    print("listening on", server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    server.close()


def main(start_server, loop_factory=None):
    """Runs `start_server(port, host, ssl_context)` from the command line until a signal ends it;
    ssl_context is None unless CERT and KEY follow PORT and HOST."""
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    context = None
    if len(sys.argv) > 3:
        if len(sys.argv) != 5:
            sys.exit("usage: PORT [HOST [CERT KEY]]")
        # A server context with Python's defaults, as a user makes it.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(serve_until_signal(lambda: start_server(port, host, context)))


def start_protocol_server(port, host, ssl_context=None):
    # backlog 511, as libuv and Node use; asyncio's own default (100) overflows under connect storms.
    # asyncio sets TCP_NODELAY on accepted sockets itself, as the other servers do explicitly.
    return asyncio.get_running_loop().create_server(EchoProtocol, host, port, backlog=511, ssl=ssl_context)


if __name__ == "__main__":
    main(start_protocol_server)

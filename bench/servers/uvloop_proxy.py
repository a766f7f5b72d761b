"""TCP proxy on uvloop: two asyncio Protocols, one per side of each proxied connection.

usage: python uvloop_proxy.py PORT HOST BACKEND_PORT   (prints "listening on PORT"; SIGTERM/SIGINT end it)

What one side reads is written to the other's transport; when a transport's write buffer goes
over its high-water mark (pause_writing), the side that feeds it stops reading until it drains
(resume_writing). An EOF is passed on with write_eof; once both sides have sent theirs, or when
either connection is lost, both close.
"""
import asyncio
import sys

import uvloop

from asyncio_proto import serve_until_signal


class Side(asyncio.Protocol):
    """One connection of a proxied pair; `peer` is the other one's Side."""

    def __init__(self):
        self.transport = None
        self.peer = None
        self.eof = False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.peer.transport.write(data)

    def eof_received(self):
        self.eof = True
        if self.peer.eof:
            self.peer.transport.close()
            return False  # both directions have ended: close this one too
        self.peer.transport.write_eof()
        return True  # keep the connection open: the other direction may still carry data

    def connection_lost(self, exc):
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.close()

    # Backpressure: this side's write buffer is full, so the peer, which fills it, stops reading.
    def pause_writing(self):
        self.peer.transport.pause_reading()

    def resume_writing(self):
        self.peer.transport.resume_reading()


class ClientSide(Side):
    """The accepted connection: connects to the backend; what the client sends before that
    connection is up is kept and written once it is."""

    def __init__(self, backend_host, backend_port):
        super().__init__()
        self.backend = (backend_host, backend_port)
        self.early = []  # chunks read before the backend was connected; None once it is

    def connection_made(self, transport):
        super().connection_made(transport)
        asyncio.get_running_loop().create_task(self.connect_backend())

    def data_received(self, data):
        if self.early is None:
            self.peer.transport.write(data)
        else:
            self.early.append(data)
            self.transport.pause_reading()  # until the backend is up

    def eof_received(self):
        if self.early is None:
            return super().eof_received()
        self.eof = True  # passed on once the backend is up
        return True

    async def connect_backend(self):
        upstream = Side()
        upstream.peer = self
        try:
            await asyncio.get_running_loop().create_connection(lambda: upstream, *self.backend)
        except OSError:
            self.transport.close()
            return
        if self.transport.is_closing():  # the client left while we connected
            upstream.transport.close()
            return
        self.peer = upstream
        early, self.early = self.early, None
        for data in early:
            upstream.transport.write(data)
        if self.eof:
            upstream.transport.write_eof()
        else:
            self.transport.resume_reading()


def main():
    port, host, backend_port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])

    def start():
        # backlog 511, as libuv and Node use; uvloop sets TCP_NODELAY on its TCP transports.
        return asyncio.get_running_loop().create_server(lambda: ClientSide(host, backend_port), host, port,
                                                        backlog=511)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve_until_signal(start))


if __name__ == "__main__":
    main()

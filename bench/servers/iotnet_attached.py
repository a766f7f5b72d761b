"""Echo server: iotnet's pipe echo (examples/echo_server.py's) inside asyncio, with
iotnet.aio.run() driving libuv from the asyncio loop.

usage: python iotnet_attached.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
"""
import asyncio
import signal
import sys

import iotnet
import iotnet.aio


def on_connection(sock):
    sock.on("error", lambda err: None)      # a peer's reset: 'close' follows
    sock.pipe(sock)


async def serve(port, host):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = iotnet.createServer({"noDelay": True}, on_connection)
    server.listen(port, host)
    await iotnet.once(server, "listening")
    print("listening on", server.address()["port"], flush=True)
    await stop.wait()
    server.close()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    iotnet.aio.run(serve(port, host))


if __name__ == "__main__":
    main()

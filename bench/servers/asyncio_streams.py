"""Echo server: asyncio streams (StreamReader/StreamWriter) on the standard event loop.

usage: python asyncio_streams.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
"""
import asyncio
import signal
import sys


async def echo(reader, writer):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()  # flow control: wait while the write buffer is full
    except ConnectionError:
        pass
    finally:
        writer.close()


async def serve(port, host):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = await asyncio.start_server(echo, host, port, backlog=511)
    print("listening on", server.sockets[0].getsockname()[1], flush=True)
    await stop.wait()
    server.close()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"
    asyncio.run(serve(port, host))


if __name__ == "__main__":
    main()

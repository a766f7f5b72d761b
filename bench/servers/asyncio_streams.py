"""Echo server: asyncio streams (StreamReader/StreamWriter) on the standard event loop.

usage: python asyncio_streams.py PORT [HOST [CERT KEY]]   (prints "listening on PORT"; SIGTERM/SIGINT end it)
"""
import asyncio

from asyncio_proto import main


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


def start_streams_server(port, host, ssl_context=None):
    return asyncio.start_server(echo, host, port, backlog=511, ssl=ssl_context)


if __name__ == "__main__":
    main(start_streams_server)

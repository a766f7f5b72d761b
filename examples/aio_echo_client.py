"""An echo client written for asyncio streams, run on asyncio's streams or on iotnet's:
the code is the same, only the module that provides open_connection changes.

    python examples/aio_echo_client.py PORT [asyncio|iotnet] [MESSAGE]

Sends MESSAGE as a line, prints the line that comes back.
"""
import asyncio
import sys

import iotnet.aio


async def echo_once(streams, port, message):
    reader, writer = await streams.open_connection("127.0.0.1", port)
    writer.write(message.encode() + b"\n")
    await writer.drain()
    line = await reader.readline()
    writer.close()
    await writer.wait_closed()
    return line.decode()


def main():
    port = int(sys.argv[1])
    provider = sys.argv[2] if len(sys.argv) > 2 else "iotnet"
    message = sys.argv[3] if len(sys.argv) > 3 else "hello from asyncio streams"
    if provider == "iotnet":
        # iotnet's streams need iotnet attached to the loop: iotnet.aio.run does it.
        line = iotnet.aio.run(echo_once(iotnet.aio, port, message))
    elif provider == "asyncio":
        line = asyncio.run(echo_once(asyncio, port, message))
    else:
        sys.exit("provider: asyncio or iotnet")
    print(line, end="")


if __name__ == "__main__":
    main()

"""An asyncio program with two echo servers side by side in one thread: iotnet's (its C path,
sock.pipe(sock)) and asyncio's own (asyncio.start_server). iotnet.aio.run() drives both.

    python examples/aio_two_servers.py [IOTNET_PORT] [ASYNCIO_PORT]     (defaults: 8080, 8081)

Prints `listening on IOTNET_PORT ASYNCIO_PORT`; Ctrl-C or SIGTERM stops it. Try either with
examples/aio_echo_client.py.
"""
import asyncio
import signal
import sys

import iotnet
import iotnet.aio


async def asyncio_echo(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(iotnet_port, asyncio_port):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    fast = iotnet.createServer({"noDelay": True}, lambda sock: sock.pipe(sock))
    fast.on("connection", lambda sock: sock.on("error", lambda err: None))
    fast.listen(iotnet_port, "127.0.0.1")
    await iotnet.once(fast, "listening")

    plain = await asyncio.start_server(asyncio_echo, "127.0.0.1", asyncio_port)

    print("listening on", fast.address()["port"], plain.sockets[0].getsockname()[1],
          flush=True)
    await stop.wait()
    plain.close()
    fast.close()


if __name__ == "__main__":
    iotnet.aio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8080,
                        int(sys.argv[2]) if len(sys.argv) > 2 else 8081))

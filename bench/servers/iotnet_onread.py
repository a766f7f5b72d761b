"""An iotnet echo server on Node's onread option: every accepted socket reads into one shared
buffer, and the callback echoes straight from it (write() of a memoryview sends from that
memory; no bytes object per read).

    python bench/servers/iotnet_onread.py PORT [HOST]
"""
from iotnet_serve import ignore_error, serve

BUFFER = bytearray(256 * 1024)
VIEW = memoryview(BUFFER)


def on_read(nread, buf, sock):
    sock.write(VIEW[:nread])


if __name__ == "__main__":
    serve({"onread": {"buffer": BUFFER, "callback": on_read}},
          lambda sock: sock.on("error", ignore_error))

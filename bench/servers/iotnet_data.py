"""Echo server: iotnet with the naive Node-style echo, a 'data' listener that writes each chunk
back. Otherwise the same as examples/echo_server.py (which uses sock.pipe(sock)).

usage: python iotnet_data.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)

Unlike pipe(), this never pauses reading while writes are queued: it is the echo as it is most
often written, and its rows show what the 'data' event and write() cost without pipe()'s help.
"""
from iotnet_serve import ignore_error, serve


def on_connection(sock):
    sock.on("error", ignore_error)
    # The socket's own bound write() is the listener: no Python frame per chunk, and one small
    # object per connection (a lambda closing over sock costs about 200 bytes more each).
    sock.on("data", sock.write)


if __name__ == "__main__":
    serve({}, on_connection)

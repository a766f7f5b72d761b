"""Echo server: examples/echo_server.py behind a balancer, with proxyProtocol on. Every
connection must start with a PROXY protocol header (the loadgen's --proxy-v1 sends a v1 line),
which iotnet reads before the first 'data'.

usage: python iotnet_proxy_protocol.py PORT [HOST]   (prints "listening on PORT"; SIGTERM/SIGINT end it)

Its connrate against examples/echo_server.py's is what the header costs the server per connection.
"""
from iotnet_serve import ignore_error, serve


def on_connection(sock):
    sock.on("error", ignore_error)
    sock.pipe(sock)


if __name__ == "__main__":
    serve({"proxyProtocol": True}, on_connection)

"""iotnet.tls: Node's tls module over iotnet's sockets (IoT.js has one too).

    from iotnet import tls

    server = tls.createServer({'key': key_pem, 'cert': cert_pem},
                              lambda sock: sock.pipe(sock))
    server.listen(8883)

    sock = tls.connect(8883, 'broker.example', lambda: sock.write(b'hello'))

A TLSSocket is a Socket: every event, method and guarantee of net holds for the plaintext.
Encryption is the running Python's `ssl` (an SSLObject over memory BIOs, on the loop thread).
"""
from ._core import TLSServer as Server
from ._core import TLSSocket
from . import _tls


def createServer(options=None, secureConnectionListener=None, **kwargs):
    """A TLS Server; `secureConnectionListener` is added as a 'secureConnection' listener."""
    if callable(options) and secureConnectionListener is None:
        options, secureConnectionListener = None, options
    return Server(options, secureConnectionListener, **kwargs)


def connect(*args, **kwargs):
    """connect(options, listener) or connect(port, host=None, options=None, listener): a
    TLSSocket connecting; `listener` is added as a 'secureConnect' listener."""
    options, listener = _tls.connect_args(args, kwargs)
    sock = TLSSocket(options)
    if listener is not None:
        sock.once("secureConnect", listener)
    return sock.connect(options)


createConnection = connect
create_server = createServer
create_connection = createConnection

__all__ = ["Server", "TLSSocket", "createServer", "create_server", "connect",
           "createConnection", "create_connection"]

"""iotnet: the IoT.js / Node.js `net` module for Python, on libuv with a Cython core.

    import iotnet

    def on_connection(sock):
        sock.on('data', sock.write)          # echo

    server = iotnet.createServer(on_connection)
    server.listen(8080, '127.0.0.1')
    iotnet.run()

Every camelCase name has a PEP 8 alias that is the same object (createServer/create_server).
"""
from ._version import __version__
from . import _core
from ._address import isIP, isIPv4, isIPv6, is_ip, is_ipv4, is_ipv6
from ._args import connect_args as _connect_args
from ._core import (
    EventEmitter,
    Immediate,
    NetError,
    Server,
    Socket,
    Timer,
    call_soon_threadsafe,
    clearImmediate,
    clearInterval,
    clearTimeout,
    libuv_version,
    nextTick,
    on_uncaught_exception,
    run,
    setImmediate,
    setInterval,
    setTimeout,
    stop,
)
from . import tls
from ._shutdown import on_shutdown, worker_id_from_env as _worker_id_from_env

# 1..N in a worker of `python -m iotnet --workers N`, None otherwise; a worker's TCP servers
# set SO_REUSEPORT, so that the workers share their ports.
worker_id = _worker_id_from_env()
if worker_id is not None:
    _core._set_reuse_port_always(True)


def createServer(options=None, connectionListener=None, **kwargs):
    """A new Server; `connectionListener` is added as a 'connection' listener."""
    return Server(options, connectionListener, **kwargs)


def connect(*args, **kwargs):
    """A new Socket connecting as Socket.connect(*args); also takes allowHalfOpen,
    highWaterMark and onread."""
    options, listener = _connect_args(args, kwargs)
    sock = Socket(allowHalfOpen=options["allowHalfOpen"], highWaterMark=options["highWaterMark"],
                  onread=options["onread"])
    return sock.connect(options, listener)


createConnection = connect


def once(emitter, name):
    """Node's events.once, inside asyncio (iotnet.aio): `args = await iotnet.once(server,
    'listening')` gives the event's arguments as a tuple; an 'error' first raises it."""
    from .aio import once as aio_once
    return aio_once(emitter, name)

# PEP 8 aliases: the same objects under snake_case names.
create_server = createServer
create_connection = createConnection
set_timeout = setTimeout
set_interval = setInterval
set_immediate = setImmediate
next_tick = nextTick
clear_timeout = clearTimeout
clear_interval = clearInterval
clear_immediate = clearImmediate

__all__ = [
    "__version__", "libuv_version", "run", "stop", "call_soon_threadsafe",
    "on_uncaught_exception", "EventEmitter", "Server", "Socket", "NetError", "Timer", "Immediate",
    "createServer", "create_server", "connect", "createConnection", "create_connection",
    "setTimeout", "set_timeout", "setInterval", "set_interval", "setImmediate", "set_immediate",
    "nextTick", "next_tick", "clearTimeout", "clear_timeout", "clearInterval", "clear_interval",
    "clearImmediate", "clear_immediate", "isIP", "is_ip", "isIPv4", "is_ipv4", "isIPv6",
    "is_ipv6", "once", "on_shutdown", "worker_id",
]

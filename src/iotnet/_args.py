"""Argument parsing for the net API: Node's call forms, option defaults, PEP 8 aliases.

Every public entry point checks its arguments here, before anything is built, so a bad call
raises TypeError/ValueError and leaves nothing half-open.
"""
import os
import sys

from ._address import isIP

# The API's defaults and limits: the one place for each (the core reads them from here).
DEFAULT_HIGH_WATER_MARK_BYTES = 65536   # write() returns False at this many queued bytes
DEFAULT_BACKLOG = 511                   # listen() backlog, as in Node
MAX_PORT = 65535
MAX_MILLISECONDS = 2147483647           # Node's TIMEOUT_MAX
MIN_TIMER_DELAY_MS = 1                  # setTimeout(fn, 0) waits 1 ms, as in Node
MAX_BACKLOG = 2147483647                # listen()'s backlog is a C int

# snake_case spellings accepted in option dicts and keyword arguments.
_ALIASES = {
    "allow_half_open": "allowHalfOpen",
    "pause_on_connect": "pauseOnConnect",
    "no_delay": "noDelay",
    "keep_alive": "keepAlive",
    "keep_alive_initial_delay": "keepAliveInitialDelay",
    "high_water_mark": "highWaterMark",
    "ipv6_only": "ipv6Only",
    "reuse_port": "reusePort",
    "local_address": "localAddress",
    "local_port": "localPort",
    "proxy_protocol": "proxyProtocol",
    "header_timeout": "headerTimeout",
    "connection_listener": "connectionListener",
    "listening_listener": "listeningListener",
    "connect_listener": "connectListener",
}


def merge(options, kwargs, what):
    if options is None:
        options = {}
    elif not isinstance(options, dict):
        raise TypeError(f"{what} options must be a dict, not {type(options).__name__}")
    merged = {}
    for key, value in list(options.items()) + list(kwargs.items()):
        if not isinstance(key, str):
            raise TypeError(f"option names must be str, not {type(key).__name__}")
        merged[_ALIASES.get(key, key)] = value
    return merged


def boolean(value, name):
    if not isinstance(value, (bool, int)) and value is not None:
        raise TypeError(f"{name} must be a bool, not {type(value).__name__}")
    return bool(value)


def callable_or_none(value, name):
    if value is not None and not callable(value):
        raise TypeError(f"{name} must be callable, not {type(value).__name__}")
    return value


def milliseconds(value, name):
    """A non-negative whole number of milliseconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of milliseconds, not {type(value).__name__}")
    if value != value or not 0 <= value <= MAX_MILLISECONDS:
        raise ValueError(f"{name} must be a number of milliseconds in 0..{MAX_MILLISECONDS}, "
                         f"not {value!r}")
    return int(value)


def _int_in_range(value, name, low, high):
    """An int (not a bool) in low..high: TypeError for another type, ValueError outside."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, not {value!r}")
    return value


def timer_delay(value):
    """setTimeout/setInterval's delay: milliseconds, at least MIN_TIMER_DELAY_MS."""
    return max(milliseconds(value, "delay"), MIN_TIMER_DELAY_MS)


def idle_timeout(value):
    """Socket.setTimeout's milliseconds: 0 turns it off, anything above is a timer's delay."""
    ms = milliseconds(value, "timeout")
    return max(ms, MIN_TIMER_DELAY_MS) if value else 0


def _high_water_mark(value):
    if value is None:
        return DEFAULT_HIGH_WATER_MARK_BYTES
    # 32 bits in the core (a connection's flags share its word): marks up to 4 GiB - 1.
    return _int_in_range(value, "highWaterMark", 0, 2 ** 32 - 1)


def max_connections(value):
    """Server.maxConnections: None or 0 for no limit, else a whole number >= 0 (inf: none)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"maxConnections must be a number or None, not {type(value).__name__}")
    if value != value or value < 0:
        raise ValueError(f"maxConnections must be >= 0, not {value!r}")
    return 0 if value >= sys.maxsize else int(value)


def port(value, allow_zero=True, allow_str=True):
    """A port number: an int, a whole float or a str of ASCII digits, in 0..65535 (1..65535
    to connect). Another type is a TypeError; any other str or number is a ValueError.
    localPort, as in Node, takes no str."""
    low = 0 if allow_zero else 1
    if isinstance(value, str) and allow_str:
        digits = value.strip()
        if not (digits.isascii() and digits.isdigit()):
            raise ValueError(f"port must be in {low}..{MAX_PORT}, not {value!r}")
        value = int(digits)
    elif isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"port must be in {low}..{MAX_PORT}, not {value!r}")
        value = int(value)
    return _int_in_range(value, "port", low, MAX_PORT)


def _host(value, default):
    if value is None:
        return default
    if not isinstance(value, str):
        raise TypeError(f"host must be a str, not {type(value).__name__}")
    return value or default


def _path(value):
    if value is None:
        return None
    if not isinstance(value, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a str or path, not {type(value).__name__}")
    return os.fspath(value)


def onread(value):
    """Node's onread option: {'buffer': a writable buffer (or a function returning one),
    'callback': fn(nread, buf)} -> (buffer, callback), or None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise TypeError(f"onread must be a dict with 'buffer' and 'callback', not "
                        f"{type(value).__name__}")
    buffer, callback = value.get("buffer"), value.get("callback")
    if not callable(callback):
        raise TypeError(f"onread['callback'] must be callable, not {type(callback).__name__}")
    if not callable(buffer):
        try:
            view = memoryview(buffer)
        except TypeError:
            raise TypeError("onread['buffer'] must be a writable buffer (bytearray, "
                            f"memoryview...) or a function, not {type(buffer).__name__}") from None
        if view.readonly or not view.c_contiguous:
            raise TypeError("onread['buffer'] must be writable and contiguous")
        if view.nbytes == 0:
            raise ValueError("onread['buffer'] must not be empty")
    return buffer, callback


def socket_options(options, kwargs):
    """Socket(options): allowHalfOpen, highWaterMark, onread."""
    opts = merge(options, kwargs, "Socket")
    return {
        "allowHalfOpen": boolean(opts.get("allowHalfOpen", False), "allowHalfOpen"),
        "highWaterMark": _high_water_mark(opts.get("highWaterMark")),
        "onread": onread(opts.get("onread")),
    }


def server_args(options, listener, kwargs):
    """createServer(options, connectionListener) with either argument omitted."""
    if callable(options) and listener is None:
        options, listener = None, options
    opts = merge(options, kwargs, "Server")
    listener = opts.pop("connectionListener", listener)
    return {
        "allowHalfOpen": boolean(opts.get("allowHalfOpen", False), "allowHalfOpen"),
        "pauseOnConnect": boolean(opts.get("pauseOnConnect", False), "pauseOnConnect"),
        "noDelay": boolean(opts.get("noDelay", False), "noDelay"),
        "keepAlive": boolean(opts.get("keepAlive", False), "keepAlive"),
        "keepAliveInitialDelay": milliseconds(opts.get("keepAliveInitialDelay", 0),
                                              "keepAliveInitialDelay"),
        "highWaterMark": _high_water_mark(opts.get("highWaterMark")),
        "onread": onread(opts.get("onread")),
        "proxyProtocol": boolean(opts.get("proxyProtocol", False), "proxyProtocol"),
        "headerTimeout": _header_timeout(opts.get("headerTimeout", 5000)),
    }, callable_or_none(listener, "connectionListener")


def _header_timeout(value):
    """headerTimeout: how long a PROXY protocol header may take, in ms (an int above 0)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"headerTimeout must be an int of milliseconds, not {type(value).__name__}")
    if not 0 < value <= MAX_MILLISECONDS:
        raise ValueError(f"headerTimeout must be in 1..{MAX_MILLISECONDS} ms, not {value!r}")
    return value


def _split_listener(args):
    """Node's convention: a trailing callable is the listener (trailing Nones are omitted)."""
    while args and args[-1] is None:
        args = args[:-1]
    if args and callable(args[-1]):
        return args[:-1], args[-1]
    return args, None


def _call_form(args, kwargs, positional_names, listener_name, what):
    """Node's two call forms: (options, listener), or positional values then a listener."""
    args, listener = _split_listener(tuple(args))
    kwargs = {_ALIASES.get(key, key): value for key, value in kwargs.items()}
    listener = kwargs.pop(listener_name, listener)
    if args and isinstance(args[0], dict):
        if len(args) > 1:
            raise TypeError(f"{what}(options, listener) takes no further arguments")
        return merge(args[0], kwargs, what), listener
    if len(args) > len(positional_names):
        raise TypeError(f"{what}({', '.join(positional_names)}, listener) takes at most "
                        f"{len(positional_names) + 1} arguments")
    opts = merge(None, kwargs, what)
    opts.update(zip(positional_names, args))
    return opts, listener


def _missing_args(message):
    """Node's ERR_MISSING_ARGS: a TypeError with that code."""
    err = TypeError(message)
    err.code = "ERR_MISSING_ARGS"
    return err


class ConnectOptions(dict):
    """connect()'s options once checked: passed on to Socket.connect(), they are not checked
    again (Node marks its normalized arguments for the same reason)."""


def connect_args(args, kwargs):
    """connect(port, host='localhost', listener) or connect(options, listener)."""
    if args and type(args[0]) is ConnectOptions and len(args) <= 2 and not kwargs:
        listener = args[1] if len(args) == 2 else None
        return args[0], callable_or_none(listener, "connectListener")
    opts, listener = _call_form(args, kwargs, ("port", "host"), "connectListener", "connect")
    return connect_options(opts), callable_or_none(listener, "connectListener")


def connect_options(opts):
    path = _path(opts.get("path"))
    if path is None and opts.get("port") is None:
        raise _missing_args('connect() needs "port" or "path"')
    family = opts.get("family", 0)
    if family in ("IPv4", "IPv6"):
        family = int(family[-1])
    if isinstance(family, bool) or family not in (0, 4, 6):
        raise ValueError(f"family must be 0, 4 or 6, not {family!r}")
    timeout = opts.get("timeout")
    local_port = opts.get("localPort")
    local_address = opts.get("localAddress")
    if local_address is not None:
        if not isinstance(local_address, str):
            raise TypeError(f"localAddress must be a str, not {type(local_address).__name__}")
        if not isIP(local_address):
            raise ValueError(f"localAddress must be an IP address, not {local_address!r}")
    return ConnectOptions({
        "path": path,
        "port": None if path is not None else port(opts["port"], allow_zero=False),
        "host": _host(opts.get("host"), "localhost"),
        "family": family,
        "localAddress": local_address,
        "localPort": 0 if local_port is None else port(local_port, allow_str=False),
        "timeout": None if timeout is None else idle_timeout(timeout),
        "noDelay": boolean(opts.get("noDelay", False), "noDelay"),
        "keepAlive": boolean(opts.get("keepAlive", False), "keepAlive"),
        "keepAliveInitialDelay": milliseconds(opts.get("keepAliveInitialDelay", 0),
                                              "keepAliveInitialDelay"),
        "allowHalfOpen": boolean(opts.get("allowHalfOpen", False), "allowHalfOpen"),
        "highWaterMark": _high_water_mark(opts.get("highWaterMark")),
        "onread": opts.get("onread"),       # checked by Socket(), which connect() makes
    })


def listen_args(args, kwargs):
    """listen(port, host, backlog, listener) in any trailing subset, or listen(options, listener)."""
    from_options = bool(args) and isinstance(args[0], dict)
    opts, listener = _call_form(args, kwargs, ("port", "host", "backlog"), "listeningListener",
                                "listen")
    if from_options and "port" not in opts and "path" not in opts:
        raise ValueError("listen(options) needs 'port' or 'path'")
    backlog = opts.get("backlog")
    backlog = DEFAULT_BACKLOG if backlog is None else _int_in_range(backlog, "backlog", 0,
                                                                     MAX_BACKLOG)
    port_value = opts.get("port")
    # As in Node, a port wins over a path.
    path = _path(opts.get("path")) if port_value is None else None
    return {
        "path": path,
        "port": 0 if port_value is None else port(port_value),
        "host": None if opts.get("host") is None else _host(opts["host"], None),
        "backlog": backlog,
        "ipv6Only": boolean(opts.get("ipv6Only", False), "ipv6Only"),
        "reusePort": boolean(opts.get("reusePort", False), "reusePort"),
    }, callable_or_none(listener, "listeningListener")

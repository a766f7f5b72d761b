# cython: language_level=3
"""iotnet._core: the libuv binding under iotnet (loop, timers, events, errors, TCP streams).

One extension, one file per concern, included in the order of dependence; the classes, with
their fields and C methods, are declared in _core.pxd.
"""
cimport cython
from uv cimport *
from libc.stdint cimport uint64_t
from libc.string cimport memcpy, memset

include "core/constants.pxi"
include "core/errors.pxi"
include "core/loop.pxi"
include "core/embed.pxi"
include "core/emitter.pxi"
include "core/handle.pxi"
include "core/requests.pxi"
include "core/timers.pxi"
include "core/dns.pxi"
include "core/stream.pxi"
include "core/stream_callbacks.pxi"
include "core/idle.pxi"
include "core/pipe.pxi"
include "core/tcp.pxi"
include "core/server.pxi"
include "core/tls.pxi"
include "core/proxy_protocol.pxi"
include "core/aio_streams.pxi"

_alias_properties(Socket, {
    'bytes_read': 'bytesRead', 'bytes_written': 'bytesWritten',
    'writable_length': 'writableLength', 'writable_need_drain': 'writableNeedDrain',
    'readable_high_water_mark': 'readableHighWaterMark',
    'writable_high_water_mark': 'writableHighWaterMark',
    'allow_half_open': 'allowHalfOpen', 'ready_state': 'readyState',
    'remote_address': 'remoteAddress', 'remote_family': 'remoteFamily',
    'remote_port': 'remotePort', 'local_address': 'localAddress',
    'local_family': 'localFamily', 'local_port': 'localPort'})
_alias_properties(Server, {'max_connections': 'maxConnections'})
_alias_properties(TLSSocket, {
    'bytes_written': 'bytesWritten', 'writable_length': 'writableLength',
    'authorization_error': 'authorizationError', 'alpn_protocol': 'alpnProtocol'})

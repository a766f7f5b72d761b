# cython: language_level=3
"""iotnet._core: the libuv binding under iotnet (loop, timers, events, errors, TCP streams).

One extension, one file per concern; the order of the includes is the order of dependence.
"""
from uv cimport *
from libc.stdint cimport uint64_t
from libc.string cimport memset

include "core/constants.pxi"
include "core/errors.pxi"
include "core/emitter.pxi"
include "core/handle.pxi"
include "core/loop.pxi"
include "core/timers.pxi"
include "core/dns.pxi"
include "core/stream.pxi"
include "core/tcp.pxi"
include "core/server.pxi"

_alias_properties(Stream, {
    'bytes_read': 'bytesRead', 'bytes_written': 'bytesWritten',
    'writable_length': 'writableLength', 'allow_half_open': 'allowHalfOpen',
    'ready_state': 'readyState', 'writable_need_drain': 'writableNeedDrain'})
_alias_properties(Socket, {
    'remote_address': 'remoteAddress', 'remote_family': 'remoteFamily',
    'remote_port': 'remotePort', 'local_address': 'localAddress',
    'local_family': 'localFamily', 'local_port': 'localPort'})
_alias_properties(Server, {'max_connections': 'maxConnections'})

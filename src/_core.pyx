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

UV_VERSION_HEX_BUILT = UV_VERSION_HEX

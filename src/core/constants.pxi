# The core's own tunable numbers, with their unit in their name. The defaults and limits of the
# API (highWaterMark, backlog, ports, milliseconds) live in iotnet/_args.py, with the checks
# that use them; the core reads them from there.

from iotnet import _args

cdef enum:
    READ_BUFFER_BYTES = 262144            # the loop's one read buffer; one read() fills at most this
    SMALL_READ_BYTES = 4096               # TLS: ciphertext reads up to this are copied, not viewed
    INLINE_WRITE_BUFS = 4                 # uv_buf_t slots inside a write request before a heap array
    WRITE_REQ_FREELIST_MAX = 256          # write requests kept for reuse
    BUSY_PASSES_MAX = 8                   # iotnet.aio: NOWAIT passes per wake-up while busy

cdef Py_ssize_t DEFAULT_HIGH_WATER_MARK_BYTES = _args.DEFAULT_HIGH_WATER_MARK_BYTES

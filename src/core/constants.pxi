# Every tunable number of the core, with its unit in its name.

cdef enum:
    READ_BUFFER_BYTES = 262144            # the loop's one read buffer; one read() fills at most this
    INLINE_WRITE_BUFS = 4                 # uv_buf_t slots inside a write request before a heap array
    WRITE_REQ_FREELIST_MAX = 256          # write requests kept for reuse

DEFAULT_HIGH_WATER_MARK_BYTES = 65536     # write() returns False at this many queued bytes
DEFAULT_BACKLOG = 511                     # listen() backlog, as in Node
TIMER_MIN_DELAY_MS = 1                    # setTimeout(fn, 0) waits 1 ms, as in Node
TIMER_MAX_DELAY_MS = 2147483647           # Node's TIMEOUT_MAX

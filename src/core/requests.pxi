# Requests: write requests (a uv_write_t and a few buffers) reused from a freelist, and the
# other requests (connect, shutdown, getaddrinfo), each its own heap block while in flight.
# req.data is the object the request calls back.

ctypedef struct WriteReq:
    uv_write_t req                       # first member: a uv_write_t* is a WriteReq*
    uv_buf_t* bufs
    uv_buf_t inline_bufs[INLINE_WRITE_BUFS]

cdef WriteReq* _write_req_freelist[WRITE_REQ_FREELIST_MAX]
cdef int _write_req_free_count = 0


cdef WriteReq* _new_write_req(Py_ssize_t nbufs) except NULL:
    global _write_req_free_count
    cdef WriteReq* req
    if _write_req_free_count:
        _write_req_free_count -= 1
        req = _write_req_freelist[_write_req_free_count]
    else:
        req = <WriteReq*>PyMem_RawMalloc(sizeof(WriteReq))
        if req == NULL:
            raise MemoryError()
    IOTNET_COUNT_REQUESTS(1)
    if nbufs <= INLINE_WRITE_BUFS:
        req.bufs = req.inline_bufs
    else:
        req.bufs = <uv_buf_t*>PyMem_RawMalloc(nbufs * sizeof(uv_buf_t))
        if req.bufs == NULL:
            _free_write_req(req)
            raise MemoryError()
        IOTNET_COUNT_BUFFERS(1)
    return req


cdef void _free_write_req(WriteReq* req) noexcept:
    global _write_req_free_count
    if req.bufs != req.inline_bufs and req.bufs != NULL:
        PyMem_RawFree(req.bufs)
        IOTNET_COUNT_BUFFERS(-1)
    req.bufs = NULL
    IOTNET_COUNT_REQUESTS(-1)
    if _write_req_free_count < WRITE_REQ_FREELIST_MAX:
        _write_req_freelist[_write_req_free_count] = req
        _write_req_free_count += 1
    else:
        PyMem_RawFree(req)


cdef void* _new_request(size_t size) except NULL:
    cdef void* req = PyMem_RawMalloc(size)
    if req == NULL:
        raise MemoryError()
    IOTNET_COUNT_REQUESTS(1)
    return req


cdef void _free_request(void* req) noexcept:
    PyMem_RawFree(req)
    IOTNET_COUNT_REQUESTS(-1)

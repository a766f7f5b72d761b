# Embedding: iotnet's loop driven by another event loop (iotnet.aio drives it from asyncio), the
# way libuv documents it: the embedder watches uv_backend_fd() for readability, schedules a
# timer at uv_backend_timeout(), and calls run_pass() (one uv_run(UV_RUN_NOWAIT)) when either
# fires, or when iotnet asks for a pass (Loop.request_pass) because work was added outside a
# libuv callback: new timers, writes and closes do not make the backend fd readable.

cdef extern from "embed.h" nogil:
    int iotnet_uv_watchers_pending(uv_loop_t* loop)


# While attached, this referenced check handle keeps libuv "alive", so that
# uv_backend_timeout() gives the next timer's time even when only unreferenced handles and
# timers exist (it says 0, "run now", for a loop with no referenced handle).
cdef uv_check_t _embedded_keepalive
cdef bint _embedded_keepalive_ready = False


cdef void _on_embedded_check(uv_check_t* handle) noexcept nogil:
    pass


def _embed_attach(request_pass_soon):
    """From now on the caller drives the loop: request_pass_soon() must schedule a call of
    _embed_run_pass() on the calling thread. Returns libuv's backend fd to watch."""
    if _loop.running:
        raise RuntimeError('iotnet.run() is running; iotnet cannot also be attached')
    if _loop.attached:
        raise RuntimeError('iotnet is already attached to an asyncio loop')
    _check_callable(request_pass_soon, 'request_pass_soon')
    _loop.attached = True
    _loop.thread_ident = PyThread_get_thread_ident()
    _loop.request_pass_soon = request_pass_soon
    _loop.pass_requested = False
    # Passes never block in the kernel: keeping the GIL through them is cheaper.
    uv_prepare_stop(&_gil_release_prepare)
    global _embedded_keepalive_ready
    if not _embedded_keepalive_ready:
        _check_uv(uv_check_init(_uv_loop, &_embedded_keepalive), 'uv_check_init')
        _embedded_keepalive_ready = True
    uv_check_start(&_embedded_keepalive, _on_embedded_check)
    _loop.request_pass()           # what was set up before attaching
    return uv_backend_fd(_uv_loop)


def _embed_detach():
    """The caller stops driving the loop; iotnet.run() may run it again."""
    if not _loop.attached:
        return
    _loop.attached = False
    _loop.request_pass_soon = None
    _loop.pass_requested = False
    uv_check_stop(&_embedded_keepalive)
    uv_prepare_start(&_gil_release_prepare, _release_gil_before_poll)


cdef void _run_passes_while_busy() noexcept:
    """uv_run(UV_RUN_NOWAIT) again while the last one had work, up to BUSY_PASSES_MAX times:
    under load, each wake-up of the embedding loop then handles more than one batch, and its
    own per-iteration cost is shared by more messages."""
    cdef unsigned long entered
    cdef int passes = 0
    while not _loop.errors and passes < BUSY_PASSES_MAX:
        entered = _callbacks_entered
        uv_run(_uv_loop, UV_RUN_NOWAIT)
        _hold_gil()
        _loop.after_callback()
        passes += 1
        if _callbacks_entered == entered:
            break


def _embed_run_pass():
    """One pass: the nextTick queue, calls from other threads, and one uv_run(UV_RUN_NOWAIT).

    Returns (errors, timeout_ms): the exceptions raised by callbacks during the pass (for the
    embedder's exception handler), and when libuv's next timer is due (-1: none). When more
    work is ready already, another pass has been requested."""
    if not _loop.attached:
        return [], -1
    _loop.pass_requested = False
    _loop.in_pass = True
    try:
        _loop.run_ticks()
        _loop.run_threadsafe_calls()
        _run_passes_while_busy()
    finally:
        _loop.in_pass = False
    errors = _loop.errors
    if errors:
        _loop.errors = []
    cdef int timeout_ms = uv_backend_timeout(_uv_loop)
    if _loop.attached and (_loop.ticks or iotnet_uv_watchers_pending(_uv_loop) or timeout_ms == 0):
        _loop.request_pass()
    return errors, timeout_ms

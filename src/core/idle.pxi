# Idle timeouts (Socket.setTimeout): one lazy timer per socket, made on the first setTimeout().
# Activity only records the time; when the timer fires it either emits 'timeout' or re-arms
# itself for the time that is left, so it is never restarted per chunk.


cdef class _IdleTimeout(Handle):
    """The idle timer of one stream; it never keeps run() alive."""

    cdef void start(self, uint64_t timeout_ms) except *:
        cdef uv_handle_t* handle
        if self.uv_handle == NULL:
            handle = <uv_handle_t*>_new_handle(sizeof(uv_timer_t))
            uv_timer_init(_uv_loop, <uv_timer_t*>handle)     # cannot fail
            self.refed = False
            self._own(handle)
        self.timeout_ms = timeout_ms
        self.last_activity_ms = uv_now(_uv_loop)
        self.expired = False
        uv_timer_start(<uv_timer_t*>self.uv_handle, _on_idle_timeout, timeout_ms, 0)

    cdef void touch(self):
        self.last_activity_ms = uv_now(_uv_loop)
        if self.expired and self.uv_handle != NULL:
            self.expired = False
            uv_timer_start(<uv_timer_t*>self.uv_handle, _on_idle_timeout, self.timeout_ms, 0)

    cdef void fired(self) except *:
        cdef uint64_t idle_ms = uv_now(_uv_loop) - self.last_activity_ms
        if idle_ms >= self.timeout_ms:
            self.expired = True            # re-armed by the next activity
            self.stream._emit_event0('timeout')
        else:
            uv_timer_start(<uv_timer_t*>self.uv_handle, _on_idle_timeout,
                           self.timeout_ms - idle_ms, 0)


cdef void _on_idle_timeout(uv_timer_t* handle) noexcept:
    _enter_callback()
    owner = _owner(<uv_handle_t*>handle)
    if owner is not None:
        try:
            (<_IdleTimeout>owner).fired()
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()

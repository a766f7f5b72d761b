# Timers: setTimeout/setInterval on one uv_timer_t each, setImmediate on the loop's check phase.
# A Timer owns its uv_timer_t only while it is armed: the block is allocated when the timer
# starts and freed in the close callback after it fires (one-shot) or is cleared.


cdef class Timer:
    """What setTimeout/setInterval return: ref(), unref(), hasRef(), refresh(), close()."""
    cdef uv_timer_t* handle
    cdef object callback
    cdef tuple args
    cdef uint64_t delay_ms
    cdef unsigned char repeat
    cdef unsigned char refed
    cdef unsigned char cleared          # clearTimeout()/close(): refresh() does nothing after it
    cdef object __weakref__

    def __init__(self, *args, **kwargs):
        raise TypeError('use iotnet.setTimeout() or iotnet.setInterval()')

    cdef void arm(self) except *:
        if not _loop.running:
            uv_update_time(_uv_loop)     # else "now" is when the loop last ran (or was made)
        if self.handle == NULL:
            self.handle = <uv_timer_t*>_new_handle(sizeof(uv_timer_t))
            _check_uv(uv_timer_init(_uv_loop, self.handle), 'uv_timer_init')
            _own_handle(<uv_handle_t*>self.handle, self)
            if not self.refed:
                uv_unref(<uv_handle_t*>self.handle)
        uv_timer_start(self.handle, _on_timer_fire, self.delay_ms,
                       self.delay_ms if self.repeat else 0)

    cdef void disarm(self):
        if self.handle != NULL:
            _close_owned_handle(<uv_handle_t*>self.handle)
            self.handle = NULL

    cdef void fire(self) noexcept:
        if not self.repeat:
            self.disarm()
        try:
            self.callback(*self.args)
        except BaseException as exc:
            _loop.report(exc)

    cdef void clear(self):
        self.cleared = True
        self.disarm()

    def ref(self):
        _check_loop_thread()
        self.refed = True
        if self.handle != NULL:
            uv_ref(<uv_handle_t*>self.handle)
        return self

    def unref(self):
        _check_loop_thread()
        self.refed = False
        if self.handle != NULL:
            uv_unref(<uv_handle_t*>self.handle)
        return self

    def hasRef(self):
        return bool(self.refed)

    def refresh(self):
        """Starts the timer again from now with its delay (also after a timeout has fired);
        a cleared timer stays cleared."""
        _check_loop_thread()
        if not self.cleared:
            self.arm()
        return self

    def close(self):
        _check_loop_thread()
        self.clear()
        return self

    has_ref = hasRef


cdef void _on_timer_fire(uv_timer_t* handle) noexcept:
    _hold_gil()
    cdef Timer timer = <Timer>handle.data
    timer.fire()
    _loop.after_callback()


cdef uint64_t _delay_ms(object ms) except? 0:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)):
        raise TypeError(f'the delay must be a number of milliseconds, not {type(ms).__name__}')
    if ms != ms or ms < 0 or ms > TIMER_MAX_DELAY_MS:
        raise ValueError(f'the delay must be a number of milliseconds in '
                         f'0..{TIMER_MAX_DELAY_MS}, not {ms!r}')
    return max(<uint64_t>ms, TIMER_MIN_DELAY_MS)


cdef Timer _start_timer(object callback, object ms, tuple args, bint repeat):
    _check_loop_thread()
    cdef Timer timer = Timer.__new__(Timer)
    timer.callback = _check_callable(callback, 'callback')
    timer.delay_ms = _delay_ms(ms)
    timer.args = args
    timer.repeat = repeat
    timer.refed = True
    timer.arm()
    return timer


def setTimeout(callback, ms=0, *args):
    """Runs callback(*args) once after `ms` milliseconds (at least 1)."""
    return _start_timer(callback, ms, args, False)


def setInterval(callback, ms, *args):
    """Runs callback(*args) every `ms` milliseconds until cleared."""
    return _start_timer(callback, ms, args, True)


def clearTimeout(timer):
    """Cancels a timer from setTimeout/setInterval; anything else (None...) is ignored."""
    _check_loop_thread()
    if isinstance(timer, Timer):
        (<Timer>timer).clear()


cdef class Immediate:
    """What setImmediate returns: ref(), unref(), hasRef()."""
    cdef object callback
    cdef tuple args
    cdef unsigned char cleared
    cdef unsigned char refed

    def __init__(self, *args, **kwargs):
        raise TypeError('use iotnet.setImmediate()')

    def ref(self):
        _check_loop_thread()
        if not self.refed and not self.cleared:
            _loop.immediate_ref_changed(1)
        self.refed = True
        return self

    def unref(self):
        _check_loop_thread()
        if self.refed and not self.cleared:
            _loop.immediate_ref_changed(-1)
        self.refed = False
        return self

    def hasRef(self):
        return bool(self.refed)

    has_ref = hasRef


def setImmediate(callback, *args):
    """Runs callback(*args) in the loop's check phase, after I/O."""
    _check_loop_thread()
    cdef Immediate immediate = Immediate.__new__(Immediate)
    immediate.callback = _check_callable(callback, 'callback')
    immediate.args = args
    immediate.refed = True
    _loop.add_immediate(immediate)
    return immediate


def clearImmediate(immediate):
    """Cancels an immediate that has not run yet; anything else is ignored."""
    cdef Immediate it
    _check_loop_thread()
    if isinstance(immediate, Immediate):
        it = <Immediate>immediate
        if not it.cleared:
            it.cleared = True
            if it.refed:
                _loop.immediate_ref_changed(-1)


clearInterval = clearTimeout

# Timers: setTimeout/setInterval on one uv_timer_t each, setImmediate on the loop's check phase.
# A Timer owns its uv_timer_t only while it is armed: the block is allocated when the timer
# starts and freed in the close callback after it fires (one-shot) or is cleared.


cdef class Timer(Handle):
    """What setTimeout/setInterval return: ref(), unref(), hasRef(), refresh(), close()."""

    def __init__(self, *args, **kwargs):
        raise TypeError('use iotnet.setTimeout() or iotnet.setInterval()')

    cdef void arm(self) except *:
        if not _loop.running:
            uv_update_time(_uv_loop)     # else "now" is when the loop last ran (or was made)
        cdef uv_timer_t* handle
        if self.uv_handle == NULL:
            handle = <uv_timer_t*>_new_handle(sizeof(uv_timer_t))
            uv_timer_init(_uv_loop, handle)     # cannot fail
            self._own(<uv_handle_t*>handle)
        uv_timer_start(<uv_timer_t*>self.uv_handle, _on_timer_fire, self.delay_ms,
                       self.delay_ms if self.repeat else 0)

    cdef void clear(self):
        self.cleared = True
        self._close_quietly()

    cdef void _force_close(self) except *:
        self.clear()

    cdef void fire(self) except *:
        if not self.repeat:
            self._close_quietly()
        self.callback(*self.args)

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


cdef void _on_timer_fire(uv_timer_t* handle) noexcept:
    _enter_callback()
    owner = _owner(<uv_handle_t*>handle)
    if owner is not None:
        try:
            (<Timer>owner).fire()
        except BaseException as exc:
            _loop.report(exc)
    _loop.after_callback()


cdef Timer _start_timer(object callback, object ms, tuple args, bint repeat):
    _check_loop_thread()
    cdef Timer timer = Timer.__new__(Timer)
    timer.callback = _check_callable(callback, 'callback')
    timer.delay_ms = _args.timer_delay(ms)
    timer.args = args
    timer.repeat = repeat
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


clearInterval = clearTimeout


# -- immediates: the check phase, after I/O ------------------------------------------------------

# The check handle runs the immediates; the idle handle keeps uv_run from blocking while a
# referenced one waits. Both live as long as the process and never keep run() alive otherwise.
cdef uv_check_t _immediate_check
cdef uv_idle_t _immediate_idle
cdef list _immediates = []               # Immediate objects waiting for the check phase
cdef Py_ssize_t _refed_immediates = 0    # how many of them keep run() alive

_check_uv(uv_check_init(_uv_loop, &_immediate_check), 'uv_check_init')
_check_uv(uv_idle_init(_uv_loop, &_immediate_idle), 'uv_idle_init')
uv_unref(<uv_handle_t*>&_immediate_check)
uv_unref(<uv_handle_t*>&_immediate_idle)


cdef class Immediate:
    """What setImmediate returns: ref(), unref(), hasRef()."""

    def __init__(self, *args, **kwargs):
        raise TypeError('use iotnet.setImmediate()')

    def ref(self):
        _check_loop_thread()
        if not self.refed and not self.cleared:
            _immediate_ref_changed(1)
        self.refed = True
        return self

    def unref(self):
        _check_loop_thread()
        if self.refed and not self.cleared:
            _immediate_ref_changed(-1)
        self.refed = False
        return self

    def hasRef(self):
        return bool(self.refed)

    has_ref = hasRef


cdef void _immediate_ref_changed(Py_ssize_t delta):
    global _refed_immediates
    _refed_immediates += delta
    if _refed_immediates > 0:
        uv_ref(<uv_handle_t*>&_immediate_idle)
    else:
        uv_unref(<uv_handle_t*>&_immediate_idle)


cdef void _run_immediates() noexcept:
    """Runs the immediates queued before this check phase; new ones wait for the next. While an
    exception waits to be raised from run(), the rest wait for the next run()."""
    global _immediates
    cdef Immediate immediate
    batch = _immediates
    _immediates = []
    cdef Py_ssize_t i
    for i in range(len(batch)):
        if _loop.errors:
            _immediates[0:0] = batch[i:]
            break
        immediate = batch[i]
        if immediate.cleared:
            continue
        immediate.cleared = True
        if immediate.refed:
            _immediate_ref_changed(-1)
        try:
            immediate.callback(*immediate.args)
        except BaseException as exc:
            _loop.report(exc)
        _loop.after_callback()
    if not _immediates:
        uv_check_stop(&_immediate_check)
        uv_idle_stop(&_immediate_idle)


cdef void _on_immediate_check(uv_check_t* handle) noexcept:
    _enter_callback()
    _run_immediates()


cdef void _on_immediate_idle(uv_idle_t* handle) noexcept nogil:
    pass        # its only job is to keep uv_run from blocking while immediates wait


def setImmediate(callback, *args):
    """Runs callback(*args) in the loop's check phase, after I/O."""
    _check_loop_thread()
    cdef Immediate immediate = Immediate.__new__(Immediate)
    immediate.callback = _check_callable(callback, 'callback')
    immediate.args = args
    immediate.refed = True
    if not _immediates:
        uv_check_start(&_immediate_check, _on_immediate_check)
        uv_idle_start(&_immediate_idle, _on_immediate_idle)
    _immediates.append(immediate)
    _immediate_ref_changed(1)
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
                _immediate_ref_changed(-1)

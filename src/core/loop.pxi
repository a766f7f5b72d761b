# The loop: libuv's default loop and the GIL policy around it; the one shape of every libuv
# callback; Node's nextTick queue; call_soon_threadsafe; Ctrl-C through a wakeup fd; exceptions
# from callbacks carried out of run().

import collections as _collections
from cpython.object cimport Py_SIZE
import signal as _signal
import socket as _socket
import threading as _threading

cdef extern from "Python.h":
    int PyErr_CheckSignals() except -1
    unsigned long PyThread_get_thread_ident() nogil
    ctypedef struct PyThreadState
    PyThreadState* PyEval_SaveThread() nogil
    void PyEval_RestoreThread(PyThreadState*) nogil
    ctypedef struct PyInterpreterState
    PyThreadState* PyThreadState_Get() nogil
    PyInterpreterState* PyThreadState_GetInterpreter(PyThreadState*) nogil
    PyInterpreterState* PyInterpreterState_Head() nogil
    PyInterpreterState* PyInterpreterState_Next(PyInterpreterState*) nogil
    PyThreadState* PyInterpreterState_ThreadHead(PyInterpreterState*) nogil
    PyThreadState* PyThreadState_Next(PyThreadState*) nogil

cdef uv_loop_t* _uv_loop = uv_default_loop()

# The GIL policy: run() calls uv_run holding the GIL; a prepare handle drops it right before
# libuv blocks in epoll, and the first callback after the poll takes it back (_enter_callback,
# the first statement of every libuv callback). So the GIL is released exactly while the loop
# waits in the kernel, and a burst of callbacks pays for one GIL hand-over, not one each.
#
# While this is the process's only Python thread, nobody can wait for the GIL, and the
# hand-over (about 380 instructions per poll, a fifth of a 64-byte echo) is skipped. It is safe
# the moment a thread starts: Python links a new thread's state into the interpreter before the
# thread runs, from the thread that starts it, which holds the GIL; so the check before the
# next poll sees it. Threads die holding the GIL, so the list cannot change under the check.
# The one case it cannot see: a thread started by C code whose first PyGILState_Ensure() comes
# while the loop is blocked waits until the loop next wakes (any event or timer).
cdef PyThreadState* _gil_released_for_poll = NULL
cdef uv_prepare_t _gil_release_prepare


cdef inline void _hold_gil() noexcept nogil:
    global _gil_released_for_poll
    if _gil_released_for_poll != NULL:
        PyEval_RestoreThread(_gil_released_for_poll)
        _gil_released_for_poll = NULL


cdef inline bint _only_python_thread() noexcept nogil:
    """No other thread state, in any interpreter: no thread can be waiting for the GIL."""
    cdef PyThreadState* me = PyThreadState_Get()
    cdef PyInterpreterState* interp = PyThreadState_GetInterpreter(me)
    return (PyInterpreterState_ThreadHead(interp) == me and PyThreadState_Next(me) == NULL
            and PyInterpreterState_Head() == interp and PyInterpreterState_Next(interp) == NULL)


cdef void _release_gil_before_poll(uv_prepare_t* handle) noexcept nogil:
    global _gil_released_for_poll
    if _gil_released_for_poll == NULL and not _only_python_thread():
        _gil_released_for_poll = PyEval_SaveThread()


# Every libuv callback has one shape:
#
#     cdef void _on_<handle>_<event>(uv_..._t* handle, ...) noexcept:
#         _enter_callback()                          # the GIL, first
#         owner = _owner(<uv_handle_t*>handle)       # None once its object is gone
#         if owner is not None:
#             try:
#                 (<Kind>owner)._<event>_done(...)   # the work, in a method of the owner
#             except BaseException as exc:
#                 _loop.report(exc)
#         _loop.after_callback()                     # Node's nextTick queue
#
# Requests (write, connect, shutdown, getaddrinfo) find their owner in req.data.

# libuv callbacks entered so far (embed.pxi: did a pass do any work?).
cdef unsigned long _callbacks_entered = 0


cdef inline void _enter_callback() noexcept nogil:
    global _callbacks_entered
    _hold_gil()
    IOTNET_ASSERT_GIL()
    _callbacks_entered += 1


cdef extern from "Python.h":
    ctypedef struct PyObject
    void PyErr_Fetch(PyObject** ptype, PyObject** pvalue, PyObject** ptraceback)
    void PyErr_NormalizeException(PyObject** ptype, PyObject** pvalue, PyObject** ptraceback)
    int PyException_SetTraceback(PyObject* exc, PyObject* traceback)
    void Py_XDECREF(PyObject* o)


cdef void _report_raised() noexcept:
    """Reports the exception a C call returned -1 with: what `except BaseException as exc:
    _loop.report(exc)` does, for a caller that tested the result instead of using try."""
    cdef PyObject* exc_type
    cdef PyObject* exc_value
    cdef PyObject* exc_traceback
    PyErr_Fetch(&exc_type, &exc_value, &exc_traceback)
    if exc_value == NULL:           # returned -1 with nothing raised: nothing to report
        Py_XDECREF(exc_type)
        Py_XDECREF(exc_traceback)
        return
    PyErr_NormalizeException(&exc_type, &exc_value, &exc_traceback)
    if exc_traceback != NULL:
        PyException_SetTraceback(exc_value, exc_traceback)
    exc = <object>exc_value
    Py_XDECREF(exc_type)
    Py_XDECREF(exc_value)
    Py_XDECREF(exc_traceback)
    _loop.report(exc)


cdef class _Later:
    pass


cdef int _call_later(later_fn fn, object target, object arg=None) except -1:
    """Queues fn(target, arg) on the tick queue: after the current callback, before any I/O."""
    cdef _Later entry = _Later.__new__(_Later)
    entry.fn = fn
    entry.target = target
    entry.arg = arg
    _loop.ticks.append(entry)
    return 0


cdef class Loop:

    def __cinit__(self):
        self.errors = []
        self.ticks = _collections.deque()
        self.threadsafe_calls = _collections.deque()
        _check_uv(uv_prepare_init(_uv_loop, &_gil_release_prepare), 'uv_prepare_init')
        uv_unref(<uv_handle_t*>&_gil_release_prepare)
        uv_prepare_start(&_gil_release_prepare, _release_gil_before_poll)
        _check_uv(uv_async_init(_uv_loop, &_threadsafe_async, _on_threadsafe_async),
                  'uv_async_init')
        uv_unref(<uv_handle_t*>&_threadsafe_async)

    # -- exceptions from callbacks --------------------------------------------------------------

    cdef void report(self, object exc) noexcept:
        """Hands an exception raised by a callback to the uncaught handler, or stops run()."""
        IOTNET_ASSERT_GIL()
        if self.uncaught_handler is not None and not isinstance(exc, KeyboardInterrupt):
            try:
                self.uncaught_handler(exc)
                return
            except BaseException as handler_exc:
                exc = handler_exc
        self.errors.append(exc)
        uv_stop(_uv_loop)

    cdef inline void after_callback(self) noexcept:
        """Node drains the nextTick queue after every callback into user code."""
        if Py_SIZE(self.ticks):         # a deque's length, read from the object: no call
            self.run_ticks()

    # While an exception waits to be raised from run(), queued callbacks wait for the next run()
    # (with on_uncaught_exception nothing waits): run() stops promptly, and nothing is lost.

    cdef void run_ticks(self) noexcept:
        cdef _Later later
        ticks = self.ticks
        while ticks and not self.errors:
            entry = ticks.popleft()
            try:
                if type(entry) is _Later:
                    later = <_Later>entry
                    later.fn(later.target, later.arg)
                else:
                    fn, args = entry
                    fn(*args)
            except BaseException as exc:
                self.report(exc)

    cdef void run_threadsafe_calls(self) noexcept:
        calls = self.threadsafe_calls
        while calls and not self.errors:
            fn, args = calls.popleft()
            try:
                fn(*args)
            except BaseException as exc:
                self.report(exc)
            self.after_callback()

    # -- Ctrl-C ---------------------------------------------------------------------------------

    cdef object watch_signals(self):
        """Points Python's signal wakeup fd at a socket the loop polls; returns the old fd."""
        if _threading.current_thread() is not _threading.main_thread():
            return None
        if self.signal_reader is None:
            self.signal_reader, self.signal_writer = _socket.socketpair()
            self.signal_reader.setblocking(False)
            self.signal_writer.setblocking(False)
            _check_uv(uv_poll_init_socket(_uv_loop, &_signal_poll, self.signal_reader.fileno()),
                      'uv_poll_init_socket')
            uv_unref(<uv_handle_t*>&_signal_poll)
            uv_poll_start(&_signal_poll, UV_READABLE, _on_signal_poll)
        return _signal.set_wakeup_fd(self.signal_writer.fileno(), warn_on_full_buffer=False)

    cdef void drain_signal_socket(self):
        try:
            while self.signal_reader.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    # -- running --------------------------------------------------------------------------------

    cdef void request_pass(self) noexcept:
        """Embedded: libuv has work that only a pass starts (see embed.pxi)."""
        if not self.pass_requested:
            self.pass_requested = True
            try:
                self.request_pass_soon()
            except BaseException as exc:
                self.pass_requested = False
                self.report(exc)

    cdef run(self):
        if self.attached:
            raise RuntimeError('iotnet.run() cannot run while iotnet is attached to an asyncio '
                               'loop (iotnet.aio): that loop drives iotnet now')
        if self.running:
            if PyThread_get_thread_ident() != self.thread_ident:
                raise RuntimeError('iotnet.run() is already running in another thread; the '
                                   'loop belongs to that thread')
            raise RuntimeError('iotnet.run() is already running; it cannot be called from a '
                               'callback')
        if self.errors:
            raise self.errors.pop(0)     # a further exception from the last run()'s iteration
        self.running = True
        self.thread_ident = PyThread_get_thread_ident()
        self.stop_requested = False
        old_wakeup_fd = None
        watching = False
        try:
            old_wakeup_fd = self.watch_signals()
            watching = old_wakeup_fd is not None
            self.run_ticks()
            self.run_threadsafe_calls()       # posted before run(): they run in this one
            while not self.errors and not self.stop_requested:
                if not _run_uv_until_idle_or_stopped():
                    break
                self.after_callback()
        finally:
            self.running = False
            if watching:
                _signal.set_wakeup_fd(old_wakeup_fd)
        if self.errors:
            raise self.errors.pop(0)


cdef bint _run_uv_until_idle_or_stopped():
    """Runs libuv under the GIL policy above; True if uv_stop ended it while work was alive."""
    cdef int alive = uv_run(_uv_loop, UV_RUN_DEFAULT)
    _hold_gil()         # the last poll may have had no callback after it
    return alive != 0


cdef void _check_uv(int status, str what) except *:
    if status < 0:
        raise uv_error(status, what)


# The loop's own handles live as long as the process and never keep run() alive.
cdef uv_async_t _threadsafe_async
cdef uv_poll_t _signal_poll

cdef Loop _loop = Loop()


cdef void _on_threadsafe_async(uv_async_t* handle) noexcept:
    _enter_callback()
    _loop.run_threadsafe_calls()


cdef void _on_signal_poll(uv_poll_t* handle, int status, int events) noexcept:
    _enter_callback()
    try:
        _loop.drain_signal_socket()
        PyErr_CheckSignals()      # runs Python's handlers: SIGINT raises KeyboardInterrupt here
    except BaseException as exc:
        _loop.report(exc)
    _loop.after_callback()


cdef inline int _check_thread() except -1:
    """Everything but call_soon_threadsafe belongs to the thread inside run() while it runs
    (or the asyncio loop's, while attached)."""
    if ((_loop.running or _loop.attached)
            and PyThread_get_thread_ident() != _loop.thread_ident):
        raise RuntimeError('iotnet: this call belongs to the thread running iotnet.run(); '
                           'from another thread use iotnet.call_soon_threadsafe()')
    return 0


cdef inline int _check_loop_thread() except -1:
    """_check_thread(); and attached, a call from asyncio code may give libuv work that no fd
    or timer announces (a write, a close, a nextTick): it asks for a pass."""
    _check_thread()
    if _loop.attached and not _loop.in_pass:
        _loop.request_pass()
    return 0


cdef inline object _check_callable(object fn, str what):
    if not callable(fn):
        raise TypeError(f'{what} must be callable, not {type(fn).__name__}')
    return fn


cdef void _call_each(list callbacks, object arg) noexcept:
    """Calls every callback with arg; one that raises does not keep the others from running."""
    for callback in callbacks:
        if callback is not None:
            try:
                callback(arg)
            except BaseException as exc:
                _loop.report(exc)


cdef int _later_call_each(object callbacks, object arg) except -1:
    _call_each(<list>callbacks, arg)
    return 0


# -- the public loop functions --------------------------------------------------------------------

def run():
    """Runs the loop until no referenced handle, request or timer is left (or stop())."""
    _loop.run()


def _ended_by_stop():
    """True when the last run() returned because of stop(): python -m iotnet then does not run
    the loop again after a script that ran and stopped its own."""
    return bool(_loop.stop_requested) and not _loop.running


def stop():
    """Makes run() return after the current loop iteration."""
    _check_loop_thread()
    if _loop.running:
        _loop.stop_requested = True
        uv_stop(_uv_loop)


def nextTick(callback, *args):
    """Runs callback(*args) after the current callback, before any I/O or timer."""
    _check_loop_thread()
    _loop.ticks.append((_check_callable(callback, 'callback'), args))


def call_soon_threadsafe(callback, *args):
    """The only call another thread may make: runs callback(*args) on the loop's thread."""
    _loop.threadsafe_calls.append((_check_callable(callback, 'callback'), args))
    uv_async_send(&_threadsafe_async)


def on_uncaught_exception(handler):
    """Installs handler(exc) for exceptions from callbacks (None restores raising from run())."""
    _check_loop_thread()
    if handler is not None:
        _check_callable(handler, 'handler')
    _loop.uncaught_handler = handler


def libuv_version():
    """The version string of the libuv library actually loaded."""
    return uv_version_string().decode()

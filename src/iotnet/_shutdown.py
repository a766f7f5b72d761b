"""The graceful stop of a `python -m iotnet` process (a worker, or a plain script on SIGTERM).

The stop closes every listening server (no new connections), runs the on_shutdown() callbacks,
lets open sockets finish for `grace` seconds, then destroys the rest and stops the loop.
A worker also tells its supervisor when it is listening (the rolling restart waits for that).
"""
import os
import signal

from . import _core

# Environment of a worker, set by the supervisor (_supervisor.py).
WORKER_ID_ENV = "IOTNET_WORKER_ID"
READY_FD_ENV = "IOTNET_READY_FD"

DEFAULT_GRACE_S = 30.0
CHECK_INTERVAL_MS = 20      # how often the stop looks whether the last socket has gone
READY_MAX_DELAY_MS = 1000   # at most this long between two looks for a listening server

_callbacks = []
_state = {"stopping": False, "done": False, "grace_s": DEFAULT_GRACE_S}


def on_shutdown(callback):
    """Runs callback() at the start of a graceful stop (SIGTERM), after the servers closed."""
    if not callable(callback):
        raise TypeError(f"callback must be callable, not {type(callback).__name__}")
    _callbacks.append(callback)
    return callback


def worker_id_from_env():
    """1..N in a worker (the supervisor's environment variable), None otherwise."""
    value = os.environ.get(WORKER_ID_ENV)
    try:
        return int(value) if value else None
    except ValueError:
        return None


def install(grace_s, worker):
    """Called by __main__ before the script runs: SIGTERM (and, in a worker, SIGINT, which a
    terminal's Ctrl-C sends to the whole process group) starts the graceful stop."""
    _state["grace_s"] = grace_s
    signal.signal(signal.SIGTERM, _on_signal)
    if worker:
        signal.signal(signal.SIGINT, _on_signal)
    ready_fd = os.environ.pop(READY_FD_ENV, None)
    # The worker's own children are not workers.
    os.environ.pop(WORKER_ID_ENV, None)
    if ready_fd is not None:
        # Runs once run() starts, after the script's top level has called listen().
        _core.call_soon_threadsafe(_wait_listening, int(ready_fd))


def finished():
    """True once a graceful stop has ended the loop."""
    return _state["done"]


def _on_signal(signum, frame):
    # A Python signal handler runs between any two bytecodes, possibly inside another
    # callback: the stop itself runs as a loop callback of its own (call_soon_threadsafe only
    # appends to a deque and wakes the loop, which is safe here).
    if not _state["stopping"]:
        _state["stopping"] = True
        _core.call_soon_threadsafe(_begin_stop)


def _servers():
    return [h for h in _core._open_handles() if isinstance(h, _core.Server)]


def _sockets():
    return [h for h in _core._open_handles() if isinstance(h, _core.Socket)]


def _begin_stop():
    # Servers first: from here on the kernel gives new connections to the other workers.
    # _drain_close accepts what the listener's backlog already holds (closing would reset it).
    for server in _servers():
        _core._drain_close(server)
    for callback in _callbacks:
        try:
            callback()
        except Exception:
            import traceback
            traceback.print_exc()
    deadline_ms = int(_state["grace_s"] * 1000)
    waited = {"ms": 0}

    def check():
        waited["ms"] += CHECK_INTERVAL_MS
        left = _sockets()
        if left and waited["ms"] < deadline_ms:
            return
        for sock in left:
            sock.destroy()
        _core.clearInterval(timer)
        _state["done"] = True
        _core.stop()        # the script's own timers may still be alive

    timer = _core.setInterval(check, CHECK_INTERVAL_MS)
    # A timer in this loop is alive as long as the loop runs; it is kept ref'd so that the
    # loop runs to its end even if only unref'd sockets are left.


def _wait_listening(fd, delay_ms=1):
    """Writes one byte to the supervisor's pipe once a server listens, then closes it.

    Looks again after 1, 2, 4 ... ms (at most every READY_MAX_DELAY_MS): a server may listen
    only later (a host name to resolve first, a listen() in a callback)."""
    if any(s.listening for s in _servers()):
        try:
            os.write(fd, b"1")
        finally:
            os.close(fd)
        return
    timer = _core.setTimeout(_wait_listening, delay_ms, fd, min(delay_ms * 2, READY_MAX_DELAY_MS))
    timer.unref()       # a script that never listens is not kept alive by this

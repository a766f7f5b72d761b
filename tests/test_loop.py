"""The loop (docs/reference): run/stop, nextTick/timer/immediate order, exceptions that leave run()
or go to on_uncaught_exception, Ctrl-C, and threads."""
import threading

import pytest

import iotnet
from helpers import listen_local, run_bounded, run_script


# -- run and stop ---------------------------------------------------------------------------------

def test_run_returns_at_once_with_nothing_to_do():
    iotnet.run()


def test_run_inside_a_callback_is_an_error_not_a_hang():
    seen = []

    def nested():
        try:
            iotnet.run()
        except RuntimeError as exc:
            seen.append(str(exc))

    iotnet.setTimeout(nested, 1)
    run_bounded(5)
    assert len(seen) == 1 and "already running" in seen[0]


def test_stop_returns_after_the_current_iteration_and_run_goes_on():
    ticks = []
    interval = iotnet.setInterval(lambda: (ticks.append(1), iotnet.stop()), 1)
    run_bounded(5)
    assert ticks == [1]
    interval_count_after_first_run = len(ticks)
    iotnet.setTimeout(lambda: iotnet.clearInterval(interval), 1)
    run_bounded(5)
    assert len(ticks) >= interval_count_after_first_run


def test_stop_outside_run_does_nothing():
    iotnet.stop()
    fired = []
    iotnet.setTimeout(fired.append, 1, "x")
    run_bounded(5)
    assert fired == ["x"]


# -- ticks and immediates -------------------------------------------------------------------------

def test_next_tick_runs_before_timers_and_immediates():
    order = []
    iotnet.setTimeout(order.append, 0, "timeout")
    iotnet.setImmediate(order.append, "immediate")
    iotnet.nextTick(order.append, "tick")
    run_bounded(5)
    assert order[0] == "tick"
    assert sorted(order[1:]) == ["immediate", "timeout"]


def test_inside_io_immediates_run_before_timers():
    """Node: within an I/O callback, setImmediate always fires before setTimeout(0)."""
    order = []
    server = iotnet.createServer(lambda sock: sock.end())

    def on_connect():
        iotnet.setTimeout(order.append, 0, "timeout")
        iotnet.setImmediate(order.append, "immediate")
        iotnet.nextTick(order.append, "tick")
        server.close()

    def on_listening():
        client = iotnet.connect(server.address()["port"], "127.0.0.1", on_connect)
        client.resume()

    server.listen(0, "127.0.0.1", on_listening)
    run_bounded(5)
    assert order == ["tick", "immediate", "timeout"]


def test_next_tick_queue_is_drained_after_every_callback():
    order = []

    def first():
        order.append("timer1")
        iotnet.nextTick(order.append, "tick-from-timer1")

    iotnet.setTimeout(first, 5)
    iotnet.setTimeout(order.append, 5, "timer2")
    run_bounded(5)
    assert order == ["timer1", "tick-from-timer1", "timer2"]


def test_next_ticks_queued_by_ticks_run_in_the_same_drain():
    order = []

    def outer():
        order.append("outer")
        iotnet.nextTick(order.append, "inner")

    iotnet.nextTick(outer)
    iotnet.setImmediate(order.append, "immediate")
    run_bounded(5)
    assert order == ["outer", "inner", "immediate"]


def test_immediates_added_while_running_wait_for_the_next_iteration():
    order = []

    def first():
        order.append("a")
        iotnet.setImmediate(order.append, "c")

    iotnet.setImmediate(first)
    iotnet.setImmediate(order.append, "b")
    run_bounded(5)
    assert order == ["a", "b", "c"]


# -- uncaught exceptions --------------------------------------------------------------------------

def test_exception_in_a_callback_leaves_run_and_the_loop_goes_on():
    fired = []

    def boom():
        # "later" starts here: two timers started together 19 ms apart can both be due in one
        # iteration (on a slow machine), and that iteration would run "later" too.
        iotnet.setTimeout(fired.append, 20, "later")
        raise ValueError("from a timer")

    iotnet.setTimeout(boom, 1)
    with pytest.raises(ValueError, match="from a timer") as info:
        run_bounded(5)
    assert any(entry.name == "boom" for entry in info.traceback)
    assert fired == []
    run_bounded(5)
    assert fired == ["later"]


def test_exception_in_a_tick_keeps_the_remaining_ticks():
    order = []

    def boom():
        raise KeyError("tick")

    iotnet.nextTick(boom)
    iotnet.nextTick(order.append, "second")
    with pytest.raises(KeyError):
        run_bounded(5)
    run_bounded(5)
    assert order == ["second"]


def test_exception_in_an_immediate_keeps_the_rest_of_its_batch():
    order = []

    def boom():
        raise LookupError("immediate")

    iotnet.setImmediate(boom)
    iotnet.setImmediate(order.append, "after")
    with pytest.raises(LookupError):
        run_bounded(5)
    run_bounded(5)
    assert order == ["after"]


def test_on_uncaught_exception_keeps_the_loop_running():
    caught = []
    fired = []
    iotnet.on_uncaught_exception(caught.append)
    try:
        iotnet.setTimeout(lambda: 1 / 0, 1)
        iotnet.setTimeout(fired.append, 10, "after")
        run_bounded(5)
    finally:
        iotnet.on_uncaught_exception(None)
    assert len(caught) == 1 and isinstance(caught[0], ZeroDivisionError)
    assert fired == ["after"]


def test_an_exception_from_the_uncaught_handler_leaves_run():
    def handler(exc):
        raise RuntimeError("handler failed") from exc

    iotnet.on_uncaught_exception(handler)
    try:
        iotnet.setTimeout(lambda: 1 / 0, 1)
        with pytest.raises(RuntimeError, match="handler failed"):
            run_bounded(5)
    finally:
        iotnet.on_uncaught_exception(None)


def test_with_an_uncaught_handler_the_tick_queue_keeps_draining():
    caught = []
    ran = []

    def boom():
        raise KeyError('tick')
    iotnet.on_uncaught_exception(caught.append)
    try:
        iotnet.nextTick(boom)
        iotnet.nextTick(ran.append, 'second')
        iotnet.nextTick(ran.append, 'third')
        iotnet.run()
        assert ran == ['second', 'third'] and len(caught) == 1
    finally:
        iotnet.on_uncaught_exception(None)


# -- Ctrl-C ---------------------------------------------------------------------------------------

def test_ctrl_c_on_an_idle_loop_exits_130(tmp_path):
    """SIGINT while the loop waits in epoll for a far interval timer."""
    code, out, err = run_script(tmp_path, """
        import iotnet
        iotnet.setInterval(lambda: None, 60000)
        iotnet.setTimeout(lambda: print("ready", flush=True), 1)
    """, interrupt_after_ready=True)
    assert code == 130, err


def test_ctrl_c_on_a_busy_loop_exits_130(tmp_path):
    """SIGINT while callbacks run back to back."""
    code, out, err = run_script(tmp_path, """
        import iotnet
        def spin():
            iotnet.setImmediate(spin)
        iotnet.setImmediate(spin)
        iotnet.setTimeout(lambda: print("ready", flush=True), 1)
    """, interrupt_after_ready=True)
    assert code == 130, err


def test_keyboard_interrupt_leaves_run_and_the_loop_runs_again(tmp_path):
    code, out, err = run_script(tmp_path, """
        import os, signal, iotnet
        interval = iotnet.setInterval(lambda: None, 60000)
        iotnet.setTimeout(os.kill, 5, os.getpid(), signal.SIGINT)
        try:
            iotnet.run()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        iotnet.setTimeout(iotnet.clearInterval, 5, interval)
        iotnet.setTimeout(print, 1, "again")
        iotnet.run()
        print("done")
    """)
    assert code == 0, err
    assert out.splitlines() == ["interrupted", "again", "done"]


# -- threads --------------------------------------------------------------------------------------

def test_call_soon_threadsafe_from_four_threads_arrives_exactly_once():
    threads_count, calls_per_thread = 4, 1000
    received = []
    expected = threads_count * calls_per_thread

    def record(thread_index, call_index):
        received.append((thread_index, call_index))
        if len(received) == expected:
            iotnet.clearInterval(keep_alive)

    # Keeps run() alive until every call has arrived (the async handle itself is unref'd).
    keep_alive = iotnet.setInterval(lambda: None, 1000)

    def worker(thread_index):
        for call_index in range(calls_per_thread):
            iotnet.call_soon_threadsafe(record, thread_index, call_index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    run_bounded(20)
    for thread in threads:
        thread.join()
    assert sorted(received) == [(t, c) for t in range(threads_count)
                                for c in range(calls_per_thread)]
    # Each thread's calls arrive in the order it made them.
    for t in range(threads_count):
        assert [c for (tt, c) in received if tt == t] == list(range(calls_per_thread))


def test_other_threads_run_while_the_loop_waits():
    """The GIL is released while libuv waits in epoll: a thread that starts counting only once
    the loop has nothing left but to wait (for a timer a minute away) gets to the end, and then
    clears that timer. (Were the GIL held in epoll, the thread could not run, and the bounded
    run() would fail.)"""
    counted = [0]
    far = iotnet.setTimeout(lambda: None, 60000)     # all the loop has left to wait for
    loop_waits = threading.Event()

    def counting_thread():
        if not loop_waits.wait(10):
            return
        while counted[0] < 100000:
            counted[0] += 1
        iotnet.call_soon_threadsafe(iotnet.clearTimeout, far)

    thread = threading.Thread(target=counting_thread)
    thread.start()
    iotnet.setImmediate(loop_waits.set)      # the last callback before the loop waits
    try:
        run_bounded(5)
    finally:
        loop_waits.set()
        thread.join()
    assert counted[0] == 100000


def test_a_thread_started_from_a_callback_runs_while_the_loop_waits():
    """While the loop's thread is the only Python thread, the loop keeps the GIL through its
    polls; a thread started from a callback must still run as soon as the loop waits. It
    counts, then clears the timer a minute away that is all the loop waits for. (Had the loop
    kept the GIL in epoll, the thread could not run, and the bounded run() would fail.)"""
    assert threading.active_count() == 1, "another thread would hide what this test checks"
    counted = [0]
    far = iotnet.setTimeout(lambda: None, 60000)
    threads = []

    def counting_thread():
        while counted[0] < 100000:
            counted[0] += 1
        iotnet.call_soon_threadsafe(iotnet.clearTimeout, far)

    def start_thread():
        threads.append(threading.Thread(target=counting_thread))
        threads[0].start()

    iotnet.setImmediate(start_thread)
    try:
        run_bounded(5)
    finally:
        for thread in threads:
            thread.join()
    assert counted[0] == 100000


def test_call_soon_threadsafe_checks_its_callable():
    with pytest.raises(TypeError):
        iotnet.call_soon_threadsafe("not callable")
    with pytest.raises(TypeError):
        iotnet.nextTick(42)
    with pytest.raises(TypeError):
        iotnet.on_uncaught_exception("x")


def test_loop_calls_from_another_thread_raise_at_once_and_change_nothing():
    outcomes = {}
    server = iotnet.createServer()
    other_server = iotnet.createServer()
    sock = iotnet.Socket()
    calls = {
        'setTimeout': lambda: iotnet.setTimeout(lambda: None, 1),
        'setImmediate': lambda: iotnet.setImmediate(lambda: None),
        'nextTick': lambda: iotnet.nextTick(lambda: None),
        'listen': lambda: other_server.listen(0, '127.0.0.1'),
        'close': lambda: server.close(),
        'write': lambda: sock.write(b'x'),
        'connect': lambda: sock.connect(9, '127.0.0.1'),
        'destroy': lambda: sock.destroy(),
        'on': lambda: sock.on('data', print),
    }

    def worker():
        for name, call in calls.items():
            try:
                call()
                outcomes[name] = 'returned'
            except RuntimeError as exc:
                outcomes[name] = 'RuntimeError' if 'call_soon_threadsafe' in str(exc) else exc
        iotnet.call_soon_threadsafe(server.close)

    listen_local(server, lambda port: threading.Thread(target=worker).start())
    run_bounded(10)
    assert outcomes == {name: 'RuntimeError' for name in calls}
    assert not other_server.listening and not sock.destroyed
    assert sock.listenerCount('data') == 0


def test_call_soon_threadsafe_posted_before_run_runs_in_that_run():
    ran = []
    thread = threading.Thread(target=iotnet.call_soon_threadsafe, args=(ran.append, 'posted'))
    thread.start()
    thread.join()
    iotnet.run()
    assert ran == ['posted']


def test_run_from_another_thread_while_running_says_so():
    messages = []
    server = iotnet.createServer()

    def worker():
        try:
            iotnet.run()
        except RuntimeError as exc:
            messages.append(str(exc))
        iotnet.call_soon_threadsafe(server.close)

    listen_local(server, lambda port: threading.Thread(target=worker).start())
    run_bounded(10)
    assert len(messages) == 1 and 'another thread' in messages[0]

"""The loop (API.md §1): run/stop, nextTick/timer/immediate order, exceptions, threads."""
import threading

import pytest

import iotnet
from helpers import run_bounded


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


def test_exception_in_a_callback_leaves_run_and_the_loop_goes_on():
    fired = []

    def boom():
        raise ValueError("from a timer")

    iotnet.setTimeout(boom, 1)
    iotnet.setTimeout(fired.append, 20, "later")
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
    """The GIL is released while libuv waits in epoll."""
    progress = []

    def busy_thread():
        while not done.is_set():
            progress.append(1)
            if len(progress) > 100000:
                progress.clear()
                progress.append(1)

    done = threading.Event()
    thread = threading.Thread(target=busy_thread)
    counts = []

    def sample():
        counts.append(len(progress))
        done.set()

    thread.start()
    iotnet.setTimeout(sample, 200)
    run_bounded(5)
    thread.join()
    assert counts and counts[0] > 0


def test_call_soon_threadsafe_checks_its_callable():
    with pytest.raises(TypeError):
        iotnet.call_soon_threadsafe("not callable")
    with pytest.raises(TypeError):
        iotnet.nextTick(42)
    with pytest.raises(TypeError):
        iotnet.on_uncaught_exception("x")

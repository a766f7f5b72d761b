"""EventEmitter (docs/reference): Node's listener semantics ('newListener' and 'removeListener'
included), usable by subclasses; the core's own events do not go through a Python emit()."""
import pytest

import iotnet
from helpers import run_bounded


class Thing(iotnet.EventEmitter):
    pass


def test_listeners_run_in_registration_order_with_the_arguments():
    emitter = Thing()
    calls = []
    emitter.on("x", lambda a, b: calls.append(("first", a, b)))
    emitter.addListener("x", lambda a, b: calls.append(("second", a, b)))
    assert emitter.emit("x", 1, 2) is True
    assert calls == [("first", 1, 2), ("second", 1, 2)]


def test_emit_without_listeners_returns_false():
    assert iotnet.EventEmitter().emit("nothing") is False


def test_once_runs_a_single_time():
    emitter = Thing()
    calls = []
    emitter.once("x", calls.append)
    emitter.emit("x", 1)
    emitter.emit("x", 2)
    assert calls == [1]
    assert emitter.listenerCount("x") == 0


def test_prepend_listener_and_prepend_once():
    emitter = Thing()
    calls = []
    emitter.on("x", lambda: calls.append("on"))
    emitter.prependListener("x", lambda: calls.append("prepended"))
    emitter.prependOnceListener("x", lambda: calls.append("prepended-once"))
    emitter.emit("x")
    emitter.emit("x")
    assert calls == ["prepended-once", "prepended", "on", "prepended", "on"]


def test_listener_removed_during_emit_still_runs_for_that_emit():
    emitter = Thing()
    calls = []

    def first():
        calls.append("first")
        emitter.off("x", second)

    def second():
        calls.append("second")

    emitter.on("x", first)
    emitter.on("x", second)
    emitter.emit("x")
    emitter.emit("x")
    assert calls == ["first", "second", "first"]


def test_listener_added_during_emit_waits_for_the_next_emit():
    emitter = Thing()
    calls = []
    emitter.on("x", lambda: emitter.on("x", lambda: calls.append("late")))
    emitter.emit("x")
    assert calls == []
    emitter.emit("x")
    assert calls == ["late"]


def test_off_removes_the_last_added_occurrence_and_once_wrappers():
    emitter = Thing()
    calls = []
    emitter.on("x", calls.append)
    emitter.on("x", calls.append)
    emitter.removeListener("x", calls.append)
    assert emitter.listenerCount("x") == 1
    emitter.once("y", calls.append)
    emitter.off("y", calls.append)
    assert emitter.emit("y", 1) is False


def test_listeners_event_names_and_remove_all():
    emitter = Thing()

    def handler():
        pass

    emitter.on("a", handler)
    emitter.once("b", handler)
    assert emitter.listeners("b") == [handler]
    assert emitter.eventNames() == ["a", "b"]
    emitter.removeAllListeners("a")
    assert emitter.eventNames() == ["b"]
    emitter.removeAllListeners()
    assert emitter.eventNames() == []


def test_methods_return_the_emitter_for_chaining():
    emitter = Thing()
    assert emitter.on("a", print).once("b", print).off("a", print) is emitter


def test_error_without_a_listener_raises_it():
    emitter = Thing()
    error = ValueError("boom")
    with pytest.raises(ValueError) as info:
        emitter.emit("error", error)
    assert info.value is error


def test_error_that_is_not_an_exception_is_wrapped():
    with pytest.raises(iotnet.NetError) as info:
        Thing().emit("error", "just a string")
    assert info.value.code == "ERR_UNHANDLED_ERROR"


def test_error_with_a_listener_goes_to_it():
    emitter = Thing()
    seen = []
    emitter.on("error", seen.append)
    emitter.emit("error", KeyError("k"))
    assert isinstance(seen[0], KeyError)


def test_error_emitted_in_a_callback_without_listener_leaves_run():
    emitter = Thing()
    iotnet.setTimeout(lambda: emitter.emit("error", OSError(5, "io")), 1)
    with pytest.raises(OSError):
        iotnet.run()


def test_non_callable_listener_is_a_type_error():
    emitter = Thing()
    with pytest.raises(TypeError):
        emitter.on("x", "not callable")
    with pytest.raises(TypeError):
        emitter.once("x", None)
    assert emitter.listenerCount("x") == 0


def test_subclass_with_its_own_init_and_state():
    class Counter(iotnet.EventEmitter):
        def __init__(self, start):
            super().__init__()
            self.value = start
            self.on("inc", self.increment)

        def increment(self, by):
            self.value += by

    counter = Counter(10)
    counter.emit("inc", 5)
    assert counter.value == 15


def test_snake_case_aliases_are_the_same_objects():
    E = iotnet.EventEmitter
    assert E.add_listener is E.on and E.addListener is E.on
    assert E.remove_listener is E.off and E.removeListener is E.off
    assert E.listener_count is E.listenerCount
    assert E.prepend_listener is E.prependListener


# -- Node parity ----------------------------------------------------------------------------------

def test_new_listener_and_remove_listener_events_follow_node():
    """The same calls in Node 20 print this sequence (events.EventEmitter)."""
    log = []
    emitter = iotnet.EventEmitter()
    emitter.on('newListener', lambda name, fn: log.append(('new', name,
                                                           emitter.listenerCount(name))))
    emitter.on('removeListener', lambda name, fn: log.append(('removed', name,
                                                              emitter.listenerCount(name))))

    def f():
        pass
    emitter.on('x', f)
    emitter.once('y', f)
    emitter.emit('y')
    emitter.off('x', f)
    emitter.removeAllListeners()
    assert log == [('new', 'removeListener', 0), ('new', 'x', 0), ('new', 'y', 0),
                   ('removed', 'y', 0), ('removed', 'x', 0), ('removed', 'newListener', 0)]
    assert emitter.eventNames() == []


def test_new_listener_gets_the_function_given_to_once():
    seen = []
    emitter = iotnet.EventEmitter()
    emitter.on('newListener', lambda name, fn: seen.append(fn))

    def f():
        pass
    emitter.once('x', f)
    assert seen == [f]


def test_a_subclass_emit_override_does_not_see_core_events():
    """Documented: the core calls listeners from C, not through a Python emit()."""
    seen = []

    class Tracing(iotnet.Server):
        def emit(self, name, *args):
            seen.append(name)
            return super().emit(name, *args)

    server = Tracing()
    listening = []
    server.on('listening', lambda: (listening.append(1), server.close()))
    server.listen(0, '127.0.0.1')
    run_bounded(5)
    assert listening == [1] and seen == []

"""Timers (docs/reference): setTimeout/setInterval/setImmediate, clearing, ref/unref/refresh."""
import pytest

import iotnet
from helpers import run_bounded


def test_timeouts_fire_in_order_of_delay_with_their_arguments():
    order = []
    iotnet.setTimeout(order.append, 30, "thirty")
    iotnet.setTimeout(order.append, 10, "ten")
    iotnet.setTimeout(lambda a, b: order.append(a + b), 20, "twen", "ty")
    run_bounded(5)
    assert order == ["ten", "twenty", "thirty"]


def test_equal_delays_fire_in_creation_order():
    order = []
    for i in range(20):
        iotnet.setTimeout(order.append, 5, i)
    run_bounded(5)
    assert order == list(range(20))


def test_cleared_timeout_never_fires():
    fired = []
    timer = iotnet.setTimeout(fired.append, 5, "no")
    iotnet.clearTimeout(timer)
    iotnet.setTimeout(fired.append, 10, "yes")
    run_bounded(5)
    assert fired == ["yes"]


def test_clearing_inside_another_callback_cancels():
    fired = []
    victim = iotnet.setTimeout(fired.append, 20, "victim")
    iotnet.setTimeout(lambda: iotnet.clearTimeout(victim), 5)
    run_bounded(5)
    assert fired == []


def test_clear_functions_ignore_none_and_other_objects():
    iotnet.clearTimeout(None)
    iotnet.clearInterval("x")
    iotnet.clearImmediate(42)


def test_interval_repeats_until_cleared():
    count = []

    def tick():
        count.append(1)
        if len(count) == 5:
            iotnet.clearInterval(interval)

    interval = iotnet.setInterval(tick, 2)
    run_bounded(5)
    assert len(count) == 5


def test_unrefed_timer_does_not_keep_run_alive():
    fired = []
    iotnet.setTimeout(fired.append, 60000, "never").unref()
    run_bounded(5)
    assert fired == []


def test_unrefed_timer_still_fires_while_other_work_keeps_the_loop():
    fired = []
    timer = iotnet.setTimeout(fired.append, 5, "unrefed")
    assert timer.hasRef() is True
    assert timer.unref() is timer
    assert timer.hasRef() is False
    iotnet.setTimeout(fired.append, 30, "refed")
    run_bounded(5)
    assert fired == ["unrefed", "refed"]


def test_ref_after_unref_keeps_run_alive_again():
    fired = []
    timer = iotnet.setTimeout(fired.append, 5, "x").unref()
    timer.ref()
    run_bounded(5)
    assert fired == ["x"]


def test_refresh_restarts_a_timeout_and_rearms_a_fired_one():
    fired = []

    def on_fire():
        fired.append(len(fired))
        if len(fired) < 3:
            timer.refresh()

    timer = iotnet.setTimeout(on_fire, 2)
    run_bounded(5)
    assert fired == [0, 1, 2]


def test_refresh_before_firing_postpones_it():
    order = []
    timer = iotnet.setTimeout(order.append, 20, "refreshed")
    iotnet.setTimeout(lambda: timer.refresh(), 15)
    iotnet.setTimeout(order.append, 25, "plain")
    run_bounded(5)
    assert order == ["plain", "refreshed"]


def test_immediates_run_in_order_and_can_be_cleared():
    order = []
    iotnet.setImmediate(order.append, 1)
    cleared = iotnet.setImmediate(order.append, 2)
    iotnet.setImmediate(order.append, 3)
    iotnet.clearImmediate(cleared)
    run_bounded(5)
    assert order == [1, 3]


def test_unrefed_immediate_does_not_keep_run_alive():
    """An unref'd immediate that keeps re-scheduling itself does not keep run() going."""
    runs = []

    def again():
        runs.append(1)
        assert iotnet.setImmediate(again).unref().hasRef() is False

    iotnet.setTimeout(again, 1)
    run_bounded(5)
    assert len(runs) >= 1


def test_refed_immediate_keeps_run_alive():
    order = []
    iotnet.setImmediate(order.append, "refed")
    run_bounded(5)
    assert order == ["refed"]


def test_zero_delay_waits_for_the_next_timer_phase():
    order = []
    iotnet.setTimeout(order.append, 0, "zero")
    order.append("sync")
    run_bounded(5)
    assert order == ["sync", "zero"]


@pytest.mark.parametrize("bad", ["x", None, [1], b"1", True])
def test_delay_of_the_wrong_type_is_a_type_error(bad):
    with pytest.raises(TypeError):
        iotnet.setTimeout(lambda: None, bad)
    with pytest.raises(TypeError):
        iotnet.setInterval(lambda: None, bad)


@pytest.mark.parametrize("bad", [-1, -0.5, float("nan"), 2 ** 40])
def test_bad_delay_is_a_value_error(bad):
    with pytest.raises(ValueError):
        iotnet.setTimeout(lambda: None, bad)


def test_non_callable_callback_is_a_type_error():
    with pytest.raises(TypeError):
        iotnet.setTimeout("not callable", 1)
    with pytest.raises(TypeError):
        iotnet.setImmediate(None)
    with pytest.raises(TypeError):
        iotnet.setInterval(3, 1)


def test_timer_objects_cannot_be_built_directly():
    with pytest.raises(TypeError):
        iotnet.Timer()
    with pytest.raises(TypeError):
        iotnet.Immediate()


def test_snake_case_aliases_are_the_same_objects():
    assert iotnet.set_timeout is iotnet.setTimeout
    assert iotnet.clear_interval is iotnet.clearInterval
    assert iotnet.next_tick is iotnet.nextTick
    assert iotnet.Timer.has_ref is iotnet.Timer.hasRef


def test_a_timer_started_outside_run_counts_from_the_call_not_from_the_last_run():
    """The loop's "now" is cached while it does not run; a timer started then must not be due
    already. Busy time between run() and setTimeout() would otherwise make it fire at once.
    The time it waited is measured (not raced against an immediate: on a slow machine the loop's
    first iteration may itself come more than 20 ms after the call)."""
    import time
    iotnet.run()
    start = time.monotonic()
    while time.monotonic() - start < 0.05:
        pass
    waited = []
    called = time.monotonic()
    iotnet.setTimeout(lambda: waited.append(time.monotonic() - called), 20)
    run_bounded(5)
    assert len(waited) == 1
    assert waited[0] >= 0.015, waited       # 20 ms, less the loop clock's millisecond steps


# -- refresh --------------------------------------------------------------------------------------

def test_refresh_after_clear_timeout_does_nothing():
    fired = []
    timer = iotnet.setTimeout(fired.append, 5, 'fired')
    iotnet.clearTimeout(timer)
    assert timer.refresh() is timer
    iotnet.setTimeout(lambda: None, 30)
    run_bounded(5)
    assert fired == []


def test_refresh_after_a_timeout_fired_starts_it_again():
    fired = []
    timer = iotnet.setTimeout(lambda: (fired.append(1), len(fired) < 2 and timer.refresh()), 1)
    run_bounded(5)
    assert fired == [1, 1]

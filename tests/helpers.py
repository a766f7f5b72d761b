"""Helpers for tests: every test drives the loop with run_bounded() and asserts afterwards."""
import iotnet


class LoopTimeout(AssertionError):
    pass


def _timed_out(seconds):
    raise LoopTimeout(f"the loop was still busy after {seconds} s")


def run_bounded(seconds=10):
    """iotnet.run(), bounded by an unref'd loop timer that fails the test if the work hangs.

    The timer is unref'd, so it never keeps run() alive on its own.
    """
    guard = iotnet.setTimeout(_timed_out, int(seconds * 1000), seconds)
    guard.unref()
    try:
        iotnet.run()
    finally:
        iotnet.clearTimeout(guard)

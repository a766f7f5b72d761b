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


def subprocess_env():
    """Environment for a child Python that imports the same iotnet build as the tests."""
    import os
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.environ.get("IOTNET_PATH") or str(root / "src")
    return env


def listen_local(server, on_listening):
    """server.listen(0, '127.0.0.1') and on_listening(port) once it listens."""
    server.listen(0, "127.0.0.1", lambda: on_listening(server.address()["port"]))
    return server

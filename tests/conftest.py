"""Shared test fixtures: which build to test, a bounded run(), and the after-test leak check."""
import gc
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# `make test-debug` points IOTNET_PATH at the debug build; otherwise the in-place build in src/.
sys.path.insert(0, os.environ.get("IOTNET_PATH") or str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

import iotnet  # noqa: E402
import pytest  # noqa: E402

from helpers import run_bounded  # noqa: E402


@pytest.fixture(autouse=True)
def loop_is_clean():
    """After every test: run() has returned, and (debug build) no handle, request or buffer lives."""
    yield
    gc.collect()
    # Close whatever a failed test left open, then let the close callbacks run.
    iotnet._core._close_all_handles()
    run_bounded(10)
    gc.collect()
    run_bounded(10)
    iotnet.run()  # the guard timer's own close callback
    counters = iotnet._core.debug_counters()
    if counters is not None:
        assert counters == {name: 0 for name in counters}, counters

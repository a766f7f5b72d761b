"""python -m iotnet script.py (docs/reference): runs the script, then the loop; exit codes, usage and
versions. (What Ctrl-C does to the loop is in test_loop.py.)"""
import subprocess
import sys

import iotnet
from helpers import CHILD_TIMEOUT_S, run_script, subprocess_env


def test_runs_the_script_as_main_with_argv_then_the_loop(tmp_path):
    code, out, err = run_script(tmp_path, """
        import sys, iotnet
        assert __name__ == "__main__"
        iotnet.setTimeout(print, 5, "timer", sys.argv[1:])
        print("script")
    """, "a", "b")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["script", "timer ['a', 'b']"]


def test_uncaught_exception_exits_1_with_a_traceback(tmp_path):
    code, out, err = run_script(tmp_path, """
        import iotnet
        def boom():
            raise ValueError("from the loop")
        iotnet.setTimeout(boom, 1)
    """)
    assert code == 1
    assert "Traceback" in err and "ValueError: from the loop" in err and "boom" in err


def test_usage_without_a_script(tmp_path):
    child = subprocess.run([sys.executable, "-m", "iotnet"], capture_output=True, text=True,
                           env=subprocess_env(), timeout=CHILD_TIMEOUT_S)
    assert child.returncode == 2 and "usage" in child.stderr


def test_version_and_libuv_version():
    assert isinstance(iotnet.__version__, str) and iotnet.__version__.count(".") >= 1
    major, minor, _ = iotnet.libuv_version().split(".")
    assert int(major) == 1 and int(minor) >= 30

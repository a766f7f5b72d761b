"""python -m iotnet script.py (API.md §1): runs the script, then the loop; Ctrl-C; exit codes."""
import signal
import subprocess
import sys
import textwrap

import iotnet
from helpers import subprocess_env

CHILD_TIMEOUT_S = 20


def _run_child(tmp_path, source, *args, interrupt_after_ready=False):
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    child = subprocess.Popen([sys.executable, "-m", "iotnet", str(script), *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=subprocess_env())
    try:
        if interrupt_after_ready:
            assert child.stdout.readline().strip() == "ready"
            child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=CHILD_TIMEOUT_S)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return child.returncode, out, err


def test_runs_the_script_as_main_with_argv_then_the_loop(tmp_path):
    code, out, err = _run_child(tmp_path, """
        import sys, iotnet
        assert __name__ == "__main__"
        iotnet.setTimeout(print, 5, "timer", sys.argv[1:])
        print("script")
    """, "a", "b")
    assert (code, err) == (0, "")
    assert out.splitlines() == ["script", "timer ['a', 'b']"]


def test_uncaught_exception_exits_1_with_a_traceback(tmp_path):
    code, out, err = _run_child(tmp_path, """
        import iotnet
        def boom():
            raise ValueError("from the loop")
        iotnet.setTimeout(boom, 1)
    """)
    assert code == 1
    assert "Traceback" in err and "ValueError: from the loop" in err and "boom" in err


def test_ctrl_c_on_an_idle_loop_exits_130(tmp_path):
    """SIGINT while the loop waits in epoll for a far interval timer."""
    code, out, err = _run_child(tmp_path, """
        import iotnet
        iotnet.setInterval(lambda: None, 60000)
        iotnet.setTimeout(lambda: print("ready", flush=True), 1)
    """, interrupt_after_ready=True)
    assert code == 130, err


def test_ctrl_c_on_a_busy_loop_exits_130(tmp_path):
    """SIGINT while callbacks run back to back."""
    code, out, err = _run_child(tmp_path, """
        import iotnet
        def spin():
            iotnet.setImmediate(spin)
        iotnet.setImmediate(spin)
        iotnet.setTimeout(lambda: print("ready", flush=True), 1)
    """, interrupt_after_ready=True)
    assert code == 130, err


def test_keyboard_interrupt_leaves_run_and_the_loop_runs_again(tmp_path):
    code, out, err = _run_child(tmp_path, """
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


def test_usage_without_a_script(tmp_path):
    child = subprocess.run([sys.executable, "-m", "iotnet"], capture_output=True, text=True,
                           env=subprocess_env(), timeout=CHILD_TIMEOUT_S)
    assert child.returncode == 2 and "usage" in child.stderr


def test_version_and_libuv_version():
    assert isinstance(iotnet.__version__, str) and iotnet.__version__.count(".") >= 1
    major, minor, _ = iotnet.libuv_version().split(".")
    assert int(major) == 1 and int(minor) >= 30

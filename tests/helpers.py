"""Helpers for tests: every test drives the loop with run_bounded() and asserts afterwards.

Also what several test files share: the loopback host, event recorders, a raw socket peer on a
thread, the connect call forms, and a child `python -m iotnet` runner."""
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import threading

import iotnet

HOST = '127.0.0.1'
KIB = 1024
READ_BUFFER_BYTES = 256 * KIB      # one read() fills at most the loop's read buffer
# A name that never resolves: the reserved .invalid domain (RFC 6761).
BAD_HOST = 'no.way.you.will.resolve.this.invalid'
# ENOTFOUND is what the reference promises for a name that does not exist; EAI_AGAIN is what a resolver
# says when it cannot reach a name server at all (an offline machine), also a resolver failure.
DNS_CODES = ('ENOTFOUND', 'EAI_AGAIN')
# Under emulation (make test-aarch64, test-armv7l: QEMU) everything runs several times slower,
# so the hang guards stretch by this factor. They only bound hangs: no test asserts a duration.
TIME_SCALE = float(os.environ.get("IOTNET_TEST_TIME_SCALE", "1"))
CHILD_TIMEOUT_S = 20 * TIME_SCALE


class LoopTimeout(AssertionError):
    pass


def run_bounded(seconds=10):
    """iotnet.run(), bounded by an unref'd loop timer that fails the test if the work hangs.

    The timer is unref'd, so it never keeps run() alive on its own. It also stops the loop, so
    the bound holds while an on_uncaught_exception handler is installed (the handler gets the
    LoopTimeout, and run_bounded raises it again once run() has returned).
    """
    timed_out = []

    def on_timeout():
        timed_out.append(True)
        iotnet.stop()
        raise LoopTimeout(f"the loop was still busy after {seconds} s")

    guard = iotnet.setTimeout(on_timeout, int(seconds * TIME_SCALE * 1000))
    guard.unref()
    try:
        iotnet.run()
    finally:
        iotnet.clearTimeout(guard)
    if timed_out:
        raise LoopTimeout(f"the loop was still busy after {seconds} s")


def subprocess_env():
    """Environment for a child Python that imports the same iotnet build as the tests."""
    import pathlib

    root = pathlib.Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    env["PYTHONPATH"] = os.environ.get("IOTNET_PATH") or str(root / "src")
    return env


def run_script(tmp_path, source, *args, interrupt_after_ready=False):
    """Runs `source` with `python -m iotnet`; returns (exit status, stdout, stderr).

    With interrupt_after_ready, SIGINT is sent once the script has printed the line "ready".
    """
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    # The child starts with SIGINT's default action (so that Python turns it into
    # KeyboardInterrupt) even where the tests run with SIGINT ignored, as a command that a
    # non-interactive shell starts in the background does; the child would inherit that.
    ignored = signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        child = subprocess.Popen([sys.executable, "-m", "iotnet", str(script), *args],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=subprocess_env())
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
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


def _has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(('::1', 0))
        return True
    except OSError:
        return False


HAS_IPV6 = _has_ipv6_loopback()


def odd_chunks(payload, seed, sizes):
    """payload cut into chunks of sizes drawn (repeatably, from seed) from `sizes`, so that chunk
    boundaries fall anywhere."""
    rng = random.Random(seed)
    offset = 0
    while offset < len(payload):
        size = rng.choice(sizes)
        yield payload[offset:offset + size]
        offset += size


def port_of(server):
    return server.address()['port']


def listen_local(server, on_listening):
    """server.listen(0, '127.0.0.1') and on_listening(port) once it listens."""
    server.listen(0, "127.0.0.1", lambda: on_listening(server.address()["port"]))
    return server


def wait_until(condition, then, every_ms=1):
    """Calls then() once condition() holds, polling on a loop timer."""
    def check():
        if condition():
            iotnet.clearInterval(timer)
            then()
    timer = iotnet.setInterval(check, every_ms)


# -- recording events -----------------------------------------------------------------------------

def record(sock, events, names=('connect', 'data', 'end', 'error', 'close')):
    """Append each named event of sock to events: its name, but ('close', had_error) and
    ('error', err)."""
    for name in names:
        if name == 'close':
            sock.on('close', lambda had_error: events.append(('close', had_error)))
        elif name == 'error':
            sock.on('error', lambda err: events.append(('error', err)))
        else:
            sock.on(name, lambda *args, name=name: events.append(name))


def log_events(sock, names, log, tag=None):
    """Appends (name, *args) of every event in `names` to log."""
    for name in names:
        sock.on(name, lambda *args, name=name: log.append((name,) + args if tag is None
                                                          else (tag, name) + args))


def event_codes(log):
    """The log of log_events() with each error replaced by its code."""
    return [(entry[0], getattr(entry[1], 'code', entry[1]) if len(entry) > 1 else None)
            for entry in log]


def record_error_end_close(sock, events):
    """Appends ('error', err), ('end',) and ('close', had_error) of sock to events."""
    sock.on("error", lambda err: events.append(("error", err)))
    sock.on("end", lambda: events.append(("end",)))
    sock.on("close", lambda had_error: events.append(("close", had_error)))


def assert_error_then_close(events, codes):
    """events (of record_error_end_close) hold one 'error' with a code in codes, then one
    'close'(True), last."""
    names = [event[0] for event in events]
    assert names.count("close") == 1 and names[-1] == "close", names
    assert events[-1][1] is True
    errors = [event[1] for event in events if event[0] == "error"]
    assert len(errors) == 1, names
    assert isinstance(errors[0], OSError) and errors[0].code in codes, errors[0]
    assert names.index("error") < names.index("close")


# -- peers and connect forms ----------------------------------------------------------------------

class RawPeer(threading.Thread):
    """A blocking Python socket peer running `script(sock)` on its own thread."""

    def __init__(self, script, port=None):
        super().__init__(daemon=True)
        self.script = script
        self.port = port
        self.listener = None
        if port is None:
            self.listener = socket.create_server(("127.0.0.1", 0))
            self.port = self.listener.getsockname()[1]
        self.error = None

    def run(self):
        try:
            if self.listener is not None:
                self.listener.settimeout(30)
                conn, _ = self.listener.accept()
                self.listener.close()
            else:
                conn = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            conn.settimeout(30)
            self.script(conn)
        except BaseException as exc:    # surfaced by the test after the loop
            self.error = exc


def connect_forms(args, listener=None):
    """createConnection, connect and Socket().connect with args (and listener if given), as
    thunks: with and without a listener, the six ways test-net-connect-options-port.js uses."""
    extra = [listener] if listener else []
    return [
        lambda: iotnet.createConnection(*args, *extra),
        lambda: iotnet.connect(*args, *extra),
        lambda: iotnet.Socket().connect(*args, *extra),
    ]

"""`python -m iotnet --workers N script.py`: the supervisor (like Node's cluster primary).

Plain Python, no iotnet loop: each worker is a fresh `python -m iotnet script.py` process (exec,
never fork, so no libuv state is shared), told its id and a readiness pipe by environment
variables. Workers' listen() sets SO_REUSEPORT, so the kernel spreads connections over them.

- A worker that dies is started again after a back-off (0.1 s doubling to 2 s); one that dies
  CRASH_LIMIT times in a row, each time within EARLY_DEATH_S of its start, ends the supervisor
  with status 1. Counted per life, not in a window of wall time: where starting Python takes
  seconds (a small board, an emulator), a crash loop still ends.
- SIGTERM / SIGINT: SIGTERM to every worker (their graceful stop); exit 0 once all have exited.
- SIGHUP: rolling restart, one worker at a time: a new worker is started, and the old one is
  stopped only once the new one listens (it writes a byte on its readiness pipe).
- Every line a worker writes to stdout / stderr is written to ours with "[worker N] " first.
"""
import collections
import os
import signal
import subprocess
import sys
import threading
import time

from . import _shutdown

CRASH_LIMIT = 5
EARLY_DEATH_S = 10.0          # a death this soon after the worker started counts toward CRASH_LIMIT
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 2.0
TICK_S = 0.02                 # how often the supervisor looks at its workers
READY_TIMEOUT_S = 30.0        # a rolling restart gives up on a new worker after this


class _Worker:
    """One worker process: its id, its Popen, its readiness pipe, its output threads."""

    def __init__(self, wid, argv, grace_s, out_lock):
        self.wid = wid
        self.started = time.monotonic()
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        env = dict(os.environ)
        env[_shutdown.WORKER_ID_ENV] = str(wid)
        env[_shutdown.READY_FD_ENV] = str(write_fd)
        env["PYTHONUNBUFFERED"] = "1"      # lines reach us as they are written
        cmd = [sys.executable, "-m", "iotnet", "--grace", str(grace_s), *argv]
        try:
            self.proc = subprocess.Popen(cmd, env=env, pass_fds=(write_fd,),
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        finally:
            os.close(write_fd)
        self.ready_fd = read_fd
        self.ready = False
        self.threads = [
            threading.Thread(target=_copy_lines, daemon=True,
                             args=(self.proc.stdout, _stream(sys.stdout), wid, out_lock)),
            threading.Thread(target=_copy_lines, daemon=True,
                             args=(self.proc.stderr, _stream(sys.stderr), wid, out_lock)),
        ]
        for thread in self.threads:
            thread.start()

    def check_ready(self):
        """True once the worker listens (False if it has not yet, or never will)."""
        if not self.ready and self.ready_fd is not None:
            try:
                data = os.read(self.ready_fd, 1)
            except BlockingIOError:
                return False
            self.ready = bool(data)
            os.close(self.ready_fd)     # a byte, or EOF: the worker has closed its end
            self.ready_fd = None
        return self.ready

    def signal(self, signum):
        try:
            self.proc.send_signal(signum)
        except ProcessLookupError:
            pass

    def reap(self):
        """The exit status once the process has exited (output copied), else None."""
        code = self.proc.poll()
        if code is None:
            return None
        for thread in self.threads:
            thread.join(1.0)
        if self.ready_fd is not None:
            os.close(self.ready_fd)
            self.ready_fd = None
        return code


def _stream(text_stream):
    return getattr(text_stream, "buffer", text_stream)


def _copy_lines(pipe, out, wid, lock):
    prefix = f"[worker {wid}] ".encode()
    for line in iter(pipe.readline, b""):
        if not line.endswith(b"\n"):
            line += b"\n"
        with lock:
            try:
                out.write(prefix + line)
                out.flush()
            except (OSError, ValueError):
                pass
    pipe.close()


class Supervisor:
    def __init__(self, count, grace_s, argv):
        self.count = count
        self.grace_s = grace_s
        self.argv = argv
        self.out_lock = threading.Lock()
        self.workers = {}              # id -> the _Worker serving that id
        self.retiring = []             # old workers being stopped (rolling restart)
        self.restart_at = {}           # id -> time.monotonic() when to start it again
        self.backoff = {}              # id -> the next back-off
        self.early_deaths = {}         # id -> deaths in a row soon after the start
        self.stopping = False
        self.rolls = collections.deque()   # ids still to restart for a SIGHUP
        self.rolling = None            # (id, the new _Worker, its deadline)
        self.signals = collections.deque()

    def say(self, message):
        with self.out_lock:
            print(f"iotnet supervisor: {message}", file=sys.stderr, flush=True)

    def run(self):
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda signum, frame: self.signals.append(signum))
        for wid in range(1, self.count + 1):
            self.workers[wid] = self.start(wid)
        while True:
            while self.signals:
                self.on_signal(self.signals.popleft())
            status = self.tick()
            if status is not None:
                return status
            time.sleep(TICK_S)

    def start(self, wid):
        return _Worker(wid, self.argv, self.grace_s, self.out_lock)

    def on_signal(self, signum):
        if signum == signal.SIGHUP:
            if not self.stopping:
                self.say("SIGHUP: restarting the workers one at a time")
                self.rolls.extend(wid for wid in sorted(self.workers) if wid not in self.rolls)
            return
        if not self.stopping:
            self.say(f"{signal.Signals(signum).name}: stopping the workers")
            self.stop_all()

    def stop_all(self):
        self.stopping = True
        self.restart_at.clear()
        self.rolls.clear()
        for worker in self.all_workers():
            worker.signal(signal.SIGTERM)

    def all_workers(self):
        extra = [self.rolling[1]] if self.rolling else []
        return list(self.workers.values()) + self.retiring + extra

    def tick(self):
        """One look at the workers; the supervisor's exit status once it is done."""
        now = time.monotonic()
        self.retiring = [w for w in self.retiring if w.reap() is None]
        for wid, worker in list(self.workers.items()):
            code = worker.reap()
            if code is None:
                continue
            del self.workers[wid]
            if self.stopping:
                continue
            if code == 0:
                # Its script ended with nothing left to do, as a plain process would: that is
                # not a crash, and starting it again would only end the same way.
                self.say(f"worker {wid} finished (status 0); not started again")
                continue
            if self.crashed(wid, code, now, now - worker.started):
                return 1
        self.tick_rolling(now)
        if self.stopping or not (self.workers or self.restart_at or self.rolling):
            if not self.all_workers():
                return 0
            return None
        for wid, when in list(self.restart_at.items()):
            if now >= when:
                del self.restart_at[wid]
                self.workers[wid] = self.start(wid)
        return None

    def crashed(self, wid, code, now, lived_s):
        """Counts a death; schedules the restart, or gives up (True) after too many."""
        if lived_s >= EARLY_DEATH_S:          # it ran a while: a new series, a short back-off
            self.early_deaths[wid] = 0
            self.backoff.pop(wid, None)
        else:
            self.early_deaths[wid] = self.early_deaths.get(wid, 0) + 1
        if self.early_deaths[wid] >= CRASH_LIMIT:
            self.say(f"worker {wid} died {CRASH_LIMIT} times in a row within {EARLY_DEATH_S:g} s "
                     f"of its start (last exit status {code}); giving up")
            self.stop_all()
            self.wait_all()
            return True
        delay = self.backoff.get(wid, BACKOFF_FIRST_S)
        self.backoff[wid] = min(delay * 2, BACKOFF_MAX_S)
        self.say(f"worker {wid} exited with status {code}; starting it again in {delay:g} s")
        self.restart_at[wid] = now + delay
        return False

    def wait_all(self):
        """After a SIGTERM to all: waits for them (grace, then SIGKILL)."""
        deadline = time.monotonic() + self.grace_s + 5
        for worker in self.all_workers():
            try:
                worker.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait()
            worker.reap()

    def tick_rolling(self, now):
        if self.stopping:
            if self.rolling:
                self.retiring.append(self.rolling[1])    # already sent SIGTERM
                self.rolling = None
            return
        if self.rolling is None:
            while self.rolls:
                wid = self.rolls.popleft()
                if wid in self.workers:
                    self.rolling = (wid, self.start(wid), now + READY_TIMEOUT_S)
                    return
            return
        wid, new, deadline = self.rolling
        if new.check_ready():
            # The new worker listens (SO_REUSEPORT): the old one may close its listener now.
            old = self.workers.get(wid)
            self.workers[wid] = new
            self.rolling = None
            self.backoff.pop(wid, None)
            self.restart_at.pop(wid, None)     # the old one may have died meanwhile
            if old is not None:
                old.signal(signal.SIGTERM)
                self.retiring.append(old)
            self.say(f"worker {wid} restarted (pid {new.proc.pid})")
        elif new.ready_fd is None or now > deadline:
            # Died or closed its pipe before listening, or too slow: the old one goes on.
            self.say(f"worker {wid}: the new process did not start listening; "
                     "keeping the old one")
            new.signal(signal.SIGKILL)
            new.proc.wait()
            new.reap()
            self.rolling = None


def run(count, grace_s, argv):
    if count == 0:
        count = os.cpu_count() or 1
    return Supervisor(count, grace_s, argv).run()

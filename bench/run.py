#!/usr/bin/env python3
"""The benchmark harness behind `make bench`: every echo server against every scenario.

Starts each server on a free 127.0.0.1 port pinned to CPU 0, drives it with bench/bin/loadgen
pinned to CPU 1, and prints one table (absolute figures, ratio to the C libuv server, server
CPU-seconds), then callgrind instruction counts per round trip. The tls_* scenarios run each
server's TLS variant (TLS_SERVERS) on a certificate made for the run. The proxy* scenarios put
each proxy (PROXIES) on CPU 0 between the loadgen and the C echo server, both on CPU 1, and
measure the proxy's CPU per forwarded round trip or MB. Raw results go to
bench/results/latest.json and a chart to bench/results/latest.png.

usage: python bench/run.py [--quick] [--servers a,b] [--proxies a,b] [--scenarios x,y]
                           [--idle-conns N] [--no-callgrind] [--callgrind-only]
                           [--callgrind-conns 1,100] [--callgrind-tls-conns 1,100]
                           [--iotnet-build NAME=SRC]...
Needs bench/bin/loadgen, bench/bin/c_libuv, bench/bin/c_tls and bench/bin/c_proxy (make bench
builds them), the openssl command, and haproxy for its rows. A run that writes
bench/results/latest.json also rewrites the "Last measured" section of bench/README.md (report.py).
"""
import argparse
import json
import os
import platform
import queue
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
BIN = BENCH / "bin"
RESULTS = BENCH / "results"
LOADGEN = BIN / "loadgen"
PY = sys.executable
HOST = "127.0.0.1"

# name -> label and command (the harness appends PORT HOST).
SERVERS = {
    "c_libuv": ("C on libuv", [str(BIN / "c_libuv")]),
    # iotnet three times: its example's sock.pipe(sock), the 'data' listener that writes each
    # chunk, and Node's onread option (reads into one buffer, the callback writes from it).
    "iotnet": ("iotnet pipe()", [PY, "examples/echo_server.py"]),
    "iotnet_data": ("iotnet 'data'", [PY, "bench/servers/iotnet_data.py"]),
    "iotnet_onread": ("iotnet onread", [PY, "bench/servers/iotnet_onread.py"]),
    "uvloop": ("uvloop Protocol", [PY, "bench/servers/uvloop_proto.py"]),
    "asyncio": ("asyncio Protocol", [PY, "bench/servers/asyncio_proto.py"]),
    "asyncio_streams": ("asyncio streams", [PY, "bench/servers/asyncio_streams.py"]),
    "uvloop_streams": ("uvloop streams", [PY, "bench/servers/uvloop_streams.py"]),
    "iotnet_aio_streams": ("iotnet.aio streams", [PY, "bench/servers/iotnet_aio_streams.py"]),
    "iotnet_attached": ("iotnet attached", [PY, "bench/servers/iotnet_attached.py"]),
    "node": ("Node net", ["node", "bench/servers/node_net.js"]),
}
# The TLS variant of a server, for the tls_* scenarios: name -> label and command (the harness
# appends PORT HOST CERT KEY). The C reference's is the C server on libuv and OpenSSL.
TLS_SERVERS = {
    "c_libuv": ("C libuv+OpenSSL", [str(BIN / "c_tls")]),
    "iotnet": ("iotnet tls", [PY, "examples/tls_echo_server.py"]),
    "uvloop": ("uvloop Proto TLS", [PY, "bench/servers/uvloop_proto.py"]),
    "asyncio": ("asyncio Proto TLS", [PY, "bench/servers/asyncio_proto.py"]),
    "node": ("Node tls", ["node", "bench/servers/node_net.js"]),
}
REFERENCE = "c_libuv"
# The proxies of the proxy* scenarios: name -> label and command (the harness appends
# PORT HOST BACKEND_PORT). HAProxy takes a config file the harness writes (haproxy_config).
PROXIES = {
    "c_proxy": ("C proxy on libuv", [str(BIN / "c_proxy")]),
    "iotnet": ("iotnet pipe()", [PY, "examples/proxy.py"]),
    "haproxy": ("HAProxy", None),
    "haproxy_splice": ("HAProxy splice", None),
    "node": ("Node net pipe()", ["node", "bench/servers/node_proxy.js"]),
    "uvloop": ("uvloop Protocol", [PY, "bench/servers/uvloop_proxy.py"]),
}
PROXY_REFERENCE = "c_proxy"
# What every proxy forwards to: the C echo server, a process of its own on the loadgen's CPU.
BACKEND = "c_libuv"
# More iotnet builds to run beside the tree's own (--iotnet-build NAME=SRC): name -> SRC, a src/
# directory holding a built `iotnet` package. Each runs examples/echo_server.py with PYTHONPATH=SRC.
BUILDS = {}

# name -> loadgen arguments, the JSON field that is the result, its unit, and which way is better.
SCENARIOS = {
    "echo1": (["--mode", "echo", "--conns", "1", "--size", "64"], "rps", "rt/s", "higher"),
    "echo100": (["--mode", "echo", "--conns", "100", "--size", "64"], "rps", "rt/s", "higher"),
    "echo1000": (["--mode", "echo", "--conns", "1000", "--size", "64"], "rps", "rt/s", "higher"),
    "stream": (["--mode", "stream"], "mb_per_s", "MB/s", "higher"),
    "connrate": (["--mode", "connrate", "--conns", "100"], "cps", "conn/s", "higher"),
    # Named idleN once the count is known (set_idle_conns): --idle-conns, else the most this
    # machine's limit of open files allows, up to IDLE_MAX_CONNS.
    "idle": (["--mode", "idle"], "bytes_per_conn", "B/conn", "lower"),
    # TLS 1.3 (the loadgen's --tls), on each server's TLS variant: echo100 after every handshake,
    # stream, and connrate, which makes every connection a full handshake.
    "tls_echo100": (["--mode", "echo", "--conns", "100", "--size", "64", "--tls"], "rps", "rt/s", "higher"),
    "tls_stream": (["--mode", "stream", "--tls"], "mb_per_s", "MB/s", "higher"),
    "tls_handshakes": (["--mode", "connrate", "--conns", "100", "--tls"], "cps", "hs/s", "higher"),
    # Through a proxy (PROXIES) to the C echo server: the proxy's CPU per round trip or MB.
    "proxy1": (["--mode", "echo", "--conns", "1", "--size", "64"], "rps", "rt/s", "higher"),
    "proxy100": (["--mode", "echo", "--conns", "100", "--size", "64"], "rps", "rt/s", "higher"),
    "proxystream": (["--mode", "stream"], "mb_per_s", "MB/s", "higher"),
    # Scaling out (SCALING): echo100 on 1 and 2 workers, and connrate with a PROXY v1 header.
    "workers1": (["--mode", "echo", "--conns", "100", "--size", "64"], "rps", "rt/s", "higher"),
    "workers2": (["--mode", "echo", "--conns", "100", "--size", "64"], "rps", "rt/s", "higher"),
    "connrate_proxy_v1": (["--mode", "connrate", "--conns", "100", "--proxy-v1"], "cps", "conn/s", "higher"),
    "connrate_proxy_v1_alone": (["--mode", "connrate", "--conns", "100", "--proxy-v1-alone"], "cps", "conn/s",
                                "higher"),
}
# The scaling scenarios each run an iotnet server of their own: name -> label, command (the
# harness appends PORT HOST) and its number of workers. workersN runs examples/echo_server.py
# under `python -m iotnet --workers N` on a fixed port, nothing pinned (the workers need every
# CPU, and the loadgen shares them), its CPU summed over the supervisor and the workers.
# connrate_proxy_v1 is connrate to a server with proxyProtocol on, every connection starting
# with a v1 header in the segment of its first bytes: against iotnet pipe()'s own connrate,
# what reading the header costs. connrate_proxy_v1_alone sends the header in a segment of its
# own, as a balancer also does: the server then makes one more read per connection.
SCALING = {
    "workers1": ("1 worker", [PY, "-m", "iotnet", "--workers", "1", "examples/echo_server.py"], 1),
    "workers2": ("2 workers", [PY, "-m", "iotnet", "--workers", "2", "examples/echo_server.py"], 2),
    "connrate_proxy_v1": ("PROXY v1 header", [PY, "bench/servers/iotnet_proxy_protocol.py"], 0),
    "connrate_proxy_v1_alone": ("PROXY v1 alone", [PY, "bench/servers/iotnet_proxy_protocol.py"], 0),
}
QUICK_SCENARIOS = ["echo100", "stream", "connrate", "idle", "tls_echo100", "proxy100"]

# The idle scenario's count: up to IDLE_MAX_CONNS where the limit of open files allows it (the
# loadgen spreads them over 16 source addresses, so ephemeral ports do not run out), less
# FD_MARGIN for the server's own descriptors (listener, epoll, pipes, the runtime's files);
# bench-quick holds IDLE_QUICK_CONNS.
IDLE_MAX_CONNS = 100_000
IDLE_QUICK_CONNS = 10_000
FD_MARGIN = 1000


def is_idle(scenario):
    return SCENARIOS[scenario][0][1] == "idle"


def is_tls(scenario):
    return "--tls" in SCENARIOS[scenario][0]


def is_proxy(scenario):
    return scenario.startswith("proxy")


def is_scaling(scenario):
    return scenario in SCALING


def in_main_table(scenario):
    """The scenarios every server runs (plain or TLS), as against the proxies' and scaling's."""
    return not is_proxy(scenario) and not is_scaling(scenario)


def set_idle_conns(n, scenarios):
    """Names the idle scenario idleN, in SCENARIOS (its place kept) and in the list `scenarios`."""
    name = f"idle{n}"
    items = [(name, (["--mode", "idle", "--conns", str(n)], *v[1:])) if k == "idle" else (k, v)
             for k, v in SCENARIOS.items()]
    SCENARIOS.clear()
    SCENARIOS.update(items)
    return [name if sc == "idle" else sc for sc in scenarios]


def label_for(name, scenario, servers):
    """A server's label in a scenario's rows: its TLS variant's in the tls_* scenarios, the
    proxy's in the proxy* scenarios."""
    if is_proxy(scenario):
        return PROXIES[name][0] if name in PROXIES else name
    if is_tls(scenario) and name in TLS_SERVERS:
        return TLS_SERVERS[name][0]
    return servers.get(name, name)

# callgrind: the round trips of two runs; their difference cancels start-up and shutdown.
# Run once per connection count (--callgrind-conns); iotnet builds given by --iotnet-build join in.
CALLGRIND_CONNS = [1, 100]
QUICK_CALLGRIND_CONNS = [1]
CALLGRIND_SERVERS = ["c_libuv", "iotnet", "iotnet_data", "iotnet_onread", "uvloop", "asyncio_streams",
                     "uvloop_streams", "iotnet_aio_streams", "iotnet_attached"]
QUICK_CALLGRIND_SERVERS = ["c_libuv", "iotnet"]
# The same over TLS (--callgrind-tls-conns), after the handshakes: the C server and iotnet.
CALLGRIND_TLS_CONNS = [1, 100]
QUICK_CALLGRIND_TLS_CONNS = [1]
CALLGRIND_TLS_SERVERS = ["c_libuv", "iotnet"]


def callgrind_rounds(conns, quick):
    """Round trips in all (not per connection) of the two runs: 1 conn 1000/6000, 100 conns 20,000/40,000."""
    if quick:
        return max(500, 100 * conns), max(2500, 200 * conns)
    return max(1000, 200 * conns), max(6000, 400 * conns)


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class LineReader:
    """Reads a pipe on a thread, so the child never blocks on a full pipe and reads can time out."""

    def __init__(self, pipe, keep=40):
        self.lines = queue.Queue()
        self.tail = []
        self.keep = keep
        self.thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self.thread.start()

    def _run(self, pipe):
        for line in iter(pipe.readline, ""):
            self.lines.put(line)
            self.tail = (self.tail + [line.rstrip("\n")])[-self.keep:]
        self.lines.put(None)  # EOF

    def get(self, timeout):
        """The next line, or None at EOF; raises queue.Empty after timeout seconds."""
        return self.lines.get(timeout=timeout)


class Server:
    """One running server process: an echo server, a proxy, or the proxies' backend."""

    def __init__(self, name, argv, startup_timeout=20.0, env=None, port=None, workdir=None, listeners=1,
                 pinned=True):
        """argv: the whole command. It is ready once it has printed "listening on PORT" `listeners`
        times (each worker of a supervisor prints its own). A server that prints nothing (HAProxy,
        listeners=0) is given its port: it is ready once it accepts a connection there. workdir: a
        temporary directory of its own (a config file), removed when it stops. pinned: whether
        the harness pinned it to CPU 0 (the loadgen then takes CPU 1)."""
        self.name = name
        self.argv = argv
        self.startup_timeout = startup_timeout
        self.env = env
        self.port = port
        self.workdir = workdir
        self.listeners = listeners
        self.pinned = pinned

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, text=True, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self.proc.pid
        self.out = LineReader(self.proc.stdout)
        self.err = LineReader(self.proc.stderr)
        if not self.listeners:
            return self.wait_accepting()
        deadline = time.monotonic() + self.startup_timeout
        seen = 0
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.out.get(timeout=max(left, 0.01))
            except queue.Empty:
                self.stop()
                raise BenchError(f"{self.name}: no 'listening on PORT' within {self.startup_timeout:.0f} s"
                                 + self.stderr_tail())
            if line is None:
                self.proc.wait(timeout=5)
                raise BenchError(f"{self.name}: exited with code {self.proc.returncode} before listening"
                                 + self.stderr_tail())
            m = re.search(r"listening on (\d+)", line)
            if m:
                self.port = int(m.group(1))
                seen += 1
                if seen == self.listeners:
                    return self

    def wait_accepting(self):
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if not self.alive():
                self.stop()
                raise BenchError(f"{self.name}: exited with code {self.proc.returncode} before listening"
                                 + self.stderr_tail())
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise BenchError(f"{self.name}: not accepting on port {self.port} within "
                                 f"{self.startup_timeout:.0f} s" + self.stderr_tail())
            time.sleep(0.05)

    def __exit__(self, *exc):
        self.stop()

    def stderr_tail(self):
        time.sleep(0.1)
        tail = self.err.tail[-8:]
        return ("\n    " + "\n    ".join(tail)) if tail else ""

    def alive(self):
        return self.proc.poll() is None

    def pids(self):
        """The process and its children (a supervisor's workers): whose CPU is the server's."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            children = []
        return [self.pid, *map(int, children)]

    def rss(self):
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise BenchError(f"{self.name}: no VmRSS in /proc")

    def stop(self, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log(f"  {self.name}: still running {timeout:.0f} s after SIGTERM; killed")
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return self.proc.returncode


def stopped_cleanly(code):
    """A server's exit code after SIGTERM: 0, the signal itself, or 128 + it (HAProxy exits so)."""
    return code in (0, -signal.SIGTERM, 128 + signal.SIGTERM)


def free_port():
    """A port nothing listens on now, for a server that cannot pick its own and print it."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def haproxy_config(port, backend_port, splice):
    """HAProxy as a plain TCP proxy in front of the echo backend: one thread, no health checks,
    no logging, timeouts far beyond any run; splice: forced kernel splicing in both directions
    (option splice-request/-response; splice-auto would decide per stream by a heuristic)."""
    lines = ["# written by bench/run.py for one benchmark run",
             "global",
             "    nbthread 1",
             # far more than any scenario opens, and within 20,000 descriptors with the pipes
             "    maxconn 4096",
             "defaults",
             "    mode tcp",
             "    timeout connect 10s",
             "    timeout client 10m",
             "    timeout server 10m"]
    if splice:
        lines += ["    option splice-request", "    option splice-response"]
    lines += ["frontend bench",
              f"    bind {HOST}:{port}",
              "    default_backend echo",
              "backend echo",
              f"    server echo {HOST}:{backend_port}"]
    return "\n".join(lines) + "\n"


def machine_busy(seconds):
    """CPUs' worth of work done by everything on the machine over the next `seconds`."""
    def busy():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:8]]
        return v[0] + v[1] + v[2] + v[5] + v[6], sum(v)
    b0, t0 = busy()
    time.sleep(seconds)
    b1, t1 = busy()
    return (b1 - b0) / max(t1 - t0, 1) * (os.cpu_count() or 1)


def wait_for_quiet(limit, threshold=0.1):
    """Waits (at most `limit` seconds) until the machine does less than `threshold` CPUs of work."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        load = machine_busy(0.5)
        if load < threshold:
            return load
    return load


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


class Bench:
    def __init__(self, args):
        self.args = args
        pin = shutil.which("taskset") and (os.cpu_count() or 1) >= 2
        self.pinning = bool(pin)
        self.server_prefix = ["taskset", "-c", "0"] if pin else []
        self.loadgen_prefix = ["taskset", "-c", "1"] if pin else []
        self.notes = []
        if not pin:
            self.notes.append("taskset missing or fewer than 2 CPUs: server and loadgen are not pinned")
        self.env = dict(os.environ)
        # iotnet is built in place under src/ (or IOTNET_PATH, as in the tests); fixed hashing keeps
        # Python servers' instruction counts repeatable under callgrind.
        iotnet_path = os.environ.get("IOTNET_PATH") or str(ROOT / "src")
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [iotnet_path, os.environ.get("PYTHONPATH")]))
        self.env["PYTHONHASHSEED"] = "0"
        self.env["PYTHONDONTWRITEBYTECODE"] = "1"
        self.iotnet_path = iotnet_path
        self.builds = {}  # what each iotnet server imports: its path, and its git commit if any
        self.idle_conns = IDLE_QUICK_CONNS  # set by main (plan_idle)
        self.deadline = 0.0  # set when the matrix starts: re-runs of disturbed runs stay within it
        self.runs_left = 0
        self.tls_dir = None       # the run's certificate and key (tls_paths), removed by cleanup()
        self.tls_paths = None
        self.tls_usable = set()   # servers whose TLS variant can run here
        self.tls_skipped = {}     # the others: name -> why
        self.haproxy = haproxy_path()

    def cleanup(self):
        if self.tls_dir:
            shutil.rmtree(self.tls_dir, ignore_errors=True)

    # ---- TLS: the certificate, which servers have a usable variant ----

    def tls_wanted(self):
        a = self.args
        return any(is_tls(sc) for sc in a.scenarios) or bool(not a.no_callgrind and a.callgrind_tls_conns)

    def tls_files(self):
        """(CERT, KEY): a self-signed ECDSA P-256 certificate for 127.0.0.1 and its key, made with
        the openssl command once per run in a temporary directory (never in the tree)."""
        if self.tls_paths is None:
            self.tls_dir = Path(tempfile.mkdtemp(prefix="iotnet-bench-tls-"))
            cert, key = self.tls_dir / "cert.pem", self.tls_dir / "key.pem"
            cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                   "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=iotnet-bench",
                   "-addext", "subjectAltName=IP:127.0.0.1"]
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as e:
                raise BenchError(f"openssl req: {e}")
            if p.returncode != 0:
                raise BenchError(f"openssl req failed: {(p.stderr.strip().splitlines() or ['?'])[-1]}")
            self.tls_paths = (str(cert), str(key))
        return self.tls_paths

    def check_tls(self, usable):
        """Which of the usable servers can run their TLS variant (self.tls_usable), and notes why not."""
        try:
            self.tls_files()
            cert_error = None
        except BenchError as e:
            cert_error = str(e)
        for name in usable:
            if name not in TLS_SERVERS:
                continue  # no TLS variant: not in the TLS rows
            why = cert_error
            if why is None and name == "c_libuv" and not (BIN / "c_tls").exists():
                why = "bench/bin/c_tls is not built (make bench builds it)"
            elif why is None and name in self.builds and not self.builds[name].get("tls"):
                why = f"its build has no iotnet.tls ({self.builds[name].get('tls_error', '?')})"
            if why:
                self.tls_skipped[name] = why
                self.notes.append(f"{TLS_SERVERS[name][0]} skipped: {why}")
                log(f"skip {name} (TLS): {why}")
            else:
                self.tls_usable.add(name)

    # ---- which servers can run here ----

    def available_servers(self):
        usable = {}
        for name in self.args.servers:
            why = None
            if name == "c_libuv" and not (BIN / "c_libuv").exists():
                why = "bench/bin/c_libuv is not built (make bench builds it)"
            elif name == "iotnet" and not (ROOT / "examples" / "echo_server.py").exists():
                why = "examples/echo_server.py does not exist yet"
            elif name == "node" and not shutil.which("node"):
                why = "node is not installed"
            elif name in ("uvloop", "uvloop_streams") and not self.has_uvloop():
                why = "uvloop is not installed in this Python"
            elif name in ("iotnet", "iotnet_data") or name in BUILDS:
                why = self.check_build(name)
            if why:
                self.notes.append(f"{SERVERS[name][0]} skipped: {why}")
                log(f"skip {name}: {why}")
            else:
                usable[name] = SERVERS[name][0]
        if self.tls_wanted():
            self.check_tls(usable)
        return usable

    def has_uvloop(self):
        if not hasattr(self, "_uvloop"):
            self._uvloop = subprocess.run([PY, "-c", "import uvloop"], capture_output=True,
                                          timeout=60).returncode == 0
        return self._uvloop

    def available_proxies(self):
        """The proxies of --proxies that can run here (name -> label), if a proxy scenario runs."""
        if not any(map(is_proxy, self.args.scenarios)):
            return {}
        usable = {}
        for name in self.args.proxies:
            why = None
            if not (BIN / BACKEND).exists():
                why = f"bench/bin/{BACKEND} (the backend) is not built"
            elif name == "c_proxy" and not (BIN / "c_proxy").exists():
                why = "bench/bin/c_proxy is not built (make bench builds it)"
            elif name.startswith("haproxy") and not self.haproxy:
                why = "haproxy is not installed (make bench installs it)"
            elif name == "node" and not shutil.which("node"):
                why = "node is not installed"
            elif name == "uvloop" and not self.has_uvloop():
                why = "uvloop is not installed in this Python"
            elif name == "iotnet" and not (ROOT / "examples" / "proxy.py").exists():
                why = "examples/proxy.py does not exist yet"
            elif name == "iotnet" or name in BUILDS:
                # the same build check as the echo servers', done once per build
                why = self.check_build(name) if name not in self.builds else None
            if why:
                self.notes.append(f"proxy {PROXIES[name][0]} skipped: {why}")
                log(f"skip proxy {name}: {why}")
            else:
                usable[name] = PROXIES[name][0]
        return usable

    def env_for(self, name):
        if name not in BUILDS:
            return self.env
        # Only that build on the path: the venv's iotnet-src.pth comes after PYTHONPATH.
        return {**self.env, "PYTHONPATH": BUILDS[name]}

    def check_build(self, name):
        """None if the iotnet server `name` would import the build it is meant to; else why not."""
        src = Path(BUILDS.get(name, self.iotnet_path)).resolve()
        # The core, and whether the build has iotnet.tls (the TLS scenarios need it).
        probe = ("import iotnet, iotnet._core; print(iotnet._core.__file__)\n"
                 "try:\n    import iotnet.tls\n    print('tls')\n"
                 "except ImportError as e:\n    print('no tls:', e)")
        p = subprocess.run([PY, "-c", probe], cwd=ROOT, env=self.env_for(name), capture_output=True,
                           text=True, timeout=60)
        if p.returncode != 0:
            return f"iotnet does not import from {src}: {(p.stderr.strip().splitlines() or ['?'])[-1]}"
        core_line, _, tls_line = p.stdout.strip().partition("\n")
        core = Path(core_line).resolve()
        if not core.is_relative_to(src):
            return f"iotnet imports {core}, not a build in {src}"
        self.builds[name] = {"path": str(src), "core": str(core), **git_state(src), "tls": tls_line == "tls"}
        if tls_line != "tls":
            self.builds[name]["tls_error"] = tls_line.removeprefix("no tls: ")
        # An in-place build older than its sources measures the old code: say so, but run it.
        sources = [f for pat in ("*.pyx", "*.pxd", "*.pxi", "*.h") for f in src.rglob(pat)]
        newer = max(sources, key=lambda f: f.stat().st_mtime, default=None)
        if newer and newer.stat().st_mtime > core.stat().st_mtime:
            self.builds[name]["stale"] = True
            self.notes.append(f"{SERVERS[name][0]}: {core.name} is older than {newer.relative_to(src)} "
                              "(not rebuilt since the sources changed)")
            log(f"warning: {name}: {core} is older than {newer}")
        return None

    def server(self, name, prefix=None, startup_timeout=20.0, tls=False):
        """The server `name` on any free port, or its TLS variant on the run's certificate."""
        _, command = (TLS_SERVERS if tls else SERVERS)[name]
        argv = [*(self.server_prefix if prefix is None else prefix), *command, "0", HOST,
                *(self.tls_files() if tls else ())]
        return Server(name, argv, startup_timeout, self.env_for(name))

    def backend(self):
        """The proxies' backend: the C echo server, on the loadgen's CPU (the proxy has CPU 0)."""
        return Server(BACKEND, [*self.loadgen_prefix, str(BIN / BACKEND), "0", HOST])

    def proxy(self, name, backend_port):
        """The proxy `name` on CPU 0, forwarding to the backend on backend_port."""
        _, command = PROXIES[name]
        if command is not None:
            return Server(name, [*self.server_prefix, *command, "0", HOST, str(backend_port)],
                          env=self.env_for(name))
        # HAProxy: a config file in a directory of its own; in the foreground (-db), no daemon.
        port = free_port()
        workdir = Path(tempfile.mkdtemp(prefix="iotnet-bench-haproxy-"))
        config = workdir / "haproxy.cfg"
        config.write_text(haproxy_config(port, backend_port, splice=name == "haproxy_splice"))
        return Server(name, [*self.server_prefix, self.haproxy, "-db", "-f", str(config)], port=port,
                      workdir=workdir, listeners=0)

    def scaling_server(self, scenario):
        """The iotnet server of a scaling scenario: N workers on a fixed port, or pinned on any."""
        _, command, workers = SCALING[scenario]
        if not workers:
            return Server(scenario, [*self.server_prefix, *command, "0", HOST], env=self.env)
        return Server(scenario, [*command, str(free_port()), HOST], env=self.env, listeners=workers,
                      pinned=False)

    # ---- one loadgen run ----

    def loadgen(self, srv, extra, timeout, backend=None):
        cmd = [*(self.loadgen_prefix if srv.pinned else []), str(LOADGEN), "--host", HOST, "--port", str(srv.port),
               "--server-pid", ",".join(map(str, srv.pids())),
               *(["--backend-pid", str(backend.pid)] if backend else []), *extra]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"loadgen did not finish within {timeout:.0f} s")
        result = last_json(p.stdout)
        if result is None:
            raise BenchError(f"loadgen printed no result (exit {p.returncode}): {p.stderr.strip()[:300]}")
        if "error" in result or p.returncode != 0:
            raise BenchError(f"loadgen: {result.get('error', 'exit code %d' % p.returncode)}")
        return result

    def run_throughput(self, srv, scenario, backend=None):
        """One loadgen run against srv; backend: the server behind srv when srv is a proxy."""
        extra, _, _, _ = SCENARIOS[scenario]
        a = self.args
        # TLS and proxy windows are shorter
        duration = a.tls_duration if is_tls(scenario) else a.proxy_duration if is_proxy(scenario) else a.duration
        timing = ["--warmup", str(a.warmup), "--duration", str(duration), "--timeout", "30"]
        # Behind a proxy the loadgen shares its CPU with the backend, unpinned (workers) with the
        # server: it sleeps in epoll_wait, since polling would take the CPU they need (and its CPU
        # time is then its real work).
        if a.no_spin or backend or not srv.pinned:
            timing.append("--no-spin")
        result = self.loadgen(srv, [*extra, *timing], timeout=a.warmup + duration + 60, backend=backend)
        # Other work on the machine (beyond a tenth of a CPU) spoils a run: wait for quiet, run again,
        # as long as the time budget of the whole benchmark allows it.
        if self.disturbed(result) and self.can_retry():
            log(f"  {scenario}: {result['others_cpu_s']:.2f} CPU-s used by other processes; run again")
            wait_for_quiet(5)
            result = self.loadgen(srv, [*extra, *timing], timeout=a.warmup + duration + 60, backend=backend)
        if self.disturbed(result):
            result["disturbed"] = True
        return result

    def can_retry(self):
        run_s = self.args.warmup + self.args.duration + 1
        return time.monotonic() + (self.runs_left + 1) * run_s + 5 < self.deadline

    def disturbed(self, result):
        return result.get("others_cpu_s", 0) > 0.1 * result.get("duration_s", self.args.duration)

    def run_idle(self, srv):
        """Server RSS before and after N connections that did one round trip each, per connection."""
        rss_before = srv.rss()
        # Setting up takes longer than in proportion as the count grows (about 4 s for 19,000 here).
        setup_limit = max(60, self.idle_conns // 500)
        cmd = [*self.loadgen_prefix, str(LOADGEN), "--host", HOST, "--port", str(srv.port),
               "--server-pid", str(srv.pid), "--mode", "idle", "--conns", str(self.idle_conns),
               "--timeout", str(setup_limit), "--hold", "120"]
        p = subprocess.Popen(cmd, text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        out = LineReader(p.stdout)
        try:
            ready = out.get(timeout=setup_limit + 30)
            ready = json.loads(ready) if ready else None
            if not ready or not ready.get("ready"):
                raise BenchError(f"loadgen: {(ready or {}).get('error', 'exited before its connections were up')}")
            time.sleep(0.3)  # let the server finish any work its last reads started
            rss_after = srv.rss()
            p.stdin.write("stop\n")
            p.stdin.flush()
            final = out.get(timeout=60)
            p.wait(timeout=30)
        except (queue.Empty, subprocess.TimeoutExpired):
            raise BenchError("idle loadgen did not answer in time")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
        final = json.loads(final) if final else {}
        if "error" in final or p.returncode != 0:
            raise BenchError(f"loadgen: {final.get('error', 'exit code %d' % p.returncode)}")
        n = ready["conns"]
        return {"mode": "idle", "conns": n, "rss_before": rss_before, "rss_after": rss_after,
                "bytes_per_conn": round((rss_after - rss_before) / n, 1), "setup_s": ready["setup_s"]}

    # ---- the whole matrix ----

    def run_matrix(self, servers, proxies, scenarios):
        runs = []
        throughput = [s for s in scenarios if not is_idle(s) and not is_tls(s) and not is_proxy(s)]
        tls = [s for s in scenarios if is_tls(s)]
        idle = [s for s in scenarios if is_idle(s)]
        through_proxy = [s for s in scenarios if is_proxy(s)]
        scaling = [s for s in scenarios if is_scaling(s)] if "iotnet" in servers else []
        throughput = [s for s in throughput if not is_scaling(s)]
        names = list(servers) if throughput or tls or idle else []
        proxy_names = list(proxies) if through_proxy else []
        if not names and not proxy_names and not scaling:
            return runs
        with_tls = [n for n in names if n in TLS_SERVERS]
        self.runs_left = self.args.repeats * (len(names) * (len(throughput) + len(idle)) + len(with_tls) * len(tls)
                                              + len(proxy_names) * len(through_proxy) + len(scaling))
        self.deadline = time.monotonic() + self.args.budget
        for rep in range(self.args.repeats):
            # Rotate the order each repeat so slow drifts of the machine hit every server alike.
            order = names[rep % len(names):] + names[:rep % len(names)] if names else []
            for name in order:
                log(f"[repeat {rep + 1}/{self.args.repeats}] {name}")
                runs += self.run_server_scenarios(name, throughput, rep)
                if name in TLS_SERVERS:  # the TLS variant: a process of its own
                    runs += self.run_server_scenarios(name, tls, rep, tls=True)
                for sc in idle:  # a fresh process, so earlier scenarios' memory does not count
                    runs += self.run_server_scenarios(name, [sc], rep)
            order = proxy_names[rep % len(proxy_names):] + proxy_names[:rep % len(proxy_names)] if proxy_names else []
            for name in order:
                log(f"[repeat {rep + 1}/{self.args.repeats}] proxy {name}")
                runs += self.run_proxy_scenarios(name, through_proxy, rep)
            for sc in scaling:
                log(f"[repeat {rep + 1}/{self.args.repeats}] iotnet, {SCALING[sc][0]}")
                runs += self.run_server_scenarios("iotnet", [sc], rep, scaling=True)
        return runs

    def run_proxy_scenarios(self, name, scenarios, rep):
        """The proxy scenarios through proxy `name`, in front of a fresh backend of its own."""
        runs = []
        try:
            backend = self.backend().__enter__()
        except BenchError as e:
            log(f"  backend: {e}")
            self.runs_left -= len(scenarios)
            return [{"server": name, "scenario": sc, "repeat": rep, "error": f"backend: {e}"} for sc in scenarios]
        try:
            runs = self.run_server_scenarios(name, scenarios, rep, backend=backend)
        finally:
            backend.stop()
        return runs

    def run_server_scenarios(self, name, scenarios, rep, tls=False, backend=None, scaling=False):
        """Runs `scenarios` on one process of server `name` (its TLS variant; with backend: the
        proxy `name` in front of that backend; scaling: the server of the one scaling scenario)."""
        runs = []
        if not scenarios:
            return runs
        if tls and name not in self.tls_usable:
            self.runs_left -= len(scenarios)
            why = f"skipped: {self.tls_skipped.get(name, 'no TLS variant')}"
            return [{"server": name, "scenario": sc, "repeat": rep, "error": why} for sc in scenarios]
        if tls:
            log(f"  {TLS_SERVERS[name][0]}")
        try:
            srv = (self.proxy(name, backend.port) if backend else self.scaling_server(scenarios[0]) if scaling
                   else self.server(name, tls=tls)).__enter__()
        except BenchError as e:
            log(f"  {e}")
            self.runs_left -= len(scenarios)
            return [{"server": name, "scenario": sc, "repeat": rep, "error": str(e)} for sc in scenarios]
        try:
            for sc in scenarios:
                self.runs_left -= 1
                record = {"server": name, "scenario": sc, "repeat": rep}
                if not srv.alive():
                    record["error"] = f"server exited (code {srv.proc.returncode})" + srv.stderr_tail()
                elif backend and not backend.alive():
                    record["error"] = f"backend exited (code {backend.proc.returncode})" + backend.stderr_tail()
                else:
                    try:
                        record.update(self.run_idle(srv) if is_idle(sc) else self.run_throughput(srv, sc, backend))
                    except BenchError as e:
                        record["error"] = str(e) + ("" if srv.alive() else srv.stderr_tail())
                runs.append(record)
                value = record.get(SCENARIOS[sc][1])
                log(f"  {sc:<10} " + (f"{value:,.1f} {SCENARIOS[sc][2]}" if value is not None
                                        else f"ERROR {record['error']}"))
                time.sleep(0.1)  # let the server finish closing the last scenario's connections
        finally:
            code = srv.stop()
            if not stopped_cleanly(code):
                log(f"  {name}: exit code {code} after SIGTERM")
        return runs

    # ---- callgrind ----

    def callgrind(self, servers):
        """{connections: {server: Ir per round trip and the totals behind it}}, keys as strings (JSON)."""
        if not shutil.which("valgrind"):
            self.notes.append("callgrind skipped: valgrind is not installed")
            return {}
        wanted = QUICK_CALLGRIND_SERVERS if self.args.quick else CALLGRIND_SERVERS
        wanted = [s for s in servers if s in wanted or s in BUILDS]
        # Over TLS: the C server's and iotnet's TLS variants (and every --iotnet-build's) that can run.
        wanted_tls = [s for s in servers if (s in CALLGRIND_TLS_SERVERS or s in BUILDS) and s in self.tls_usable]
        # Keys of the result: "1", "100" (plain), "tls1", "tls100" (TLS).
        jobs = [(str(c), c, False, wanted) for c in self.args.callgrind_conns]
        jobs += [(f"tls{c}", c, True, wanted_tls) for c in self.args.callgrind_tls_conns if wanted_tls]
        results = {}
        tmp = Path(tempfile.mkdtemp(prefix="iotnet-callgrind-"))
        try:
            for key, conns, tls, names in jobs:
                rounds = callgrind_rounds(conns, self.args.quick)
                per_server = results[key] = {}
                for name in names:
                    log(f"[callgrind] {name}{' TLS' if tls else ''}, {conns} connection(s), "
                        f"{rounds[0]} and {rounds[1]} round trips")
                    try:
                        irs = [self.callgrind_total(name, conns, n, tmp, tls) for n in rounds]
                    except BenchError as e:
                        log(f"  {e}")
                        per_server[name] = {"conns": conns, "tls": tls, "error": str(e)}
                        continue
                    per_rt = (irs[1] - irs[0]) / (rounds[1] - rounds[0])
                    per_server[name] = {"conns": conns, "tls": tls, "rounds": list(rounds), "total_ir": irs,
                                        "ir_per_round_trip": round(per_rt, 1)}
                    log(f"  {round(per_rt, 1):,.0f} Ir per round trip")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return results

    def callgrind_total(self, name, conns, rounds, tmp, tls=False):
        out = tmp / f"callgrind.out.{name}.{'tls' if tls else ''}{conns}.{rounds}"
        prefix = [*self.server_prefix, "valgrind", "--tool=callgrind", "--quiet", f"--callgrind-out-file={out}"]
        with self.server(name, prefix=prefix, startup_timeout=120, tls=tls) as srv:
            self.loadgen(srv, ["--mode", "echo", "--conns", str(conns), "--size", "64", "--count", str(rounds),
                               "--timeout", "120", *(["--tls"] if tls else [])], timeout=300)
            srv.stop(timeout=60)  # callgrind writes its file at exit
        text = out.read_text() if out.exists() else ""
        m = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
        if not m:
            raise BenchError(f"{name}: callgrind wrote no total")
        return int(m.group(1))


# ---- summary, table, chart ----

def summarize(runs, servers, proxies, scenarios):
    """Per scenario and server (proxy, in the proxy* scenarios): the run with the median result
    (all its fields stay consistent)."""
    summary = {}
    for sc in scenarios:
        field = SCENARIOS[sc][1]
        names = proxies if is_proxy(sc) else servers if not is_scaling(sc) else ["iotnet"] if "iotnet" in servers else []
        for name in names:
            if is_tls(sc) and name not in TLS_SERVERS:
                continue  # no TLS variant
            ok = [r for r in runs if r["server"] == name and r["scenario"] == sc and "error" not in r]
            errors = [r["error"] for r in runs if r["server"] == name and r["scenario"] == sc and "error" in r]
            if not ok:
                summary.setdefault(sc, {})[name] = {"error": errors[0] if errors else "not run"}
                continue
            # Runs disturbed by other work count only when there is nothing else.
            clean = [r for r in ok if not r.get("disturbed")]
            ok = clean or ok
            med = statistics.median_low(r[field] for r in ok)
            pick = next(r for r in ok if r[field] == med)
            entry = {k: v for k, v in pick.items() if k not in ("server", "scenario")}
            entry["value"] = med
            entry["repeats"] = [r[field] for r in ok]
            if errors:
                entry["failed_repeats"] = errors
            summary.setdefault(sc, {})[name] = entry
    for sc, per_server in summary.items():
        ref_entry = per_server.get(PROXY_REFERENCE if is_proxy(sc) else REFERENCE, {})
        ref = ref_entry.get("value")
        ref_cpu = cpu_per_unit(ref_entry) if is_proxy(sc) else None
        for entry in per_server.values():
            if "value" in entry and ref:
                entry["ratio_to_c"] = round(entry["value"] / ref, 3)
            # Through a proxy the figure is the proxy's CPU per unit of work, against the C proxy's.
            cpu = cpu_per_unit(entry) if is_proxy(sc) else None
            if cpu:
                entry["proxy_cpu_us_per_unit"] = round(cpu * 1e6, 2)
                if ref_cpu:
                    entry["cpu_ratio_to_c"] = round(cpu / ref_cpu, 3)
            if is_proxy(sc) and "backend_cpu_s" in entry and entry.get("duration_s"):
                # The other core: the loadgen (asleep when idle, so its CPU time is its work) and the backend.
                entry["other_core_busy"] = round((entry["loadgen_cpu_s"] + entry["backend_cpu_s"])
                                                 / entry["duration_s"], 3)
    return summary


def fmt_num(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}"


def table(summary, servers, duration):
    scs = [sc for sc in summary if in_main_table(sc)]
    if not scs:
        return ""
    w = max([10, *map(len, scs)])
    lines = [f"{'scenario':<{w}} {'server':<17} {'result':>17} {'vs C':>6} {'srv CPU-s':>9} "
             f"{'per srv CPU-s':>15} {'p50/p99 µs':>13} {'lg busy':>7}"]
    for sc in scs:
        per_server = summary[sc]
        _, field, unit, better = SCENARIOS[sc]
        first = True
        for name in servers:
            e = per_server.get(name)
            if e is None:
                continue
            label = label_for(name, sc, servers)
            head = sc if first else ""
            first = False
            if "error" in e:
                lines.append(f"{head:<{w}} {label:<17} failed: {e['error'].splitlines()[0][:70]}")
                continue
            ratio = f"{e['ratio_to_c']:.2f}×" if "ratio_to_c" in e else "-"
            cpu = e.get("server_cpu_s", -1)
            cpu_s = f"{cpu:.2f}" if cpu is not None and cpu >= 0 else "-"
            # the result per server CPU-second: how much work one second of the server's CPU buys
            secs = e.get("duration_s", duration)  # the run's own window (tls_* runs have shorter ones)
            per_cpu = fmt_num(e["value"] * secs / cpu) + f" {unit.split('/')[0]}" if cpu and cpu > 0 else "-"
            lat = f"{e['p50_us']:.0f}/{e['p99_us']:.0f}" if "p50_us" in e else ""
            busy = f"{e['loadgen_busy']:.2f}" if "loadgen_busy" in e else ""
            mark = "!" if e.get("disturbed") else " "
            lines.append(f"{head:<{w}} {label:<17} {fmt_num(e['value']) + ' ' + unit:>17}{mark}{ratio:>6} "
                         f"{cpu_s:>9} {per_cpu:>15} {lat:>13} {busy:>7}")
    return "\n".join(lines)


def proxy_table(summary, proxies):
    """The proxy* scenarios: each proxy's CPU per forwarded round trip (or MB) against the C
    proxy's, the throughput, and how busy the other core (loadgen and backend) was."""
    scs = [sc for sc in summary if is_proxy(sc)]
    if not scs:
        return ""
    w = max([11, *map(len, scs)])
    lines = ["through a proxy: loadgen and C echo backend on CPU 1, the proxy on CPU 0; the figure is the "
             "proxy's CPU per unit of work",
             f"{'scenario':<{w}} {'proxy':<17} {'proxy CPU':>14} {'vs C':>6} {'result':>14} {'vs C':>6} "
             f"{'proxy CPU-s':>11} {'CPU 1 busy':>10} {'p50/p99 µs':>13}"]
    for sc in scs:
        unit = SCENARIOS[sc][2]
        first = True
        for name in proxies:
            e = summary[sc].get(name)
            if e is None:
                continue
            head = sc if first else ""
            first = False
            label = PROXIES[name][0] if name in PROXIES else name
            if "error" in e:
                lines.append(f"{head:<{w}} {label:<17} failed: {e['error'].splitlines()[0][:70]}")
                continue
            cpu = e.get("proxy_cpu_us_per_unit")
            cpu_s = f"{fmt_num(cpu)} µs/{unit.split('/')[0]}" if cpu else "-"
            cpu_ratio = f"{e['cpu_ratio_to_c']:.2f}×" if "cpu_ratio_to_c" in e else "-"
            ratio = f"{e['ratio_to_c']:.2f}×" if "ratio_to_c" in e else "-"
            busy = f"{e['other_core_busy']:.2f}" if "other_core_busy" in e else "-"
            lat = f"{e['p50_us']:.0f}/{e['p99_us']:.0f}" if "p50_us" in e else ""
            mark = "!" if e.get("disturbed") else " "
            lines.append(f"{head:<{w}} {label:<17} {cpu_s:>14} {cpu_ratio:>6} "
                         f"{fmt_num(e['value']) + ' ' + unit:>14}{mark}{ratio:>6} {e.get('server_cpu_s', -1):>11.2f} "
                         f"{busy:>10} {lat:>13}")
    return "\n".join(lines)


def ratio_matrix(summary, servers):
    scs = [sc for sc in summary if in_main_table(sc)]
    if not scs:
        return ""
    width = {sc: max(10, len(sc) + 2) for sc in scs}
    tls = any(map(is_tls, scs))
    lines = ["ratio to C on libuv (idle: memory, so lower is better"
             + ("; tls_*: each server's TLS variant to C on libuv and OpenSSL" if tls else "") + ")",
             f"{'':<17}" + "".join(f"{sc:>{width[sc]}}" for sc in scs)]
    for name, label in servers.items():
        cells = []
        for sc in scs:
            e = summary[sc].get(name, {})
            cells.append(f"{e['ratio_to_c']:.2f}" if "ratio_to_c" in e else "-")
        lines.append(f"{label:<17}" + "".join(f"{c:>{width[sc]}}" for c, sc in zip(cells, scs)))
    return "\n".join(lines)


def cpu_per_unit(e):
    """Server CPU seconds per unit of the result (round trip, MB, connection, handshake), or None."""
    cpu, value, secs = e.get("server_cpu_s"), e.get("value"), e.get("duration_s")
    if not cpu or cpu <= 0 or not value or not secs:
        return None
    return cpu / (value * secs)


def cpu_matrix(summary, servers):
    """Server CPU per unit of work, each server's as a multiple of iotnet's: the comparison that holds
    when the loadgen, not the server, was the limit (lg busy near 1)."""
    base = {sc: cpu_per_unit(summary[sc].get("iotnet", {})) for sc in summary
            if not is_idle(sc) and in_main_table(sc)}
    scs = [sc for sc, b in base.items() if b]
    if not scs:
        return ""
    # iotnet's own figure first: µs of server CPU per round trip, MB, connection or handshake.
    own = {sc: f"{fmt_num(base[sc] * 1e6) if base[sc] * 1e6 >= 100 else f'{base[sc] * 1e6:.2f}'} "
               f"{SCENARIOS[sc][2].split('/')[0]}" for sc in scs}
    width = {sc: max(10, len(sc) + 2, len(own[sc]) + 2) for sc in scs}
    lines = ["server CPU per unit of work, to iotnet pipe()'s (below 1: less CPU than it for the same work)",
             f"{'':<17}" + "".join(f"{sc:>{width[sc]}}" for sc in scs),
             f"{'iotnet, µs/unit':<17}" + "".join(f"{own[sc]:>{width[sc]}}" for sc in scs)]
    for name, label in servers.items():
        cells = []
        for sc in scs:
            c = cpu_per_unit(summary[sc].get(name, {}))
            cells.append(f"{c / base[sc]:.2f}" if c else "-")
        lines.append(f"{label:<17}" + "".join(f"{c:>{width[sc]}}" for c, sc in zip(cells, scs)))
    return "\n".join(lines)


def per_run_cpu(runs, scenario):
    """Server CPU per unit of work of each of iotnet's runs of `scenario`, in µs."""
    values = (cpu_per_unit({**r, "value": r.get(SCENARIOS[scenario][1])}) for r in runs
              if r["server"] == "iotnet" and r["scenario"] == scenario and "error" not in r)
    return [v * 1e6 for v in values if v]


def scaling_lines(summary, runs):
    """Workers (echo100 on 1 and 2 of them) and the PROXY header's cost per connection."""
    lines = []
    one = summary.get("workers1", {}).get("iotnet", {})
    for sc in ("workers1", "workers2"):
        e = summary.get(sc, {}).get("iotnet")
        if e is None:
            continue
        if not lines:
            lines.append("python -m iotnet --workers N examples/echo_server.py, echo100 (64 B, 100 connections); "
                         "nothing pinned: the workers and the loadgen share the CPUs")
        label = SCALING[sc][0]
        if "error" in e:
            lines.append(f"  {label:<9} failed: {e['error'].splitlines()[0][:70]}")
            continue
        ratio = f"{e['value'] / one['value']:.2f}× 1 worker" if one.get("value") and sc != "workers1" else ""
        cpu = cpu_per_unit(e)
        secs = e.get("duration_s") or 1
        lines.append(f"  {label:<9} {fmt_num(e['value']) + ' rt/s':>14} {ratio:>15}   server "
                     f"{e.get('server_cpu_s', 0) / secs:.2f} CPUs, {cpu * 1e6 if cpu else 0:.2f} µs per round trip; "
                     f"loadgen {e.get('loadgen_cpu_s', 0) / secs:.2f} CPUs")
    plain = summary.get("connrate", {}).get("iotnet")
    for sc, how in (("connrate_proxy_v1", "in the segment of the first bytes"),
                    ("connrate_proxy_v1_alone", "in a segment of its own")):
        pp = summary.get(sc, {}).get("iotnet")
        if pp is None:
            continue
        lines.append(f"connrate with a PROXY v1 header {how} (proxyProtocol on) against iotnet pipe()'s plain "
                     "connrate, server CPU per connection")
        if "error" in pp:
            lines.append(f"  failed: {pp['error'].splitlines()[0][:70]}")
        elif cpu_per_unit(pp) and plain and cpu_per_unit(plain):
            with_header, without = per_run_cpu(runs, sc), per_run_cpu(runs, "connrate")
            lines.append(f"  with the header {cpu_per_unit(pp) * 1e6:.2f} µs ({fmt_num(pp['value'])} conn/s), "
                         f"without {cpu_per_unit(plain) * 1e6:.2f} µs ({fmt_num(plain['value'])} conn/s): "
                         f"{cpu_per_unit(pp) / cpu_per_unit(plain):.3f}×; every run with: "
                         + ", ".join(f"{v:.2f}" for v in with_header) + "; without: "
                         + ", ".join(f"{v:.2f}" for v in without))
    return "\n".join(lines)


def tls_lines(summary, servers):
    """What the TLS runs negotiated (from the loadgen's side), one line if every server agreed."""
    seen = {}
    for sc, per_server in summary.items():
        if not is_tls(sc):
            continue
        for name, e in per_server.items():
            if "tls_version" not in e:
                continue
            what = (f"{e['tls_version']}, {e['tls_cipher']}, key exchange {e['tls_group']}, server key "
                    f"{e['tls_server_key']}, {e.get('tls_tickets_per_handshake', 0):.0f} session tickets per "
                    "handshake (never resumed)")
            seen.setdefault(what, [])
            if label_for(name, sc, servers) not in seen[what]:
                seen[what].append(label_for(name, sc, servers))
    if len(seen) == 1:
        return f"TLS, every server: {next(iter(seen))}"
    return "\n".join(f"TLS, {', '.join(names)}: {what}" for what, names in seen.items())


def callgrind_lines(cg, servers):
    """One block per connection count; cg as Bench.callgrind returns it."""
    blocks = []
    for key, per_server in cg.items():
        tls = key.startswith("tls")  # "tls1", "tls100": over TLS, after the handshakes
        conns = key.removeprefix("tls")
        some = next((v for v in per_server.values() if "rounds" in v), None)
        how = (f"(Ir({some['rounds'][1]}) - Ir({some['rounds'][0]})) / {some['rounds'][1] - some['rounds'][0]}"
               if some else "")
        lines = [f"callgrind: server instructions per 64 B {'TLS ' if tls else ''}echo round trip, {conns} connection"
                 f"{'' if conns == '1' else 's'}, user space {how}"]
        ir = {name: v["ir_per_round_trip"] for name, v in per_server.items() if "ir_per_round_trip" in v}
        for name, v in per_server.items():
            label = TLS_SERVERS[name][0] if tls and name in TLS_SERVERS else servers.get(name, name)
            if "error" in v:
                lines.append(f"  {label:<17} failed: {v['error'].splitlines()[0][:70]}")
                continue
            ratios = [f"{ir[name] / ir[REFERENCE]:.2f}× C"] if ir.get(REFERENCE) else []
            # The tree's iotnet against each other build (--iotnet-build), to the instruction.
            ratios += [f"{ir[name] - ir[b]:+,.1f} Ir = {(ir[name] / ir[b] - 1) * 100:+.1f} % vs {servers.get(b, b)}"
                       for b in (BUILDS if name == "iotnet" else ()) if ir.get(b)]
            lines.append(f"  {label:<17} {ir[name]:>10,.0f} Ir" + (f"  ({', '.join(ratios)})" if ratios else ""))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def targets(summary, cg, runs=()):
    """iotnet's targets, as measured. Reported only; nothing asserts them."""
    get = lambda sc, name: summary.get(sc, {}).get(name, {}).get("value")
    if not any(get(sc, "iotnet") is not None for sc in summary):
        return ""
    lines = ["iotnet targets"]

    def check(what, ok, detail):
        lines.append(f"  {'met  ' if ok else 'SHORT'} {what}: {detail}")

    for peer in ("uvloop", "node"):
        for sc in summary:
            if is_proxy(sc):
                continue  # the proxies are compared with the C proxy, below
            a, b = get(sc, "iotnet"), get(sc, peer)
            if a is None or b is None:
                continue
            lower = SCENARIOS[sc][3] == "lower"
            r = b / a if lower else a / b
            check(f"≥ 1.0× {peer} on {sc}", r >= 1.0, f"{r:.2f}×")
    for sc in ("echo100", "echo1000", "stream", "connrate"):
        a, c = get(sc, "iotnet"), get(sc, REFERENCE)
        if a is not None and c:
            check(f"≥ 0.8× C on {sc}", a / c >= 0.8, f"{a / c:.2f}×")
    idle = next((sc for sc in summary if is_idle(sc)), None)
    for name in ("iotnet", "iotnet_data"):
        if idle and get(idle, name) is not None:
            b = get(idle, name)
            check(f"≤ 512 B RSS per idle connection, {SERVERS[name][0]}", b <= 512, f"{b:,.0f} B")
    # connrate in server CPU per connection (the result per CPU-second), not in connections/s.
    iot, c = summary.get("connrate", {}).get("iotnet"), summary.get("connrate", {}).get(REFERENCE)
    if iot and c and cpu_per_unit(iot) and cpu_per_unit(c):
        r = cpu_per_unit(iot) / cpu_per_unit(c)
        check("server CPU per connection ≤ 1.0× C on connrate", r <= 1.0, f"{r:.2f}×")
    # callgrind: each iotnet echo style against the C server, at every connection count counted.
    for key, per_server in sorted((cg or {}).items()):
        c_ir = (per_server.get(REFERENCE) or {}).get("ir_per_round_trip")
        for name in ("iotnet", "iotnet_data", "iotnet_onread"):
            ir = (per_server.get(name) or {}).get("ir_per_round_trip")
            if c_ir and ir and not per_server[name].get("tls"):
                check(f"callgrind ≤ 1.5× C, {SERVERS[name][0]}, {key} connection(s)",
                      ir <= 1.5 * c_ir, f"{ir / c_ir:.2f}×")
    # Through a proxy: iotnet's examples/proxy.py against the C proxy, in proxy CPU per unit of work.
    for sc in ("proxy100", "proxystream"):
        r = summary.get(sc, {}).get("iotnet", {}).get("cpu_ratio_to_c")
        if r is not None:
            check(f"proxy CPU per {'forwarded round trip' if sc == 'proxy100' else 'MB'} ≤ 1.0× the C proxy "
                  f"on {sc}", r <= 1.0, f"{r:.2f}×")
    # The PROXY header: within noise means inside the spread of the plain connrate's own runs.
    pp, plain = summary.get("connrate_proxy_v1", {}).get("iotnet"), summary.get("connrate", {}).get("iotnet")
    if pp and plain and cpu_per_unit(pp) and cpu_per_unit(plain) and runs:
        without = per_run_cpu(runs, "connrate")
        r = cpu_per_unit(pp) / cpu_per_unit(plain)
        check("PROXY v1 header (with the first bytes): server CPU per connection within the plain connrate "
              "runs' spread",
              cpu_per_unit(pp) * 1e6 <= max(without),
              f"{r:.3f}× (plain runs {min(without):.2f}..{max(without):.2f} µs, with the header "
              f"{cpu_per_unit(pp) * 1e6:.2f} µs)")
    a, b = get("echo1000", "iotnet"), get("echo100", "iotnet")
    if a is not None and b:
        # The C server's own ratio shows how much of the drop belongs to the kernel and the loadgen.
        c1000, c100 = get("echo1000", REFERENCE), get("echo100", REFERENCE)
        ref = f" (C on libuv: {c1000 / c100:.2f}×)" if c1000 and c100 else ""
        check("echo1000 within 10 % of echo100 (round trips/s)", a >= 0.9 * b, f"{a / b:.2f}×{ref}")
    return "\n".join(lines)


def chart(summary, servers, proxies, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scs = [sc for sc in summary if not is_scaling(sc)]
    cols = 3
    rows = (len(scs) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.2 * rows), squeeze=False)
    for ax, sc in zip(axes.flat, scs):
        _, _, unit, better = SCENARIOS[sc]
        # Through a proxy the figure is the proxy's CPU per round trip or MB, not the throughput.
        field, ratio_field = ("proxy_cpu_us_per_unit", "cpu_ratio_to_c") if is_proxy(sc) else ("value", "ratio_to_c")
        if is_proxy(sc):
            unit, better = f"proxy CPU µs/{unit.split('/')[0]}", "lower"
        names = [n for n in (proxies if is_proxy(sc) else servers) if field in summary[sc].get(n, {})]
        values = [summary[sc][n][field] for n in names]
        ref = PROXY_REFERENCE if is_proxy(sc) else REFERENCE
        colors = ["#444444" if n == ref else "#d9541e" if n == "iotnet" else "#e8773f" if n == "iotnet_data"
                  else "#eea37f" if n in BUILDS else "#4a7fb5" for n in names]
        ax.barh([label_for(n, sc, servers) for n in names], values, color=colors)
        ax.invert_yaxis()
        ax.set_title(f"{sc} ({unit}, {better} is better)", fontsize=10)
        for i, n in enumerate(names):
            r = summary[sc][n].get(ratio_field)
            ax.text(values[i], i, f" {fmt_num(values[i])}" + (f"  {r:.2f}×" if r else ""), va="center", fontsize=8)
        ax.set_xlim(0, max(values or [1]) * 1.45)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[len(scs):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def git_state(path):
    """The commit checked out where `path` is, "+changes" if files under `path` differ from it."""
    def git(*cmd):
        try:
            p = subprocess.run(["git", "-C", str(path), *cmd], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return p.stdout.strip() if p.returncode == 0 else None
    commit = git("rev-parse", "--short", "HEAD")
    if commit and git("status", "--porcelain", "--", "."):
        commit += "+changes"
    return {"commit": commit}


def machine_info():
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass

    def version(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip() or None
        except (OSError, subprocess.TimeoutExpired):
            return None

    # Which iotnet was measured: the commit, and whether src/ or the example differ from it.
    commit = version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    if commit and version(["git", "-C", str(ROOT), "status", "--porcelain", "--", "src", "examples"]):
        commit += "+changes"
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "kernel": platform.release(), "iotnet_commit": commit,
            "python": platform.python_version(), "node": version(["node", "--version"]),
            "libuv": version(["pkg-config", "--modversion", "libuv"]),
            "uvloop": version([PY, "-c", "import uvloop; print(uvloop.__version__)"]),
            # The OpenSSL of the loadgen and the C server, of Python's ssl, and Node's own.
            "openssl": version(["pkg-config", "--modversion", "openssl"]),
            "python_openssl": version([PY, "-c", "import ssl; print(ssl.OPENSSL_VERSION.split()[1])"]),
            "node_openssl": version(["node", "-p", "process.versions.openssl"]),
            "haproxy": haproxy_version()}


def haproxy_path():
    """The haproxy command, or None; Debian puts it in /usr/sbin, which not every PATH holds."""
    return shutil.which("haproxy") or ("/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None)


def haproxy_version():
    """HAProxy's version (of the proxy scenarios' peer), or None."""
    exe = haproxy_path()
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "-v"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r"version (\S+)", out)
    return m.group(1) if m else None


def raise_nofile(want):
    """Raises this process's RLIMIT_NOFILE, which the servers and the loadgen inherit: the hard
    limit to `want` where that is allowed (it takes CAP_SYS_RESOURCE), and the soft limit to the
    hard one. Returns (the soft limit now, whether the hard limit held it below `want`)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want, False
        except (ValueError, OSError):
            pass  # not allowed here: the hard limit stays what it is
    new_soft = hard if hard != resource.RLIM_INFINITY else (
        soft if soft == resource.RLIM_INFINITY else max(soft, want))
    resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    return new_soft, new_soft != resource.RLIM_INFINITY and new_soft < want


def plan_idle(args):
    """The idle scenario's connection count, and a line that says what set it.

    --idle-conns N (or a scenario named idleN) asks for N; else the default is IDLE_MAX_CONNS
    (bench-quick: IDLE_QUICK_CONNS). Each side of the connections, the server and the loadgen,
    holds N sockets, so N + FD_MARGIN must fit in the limit of open files per process."""
    wanted = args.idle_conns or (IDLE_QUICK_CONNS if args.quick else IDLE_MAX_CONNS)
    limit, capped = raise_nofile(wanted + FD_MARGIN)
    if not capped:
        why = ("as asked (--idle-conns)" if args.idle_conns else "bench-quick's count" if args.quick
               else "the most the harness opens")
        return wanted, f"{wanted:,} connections ({why}; open files per process: {fmt_limit(limit)})", False
    most = limit - FD_MARGIN
    n = most // 1000 * 1000 if most >= 2000 else max(100, most)
    return n, (f"{n:,} connections, capped by the hard limit of open files ({limit:,} per process, "
               f"{FD_MARGIN:,} of them left for the server's own files; {wanted:,} "
               f"{'asked' if args.idle_conns else 'where the limit allows'})"), True


def fmt_limit(limit):
    return "unlimited" if limit == resource.RLIM_INFINITY else f"{limit:,}"


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="one repeat of a subset, shorter windows (~1 min)")
    p.add_argument("--servers", help="comma-separated subset of: " + ", ".join(SERVERS))
    p.add_argument("--proxies", help="the proxies of the proxy* scenarios, comma-separated subset of: "
                   + ", ".join(PROXIES))
    p.add_argument("--scenarios", help="comma-separated subset of: " + ", ".join(SCENARIOS)
                   + " (idle, or idleN: N connections)")
    p.add_argument("--idle-conns", type=int, metavar="N", help="connections of the idle scenario (default: the most "
                   f"the limit of open files allows, up to {IDLE_MAX_CONNS:,}; quick {IDLE_QUICK_CONNS:,})")
    p.add_argument("--repeats", type=int, help="repeats per scenario (default 3, quick 1)")
    p.add_argument("--warmup", type=float, help="seconds of warm-up (default 1, quick 0.5)")
    p.add_argument("--duration", type=float, help="seconds measured (default 3, quick 1.5)")
    p.add_argument("--tls-duration", type=float, help="seconds measured in the tls_* scenarios (default 2, "
                   "quick 1; --duration given: the same)")
    p.add_argument("--proxy-duration", type=float, help="seconds measured in the proxy* scenarios (default 2, "
                   "quick 1; --duration given: the same)")
    p.add_argument("--no-callgrind", action="store_true", help="skip the callgrind instruction counts")
    p.add_argument("--callgrind-only", action="store_true", help="only the callgrind counts: no scenario runs")
    p.add_argument("--callgrind-conns", help="comma-separated connection counts of the callgrind echo "
                   f"(default {','.join(map(str, CALLGRIND_CONNS))}, "
                   f"quick {','.join(map(str, QUICK_CALLGRIND_CONNS))})")
    p.add_argument("--callgrind-tls-conns", help="the same over TLS, after the handshakes, for the C server and "
                   f"iotnet (default {','.join(map(str, CALLGRIND_TLS_CONNS))}, "
                   f"quick {','.join(map(str, QUICK_CALLGRIND_TLS_CONNS))}; none: no TLS counts)")
    p.add_argument("--iotnet-build", action="append", default=[], metavar="NAME=SRC",
                   help="also run the iotnet built in place in directory SRC (which holds iotnet/), "
                   "as server NAME, in the scenarios and callgrind; repeatable. Results then go to "
                   "bench/results/compare.* unless --out says otherwise")
    p.add_argument("--no-spin", action="store_true", help="let loadgen sleep in epoll_wait instead of polling")
    p.add_argument("--budget", type=float, help="seconds the matrix may take, re-runs of disturbed runs "
                   "included (default 1400, quick 120)")
    p.add_argument("--out", help="results path without extension (default bench/results/latest; "
                   "with --iotnet-build bench/results/compare). Writing bench/results/latest.json also "
                   "rewrites the last-measured section of bench/README.md")
    a = p.parse_args(argv)
    a.argv = list(sys.argv[1:] if argv is None else argv)
    a.servers = a.servers.split(",") if a.servers else list(SERVERS)
    a.proxies = a.proxies.split(",") if a.proxies else list(PROXIES)
    for spec in a.iotnet_build:
        name, sep, src = spec.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9_.-]+", name) or not src:
            p.error(f"--iotnet-build {spec}: expected NAME=SRC, NAME of letters, digits, _ . -")
        if name in SERVERS:
            p.error(f"--iotnet-build {spec}: {name} is already a server's name")
        if not (Path(src) / "iotnet").is_dir():
            p.error(f"--iotnet-build {spec}: {src} has no iotnet/ package directory")
        BUILDS[name] = str(Path(src).resolve())
        SERVERS[name] = (name, [PY, "examples/echo_server.py"])
        TLS_SERVERS[name] = (name, [PY, "examples/tls_echo_server.py"])
        PROXIES[name] = (name, [PY, "examples/proxy.py"])
        # Beside the tree's own iotnet (just before it), or last if that is not run.
        for names in (a.servers, a.proxies):
            if name not in names:
                at = names.index("iotnet") if "iotnet" in names else len(names)
                names.insert(at, name)
    a.out = a.out or str(RESULTS / ("compare" if BUILDS else "latest"))
    a.scenarios = a.scenarios.split(",") if a.scenarios else (QUICK_SCENARIOS if a.quick else list(SCENARIOS))
    if a.callgrind_only:
        if a.no_callgrind:
            p.error("--callgrind-only and --no-callgrind leave nothing to run")
        a.scenarios = []
    try:
        a.callgrind_conns = ([int(c) for c in a.callgrind_conns.split(",")] if a.callgrind_conns
                             else QUICK_CALLGRIND_CONNS if a.quick else CALLGRIND_CONNS)
    except ValueError:
        p.error(f"--callgrind-conns {a.callgrind_conns}: expected numbers separated by commas")
    if any(c < 1 for c in a.callgrind_conns):
        p.error("--callgrind-conns: every count must be at least 1")
    tls_conns = a.callgrind_tls_conns
    try:
        a.callgrind_tls_conns = ([] if tls_conns in ("none", "") else [int(c) for c in tls_conns.split(",")]
                                 if tls_conns is not None else QUICK_CALLGRIND_TLS_CONNS if a.quick
                                 else CALLGRIND_TLS_CONNS)
    except ValueError:
        p.error(f"--callgrind-tls-conns {tls_conns}: expected numbers separated by commas, or none")
    if any(c < 1 for c in a.callgrind_tls_conns):
        p.error("--callgrind-tls-conns: every count must be at least 1")
    for name in a.servers:
        if name not in SERVERS:
            p.error(f"unknown server {name}")
    for name in a.proxies:
        if name not in PROXIES:
            p.error(f"unknown proxy {name}")
    # idle, or idleN for N connections (the name a run gives it: --scenarios idle19000 repeats it)
    for i, name in enumerate(a.scenarios):
        m = re.fullmatch(r"idle(\d*)", name)
        if m and m.group(1):
            if a.idle_conns and a.idle_conns != int(m.group(1)):
                p.error(f"--scenarios {name} and --idle-conns {a.idle_conns} disagree")
            a.idle_conns = int(m.group(1))
        if m:
            a.scenarios[i] = "idle"
        elif name not in SCENARIOS:
            p.error(f"unknown scenario {name}")
    if a.idle_conns is not None and a.idle_conns < 1:
        p.error("--idle-conns: at least 1")
    a.repeats = a.repeats or (1 if a.quick else 3)
    a.warmup = a.warmup if a.warmup is not None else (0.5 if a.quick else 1.0)
    a.tls_duration = a.tls_duration or a.duration or (1.0 if a.quick else 2.0)
    a.proxy_duration = a.proxy_duration or a.duration or (1.0 if a.quick else 2.0)
    a.duration = a.duration or (1.5 if a.quick else 3.0)
    a.budget = a.budget or (120 if a.quick else 1400)
    return a


def main(argv=None):
    args = parse_args(argv)
    if not LOADGEN.exists():
        sys.exit("bench/bin/loadgen is not built: run `make bench` (or gcc -O2 -o bench/bin/loadgen bench/loadgen.c)")
    started = time.monotonic()
    bench = Bench(args)
    # The soft limit of open files goes up to the hard one in any case (the servers and the loadgen
    # inherit it); the idle scenario's count follows from it.
    bench.idle_conns, idle_how, idle_capped = plan_idle(args)
    args.scenarios = set_idle_conns(bench.idle_conns, args.scenarios)
    idle_sc = next((sc for sc in args.scenarios if is_idle(sc)), None)
    idle_line = f"{idle_sc}: {idle_how}" if idle_sc else ""
    if idle_sc:
        log(idle_line)
    servers = bench.available_servers()
    proxies = bench.available_proxies()
    # Instruction counts do not depend on other work; the timed scenarios do.
    load = wait_for_quiet(10) if args.scenarios else 0.0
    if load >= 0.1:
        bench.notes.append(f"the machine was busy before the run ({load:.2f} CPUs of other work): expect noise")
        log(f"warning: other processes use {load:.2f} CPUs; results will be noisy")
    if REFERENCE not in servers:
        bench.notes.append("no C reference server: ratios are not computed")
    if any(map(is_proxy, args.scenarios)) and PROXY_REFERENCE not in proxies:
        bench.notes.append("no C proxy: the proxies' ratios are not computed")

    try:
        runs = bench.run_matrix(servers, proxies, args.scenarios) if args.scenarios else []
        summary = summarize(runs, servers, proxies, args.scenarios)
        disturbed = sum(1 for r in runs if r.get("disturbed"))
        if disturbed:
            bench.notes.append(f"{disturbed} run(s) were disturbed by other processes even after a retry")
        cg = {} if args.no_callgrind else bench.callgrind(servers)
    finally:
        bench.cleanup()  # the run's certificate and key
    elapsed = time.monotonic() - started

    info = machine_info()
    other_windows = [f"{what}: {secs:g} s" for what, secs, used in (
        ("tls_*", args.tls_duration, any(map(is_tls, args.scenarios))),
        ("proxy*", args.proxy_duration, any(map(is_proxy, args.scenarios)))) if used and secs != args.duration]
    tls_window = f" ({', '.join(other_windows)})" if other_windows else ""
    timing = (f"{args.warmup:g} s warm-up, {args.duration:g} s measured{tls_window}, "
              + (f"median of {args.repeats}" if args.repeats > 1 else "1 repeat")) if summary else "callgrind only"
    header = (f"iotnet bench ({info['iotnet_commit'] or 'no git'}): {info['cpus']} CPUs ({info['cpu_model']}), "
              f"Linux {info['kernel']}, "
              + ("server on CPU 0, loadgen on CPU 1" if bench.pinning else "not pinned") + f"; {timing}")
    if BUILDS:
        header += "\n" + "\n".join(f"  {name}: {b['path']} (commit {b.get('commit') or 'none'})"
                                    for name, b in bench.builds.items())
    proxied = summary and proxy_table(summary, proxies)
    text = "\n\n".join(filter(None, [
        header, summary and table(summary, servers, args.duration), summary and idle_sc in summary and idle_line,
        proxied, summary and ratio_matrix(summary, servers),
        summary and cpu_matrix(summary, servers), summary and tls_lines(summary, servers),
        summary and scaling_lines(summary, runs), callgrind_lines(cg, servers), targets(summary, cg, runs),
        "\n".join("note: " + n for n in bench.notes),
        summary and (
            "columns: srv CPU-s = CPU seconds the server used in the measured window (its ceiling is the window "
            f"length, {args.duration:g} s{tls_window}: one core); per srv CPU-s = result per second of server CPU; "
            "lg busy = share of the window the load generator was working (near 1: it was the bottleneck); "
            "! = other processes used the CPUs during that run; tls_* rows: each server's TLS variant."
            + (" Through a proxy: proxy CPU = the proxy's CPU per round trip or MB forwarded (vs C: to the C "
               "proxy's; lower is better), result vs C: throughput to the C proxy's; CPU 1 busy = CPU the loadgen "
               "and the backend used together, per second of the window (near 1: that core was full)."
               if proxied else ""))]))
    print(text, flush=True)

    out = Path(args.out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "argv": args.argv, "machine": info,
           "pinned": bench.pinning,
           "settings": {"repeats": args.repeats, "warmup_s": args.warmup, "duration_s": args.duration,
                        "tls_duration_s": args.tls_duration, "proxy_duration_s": args.proxy_duration,
                        "quick": args.quick, "idle_conns": bench.idle_conns, "idle_capped_by_nofile": idle_capped,
                        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
                        "callgrind_conns": [] if args.no_callgrind else args.callgrind_conns,
                        "callgrind_tls_conns": [] if args.no_callgrind else args.callgrind_tls_conns},
           "servers": servers, "tls_servers": {n: TLS_SERVERS[n][0] for n in servers if n in TLS_SERVERS},
           "proxies": proxies, "scaling": {sc: SCALING[sc][0] for sc in summary if is_scaling(sc)},
           "units": {sc: SCENARIOS[sc][2] for sc in summary}, "builds": bench.builds, "notes": bench.notes,
           "summary": summary,
           "callgrind": cg, "runs": runs, "elapsed_s": round(elapsed, 1), "table": text}
    out.with_suffix(".json").write_text(json.dumps(doc, indent=1) + "\n")
    wrote = [out.with_suffix(".json")]
    if summary:
        try:
            chart(summary, servers, proxies, out.with_suffix(".png"), header)
            wrote.append(out.with_suffix(".png"))
        except ImportError:
            log("matplotlib is not installed: no chart (pip install -r bench/requirements.txt)")
    # The README's last-measured section always shows what latest.json holds.
    if out == RESULTS / "latest":
        sys.path.insert(0, str(BENCH))
        import report
        report.update_readme(doc)
        wrote.append(report.README)
    log("wrote " + ", ".join(str(p.relative_to(ROOT) if p.is_relative_to(ROOT) else p) for p in wrote)
        + f" in {elapsed:.0f} s")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the "Last measured" section of bench/README.md from a results file.

The section lies between the two marker comments below; everything else in the README is
written by hand. bench/run.py calls this after every run that writes bench/results/latest.json,
so the two always agree; by hand:

usage: python bench/report.py [RESULTS.json] [--readme PATH] [--check]
"""
import argparse
import json
import sys
import textwrap
from pathlib import Path

BENCH = Path(__file__).resolve().parent
README = BENCH / "README.md"
LATEST = BENCH / "results" / "latest.json"
BEGIN = "<!-- last-measured: begin (bench/report.py writes this from bench/results/latest.json) -->"
END = "<!-- last-measured: end -->"


def fmt_num(v):
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}"


def command(doc):
    """How the run was started, as a reader would repeat it."""
    argv = doc.get("argv")
    quick = doc.get("settings", {}).get("quick")
    if argv is None:  # results written before run.py recorded its arguments
        return "`make bench-quick`" if quick else "`make bench`"
    if not argv:
        return "`make bench`"
    if argv == ["--quick"]:
        return "`make bench-quick`"
    return "`bench/run.py " + " ".join(argv) + "`"


def facts(doc):
    m = doc.get("machine", {})
    runs = doc.get("runs", [])
    disturbed = sum(1 for r in runs if r.get("disturbed"))
    when = doc.get("date", "?")[:10]
    how = [f"{doc['elapsed_s']:.0f} s" if "elapsed_s" in doc else None]
    if runs:
        how.append(f"{disturbed} run(s) disturbed by other work on the machine" if disturbed
                   else "no run disturbed by other work on the machine")
    how = ", ".join(filter(None, how))
    machine = ", ".join(filter(None, [
        f"{m['cpus']} CPUs ({m['cpu_model']})" if m.get("cpus") else None,
        f"Linux {m['kernel']}" if m.get("kernel") else None,
        f"Python {m['python']}" if m.get("python") else None,
        f"system libuv {m['libuv']}" if m.get("libuv") else None,
        f"uvloop {m['uvloop']}" if m.get("uvloop") else None,
        f"Node {m['node']}" if m.get("node") else None,
        f"HAProxy {m['haproxy']}" if m.get("haproxy") and doc.get("proxies") else None,
        openssl(m),
    ]))
    commit = m.get("iotnet_commit") or "unknown"
    dirty = commit.endswith("+changes")
    commit = commit.removesuffix("+changes")
    tree = " with uncommitted changes in src/ or examples/" if dirty else ""
    pinned = "server on CPU 0, loadgen on CPU 1" if doc.get("pinned") else "server and loadgen not pinned"
    if doc.get("pinned") and doc.get("proxies"):
        pinned += " (through a proxy: the proxy on CPU 0, the loadgen and the backend on CPU 1)"
    return textwrap.fill(f"Measured on {when} by {command(doc)} ({how}), iotnet at commit {commit}{tree}, "
                         f"on {machine}; {pinned}.", width=100)


def openssl(m):
    """The OpenSSL versions: the system's (loadgen, C server), Python's ssl's and Node's."""
    if not m.get("openssl"):
        return None
    others = [f"{who} {m[key]}" for who, key in (("Python's ssl", "python_openssl"), ("Node's", "node_openssl"))
              if m.get(key)]
    if all(m[k] == m["openssl"] for k in ("python_openssl", "node_openssl") if m.get(k)):
        return f"OpenSSL {m['openssl']} (system, Python's ssl and Node's)" if others else f"OpenSSL {m['openssl']}"
    return f"OpenSSL {m['openssl']} (system; {', '.join(others)})"


def printed_report(doc):
    """What the run printed, without the column legend (the sections above explain the columns)."""
    parts = doc.get("table", "").strip().split("\n\n")
    return "\n\n".join(p for p in parts if not p.startswith("columns:"))


def spread(doc):
    """Every repeat behind each median, in the order they ran, and the largest over the smallest."""
    units = {"rps": "rt/s", "mb_per_s": "MB/s", "cps": "conn/s", "bytes_per_conn": "B/conn"}
    servers = doc.get("servers", {})
    summary = doc.get("summary", {})
    width = max([10, *map(len, summary)])
    lines = []
    for sc, per_server in summary.items():
        for name, e in per_server.items():
            reps = e.get("repeats") or []
            if len(reps) < 2:
                continue
            field = next((f for f in units if f in e), None)
            unit = doc.get("units", {}).get(sc) or units.get(field, "")
            # The tls_* rows ran each server's TLS variant (e.tls is set by the loadgen), the
            # proxy* rows a proxy.
            label = doc.get("tls_servers", {}).get(name) if e.get("tls") else None
            if sc.startswith("proxy"):
                label = doc.get("proxies", {}).get(name)
            label = doc.get("scaling", {}).get(sc) or label
            label = label or servers.get(name, name)
            ratio = f"{max(reps) / min(reps):.2f}" if min(reps) > 0 else "-"
            values = " ".join(f"{fmt_num(v):>9}" for v in reps)
            lines.append(f"{sc:<{width}} {label[:17]:<17} {values} {unit:<6}  max/min {ratio}")
    return "\n".join(lines)


def section(doc):
    out = [facts(doc), "", "```", printed_report(doc), "```"]
    s = spread(doc)
    if s:
        out += ["", "How much one repeat differs from the next on this machine (every repeat behind the",
                "medians above, in the order they ran):", "", "```", s, "```"]
    return "\n".join(out)


def update_readme(doc, readme=README):
    """Replaces what lies between the markers; returns True if the file changed."""
    text = readme.read_text()
    try:
        head, rest = text.split(BEGIN + "\n", 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise SystemExit(f"{readme}: the markers {BEGIN!r} and {END!r} are missing")
    new = head + BEGIN + "\n" + section(doc) + "\n" + END + tail
    if new != text:
        readme.write_text(new)
    return new != text


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="?", default=str(LATEST), help="results JSON (default bench/results/latest.json)")
    p.add_argument("--readme", default=str(README), help="the README to update (default bench/README.md)")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if the section is out of date")
    a = p.parse_args(argv)
    doc = json.loads(Path(a.results).read_text())
    readme = Path(a.readme)
    if a.check:
        text = readme.read_text()
        current = text.split(BEGIN + "\n", 1)[-1].split(END, 1)[0]
        if current != section(doc) + "\n":
            sys.exit(f"{readme}: the last-measured section differs from {a.results} (run bench/report.py)")
        return
    changed = update_readme(doc, readme)
    print(f"{readme.name}: last-measured section {'updated' if changed else 'already up to date'}", file=sys.stderr)


if __name__ == "__main__":
    main()

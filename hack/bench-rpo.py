#!/usr/bin/env python3
"""`make bench`'s RPO section (hack/bench.sh, BENCH_RPO): samples a continuous backup and reports.

  bench-rpo.py sample --pid PID --metrics URL --phase-file FILE --out SAMPLES
      Every second until process PID exits: the phase named in FILE (the bench writes the
      producer's rate there while it produces), the process's /metrics (last commit and cut,
      commits, failures, per-partition lag in records and seconds) and its /proc figures (RSS,
      peak RSS, CPU seconds). One JSON object a line.

  bench-rpo.py report --samples SAMPLES --log LOG --producers PHASE=FILE... --interval S
      The figures per phase: commits, RPO (now - the newest committed cut) p50/p95/max, lag in
      seconds p95/max, records per second produced (the producer's own figure) and backed up
      (the committed restore points' records over the time between their cuts), the iterations'
      duration, CPU seconds and peak RSS.

Standard library only. docs/benchmarks.md, "Continuous backup: RPO under steady produce".
"""

import argparse
import json
import os
import re
import sys
import time
import urllib.request
from datetime import datetime

TICK = os.sysconf("SC_CLK_TCK")
PREFIX = "strimzi_backup_continuous_"
LINE = re.compile(r"^([a-z_]+)(?:\{([^}]*)\})?\s+(\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')


def parse_metrics(text):
    """The continuous backup's series: scalars by name, per-partition lags as lists."""
    out = {"lag_records": [], "lag_seconds": [], "failures": 0.0}
    for line in text.splitlines():
        m = LINE.match(line.strip())
        if not m or not m.group(1).startswith(PREFIX):
            continue
        name, value = m.group(1)[len(PREFIX):], float(m.group(3))
        if name in ("lag_records", "lag_seconds"):
            out[name].append(value)
        elif name == "failures_total":
            out["failures"] += value
        elif name in ("last_commit_timestamp_seconds", "last_cut_timestamp_seconds", "commits_total"):
            out[name] = value
    return out


def proc(pid):
    """RSS and peak RSS in KiB and CPU seconds (user + system) of PID, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, ValueError):
        return None
    if fields[0] == "Z":  # exited, not yet reaped by the bench
        return None
    kib = lambda k: int(status.get(k, "0 kB").split()[0])
    # After ")": state is field 3 of stat(5), so utime (14) and stime (15) are at 11 and 12.
    return {"rss_kib": kib("VmRSS"), "hwm_kib": kib("VmHWM"), "cpu_s": (int(fields[11]) + int(fields[12])) / TICK}


def sample(args):
    with open(args.out, "w") as out:
        next_at = time.time()
        while True:
            p = proc(args.pid)
            if p is None:
                return
            try:
                with open(args.phase_file) as f:
                    phase = f.read().strip()
            except OSError:
                phase = ""
            s = {"t": time.time(), "phase": phase, **p}
            try:
                with urllib.request.urlopen(args.metrics, timeout=0.8) as r:
                    s.update(parse_metrics(r.read().decode()))
            except OSError as e:
                s["error"] = str(e)
            out.write(json.dumps(s) + "\n")
            out.flush()
            next_at += 1.0
            time.sleep(max(0.0, next_at - time.time()))


def pct(values, q):
    """The q-th percentile (nearest rank) of values, or None."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q / 100 * len(v) + 0.5)) - 1))]


def fmt(v, spec=".1f"):
    return "-" if v is None else format(v, spec)


COMMITTED = re.compile(r"^(\S+Z)\s+INFO .*restore point committed.*\brecords=(\d+).*\btook_ms=(\d+)")


def commits_of(log):
    """(commit time, cut time, records, took seconds) of each committed restore point in LOG.
    The cut is taken when the iteration starts (its started_at), so cut = commit - took."""
    out = []
    with open(log, errors="replace") as f:
        for line in f:
            m = COMMITTED.match(line)
            if m:
                t = datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
                took = int(m.group(3)) / 1e3
                out.append((t, t - took, int(m.group(2)), took))
    return out


PRODUCED = re.compile(r"^(\d+) records sent, ([0-9.]+) records/sec \(([0-9.]+) MB/sec\), ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency")


def producer_of(path):
    with open(path) as f:
        lines = [m for m in map(PRODUCED.match, f) if m]
    if not lines:
        sys.exit(f"no ProducerPerformance result in {path}")
    m = lines[-1]
    return {"records": int(m.group(1)), "rps": float(m.group(2)), "mibs": float(m.group(3)),
            "avg_ms": float(m.group(4)), "max_ms": float(m.group(5))}


def report(args):
    with open(args.samples) as f:
        samples = [json.loads(line) for line in f if line.strip()]
    commits = commits_of(args.log)
    producers = dict(p.split("=", 1) for p in args.producers)
    if not samples:
        sys.exit("no samples")
    print(f"  {'phase':<10} {'commits':>7} {'RPO p50':>8} {'p95':>6} {'max':>6} {'lag s p95':>9} {'max':>6}"
          f" {'lag rec max':>11} {'produced/s':>10} {'backed up/s':>11} {'iter s p50':>10} {'max':>6}"
          f" {'CPU s':>6} {'RSS MiB':>7}")
    rows = []
    for phase in [p for p in dict.fromkeys(s["phase"] for s in samples) if p in producers]:
        ss = [s for s in samples if s["phase"] == phase and s.get("last_cut_timestamp_seconds", 0) > 0]
        if len(ss) < 2:
            continue
        t0, t1 = ss[0]["t"], ss[-1]["t"]
        rpo = [s["t"] - s["last_cut_timestamp_seconds"] for s in ss]
        lag_s = [max(s["lag_seconds"] or [0]) for s in ss]
        lag_r = [sum(s["lag_records"] or [0]) for s in ss]
        n = int(ss[-1].get("commits_total", 0) - ss[0].get("commits_total", 0))
        # Backed up: the records of the restore points committed in the phase, over the time
        # between the first one's cut and the last one's (each holds what came since the one before).
        inside = [c for c in commits if t0 <= c[0] <= t1]
        backed = sum(c[2] for c in inside[1:]) / (inside[-1][1] - inside[0][1]) if len(inside) >= 2 else None
        took = [c[3] for c in inside]
        prod = producer_of(producers[phase])
        cpu = ss[-1]["cpu_s"] - ss[0]["cpu_s"]
        rss = max(s["rss_kib"] for s in ss) / 1024
        print(f"  {phase:<10} {n:>7} {fmt(pct(rpo, 50)):>8} {fmt(pct(rpo, 95)):>6} {fmt(max(rpo)):>6}"
              f" {fmt(pct(lag_s, 95)):>9} {fmt(max(lag_s)):>6} {max(lag_r):>11.0f} {prod['rps']:>10.0f}"
              f" {fmt(backed, '.0f'):>11} {fmt(pct(took, 50), '.2f'):>10} {fmt(max(took) if took else None, '.2f'):>6}"
              f" {cpu:>6.1f} {rss:>7.0f}")
        rows.append((phase, prod, cpu, t1 - t0))
    last = samples[-1]
    print(f"  whole run: {int(last.get('commits_total', 0))} restore points committed, failed iterations"
          f" {int(last.get('failures', 0))}, CPU {last['cpu_s']:.1f} s, peak RSS {last['hwm_kib'] / 1024:.0f} MiB")
    for phase, prod, cpu, secs in rows:
        print(f"  {phase}: ProducerPerformance {prod['records']} records, {prod['rps']:.0f} records/s"
              f" ({prod['mibs']:.2f} MiB/s), latency avg {prod['avg_ms']:.1f} ms, max {prod['max_ms']:.0f} ms;"
              f" the backup used {cpu / secs:.2f} of a core")
    print(f"  RPO: now - the newest committed restore point's cut, sampled every second; commitInterval"
          f" {args.interval}: its floor is an iteration's duration, its ceiling the interval plus one")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sample")
    s.add_argument("--pid", type=int, required=True)
    s.add_argument("--metrics", required=True)
    s.add_argument("--phase-file", required=True)
    s.add_argument("--out", required=True)
    r = sub.add_parser("report")
    r.add_argument("--samples", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--producers", nargs="+", required=True)
    r.add_argument("--interval", required=True)
    args = ap.parse_args()
    sample(args) if args.cmd == "sample" else report(args)


if __name__ == "__main__":
    main()

"""Benchmark: the flame-graph data (rundir.pprof.flame) against `go tool pprof -top` on one large profile.

    .venv/bin/python benchmarks/bench_flame.py [--samples 1000000] [--runs 3] [--keep DIR [--reuse]]

The profile is bench_lsp.py's (its generator: --samples samples, every stack different, mean depth
32, 20% of locations with an inlined frame). In one run, alternating, --runs times each:
  1. `go tool pprof -top FILE`: wall time, CPU time and peak RSS (the child's own rusage);
  2. a Python child process that reads the same file (rundir.pprof.load_profile) and builds the
     bounded flame-graph tree (build_flame, default bound: 0.1%, 5,000 frames) and its JSON text:
     wall time of each step, CPU time and peak RSS.
Then once, untimed: tracemalloc's peak of the build step alone (the profile already loaded, as the
report and the editor have it). Medians are printed with the ratios and the load average before and
after; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_lsp import generate

from rundir.gosource import go_binary


def timed_child(cmd: list[str], timeout: float) -> tuple[float, float, str, float]:
    """(wall seconds, peak RSS in MiB, stdout, CPU seconds) of one child process, from its own rusage."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[:3]} failed with {proc.returncode}")
    if wall > timeout:
        raise RuntimeError(f"{cmd[:3]} took {wall:.0f}s, more than {timeout:.0f}s")
    return wall, usage.ru_maxrss / 1024, out, usage.ru_utime + usage.ru_stime


def child(path: str) -> None:
    """The measured work, in its own process: load, build, serialise."""
    from rundir.pprof import load_profile
    from rundir.pprof.flame import build_flame

    t0 = time.perf_counter()
    prof = load_profile(path)
    t1 = time.perf_counter()
    tree = build_flame(prof, "cpu")
    t2 = time.perf_counter()
    text = json.dumps(tree, separators=(",", ":"))
    t3 = time.perf_counter()
    nodes = text.count('"n":')
    print(json.dumps({"load_s": t1 - t0, "build_s": t2 - t1, "json_s": t3 - t2, "nodes": nodes,
                      "json_kb": len(text) / 1024}))


def build_only_peak(path: Path) -> tuple[float, float]:
    """tracemalloc's peak (MiB) of build_flame alone on a loaded profile, and the build's time
    under tracemalloc (slower than without)."""
    import gc
    import tracemalloc

    from rundir.pprof import load_profile
    from rundir.pprof.flame import build_flame

    prof = load_profile(path)
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    build_flame(prof, "cpu")
    took = time.perf_counter() - t0
    _now, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / (1 << 20), took


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--depth", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--keep", help="directory to keep the generated profile in")
    ap.add_argument("--reuse", action="store_true", help="reuse the profile already in --keep")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-flame-"))
    prof, ws = root / "big.pb.gz", root / "ws"
    ws.mkdir(parents=True, exist_ok=True)
    if not (args.reuse and prof.exists()):
        generate(prof, ws, args.samples, args.depth, args.samples)
    print(f"profile {prof} ({os.path.getsize(prof) / 1e6:.1f} MB gzip), {args.samples} samples; "
          f"load average before: {loadavg()}")
    pprof, ours = [], []
    for _ in range(args.runs):
        wall, peak, _out, cpu = timed_child([go_binary(), "tool", "pprof", "-top", str(prof)], args.timeout)
        pprof.append((wall, peak, cpu))
        wall, peak, out, cpu = timed_child([sys.executable, __file__, "--child", str(prof)], args.timeout)
        ours.append((wall, peak, {**json.loads(out), "cpu_s": cpu}))
    report(pprof, ours, prof)


def report(pprof: list, ours: list, prof: Path) -> None:
    med = statistics.median
    p_wall, p_peak, p_cpu = (med(r[k] for r in pprof) for k in range(3))
    o_wall, o_peak = med(w for w, _p, _d in ours), med(p for _w, p, _d in ours)
    o_cpu = med(d["cpu_s"] for _w, _p, d in ours)
    step = {k: med(d[k] for _w, _p, d in ours) for k in ("load_s", "build_s", "json_s")}
    last = ours[-1][2]
    print(f"load average after the timed runs: {loadavg()}")
    print(f"{'median of ' + str(len(ours)):40} {'go tool pprof -top':>20} {'flame data':>12} {'ratio':>7}")
    print(f"{'file -> result, wall (s)':40} {p_wall:>20.2f} {o_wall:>12.2f} {o_wall / p_wall:>7.2f}")
    print(f"{'file -> result, CPU user+sys (s)':40} {p_cpu:>20.2f} {o_cpu:>12.2f} {o_cpu / p_cpu:>7.2f}")
    print(f"{'  of which read the profile (s)':40} {'':>20} {step['load_s']:>12.2f}")
    print(f"{'  of which build the tree (s)':40} {'':>20} {step['build_s']:>12.2f} "
          f"{step['build_s'] / p_wall:>7.2f}")
    print(f"{'  of which JSON text (s)':40} {'':>20} {step['json_s']:>12.2f}")
    print(f"{'peak RSS (MiB)':40} {p_peak:>20.0f} {o_peak:>12.0f} {o_peak / p_peak:>7.2f}")
    peak, took = build_only_peak(prof)
    print(f"{'build alone, tracemalloc peak (MiB)':40} {'':>20} {peak:>12.1f} {peak / p_peak:>7.3f}")
    print(f"tree: {last['nodes']} frames, {last['json_kb']:.0f} KiB of JSON; build under tracemalloc {took:.2f}s; "
          f"load average at the end: {loadavg()}")
    print("runs (wall s/CPU s/MiB): pprof " + ", ".join(f"{w:.1f}/{c:.1f}/{p:.0f}" for w, p, c in pprof)
          + "; flame " + ", ".join(f"{w:.1f}/{d['cpu_s']:.1f}/{p:.0f}" for w, p, d in ours))


if __name__ == "__main__":
    main()

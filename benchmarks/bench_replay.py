"""Replay benchmarks (issue "Production in"), each against a reference in the same run:

    .venv/bin/python benchmarks/bench_replay.py [--rate 500] [--seconds 8] [--rounds 3] [--gib 1.0] [--only load,traffic]

load:    generator CPU per request of model: replay (a combined log with millisecond stamps at
         the given rate, Poisson gaps) against the open model at the same rate, on the demo
         service's /healthz; ratio replay / open. The replay sleeps to 1.5 ms before each send and
         yields to the event loop from there: that spin is part of its cost.
traffic: `harness traffic FILE` on a generated combined log of --gib GiB (MB/s) against `wc -l`
         on the same file; ratio.
Medians of --rounds; the load average before and after is printed (a figure taken under load is
a note, not a result).
"""
from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_load import open_model, start_demo  # noqa: E402

from harness.load.runner import LoadRunner  # noqa: E402
from harness.load.spec import LoadSpec  # noqa: E402
from harness.runctx import Clock, PhaseWindow, RunContext  # noqa: E402
from harness.traffic.spec import ReplaySpec  # noqa: E402

EPOCH = 1796637600


def write_log(path: Path, rate: float, seconds: float, target: str = "/healthz") -> int:
    rnd, t, n = random.Random(1), 0.0, 0
    with open(path, "w") as f:
        while True:
            t += rnd.expovariate(rate)
            if t >= seconds:
                return n
            sec = math.floor(t)
            stamp = time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime(EPOCH + sec)) + f".{int((t - sec) * 1000):03d}"
            f.write(f'127.0.0.1 - - [{stamp} +0000] "GET {target}?n={n} HTTP/1.1" 200 3 "-" "bench"\n')
            n += 1


def replay(url: str, log: Path, seconds: float, workdir: Path) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix="replay-", dir=workdir))
    clock = Clock.start()
    runner = LoadRunner(LoadSpec(model="replay", url=url, timeout=5.0, max_inflight=1000,
                                 replay=ReplaySpec(file=str(log))), RunContext.of("bench", run_dir, clock), url)
    try:
        runner.prepare()
        start = float(math.ceil(clock.now()))
        runner.start([PhaseWindow("main", start, start + seconds)])
        stats = runner.wait()
    finally:
        runner.stop()
    cpu_s = sum(c for t, c in stats["generator"]["cpu_per_second"] if start <= t < start + seconds)
    done = stats["phases"]["main"]["completed_in_window"]
    return {"completed_in_window": done, "cpu_s": round(cpu_s, 3), "rps_per_cpu_s": done / cpu_s if cpu_s else None}


def bench_load(args, workdir: Path) -> None:
    log = workdir / "replay.log"
    lines = write_log(log, args.rate, args.seconds + 2)
    proc, url = start_demo(workdir)
    try:
        rows = []
        for r in range(args.rounds):
            o = open_model(url, args.rate, args.seconds, workdir)
            p = replay(url, log, args.seconds, workdir)
            ratio = (o["rps_per_cpu_s"] / p["rps_per_cpu_s"]) if o["rps_per_cpu_s"] and p["rps_per_cpu_s"] else None
            rows.append(ratio)
            print(f"  round {r + 1}: open {1e6 / o['rps_per_cpu_s']:.0f} us CPU/request, "
                  f"replay {1e6 / p['rps_per_cpu_s']:.0f} us CPU/request ({p['completed_in_window']} of {lines} lines "
                  f"in the window), replay/open {ratio:.2f}")
    finally:
        proc.kill()
        proc.wait(timeout=10)
    good = [x for x in rows if x is not None]
    print(f"load: replay / open generator CPU per request at {args.rate:g} req/s, median of {len(good)}: "
          f"{statistics.median(good):.2f}" if good else "load: no result")


def write_big_log(path: Path, gib: float) -> int:
    size, n = int(gib * (1 << 30)), 0
    paths = ["/api/users/%d", "/api/orders/%d/items", "/static/app.%d.js", "/healthz"]
    with open(path, "w") as f:
        block = []
        while f.tell() < size:
            for _ in range(10_000):
                sec = EPOCH + n // 2000
                stamp = time.strftime("%d/%b/%Y:%H:%M:%S", time.gmtime(sec))
                block.append(f'10.1.{n % 250}.{n % 199} - - [{stamp} +0000] "GET {paths[n % 4] % n if "%d" in paths[n % 4] else paths[n % 4]} '
                             f'HTTP/1.1" 200 {n % 5000} "-" "Mozilla/5.0 (X11; Linux x86_64)" 0.{n % 1000:03d}\n')
                n += 1
            f.write("".join(block))
            block.clear()
    return n


def timed(cmd: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600)
    return time.monotonic() - t0


def bench_traffic(args, workdir: Path) -> None:
    log = workdir / "big.log"
    lines = write_big_log(log, args.gib)
    mb = log.stat().st_size / 1e6
    harness = [sys.executable, "-m", "harness.cli", "traffic", str(log)]
    rows = []
    for r in range(args.rounds):
        wc, ours = timed(["wc", "-l", str(log)]), timed(harness)
        rows.append((mb / ours, mb / wc))
        print(f"  round {r + 1}: harness traffic {mb / ours:.1f} MB/s, wc -l {mb / wc:.0f} MB/s")
    ours, wc = statistics.median(x for x, _ in rows), statistics.median(y for _, y in rows)
    print(f"traffic: {mb:.0f} MB, {lines:,} lines: harness traffic {ours:.1f} MB/s ({ours * lines / mb / 1e3:.0f}k lines/s), "
          f"wc -l {wc:.0f} MB/s, ratio {ours / wc:.4f} (medians of {args.rounds})")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--only", default="load,traffic")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as d:
        if "load" in args.only:
            bench_load(args, Path(d))
        if "traffic" in args.only:
            bench_traffic(args, Path(d))
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load generator benchmark: plain Locust FastHttpUser vs the open-model mode, in one run.

    .venv/bin/python benchmarks/bench_load.py [--seconds 4] [--rates 250,1000,2000,4000,6000]
                                              [--repeats 3] [--json out.json]

Against the demo service (compose/demo, built with `go build` and run on 127.0.0.1, path
/healthz so the generator, not the service, is the limit). Reports, side by side, medians of
the repeats (interleaved, so drift on a shared machine hits every variant alike):
- requests per generator CPU-second of the open model and of plain Locust (FastHttpUser
  paced with constant_throughput at 50/s per user) at the same rates, plain Locust's users
  either spread evenly over the period (the open model's spacing: one wake-up per request)
  or in step (Locust's default: the users wake together, one wake-up per burst);
- the open model with one worker and with one worker per core (load.workers: auto): requests
  per CPU-second of all its workers together, and the ratio to one worker;
- plain Locust flat out (20 users, no wait), and the open model's achieved rate;
- the generator-saturation point (first target at which the open model's throughput falls
  short by more than 5%, or at which it marks half its seconds saturated).
Absolute numbers depend on the machine; the ratios are the result.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.load.runner import LoadRunner
from harness.load.spec import LoadSpec, RateSegment, RequestSpec
from harness.runctx import Clock, PhaseWindow, RunContext

PLAIN_LOCUST = r"""
import json, os, sys, time
import gevent
from locust import FastHttpUser, constant, constant_throughput, task
from locust.env import Environment

host, users, seconds, pace = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
spread = len(sys.argv) > 5 and sys.argv[5] == "spread"
started = iter(range(users))

class Plain(FastHttpUser):
    wait_time = constant_throughput(pace) if pace > 0 else constant(0)
    def on_start(self):
        if spread and pace > 0:      # user k starts k/(users*pace) s late: evenly spaced requests
            gevent.sleep(next(started) / (users * pace))
            self._cp_last_run = time.perf_counter()   # constant_pacing would count the offset as task time
    @task
    def health(self):
        self.client.get("/healthz")

env = Environment(user_classes=[Plain], host=host)
env.create_local_runner()
env.runner.start(users, spawn_rate=1000)
gevent.sleep(1.0)                      # warm-up: users spawned, connections open
n0, c0, t0 = env.stats.total.num_requests, os.times(), time.monotonic()
gevent.sleep(seconds)
n1, c1, t1 = env.stats.total.num_requests, os.times(), time.monotonic()
env.runner.quit()
cpu = (c1.user + c1.system) - (c0.user + c0.system)
print(json.dumps({"requests": n1 - n0, "seconds": t1 - t0, "cpu_s": cpu,
                  "failures": env.stats.total.num_failures}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_demo(workdir: Path) -> tuple[subprocess.Popen, str]:
    go = Path(sys.executable).parent / "go"
    binary = workdir / "demo"
    env = dict(os.environ, CGO_ENABLED="0", GOPROXY="off", GOFLAGS="-mod=mod")
    subprocess.run([str(go), "build", "-o", str(binary), "."], cwd=ROOT / "compose" / "demo", env=env,
                   check=True, timeout=300, capture_output=True)
    port = free_port()
    proc = subprocess.Popen([str(binary), "-role", "api", "-addr", f"127.0.0.1:{port}",
                             "-pprof", f"127.0.0.1:{free_port()}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, url
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"the demo service did not listen on {url} within 15 s")


def plain_locust(url: str, users: int, seconds: float, pace: float, spread: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-c", PLAIN_LOCUST, url, str(users), str(seconds), str(pace),
                          "spread" if spread else "step"],
                         capture_output=True, text=True, timeout=seconds + 60, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["rps"] = r["requests"] / r["seconds"]
    r["rps_per_cpu_s"] = r["requests"] / r["cpu_s"] if r["cpu_s"] > 0 else None
    return r


def open_model(url: str, rate: float, seconds: float, workdir: Path, cap: int = 1000, workers: int = 1) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix=f"open-{int(rate)}-", dir=workdir))
    clock = Clock.start()
    rc = RunContext.of("bench", run_dir, clock)
    spec = LoadSpec(model="open", url=url, rates=(("default", RateSegment(rate, rate)),),
                    requests=(RequestSpec("health", "GET", "/healthz"),), max_inflight=cap, timeout=5.0,
                    processes=workers)
    runner = LoadRunner(spec, rc, url)
    try:
        runner.prepare()                         # the worker imports Locust first
        start = float(math.ceil(clock.now()))
        phases = [PhaseWindow("main", start, start + seconds)]
        runner.start(phases)
        stats = runner.wait()
    finally:
        runner.stop()
    cpu_s = sum(c for w in stats["generator"]["per_worker"] for t, c in w["cpu_per_second"]
                if start <= t < start + seconds)        # every worker's CPU inside the window
    main = stats["phases"]["main"]
    done = main["completed_in_window"]          # completions inside the window: throughput
    saturated = [s for s in stats["generator"]["saturated_seconds"] if start <= s["t_s"] < start + seconds]
    return {"target_rps": rate, "achieved_rps": main["achieved_rps"], "sent": main["sent"],
            "completed_in_window": done, "failures": main["failures"], "cpu_s": round(cpu_s, 3),
            "rps_per_cpu_s": done / cpu_s if cpu_s > 0 else None,
            "p99_ms": main["latency_ms"]["p99"], "max_lag_ms": stats["generator"]["max_lag_ms"],
            "saturated_seconds": len(saturated), "skipped_late_start": stats["skipped_late_start"]}


def saturation_point(rows: list[dict], seconds: float) -> float | None:
    """The first target at which the open model's throughput inside the window falls short
    by more than 5%, or at which it marks more than half the window's seconds saturated."""
    for r in rows:
        if r["achieved_rps"] < 0.95 * r["target_rps"] or r["saturated_seconds"] > seconds / 2:
            return r["target_rps"]
    return None


WORKERS = len(os.sched_getaffinity(0))      # load.workers: auto


def median_run(runs: list[dict]) -> dict:
    """The repeat whose requests per CPU-second is the median (its other figures with it)."""
    ranked = sorted(runs, key=lambda r: r["rps_per_cpu_s"] or 0.0)
    return ranked[len(ranked) // 2] | {"repeats": len(runs)}


def measure(url: str, rate: float, seconds: float, repeats: int, work: Path) -> dict:
    """Open model, plain Locust with its users spread and plain Locust with its users in step,
    interleaved repeat by repeat so drift on a shared machine hits all three alike."""
    runs: dict[str, list] = {"open": [], "open_n": [], "spread": [], "step": []}
    users = max(1, int(rate // 50))
    for _ in range(repeats):
        runs["open"].append(open_model(url, rate, seconds, work))
        runs["open_n"].append(open_model(url, rate, seconds, work, workers=WORKERS))
        runs["spread"].append(plain_locust(url, users=users, seconds=seconds, pace=50, spread=True))
        runs["step"].append(plain_locust(url, users=users, seconds=seconds, pace=50))
    return {k: median_run(v) for k, v in runs.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rates", default="250,1000,2000,4000,6000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()
    rates = [float(x) for x in args.rates.split(",")]
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        demo, url = start_demo(work)
        try:
            full = median_run([plain_locust(url, users=20, seconds=args.seconds, pace=0)
                               for _ in range(args.repeats)])
            points = {rate: measure(url, rate, args.seconds, args.repeats, work) for rate in rates}
        finally:
            demo.kill()
            demo.wait(timeout=10)
    opened = [p["open"] for p in points.values()]
    result = {"plain_locust_full_speed": full, "points": {str(k): v for k, v in points.items()},
              "open_model_saturation_rps": saturation_point(opened, args.seconds),
              "load_average": {"before": load_before, "after": os.getloadavg()}}
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


def _ratio(a: dict, b: dict) -> float:
    return a["rps_per_cpu_s"] / b["rps_per_cpu_s"] if a["rps_per_cpu_s"] and b["rps_per_cpu_s"] else float("nan")


def report(result: dict) -> None:
    f = result["plain_locust_full_speed"]
    print(f"plain Locust FastHttpUser, 20 users, no wait: {f['rps']:.0f} req/s, "
          f"{f['rps_per_cpu_s']:.0f} req per CPU-s (median of {f['repeats']})")
    print("requests per CPU-second; plain Locust paced at 50/s per user, its users spread evenly over the "
          "period (the open model's spacing) or in step (bursts)")
    print(f"{'target/s':>9} {'open got/s':>10} {'open':>6} {f'{WORKERS} workers':>10} {'spread':>7} "
          f"{'in step':>8} {'open/spread':>12} {'open/in step':>13} {f'{WORKERS}w/1w':>7} "
          f"{f'{WORKERS}w got/s':>9} {'open p99 ms':>12} {'sat s':>6}")
    for rate, p in result["points"].items():
        o, n, sp, st = p["open"], p["open_n"], p["spread"], p["step"]
        print(f"{float(rate):9.0f} {o['achieved_rps']:10.0f} {o['rps_per_cpu_s'] or 0:6.0f} "
              f"{n['rps_per_cpu_s'] or 0:10.0f} {sp['rps_per_cpu_s'] or 0:7.0f} {st['rps_per_cpu_s'] or 0:8.0f} "
              f"{_ratio(o, sp):12.2f} {_ratio(o, st):13.2f} {_ratio(n, o):7.2f} {n['achieved_rps']:9.0f} "
              f"{o['p99_ms'] or 0:12.1f} {o['saturated_seconds']:6d}")
    print(f"open-model generator saturation point: {result['open_model_saturation_rps']} req/s "
          f"(first target missed by >5% or with half its seconds marked saturated)")
    la = result["load_average"]
    print(f"load average before {la['before'][0]:.2f}, after {la['after'][0]:.2f}; medians of "
          f"{f['repeats']} repeats")


if __name__ == "__main__":
    sys.exit(main())

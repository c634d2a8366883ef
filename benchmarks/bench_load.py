"""Load generator benchmark: plain Locust FastHttpUser vs the open-model mode, in one run.

    .venv/bin/python benchmarks/bench_load.py [--seconds 4] [--rates 250,1000,2000,4000,6000,8000] [--json out.json]

Against the demo service (compose/demo, built with `go build` and run on 127.0.0.1, path
/healthz so the generator, not the service, is the limit). Reports, side by side:
- requests/s per generator CPU-second, plain Locust (FastHttpUser, closed loop at full speed
  and paced with constant_throughput) and the open model at the same rates;
- achieved vs target rate of the open model at several targets;
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

class Plain(FastHttpUser):
    wait_time = constant_throughput(pace) if pace > 0 else constant(0)
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


def plain_locust(url: str, users: int, seconds: float, pace: float) -> dict:
    out = subprocess.run([sys.executable, "-c", PLAIN_LOCUST, url, str(users), str(seconds), str(pace)],
                         capture_output=True, text=True, timeout=seconds + 60, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["rps"] = r["requests"] / r["seconds"]
    r["rps_per_cpu_s"] = r["requests"] / r["cpu_s"] if r["cpu_s"] > 0 else None
    return r


def open_model(url: str, rate: float, seconds: float, workdir: Path, cap: int = 1000) -> dict:
    run_dir = Path(tempfile.mkdtemp(prefix=f"open-{int(rate)}-", dir=workdir))
    clock = Clock.start()
    rc = RunContext.of("bench", run_dir, clock)
    spec = LoadSpec(model="open", url=url, rates=(("default", RateSegment(rate, rate)),),
                    requests=(RequestSpec("health", "GET", "/healthz"),), max_inflight=cap, timeout=5.0)
    runner = LoadRunner(spec, rc, url)
    try:
        runner.prepare()                         # the worker imports Locust first
        start = float(math.ceil(clock.now()))
        phases = [PhaseWindow("main", start, start + seconds)]
        runner.start(phases)
        stats = runner.wait()
    finally:
        runner.stop()
    in_window = [t for t, _c in stats["generator"]["cpu_per_second"] if start <= t < start + seconds]
    cpu_s = sum(c for t, c in stats["generator"]["cpu_per_second"] if t in in_window)
    main = stats["phases"]["main"]
    done = main["completed_in_window"]          # completions inside the window: throughput
    saturated = [s for s in stats["generator"]["saturated_seconds"] if s["t_s"] in in_window]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rates", default="250,1000,2000,4000,6000,8000")
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args()
    rates = [float(x) for x in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        work = Path(tmp)
        demo, url = start_demo(work)
        try:
            full = plain_locust(url, users=20, seconds=args.seconds, pace=0)
            paced = {rate: plain_locust(url, users=max(1, int(rate // 50)), seconds=args.seconds, pace=50)
                     for rate in rates}
            opened = [open_model(url, rate, args.seconds, work) for rate in rates]
        finally:
            demo.kill()
            demo.wait(timeout=10)
    result = {"plain_locust_full_speed": full, "plain_locust_paced": paced, "open_model": opened,
              "open_model_saturation_rps": saturation_point(opened, args.seconds)}
    report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


def report(result: dict) -> None:
    f = result["plain_locust_full_speed"]
    print(f"plain Locust FastHttpUser, 20 users, no wait: {f['rps']:.0f} req/s, "
          f"{f['rps_per_cpu_s']:.0f} req per CPU-s")
    print(f"{'target/s':>9} {'open achieved':>14} {'open req/CPU-s':>15} {'plain achieved':>15} "
          f"{'plain req/CPU-s':>16} {'ratio':>6} {'open p99 ms':>12} {'sat s':>6}")
    for r in result["open_model"]:
        p = result["plain_locust_paced"].get(r["target_rps"])
        ratio = (r["rps_per_cpu_s"] / p["rps_per_cpu_s"]) if p and r["rps_per_cpu_s"] else None
        print(f"{r['target_rps']:9.0f} {r['achieved_rps']:14.0f} {r['rps_per_cpu_s'] or 0:15.0f} "
              f"{(p['rps'] if p else float('nan')):15.0f} {(p['rps_per_cpu_s'] if p else float('nan')):16.0f} "
              f"{ratio if ratio else float('nan'):6.2f} {r['p99_ms'] or 0:12.1f} {r['saturated_seconds']:6d}")
    print(f"open-model generator saturation point: {result['open_model_saturation_rps']} req/s "
          f"(first target missed by >5% or with half its seconds marked saturated)")


if __name__ == "__main__":
    sys.exit(main())

"""What function-latency uprobes cost the target: its throughput with a hot function probed, as a
ratio to the same service unprobed, and the cost of one probed call in microseconds.

    .venv/bin/python benchmarks/bench_uprobes.py [--seconds 4] [--rounds 3]

The target is the truth fixture of the function-latency tests (tests/capture/latency_svc) in a
container limited to one CPU; each /hot request calls main.hot 100 times (a few nanoseconds
of work each: the probes' own cost dominates). A Go load client (benchmarks/goload) drives it
on loopback with 4 connections. Each round measures unprobed, probed (entry + RET uprobes
through the real capture, a perf record attached), unprobed again. Prints the median of the
rounds, the calls per second, the per-call cost, and the load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_capture import _loadavg, measure
from harness import proc
from harness.capture.spec import CaptureSpec, FunctionsSpec
from rundir.gosource import go_binary
from tests.capture.conftest import LABELS, start_service
from tests.images import build_go_image

SVC = ROOT / "tests" / "capture" / "latency_svc"
CALLS_PER_REQUEST = 100
PROBED = CaptureSpec(pprof=(), stats_interval=0, runtime=None, functions=FunctionsSpec(("main.hot",)))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"load average before: {_loadavg()}", file=sys.stderr)
    import docker

    client = docker.from_env(timeout=60)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        proc.run([go_binary(), "build", "-o", str(tmp / "goload"), "."], timeout=300,
                 cwd=str(ROOT / "benchmarks" / "goload"), env={**os.environ, "CGO_ENABLED": "0"})
        tag = build_go_image(client, SVC, "harness-bench-uprobes", LABELS)
        svc = start_service(client, tag)
        try:
            rows = rounds(str(tmp / "goload"), svc, args, tmp)
        finally:
            client.containers.get(svc.container_id).remove(force=True)
            client.images.remove(tag, force=True)
    report(rows)
    print(f"load average after: {_loadavg()}")
    return 0


def rounds(goload: str, svc, args, tmp: Path) -> list[dict]:
    measure(goload, svc, 1.0, None, tmp, "/hot")              # warm up the service and the client
    rows = []
    for _ in range(args.rounds):
        before = measure(goload, svc, args.seconds, None, tmp, "/hot")
        probed = measure(goload, svc, args.seconds, PROBED, tmp, "/hot")
        after = measure(goload, svc, args.seconds, None, tmp, "/hot")
        off_rps, off_cpu = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
        # CPU-seconds per request with and without probes, over the calls of one request
        cost_us = (1 / probed[1] - 1 / off_cpu) / CALLS_PER_REQUEST * 1e6
        rows.append({"off_rps": off_rps, "on_rps": probed[0], "ratio": probed[0] / off_rps,
                     "per_cpu_ratio": probed[1] / off_cpu, "calls_per_s_on": probed[0] * CALLS_PER_REQUEST,
                     "calls_per_s_off": off_rps * CALLS_PER_REQUEST, "cost_us_per_call": cost_us})
        print(f"  unprobed {before[0]:7.0f}/{after[0]:7.0f} req/s; probed {probed[0]:7.0f} req/s "
              f"({probed[0] * CALLS_PER_REQUEST:,.0f} probed calls/s); {cost_us:.2f} us of CPU per call",
              file=sys.stderr)
    return rows


def report(rows: list[dict]) -> None:
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
    print(f"main.hot probed (entry + RET uprobes, perf record attached), median of {len(rows)} rounds:")
    print(f"  throughput {med['on_rps']:,.0f} req/s vs {med['off_rps']:,.0f} unprobed: ratio {med['ratio']:.3f} "
          f"(per CPU-second {med['per_cpu_ratio']:.3f})")
    print(f"  calls/s of the probed function: {med['calls_per_s_on']:,.0f} (unprobed {med['calls_per_s_off']:,.0f})")
    print(f"  cost of one probed call: {med['cost_us_per_call']:.2f} us of the container's CPU")
    print(json.dumps({"bench": "uprobes", "median": {k: round(v, 4) for k, v in med.items()}}))


if __name__ == "__main__":
    sys.exit(main())

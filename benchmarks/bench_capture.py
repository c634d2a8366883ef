"""What capturing costs the target: its throughput with each capture on, as a ratio to the same
service with nothing captured, measured in one run (the reference rounds are interleaved).

    .venv/bin/python benchmarks/bench_capture.py [--seconds 4] [--rounds 2] [--only runtime,runtime-100ms]

Window captures (perf, offcpu, trace) cover the whole measured phase (its length less the capture
margin): `--seconds 15 --rounds 3 --only trace` is the trace's cost over a demo-length phase.
The loss is printed as the median of the rounds with their spread (lowest to highest).

The target is the capture tests' Go service (tests/capture/goapp) in a container limited to
one CPU, driven by a Go load client (benchmarks/goload) on loopback. Prints a table and a JSON
line; exits 1 when pprof CPU costs more than 5 %. Every configuration but `runtime*` has the
runtime sampler off; `runtime` is the default sampler (every second), `runtime-100ms` its
shortest interval. The machine's load average is printed before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import proc
from harness.capture.manager import CaptureManager
from harness.capture.spec import CaptureSpec, RatesSpec, RuntimeSpec, WindowSpec
from harness.capture.stats import find_cgroup
from harness.runctx import Clock, PhaseWindow, RunContext
from rundir.gosource import go_binary
from tests.capture.conftest import GOAPP, LABELS, start_service
from tests.images import build_go_image

CONFIGS = {
    "pprof-cpu": CaptureSpec(pprof=("cpu",), stats_interval=0, runtime=None),
    "pprof-all": CaptureSpec(pprof=("cpu", "heap", "allocs", "goroutine", "block", "mutex"),
                             rates=RatesSpec("/debug/harness/rates", 10000, 5), stats_interval=0, runtime=None),
    "stats": CaptureSpec(pprof=(), stats_interval=1.0, runtime=None),
    "perf": CaptureSpec(pprof=(), perf=WindowSpec(("bench",), frequency=99), stats_interval=0, runtime=None),
    "trace": CaptureSpec(pprof=(), trace=WindowSpec(("bench",)), stats_interval=0, runtime=None),
    "offcpu": CaptureSpec(pprof=(), stats_interval=0, runtime=None, own={"offcpu": {"phases": ("bench",)}}),
    "runtime": CaptureSpec(pprof=(), stats_interval=0, runtime=RuntimeSpec(1.0)),
    "runtime-100ms": CaptureSpec(pprof=(), stats_interval=0, runtime=RuntimeSpec(0.1)),
}


def build(tmp: Path, client) -> tuple[str, str]:
    go = go_binary()
    env = {**os.environ, "CGO_ENABLED": "0"}
    proc.run([go, "build", "-o", str(tmp / "goload"), "."], timeout=300, cwd=str(ROOT / "benchmarks" / "goload"),
             env=env)
    return str(tmp / "goload"), build_go_image(client, GOAPP, "harness-bench-capapp", LABELS)


def measure(goload: str, svc, seconds: float, spec: CaptureSpec | None, tmp: Path,
            path: str = "/spin?n=16384") -> tuple[float, float]:
    """(requests per second, requests per CPU-second of the container) while `spec` captured.

    The second figure does not move when other work on the machine takes CPU from the
    container, so it is the steadier measure of the capture's cost on a shared host."""
    manager = None
    if spec is not None:
        run = Path(tempfile.mkdtemp(dir=tmp))
        clock = Clock.start()
        phase = PhaseWindow("bench", 0.0, seconds + 1.0)
        rc = RunContext.of("bench", run, clock, {"api": svc})
        manager = CaptureManager(spec, rc)
        manager.start()
        manager.phase_start(phase)
    cgroup = find_cgroup(svc.container_id, svc.pid)
    try:
        url = f"http://127.0.0.1:{svc.published[8080]}{path}"
        cpu0 = cgroup.read()["cpu_ns"]
        res = proc.run([goload, "-url", url, "-c", "4", "-d", f"{seconds}s"], timeout=seconds + 60)
        cpu_s = (cgroup.read()["cpu_ns"] - cpu0) / 1e9
        out = json.loads(res.stdout)
    finally:
        if manager is not None:
            time.sleep(max(0.0, phase.end_s - rc.clock.now()))
            manager.phase_end(phase)
            manager.stop()
            failed = [e for e in rc.events.all() if e["kind"] == "capture-failed"]
            if failed:
                print(f"  capture failures: {failed}", file=sys.stderr)
            for a in rc.artifacts.all():
                if a["kind"] == "runtime":
                    print(f"  runtime sampler: {a['samples']} samples, {a['sample_ms']} ms per tick "
                          f"(host side), {a['failures']} failures", file=sys.stderr)
    return out["requests"] / out["seconds"], out["requests"] / max(cpu_s, 1e-3)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated configurations (default: all): "
                    + ", ".join(CONFIGS))
    args = ap.parse_args(argv)
    args.only = [n for n in args.only.split(",") if n] or list(CONFIGS)
    unknown = [n for n in args.only if n not in CONFIGS]
    if unknown:
        ap.error(f"unknown configuration(s) {', '.join(unknown)}; known: {', '.join(CONFIGS)}")
    print(f"load average before: {_loadavg()}", file=sys.stderr)
    import docker

    client = docker.from_env(timeout=60)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        goload, tag = build(tmp, client)
        svc = start_service(client, tag)
        try:
            ratios = run_rounds(goload, svc, args, tmp)
        finally:
            client.containers.get(svc.container_id).remove(force=True)
            client.images.remove(tag, force=True)
    report(ratios)
    print(f"load average after: {_loadavg()}")
    if "pprof-cpu" not in ratios:
        return 0
    return 0 if statistics.median(ratios["pprof-cpu"]["per_cpu"]) >= 0.95 else 1


def _loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" (1, 5, 15 min; {os.cpu_count()} CPUs)"


def run_rounds(goload, svc, args, tmp) -> dict[str, dict[str, list[float]]]:
    measure(goload, svc, 1.0, None, tmp)                      # warm up the service and the client
    ratios = {name: {"rps": [], "per_cpu": [], "on": [], "off": []} for name in args.only}
    for _ in range(args.rounds):
        for name in args.only:
            before = measure(goload, svc, args.seconds, None, tmp)
            with_capture = measure(goload, svc, args.seconds, CONFIGS[name], tmp)
            after = measure(goload, svc, args.seconds, None, tmp)
            for i, key in enumerate(("rps", "per_cpu")):
                ratios[name][key].append(with_capture[i] / ((before[i] + after[i]) / 2))
            ratios[name]["on"].append(with_capture[0])
            ratios[name]["off"].append((before[0] + after[0]) / 2)
            print(f"  {name:10s} reference {before[0]:7.0f}/{after[0]:7.0f} req/s "
                  f"({before[1]:6.0f}/{after[1]:6.0f} req/cpu-s); with capture {with_capture[0]:7.0f} req/s "
                  f"({with_capture[1]:6.0f} req/cpu-s)", file=sys.stderr)
    return ratios


def report(ratios) -> None:
    print(f"{'capture':12s} {'throughput ratio':>17s} {'per-CPU ratio':>14s} {'loss (per CPU)':>15s} "
          f"{'spread of the loss':>19s}")
    out = {}
    for name, r in ratios.items():
        rps, per_cpu = statistics.median(r["rps"]), statistics.median(r["per_cpu"])
        out[name] = {"throughput": round(rps, 4), "per_cpu": round(per_cpu, 4),
                     "on_rps": round(statistics.median(r["on"]), 1), "off_rps": round(statistics.median(r["off"]), 1),
                     "per_cpu_rounds": [round(x, 4) for x in r["per_cpu"]]}
        lo, hi = 100 * (1 - max(r["per_cpu"])), 100 * (1 - min(r["per_cpu"]))
        print(f"{name:12s} {rps:17.3f} {per_cpu:14.3f} {100 * (1 - per_cpu):14.1f}% {lo:9.1f}% to {hi:.1f}%")
    for name, o in out.items():
        if name.startswith("runtime"):
            print(f"{name}: target throughput with sampling on {o['on_rps']:.0f} req/s, off {o['off_rps']:.0f} "
                  f"req/s (medians of {len(ratios[name]['on'])} rounds); ratio of the medians "
                  f"{o['on_rps'] / o['off_rps']:.3f}, median of the per-round ratios {o['throughput']:.3f}, "
                  f"per CPU {o['per_cpu']:.3f}")
    print(json.dumps({"bench": "capture", "ratios": out}))


if __name__ == "__main__":
    sys.exit(main())

"""Fault precision and proxy overhead, measured on this host against real containers.

    .venv/bin/python benchmarks/bench_faults.py [--json out.json]

Prints requested vs measured for each fault backend that works here, and the proxy's own
cost (latency and throughput through the proxy with no fault, against a direct connection,
as ratios measured in the same run). About 90 s on a 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.faults.controller import FaultController
from harness.faults.spec import FaultSpec, Peer
from tests.faults import helpers
from tests.faults.conftest import Env, helpers_wait

D = {"distribution": "uniform", "correlation": 0.0}


def q(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def lat(env, peer, n, keepalive=True):
    r = helpers.probe(env.ip("target"), f"{env.ip(peer)}:8080", n, keepalive=keepalive, timeout_ms=3000)
    return r["lat_ms"]


def push(env, peer, n):
    return float(helpers.get(env.ip("target"), f"/push?addr={env.ip(peer)}:8080&n={n}", timeout=120))


def udp_loss(env, peer, n):
    tag = uuid.uuid4().hex[:10]
    helpers.get(env.ip("target"), f"/udpsend?addr={env.ip(peer)}:9000&n={n}&tag={tag}&gap_us=150")
    return 1 - int(helpers.get(env.ip(peer), f"/udpcount?tag={tag}")) / n


def with_fault(fc, spec, fn):
    fc.apply(spec, "bench")
    try:
        return fn()
    finally:
        fc.revert(spec)


def run(env, fc) -> list[dict]:
    rows = []
    peer = Peer(service="peer_a", port=8080)
    for keepalive in (True, False):
        base = statistics.median(lat(env, "peer_a", 150, keepalive))
        spec = FaultSpec(id=f"delay-{keepalive}", kind="delay", target="target", peer=peer,
                         params={"latency": 0.1, "jitter": 0.02, **D})
        xs = with_fault(fc, spec, lambda ka=keepalive: lat(env, "peer_a", 300, ka))
        added = statistics.median(xs) - base
        rows.append({"fault": f"delay 100ms ±20ms (proxy, {'keep-alive' if keepalive else 'new conn/request'})",
                     "requested": 100.0, "measured": round(added, 2), "unit": "ms added (median)",
                     "error_pct": round(abs(added - 100), 2),
                     "extra": f"p10 {q(xs, .1) - base:.1f} p90 {q(xs, .9) - base:.1f}"})
    spec = FaultSpec(id="loss", kind="loss", target="target", peer=Peer(service="peer_a", protocol="all"),
                     params={"percent": 20.0, "correlation": 0.0})
    loss = with_fault(fc, spec, lambda: udp_loss(env, "peer_a", 4000))
    rows.append({"fault": "loss 20% (iptables, 4000 UDP packets)", "requested": 20.0,
                 "measured": round(loss * 100, 2), "unit": "% lost", "error_pct": round(abs(loss * 100 - 20), 2)})
    for direction, fn in (("egress", helpers.download_rate), ("ingress", helpers.upload_rate)):
        spec = FaultSpec(id=f"rate-{direction}", kind="rate", target="target", direction=direction,
                         params={"rate": 1_000_000, "burst": 0, "queue": 0.4})
        got = with_fault(fc, spec, lambda f=fn: f(env.ip("target"), 500_000))
        rows.append({"fault": f"rate 1 Mbit/s {direction} (tbf{'+IFB' if direction == 'ingress' else ''})",
                     "requested": 1000.0, "measured": round(got / 1000, 1), "unit": "kbit/s",
                     "error_pct": round(abs(got / 1e6 - 1) * 100, 2)})
    spec = FaultSpec(id="rate-proxy", kind="rate", target="target", peer=peer, backend="proxy",
                     params={"rate": 1_000_000, "burst": 0, "queue": 0.4})
    got = with_fault(fc, spec, lambda: push(env, "peer_a", 500_000))
    rows.append({"fault": "rate 1 Mbit/s egress (proxy, payload)", "requested": 1000.0,
                 "measured": round(got / 1000, 1), "unit": "kbit/s", "error_pct": round(abs(got / 1e6 - 1) * 100, 2)})
    spec = FaultSpec(id="part", kind="partition", target="target", peer=Peer(service="peer_a", protocol="all"),
                     params={}, direction="both")
    r = with_fault(fc, spec, lambda: helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 20, timeout_ms=300))
    other = lat(env, "peer_b", 20)
    rows.append({"fault": "partition (iptables)", "requested": 100.0, "measured": 100.0 * (20 - len(r["lat_ms"])) / 20,
                 "unit": "% requests failed", "error_pct": 0.0, "extra": f"other peer ok {len(other)}/20"})
    spec = FaultSpec(id="rst", kind="reset", target="target", peer=peer, params={"after": 0.0})
    r = with_fault(fc, spec, lambda: helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 20))
    rows.append({"fault": "reset (iptables)", "requested": 0.0, "measured": round(statistics.median(r["err_ms"]), 2),
                 "unit": "ms to error (median)", "error_pct": 0.0, "extra": json.dumps(r["errors"])})
    # proxy overhead: a zero-latency delay fault routes peer_a's connections through the proxy
    direct_lat = statistics.median(lat(env, "peer_a", 300))
    direct_tp = statistics.median(push(env, "peer_a", 50_000_000) for _ in range(3))
    spec = FaultSpec(id="noop", kind="delay", target="target", peer=peer, params={"latency": 0.0, "jitter": 0.0, **D})
    fc.apply(spec, "bench")
    try:
        prox_lat = statistics.median(lat(env, "peer_a", 300))
        prox_tp = statistics.median(push(env, "peer_a", 50_000_000) for _ in range(3))
    finally:
        fc.revert(spec)
    rows.append({"fault": "proxy overhead: latency (keep-alive request)", "requested": direct_lat,
                 "measured": prox_lat, "unit": "ms direct vs proxied", "ratio": round(prox_lat / direct_lat, 2)})
    rows.append({"fault": "proxy overhead: throughput (50 MB upload)", "requested": round(direct_tp / 1e6, 1),
                 "measured": round(prox_tp / 1e6, 1), "unit": "Mbit/s direct vs proxied",
                 "ratio": round(prox_tp / direct_tp, 3)})
    return rows


def main() -> int:
    import docker
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    client = docker.from_env(timeout=60)
    image = helpers.build_image(client)
    env = Env(client, image, "bench")
    t0 = time.monotonic()
    try:
        for n in ("target", "peer_a", "peer_b"):
            env.add(n)
        helpers_wait(env)
        rc = helpers.run_context(Path(tempfile.mkdtemp(prefix="bench-faults-")) / "run", env.services(), env.project)
        fc = FaultController(rc, docker_client=client)
        try:
            rows = run(env, fc)
        finally:
            fc.revert_all()
    finally:
        env.close()
        try:
            client.images.remove(image, force=True)
        except Exception:
            pass
    from rich.console import Console
    from rich.table import Table
    t = Table(title=f"Fault precision on this host ({time.monotonic() - t0:.0f} s)")
    for col in ("fault", "requested", "measured", "unit", "error / ratio", "notes"):
        t.add_column(col)
    for r in rows:
        err = f"x{r['ratio']}" if "ratio" in r else f"{r['error_pct']}"
        t.add_row(r["fault"], f"{r['requested']:g}", f"{r['measured']:g}", r["unit"], err, r.get("extra", ""))
    Console(width=160).print(t)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

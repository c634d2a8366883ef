"""The proxy backend against the real kernel: delay with jitter on one peer (measured by a
client inside the target), reset and timeout through the proxy, and nothing left after."""
from __future__ import annotations

import pytest

from harness.faults.spec import FaultSpec, Peer
from harness.faults.target import make_tag

from . import helpers

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def lat(env, peer: str, n: int) -> list[float]:
    # keep-alive: the client reuses its connection, as pooled clients do; the figure without
    # keep-alive (a connection per request) is in benchmarks/bench_faults.py
    r = helpers.probe(env.ip("target"), f"{env.ip(peer)}:8080", n, timeout_ms=3000, keepalive=True)
    assert not r["errors"], r["errors"]
    return r["lat_ms"]


def test_delay_100ms_jitter_20ms_on_one_peer(env, rc, controller):
    base_a, base_b = helpers.median(lat(env, "peer_a", 100)), helpers.median(lat(env, "peer_b", 100))
    spec = FaultSpec(id="delay", kind="delay", target="target", peer=Peer(service="peer_a", port=8080),
                     params={"latency": 0.1, "jitter": 0.02, "distribution": "uniform", "correlation": 0.0})
    assert controller.preflight([spec]) == []
    controller.apply(spec, "fault")
    try:
        a = lat(env, "peer_a", 250)
        b = lat(env, "peer_b", 100)
    finally:
        controller.revert(spec)
    added = helpers.median(a) - base_a
    assert abs(added - 100) <= 5, (added, base_a)
    # jitter is there: the middle 80% spreads over most of the +-20 ms window
    a.sort()
    assert a[int(0.9 * len(a))] - a[int(0.1 * len(a))] >= 24, a[::25]
    assert helpers.median(b) - base_b <= 5, (helpers.median(b), base_b)
    after = helpers.median(lat(env, "peer_a", 50))
    assert after - base_a <= 5, (after, base_a)
    helpers.no_leftovers(env.info("target").pid, make_tag(rc.run_id, "delay"))
    assert controller.records()[0]["backend"] == "proxy"


def test_proxy_reset_after_and_timeout(env, rc, controller):
    spec = FaultSpec(id="prst", kind="reset", target="target", peer=Peer(service="peer_a", port=8080),
                     params={"after": 0.0}, backend="proxy")
    controller.apply(spec, "fault")
    try:
        r = helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 10, timeout_ms=2000)
    finally:
        controller.revert(spec)
    assert sum(r["errors"].values()) == 10 and set(r["errors"]) <= {"reset", "eof"}, r["errors"]
    assert max(r["err_ms"]) < 100
    spec = FaultSpec(id="pto", kind="timeout", target="target", peer=Peer(service="peer_a", port=8080),
                     params={"timeout": 0.0})
    controller.apply(spec, "fault")
    try:
        r = helpers.probe(env.ip("target"), f"{env.ip('peer_a')}:8080", 3, timeout_ms=400)
    finally:
        controller.revert(spec)
    assert r["errors"] == {"timeout": 3}, r
    assert len(lat(env, "peer_a", 10)) == 10
    for fid in ("prst", "pto"):
        helpers.no_leftovers(env.info("target").pid, make_tag(rc.run_id, fid))
